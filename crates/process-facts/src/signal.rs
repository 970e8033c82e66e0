//! Signals: names and numbers as users type them, sending one to exactly one process, and
//! taking stop signals as events while a long-running command (a monitor, a supervisor)
//! waits.

use crate::pidfd::PidFd;
use crate::proc::Identity;
use crate::sys::{self, signal::Mask, AsFd, AsRawFd, OwnedFd, RawFd};
use crate::wait::{self, Blocker, Interrupted};
use std::io;
use std::time::Duration;
use thiserror::Error;

pub use crate::sys::signal::{is_ignored, raise, rtmax, rtmin};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP), ("INT", libc::SIGINT), ("QUIT", libc::SIGQUIT), ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP), ("ABRT", libc::SIGABRT), ("IOT", libc::SIGIOT), ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE), ("KILL", libc::SIGKILL), ("USR1", libc::SIGUSR1), ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2), ("PIPE", libc::SIGPIPE), ("ALRM", libc::SIGALRM), ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT), ("CHLD", libc::SIGCHLD), ("CLD", libc::SIGCHLD), ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP), ("TSTP", libc::SIGTSTP), ("TTIN", libc::SIGTTIN), ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG), ("XCPU", libc::SIGXCPU), ("XFSZ", libc::SIGXFSZ), ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF), ("WINCH", libc::SIGWINCH), ("IO", libc::SIGIO), ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR), ("SYS", libc::SIGSYS),
];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignalError {
    #[error("unknown signal '{0}' (use a name such as TERM, HUP, USR1, RTMIN+2, or a number 1-{max})", max = rtmax())]
    Unknown(String),
}

/// Parses `TERM`, `SIGTERM`, `term`, `15`, `RTMIN`, `SIGRTMIN+3`, `RTMAX-1`. Zero is not a
/// signal here: checking existence is `process-exists`.
pub fn parse_signal(text: &str) -> Result<i32, SignalError> {
    let unknown = || SignalError::Unknown(text.to_string());
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let n: i32 = text.parse().map_err(|_| unknown())?;
        return if (1..=rtmax()).contains(&n) { Ok(n) } else { Err(unknown()) };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(nm, _)| *nm == name) {
        return Ok(n);
    }
    let offset = |rest: &str, sign: i32| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest.strip_prefix(if sign > 0 { '+' } else { '-' })?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i32>().ok().map(|d| d * sign)
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        offset(rest, 1).map(|o| rtmin() + o)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        offset(rest, -1).map(|o| rtmax() + o)
    } else {
        None
    };
    match n {
        Some(n) if (rtmin()..=rtmax()).contains(&n) => Ok(n),
        _ => Err(unknown()),
    }
}

/// The usual name of a signal number, without `SIG` (`RTMIN+n` for real-time ones).
pub fn signal_name(n: i32) -> String {
    if let Some((name, _)) = NAMES.iter().find(|(_, v)| *v == n) {
        return (*name).to_string();
    }
    if (rtmin()..=rtmax()).contains(&n) {
        return if n == rtmin() { "RTMIN".into() } else { format!("RTMIN+{}", n - rtmin()) };
    }
    n.to_string()
}

/// Every signal name, for help and completion.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(n, _)| *n)
}

/// Sends `signal` to the process `id` names and to no other: through a pidfd when the
/// kernel has them; otherwise `kill(2)` right after re-checking the start time (the
/// window left is the one every pre-pidfd tool has).
pub fn send(id: Identity, signal: i32) -> io::Result<()> {
    match PidFd::open(id) {
        Ok(fd) => fd.send_signal(signal),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            if !id.is_alive() {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            sys::process::kill(id.pid, signal)
        }
        Err(e) => Err(e),
    }
}

/// Stop signals taken as events: blocked for this thread and read from a signalfd.
/// Dropping the guard restores the previous mask; a signal not read by then is delivered
/// as usual.
pub struct BlockedSignals {
    fd: OwnedFd,
    old_mask: Mask,
}

