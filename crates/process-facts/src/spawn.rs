//! Starting a service the way a supervisor does: a new session (no controlling terminal,
//! no job of the shell's, so no SIGHUP when the shell exits), stdin from /dev/null (or a
//! given pipe), stdout and stderr to its log (or its log writer's pipe), no other
//! inherited descriptor (a caller's `$(...)` never waits on a pipe the service holds),
//! default signal dispositions and an empty mask.
//! And reaping it, with its exit status, even inside a shell that reaps every child.

use crate::sys::process::{self as sysproc, Stdio};
use crate::sys::{fs as sysfs, AsFd, BorrowedFd};
use crate::wait::{Blocker, Flow};
use crate::Pid;
use std::io;

pub use crate::sys::process::Exit;
pub use crate::sys::signal::ReapFirst;

/// Runs `argv[0]` (a path) with `argv`, detached as described above, with `env`
/// (`NAME=VALUE`) added to the environment, reading `stdin` (None: /dev/null) and writing
/// to `output` (opened by the caller: a log through the store, or a pipe). Returns the
/// child's PID.
pub fn spawn_detached(argv: &[&[u8]], env: &[Vec<u8>], stdin: Option<BorrowedFd>, output: BorrowedFd) -> io::Result<Pid> {
    let null = sysfs::open_at(None, b"/dev/null", sysfs::flags::READ, 0)?;
    let stdin = stdin.unwrap_or(null.as_fd());
    sysproc::spawn_detached(argv, env, Stdio { stdin, stdout: output, stderr: output })
}

pub use crate::sys::process::pipe;

/// The child `pid`'s exit if it has exited (reaping it); None while it runs, or when it
/// was reaped elsewhere.
pub fn try_reap(pid: Pid) -> Option<Exit> {
    sysproc::try_wait(pid).ok().flatten().map(Exit::from_wait_status)
}

/// Waits for the child `pid` to exit and reaps it; None when it was reaped elsewhere
/// (ECHILD) or the user pressed Ctrl-C first.
pub fn reap(pid: Pid, b: &mut dyn Blocker) -> Option<Exit> {
    loop {
        let mut result: io::Result<i32> = Err(io::Error::from_raw_os_error(libc::EINTR));
        let flow = b.block(&mut || result = sysproc::wait(pid));
        match result {
            Ok(status) => return Some(Exit::from_wait_status(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted && flow == Flow::Continue => {}
            Err(_) => return None,
        }
    }
}

/// The exit of a child watched by a [`ReapFirst`]: reaped here, or already by its handler.
pub fn reap_watched(reaper: &ReapFirst, pid: Pid, b: &mut dyn Blocker) -> Option<Exit> {
    if let Some(status) = reaper.taken(pid) {
        reaper.unwatch(pid);
        return Some(Exit::from_wait_status(status));
    }
    let exit = reap(pid, b);
    reaper.unwatch(pid);
    exit.or_else(|| reaper.taken(pid).map(Exit::from_wait_status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Plain;

    fn log(tag: &str) -> (std::path::PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("spawn-test-{}-{tag}.log", std::process::id()));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        (path, file)
    }

    #[test]
    fn detached_output_goes_to_the_log() {
        let (path, file) = log("out");
        let pid = spawn_detached(&[b"/bin/sh", b"-c", b"echo hello; echo oops >&2; ls /proc/self/fd; exit 3"], &[], None, file.as_fd()).unwrap();
        assert_eq!(reap(pid, &mut Plain), Some(Exit::Code(3)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("hello") && text.contains("oops"), "{text}");
        // Only 0, 1, 2 and the fd ls itself opens.
        let fds: Vec<&str> = text.lines().skip(2).collect();
        assert!(fds.len() <= 4, "inherited descriptors: {fds:?}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn new_session_and_missing_program() {
        let (path, file) = log("session");
        let pid = spawn_detached(&[b"/bin/sleep", b"5"], &[], None, file.as_fd()).unwrap();
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
        assert_eq!(try_reap(pid), None);
        crate::signal::send(crate::proc::Identity::of(pid).unwrap(), libc::SIGTERM).unwrap();
        assert_eq!(reap(pid, &mut Plain), Some(Exit::Signal(libc::SIGTERM)));
        let pid = spawn_detached(&[b"/nonexistent/program"], &[], None, file.as_fd()).unwrap();
        assert_eq!(reap(pid, &mut Plain), Some(Exit::Code(127)));
        assert_eq!(reap(pid, &mut Plain), None, "already reaped");
        let _ = std::fs::remove_file(&path);
    }
}
