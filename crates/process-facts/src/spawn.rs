//! Starting a service the way a supervisor does: a new session (no controlling
//! terminal, no job of the shell's, so no SIGHUP when the shell exits), stdin from
//! /dev/null, stdout and stderr appended to a log, no other inherited descriptor (a
//! caller's `$(...)` never waits on a pipe the service holds), default signal
//! dispositions and an empty signal mask.

use crate::Pid;
use std::ffi::{c_char, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

extern "C" {
    static environ: *const *const c_char;
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell's way of saying it: the code, or 128 + signal.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte"))
}

/// Runs `argv[0]` (a path) with `argv`, detached as described above, output appended to
/// `log`. Returns the child's PID; the caller reaps it with [`reap`].
pub fn spawn_detached(argv: &[&[u8]], log: &Path) -> io::Result<Pid> {
    let args: Vec<CString> = argv.iter().map(|a| cstring(a)).collect::<io::Result<_>>()?;
    if args.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    let mut arg_ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    let log_c = cstring(log.as_os_str().as_bytes())?;
    let failure = b"_process: cannot execute the service's shell\n";

    // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
    // SAFETY: open(2) with valid NUL-terminated paths.
    let log_fd = unsafe {
        libc::open(log_c.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NOFOLLOW, 0o600)
    };
    if log_fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let null_fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if null_fd < 0 {
        let e = io::Error::last_os_error();
        unsafe { libc::close(log_fd) };
        return Err(e);
    }
    // SAFETY: fork in a single-threaded shell; the child only makes raw system calls
    // before execve or _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::setsid();
            libc::dup2(null_fd, 0);
            libc::dup2(log_fd, 1);
            libc::dup2(log_fd, 2);
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
                for fd in 3..4096 {
                    libc::close(fd);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            for sig in 1..libc::SIGRTMAX() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            libc::execve(arg_ptrs[0], arg_ptrs.as_ptr(), environ);
            libc::write(2, failure.as_ptr().cast(), failure.len());
            libc::_exit(127);
        }
    }
    let fork_error = io::Error::last_os_error();
    unsafe {
        libc::close(log_fd);
        libc::close(null_fd);
    }
    if pid < 0 {
        return Err(fork_error);
    }
    Ok(pid)
}

/// Reaps the child `pid`: waits for it when `block`, else only if it has exited.
/// None when it is still running, or was reaped elsewhere (ECHILD).
pub fn reap(pid: Pid, block: bool) -> Option<Exit> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, if block { 0 } else { libc::WNOHANG }) };
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r != pid {
            return None;
        }
        return Some(if libc::WIFSIGNALED(status) { Exit::Signal(libc::WTERMSIG(status)) } else { Exit::Code(libc::WEXITSTATUS(status)) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_output_goes_to_the_log() {
        let dir = std::env::temp_dir().join(format!("spawn-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("out.log");
        let pid = spawn_detached(&[b"/bin/sh", b"-c", b"echo hello; echo oops >&2; ls /proc/self/fd; exit 3"], &log).unwrap();
        assert_eq!(reap(pid, true), Some(Exit::Code(3)));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("hello") && text.contains("oops"), "{text}");
        // Only 0, 1, 2 and the fd ls itself opens.
        let fds: Vec<&str> = text.lines().skip(2).collect();
        assert!(fds.len() <= 4, "inherited descriptors: {fds:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn new_session_and_missing_program() {
        let log = std::env::temp_dir().join(format!("spawn-test2-{}.log", std::process::id()));
        let pid = spawn_detached(&[b"/bin/sleep", b"5"], &log).unwrap();
        // The child calls setsid right after fork: give it a moment.
        let mut session = 0;
        for _ in 0..200 {
            session = crate::proc::stat(pid).unwrap().session;
            if session == pid {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(session, pid);
        unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(reap(pid, true), Some(Exit::Signal(libc::SIGTERM)));
        let pid = spawn_detached(&[b"/nonexistent/program"], &log).unwrap();
        assert_eq!(reap(pid, true), Some(Exit::Code(127)));
        let _ = std::fs::remove_file(&log);
    }
}

/// While alive, reaps one child of ours from inside the SIGCHLD handler, ahead of the
/// shell's own handler (which reaps every child with `waitpid(-1)` and would lose the
/// status): the status is kept for [`ReapFirst::reap`]. The previous handler still runs.
pub struct ReapFirst {
    previous: libc::sigaction,
}

static WATCHED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
static WATCHED_STATUS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();

extern "C" fn reap_first_handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    use std::sync::atomic::Ordering::SeqCst;
    // SAFETY: errno, waitpid and the previous handler are async-signal-safe to use here.
    unsafe {
        let errno = *libc::__errno_location();
        let pid = WATCHED.load(SeqCst);
        if pid > 0 {
            let mut status = 0;
            if libc::waitpid(pid, &mut status, libc::WNOHANG) == pid {
                WATCHED_STATUS.store(status as i64, SeqCst);
                WATCHED.store(0, SeqCst);
            }
        }
        *libc::__errno_location() = errno;
        let prev = (*std::ptr::addr_of!(PREVIOUS)).assume_init_ref();
        let me = reap_first_handler as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
        if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN || prev.sa_sigaction == me {
            return;
        }
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = std::mem::transmute(prev.sa_sigaction);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
            f(sig);
        }
    }
}

impl ReapFirst {
    pub fn install() -> io::Result<ReapFirst> {
        // SAFETY: plain sigaction calls; PREVIOUS is written before the handler can run.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut previous);
            // Already ours (a supervisor started from another one's event handler, in the
            // same process or a fork of it): PREVIOUS still holds the shell's handler, and
            // recording ours there would make the handler call itself forever.
            if previous.sa_sigaction != reap_first_handler as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize {
                (*std::ptr::addr_of_mut!(PREVIOUS)).write(previous);
            }
            let mut ours: libc::sigaction = previous;
            ours.sa_sigaction = reap_first_handler as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
            ours.sa_flags = (previous.sa_flags | libc::SA_SIGINFO) & !libc::SA_RESETHAND;
            if libc::sigaction(libc::SIGCHLD, &ours, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(ReapFirst { previous })
        }
    }

    /// Watch `pid` (a child) from now on.
    pub fn watch(&self, pid: Pid) {
        WATCHED_STATUS.store(i64::MIN, std::sync::atomic::Ordering::SeqCst);
        WATCHED.store(pid, std::sync::atomic::Ordering::SeqCst);
    }

    /// `pid`'s exit: reaped here (blocking when `block`), or earlier by the handler.
    pub fn reap(&self, pid: Pid, block: bool) -> Option<Exit> {
        if let Some(e) = reap(pid, block) {
            WATCHED.store(0, std::sync::atomic::Ordering::SeqCst);
            return Some(e);
        }
        let raw = WATCHED_STATUS.swap(i64::MIN, std::sync::atomic::Ordering::SeqCst);
        (raw != i64::MIN).then(|| {
            let status = raw as i32;
            if libc::WIFSIGNALED(status) { Exit::Signal(libc::WTERMSIG(status)) } else { Exit::Code(libc::WEXITSTATUS(status)) }
        })
    }
}

impl Drop for ReapFirst {
    fn drop(&mut self) {
        WATCHED.store(0, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: restores the handler that was there.
        unsafe { libc::sigaction(libc::SIGCHLD, &self.previous, std::ptr::null_mut()) };
    }
}
