//! The library's files, and the one rule for trusting them.
//!
//! Every file the library reads or writes (PID files and their identity files, groups, the
//! registry, logs, the sample store, CSV output, metrics files, the events journal) is
//! reached through a [`Dir`]: a directory opened once, by walking its path from `/` one
//! component at a time, and then used only through `*at` calls relative to it. The same checks run on read as on write:
//!
//! - **Owner.** Every component, and every file, is owned by the user (the effective uid)
//!   or by root. A symlink on the way to the configured directory is followed only when it
//!   too is owned by the user or root; below that directory no symlink is followed at all.
//! - **Writers.** Nothing may be writable by other users; group-writable only when the
//!   group is private to the owner (its only member, as OpenSSH's StrictModes rule: a
//!   directory that umask 002 made group-writable for the user's own group is fine), and
//!   then with no access control list entry letting anyone else write. An
//!   ancestor (`/tmp`) may be world-writable when it is sticky, since then only we can
//!   rename or remove our entry in it; the configured directory itself may not.
//! - **Kind.** A file must be a regular file, opened with `O_NONBLOCK | O_NOFOLLOW`, so a
//!   FIFO or device planted in its place is refused instead of hanging the shell, and at
//!   most [`MAX_FILE`] bytes are read.
//! - **Creation.** Missing directories are made 0700 and checked again once made; files
//!   are written whole into a temporary name and renamed into place, so a reader never sees
//!   half a file.
//!
//! Locks are `flock`s on a directory or on a lock file. A lock this process already holds
//! is refused at once ([`StoreError::Busy`]) instead of waited for: the holder may be the
//! very builtin a trap interrupted, which cannot finish until the trap does.

use crate::sys::fs::{self as sysfs, flags, LockKind, Stat};
use crate::sys::{self, AsFd, BorrowedFd, OwnedFd};
use crate::wait::{Blocker, Flow};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use thiserror::Error;

/// The most the library reads of one of its files.
pub const MAX_FILE: usize = 64 * 1024;
/// Symlinks followed on the way to a configured directory, at most (as the kernel's own limit).
const MAX_LINKS: usize = 40;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("invalid name '{0}': {1}")]
    BadName(String, &'static str),
    /// A file or directory the rules above refuse: never read, written or acted on.
    #[error("refusing {}: {why}", path.display())]
    Untrusted { path: PathBuf, why: String },
    #[error("cannot {op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("{} is held by this shell already (a trap calling back in?)", path.display())]
    Busy { path: PathBuf },
    #[error("interrupted")]
    Interrupted,
}

impl StoreError {
    fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        StoreError::Io { op, path: path.into(), source }
    }
    fn untrusted(path: impl Into<PathBuf>, why: impl Into<String>) -> StoreError {
        StoreError::Untrusted { path: path.into(), why: why.into() }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Names of things the library keeps (services, groups) become file names: no `/`, no
/// `..`, no leading dot (the library's own hidden files), no leading `-` (every command
/// would take it for an option, or a negative PID), no control characters.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why| Err(StoreError::BadName(name.to_string(), why));
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
    if name.starts_with('-') {
        return bad("starts with '-'");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    if name.len() > 200 {
        return bad("longer than 200 bytes");
    }
    Ok(())
}

/// `path` as (its directory, its file name) for the `Dir` calls: the directory is `.` for
/// a bare name. None when it names no file (empty, or ending in `/` or `..`) or the name is
/// not UTF-8.
pub fn split_file_path(path: &Path) -> Option<(&Path, &str)> {
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return None;
    }
    let name = path.file_name()?.to_str()?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some((dir, name))
}

// ---- the trust rule ---------------------------------------------------------------------

thread_local! {
    /// group_is_private_to walks the user database: once per (gid, uid) per process.
    static PRIVATE_GROUPS: RefCell<HashMap<(u32, u32), bool>> = RefCell::new(HashMap::new());
    /// (dev, ino) of every lock this process holds now.
    static HELD: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
}

fn group_is_private(gid: u32, owner: u32) -> bool {
    if let Some(v) = PRIVATE_GROUPS.try_with(|m| m.try_borrow().ok().and_then(|m| m.get(&(gid, owner)).copied())).ok().flatten() {
        return v;
    }
    let v = sys::users::group_is_private_to(gid, owner);
    let _ = PRIVATE_GROUPS.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            m.insert((gid, owner), v);
        }
    });
    v
}

