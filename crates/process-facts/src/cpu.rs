//! Recent CPU use: 100 × Δ(user+system time) / Δ(wall time) between two samples.
//!
//! `ps -o pcpu` divides by the process's whole lifetime, which hides a process that has
//! just gone busy; a first sample with nothing to compare against gives psutil's
//! meaningless 0.0. A [`Sampler`] keeps the last sample of each process it has seen:
//! - a later call at least [`MIN_WINDOW`] after it measures over the time since;
//! - a call sooner than that returns the last measurement (no noise from tiny windows);
//! - the first call for a process measures over a short [`FIRST_WINDOW`] wait.

use crate::proc::{self, Identity};
use crate::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const MIN_WINDOW: Duration = Duration::from_millis(250);
pub const FIRST_WINDOW: Duration = Duration::from_millis(100);
/// Samples of processes not asked about for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    ticks: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    sample: Sample,
    last_percent: Option<f64>,
}

#[derive(Default)]
pub struct Sampler {
    seen: HashMap<Identity, Entry>,
}

/// CPU use in percent of one core: `ticks` of CPU time (at `hz` a second) over `wall`.
pub fn percent_of(ticks: u64, wall: Duration, hz: u64) -> f64 {
    let secs = wall.as_secs_f64();
    if secs <= 0.0 || hz == 0 {
        return 0.0;
    }
    100.0 * ticks as f64 / hz as f64 / secs
}

fn percent(from: Sample, to: Sample) -> f64 {
    percent_of(to.ticks.saturating_sub(from.ticks), to.at.duration_since(from.at), proc::clock_ticks())
}

fn sample(pid: Pid) -> Option<(Identity, Sample)> {
    let at = Instant::now();
    let stat = proc::stat(pid).ok().filter(|s| s.is_alive())?;
    Some((stat.identity(), Sample { at, ticks: stat.cpu_ticks() }))
}

impl Sampler {
    pub fn new() -> Sampler {
        Sampler::default()
    }

    /// Recent CPU use of `pid` in percent of one core (above 100 for several busy
    /// threads), or None if no such live process. `wait` is how the first sample of a
    /// process waits (the default is [`FIRST_WINDOW`]; a caller can make it interruptible).
    pub fn cpu_percent(&mut self, pid: Pid, wait: &mut dyn FnMut(Duration) -> bool) -> Option<f64> {
        let (id, now) = sample(pid)?;
        self.forget_old(now.at);
        if let Some(entry) = self.seen.get_mut(&id) {
            let age = now.at.duration_since(entry.sample.at);
            if age < MIN_WINDOW {
                if let Some(p) = entry.last_percent {
                    return Some(p);
                }
            } else {
                let p = percent(entry.sample, now);
                *entry = Entry { sample: now, last_percent: Some(p) };
                return Some(p);
            }
        }
        // First sight of this process (or a window too short to say anything): measure.
        let start = self.seen.get(&id).map(|e| e.sample).unwrap_or(now);
        let remaining = FIRST_WINDOW.saturating_sub(now.at.duration_since(start.at));
        if !remaining.is_zero() && !wait(remaining) {
            return None;
        }
        let (id2, end) = sample(pid)?;
        if id2 != id {
            return None;
        }
        let p = percent(start, end);
        self.seen.insert(id, Entry { sample: end, last_percent: Some(p) });
        Some(p)
    }

    /// Records a sample without measuring (for callers that sample on a schedule).
    pub fn observe(&mut self, pid: Pid) -> Option<Identity> {
        let (id, now) = sample(pid)?;
        self.seen.entry(id).or_insert(Entry { sample: now, last_percent: None });
        Some(id)
    }

    fn forget_old(&mut self, now: Instant) {
        if self.seen.len() > 64 {
            self.seen.retain(|id, e| now.duration_since(e.sample.at) < FORGET_AFTER && id.is_alive());
        }
    }
}

/// Formats a percentage as `ps` does: one decimal.
pub fn format_percent(p: f64) -> String {
    format!("{p:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleep(d: Duration) -> bool {
        std::thread::sleep(d);
        true
    }

    fn spin(d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn a_busy_thread_reads_near_one_core_on_the_first_call() {
        let me = std::process::id() as Pid;
        let busy = std::thread::spawn(|| spin(Duration::from_millis(600)));
        std::thread::sleep(Duration::from_millis(50));
        let mut s = Sampler::new();
        // What this process really got over the same time, however loaded the machine is.
        let cpu_time = || {
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
            ru.ru_utime.tv_sec as f64 + ru.ru_utime.tv_usec as f64 / 1e6 + ru.ru_stime.tv_sec as f64 + ru.ru_stime.tv_usec as f64 / 1e6
        };
        let (c0, w0) = (cpu_time(), Instant::now());
        let p = s.cpu_percent(me, &mut sleep).unwrap();
        let truth = 100.0 * (cpu_time() - c0) / w0.elapsed().as_secs_f64();
        assert!(p > 5.0, "busy thread read as {p}%");
        assert!((p - truth).abs() < 30.0, "read {p}%, really {truth}%");
        // Immediately again: the last measurement, not a noisy 2 µs window.
        let again = s.cpu_percent(me, &mut sleep).unwrap();
        assert_eq!(p, again);
        busy.join().unwrap();
    }

    #[test]
    fn an_idle_process_reads_near_zero() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let mut s = Sampler::new();
        let p = s.cpu_percent(child.id() as Pid, &mut sleep).unwrap();
        assert!(p < 10.0, "sleep read as {p}%");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(s.cpu_percent(child.id() as Pid, &mut sleep).is_none());
    }

    #[test]
    fn an_interrupted_first_wait_gives_nothing() {
        let me = std::process::id() as Pid;
        let mut s = Sampler::new();
        assert!(s.cpu_percent(me, &mut |_| false).is_none());
    }
}
