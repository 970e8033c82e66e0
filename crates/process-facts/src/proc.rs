//! One process's facts, read out of `/proc/PID/*`, and the one rule for "alive".
//!
//! **Alive** means: the PID is a process (a thread-group leader, not a thread ID), and it
//! has not exited. A zombie has exited and only waits to be reaped; but a leader that
//! called `pthread_exit` while its other threads run shows `Z` too, and is very much alive
//! (`ps` shows `Zl`): its live threads decide. [`ProcStat::is_alive`] is that rule on one
//! `stat` read; [`Identity::of`] adds the thread test; everything else builds on these.
//!
//! Names and arguments are bytes, as the kernel keeps them: a name cut at 15 bytes in the
//! middle of a UTF-8 character, or one that is not UTF-8 at all, is passed on unchanged.

use crate::sys::{self, fs as sysfs};
use crate::Pid;
use std::io;

/// What `/proc/PID/stat` says about a process (the fields this library uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: Pid,
    /// The kernel's name for the process (`comm`), at most 15 bytes.
    pub comm: Vec<u8>,
    /// R running, S sleeping, D disk wait, T stopped, t traced, Z zombie, X dead, I idle.
    pub state: char,
    pub ppid: Pid,
    pub pgrp: Pid,
    pub session: Pid,
    /// CPU time in clock ticks, user and system, of all threads including exited ones.
    pub utime: u64,
    pub stime: u64,
    /// Live threads.
    pub num_threads: i64,
    /// Start time in clock ticks after boot: with the PID, the process's identity.
    pub starttime: u64,
    /// Resident pages.
    pub rss_pages: i64,
}

impl ProcStat {
    /// Parses the text of `/proc/PID/stat`. The name sits between the first `(` and the
    /// LAST `)`: it may itself contain spaces and parentheses.
    pub fn parse(text: &[u8]) -> Option<ProcStat> {
        let open = text.iter().position(|&b| b == b'(')?;
        let close = text.iter().rposition(|&b| b == b')')?;
        if close < open {
            return None;
        }
        let pid: Pid = std::str::from_utf8(&text[..open]).ok()?.trim().parse().ok()?;
        let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
        let mut f = rest.split_ascii_whitespace();
        let state = f.next()?.chars().next()?;
        // Fields 4..=24 of proc(5); some are unsigned 64-bit, some negative (nice).
        let mut nums = [0i64; 21];
        for slot in nums.iter_mut() {
            let t = f.next()?;
            *slot = t.parse::<i64>().or_else(|_| t.parse::<u64>().map(|v| v as i64)).ok()?;
        }
        // nums[i] is field i + 4.
        Some(ProcStat {
            pid,
            comm: text[open + 1..close].to_vec(),
            state,
            ppid: nums[0] as Pid,
            pgrp: nums[1] as Pid,
            session: nums[2] as Pid,
            utime: nums[10] as u64,
            stime: nums[11] as u64,
            num_threads: nums[16],
            starttime: nums[18] as u64,
            rss_pages: nums[20],
        })
    }

    /// The rule (see the module documentation): not exited, or a leader whose other
    /// threads still run.
    pub fn is_alive(&self) -> bool {
        match self.state {
            'X' | 'x' => false,
            'Z' => self.num_threads > 1,
            _ => true,
        }
    }

    /// A leader that has exited while its other threads run on.
    pub fn is_leaderless(&self) -> bool {
        self.state == 'Z' && self.num_threads > 1
    }

    pub fn identity(&self) -> Identity {
        Identity { pid: self.pid, starttime: self.starttime }
    }

    /// User plus system CPU time, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.utime + self.stime
    }

    /// The name as text (bytes that are not UTF-8 shown as U+FFFD), for messages.
    pub fn comm_lossy(&self) -> String {
        String::from_utf8_lossy(&self.comm).into_owned()
    }
}

/// One process, not just one PID: PIDs are reused, start times within a boot are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub pid: Pid,
    pub starttime: u64,
}

impl Identity {
    /// The identity of the live process `pid` names now: None when there is none, when
    /// it has exited, or when `pid` is a thread of some process rather than a process.
    pub fn of(pid: Pid) -> Option<Identity> {
        let stat = stat(pid).ok().filter(ProcStat::is_alive)?;
        is_process(pid).then(|| stat.identity())
    }

    /// [`Identity::of`] for a `pid` already known to be a process (a pidfd was opened for
    /// it): the stat test alone.
    pub fn of_leader(pid: Pid) -> Option<Identity> {
        stat(pid).ok().filter(ProcStat::is_alive).map(|s| s.identity())
    }

    /// True while the process this identity names is alive: same PID, same start time.
    pub fn is_alive(&self) -> bool {
        Identity::of(self.pid) == Some(*self)
    }
}

