//! Descriptors kept open in the user's shell from one builtin call to the next: the pidfds
//! behind `process-exists` (nothing else stays open between calls; directories are walked
//! to afresh each time).
//!
//! Between two calls the shell's scripts run, and the low numbers are theirs: `7>file`
//! takes any single digit and silently replaces whatever is open there, `{fd}>file` takes
//! 10 and up. A kept descriptor therefore lives at [`KEPT_FD_MIN`] or above (close-on-exec),
//! and remembers what it is (device and inode). It is used only after [`KeptFd::is_ours`]
//! says the number still holds it, and when dropped it is closed only then: a number a
//! script has closed or reused is forgotten, never used, never closed.

use crate::sys::{self, AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::io;

pub const KEPT_FD_MIN: i32 = 200;

pub struct KeptFd {
    /// None only while being dropped.
    fd: Option<OwnedFd>,
    /// (device, inode) of the descriptor when it was kept.
    key: (u64, u64),
}

impl KeptFd {
    /// Keeps a copy of `fd` (the original stays the caller's).
    pub fn new(fd: BorrowedFd) -> io::Result<KeptFd> {
        let high = sys::fs::dup_above(fd, KEPT_FD_MIN)?;
        let key = sys::fs::fd_identity(high.as_raw_fd()).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        Ok(KeptFd { fd: Some(high), key })
    }

    /// True while the number still holds what was kept there.
    pub fn is_ours(&self) -> bool {
        self.fd.as_ref().is_some_and(|fd| sys::fs::fd_identity(fd.as_raw_fd()) == Some(self.key))
    }

    /// The descriptor, while [`KeptFd::is_ours`] (the caller has just asked it, and no
    /// script has run since).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("present until dropped").as_fd()
    }
}

impl Drop for KeptFd {
    fn drop(&mut self) {
        let ours = self.is_ours();
        if let Some(fd) = self.fd.take() {
            if !ours {
                // A script closed or reused the number: it is not ours to close any more.
                std::mem::forget(fd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_a_script_reused_is_neither_ours_nor_closed() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let kept = KeptFd::new(file.as_fd()).unwrap();
        let n = kept.as_fd().as_raw_fd();
        assert!(n >= KEPT_FD_MIN && kept.is_ours());
        // A script puts something else at that number (`exec 201<file`).
        let other = std::fs::File::open("/proc/self/stat").unwrap();
        sys::fs::dup2_for_test(other.as_fd(), n);
        assert!(!kept.is_ours());
        drop(kept);
        assert!(sys::fs::fd_identity(n).is_some(), "the script's descriptor is left open");
        sys::fs::close_for_test(n);
        // One still ours is closed with it.
        let kept = KeptFd::new(file.as_fd()).unwrap();
        let n = kept.as_fd().as_raw_fd();
        drop(kept);
        assert!(sys::fs::fd_identity(n).is_none());
    }
}
