//! Finding processes by name, without `pgrep`.
//!
//! A process matches NAME when any of these holds (`pgrep -x` only checks the first,
//! which misses long names and scripts):
//! 1. its kernel name (`comm`) is NAME;
//! 2. NAME is longer than the 15 bytes `comm` keeps, `comm` is its first 15 bytes, and
//!    the basename of `argv[0]` or of the executable is NAME;
//! 3. it is an interpreter (`sh`, `bash`, `zsh`, `python3`, `perl`, `ruby`, `node`, ...)
//!    running a script whose basename is NAME: `python3 -u /srv/worker.py` matches
//!    `worker.py`, and `#!/usr/bin/env python3` scripts are found by their file name.
//!
//! "First" is the oldest matching process (earliest start time, then lowest PID), as
//! `pgrep -o`: for a daemon with workers that is the master.

use crate::proc::{self, ProcStat};
use crate::Pid;

const COMM_MAX: usize = 15;

/// Programs whose first non-option argument is the script they run.
fn is_interpreter(name: &[u8]) -> bool {
    let Ok(name) = std::str::from_utf8(name) else { return false };
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    matches!(
        base,
        "sh" | "bash" | "zsh" | "dash" | "ksh" | "mksh" | "fish" | "python" | "perl" | "ruby" | "node" | "nodejs"
            | "php" | "lua" | "luajit" | "tclsh" | "wish" | "Rscript" | "awk" | "gawk" | "mawk" | "deno" | "bun"
            | "pypy" | "pypy3" | "expect"
    )
}

fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Does the process described by `stat` (with its lazily read argv) answer to `name`?
pub fn matches(name: &[u8], stat: &ProcStat, argv: impl FnOnce() -> Vec<Vec<u8>>, exe: impl FnOnce() -> Option<Vec<u8>>) -> bool {
    if stat.comm == name {
        return true;
    }
    let long_name = name.len() > COMM_MAX && name.starts_with(&stat.comm) && stat.comm.len() == COMM_MAX;
    // Only the two cases that can match read anything more than stat.
    let interpreter = is_interpreter(&stat.comm);
    if !long_name && !interpreter {
        return false;
    }
    let argv = argv();
    if long_name && (argv.first().is_some_and(|a| basename(a) == name) || exe().as_deref() == Some(name)) {
        return true;
    }
    if interpreter {
        if let Some(script) = script_argument(&argv) {
            return basename(script) == name;
        }
    }
    false
}

/// The script an interpreter runs: the first argument after argv[0] that is not an
/// option (`-c CODE` means there is none).
fn script_argument(argv: &[Vec<u8>]) -> Option<&[u8]> {
    for arg in argv.iter().skip(1) {
        if arg == b"-c" || arg == b"-e" || arg == b"-m" {
            return None;
        }
        if arg == b"--" {
            continue;
        }
        if !arg.starts_with(b"-") {
            return Some(arg);
        }
    }
    None
}

/// Could a process with kernel name `comm` answer to `name`? Decided from `comm` alone,
/// which is much cheaper for the kernel to produce than `stat`: only candidates are read
/// further, so a search costs one small read per process.
fn may_match(name: &[u8], comm: &[u8]) -> bool {
    comm == name || is_interpreter(comm) || (comm.len() == COMM_MAX && name.len() > COMM_MAX && name.starts_with(comm))
}

/// Every live process answering to `name`, oldest first.
pub fn find_all(name: &[u8]) -> std::io::Result<Vec<Pid>> {
    let mut found: Vec<(u64, Pid)> = Vec::new();
    let proc_dir = proc::open_proc_dir()?;
    let mut buf = [0u8; 64];
    for pid in proc::all_pids()? {
        match proc::comm_at(&proc_dir, pid, &mut buf) {
            Some(comm) if may_match(name, comm) => {}
            _ => continue,
        }
        let Ok(stat) = proc::stat(pid) else { continue };
        if !stat.is_alive() {
            continue;
        }
        if matches(name, &stat, || proc::cmdline(pid).unwrap_or_default(), || proc::exe_name(pid)) {
            found.push((stat.starttime, pid));
        }
    }
    found.sort_unstable();
    Ok(found.into_iter().map(|(_, pid)| pid).collect())
}

/// Drops the callers (the shell and the process running the search) from `pids`, unless
/// nothing else matched: searching for "zsh" from zsh should find the other shells.
pub fn without_callers(pids: Vec<Pid>, callers: &[Pid]) -> Vec<Pid> {
    let others: Vec<Pid> = pids.iter().copied().filter(|p| !callers.contains(p)).collect();
    if others.is_empty() {
        pids
    } else {
        others
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(comm: &str) -> ProcStat {
        ProcStat { pid: 10, comm: comm.as_bytes().to_vec(), state: 'S', ppid: 1, pgrp: 10, session: 10, utime: 0, stime: 0, num_threads: 1, starttime: 5, rss_pages: 1 }
    }
    fn argv(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn exact_comm() {
        assert!(matches(b"nginx", &stat("nginx"), Vec::new, || None));
        assert!(!matches(b"ngin", &stat("nginx"), Vec::new, || None));
        assert!(!matches(b"nginx", &stat("nginx-worker"), Vec::new, || None));
    }

    #[test]
    fn long_names_beyond_comm() {
        let s = stat("my-long-service");
        assert!(matches(b"my-long-service-name", &s, || argv(&["/opt/bin/my-long-service-name", "-d"]), || None));
        assert!(matches(b"my-long-service-name", &s, || argv(&["renamed"]), || Some(b"my-long-service-name".to_vec())));
        assert!(!matches(b"my-long-service-other", &s, || argv(&["/opt/bin/my-long-service-name"]), || None));
    }

    #[test]
    fn scripts_under_interpreters() {
        assert!(matches(b"worker.py", &stat("python3"), || argv(&["python3", "-u", "/srv/worker.py", "--queue"]), || None));
        assert!(matches(b"deploy", &stat("zsh"), || argv(&["/usr/bin/zsh", "./deploy"]), || None));
        assert!(!matches(b"print", &stat("python3"), || argv(&["python3", "-c", "print"]), || None));
        // Not an interpreter: the argument is data, not a script.
        assert!(!matches(b"1000", &stat("sleep"), || argv(&["sleep", "1000"]), || None));
    }

    #[test]
    fn callers_excluded_unless_alone() {
        assert_eq!(without_callers(vec![5, 7, 9], &[7]), vec![5, 9]);
        assert_eq!(without_callers(vec![7], &[7]), vec![7]);
    }

    #[test]
    fn finds_this_test_process_by_its_name() {
        let me = std::process::id() as Pid;
        let name = proc::stat(me).unwrap().comm;
        assert!(find_all(&name).unwrap().contains(&me));
    }
}
