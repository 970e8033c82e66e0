//! Signal masks, signalfds, dispositions, and the one signal handler of this crate.

use super::{check, AsRawFd, BorrowedFd, OwnedFd};
use std::io;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering::SeqCst};

/// A signal mask (a `sigset_t`).
#[derive(Clone, Copy)]
pub struct Mask(libc::sigset_t);

impl Mask {
    pub fn of(signals: &[i32]) -> Mask {
        // SAFETY: sigset manipulation on a local value.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            Mask(set)
        }
    }

    /// Every signal.
    pub fn all() -> Mask {
        // SAFETY: sigset manipulation on a local value.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut set);
            Mask(set)
        }
    }

    /// The calling thread's mask now.
    pub fn current() -> Mask {
        // SAFETY: a query only.
        unsafe {
            let mut m: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut m);
            Mask(m)
        }
    }

    pub fn contains(&self, sig: i32) -> bool {
        // SAFETY: reads the set.
        unsafe { libc::sigismember(&self.0, sig) == 1 }
    }

    /// For C code that takes a `const sigset_t *`.
    pub fn as_ptr(&self) -> *const libc::sigset_t {
        &self.0
    }

    /// Adds these signals to the thread's mask; the previous mask comes back.
    pub fn block(&self) -> io::Result<Mask> {
        // SAFETY: changes this thread's mask; the caller restores it.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            match libc::pthread_sigmask(libc::SIG_BLOCK, &self.0, &mut old) {
                0 => Ok(Mask(old)),
                e => Err(io::Error::from_raw_os_error(e)),
            }
        }
    }

    /// Makes this the thread's mask.
    pub fn set(&self) {
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// A signalfd for `mask` (whose signals the caller has blocked): they are read from it
/// instead of being delivered. Non-blocking: read it after `poll` says it is readable.
pub fn signalfd(mask: &Mask) -> io::Result<OwnedFd> {
    // SAFETY: a new descriptor that we own.
    let fd = check(unsafe { libc::signalfd(-1, &mask.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) } as libc::c_long)?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// One pending signal from a signalfd, if any.
pub fn read_signalfd(fd: BorrowedFd) -> Option<i32> {
    // SAFETY: reads one signalfd_siginfo into a correctly sized buffer.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let n = libc::read(fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size);
        (n == size as isize).then_some(info.ssi_signo as i32)
    }
}

/// True when this process ignores `sig` (SIG_IGN), as a script's background jobs do INT.
pub fn is_ignored(sig: i32) -> bool {
    // SAFETY: a query only (no new action).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Sends `sig` to this very thread, to take its ordinary course (or wait, if blocked).
pub fn raise(sig: i32) {
    // SAFETY: raise has no memory arguments.
    unsafe { libc::raise(sig) };
}

pub fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

pub fn rtmax() -> i32 {
    libc::SIGRTMAX()
}

// ---- reaping children ahead of the shell --------------------------------------------------

/// How many children can be watched at once (a supervisor's service, the children a
/// `process-wait` waits for, one inside the other's event handler).
const SLOTS: usize = 8;
/// The children the handler reaps (0: a free slot).
static WATCHED: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
/// What it got for each: the PID in the high half, the raw wait status in the low half
/// (i64::MIN: nothing yet).
static TAKEN: [AtomicI64; SLOTS] = [const { AtomicI64::new(i64::MIN) }; SLOTS];
/// The handler that was there before ours (the shell's), called after ours.
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();

type Handler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

extern "C" fn reap_first(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: only async-signal-safe calls (waitpid, atomics) and the previous handler.
    unsafe {
        let errno = *libc::__errno_location();
        for (slot, taken) in WATCHED.iter().zip(TAKEN.iter()) {
            let pid = slot.load(SeqCst);
            if pid > 0 {
                let mut status = 0;
                if libc::waitpid(pid, &mut status, libc::WNOHANG) == pid {
                    taken.store(((pid as i64) << 32) | (status as u32 as i64), SeqCst);
                    slot.store(0, SeqCst);
                }
            }
        }
        *libc::__errno_location() = errno;
        let prev = (*std::ptr::addr_of!(PREVIOUS)).assume_init_ref();
        if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN || prev.sa_sigaction == reap_first as Handler as usize {
            return;
        }
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: Handler = std::mem::transmute(prev.sa_sigaction);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
            f(sig);
        }
    }
}

/// While alive, a SIGCHLD handler ahead of the shell's reaps the children of ours it is
/// told to watch and keeps their status (the shell's own handler reaps every child with
/// `waitpid(-1)` and would lose it); the shell's handler still runs after it.
pub struct ReapFirst {
    previous: libc::sigaction,
}

impl ReapFirst {
    pub fn install() -> io::Result<ReapFirst> {
        // SAFETY: plain sigaction calls; PREVIOUS is written before our handler can run.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut previous);
            // Already ours (a supervisor started from another's event handler): PREVIOUS
            // still holds the shell's handler; recording ours there would make it recurse.
            if previous.sa_sigaction != reap_first as Handler as usize {
                (*std::ptr::addr_of_mut!(PREVIOUS)).write(previous);
            }
            let mut ours = previous;
            ours.sa_sigaction = reap_first as Handler as usize;
            ours.sa_flags = (previous.sa_flags | libc::SA_SIGINFO) & !libc::SA_RESETHAND;
            check(libc::sigaction(libc::SIGCHLD, &ours, std::ptr::null_mut()) as libc::c_long)?;
            Ok(ReapFirst { previous })
        }
    }

    /// Watch `pid` (a child) from now on; false when every slot is taken (its status may
    /// then be lost to the shell's handler).
    pub fn watch(&self, pid: i32) -> bool {
        self.forget_taken(pid);
        WATCHED.iter().any(|slot| slot.compare_exchange(0, pid, SeqCst, SeqCst).is_ok())
    }

    /// The raw wait status the handler took for `pid`, if it did.
    pub fn taken(&self, pid: i32) -> Option<i32> {
        TAKEN.iter().find_map(|t| {
            let raw = t.load(SeqCst);
            (raw != i64::MIN && (raw >> 32) as i32 == pid && t.compare_exchange(raw, i64::MIN, SeqCst, SeqCst).is_ok()).then_some(raw as u32 as i32)
        })
    }

    pub fn unwatch(&self, pid: i32) {
        for slot in &WATCHED {
            let _ = slot.compare_exchange(pid, 0, SeqCst, SeqCst);
        }
    }

    fn forget_taken(&self, pid: i32) {
        while self.taken(pid).is_some() {}
    }
}

impl Drop for ReapFirst {
    fn drop(&mut self) {
        // The outermost one: nobody watches anything any more.
        if self.previous.sa_sigaction != reap_first as Handler as usize {
            for slot in &WATCHED {
                slot.store(0, SeqCst);
            }
        }
        // SAFETY: restores the handler that was there (ours, when nested: then the outer
        // ReapFirst's watched children stay watched).
        unsafe { libc::sigaction(libc::SIGCHLD, &self.previous, std::ptr::null_mut()) };
    }
}
