//! process-wait: waits for processes that need not be the shell's children to exit, as
//! procps' `pidwait` does, on pidfds (the exit wakes the wait; nothing is polled).
//!
//! The exit status is known when the kernel lets it be: for a child of this shell (a
//! service it started), from `waitid` without reaping it (SIGCHLD is held meanwhile, so
//! the shell's handler cannot take it first); for another process, from its zombie's
//! `/proc/PID/stat` while its parent has not reaped it yet. Otherwise it is `unknown`.

use super::control::{resolve, NAME_OR_PID};
use super::spec::{Opt, Spec, Kind};
use super::{failed, Args, Context, Exit, Outcome};
use crate::zsh::Value;
use process_facts::pidfd::PidFd;
use process_facts::signal::{signal_name, BlockedSignals};
use process_facts::spawn::ReapFirst;
use process_facts::{sys, Identity};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

pub const WAIT: Spec = Spec {
    purpose: "wait for processes (by PID or service name, not only the shell's children) to exit",
    operands: &[NAME_OR_PID],
    min: 1,
    max: usize::MAX,
    options: &[
        Opt { name: "--timeout", value: Some(("SECONDS", Kind::Seconds)), about: "give up after this long (default: no limit)" },
        Opt { name: "--any", value: None, about: "return once one of them has exited" },
        Opt {
            name: "-v",
            value: Some(("ASSOC", Kind::Var)),
            about: "put each exited process's status in this associative array: PID -> exit code, a signal name (TERM), or unknown",
        },
    ],
    exits: &[(0, "they exited (with --any: one did)"), (1, "one was not running at the start or is the calling shell, or the timeout passed first"), (130, "Ctrl-C")],
    see: "docs/services.md#waiting",
};

/// How a process ended, as the kernel told it.
fn status_text(status: Option<i32>) -> String {
    match status.map(sys::process::Exit::from_wait_status) {
        Some(sys::process::Exit::Code(c)) => c.to_string(),
        Some(sys::process::Exit::Signal(s)) => signal_name(s),
        None => "unknown".to_string(),
    }
}

/// `process-wait [--timeout S] [--any] [-v ASSOC] NAME_OR_PID...`
pub fn wait(cx: &mut Context, args: &Args) -> Outcome {
    let timeout = match args.value("--timeout") {
        Some(_) => Some(args.seconds("--timeout", Duration::ZERO)?),
        None => None,
    };
    let any = args.flag("--any");
    let me = process_facts::proc::current_pid();
    let mut targets: Vec<(Identity, PidFd)> = Vec::new();
    for i in 0..args.count() {
        let target = resolve(cx, args.text(i)?)?.map_err(failed)?;
        // It could only end with --timeout, or never.
        if target.id.pid == me {
            return Err(failed(format!("refusing to wait for the calling shell itself (PID {me})")));
        }
        if targets.iter().any(|(id, _)| *id == target.id) {
            continue;
        }
        let fd = PidFd::open(target.id).map_err(|e| failed(format!("cannot wait for {}: {e}", target.id.pid)))?;
        targets.push((target.id, fd));
    }
    // Held so that a child's exit status is still there to read (see above); and should
    // shell code run meanwhile (a trap) and let SIGCHLD through, the handler ahead of the
    // shell's reaps our children first and keeps their status.
    let _held = BlockedSignals::block(&[libc::SIGCHLD]).map_err(|e| failed(format!("cannot hold SIGCHLD: {e}")))?;
    let reaper = ReapFirst::install().map_err(|e| failed(format!("cannot watch SIGCHLD: {e}")))?;
    let children: Vec<Identity> =
        targets.iter().map(|(id, _)| *id).filter(|id| process_facts::proc::stat(id.pid).is_ok_and(|s| s.ppid == me)).collect();
    for c in &children {
        reaper.watch(c.pid);
    }
    let _unwatch = Unwatch { reaper: &reaper, pids: children.iter().map(|c| c.pid).collect() };
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut exited: Vec<(Identity, String)> = Vec::new();
    loop {
        let mut i = 0;
        while i < targets.len() {
            if targets[i].1.has_exited() {
                let (id, _) = targets.remove(i);
                let status = reaper.taken(id.pid).or_else(|| process_facts::proc::exit_status(id));
                exited.push((id, status_text(status)));
            } else {
                i += 1;
            }
        }
        if targets.is_empty() || (any && !exited.is_empty()) {
            break;
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            let still: Vec<String> = targets.iter().map(|(id, _)| id.pid.to_string()).collect();
            put(cx, args, &exited)?;
            return Err(failed(format!("still running after {}s: {}", timeout.unwrap_or_default().as_secs_f64(), still.join(" "))));
        }
        let mut fds: Vec<sys::PollFd> = targets.iter().map(|(_, fd)| sys::readable(fd.as_raw_fd())).collect();
        process_facts::wait::poll(cx, &mut fds, left)?;
    }
    for (id, status) in &exited {
        cx.debug(&format!("process-wait: {} exited: {status}", id.pid));
    }
    put(cx, args, &exited)?;
    Ok(Exit::Success)
}

/// Stops watching the children, however the wait ends.
struct Unwatch<'r> {
    reaper: &'r ReapFirst,
    pids: Vec<process_facts::Pid>,
}

impl Drop for Unwatch<'_> {
    fn drop(&mut self) {
        for &p in &self.pids {
            self.reaper.unwatch(p);
        }
    }
}

fn put(cx: &mut Context, args: &Args, exited: &[(Identity, String)]) -> Result<(), super::Failure> {
    if args.var().is_none() {
        return Ok(());
    }
    cx.put(args, Value::Assoc(exited.iter().map(|(id, s)| (id.pid.to_string(), s.clone().into_bytes())).collect()))
}
