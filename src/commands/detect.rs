//! Detection: process-exists, process-is-running, process-find-by-name,
//! process-find-all-by-name, process-find-by-port.

use super::{failed, put, usage, with_state, Args, Failure, OptSpec, Outcome, STATUS_NO, STATUS_OK};
use crate::zsh::{Shell, Value};
use process_facts::{find, parse_pid, ports};

pub const EXISTS: OptSpec = OptSpec { valued: &[], flags: &[], operands: &["pid"], min: 1, max: 1 };
pub const FIND: OptSpec = OptSpec { valued: &["-v"], flags: &[], operands: &["name"], min: 1, max: 1 };
pub const PORT: OptSpec = OptSpec { valued: &["-v"], flags: &["--udp"], operands: &["port"], min: 1, max: 1 };

/// Exit status when the port is in use but its owner's fds cannot be read.
pub const STATUS_OWNER_UNKNOWN: i32 = 2;
/// Exit status when no socket table can be read (the spec's "no tool available").
pub const STATUS_NO_SOCKET_TABLE: i32 = 6;

pub fn pid_operand(args: &Args, i: usize) -> Result<i32, Failure> {
    parse_pid(args.operand(i)).map_err(|e| usage(e.to_string()))
}

/// `process-exists PID`: 0 when PID is a live process (a zombie is not), 1 otherwise.
pub fn exists(_sh: &mut Shell, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    Ok(if with_state(|s| s.liveness.is_alive(pid)) { STATUS_OK } else { STATUS_NO })
}

fn matching(sh: &mut Shell, args: &Args) -> Result<Vec<i32>, Failure> {
    let name = args.operand(0);
    if name.is_empty() {
        return Err(usage("empty process name"));
    }
    let all = find::find_all(name).map_err(|e| failed(format!("cannot read /proc: {e}")))?;
    let me = process_facts::proc::current_pid();
    let callers = [me, sh.shell_pid()];
    Ok(find::without_callers(all, &callers))
}

/// `process-find-by-name [-v VAR] NAME`: the oldest matching process.
pub fn find_by_name(sh: &mut Shell, args: &Args) -> Outcome {
    match matching(sh, args)?.first() {
        Some(pid) => {
            put(sh, args, Value::Scalar(pid.to_string()))?;
            Ok(STATUS_OK)
        }
        None => {
            if args.var().is_some() {
                put(sh, args, Value::Scalar(String::new()))?;
            }
            Ok(STATUS_NO)
        }
    }
}

/// `process-find-all-by-name [-v ARRAY] NAME`: every match, oldest first.
pub fn find_all_by_name(sh: &mut Shell, args: &Args) -> Outcome {
    let pids = matching(sh, args)?;
    let status = if pids.is_empty() { STATUS_NO } else { STATUS_OK };
    if !pids.is_empty() || args.var().is_some() {
        put(sh, args, Value::Array(pids.iter().map(|p| p.to_string()).collect()))?;
    }
    Ok(status)
}

/// `process-find-by-port [-v VAR] [--udp] PORT`: the process listening on PORT (TCP, IPv4
/// and IPv6; with `--udp` also UDP). Exit 1 when the port is free, 2 when it is in use
/// but the owner cannot be seen (another user's process), 6 when no socket table is
/// readable.
pub fn find_by_port(sh: &mut Shell, args: &Args) -> Outcome {
    let text = args.operand(0);
    let port: u16 = match text.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) && text.bytes().all(|b| b.is_ascii_digit()) => p as u16,
        _ => return Err(usage(format!("invalid port '{text}': expected a number from 1 to 65535"))),
    };
    if args.var().is_some() {
        put(sh, args, Value::Scalar(String::new()))?;
    }
    let listeners = ports::listeners(port, args.flag("--udp"))
        .map_err(|e| Failure::Failed(format!("cannot read the kernel's socket tables: {e}"), STATUS_NO_SOCKET_TABLE))?;
    if listeners.is_empty() {
        return Ok(STATUS_NO);
    }
    let owners = with_state(|s| ports::owners(&listeners, &mut s.ports)).map_err(|e| failed(format!("cannot read /proc: {e}")))?;
    match owners.pids.first() {
        Some(pid) => {
            put(sh, args, Value::Scalar(pid.to_string()))?;
            Ok(STATUS_OK)
        }
        None => Err(Failure::Failed(
            format!(
                "port {port} is in use, but its owner cannot be determined ({} process(es) not readable by you; try as root)",
                owners.unreadable.max(1)
            ),
            STATUS_OWNER_UNKNOWN,
        )),
    }
}
