//! What every way of starting a service shares (process-start, process-restart,
//! process-supervise, and the stacks of process-up): the readiness and dependency
//! options, launching it with its log writer, waiting until it is ready, recording it.
//!
//! A service's command runs as `zsh -f -c COMMAND` (the same zsh binary as the caller),
//! detached (process_facts::spawn): its own session, stdin from /dev/null, no inherited
//! descriptors, not in the shell's job table. zsh execs the last simple command itself,
//! so the PID recorded is the service's own. Exported variables and the current directory
//! are passed on; shell functions and aliases are not (as with cron or systemd).
//!
//! Its stdout and stderr are a pipe to a log writer: a second `zsh -f` that loads this
//! module and runs `_process-log-writer`, appending whole lines to
//! `$PROCESS_LOG_DIR/NAME.log` and rotating it by size (process_facts::log). The writer
//! ignores HUP, INT and TERM, and ends when the last process holding the pipe does.

use super::spec::{Kind, Opt};
use super::{failed, usage, Args, Context, Failure};
use process_facts::log::{self, Rotation};
use process_facts::pidfd::PidFd;
use process_facts::pidfile::Role;
use process_facts::ready::{Armed, Check, NotReady};
use process_facts::signal::BlockedSignals;
use process_facts::spawn::{self, spawn_detached, Exit as ChildExit};
use process_facts::state::Entry;
use process_facts::store::{validate_name, Dir};
use process_facts::sys::AsFd;
use process_facts::{proc, Identity};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const READY_PORT: Opt = Opt { name: "--ready-port", value: Some(("PORT", Kind::Port)), about: "ready once the service's tree listens on TCP PORT" };
pub const READY_LOG: Opt = Opt { name: "--ready-log", value: Some(("REGEX", Kind::Text)), about: "ready once a new line of its log matches REGEX" };
pub const READY_CMD: Opt = Opt { name: "--ready-cmd", value: Some(("COMMAND", Kind::Command)), about: "ready once COMMAND (run by zsh -f -c, again every 0.1 s) exits 0" };
pub const READY_NOTIFY: Opt = Opt { name: "--ready-notify", value: None, about: "ready once it sends READY=1 to $NOTIFY_SOCKET (sd_notify)" };
pub const READY_TIMEOUT: Opt =
    Opt { name: "--ready-timeout", value: Some(("SECONDS", Kind::Seconds)), about: "how long readiness may take before the service is stopped (default 60)" };
pub const AFTER: Opt =
    Opt { name: "--after", value: Some(("NAMES", Kind::Service)), about: "start only once these services (comma-separated) are running and ready" };

/// How long a service may take to become ready, unless told.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How many lines of its log are shown when a service fails to start.
const LOG_LINES_ON_FAILURE: usize = 5;
/// How long the log writer is given to write a dead service's last lines.
const LOG_SETTLE: Duration = Duration::from_millis(500);

/// What a start was asked to wait for.
#[derive(Clone)]
pub struct Readiness {
    pub check: Option<Check>,
    pub timeout: Duration,
    pub after: Vec<String>,
}

impl Readiness {
    /// From the `--ready-*` and `--after` options.
    pub fn from_args(args: &Args) -> Result<Readiness, Failure> {
        let mut checks = Vec::new();
        if let Some(p) = args.value(READY_PORT.name) {
            let port = p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| usage(format!("invalid --ready-port '{p}': expected a port, 1 to 65535")))?;
            checks.push(Check::Port(port));
        }
        if let Some(re) = args.value(READY_LOG.name) {
            checks.push(Check::log(re).map_err(|e| usage(format!("invalid --ready-log pattern '{re}': {e}")))?);
        }
        if let Some(c) = args.value(READY_CMD.name) {
            if c.trim().is_empty() {
                return Err(usage("empty --ready-cmd"));
            }
            checks.push(Check::Command(c.as_bytes().to_vec()));
        }
        if args.flag(READY_NOTIFY.name) {
            checks.push(Check::Notify);
        }
        if checks.len() > 1 {
            return Err(usage("give one of --ready-port, --ready-log, --ready-cmd, --ready-notify"));
        }
        let timeout = args.seconds(READY_TIMEOUT.name, DEFAULT_READY_TIMEOUT)?;
        if timeout.is_zero() {
            return Err(usage("invalid --ready-timeout '0': expected seconds above 0"));
        }
        let mut after = Vec::new();
        for name in args.value(AFTER.name).unwrap_or("").split(',').map(str::trim).filter(|n| !n.is_empty()) {
            validate_name(name).map_err(|e| usage(format!("invalid --after: {e}")))?;
            after.push(name.to_string());
        }
        if args.value(AFTER.name).is_some() && after.is_empty() {
            return Err(usage("empty --after: expected service names, separated by commas"));
        }
        Ok(Readiness { check: checks.pop(), timeout, after })
    }
}

