//! Signal names and numbers, and sending a signal to one process safely.

use crate::pidfd::PidFd;
use crate::proc::Identity;
use std::io;
use thiserror::Error;

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

pub fn rtmin() -> i32 {
    libc::SIGRTMIN()
}
pub fn rtmax() -> i32 {
    libc::SIGRTMAX()
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

/// True when this process ignores `sig` (SIG_IGN), as background jobs do with INT.
pub fn is_ignored(sig: i32) -> bool {
    // SAFETY: a query only (no new action); `old` is a plain C struct.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Sends `sig` to this very thread, to take its ordinary course (or wait, if blocked).
pub fn raise(sig: i32) {
    // SAFETY: raise has no preconditions.
    unsafe { libc::raise(sig) };
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
            // SAFETY: plain kill(2) to a positive PID.
            if unsafe { libc::kill(id.pid, signal) } < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