/// True when `pid` is a process (a thread-group leader), false for a thread ID or no
/// such PID. The kernel's own test: `pidfd_open` accepts only leaders.
pub fn is_process(pid: Pid) -> bool {
    match sys::process::pidfd_open(pid) {
        Ok(_) => true,
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => tgid(pid) == Some(pid),
        Err(_) => false,
    }
}

/// The thread group (process) a task belongs to, from `/proc/PID/status`.
pub fn tgid(pid: Pid) -> Option<Pid> {
    let mut buf = [0u8; 1024];
    let text = read_small(pid, "status", &mut buf).ok()?;
    let text = std::str::from_utf8(text).ok()?;
    text.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse().ok())
}

/// Reads `/proc/PID/FILE` (a small one: `stat`, `statm`, `comm`) into `buf` with one
/// open, one read and one close, allocating nothing.
pub fn read_small<'a>(pid: Pid, file: &str, buf: &'a mut [u8]) -> io::Result<&'a [u8]> {
    let mut path = [0u8; 48];
    let len = {
        use std::io::Write as _;
        let mut w = &mut path[..];
        write!(w, "/proc/{pid}/{file}").map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path too long"))?;
        48 - w.len()
    };
    sysfs::read_small(None, &path[..len], buf)
}

/// Reads a `/proc` file whole.
pub fn read_file(path: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(512);
    std::fs::File::open(path)?.read_to_end(&mut buf)?;
    Ok(buf)
}

pub fn stat(pid: Pid) -> io::Result<ProcStat> {
    // One read of 1 KiB holds any stat line (52 numbers and a 15-byte name).
    let mut buf = [0u8; 1024];
    let text = read_small(pid, "stat", &mut buf)?;
    ProcStat::parse(text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))
}

/// How `id` ended, in `waitpid`'s status format, while it is an unreaped zombie: field 52
/// of its stat (Linux 3.5 and later; readable by whoever may trace it). None while it
/// runs, once it is reaped, or when the kernel will not say.
pub fn exit_status(id: Identity) -> Option<i32> {
    let mut buf = [0u8; 1024];
    let text = read_small(id.pid, "stat", &mut buf).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let fields: Vec<&str> = std::str::from_utf8(&text[close + 1..]).ok()?.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state): field N is fields[N - 3].
    let (state, start, code) = (fields.first()?, fields.get(22 - 3)?, fields.get(52 - 3)?);
    (*state == "Z" && start.parse::<u64>().ok()? == id.starttime).then(|| code.parse().ok()).flatten()
}

/// `/proc`, opened once for scans over every process ([`comm_at`]).
pub fn open_proc_dir() -> io::Result<sys::OwnedFd> {
    sysfs::open_at(None, b"/proc", sysfs::flags::READ | sysfs::flags::DIRECTORY, 0)
}

/// `/proc/PID/comm` read relative to `proc_dir`: openat, read, close, no path walk through
/// `/proc` and no allocation. The trailing newline is removed.
pub fn comm_at<'a>(proc_dir: &sys::OwnedFd, pid: Pid, buf: &'a mut [u8; 64]) -> Option<&'a [u8]> {
    use std::os::fd::AsFd;
    let mut path = [0u8; 24];
    let len = {
        use std::io::Write as _;
        let mut w = &mut path[..];
        write!(w, "{pid}/comm").ok()?;
        24 - w.len()
    };
    let text = sysfs::read_small(Some(proc_dir.as_fd()), &path[..len], &mut buf[..]).ok()?;
    if text.is_empty() {
        return None;
    }
    Some(text.strip_suffix(b"\n").unwrap_or(text))
}

/// Where a process's memory, command line and executable are shown: `/proc/PID`, or, for
/// a leaderless process (its leader exited, other threads run on), one of its live
/// threads, since the exited leader shows none of them.
fn described_at(pid: Pid) -> String {
    let leader = format!("/proc/{pid}");
    if !stat(pid).is_ok_and(|s| s.is_leaderless()) {
        return leader;
    }
    let Ok(tasks) = std::fs::read_dir(format!("{leader}/task")) else { return leader };
    tasks
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse::<Pid>().ok())
        .find(|&tid| read_file(&format!("{leader}/task/{tid}/stat")).ok().and_then(|t| ProcStat::parse(&t)).is_some_and(|s| s.state != 'Z'))
        .map(|tid| format!("{leader}/task/{tid}"))
        .unwrap_or(leader)
}

