//! Prometheus metrics of services, as the text exposition format (version 0.0.4) that
//! node_exporter's textfile collector reads: one `# HELP` and one `# TYPE` line per metric
//! family, then its samples, every family under the prefix `zsh_process_`
//! (node_exporter's own `process_*` metrics would silently win a clash).
//!
//! Pure rendering, no I/O: the caller gathers a [`Service`] per watched service
//! (`process-monitor --prom`; later `process-status --prom` for every registered one) and
//! writes [`render`]'s text atomically.
//!
//! Labels: `service` (the name the user gave, or the PID when given a PID) on every
//! sample, and `metric` on `zsh_process_alert`. The PID is deliberately not a label: a
//! label value that changes at every restart starts a new series of every family each
//! time (unbounded churn in the TSDB); it is the value of `zsh_process_pid` instead, one
//! series per service for good.

use crate::Pid;
use std::fmt::Write;

/// Every family's name starts with this.
pub const PREFIX: &str = "zsh_process_";

/// One service as the metrics see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The `service` label: the name the user gave, or the PID when given a PID.
    pub name: String,
    /// Restarts so far (0 when nobody counts them, e.g. a monitor of plain PIDs).
    pub restarts_total: u64,
    /// The alert state of each metric that has a threshold.
    pub alerts: Vec<Alert>,
    /// The process's figures while it runs; None once it has exited (`up` 0, and no
    /// figures: a dead process has no CPU or memory to report).
    pub running: Option<Running>,
}

/// The figures of a running service: its process, or its whole process tree (the process
/// and all its descendants, summed) when counted as a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub pid: Pid,
    /// How many processes the figures count: 1, or the tree's size.
    pub processes: u32,
    /// User plus system CPU time since the process started, in seconds (utime + stime
    /// over CLK_TCK, as /proc counts it). Must never decrease while the process lives.
    pub cpu_seconds_total: f64,
    /// Recent CPU use in cores (1.0 = one core fully busy; above 1 for several busy
    /// threads): the last sample interval's. None before a first interval was measured.
    pub cpu_usage_ratio: Option<f64>,
    pub resident_bytes: u64,
    /// When the process started, seconds since the epoch (None: boot time unknown).
    pub start_time_seconds: Option<f64>,
}

/// One metric's alert state, for `zsh_process_alert{metric=...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// As process.alert names it: `cpu` or `memory`.
    pub metric: String,
    /// Over the threshold now, for as many samples as the alert policy asks.
    pub firing: bool,
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

/// A sample's value: integers exactly, floats as Prometheus spells them.
#[derive(Clone, Copy)]
enum Value {
    Int(u64),
    Float(f64),
}

