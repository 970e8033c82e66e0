//! Finding processes by name, without `pgrep`.
//!
//! A process matches NAME when any of these holds (`pgrep -x` only checks the first,
//! which misses long names and scripts):
//! 1. its kernel name (`comm`) is NAME, byte for byte;
//! 2. NAME is longer than the 15 bytes `comm` keeps, `comm` is its first 15 bytes (cut
//!    wherever the kernel cut, even inside a UTF-8 character), and the basename of
//!    `argv[0]` or of the executable is NAME;
//! 3. it is an interpreter (a shell, python, perl, ruby, node, ...) running a script whose
//!    basename is NAME: `python3 -W ignore /srv/worker.py` matches `worker.py`,
//!    `bash -e job.sh` matches `job.sh`, and `#!/usr/bin/env python3` scripts are found by
//!    their file name. Which argument is the script follows each interpreter's own rules:
//!    the options that take a value (`python3 -W ignore`, `perl -I lib`, `node -r mod`),
//!    the ones that mean there is no script file (`-c`, `-e`, `-m`), and awk, whose first
//!    argument is program text unless `-f FILE` names the program file.
//!
//! "First" is the oldest matching process (earliest start time, then lowest PID), as
//! `pgrep -o`: for a daemon with workers that is the master.

use crate::proc::{self, ProcStat};
use crate::Pid;

const COMM_MAX: usize = 15;

/// How an interpreter reads its command line.
struct Rules {
    /// Options that take a value: attached (`-Wignore`, `--require=x`) or the next
    /// argument (`-W ignore`, `--require x`).
    valued: &'static [&'static str],
    /// Options after which there is no script file (code on the command line, a module).
    no_script: &'static [&'static str],
    /// Single-letter options can be grouped (`-ex`); the group's last letter may take the
    /// next argument as its value (`-uW error`), an earlier one the rest of the group.
    grouped: bool,
    /// `+x` is an option too (shells).
    plus: bool,
    /// The first operand is program text, not a file (awk), unless `-f FILE` names it.
    program_text: bool,
}

const SHELL: Rules = Rules { valued: &["-o", "+o", "-O", "+O", "--rcfile", "--init-file"], no_script: &["-c"], grouped: true, plus: true, program_text: false };
const PYTHON: Rules = Rules { valued: &["-W", "-X", "--check-hash-based-pycs"], no_script: &["-c", "-m"], grouped: true, plus: false, program_text: false };
const PERL: Rules = Rules { valued: &["-I", "-M", "-m"], no_script: &["-e", "-E"], grouped: true, plus: false, program_text: false };
const RUBY: Rules = Rules { valued: &["-I", "-r", "-C", "-E", "--encoding"], no_script: &["-e"], grouped: true, plus: false, program_text: false };
const NODE: Rules = Rules {
    valued: &["-r", "--require", "--import", "--loader", "--experimental-loader", "--inspect-port", "--title", "--env-file", "-C", "--conditions"],
    no_script: &["-e", "--eval", "-p", "--print"],
    grouped: false,
    plus: false,
    program_text: false,
};
const AWK: Rules = Rules { valued: &["-F", "-v", "-f", "-i", "-l", "-E"], no_script: &[], grouped: false, plus: false, program_text: true };
const OTHER: Rules = Rules { valued: &[], no_script: &["-c", "-e", "-m"], grouped: false, plus: false, program_text: false };

/// The rules of `name`, when it is an interpreter (`python3.11` is python).
fn interpreter(name: &[u8]) -> Option<&'static Rules> {
    let name = std::str::from_utf8(name).ok()?;
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    Some(match base {
        "sh" | "bash" | "zsh" | "dash" | "ksh" | "mksh" | "yash" | "ash" => &SHELL,
        "python" | "pypy" => &PYTHON,
        "perl" => &PERL,
        "ruby" => &RUBY,
        "node" | "nodejs" | "deno" | "bun" => &NODE,
        "awk" | "gawk" | "mawk" | "nawk" => &AWK,
        "fish" | "php" | "lua" | "luajit" | "tclsh" | "wish" | "Rscript" | "expect" => &OTHER,
        _ => return None,
    })
}

fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// What one option argument means.
enum Opt<'a> {
    /// A flag: the script (if any) comes later.
    Flag,
    /// An option whose value is the next argument (named, for awk's `-f`).
    ValueNext(&'a str),
    /// An option with its value attached.
    Value(&'a str, &'a [u8]),
    /// Code or a module on the command line: no script file.
    NoScript,
}

