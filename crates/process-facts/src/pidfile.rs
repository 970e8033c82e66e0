//! PID files: `DIR/NAME.pid` holds one decimal PID and a newline, as other tools and
//! `cat` expect. Beside it, `DIR/.NAME.id` records who that PID was (PID, start time,
//! boot ID), so a PID that now belongs to another process is not taken for the service.
//!
//! Files are written atomically (a temporary file in the same directory, fsync, rename:
//! never a torn or empty PID file), opened with `O_NOFOLLOW` (never through a symlink), in
//! a directory created 0700 that must not be writable by others.

use crate::proc::{self, Identity};
use crate::{parse_pid, Pid};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PidFileError {
    #[error("invalid name '{0}': {1}")]
    BadName(String, &'static str),
    #[error("unsafe PID directory {0}: {1}")]
    UnsafeDir(PathBuf, String),
    #[error("cannot create PID directory {0}: {1}")]
    CreateDir(PathBuf, io::Error),
    #[error("{0} is a symlink; refusing to follow it")]
    Symlink(PathBuf),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, io::Error),
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, io::Error),
}

/// What a PID file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    Missing,
    /// Empty, not a number, or not a valid PID: a stale file.
    Garbage,
    Pid { pid: Pid, identity: Option<Identity> },
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Running(Identity),
    /// The file named a dead process, a reused PID, or held garbage: it was removed.
    Stale,
    Missing,
}

/// Service names become file names: no `/`, no `..`, no leading dot, no control bytes.
pub fn validate_name(name: &str) -> Result<(), PidFileError> {
    let bad = |why| Err(PidFileError::BadName(name.to_string(), why));
    if name.is_empty() {
        return bad("empty");
    }
    if name.contains('/') {
        return bad("contains '/'");
    }
    if name.contains("..") {
        return bad("contains '..'");
    }
    if name.starts_with('.') {
        return bad("starts with '.'");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    if name.len() > 200 {
        return bad("longer than 200 bytes");
    }
    Ok(())
}

pub struct PidDir {
    dir: PathBuf,
}

impl PidDir {
    pub fn new(dir: impl Into<PathBuf>) -> PidDir {
        PidDir { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `DIR/NAME.pid`, once NAME is known to be a safe file name.
    pub fn path(&self, name: &str) -> Result<PathBuf, PidFileError> {
        validate_name(name)?;
        Ok(self.dir.join(format!("{name}.pid")))
    }

    fn identity_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".{name}.id"))
    }

    /// Creates the directory (0700) if needed and refuses one others could write to.
    pub fn ensure(&self) -> Result<(), PidFileError> {
        if fs::symlink_metadata(&self.dir).is_err() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| PidFileError::CreateDir(self.dir.clone(), e))?;
        }
        let meta = fs::symlink_metadata(&self.dir).map_err(|e| PidFileError::CreateDir(self.dir.clone(), e))?;
        if meta.file_type().is_symlink() {
            // A symlinked directory is fine when it resolves to a safe one we own.
            let real = fs::metadata(&self.dir).map_err(|e| PidFileError::CreateDir(self.dir.clone(), e))?;
            return check_dir_meta(&self.dir, &real);
        }
        check_dir_meta(&self.dir, &meta)
    }

    /// Writes `pid` atomically, with its identity beside it when the process is alive.
    pub fn write(&self, name: &str, pid: Pid) -> Result<PathBuf, PidFileError> {
        let path = self.path(name)?;
        self.ensure()?;
        let id_path = self.identity_path(name);
        match (Identity::of(pid), proc::boot_id()) {
            (Some(id), Some(boot)) => {
                write_atomically(&id_path, format!("{} {} {}\n", id.pid, id.starttime, boot).as_bytes())?;
            }
            _ => {
                let _ = fs::remove_file(&id_path);
            }
        }
        write_atomically(&path, format!("{pid}\n").as_bytes())?;
        Ok(path)
    }

    /// Reads the PID file; never follows a symlink.
    pub fn read(&self, name: &str) -> Result<Contents, PidFileError> {
        Ok(match self.read_pid_only(name)? {
            Contents::Pid { pid, .. } => Contents::Pid { pid, identity: self.read_identity(name, pid) },
            other => other,
        })
    }

    /// The PID file alone, without the recorded identity (`identity` is None): one file
    /// read instead of three, for callers that only want the number (process-read-pid).
    pub fn read_pid_only(&self, name: &str) -> Result<Contents, PidFileError> {
        let path = self.path(name)?;
        let text = match read_nofollow(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Contents::Missing),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(PidFileError::Symlink(path)),
            Err(e) => return Err(PidFileError::Read(path, e)),
        };
        let Ok(pid) = parse_pid(text.trim()) else { return Ok(Contents::Garbage) };
        Ok(Contents::Pid { pid, identity: None })
    }

    /// The recorded identity, if it is of this boot and of this PID.
    fn read_identity(&self, name: &str, pid: Pid) -> Option<Identity> {
        let text = read_nofollow(&self.identity_path(name)).ok()?;
        let mut f = text.split_ascii_whitespace();
        let (p, start, boot) = (f.next()?.parse::<Pid>().ok()?, f.next()?.parse::<u64>().ok()?, f.next()?);
        if p != pid {
            return None;
        }
        match proc::boot_id() {
            // Recorded in another boot: whatever holds this PID now is another process.
            Some(now) if now != boot => Some(Identity { pid, starttime: u64::MAX }),
            _ => Some(Identity { pid, starttime: start }),
        }
    }

    /// Removes the PID file and its identity; missing files are fine.
    pub fn remove(&self, name: &str) -> Result<(), PidFileError> {
        let path = self.path(name)?;
        for p in [path, self.identity_path(name)] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(PidFileError::Write(p, e)),
            }
        }
        Ok(())
    }

    /// The live process the file names, if any; a stale file (dead process, zombie,
    /// reused PID, garbage) is removed.
    pub fn running(&self, name: &str) -> Result<Option<Identity>, PidFileError> {
        Ok(match self.read(name)? {
            Contents::Pid { pid, identity: Some(id) } => Some(id).filter(|id| id.pid == pid && id.is_alive()),
            Contents::Pid { pid, identity: None } => Identity::of(pid),
            _ => None,
        })
    }

    /// `running`, removing the file when it is stale.
    pub fn check(&self, name: &str) -> Result<Check, PidFileError> {
        let contents = self.read(name)?;
        if contents == Contents::Missing {
            return Ok(Check::Missing);
        }
        match self.running(name)? {
            Some(id) => Ok(Check::Running(id)),
            None => {
                self.remove(name)?;
                Ok(Check::Stale)
            }
        }
    }

    /// The names of every PID file in the directory.
    pub fn names(&self) -> Vec<String> {
        let Ok(dir) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut names: Vec<String> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".pid")).map(str::to_string))
            .filter(|n| validate_name(n).is_ok())
            .collect();
        names.sort();
        names
    }
}