/// Why a file or directory of another user (not the user's, not root's) is refused.
fn foreign_owner(st: &Stat) -> Option<String> {
    let me = sys::process::euid();
    (st.uid != me && st.uid != 0).then(|| format!("owned by uid {}, not by you (uid {me}) or root", st.uid))
}

/// Why `st` (the file or directory behind `fd`) is not to be trusted, or None. `passage`:
/// an ancestor only passed through on the way to the configured directory, which may be a
/// sticky shared directory.
fn distrust(fd: BorrowedFd, st: &Stat, passage: bool) -> Option<String> {
    if let Some(why) = foreign_owner(st) {
        return Some(why);
    }
    let perms = st.perms();
    let sticky_passage = passage && st.is_dir() && perms & 0o1000 != 0;
    if perms & 0o002 != 0 && !sticky_passage {
        return Some(format!("writable by other users (mode {perms:04o}); chmod o-w it"));
    }
    if perms & 0o020 != 0 && !sticky_passage {
        if !group_is_private(st.gid, st.uid) {
            return Some(format!("writable by group {} which has other members (mode {perms:04o}); chmod g-w it", st.gid));
        }
        // With an access control list the group bits are its mask: only then can one of
        // its entries let another user write, so only then is it read.
        return acl_writer(fd, st);
    }
    None
}

/// The entry tags and the write bit of a Linux `system.posix_acl_access` attribute: a
/// little-endian u32 version (2), then 8-byte entries (u16 tag, u16 permissions, u32 id).
const ACL_VERSION: u32 = 2;
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;
const ACL_WRITE: u16 = 0x02;

/// Who, besides the owner and a group private to it, the access control list of the file
/// behind `fd` lets write: a named user, or a named group with other members.
fn acl_writer(fd: BorrowedFd, st: &Stat) -> Option<String> {
    let acl = match sysfs::xattr(fd, c"system.posix_acl_access") {
        Ok(None) => return None,
        Ok(Some(acl)) => acl,
        Err(e) => return Some(format!("its access control list cannot be read ({e})")),
    };
    let (version, entries) = acl.split_at_checked(4).unwrap_or_default();
    if version != ACL_VERSION.to_le_bytes() || entries.len() % 8 != 0 {
        return Some("its access control list is in a format this library does not know".into());
    }
    for e in entries.chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        if perm & ACL_WRITE == 0 {
            continue;
        }
        match tag {
            ACL_USER if id != st.uid => return Some(format!("writable by uid {id} through its access control list; setfacl -x u:{id} it")),
            ACL_GROUP if !group_is_private(id, st.uid) => {
                return Some(format!("writable by group {id} through its access control list; setfacl -x g:{id} it"))
            }
            _ => {}
        }
    }
    None
}

fn check_file(path: &Path, fd: BorrowedFd, st: &Stat) -> Result<()> {
    if !st.is_file() {
        return Err(StoreError::untrusted(path, format!("it is {}, not a regular file", st.kind())));
    }
    match distrust(fd, st, false) {
        Some(why) => Err(StoreError::untrusted(path, why)),
        None => Ok(()),
    }
}

// ---- directories ------------------------------------------------------------------------

/// A directory that passed the rules, open for `*at` calls (for one call: a directory is
/// walked to afresh each time, so every check of the walk applies every time).
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl std::fmt::Debug for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dir({})", self.path.display())
    }
}

/// Whether a walk makes what is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Absent,
    Create,
}

impl Dir {
    /// The directory at `path`, if it exists; refused if it or the way to it is unsafe.
    pub fn open(path: &Path) -> Result<Option<Dir>> {
        walk(path, Missing::Absent)
    }

