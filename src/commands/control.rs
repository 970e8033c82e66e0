//! Control: process-signal, process-stop, process-get-children, process-kill-tree. Every
//! signal goes through [`send`] or a pidfd taken for one identity: never PID 0, 1, a
//! negative PID, or the calling shell.

use super::events;
use super::pidfiles::name_operand;
use super::detect::PID;
use super::spec::{Kind, Operand, Opt, Spec, VAR_ARRAY};
use super::{failed, usage, Args, Context, Exit, Failure, Outcome};
use crate::zsh::Value;
use process_facts::pid::looks_like_pid;
use process_facts::pidfd::PidFd;
use process_facts::pidfile::Role;
use process_facts::signal::{self, parse_signal, signal_name};
use process_facts::{parse_pid, tree, Identity, Pid};
use std::time::{Duration, Instant};

pub const NAME_OR_PID: Operand =
    Operand { name: "name_or_pid", kind: Kind::NameOrPid, about: "a PID, or the name of a PID file in $PROCESS_PID_DIR (the process recorded there)" };
pub const TIMEOUT: Opt = Opt { name: "--timeout", value: Some(("SECONDS", Kind::Seconds)), about: "how long to wait for the exit after TERM (default $PROCESS_DEFAULT_TIMEOUT)" };
pub const FORCE: Opt = Opt { name: "--force", value: None, about: "KILL what still runs after the timeout" };

pub const SIGNAL: Spec = Spec {
    purpose: "send a signal to a process, or to a service named by its PID file",
    operands: &[NAME_OR_PID, Operand { name: "signal", kind: Kind::Signal, about: "a name (TERM, sigterm, SIGHUP, RTMIN+2) or a number" }],
    min: 2,
    max: 2,
    options: &[],
    exits: &[(0, "sent"), (1, "no such process, not running, refused (PID 1, the calling shell), or not permitted")],
    see: "docs/control.md#process-signal",
};
pub const STOP: Spec = Spec {
    purpose: "stop a process and what it started: TERM, wait for the exit, KILL with --force",
    operands: &[NAME_OR_PID],
    min: 1,
    max: 1,
    options: &[TIMEOUT, FORCE],
    exits: &[
        (0, "stopped (process.stop, or process.kill after KILL)"),
        (1, "not running (a stale PID file is removed), refused, or still running after the timeout without --force"),
        (130, "Ctrl-C ended the wait"),
    ],
    see: "docs/control.md#process-stop",
};
pub const CHILDREN: Spec = Spec {
    purpose: "print a process's immediate children (zombies included), oldest first",
    operands: &[PID],
    min: 1,
    max: 1,
    options: &[VAR_ARRAY],
    exits: &[(0, "printed, one a line"), (1, "it has no children")],
    see: "docs/control.md#process-trees",
};
pub const KILL_TREE: Spec = Spec {
    purpose: "signal a process and all its descendants, children first, the tree frozen meanwhile",
    operands: &[PID],
    min: 1,
    max: 1,
    options: &[Opt { name: "--signal", value: Some(("SIGNAL", Kind::Signal)), about: "the signal to send (default TERM)" }],
    exits: &[(0, "every process signalled"), (1, "no such process, refused (the tree holds the calling shell), or some not signalled")],
    see: "docs/control.md#process-trees",
};

/// A process the user named, by PID or by the name of its PID file.
pub struct Target {
    pub id: Identity,
    /// The PID-file name when named by name.
    pub name: Option<String>,
    /// What the PID file says the process is to the service.
    pub role: Role,
}

impl Target {
    /// What events report as `service`: the name, or the PID.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.id.pid.to_string())
    }
}

