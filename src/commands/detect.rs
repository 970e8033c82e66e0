//! Detection: process-exists, process-is-running, process-find-by-name,
//! process-find-all-by-name, process-find-by-port.

use super::spec::{Kind, Operand, Opt, Spec, VAR, VAR_ARRAY};
use super::{failed, usage, with_state, Args, Context, Exit, Failure, Outcome};
use super::outcome::failed_with;
use crate::zsh::Value;
use process_facts::{find, parse_pid, ports, Pid};

pub const PID: Operand = Operand { name: "pid", kind: Kind::Pid, about: "a process ID" };
const NAME: Operand = Operand {
    name: "name",
    kind: Kind::ProcessName,
    about: "matched exactly: the kernel's name, a long name beyond its 15 bytes, or a script's file name under an interpreter",
};

pub const EXISTS: Spec = Spec {
    purpose: "tell whether a process is running (a zombie or a thread ID is not)",
    operands: &[PID],
    min: 1,
    max: 1,
    options: &[],
    exits: &[(0, "the process is running"), (1, "it is not (no such process, a zombie, a thread ID)")],
    see: "docs/inspect.md#process-exists-process-is-running",
};
pub const IS_RUNNING: Spec = Spec { purpose: "the same as process-exists, under the spec's other name", ..EXISTS };
pub const FIND_BY_NAME: Spec = Spec {
    purpose: "print the PID of the oldest running process with this name",
    operands: &[NAME],
    min: 1,
    max: 1,
    options: &[VAR],
    exits: &[(0, "found: its PID printed"), (1, "no such process (nothing printed)")],
    see: "docs/inspect.md#process-find-by-name-process-find-all-by-name",
};
pub const FIND_ALL_BY_NAME: Spec = Spec {
    purpose: "print the PIDs of every running process with this name, oldest first",
    options: &[VAR_ARRAY],
    exits: &[(0, "found: their PIDs printed, one a line"), (1, "no such process (nothing printed)")],
    ..FIND_BY_NAME
};
pub const FIND_BY_PORT: Spec = Spec {
    purpose: "print the PID of the process listening on a port (TCP, IPv4 and IPv6)",
    operands: &[Operand { name: "port", kind: Kind::Port, about: "1 to 65535" }],
    min: 1,
    max: 1,
    options: &[VAR, Opt { name: "--udp", value: None, about: "also bound UDP sockets" }],
    exits: &[
        (0, "found: its PID printed"),
        (1, "nothing listens on that port"),
        (2, "in use, but its owner's descriptors cannot be read by you (never reported as free)"),
        (6, "no socket table can be read (no sock_diag, no /proc/net)"),
    ],
    see: "docs/inspect.md#process-find-by-port",
};

/// Exit status when the port is in use but its owner's fds cannot be read.
pub const OWNER_UNKNOWN: Exit = Exit::Status(2);
/// Exit status when no socket table can be read (the spec's "no tool available").
pub const NO_SOCKET_TABLE: Exit = Exit::Status(6);

pub fn pid_operand(args: &Args, i: usize) -> Result<Pid, Failure> {
    parse_pid(args.text(i)?).map_err(|e| usage(e.to_string()))
}

/// `process-exists PID`: 0 when PID is a live process (a zombie or a thread is not), 1
/// otherwise.
pub fn exists(_cx: &mut Context, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    Ok(Exit::yes_no(with_state(|s| s.liveness.is_alive(pid))))
}

fn matching(cx: &mut Context, args: &Args) -> Result<Vec<Pid>, Failure> {
    let name = args.bytes(0);
    if name.is_empty() {
        return Err(usage("empty process name"));
    }
    let all = find::find_all(name).map_err(|e| failed(format!("cannot read /proc: {e}")))?;
    let callers = [process_facts::proc::current_pid(), cx.sh.shell_pid()];
    Ok(find::without_callers(all, &callers))
}

fn pid_text(pid: Pid) -> Vec<u8> {
    pid.to_string().into_bytes()
}

/// `process-find-by-name [-v VAR] NAME`: the oldest matching process.
pub fn find_by_name(cx: &mut Context, args: &Args) -> Outcome {
    match matching(cx, args)?.first() {
        Some(&pid) => {
            cx.put(args, Value::Scalar(pid_text(pid)))?;
            Ok(Exit::Success)
        }
        None => {
            cx.clear_var(args, Value::Scalar(Vec::new()))?;
            Ok(Exit::No)
        }
    }
}

/// `process-find-all-by-name [-v ARRAY] NAME`: every match, oldest first.
pub fn find_all_by_name(cx: &mut Context, args: &Args) -> Outcome {
    let pids = matching(cx, args)?;
    if !pids.is_empty() || args.var().is_some() {
        cx.put(args, Value::Array(pids.iter().map(|&p| pid_text(p)).collect()))?;
    }
    Ok(Exit::yes_no(!pids.is_empty()))
}

/// `process-find-by-port [-v VAR] [--udp] PORT`: the process listening on PORT (TCP, IPv4
/// and IPv6; with `--udp` also UDP). Exit 1 when the port is free, 2 when it is in use
/// but the owner cannot be seen (another user's process), 6 when no socket table is
/// readable.
pub fn find_by_port(cx: &mut Context, args: &Args) -> Outcome {
    let text = args.text(0)?;
    let port: u16 = match text.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) && text.bytes().all(|b| b.is_ascii_digit()) => p as u16,
        _ => return Err(usage(format!("invalid port '{text}': expected a number from 1 to 65535"))),
    };
    cx.clear_var(args, Value::Scalar(Vec::new()))?;
    let listeners = ports::listeners(port, args.flag("--udp"))
        .map_err(|e| failed_with(NO_SOCKET_TABLE, format!("cannot read the kernel's socket tables: {e}")))?;
    if listeners.is_empty() {
        return Ok(Exit::No);
    }
    // Last time's owners from the shared store, so a fresh `$(...)` shell does not scan
    // every process; the shell's own memory when the store is refused.
    let owners = match process_facts::samples::Store::open(&cx.samples_dir()) {
        Ok(mut store) => ports::owners(&listeners, &mut store),
        Err(_) => with_state(|s| ports::owners(&listeners, &mut s.owners_here)),
    }
    .map_err(|e| failed(format!("cannot read /proc: {e}")))?;
    match owners.pid {
        Some(pid) => {
            cx.put(args, Value::Scalar(pid_text(pid)))?;
            Ok(Exit::Success)
        }
        // The listener may have closed during the scan: then the port is free now.
        None if ports::listeners(port, args.flag("--udp")).is_ok_and(|now| !now.iter().any(|l| listeners.contains(l))) => Ok(Exit::No),
        None if owners.unreadable > 0 => Err(failed_with(
            OWNER_UNKNOWN,
            format!("port {port} is in use, but its owner cannot be determined ({} process(es) not readable by you; try as root)", owners.unreadable),
        )),
        // Every process was read, and none holds it (a socket passed on and closed, or
        // held only by the kernel): in use, owned by no process.
        None => Err(failed_with(OWNER_UNKNOWN, format!("port {port} is in use, but no process holds its socket"))),
    }
}
