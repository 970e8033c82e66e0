//! Linux pidfds: a handle on one process, not on a PID that may be reused. Signals sent
//! through it reach that process or fail with ESRCH; `poll` on it wakes the moment the
//! process exits, with no sleep loop over `/proc`.

use crate::proc::Identity;
use crate::sys::{self, AsFd, AsRawFd, OwnedFd, RawFd};
use crate::wait::{self, Blocker, Interrupted};
use crate::Pid;
use std::io;
use std::time::Duration;

pub struct PidFd {
    fd: OwnedFd,
    pub pid: Pid,
}

impl PidFd {
    /// Opens a pidfd for `id`, checking afterwards that the PID still belongs to the same
    /// process (start time), so the handle cannot point at a process that reused the PID.
    /// ENOSYS (kernels before 5.3) and EINVAL (a thread ID) come back as errors.
    pub fn open(id: Identity) -> io::Result<PidFd> {
        let fd = sys::process::pidfd_open(id.pid)?;
        if !id.is_alive() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(PidFd { fd, pid: id.pid })
    }

    /// Sends `signal` to exactly this process.
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        sys::process::pidfd_send_signal(self.fd.as_fd(), signal)
    }

    /// True once the process has exited (all its threads: a leader that exited while
    /// others run is not "exited"). It may still be an unreaped zombie.
    pub fn has_exited(&self) -> bool {
        matches!(sys::poll(&mut [sys::readable(self.fd.as_raw_fd())], 0), Ok(n) if n > 0)
    }

    /// Waits until the process exits (true) or `timeout` passes (false).
    pub fn wait_exit(&self, timeout: Duration, b: &mut dyn Blocker) -> Result<bool, Interrupted> {
        let mut fds = [sys::readable(self.fd.as_raw_fd())];
        Ok(wait::poll(b, &mut fds, Some(timeout))? > 0 || self.has_exited())
    }
}

/// The descriptor itself, for callers that poll it together with others (a monitor polls
/// its targets' pidfds beside a signalfd).
impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Plain;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn wakes_when_the_process_exits() {
        let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let id = Identity::of(child.id() as Pid).unwrap();
        let fd = PidFd::open(id).unwrap();
        assert!(!fd.has_exited());
        let t = Instant::now();
        assert_eq!(fd.wait_exit(Duration::from_secs(5), &mut Plain), Ok(true));
        assert!(t.elapsed() < Duration::from_secs(2));
        child.wait().unwrap();
    }

    #[test]
    fn times_out_and_signals() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let fd = PidFd::open(Identity::of(child.id() as Pid).unwrap()).unwrap();
        assert_eq!(fd.wait_exit(Duration::from_millis(60), &mut Plain), Ok(false));
        fd.send_signal(libc::SIGKILL).unwrap();
        assert_eq!(fd.wait_exit(Duration::from_secs(5), &mut Plain), Ok(true));
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

    #[test]
    fn a_stop_request_ends_the_wait() {
        struct StopAtOnce;
        impl Blocker for StopAtOnce {
            fn block(&mut self, call: &mut dyn FnMut()) -> crate::wait::Flow {
                call();
                crate::wait::Flow::Stop
            }
        }
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let fd = PidFd::open(Identity::of(child.id() as Pid).unwrap()).unwrap();
        let t = Instant::now();
        assert_eq!(fd.wait_exit(Duration::from_secs(30), &mut StopAtOnce), Err(Interrupted));
        assert!(t.elapsed() < Duration::from_secs(1));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
