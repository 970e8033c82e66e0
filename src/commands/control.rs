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

/// Stops a resolved target; by name also stops its supervisor first (so it doesn't start
/// the service again) and removes the PID file and registry entry. Emits
/// `process.stop` or `process.kill`.
pub fn stop_target(cx: &mut Context, target: &Target, timeout: Duration, force: bool) -> Result<Stopped, Failure> {
    let settings = cx.settings();
    let state = settings.state();
    if let Some(name) = &target.name {
        let entry = state.entry(name).unwrap_or_else(|e| {
            cx.warn(&e.to_string());
            None
        });
        if let Some(sup) = entry.and_then(|e| e.supervisor).filter(Identity::is_alive) {
            // The supervisor stops its child itself on TERM; we wait for the child below.
            cx.debug(&format!("{name} is supervised by {}: asking it to stop", sup.pid));
            match stop_process(cx, sup, timeout + KILL_GRACE, force) {
                Err(f) if f.is_interrupted() => return Err(f),
                _ => {}
            }
        }
    }
    let outcome = stop_process(cx, target.id, timeout, force)?;
    if let Some(name) = &target.name {
        forget_if_gone(cx, name);
    }
    let label = target.label();
    let pid = target.id.pid.to_string();
    let event = if outcome == Stopped::Killed { events::KILL } else { events::STOP };
    cx.emit(event, &[&label, &pid]);
    Ok(outcome)
}

/// Removes NAME's PID file and registry entry unless a live process is recorded there
/// now (a supervisor may have started a new one meanwhile).
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
            // A stale PID file of a dead service: nothing to stop, but tidy up.
            if !looks_like_pid(text) {
                let name = name_operand(args, 0)?;
                forget_if_gone(cx, &name);
            }
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
