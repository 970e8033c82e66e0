//! PID files: `DIR/NAME.pid` holds one decimal PID and a newline, as other tools and
//! `cat` expect. Beside it, `DIR/.NAME.id` (a [`Record`]: pid, start, boot) records who
//! that PID was, so a PID that now belongs to another process, or a file kept from another
//! boot, is not taken for the service.
//!
//! The two files are one unit: written under an exclusive lock on the directory, read as
//! a pair under a shared one, so a reader never sees one process's PID with another's
//! identity. Everything goes through [`crate::store`] (the trust rule, no symlinks, no
//! FIFOs, atomic renames).

use crate::proc::{self, Identity};
use crate::record::Record;
use crate::store::{validate_name, Dir, Result};
use crate::sys::fs::LockKind;
use crate::wait::Blocker;
use crate::{parse_pid, Pid};
use std::path::{Path, PathBuf};

/// What a PID file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    Missing,
    /// Empty, not a number, or not a valid PID: a stale file.
    Garbage,
    /// `identity` is what the identity file recorded for this PID (None: nothing recorded,
    /// e.g. a file written by another tool, which is then taken at its word).
    Pid { pid: Pid, identity: Option<Identity>, role: Role },
}

/// What the recorded process is to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// The service itself.
    #[default]
    Service,
    /// A shell that only runs the service: `$!` after `eval "$cmd" &` is a subshell whose
    /// child is the real server; `process-start`'s `zsh -c` stays the parent of a
    /// compound command. Signals for the service go to what it runs.
    Wrapper,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Running(Identity),
    /// The file named a dead process, a reused PID, or held garbage: it was removed.
    Stale,
    Missing,
}

/// The PID directory (`$PROCESS_PID_DIR`).
pub struct PidFiles {
    path: PathBuf,
}

fn pid_file(name: &str) -> String {
    format!("{name}.pid")
}

fn id_file(name: &str) -> String {
    format!(".{name}.id")
}

/// Mode of the PID file: other tools (monitoring, `cat`) read it.
const PID_FILE_MODE: u32 = 0o644;