fn check_dir_meta(dir: &Path, meta: &fs::Metadata) -> Result<(), PidFileError> {
    if !meta.is_dir() {
        return Err(PidFileError::UnsafeDir(dir.into(), "not a directory".into()));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(PidFileError::UnsafeDir(dir.into(), format!("owned by uid {}, not by you (uid {me})", meta.uid())));
    }
    let mode = meta.mode();
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky {
        return Err(PidFileError::UnsafeDir(dir.into(), format!("writable by others (mode {:o}); chmod go-w it", mode & 0o7777)));
    }
    Ok(())
}

fn read_nofollow(path: &Path) -> io::Result<String> {
    let mut f = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
    }
    let mut buf = Vec::with_capacity(64);
    Read::by_ref(&mut f).take(4096).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Temp file in the same directory, written and synced, then renamed over `path`.
/// Readers see the old contents or the new, never a partial file.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), PidFileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let base = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let err = |e| PidFileError::Write(path.to_path_buf(), e);
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".{base}.tmp.{}.{attempt}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).mode(0o644).custom_flags(libc::O_NOFOLLOW).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(err(e)),
        }
    };
    let result = file.write_all(data).and_then(|_| file.sync_all()).and_then(|_| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(err(e));
    }
    drop(file);
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pidfile-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn names_are_validated() {
        for bad in ["", "a/b", "..", "a..b", ".hidden", "x\ny"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["nginx", "my_service-2", "app.worker", "ünïcode"] {
            assert!(validate_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn write_read_check_remove() {
        let d = tmpdir("cycle");
        let pids = PidDir::new(d.join("nested/dir"));
        let me = std::process::id() as Pid;
        let path = pids.write("svc", me).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{me}\n"));
        assert_eq!(fs::metadata(pids.dir()).unwrap().permissions().mode() & 0o777, 0o700);
        let c = pids.read("svc").unwrap();
        assert!(matches!(c, Contents::Pid { pid, identity: Some(_) } if pid == me));
        assert!(matches!(pids.check("svc").unwrap(), Check::Running(id) if id.pid == me));
        assert_eq!(pids.names(), vec!["svc".to_string()]);
        pids.remove("svc").unwrap();
        assert_eq!(pids.read("svc").unwrap(), Contents::Missing);
        pids.remove("svc").unwrap();
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stale_garbage_and_reused_pids() {
        let d = tmpdir("stale");
        let pids = PidDir::new(&d);
        pids.ensure().unwrap();
        fs::write(d.join("empty.pid"), "").unwrap();
        fs::write(d.join("junk.pid"), "hello\n").unwrap();
        assert_eq!(pids.read("empty").unwrap(), Contents::Garbage);
        assert_eq!(pids.check("junk").unwrap(), Check::Stale);
        assert!(!d.join("junk.pid").exists());
        // A PID whose recorded start time differs is somebody else now.
        let me = std::process::id() as Pid;
        pids.write("reused", me).unwrap();
        let id = Identity::of(me).unwrap();
        fs::write(d.join(".reused.id"), format!("{me} {} {}\n", id.starttime + 7, proc::boot_id().unwrap())).unwrap();
        assert_eq!(pids.check("reused").unwrap(), Check::Stale);
        assert!(!d.join("reused.pid").exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn never_through_a_symlink_and_never_in_a_shared_dir() {
        let d = tmpdir("link");
        let pids = PidDir::new(&d);
        pids.ensure().unwrap();
        let victim = d.join("victim");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("evil.pid")).unwrap();
        assert!(matches!(pids.read("evil"), Err(PidFileError::Symlink(_))));
        pids.write("evil", std::process::id() as Pid).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!fs::symlink_metadata(d.join("evil.pid")).unwrap().file_type().is_symlink());
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(pids.write("x", 1), Err(PidFileError::UnsafeDir(..))));
        fs::remove_dir_all(&d).unwrap();
    }
}
