//! The sample store: what one call learned about a process, kept where the next call, in
//! any of the user's shells or `$(...)` subshells, finds it. Two kinds of entries:
//!
//! - `cpu.PID.START`: the last CPU sample of that process (its CPU ticks at a moment of the
//!   monotonic clock) and the last measurement made from it, so `cpu=$(process-get-cpu
//!   $pid)` every N seconds measures the last N seconds, as a `-v` call in a loop does;
//! - `port.INODE`: the process that held that socket last time (its identity), checked
//!   before it is used, so a port lookup in a fresh shell does not scan every process.
//!
//! The directory is private (made 0700, checked by the store's trust rule on every open).
//! Entries are [`Record`]s rewritten in place, each ending in a `check=` of the rest: many
//! shells may write one at once (the last write wins), and a reader that catches a write
//! halfway sees a bad check, so a torn, corrupt or refused entry reads as absent, as if
//! no sample had been taken. (In place, not by rename: on ext4 a rename over a file forces
//! its data out, a millisecond a call.) The
//! store stays bounded: at most [`MAX_ENTRIES`] files, and entries of processes that have
//! exited are dropped in a sweep at most once a minute.

use crate::proc::Identity;
use crate::record::Record;
use crate::store::{Dir, Result};
use crate::sys;
use std::path::Path;

pub const MAX_ENTRIES: usize = 4096;
/// The length of every entry (a record is far shorter: the rest is padding).
const ENTRY_LEN: usize = 128;
/// How often, at most, a writer sweeps out the entries of exited processes.
const SWEEP_EVERY_NS: u64 = 60_000_000_000;
const SWEPT: &str = ".swept";

/// One CPU sample of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSample {
    /// When, on the monotonic clock (nanoseconds).
    pub at_ns: u64,
    /// User plus system CPU time so far, in clock ticks.
    pub ticks: u64,
    /// The measurement that ended at this sample, if any.
    pub percent: Option<f64>,
}

pub struct Store {
    dir: Dir,
}

impl Store {
    /// The store at `path`, made (0700) if missing. Walked to afresh by each call, as
    /// every directory of the library is: nothing of it stays open in the shell.
    pub fn open(path: &Path) -> Result<Store> {
        Ok(Store { dir: Dir::create(path)? })
    }

    fn cpu_name(id: Identity) -> String {
        format!("cpu.{}.{}", id.pid, id.starttime)
    }

    /// An entry, if it is there and whole (its check matches).
    fn read(&self, name: &str) -> Option<Record> {
        let text = self.dir.read_text(name).ok().flatten()?;
        let (body, check) = text.rsplit_once("check=")?;
        (check.trim_end() == checksum(body)).then(|| Record::parse(body))
    }

    pub fn cpu(&self, id: Identity) -> Option<CpuSample> {
        let r = self.read(&Self::cpu_name(id))?;
        Some(CpuSample { at_ns: r.parse_of("at")?, ticks: r.parse_of("ticks")?, percent: r.parse_of("percent") })
    }

    pub fn put_cpu(&self, id: Identity, s: CpuSample) -> Result<()> {
        let mut r = Record::new().with("at", s.at_ns).with("ticks", s.ticks);
        if let Some(p) = s.percent {
            r.push("percent", p);
        }
        self.write(&Self::cpu_name(id), &r)
    }

    /// The process recorded as holding socket `inode` (unchecked: the caller verifies).
    pub fn owner(&self, inode: u64) -> Option<Identity> {
        let r = self.read(&format!("port.{inode}"))?;
        Some(Identity { pid: r.parse_of("pid")?, starttime: r.parse_of("start")? })
    }

    pub fn put_owner(&self, inode: u64, id: Identity) -> Result<()> {
        self.write(&format!("port.{inode}"), &Record::new().with("pid", id.pid).with("start", id.starttime))
    }

    fn write(&self, name: &str, r: &Record) -> Result<()> {
        self.write_raw(name, r)?;
        self.sweep_now_and_then();
        Ok(())
    }

    /// Writes `r` as an entry of always the same length ([`ENTRY_LEN`], padded with a
    /// blank line), so that rewriting it never changes the file's size: ext4 treats a
    /// truncate like a replaced file and forces the data out.
    fn write_raw(&self, name: &str, r: &Record) -> Result<()> {
        let mut body = r.to_text();
        let pad = ENTRY_LEN.saturating_sub(body.len() + "check=".len() + 16 + 2);
        body.push_str(&" ".repeat(pad));
        body.push('\n');
        self.dir.overwrite(name, format!("{body}check={}\n", checksum(&body)).as_bytes(), 0o600)
    }

