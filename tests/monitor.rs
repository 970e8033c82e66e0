//! process-monitor with real processes and a real zsh: CPU and memory alerts, the re-arm
//! policy, death noticed at once, CSV history, stop signals, bad input.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

/// Handlers on the three monitor events through zsh hook arrays, each appending one line
/// "WALLTIME ARGC EVENT ARGS..." to $LOG.
const RECORD: &str = r#"
zmodload zsh/datetime
rec() { print -r -- "$EPOCHREALTIME $# $*" >>$LOG }
on_monitor() { rec monitor "$@" }
on_alert() { rec alert "$@" }
on_died() { rec died "$@" }
process_monitor_functions+=(on_monitor)
process_alert_functions+=(on_alert)
process_died_functions+=(on_died)
"#;

#[derive(Debug, Clone)]
struct Event {
    at: f64,
    kind: String,
    args: Vec<String>,
}

fn events(log: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|l| {
            let mut f = l.split(' ');
            let at: f64 = f.next().unwrap().parse().unwrap();
            let argc: usize = f.next().unwrap().parse().unwrap();
            let kind = f.next().unwrap().to_string();
            let args: Vec<String> = f.map(str::to_string).collect();
            assert_eq!(args.len() + 1, argc, "payload split oddly: {l}");
            Event { at, kind, args }
        })
        .collect()
}

fn of_kind<'a>(evs: &'a [Event], kind: &str) -> Vec<&'a Event> {
    evs.iter().filter(|e| e.kind == kind).collect()
}

fn now_epoch() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A zsh running a monitor script in the background; stdout and stderr go to files.
struct Running {
    child: Child,
    dir: PathBuf,
}

impl Running {
    fn start(env: &Env, log: &Path, script: &str) -> Running {
        let dir = env.root.join(format!("run-{}", log.file_name().unwrap().to_string_lossy()));
        std::fs::create_dir_all(&dir).unwrap();
        let full = format!("source \"$(which _process)\" || exit 99\n{RECORD}\n{script}");
        let child = env
            .command(&["-f", "-c", &full])
            .env("LOG", log)
            .stdout(std::fs::File::create(dir.join("out")).unwrap())
            .stderr(std::fs::File::create(dir.join("err")).unwrap())
            .spawn()
            .unwrap();
        Running { child, dir }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the shell to end; its exit status (128+N for a signal).
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                return Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("out")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("err")).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A python3 process whose memory the test grows and shrinks by 64 MB on command.
struct Balloon {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Balloon {
    const SCRIPT: &'static str = r#"
import sys
blob = None
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "grow":
        blob = b"x" * (64 << 20)
    elif line.strip() == "shrink":
        blob = None
    print("ok", flush=True)
"#;

