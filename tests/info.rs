//! Information against real processes: process-get-cpu, process-get-memory,
//! process-get-command, process-get-info.
mod common;
use common::*;

fn parse_f(s: &str) -> f64 {
    s.trim().parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

/// The CPU tests each keep a core busy: run them one at a time, so they measure the
/// module and not each other.
static CPU_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// User + system clock ticks of `pid` so far, and the wall clock.
fn cpu_ticks(pid: u32) -> (f64, std::time::Instant) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap(), std::time::Instant::now())
}

/// The share of one core `pid` actually used between two `cpu_ticks` readings, in percent
/// (USER_HZ is 100 on Linux).
fn share(a: (f64, std::time::Instant), b: (f64, std::time::Instant)) -> f64 {
    100.0 * (b.0 - a.0) / 100.0 / b.1.duration_since(a.1).as_secs_f64()
}

#[test]
fn cpu_of_a_busy_process_is_near_100_on_the_first_call_and_idle_near_0() {
    let _one_at_a_time = CPU_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let busy = Proc::busy();
    let idle = Proc::sleeper();
    // Let the busy loop get going (its lifetime so far is mostly fork/exec).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = cpu_ticks(busy.pid());
    let out = zsh(&format!(
        "process-get-cpu {b}; process-get-cpu {i}
         process-get-cpu -v v {b}; print -r -- \"$v ${{(t)v}}\"",
        b = busy.pid(),
        i = idle.pid()
    ));
    // What the loop really got meanwhile: ~100 on an idle machine, less when other work
    // competes for the cores. The first reading must follow it (not 0, not a lifetime).
    let actual = share(before, cpu_ticks(busy.pid()));
    assert_eq!(out.status, 0, "{out:?}");
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{out:?}");
    let (b, i) = (parse_f(lines[0]), parse_f(lines[1]));
    eprintln!("busy loop: first call {b}%, actual share {actual:.1}%");
    assert!(b < 150.0 && (b - actual).abs() < 30.0, "busy loop read {b}% on the first call, used {actual:.1}%: {out:?}");
    if actual > 85.0 {
        assert!(b > 70.0, "busy loop read {b}% on the first call: {out:?}");
    }
    assert!(i < 5.0, "sleep read {i}%: {out:?}");
    // One decimal, as ps prints it.
    assert!(lines[0].split_once('.').map(|(_, d)| d.len() == 1).unwrap_or(false), "{out:?}");
    assert!(lines[2].ends_with(" scalar"), "{out:?}");
    assert_eq!(out.stderr, "");
}

/// The case: a process idle for a while goes busy; a second call a second after
/// the first reads near 100%, though its lifetime average is far lower.
#[test]
fn cpu_reads_recent_use_not_the_lifetime_average() {
    let _one_at_a_time = CPU_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("idlebusy");
    std::fs::write(
        dir.join("idlebusy.py"),
        "import signal, time\n\
         def spin(*_):\n    while True: pass\n\
         signal.signal(signal.SIGUSR1, spin)\n\
         while True: time.sleep(3600)\n",
    )
    .unwrap();
    let p = Proc::spawn_in(&dir, python3(), &["idlebusy.py"]);
    // The script also reads the process's CPU ticks itself (zsh reads /proc without
    // forking) to know what it really used between the two calls.
    let out = zsh(&format!(
        "zmodload zsh/datetime
         sleep 2
         process-get-cpu -v before {pid}
         t0=$EPOCHREALTIME; s0=(${{=$(</proc/{pid}/stat)}})
         kill -USR1 {pid}
         sleep 1
         process-get-cpu -v after {pid}
         t1=$EPOCHREALTIME; s1=(${{=$(</proc/{pid}/stat)}})
         print -r -- $before $after $(( (s1[14] + s1[15] - s0[14] - s0[15]) / (t1 - t0) ))",
        pid = p.pid()
    ));
    let f: Vec<f64> = out.stdout.split_whitespace().map(parse_f).collect();
    assert_eq!(f.len(), 3, "{out:?}");
    let (before, after, actual) = (f[0], f[1], f[2]);
    eprintln!("idle then busy: {before}% then {after}%, actual share {actual:.1}%");
    assert!(before < 10.0, "idle read {before}%");
    assert!((after - actual).abs() < 25.0, "busy for the last second read {after}%, used {actual:.1}%");
    if actual > 85.0 {
        assert!(after > 75.0, "busy for the last second read {after}% (want near 100)");
    }
    // The lifetime average (what ps -o pcpu shows) is far lower.
    let (ticks, _) = cpu_ticks(p.pid());
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid())).unwrap();
    let start: f64 = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(19).unwrap().parse().unwrap();
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let lifetime = 100.0 * (ticks / 100.0) / (uptime - start / 100.0);
    assert!(after > 1.5 * lifetime, "recent {after}% vs lifetime average {lifetime:.1}%");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn cpu_and_memory_of_a_missing_process_are_0_with_status_1() {
    let dead = dead_pid();
    let zombie = Proc::zombie();
    let out = zsh(&format!(
        "process-get-cpu {dead}; print s=$?; process-get-memory {dead}; print s=$?
         process-get-cpu {z}; print s=$?; process-get-memory {z}; print s=$?
         process-get-cpu -v c {dead}; process-get-memory -v m {dead}; print -r -- \"$c $m\"",
        z = zombie.pid()
    ));
    assert_eq!(out.stdout, "0\ns=1\n0\ns=1\n0\ns=1\n0\ns=1\n0 0\n", "{out:?}");
    assert_eq!(out.stderr, "");
}

fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn memory_is_rss_in_kb() {
    // 40 MiB actually touched, so RSS is well above a bare interpreter's.
    let dir = scratch("mem");
    let p = Proc::spawn_in(&dir, python3(), &["-c", "import sys, time\nb = b'x' * (40 << 20)\ntime.sleep(300)"]);
    assert!(wait_for(std::time::Duration::from_secs(5), || vm_rss_kb(p.pid()) > 40 * 1024));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let out = zsh(&format!("process-get-memory {0}; process-get-memory -v m {0}; print -r -- \"$m ${{(t)m}}\"", p.pid()));
    let want = vm_rss_kb(p.pid());
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{out:?}");
    let got: u64 = lines[0].parse().unwrap();
    let tolerance = want / 50 + 256;
    assert!(got.abs_diff(want) <= tolerance, "process-get-memory {got} KB, VmRSS {want} KB");
    assert!(got > 40 * 1024, "{got}");
    assert!(lines[1].ends_with(" scalar"), "{out:?}");

    // A small process too: sleep.
    let s = Proc::sleeper();
    let out = zsh(&format!("process-get-memory {}", s.pid()));
    let got: u64 = out.stdout.trim().parse().unwrap();
    let want = vm_rss_kb(s.pid());
    assert!(got.abs_diff(want) <= want / 50 + 256, "{got} vs {want}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn command_is_the_name_without_path_and_not_cut_at_15_bytes() {
    let dir = scratch("cmd");
    let long = format!("a-rather-long-command-name-{}", std::process::id());
    let exe = renamed_sleep(&dir, &long);
    let p = Proc::spawn_in(&dir, exe.to_str().unwrap(), &["300"]);
    let s = Proc::sleeper();
    let dead = dead_pid();
    let out = zsh(&format!(
        "process-get-command {l}; process-get-command {s}; process-get-command $$
         process-get-command -v c {l}; print -r -- \"$c ${{(t)c}}\"
         process-get-command {dead}; print s=$?
         c=stale; process-get-command -v c {dead}; print s=$? \"[$c]\"",
        l = p.pid(),
        s = s.pid()
    ));
    assert_eq!(out.stdout, format!("{long}\nsleep\nzsh\n{long} scalar\ns=1\ns=1 []\n"), "{out:?}");
    assert_eq!(out.stderr, "");
    let _ = std::fs::remove_dir_all(dir);
}

/// Seconds since the epoch when `pid` started, from /proc, as `ps -o lstart` computes it.
fn start_epoch(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(19).unwrap().parse().unwrap();
    let btime: u64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    btime + start / 100
}

#[test]
fn info_prints_the_five_line_summary() {
    let p = Proc::sleeper();
    let pid = p.pid();
    // zsh's own strftime, in the same process and time zone, for the expected start time.
    let out = zsh(&format!(
        "process-get-info {pid}; print s=$?; zmodload zsh/datetime; strftime '%a %b %e %H:%M:%S %Y' {}",
        start_epoch(pid)
    ));
    let lines = out.lines();
    assert_eq!(lines.len(), 7, "{out:?}");
    assert_eq!(lines[0], format!("PID:         {pid}"));
    let cpu = lines[1].strip_prefix("CPU:         ").and_then(|c| c.strip_suffix('%')).unwrap_or_else(|| panic!("{out:?}"));
    assert!(parse_f(cpu) < 5.0, "{out:?}");
    let mem = lines[2].strip_prefix("Memory:      ").and_then(|m| m.strip_suffix(" KB")).unwrap_or_else(|| panic!("{out:?}"));
    assert!(mem.parse::<u64>().unwrap() > 0, "{out:?}");
    assert_eq!(lines[3], "Command:     sleep");
    let start = lines[4].strip_prefix("Start Time:  ").unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(lines[5], "s=0");
    assert_eq!(start, lines[6], "start time differs from /proc's: {out:?}");
    assert_eq!(out.stderr, "");
}

/// A name made to drive the terminal or forge a line (another user can choose any name):
/// the summary for a person shows it escaped, on its one line; `-v` keeps the bytes.
#[test]
fn info_escapes_a_hostile_name_in_its_summary() {
    let dir = scratch("info-hostile");
    let name = "aaaaaaaaaaaaaaaa\u{1b}]0;TITLE\u{7}\u{1b}[2J\nPID:         1";
    let exe = renamed_sleep(&dir, name);
    let p = Proc::spawn_in(&dir, exe.to_str().unwrap(), &["300"]);
    let out = zsh(&format!("process-get-info {0}; process-get-info -v i {0}; print -r -- ${{#i[command]}}", p.pid()));
    let lines = out.lines();
    assert_eq!(lines.len(), 6, "{out:?}");
    assert_eq!(lines[3], "Command:     aaaaaaaaaaaaaaaa\\u{1b}]0;TITLE\\u{7}\\u{1b}[2J PID:         1", "{out:?}");
    assert!(!out.stdout.contains('\u{1b}'), "{out:?}");
    assert_eq!(lines[5], name.chars().count().to_string(), "-v keeps the name as it is: {out:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn info_fills_an_associative_array() {
    let p = Proc::sleeper();
    let pid = p.pid();
    let out = zsh(&format!(
        "process-get-info -v info {pid}; print s=$? ${{(t)info}}
         for k in ${{(ko)info}}; do print -r -- \"$k=$info[$k]\"; done
         f() {{ local -A mine; process-get-info -v mine {pid}; print -r -- ${{(t)mine}} $mine[pid] }}
         f; print -r -- after=${{+mine}}"
    ));
    let mut kv = std::collections::BTreeMap::new();
    for l in out.lines().iter().skip(1) {
        if let Some((k, v)) = l.split_once('=') {
            kv.insert(k.to_string(), v.to_string());
        }
    }
    assert_eq!(out.lines()[0], "s=0 association", "{out:?}");
    let keys: Vec<&str> = kv.keys().map(String::as_str).filter(|k| *k != "after").collect();
    assert_eq!(keys, ["args", "command", "cpu", "memory", "pid", "ppid", "start_epoch", "start_time", "state", "uid"], "{out:?}");
    assert_eq!(kv["pid"], pid.to_string());
    assert_eq!(kv["command"], "sleep");
    assert_eq!(kv["args"], "sleep 300");
    assert_eq!(kv["ppid"], std::process::id().to_string());
    assert_eq!(kv["state"], "S");
    // SAFETY: getuid has no preconditions.
    assert_eq!(kv["uid"], unsafe { libc::getuid() }.to_string());
    assert_eq!(kv["start_epoch"], start_epoch(pid).to_string());
    assert!(parse_f(&kv["cpu"]) < 5.0);
    assert!(kv["memory"].parse::<u64>().unwrap() > 0);
    assert!(out.stdout.contains(&format!("association-local {pid}\nafter=0\n")), "{out:?}");
}

#[test]
fn info_of_a_missing_process_is_status_1_with_a_message() {
    let dead = dead_pid();
    let zombie = Proc::zombie();
    for pid in [dead, zombie.pid()] {
        let out = zsh(&format!("process-get-info {pid}"));
        assert_eq!(out.status, 1, "{out:?}");
        assert_eq!(out.stdout, "");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{out:?}");
        assert!(lines[0].starts_with("process-get-info: "), "{out:?}");
    }
}

#[test]
fn value_forms_work_on_locals_inside_a_function() {
    let p = Proc::sleeper();
    let out = zsh(&format!(
        "f() {{
           local c m cmd
           process-get-cpu -v c {pid}; process-get-memory -v m {pid}; process-get-command -v cmd {pid}
           print -r -- ${{(t)c}} ${{(t)m}} ${{(t)cmd}} $cmd
           (( m > 0 )) && print mem-ok
         }}
         f; print -r -- ${{+c}} ${{+m}} ${{+cmd}}",
        pid = p.pid()
    ));
    assert_eq!(out.stdout, "scalar-local scalar-local scalar-local sleep\nmem-ok\n0 0 0\n", "{out:?}");
}

#[test]
fn bad_input_is_a_one_line_usage_error() {
    let env = Env::new("bad");
    for c in ["process-get-cpu", "process-get-memory", "process-get-command", "process-get-info"] {
        for args in ["", "abc", "-5", "0", "1.5", "''", "--bogus 1", "-x 1", "1 2", "-v", "-v 1bad 1", "-v x", "99999999999"] {
            let line = format!("{c} {args}");
            assert_usage_error(&env.zsh(&line), c, &line);
        }
    }
}