/// One sample of a service: a label besides `service` (name, value), if any, and the value.
type Sample = (Option<(&'static str, String)>, Value);

/// One metric family: its name after the prefix, type, help, and how each service gives
/// its samples.
struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    samples: fn(&Service, &mut Vec<Sample>),
}

fn running(s: &Service) -> Option<&Running> {
    s.running.as_ref()
}

/// The families, in the order they are written. Their help texts never vary, so files of
/// several monitors merge in node_exporter (it drops the samples of a file whose help
/// text for a family differs from the first file's).
const FAMILIES: &[Family] = &[
    Family {
        name: "up",
        kind: Kind::Gauge,
        help: "1 while the service's process runs, 0 once it has exited.",
        samples: |s, out| out.push((None, Value::Int(s.running.is_some() as u64))),
    },
    Family {
        name: "pid",
        kind: Kind::Gauge,
        help: "PID of the service's process (a value, not a label: a restart starts no new series).",
        samples: |s, out| out.extend(running(s).map(|r| (None, Value::Int(r.pid.max(0) as u64)))),
    },
    Family {
        name: "processes",
        kind: Kind::Gauge,
        help: "Processes counted in the service's figures: 1, or the size of its process tree when counted as a tree.",
        samples: |s, out| out.extend(running(s).map(|r| (None, Value::Int(r.processes as u64)))),
    },
    Family {
        name: "cpu_seconds_total",
        kind: Kind::Counter,
        help: "User and system CPU time of the service's process (or process tree) since it started, in seconds.",
        samples: |s, out| out.extend(running(s).map(|r| (None, Value::Float(r.cpu_seconds_total)))),
    },
    Family {
        name: "cpu_usage_ratio",
        kind: Kind::Gauge,
        help: "CPU use over the last sample interval, in cores (1 = one core fully busy), as process.monitor's cpu / 100.",
        samples: |s, out| out.extend(running(s).and_then(|r| r.cpu_usage_ratio).map(|v| (None, Value::Float(v)))),
    },
    Family {
        name: "resident_memory_bytes",
        kind: Kind::Gauge,
        help: "Resident memory of the service's process (or the sum over its process tree), in bytes.",
        samples: |s, out| out.extend(running(s).map(|r| (None, Value::Int(r.resident_bytes)))),
    },
    Family {
        name: "start_time_seconds",
        kind: Kind::Gauge,
        help: "Start time of the service's process, in seconds since the epoch.",
        samples: |s, out| out.extend(running(s).and_then(|r| r.start_time_seconds).map(|v| (None, Value::Float(v)))),
    },
    Family {
        name: "restarts_total",
        kind: Kind::Counter,
        help: "Restarts of the service counted so far (0 when not known).",
        samples: |s, out| out.push((None, Value::Int(s.restarts_total))),
    },
    Family {
        name: "alert",
        kind: Kind::Gauge,
        help: "1 while the service is over the alert threshold of metric (cpu or memory), by the monitor's alert policy; else 0.",
        samples: |s, out| {
            for a in &s.alerts {
                out.push((Some(("metric", a.metric.clone())), Value::Int((a.firing && s.running.is_some()) as u64)));
            }
        },
    },
];

/// The full names of the families [`render`] can write (for documentation and tests).
pub fn family_names() -> Vec<String> {
    FAMILIES.iter().map(|f| format!("{PREFIX}{}", f.name)).collect()
}

/// The metrics file of `services`: every family that has a sample, families in a fixed
/// order, services in the order given. A service whose name came earlier in the list is
/// skipped: a duplicate series would make node_exporter reject the whole file.
pub fn render(services: &[Service]) -> String {
    let mut unique: Vec<&Service> = Vec::with_capacity(services.len());
    for s in services {
        if !unique.iter().any(|u| u.name == s.name) {
            unique.push(s);
        }
    }
    let mut out = String::with_capacity(256 + unique.len() * 512);
    let mut samples = Vec::new();
    for f in FAMILIES {
        let mut lines = String::new();
        for s in &unique {
            samples.clear();
            (f.samples)(s, &mut samples);
            for (extra, value) in samples.drain(..) {
                let _ = write!(lines, "{PREFIX}{}{{service=\"{}\"", f.name, escape_label_value(&s.name));
                if let Some((label, v)) = extra {
                    let _ = write!(lines, ",{label}=\"{}\"", escape_label_value(&v));
                }
                lines.push_str("} ");
                push_value(&mut lines, value);
                lines.push('\n');
            }
        }
        if lines.is_empty() {
            continue;
        }
        let kind = match f.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let _ = writeln!(out, "# HELP {PREFIX}{} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {PREFIX}{} {kind}", f.name);
        out.push_str(&lines);
    }
    out
}

/// A label value as the format requires: `\`, `"` and line feed escaped.
pub fn escape_label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A help text: `\` and line feed escaped (quotes are fine there).
pub fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn push_value(out: &mut String, v: Value) {
    match v {
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // Rust's shortest round-trip form, which Go's ParseFloat reads back exactly; the
        // format's own spellings for what is not a number.
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" }),
        Value::Float(f) => {
            let _ = write!(out, "{f}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Service {
        Service {
            name: "web".into(),
            restarts_total: 2,
            alerts: vec![Alert { metric: "cpu".into(), firing: true }, Alert { metric: "memory".into(), firing: false }],
            running: Some(Running {
                pid: 1234,
                processes: 1,
                cpu_seconds_total: 12.34,
                cpu_usage_ratio: Some(0.5),
                resident_bytes: 4096 * 1000,
                start_time_seconds: Some(1_764_644_645.25),
            }),
        }
    }

    #[test]
    fn renders_every_family_with_help_type_and_the_service_label() {
        let text = render(&[web()]);
        let want = "\
# HELP zsh_process_up 1 while the service's process runs, 0 once it has exited.
# TYPE zsh_process_up gauge
zsh_process_up{service=\"web\"} 1
# HELP zsh_process_pid PID of the service's process (a value, not a label: a restart starts no new series).
# TYPE zsh_process_pid gauge
zsh_process_pid{service=\"web\"} 1234
# HELP zsh_process_processes Processes counted in the service's figures: 1, or the size of its process tree when counted as a tree.
# TYPE zsh_process_processes gauge
zsh_process_processes{service=\"web\"} 1
# HELP zsh_process_cpu_seconds_total User and system CPU time of the service's process (or process tree) since it started, in seconds.
# TYPE zsh_process_cpu_seconds_total counter
zsh_process_cpu_seconds_total{service=\"web\"} 12.34
# HELP zsh_process_cpu_usage_ratio CPU use over the last sample interval, in cores (1 = one core fully busy), as process.monitor's cpu / 100.
# TYPE zsh_process_cpu_usage_ratio gauge
zsh_process_cpu_usage_ratio{service=\"web\"} 0.5
# HELP zsh_process_resident_memory_bytes Resident memory of the service's process (or the sum over its process tree), in bytes.
# TYPE zsh_process_resident_memory_bytes gauge
zsh_process_resident_memory_bytes{service=\"web\"} 4096000
# HELP zsh_process_start_time_seconds Start time of the service's process, in seconds since the epoch.
# TYPE zsh_process_start_time_seconds gauge
zsh_process_start_time_seconds{service=\"web\"} 1764644645.25
# HELP zsh_process_restarts_total Restarts of the service counted so far (0 when not known).
# TYPE zsh_process_restarts_total counter
zsh_process_restarts_total{service=\"web\"} 2
# HELP zsh_process_alert 1 while the service is over the alert threshold of metric (cpu or memory), by the monitor's alert policy; else 0.
# TYPE zsh_process_alert gauge
zsh_process_alert{service=\"web\",metric=\"cpu\"} 1
zsh_process_alert{service=\"web\",metric=\"memory\"} 0
";
        assert_eq!(text, want);
        assert!(family_names().iter().all(|n| n.starts_with(PREFIX) && text.contains(&format!("# TYPE {n} "))));
    }

    #[test]
    fn a_dead_service_is_up_0_with_no_figures_and_no_alert_firing() {
        let mut s = web();
        s.running = None;
        let text = render(&[s]);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "zsh_process_up{service=\"web\"} 0",
                "zsh_process_restarts_total{service=\"web\"} 2",
                "zsh_process_alert{service=\"web\",metric=\"cpu\"} 0",
                "zsh_process_alert{service=\"web\",metric=\"memory\"} 0",
            ]
        );
        // No family is announced without a sample.
        assert!(!text.contains("zsh_process_pid"), "{text}");
    }

    #[test]
    fn families_group_every_service_and_a_repeated_name_is_written_once() {
        let mut db = web();
        db.name = "db".into();
        db.alerts.clear();
        db.running.as_mut().unwrap().cpu_usage_ratio = None;
        let text = render(&[web(), db, web()]);
        let ups: Vec<&str> = text.lines().filter(|l| l.starts_with("zsh_process_up{")).collect();
        assert_eq!(ups, ["zsh_process_up{service=\"web\"} 1", "zsh_process_up{service=\"db\"} 1"]);
        let ratios: Vec<&str> = text.lines().filter(|l| l.starts_with("zsh_process_cpu_usage_ratio{")).collect();
        assert_eq!(ratios, ["zsh_process_cpu_usage_ratio{service=\"web\"} 0.5"]);
        assert_eq!(text.matches("# TYPE zsh_process_up ").count(), 1);
        assert_eq!(render(&[]), "");
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label_value("x\ny"), "x\\ny");
        assert_eq!(escape_label_value("ünï, {x}=1"), "ünï, {x}=1");
        let mut s = web();
        s.name = "we\"b\\\n".into();
        assert!(render(&[s]).contains("zsh_process_up{service=\"we\\\"b\\\\\\n\"} 1\n"));
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }

    #[test]
    fn values_are_written_as_prometheus_reads_them() {
        let mut out = String::new();
        for v in [Value::Int(u64::MAX), Value::Float(0.1), Value::Float(3.0), Value::Float(f64::NAN), Value::Float(f64::INFINITY), Value::Float(f64::NEG_INFINITY)] {
            push_value(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "18446744073709551615 0.1 3 NaN +Inf -Inf ");
    }
}