/// What woke a [`BlockedSignals::wait`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wake {
    /// Indexes (into the descriptors given) of those that became readable: pidfds whose
    /// process has exited.
    pub ready: Vec<usize>,
    /// A stop signal read from the signalfd.
    pub signal: Option<i32>,
}

impl BlockedSignals {
    pub fn block(signals: &[i32]) -> io::Result<BlockedSignals> {
        let mask = Mask::of(signals);
        let old_mask = mask.block()?;
        match sys::signal::signalfd(&mask) {
            Ok(fd) => Ok(BlockedSignals { fd, old_mask }),
            Err(e) => {
                old_mask.set();
                Err(e)
            }
        }
    }

    /// The signalfd, for a caller that polls it beside its own descriptors.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A pending signal, if one arrived.
    pub fn take(&self) -> Option<i32> {
        sys::signal::read_signalfd(self.fd.as_fd())
    }

    /// Waits up to `timeout` for one of `fds` (pidfds) to become readable or a signal to
    /// arrive.
    pub fn wait(&self, b: &mut dyn Blocker, fds: &[RawFd], timeout: Duration) -> Result<Wake, Interrupted> {
        wait_on(b, Some(self), fds, timeout)
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        self.old_mask.set();
    }
}

/// Polls `fds` (and the signalfd of `signals`, when given) up to `timeout`.
pub fn wait_on(b: &mut dyn Blocker, signals: Option<&BlockedSignals>, fds: &[RawFd], timeout: Duration) -> Result<Wake, Interrupted> {
    let mut pfds: Vec<sys::PollFd> = fds.iter().map(|&fd| sys::readable(fd)).collect();
    if let Some(s) = signals {
        pfds.push(sys::readable(s.fd.as_raw_fd()));
    }
    let mut wake = Wake::default();
    // With the stop signals' signalfd in the set, no slicing is needed (see poll_whole).
    let ready = if signals.is_some() { wait::poll_whole(b, &mut pfds, Some(timeout))? } else { wait::poll(b, &mut pfds, Some(timeout))? };
    if ready == 0 {
        return Ok(wake);
    }
    wake.ready = pfds.iter().take(fds.len()).enumerate().filter(|(_, p)| p.revents != 0).map(|(i, _)| i).collect();
    if let Some(s) = signals {
        if pfds.last().is_some_and(|p| p.revents != 0) {
            wake.signal = s.take();
        }
    }
    Ok(wake)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Plain;

    #[test]
    fn names_numbers_and_realtime() {
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("sigterm"), Ok(15));
        assert_eq!(parse_signal("SIGHUP"), Ok(1));
        assert_eq!(parse_signal("usr1"), Ok(libc::SIGUSR1));
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("RTMIN"), Ok(rtmin()));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(rtmin() + 3));
        assert_eq!(parse_signal("rtmax-1"), Ok(rtmax() - 1));
        assert_eq!(parse_signal(&rtmax().to_string()), Ok(rtmax()));
    }

    #[test]
    fn rejects_unknown() {
        for bad in ["", "0", "65", "FOO", "SIG", "RTMIN+99", "RTMIN+", "RTMIN-1", "-9", "TERM9"] {
            assert!(parse_signal(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(signal_name(15), "TERM");
        assert_eq!(signal_name(rtmin() + 2), "RTMIN+2");
    }

    #[test]
    fn a_blocked_signal_is_read_not_delivered() {
        // Raised for this thread only, so other test threads are unaffected.
        let guard = BlockedSignals::block(&[libc::SIGUSR2]).unwrap();
        raise(libc::SIGUSR2);
        let wake = guard.wait(&mut Plain, &[], Duration::from_secs(1)).unwrap();
        assert_eq!(wake.signal, Some(libc::SIGUSR2));
        assert!(guard.wait(&mut Plain, &[], Duration::from_millis(10)).unwrap().signal.is_none());
    }
}
