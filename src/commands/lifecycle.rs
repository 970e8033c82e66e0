//! Starting services: process-start, process-restart, process-supervise. How a service
//! is launched, logged, waited for and recorded is in [`super::service`].

use super::control::{announce_stop, forget_if_gone, kill_now, resolve, start_lock, stop_leftovers, stop_process, stop_target_locked, timeout_option, Stopped, KILL_GRACE, TIMEOUT};
use super::events;
use super::pidfiles::{name_operand, NAME};
use super::service::{self, await_dependencies, await_ready, confirm_started, forget, launch, mark_ready, record, registry_watch, Launched, NotStarted, Readiness, Recorded};
use super::spec::{Kind, Operand, Opt, Spec, VAR};
use super::{failed, usage, Args, Context, Exit, Failure, Outcome};
use crate::zsh::Value;
use process_facts::pidfd::PidFd;
use process_facts::signal::BlockedSignals;
use process_facts::spawn::{self, Exit as ChildExit, ReapFirst};
use process_facts::store::Lock;
use process_facts::{proc, Identity};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A command's own options, then the readiness and dependency options every start takes.
macro_rules! with_readiness {
    ($($own:expr),* $(,)?) => {
        &[$($own,)* service::READY_PORT, service::READY_LOG, service::READY_CMD, service::READY_NOTIFY, service::READY_TIMEOUT, service::AFTER]
    };
}

const COMMAND: Operand = Operand { name: "command", kind: Kind::Command, about: "run as zsh -f -c COMMAND, detached, output to $PROCESS_LOG_DIR/NAME.log" };
const WAIT: Opt = Opt { name: "--wait", value: Some(("SECONDS", Kind::Seconds)), about: "without a readiness check: how long it must stay up to count as started (default 0.2)" };

pub const START: Spec = Spec {
    purpose: "start a service detached, record its PID file, print its PID once it is up (or ready)",
    operands: &[NAME, COMMAND],
    min: 2,
    max: 2,
    options: with_readiness![VAR, WAIT],
    exits: &[
        (0, "started, and ready when a --ready-* check was given (process.start)"),
        (1, "already running, exited at once or before it was ready, not ready in time (it is stopped; its log's last lines are shown), a service of --after not running, or refused"),
        (130, "Ctrl-C (what was started is stopped)"),
    ],
    see: "docs/services.md#readiness",
};
pub const RESTART: Spec = Spec {
    purpose: "stop a service if it runs (KILL after the timeout), wait, start it again (its recorded command when none is given)",
    min: 1,
    options: with_readiness![
        VAR,
        WAIT,
        TIMEOUT,
        Opt { name: "--delay", value: Some(("SECONDS", Kind::Seconds)), about: "the pause between stop and start (default 1)" }
    ],
    exits: &[(0, "started again (process.restart)"), (1, "the new one exited at once or was not ready, no command recorded, or refused"), (130, "Ctrl-C")],
    see: "docs/control.md#process-restart",
    ..START
};
pub const SUPERVISE: Spec = Spec {
    purpose: "run a service in the foreground and start it again when it exits, within limits",
    options: with_readiness![
        Opt { name: "--max-restarts", value: Some(("N", Kind::Count)), about: "restarts allowed within the window (default $PROCESS_MAX_RESTARTS)" },
        Opt { name: "--window", value: Some(("SECONDS", Kind::Seconds)), about: "restarts older than this are forgiven (default $PROCESS_RESTART_WINDOW)" },
        Opt { name: "--delay", value: Some(("SECONDS", Kind::Seconds)), about: "the pause before a restart (default $PROCESS_RESTART_DELAY)" },
        TIMEOUT,
        Opt { name: "--stack", value: Some(("STACK", Kind::Text)), about: "record it as an entry of this stack (process-up does)" }
    ],
    exits: &[
        (0, "stopped by TERM or HUP (the service stopped with it)"),
        (1, "gave up: too many restarts (or failed readiness checks); or a service of --after not running"),
        (130, "stopped by Ctrl-C"),
    ],
    see: "docs/control.md#process-supervise-new",
    ..START
};

/// How long a new service must stay up for `process-start` to call it started.
const DEFAULT_STARTUP_WAIT: Duration = Duration::from_millis(200);

