//! Information: process-get-cpu, process-get-memory, process-get-command, process-get-info.

use super::detect::pid_operand;
use super::detect::PID;
use super::spec::{Opt, Spec, VAR};
use super::{failed, with_state, Args, Context, Exit, Outcome};
use crate::zsh::Value;
use process_facts::cpu::{self, format_percent, Step};
use process_facts::{proc, samples, Identity, Pid};

pub const GET_CPU: Spec = Spec {
    purpose: "print a process's recent CPU use, in percent of one core (one decimal)",
    operands: &[PID],
    min: 1,
    max: 1,
    options: &[VAR],
    exits: &[(0, "printed"), (1, "no such process (0 printed)")],
    see: "docs/inspect.md#process-get-cpu",
};
pub const GET_MEMORY: Spec = Spec {
    purpose: "print a process's resident memory in KB",
    exits: &[(0, "printed"), (1, "no such process (0 printed)")],
    see: "docs/inspect.md#process-get-memory",
    ..GET_CPU
};
pub const GET_COMMAND: Spec = Spec {
    purpose: "print a process's command name (whole, not cut at the kernel's 15 bytes)",
    exits: &[(0, "printed"), (1, "no such process (nothing printed)")],
    see: "docs/inspect.md#process-get-command",
    ..GET_CPU
};
pub const GET_INFO: Spec = Spec {
    purpose: "print a process's PID, CPU, memory, command and start time",
    options: &[Opt {
        name: "-v",
        value: Some(("ASSOC", super::spec::Kind::Var)),
        about: "fill the associative array ASSOC (keys pid cpu memory command start_time start_epoch state ppid uid args)",
    }],
    exits: &[(0, "printed"), (1, "no such process")],
    see: "docs/inspect.md#process-get-info",
    ..GET_CPU
};

/// Recent CPU use of `pid` (see process_facts::cpu), None when there is no such process.
/// Measured from the last sample any of the user's shells took (process_facts::samples),
/// and the new sample kept there; only the very first measurement waits, and its wait
/// holds no state, so a trap may call back in meanwhile. Should the store be refused, the
/// shell keeps its own samples (and says why).
pub fn cpu_percent(cx: &mut Context, pid: Pid) -> Option<f64> {
    let (id, now) = cpu::sample(pid)?;
    let path = cx.samples_dir();
    let store = samples::Store::open(&path);
    let previous = match &store {
        Ok(store) => store.cpu(id),
        Err(e) => {
            cx.warn(&e.to_string());
            with_state(|s| s.cpu_here.get(&id).copied())
        }
    };
    let (kept, store) = match cpu::step(previous, now) {
        Step::Recent(p) => return Some(p),
        Step::Measured(sample) => (sample, store),
        Step::First { wait, from } => {
            // Nothing of ours stays open across the wait, where traps run (one may put a
            // file of its own at the store's descriptor number): the store is opened again.
            drop(store);
            process_facts::wait::sleep(cx, wait).ok()?;
            let (again, end) = cpu::sample(pid)?;
            if again != id {
                return None;
            }
            (cpu::measured(from, end), samples::Store::open(&path))
        }
    };
    match &store {
        Ok(store) => {
            let _ = store.put_cpu(id, kept);
        }
        Err(_) => with_state(|s| {
            if s.cpu_here.len() > 4096 {
                s.cpu_here.clear();
            }
            s.cpu_here.insert(id, kept);
        }),
    }
    kept.percent
}

/// `process-get-cpu [-v VAR] PID`: recent CPU use in percent, "0" when not found.
pub fn get_cpu(cx: &mut Context, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    let cpu = cpu_percent(cx, pid);
    cx.put(args, Value::text(cpu.map(format_percent).unwrap_or_else(|| "0".into())))?;
    Ok(Exit::yes_no(cpu.is_some()))
}

/// `process-get-memory [-v VAR] PID`: resident set size in KB, "0" when not found.
pub fn get_memory(cx: &mut Context, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    let rss = Identity::of(pid).and_then(|_| proc::rss_kb(pid).ok());
    cx.put(args, Value::text(rss.unwrap_or(0).to_string()))?;
    Ok(Exit::yes_no(rss.is_some()))
}

/// The command name, not cut at the kernel's 15 bytes: when `comm` was truncated, the
/// basename of argv[0] or of the executable that it begins. A zombie still has its name
/// (as `ps` shows it), only not its command line.
pub fn command_name(pid: Pid) -> Option<Vec<u8>> {
    let stat = proc::stat(pid).ok()?;
    if stat.comm.len() < 15 {
        return Some(stat.comm);
    }
    let argv0 = proc::cmdline(pid).ok().and_then(|a| a.into_iter().next()).map(|a| a.rsplit(|&b| b == b'/').next().unwrap_or(&[]).to_vec());
    [argv0, proc::exe_name(pid)].into_iter().flatten().find(|n| n.starts_with(&stat.comm)).or(Some(stat.comm))
}

/// `process-get-command [-v VAR] PID`: the command name, of a zombie too; nothing
/// (status 1) when there is no such process (a thread ID is not one).
pub fn get_command(cx: &mut Context, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    match command_name(pid).filter(|_| proc::is_process(pid)) {
        Some(name) => {
            cx.put(args, Value::Scalar(name))?;
            Ok(Exit::Success)
        }
        None => {
            cx.clear_var(args, Value::Scalar(Vec::new()))?;
            Ok(Exit::No)
        }
    }
}

/// `process-get-info [-v ASSOC] PID`: the documented five-line summary, or with `-v` an
/// associative array with keys pid, cpu, memory, command, start_time, start_epoch,
/// state, ppid, uid, args.
pub fn get_info(cx: &mut Context, args: &Args) -> Outcome {
    let pid = pid_operand(args, 0)?;
    let Some(stat) = Identity::of(pid).and_then(|_| proc::stat(pid).ok()) else {
        return Err(failed(format!("no such process: {pid}")));
    };
    let cpu = cpu_percent(cx, pid).map(format_percent).unwrap_or_else(|| "0".into());
    let mem = proc::rss_kb(pid).unwrap_or(0).to_string();
    let command = command_name(pid).unwrap_or_else(|| stat.comm.clone());
    let start_epoch = proc::start_epoch(&stat).unwrap_or(0);
    let start = proc::format_local_time(start_epoch);
    if args.var().is_some() {
        let argv = proc::cmdline(pid).unwrap_or_default().join(&b' ');
        let uid = proc::owner_uid(pid).map(|u| u.to_string()).unwrap_or_default();
        let text = |s: String| s.into_bytes();
        let pairs = vec![
            ("pid".into(), text(pid.to_string())),
            ("cpu".into(), text(cpu)),
            ("memory".into(), text(mem)),
            ("command".into(), command),
            ("start_time".into(), text(start)),
            ("start_epoch".into(), text(start_epoch.to_string())),
            ("state".into(), text(stat.state.to_string())),
            ("ppid".into(), text(stat.ppid.to_string())),
            ("uid".into(), text(uid)),
            ("args".into(), argv),
        ];
        cx.put(args, Value::Assoc(pairs))?;
    } else {
        let mut out = format!("PID:         {pid}\nCPU:         {cpu}%\nMemory:      {mem} KB\nCommand:     ").into_bytes();
        // A listing for a person: another user's name must not drive the terminal or
        // forge a line (`-v` and process-get-command give the bytes as they are).
        out.extend_from_slice(&super::printable_bytes(&command));
        out.extend_from_slice(format!("\nStart Time:  {start}\n").as_bytes());
        cx.sh.print(&out);
    }
    Ok(Exit::Success)
}
