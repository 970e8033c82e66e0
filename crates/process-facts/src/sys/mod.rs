//! The system calls, and the only `unsafe` code of this crate.
//!
//! Each function here is one call into libc (or one short, fixed sequence of them), with a
//! safe signature: owned descriptors come back as [`OwnedFd`], errors as `io::Error`,
//! nothing allocates between a `fork` and an `exec`. The rest of the crate is written
//! against these and compiles under `#![deny(unsafe_code)]`.
//!
//! Why not rustix: it covers pidfds, poll, openat and flock well, but not signalfd,
//! sigaction, fork/exec or the passwd/group lookups, so libc would still be needed for
//! those; one small module over one crate is easier to audit than two mechanisms.
#![allow(unsafe_code)]

pub mod fs;
pub mod net;
pub mod process;
pub mod signal;
pub mod time;
pub mod users;

pub use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use std::ffi::CStr;
use std::io;

/// `Err(last OS error)` when a call returned -1 (or any negative value).
fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A NUL-terminated copy of `bytes` on the stack when it is short (paths under /proc),
/// handed to `f`. Longer or NUL-containing input is refused.
fn with_cstr<R>(bytes: &[u8], f: impl FnOnce(&CStr) -> io::Result<R>) -> io::Result<R> {
    let mut buf = [0u8; 256];
    if bytes.len() < buf.len() {
        buf[..bytes.len()].copy_from_slice(bytes);
        let c = CStr::from_bytes_until_nul(&buf[..=bytes.len()]).map_err(|_| invalid("a NUL byte in a path"))?;
        if c.to_bytes().len() != bytes.len() {
            return Err(invalid("a NUL byte in a path"));
        }
        return f(c);
    }
    let owned = std::ffi::CString::new(bytes).map_err(|_| invalid("a NUL byte in a path"))?;
    f(&owned)
}

pub(crate) fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// One entry of a `poll` set: a descriptor and whether it became ready.
pub type PollFd = libc::pollfd;

/// `revents` bit: an error condition on the descriptor.
pub const POLL_ERR: i16 = libc::POLLERR;

/// A poll entry waiting for `fd` to become readable (a pidfd becomes readable when its
/// process exits; a signalfd when a signal arrives).
pub fn readable(fd: RawFd) -> PollFd {
    libc::pollfd { fd, events: libc::POLLIN, revents: 0 }
}

/// A poll entry waiting for `fd` to accept writes.
pub fn writable(fd: RawFd) -> PollFd {
    libc::pollfd { fd, events: libc::POLLOUT, revents: 0 }
}

/// `poll(2)`: waits up to `timeout_ms` (-1: forever) for one of `fds`; the count of ready
/// entries (their `revents` set). EINTR comes back as an error of kind `Interrupted`.
/// No allocation: safe to run while a shell lets its signal handlers run.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: a valid, exclusively borrowed array of pollfds and its length.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    check(r as libc::c_long).map(|n| n as usize)
}

/// Sleeps up to `ms` milliseconds; a signal cuts it short.
pub fn nap(ms: i32) {
    let _ = poll(&mut [], ms);
}
