//! process-monitor: watches processes, samples their CPU and memory at an interval, raises
//! alerts over thresholds, notices their death at once, and can keep the samples as CSV.
//!
//! The wait between samples is one `poll` on the targets' pidfds and a signalfd for TERM,
//! INT and HUP: a target's exit wakes it at once, a stop signal ends it cleanly, and
//! nothing runs in between (50 targets at 1 s cost a few hundred µs of CPU per second).
//! CPU is measured per target between its own consecutive samples (Δ user+system time over
//! Δ monotonic time), not through the shared sampler of process-get-cpu. With `--tree` a
//! target's figures are its whole process tree's (watch::Reader), for everything the
//! monitor reports: events, alerts, CSV and metrics alike. `--prom` rewrites a Prometheus
//! textfile (process_facts::prom) at every sample and at every death.

use super::control::{resolve, Target};
use super::promfile::PromFile;
use super::events;
use super::settings;
use super::control::NAME_OR_PID;
use super::spec::{Kind, Opt, Spec};
use super::{failed, usage, Args, Context, Exit, Failure, Outcome};
use crate::zsh::Shell;
use process_facts::cpu::format_percent;
use process_facts::pidfd::PidFd;
use process_facts::signal::{self, BlockedSignals};
use process_facts::store;
use process_facts::watch::{self, Alarm, Policy, Reading, CSV_HEADER, CSV_HEADER_MANY};
use process_facts::{proc, prom, Identity};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const MONITOR: Spec = Spec {
    purpose: "watch processes: sample CPU and memory, raise alerts, report deaths, keep a CSV history",
    operands: &[NAME_OR_PID],
    min: 1,
    max: usize::MAX,
    options: &[
        Opt { name: "--interval", value: Some(("SECONDS", Kind::Seconds)), about: "between samples (default $PROCESS_MONITOR_INTERVAL)" },
        Opt { name: "--alert-cpu", value: Some(("PERCENT", Kind::Percent)), about: "process.alert when CPU use is over PERCENT of one core" },
        Opt { name: "--alert-mem", value: Some(("KB", Kind::Kilobytes)), about: "process.alert when resident memory is over KB" },
        Opt { name: "--alert-after", value: Some(("N", Kind::Count)), about: "only after N samples in a row over a threshold (default 1)" },
        Opt { name: "--alert-every", value: None, about: "alert at every sample over, not once per excursion" },
        Opt { name: "--csv", value: Some(("FILE", Kind::File)), about: "append every sample to FILE (- for standard output)" },
        Opt {
            name: "--prom",
            value: Some(("FILE", Kind::File)),
            about: "rewrite FILE with Prometheus metrics at every sample and death (node_exporter's textfile collector)",
        },
        Opt { name: "--tree", value: None, about: "count each target's descendants in its figures: CPU, memory, alerts, CSV, metrics" },
        Opt { name: "--duration", value: Some(("SECONDS", Kind::Seconds)), about: "stop after this long" },
        Opt { name: "--count", value: Some(("N", Kind::Count)), about: "stop after N samples" },
    ],
    exits: &[
        (0, "every target exited, or --duration / --count reached"),
        (1, "a target not found at the start, or the CSV or metrics file refused or not writable"),
        (130, "Ctrl-C (and 128 + the signal for TERM and HUP)"),
    ],
    see: "docs/monitoring.md",
};

/// The signals that end a monitor. An ignored one (a background job of a script ignores
/// INT; an interactive shell ignores TERM) stays ignored.
const STOP_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
/// Without pidfds (kernels before 5.3), how often liveness is checked between samples.
const LIVENESS_SLICE: Duration = Duration::from_secs(1);
/// The metrics, as process.alert and the metrics' `metric` label name them.
const CPU: &str = "cpu";
const MEMORY: &str = "memory";

/// What the options asked for.
struct Settings {
    interval: Duration,
    alert_cpu: Option<f64>,
    alert_mem: Option<u64>,
    policy: Policy,
    csv: Option<String>,
    prom: Option<String>,
    tree: bool,
    duration: Option<Duration>,
    count: Option<u64>,
}

