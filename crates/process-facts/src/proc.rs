//! Reading one process's facts out of `/proc/PID/*`.

use crate::Pid;
use std::fs::File;
use std::io::{self, Read};
use std::sync::OnceLock;

/// What `/proc/PID/stat` says about a process (the fields this library uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: Pid,
    /// The kernel's name for the process (`comm`), at most 15 bytes.
    pub comm: String,
    /// One letter: R running, S sleeping, D disk wait, T stopped, t traced, Z zombie, X dead, I idle.
    pub state: char,
    pub ppid: Pid,
    pub pgrp: Pid,
    pub session: Pid,
    /// CPU time in clock ticks, user and system, of all threads including exited ones.
    pub utime: u64,
    pub stime: u64,
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
        let comm = String::from_utf8_lossy(&text[open + 1..close]).into_owned();
        let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        // f[0] is field 3 of proc(5).
        let num = |i: usize| -> Option<i64> { f.get(i)?.parse().ok() };
        let unum = |i: usize| -> Option<u64> { f.get(i)?.parse().ok() };
        Some(ProcStat {
            pid,
            comm,
            state: f.first()?.chars().next()?,
            ppid: num(1)? as Pid,
            pgrp: num(2)? as Pid,
            session: num(3)? as Pid,
            utime: unum(11)?,
            stime: unum(12)?,
            num_threads: num(17)?,
            starttime: unum(19)?,
            rss_pages: num(21)?,
        })
    }

    /// A zombie (or a dead task) has exited: it is not running, whatever `kill -0` says.
    pub fn is_alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    pub fn identity(&self) -> Identity {
        Identity { pid: self.pid, starttime: self.starttime }
    }

    /// User plus system CPU time, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.utime + self.stime
    }
}

/// One process, not just one PID: PIDs are reused, start times within a boot are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub pid: Pid,
    pub starttime: u64,
}

impl Identity {
    /// The identity of whatever holds `pid` now, if it is alive.
    pub fn of(pid: Pid) -> Option<Identity> {
        stat(pid).ok().filter(ProcStat::is_alive).map(|s| s.identity())
    }

    /// True while the process this identity names is alive: same PID, same start time.
    pub fn is_alive(&self) -> bool {
        Identity::of(self.pid) == Some(*self)
    }
}

/// Reads a `/proc` file whole. These files are generated at read time and report size 0,
/// so std's size probe (an extra statx) buys nothing: plain open, read until EOF, close.
pub fn read_file(path: &str) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    File::open(path)?.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Reads a small per-process file (`stat`, `statm`, `comm`) into `buf` with exactly three
/// system calls (open, read, close) and no allocation; returns the bytes read.
pub fn read_small<'a>(pid: Pid, file: &str, buf: &'a mut [u8]) -> io::Result<&'a [u8]> {
    let mut path = [0u8; 48];
    let mut w = &mut path[..];
    use std::io::Write as _;
    write!(w, "/proc/{pid}/{file}\0").map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path too long"))?;
    // SAFETY: `path` is NUL-terminated; `buf` is valid for its length; the fd is closed.
    unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        let err = io::Error::last_os_error();
        libc::close(fd);
        if n < 0 {
            return Err(err);
        }
        Ok(&buf[..n as usize])
    }
}

pub fn stat(pid: Pid) -> io::Result<ProcStat> {
    // One read of 1 KiB holds any stat line (52 numbers and a 15-byte name).
    let mut buf = [0u8; 1024];
    let text = read_small(pid, "stat", &mut buf)?;
    ProcStat::parse(text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))
}

