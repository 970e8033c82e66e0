//! Process IDs, pidfds, waiting for children, and starting a detached service.

use super::{check, AsRawFd, BorrowedFd, OwnedFd};
use std::ffi::{c_char, CString};
use std::io;
use std::os::fd::FromRawFd;

pub type Pid = i32;

/// The real user ID of this process.
pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// The effective user ID: whose files this process may trust and write.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

pub fn pid() -> Pid {
    std::process::id() as Pid
}

/// This machine's name, uname(2)'s nodename (empty if uname fails, which it does not).
pub fn nodename() -> Vec<u8> {
    // SAFETY: uname fills a plain struct of fixed-size, NUL-terminated arrays.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Vec::new();
    }
    u.nodename.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect()
}

/// `kill(pid, 0)`: Ok when `pid` exists (a zombie too), EPERM when it is another user's,
/// ESRCH when there is none. Never sends anything.
pub fn probe(pid: Pid) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: signal 0 to a positive PID only checks for its existence.
    check(unsafe { libc::kill(pid, 0) } as libc::c_long).map(drop)
}

/// `kill(pid, sig)` to one positive PID: only for kernels without pidfds, right after the
/// caller has checked the process's identity.
pub fn kill(pid: Pid, sig: i32) -> io::Result<()> {
    if pid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    // SAFETY: kill(2) to a positive PID other than init.
    check(unsafe { libc::kill(pid, sig) } as libc::c_long).map(drop)
}

/// `pidfd_open(pid)`: a handle on the process, not on the number. EINVAL for a thread ID
/// that is not a process (the kernel's own definition), ENOSYS before Linux 5.3.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: a raw syscall with integer arguments; the new descriptor is ours.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `pidfd_send_signal(fd, sig)`: to exactly the process behind `fd`, or ESRCH.
pub fn pidfd_send_signal(fd: BorrowedFd, sig: i32) -> io::Result<()> {
    // SAFETY: a valid pidfd; a NULL siginfo means "as kill(2)".
    check(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, std::ptr::null::<libc::siginfo_t>(), 0) })
        .map(drop)
}

/// How a child ended, decoded from a wait status (the one decoding in this crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn from_wait_status(status: i32) -> Exit {
        if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        }
    }

    /// The shell's way of saying it: the code, or 128 + signal.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// `waitpid(pid, WNOHANG)`: the child's raw wait status once it has exited, None while it
/// runs. ECHILD (reaped elsewhere, or not our child) is an error.
pub fn try_wait(pid: Pid) -> io::Result<Option<i32>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on one positive PID with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        match r {
            0 => return Ok(None),
            r if r == pid => return Ok(Some(status)),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
        }
    }
}

/// `waitpid(pid, 0)` once: blocks until the child exits. EINTR comes back as an error.
pub fn wait(pid: Pid) -> io::Result<i32> {
    let mut status = 0;
    // SAFETY: as above.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    if r == pid {
        Ok(status)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What a detached child gets instead of the caller's descriptors.
pub struct Stdio<'a> {
    pub stdin: BorrowedFd<'a>,
    pub stdout: BorrowedFd<'a>,
    pub stderr: BorrowedFd<'a>,
}

extern "C" {
    static environ: *const *const c_char;
}

/// This process's environment, with `extra` (`NAME=VALUE`) replacing or adding entries.
fn environment_with(extra: &[Vec<u8>]) -> io::Result<Vec<CString>> {
    let name_of = |e: &[u8]| e.split(|&b| b == b'=').next().map(<[u8]>::to_vec).unwrap_or_default();
    let extra_names: Vec<Vec<u8>> = extra.iter().map(|e| name_of(e)).collect();
    let mut out = Vec::new();
    // SAFETY: environ is a NULL-terminated array of NUL-terminated strings, read (not
    // kept) while this single-threaded process does nothing else with it.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = std::ffi::CStr::from_ptr(*p).to_bytes();
            if !extra_names.contains(&name_of(entry)) {
                out.push(CString::new(entry).map_err(|_| super::invalid("a NUL in the environment"))?);
            }
            p = p.add(1);
        }
    }
    for e in extra {
        out.push(CString::new(e.clone()).map_err(|_| super::invalid("a NUL byte in an environment variable"))?);
    }
    Ok(out)
}

/// Forks and execs `argv[0]` (a path) with `argv` and the current environment (plus
/// `extra_env`, `NAME=VALUE` entries that replace a variable of the same name), detached
/// the way a supervisor starts a service: a new session (no controlling terminal, no job
/// of the caller's), the given stdin/stdout/stderr and no other descriptor, the default
/// disposition for every signal and an empty signal mask. Returns the child's PID.
pub fn spawn_detached(argv: &[&[u8]], extra_env: &[Vec<u8>], stdio: Stdio) -> io::Result<Pid> {
    let envs: Vec<CString> = environment_with(extra_env)?;
    let mut env_ptrs: Vec<*const c_char> = envs.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(*a).map_err(|_| super::invalid("an argument contains a NUL byte")))
        .collect::<io::Result<_>>()?;
    if args.is_empty() {
        return Err(super::invalid("empty command"));
    }
    let mut ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let (fd0, fd1, fd2) = (stdio.stdin.as_raw_fd(), stdio.stdout.as_raw_fd(), stdio.stderr.as_raw_fd());
    let failure = b"_process: cannot execute the service's shell\n";
    let rtmax = libc::SIGRTMAX();

    // Everything the child needs is prepared above: after fork, only async-signal-safe
    // system calls until execve or _exit.
    // SAFETY: fork in a single-threaded shell; see above for the child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::setsid();
            libc::dup2(fd0, 0);
            libc::dup2(fd1, 1);
            libc::dup2(fd2, 2);
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
                for fd in 3..4096 {
                    libc::close(fd);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            for sig in 1..=rtmax {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            libc::execve(ptrs[0], ptrs.as_ptr(), env_ptrs.as_ptr());
            libc::write(2, failure.as_ptr().cast(), failure.len());
            libc::_exit(127);
        }
    }
    check(pid as libc::c_long).map(|p| p as Pid)
}

/// A pipe, both ends close-on-exec: (read, write).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills the two-int array with new descriptors that we own.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long)?;
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
