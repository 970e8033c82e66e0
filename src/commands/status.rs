//! process-status: what the services the library started or supervises are doing, as a
//! table (supervisorctl's, pm2's) or JSON. `process-list` keeps the spec's format.
//!
//! CPU is measured over one 100 ms window shared by every service shown, and memory is
//! resident; both are summed over each service's tree (the process and its descendants),
//! so a server that forks workers shows what it costs.

use super::groups::group_name;
use super::spec::{Kind, Operand, Opt, Spec};
use super::{failed, Args, Context, Exit, Outcome};
use super::promfile::{PromFile, PROM};
use process_facts::pidfd::PidFd;
use process_facts::prom;
use process_facts::state::{Entry, Member};
use process_facts::{cpu, proc, tree, Identity, Pid};
use std::io::IsTerminal;
use std::time::Duration;

pub const STATUS: Spec = Spec {
    purpose: "show the state of services: name, PID, state, uptime, restarts, CPU, memory, command",
    operands: &[Operand { name: "name", kind: Kind::Service, about: "a service (default: every one started or supervised, and every stack entry)" }],
    min: 0,
    max: usize::MAX,
    options: &[
        Opt { name: "--group", value: Some(("GROUP", Kind::Group)), about: "the members of this group" },
        Opt { name: "--json", value: None, about: "a JSON array, one object per service (keys in docs/services.md#status)" },
        PROM,
        Opt {
            name: "--every",
            value: Some(("SECONDS", Kind::Seconds)),
            about: "with --prom: keep the file current, rewriting it every SECONDS and at once when a service exits, until Ctrl-C",
        },
    ],
    exits: &[
        (0, "every service shown is running or ready (with --prom: the file written)"),
        (1, "one is starting, restarting, stopped or dead, or NAME is unknown; or the --prom file is refused"),
        (130, "Ctrl-C (ends --every)"),
    ],
    see: "docs/services.md#status",
};

/// The window CPU use is measured over.
const CPU_WINDOW: Duration = Duration::from_millis(100);

/// What one service is doing.
struct Row {
    name: String,
    pid: Option<Pid>,
    state: &'static str,
    uptime: Option<u64>,
    restarts: u32,
    /// Its tree, for CPU and memory.
    members: Vec<Pid>,
    cpu: Option<f64>,
    /// CPU time of its live tree since each process started, in ticks (for the metrics).
    cpu_ticks: u64,
    memory_kb: Option<u64>,
    command: String,
    stack: Option<String>,
    check: String,
    supervisor: Option<Pid>,
    log: String,
}

/// The state of a service from its registry entry and the processes it names.
fn state_of(entry: &Entry, alive: bool) -> &'static str {
    let supervised = entry.supervisor.is_some_and(|s| s.is_alive());
    match (alive, entry.gave_up) {
        (true, _) if entry.check.is_empty() => "running",
        (true, _) if entry.ready_epoch.is_some() => "ready",
        (true, _) => "starting",
        (false, false) if supervised => "restarting",
        (false, _) => "dead",
    }
}

fn row_for(cx: &mut Context, name: &str) -> Result<Option<Row>, super::Failure> {
    let settings = cx.settings();
    let entry = settings.state().entry(name)?;
    let running = settings.pid_files().running(name, cx)?;
    let Some(entry) = entry else {
        // A PID file of its own (process-write-pid), or an entry of a stack that is down.
        if let Some(id) = running {
            return Ok(Some(process_row(name, id)));
        }
        let stack = settings.state().stack_names()?.into_iter().find(|s| {
            settings.state().stack(s).ok().flatten().is_some_and(|st| st.entry(name).is_some())
        });
        return Ok(stack.map(|s| {
            let command = settings.state().stack(&s).ok().flatten().and_then(|st| st.entry(name).map(|e| e.command.clone())).unwrap_or_default();
            Row { state: "stopped", stack: Some(s), command, ..empty_row(name) }
        }));
    };
    let id = entry.identity();
    let alive = id.is_alive();
    let mut members = if alive { tree::descendants_deepest_first(id.pid).unwrap_or_default() } else { Vec::new() };
    if alive {
        members.push(id.pid);
    }
    Ok(Some(Row {
        name: name.to_string(),
        pid: Some(id.pid),
        state: state_of(&entry, alive),
        uptime: if alive { uptime(id.pid) } else { None },
        restarts: entry.restarts,
        members,
        cpu: None,
        cpu_ticks: 0,
        memory_kb: None,
        command: entry.command.clone(),
        stack: entry.stack.clone(),
        check: entry.check.clone(),
        supervisor: entry.supervisor.filter(Identity::is_alive).map(|s| s.pid),
        log: entry.log.clone(),
    }))
}

