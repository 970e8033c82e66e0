//! Waiting. Every blocking system call of this crate (poll, flock, waitpid, a nap) goes
//! through a [`Blocker`], which the caller implements: inside zsh it lets the shell's
//! signal handlers (traps) run for exactly that call, and says afterwards whether the
//! user pressed Ctrl-C. A call made through it must allocate nothing and hold no state a
//! trap could reach, since a trap may run in the middle of it.

use crate::sys;
use std::io;
use std::time::{Duration, Instant};

/// Whether to go on waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The user asked to stop (Ctrl-C).
    Stop,
}

pub trait Blocker {
    /// Runs `call` (one blocking system call) with signals let through, then says whether
    /// to go on.
    fn block(&mut self, call: &mut dyn FnMut()) -> Flow;
}

/// For code outside a shell (and tests): makes the call, never stops.
pub struct Plain;

impl Blocker for Plain {
    fn block(&mut self, call: &mut dyn FnMut()) -> Flow {
        call();
        Flow::Continue
    }
}

/// A wait that was cut short by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// How long a single blocking call may last before the caller looks again: a signal that
/// slips in just before a call begins cannot delay the answer to Ctrl-C beyond this.
pub const SLICE: Duration = Duration::from_millis(100);

/// Milliseconds for poll, rounded up (a wait of 0.4 ms must not become a busy 0).
pub fn ms_ceil(d: Duration) -> i32 {
    d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
}

/// Polls `fds` until one is ready or `timeout` passes (None: no limit); the number ready.
/// The wait is cut into [`SLICE`]s, so a Ctrl-C that slipped in just before a slice
/// began is seen within one.
pub fn poll(b: &mut dyn Blocker, fds: &mut [sys::PollFd], timeout: Option<Duration>) -> Result<usize, Interrupted> {
    poll_sliced(b, fds, timeout, SLICE)
}

/// [`poll`] in one piece, for a caller whose `fds` include a signalfd for the signals
/// that end the wait (a pending one makes it readable, so no slice is needed): a poll
/// over many descriptors costs the kernel a registration on each, every slice.
pub fn poll_whole(b: &mut dyn Blocker, fds: &mut [sys::PollFd], timeout: Option<Duration>) -> Result<usize, Interrupted> {
    poll_sliced(b, fds, timeout, Duration::MAX)
}

fn poll_sliced(b: &mut dyn Blocker, fds: &mut [sys::PollFd], timeout: Option<Duration>, slice: Duration) -> Result<usize, Interrupted> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let step = left.map_or(slice, |l| l.min(slice));
        let mut result: io::Result<usize> = Ok(0);
        let ms = if step == Duration::MAX { -1 } else { ms_ceil(step) };
        let flow = b.block(&mut || result = sys::poll(fds, ms));
        match result {
            Ok(n) if n > 0 => return Ok(n),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EBADF, ENOMEM: nothing to wait for; report every entry as ready.
            Err(_) => {
                for f in fds.iter_mut() {
                    f.revents = sys::POLL_ERR;
                }
                return Ok(fds.len());
            }
        }
        if flow == Flow::Stop {
            return Err(Interrupted);
        }
        if left.is_some_and(|l| l.is_zero()) || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(0);
        }
    }
}

/// Sleeps for `d`; Err when the user pressed Ctrl-C meanwhile.
pub fn sleep(b: &mut dyn Blocker, d: Duration) -> Result<(), Interrupted> {
    poll(b, &mut [], Some(d)).map(drop)
}