fn parse_settings(cx: &mut Context, args: &Args) -> Result<Settings, Failure> {
    let interval = match args.value("--interval") {
        Some(text) => positive_seconds("--interval", text)?,
        None => cx.settings().monitor_interval,
    };
    let alert_cpu = match args.value("--alert-cpu") {
        Some(text) => Some(
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0 && !text.starts_with('+'))
                .ok_or_else(|| usage(format!("invalid --alert-cpu '{text}' (expected a percentage of one core, e.g. 80 or 75.5)")))?,
        ),
        None => None,
    };
    let alert_mem = match args.value("--alert-mem") {
        Some(text) => Some(
            whole_number(text).ok_or_else(|| usage(format!("invalid --alert-mem '{text}' (expected kilobytes, e.g. 1048576 for 1 GB)")))?,
        ),
        None => None,
    };
    let after = match args.value("--alert-after") {
        Some(text) => whole_number(text)
            .filter(|n| (1..=u32::MAX as u64).contains(n))
            .ok_or_else(|| usage(format!("invalid --alert-after '{text}' (expected a number of samples, 1 or more)")))?
            as u32,
        None => 1,
    };
    let count = match args.value("--count") {
        Some(text) => Some(
            whole_number(text)
                .filter(|n| *n >= 1)
                .ok_or_else(|| usage(format!("invalid --count '{text}' (expected a number of samples, 1 or more)")))?,
        ),
        None => None,
    };
    let duration = match args.value("--duration") {
        Some(text) => Some(positive_seconds("--duration", text)?),
        None => None,
    };
    let csv = match args.value("--csv") {
        Some(f) if f == "-" || store::split_file_path(Path::new(f)).is_some() => Some(f.to_string()),
        Some(f) => return Err(usage(format!("invalid --csv '{f}' (expected a file name, or - for standard output)"))),
        None => None,
    };
    let prom = super::promfile::option(args)?;
    Ok(Settings {
        interval,
        alert_cpu,
        alert_mem,
        policy: Policy { after, every: args.flag("--alert-every") },
        csv,
        prom,
        tree: args.flag("--tree"),
        duration,
        count,
    })
}

fn positive_seconds(opt: &str, text: &str) -> Result<Duration, Failure> {
    settings::seconds(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| usage(format!("invalid {opt} '{text}' (expected a number of seconds above 0, e.g. 5 or 0.5)")))
}

fn whole_number(text: &str) -> Option<u64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// One process being watched.
struct Watch {
    id: Identity,
    reader: watch::Reader,
    label: String,
    pidfd: Option<PidFd>,
    last: Reading,
    /// CPU use over the last interval (percent of one core), once one was measured.
    cpu: Option<f64>,
    cpu_alarm: Alarm,
    mem_alarm: Alarm,
    alive: bool,
    /// Its supervisor's restarts so far, for a service named by its name (from the
    /// registry entry of that very process); 0 for a plain PID.
    restarts: u64,
}

impl Watch {
    /// What the metrics say of this target now: its last sample's figures while it lives.
    fn metrics(&self, s: &Settings, boot_time: Option<u64>) -> prom::Service {
        let mut alerts = Vec::new();
        if s.alert_cpu.is_some() {
            alerts.push(prom::Alert { metric: CPU.into(), firing: self.cpu_alarm.firing(s.policy) });
        }
        if s.alert_mem.is_some() {
            alerts.push(prom::Alert { metric: MEMORY.into(), firing: self.mem_alarm.firing(s.policy) });
        }
        prom::Service {
            name: self.label.clone(),
            restarts_total: self.restarts,
            alerts,
            running: self.alive.then(|| prom::Running {
                pid: self.id.pid,
                processes: self.last.processes,
                cpu_seconds_total: self.last.ticks as f64 / proc::clock_ticks() as f64,
                cpu_usage_ratio: self.cpu.map(|percent| percent / 100.0),
                resident_bytes: self.last.rss_kb * 1024,
                start_time_seconds: boot_time.map(|b| proc::start_time_seconds(b, self.id.starttime)),
            }),
        }
    }
}

