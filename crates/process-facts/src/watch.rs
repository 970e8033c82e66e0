//! The parts of a resource monitor that need no shell: one reading of a process (CPU
//! ticks from `/proc/PID/stat`, resident memory from `/proc/PID/statm`), or of its whole
//! process tree, CPU use between two readings, threshold alarms (N consecutive samples,
//! then re-arm below the threshold), and the CSV rows of a resource history.

use crate::cpu::percent_of as percent;
use crate::proc::{self, Identity};
use crate::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One look at a process.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// When it was taken (monotonic clock).
    pub at: Instant,
    /// User plus system CPU time so far, in clock ticks (all threads, exited ones too).
    pub ticks: u64,
    /// Resident set size in KiB: `/proc/PID/statm`'s second field, the figure
    /// process-get-memory and `VmRSS` give. (Not stat's `rss` field: since Linux 6.2 that
    /// one is read from per-CPU counters without summing them, and can be off by hundreds
    /// of KB; statm and status sum them.)
    pub rss_kb: u64,
    /// How many processes the reading counts: 1, or the process tree's size ([`Reader`]).
    pub processes: u32,
}

/// Reads `id` from `/proc/PID/stat` and `/proc/PID/statm`. None once the process has
/// exited (a zombie counts as exited) or its PID now belongs to another process.
pub fn read(id: Identity) -> Option<Reading> {
    let at = Instant::now();
    let stat = proc::stat(id.pid).ok()?;
    if !stat.is_alive() || stat.identity() != id {
        return None;
    }
    Some(Reading { at, ticks: stat.cpu_ticks(), rss_kb: proc::rss_kb(id.pid).unwrap_or(0), processes: 1 })
}

/// Reads one process again and again through its `/proc/PID/stat` and `statm` kept open:
/// each reading is two `pread`s instead of two open + read + close, a third of the system
/// calls (a monitor of 50 processes spends most of its time there). The open files belong
/// to that process: once it has exited and been reaped, reads fail instead of showing
/// whoever reuses the PID. Without them (too many files open, say), it falls back to [`read`].
pub struct StatReader {
    id: Identity,
    file: Option<std::fs::File>,
    statm: Option<std::fs::File>,
}

impl StatReader {
    pub fn open(id: Identity) -> StatReader {
        let open = |name| std::fs::File::open(format!("/proc/{}/{name}", id.pid)).ok();
        StatReader { id, file: open("stat"), statm: open("statm") }
    }

    pub fn identity(&self) -> Identity {
        self.id
    }

    /// A reading, or None once the process has exited (as [`read`]).
    pub fn read(&mut self) -> Option<Reading> {
        use std::os::unix::fs::FileExt;
        let (Some(file), Some(statm)) = (&self.file, &self.statm) else { return read(self.id) };
        let at = Instant::now();
        let mut buf = [0u8; 2048];
        let n = file.read_at(&mut buf, 0).ok()?;
        if n == 0 {
            return None;
        }
        if n == buf.len() {
            // Longer than any stat line seen in practice: read it the ordinary way.
            return read(self.id);
        }
        let stat = proc::ProcStat::parse(&buf[..n])?;
        if !stat.is_alive() || stat.identity() != self.id {
            return None;
        }
        let n = statm.read_at(&mut buf, 0).ok()?;
        let pages: u64 = std::str::from_utf8(&buf[..n]).ok()?.split_ascii_whitespace().nth(1)?.parse().ok()?;
        let rss_kb = match pages * proc::page_size() / 1024 {
            // A leaderless process (its leader exited, threads live on) shows its memory
            // through a live thread: process-get-memory's reading knows where.
            0 => proc::rss_kb(self.id.pid).unwrap_or(0),
            kb => kb,
        };
        Some(Reading { at, ticks: stat.cpu_ticks(), rss_kb, processes: 1 })
    }
}

/// A watched process read as a whole: alone, or with `tree` together with all its
/// descendants, summed (as ncabatoff/process-exporter's children mode does).
pub struct Reader {
    root: StatReader,
    tree: Option<Tree>,
}

