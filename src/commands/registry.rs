//! The registry: process-list and process-cleanup.
//!
//! "Tracked" means started through this library (process-start, process-restart,
//! process-supervise: the registry under `$PROCESS_STATE_DIR/registry`) or recorded with
//! process-write-pid (a PID file in `$PROCESS_PID_DIR`).

use super::config::{self, pid_dir};
use super::pidfiles::to_failure;
use super::{Args, OptSpec, Outcome, STATUS_OK};
use crate::zsh::Shell;
use process_facts::pidfile::{Check, Contents};
use process_facts::state::Member;
use process_facts::{proc, Identity};

pub const NONE: OptSpec = OptSpec { valued: &[], flags: &[], operands: &[], min: 0, max: 0 };

/// `process-list`: `  [PID] NAME: COMMAND`, one line per tracked process, `(dead)` after
/// those no longer running.
pub fn list(sh: &mut Shell, _args: &Args) -> Outcome {
    let state = config::state(sh);
    let pids = pid_dir(sh);
    let mut names = state.registered_names();
    for n in pids.names() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names.sort();
    let mut out = String::from("Tracked processes:\n");
    for name in names {
        let entry = state.entry(&name);
        let (pid, running, command) = match pids.read(&name).map_err(to_failure)? {
            Contents::Pid { pid, .. } => {
                let running = pids.running(&name).ok().flatten();
                let command = entry
                    .as_ref()
                    .filter(|e| e.pid == pid)
                    .map(|e| e.command.clone())
                    .or_else(|| running.and_then(|id| proc::cmdline(id.pid).ok()).map(|a| a.join(" ")))
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
        out.push_str(&format!("  [{pid}] {name}: {command}{dead}\n"));
    }
    sh.print(&out);
    Ok(STATUS_OK)
}

/// `process-cleanup`: removes stale PID files, registry entries of dead processes, and
/// group members that are dead PIDs (groups left empty go too). Reports the count on
/// stderr (through the shim's `_process-log`, so `_log` when it is loaded).
pub fn cleanup(sh: &mut Shell, _args: &Args) -> Outcome {
    let state = config::state(sh);
    let pids = pid_dir(sh);
    let mut removed = 0usize;
    for name in pids.names() {
        if let Ok(Check::Stale) = pids.check(&name) {
            removed += 1;
        }
    }
    for name in state.registered_names() {
        let alive = state.entry(&name).map(|e| e.identity().is_alive()).unwrap_or(false);
        if !alive {
            state.unregister(&name);
            removed += 1;
        }
    }
    for group in state.group_names() {
        let dropped = state
            .group_retain(&group, |m| match m {
                Member::Process(id) => Identity::is_alive(id),
                Member::Service(_) => true,
            })
            .unwrap_or(0);
        removed += dropped;
    }
    let msg = format!("process-cleanup: removed {removed} stale entr{}", if removed == 1 { "y" } else { "ies" });
    if sh.call_function("_process-log", &["info", &msg]).is_none() {
        sh.warn("process-cleanup", &format!("removed {removed} stale entries"));
    }
    Ok(STATUS_OK)
}