/// A service just launched.
pub struct Launched {
    pub id: Identity,
    pub log: PathBuf,
    /// Its log writer, when it has one.
    pub logger: Option<Identity>,
}

/// The zsh running this module: services (and log writers) run under the same shell.
pub fn zsh_path() -> Vec<u8> {
    std::fs::read_link("/proc/self/exe").map(|p| p.as_os_str().as_bytes().to_vec()).unwrap_or_else(|_| b"/bin/zsh".to_vec())
}

/// The directory to put first in `$module_path` for a helper shell to load this module;
/// None when the file is not the one loaded here any more (rebuilt, reinstalled).
pub fn module_dir(cx: &mut Context) -> Option<Vec<u8>> {
    let file = cx.sh.module_file()?;
    if !proc::is_mapped_file(&file) {
        cx.debug(&format!("{} is not the module this shell loaded any more", file.display()));
        return None;
    }
    Some(file.parent()?.parent()?.as_os_str().as_bytes().to_vec())
}

/// The log writer's program: loads the module and runs `_process-log-writer`. Signals a
/// terminal or a stop would send are ignored: it must outlive its service to write the
/// last lines, and ends by itself when the pipe closes.
const LOG_WRITER_SCRIPT: &[u8] = b"trap '' HUP INT TERM QUIT PIPE; module_path=(\"$1\" $module_path); zmodload zsh_process/process && _process-log-writer -- \"${@:2}\"";

/// Where a new process of service `name` writes: a pipe to a new log writer, or, when no
/// writer can be started, the log itself.
pub struct Output {
    /// The log, opened (the writer's own errors go there).
    file: std::fs::File,
    pub log: PathBuf,
    /// The writer and the pipe's write end.
    writer: Option<(Identity, process_facts::sys::OwnedFd)>,
}

impl Output {
    /// For the process's stdout and stderr.
    pub fn fd(&self) -> process_facts::sys::BorrowedFd<'_> {
        self.writer.as_ref().map_or(self.file.as_fd(), |(_, w)| w.as_fd())
    }

    pub fn writer(&self) -> Option<Identity> {
        self.writer.as_ref().map(|(id, _)| *id)
    }
}

/// Opens `name`'s log and starts a log writer for it.
pub fn open_output(cx: &mut Context, name: &str) -> Result<Output, Failure> {
    let settings = cx.settings();
    let dir = Dir::create(&settings.log_dir)?;
    let file_name = log::file_name(name);
    let file = dir.open_append(&file_name, 0o600)?;
    let log = dir.file_path(&file_name);
    let cannot = |e: std::io::Error| failed(format!("cannot start the log writer of {name}: {e}"));
    let Some(module_dir) = module_dir(cx) else {
        cx.debug(&format!("{name}: no module file to start a log writer with; its output goes straight to its log, without rotation"));
        return Ok(Output { file, log, writer: None });
    };
    cx.debug(&format!("{name}: log writer with the module from {}", String::from_utf8_lossy(&module_dir)));
    let (read, write) = spawn::pipe().map_err(cannot)?;
    let rotation = settings.log_rotation;
    let (max, keep) = (rotation.max_size.to_string(), rotation.keep.to_string());
    let zsh = zsh_path();
    let argv: [&[u8]; 10] = [
        &zsh,
        b"-f",
        b"-c",
        LOG_WRITER_SCRIPT,
        b"zsh-process-log",
        &module_dir,
        settings.log_dir.as_os_str().as_bytes(),
        name.as_bytes(),
        max.as_bytes(),
        keep.as_bytes(),
    ];
    let pid = spawn_detached(&argv, &[], Some(read.as_fd()), file.as_fd()).map_err(cannot)?;
    let id = Identity { pid, starttime: proc::stat(pid).map(|s| s.starttime).unwrap_or(0) };
    Ok(Output { file, log, writer: Some((id, write)) })
}