/// Takes NAME's start lock and refuses a NAME that already runs, or that a live
/// supervisor will start again: one instance per name, even from concurrent shells.
fn claim(cx: &mut Context, name: &str) -> Result<Lock, Failure> {
    let lock = start_lock(cx, name)?;
    check_free(cx, name)?;
    Ok(lock)
}

/// Refuses a NAME that runs, or that a live supervisor will start again.
fn check_free(cx: &mut Context, name: &str) -> Result<(), Failure> {
    let settings = cx.settings();
    if let Some(id) = settings.pid_files().running(name, cx)? {
        return Err(failed(format!("{name} is already running (PID {})", id.pid)));
    }
    let entry = settings.state().entry(name).unwrap_or_else(|e| {
        cx.warn(&e.to_string());
        None
    });
    if let Some(sup) = entry.filter(|e| !e.gave_up).and_then(|e| e.supervisor).filter(Identity::is_alive) {
        if sup.pid != proc::current_pid() {
            return Err(failed(format!("{name} is supervised by PID {}, which will start it again; stop it with process-stop {name}", sup.pid)));
        }
    }
    Ok(())
}

/// Starts NAME once the services it comes after are ready, then waits until it is up:
/// ready by its check, or up for `wait` without one. Records it; on failure nothing of it
/// is left running or recorded.
fn start_service(cx: &mut Context, name: &str, command: &[u8], wait: Duration, readiness: &Readiness, rec: Recorded) -> Result<Launched, Failure> {
    await_dependencies(cx, name, &readiness.after, readiness.timeout, None)?;
    let rec = Recorded { after: readiness.after.clone(), check: readiness.check.as_ref().map(|c| c.describe()), ..rec };
    let Some(check) = &readiness.check else {
        let launched = launch(cx, name, command, &[])?;
        confirm_started(cx, name, &launched, wait)?;
        record(cx, name, command, &launched, rec)?;
        return Ok(launched);
    };
    let mut armed = service::arm(cx, name, check, &[])?;
    let launched = launch(cx, name, command, &armed.env())?;
    record(cx, name, command, &launched, rec)?;
    match await_ready(cx, name, &launched, check, &mut armed, readiness.timeout, None) {
        Ok(()) => mark_ready(cx, name, &launched)?,
        Err(NotStarted::Failed(f)) => {
            forget(cx, name);
            return Err(f);
        }
        Err(NotStarted::Signal(_)) => {
            forget(cx, name);
            return Err(Failure::interrupted());
        }
    }
    Ok(launched)
}

/// `process-start [-v VAR] [--wait S] [--ready-* ...] [--after NAMES] NAME COMMAND`:
/// prints the new PID.
pub fn start(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let wait = args.seconds("--wait", DEFAULT_STARTUP_WAIT)?;
    let readiness = Readiness::from_args(args)?;
    let launched = {
        let _lock = claim(cx, &name)?;
        start_service(cx, &name, args.bytes(1), wait, &readiness, Recorded::default())?
    };
    // Handlers run without the lock: one may start, stop or restart NAME itself.
    let pid = launched.id.pid.to_string();
    cx.emit(events::START, &[&name, &pid]);
    cx.put(args, Value::text(pid))?;
    Ok(Exit::Success)
}

