//! The library's shared state under `$PROCESS_STATE_DIR`, kept in files so that every
//! shell, `$(...)` subshell and zunit `run` sees the same groups and registry:
//!
//! - `groups/GROUP`: the members in the order added, one `service=NAME` or
//!   `process=PID STARTTIME` line each ([`Record`]);
//! - `registry/NAME`: what `process-start` & co. launched ([`Entry`]);
//! - `stacks/STACK`: a Procfile brought up by `process-up` ([`crate::stack::Stack`]);
//! - `locks/NAME`: held while NAME is being started, so two shells never start it twice.
//!
//! Every change is a read-modify-write under an exclusive lock on its directory, ending in
//! an atomic rename; readers see the file before or after, never half of it.

use crate::proc::Identity;
use crate::record::Record;
use crate::store::{validate_name, Dir, Lock, Result};
use crate::sys::fs::LockKind;
use crate::wait::Blocker;
use crate::Pid;
use std::path::{Path, PathBuf};

/// A member of a group: a service (by PID-file name) or one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Service(String),
    Process(Identity),
}

impl Member {
    /// How the member was named: the service name or the PID.
    pub fn label(&self) -> String {
        match self {
            Member::Service(n) => n.clone(),
            Member::Process(id) => id.pid.to_string(),
        }
    }
}

fn members_of(r: &Record) -> Vec<Member> {
    r.fields()
        .filter_map(|(k, v)| match k {
            "service" => validate_name(v).is_ok().then(|| Member::Service(v.to_string())),
            "process" => {
                let (p, s) = v.split_once(' ')?;
                Some(Member::Process(Identity { pid: p.parse().ok()?, starttime: s.parse().ok()? }))
            }
            _ => None,
        })
        .collect()
}

fn record_of(members: &[Member]) -> Record {
    let mut r = Record::new();
    for m in members {
        match m {
            Member::Service(n) => r.push("service", n),
            Member::Process(id) => r.push("process", format!("{} {}", id.pid, id.starttime)),
        }
    }
    r
}

/// A registry entry: what was launched, as whom, who supervises it, and how it is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub pid: Pid,
    pub starttime: u64,
    /// The command as text (bytes that are not UTF-8 replaced): for showing it.
    pub command: String,
    /// The command's own bytes when they are not UTF-8 (kept as hex): for running it
    /// again exactly.
    pub raw_command: Option<Vec<u8>>,
    pub log: String,
    pub started_epoch: u64,
    /// The supervising process, when `process-supervise` runs it.
    pub supervisor: Option<Identity>,
    /// The readiness check it was started with (`port 8080`, ...; empty: none).
    pub check: String,
    /// When it was ready (epoch seconds): the check passed, or, without one, it started.
    pub ready_epoch: Option<u64>,
    /// How many times its supervisor has started it again.
    pub restarts: u32,
    /// The services it was started after (`--after`).
    pub after: Vec<String>,
    /// The stack (`process-up`) it belongs to.
    pub stack: Option<String>,
    /// Its supervisor gave up on it (too many restarts): it stays listed, as dead.
    pub gave_up: bool,
    /// The process writing its log (see crate::log).
    pub logger: Option<Identity>,
    /// Someone asked for it to be stopped: its supervisor ends supervision instead of
    /// starting it again (so no signal is ever sent to a supervisor, which may be a
    /// user's interactive shell).
    pub stop_requested: bool,
}

impl Entry {
    pub fn identity(&self) -> Identity {
        Identity { pid: self.pid, starttime: self.starttime }
    }

    /// Sets the command from its bytes.
    pub fn set_command(&mut self, bytes: &[u8]) {
        self.command = String::from_utf8_lossy(bytes).into_owned();
        self.raw_command = std::str::from_utf8(bytes).is_err().then(|| bytes.to_vec());
    }

    /// The command's bytes, exactly as given.
    pub fn command_bytes(&self) -> Vec<u8> {
        self.raw_command.clone().unwrap_or_else(|| self.command.clone().into_bytes())
    }

