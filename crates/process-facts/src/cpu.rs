//! Recent CPU use: 100 × Δ(user+system time) / Δ(wall time) between two samples.
//!
//! `ps -o pcpu` divides by the process's whole lifetime, which hides a process that has
//! just gone busy; a first sample with nothing to compare against gives psutil's
//! meaningless 0.0. Here, from the last sample of the process (taken by any shell: see
//! [`crate::samples`]):
//! - a call at least [`MIN_WINDOW`] after it measures over the time since;
//! - a call sooner than that returns the last measurement (no noise from tiny windows);
//! - with no sample at all, the caller waits [`FIRST_WINDOW`] and measures over that.
//!
//! This module only decides and computes; keeping samples and waiting are the caller's,
//! so nothing is held while it waits.

use crate::proc::{self, Identity};
use crate::samples::CpuSample;
use crate::Pid;
use std::time::Duration;

pub const MIN_WINDOW: Duration = Duration::from_millis(250);
pub const FIRST_WINDOW: Duration = Duration::from_millis(100);

/// CPU use in percent of one core: `ticks` of CPU time (at `hz` a second) over `wall`.
pub fn percent_of(ticks: u64, wall: Duration, hz: u64) -> f64 {
    let secs = wall.as_secs_f64();
    if secs <= 0.0 || hz == 0 {
        return 0.0;
    }
    100.0 * ticks as f64 / hz as f64 / secs
}

/// A sample of `pid` now (no measurement yet), if it is a live process.
pub fn sample(pid: Pid) -> Option<(Identity, CpuSample)> {
    let at_ns = crate::sys::time::monotonic_ns();
    let stat = proc::stat(pid).ok().filter(|s| s.is_alive())?;
    Some((stat.identity(), CpuSample { at_ns, ticks: stat.cpu_ticks(), percent: None }))
}

/// `later`, with the measurement from `earlier` to it.
pub fn measured(earlier: CpuSample, later: CpuSample) -> CpuSample {
    let wall = Duration::from_nanos(later.at_ns.saturating_sub(earlier.at_ns));
    CpuSample { percent: Some(percent_of(later.ticks.saturating_sub(earlier.ticks), wall, proc::clock_ticks())), ..later }
}

/// What to do with a sample taken now, given the previous one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Measured since the previous sample: keep this sample (its `percent` is the answer).
    Measured(CpuSample),
    /// Too soon after the previous one: its measurement stands.
    Recent(f64),
    /// Nothing to measure from yet: wait this long, sample again, and measure from `from`.
    First { wait: Duration, from: CpuSample },
}

pub fn step(previous: Option<CpuSample>, now: CpuSample) -> Step {
    match previous {
        Some(p) => {
            let age = Duration::from_nanos(now.at_ns.saturating_sub(p.at_ns));
            if p.at_ns <= now.at_ns && age >= MIN_WINDOW {
                Step::Measured(measured(p, now))
            } else if let (Some(pct), true) = (p.percent, p.at_ns <= now.at_ns) {
                Step::Recent(pct)
            } else {
                Step::First { wait: FIRST_WINDOW.saturating_sub(age), from: if p.at_ns <= now.at_ns { p } else { now } }
            }
        }
        None => Step::First { wait: FIRST_WINDOW, from: now },
    }
}

/// Formats a percentage as `ps` does: one decimal.
pub fn format_percent(p: f64) -> String {
    format!("{p:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let end = std::time::Instant::now() + d;
        while std::time::Instant::now() < end {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn the_steps_from_no_sample_to_a_measurement() {
        let s = |at_ms: u64, ticks: u64, percent: Option<f64>| CpuSample { at_ns: at_ms * 1_000_000, ticks, percent };
        assert!(matches!(step(None, s(1000, 5, None)), Step::First { wait: FIRST_WINDOW, .. }));
        // 1 s later, 50 ticks at 100 Hz: half a core.
        let hz = proc::clock_ticks() as f64;
        match step(Some(s(1000, 0, Some(1.0))), s(2000, 50, None)) {
            Step::Measured(m) => assert!((m.percent.unwrap() - 100.0 * 50.0 / hz).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        assert_eq!(step(Some(s(1000, 0, Some(7.5))), s(1100, 50, None)), Step::Recent(7.5));
        match step(Some(s(1000, 0, None)), s(1040, 0, None)) {
            Step::First { wait, from } => assert_eq!((wait, from.at_ns), (Duration::from_millis(60), 1_000_000_000)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_busy_thread_reads_near_one_core_and_an_idle_process_near_zero() {
        let me = std::process::id() as Pid;
        let busy = std::thread::spawn(|| spin(Duration::from_millis(600)));
        let (_, a) = sample(me).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let (_, b) = sample(me).unwrap();
        busy.join().unwrap();
        let p = measured(a, b).percent.unwrap();
        // Other tests share the machine: the spin gets some of a core, not all of it.
        assert!(p > 5.0, "busy thread read as {p}%");
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let (_, a) = sample(child.id() as Pid).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let (_, b) = sample(child.id() as Pid).unwrap();
        assert!(measured(a, b).percent.unwrap() < 10.0);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(sample(child.id() as Pid).is_none());
    }
}