/// What a tree keeps between readings: each descendant's CPU ticks when last seen, and
/// the ticks counted for descendants so far.
#[derive(Default)]
struct Tree {
    seen: HashMap<Identity, u64>,
    counted: u64,
}

impl Reader {
    pub fn open(id: Identity, tree: bool) -> Reader {
        Reader { root: StatReader::open(id), tree: tree.then(Tree::default) }
    }

    pub fn identity(&self) -> Identity {
        self.root.identity()
    }

    /// A reading, or None once the process itself has exited (as [`read`]). With a tree,
    /// memory and the process count are the live tree's now; CPU ticks are the process's
    /// own plus every descendant's, counted as deltas between readings: a descendant first
    /// seen counts whole (it started since, or this is the first reading), and one that
    /// has exited keeps what was counted, so the sum never decreases, as a counter must
    /// not. What a descendant used between its last reading and its exit is not seen
    /// (nor one born and gone between two readings): a sampler's limit.
    pub fn read(&mut self) -> Option<Reading> {
        let mut r = self.root.read()?;
        let Some(tree) = &mut self.tree else { return Some(r) };
        let pids = crate::tree::descendants_deepest_first(self.root.identity().pid).unwrap_or_default();
        let mut seen = HashMap::with_capacity(pids.len());
        for pid in pids {
            let Ok(stat) = proc::stat(pid) else { continue };
            let id = stat.identity();
            let ticks = stat.cpu_ticks();
            tree.counted += match tree.seen.get(&id) {
                Some(&before) => ticks.saturating_sub(before),
                None => ticks,
            };
            seen.insert(id, ticks);
            // A zombie's ticks are final and counted above; it has no memory, and is not running.
            if stat.is_alive() {
                r.rss_kb += proc::rss_kb(pid).unwrap_or(0);
                r.processes += 1;
            }
        }
        tree.seen = seen;
        r.ticks += tree.counted;
        Some(r)
    }
}

/// CPU use between two readings of one process, in percent of one core (above 100 when
/// several threads are busy): 100 × Δticks / (ticks per second × Δseconds).
pub fn cpu_between(earlier: &Reading, later: &Reading) -> f64 {
    percent(later.ticks.saturating_sub(earlier.ticks), later.at.saturating_duration_since(earlier.at), proc::clock_ticks())
}


/// When an alarm speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How many consecutive samples must be over the threshold (at least 1).
    pub after: u32,
    /// Alert at every sample over the threshold (once `after` is reached) instead of
    /// once per excursion.
    pub every: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy { after: 1, every: false }
    }
}

/// The state of one threshold for one process. By default it fires when the metric has
/// been over the threshold for `after` consecutive samples, then stays quiet until a
/// sample at or below the threshold re-arms it: a steady overload alerts once, not at
/// every sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alarm {
    streak: u32,
    fired: bool,
}

impl Alarm {
    /// Takes one sample (`over`: the value is above the threshold); true when it alerts.
    pub fn sample(&mut self, over: bool, policy: Policy) -> bool {
        if !over {
            *self = Alarm::default();
            return false;
        }
        self.streak = self.streak.saturating_add(1);
        if self.streak < policy.after.max(1) {
            return false;
        }
        if policy.every {
            return true;
        }
        let first = !self.fired;
        self.fired = true;
        first
    }

    /// True while the metric has been over the threshold for the policy's `after`
    /// consecutive samples: the alert state metrics export (whether or not this sample
    /// alerted; `every` changes how often it alerts, not this).
    pub fn firing(&self, policy: Policy) -> bool {
        self.streak >= policy.after.max(1)
    }
}

/// The columns of the spec's resource tracker (Example 4), so its `cut -d, -f3` (CPU)
/// and `cut -d, -f5` (MB) reports work on the file as they are.
pub const CSV_HEADER: &str = "timestamp,elapsed,cpu,memory_kb,memory_mb";
/// With several processes in one file, which one each row is about comes after.
pub const CSV_HEADER_MANY: &str = "timestamp,elapsed,cpu,memory_kb,memory_mb,service,pid";

