//! Taking termination signals as events while a long-running command (a monitor, a
//! supervisor) waits: the signals are blocked and read from a signalfd, polled beside the
//! pidfds of the processes being watched, so TERM or Ctrl-C ends the wait cleanly
//! instead of killing the shell halfway through.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub struct BlockedSignals {
    fd: OwnedFd,
    old_mask: libc::sigset_t,
}

impl BlockedSignals {
    /// Blocks `signals` for this thread and opens a signalfd for them. Dropping the guard
    /// restores the previous mask; a signal not read by then is delivered as usual.
    pub fn block(signals: &[i32]) -> io::Result<BlockedSignals> {
        // SAFETY: sigset manipulation on local values; the mask change is undone in Drop.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            let mut old: libc::sigset_t = std::mem::zeroed();
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                let e = io::Error::last_os_error();
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
                return Err(e);
            }
            Ok(BlockedSignals { fd: OwnedFd::from_raw_fd(fd), old_mask: old })
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A pending signal, if one arrived.
    pub fn take(&self) -> Option<i32> {
        // SAFETY: reads one signalfd_siginfo into a correctly sized buffer.
        unsafe {
            let mut info: libc::signalfd_siginfo = std::mem::zeroed();
            let n = libc::read(self.fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), std::mem::size_of::<libc::signalfd_siginfo>());
            (n == std::mem::size_of::<libc::signalfd_siginfo>() as isize).then_some(info.ssi_signo as i32)
        }
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `block`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut()) };
    }
}

/// Sleeps up to `ms` milliseconds; any signal the thread takes cuts it short (EINTR),
/// which lets a caller look at Ctrl-C between naps.
pub fn nap(ms: i32) {
    // SAFETY: poll with no descriptors is a plain, interruptible sleep.
    unsafe { libc::poll(std::ptr::null_mut(), 0, ms) };
}

/// What woke a [`wait`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wake {
    /// Indexes (into the `fds` given) of the processes that have exited.
    pub exited: Vec<usize>,
    /// A termination signal read from the signalfd.
    pub signal: Option<i32>,
}

/// Waits up to `timeout_ms` for any of `fds` (pidfds) to become readable or a signal to
/// arrive on `signals`. EINTR counts as an empty wake.
pub fn wait(fds: &[RawFd], signals: Option<&BlockedSignals>, timeout_ms: i32) -> io::Result<Wake> {
    let mut pfds: Vec<libc::pollfd> = fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    if let Some(s) = signals {
        pfds.push(libc::pollfd { fd: s.raw_fd(), events: libc::POLLIN, revents: 0 });
    }
    // SAFETY: a valid array of pollfds.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::EINTR) { Ok(Wake::default()) } else { Err(e) };
    }
    let mut wake = Wake::default();
    for (i, p) in pfds.iter().enumerate().take(fds.len()) {
        if p.revents != 0 {
            wake.exited.push(i);
        }
    }
    if let Some(s) = signals {
        if pfds.last().map(|p| p.revents != 0).unwrap_or(false) {
            wake.signal = s.take();
        }
    }
    Ok(wake)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_signal_is_read_not_delivered() {
        // Signals go to this thread only (tgkill), so other test threads are unaffected.
        let guard = BlockedSignals::block(&[libc::SIGUSR2]).unwrap();
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::gettid(), libc::SIGUSR2) };
        let wake = wait(&[], Some(&guard), 1000).unwrap();
        assert_eq!(wake.signal, Some(libc::SIGUSR2));
        assert!(wait(&[], Some(&guard), 10).unwrap().signal.is_none());
    }
}
