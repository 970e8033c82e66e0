//! Files and directories, always relative to an open directory (`*at` calls), so that a
//! path is resolved once and never again behind the caller's back.

use super::{check, with_cstr, AsRawFd, BorrowedFd, OwnedFd};
use std::ffi::CStr;
use std::io;
use std::os::fd::FromRawFd;

/// What `fstat` says about an open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

impl Stat {
    fn from(st: &libc::stat) -> Stat {
        Stat { dev: st.st_dev, ino: st.st_ino, mode: st.st_mode, uid: st.st_uid, gid: st.st_gid, size: st.st_size as u64 }
    }
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }
    /// "a FIFO", "a directory", ...: for messages about what was found instead of a file.
    pub fn kind(&self) -> &'static str {
        match self.mode & libc::S_IFMT {
            libc::S_IFREG => "a regular file",
            libc::S_IFDIR => "a directory",
            libc::S_IFLNK => "a symlink",
            libc::S_IFIFO => "a FIFO",
            libc::S_IFSOCK => "a socket",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            _ => "an unknown kind of file",
        }
    }
    /// The permission bits (with setuid, setgid, sticky).
    pub fn perms(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// Flags for [`open_at`]: every open is close-on-exec.
pub mod flags {
    pub const READ: i32 = libc::O_RDONLY;
    pub const WRITE: i32 = libc::O_WRONLY;
    pub const APPEND: i32 = libc::O_APPEND;
    pub const CREATE: i32 = libc::O_CREAT;
    pub const EXCLUSIVE: i32 = libc::O_EXCL;
    pub const NOFOLLOW: i32 = libc::O_NOFOLLOW;
    /// A FIFO opens at once instead of waiting for the other end.
    pub const NONBLOCK: i32 = libc::O_NONBLOCK;
    pub const DIRECTORY: i32 = libc::O_DIRECTORY;
    /// A handle on the name itself: may be a symlink (with NOFOLLOW), reads nothing.
    pub const PATH: i32 = libc::O_PATH;
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`; `dir` None means the current directory
/// (only for absolute names).
pub fn open_at(dir: Option<BorrowedFd>, name: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    with_cstr(name, |c| {
        // SAFETY: a NUL-terminated name; the kernel returns a new descriptor that we own.
        let fd = check(unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) } as libc::c_long)?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    })
}

pub fn fstat(fd: BorrowedFd) -> io::Result<Stat> {
    // SAFETY: fstat fills a plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } as libc::c_long)?;
    Ok(Stat::from(&st))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: what `name` is, a symlink itself included,
/// in one call (no descriptor opened).
pub fn stat_at(dir: BorrowedFd, name: &[u8]) -> io::Result<Stat> {
    with_cstr(name, |c| {
        // SAFETY: a NUL-terminated name; fstatat fills a plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        check(unsafe { libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } as libc::c_long)?;
        Ok(Stat::from(&st))
    })
}

/// The (device, inode) of any descriptor number, open or not: None when it is not open.
/// For checking that a descriptor kept across calls is still the one we opened.
pub fn fd_identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat on any number is harmless (EBADF when closed).
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// The extended attribute `name` of the file behind `fd`, any descriptor (O_PATH ones too:
/// it is read through `/proc/self/fd`, since fgetxattr refuses those). None when the file
/// has none, or its file system keeps none.
pub fn xattr(fd: BorrowedFd, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    with_cstr(path.as_bytes(), |c| {
        let mut buf = vec![0u8; 4096];
        // Twice at most: a value larger than the buffer (ERANGE) is asked its size first.
        for _ in 0..2 {
            // SAFETY: NUL-terminated names; the buffer is valid for its length.
            match check(unsafe { libc::getxattr(c.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long) {
                Ok(n) => {
                    buf.truncate(n as usize);
                    return Ok(Some(buf));
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA | libc::EOPNOTSUPP)) => return Ok(None),
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) => {
                    // SAFETY: a size query (no buffer).
                    let size = check(unsafe { libc::getxattr(c.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) } as libc::c_long)?;
                    buf = vec![0u8; size as usize + 1024];
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::from_raw_os_error(libc::ERANGE))
    })
}

/// `readlinkat(dir, name)`: the target of a symlink.
pub fn readlink_at(dir: Option<BorrowedFd>, name: &[u8]) -> io::Result<Vec<u8>> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    with_cstr(name, |c| {
        let mut buf = vec![0u8; 4096];
        // SAFETY: the buffer is valid for its length.
        let n = check(unsafe { libc::readlinkat(dirfd, c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long)? as usize;
        buf.truncate(n);
        Ok(buf)
    })
}

pub fn mkdir_at(dir: BorrowedFd, name: &[u8], mode: u32) -> io::Result<()> {
    // SAFETY: a NUL-terminated name.
    with_cstr(name, |c| check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) } as libc::c_long).map(drop))
}

/// Removes the file `name` (not a directory) from `dir`.
pub fn unlink_at(dir: BorrowedFd, name: &[u8]) -> io::Result<()> {
    // SAFETY: a NUL-terminated name.
    with_cstr(name, |c| check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) } as libc::c_long).map(drop))
}

/// Renames `from` to `to`, both in `dir`, replacing `to` atomically.
pub fn rename_at(dir: BorrowedFd, from: &[u8], to: &[u8]) -> io::Result<()> {
    with_cstr(from, |f| {
        with_cstr(to, |t| {
            // SAFETY: NUL-terminated names in one directory.
            check(unsafe { libc::renameat(dir.as_raw_fd(), f.as_ptr(), dir.as_raw_fd(), t.as_ptr()) } as libc::c_long).map(drop)
        })
    })
}

/// Flushes a file's data and metadata to disk (before it is renamed into place).
pub fn fsync(fd: BorrowedFd) -> io::Result<()> {
    // SAFETY: fsync has no memory arguments.
    check(unsafe { libc::fsync(fd.as_raw_fd()) } as libc::c_long).map(drop)
}

/// Clears O_NONBLOCK (set to open a FIFO-shaped name safely) once the file is known to be
/// a regular file that others will read and write normally.
pub fn set_blocking(fd: BorrowedFd) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments.
    let fl = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) } as libc::c_long)? as i32;
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) } as libc::c_long).map(drop)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// `flock(fd, kind)`, waiting for it. EINTR (a signal arrived) comes back as an error of
/// kind `Interrupted`, so the caller can decide whether to wait on. No allocation.
pub fn flock(fd: BorrowedFd, kind: LockKind) -> io::Result<()> {
    let op = match kind {
        LockKind::Shared => libc::LOCK_SH,
        LockKind::Exclusive => libc::LOCK_EX,
    };
    // SAFETY: flock with integer arguments.
    check(unsafe { libc::flock(fd.as_raw_fd(), op) } as libc::c_long).map(drop)
}

/// `read(2)` once.
pub fn read(fd: BorrowedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for its length.
    check(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long).map(|n| n as usize)
}

/// `pread(2)` once, at `offset`.
pub fn pread(fd: BorrowedFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    // SAFETY: the buffer is valid for its length.
    check(unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), offset as libc::off_t) } as libc::c_long)
        .map(|n| n as usize)
}

/// `write(2)` once: the count written.
pub fn write(fd: BorrowedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for its length.
    check(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) } as libc::c_long).map(|n| n as usize)
}

/// `pwrite(2)` once, at `offset`.
pub fn pwrite(fd: BorrowedFd, buf: &[u8], offset: u64) -> io::Result<usize> {
    // SAFETY: the buffer is valid for its length.
    check(unsafe { libc::pwrite(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), offset as libc::off_t) } as libc::c_long).map(|n| n as usize)
}

/// `ftruncate(2)`.
pub fn truncate(fd: BorrowedFd, len: u64) -> io::Result<()> {
    // SAFETY: integer arguments.
    check(unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } as libc::c_long).map(drop)
}

/// Reads a small file with open, read, close and no allocation: the bytes read into `buf`.
/// For `/proc/PID/*` files, which are generated whole at the first read.
pub fn read_small<'a>(dir: Option<BorrowedFd>, name: &[u8], buf: &'a mut [u8]) -> io::Result<&'a [u8]> {
    use std::os::fd::AsFd;
    let fd = open_at(dir, name, flags::READ, 0)?;
    let n = read(fd.as_fd(), buf)?;
    Ok(&buf[..n])
}

/// Probes that a path resolves (following symlinks), like `access(F_OK)`: one system call,
/// no text built. `/proc/PID/exe` resolves only while the process still has its memory.
pub fn resolves(path: &[u8]) -> bool {
    // SAFETY: a NUL-terminated path.
    with_cstr(path, |c| Ok(unsafe { libc::access(c.as_ptr(), libc::F_OK) } == 0)).unwrap_or(false)
}

/// `fcntl(F_DUPFD_CLOEXEC, min)`: a copy of `fd` at `min` or above (out of the range that
/// scripts use for their own descriptors).
pub fn dup_above(fd: BorrowedFd, min: i32) -> io::Result<OwnedFd> {
    // SAFETY: fcntl returns a new descriptor that we own.
    let new = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) } as libc::c_long)?;
    Ok(unsafe { OwnedFd::from_raw_fd(new as i32) })
}

/// The names in the open directory `dir` (without `.` and `..`).
pub fn list_dir(dir: BorrowedFd) -> io::Result<Vec<Vec<u8>>> {
    // fdopendir takes the descriptor over: give it a fresh one pointing at the start.
    let own = open_at(Some(dir), b".", flags::READ | flags::DIRECTORY, 0)?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(own);
    // SAFETY: fdopendir owns `raw` from here; closedir closes it.
    let d = unsafe { libc::fdopendir(raw) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `raw` is still ours.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut names = Vec::new();
    loop {
        // SAFETY: readdir on a valid DIR*; the entry is copied before the next call.
        let ent = unsafe { libc::readdir(d) };
        if ent.is_null() {
            break;
        }
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    // SAFETY: closes the DIR* and its descriptor.
    unsafe { libc::closedir(d) };
    Ok(names)
}

/// Puts a copy of `fd` at the number `at` (tests simulating a script's `exec N<file`).
#[cfg(test)]
pub fn dup2_for_test(fd: BorrowedFd, at: i32) {
    // SAFETY: dup2 onto a number the test owns.
    unsafe { libc::dup2(fd.as_raw_fd(), at) };
}

#[cfg(test)]
pub fn close_for_test(fd: i32) {
    // SAFETY: closes a number the test owns.
    unsafe { libc::close(fd) };
}

/// An inotify instance (non-blocking: read it after poll says so).
pub fn inotify() -> io::Result<OwnedFd> {
    // SAFETY: a new descriptor that we own.
    let fd = check(unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) } as libc::c_long)?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// What inotify reports, for [`inotify_watch`].
pub mod watch {
    pub const MODIFY: u32 = libc::IN_MODIFY;
    pub const CLOSE_WRITE: u32 = libc::IN_CLOSE_WRITE;
    pub const CREATE: u32 = libc::IN_CREATE;
    pub const MOVED_TO: u32 = libc::IN_MOVED_TO;
    pub const DELETE: u32 = libc::IN_DELETE;
    pub const MOVE_SELF: u32 = libc::IN_MOVE_SELF;
    pub const DELETE_SELF: u32 = libc::IN_DELETE_SELF;
}

/// Watches the file `name` in the directory `dir` (through `/proc/self/fd`, so the
/// directory already checked is the one watched), or `dir` itself when `name` is empty,
/// for `mask`. A symlink named `name` is not followed.
pub fn inotify_watch(ino: BorrowedFd, dir: BorrowedFd, name: &[u8], mask: u32) -> io::Result<i32> {
    let mut path = format!("/proc/self/fd/{}", dir.as_raw_fd()).into_bytes();
    if !name.is_empty() {
        path.push(b'/');
        path.extend_from_slice(name);
    }
    // The magic link to the directory itself must be followed.
    let mask = if name.is_empty() { mask } else { mask | libc::IN_DONT_FOLLOW };
    with_cstr(&path, |c| {
        // SAFETY: a NUL-terminated path; returns a watch descriptor (a number, not an fd).
        check(unsafe { libc::inotify_add_watch(ino.as_raw_fd(), c.as_ptr(), mask) } as libc::c_long).map(|w| w as i32)
    })
}

/// Reads what an inotify descriptor has to say (it is non-blocking): the names the
/// events are about (empty for an event on a watched file itself), or None when nothing
/// was waiting.
pub fn inotify_read(ino: BorrowedFd) -> Option<Vec<Vec<u8>>> {
    let mut buf = [0u8; 4096];
    let mut names = Vec::new();
    let mut any = false;
    while let Ok(n) = read(ino, &mut buf) {
        if n == 0 {
            break;
        }
        any = true;
        // struct inotify_event: wd, mask, cookie, len (four 32-bit words), then `len`
        // bytes of NUL-padded name.
        let mut at = 0;
        while at + 16 <= n {
            let len = u32::from_ne_bytes([buf[at + 12], buf[at + 13], buf[at + 14], buf[at + 15]]) as usize;
            let name = &buf[(at + 16).min(n)..(at + 16 + len).min(n)];
            names.push(name.iter().copied().take_while(|&b| b != 0).collect());
            at += 16 + len;
        }
    }
    any.then_some(names)
}