fn classify<'a>(rules: &Rules, arg: &'a [u8]) -> Opt<'a> {
    let text = std::str::from_utf8(arg).unwrap_or("");
    if let Some(long) = text.strip_prefix("--") {
        let name_len = long.find('=').map_or(text.len(), |i| i + 2);
        let name = &text[..name_len];
        return if rules.no_script.contains(&name) {
            Opt::NoScript
        } else if !rules.valued.contains(&name) {
            Opt::Flag
        } else if name_len < text.len() {
            Opt::Value(name, &arg[name_len + 1..])
        } else {
            Opt::ValueNext(name)
        };
    }
    let sign = &text[..1];
    let letters = if rules.grouped { text.len() - 1 } else { 1 };
    for k in 1..=letters {
        // (A letter that is not ASCII ends the look: no interpreter has such options.)
        let Some(letter) = text.get(k..k + 1) else { return Opt::Flag };
        let this = [sign, letter].concat();
        match rules.valued.iter().chain(rules.no_script).find(|o| **o == this).copied() {
            Some(o) if rules.no_script.contains(&o) => return Opt::NoScript,
            Some(o) if k + 1 < text.len() => return Opt::Value(o, &arg[k + 1..]),
            Some(o) => return Opt::ValueNext(o),
            None => {}
        }
    }
    Opt::Flag
}

/// The script an interpreter with `rules` runs, from its `argv`: the first operand, once
/// options (and the values they take) are skipped. None when it runs no script file.
fn script_argument<'a>(rules: &Rules, argv: &'a [Vec<u8>]) -> Option<&'a [u8]> {
    let mut program_file: Option<&'a [u8]> = None;
    let mut args = argv.iter().skip(1).map(Vec::as_slice);
    while let Some(arg) = args.next() {
        if arg == b"--" {
            break;
        }
        let is_option = arg.len() > 1 && (arg[0] == b'-' || (rules.plus && arg[0] == b'+'));
        if !is_option {
            return if rules.program_text { program_file } else { Some(arg) };
        }
        let (name, value) = match classify(rules, arg) {
            Opt::Flag => continue,
            Opt::NoScript => return None,
            Opt::Value(name, value) => (name, value),
            Opt::ValueNext(name) => (name, args.next()?),
        };
        if rules.program_text && name == "-f" {
            program_file = Some(value);
        }
    }
    if rules.program_text {
        program_file
    } else {
        args.next()
    }
}

/// Does the process described by `stat` (with its lazily read argv) answer to `name`?
pub fn matches(name: &[u8], stat: &ProcStat, argv: impl FnOnce() -> Vec<Vec<u8>>, exe: impl FnOnce() -> Option<Vec<u8>>) -> bool {
    if stat.comm == name {
        return true;
    }
    let long_name = name.len() > COMM_MAX && name.starts_with(&stat.comm) && stat.comm.len() == COMM_MAX;
    let rules = interpreter(&stat.comm);
    // Only the two cases that can match read anything more than stat.
    if !long_name && rules.is_none() {
        return false;
    }
    let argv = argv();
    if long_name && (argv.first().is_some_and(|a| basename(a) == name) || exe().as_deref() == Some(name)) {
        return true;
    }
    rules.and_then(|r| script_argument(r, &argv)).is_some_and(|script| basename(script) == name)
}

/// Could a process with kernel name `comm` answer to `name`? Decided from `comm` alone,
/// which is much cheaper for the kernel to produce than `stat`: only candidates are read
/// further, so a search costs one small read per process.
fn may_match(name: &[u8], comm: &[u8]) -> bool {
    comm == name || interpreter(comm).is_some() || (comm.len() == COMM_MAX && name.len() > COMM_MAX && name.starts_with(comm))
}

/// From how many processes a search is split with a second thread. Below it, starting
/// the thread costs more than it saves.
pub const PARALLEL_FROM: usize = 2000;