/// The command line, one element per argument, as bytes (empty for kernel threads and
/// zombies).
pub fn cmdline(pid: Pid) -> io::Result<Vec<Vec<u8>>> {
    let mut raw = read_file(&format!("/proc/{pid}/cmdline"))?;
    if raw.is_empty() {
        raw = read_file(&format!("{}/cmdline", described_at(pid))).unwrap_or_default();
    }
    let raw = raw.strip_suffix(b"\0").unwrap_or(&raw);
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    Ok(raw.split(|&b| b == 0).map(<[u8]>::to_vec).collect())
}

/// Resident set size in KiB, from `/proc/PID/statm` (the second field, in pages).
pub fn rss_kb(pid: Pid) -> io::Result<u64> {
    let parse = |text: &[u8]| -> io::Result<u64> {
        std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.split_ascii_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable statm"))
    };
    let mut buf = [0u8; 256];
    let mut resident = parse(read_small(pid, "statm", &mut buf)?)?;
    if resident == 0 {
        // A leaderless process: its memory shows through a live thread.
        if let Ok(text) = read_file(&format!("{}/statm", described_at(pid))) {
            resident = parse(&text).unwrap_or(0);
        }
    }
    Ok(resident * page_size() / 1024)
}

/// The basename of the executable (`/proc/PID/exe`), when readable and not deleted.
pub fn exe_name(pid: Pid) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::fs::read_link(format!("/proc/{pid}/exe")).or_else(|_| std::fs::read_link(format!("{}/exe", described_at(pid)))).ok()?;
    let name = target.file_name()?.as_bytes();
    Some(name.strip_suffix(b" (deleted)").unwrap_or(name).to_vec())
}

/// True when `/proc/PID/exe` resolves: a cheap first test of a live process (a zombie,
/// a kernel thread and another user's process all fail it, and need [`stat`]).
pub fn exe_resolves(pid: Pid) -> bool {
    let mut path = [0u8; 32];
    let len = {
        use std::io::Write as _;
        let mut w = &mut path[..];
        if write!(w, "/proc/{pid}/exe").is_err() {
            return false;
        }
        32 - w.len()
    };
    sysfs::resolves(&path[..len])
}

/// The real user ID of this process.
pub fn current_uid() -> u32 {
    sys::process::uid()
}

/// This process's PID.
pub fn current_pid() -> Pid {
    sys::process::pid()
}

/// `ctime`-style local time: `Mon Nov  4 10:30:15 2025`.
pub fn format_local_time(epoch: u64) -> String {
    sys::time::local_time_text(epoch)
}

pub fn page_size() -> u64 {
    sys::time::page_size()
}

/// Clock ticks per second (`USER_HZ`), the unit of stat's times.
pub fn clock_ticks() -> u64 {
    sys::time::clock_ticks()
}

/// Boot time in seconds since the epoch (`btime` in `/proc/stat`).
pub fn boot_time() -> Option<u64> {
    let text = read_file("/proc/stat").ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// Whether `path` is still the very file this process has mapped from it (the same
/// inode as in `/proc/self/maps`): false once it has been replaced or removed, e.g. by a
/// rebuild, so that nothing loads a different build in the belief it is this one.
pub fn is_mapped_file(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else { return false };
    let Ok(maps) = read_file("/proc/self/maps") else { return false };
    let want = path.as_os_str().as_encoded_bytes();
    // address perms offset dev inode path
    maps.split(|&b| b == b'\n').any(|line| {
        let mut f = line.splitn(6, |&b| b == b' ');
        let inode = f.nth(4).and_then(|i| std::str::from_utf8(i).ok()).and_then(|i| i.parse::<u64>().ok());
        let name = f.next().map(|n| n.trim_ascii_start());
        name == Some(want) && inode == Some(meta.ino())
    })
}

/// How long ago the process started, from the seconds since boot (`/proc/uptime`, to the
/// hundredth) and its start time in ticks after boot: exact where an epoch from `btime`
/// (whole seconds) could be a second off.
pub fn age(stat: &ProcStat) -> Option<std::time::Duration> {
    let text = read_file("/proc/uptime").ok()?;
    let up: f64 = String::from_utf8_lossy(&text).split_ascii_whitespace().next()?.parse().ok()?;
    let started = stat.starttime as f64 / clock_ticks() as f64;
    Some(std::time::Duration::from_secs_f64((up - started).max(0.0)))
}

/// This boot's random ID: start times only compare within one boot.
pub fn boot_id() -> Option<String> {
    let text = read_file("/proc/sys/kernel/random/boot_id").ok()?;
    Some(String::from_utf8_lossy(&text).trim().to_string())
}

/// Wall-clock start time of a process, seconds since the epoch.
pub fn start_epoch(stat: &ProcStat) -> Option<u64> {
    Some(boot_time()? + stat.starttime / clock_ticks())
}

/// Start time of a process in seconds since the epoch, to the clock tick: `boot_time`
/// (from [`boot_time`], read once by a caller that needs many) plus its start in ticks.
pub fn start_time_seconds(boot_time: u64, starttime: u64) -> f64 {
    boot_time as f64 + starttime as f64 / clock_ticks() as f64
}

/// True when `pid` is a fork of `parent` that never exec'd: its child, running the same
/// executable with the same command line (a shell's `( ... ) &` or `eval "$cmd" &` job).
pub fn is_fork_of(pid: Pid, parent: Pid) -> bool {
    let same = |a: Option<Vec<u8>>, b: Option<Vec<u8>>| a.is_some() && a == b;
    stat(pid).is_ok_and(|s| s.ppid == parent)
        && same(exe_name(pid), exe_name(parent))
        && cmdline(pid).ok().is_some_and(|c| !c.is_empty() && cmdline(parent).ok() == Some(c))
}

/// The uid that owns `/proc/PID` (the process's effective uid).
pub fn owner_uid(pid: Pid) -> Option<u32> {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(format!("/proc/{pid}")).ok()?).into()
}

