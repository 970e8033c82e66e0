//! Starting services: process-start, process-restart, process-supervise.
//!
//! A service's command runs as `zsh -f -c COMMAND` (the same zsh binary as the caller),
//! detached (process_facts::spawn): its own session, stdin from /dev/null, output
//! appended to `$PROCESS_LOG_DIR/NAME.log`, no inherited descriptors, not in the shell's
//! job table. zsh execs the last simple command itself, so the PID recorded is the
//! service's own. Exported variables and the current directory are passed on; shell
//! functions and aliases are not (as with cron or systemd).

use super::config::{self, pid_dir};
use super::control::{resolve, stop_process, stop_target, timeout_option, Stopped};
use super::events;
use super::pidfiles::{name_operand, to_failure};
use super::{failed, put, sleep_interruptibly, usage, Args, Failure, OptSpec, Outcome, STATUS_INTERRUPTED, STATUS_OK};
use crate::zsh::{Shell, Value};
use process_facts::pidfd::PidFd;
use process_facts::signalfd::{self, BlockedSignals};
use process_facts::spawn::{reap, spawn_detached, Exit, ReapFirst};
use process_facts::state::Entry;
use process_facts::{proc, Identity};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const START: OptSpec = OptSpec { valued: &["-v", "--wait"], flags: &[], operands: &["name", "command"], min: 2, max: 2 };
pub const RESTART: OptSpec =
    OptSpec { valued: &["-v", "--wait", "--timeout", "--delay"], flags: &[], operands: &["name", "command"], min: 2, max: 2 };
pub const SUPERVISE: OptSpec = OptSpec {
    valued: &["--max-restarts", "--window", "--delay", "--timeout"],
    flags: &[],
    operands: &["name", "command"],
    min: 2,
    max: 2,
};

/// How long a new service must stay up for `process-start` to call it started.
const DEFAULT_STARTUP_WAIT: Duration = Duration::from_millis(200);

/// A service just launched.
struct Launched {
    id: Identity,
    log: PathBuf,
}

/// The log of NAME, in a private directory.
fn log_path(sh: &mut Shell, name: &str) -> Result<PathBuf, Failure> {
    let dir = config::log_dir(sh);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| failed(format!("cannot create log directory {}: {e}", dir.display())))?;
    Ok(dir.join(format!("{name}.log")))
}
use std::os::unix::fs::DirBuilderExt;

/// The zsh running this module: services run under the same shell.
fn zsh_path() -> Vec<u8> {
    std::fs::read_link("/proc/self/exe")
        .map(|p| std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec())
        .unwrap_or_else(|_| b"/bin/zsh".to_vec())
}

fn launch(sh: &mut Shell, name: &str, command: &str) -> Result<Launched, Failure> {
    if command.trim().is_empty() {
        return Err(usage("empty command"));
    }
    let log = log_path(sh, name)?;
    let zsh = zsh_path();
    let pid = spawn_detached(&[&zsh, b"-f", b"-c", command.as_bytes()], &log).map_err(|e| failed(format!("cannot start {name}: {e}")))?;
    // The child cannot be reaped before we look (SIGCHLD waits while a builtin runs), so
    // its stat, zombie or not, gives its start time.
    let starttime = proc::stat(pid).map(|s| s.starttime).unwrap_or(0);
    Ok(Launched { id: Identity { pid, starttime }, log })
}

/// The last non-empty line of a log, to say why a service died.
fn last_log_line(log: &PathBuf) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let tail = &text[text.len().saturating_sub(4096)..];
    String::from_utf8_lossy(tail).lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string())
}