    /// Drops the entries of processes that have exited (and, past the cap, the oldest
    /// names), at most once a minute: the marker file's own contents say when it last ran.
    fn sweep_now_and_then(&self) {
        let now = sys::time::monotonic_ns();
        let last: u64 = self.read(SWEPT).and_then(|r| r.parse_of("at")).unwrap_or(0);
        if last != 0 && now.saturating_sub(last) < SWEEP_EVERY_NS {
            return;
        }
        let _ = self.write_raw(SWEPT, &Record::new().with("at", now));
        let Ok(names) = self.dir.names() else { return };
        let mut kept = Vec::new();
        for name in names.iter().filter(|n| !n.starts_with('.')) {
            let alive = match name.split('.').collect::<Vec<_>>()[..] {
                ["cpu", pid, start] => pid.parse().ok().zip(start.parse().ok()).is_some_and(|(pid, starttime)| Identity { pid, starttime }.is_alive()),
                ["port", _] => self.read(name).and_then(|r| Some(Identity { pid: r.parse_of("pid")?, starttime: r.parse_of("start")? })).is_some_and(|id| id.is_alive()),
                _ => false,
            };
            if alive {
                kept.push(name);
            } else {
                let _ = self.dir.remove(name);
            }
        }
        for name in kept.iter().take(kept.len().saturating_sub(MAX_ENTRIES)) {
            let _ = self.dir.remove(name);
        }
    }
}

/// FNV-1a of `text`, in hex: enough to tell a whole entry from a torn one.
fn checksum(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("samples-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn samples_round_trip_and_corrupt_entries_read_as_absent() {
        let d = tmp("trip");
        let store = Store::open(&d).unwrap();
        let me = Identity::of(std::process::id() as i32).unwrap();
        assert_eq!(store.cpu(me), None);
        let s = CpuSample { at_ns: 5, ticks: 7, percent: Some(12.5) };
        store.put_cpu(me, s).unwrap();
        assert_eq!(store.cpu(me), Some(s));
        fs::write(d.join(format!("cpu.{}.{}", me.pid, me.starttime)), "garbage\nat=x\n").unwrap();
        assert_eq!(store.cpu(me), None);
        // A torn write: the new beginning over the old end.
        store.put_cpu(me, CpuSample { at_ns: 123456789, ticks: 99999, percent: Some(1.0) }).unwrap();
        let path = d.join(format!("cpu.{}.{}", me.pid, me.starttime));
        let whole = fs::read_to_string(&path).unwrap();
        fs::write(&path, whole.replacen("123456789", "987654321", 1)).unwrap();
        assert_eq!(store.cpu(me), None, "a mixed entry must not be believed");
        store.put_owner(42, me).unwrap();
        assert_eq!(store.owner(42), Some(me));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_sweep_drops_exited_processes() {
        let d = tmp("sweep");
        let store = Store::open(&d).unwrap();
        let gone = Identity { pid: i32::MAX - 1, starttime: 1 };
        fs::write(d.join(format!("cpu.{}.{}", gone.pid, gone.starttime)), "at=1\nticks=1\n").unwrap();
        let me = Identity::of(std::process::id() as i32).unwrap();
        store.put_cpu(me, CpuSample { at_ns: 1, ticks: 1, percent: None }).unwrap();
        let names: Vec<String> = store.dir.names().unwrap().into_iter().filter(|n| !n.starts_with('.')).collect();
        assert_eq!(names, vec![format!("cpu.{}.{}", me.pid, me.starttime)]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlink_in_place_of_the_store_is_refused() {
        let d = tmp("link");
        fs::create_dir_all(&d).unwrap();
        let elsewhere = tmp("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        let link = d.join("store");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        // Our own symlink is followed; a store whose path changes is noticed.
        let me = Identity::of(std::process::id() as i32).unwrap();
        Store::open(&link).unwrap().put_owner(7, me).unwrap();
        assert!(elsewhere.join("port.7").exists());
        fs::remove_file(&link).unwrap();
        fs::create_dir(&link).unwrap();
        Store::open(&link).unwrap().put_owner(8, me).unwrap();
        assert!(link.join("port.8").exists() && !elsewhere.join("port.8").exists());
        fs::remove_dir_all(&d).unwrap();
        fs::remove_dir_all(&elsewhere).unwrap();
    }
}