/// Every live process answering to `name`, oldest first.
///
/// With [`PARALLEL_FROM`] processes or more, and a second core, half of `/proc` is read by
/// a short-lived worker thread. It is made with every signal blocked (so no signal
/// handler of the shell ever runs on it), touches nothing but `/proc` and its own memory,
/// and is joined before this returns: the shell never sees it. A single pass over
/// `/proc` is already close to the kernel's own cost (one `comm` read per process), so
/// only a second core halves it.
pub fn find_all(name: &[u8]) -> std::io::Result<Vec<Pid>> {
    let pids = proc::all_pids()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut found = if pids.len() >= PARALLEL_FROM && cores > 1 {
        let (mine, theirs) = pids.split_at(pids.len() / 2);
        let shell_mask = crate::sys::signal::Mask::all().block()?;
        let result = std::thread::scope(|scope| {
            let worker = std::thread::Builder::new().name("process-find".into()).spawn_scoped(scope, || scan(name, theirs));
            // The worker has the all-blocked mask; this thread gets its own back at once.
            shell_mask.set();
            let worker = worker?;
            let mut found = scan(name, mine)?;
            found.extend(worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?);
            Ok::<_, std::io::Error>(found)
        });
        shell_mask.set();
        result?
    } else {
        scan(name, &pids)?
    };
    found.sort_unstable();
    Ok(found.into_iter().map(|(_, pid)| pid).collect())
}

