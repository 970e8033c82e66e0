//! Starting services: process-start, process-restart, process-supervise.
//!
//! A service's command runs as `zsh -f -c COMMAND` (the same zsh binary as the caller),
//! detached (process_facts::spawn): its own session, stdin from /dev/null, output
//! appended to `$PROCESS_LOG_DIR/NAME.log`, no inherited descriptors, not in the shell's
//! job table. zsh execs the last simple command itself, so the PID recorded is the
//! service's own. Exported variables and the current directory are passed on; shell
//! functions and aliases are not (as with cron or systemd).

use super::control::{forget_if_gone, resolve, stop_process, stop_target, timeout_option, Stopped};
use super::events;
use super::pidfiles::name_operand;
use super::control::TIMEOUT;
use super::pidfiles::NAME;
use super::spec::{Kind, Operand, Opt, Spec, VAR};
use super::{failed, usage, Args, Context, Exit, Failure, Outcome};
use crate::zsh::Value;
use process_facts::pidfd::PidFd;
use process_facts::pidfile::Role;
use process_facts::signal::BlockedSignals;
use process_facts::spawn::{self, spawn_detached, Exit as ChildExit, ReapFirst};
use process_facts::state::Entry;
use process_facts::store::{Dir, Lock};
use process_facts::{proc, Identity};
use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const COMMAND: Operand = Operand { name: "command", kind: Kind::Command, about: "run as zsh -f -c COMMAND, detached, output to $PROCESS_LOG_DIR/NAME.log" };
const WAIT: Opt = Opt { name: "--wait", value: Some(("SECONDS", Kind::Seconds)), about: "how long it must stay up to count as started (default 0.2)" };

pub const START: Spec = Spec {
    purpose: "start a service detached, record its PID file, print its PID",
    operands: &[NAME, COMMAND],
    min: 2,
    max: 2,
    options: &[VAR, WAIT],
    exits: &[(0, "started (process.start)"), (1, "already running, exited at once (its last log line is shown), or refused"), (130, "Ctrl-C")],
    see: "docs/control.md#process-start-new",
};
pub const RESTART: Spec = Spec {
    purpose: "stop a service if it runs (KILL after the timeout), wait, start it again",
    options: &[VAR, WAIT, TIMEOUT, Opt { name: "--delay", value: Some(("SECONDS", Kind::Seconds)), about: "the pause between stop and start (default 1)" }],
    exits: &[(0, "started again (process.restart)"), (1, "the new one exited at once, or refused"), (130, "Ctrl-C")],
    see: "docs/control.md#process-restart",
    ..START
};
pub const SUPERVISE: Spec = Spec {
    purpose: "run a service in the foreground and start it again when it exits, within limits",
    options: &[
        Opt { name: "--max-restarts", value: Some(("N", Kind::Count)), about: "restarts allowed within the window (default $PROCESS_MAX_RESTARTS)" },
        Opt { name: "--window", value: Some(("SECONDS", Kind::Seconds)), about: "restarts older than this are forgiven (default $PROCESS_RESTART_WINDOW)" },
        Opt { name: "--delay", value: Some(("SECONDS", Kind::Seconds)), about: "the pause before a restart (default $PROCESS_RESTART_DELAY)" },
        TIMEOUT,
    ],
    exits: &[(0, "stopped by TERM or HUP (the service stopped with it)"), (1, "gave up: too many restarts"), (130, "stopped by Ctrl-C")],
    see: "docs/control.md#process-supervise-new",
    ..START
};

/// How long a new service must stay up for `process-start` to call it started.
const DEFAULT_STARTUP_WAIT: Duration = Duration::from_millis(200);

/// A service just launched.
struct Launched {
    id: Identity,
    log: PathBuf,
}

/// The log of NAME, opened for appending, in the trusted log directory.
fn open_log(cx: &mut Context, name: &str) -> Result<(std::fs::File, PathBuf), Failure> {
    let dir = Dir::create(&cx.settings().log_dir)?;
    let file_name = format!("{name}.log");
    let file = dir.open_append(&file_name, 0o600)?;
    Ok((file, dir.file_path(&file_name)))
}