/// Resolves `name_or_pid`: all digits is a PID (it must be alive), anything else is a
/// service name whose PID file must name a live process (the one recorded there). The
/// inner Err says why there is no such process.
pub fn resolve(cx: &mut Context, text: &str) -> Result<Result<Target, String>, Failure> {
    if looks_like_pid(text) || text.starts_with('-') {
        let pid = parse_pid(text).map_err(|e| usage(e.to_string()))?;
        return Ok(Identity::of(pid).map(|id| Target { id, name: None, role: Role::Service }).ok_or_else(|| format!("no such process: {pid}")));
    }
    process_facts::store::validate_name(text)?;
    let running = cx.settings().pid_files().running_as(text, cx)?;
    Ok(running
        .map(|(id, role)| Target { id, name: Some(text.to_string()), role })
        .ok_or_else(|| format!("not running: {text} (no live process in its PID file)")))
}

/// Refuses the processes no command of this library may signal by accident.
pub fn refuse_protected(cx: &mut Context, pid: Pid) -> Result<(), Failure> {
    if pid <= 1 {
        return Err(failed(format!("refusing to signal PID {pid} (init)")));
    }
    if pid == process_facts::proc::current_pid() || pid == cx.sh.shell_pid() {
        return Err(failed(format!("refusing to signal the calling shell (PID {pid}); use zsh's kill for that")));
    }
    Ok(())
}

/// Sends `sig` to exactly the process `id`, after the protection checks.
pub fn send(cx: &mut Context, id: Identity, sig: i32) -> Result<(), Failure> {
    refuse_protected(cx, id.pid)?;
    signal::send(id, sig).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(libc::ESRCH) => "no such process".to_string(),
            Some(libc::EPERM) => "operation not permitted (not your process)".to_string(),
            _ => e.to_string(),
        };
        failed(format!("cannot send {} to {}: {why}", signal_name(sig), id.pid))
    })
}

/// Who gets a signal meant for `target`: the process itself, or, when its PID file
/// records it as a wrapper shell, what that shell runs (its children). The wrapper would
/// die of a HUP meant for a server's reload and orphan it.
fn recipients(target: &Target) -> Vec<Identity> {
    if target.role == Role::Wrapper {
        let children: Vec<Identity> = tree::children(target.id.pid).unwrap_or_default().into_iter().filter_map(Identity::of).collect();
        if !children.is_empty() {
            return children;
        }
    }
    vec![target.id]
}

/// `process-signal NAME_OR_PID SIGNAL`
pub fn signal(cx: &mut Context, args: &Args) -> Outcome {
    let sig = parse_signal(args.text(1)?).map_err(|e| usage(e.to_string()))?;
    let target = resolve(cx, args.text(0)?)?.map_err(failed)?;
    for id in recipients(&target) {
        send(cx, id, sig)?;
    }
    Ok(Exit::Success)
}

/// `process-get-children [-v ARRAY] PID`: live immediate children, oldest first.
pub fn get_children(cx: &mut Context, args: &Args) -> Outcome {
    let pid = parse_pid(args.text(0)?).map_err(|e| usage(e.to_string()))?;
    let kids = tree::children(pid).map_err(|e| failed(format!("cannot read /proc: {e}")))?;
    if !kids.is_empty() || args.var().is_some() {
        cx.put(args, Value::Array(kids.iter().map(|p| p.to_string().into_bytes()).collect()))?;
    }
    Ok(Exit::yes_no(!kids.is_empty()))
}

/// How long to wait for a KILLed process to be gone before calling the stop a failure
/// (a process in uninterruptible sleep can take a moment).
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// How a stop ended.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Stopped {
    /// Exited after TERM.
    Gracefully,
    /// Needed KILL (`--force`).
    Killed,
    /// Was already gone when we looked.
    AlreadyGone,
}

/// `--timeout S`, defaulting to `$PROCESS_DEFAULT_TIMEOUT`.
pub fn timeout_option(cx: &mut Context, args: &Args) -> Result<Duration, Failure> {
    let default = cx.settings().default_timeout;
    args.seconds("--timeout", default)
}

/// A pidfd for `id`, or None when the process is already gone.
fn open_process(id: Identity) -> Result<Option<PidFd>, Failure> {
    match PidFd::open(id) {
        Ok(fd) if fd.has_exited() => Ok(None),
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(None),
        Err(e) => Err(failed(format!("cannot open process {}: {e}", id.pid))),
    }
}

