//! The library's shared state under `$PROCESS_STATE_DIR`, kept in files so that every
//! shell, `$(...)` subshell and zunit `run` sees the same groups and registry:
//! - `groups/GROUP`: one member a line, in the order added: `name SERVICE` or
//!   `pid PID STARTTIME`; changed under `flock`, so concurrent adds lose nothing;
//! - `registry/NAME`: what `process-start` & co. launched: `key=value` lines.

use crate::pidfile::{validate_name, write_atomically, PidFileError};
use crate::proc::Identity;
use crate::Pid;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A member of a group: a service (by PID-file name) or one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Service(String),
    Process(Identity),
}

impl Member {
    fn to_line(&self) -> String {
        match self {
            Member::Service(n) => format!("name {n}"),
            Member::Process(id) => format!("pid {} {}", id.pid, id.starttime),
        }
    }

    fn from_line(line: &str) -> Option<Member> {
        let mut f = line.split_ascii_whitespace();
        match f.next()? {
            "name" => {
                let n = f.next()?;
                validate_name(n).ok()?;
                Some(Member::Service(n.to_string()))
            }
            "pid" => Some(Member::Process(Identity { pid: f.next()?.parse().ok()?, starttime: f.next()?.parse().ok()? })),
            _ => None,
        }
    }

    /// How the member was named: the service name or the PID.
    pub fn label(&self) -> String {
        match self {
            Member::Service(n) => n.clone(),
            Member::Process(id) => id.pid.to_string(),
        }
    }
}

pub struct StateDir {
    root: PathBuf,
}

fn private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// An exclusive `flock` held while the file is open.
struct Locked {
    file: fs::File,
}

impl Locked {
    fn open(path: &Path) -> io::Result<Locked> {
        let file = OpenOptions::new().read(true).write(true).create(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)?;
        // SAFETY: flock on a valid fd; released when the file is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Locked { file })
    }

    fn read(&mut self) -> io::Result<String> {
        let mut s = String::new();
        self.file.rewind()?;
        self.file.read_to_string(&mut s)?;
        Ok(s)
    }

    fn replace(&mut self, text: &str) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()
    }
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn groups_dir(&self) -> PathBuf {
        self.root.join("groups")
    }

    fn registry_dir(&self) -> PathBuf {
        self.root.join("registry")
    }

    fn group_path(&self, group: &str) -> Result<PathBuf, PidFileError> {
        validate_name(group)?;
        Ok(self.groups_dir().join(group))
    }

    // ---- groups ----

    /// Adds `member` to `group` (once: adding it again keeps its first place).
    pub fn group_add(&self, group: &str, member: Member) -> Result<(), PidFileError> {
        let path = self.group_path(group)?;
        let dir = self.groups_dir();
        private_dir(&dir).map_err(|e| PidFileError::CreateDir(dir.clone(), e))?;
        let err = |e| PidFileError::Write(path.clone(), e);
        let mut lock = Locked::open(&path).map_err(err)?;
        let text = lock.read().map_err(err)?;
        if text.lines().filter_map(Member::from_line).any(|m| m == member) {
            return Ok(());
        }
        let mut text = text;
        text.push_str(&member.to_line());
        text.push('\n');
        lock.replace(&text).map_err(err)
    }

    /// The members of `group` in the order added; empty when there is no such group.
    pub fn group_members(&self, group: &str) -> Result<Vec<Member>, PidFileError> {
        let path = self.group_path(group)?;
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text.lines().filter_map(Member::from_line).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(PidFileError::Read(path, e)),
        }
    }

    /// Keeps only the members for which `keep` is true; removes the group when none is
    /// left. Returns how many were dropped.
    pub fn group_retain(&self, group: &str, mut keep: impl FnMut(&Member) -> bool) -> Result<usize, PidFileError> {
        let path = self.group_path(group)?;
        if !path.exists() {
            return Ok(0);
        }
        let err = |e| PidFileError::Write(path.clone(), e);
        let mut lock = Locked::open(&path).map_err(err)?;
        let members: Vec<Member> = lock.read().map_err(err)?.lines().filter_map(Member::from_line).collect();
        let kept: Vec<&Member> = members.iter().filter(|m| keep(m)).collect();
        let dropped = members.len() - kept.len();
        if kept.is_empty() {
            fs::remove_file(&path).map_err(err)?;
        } else if dropped > 0 {
            let text: String = kept.iter().map(|m| m.to_line() + "\n").collect();
            lock.replace(&text).map_err(err)?;
        }
        Ok(dropped)
    }

    pub fn group_remove(&self, group: &str) -> Result<(), PidFileError> {
        let path = self.group_path(group)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PidFileError::Write(path, e)),
        }
    }

    /// Every group name, sorted.
    pub fn group_names(&self) -> Vec<String> {
        list_names(&self.groups_dir())
    }

    // ---- registry ----

    pub fn register(&self, name: &str, entry: &Entry) -> Result<(), PidFileError> {
        validate_name(name)?;
        let dir = self.registry_dir();
        private_dir(&dir).map_err(|e| PidFileError::CreateDir(dir.clone(), e))?;
        write_atomically(&dir.join(name), entry.to_text().as_bytes())
    }

    pub fn entry(&self, name: &str) -> Option<Entry> {
        validate_name(name).ok()?;
        Entry::parse(&fs::read_to_string(self.registry_dir().join(name)).ok()?)
    }

    pub fn unregister(&self, name: &str) {
        if validate_name(name).is_ok() {
            let _ = fs::remove_file(self.registry_dir().join(name));
        }
    }

    pub fn registered_names(&self) -> Vec<String> {
        list_names(&self.registry_dir())
    }
}

