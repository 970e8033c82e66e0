//! Readiness: when a service that was just started can be used, not merely when it runs.
//!
//! Four ways of knowing, each waited for on the event itself, beside the service's pidfd
//! (its death ends the wait at once):
//! - [`Check::Port`]: a TCP listener on the port, held by the service or a process of its
//!   tree (not just anyone's). The kernel has no event for `listen`, so sock_diag is asked
//!   every [`PORT_STEP`] (a few µs each).
//! - [`Check::Log`]: a line of its log matching a regular expression: inotify on the log
//!   directory wakes the wait when the log writer appends.
//! - [`Check::Command`]: a command that exits 0, run again [`COMMAND_STEP`] after each
//!   failure; its exit is seen on its pidfd.
//! - [`Check::Notify`]: the sd_notify protocol: the service (or a process of its tree)
//!   sends `READY=1` to the datagram socket named by `$NOTIFY_SOCKET`, so a program written
//!   for systemd's `Type=notify` works unchanged. The kernel says who sent each message.
//!
//! A check is *armed* before the service starts ([`Check::arm`]): the log offset is taken
//! and the socket bound first, so nothing the service does early is missed.

use crate::log::Follower;
use crate::pidfd::PidFd;
use crate::proc::{self, Identity};
use crate::signal::BlockedSignals;
use crate::spawn::{self, Exit};
use crate::store::{Dir, StoreError};
use crate::sys::{self, net, AsFd, AsRawFd, OwnedFd};
use crate::wait::{self, Blocker};
use crate::{ports, tree, Pid};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often a port is looked for.
pub const PORT_STEP: Duration = Duration::from_millis(10);
/// The pause between two tries of a readiness command.
pub const COMMAND_STEP: Duration = Duration::from_millis(100);

/// How a service tells that it is ready.
#[derive(Debug, Clone)]
pub enum Check {
    Port(u16),
    Log(regex::bytes::Regex),
    Command(Vec<u8>),
    Notify,
}

impl Check {
    /// `--ready-log`'s pattern, compiled; Err says what is wrong with it.
    pub fn log(pattern: &str) -> Result<Check, String> {
        regex::bytes::Regex::new(pattern).map(Check::Log).map_err(|e| e.to_string().lines().last().unwrap_or("invalid").trim().to_string())
    }

    /// What is waited for, for messages and the registry: `port 8080`, ...
    pub fn describe(&self) -> String {
        match self {
            Check::Port(p) => format!("port {p}"),
            Check::Log(r) => format!("log /{}/", r.as_str()),
            Check::Command(c) => format!("command {}", String::from_utf8_lossy(c)),
            Check::Notify => "notify".to_string(),
        }
    }

    /// Gets ready to watch for the check before the service starts: the log's size now
    /// (only lines written from now on count), the notify socket bound. `logs` is the log
    /// directory, `sockets` a private directory for the notify socket.
    pub fn arm(&self, service: &str, logs: &Dir, sockets: impl FnOnce() -> Result<Dir, StoreError>, zsh: &[u8], env: &[Vec<u8>]) -> Result<Armed, StoreError> {
        Ok(match self {
            Check::Port(p) => Armed::Port(*p),
            Check::Log(re) => {
                let offset = Follower::size_now(logs, service)?;
                let dir = Dir::open(logs.path())?.ok_or_else(|| StoreError::Untrusted { path: logs.path().into(), why: "it vanished".into() })?;
                Armed::Log { re: re.clone(), follower: Follower::new(dir, service, offset)?, partial: Vec::new() }
            }
            Check::Command(c) => Armed::Command { argv: vec![zsh.to_vec(), b"-f".to_vec(), b"-c".to_vec(), c.clone()], env: env.to_vec() },
            Check::Notify => {
                let dir = sockets()?;
                let name = format!("{service}.sock");
                dir.remove(&name)?;
                let path = dir.file_path(&name);
                // Bound through the checked directory's descriptor; the service is given
                // the path itself.
                let via = PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.fd().as_raw_fd()));
                if path.as_os_str().len() >= 108 {
                    return Err(StoreError::Io {
                        op: "make the notify socket",
                        path,
                        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is longer than a socket address holds (107 bytes)"),
                    });
                }
                let socket = net::notify_socket(&via).map_err(|e| StoreError::Io { op: "make the notify socket", path: path.clone(), source: e })?;
                Armed::Notify { socket, dir, name, path }
            }
        })
    }
}