/// The services as the metrics see them now.
fn metrics_of(s: &Settings, watches: &[Watch], boot_time: Option<u64>) -> Vec<prom::Service> {
    watches.iter().map(|w| w.metrics(s, boot_time)).collect()
}

/// Where samples are written.
enum Csv {
    File(std::fs::File, String),
    Stdout,
}

impl Csv {
    /// Opens `path` for appending ("-" is standard output), by the store's rules: a
    /// FIFO, a device, a symlink or another user's file is refused instead of waited on
    /// or written through. A new or empty file gets the header; a file that already holds
    /// other columns is refused rather than mixed.
    fn open(cx: &mut Context, path: &str, header: &str) -> Result<Csv, Failure> {
        if path == "-" {
            let mut csv = Csv::Stdout;
            csv.write(cx, &format!("{header}\n")).map_err(|e| failed(format!("cannot write to standard output: {e}")))?;
            return Ok(csv);
        }
        let (dir, name) = super::promfile::open_dir_of(path)?;
        let file_name = name.as_str();
        let first = dir.stat(file_name)?.map(|st| st.size).unwrap_or(0);
        let file = dir.open_append(file_name, 0o644)?;
        let mut csv = Csv::File(file, path.to_string());
        if first == 0 {
            csv.write(cx, &format!("{header}\n")).map_err(|e| failed(format!("cannot write {path}: {}", io_reason(&e))))?;
        } else {
            // The first line only (the file may hold hours of samples already).
            let head = dir.read_head(file_name, 4096)?;
            let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
            if line != header.as_bytes() {
                return Err(failed(format!(
                    "{path} already holds other data (its first line is not '{header}'); give another file"
                )));
            }
        }
        Ok(csv)
    }

    /// Writes whole rows with one write(2), so a reader never sees half a row.
    fn write(&mut self, cx: &mut Context, text: &str) -> std::io::Result<()> {
        match self {
            Csv::File(f, _) => process_facts::store::append_line(f, text.as_bytes()),
            // Through C's stdout, flushed at once: in order with the shell's own output,
            // and each sample shows up at once, even into a pipe.
            Csv::Stdout => cx.sh.print_now(text.as_bytes()),
        }
    }