fn empty_row(name: &str) -> Row {
    Row {
        name: name.to_string(),
        pid: None,
        state: "dead",
        uptime: None,
        restarts: 0,
        members: Vec::new(),
        cpu: None,
        cpu_ticks: 0,
        memory_kb: None,
        command: String::new(),
        stack: None,
        check: String::new(),
        supervisor: None,
        log: String::new(),
    }
}

/// A process not started by the library (a PID file's, a group's PID member).
fn process_row(name: &str, id: Identity) -> Row {
    let alive = id.is_alive();
    let command = proc::cmdline(id.pid).map(|a| String::from_utf8_lossy(&a.join(&b' ')).into_owned()).unwrap_or_default();
    let mut members = if alive { tree::descendants_deepest_first(id.pid).unwrap_or_default() } else { Vec::new() };
    if alive {
        members.push(id.pid);
    }
    Row { pid: Some(id.pid), state: if alive { "running" } else { "dead" }, uptime: uptime(id.pid), members, command, ..empty_row(name) }
}

fn uptime(pid: Pid) -> Option<u64> {
    proc::age(&proc::stat(pid).ok()?).map(|d| d.as_secs())
}

/// The services to show, and what was not shown: one record that cannot be read (refused,
/// corrupt) is said, and every other service is still shown.
struct Listing {
    rows: Vec<Row>,
    /// Something asked for, or found, could not be shown (status 1).
    incomplete: bool,
    /// What to say about it, one line each (said by the caller: once, with --every).
    said: Vec<String>,
}

impl Listing {
    /// Adds NAME's row; `absent` is the row of a name that has none (None: unknown).
    fn add(&mut self, cx: &mut Context, name: &str, absent: Option<Row>) -> Result<(), super::Failure> {
        match row_for(cx, name) {
            Ok(Some(r)) => self.rows.push(r),
            Ok(None) => match absent {
                Some(r) => self.rows.push(r),
                None => self.note(format!("no such service: {name}")),
            },
            Err(f) if f.is_interrupted() => return Err(f),
            Err(f) => self.note(f.message),
        }
        Ok(())
    }

    fn note(&mut self, line: String) {
        self.incomplete = true;
        self.said.push(line);
    }
}

/// The services to show, by the operands and options.
fn rows(cx: &mut Context, args: &Args) -> Result<Listing, super::Failure> {
    let mut listing = Listing { rows: Vec::new(), incomplete: false, said: Vec::new() };
    if args.value("--group").is_some() {
        let group = group_name(args.value("--group").unwrap_or_default())?;
        let members = cx.settings().state().group_members(&group)?;
        if members.is_empty() {
            return Err(failed(format!("no such group, or empty: {group}")));
        }
        for m in members {
            match m {
                Member::Service(name) => listing.add(cx, &name, Some(Row { state: "stopped", ..empty_row(&name) }))?,
                Member::Process(id) => listing.rows.push(process_row(&id.pid.to_string(), id)),
            }
        }
        return Ok(listing);
    }
    let mut names: Vec<String> = Vec::new();
    if args.count() == 0 {
        let state = cx.settings().state();
        names.extend(state.registered_names()?);
        for s in state.stack_names()? {
            match state.stack(&s) {
                Ok(Some(stack)) => names.extend(stack.entries.into_iter().map(|e| e.name)),
                Ok(None) => {}
                Err(e) => listing.note(e.to_string()),
            }
        }
        names.sort();
        names.dedup();
    } else {
        for i in 0..args.count() {
            names.push(super::pidfiles::name_operand(args, i)?);
        }
    }
    for name in names {
        listing.add(cx, &name, None)?;
    }
    Ok(listing)
}

/// CPU over one shared window, and resident memory, for every row with live members.
/// False when there was none (and so no window).
fn measure(cx: &mut Context, rows: &mut [Row]) -> Result<bool, super::Failure> {
    let before: Vec<Vec<(Identity, process_facts::samples::CpuSample)>> =
        rows.iter().map(|r| r.members.iter().filter_map(|&p| cpu::sample(p)).collect()).collect();
    if before.iter().all(Vec::is_empty) {
        return Ok(false);
    }
    process_facts::wait::sleep(cx, CPU_WINDOW)?;
    let hz = proc::clock_ticks();
    for (row, before) in rows.iter_mut().zip(before) {
        if before.is_empty() {
            continue;
        }
        let mut ticks = 0u64;
        let mut wall = Duration::ZERO;
        let mut kb = 0u64;
        let mut total = 0u64;
        for (id, earlier) in before {
            if let Some((now_id, later)) = cpu::sample(id.pid).filter(|(i, _)| *i == id) {
                ticks += later.ticks.saturating_sub(earlier.ticks);
                total += later.ticks;
                wall = wall.max(Duration::from_nanos(later.at_ns.saturating_sub(earlier.at_ns)));
                kb += proc::rss_kb(now_id.pid).unwrap_or(0);
            }
        }
        row.cpu = Some(cpu::percent_of(ticks, wall, hz));
        row.cpu_ticks = total;
        row.memory_kb = Some(kb);
    }
    Ok(true)
}

