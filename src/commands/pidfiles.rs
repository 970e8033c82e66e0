//! PID files: process-write-pid, process-read-pid, process-remove-pid,
//! process-check-pid-file. See process_facts::pidfile for the file format and safety.

use super::config::pid_dir;
use super::detect::pid_operand;
use super::{failed, put, usage, Args, Failure, OptSpec, Outcome, STATUS_NO, STATUS_OK};
use crate::zsh::{Shell, Value};
use process_facts::pidfile::{validate_name, Check, Contents, PidFileError};

pub const WRITE: OptSpec = OptSpec { valued: &[], flags: &[], operands: &["name", "pid"], min: 2, max: 2 };
pub const READ: OptSpec = OptSpec { valued: &["-v"], flags: &[], operands: &["name"], min: 1, max: 1 };
pub const NAME_ONLY: OptSpec = OptSpec { valued: &[], flags: &[], operands: &["name"], min: 1, max: 1 };

pub fn to_failure(e: PidFileError) -> Failure {
    match e {
        PidFileError::BadName(..) => usage(e.to_string()),
        other => failed(other.to_string()),
    }
}

pub fn name_operand(args: &Args, i: usize) -> Result<String, Failure> {
    let name = args.operand(i);
    validate_name(name).map_err(to_failure)?;
    Ok(name.to_string())
}

/// `process-write-pid NAME PID`
pub fn write_pid(sh: &mut Shell, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let pid = pid_operand(args, 1)?;
    pid_dir(sh).write(&name, pid).map_err(to_failure)?;
    if pid == sh.shell_pid() {
        // A shell writing its own PID file: have the shim remove it when the shell exits
        // (through _lifecycle, or zsh's exit hook). Without the shim, nothing to call.
        let _ = sh.call_function("_process-register-cleanup", &[&name]);
    }
    Ok(STATUS_OK)
}

/// `process-read-pid [-v VAR] NAME`: the PID the file holds (not checked for liveness).
pub fn read_pid(sh: &mut Shell, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    match pid_dir(sh).read_pid_only(&name).map_err(to_failure)? {
        Contents::Pid { pid, .. } => {
            put(sh, args, Value::Scalar(pid.to_string()))?;
            Ok(STATUS_OK)
        }
        Contents::Missing | Contents::Garbage => {
            if args.var().is_some() {
                put(sh, args, Value::Scalar(String::new()))?;
            }
            Ok(STATUS_NO)
        }
    }
}

/// `process-remove-pid NAME`: always 0 for a valid name, whether or not the file existed.
pub fn remove_pid(sh: &mut Shell, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    // `trap "process-remove-pid NAME" EXIT` set inside a function (the spec's
    // single-instance lock) runs in zsh when that function returns, not when the shell
    // exits: a PID file that names this very shell is then released at its exit instead.
    if sh.in_trap_before_exit() {
        let names_this_shell = matches!(pid_dir(sh).read_pid_only(&name), Ok(Contents::Pid { pid, .. }) if pid == sh.shell_pid());
        if names_this_shell && sh.call_function("_process-register-cleanup", &[&name]).is_some() {
            return Ok(STATUS_OK);
        }
    }
    if let Err(e) = pid_dir(sh).remove(&name) {
        sh.warn("process-remove-pid", &e.to_string());
    }
    Ok(STATUS_OK)
}

/// `process-check-pid-file NAME`: 0 when the file names a live process (the same one that
/// was written, when its identity was recorded); a stale file is removed and gives 1.
pub fn check_pid_file(sh: &mut Shell, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    match pid_dir(sh).check(&name).map_err(to_failure)? {
        Check::Running(_) => Ok(STATUS_OK),
        Check::Stale | Check::Missing => Ok(STATUS_NO),
    }
}