/// TERM, and CONT so that a stopped process can act on it. False when already gone.
fn terminate(cx: &mut Context, fd: &PidFd) -> Result<bool, Failure> {
    cx.debug(&format!("sending TERM to {}", fd.pid));
    match fd.send_signal(libc::SIGTERM) {
        Ok(()) => {
            let _ = fd.send_signal(libc::SIGCONT);
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) => Err(failed(format!("cannot send TERM to {}: {e}", fd.pid))),
    }
}

/// The processes `id` has started (its descendants, deepest first, and when it leads a
/// session of its own, as every service this library starts does, the rest of that
/// session: a daemon that forked away from it), as pidfds taken before anything is
/// signalled, so that none is mistaken for a process that reuses its PID later. Refuses a
/// process whose tree holds the calling shell.
fn started_by(cx: &mut Context, id: Identity) -> Result<Vec<PidFd>, Failure> {
    let me = process_facts::proc::current_pid();
    let shell = cx.sh.shell_pid();
    if contains_caller(cx, id.pid) {
        return Err(failed(format!("refusing to stop {}: the calling shell is one of its descendants", id.pid)));
    }
    Ok(tree::service_tree(id.pid)
        .map_err(|e| failed(format!("cannot read /proc: {e}")))?
        .into_iter()
        .filter(|&p| p > 1 && p != id.pid && p != me && p != shell)
        .filter_map(Identity::of)
        .filter_map(|d| PidFd::open(d).ok())
        .collect())
}

/// True when the calling shell (or this builtin's process) is `pid` or below it.
fn contains_caller(cx: &mut Context, pid: Pid) -> bool {
    let me = process_facts::proc::current_pid();
    tree::ancestors_of(me).contains(&pid) || tree::ancestors_of(cx.sh.shell_pid()).contains(&pid)
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Stops a process and what it started, never touching PID 1 or the calling shell:
/// 1. TERM (and CONT) to the process, and a wait of up to `timeout` for its exit itself
///    (a pidfd: no sleep loop, no reused PID);
/// 2. then TERM to the processes it started that outlive it (collected beforehand), in
///    the time left: a service started as `eval "$cmd" &` is a subshell whose child is
///    the real server, and a master process usually stops its workers itself first;
/// 3. after the timeout, with `force`, KILL to whatever is left; without it, status 1.
pub fn stop_process(cx: &mut Context, id: Identity, timeout: Duration, force: bool) -> Result<Stopped, Failure> {
    refuse_protected(cx, id.pid)?;
    let deadline = Instant::now() + timeout;
    let Some(main) = open_process(id)? else { return Ok(Stopped::AlreadyGone) };
    let started = started_by(cx, id)?;
    if !terminate(cx, &main)? {
        return Ok(Stopped::AlreadyGone);
    }
    let mut still_running: Option<Pid> = None;
    if main.wait_exit(left(deadline), cx)? {
        let survivors: Vec<&PidFd> = started.iter().filter(|f| !f.has_exited()).collect();
        for f in &survivors {
            terminate(cx, f)?;
        }
        for f in &survivors {
            if !f.wait_exit(left(deadline), cx)? {
                still_running = Some(f.pid);
                break;
            }
        }
        if still_running.is_none() {
            return Ok(Stopped::Gracefully);
        }
    }
    if !force {
        return Err(failed(match still_running {
            Some(p) => format!(
                "process {} exited, but PID {p} that it started is still running after {}s (use --force to KILL it)",
                id.pid,
                timeout.as_secs_f64()
            ),
            None => format!("process {} still running after {}s (it ignored TERM; use --force to KILL it)", id.pid, timeout.as_secs_f64()),
        }));
    }
    let everyone: Vec<&PidFd> = std::iter::once(&main).chain(started.iter()).filter(|f| !f.has_exited()).collect();
    for f in &everyone {
        cx.debug(&format!("timeout: sending KILL to {}", f.pid));
        match f.send_signal(libc::SIGKILL) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(failed(format!("cannot send KILL to {}: {e}", f.pid))),
        }
    }
    for f in &everyone {
        if !f.wait_exit(KILL_GRACE, cx)? {
            return Err(failed(format!("process {} survived KILL (uninterruptible sleep?)", f.pid)));
        }
    }
    Ok(Stopped::Killed)
}