/// `3d04h`, `2h05m`, `4m12s`, `12s`.
fn duration_text(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

/// `512K`, `12.3M`, `1.5G`.
fn memory_text(kb: u64) -> String {
    match kb {
        k if k < 1024 => format!("{k}K"),
        k if k < 1024 * 1024 => format!("{:.1}M", k as f64 / 1024.0),
        k => format!("{:.1}G", k as f64 / (1024.0 * 1024.0)),
    }
}

/// The ANSI colour of a state: green up, yellow on the way, red dead, dim stopped.
fn colour(state: &str) -> &'static str {
    match state {
        "running" | "ready" => "32",
        "starting" | "restarting" => "33",
        "dead" => "31",
        _ => "2",
    }
}

fn table(rows: &[Row], colours: bool) -> String {
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                super::printable(&r.name),
                r.pid.filter(|_| r.state != "stopped").map_or("-".into(), |p| p.to_string()),
                r.state.to_string(),
                r.uptime.map_or("-".into(), duration_text),
                r.restarts.to_string(),
                r.cpu.map_or("-".into(), |c| format!("{}%", cpu::format_percent(c))),
                r.memory_kb.map_or("-".into(), memory_text),
                super::printable(&r.command),
            ]
        })
        .collect();
    let header = ["NAME", "PID", "STATE", "UPTIME", "RESTARTS", "CPU", "MEM", "COMMAND"];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String], state_colour: Option<&str>| -> String {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            let pad = if last { String::new() } else { " ".repeat(widths[i] - cell.chars().count() + 2) };
            match (i, state_colour) {
                (2, Some(c)) => l.push_str(&format!("\x1b[{c}m{cell}\x1b[0m{pad}")),
                _ => l.push_str(&format!("{cell}{pad}")),
            }
        }
        l.push('\n');
        l
    };
    let mut out = line(&header.map(String::from), None);
    for (r, c) in rows.iter().zip(&cells) {
        out.push_str(&line(c, colours.then(|| colour(r.state))));
    }
    out
}

fn json(rows: &[Row]) -> String {
    use super::json::{number, string};
    let opt_num = |v: Option<f64>| v.map_or("null".to_string(), number);
    let opt_str = |v: Option<&str>| v.map_or("null".to_string(), string);
    let objects: Vec<String> = rows
        .iter()
        .map(|r| {
            let pid = r.pid.filter(|_| r.state != "stopped");
            format!(
                "{{\"name\":{},\"pid\":{},\"state\":{},\"up\":{},\"uptime_seconds\":{},\"restarts\":{},\"cpu_percent\":{},\"memory_bytes\":{},\"command\":{},\"stack\":{},\"check\":{},\"supervisor_pid\":{},\"log\":{}}}",
                string(&r.name),
                opt_num(pid.map(f64::from)),
                string(r.state),
                r.state == "ready" || r.state == "running",
                opt_num(r.uptime.map(|u| u as f64)),
                r.restarts,
                opt_num(r.cpu.map(|c| (c * 10.0).round() / 10.0)),
                opt_num(r.memory_kb.map(|k| (k * 1024) as f64)),
                string(&r.command),
                opt_str(r.stack.as_deref()),
                opt_str(Some(r.check.as_str()).filter(|c| !c.is_empty())),
                opt_num(r.supervisor.map(f64::from)),
                opt_str(Some(r.log.as_str()).filter(|l| !l.is_empty())),
            )
        })
        .collect();
    if objects.is_empty() {
        return "[]\n".to_string();
    }
    format!("[\n{}\n]\n", objects.join(",\n"))
}

