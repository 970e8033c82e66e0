//! PID files: process-write-pid, process-read-pid, process-remove-pid,
//! process-check-pid-file. See process_facts::pidfile for the format and the safety.

use super::detect::pid_operand;
use super::detect::PID;
use super::spec::{Kind, Operand, Spec, VAR};
use super::{Args, Context, Exit, Failure, Outcome};
use crate::zsh::Value;
use process_facts::pidfile::{Check, Contents, Role};
use process_facts::store::validate_name;

pub const NAME: Operand = Operand { name: "name", kind: Kind::Service, about: "the service's name: its PID file is $PROCESS_PID_DIR/NAME.pid" };

pub const WRITE: Spec = Spec {
    purpose: "record a PID in NAME's PID file, with the process's identity beside it",
    operands: &[NAME, PID],
    min: 2,
    max: 2,
    options: &[],
    exits: &[(0, "written"), (1, "the directory is refused (see docs/safety.md) or cannot be written")],
    see: "docs/inspect.md#process-write-pid",
};
pub const READ: Spec = Spec {
    purpose: "print the PID in NAME's PID file (not checked for liveness)",
    operands: &[NAME],
    min: 1,
    max: 1,
    options: &[VAR],
    exits: &[(0, "printed"), (1, "no PID file, or an empty or garbage one; or a refused file (one line says why)")],
    see: "docs/inspect.md#process-read-pid",
};
pub const REMOVE: Spec = Spec {
    purpose: "remove NAME's PID file and identity file",
    options: &[],
    exits: &[(0, "removed, or there was none"), (1, "the PID directory or file is refused, or cannot be removed")],
    see: "docs/inspect.md#process-remove-pid",
    ..READ
};
pub const CHECK: Spec = Spec {
    purpose: "tell whether NAME's PID file names its running process; remove it when stale",
    options: &[],
    exits: &[(0, "running (the very process that was recorded)"), (1, "missing, or stale (then removed), or refused")],
    see: "docs/inspect.md#process-check-pid-file",
    ..READ
};

/// Operand `i` as a service name (a safe file name).
pub fn name_operand(args: &Args, i: usize) -> Result<String, Failure> {
    let name = args.text(i)?;
    validate_name(name)?;
    Ok(name.to_string())
}

/// `process-write-pid NAME PID`. A PID that is a fork of the calling shell (`$!` after
/// `eval "$cmd" &`, which makes zsh run the command in a subshell) is recorded as a
/// wrapper: a signal for the service then goes to what it runs.
pub fn write_pid(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let pid = pid_operand(args, 1)?;
    let role = if process_facts::proc::is_fork_of(pid, cx.sh.shell_pid()) { Role::Wrapper } else { Role::Service };
    cx.settings().pid_files().write(&name, pid, role, cx)?;
    if pid == cx.sh.shell_pid() {
        // A shell writing its own PID file: have the shim remove it when the shell exits
        // (through _lifecycle, or zsh's exit hook). Without the shim, nothing to call.
        let _ = cx.sh.call_function("_process-register-cleanup", &[&name]);
    }
    Ok(Exit::Success)
}

/// `process-read-pid [-v VAR] NAME`: the PID the file holds (not checked for liveness).
pub fn read_pid(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    match cx.settings().pid_files().read_pid(&name)? {
        Contents::Pid { pid, .. } => {
            cx.put(args, Value::text(pid.to_string()))?;
            Ok(Exit::Success)
        }
        Contents::Missing | Contents::Garbage => {
            cx.clear_var(args, Value::Scalar(Vec::new()))?;
            Ok(Exit::No)
        }
    }
}

/// `process-remove-pid NAME`: 0 for a valid name, whether or not the file existed.
pub fn remove_pid(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let pids = cx.settings().pid_files();
    // `trap "process-remove-pid NAME" EXIT` set inside a function (the spec's
    // single-instance lock) runs in zsh when that function returns, not when the shell
    // exits: a PID file that names this very shell is then released at its exit instead.
    if cx.sh.in_trap_before_exit() {
        let names_this_shell = matches!(pids.read_pid(&name), Ok(Contents::Pid { pid, .. }) if pid == cx.sh.shell_pid());
        if names_this_shell && cx.sh.call_function("_process-register-cleanup", &[&name]).is_some() {
            return Ok(Exit::Success);
        }
    }
    pids.remove(&name, cx)?;
    Ok(Exit::Success)
}

/// `process-check-pid-file NAME`: 0 when the file names a live process (the same one that
/// was written, when its identity was recorded); a stale file is removed and gives 1.
pub fn check_pid_file(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    match cx.settings().pid_files().check(&name, cx)? {
        Check::Running(_) => Ok(Exit::Success),
        Check::Stale | Check::Missing => Ok(Exit::No),
    }
}