/// Waits `wait` for the service to prove it stays up. Err when it exited at once.
fn confirm_started(sh: &mut Shell, name: &str, launched: &Launched, wait: Duration) -> Result<(), Failure> {
    let died = match PidFd::open(launched.id) {
        Ok(fd) => {
            if wait.is_zero() {
                fd.has_exited()
            } else {
                match fd.wait_exit(wait, Duration::from_millis(50), &mut || sh.interrupted()) {
                    process_facts::pidfd::WaitOutcome::Exited => true,
                    process_facts::pidfd::WaitOutcome::TimedOut => false,
                    process_facts::pidfd::WaitOutcome::Interrupted => {
                        return Err(Failure::Failed(String::new(), STATUS_INTERRUPTED));
                    }
                }
            }
        }
        Err(_) => true,
    };
    if !died {
        return Ok(());
    }
    let status = reap(launched.id.pid, true).map(Exit::status).map(|s| format!(" with status {s}")).unwrap_or_default();
    let why = last_log_line(&launched.log).map(|l| format!(": {l}")).unwrap_or_default();
    Err(failed(format!("{name} exited at once{status}{why} (log: {})", launched.log.display())))
}

/// Records a running service: PID file (with identity) and registry entry.
fn record(sh: &mut Shell, name: &str, command: &str, launched: &Launched, supervisor: Option<Identity>) -> Result<(), Failure> {
    pid_dir(sh).write(name, launched.id.pid).map_err(to_failure)?;
    let entry = Entry {
        pid: launched.id.pid,
        starttime: launched.id.starttime,
        command: command.to_string(),
        log: launched.log.display().to_string(),
        started_epoch: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        supervisor,
    };
    config::state(sh).register(name, &entry).map_err(to_failure)
}

fn forget(sh: &mut Shell, name: &str) {
    let _ = pid_dir(sh).remove(name);
    config::state(sh).unregister(name);
}

/// Starts NAME and confirms it stayed up; the shared part of start and restart.
fn start_service(sh: &mut Shell, name: &str, command: &str, wait: Duration) -> Result<Launched, Failure> {
    let launched = launch(sh, name, command)?;
    confirm_started(sh, name, &launched, wait)?;
    record(sh, name, command, &launched, None)?;
    Ok(launched)
}

/// `process-start [-v VAR] [--wait S] NAME COMMAND`: prints the new PID.
pub fn start(sh: &mut Shell, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let wait = config::seconds_option(args, "--wait", DEFAULT_STARTUP_WAIT)?;
    if let Some(id) = pid_dir(sh).running(&name).map_err(to_failure)? {
        return Err(failed(format!("{name} is already running (PID {})", id.pid)));
    }
    let launched = start_service(sh, &name, args.operand(1), wait)?;
    let pid = launched.id.pid.to_string();
    events::emit(sh, events::START, &[&name, &pid]);
    put(sh, args, Value::Scalar(pid))?;
    Ok(STATUS_OK)
}

/// `process-restart [-v VAR] NAME COMMAND [--timeout S] [--delay S]`: stops NAME if it
/// runs (KILL after the timeout), waits `--delay` (1 s, as the spec says), starts
/// COMMAND, prints the new PID.
pub fn restart(sh: &mut Shell, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let timeout = timeout_option(sh, args)?;
    let delay = config::seconds_option(args, "--delay", Duration::from_secs(1))?;
    let wait = config::seconds_option(args, "--wait", DEFAULT_STARTUP_WAIT)?;
    if let Ok(target) = resolve(sh, &name)? {
        stop_target(sh, &target, timeout, true)?;
        if !sleep_interruptibly(sh, delay) {
            return Ok(STATUS_INTERRUPTED);
        }
    }
    let launched = start_service(sh, &name, args.operand(1), wait)?;
    let pid = launched.id.pid.to_string();
    events::emit(sh, events::RESTART, &[&name, &pid]);
    put(sh, args, Value::Scalar(pid))?;
    Ok(STATUS_OK)
}

