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

/// What [`Sampler::begin`] found.
#[derive(Debug, Clone, Copy)]
pub enum Reading {
    /// The recent CPU use, in percent of one core.
    Ready(f64),
    /// First sight of the process: wait this long, then call [`Sampler::finish`]. The wait
    /// is the caller's, so it can be interruptible and hold no state meanwhile.
    Wait { wait: Duration, first: FirstSample },
    /// No such live process.
    Gone,
}

/// The sample a first measurement starts from.
#[derive(Debug, Clone, Copy)]
pub struct FirstSample {
    id: Identity,
    sample: Sample,
}

impl Sampler {
    pub fn new() -> Sampler {
        Sampler::default()
    }

    /// Recent CPU use of `pid` in percent of one core (above 100 for several busy
    /// threads): measured since this sampler's last sample of it, or, the first time, over
    /// a short wait of [`FIRST_WINDOW`] that the caller makes.
    pub fn begin(&mut self, pid: Pid) -> Reading {
        let Some((id, now)) = sample(pid) else { return Reading::Gone };
        self.forget_old(now.at);
        if let Some(entry) = self.seen.get_mut(&id) {
            let age = now.at.duration_since(entry.sample.at);
            if age >= MIN_WINDOW {
                let p = percent(entry.sample, now);
                *entry = Entry { sample: now, last_percent: Some(p) };
                return Reading::Ready(p);
            }
            if let Some(p) = entry.last_percent {
                return Reading::Ready(p);
            }
        }
        // First sight of this process (or a window too short to say anything): measure.
        let start = self.seen.get(&id).map(|e| e.sample).unwrap_or(now);
        let wait = FIRST_WINDOW.saturating_sub(now.at.duration_since(start.at));
        Reading::Wait { wait, first: FirstSample { id, sample: start } }
    }

    /// The end of a first measurement, once the caller has waited.
    pub fn finish(&mut self, first: FirstSample) -> Option<f64> {
        let (id, end) = sample(first.id.pid)?;
        if id != first.id {
            return None;
        }
        let p = percent(first.sample, end);
        self.seen.insert(id, Entry { sample: end, last_percent: Some(p) });
        Some(p)
    }

    /// [`Sampler::begin`] and [`Sampler::finish`] with the wait made through `b`.
    pub fn cpu_percent(&mut self, pid: Pid, b: &mut dyn crate::wait::Blocker) -> Option<f64> {
        match self.begin(pid) {
            Reading::Ready(p) => Some(p),
            Reading::Gone => None,
            Reading::Wait { wait, first } => {
                crate::wait::sleep(b, wait).ok()?;
                self.finish(first)
            }
        }
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

    use crate::wait::Plain;

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
            let s = proc::stat(me).unwrap();
            s.cpu_ticks() as f64 / proc::clock_ticks() as f64
        };
        let (c0, w0) = (cpu_time(), Instant::now());
        let p = s.cpu_percent(me, &mut Plain).unwrap();
        let truth = 100.0 * (cpu_time() - c0) / w0.elapsed().as_secs_f64();
        assert!(p > 5.0, "busy thread read as {p}%");
        assert!((p - truth).abs() < 30.0, "read {p}%, really {truth}%");
        // Immediately again: the last measurement, not a noisy 2 µs window.
        let again = s.cpu_percent(me, &mut Plain).unwrap();
        assert_eq!(p, again);
        busy.join().unwrap();
    }

    #[test]
    fn an_idle_process_reads_near_zero() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let mut s = Sampler::new();
        let p = s.cpu_percent(child.id() as Pid, &mut Plain).unwrap();
        assert!(p < 10.0, "sleep read as {p}%");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(s.cpu_percent(child.id() as Pid, &mut Plain).is_none());
    }

    #[test]
    fn an_interrupted_first_wait_gives_nothing() {
        struct Stop;
        impl crate::wait::Blocker for Stop {
            fn block(&mut self, call: &mut dyn FnMut()) -> crate::wait::Flow {
                call();
                crate::wait::Flow::Stop
            }
        }
        let me = std::process::id() as Pid;
        let mut s = Sampler::new();
        assert!(s.cpu_percent(me, &mut Stop).is_none());
    }
}