/// The kernel's name for `pid` (`/proc/PID/comm`, at most 15 bytes), cheaper than `stat`.
/// `/proc/PID/comm` read relative to `proc_dir` (an open `/proc`, see [`open_proc_dir`]):
/// openat, read, close, with no path walk through `/proc` and no allocation. For scans
/// over every process. The trailing newline is removed.
pub fn comm_at<'a>(proc_dir: &File, pid: Pid, buf: &'a mut [u8; 64]) -> Option<&'a [u8]> {
    use std::os::fd::AsRawFd;
    let mut path = [0u8; 24];
    let mut w = &mut path[..];
    use std::io::Write as _;
    write!(w, "{pid}/comm\0").ok()?;
    // SAFETY: NUL-terminated relative path; `buf` is valid for its length; the fd is closed.
    let n = unsafe {
        let fd = libc::openat(proc_dir.as_raw_fd(), path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    if n <= 0 {
        return None;
    }
    let text = &buf[..n as usize];
    Some(text.strip_suffix(b"\n").unwrap_or(text))
}

/// `/proc`, opened once for [`comm_at`].
pub fn open_proc_dir() -> io::Result<File> {
    File::open("/proc")
}

pub fn comm(pid: Pid) -> io::Result<String> {
    let mut buf = [0u8; 64];
    let text = read_small(pid, "comm", &mut buf)?;
    Ok(String::from_utf8_lossy(text.strip_suffix(b"\n").unwrap_or(text)).into_owned())
}

/// True when `pid` is a live process (not a zombie). Any PID, including other users'.
///
/// Fast path, one system call: the `exe` link of a process resolves only while it has
/// its memory, which a zombie has already given up. When it does not resolve (no such
/// process, a zombie, a kernel thread, or another user's process), `stat` decides.
pub fn is_alive(pid: Pid) -> bool {
    if pid <= 0 {
        return false;
    }
    let mut path = [0u8; 32];
    let mut w = &mut path[..];
    use std::io::Write as _;
    if write!(w, "/proc/{pid}/exe\0").is_ok() {
        // access(F_OK) follows the link without building its text (cheaper than readlink).
        // SAFETY: NUL-terminated path.
        if unsafe { libc::access(path.as_ptr().cast(), libc::F_OK) } == 0 {
            return true;
        }
    }
    stat(pid).map(|s| s.is_alive()).unwrap_or(false)
}

/// The command line, one element per argument (empty for kernel threads and zombies).
pub fn cmdline(pid: Pid) -> io::Result<Vec<String>> {
    let raw = read_file(&format!("/proc/{pid}/cmdline"))?;
    let raw = raw.strip_suffix(b"\0").unwrap_or(&raw);
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    Ok(raw.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect())
}

/// Resident set size in KiB, from `/proc/PID/statm` (the second field, in pages).
pub fn rss_kb(pid: Pid) -> io::Result<u64> {
    let mut buf = [0u8; 256];
    let text = read_small(pid, "statm", &mut buf)?;
    let resident: u64 = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.split_ascii_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable statm"))?;
    Ok(resident * page_size() / 1024)
}

/// The basename of the executable (`/proc/PID/exe`), when readable and not deleted.
pub fn exe_name(pid: Pid) -> Option<String> {
    let target = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let name = target.file_name()?.to_string_lossy().into_owned();
    Some(name.strip_suffix(" (deleted)").unwrap_or(&name).to_string())
}

/// The real user ID of this process.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// This process's PID.
pub fn current_pid() -> Pid {
    std::process::id() as Pid
}

/// `ctime`-style local time: `Mon Nov  4 10:30:15 2025`.
pub fn format_local_time(epoch: u64) -> String {
    let t = epoch as libc::time_t;
    // SAFETY: localtime_r fills `tm`; strftime writes at most buf.len() bytes.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return epoch.to_string();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c"%a %b %e %H:%M:%S %Y".as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64)
}

/// Clock ticks per second (`USER_HZ`), the unit of stat's times.
pub fn clock_ticks() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    // SAFETY: as above.
    *HZ.get_or_init(|| unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64)
}

/// Boot time in seconds since the epoch (`btime` in `/proc/stat`).
pub fn boot_time() -> Option<u64> {
    let text = read_file("/proc/stat").ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
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

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let line = b"4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000 250 18446744073709551615\n";
        let s = ProcStat::parse(line).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "my (odd) name");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.cpu_ticks(), 10);
        assert_eq!(s.num_threads, 1);
        assert_eq!(s.starttime, 123456);
        assert_eq!(s.rss_pages, 250);
    }

    #[test]
    fn rejects_truncated_stat() {
        assert!(ProcStat::parse(b"12 (x) S 1").is_none());
        assert!(ProcStat::parse(b"garbage").is_none());
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as Pid;
        let s = stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(s.is_alive());
        assert!(is_alive(me));
        assert!(rss_kb(me).unwrap() > 0);
        assert!(!cmdline(me).unwrap().is_empty());
        assert!(Identity::of(me).unwrap().is_alive());
        assert!(all_pids().unwrap().contains(&me));
        assert!(start_epoch(&s).unwrap() > 1_600_000_000);
        assert_eq!(comm(me).unwrap(), s.comm);
    }

    #[test]
    fn a_zombie_is_not_alive() {
        // SAFETY: fork in a test process; the child exits at once without touching Rust state.
        let child = unsafe { libc::fork() };
        if child == 0 {
            unsafe { libc::_exit(0) };
        }
        // Unreaped, the child becomes a zombie.
        let mut tries = 0;
        while stat(child).map(|s| s.state != 'Z').unwrap_or(false) && tries < 1000 {
            std::thread::sleep(std::time::Duration::from_millis(1));
            tries += 1;
        }
        assert_eq!(stat(child).unwrap().state, 'Z');
        assert!(!is_alive(child));
        assert!(Identity::of(child).is_none());
        // A kernel thread has no exe link but is alive (kthreadd is PID 2 on the host;
        // in a PID namespace there may be none).
        if stat(2).map(|s| s.comm == "kthreadd").unwrap_or(false) {
            assert!(is_alive(2));
        }
        unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
        assert!(!is_alive(child));
    }
}