    fn start() -> Balloon {
        let mut child = std::process::Command::new(python3())
            .args(["-c", Balloon::SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Balloon { child, stdin, stdout }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn say(&mut self, what: &str) {
        writeln!(self.stdin, "{what}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok");
    }
}

impl Drop for Balloon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python3() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A PID no process holds now.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

const MEM_LIMIT_KB: u64 = 40_000;

fn memory_samples(log: &Path) -> Vec<u64> {
    of_kind(&events(log), "monitor").iter().map(|e| e.args[3].parse().unwrap()).collect()
}

/// Drives a Balloon through small, big, small, big while a monitor with `options` watches
/// it, then returns the events.
fn two_excursions(tag: &str, options: &str) -> Vec<Event> {
    let env = Env::new(tag);
    let log = env.root.join(format!("{tag}.log"));
    let mut b = Balloon::start();
    let mut mon = Running::start(&env, &log, &format!("process-monitor {} --interval 0.15 --alert-mem {MEM_LIMIT_KB} {options}", b.pid()));
    let over = |log: &Path| memory_samples(log).iter().filter(|&&m| m > MEM_LIMIT_KB).count();
    let under = |log: &Path| memory_samples(log).iter().filter(|&&m| m <= MEM_LIMIT_KB).count();
    let limit = Duration::from_secs(15);
    assert!(wait_for(limit, || under(&log) >= 2), "no small samples: {:?} {}", events(&log), mon.stderr());
    b.say("grow");
    assert!(wait_for(limit, || over(&log) >= 4), "never grew: {:?}", memory_samples(&log));
    b.say("shrink");
    let before = under(&log);
    assert!(wait_for(limit, || under(&log) >= before + 2), "never shrank: {:?}", memory_samples(&log));
    b.say("grow");
    let before = over(&log);
    assert!(wait_for(limit, || over(&log) >= before + 4), "never grew again: {:?}", memory_samples(&log));
    drop(b);
    assert_eq!(mon.wait(Duration::from_secs(5)), Some(0), "{}", mon.stderr());
    events(&log)
}

/// The alerts the documented policy gives for the samples in `evs`, each right after the
/// monitor event of its sample.
fn check_alerts_follow_policy(evs: &[Event], after: usize, every: bool) -> usize {
    let mut streak = 0;
    let mut fired = false;
    let mut expected = Vec::new();
    let mut actual = Vec::new();
    for (i, e) in evs.iter().enumerate() {
        match e.kind.as_str() {
            "monitor" => {
                let mem: u64 = e.args[3].parse().unwrap();
                if mem > MEM_LIMIT_KB {
                    streak += 1;
                    if streak >= after && (every || !fired) {
                        fired = true;
                        expected.push(i + 1);
                    }
                } else {
                    streak = 0;
                    fired = false;
                }
            }
            "alert" => {
                assert_eq!(e.args[2], "memory");
                assert_eq!(e.args[3], evs[i - 1].args[3], "an alert carries its sample's value");
                actual.push(i);
            }
            _ => {}
        }
    }
    assert_eq!(actual, expected, "alerts at the wrong samples: {evs:?}");
    actual.len()
}

#[test]
fn an_idle_process_that_goes_busy_alerts_within_two_intervals() {
    let env = Env::new("cpu");
    let log = env.root.join("cpu.log");
    let busy_mark = env.root.join("busy-since");
    let target = Proc::spawn("sh", &["-c", &format!("sleep 1.3; date +%s.%N >{}; while :; do :; done", busy_mark.display())]);
    let mut mon = Running::start(&env, &log, &format!("process-monitor {} --interval 1 --alert-cpu 30 --duration 5.5", target.pid()));
    assert_eq!(mon.wait(Duration::from_secs(15)), Some(0), "{}", mon.stderr());
    let evs = events(&log);
    let busy_since: f64 = std::fs::read_to_string(&busy_mark).unwrap().trim().parse().unwrap();
    let samples = of_kind(&evs, "monitor");
    assert!(samples.len() >= 5, "{evs:?}");
    let idle = samples[0];
    assert!(idle.at < busy_since && idle.args[2].parse::<f64>().unwrap() < 30.0, "the first sample should be idle: {evs:?}");
    let alerts = of_kind(&evs, "alert");
    assert_eq!(alerts.len(), 1, "one alert for one steady overload: {evs:?}");
    let a = alerts[0];
    assert_eq!(a.args[..3], [target.pid().to_string(), target.pid().to_string(), "cpu".to_string()]);
    assert!(a.args[3].parse::<f64>().unwrap() > 30.0, "{a:?}");
    assert!(a.at - busy_since <= 2.0 + 0.5, "alert {:.2}s after the process went busy", a.at - busy_since);
    assert_eq!(mon.stdout(), "");
    assert_eq!(mon.stderr(), "");
}

#[test]
fn a_process_that_grows_past_the_memory_threshold_alerts() {
    let env = Env::new("mem");
    let log = env.root.join("mem.log");
    let grown = env.root.join("grown");
    let code = format!("import time\ntime.sleep(1.0)\nb = b'x' * (64 << 20)\nopen({:?}, 'w').write('%.6f' % time.time())\ntime.sleep(60)", grown.display().to_string());
    let target = Proc::spawn(python3(), &["-c", &code]);
    let mut mon = Running::start(&env, &log, &format!("process-monitor {} --interval 0.5 --alert-mem {MEM_LIMIT_KB} --duration 3", target.pid()));
    assert_eq!(mon.wait(Duration::from_secs(15)), Some(0), "{}", mon.stderr());
    let evs = events(&log);
    let grown_at: f64 = std::fs::read_to_string(&grown).unwrap().parse().unwrap();
    let first = of_kind(&evs, "monitor")[0];
    assert!(first.args[3].parse::<u64>().unwrap() < MEM_LIMIT_KB, "{evs:?}");
    let alerts = of_kind(&evs, "alert");
    assert_eq!(alerts.len(), 1, "{evs:?}");
    assert_eq!(alerts[0].args[2], "memory");
    assert!(alerts[0].args[3].parse::<u64>().unwrap() > 64 * 1024, "{:?}", alerts[0]);
    assert!(alerts[0].at - grown_at <= 1.0 + 0.5, "alert {:.2}s after the growth", alerts[0].at - grown_at);
}

#[test]
fn by_default_an_alert_rearms_only_below_the_threshold() {
    let evs = two_excursions("rearm", "");
    assert_eq!(check_alerts_follow_policy(&evs, 1, false), 2, "one alert per excursion: {evs:?}");
}

#[test]
fn alert_every_alerts_at_every_sample_over_the_threshold() {
    let evs = two_excursions("every", "--alert-every");
    assert!(check_alerts_follow_policy(&evs, 1, true) >= 8, "{evs:?}");
}

#[test]
fn alert_after_waits_for_consecutive_samples() {
    let evs = two_excursions("after", "--alert-after 3");
    assert_eq!(check_alerts_follow_policy(&evs, 3, false), 2, "{evs:?}");
}

#[test]
fn killing_the_watched_process_ends_the_monitor_at_once_with_process_died() {
    let env = Env::new("died");
    let log = env.root.join("died.log");
    let target = Proc::sleeper();
    let pid = target.pid();
    let mut mon = Running::start(&env, &log, &format!("process-monitor {pid} --interval 30; print -r -- status=$?"));
    std::thread::sleep(Duration::from_millis(400));
    let killed_at = Instant::now();
    drop(target);
    assert_eq!(mon.wait(Duration::from_secs(5)), Some(0), "{}", mon.stderr());
    assert!(killed_at.elapsed() < Duration::from_millis(800), "took {:?}", killed_at.elapsed());
    assert_eq!(mon.stdout(), "status=0\n");
    let evs = events(&log);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].kind, "died");
    assert_eq!(evs[0].args, [pid.to_string(), pid.to_string()]);
}

#[test]
fn a_named_service_is_reported_by_name_and_one_monitor_watches_several() {
    let env = Env::new("named");
    let log = env.root.join("named.log");
    let a = Proc::sleeper();
    let b = Proc::sleeper();
    let (pa, pb) = (a.pid(), b.pid());
    let mut mon = Running::start(
        &env,
        &log,
        &format!("process-write-pid web {pa} || exit 9\nprocess-monitor web {pb} --interval 0.2 --alert-mem 1; print -r -- status=$?"),
    );
    assert!(wait_for(Duration::from_secs(5), || of_kind(&events(&log), "monitor").len() >= 4), "{}", mon.stderr());
    drop(a);
    assert!(wait_for(Duration::from_secs(5), || !of_kind(&events(&log), "died").is_empty()));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(mon.child.try_wait().unwrap(), None, "the monitor goes on while one target lives");
    drop(b);
    assert_eq!(mon.wait(Duration::from_secs(5)), Some(0), "{}", mon.stderr());
    let evs = events(&log);
    let died: Vec<Vec<String>> = of_kind(&evs, "died").iter().map(|e| e.args.clone()).collect();
    assert_eq!(died, [vec!["web".to_string(), pa.to_string()], vec![pb.to_string(), pb.to_string()]]);
    let alerts: Vec<Vec<String>> = of_kind(&evs, "alert").iter().map(|e| e.args[..3].to_vec()).collect();
    assert_eq!(alerts, [vec!["web".to_string(), pa.to_string(), "memory".into()], vec![pb.to_string(), pb.to_string(), "memory".into()]]);
    for e in of_kind(&evs, "monitor") {
        assert_eq!(e.args.len(), 4);
        assert!(e.args[0] == "web" && e.args[1] == pa.to_string() || e.args[0] == pb.to_string() && e.args[1] == pb.to_string(), "{e:?}");
        assert!(e.args[2].parse::<f64>().is_ok() && e.args[3].parse::<u64>().unwrap() > 0, "{e:?}");
    }
    assert_eq!(mon.stdout(), "status=0\n");
}

#[test]
fn csv_history_has_the_trackers_columns() {
    let env = Env::new("csv");
    let t = Proc::sleeper();
    let csv = env.root.join("t.csv");
    let out = env.zsh(&format!(
        "process-monitor {} --interval 0.1 --count 3 --csv {f}; print -r -- status=$?\n\
         process-monitor {} --interval 0.1 --count 2 --csv {f}; print -r -- status=$?\n\
         tail -n +2 {f} | cut -d, -f3 | wc -l",
        t.pid(),
        t.pid(),
        f = csv.display()
    ));
    assert_eq!(out.lines(), ["status=0", "status=0", "5"], "{out:?}");
    assert_eq!(out.stderr, "");
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "timestamp,elapsed,cpu,memory_kb,memory_mb");
    assert_eq!(lines.len(), 6, "a second run appends, header once: {text}");
    let now = now_epoch();
    for row in &lines[1..] {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 5, "{row}");
        let ts: f64 = f[0].parse().unwrap();
        assert!((now - ts).abs() < 30.0, "{row}");
        assert!(f[1].parse::<f64>().unwrap() > 0.0);
        assert!(f[2].parse::<f64>().unwrap() >= 0.0);
        let kb: u64 = f[3].parse().unwrap();
        assert_eq!(f[4].parse::<u64>().unwrap(), kb / 1024);
    }
    assert_eq!(lines[1].split(',').nth(1), Some("0.1"));
    assert_eq!(lines[3].split(',').nth(1), Some("0.3"));
}

#[test]
fn csv_of_several_targets_names_them_and_dash_is_stdout() {
    let env = Env::new("csv2");
    let (a, b) = (Proc::sleeper(), Proc::sleeper());
    let out = env.zsh(&format!(
        "process-write-pid 'db,main' {} || exit 9\nprocess-monitor 'db,main' {} --interval 0.1 --count 2 --csv -",
        a.pid(),
        b.pid()
    ));
    assert_eq!(out.status, 0, "{out:?}");
    let lines = out.lines();
    assert_eq!(lines[0], "timestamp,elapsed,cpu,memory_kb,memory_mb,service,pid");
    assert_eq!(lines.len(), 5, "{out:?}");
    assert!(lines[1].ends_with(&format!(",\"db,main\",{}", a.pid())), "{out:?}");
    assert!(lines[2].ends_with(&format!(",{},{}", b.pid(), b.pid())), "{out:?}");
}

#[test]
fn a_csv_file_holding_other_data_is_refused() {
    let env = Env::new("csv3");
    let t = Proc::sleeper();
    let csv = env.root.join("other.csv");
    std::fs::write(&csv, "name,value\nx,1\n").unwrap();
    let out = env.zsh(&format!("process-monitor {} --count 1 --interval 0.1 --csv {}", t.pid(), csv.display()));
    assert_eq!(out.status, 1, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("process-monitor: ") && out.stderr.contains("other data"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "name,value\nx,1\n");
    let out = env.zsh(&format!("process-monitor {} --count 1 --csv {}/no/such/dir/x.csv", t.pid(), env.root.display()));
    assert_eq!(out.status, 1, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
}

#[test]
fn term_ends_a_backgrounded_monitor_cleanly() {
    let env = Env::new("term");
    let t = Proc::sleeper();
    let csv = env.root.join("bg.csv");
    let out = env.zsh(&format!(
        "zmodload zsh/datetime\n\
         process-monitor {} --interval 0.1 --csv {} &\n\
         m=$!\n\
         sleep 0.6\n\
         t=$EPOCHREALTIME\n\
         kill $m\n\
         wait $m\n\
         print -r -- status=$? fast=$(( EPOCHREALTIME - t < 0.5 ))\n\
         grep SigBlk /proc/$$/status",
        t.pid(),
        csv.display()
    ));
    assert_eq!(out.lines()[0], "status=143 fast=1", "{out:?}");
    assert!(stop_signals_unblocked(out.lines()[1].trim_start_matches("SigBlk:\t")), "{out:?}");
    assert_eq!(out.stderr, "");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.ends_with('\n') && text.lines().count() >= 3, "{text}");
    assert!(text.lines().skip(1).all(|l| l.split(',').count() == 5), "{text}");
}

#[test]
fn a_stop_signal_takes_its_course_in_the_shell_after_the_monitor_ends() {
    // A foreground monitor in a script with traps: the monitor ends (128+N), then the
    // shell's own trap runs, and the script goes on with its signal mask intact.
    let env = Env::new("trap");
    let log = env.root.join("trap.log");
    let t = Proc::sleeper();
    let mut mon = Running::start(
        &env,
        &log,
        &format!(
            "trap 'print -r -- trapped-TERM' TERM\ntrap 'print -r -- trapped-INT' INT\n\
             process-monitor {p} --interval 0.1; print -r -- first=$?\n\
             process-monitor {p} --interval 0.1; print -r -- second=$?\n\
             grep SigBlk /proc/$$/status",
            p = t.pid()
        ),
    );
    assert!(wait_for(Duration::from_secs(5), || of_kind(&events(&log), "monitor").len() >= 2));
    send_signal(mon.pid(), "TERM");
    assert!(wait_for(Duration::from_secs(5), || mon.stdout().contains("first=")), "{}", mon.stdout());
    let n = of_kind(&events(&log), "monitor").len();
    assert!(wait_for(Duration::from_secs(5), || of_kind(&events(&log), "monitor").len() >= n + 2));
    send_signal(mon.pid(), "INT");
    assert_eq!(mon.wait(Duration::from_secs(5)), Some(0), "{} {}", mon.stdout(), mon.stderr());
    let out = mon.stdout();
    let (before, mask) = out.rsplit_once("SigBlk:\t").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(before, "trapped-TERM\nfirst=143\ntrapped-INT\nsecond=130\n");
    assert!(stop_signals_unblocked(mask), "{out}");
    assert_eq!(mon.stderr(), "");
}

/// True when a /proc status SigBlk mask has none of HUP, INT and TERM blocked (zsh itself
/// blocks CHLD and WINCH for a moment while it forks a command such as that grep).
fn stop_signals_unblocked(mask: &str) -> bool {
    let bits = u64::from_str_radix(mask.trim(), 16).unwrap_or(u64::MAX);
    // Signal N is bit N - 1: HUP (1), INT (2), TERM (15).
    let stop_bits: u64 = [1u32, 2, 15].iter().map(|n| 1u64 << (n - 1)).sum();
    bits & stop_bits == 0
}

fn send_signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill -{sig} {pid}");
}

#[test]
fn not_found_is_status_1_with_one_line() {
    let env = Env::new("nf");
    let gone = dead_pid();
    for (arg, what) in [(gone.to_string(), "no such process"), ("nosuchservice".to_string(), "not running: nosuchservice")] {
        let out = env.zsh(&format!("process-monitor {arg} --interval 0.1"));
        assert_eq!(out.status, 1, "{out:?}");
        assert_eq!(out.stdout, "");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(out.stderr.starts_with("process-monitor: ") && out.stderr.contains(what), "{out:?}");
    }
    // One missing target among live ones: nothing is watched.
    let t = Proc::sleeper();
    let out = env.zsh(&format!("process-monitor {} {gone} --count 1 --interval 0.1 --csv -", t.pid()));
    assert_eq!((out.status, out.stdout.as_str()), (1, ""), "{out:?}");
}

#[test]
fn a_reused_pid_in_a_pid_file_is_not_monitored() {
    let env = Env::new("reuse");
    let t = Proc::sleeper();
    let out = env.zsh(&format!("process-write-pid svc {}", t.pid()));
    assert_eq!(out.status, 0, "{out:?}");
    // The identity beside the PID file now says another process had that PID.
    let id = env.pid_dir().join(".svc.id");
    let text = std::fs::read_to_string(&id).unwrap();
    let (pid, starttime, boot) = parse_identity_record(&text).unwrap();
    std::fs::write(&id, identity_record(pid, starttime + 7, &boot)).unwrap();
    let out = env.zsh("process-monitor svc --count 1 --interval 0.1");
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("not running: svc"), "{out:?}");
}