/// `process-restart [-v VAR] NAME [COMMAND] [--timeout S] [--delay S] [--ready-* ...]`:
/// stops NAME if it runs (KILL after the timeout), waits `--delay` (1 s, as the spec
/// says), starts COMMAND (or the one recorded for NAME), prints the new PID. An entry of a
/// stack is restarted as its stack runs it: supervised, with its Procfile options.
pub fn restart(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let timeout = timeout_option(cx, args)?;
    let delay = args.seconds("--delay", Duration::from_secs(1))?;
    let wait = args.seconds("--wait", DEFAULT_STARTUP_WAIT)?;
    let readiness = Readiness::from_args(args)?;
    let entry = cx.settings().state().entry(&name)?;
    if args.count() == 1 {
        if let Some(stack) = entry.as_ref().and_then(|e| e.stack.clone()) {
            return super::stack::restart_entry(cx, args, &stack, &name, timeout);
        }
    }
    let command = match (args.count(), &entry) {
        (2, _) => args.bytes(1).to_vec(),
        (_, Some(e)) if !e.command.is_empty() => e.command_bytes(),
        _ => return Err(usage(format!("no command recorded for {name}: give one (process-restart {name} COMMAND)"))),
    };
    // One lock over the stop and the start: no other shell's start or stop between them.
    let lock = start_lock(cx, &name)?;
    let stopped = match resolve(cx, &name)? {
        Ok(target) => {
            let how = stop_target_locked(cx, &target, timeout, true)?;
            Some((target, how))
        }
        Err(_) => None,
    };
    let started = (|| {
        if stopped.is_some() {
            process_facts::wait::sleep(cx, delay)?;
        }
        check_free(cx, &name)?;
        start_service(cx, &name, &command, wait, &readiness, Recorded::default())
    })();
    drop(lock);
    if let Some((target, how)) = &stopped {
        announce_stop(cx, target, *how);
    }
    let launched = started?;
    let pid = launched.id.pid.to_string();
    cx.emit(events::RESTART, &[&name, &pid]);
    cx.put(args, Value::text(pid))?;
    Ok(Exit::Success)
}

/// Marks NAME as given up on: no PID file, and a registry entry kept (as dead) so that
/// process-status can say what happened.
fn give_up(cx: &mut Context, name: &str, pid: process_facts::Pid) {
    let settings = cx.settings();
    if let Err(e) = settings.pid_files().remove(name, cx) {
        cx.warn(&e.to_string());
    }
    if let Err(e) = settings.state().update(name, pid, &mut |e| e.gave_up = true, cx) {
        cx.warn(&e.to_string());
    }
}

/// What process-supervise was asked to do, checked: also how process-up checks each
/// Procfile entry's options before it starts anything.
pub struct SuperviseOptions {
    pub max_restarts: u32,
    pub window: Duration,
    pub delay: Duration,
    pub stop_timeout: Duration,
    pub readiness: Readiness,
    pub stack: Option<String>,
}

impl SuperviseOptions {
    pub fn from_args(cx: &mut Context, args: &Args) -> Result<SuperviseOptions, Failure> {
        let settings = cx.settings();
        let max_restarts = match args.value("--max-restarts") {
            Some(v) => v.parse::<u32>().map_err(|_| usage(format!("invalid --max-restarts '{v}': expected a whole number")))?,
            None => settings.max_restarts,
        };
        let stack = match args.value("--stack") {
            Some(s) => {
                process_facts::store::validate_name(s).map_err(|e| usage(format!("invalid --stack: {e}")))?;
                Some(s.to_string())
            }
            None => None,
        };
        Ok(SuperviseOptions {
            max_restarts,
            window: args.seconds("--window", settings.restart_window)?,
            delay: args.seconds("--delay", settings.restart_delay)?,
            stop_timeout: timeout_option(cx, args)?,
            readiness: Readiness::from_args(args)?,
            stack,
        })
    }
}