/// `process-supervise NAME COMMAND [--max-restarts N] [--window S] [--delay S]`: runs
/// COMMAND and starts it again whenever it exits, in the foreground (add `&` or `&!`).
/// At most N restarts (`$PROCESS_MAX_RESTARTS`) within a window of S seconds
/// (`$PROCESS_RESTART_WINDOW`, 60), measured on the monotonic clock; restarts older than
/// the window no longer count, so a service that stays up long enough is forgiven.
/// `$PROCESS_RESTART_DELAY` between tries. TERM, HUP or Ctrl-C stop the service and end
/// supervision (status 0, or 130 for Ctrl-C); giving up returns 1.
pub fn supervise(sh: &mut Shell, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let command = args.operand(1).to_string();
    let max_restarts = match args.value("--max-restarts") {
        Some(v) => v.parse::<u32>().map_err(|_| usage(format!("invalid --max-restarts '{v}': expected a whole number")))?,
        None => config::number_setting(sh, "PROCESS_MAX_RESTARTS", 3.0) as u32,
    };
    let default_window = config::setting_seconds(sh, "PROCESS_RESTART_WINDOW", 60.0);
    let window = config::seconds_option(args, "--window", default_window)?;
    let default_delay = config::setting_seconds(sh, "PROCESS_RESTART_DELAY", 5.0);
    let delay = config::seconds_option(args, "--delay", default_delay)?;
    let stop_timeout = timeout_option(sh, args)?;
    if let Some(id) = pid_dir(sh).running(&name).map_err(to_failure)? {
        return Err(failed(format!("{name} is already running (PID {})", id.pid)));
    }
    let me = Identity::of(proc::current_pid()).ok_or_else(|| failed("cannot identify the supervising shell"))?;
    sh.keep_shell_signal_mask();
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

    let mut restarts: VecDeque<Instant> = VecDeque::new();
    let mut first = true;
    loop {
        let launched = launch(sh, &name, &command)?;
        reaper.watch(launched.id.pid);
        // Watch it before any shell code runs: it may exit meanwhile.
        let fd = PidFd::open(launched.id).ok();
        record(sh, &name, &command, &launched, Some(me))?;
        let pid = launched.id.pid.to_string();
        events::emit(sh, if first { events::START } else { events::RESTART }, &[&name, &pid]);
        first = false;

        // Wait for the service to exit, or for a signal to stop supervising.
        let stop_signal = loop {
            if fd.is_none() {
                break None; // gone before we could watch it
            }
            let fds: Vec<i32> = fd.iter().map(|f| f.raw_fd()).collect();
            let wake = signalfd::wait(&fds, Some(&signals), 1000).map_err(|e| failed(format!("wait failed: {e}")))?;
            if let Some(sig) = wake.signal {
                break Some(sig);
            }
            if !wake.exited.is_empty() || fd.is_none() || !launched.id.is_alive() {
                break None;
            }
        };
        if let Some(sig) = stop_signal {
            let outcome = stop_process(sh, launched.id, stop_timeout, true);
            reaper.reap(launched.id.pid, false);
            forget(sh, &name);
            let ev = if matches!(outcome, Ok(Stopped::Killed)) { events::KILL } else { events::STOP };
            events::emit(sh, ev, &[&name, &pid]);
            return Ok(if sig == libc::SIGINT { STATUS_INTERRUPTED } else { STATUS_OK });
        }
        let exit = reaper.reap(launched.id.pid, true);
        let code = exit.map(Exit::status).map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
        sh.warn("process-supervise", &format!("{name} (PID {pid}) exited with status {code}"));
        events::emit(sh, events::DIED, &[&name, &pid, &code]);

        let now = Instant::now();
        while restarts.front().is_some_and(|t| now.duration_since(*t) > window) {
            restarts.pop_front();
        }
        if restarts.len() as u32 >= max_restarts {
            forget(sh, &name);
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
            let wake = signalfd::wait(&[], Some(&signals), left.as_millis().clamp(1, 1000) as i32)
                .map_err(|e| failed(format!("wait failed: {e}")))?;
            if let Some(sig) = wake.signal {
                forget(sh, &name);
                return Ok(if sig == libc::SIGINT { STATUS_INTERRUPTED } else { STATUS_OK });
            }
        }
    }
}