    /// The directory at `path`, made (0700, as each missing component) if needed.
    pub fn create(path: &Path) -> Result<Dir> {
        walk(path, Missing::Create).map(|d| d.expect("a created directory exists"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when `other` is this very directory (by device and inode).
    pub fn is(&self, other: &Dir) -> bool {
        match (sysfs::fstat(self.fd()), sysfs::fstat(other.fd())) {
            (Ok(a), Ok(b)) => a.dev == b.dev && a.ino == b.ino,
            _ => false,
        }
    }

    /// The path of `name` in this directory, for messages.
    pub fn file_path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The subdirectory `name` (never through a symlink), if it exists.
    pub fn subdir(&self, name: &str) -> Result<Option<Dir>> {
        self.child_dir(name, Missing::Absent)
    }

    /// The subdirectory `name`, made 0700 if needed.
    pub fn create_subdir(&self, name: &str) -> Result<Dir> {
        self.child_dir(name, Missing::Create).map(|d| d.expect("a created directory exists"))
    }

    fn child_dir(&self, name: &str, missing: Missing) -> Result<Option<Dir>> {
        let path = self.file_path(name);
        let fd = match step(self.fd(), name.as_bytes(), &path, missing)? {
            Some(fd) => fd,
            None => return Ok(None),
        };
        let st = sysfs::fstat(fd.as_fd()).map_err(|e| StoreError::io("inspect", &path, e))?;
        if st.is_symlink() {
            return Err(StoreError::untrusted(&path, "a symlink (not followed here)"));
        }
        finish_dir(fd, &st, path).map(Some)
    }

    /// Opens the file `name` (`how`: flags::READ or WRITE, with APPEND or CREATE) by the
    /// rules, the one way every file here is opened: no symlink followed, no wait on a FIFO
    /// (O_NONBLOCK), and then a regular file of the user's or root's that nobody else may
    /// write. None when it is absent. `op` names the use, for errors.
    fn open_file(&self, name: &str, how: i32, mode: u32, op: &'static str) -> Result<Option<(OwnedFd, Stat)>> {
        let path = self.file_path(name);
        let fd = match sysfs::open_at(Some(self.fd()), name.as_bytes(), how | flags::NOFOLLOW | flags::NONBLOCK, mode) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::ELOOP) => StoreError::untrusted(&path, "a symlink (not followed)"),
                    // "No such device": a FIFO with no reader, for a non-blocking writer;
                    // for a reader, a socket (or a device without a driver).
                    Some(libc::ENXIO) if how & flags::WRITE != 0 => StoreError::untrusted(&path, "it is a FIFO, not a regular file"),
                    Some(libc::ENXIO) => StoreError::untrusted(&path, "not a regular file (a socket?)"),
                    _ => StoreError::io(op, &path, e),
                })
            }
        };
        let st = sysfs::fstat(fd.as_fd()).map_err(|e| StoreError::io("inspect", &path, e))?;
        check_file(&path, fd.as_fd(), &st)?;
        Ok(Some((fd, st)))
    }

    /// [`Dir::open_file`] with CREATE: a file missing even so (its directory removed
    /// meanwhile) is an error.
    fn create_file(&self, name: &str, how: i32, mode: u32, op: &'static str) -> Result<(OwnedFd, Stat)> {
        self.open_file(name, how | flags::CREATE, mode, op)?
            .ok_or_else(|| StoreError::io(op, self.file_path(name), io::ErrorKind::NotFound.into()))
    }

    /// Opens the file `name` for reading by the rules (None when absent).
    fn open_checked(&self, name: &str) -> Result<Option<(OwnedFd, Stat)>> {
        self.open_file(name, flags::READ, 0, "read")
    }

    /// Opens the file `name` for reading by the rules (None when absent), for a reader
    /// that goes on reading as it grows: a log being followed.
    pub fn open_read(&self, name: &str) -> Result<Option<(std::fs::File, Stat)>> {
        Ok(self.open_checked(name)?.map(|(fd, st)| (std::fs::File::from(fd), st)))
    }

    /// The directory's descriptor, for watching it (inotify) or binding a socket in it.
    pub fn fd(&self) -> sys::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads up to `limit` bytes of `fd` (one more tells the caller it was longer).
    fn read_up_to(&self, name: &str, fd: &OwnedFd, limit: usize, size_hint: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity((size_hint as usize).clamp(64, limit + 1));
        let mut chunk = [0u8; 8192];
        while buf.len() <= limit {
            let want = chunk.len().min(limit + 1 - buf.len());
            let n = match sysfs::read(fd.as_fd(), &mut chunk[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io("read", self.file_path(name), e)),
            };
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(buf)
    }

    /// Reads the file `name` whole (at most [`MAX_FILE`] bytes): None when it is absent.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some((fd, st)) = self.open_checked(name)? else { return Ok(None) };
        let buf = self.read_up_to(name, &fd, MAX_FILE, st.size)?;
        if buf.len() > MAX_FILE {
            return Err(StoreError::untrusted(self.file_path(name), format!("larger than {} KiB", MAX_FILE / 1024)));
        }
        Ok(Some(buf))
    }

    /// The first `limit` bytes of the file `name` (empty when it is absent): the head of a
    /// log or a CSV history, which may be any size.
    pub fn read_head(&self, name: &str, limit: usize) -> Result<Vec<u8>> {
        let Some((fd, st)) = self.open_checked(name)? else { return Ok(Vec::new()) };
        let mut buf = self.read_up_to(name, &fd, limit, st.size)?;
        buf.truncate(limit);
        Ok(buf)
    }

    /// The last `limit` bytes of the file `name` (empty when it is absent): why a service
    /// died is at the end of its log, however long the log is.
    pub fn read_tail(&self, name: &str, limit: usize) -> Result<Vec<u8>> {
        let Some((fd, st)) = self.open_checked(name)? else { return Ok(Vec::new()) };
        let mut buf = vec![0u8; limit.min(st.size as usize)];
        let mut got = 0;
        let start = st.size - buf.len() as u64;
        while got < buf.len() {
            match sysfs::pread(fd.as_fd(), &mut buf[got..], start + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StoreError::io("read", self.file_path(name), e)),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// [`Dir::read`] as text (invalid UTF-8 replaced).
    pub fn read_text(&self, name: &str) -> Result<Option<String>> {
        Ok(self.read(name)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Writes `data` as the file `name`, atomically: a temporary file in this directory,
    /// written and (with `sync`) flushed to disk, then renamed over `name`. `mode` is the
    /// new file's permission (0644 for files other tools read, 0600 for the rest).
    pub fn write(&self, name: &str, data: &[u8], mode: u32, sync: bool) -> Result<()> {
        let path = self.file_path(name);
        // Another user's file is not the user's to replace, as it is not theirs to read.
        if let Some(why) = self.stat(name)?.as_ref().and_then(foreign_owner) {
            return Err(StoreError::untrusted(&path, why));
        }
        let err = |e| StoreError::io("write", &path, e);
        let mut attempt = 0u32;
        let (tmp, fd) = loop {
            let tmp = format!(".{name}.tmp.{}.{attempt}", sys::process::pid());
            match sysfs::open_at(
                Some(self.fd()),
                tmp.as_bytes(),
                flags::WRITE | flags::CREATE | flags::EXCLUSIVE | flags::NOFOLLOW,
                mode,
            ) {
                Ok(fd) => break (tmp, fd),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                Err(e) => return Err(err(e)),
            }
        };
        let result = write_all(&fd, data)
            .and_then(|_| if sync { sysfs::fsync(fd.as_fd()) } else { Ok(()) })
            .and_then(|_| sysfs::rename_at(self.fd(), tmp.as_bytes(), name.as_bytes()));
        if let Err(e) = result {
            let _ = sysfs::unlink_at(self.fd(), tmp.as_bytes());
            return Err(err(e));
        }
        Ok(())
    }

    /// Rewrites the file `name` in place (made with `mode` if missing) with one `pwrite`,
    /// then cuts it to `data`'s length. Not atomic for a reader, which may see a mix of
    /// the old and the new bytes: only for small records that carry their own check (the
    /// sample store's), where it saves a rename, which on ext4 forces the file's data out
    /// (about 1 ms a call). The same rules as any open: no symlink, no FIFO, nobody else's.
    pub fn overwrite(&self, name: &str, data: &[u8], mode: u32) -> Result<()> {
        let path = self.file_path(name);
        let (fd, st) = self.create_file(name, flags::WRITE, mode, "write")?;
        let written = sysfs::pwrite(fd.as_fd(), data, 0).map_err(|e| StoreError::io("write", &path, e))?;
        if written != data.len() {
            return Err(StoreError::io("write", &path, io::Error::new(io::ErrorKind::WriteZero, "short write")));
        }
        if st.size != data.len() as u64 {
            sysfs::truncate(fd.as_fd(), data.len() as u64).map_err(|e| StoreError::io("write", &path, e))?;
        }
        Ok(())
    }

    /// Removes the file `name`; true when there was one. A symlink or a FIFO in its place
    /// is removed itself: unlinking never follows or opens anything.
    pub fn remove(&self, name: &str) -> Result<bool> {
        match sysfs::unlink_at(self.fd(), name.as_bytes()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io("remove", self.file_path(name), e)),
        }
    }

    /// Renames `from` to `to` in this directory (replacing `to`).
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        sysfs::rename_at(self.fd(), from.as_bytes(), to.as_bytes()).map_err(|e| StoreError::io("rename", self.file_path(from), e))
    }

    /// The UTF-8 names in this directory, sorted (hidden ones too: callers filter).
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = sysfs::list_dir(self.fd())
            .map_err(|e| StoreError::io("list", &self.path, e))?
            .into_iter()
            .filter_map(|n| String::from_utf8(n).ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// What the file `name` is now (without following a symlink), if it exists.
    pub fn stat(&self, name: &str) -> Result<Option<Stat>> {
        match sysfs::stat_at(self.fd(), name.as_bytes()) {
            Ok(st) => Ok(Some(st)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("inspect", self.file_path(name), e)),
        }
    }

    /// Opens `name` for appending, created with `mode` if missing: a log, a CSV history.
    /// The same rules as a read: a FIFO, a symlink or another user's file is refused.
    pub fn open_append(&self, name: &str, mode: u32) -> Result<std::fs::File> {
        let (fd, _) = self.create_file(name, flags::WRITE | flags::APPEND, mode, "open")?;
        let path = self.file_path(name);
        sysfs::set_blocking(fd.as_fd()).map_err(|e| StoreError::io("open", &path, e))?;
        Ok(std::fs::File::from(fd))
    }

    /// Takes a lock on this directory itself: exclusive for a read-modify-write of its
    /// files, shared for reading several of them as one.
    pub fn lock(&self, kind: LockKind, b: &mut dyn Blocker) -> Result<Lock> {
        let fd = sysfs::open_at(Some(self.fd()), b".", flags::READ | flags::DIRECTORY, 0)
            .map_err(|e| StoreError::io("lock", &self.path, e))?;
        Lock::take(fd, kind, self.path.clone(), b)
    }

    /// Takes the lock file `name` (made 0600 if missing; lock files are never removed,
    /// which would race with a waiter): one lock per name, for as long as the guard lives.
    pub fn lock_file(&self, name: &str, b: &mut dyn Blocker) -> Result<Lock> {
        let (fd, _) = self.create_file(name, flags::READ, 0o600, "lock")?;
        Lock::take(fd, LockKind::Exclusive, self.file_path(name), b)
    }
}

/// Appends `line` (ending in a newline) to `file`, opened by [`Dir::open_append`], with one
/// write: lines of concurrent writers never interleave. A short write (a full disk) is
/// taken back when nothing was appended after it, so no half line is left for the next
/// one to be glued to. (A reader cannot tell a torn last line from one still being
/// written, so the last byte is no guide: lines are only ever written whole.)
pub fn append_line(file: &mut std::fs::File, line: &[u8]) -> io::Result<()> {
    use std::io::{Seek, Write};
    let written = loop {
        match file.write(line) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?,
        }
    };
    if written == line.len() {
        return Ok(());
    }
    let end = file.stream_position()?;
    if written > 0 && file.metadata()?.len() == end {
        let _ = file.set_len(end - written as u64);
    }
    Err(io::Error::new(io::ErrorKind::WriteZero, "short write (disk full?)"))
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match sysfs::write(fd.as_fd(), data) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote nothing")),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens the component `name` of `parent` as an O_PATH handle without following it, made
/// (0700) first when missing and asked to. None when missing.
fn step(parent: BorrowedFd, name: &[u8], path: &Path, missing: Missing) -> Result<Option<OwnedFd>> {
    let open = || sysfs::open_at(Some(parent), name, flags::PATH | flags::NOFOLLOW, 0);
    match open() {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && missing == Missing::Create => {
            match sysfs::mkdir_at(parent, name, 0o700) {
                Ok(()) => {}
                // Someone made it meanwhile: it is checked like any other below.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::io("create", path, e)),
            }
            open().map(Some).map_err(|e| StoreError::io("open", path, e))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("open", path, e)),
    }
}

/// Checks a directory reached by a walk and opens it for reading (locks, listing).
fn finish_dir(fd: OwnedFd, st: &Stat, path: PathBuf) -> Result<Dir> {
    if !st.is_dir() {
        return Err(StoreError::untrusted(&path, format!("it is {}, not a directory", st.kind())));
    }
    if let Some(why) = distrust(fd.as_fd(), st, false) {
        return Err(StoreError::untrusted(&path, why));
    }
    let dir = sysfs::open_at(Some(fd.as_fd()), b".", flags::READ | flags::DIRECTORY, 0).map_err(|e| StoreError::io("open", &path, e))?;
    Ok(Dir { fd: dir, path })
}

/// Resolves `path` from `/`, one component at a time, checking each (see the module
/// documentation). `..` steps back along the path actually walked.
fn walk(path: &Path, missing: Missing) -> Result<Option<Dir>> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| StoreError::io("resolve", path, e))?.join(path)
    };
    let root = sysfs::open_at(None, b"/", flags::PATH | flags::DIRECTORY, 0).map_err(|e| StoreError::io("open", "/", e))?;
    let mut walked: Vec<(OwnedFd, PathBuf)> = vec![(root, PathBuf::from("/"))];
    let mut todo: VecDeque<Vec<u8>> = components(&absolute);
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == b".." {
            if walked.len() > 1 {
                walked.pop();
            }
            continue;
        }
        let (parent, parent_path) = walked.last().expect("the root stays");
        let here = parent_path.join(OsStr::from_bytes(&name));
        let last = todo.is_empty();
        let Some(fd) = step(parent.as_fd(), &name, &here, missing)? else { return Ok(None) };
        let st = sysfs::fstat(fd.as_fd()).map_err(|e| StoreError::io("inspect", &here, e))?;
        if st.is_symlink() {
            let me = sys::process::euid();
            if st.uid != me && st.uid != 0 {
                return Err(StoreError::untrusted(&here, format!("a symlink owned by uid {}, not by you (uid {me}) or root", st.uid)));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(StoreError::untrusted(&here, "too many levels of symlinks"));
            }
            let target = sysfs::readlink_at(Some(parent.as_fd()), &name).map_err(|e| StoreError::io("read the link", &here, e))?;
            if target.first() == Some(&b'/') {
                walked.truncate(1);
            }
            for c in components(Path::new(OsStr::from_bytes(&target))).into_iter().rev() {
                todo.push_front(c);
            }
            continue;
        }
        if last {
            return finish_dir(fd, &st, here).map(Some);
        }
        if !st.is_dir() {
            return Err(StoreError::untrusted(&here, format!("it is {}, not a directory", st.kind())));
        }
        if let Some(why) = distrust(fd.as_fd(), &st, true) {
            return Err(StoreError::untrusted(&here, why));
        }
        walked.push((fd, here));
    }
    // The path was `/` itself (or led back to it).
    let (fd, p) = walked.pop().expect("the root stays");
    let st = sysfs::fstat(fd.as_fd()).map_err(|e| StoreError::io("inspect", &p, e))?;
    finish_dir(fd, &st, p).map(Some)
}