fn list_names(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        rd.flatten().filter_map(|e| e.file_name().to_str().map(str::to_string)).filter(|n| validate_name(n).is_ok()).collect();
    names.sort();
    names
}

/// A registry entry: what was launched, as whom, and who supervises it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub pid: Pid,
    pub starttime: u64,
    pub command: String,
    pub log: String,
    pub started_epoch: u64,
    /// The supervising process, when `process-supervise` runs it.
    pub supervisor: Option<Identity>,
}

impl Entry {
    pub fn identity(&self) -> Identity {
        Identity { pid: self.pid, starttime: self.starttime }
    }

    fn to_text(&self) -> String {
        let mut fields = BTreeMap::new();
        fields.insert("pid", self.pid.to_string());
        fields.insert("start", self.starttime.to_string());
        fields.insert("command", self.command.replace('\n', " "));
        fields.insert("log", self.log.clone());
        fields.insert("started", self.started_epoch.to_string());
        if let Some(s) = self.supervisor {
            fields.insert("supervisor", format!("{} {}", s.pid, s.starttime));
        }
        fields.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    fn parse(text: &str) -> Option<Entry> {
        let mut e = Entry::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else { continue };
            match k {
                "pid" => e.pid = v.parse().ok()?,
                "start" => e.starttime = v.parse().ok()?,
                "command" => e.command = v.to_string(),
                "log" => e.log = v.to_string(),
                "started" => e.started_epoch = v.parse().unwrap_or(0),
                "supervisor" => {
                    let mut f = v.split_ascii_whitespace();
                    e.supervisor = Some(Identity { pid: f.next()?.parse().ok()?, starttime: f.next()?.parse().ok()? });
                }
                _ => {}
            }
        }
        (e.pid > 0).then_some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("state-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn groups_keep_order_and_uniqueness() {
        let d = tmp("groups");
        let s = StateDir::new(&d);
        s.group_add("app", Member::Service("db".into())).unwrap();
        s.group_add("app", Member::Service("cache".into())).unwrap();
        s.group_add("app", Member::Process(Identity { pid: 42, starttime: 7 })).unwrap();
        s.group_add("app", Member::Service("db".into())).unwrap();
        let m = s.group_members("app").unwrap();
        assert_eq!(m.iter().map(Member::label).collect::<Vec<_>>(), ["db", "cache", "42"]);
        assert_eq!(s.group_names(), vec!["app".to_string()]);
        assert!(s.group_add("../x", Member::Service("a".into())).is_err());
        assert_eq!(s.group_retain("app", |m| m.label() != "cache").unwrap(), 1);
        assert_eq!(s.group_members("app").unwrap().len(), 2);
        assert_eq!(s.group_retain("app", |_| false).unwrap(), 2);
        assert!(s.group_names().is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn concurrent_adds_lose_nothing() {
        let d = tmp("concurrent");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let d = d.clone();
                std::thread::spawn(move || {
                    let s = StateDir::new(&d);
                    for i in 0..25 {
                        s.group_add("g", Member::Service(format!("s{t}_{i}"))).unwrap();
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
            command: "python3 -m http.server".into(),
            log: "/tmp/x.log".into(),
            started_epoch: 1700000000,
            supervisor: Some(Identity { pid: 11, starttime: 21 }),
        };
        s.register("web", &e).unwrap();
        assert_eq!(s.entry("web"), Some(e));
        assert_eq!(s.registered_names(), vec!["web".to_string()]);
        s.unregister("web");
        assert!(s.entry("web").is_none());
        fs::remove_dir_all(&d).unwrap();
    }
}
