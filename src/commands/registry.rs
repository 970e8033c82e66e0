//! The registry: process-list and process-cleanup.
//!
//! "Tracked" means started through this library (process-start, process-restart,
//! process-supervise: the registry under `$PROCESS_STATE_DIR/registry`) or recorded with
//! process-write-pid (a PID file in `$PROCESS_PID_DIR`). A file the store refuses is
//! reported in one line and skipped; the others are still listed or cleaned.

use super::spec::Spec;
use super::{Args, Context, Exit, Outcome};
use process_facts::pidfile::{Check, Contents};
use process_facts::state::Member;
use process_facts::store::Result as StoreResult;
use process_facts::{proc, Identity};

pub const LIST: Spec = Spec {
    purpose: "list the processes the library tracks: started, supervised, or with a PID file",
    operands: &[],
    min: 0,
    max: 0,
    options: &[],
    exits: &[(0, "listed (dead ones marked)")],
    see: "docs/control.md#registry",
};
pub const CLEANUP: Spec = Spec {
    purpose: "remove stale PID files, dead registry entries and dead group members",
    exits: &[(0, "done (what was removed is said on stderr; nothing when nothing was)")],
    ..LIST
};

/// The value, or the default after a one-line warning.
fn or_warn<T: Default>(cx: &mut Context, r: StoreResult<T>) -> T {
    r.unwrap_or_else(|e| {
        cx.warn(&e.to_string());
        T::default()
    })
}

/// `process-list`: `  [PID] NAME: COMMAND`, one line per tracked process, `(dead)` after
/// those no longer running.
pub fn list(cx: &mut Context, _args: &Args) -> Outcome {
    let settings = cx.settings();
    let (state, pids) = (settings.state(), settings.pid_files());
    let mut names = or_warn(cx, state.registered_names());
    for n in or_warn(cx, pids.names()) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names.sort();
    let mut out = String::from("Tracked processes:\n");
    for name in names {
        let entry = or_warn(cx, state.entry(&name));
        let contents = match pids.read(&name, cx) {
            Ok(c) => c,
            Err(e) => {
                cx.warn(&e.to_string());
                continue;
            }
        };
        let (pid, running, command) = match contents {
            Contents::Pid { pid, identity, .. } => {
                let running = match identity {
                    Some(id) => Some(id).filter(Identity::is_alive),
                    None => Identity::of(pid),
                };
                let command = entry
                    .as_ref()
                    .filter(|e| e.pid == pid)
                    .map(|e| e.command.clone())
                    .or_else(|| running.and_then(|id| proc::cmdline(id.pid).ok()).map(|a| String::from_utf8_lossy(&a.join(&b' ')).into_owned()))
                    .unwrap_or_default();
                (pid.to_string(), running.is_some(), command)
            }
            _ => match &entry {
                Some(e) => (e.pid.to_string(), e.identity().is_alive(), e.command.clone()),
                None => continue,
            },
        };
        let dead = match (running, command.is_empty()) {
            (true, _) => "",
            (false, true) => "(dead)",
            (false, false) => " (dead)",
        };
        out.push_str(&format!("  [{pid}] {}: {}{dead}\n", super::printable(&name), super::printable(&command)));
    }
    cx.sh.print(out.as_bytes());
    Ok(Exit::Success)
}

/// `process-cleanup`: removes stale PID files, registry entries of dead processes, and
/// group members that are dead PIDs (groups left empty go too). Reports what it removed
/// on stderr (through the shim's `_process-log`, so `_log` when it is loaded); says
/// nothing when there was nothing to remove.
pub fn cleanup(cx: &mut Context, _args: &Args) -> Outcome {
    let settings = cx.settings();
    let (state, pids) = (settings.state(), settings.pid_files());
    let mut removed = 0usize;
    for name in or_warn(cx, pids.names()) {
        match pids.check(&name, cx) {
            Ok(Check::Stale) => removed += 1,
            Ok(_) => {}
            Err(e) => cx.warn(&e.to_string()),
        }
    }
    for name in or_warn(cx, state.registered_names()) {
        // Under NAME's start lock: a start recording it now is waited for, not undone.
        let _lock = match super::control::start_lock(cx, &name) {
            Ok(lock) => lock,
            Err(f) if f.is_interrupted() => return Err(f),
            Err(f) => {
                cx.warn(&f.message);
                continue;
            }
        };
        let entry = match state.entry(&name) {
            Ok(e) => e,
            Err(e) => {
                cx.warn(&e.to_string());
                continue;
            }
        };
        // Dead, and nobody will start it again (a supervisor between two tries keeps it).
        let kept = entry.is_some_and(|e| e.identity().is_alive() || (!e.gave_up && e.supervisor.is_some_and(|s| s.is_alive())));
        if !kept {
            match state.unregister(&name) {
                Ok(()) => removed += 1,
                Err(e) => cx.warn(&e.to_string()),
            }
        }
    }
    for group in or_warn(cx, state.group_names()) {
        let mut keep = |m: &Member| match m {
            Member::Process(id) => id.is_alive(),
            Member::Service(_) => true,
        };
        match state.group_retain(&group, &mut keep, cx) {
            Ok(n) => removed += n,
            Err(e) => cx.warn(&e.to_string()),
        }
    }
    if removed > 0 {
        let msg = format!("process-cleanup: removed {removed} stale entr{}", if removed == 1 { "y" } else { "ies" });
        if cx.sh.call_function("_process-log", &["info", &msg]).is_none() {
            cx.warn(&format!("removed {removed} stale entr{}", if removed == 1 { "y" } else { "ies" }));
        }
    }
    Ok(Exit::Success)
}