#[test]
fn bad_input_is_status_2_with_one_line() {
    let env = Env::new("bad");
    let t = Proc::sleeper();
    let p = t.pid();
    let cases = [
        String::new(),
        format!("{p} --bogus"),
        format!("{p} --interval 0"),
        format!("{p} --interval -1"),
        format!("{p} --interval abc"),
        format!("{p} --interval ''"),
        format!("{p} --interval"),
        format!("{p} --alert-cpu abc"),
        format!("{p} --alert-cpu -5"),
        format!("{p} --alert-cpu nan"),
        format!("{p} --alert-mem 1.5"),
        format!("{p} --alert-mem 1G"),
        format!("{p} --alert-mem -1"),
        format!("{p} --alert-after 0"),
        format!("{p} --count 0"),
        format!("{p} --count x"),
        format!("{p} --duration 0"),
        format!("{p} --csv ''"),
        format!("{p} --alert-every=yes"),
        "-5".to_string(),
        "'bad/name'".to_string(),
    ];
    for args in cases {
        let out = env.zsh(&format!("process-monitor {args}"));
        assert_eq!(out.status, 2, "process-monitor {args}: {out:?}");
        assert_eq!(out.stdout, "", "process-monitor {args}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "process-monitor {args}: {out:?}");
        assert!(out.stderr.starts_with("process-monitor: "), "process-monitor {args}: {out:?}");
    }
}

#[test]
fn the_default_interval_is_process_monitor_interval() {
    let env = Env::new("interval");
    let t = Proc::sleeper();
    let out = env.zsh(&format!(
        "zmodload zsh/datetime\nPROCESS_MONITOR_INTERVAL=0.3\nt=$EPOCHREALTIME\nprocess-monitor {} --count 2\nprint -r -- $(( EPOCHREALTIME - t ))",
        t.pid()
    ));
    let took: f64 = out.stdout.trim().parse().unwrap_or_else(|_| panic!("{out:?}"));
    assert!((0.55..1.5).contains(&took), "two samples at 0.3 s took {took}");
}

#[test]
fn debug_lines_go_to_stderr_only() {
    let env = Env::new("debug");
    let t = Proc::sleeper();
    let out = env.zsh(&format!("PROCESS_DEBUG=true\nprocess-monitor {} --count 1 --interval 0.1 --alert-cpu 90", t.pid()));
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains(&format!("process-monitor: watching {p} (PID {p}) every 0.1s; alerts: cpu > 90%", p = t.pid())), "{out:?}");
    assert!(out.stderr.contains("event process.monitor: "), "{out:?}");
}