/// The zsh running this module: services run under the same shell.
fn zsh_path() -> Vec<u8> {
    std::fs::read_link("/proc/self/exe").map(|p| p.as_os_str().as_bytes().to_vec()).unwrap_or_else(|_| b"/bin/zsh".to_vec())
}

fn launch(cx: &mut Context, name: &str, command: &[u8]) -> Result<Launched, Failure> {
    if command.iter().all(u8::is_ascii_whitespace) {
        return Err(usage("empty command"));
    }
    let (log_file, log) = open_log(cx, name)?;
    let zsh = zsh_path();
    let pid = spawn_detached(&[&zsh, b"-f", b"-c", command], &log_file).map_err(|e| failed(format!("cannot start {name}: {e}")))?;
    // The child cannot be reaped before we look (SIGCHLD waits while a builtin runs), so
    // its stat, zombie or not, gives its start time.
    let starttime = proc::stat(pid).map(|s| s.starttime).unwrap_or(0);
    Ok(Launched { id: Identity { pid, starttime }, log })
}

/// The last non-empty line of a log, to say why a service died.
fn last_log_line(log: &std::path::Path) -> Option<String> {
    let dir = Dir::open(log.parent()?).ok()??;
    let tail = dir.read_tail(log.file_name()?.to_str()?, 4096).ok()?;
    String::from_utf8_lossy(&tail).lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string())
}

/// Waits `wait` for the service to prove it stays up. Err when it exited at once.
fn confirm_started(cx: &mut Context, name: &str, launched: &Launched, wait: Duration) -> Result<(), Failure> {
    let died = match PidFd::open(launched.id) {
        Ok(fd) if wait.is_zero() => fd.has_exited(),
        Ok(fd) => fd.wait_exit(wait, cx)?,
        Err(_) => true,
    };
    if !died {
        return Ok(());
    }
    let status = spawn::try_reap(launched.id.pid).map(|e| format!(" with status {}", e.status())).unwrap_or_default();
    let why = last_log_line(&launched.log).map(|l| format!(": {l}")).unwrap_or_default();
    Err(failed(format!("{name} exited at once{status}{why} (log: {})", launched.log.display())))
}

/// Records a running service: PID file (with identity) and registry entry. When zsh did
/// not exec the command (a compound one), the recorded process is our `zsh -c`: a wrapper.
fn record(cx: &mut Context, name: &str, command: &[u8], launched: &Launched, supervisor: Option<Identity>) -> Result<(), Failure> {
    let settings = cx.settings();
    let launcher = [zsh_path(), b"-f".to_vec(), b"-c".to_vec(), command.to_vec()];
    let still_ours = proc::cmdline(launched.id.pid).is_ok_and(|argv| argv.len() == 4 && argv[1..] == launcher[1..]);
    let role = if still_ours { Role::Wrapper } else { Role::Service };
    settings.pid_files().write(name, launched.id.pid, role, cx)?;
    let entry = Entry {
        pid: launched.id.pid,
        starttime: launched.id.starttime,
        command: String::from_utf8_lossy(command).into_owned(),
        log: launched.log.display().to_string(),
        started_epoch: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        supervisor,
    };
    settings.state().register(name, &entry)?;
    Ok(())
}

fn forget(cx: &mut Context, name: &str) {
    let settings = cx.settings();
    if let Err(e) = settings.pid_files().remove(name, cx) {
        cx.warn(&e.to_string());
    }
    if let Err(e) = settings.state().unregister(name) {
        cx.warn(&e.to_string());
    }
}