/// Starts `command` as service `name` with `env` added to its environment, its output
/// through a log writer.
pub fn launch(cx: &mut Context, name: &str, command: &[u8], env: &[Vec<u8>]) -> Result<Launched, Failure> {
    if command.iter().all(u8::is_ascii_whitespace) {
        return Err(usage("empty command"));
    }
    let output = open_output(cx, name)?;
    let pid = spawn_detached(&[&zsh_path(), b"-f", b"-c", command], env, None, output.fd()).map_err(|e| failed(format!("cannot start {name}: {e}")))?;
    // The child cannot be reaped before we look (SIGCHLD waits while a builtin runs), so
    // its stat, zombie or not, gives its start time.
    let starttime = proc::stat(pid).map(|s| s.starttime).unwrap_or(0);
    Ok(Launched { id: Identity { pid, starttime }, logger: output.writer(), log: output.log })
}

/// Waits a moment for the log writer of a service that died to write its last lines.
fn settle_log(cx: &mut Context, launched: &Launched) {
    if let Some(fd) = launched.logger.and_then(|id| PidFd::open(id).ok()) {
        let _ = fd.wait_exit(LOG_SETTLE, cx);
    }
}

/// The last lines of a service's log, to say why it failed, and a word on where it is.
pub fn log_end(launched: &Launched, name: &str) -> (String, Vec<String>) {
    let lines = launched
        .log
        .parent()
        .and_then(|d| Dir::open(d).ok().flatten())
        .and_then(|dir| log::last_lines(&dir, name, LOG_LINES_ON_FAILURE).ok())
        .unwrap_or_default();
    let body: Vec<String> = String::from_utf8_lossy(&lines).lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    let said = if body.is_empty() { format!(" (its log, {}, is empty)", launched.log.display()) } else { format!("; the end of its log ({}):", launched.log.display()) };
    (said, body)
}

/// A failure of `name` to start, with the end of its log.
fn start_failure(launched: &Launched, name: &str, why: String) -> Failure {
    let (said, lines) = log_end(launched, name);
    failed(format!("{why}{said}")).with_detail(lines)
}

fn exit_text(exit: Option<ChildExit>) -> String {
    match exit {
        Some(ChildExit::Code(c)) => format!(" with status {c}"),
        Some(ChildExit::Signal(s)) => format!(" (killed by {})", process_facts::signal::signal_name(s)),
        None => String::new(),
    }
}

/// Waits `wait` for a service without a readiness check to prove it stays up.
pub fn confirm_started(cx: &mut Context, name: &str, launched: &Launched, wait: Duration) -> Result<(), Failure> {
    let died = match PidFd::open(launched.id) {
        Ok(fd) if wait.is_zero() => fd.has_exited(),
        Ok(fd) => fd.wait_exit(wait, cx)?,
        Err(_) => true,
    };
    if !died {
        return Ok(());
    }
    let status = exit_text(spawn::try_reap(launched.id.pid));
    settle_log(cx, launched);
    Err(start_failure(launched, name, format!("{name} exited at once{status}")))
}

/// Why a start failed to become ready, for the caller to report (the service has been
/// stopped by then).
pub enum NotStarted {
    /// Said in full (died, timed out, an error); the failure to return.
    Failed(Failure),
    /// A stop signal of the caller's (supervise) arrived meanwhile.
    Signal(i32),
}