/// `process-supervise NAME COMMAND [--max-restarts N] [--window S] [--delay S]
/// [--ready-* ...] [--after NAMES] [--stack STACK]`: runs COMMAND and starts it again
/// whenever it exits (or fails its readiness check), in the foreground (add `&` or `&!`).
/// At most N restarts (`$PROCESS_MAX_RESTARTS`) within a window of S seconds
/// (`$PROCESS_RESTART_WINDOW`, 60), measured on the monotonic clock; restarts older than
/// the window no longer count, so a service that stays up long enough is forgiven.
/// `$PROCESS_RESTART_DELAY` between tries. TERM, HUP or Ctrl-C stop the service and end
/// supervision (status 0, or 130 for Ctrl-C); giving up returns 1.
pub fn supervise(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let command = args.bytes(1).to_vec();
    let SuperviseOptions { max_restarts, window, delay, stop_timeout, readiness, stack } = SuperviseOptions::from_args(cx, args)?;
    let claimed = claim(cx, &name)?;
    let me = Identity::of(proc::current_pid()).ok_or_else(|| failed("cannot identify the supervising shell"))?;
    cx.sh.keep_shell_signal_mask();
    // The stop signals, except those this shell ignores (a script's background job ignores
    // INT, an interactive shell TERM): a blocked signal is queued even when ignored, and a
    // Ctrl-C meant for another command must not end supervision.
    let stop_signals: Vec<i32> =
        [libc::SIGTERM, libc::SIGINT, libc::SIGHUP].into_iter().filter(|&s| !process_facts::signal::is_ignored(s)).collect();
    let signals = BlockedSignals::block(&stop_signals).map_err(|e| failed(format!("cannot watch for signals: {e}")))?;
    // Ctrl-C cannot reach zsh's handler now: waits and stalled writes watch the signalfd.
    cx.sh.watch_stop_signals(signals.fd());
    // zsh's SIGCHLD handler reaps any child it sees (running event handlers can let it
    // run): keep it away from the service so that we reap it and learn its exit status.
    // Pending SIGCHLDs reach zsh when supervision ends.
    let _children_ours = BlockedSignals::block(&[libc::SIGCHLD]).map_err(|e| failed(format!("cannot block SIGCHLD: {e}")))?;
    // Shell code (event handlers) unblocks SIGCHLD; this reaps the service first.
    let reaper = ReapFirst::install().map_err(|e| failed(format!("cannot watch SIGCHLD: {e}")))?;
    // A stop is asked for through the registry entry (process-stop never signals a
    // supervisor): watch it.
    let registry = registry_watch(&cx.settings().state().registry_dir()?)?;
    let registry_fd = std::os::fd::AsRawFd::as_raw_fd(&registry);
    // A stop signal while waiting for the services it comes after ends it too.
    if let Some(sig) = await_dependencies(cx, &name, &readiness.after, readiness.timeout, Some(&signals))? {
        return Ok(if sig == libc::SIGINT { Exit::Interrupted } else { Exit::Success });
    }

    let mut claimed = Some(claimed);
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    let mut total_restarts = 0u32;
    let mut writers: Vec<Identity> = Vec::new();
    loop {
        let mut armed = match &readiness.check {
            Some(check) => Some(service::arm(cx, &name, check, &[])?),
            None => None,
        };
        let env = armed.as_ref().map(|a| a.env()).unwrap_or_default();
        let launched = launch(cx, &name, &command, &env)?;
        let _ = reaper.watch(launched.id.pid);
        // Log writers of earlier tries end after their service: reap them (SIGCHLD is ours).
        writers.retain(|w| spawn::try_reap(w.pid).is_none() && w.is_alive());
        writers.extend(launched.logger);
        // Watch it before any shell code runs: it may exit meanwhile.
        let fd = PidFd::open(launched.id).ok();
        let rec = Recorded {
            supervisor: Some(me),
            check: readiness.check.as_ref().map(|c| c.describe()),
            after: readiness.after.clone(),
            stack: stack.clone(),
            restarts: total_restarts,
        };
        record(cx, &name, &command, &launched, rec)?;
        // Recorded as ours: another start of NAME now sees a live supervisor.
        claimed.take();
        let pid = launched.id.pid.to_string();
        cx.emit(if total_restarts == 0 { events::START } else { events::RESTART }, &[&name, &pid]);

        // Ready, or failed to be: a failed check counts as an exit.
        let mut failed_start = false;
        if let (Some(check), Some(armed)) = (&readiness.check, armed.as_mut()) {
            match await_ready(cx, &name, &launched, check, armed, readiness.timeout, Some(&signals)) {
                Ok(()) => mark_ready(cx, &name, &launched)?,
                Err(NotStarted::Signal(sig)) => {
                    reaper.unwatch(launched.id.pid);
                    forget(cx, &name);
                    cx.emit(events::STOP, &[&name, &pid]);
                    return Ok(if sig == libc::SIGINT { Exit::Interrupted } else { Exit::Success });
                }
                Err(NotStarted::Failed(f)) if f.is_interrupted() => {
                    reaper.unwatch(launched.id.pid);
                    forget(cx, &name);
                    return Err(f);
                }
                Err(NotStarted::Failed(f)) => {
                    cx.report(&f);
                    failed_start = true;
                }
            }
        }

        // Wait for the service to exit, a stop signal, or a stop asked for.
        let ended = loop {
            let Some(fd) = fd.as_ref().filter(|_| !failed_start) else { break Ended::Exited };
            let wake = signals.wait(cx, &[std::os::fd::AsRawFd::as_raw_fd(fd), registry_fd], Duration::from_secs(1))?;
            if let Some(sig) = wake.signal {
                break Ended::Signal(sig);
            }
            if wake.ready.contains(&1) {
                let _ = process_facts::sys::fs::inotify_read(std::os::fd::AsFd::as_fd(&registry));
                if stop_asked(cx, &name, launched.id) {
                    break Ended::Asked;
                }
            }
            if wake.ready.contains(&0) || !launched.id.is_alive() {
                break Ended::Exited;
            }
        };
        let ended = match ended {
            // Killed by the stop that was asked for: not a death to restart after.
            Ended::Exited if stop_asked(cx, &name, launched.id) => Ended::Asked,
            other => other,
        };
        if let Ended::Signal(_) | Ended::Asked = ended {
            let outcome = match stop_process(cx, launched.id, stop_timeout, true) {
                // A second stop signal: no more waiting.
                Err(f) if f.is_interrupted() => kill_now(cx, launched.id).map(|()| Stopped::Killed),
                other => other,
            };
            if let Err(f) = &outcome {
                cx.report(f);
            }
            reap_exited(&reaper, launched.id);
            forget(cx, &name);
            // A second stop signal has done its work: not one to deliver to the shell.
            while signals.take().is_some() {}
            let ev = if matches!(outcome, Ok(Stopped::Killed)) { events::KILL } else { events::STOP };
            cx.emit(ev, &[&name, &pid]);
            return Ok(if ended == Ended::Signal(libc::SIGINT) { Exit::Interrupted } else { Exit::Success });
        }
        // What the service left behind (the rest of its session) goes before the next try.
        if let Err(f) = stop_leftovers(cx, launched.id, stop_timeout) {
            if !f.is_interrupted() {
                cx.report(&f);
            }
        }
        let exit = reap_exited(&reaper, launched.id);
        let code = exit.map(ChildExit::status).map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
        if !failed_start {
            cx.warn(&format!("{name} (PID {pid}) exited with status {code}"));
        }
        cx.emit(events::DIED, &[&name, &pid, &code]);

        let now = Instant::now();
        while restarts.front().is_some_and(|t| now.duration_since(*t) > window) {
            restarts.pop_front();
        }
        if restarts.len() as u32 >= max_restarts {
            give_up(cx, &name, launched.id.pid);
            return Err(failed(format!(
                "{name} exited {} times within {}s; giving up (PROCESS_MAX_RESTARTS={max_restarts})",
                restarts.len() + 1,
                window.as_secs_f64()
            )));
        }
        restarts.push_back(now);
        total_restarts += 1;
        // The delay before the next try; a stop signal, or a stop asked for, ends
        // supervision here too.
        let deadline = Instant::now() + delay;
        loop {
            if stop_asked(cx, &name, launched.id) {
                forget_if_gone(cx, &name);
                return Ok(Exit::Success);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let wake = signals.wait(cx, &[registry_fd], left.min(Duration::from_secs(1)))?;
            if let Some(sig) = wake.signal {
                forget_if_gone(cx, &name);
                return Ok(if sig == libc::SIGINT { Exit::Interrupted } else { Exit::Success });
            }
            let _ = process_facts::sys::fs::inotify_read(std::os::fd::AsFd::as_fd(&registry));
        }
    }
}

/// How one run of a supervised service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Exited,
    Signal(i32),
    /// process-stop (or process-down) asked for it to stop.
    Asked,
}

/// Whether a stop of NAME's run `id` has been asked for in its registry entry.
fn stop_asked(cx: &mut Context, name: &str, id: Identity) -> bool {
    cx.settings().state().entry(name).ok().flatten().is_some_and(|e| e.stop_requested && e.pid == id.pid)
}

/// Reaps the service `id` once it has exited; None (without waiting) while it has not
/// (it survived KILL) or when the kernel will not say.
fn reap_exited(reaper: &ReapFirst, id: Identity) -> Option<ChildExit> {
    let exited = PidFd::open(id).map_or(true, |fd| fd.has_exited() || fd.wait_exit(KILL_GRACE, &mut process_facts::wait::Plain).unwrap_or(false));
    if exited {
        spawn::reap_watched(reaper, id.pid, &mut process_facts::wait::Plain)
    } else {
        reaper.unwatch(id.pid);
        None
    }
}
