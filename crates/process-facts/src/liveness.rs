//! `process-exists` at the cost of `kill -0`, zombies excluded.
//!
//! `kill(pid, 0)` cannot tell a zombie from a live process; reading `/proc/PID/stat` can,
//! but costs an open, a read and a close. A [`LivenessCache`] keeps a pidfd for each PID it
//! has found alive: the next question about that PID is one `poll` on it (plus an `fstat`
//! that makes sure the descriptor is still ours). A pidfd names one process, so when it
//! reports an exit, the PID is looked up afresh: it may be a zombie now, or a new process
//! that reused the number.
//!
//! The kept descriptors are close-on-exec and live at 200 and above, out of the way of the
//! descriptors scripts use (zsh hands out `{fd}` from 10 up, and `n>` takes one digit).
//! At most [`MAX_KEPT`] are kept.

use crate::proc;
use crate::Pid;
use std::collections::HashMap;

const KEPT_FD_MIN: i32 = 200;
pub const MAX_KEPT: usize = 32;

struct Kept {
    fd: i32,
    dev: u64,
    ino: u64,
}

#[derive(Default)]
pub struct LivenessCache {
    kept: HashMap<Pid, Kept>,
}

/// The (device, inode) of an open descriptor: a pidfd's are unique to it.
fn fd_identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat on any number is harmless (EBADF when closed).
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

fn close(fd: i32) {
    // SAFETY: only descriptors this cache opened and still owns are closed.
    unsafe { libc::close(fd) };
}

impl LivenessCache {
    pub fn new() -> LivenessCache {
        LivenessCache::default()
    }

    /// True when `pid` is a live process (not a zombie), as [`proc::is_alive`].
    pub fn is_alive(&mut self, pid: Pid) -> bool {
        if pid <= 0 {
            return false;
        }
        if let Some(k) = self.kept.remove(&pid) {
            if fd_identity(k.fd) == Some((k.dev, k.ino)) {
                let mut pfd = libc::pollfd { fd: k.fd, events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd, no waiting.
                if unsafe { libc::poll(&mut pfd, 1, 0) } == 0 {
                    self.kept.insert(pid, k);
                    return true;
                }
                close(k.fd);
            }
            // Not ours any more (a script closed or reused the number): forget it.
        }
        // SAFETY: signal 0 only checks that the PID exists.
        if unsafe { libc::kill(pid, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return false;
        }
        // The pidfd first: if the PID is reused in between, it names the newer process,
        // which the check below then describes.
        // SAFETY: a raw syscall with integer arguments.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        let alive = proc::is_alive(pid);
        if raw >= 0 {
            // SAFETY: duplicates our new fd above the scripts' range, then closes the original.
            let fd = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, KEPT_FD_MIN) };
            close(raw);
            match (alive && fd >= 0).then(|| fd_identity(fd)).flatten() {
                Some((dev, ino)) => {
                    if self.kept.len() >= MAX_KEPT {
                        self.clear();
                    }
                    self.kept.insert(pid, Kept { fd, dev, ino });
                }
                None if fd >= 0 => close(fd),
                None => {}
            }
        }
        alive
    }

    /// Closes every kept descriptor.
    pub fn clear(&mut self) {
        for (_, k) in self.kept.drain() {
            if fd_identity(k.fd) == Some((k.dev, k.ino)) {
                close(k.fd);
            }
        }
    }
}

impl Drop for LivenessCache {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn follows_a_process_through_exit_zombie_and_reaping() {
        let mut cache = LivenessCache::new();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as Pid;
        assert!(cache.is_alive(pid));
        assert!(cache.is_alive(pid), "second answer, from the kept pidfd");
        unsafe { libc::kill(pid, libc::SIGKILL) };
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
        let mut cache = LivenessCache::new();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as Pid;
        assert!(cache.is_alive(pid));
        let fd = cache.kept[&pid].fd;
        // A script puts something else at that number.
        let f = std::fs::File::open("/dev/null").unwrap();
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&f), fd) };
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!cache.is_alive(pid), "the replaced fd must not vouch for a dead process");
        unsafe { libc::close(fd) };
    }
}