fn components(path: &Path) -> VecDeque<Vec<u8>> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.as_bytes().to_vec()),
            Component::ParentDir => Some(b"..".to_vec()),
            _ => None,
        })
        .collect()
}

// ---- locks ------------------------------------------------------------------------------

/// A held `flock`, released when dropped.
pub struct Lock {
    _fd: OwnedFd,
    key: (u64, u64),
}

impl Lock {
    fn take(fd: OwnedFd, kind: LockKind, path: PathBuf, b: &mut dyn Blocker) -> Result<Lock> {
        let st = sysfs::fstat(fd.as_fd()).map_err(|e| StoreError::io("lock", &path, e))?;
        let key = (st.dev, st.ino);
        // (Gone only while the process exits: nothing is held by then.)
        if HELD.try_with(|h| h.borrow().contains(&key)).unwrap_or(false) {
            return Err(StoreError::Busy { path });
        }
        loop {
            let mut result: io::Result<()> = Ok(());
            let flow = b.block(&mut || result = sysfs::flock(fd.as_fd(), kind));
            match result {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StoreError::io("lock", &path, e)),
            }
            if flow == Flow::Stop {
                return Err(StoreError::Interrupted);
            }
        }
        let _ = HELD.try_with(|h| h.borrow_mut().push(key));
        Ok(Lock { _fd: fd, key })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = HELD.try_with(|h| h.borrow_mut().retain(|k| *k != self.key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Plain;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("store-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn mode(p: &Path, m: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn creates_private_directories_and_reads_back_what_it_wrote() {
        let d = tmp("create");
        let dir = Dir::create(&d.join("a/b")).unwrap();
        for p in [d.join("a"), d.join("a/b")] {
            assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o700, "{}", p.display());
        }
        dir.write("x", b"hello\n", 0o644, true).unwrap();
        assert_eq!(dir.read("x").unwrap().unwrap(), b"hello\n");
        assert_eq!(dir.read("missing").unwrap(), None);
        assert_eq!(dir.names().unwrap(), vec!["x".to_string()]);
        assert!(dir.remove("x").unwrap());
        assert!(!dir.remove("x").unwrap());
        assert!(Dir::open(&d.join("a/none")).unwrap().is_none());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_what_others_could_write() {
        let d = tmp("modes");
        let dir = Dir::create(&d.join("s")).unwrap();
        drop(dir);
        mode(&d.join("s"), 0o777);
        assert!(matches!(Dir::open(&d.join("s")), Err(StoreError::Untrusted { .. })));
        // Sticky and world-writable is fine to pass through, not to keep files in.
        mode(&d.join("s"), 0o1777);
        assert!(matches!(Dir::open(&d.join("s")), Err(StoreError::Untrusted { .. })));
        Dir::create(&d.join("s/inner")).unwrap();
        assert!(Dir::open(&d.join("s/inner")).unwrap().is_some());
        mode(&d.join("s"), 0o700);
        let dir = Dir::open(&d.join("s")).unwrap().unwrap();
        fs::write(d.join("s/f"), "x").unwrap();
        mode(&d.join("s/f"), 0o666);
        assert!(matches!(dir.read("f"), Err(StoreError::Untrusted { .. })));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn never_follows_a_symlink_below_the_directory_and_never_opens_a_fifo() {
        let d = tmp("links");
        let dir = Dir::create(&d).unwrap();
        fs::write(d.join("victim"), "precious").unwrap();
        std::os::unix::fs::symlink(d.join("victim"), d.join("evil")).unwrap();
        assert!(matches!(dir.read("evil"), Err(StoreError::Untrusted { .. })));
        assert!(matches!(dir.open_append("evil", 0o600), Err(StoreError::Untrusted { .. })));
        dir.write("evil", b"new", 0o600, false).unwrap();
        assert_eq!(fs::read_to_string(d.join("victim")).unwrap(), "precious");
        std::os::unix::fs::symlink(&d, d.join("sub")).unwrap();
        assert!(matches!(dir.subdir("sub"), Err(StoreError::Untrusted { .. })));
        let fifo = std::ffi::CString::new(d.join("fifo").as_os_str().as_bytes()).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(d.join("fifo")).status().unwrap().success(), "{fifo:?}");
        let t = std::time::Instant::now();
        assert!(matches!(dir.read("fifo"), Err(StoreError::Untrusted { .. })));
        assert!(matches!(dir.open_append("fifo", 0o600), Err(StoreError::Untrusted { .. })));
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn follows_the_users_own_symlinks_on_the_way() {
        let d = tmp("ownlink");
        Dir::create(&d.join("real")).unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("link")).unwrap();
        std::os::unix::fs::symlink("../real", d.join("real/up")).unwrap_or(());
        let dir = Dir::open(&d.join("link")).unwrap().unwrap();
        dir.write("f", b"1", 0o600, false).unwrap();
        assert!(d.join("real/f").exists());
        assert!(Dir::open(&d.join("link/../real")).unwrap().is_some());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_lock_held_here_is_refused_not_waited_for() {
        let d = tmp("locks");
        let dir = Dir::create(&d).unwrap();
        let held = dir.lock(LockKind::Exclusive, &mut Plain).unwrap();
        assert!(matches!(dir.lock(LockKind::Exclusive, &mut Plain), Err(StoreError::Busy { .. })));
        drop(held);
        let _again = dir.lock(LockKind::Exclusive, &mut Plain).unwrap();
        let f = dir.lock_file("name.lock", &mut Plain).unwrap();
        assert!(matches!(dir.lock_file("name.lock", &mut Plain), Err(StoreError::Busy { .. })));
        drop(f);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn file_paths_split_into_directory_and_name() {
        assert_eq!(split_file_path(Path::new("/a/b.csv")), Some((Path::new("/a"), "b.csv")));
        assert_eq!(split_file_path(Path::new("b.csv")), Some((Path::new("."), "b.csv")));
        for none in ["", "/", "a/", "a/.."] {
            assert_eq!(split_file_path(Path::new(none)), None, "{none:?}");
        }
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
}