    fn to_record(&self) -> Record {
        let mut r = Record::new()
            .with("pid", self.pid)
            .with("start", self.starttime)
            .with("command", &self.command)
            .with("log", &self.log)
            .with("started", self.started_epoch);
        if let Some(raw) = &self.raw_command {
            r.push("command_hex", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
        if let Some(s) = self.supervisor {
            r.push("supervisor_pid", s.pid);
            r.push("supervisor_start", s.starttime);
        }
        if !self.check.is_empty() {
            r.push("check", &self.check);
        }
        if let Some(t) = self.ready_epoch {
            r.push("ready", t);
        }
        r.push("restarts", self.restarts);
        for a in &self.after {
            r.push("after", a);
        }
        if let Some(s) = &self.stack {
            r.push("stack", s);
        }
        if self.gave_up {
            r.push("gave_up", 1);
        }
        if let Some(l) = self.logger {
            r.push("logger_pid", l.pid);
            r.push("logger_start", l.starttime);
        }
        if self.stop_requested {
            r.push("stop_requested", 1);
        }
        r
    }

    fn from_record(r: &Record) -> Option<Entry> {
        let identity = |pid: &str, start: &str| match (r.parse_of(pid), r.parse_of(start)) {
            (Some(pid), Some(starttime)) => Some(Identity { pid, starttime }),
            _ => None,
        };
        let supervisor = identity("supervisor_pid", "supervisor_start");
        let e = Entry {
            pid: r.parse_of("pid")?,
            starttime: r.parse_of("start")?,
            command: r.get("command").unwrap_or_default().to_string(),
            raw_command: r.get("command_hex").and_then(from_hex),
            log: r.get("log").unwrap_or_default().to_string(),
            started_epoch: r.parse_of("started").unwrap_or(0),
            supervisor,
            check: r.get("check").unwrap_or_default().to_string(),
            ready_epoch: r.parse_of("ready"),
            restarts: r.parse_of("restarts").unwrap_or(0),
            after: r.all("after").map(str::to_string).collect(),
            stack: r.get("stack").map(str::to_string),
            gave_up: r.get("gave_up") == Some("1"),
            logger: identity("logger_pid", "logger_start"),
            stop_requested: r.get("stop_requested") == Some("1"),
        };
        (e.pid > 0).then_some(e)
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

pub struct StateDir {
    root: PathBuf,
}

const GROUPS: &str = "groups";
const REGISTRY: &str = "registry";
const LOCKS: &str = "locks";
const STACKS: &str = "stacks";

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn sub(&self, name: &str) -> Result<Option<Dir>> {
        match Dir::open(&self.root)? {
            Some(root) => root.subdir(name),
            None => Ok(None),
        }
    }

    fn create_sub(&self, name: &str) -> Result<Dir> {
        Dir::create(&self.root)?.create_subdir(name)
    }

    /// The names of the files in `sub` that are valid names (no hidden or temporary files).
    fn names_in(&self, sub: &str) -> Result<Vec<String>> {
        let Some(dir) = self.sub(sub)? else { return Ok(Vec::new()) };
        Ok(dir.names()?.into_iter().filter(|n| validate_name(n).is_ok()).collect())
    }

    // ---- groups ----

    /// Adds `member` to `group` (once: adding it again keeps its first place).
    pub fn group_add(&self, group: &str, member: Member, b: &mut dyn Blocker) -> Result<()> {
        validate_name(group)?;
        let dir = self.create_sub(GROUPS)?;
        let _lock = dir.lock(LockKind::Exclusive, b)?;
        let mut members = members_of(&Record::parse(&dir.read_text(group)?.unwrap_or_default()));
        if members.contains(&member) {
            return Ok(());
        }
        members.push(member);
        dir.write(group, record_of(&members).to_text().as_bytes(), 0o600, true)
    }

    /// The members of `group` in the order added; empty when there is no such group.
    pub fn group_members(&self, group: &str) -> Result<Vec<Member>> {
        validate_name(group)?;
        let Some(dir) = self.sub(GROUPS)? else { return Ok(Vec::new()) };
        Ok(members_of(&Record::parse(&dir.read_text(group)?.unwrap_or_default())))
    }

    /// Keeps only the members for which `keep` is true; removes the group when none is
    /// left. Returns how many were dropped.
    pub fn group_retain(&self, group: &str, keep: &mut dyn FnMut(&Member) -> bool, b: &mut dyn Blocker) -> Result<usize> {
        validate_name(group)?;
        let Some(dir) = self.sub(GROUPS)? else { return Ok(0) };
        let _lock = dir.lock(LockKind::Exclusive, b)?;
        let Some(text) = dir.read_text(group)? else { return Ok(0) };
        let members = members_of(&Record::parse(&text));
        let kept: Vec<Member> = members.iter().filter(|m| keep(m)).cloned().collect();
        let dropped = members.len() - kept.len();
        if kept.is_empty() {
            dir.remove(group)?;
        } else if dropped > 0 {
            dir.write(group, record_of(&kept).to_text().as_bytes(), 0o600, true)?;
        }
        Ok(dropped)
    }

    pub fn group_remove(&self, group: &str, b: &mut dyn Blocker) -> Result<()> {
        self.group_retain(group, &mut |_| false, b).map(drop)
    }

    /// Every group name, sorted.
    pub fn group_names(&self) -> Result<Vec<String>> {
        self.names_in(GROUPS)
    }

    // ---- registry ----

    pub fn register(&self, name: &str, entry: &Entry) -> Result<()> {
        validate_name(name)?;
        self.create_sub(REGISTRY)?.write(name, entry.to_record().to_text().as_bytes(), 0o600, true)
    }

    pub fn entry(&self, name: &str) -> Result<Option<Entry>> {
        validate_name(name)?;
        let Some(dir) = self.sub(REGISTRY)? else { return Ok(None) };
        Ok(dir.read_text(name)?.and_then(|t| Entry::from_record(&Record::parse(&t))))
    }

    pub fn unregister(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        match self.sub(REGISTRY)? {
            Some(dir) => dir.remove(name).map(drop),
            None => Ok(()),
        }
    }

    pub fn registered_names(&self) -> Result<Vec<String>> {
        self.names_in(REGISTRY)
    }

    /// Changes NAME's entry in place, if it is still the one of `pid` (a newer start has
    /// its own entry, not to be touched). Under the registry's lock.
    pub fn update(&self, name: &str, pid: Pid, change: &mut dyn FnMut(&mut Entry), b: &mut dyn Blocker) -> Result<bool> {
        validate_name(name)?;
        let Some(dir) = self.sub(REGISTRY)? else { return Ok(false) };
        let _lock = dir.lock(LockKind::Exclusive, b)?;
        let Some(mut entry) = dir.read_text(name)?.and_then(|t| Entry::from_record(&Record::parse(&t))) else { return Ok(false) };
        if entry.pid != pid {
            return Ok(false);
        }
        change(&mut entry);
        dir.write(name, entry.to_record().to_text().as_bytes(), 0o600, true)?;
        Ok(true)
    }

    /// The registry directory, for watching it change (a service becoming ready).
    pub fn registry_dir(&self) -> Result<Dir> {
        self.create_sub(REGISTRY)
    }

    // ---- stacks ----

    /// Records a stack; refused when the record would be larger than the library reads
    /// back (an enormous .env or Procfile), so that what is saved can always be read.
    pub fn save_stack(&self, stack: &crate::stack::Stack) -> Result<()> {
        validate_name(&stack.name)?;
        let text = stack.to_record().to_text();
        let dir = self.create_sub(STACKS)?;
        if text.len() > crate::store::MAX_FILE {
            return Err(crate::store::StoreError::Untrusted {
                path: dir.file_path(&stack.name),
                why: format!("its record would be {} KiB, more than the {} KiB read back: a smaller Procfile or .env", text.len() / 1024, crate::store::MAX_FILE / 1024),
            });
        }
        dir.write(&stack.name, text.as_bytes(), 0o600, true)
    }

    pub fn stack(&self, name: &str) -> Result<Option<crate::stack::Stack>> {
        validate_name(name)?;
        let Some(dir) = self.sub(STACKS)? else { return Ok(None) };
        Ok(dir.read_text(name)?.and_then(|t| crate::stack::Stack::from_record(name, &Record::parse(&t))))
    }

    pub fn remove_stack(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        match self.sub(STACKS)? {
            Some(dir) => dir.remove(name).map(drop),
            None => Ok(()),
        }
    }

    pub fn stack_names(&self) -> Result<Vec<String>> {
        self.names_in(STACKS)
    }

    // ---- starting ----

    /// Held while `name` is being started: a second start of the same name, from another
    /// shell, waits for the first to finish and then finds it running.
    pub fn start_lock(&self, name: &str, b: &mut dyn Blocker) -> Result<Lock> {
        validate_name(name)?;
        self.create_sub(LOCKS)?.lock_file(name, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Plain;
    use std::fs;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("state-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn groups_keep_order_and_uniqueness() {
        let d = tmp("groups");
        let s = StateDir::new(&d);
        s.group_add("app", Member::Service("db".into()), &mut Plain).unwrap();
        s.group_add("app", Member::Service("cache".into()), &mut Plain).unwrap();
        s.group_add("app", Member::Process(Identity { pid: 42, starttime: 7 }), &mut Plain).unwrap();
        s.group_add("app", Member::Service("db".into()), &mut Plain).unwrap();
        let m = s.group_members("app").unwrap();
        assert_eq!(m.iter().map(Member::label).collect::<Vec<_>>(), ["db", "cache", "42"]);
        assert_eq!(s.group_names().unwrap(), vec!["app".to_string()]);
        assert!(s.group_add("../x", Member::Service("a".into()), &mut Plain).is_err());
        assert_eq!(s.group_retain("app", &mut |m| m.label() != "cache", &mut Plain).unwrap(), 1);
        assert_eq!(s.group_members("app").unwrap().len(), 2);
        assert_eq!(s.group_retain("app", &mut |_| false, &mut Plain).unwrap(), 2);
        assert!(s.group_names().unwrap().is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn concurrent_adds_and_removals_lose_nothing() {
        let d = tmp("concurrent");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let d = d.clone();
                std::thread::spawn(move || {
                    let s = StateDir::new(&d);
                    for i in 0..25 {
                        s.group_add("g", Member::Service(format!("s{t}_{i}")), &mut Plain).unwrap();
                        // Another group emptied and removed while adds wait for the lock.
                        s.group_add("h", Member::Service(format!("x{t}")), &mut Plain).unwrap();
                        s.group_remove("h", &mut Plain).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(StateDir::new(&d).group_members("g").unwrap().len(), 200);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn registry_round_trip() {
        let d = tmp("registry");
        let s = StateDir::new(&d);
        let e = Entry {
            pid: 10,
            starttime: 20,
            command: "python3 -m http.server\necho two lines".into(),
            raw_command: None,
            log: "/tmp/x.log".into(),
            started_epoch: 1700000000,
            supervisor: Some(Identity { pid: 11, starttime: 21 }),
            check: "port 8080".into(),
            ready_epoch: Some(1700000001),
            restarts: 2,
            after: vec!["db".into(), "cache".into()],
            stack: Some("shop".into()),
            gave_up: true,
            logger: Some(Identity { pid: 12, starttime: 22 }),
            stop_requested: true,
        };
        s.register("web", &e).unwrap();
        assert_eq!(s.entry("web").unwrap(), Some(e.clone()));
        let mut raw = e.clone();
        raw.set_command(b"zsh /tmp/caf\xe9");
        s.register("raw", &raw).unwrap();
        assert_eq!(s.entry("raw").unwrap().unwrap().command_bytes(), b"zsh /tmp/caf\xe9", "bytes that are not UTF-8 come back exactly");
        s.unregister("raw").unwrap();
        assert!(s.update("web", 10, &mut |e| e.restarts = 3, &mut Plain).unwrap());
        assert!(!s.update("web", 99, &mut |e| e.restarts = 9, &mut Plain).unwrap(), "another start's entry is left alone");
        assert_eq!(s.entry("web").unwrap().unwrap().restarts, 3);
        assert_eq!(s.registered_names().unwrap(), vec!["web".to_string()]);
        s.unregister("web").unwrap();
        assert!(s.entry("web").unwrap().is_none());
        let _held = s.start_lock("web", &mut Plain).unwrap();
        assert!(s.start_lock("web", &mut Plain).is_err(), "held by this process already");
        fs::remove_dir_all(&d).unwrap();
    }
}