/// The (start time, PID) of every process among `pids` answering to `name`.
fn scan(name: &[u8], pids: &[Pid]) -> std::io::Result<Vec<(u64, Pid)>> {
    let mut found = Vec::new();
    let proc_dir = proc::open_proc_dir()?;
    let mut buf = [0u8; 64];
    for &pid in pids {
        match proc::comm_at(&proc_dir, pid, &mut buf) {
            Some(comm) if may_match(name, comm) => {}
            _ => continue,
        }
        let Ok(stat) = proc::stat(pid) else { continue };
        if stat.is_alive() && matches(name, &stat, || proc::cmdline(pid).unwrap_or_default(), || proc::exe_name(pid)) {
            found.push((stat.starttime, pid));
        }
    }
    Ok(found)
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

    fn stat(comm: &[u8]) -> ProcStat {
        ProcStat { pid: 10, comm: comm.to_vec(), state: 'S', ppid: 1, pgrp: 10, session: 10, utime: 0, stime: 0, num_threads: 1, starttime: 5, rss_pages: 1 }
    }
    fn argv(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }
    fn script(comm: &str, a: &[Vec<u8>]) -> Option<String> {
        script_argument(interpreter(comm.as_bytes()).unwrap(), a).map(|s| String::from_utf8_lossy(s).into_owned())
    }

    #[test]
    fn exact_comm() {
        assert!(matches(b"nginx", &stat(b"nginx"), Vec::new, || None));
        assert!(!matches(b"ngin", &stat(b"nginx"), Vec::new, || None));
        assert!(!matches(b"nginx", &stat(b"nginx-worker"), Vec::new, || None));
    }

    #[test]
    fn long_names_beyond_comm_even_cut_inside_a_character() {
        let s = stat(b"my-long-service");
        assert!(matches(b"my-long-service-name", &s, || argv(&["/opt/bin/my-long-service-name", "-d"]), || None));
        assert!(matches(b"my-long-service-name", &s, || argv(&["renamed"]), || Some(b"my-long-service-name".to_vec())));
        assert!(!matches(b"my-long-service-other", &s, || argv(&["/opt/bin/my-long-service-name"]), || None));
        // 'abcdefghijklmné-service': the kernel keeps 15 bytes, half of the é.
        let name = "abcdefghijklmné-service".as_bytes();
        let cut = stat(&name[..15]);
        assert!(matches(name, &cut, || vec![name.to_vec()], || None));
    }

    #[test]
    fn names_that_are_not_utf8() {
        assert!(matches(b"caf\xe9", &stat(b"caf\xe9"), Vec::new, || None));
    }

    #[test]
    fn python_options_that_take_values() {
        assert_eq!(script("python3", &argv(&["python3", "-W", "ignore", "x.py"])).as_deref(), Some("x.py"));
        assert_eq!(script("python3", &argv(&["python3", "-Wignore", "-u", "/srv/x.py", "--queue"])).as_deref(), Some("/srv/x.py"));
        assert_eq!(script("python3", &argv(&["python3", "-X", "dev", "-B", "w.py"])).as_deref(), Some("w.py"));
        assert_eq!(script("python3", &argv(&["python3", "-uW", "error", "w.py"])).as_deref(), Some("w.py"));
        assert_eq!(script("python3", &argv(&["python3", "-c", "print(1)", "arg"])), None);
        assert_eq!(script("python3", &argv(&["python3", "-m", "http.server"])), None);
        assert_eq!(script("python3.11", &argv(&["python3.11", "--", "w.py"])).as_deref(), Some("w.py"));
    }

    #[test]
    fn shells_single_letter_flags_and_their_values() {
        assert_eq!(script("bash", &argv(&["bash", "-e", "job.sh"])).as_deref(), Some("job.sh"));
        assert_eq!(script("bash", &argv(&["bash", "-ex", "job.sh", "arg"])).as_deref(), Some("job.sh"));
        assert_eq!(script("bash", &argv(&["bash", "-o", "pipefail", "job.sh"])).as_deref(), Some("job.sh"));
        assert_eq!(script("sh", &argv(&["sh", "-c", "sleep 5"])), None);
        assert_eq!(script("zsh", &argv(&["zsh", "-fc", "true"])), None);
        assert_eq!(script("zsh", &argv(&["/usr/bin/zsh", "-f", "./deploy"])).as_deref(), Some("./deploy"));
        assert_eq!(script("dash", &argv(&["dash", "+x", "s.sh"])).as_deref(), Some("s.sh"));
    }

    #[test]
    fn perl_ruby_node_and_awk() {
        assert_eq!(script("perl", &argv(&["perl", "-I", "lib", "-w", "app.pl"])).as_deref(), Some("app.pl"));
        assert_eq!(script("perl", &argv(&["perl", "-Ilib", "app.pl"])).as_deref(), Some("app.pl"));
        assert_eq!(script("perl", &argv(&["perl", "-e", "print 1"])), None);
        assert_eq!(script("ruby", &argv(&["ruby", "-r", "json", "app.rb"])).as_deref(), Some("app.rb"));
        assert_eq!(script("node", &argv(&["node", "--require", "dotenv/config", "server.js"])).as_deref(), Some("server.js"));
        assert_eq!(script("node", &argv(&["node", "-r", "ts-node/register", "--inspect", "server.js"])).as_deref(), Some("server.js"));
        assert_eq!(script("node", &argv(&["node", "--eval=1+1"])), None);
        assert_eq!(script("node", &argv(&["node", "-e", "1"])), None);
        assert_eq!(script("awk", &argv(&["awk", "{print}", "file"])), None, "inline program text is not a script");
        assert_eq!(script("awk", &argv(&["awk", "-F:", "-f", "report.awk", "data"])).as_deref(), Some("report.awk"));
        assert_eq!(script("gawk", &argv(&["gawk", "-freport.awk"])).as_deref(), Some("report.awk"));
    }

    #[test]
    fn scripts_under_interpreters() {
        assert!(matches(b"worker.py", &stat(b"python3"), || argv(&["python3", "-u", "/srv/worker.py", "--queue"]), || None));
        assert!(matches(b"x.py", &stat(b"python3"), || argv(&["python3", "-W", "ignore", "x.py"]), || None));
        assert!(!matches(b"ignore", &stat(b"python3"), || argv(&["python3", "-W", "ignore", "x.py"]), || None));
        assert!(matches(b"deploy", &stat(b"zsh"), || argv(&["/usr/bin/zsh", "./deploy"]), || None));
        assert!(!matches(b"print", &stat(b"python3"), || argv(&["python3", "-c", "print"]), || None));
        // Not an interpreter: the argument is data, not a script.
        assert!(!matches(b"1000", &stat(b"sleep"), || argv(&["sleep", "1000"]), || None));
    }

    #[test]
    fn callers_excluded_unless_alone() {
        assert_eq!(without_callers(vec![5, 7, 9], &[7]), vec![5, 9]);
        assert_eq!(without_callers(vec![7], &[7]), vec![7]);
    }

    #[test]
    fn a_split_search_finds_what_a_single_pass_finds() {
        let mut children: Vec<std::process::Child> = (0..PARALLEL_FROM).map(|_| std::process::Command::new("sleep").arg("30").spawn().unwrap()).collect();
        let all = proc::all_pids().unwrap();
        assert!(all.len() >= PARALLEL_FROM);
        let single: Vec<Pid> = {
            let mut f = scan(b"sleep", &all).unwrap();
            f.sort_unstable();
            f.into_iter().map(|(_, p)| p).collect()
        };
        let split = find_all(b"sleep").unwrap();
        for c in &mut children {
            let _ = c.kill();
        }
        for c in &mut children {
            let _ = c.wait();
        }
        let ours: Vec<Pid> = split.iter().copied().filter(|p| single.contains(p)).collect();
        assert!(ours.len() + 5 >= single.len(), "the split search missed processes: {} of {}", ours.len(), single.len());
        assert!(split.len() >= PARALLEL_FROM);
    }

    #[test]
    fn finds_this_test_process_by_its_name() {
        let me = std::process::id() as Pid;
        let name = proc::stat(me).unwrap().comm;
        assert!(find_all(&name).unwrap().contains(&me));
    }
}