/// A check made ready to watch one start of a service.
pub enum Armed {
    Port(u16),
    Log { re: regex::bytes::Regex, follower: Follower, partial: Vec<u8> },
    Command { argv: Vec<Vec<u8>>, env: Vec<Vec<u8>> },
    Notify { socket: OwnedFd, dir: Dir, name: String, path: PathBuf },
}

impl Drop for Armed {
    fn drop(&mut self) {
        if let Armed::Notify { dir, name, .. } = self {
            let _ = dir.remove(name);
        }
    }
}

/// Why a service is not ready.
#[derive(Debug)]
pub enum NotReady {
    /// It exited first (with this exit, when it was our child and we reaped it).
    Died(Option<Exit>),
    TimedOut,
    Interrupted,
    /// One of the caller's stop signals arrived.
    Signal(i32),
    Failed(String),
}

impl From<wait::Interrupted> for NotReady {
    fn from(_: wait::Interrupted) -> NotReady {
        NotReady::Interrupted
    }
}

impl Armed {
    /// What the service's environment needs for the check: `NOTIFY_SOCKET`.
    pub fn env(&self) -> Vec<Vec<u8>> {
        match self {
            Armed::Notify { path, .. } => {
                let mut e = b"NOTIFY_SOCKET=".to_vec();
                e.extend_from_slice(path.as_os_str().as_encoded_bytes());
                vec![e]
            }
            _ => Vec::new(),
        }
    }

    /// Waits until `service` is ready, it exits, `timeout` passes, or (with `stop`) one of
    /// the caller's stop signals arrives. SIGCHLD is held meanwhile, so the shell's
    /// handler does not reap the service or a check command before we learn how it exited.
    pub fn wait(&mut self, service: Identity, timeout: Duration, stop: Option<&BlockedSignals>, b: &mut dyn Blocker) -> Result<(), NotReady> {
        let held = BlockedSignals::block(&[libc::SIGCHLD]).map_err(|e| NotReady::Failed(format!("cannot hold SIGCHLD: {e}")))?;
        let result = self.wait_held(service, timeout, stop, b);
        drop(held);
        result
    }

    fn wait_held(&mut self, service: Identity, timeout: Duration, stop: Option<&BlockedSignals>, b: &mut dyn Blocker) -> Result<(), NotReady> {
        let pidfd = PidFd::open(service).map_err(|_| NotReady::Died(spawn::try_reap(service.pid)))?;
        // A readiness command still running when the wait ends is ended with it.
        let mut running: Option<(Identity, PidFd)> = None;
        let result = self.watch(service, &pidfd, Instant::now() + timeout, stop, &mut running, b);
        if let Some((id, fd)) = running {
            let _ = fd.send_signal(libc::SIGKILL);
            let _ = spawn::reap(id.pid, &mut wait::Plain);
        }
        result
    }