/// One CSV row (with its newline): `who` is (service, pid) for a file of several processes.
pub fn csv_row(timestamp: u64, elapsed: Duration, cpu: f64, rss_kb: u64, who: Option<(&str, Pid)>) -> String {
    let mut row = format!("{timestamp},{},{cpu:.1},{rss_kb},{}", seconds_text(elapsed), rss_kb / 1024);
    if let Some((service, pid)) = who {
        row.push(',');
        row.push_str(&csv_field(service));
        row.push_str(&format!(",{pid}"));
    }
    row.push('\n');
    row
}

/// A duration in seconds, to the millisecond, without trailing zeros: `5`, `2.5`, `0.25`.
pub fn seconds_text(d: Duration) -> String {
    let ms = (d.as_nanos() + 500_000) / 1_000_000;
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return whole.to_string();
    }
    format!("{whole}.{frac:03}").trim_end_matches('0').to_string()
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn percent_is_ticks_over_wall_time() {
        assert_eq!(percent(100, Duration::from_secs(1), 100), 100.0);
        assert_eq!(percent(50, Duration::from_secs(2), 100), 25.0);
        assert_eq!(percent(300, Duration::from_secs(1), 100), 300.0);
        assert_eq!(percent(10, Duration::ZERO, 100), 0.0);
    }

    #[test]
    fn reads_a_live_process_and_measures_between_readings() {
        let me = Identity::of(std::process::id() as Pid).unwrap();
        let a = read(me).unwrap();
        assert!(a.rss_kb > 0);
        spin(Duration::from_millis(300));
        let b = read(me).unwrap();
        let p = cpu_between(&a, &b);
        // Other tests and builds share the machine: the spin gets some CPU, not all of it.
        assert!(b.ticks > a.ticks && p > 5.0, "a spinning thread read as {p}%");
        assert_eq!(p, 100.0 * (b.ticks - a.ticks) as f64 / proc::clock_ticks() as f64 / (b.at - a.at).as_secs_f64());
        let stale = Identity { pid: me.pid, starttime: me.starttime + 1 };
        assert!(read(stale).is_none());
    }

    #[test]
    fn an_exited_process_reads_as_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = Identity { pid: child.id() as Pid, starttime: 0 };
        child.wait().unwrap();
        assert!(read(id).is_none());
    }

    #[test]
    fn a_stat_reader_follows_one_process_and_not_its_pid() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let id = Identity::of(child.id() as Pid).unwrap();
        let mut r = StatReader::open(id);
        assert!(r.file.is_some());
        let a = r.read().unwrap();
        let b = r.read().unwrap();
        // (Not its RSS: a process just exec'd may still show 0 resident pages.)
        assert!(b.at >= a.at && b.ticks >= a.ticks);
        assert_eq!(r.identity(), id);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(r.read().is_none(), "a reaped process reads as gone");
        let mut missing = StatReader::open(Identity { pid: id.pid, starttime: id.starttime });
        assert!(missing.read().is_none());
    }

    /// Processes a test started, killed (while still themselves) when it ends, passed or not.
    struct Killed(Vec<Identity>);

    impl Drop for Killed {
        fn drop(&mut self) {
            for id in &self.0 {
                if id.is_alive() {
                    let _ = crate::sys::process::kill(id.pid, libc::SIGKILL);
                }
            }
        }
    }

    #[test]
    fn a_tree_reader_sums_the_descendants_and_never_counts_back() {
        // sh with two children: one spinning until killed, one asleep.
        let mut root = std::process::Command::new("sh").args(["-c", "sh -c 'while :; do :; done' & sleep 30 & wait"]).spawn().unwrap();
        let id = Identity::of(root.id() as Pid).unwrap();
        let mut started = Killed(vec![id]);
        let deadline = Instant::now() + Duration::from_secs(5);
        let kids = loop {
            let kids = crate::tree::children(id.pid).unwrap();
            if kids.len() == 2 || Instant::now() > deadline {
                break kids;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        started.0.extend(kids.iter().filter_map(|&k| Identity::of(k)));
        assert_eq!(kids.len(), 2, "the children never started");
        let mut alone = Reader::open(id, false);
        let mut tree = Reader::open(id, true);
        let a = tree.read().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let b = tree.read().unwrap();
        let only = alone.read().unwrap();
        assert_eq!((b.processes, only.processes), (3, 1));
        let rss: u64 = [id.pid, kids[0], kids[1]].iter().map(|&p| proc::rss_kb(p).unwrap()).sum();
        assert_eq!(b.rss_kb, rss);
        assert!(b.ticks > a.ticks && b.ticks > only.ticks, "the spinning child is counted: {a:?} {b:?} {only:?}");
        // The spinner goes: the sum keeps what it counted.
        let spinner = kids.iter().copied().find(|&k| proc::stat(k).unwrap().comm == b"sh").unwrap();
        crate::sys::process::kill(spinner, libc::SIGKILL).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let c = tree.read().unwrap();
        assert!(c.ticks >= b.ticks && c.processes == 2, "{b:?} {c:?}");
        drop(started);
        root.wait().unwrap();
        assert!(tree.read().is_none());
    }

    #[test]
    fn an_alarm_fires_once_per_excursion_by_default() {
        let p = Policy::default();
        let mut a = Alarm::default();
        let fired: Vec<bool> = [false, true, true, true, false, true].iter().map(|&o| a.sample(o, p)).collect();
        assert_eq!(fired, [false, true, false, false, false, true]);
    }

    #[test]
    fn alert_every_repeats_and_alert_after_waits_for_a_streak() {
        let every = Policy { after: 1, every: true };
        let mut a = Alarm::default();
        let fired: Vec<bool> = [true, true, false, true].iter().map(|&o| a.sample(o, every)).collect();
        assert_eq!(fired, [true, true, false, true]);

        let after3 = Policy { after: 3, every: false };
        let mut a = Alarm::default();
        let fired: Vec<bool> = [true, true, false, true, true, true, true, false, true, true, true].iter().map(|&o| a.sample(o, after3)).collect();
        assert_eq!(fired, [false, false, false, false, false, true, false, false, false, false, true]);

        let both = Policy { after: 2, every: true };
        let mut a = Alarm::default();
        let fired: Vec<bool> = [true, true, true, false, true].iter().map(|&o| a.sample(o, both)).collect();
        assert_eq!(fired, [false, true, true, false, false]);

        // The exported state: over for `after` samples in a row, however often it alerts.
        let mut a = Alarm::default();
        let mut firing = Vec::new();
        for over in [true, true, true, true, false, true] {
            a.sample(over, after3);
            firing.push(a.firing(after3));
        }
        assert_eq!(firing, [false, false, true, true, false, false]);
    }

    #[test]
    fn csv_rows_keep_the_trackers_columns() {
        let row = csv_row(1700000000, Duration::from_secs(5), 12.345, 2048 + 512, None);
        assert_eq!(row, "1700000000,5,12.3,2560,2\n");
        let row = csv_row(1, Duration::from_millis(2500), 0.0, 10, Some(("api", 42)));
        assert_eq!(row, "1,2.5,0.0,10,0,api,42\n");
        let row = csv_row(1, Duration::from_millis(250), 1.0, 10, Some(("a,\"b\"", 7)));
        assert_eq!(row, "1,0.25,1.0,10,0,\"a,\"\"b\"\"\",7\n");
        assert_eq!(CSV_HEADER.split(',').nth(2), Some("cpu"));
        assert_eq!(CSV_HEADER.split(',').nth(4), Some("memory_mb"));
        assert!(CSV_HEADER_MANY.starts_with(CSV_HEADER));
    }

    #[test]
    fn seconds_are_printed_short() {
        assert_eq!(seconds_text(Duration::from_secs(0)), "0");
        assert_eq!(seconds_text(Duration::from_secs(60)), "60");
        assert_eq!(seconds_text(Duration::from_millis(1500)), "1.5");
        assert_eq!(seconds_text(Duration::from_millis(10)), "0.01");
        assert_eq!(seconds_text(Duration::from_micros(5_000_400)), "5");
    }
}
