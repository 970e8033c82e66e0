//! Control: process-signal, process-get-children (and, with the lifecycle work,
//! stopping and trees). Every signal goes through [`send`]: to one process identity, never
//! to PID 0, 1, a negative PID, or the calling shell.

use super::config::pid_dir;
use super::pidfiles::to_failure;
use super::{failed, put, usage, Args, Failure, OptSpec, Outcome, STATUS_NO, STATUS_OK};
use crate::zsh::{Shell, Value};
use process_facts::pid::looks_like_pid;
use process_facts::pidfile::validate_name;
use process_facts::signal::{self, parse_signal, signal_name};
use process_facts::{parse_pid, tree, Identity, Pid};

pub const SIGNAL: OptSpec = OptSpec { valued: &[], flags: &[], operands: &["name_or_pid", "signal"], min: 2, max: 2 };
pub const CHILDREN: OptSpec = OptSpec { valued: &["-v"], flags: &[], operands: &["pid"], min: 1, max: 1 };

/// A process the user named, by PID or by the name of its PID file.
pub struct Target {
    pub id: Identity,
    /// The PID-file name when named by name.
    pub name: Option<String>,
}

impl Target {
    /// What events report as `service`: the name, or the PID.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.id.pid.to_string())
    }
}

/// Resolves `name_or_pid`: all digits is a PID (it must be alive), anything else is a
/// service name whose PID file must name a live process (the one recorded there).
pub fn resolve(sh: &mut Shell, text: &str) -> Result<Result<Target, String>, Failure> {
    if looks_like_pid(text) || text.starts_with('-') {
        let pid = parse_pid(text).map_err(|e| usage(e.to_string()))?;
        return Ok(Identity::of(pid).map(|id| Target { id, name: None }).ok_or_else(|| format!("no such process: {pid}")));
    }
    validate_name(text).map_err(to_failure)?;
    let running = pid_dir(sh).running(text).map_err(to_failure)?;
    Ok(running.map(|id| Target { id, name: Some(text.to_string()) }).ok_or_else(|| format!("not running: {text} (no live process in its PID file)")))
}

/// Refuses the processes no command of this library may signal by accident.
pub fn refuse_protected(sh: &mut Shell, pid: Pid) -> Result<(), Failure> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    if pid <= 1 {
        return Err(failed(format!("refusing to signal PID {pid} (init)")));
    }
    if pid == me || pid == sh.shell_pid() {
        return Err(failed(format!("refusing to signal the calling shell (PID {pid}); use zsh's kill for that")));
    }
    Ok(())
}

/// Sends `sig` to exactly the process `id`, after the protection checks.
pub fn send(sh: &mut Shell, id: Identity, sig: i32) -> Result<(), Failure> {
    refuse_protected(sh, id.pid)?;
    signal::send(id, sig).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(libc::ESRCH) => "no such process".to_string(),
            Some(libc::EPERM) => "operation not permitted (not your process)".to_string(),
            _ => e.to_string(),
        };
        failed(format!("cannot send {} to {}: {why}", signal_name(sig), id.pid))
    })
}

/// `process-signal NAME_OR_PID SIGNAL`
pub fn signal(sh: &mut Shell, args: &Args) -> Outcome {
    let sig = parse_signal(args.operand(1)).map_err(|e| usage(e.to_string()))?;
    let target = resolve(sh, args.operand(0))?.map_err(failed)?;
    send(sh, target.id, sig)?;
    Ok(STATUS_OK)
}

/// `process-get-children [-v ARRAY] PID`: live immediate children, oldest first.
pub fn get_children(sh: &mut Shell, args: &Args) -> Outcome {
    let pid = parse_pid(args.operand(0)).map_err(|e| usage(e.to_string()))?;
    let kids = tree::children(pid).map_err(|e| failed(format!("cannot read /proc: {e}")))?;
    if !kids.is_empty() || args.var().is_some() {
        put(sh, args, Value::Array(kids.iter().map(|p| p.to_string()).collect()))?;
    }
    Ok(if kids.is_empty() { STATUS_NO } else { STATUS_OK })
}
