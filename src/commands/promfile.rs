//! A Prometheus textfile (process_facts::prom's format) kept for node_exporter's textfile
//! collector: by `process-monitor --prom` and `process-status --prom`. Rewritten whole,
//! atomically (a temporary file in the same directory, then renamed, by the store's
//! rules), so the collector never reads half of one.

use super::spec::{Kind, Opt};
use super::{failed, usage, Args, Context, Failure};
use process_facts::store::{self, Dir};
use process_facts::{proc, prom};
use std::path::Path;

pub const PROM: Opt = Opt {
    name: "--prom",
    value: Some(("FILE", Kind::File)),
    about: "keep a Prometheus textfile of the figures (for node_exporter's textfile collector), rewritten atomically",
};

/// `--prom FILE`, checked: a file name (not `-`, not a directory).
pub fn option(args: &Args) -> Result<Option<String>, Failure> {
    match args.value(PROM.name) {
        Some(f) if f != "-" && store::split_file_path(Path::new(f)).is_some() => Ok(Some(f.to_string())),
        Some(f) => Err(usage(format!("invalid --prom '{f}' (expected a file name, e.g. /var/lib/prometheus/node-exporter/NAME.prom)"))),
        None => Ok(None),
    }
}

/// A file and its directory, opened by the store's rules (the directory must exist): for
/// `--csv` and `--prom`, whose names were checked.
pub fn open_dir_of(path: &str) -> Result<(Dir, String), Failure> {
    let (dir, name) = store::split_file_path(Path::new(path)).ok_or_else(|| usage(format!("invalid file name '{path}'")))?;
    let dir = Dir::open(dir)?.ok_or_else(|| failed(format!("cannot open {path}: no such directory")))?;
    Ok((dir, name.to_string()))
}

/// The file. Left as last written when its writer ends: its last `up` stays true to what
/// was seen, and node_textfile_mtime_seconds says how old it is.
pub struct PromFile {
    /// The path as given: its directory is opened again, by the store's rules, for every
    /// write, so a directory removed and made again is written to, and one that became
    /// unsafe meanwhile is refused (a write is rare and costs far more than the walk).
    path: String,
    /// The system's boot time, for the start times (read once).
    pub boot_time: Option<u64>,
    /// The last write failed (said once, until a write succeeds again).
    failing: bool,
}

impl PromFile {
    /// Checks that `path` can be written (its directory exists and is trusted).
    pub fn open(path: &str) -> Result<PromFile, Failure> {
        open_dir_of(path)?;
        Ok(PromFile { path: path.to_string(), boot_time: proc::boot_time(), failing: false })
    }

    pub fn write(&self, services: &[prom::Service]) -> Result<(), Failure> {
        let (dir, name) = open_dir_of(&self.path)?;
        // 0644: node_exporter runs as another user. Not fsynced: the next write replaces it.
        Ok(dir.write(&name, prom::render(services).as_bytes(), 0o644, false)?)
    }

    /// A write during a run: a failure is said once and the run goes on (the next write
    /// may well succeed).
    pub fn update(&mut self, cx: &mut Context, services: &[prom::Service]) {
        match self.write(services) {
            Ok(()) => self.failing = false,
            Err(f) if !self.failing => {
                self.failing = true;
                cx.warn(&format!("{}; trying again at every update", f.message));
            }
            Err(_) => {}
        }
    }
}
