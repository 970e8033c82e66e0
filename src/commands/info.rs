//! Information: process-get-cpu, process-get-memory, process-get-command, process-get-info.

use super::detect::pid_operand;
use super::{put, sleep_interruptibly, with_state, Args, OptSpec, Outcome, STATUS_NO, STATUS_OK};
use crate::zsh::{Shell, Value};
use process_facts::cpu::format_percent;
use process_facts::{proc, Pid};

pub const ONE_PID: OptSpec = OptSpec { valued: &["-v"], flags: &[], operands: &["pid"], min: 1, max: 1 };

/// Recent CPU use of `pid` (see process_facts::cpu), None when there is no such process.
pub fn cpu_percent(sh: &mut Shell, pid: Pid) -> Option<f64> {
    with_state(|s| s.cpu.cpu_percent(pid, &mut |d| sleep_interruptibly(sh, d)))
}

/// `process-get-cpu [-v VAR] PID`: recent CPU use in percent, "0" when not found.
pub fn get_cpu(sh: &mut Shell, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    match cpu_percent(sh, pid) {
        Some(p) => {
            put(sh, args, Value::Scalar(format_percent(p)))?;
            Ok(STATUS_OK)
        }
        None => {
            put(sh, args, Value::Scalar("0".into()))?;
            Ok(STATUS_NO)
        }
    }
}

/// `process-get-memory [-v VAR] PID`: resident set size in KB, "0" when not found.
pub fn get_memory(sh: &mut Shell, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    let rss = proc::is_alive(pid).then(|| proc::rss_kb(pid).ok()).flatten();
    put(sh, args, Value::Scalar(rss.unwrap_or(0).to_string()))?;
    Ok(if rss.is_some() { STATUS_OK } else { STATUS_NO })
}

/// The command name, not cut at the kernel's 15 bytes: when `comm` was truncated, the
/// basename of argv[0] or of the executable that it begins.
pub fn command_name(pid: Pid) -> Option<String> {
    let stat = proc::stat(pid).ok().filter(|s| s.is_alive())?;
    if stat.comm.len() < 15 {
        return Some(stat.comm);
    }
    let argv0 = proc::cmdline(pid).ok().and_then(|a| a.into_iter().next()).map(|a| a.rsplit('/').next().unwrap_or("").to_string());
    [argv0, proc::exe_name(pid)].into_iter().flatten().find(|n| n.starts_with(&stat.comm)).or(Some(stat.comm))
}

/// `process-get-command [-v VAR] PID`: the command name; nothing (status 1) when not found.
pub fn get_command(sh: &mut Shell, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    match command_name(pid) {
        Some(name) => {
            put(sh, args, Value::Scalar(name))?;
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

/// `process-get-info [-v ASSOC] PID`: the documented five-line summary, or with `-v` an
/// associative array with keys pid, cpu, memory, command, start_time, start_epoch,
/// state, ppid, user, args.
pub fn get_info(sh: &mut Shell, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    let Some(stat) = proc::stat(pid).ok().filter(|s| s.is_alive()) else {
        return Err(super::failed(format!("no such process: {pid}")));
    };
    let cpu = cpu_percent(sh, pid).map(format_percent).unwrap_or_else(|| "0".into());
    let mem = proc::rss_kb(pid).unwrap_or(0).to_string();
    let command = command_name(pid).unwrap_or_else(|| stat.comm.clone());
    let start_epoch = proc::start_epoch(&stat).unwrap_or(0);
    let start = proc::format_local_time(start_epoch);
    if args.var().is_some() {
        let argv = proc::cmdline(pid).unwrap_or_default().join(" ");
        let user = std::fs::metadata(format!("/proc/{pid}"))
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m).to_string())
            .unwrap_or_default();
        let pairs = vec![
            ("pid".into(), pid.to_string()),
            ("cpu".into(), cpu),
            ("memory".into(), mem),
            ("command".into(), command),
            ("start_time".into(), start),
            ("start_epoch".into(), start_epoch.to_string()),
            ("state".into(), stat.state.to_string()),
            ("ppid".into(), stat.ppid.to_string()),
            ("uid".into(), user),
            ("args".into(), argv),
        ];
        put(sh, args, Value::Assoc(pairs))?;
    } else {
        sh.print(&format!(
            "PID:         {pid}\nCPU:         {cpu}%\nMemory:      {mem} KB\nCommand:     {command}\nStart Time:  {start}\n"
        ));
    }
    Ok(STATUS_OK)
}