/// KILL, now, to `id` and everything it started (see [`started_by`]), and a bounded wait
/// for them to be gone: for a stop that must not wait any longer (a second stop signal
/// to a supervisor).
pub fn kill_now(cx: &mut Context, id: Identity) -> Result<(), Failure> {
    refuse_protected(cx, id.pid)?;
    let Some(main) = open_process(id)? else { return Ok(()) };
    let everyone: Vec<PidFd> = std::iter::once(main).chain(started_by(cx, id)?).collect();
    for f in &everyone {
        let _ = f.send_signal(libc::SIGKILL);
    }
    for f in &everyone {
        // Not through `cx`: the stop signal that asked for this is still pending.
        if !f.wait_exit(KILL_GRACE, &mut process_facts::wait::Plain).unwrap_or(false) {
            return Err(failed(format!("process {} survived KILL (uninterruptible sleep?)", f.pid)));
        }
    }
    Ok(())
}

/// After a service's main process `leader` has exited (still an unreaped zombie: its PID
/// cannot have been handed on), what it left behind: the rest of its session and its
/// descendants. TERM, then KILL after `timeout`, so a restart never runs beside the old
/// run's leftovers (systemd does the same with the service's control group).
pub fn stop_leftovers(cx: &mut Context, leader: Identity, timeout: Duration) -> Result<(), Failure> {
    let still_ours = process_facts::proc::stat(leader.pid).is_ok_and(|s| s.starttime == leader.starttime && !s.is_alive());
    if !still_ours {
        return Ok(());
    }
    let me = process_facts::proc::current_pid();
    let shell = cx.sh.shell_pid();
    let left: Vec<PidFd> = tree::service_tree(leader.pid)
        .unwrap_or_default()
        .into_iter()
        .filter(|&p| p > 1 && p != leader.pid && p != me && p != shell)
        .filter_map(Identity::of)
        .filter_map(|id| PidFd::open(id).ok())
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    cx.debug(&format!("{} left {} processes behind: stopping them", leader.pid, left.len()));
    let deadline = Instant::now() + timeout;
    for f in &left {
        terminate(cx, f)?;
    }
    let mut waited = Ok(());
    for f in &left {
        if let Err(e) = f.wait_exit(self::left(deadline), cx) {
            waited = Err(e);
            break;
        }
    }
    for f in left.iter().filter(|f| !f.has_exited()) {
        let _ = f.send_signal(libc::SIGKILL);
    }
    waited.map_err(Failure::from)
}

/// Stops a resolved target. By name, under NAME's start lock (so no start of it from
/// another shell slips in between, to be forgotten here), and a supervisor of it is
/// asked to let go first (see [`request_stop`]); then the PID file and registry entry
/// are removed. Emits `process.stop` or `process.kill`.
pub fn stop_target(cx: &mut Context, target: &Target, timeout: Duration, force: bool) -> Result<Stopped, Failure> {
    let lock = match &target.name {
        Some(name) => Some(start_lock(cx, name)?),
        None => None,
    };
    let stopped = stop_target_locked(cx, target, timeout, force)?;
    drop(lock);
    announce_stop(cx, target, stopped);
    Ok(stopped)
}

/// Emits `process.stop` (or `process.kill`) for a stopped target. Never with a lock
/// held: a handler's background job would inherit the lock and keep it.
pub fn announce_stop(cx: &mut Context, target: &Target, stopped: Stopped) {
    let label = target.label();
    let pid = target.id.pid.to_string();
    let event = if stopped == Stopped::Killed { events::KILL } else { events::STOP };
    cx.emit(event, &[&label, &pid]);
}

/// NAME's start lock, held while it is started, stopped or forgotten.
pub fn start_lock(cx: &mut Context, name: &str) -> Result<process_facts::store::Lock, Failure> {
    cx.settings().state().start_lock(name, cx).map_err(|e| match e {
        process_facts::store::StoreError::Busy { .. } => failed(format!("{name} is being started or stopped by this shell already")),
        other => other.into(),
    })
}