impl PidFiles {
    pub fn new(path: impl Into<PathBuf>) -> PidFiles {
        PidFiles { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `DIR/NAME.pid`, once NAME is known to be a safe file name.
    pub fn file_path(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        Ok(self.path.join(pid_file(name)))
    }

    fn dir(&self) -> Result<Option<Dir>> {
        Dir::open(&self.path)
    }

    /// Writes `pid` with its identity and role, as one unit. A PID that is no live
    /// process now (gone, a zombie, a thread ID) is recorded with an impossible start
    /// time: the file reads as stale from the start, and whatever process is handed that
    /// PID later is never taken for the service.
    pub fn write(&self, name: &str, pid: Pid, role: Role, b: &mut dyn Blocker) -> Result<PathBuf> {
        validate_name(name)?;
        let dir = Dir::create(&self.path)?;
        let _lock = dir.lock(LockKind::Exclusive, b)?;
        let starttime = Identity::of(pid).map_or(NOT_LIVE, |id| id.starttime);
        let mut record = Record::new().with("pid", pid).with("start", starttime);
        if let Some(boot) = proc::boot_id() {
            record.push("boot", boot);
        }
        if role == Role::Wrapper {
            record.push("role", "wrapper");
        }
        dir.write(&id_file(name), record.to_text().as_bytes(), 0o600, true)?;
        dir.write(&pid_file(name), format!("{pid}\n").as_bytes(), PID_FILE_MODE, true)?;
        Ok(dir.file_path(&pid_file(name)))
    }

    /// The PID file alone, without the identity (`identity` is None): one file read, for
    /// callers that only want the number (process-read-pid).
    pub fn read_pid(&self, name: &str) -> Result<Contents> {
        validate_name(name)?;
        let Some(dir) = self.dir()? else { return Ok(Contents::Missing) };
        Ok(parse_pid_file(dir.read_text(&pid_file(name))?))
    }

    /// The PID file and the identity recorded for it, read as one unit.
    pub fn read(&self, name: &str, b: &mut dyn Blocker) -> Result<Contents> {
        validate_name(name)?;
        let Some(dir) = self.dir()? else { return Ok(Contents::Missing) };
        let _lock = dir.lock(LockKind::Shared, b)?;
        read_pair(&dir, name)
    }

    /// The live process the file names, if any (not removing anything).
    pub fn running(&self, name: &str, b: &mut dyn Blocker) -> Result<Option<Identity>> {
        Ok(live(&self.read(name, b)?))
    }

    /// [`PidFiles::running`], with what the process is to the service.
    pub fn running_as(&self, name: &str, b: &mut dyn Blocker) -> Result<Option<(Identity, Role)>> {
        let contents = self.read(name, b)?;
        let role = match contents {
            Contents::Pid { role, .. } => role,
            _ => Role::Service,
        };
        Ok(live(&contents).map(|id| (id, role)))
    }

    /// [`PidFiles::running`], removing the file when it is stale. The removal happens
    /// under the exclusive lock, after reading the file again: a file a concurrent writer
    /// just replaced is never removed.
    pub fn check(&self, name: &str, b: &mut dyn Blocker) -> Result<Check> {
        let contents = self.read(name, b)?;
        if contents == Contents::Missing {
            return Ok(Check::Missing);
        }
        if let Some(id) = live(&contents) {
            return Ok(Check::Running(id));
        }
        let Some(dir) = self.dir()? else { return Ok(Check::Missing) };
        let _lock = dir.lock(LockKind::Exclusive, b)?;
        let now = read_pair(&dir, name)?;
        if now != contents {
            return Ok(match live(&now) {
                Some(id) => Check::Running(id),
                None if now == Contents::Missing => Check::Missing,
                None => Check::Stale,
            });
        }
        dir.remove(&pid_file(name))?;
        dir.remove(&id_file(name))?;
        Ok(Check::Stale)
    }

    /// Removes the PID file and its identity; missing files are fine.
    pub fn remove(&self, name: &str, b: &mut dyn Blocker) -> Result<()> {
        validate_name(name)?;
        let Some(dir) = self.dir()? else { return Ok(()) };
        let _lock = dir.lock(LockKind::Exclusive, b)?;
        dir.remove(&pid_file(name))?;
        dir.remove(&id_file(name))?;
        Ok(())
    }

    /// The names of every PID file in the directory, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        let Some(dir) = self.dir()? else { return Ok(Vec::new()) };
        Ok(dir
            .names()?
            .into_iter()
            .filter_map(|n| n.strip_suffix(".pid").map(str::to_string))
            .filter(|n| validate_name(n).is_ok())
            .collect())
    }
}

fn parse_pid_file(text: Option<String>) -> Contents {
    match text {
        None => Contents::Missing,
        Some(t) => match parse_pid(t.trim()) {
            Ok(pid) => Contents::Pid { pid, identity: None, role: Role::Service },
            Err(_) => Contents::Garbage,
        },
    }
}

fn read_pair(dir: &Dir, name: &str) -> Result<Contents> {
    Ok(match parse_pid_file(dir.read_text(&pid_file(name))?) {
        Contents::Pid { pid, .. } => match read_identity(dir, name, pid)? {
            Some((identity, role)) => Contents::Pid { pid, identity: Some(identity), role },
            None => Contents::Pid { pid, identity: None, role: Role::Service },
        },
        other => other,
    })
}

/// The start time recorded for a PID that was no live process when written.
const NOT_LIVE: u64 = u64::MAX;

/// The recorded identity and role, if they are of this PID. An identity from another boot
/// is returned with an impossible start time: whatever holds the PID now is another process.
fn read_identity(dir: &Dir, name: &str, pid: Pid) -> Result<Option<(Identity, Role)>> {
    let Some(text) = dir.read_text(&id_file(name))? else { return Ok(None) };
    let r = Record::parse(&text);
    let (Some(p), Some(start)) = (r.parse_of::<Pid>("pid"), r.parse_of::<u64>("start")) else { return Ok(None) };
    if p != pid {
        return Ok(None);
    }
    let starttime = match (r.get("boot"), proc::boot_id()) {
        (Some(then), Some(now)) if then != now => NOT_LIVE,
        _ => start,
    };
    let role = if r.get("role") == Some("wrapper") { Role::Wrapper } else { Role::Service };
    Ok(Some((Identity { pid, starttime }, role)))
}

/// The live process that `contents` names.
fn live(contents: &Contents) -> Option<Identity> {
    match contents {
        Contents::Pid { identity: Some(id), .. } => Some(*id).filter(Identity::is_alive),
        Contents::Pid { pid, identity: None, .. } => Identity::of(*pid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::wait::Plain;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pidfile-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn write_read_check_remove() {
        let d = tmpdir("cycle");
        let pids = PidFiles::new(d.join("nested/dir"));
        let me = std::process::id() as Pid;
        let path = pids.write("svc", me, Role::Service, &mut Plain).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{me}\n"));
        assert_eq!(fs::metadata(pids.path()).unwrap().permissions().mode() & 0o777, 0o700);
        let c = pids.read("svc", &mut Plain).unwrap();
        assert!(matches!(c, Contents::Pid { pid, identity: Some(_), .. } if pid == me));
        assert!(matches!(pids.check("svc", &mut Plain).unwrap(), Check::Running(id) if id.pid == me));
        assert_eq!(pids.names().unwrap(), vec!["svc".to_string()]);
        pids.remove("svc", &mut Plain).unwrap();
        assert_eq!(pids.read("svc", &mut Plain).unwrap(), Contents::Missing);
        pids.remove("svc", &mut Plain).unwrap();
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stale_garbage_reused_and_another_boot() {
        let d = tmpdir("stale");
        let pids = PidFiles::new(&d);
        Dir::create(&d).unwrap();
        fs::write(d.join("empty.pid"), "").unwrap();
        fs::write(d.join("junk.pid"), "hello\n").unwrap();
        assert_eq!(pids.read_pid("empty").unwrap(), Contents::Garbage);
        assert_eq!(pids.check("junk", &mut Plain).unwrap(), Check::Stale);
        assert!(!d.join("junk.pid").exists());
        let me = std::process::id() as Pid;
        let id = Identity::of(me).unwrap();
        pids.write("reused", me, Role::Service, &mut Plain).unwrap();
        let forged = Record::new().with("pid", me).with("start", id.starttime + 7).with("boot", proc::boot_id().unwrap());
        fs::write(d.join(".reused.id"), forged.to_text()).unwrap();
        assert_eq!(pids.check("reused", &mut Plain).unwrap(), Check::Stale);
        assert!(!d.join("reused.pid").exists());
        pids.write("reboot", me, Role::Wrapper, &mut Plain).unwrap();
        assert!(matches!(pids.read("reboot", &mut Plain).unwrap(), Contents::Pid { role: Role::Wrapper, .. }));
        let old = Record::new().with("pid", me).with("start", id.starttime).with("boot", "another-boot");
        fs::write(d.join(".reboot.id"), old.to_text()).unwrap();
        assert_eq!(pids.running("reboot", &mut Plain).unwrap(), None);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn never_through_a_symlink_and_never_in_a_shared_dir() {
        let d = tmpdir("link");
        let pids = PidFiles::new(&d);
        Dir::create(&d).unwrap();
        let victim = d.join("victim");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("evil.pid")).unwrap();
        assert!(matches!(pids.read("evil", &mut Plain), Err(StoreError::Untrusted { .. })));
        pids.write("evil", std::process::id() as Pid, Role::Service, &mut Plain).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(pids.write("x", 1, Role::Service, &mut Plain), Err(StoreError::Untrusted { .. })));
        assert!(matches!(pids.read("evil", &mut Plain), Err(StoreError::Untrusted { .. })));
        fs::remove_dir_all(&d).unwrap();
    }
}