/// Waits until `launched` is ready by `armed`; when it dies first, the time runs out or the
/// user presses Ctrl-C, stops everything it started and says why, with its log's end.
pub fn await_ready(
    cx: &mut Context,
    name: &str,
    launched: &Launched,
    check: &Check,
    armed: &mut Armed,
    timeout: Duration,
    stop: Option<&BlockedSignals>,
) -> Result<(), NotStarted> {
    let waited = Instant::now();
    let outcome = armed.wait(launched.id, timeout, stop, cx);
    let why = match &outcome {
        Ok(()) => {
            cx.debug(&format!("{name} ready ({}) after {:.3}s", check.describe(), waited.elapsed().as_secs_f64()));
            return Ok(());
        }
        Err(NotReady::Died(exit)) => format!("{name} exited{} before it was ready ({})", exit_text(*exit), check.describe()),
        Err(NotReady::TimedOut) => format!("{name} was not ready within {}s ({}); stopped it", timeout.as_secs_f64(), check.describe()),
        Err(NotReady::Failed(e)) => format!("cannot tell whether {name} is ready: {e}; stopped it"),
        Err(NotReady::Interrupted) | Err(NotReady::Signal(_)) => String::new(),
    };
    let settings = cx.settings();
    if let Err(f) = super::control::stop_process(cx, launched.id, settings.default_timeout, true) {
        if !f.is_interrupted() {
            cx.report(&f);
        }
    }
    // Reap it here (SIGCHLD is still ours to take), then let its writer finish.
    let _ = spawn::try_reap(launched.id.pid);
    settle_log(cx, launched);
    match outcome {
        Err(NotReady::Interrupted) => Err(NotStarted::Failed(Failure::interrupted())),
        Err(NotReady::Signal(sig)) => Err(NotStarted::Signal(sig)),
        _ => Err(NotStarted::Failed(start_failure(launched, name, why))),
    }
}

/// Arms `check` for a start of `name`: before it is launched.
pub fn arm(cx: &mut Context, name: &str, check: &Check, env: &[Vec<u8>]) -> Result<Armed, Failure> {
    let settings = cx.settings();
    let logs = Dir::create(&settings.log_dir)?;
    let notify_dir = super::settings::notify_dir(cx.sh);
    Ok(check.arm(name, &logs, || Dir::create(&notify_dir), &zsh_path(), env)?)
}

/// Everything a registry entry says besides the launch itself.
#[derive(Default)]
pub struct Recorded {
    pub supervisor: Option<Identity>,
    pub check: Option<String>,
    pub after: Vec<String>,
    pub stack: Option<String>,
    pub restarts: u32,
}

pub fn epoch_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Records a running service: PID file (with identity) and registry entry. When zsh did
/// not exec the command (a compound one), the recorded process is our `zsh -c`: a wrapper.
/// Ready at once when it has no check; otherwise [`mark_ready`] says so later.
pub fn record(cx: &mut Context, name: &str, command: &[u8], launched: &Launched, rec: Recorded) -> Result<(), Failure> {
    let settings = cx.settings();
    let launcher = [zsh_path(), b"-f".to_vec(), b"-c".to_vec(), command.to_vec()];
    let still_ours = proc::cmdline(launched.id.pid).is_ok_and(|argv| argv.len() == 4 && argv[1..] == launcher[1..]);
    let role = if still_ours { Role::Wrapper } else { Role::Service };
    settings.pid_files().write(name, launched.id.pid, role, cx)?;
    let now = epoch_now();
    let mut entry = Entry {
        pid: launched.id.pid,
        starttime: launched.id.starttime,
        command: String::new(),
        raw_command: None,
        log: launched.log.display().to_string(),
        started_epoch: now,
        supervisor: rec.supervisor,
        ready_epoch: rec.check.is_none().then_some(now),
        check: rec.check.unwrap_or_default(),
        restarts: rec.restarts,
        after: rec.after,
        stack: rec.stack,
        gave_up: false,
        logger: launched.logger,
        stop_requested: false,
    };
    entry.set_command(command);
    settings.state().register(name, &entry)?;
    Ok(())
}

/// Notes in the registry that the service started as `launched` is ready.
pub fn mark_ready(cx: &mut Context, name: &str, launched: &Launched) -> Result<(), Failure> {
    let now = epoch_now();
    cx.settings().state().update(name, launched.id.pid, &mut |e| e.ready_epoch = Some(now), cx)?;
    Ok(())
}

/// Removes NAME's PID file and registry entry.
pub fn forget(cx: &mut Context, name: &str) {
    let settings = cx.settings();
    if let Err(e) = settings.pid_files().remove(name, cx) {
        cx.warn(&e.to_string());
    }
    if let Err(e) = settings.state().unregister(name) {
        cx.warn(&e.to_string());
    }
}

/// Whether service `name` is up: its recorded process alive, and ready if it has a check.
enum DependencyState {
    Ready,
    /// Running (or being restarted by its supervisor), not ready yet.
    Starting,
    Down,
}