/// [`stop_target`], for a caller that holds NAME's start lock already (restart), and
/// announces the stop with [`announce_stop`] once it has let go of the lock.
pub fn stop_target_locked(cx: &mut Context, target: &Target, timeout: Duration, force: bool) -> Result<Stopped, Failure> {
    let supervisor = match &target.name {
        Some(name) => request_stop(cx, name)?,
        None => None,
    };
    let outcome = stop_process(cx, target.id, timeout, force)?;
    if let (Some(name), Some(sup)) = (&target.name, supervisor) {
        await_release(cx, name, sup, timeout + KILL_GRACE)?;
    }
    if let Some(name) = &target.name {
        forget_if_gone(cx, name);
    }
    Ok(outcome)
}

/// When NAME is supervised, tells its supervisor to end supervision at the service's
/// next exit instead of starting it again: a flag in the registry entry, which the
/// supervisor watches. No signal goes to the supervisor: it may be a user's interactive
/// shell running `process-supervise` in the foreground. Returns the supervisor.
pub fn request_stop(cx: &mut Context, name: &str) -> Result<Option<Identity>, Failure> {
    let state = cx.settings().state();
    let Some(entry) = state.entry(name)? else { return Ok(None) };
    let Some(sup) = entry.supervisor.filter(Identity::is_alive).filter(|_| !entry.gave_up) else { return Ok(None) };
    if sup.pid == process_facts::proc::current_pid() || sup.pid == cx.sh.shell_pid() {
        return Err(failed(format!("{name} is supervised by this shell (PID {}): end its process-supervise to stop it", sup.pid)));
    }
    cx.debug(&format!("{name} is supervised by {}: asking it to let go", sup.pid));
    state.update(name, entry.pid, &mut |e| e.stop_requested = true, cx)?;
    Ok(Some(sup))
}

/// Waits, for at most `limit`, until NAME's supervisor `sup` has let go of it (its entry
/// is gone or no longer names it, or it has exited), watching the registry.
pub fn await_release(cx: &mut Context, name: &str, sup: Identity, limit: Duration) -> Result<(), Failure> {
    let state = cx.settings().state();
    let registry = state.registry_dir()?;
    let watch = super::service::registry_watch(&registry)?;
    let sup_fd = PidFd::open(sup).ok();
    let deadline = Instant::now() + limit;
    loop {
        let held = state.entry(name)?.is_some_and(|e| e.supervisor == Some(sup));
        if !held || !sup.is_alive() {
            return Ok(());
        }
        let left = left(deadline);
        if left.is_zero() {
            cx.warn(&format!("the supervisor of {name} (PID {}) has not let go of it after {}s", sup.pid, limit.as_secs_f64()));
            return Ok(());
        }
        // Woken by the entry's removal, or the supervisor's exit.
        let mut fds = vec![process_facts::sys::readable(std::os::fd::AsRawFd::as_raw_fd(&watch))];
        if let Some(f) = &sup_fd {
            fds.push(process_facts::sys::readable(std::os::fd::AsRawFd::as_raw_fd(f)));
        }
        process_facts::wait::poll(cx, &mut fds, Some(left))?;
        let _ = process_facts::sys::fs::inotify_read(std::os::fd::AsFd::as_fd(&watch));
    }
}

/// Removes NAME's PID file and registry entry unless a live process is recorded there
/// now (a supervisor may have started a new one meanwhile). The caller holds NAME's
/// start lock, or is NAME's own supervisor.
pub fn forget_if_gone(cx: &mut Context, name: &str) {
    let settings = cx.settings();
    let pids = settings.pid_files();
    if matches!(pids.running(name, cx), Ok(None)) {
        if let Err(e) = pids.remove(name, cx) {
            cx.warn(&e.to_string());
        }
        if let Err(e) = settings.state().unregister(name) {
            cx.warn(&e.to_string());
        }
    }
}

