//! Linux pidfds: a handle on one process, not on a PID that may be reused. Signals sent
//! through it reach that process or fail with ESRCH; `poll` on it wakes the moment the
//! process exits, without polling `/proc` in a loop.

use crate::proc::Identity;
use crate::Pid;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

pub struct PidFd {
    fd: OwnedFd,
    pub pid: Pid,
}

/// What a wait for exit came to.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum WaitOutcome {
    Exited,
    TimedOut,
    Interrupted,
}

impl PidFd {
    /// Opens a pidfd for `id`, checking afterwards that the PID still belongs to the same
    /// process (start time), so the handle cannot point at a process that reused the PID.
    /// ENOSYS (kernels before 5.3) comes back as an error of kind Unsupported.
    pub fn open(id: Identity) -> io::Result<PidFd> {
        // SAFETY: a raw syscall with plain integer arguments.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id.pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a new fd that we now own.
        let pidfd = PidFd { fd: unsafe { OwnedFd::from_raw_fd(fd as i32) }, pid: id.pid };
        if !id.is_alive() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(pidfd)
    }

    /// The descriptor, for polling several processes at once (process_facts::signalfd::wait).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends `signal` to exactly this process.
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        // SAFETY: fd is a valid pidfd; a NULL siginfo means "as kill(2)".
        let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, self.fd.as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// True once the process has exited (it may still be an unreaped zombie).
    pub fn has_exited(&self) -> bool {
        matches!(self.poll(0), Ok(true))
    }

    fn poll(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r > 0)
    }

    /// Waits until the process exits or `timeout` passes. The wait is cut in slices of at
    /// most `slice`, and `interrupted()` is asked after each, so Ctrl-C ends it at once.
    pub fn wait_exit(&self, timeout: Duration, slice: Duration, interrupted: &mut dyn FnMut() -> bool) -> WaitOutcome {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let step = left.min(slice);
            match self.poll(step.as_millis().min(i32::MAX as u128) as i32) {
                Ok(true) => return WaitOutcome::Exited,
                Ok(false) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => return WaitOutcome::Exited,
            }
            if interrupted() {
                return WaitOutcome::Interrupted;
            }
            if left.is_zero() || Instant::now() >= deadline {
                return if self.has_exited() { WaitOutcome::Exited } else { WaitOutcome::TimedOut };
            }
        }
    }
}

/// The descriptor itself, for callers that poll it together with others (a monitor
/// polls its targets' pidfds beside a signalfd).
impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits for several processes at once; returns the indexes of those that have exited
/// (empty on timeout). Used by monitors watching many targets.
pub fn wait_any(fds: &[&PidFd], timeout: Duration) -> io::Result<Vec<usize>> {
    let mut pfds: Vec<libc::pollfd> = fds.iter().map(|f| libc::pollfd { fd: f.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: a valid array of pollfds.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout.as_millis().min(i32::MAX as u128) as i32) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pfds.iter().enumerate().filter(|(_, p)| p.revents != 0).map(|(i, _)| i).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn wakes_when_the_process_exits() {
        let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let id = Identity::of(child.id() as Pid).unwrap();
        let fd = PidFd::open(id).unwrap();
        assert!(!fd.has_exited());
        let t = Instant::now();
        assert_eq!(fd.wait_exit(Duration::from_secs(5), Duration::from_millis(50), &mut || false), WaitOutcome::Exited);
        assert!(t.elapsed() < Duration::from_secs(2));
        child.wait().unwrap();
    }

    #[test]
    fn times_out_and_signals() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let fd = PidFd::open(Identity::of(child.id() as Pid).unwrap()).unwrap();
        assert_eq!(fd.wait_exit(Duration::from_millis(60), Duration::from_millis(20), &mut || false), WaitOutcome::TimedOut);
        fd.send_signal(libc::SIGKILL).unwrap();
        assert_eq!(fd.wait_exit(Duration::from_secs(5), Duration::from_millis(50), &mut || false), WaitOutcome::Exited);
        child.wait().unwrap();
        // Reaped: the pidfd still names the old process and refuses to signal anything else.
        assert_eq!(fd.send_signal(libc::SIGTERM).unwrap_err().raw_os_error(), Some(libc::ESRCH));
    }

    #[test]
    fn refuses_a_stale_identity() {
        let me = Identity::of(std::process::id() as Pid).unwrap();
        let wrong = Identity { pid: me.pid, starttime: me.starttime + 1 };
        assert!(PidFd::open(wrong).is_err());
    }
}
