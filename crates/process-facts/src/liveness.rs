//! `process-exists` at the cost of `kill -0`, with the library's rule for "alive"
//! ([`crate::proc`]): zombies and thread IDs excluded, leaderless processes included.
//!
//! The rule needs a `stat` read (open, read, close). A [`Liveness`] memo keeps a pidfd for
//! each PID it has found alive: the next question about that PID is one `poll` on it,
//! plus an `fstat` making sure the descriptor number is still ours. A pidfd names one
//! process, so once it reports an exit the PID is looked up afresh: it may be a zombie
//! now, or a new process that reused the number.
//!
//! The pidfds are [`KeptFd`]s (out of the way of the numbers scripts use, and never used
//! or closed once a script has reused their number); at most [`MAX_KEPT`].

use crate::kept::KeptFd;
use crate::proc::{self, Identity};
use crate::sys::{self, AsFd, AsRawFd, OwnedFd};
use crate::Pid;
use std::collections::HashMap;

pub const MAX_KEPT: usize = 32;

#[derive(Default)]
pub struct Liveness {
    kept: HashMap<Pid, KeptFd>,
}

impl Liveness {
    pub fn new() -> Liveness {
        Liveness::default()
    }

    /// True when `pid` is a live process by the library's rule.
    pub fn is_alive(&mut self, pid: Pid) -> bool {
        if pid <= 0 {
            return false;
        }
        if let Some(k) = self.kept.remove(&pid) {
            if k.is_ours() && matches!(sys::poll(&mut [sys::readable(k.as_fd().as_raw_fd())], 0), Ok(0)) {
                self.kept.insert(pid, k);
                return true;
            }
        }
        // The pidfd first (EINVAL: a thread ID, not a process; ESRCH: none): if the PID is
        // reused right after, the pidfd names the newer process, which stat then describes.
        let fd = match sys::process::pidfd_open(pid) {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => None,
            Err(_) => return false,
        };
        let alive = Identity::of_leader(pid).is_some();
        match fd {
            Some(fd) if alive => self.keep(pid, fd),
            None => return alive && proc::is_process(pid),
            _ => {}
        }
        alive
    }

    fn keep(&mut self, pid: Pid, fd: OwnedFd) {
        let Ok(kept) = KeptFd::new(fd.as_fd()) else { return };
        if self.kept.len() >= MAX_KEPT {
            self.clear();
        }
        self.kept.insert(pid, kept);
    }

    /// Closes every kept descriptor that is still ours.
    pub fn clear(&mut self) {
        self.kept.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn follows_a_process_through_exit_zombie_and_reaping() {
        let mut cache = Liveness::new();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as Pid;
        assert!(cache.is_alive(pid));
        assert!(cache.is_alive(pid), "second answer, from the kept pidfd");
        child.kill().unwrap();
        // Unreaped: a zombie, which is not alive.
        for _ in 0..200 {
            if !cache.is_alive(pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!cache.is_alive(pid));
        child.wait().unwrap();
        assert!(!cache.is_alive(pid));
        assert!(!cache.is_alive(0) && !cache.is_alive(-1));
    }

    #[test]
    fn a_replaced_descriptor_is_not_trusted() {
        let mut cache = Liveness::new();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as Pid;
        assert!(cache.is_alive(pid));
        let fd = cache.kept[&pid].as_fd().as_raw_fd();
        // A script puts something else at that number.
        let f = std::fs::File::open("/dev/null").unwrap();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        drop(f);
        sys::fs::dup2_for_test(devnull.as_fd(), fd);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!cache.is_alive(pid), "the replaced fd must not vouch for a dead process");
        drop(cache);
        // Not closed by the cache: it is the script's now.
        assert!(sys::fs::fd_identity(fd).is_some());
        sys::fs::close_for_test(fd);
    }
}