/// `process-stop NAME_OR_PID [--timeout S] [--force]`
pub fn stop(cx: &mut Context, args: &Args) -> Outcome {
    let timeout = timeout_option(cx, args)?;
    let text = args.text(0)?;
    let target = match resolve(cx, text)? {
        Ok(t) => t,
        Err(why) => {
            if looks_like_pid(text) {
                return Err(failed(why));
            }
            let name = name_operand(args, 0)?;
            let _lock = start_lock(cx, &name)?;
            // Between two tries of its supervisor: it is stopped by ending supervision.
            if let Some(sup) = request_stop(cx, &name)? {
                await_release(cx, &name, sup, timeout + KILL_GRACE)?;
                forget_if_gone(cx, &name);
                return Ok(Exit::Success);
            }
            // A stale PID file of a dead service: nothing to stop, but tidy up.
            forget_if_gone(cx, &name);
            return Err(failed(why));
        }
    };
    stop_target(cx, &target, timeout, args.flag("--force"))?;
    Ok(Exit::Success)
}

/// `process-kill-tree PID [--signal SIG]`: signals PID and all its descendants, children
/// before parents. The tree is frozen first (SIGSTOP, top down, until no new process
/// appears), so nothing forks or gets reparented away while it is collected; then the
/// signal goes deepest first, and CONT lets stopped processes act on it.
pub fn kill_tree(cx: &mut Context, args: &Args) -> Outcome {
    let sig = parse_signal(args.value("--signal").unwrap_or("TERM")).map_err(|e| usage(e.to_string()))?;
    let pid = parse_pid(args.text(0)?).map_err(|e| usage(e.to_string()))?;
    let root = Identity::of(pid).ok_or_else(|| failed(format!("no such process: {pid}")))?;
    refuse_protected(cx, pid)?;
    let me = process_facts::proc::current_pid();
    let shell = cx.sh.shell_pid();
    if contains_caller(cx, pid) {
        return Err(failed(format!("refusing to kill the tree of {pid}: it contains the calling shell")));
    }

    // Freeze: stop the root, then every descendant found, until a pass finds no new one.
    let mut frozen: Vec<Identity> = Vec::new();
    let freeze = |id: Identity, frozen: &mut Vec<Identity>| {
        if !frozen.contains(&id) && signal::send(id, libc::SIGSTOP).is_ok() {
            frozen.push(id);
        }
    };
    freeze(root, &mut frozen);
    let mut order = Vec::new();
    for _ in 0..100 {
        order = match tree::descendants_deepest_first(pid) {
            Ok(o) => o,
            Err(e) => {
                // Never leave what is already frozen stopped.
                for id in &frozen {
                    let _ = signal::send(*id, libc::SIGCONT);
                }
                return Err(failed(format!("cannot read /proc: {e}")));
            }
        };
        let before = frozen.len();
        for &p in order.iter().rev() {
            if p == me || p == shell || p <= 1 {
                continue;
            }
            if let Some(id) = Identity::of(p) {
                freeze(id, &mut frozen);
            }
        }
        if frozen.len() == before {
            break;
        }
    }
    // Deliver: deepest first, the root last.
    let mut failures = Vec::new();
    let ids: Vec<Identity> = order.iter().filter_map(|&p| frozen.iter().find(|id| id.pid == p).copied()).chain([root]).collect();
    for id in &ids {
        if let Err(e) = send(cx, *id, sig) {
            failures.push(e.message);
        }
    }
    // Thaw in the same order, children first, so they act on the signal before their
    // parents do.
    if sig != libc::SIGSTOP && sig != libc::SIGTSTP {
        for id in ids.iter().filter(|id| frozen.contains(id)) {
            let _ = signal::send(*id, libc::SIGCONT);
        }
    }
    cx.debug(&format!("kill-tree {pid}: {} processes sent {}", ids.len(), signal_name(sig)));
    match failures.first() {
        None => Ok(Exit::Success),
        Some(first) => Err(failed(format!("{} of {} processes not signalled: {first}", failures.len(), ids.len()))),
    }
}