/// Every PID in `/proc` (processes, not threads), unsorted.
pub fn all_pids() -> io::Result<Vec<Pid>> {
    let mut pids = Vec::with_capacity(512);
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        if let Some(pid) = name.to_str().and_then(|n| n.parse::<Pid>().ok()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let line = b"4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000 250 18446744073709551615\n";
        let s = ProcStat::parse(line).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, b"my (odd) name");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.cpu_ticks(), 10);
        assert_eq!(s.num_threads, 1);
        assert_eq!(s.starttime, 123456);
        assert_eq!(s.rss_pages, 250);
    }

    #[test]
    fn keeps_the_bytes_of_a_name() {
        let line = b"7 (caf\xe9) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1000 2 0\n";
        assert_eq!(ProcStat::parse(line).unwrap().comm, b"caf\xe9");
    }

    #[test]
    fn rejects_truncated_stat() {
        assert!(ProcStat::parse(b"12 (x) S 1").is_none());
        assert!(ProcStat::parse(b"garbage").is_none());
    }

    #[test]
    fn a_zombie_leader_with_live_threads_is_alive() {
        let line = |state: char, threads: i64| {
            format!("9 (py) {state} 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 {threads} 0 5 1000 2 0\n").into_bytes()
        };
        assert!(!ProcStat::parse(&line('Z', 1)).unwrap().is_alive());
        assert!(ProcStat::parse(&line('Z', 3)).unwrap().is_alive());
        assert!(ProcStat::parse(&line('Z', 3)).unwrap().is_leaderless());
        assert!(!ProcStat::parse(&line('X', 1)).unwrap().is_alive());
        assert!(ProcStat::parse(&line('T', 1)).unwrap().is_alive());
    }

    #[test]
    fn reads_this_process() {
        let me = current_pid();
        let s = stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(s.is_alive());
        assert!(exe_resolves(me));
        assert!(rss_kb(me).unwrap() > 0);
        assert!(!cmdline(me).unwrap().is_empty());
        assert!(Identity::of(me).unwrap().is_alive());
        assert!(all_pids().unwrap().contains(&me));
        assert!(start_epoch(&s).unwrap() > 1_600_000_000);
        assert_eq!(tgid(me), Some(me));
        assert_eq!(owner_uid(me), Some(sys::process::euid()));
    }

    #[test]
    fn a_thread_id_is_not_a_process() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(std::fs::read_link("/proc/thread-self").unwrap()).unwrap();
            let _ = stop_rx.recv();
        });
        let link = rx.recv().unwrap();
        let tid: Pid = link.file_name().unwrap().to_str().unwrap().parse().unwrap();
        assert_ne!(tid, current_pid());
        assert!(stat(tid).is_ok(), "/proc/TID is readable");
        assert!(!is_process(tid));
        assert!(Identity::of(tid).is_none());
        assert_eq!(tgid(tid), Some(current_pid()));
        stop_tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn a_zombie_is_not_alive() {
        // Spawned and never waited for: a zombie until the Child is dropped... and then
        // reaped by nobody: reap it at the end.
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as Pid;
        let mut tries = 0;
        while stat(pid).map(|s| s.state != 'Z').unwrap_or(false) && tries < 1000 {
            std::thread::sleep(std::time::Duration::from_millis(1));
            tries += 1;
        }
        assert_eq!(stat(pid).unwrap().state, 'Z');
        assert!(!exe_resolves(pid));
        assert!(Identity::of(pid).is_none());
        // A kernel thread has no exe link but is alive (kthreadd is PID 2 on the host).
        if stat(2).map(|s| s.comm == b"kthreadd").unwrap_or(false) {
            assert!(Identity::of(2).is_some());
        }
        child.wait().unwrap();
        assert!(Identity::of(pid).is_none());
    }
}