/// Takes NAME's start lock and refuses a NAME that already runs, or that a live
/// supervisor will start again: one instance per name, even from concurrent shells.
fn claim(cx: &mut Context, name: &str) -> Result<Lock, Failure> {
    let settings = cx.settings();
    let lock = settings.state().start_lock(name, cx).map_err(|e| match e {
        process_facts::store::StoreError::Busy { .. } => failed(format!("{name} is being started by this shell already")),
        other => other.into(),
    })?;
    if let Some(id) = settings.pid_files().running(name, cx)? {
        return Err(failed(format!("{name} is already running (PID {})", id.pid)));
    }
    let entry = settings.state().entry(name).unwrap_or_else(|e| {
        cx.warn(&e.to_string());
        None
    });
    if let Some(sup) = entry.and_then(|e| e.supervisor).filter(Identity::is_alive) {
        if sup.pid != proc::current_pid() {
            return Err(failed(format!("{name} is supervised by PID {}, which will start it again; stop it with process-stop {name}", sup.pid)));
        }
    }
    Ok(lock)
}

/// Starts NAME and confirms it stayed up; the shared part of start and restart.
fn start_service(cx: &mut Context, name: &str, command: &[u8], wait: Duration) -> Result<Launched, Failure> {
    let launched = launch(cx, name, command)?;
    confirm_started(cx, name, &launched, wait)?;
    record(cx, name, command, &launched, None)?;
    Ok(launched)
}

/// `process-start [-v VAR] [--wait S] NAME COMMAND`: prints the new PID.
pub fn start(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let wait = args.seconds("--wait", DEFAULT_STARTUP_WAIT)?;
    let _lock = claim(cx, &name)?;
    let launched = start_service(cx, &name, args.bytes(1), wait)?;
    let pid = launched.id.pid.to_string();
    cx.emit(events::START, &[&name, &pid]);
    cx.put(args, Value::text(pid))?;
    Ok(Exit::Success)
}

/// `process-restart [-v VAR] NAME COMMAND [--timeout S] [--delay S]`: stops NAME if it
/// runs (KILL after the timeout), waits `--delay` (1 s, as the spec says), starts
/// COMMAND, prints the new PID.
pub fn restart(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let timeout = timeout_option(cx, args)?;
    let delay = args.seconds("--delay", Duration::from_secs(1))?;
    let wait = args.seconds("--wait", DEFAULT_STARTUP_WAIT)?;
    if let Ok(target) = resolve(cx, &name)? {
        stop_target(cx, &target, timeout, true)?;
        process_facts::wait::sleep(cx, delay)?;
    }
    let _lock = claim(cx, &name)?;
    let launched = start_service(cx, &name, args.bytes(1), wait)?;
    let pid = launched.id.pid.to_string();
    cx.emit(events::RESTART, &[&name, &pid]);
    cx.put(args, Value::text(pid))?;
    Ok(Exit::Success)
}