/// The rows as the metrics see them: every service, up or not.
fn metrics_of(rows: &[Row], boot_time: Option<u64>) -> Vec<prom::Service> {
    let hz = proc::clock_ticks() as f64;
    rows.iter()
        .map(|r| prom::Service {
            name: r.name.clone(),
            restarts_total: r.restarts.into(),
            alerts: Vec::new(),
            running: r.pid.filter(|_| r.memory_kb.is_some()).map(|pid| prom::Running {
                pid,
                processes: r.members.len() as u32,
                cpu_seconds_total: r.cpu_ticks as f64 / hz,
                cpu_usage_ratio: r.cpu.map(|c| c / 100.0),
                resident_bytes: r.memory_kb.unwrap_or(0) * 1024,
                start_time_seconds: boot_time.and_then(|b| proc::stat(pid).ok().map(|st| proc::start_time_seconds(b, st.starttime))),
            }),
        })
        .collect()
}

/// `process-status [NAME...] [--group GROUP] [--json] [--prom FILE [--every S]]`
pub fn status(cx: &mut Context, args: &Args) -> Outcome {
    if args.value("--group").is_some() && args.count() > 0 {
        return Err(super::usage("give service names or --group, not both"));
    }
    let prom_path = super::promfile::option(args)?;
    let every = match args.value("--every") {
        Some(_) if prom_path.is_none() => return Err(super::usage("--every goes with --prom")),
        Some(t) => Some(super::settings::seconds(t).filter(|d| !d.is_zero()).ok_or_else(|| super::usage(format!("invalid --every '{t}': expected seconds above 0")))?),
        None => None,
    };
    if let Some(path) = prom_path {
        return publish(cx, args, &path, every);
    }
    let Listing { mut rows, incomplete, said } = rows(cx, args)?;
    for line in &said {
        cx.warn(line);
    }
    measure(cx, &mut rows)?;
    let text = if args.flag("--json") {
        json(&rows)
    } else if rows.is_empty() {
        "No services.\n".to_string()
    } else {
        // Colour only for a person at a terminal, and never against NO_COLOR's wish.
        let colours = std::io::stdout().is_terminal() && cx.sh.get("NO_COLOR").is_none_or(|v| v.is_empty());
        table(&rows, colours)
    };
    cx.sh.print(text.as_bytes());
    Ok(Exit::yes_no(all_up(&rows) && !incomplete))
}

fn all_up(rows: &[Row]) -> bool {
    rows.iter().all(|r| r.state == "running" || r.state == "ready")
}

/// `--prom FILE [--every S]`: the services' metrics in FILE, once or kept current. With
/// --every, the wait between two writes is one poll on the services' pidfds and the
/// registry (inotify): an exit, a start or a restart rewrites the file at once.
fn publish(cx: &mut Context, args: &Args, path: &str, every: Option<Duration>) -> Outcome {
    let mut file = PromFile::open(path)?;
    let registry = cx.settings().state().registry_dir()?;
    // Its own writes there would wake the loop below, and read as services.
    if super::promfile::open_dir_of(path)?.0.is(&registry) {
        return Err(super::usage(format!("invalid --prom '{path}': it is in the registry directory, which holds the library's own records")));
    }
    let Listing { mut rows, incomplete, said } = rows(cx, args)?;
    // With --every, each line is said once, not at every rewrite.
    let mut said_before = std::collections::HashSet::new();
    for line in said {
        cx.warn(&line);
        said_before.insert(line);
    }
    let mut measured = measure(cx, &mut rows)?;
    file.write(&metrics_of(&rows, file.boot_time))?;
    let Some(every) = every else { return Ok(Exit::yes_no(all_up(&rows) && !incomplete)) };
    let watch = super::service::registry_watch(&registry)?;
    loop {
        let pidfds: Vec<PidFd> =
            rows.iter().filter_map(|r| r.pid.filter(|_| r.memory_kb.is_some())).filter_map(Identity::of).filter_map(|id| PidFd::open(id).ok()).collect();
        let mut fds: Vec<process_facts::sys::PollFd> = pidfds.iter().map(|f| process_facts::sys::readable(std::os::fd::AsRawFd::as_raw_fd(f))).collect();
        fds.push(process_facts::sys::readable(std::os::fd::AsRawFd::as_raw_fd(&watch)));
        // The CPU window, when there is one, is part of the interval.
        let window = if measured { CPU_WINDOW } else { Duration::ZERO };
        process_facts::wait::poll(cx, &mut fds, Some(every.saturating_sub(window)))?;
        let _ = process_facts::sys::fs::inotify_read(std::os::fd::AsFd::as_fd(&watch));
        let listing = self::rows(cx, args)?;
        for line in listing.said {
            if !said_before.contains(&line) {
                cx.warn(&line);
                said_before.insert(line);
            }
        }
        rows = listing.rows;
        measured = measure(cx, &mut rows)?;
        file.update(cx, &metrics_of(&rows, file.boot_time));
    }
}