    fn name(&self) -> &str {
        match self {
            Csv::File(_, p) => p,
            Csv::Stdout => "standard output",
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The stop signals (TERM, INT, HUP, those not ignored), blocked and read from a
/// signalfd while the monitor waits and samples. They are unblocked while the shell runs
/// handlers: zsh forks with the mask it has, and a service a handler (re)starts must not
/// inherit TERM blocked. A signal that arrives then takes its ordinary course.
struct Stops {
    set: Vec<i32>,
    guard: Option<BlockedSignals>,
}

impl Stops {
    fn block(sh: &mut Shell) -> Stops {
        let set: Vec<i32> = STOP_SIGNALS.iter().copied().filter(|&s| !signal::is_ignored(s)).collect();
        let mut stops = Stops { set, guard: None };
        stops.rearm(sh);
        stops
    }

    fn guard(&self) -> Option<&BlockedSignals> {
        self.guard.as_ref()
    }

    /// Unblocks the signals for a call into the shell; a stop signal already pending is
    /// returned instead (and nothing should be called).
    fn release(&mut self, sh: &mut Shell) -> Option<i32> {
        let pending = self.guard.as_ref().and_then(|g| g.take());
        self.guard = None;
        sh.stop_watching_signals();
        pending
    }

    /// Blocks them again; the shell layer's stalled writes and waits then watch the
    /// signalfd (Ctrl-C cannot reach zsh's handler to end them).
    fn rearm(&mut self, sh: &mut Shell) {
        if self.guard.is_none() && !self.set.is_empty() {
            self.guard = BlockedSignals::block(&self.set).ok();
        }
        if let Some(g) = &self.guard {
            sh.watch_stop_signals(g.fd());
        }
    }
}


/// A call into the shell, made after the round's reading and writing is done.
enum Call {
    Emit(&'static str, Vec<String>),
    Debug(String),
}

fn epoch_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `process-monitor NAME_OR_PID... [--alert-cpu PCT] [--alert-mem KB] [--interval S]
/// [--alert-after N] [--alert-every] [--csv FILE] [--prom FILE] [--tree] [--duration S]
/// [--count N]`
pub fn monitor(cx: &mut Context, args: &Args) -> Outcome {
    let settings = parse_settings(cx, args)?;

    // Every target must be there at the start: one clear line about the first that is not.
    let mut targets: Vec<Target> = Vec::new();
    for text in (0..args.count()).map(|i| args.bytes(i)) {
        let text = std::str::from_utf8(text).map_err(|_| usage(format!("'{}' is not valid UTF-8", String::from_utf8_lossy(text))))?;
        let target = resolve(cx, text)?.map_err(failed)?;
        if !targets.iter().any(|t| t.id == target.id) {
            targets.push(target);
        }
    }
    let many = targets.len() > 1;
    let mut watches = Vec::with_capacity(targets.len());
    for t in targets {
        let mut reader = watch::Reader::open(t.id, settings.tree);
        let Some(first) = reader.read() else {
            return Err(failed(format!("no such process: {}", t.label())));
        };
        // No pidfd (old kernel, or a thread ID): liveness is checked at each wake instead.
        let pidfd = PidFd::open(t.id).ok();
        let restarts = match &t.name {
            Some(name) => cx.settings().state().entry(name).ok().flatten().filter(|e| e.identity() == t.id).map_or(0, |e| e.restarts.into()),
            None => 0,
        };
        watches.push(Watch {
            id: t.id,
            reader,
            label: t.label(),
            pidfd,
            last: first,
            cpu: None,
            cpu_alarm: Alarm::default(),
            mem_alarm: Alarm::default(),
            alive: true,
            restarts,
        });
    }
    let mut csv = match &settings.csv {
        Some(path) => Some(Csv::open(cx, path, if many { CSV_HEADER_MANY } else { CSV_HEADER })?),
        None => None,
    };
    // Written at once (the targets are up; CPU use comes with the first sample), so a
    // scrape before the first interval already sees them; a file that cannot be written
    // now is refused like a CSV one.
    let mut prom = match &settings.prom {
        Some(path) => {
            let p = PromFile::open(path)?;
            p.write(&metrics_of(&settings, &watches, p.boot_time))?;
            Some(p)
        }
        None => None,
    };

    if cx.settings().debug {
        let names: Vec<String> = watches.iter().map(|w| format!("{} (PID {})", w.label, w.id.pid)).collect();
        let mut alerts = Vec::new();
        if let Some(c) = settings.alert_cpu {
            alerts.push(format!("cpu > {c}%"));
        }
        if let Some(m) = settings.alert_mem {
            alerts.push(format!("memory > {m} KB"));
        }
        let msg = format!(
            "process-monitor: watching {}{} every {}s{}",
            names.join(", "),
            if settings.tree { " with their process trees" } else { "" },
            watch::seconds_text(settings.interval),
            if alerts.is_empty() { String::new() } else { format!("; alerts: {}", alerts.join(", ")) }
        );
        cx.debug(&msg);
    }

    cx.sh.keep_shell_signal_mask();
    let mut stops = Stops::block(cx.sh);
    let result = run(cx, &settings, &mut watches, csv.as_mut(), prom.as_mut(), &mut stops);
    drop(stops); // the shell's signal mask as it was
    match result {
        Ended::Done(status) => Ok(status),
        Ended::Signal(sig) => {
            cx.debug(&format!("process-monitor: stopped by {}", signal::signal_name(sig)));
            // The signal was meant for this shell too: let it take its ordinary course now
            // that the monitor has finished cleanly (an interactive shell's Ctrl-C aborts
            // the command line, a trap runs, a script without one ends as it would have).
            signal::raise(sig);
            Ok(Exit::signal(sig))
        }
        Ended::Interrupted => Ok(Exit::Interrupted),
        Ended::Failed(msg) => Err(failed(msg)),
    }
}

enum Ended {
    Done(Exit),
    Signal(i32),
    /// Ctrl-C already seen by zsh (errflag), e.g. while a handler ran.
    Interrupted,
    Failed(String),
}

fn run(cx: &mut Context, s: &Settings, watches: &mut [Watch], mut csv: Option<&mut Csv>, mut prom: Option<&mut PromFile>, stops: &mut Stops) -> Ended {
    let start = Instant::now();
    let deadline = s.duration.map(|d| start + d);
    let due = |k: u64| start + s.interval.mul_f64(k as f64);
    let mut tick: u64 = 1;
    let mut taken: u64 = 0;
    let many = watches.len() > 1;
    let mut calls: Vec<Call> = Vec::new();
    loop {
        // Sleep until the next sample (or the end of --duration): one poll on every live
        // target's pidfd plus the signalfd.
        let now = Instant::now();
        let mut wake_at = due(tick);
        if let Some(d) = deadline {
            wake_at = wake_at.min(d);
        }
        let mut fds: Vec<RawFd> = Vec::with_capacity(watches.len());
        let mut owners: Vec<usize> = Vec::with_capacity(watches.len());
        let mut unwatched = false;
        for (i, w) in watches.iter().enumerate().filter(|(_, w)| w.alive) {
            match &w.pidfd {
                Some(fd) => {
                    fds.push(fd.as_raw_fd());
                    owners.push(i);
                }
                None => unwatched = true,
            }
        }
        if unwatched {
            wake_at = wake_at.min(now + LIVENESS_SLICE);
        }
        let Ok(wake) = signal::wait_on(cx, stops.guard(), &fds, wake_at.saturating_duration_since(now)) else {
            return Ended::Interrupted;
        };
        if let Some(sig) = wake.signal {
            return Ended::Signal(sig);
        }

        // Deaths first, reported at once.
        let mut gone: Vec<usize> = wake.ready.iter().map(|&k| owners[k]).collect();
        if unwatched {
            gone.extend(watches.iter().enumerate().filter(|(_, w)| w.alive && w.pidfd.is_none() && !w.id.is_alive()).map(|(i, _)| i));
        }
        // A death or a sample changes what the metrics say.
        let mut changed = !gone.is_empty();
        for i in gone {
            died(&mut watches[i], &mut calls);
        }

        let mut finished = None;
        let now = Instant::now();
        if watches.iter().any(|w| w.alive) && now >= due(tick) {
            changed = true;
            let elapsed = s.interval.mul_f64(tick as f64);
            if let Err(e) = sample(cx, s, watches, csv.as_deref_mut(), elapsed, many, &mut calls) {
                finished = Some(e);
            }
            taken += 1;
            if s.count.is_some_and(|c| taken >= c) {
                finished.get_or_insert(Ended::Done(Exit::Success));
            }
            // After a slow round (handlers that took longer than the interval), skip the
            // samples already missed instead of taking them in a burst.
            let behind = (now.duration_since(start).as_secs_f64() / s.interval.as_secs_f64()).floor() as u64;
            tick = (tick + 1).max(behind + 1);
        }
        if changed {
            if let Some(p) = prom.as_deref_mut() {
                let services = metrics_of(s, watches, p.boot_time);
                p.update(cx, &services);
            }
        }

        // Then the shell: events and debug lines of this round, signals unblocked. When
        // nobody listens to any of the round's events, no handler call is made at all.
        if !calls.is_empty() {
            let debug = cx.settings().debug;
            let mut heard: Vec<(&'static str, bool)> = Vec::new();
            calls.retain(|c| match c {
                Call::Emit(event, _) => match heard.iter().find(|(e, _)| e == event) {
                    Some(&(_, h)) => h,
                    None => {
                        let h = events::heard(cx.sh, event, debug);
                        heard.push((event, h));
                        h
                    }
                },
                Call::Debug(_) => true,
            });
        }
        if !calls.is_empty() {
            if let Some(sig) = stops.release(cx.sh) {
                return Ended::Signal(sig);
            }
            for call in calls.drain(..) {
                match call {
                    Call::Emit(event, payload) => {
                        let payload: Vec<&str> = payload.iter().map(String::as_str).collect();
                        cx.emit(event, &payload);
                    }
                    Call::Debug(msg) => cx.debug(&msg),
                }
                if cx.sh.interrupted() {
                    return Ended::Interrupted;
                }
            }
            stops.rearm(cx.sh);
        }
        if let Some(end) = finished {
            return end;
        }
        if !watches.iter().any(|w| w.alive) || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ended::Done(Exit::Success);
        }
    }
}

fn died(w: &mut Watch, calls: &mut Vec<Call>) {
    if !w.alive {
        return;
    }
    w.alive = false;
    let pid = w.id.pid.to_string();
    calls.push(Call::Debug(format!("process-monitor: {} (PID {pid}) has exited", w.label)));
    calls.push(Call::Emit(events::DIED, vec![w.label.clone(), pid]));
}

/// One round: read every live target and write the CSV rows, then queue the events.
fn sample(cx: &mut Context, s: &Settings, watches: &mut [Watch], csv: Option<&mut Csv>, elapsed: Duration, many: bool, calls: &mut Vec<Call>) -> Result<(), Ended> {
    struct Row {
        index: usize,
        cpu: f64,
        rss_kb: u64,
    }
    let timestamp = epoch_now();
    let mut rows: Vec<Row> = Vec::with_capacity(watches.len());
    let mut lost: Vec<usize> = Vec::new();
    for (i, w) in watches.iter_mut().enumerate().filter(|(_, w)| w.alive) {
        match w.reader.read() {
            Some(now) => {
                let cpu = watch::cpu_between(&w.last, &now);
                w.last = now;
                w.cpu = Some(cpu);
                rows.push(Row { index: i, cpu, rss_kb: now.rss_kb });
            }
            None => lost.push(i),
        }
    }
    let mut result = Ok(());
    if let Some(csv) = csv {
        let mut text = String::with_capacity(rows.len() * 48);
        for r in &rows {
            let w = &watches[r.index];
            text.push_str(&watch::csv_row(timestamp, elapsed, r.cpu, r.rss_kb, many.then_some((w.label.as_str(), w.id.pid))));
        }
        if let Err(e) = csv.write(cx, &text) {
            result = Err(if e.raw_os_error() == Some(libc::EPIPE) {
                // The reader of a pipe has gone (`| head`): end quietly, as a pipeline does.
                Ended::Done(Exit::signal(libc::SIGPIPE))
            } else {
                Ended::Failed(format!("cannot write {}: {}", csv.name(), io_reason(&e)))
            });
        }
    }
    for i in lost {
        died(&mut watches[i], calls);
    }
    // The events of the round only for someone who listens (a monitor of 1,000 processes
    // would build 4,000 strings a second for nobody); the alarms keep count regardless.
    let debug = cx.settings().debug;
    let monitor_heard = events::heard(cx.sh, events::MONITOR, debug);
    let alert_heard = events::heard(cx.sh, events::ALERT, debug);
    for r in rows {
        let w = &mut watches[r.index];
        // Compared as reported (one decimal), so an alert's value is always over its threshold.
        let over_cpu = s.alert_cpu.is_some_and(|t| format_percent(r.cpu).parse().unwrap_or(r.cpu) > t);
        let cpu_alert = s.alert_cpu.is_some() && w.cpu_alarm.sample(over_cpu, s.policy);
        let mem_alert = s.alert_mem.is_some_and(|t| w.mem_alarm.sample(r.rss_kb > t, s.policy));
        if !monitor_heard && !(alert_heard && (cpu_alert || mem_alert)) {
            continue;
        }
        let pid = w.id.pid.to_string();
        let cpu = format_percent(r.cpu);
        let mem = r.rss_kb.to_string();
        if monitor_heard {
            calls.push(Call::Emit(events::MONITOR, vec![w.label.clone(), pid.clone(), cpu.clone(), mem.clone()]));
        }
        if cpu_alert {
            calls.push(Call::Emit(events::ALERT, vec![w.label.clone(), pid.clone(), CPU.into(), cpu]));
        }
        if mem_alert {
            calls.push(Call::Emit(events::ALERT, vec![w.label.clone(), pid, MEMORY.into(), mem]));
        }
    }
    result
}