    fn watch(
        &mut self,
        service: Identity,
        pidfd: &PidFd,
        deadline: Instant,
        stop: Option<&BlockedSignals>,
        running: &mut Option<(Identity, PidFd)>,
        b: &mut dyn Blocker,
    ) -> Result<(), NotReady> {
        let mut next_try = Instant::now();
        loop {
            // Met, or not, a service that has died is not ready: it may have written its
            // line or sent READY=1 just before.
            let met = self.satisfied(service, running, &mut next_try, b)?;
            if pidfd.has_exited() {
                return Err(NotReady::Died(spawn::try_reap(service.pid)));
            }
            if met {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NotReady::TimedOut);
            }
            if let Some(sig) = stop.and_then(BlockedSignals::take) {
                return Err(NotReady::Signal(sig));
            }
            let mut fds = vec![sys::readable(pidfd.as_raw_fd())];
            if let Some(s) = stop {
                fds.push(sys::readable(s.fd()));
            }
            let step = match self {
                Armed::Port(_) => PORT_STEP,
                Armed::Log { follower, .. } => {
                    fds.push(sys::readable(follower.fd()));
                    left
                }
                Armed::Notify { socket, .. } => {
                    fds.push(sys::readable(socket.as_raw_fd()));
                    left
                }
                Armed::Command { .. } => match running {
                    Some((_, fd)) => {
                        fds.push(sys::readable(fd.as_raw_fd()));
                        left
                    }
                    None => next_try.saturating_duration_since(Instant::now()),
                },
            };
            wait::poll(b, &mut fds, Some(step.min(left)))?;
        }
    }

    /// Whether the check is met now (reading what arrived since the last look).
    fn satisfied(&mut self, service: Identity, running: &mut Option<(Identity, PidFd)>, next_try: &mut Instant, b: &mut dyn Blocker) -> Result<bool, NotReady> {
        match self {
            Armed::Port(port) => {
                let listeners = ports::listeners(*port, false).map_err(|e| NotReady::Failed(format!("cannot list sockets: {e}")))?;
                if listeners.is_empty() {
                    return Ok(false);
                }
                let inodes: Vec<u64> = listeners.iter().map(|l| l.inode).collect();
                let holds = |pids: Vec<Pid>| pids.into_iter().any(|p| ports::holds_any(p, &inodes).unwrap_or(false));
                // Its own tree first (the kernel's child lists: cheap); the session, a
                // scan of every process, only when someone listens there already.
                let mut direct = tree::descendants_deepest_first(service.pid).unwrap_or_default();
                direct.push(service.pid);
                Ok(holds(direct) || holds(tree::service_tree(service.pid).unwrap_or_default()))
            }
            Armed::Log { re, follower, partial } => {
                let new = follower.read_new(b).map_err(|e| NotReady::Failed(e.to_string()))?;
                partial.extend_from_slice(&new);
                let Some(end) = partial.iter().rposition(|&c| c == b'\n') else { return Ok(false) };
                let found = partial[..end].split(|&c| c == b'\n').any(|line| re.is_match(line));
                partial.drain(..=end);
                Ok(found)
            }
            Armed::Notify { socket, .. } => {
                while let Some(message) = net::recv_notify(socket.as_fd()) {
                    let ready = message.data.split(|&c| c == b'\n').any(|l| l == b"READY=1");
                    if ready && sent_by_service(message.sender, service.pid) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Armed::Command { argv, env } => {
                if let Some((id, fd)) = running {
                    if !fd.has_exited() {
                        return Ok(false);
                    }
                    let exit = spawn::try_reap(id.pid);
                    *running = None;
                    if exit == Some(Exit::Code(0)) {
                        return Ok(true);
                    }
                    *next_try = Instant::now() + COMMAND_STEP;
                    return Ok(false);
                }
                if Instant::now() < *next_try {
                    return Ok(false);
                }
                let null = sys::fs::open_at(None, b"/dev/null", sys::fs::flags::WRITE, 0).map_err(|e| NotReady::Failed(e.to_string()))?;
                let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                let pid = spawn::spawn_detached(&args, env, None, null.as_fd()).map_err(|e| NotReady::Failed(format!("cannot run the readiness command: {e}")))?;
                let starttime = proc::stat(pid).map(|s| s.starttime).unwrap_or(0);
                let id = Identity { pid, starttime };
                match PidFd::open(id) {
                    Ok(fd) => *running = Some((id, fd)),
                    // Gone already: reap it now.
                    Err(_) => {
                        let ok = spawn::try_reap(pid) == Some(Exit::Code(0));
                        *next_try = Instant::now() + COMMAND_STEP;
                        return Ok(ok);
                    }
                }
                Ok(false)
            }
        }
    }
}

/// Whether a notification came from the service's tree. A sender that has exited already
/// (`systemd-notify` run from a script) cannot be placed; it is accepted when it was the
/// same user, who alone can reach the socket's private directory anyway.
fn sent_by_service(sender: Option<(Pid, u32)>, service: Pid) -> bool {
    let Some((pid, uid)) = sender else { return false };
    if pid == service || tree::ancestors_of(pid).contains(&service) {
        return true;
    }
    let in_session = proc::stat(pid).map(|s| s.session == service);
    match in_session {
        Ok(yes) => yes,
        Err(_) => uid == sys::process::euid(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Plain;
    use std::os::fd::AsFd as _;

    fn tmp(tag: &str) -> (PathBuf, Dir) {
        let d = std::env::temp_dir().join(format!("ready-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        (d.clone(), Dir::create(&d).unwrap())
    }

    fn start(script: &str, log: &Dir, env: &[Vec<u8>]) -> Identity {
        let out = log.open_append("svc.log", 0o600).unwrap();
        let pid = spawn::spawn_detached(&[b"/bin/sh", b"-c", script.as_bytes()], env, None, out.as_fd()).unwrap();
        Identity { pid, starttime: proc::stat(pid).unwrap().starttime }
    }

    fn finish(id: Identity) {
        let _ = crate::signal::send(id, libc::SIGKILL);
        let _ = spawn::reap(id.pid, &mut Plain);
    }

    #[test]
    fn a_log_line_and_a_death() {
        let (d, logs) = tmp("log");
        std::fs::write(d.join("svc.log"), "listening (an old line)\n").unwrap();
        let check = Check::log("^listening").unwrap();
        let mut armed = check.arm("svc", &logs, || unreachable!(), b"/bin/sh", &[]).unwrap();
        let id = start("sleep 0.2; echo starting; echo listening on 1; sleep 30", &logs, &[]);
        let t = Instant::now();
        armed.wait(id, Duration::from_secs(5), None, &mut Plain).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(150), "the old line must not count");
        finish(id);

        let mut armed = check.arm("svc", &logs, || unreachable!(), b"/bin/sh", &[]).unwrap();
        let id = start("echo oops; exit 3", &logs, &[]);
        match armed.wait(id, Duration::from_secs(5), None, &mut Plain) {
            Err(NotReady::Died(Some(Exit::Code(3)))) => {}
            other => panic!("{other:?}"),
        }
        let mut armed = check.arm("svc", &logs, || unreachable!(), b"/bin/sh", &[]).unwrap();
        let id = start("sleep 30", &logs, &[]);
        assert!(matches!(armed.wait(id, Duration::from_millis(100), None, &mut Plain), Err(NotReady::TimedOut)));
        finish(id);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_command_and_a_notification() {
        let (d, logs) = tmp("cmd");
        let flag = d.join("flag");
        let check = Check::Command(format!("test -e {}", flag.display()).into_bytes());
        let mut armed = check.arm("svc", &logs, || unreachable!(), b"/bin/sh", &[]).unwrap();
        let id = start(&format!("sleep 0.3; touch {}; sleep 30", flag.display()), &logs, &[]);
        armed.wait(id, Duration::from_secs(5), None, &mut Plain).unwrap();
        assert!(flag.exists());
        finish(id);

        let sockets = d.join("sock");
        let mut armed = Check::Notify.arm("svc", &logs, || Dir::create(&sockets), b"/bin/sh", &[]).unwrap();
        let env = armed.env();
        assert!(env[0].starts_with(b"NOTIFY_SOCKET=/"));
        // python3 stands in for a program using sd_notify.
        let script = "sleep 0.2; python3 -c 'import os,socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b\"STATUS=up\\nREADY=1\", os.environ[\"NOTIFY_SOCKET\"])'; sleep 30";
        let id = start(script, &logs, &env);
        armed.wait(id, Duration::from_secs(5), None, &mut Plain).unwrap();
        finish(id);
        drop(armed);
        assert!(!sockets.join("svc.sock").exists(), "the socket goes with the check");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