fn dependency_state(cx: &mut Context, name: &str) -> Result<DependencyState, Failure> {
    let settings = cx.settings();
    let entry = settings.state().entry(name)?;
    let running = settings.pid_files().running(name, cx)?;
    Ok(match (entry, running) {
        (Some(e), Some(id)) if e.identity() == id => {
            if e.ready_epoch.is_some() {
                DependencyState::Ready
            } else {
                DependencyState::Starting
            }
        }
        // Recorded with process-write-pid, or by an older start: running is all we know.
        (_, Some(_)) => DependencyState::Ready,
        (Some(e), None) if !e.gave_up && e.supervisor.is_some_and(|s| s.is_alive()) => DependencyState::Starting,
        _ => DependencyState::Down,
    })
}

/// Waits until every service in `after` is running and ready, for at most `timeout`
/// (watching the registry: each change wakes the wait). One that is not running at all,
/// and has no supervisor bringing it back, is an error at once. With `stop`, one of the
/// caller's stop signals ends the wait: Ok(Some(signal)).
pub fn await_dependencies(cx: &mut Context, name: &str, after: &[String], timeout: Duration, stop: Option<&BlockedSignals>) -> Result<Option<i32>, Failure> {
    if after.iter().any(|a| a == name) {
        return Err(usage(format!("{name} cannot be started after itself")));
    }
    let deadline = Instant::now() + timeout;
    let mut watch: Option<(process_facts::sys::OwnedFd, Dir)> = None;
    loop {
        let mut waiting = Vec::new();
        for dep in after {
            match dependency_state(cx, dep)? {
                DependencyState::Ready => {}
                DependencyState::Starting => waiting.push(dep.as_str()),
                DependencyState::Down => return Err(failed(format!("{dep} is not running; {name} is to start after it (--after {dep})"))),
            }
        }
        if waiting.is_empty() {
            return Ok(None);
        }
        if let Some(sig) = stop.and_then(BlockedSignals::take) {
            return Ok(Some(sig));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(failed(format!("{} not ready within {}s; {name} is to start after it", waiting.join(", "), timeout.as_secs_f64())));
        }
        if watch.is_none() {
            let dir = cx.settings().state().registry_dir()?;
            watch = Some((registry_watch(&dir)?, dir));
        }
        let fd = watch.as_ref().map(|(fd, _)| std::os::fd::AsRawFd::as_raw_fd(fd)).unwrap_or(-1);
        let mut fds = vec![process_facts::sys::readable(fd)];
        if let Some(s) = stop {
            fds.push(process_facts::sys::readable(s.fd()));
        }
        // A supervisor's restart delay passes without a registry change: look at least
        // once a second.
        process_facts::wait::poll(cx, &mut fds, Some(left.min(Duration::from_secs(1))))?;
        if let Some((fd, _)) = &watch {
            let _ = process_facts::sys::fs::inotify_read(fd.as_fd());
        }
    }
}

/// An inotify descriptor that wakes when an entry of the registry is written or removed.
pub fn registry_watch(dir: &Dir) -> Result<process_facts::sys::OwnedFd, Failure> {
    use process_facts::sys::fs::{self as sysfs, watch};
    let ino = sysfs::inotify().map_err(|e| failed(format!("cannot watch {}: {e}", dir.path().display())))?;
    sysfs::inotify_watch(ino.as_fd(), dir.fd(), b"", watch::MOVED_TO | watch::CREATE | watch::CLOSE_WRITE | watch::DELETE)
        .map_err(|e| failed(format!("cannot watch {}: {e}", dir.path().display())))?;
    Ok(ino)
}

/// `_process-log-writer LOG_DIR NAME MAX_SIZE KEEP`: the log writer of a service (see the
/// module documentation); reads its standard input until every writer has closed it.
pub fn log_writer(cx: &mut Context, args: &Args) -> super::Outcome {
    let name = args.text(1)?.to_string();
    validate_name(&name)?;
    let max_size = args.text(2)?.parse::<u64>().map_err(|_| usage("invalid size"))?;
    let keep = args.text(3)?.parse::<u32>().map_err(|_| usage("invalid count"))?;
    let dir = std::path::Path::new(std::ffi::OsStr::from_bytes(args.bytes(0)));
    log::write_from(std::io::stdin().as_fd(), dir, &name, Rotation { max_size, keep }, cx)?;
    Ok(super::Exit::Success)
}