/// `process-supervise NAME COMMAND [--max-restarts N] [--window S] [--delay S]`: runs
/// COMMAND and starts it again whenever it exits, in the foreground (add `&` or `&!`).
/// At most N restarts (`$PROCESS_MAX_RESTARTS`) within a window of S seconds
/// (`$PROCESS_RESTART_WINDOW`, 60), measured on the monotonic clock; restarts older than
/// the window no longer count, so a service that stays up long enough is forgiven.
/// `$PROCESS_RESTART_DELAY` between tries. TERM, HUP or Ctrl-C stop the service and end
/// supervision (status 0, or 130 for Ctrl-C); giving up returns 1.
pub fn supervise(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let command = args.bytes(1).to_vec();
    let settings = cx.settings();
    let max_restarts = match args.value("--max-restarts") {
        Some(v) => v.parse::<u32>().map_err(|_| usage(format!("invalid --max-restarts '{v}': expected a whole number")))?,
        None => settings.max_restarts,
    };
    let window = args.seconds("--window", settings.restart_window)?;
    let delay = args.seconds("--delay", settings.restart_delay)?;
    let stop_timeout = timeout_option(cx, args)?;
    let claimed = claim(cx, &name)?;
    let me = Identity::of(proc::current_pid()).ok_or_else(|| failed("cannot identify the supervising shell"))?;
    cx.sh.keep_shell_signal_mask();
    // The stop signals, except those this shell ignores (a script's background job ignores
    // INT, an interactive shell TERM): a blocked signal is queued even when ignored, and a
    // Ctrl-C meant for another command must not end supervision.
    let stop_signals: Vec<i32> =
        [libc::SIGTERM, libc::SIGINT, libc::SIGHUP].into_iter().filter(|&s| !process_facts::signal::is_ignored(s)).collect();
    let signals = BlockedSignals::block(&stop_signals).map_err(|e| failed(format!("cannot watch for signals: {e}")))?;
    // zsh's SIGCHLD handler reaps any child it sees (running event handlers can let it
    // run): keep it away from the service so that we reap it and learn its exit status.
    // Pending SIGCHLDs reach zsh when supervision ends.
    let _children_ours = BlockedSignals::block(&[libc::SIGCHLD]).map_err(|e| failed(format!("cannot block SIGCHLD: {e}")))?;
    // Shell code (event handlers) unblocks SIGCHLD; this reaps the service first.
    let reaper = ReapFirst::install().map_err(|e| failed(format!("cannot watch SIGCHLD: {e}")))?;

    let mut claimed = Some(claimed);
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    let mut first = true;
    loop {
        let launched = launch(cx, &name, &command)?;
        reaper.watch(launched.id.pid);
        // Watch it before any shell code runs: it may exit meanwhile.
        let fd = PidFd::open(launched.id).ok();
        record(cx, &name, &command, &launched, Some(me))?;
        // Recorded as ours: another start of NAME now sees a live supervisor.
        claimed.take();
        let pid = launched.id.pid.to_string();
        cx.emit(if first { events::START } else { events::RESTART }, &[&name, &pid]);
        first = false;

        // Wait for the service to exit, or for a signal to stop supervising.
        let stop_signal = loop {
            let Some(fd) = &fd else { break None }; // gone before we could watch it
            let wake = signals.wait(cx, &[std::os::fd::AsRawFd::as_raw_fd(fd)], Duration::from_secs(1))?;
            if let Some(sig) = wake.signal {
                break Some(sig);
            }
            if !wake.ready.is_empty() || !launched.id.is_alive() {
                break None;
            }
        };
        if let Some(sig) = stop_signal {
            let outcome = stop_process(cx, launched.id, stop_timeout, true);
            spawn::reap_watched(&reaper, launched.id.pid, &mut process_facts::wait::Plain);
            forget(cx, &name);
            let ev = if matches!(outcome, Ok(Stopped::Killed)) { events::KILL } else { events::STOP };
            cx.emit(ev, &[&name, &pid]);
            return Ok(if sig == libc::SIGINT { Exit::Interrupted } else { Exit::Success });
        }
        let exit = spawn::reap_watched(&reaper, launched.id.pid, cx);
        let code = exit.map(ChildExit::status).map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
        cx.warn(&format!("{name} (PID {pid}) exited with status {code}"));
        cx.emit(events::DIED, &[&name, &pid, &code]);

        let now = Instant::now();
        while restarts.front().is_some_and(|t| now.duration_since(*t) > window) {
            restarts.pop_front();
        }
        if restarts.len() as u32 >= max_restarts {
            forget(cx, &name);
            return Err(failed(format!(
                "{name} exited {} times within {}s; giving up (PROCESS_MAX_RESTARTS={max_restarts})",
                restarts.len() + 1,
                window.as_secs_f64()
            )));
        }
        restarts.push_back(now);
        // The delay before the next try; a signal ends supervision here too.
        let deadline = Instant::now() + delay;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if let Some(sig) = signals.wait(cx, &[], left.min(Duration::from_secs(1)))?.signal {
                forget_if_gone(cx, &name);
                return Ok(if sig == libc::SIGINT { Exit::Interrupted } else { Exit::Success });
            }
        }
    }
}
