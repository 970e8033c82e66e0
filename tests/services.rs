//! Services as people run them, against real servers: readiness (port, log, command,
//! sd_notify), --after, process-wait, process-logs (following, rotation), process-status
//! and --json, and Procfile stacks brought up and down with process-up / process-down.
mod common;
use common::*;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(&format!("{key}=")))
}

/// A minimal JSON reading for the tests' needs: python3 parses the document and prints
/// `name key=value` lines (so the test checks real JSON, parsed by a real parser).
fn status_json(case: &Case, args: &str) -> Vec<(String, std::collections::HashMap<String, String>)> {
    let out = case.zsh(&format!("process-status --json {args} > {d}/status.json; print st=$?", d = case.dir.display()));
    assert!(field(&out.stdout, "st").is_some(), "{out:?}");
    let py = "import json,sys\nfor o in json.load(open(sys.argv[1])):\n    print(o['name'] + '\\t' + '\\t'.join(f'{k}={json.dumps(v)}' for k, v in o.items() if k != 'command'))";
    let parsed = std::process::Command::new(python3()).args(["-c", py, &case.dir.join("status.json").display().to_string()]).output().unwrap();
    assert!(parsed.status.success(), "process-status --json is not JSON: {}\n{}", String::from_utf8_lossy(&parsed.stderr), read_text(case.dir.join("status.json")));
    String::from_utf8_lossy(&parsed.stdout)
        .lines()
        .map(|l| {
            let (name, rest) = l.split_once('\t').unwrap();
            let kv = rest.split('\t').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string())).collect();
            (name.to_string(), kv)
        })
        .collect()
}

fn entry<'a>(rows: &'a [(String, std::collections::HashMap<String, String>)], name: &str) -> &'a std::collections::HashMap<String, String> {
    &rows.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name} in {rows:?}")).1
}

fn num(row: &std::collections::HashMap<String, String>, key: &str) -> u32 {
    row.get(key).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no number {key} in {row:?}"))
}

/// A web server that takes a moment to start, logs each request, and starts a child, a
/// grandchild, and a process that forks twice to leave it (as daemons do): all of them
/// carry the marker.
const WEB: &str = r#"
import http.server, os, subprocess, sys, time
port, marker = int(sys.argv[1]), sys.argv[2]
time.sleep(0.4)
subprocess.Popen(["sleep", marker])
subprocess.Popen(["sh", "-c", 'sleep "$1" & wait', "sh", marker])
if os.fork() == 0:
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", marker])
    os._exit(0)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok\n")
    def log_message(self, fmt, *args):
        print("request " + self.path, flush=True)
s = http.server.HTTPServer(("127.0.0.1", port), H)
print("listening on", port, flush=True)
s.serve_forever()
"#;

/// A worker that needs the web server from its first moment: it exits 1 if the first
/// connection fails, so starting it before the server is ready would show.
const WORKER: &str = r#"
import sys, time, urllib.request
url = sys.argv[1]
urllib.request.urlopen(url + "/first").read()
print("worker connected", flush=True)
while True:
    time.sleep(0.2)
    print("worker tick", flush=True)
"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn get(port: u32, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port as u16)) else { return false };
    let _ = write!(s, "GET {path} HTTP/1.0\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("ok")
}

#[test]
fn a_procfile_stack_comes_up_in_order_restarts_one_alone_and_goes_down_leaving_nothing() {
    let case = Case::new("stack");
    let mark = &case.marker;
    let app = case.dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    write(&app, "web.py", WEB);
    write(&app, "worker.py", WORKER);
    let base = free_port() as u32;
    let py = python3();
    write(
        &app,
        "Procfile",
        &format!(
            "# the spec's Example 5 as a Procfile\n\
             web: exec {py} -u web.py $PORT {mark} #process: --ready-port $PORT --ready-timeout 20\n\
             worker: exec {py} -u worker.py http://127.0.0.1:$WEB_PORT {mark} #process: --after web --ready-log '^worker connected'\n\
             crash: exec sh -c 'echo \"crash $GREETING\"; sleep 0.3; exit 3' crash {mark} #process: --max-restarts 2 --delay 0.1\n"
        ),
    );
    write(&app, ".env", &format!("# foreman's .env\nGREETING='from .env'\nWEB_PORT={base}\n"));
    let t = Instant::now();
    let up = case.zsh(&format!("cd {} && process-up --port {base}; print st=$?", app.display()));
    let took = t.elapsed();
    assert_eq!(field(&up.stdout, "st"), Some("0"), "{up:?}");
    assert_eq!(up.stderr, "", "{up:?}");
    eprintln!("process-up took {} ms (web needs 400 ms to listen)", took.as_millis());

    let rows = status_json(&case, "");
    let (web, worker, crash) = (entry(&rows, "web"), entry(&rows, "worker"), entry(&rows, "crash"));
    for (row, pid) in [web, worker, crash].into_iter().filter_map(|r| r.get("pid").and_then(|p| p.parse().ok()).map(|p: u32| (r, p))) {
        case.track(pid);
        if let Some(s) = row.get("supervisor_pid").and_then(|p| p.parse().ok()) {
            case.track(s);
        }
    }
    assert_eq!(web["state"], "ready", "{web:?}");
    assert_eq!(web["check"], format!("port {base}"), "$PORT is foreman's: the base for the first entry");
    assert_eq!(worker["state"], "ready", "{worker:?}");
    assert_eq!(web["stack"], "app");
    let (web_pid, worker_pid) = (num(web, "pid"), num(worker, "pid"));
    // The worker connected on its first try, so the server was ready before it started.
    let worker_log = case.zsh("process-logs worker -n 50").stdout;
    assert!(worker_log.contains("worker connected"), "{worker_log}");
    assert!(case.zsh("process-logs web -n 50").stdout.contains("request /first"), "the worker's first request reached the server");
    assert!(get(base, "/hello"), "web serves on $PORT");

    // The crashing entry is restarted alone, then given up on; the others keep running.
    let mut gave_up = false;
    for _ in 0..100 {
        let rows = status_json(&case, "crash");
        if entry(&rows, "crash")["state"] == "dead" {
            assert_eq!(num(entry(&rows, "crash"), "restarts"), 2, "{rows:?}");
            gave_up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gave_up, "crash was never given up on: {:?}", status_json(&case, ""));
    let crash_log = case.zsh("process-logs crash -n 20").stdout;
    assert_eq!(crash_log.matches("crash from .env").count(), 3, "the .env reaches the entries; started 3 times: {crash_log}");
    assert!(crash_log.contains("giving up"), "{crash_log}");
    let rows = status_json(&case, "");
    assert_eq!((num(entry(&rows, "web"), "pid"), num(entry(&rows, "worker"), "pid")), (web_pid, worker_pid), "the others kept running");
    assert!(is_alive(web_pid) && is_alive(worker_pid));
    let table = case.zsh("process-status; print st=$?");
    assert_eq!(field(&table.stdout, "st"), Some("1"), "one is dead: {table:?}");
    assert!(table.stdout.starts_with("NAME    PID"), "{table:?}");
    assert!(!table.stdout.contains('\x1b'), "no colour when stdout is no terminal: {table:?}");
    for (name, state) in [("web", "ready"), ("worker", "ready"), ("crash", "dead")] {
        let line = table.stdout.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{table:?}"));
        assert!(line.split_whitespace().nth(2) == Some(state), "{line}");
    }

    // process-logs -f follows live lines, from another shell.
    let mut follow = case.bg("follow", "process-logs web -n 0 -f");
    std::thread::sleep(Duration::from_millis(300));
    assert!(get(base, "/followed"));
    assert!(wait_for(Duration::from_secs(5), || follow.stdout().contains("request /followed")), "not followed: {}", follow.stdout());
    assert!(!follow.stdout().contains("request /hello"), "-n 0 starts at the end");
    // (Ctrl-C at a terminal is tested below; here the follower is simply ended.)
    send_signal(follow.pid(), libc::SIGTERM);
    assert!(follow.wait_timeout(Duration::from_secs(5)).is_some());

    // One entry restarted alone, with its recorded command and options.
    let restart = case.zsh("process-restart worker; print st=$?");
    assert_eq!(field(&restart.stdout, "st"), Some("0"), "{restart:?}");
    let new_worker: u32 = restart.stdout.lines().next().and_then(|l| l.parse().ok()).unwrap_or_else(|| panic!("{restart:?}"));
    case.track(new_worker);
    assert_ne!(new_worker, worker_pid);
    assert!(!is_alive(worker_pid) && is_alive(web_pid));
    assert_eq!(entry(&status_json(&case, "worker"), "worker")["state"], "ready");

    // Down: dependents first, everything gone, grandchildren and log writers too.
    let before: Vec<u32> = pids_with_arg(mark);
    assert!(before.len() >= 6, "web, its child, grandchild and daemon, the worker: {before:?}");
    let registry = case.env.state_dir().join("registry");
    let mut helpers = Vec::new();
    for name in ["web", "worker"] {
        let text = read_text(registry.join(name));
        for key in ["supervisor_pid", "logger_pid"] {
            helpers.push(field(&text, key).and_then(|p| p.parse::<u32>().ok()).unwrap_or_else(|| panic!("no {key} for {name}: {text}")));
        }
    }
    let down = case.zsh("process-down; print st=$?");
    assert_eq!(field(&down.stdout, "st"), Some("0"), "{down:?}");
    assert_eq!(down.stderr, "", "{down:?}");
    assert!(wait_for(Duration::from_secs(3), || pids_with_arg(mark).is_empty()), "left running: {:?}", pids_with_arg(mark));
    assert!(wait_for(Duration::from_secs(3), || helpers.iter().all(|&p| !is_alive(p))), "supervisors or log writers left: {helpers:?}");
    let stops: Vec<String> = case.events().into_iter().filter(|e| e.starts_with("stop ")).collect();
    let pos = |n: &str| stops.iter().position(|e| e.starts_with(&format!("stop {n} "))).unwrap_or_else(|| panic!("no stop {n}: {stops:?}"));
    assert!(pos("worker") < pos("web"), "the dependent first: {stops:?}");
    assert_eq!(case.zsh("process-status").stdout, "No services.\n");
}


#[test]
fn readiness_by_notify_is_seen_as_it_is_sent_and_only_from_the_service() {
    let case = Case::new("notify");
    let mark = &case.marker;
    let sent = case.dir.join("sent");
    let py = python3();
    let notifier = format!(
        "import os,socket,sys,time\ntime.sleep(0.3)\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\nopen({sent:?},'w').write(repr(time.time()))\ns.sendto(b'STATUS=warming\\nREADY=1',os.environ['NOTIFY_SOCKET'])\ntime.sleep(300)",
        sent = sent.display().to_string()
    );
    write(&case.dir, "notify.py", &notifier);
    let out = case.zsh(&format!(
        "zmodload zsh/datetime
         pid=$(process-start --ready-notify n 'exec {py} {d}/notify.py {mark}'); print st=$?
         print returned=$EPOCHREALTIME pid=$pid
         process-status --json n",
        d = case.dir.display()
    ));
    assert_eq!(field(&out.stdout, "st"), Some("0"), "{out:?}");
    let pid: u32 = out.stdout.lines().find_map(|l| l.split_once(" pid=").map(|(_, p)| p)).and_then(|p| p.parse().ok()).unwrap();
    case.track(pid);
    let returned: f64 = out.stdout.lines().find_map(|l| l.strip_prefix("returned=")).and_then(|l| l.split(' ').next()).unwrap().parse().unwrap();
    let sent_at: f64 = read_text(&sent).parse().unwrap();
    let lag = returned - sent_at;
    eprintln!("READY=1 to process-start's return: {:.1} ms", lag * 1000.0);
    assert!((0.0..1.0).contains(&lag), "returned {lag} s after READY=1");
    assert!(out.stdout.contains("\"check\":\"notify\""), "{out:?}");

    // A READY=1 from a process outside the service's tree does not count.
    let outsider = "import os,socket,time\ntime.sleep(0.3)\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\np=os.environ['SOCK']\nwhile not os.path.exists(p): time.sleep(0.01)\ns.sendto(b'READY=1',p)\ntime.sleep(2)";
    write(&case.dir, "outsider.py", outsider);
    let sock = case.env.root.join("run/process-notify/quiet.sock");
    let mut outsider = std::process::Command::new(py).arg(case.dir.join("outsider.py")).env("SOCK", &sock).spawn().unwrap();
    let out = case.zsh(&format!("process-start --ready-notify --ready-timeout 1.5 quiet 'sleep {mark}'; print st=$?"));
    assert_eq!(field(&out.stdout, "st"), Some("1"), "an outsider's READY=1 was taken: {out:?}");
    assert!(out.stderr.contains("quiet was not ready within 1.5s (notify); stopped it"), "{out:?}");
    assert!(!sock.exists(), "the socket is removed");
    let _ = outsider.kill();
    let _ = outsider.wait();
}

#[test]
fn failed_readiness_stops_the_service_and_says_why_with_its_log() {
    let case = Case::new("ready-fail");
    let mark = &case.marker;
    let port = free_port();
    let out = case.zsh(&format!(
        "process-start --ready-port {port} dies \"echo 'config error: no such file'; exec sh -c 'exit 3' sh {mark}\"; print st=$?
         process-start --ready-cmd false --ready-timeout 0.5 slow \"echo waiting; exec sleep {mark}\"; print st2=$?
         [[ -e $PROCESS_PID_DIR/slow.pid ]] && print pidfile-left
         process-start --ready-log '^up$' logged \"sleep 0.2; echo up; exec sleep {mark}\"; print st3=$?
         process-start --after nothere after \"sleep {mark}\"; print st4=$?
         process-start --ready-port 0 x y; print st5=$?
         process-start --ready-log '(' x y; print st6=$?
         process-start --ready-port 1 --ready-notify x y; print st7=$?"
    ));
    assert_eq!(field(&out.stdout, "st"), Some("1"), "{out:?}");
    assert!(out.stderr.contains(&format!("process-start: dies exited with status 3 before it was ready (port {port}); the end of its log (")), "{out:?}");
    assert!(out.stderr.contains("\n  | config error: no such file\n"), "{out:?}");
    assert_eq!(field(&out.stdout, "st2"), Some("1"), "{out:?}");
    assert!(out.stderr.contains("process-start: slow was not ready within 0.5s (command false); stopped it"), "{out:?}");
    assert!(out.stderr.contains("  | waiting"), "{out:?}");
    assert!(!out.stdout.contains("pidfile-left"), "{out:?}");
    assert_eq!(field(&out.stdout, "st3"), Some("0"), "{out:?}");
    assert_eq!(field(&out.stdout, "st4"), Some("1"), "{out:?}");
    assert!(out.stderr.contains("process-start: nothere is not running; after is to start after it (--after nothere)"), "{out:?}");
    for st in ["st5", "st6", "st7"] {
        assert_eq!(field(&out.stdout, st), Some("2"), "{st}: {out:?}");
    }
    assert!(out.stderr.contains("invalid --ready-port '0'") && out.stderr.contains("invalid --ready-log pattern '('"), "{out:?}");
    let alive: Vec<u32> = pids_with_arg(mark);
    assert_eq!(alive.len(), 1, "only 'logged' runs: {alive:?}");
}

#[test]
fn a_chatty_service_keeps_its_logs_within_the_limit_without_losing_lines() {
    let case = Case::new("chatty");
    let py = python3();
    // About 100 MB of numbered lines, as fast as python writes them.
    let script = "import sys\nw=sys.stdout.write\nfor i in range(1600000): w('line %08d the quick brown fox jumps over the lazy dog\\n' % i)\n";
    write(&case.dir, "chatty.py", script);
    let out = case.env.zsh_env(
        &[("PROCESS_LOG_MAX_SIZE", "1M"), ("PROCESS_LOG_KEEP", "2")],
        &format!("zmodload zsh/datetime; t=$EPOCHREALTIME; process-start --wait 0 chatty '{py} {d}/chatty.py' >/dev/null && process-wait chatty; print st=$? s=$(( EPOCHREALTIME - t ))", d = case.dir.display()),
    );
    assert!(out.stdout.starts_with("st=0"), "{out:?}");
    eprintln!("100 MB through the log writer: {}", out.stdout.trim());
    let logs = case.env.state_dir().join("logs");
    // The writer finishes after the service: give it its moment.
    assert!(wait_for(Duration::from_secs(10), || read_text(logs.join("chatty.log")).ends_with("line 01599999 the quick brown fox jumps over the lazy dog\n")));
    let mut names: Vec<String> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["chatty.log", "chatty.log.1", "chatty.log.2"]);
    let mut kept = String::new();
    for n in ["chatty.log.2", "chatty.log.1", "chatty.log"] {
        let text = read_text(logs.join(n));
        assert!(text.len() <= 1 << 20, "{n}: {} bytes", text.len());
        assert!(text.starts_with("line ") && text.ends_with('\n'), "{n} holds a cut line");
        kept.push_str(&text);
    }
    // The kept lines are consecutive, up to the last: nothing lost inside them.
    let numbers: Vec<u32> = kept.lines().map(|l| l[5..13].parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "a gap in the kept lines");
    assert_eq!(*numbers.last().unwrap(), 1_599_999);
    assert!(numbers.len() > 2 * 17000, "about 3 MB kept: {}", numbers.len());
}

#[test]
fn process_wait_waits_for_any_process_and_reports_how_it_ended() {
    let case = Case::new("wait");
    let mark = &case.marker;
    let other = Proc::spawn("sleep", &[mark]);
    let pid = other.pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        send_signal(pid, libc::SIGTERM);
    });
    let dead = dead_pid();
    let out = case.zsh(&format!(
        "process-wait -v st {pid}; print st=$? got=$st[{pid}]
         process-start --wait 0 seven 'sleep 0.2; exit 7' > /dev/null
         process-wait -v st seven; print st2=$? got2=${{(v)st}}
         process-start --wait 0 long 'sleep {mark}' > /dev/null
         process-wait --timeout 0.2 long; print st3=$?
         process-start --wait 0 short 'sleep 0.1' > /dev/null
         process-wait --any -v st long short; print st4=$? got4=${{(k)st}}
         process-wait {dead}; print st5=$?
         process-wait $$; print st6=$?
         process-stop long"
    ));
    killer.join().unwrap();
    assert!(out.stdout.contains("st=0 got=TERM\n"), "a non-child's signal, from its zombie: {out:?}");
    assert!(out.stdout.contains("st2=0 got2=7\n"), "a child's exit code, not reaped by the shell first: {out:?}");
    assert!(out.stdout.contains("st3=1\n"), "{out:?}");
    assert!(out.stderr.contains("process-wait: still running after 0.2s: "), "{out:?}");
    assert!(out.stdout.lines().any(|l| l.starts_with("st4=0 got4=") && l.len() > "st4=0 got4=".len()), "{out:?}");
    assert!(out.stdout.contains("st5=1\n"), "{out:?}");
    assert!(out.stdout.contains("st6=1\n") && out.stderr.contains("process-wait: refusing to wait for the calling shell itself"), "{out:?}");
}

#[test]
fn at_a_terminal_status_is_coloured_unless_no_color_and_ctrl_c_ends_following() {
    let case = Case::new("status-tty");
    let out = case.zsh(&format!(
        "process-start web '{}' >/dev/null; print st=$?
         process-start ticker 'while :; do print tick; sleep 0.1; done' >/dev/null",
        case.sleep()
    ));
    assert_eq!(field(&out.stdout, "st"), Some("0"), "{out:?}");
    let rc = "source \"$(which _process)\"\nPROMPT='READY> '\n";
    let Some(term) = Terminal::start(&case.env, rc) else { return };
    term.keys(&["-l", "process-status web"]);
    term.keys(&["Enter"]);
    assert!(wait_for(Duration::from_secs(5), || term.screen_with_escapes().contains("\x1b[32mrunning")), "{}", term.screen_with_escapes());
    term.keys(&["-l", "NO_COLOR=1 process-status web; print END"]);
    term.keys(&["Enter"]);
    let plain = || {
        let screen = term.screen_with_escapes();
        let at = screen.rfind("NO_COLOR=1 process-status web").map_or(0, |a| a + 10);
        screen[at..].to_string()
    };
    assert!(wait_for(Duration::from_secs(5), || plain().contains("\nEND")), "{}", plain());
    let after = plain();
    assert!(after.contains("running") && !after.contains("\x1b[32m"), "{after:?}");
    // Following, until Ctrl-C: the prompt comes back with status 130.
    term.keys(&["-l", "clear; process-logs ticker -n 0 -f"]);
    term.keys(&["Enter"]);
    assert!(wait_for(Duration::from_secs(5), || term.screen().matches("tick").count() >= 3), "not following: {}", term.screen());
    term.keys(&["C-c"]);
    term.keys(&["-l", "print status=$?"]);
    term.keys(&["Enter"]);
    assert!(wait_for(Duration::from_secs(5), || term.screen().contains("status=130")), "{}", term.screen());
    case.zsh("process-stop ticker");
    case.zsh("process-stop web");
}

// ---- found by the hostile review of the services ------------------------------------------

/// Two stacks with an entry of the same name: the second does not take the first's for
/// its own, and bringing it down leaves the first's alone.
#[test]
fn a_stack_never_takes_or_stops_another_stacks_entry() {
    let case = Case::new("two-stacks");
    let mark = &case.marker;
    for (dir, extra) in [("sa", ""), ("sb", "other: exec sleep 301 {mark}\n")] {
        let d = case.dir.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        write(&d, "Procfile", &format!("web: exec sleep {mark}\n{}", extra.replace("{mark}", mark)));
    }
    let out = case.zsh(&format!("cd {}/sa && process-up; print a=$?; cd ../sb && process-up; print b=$?", case.dir.display()));
    assert!(out.stdout.contains("a=0\n") && out.stdout.contains("b=1\n"), "{out:?}");
    assert!(out.stderr.contains("web: not started: the name is taken by the stack sa"), "{out:?}");
    let web = case.zsh("process-read-pid web").stdout.trim().parse::<u32>().unwrap();
    case.track(web);
    let out = case.zsh("process-down --name sb; print st=$?");
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert!(is_alive(web), "process-down of sb stopped sa's web");
    assert_eq!(entry(&status_json(&case, "web"), "web")["stack"], "sa");
    assert_eq!(case.zsh("process-down --name sa; print st=$?").stdout, "st=0\n");
    assert!(wait_for(Duration::from_secs(3), || pids_with_arg(mark).is_empty()));
}

/// A supervised service that exits leaving children behind: they are stopped before the
/// next try, so restarts never pile up copies, and process-down leaves nothing.
#[test]
fn what_a_supervised_run_leaves_behind_is_stopped_before_the_next() {
    let case = Case::new("leftovers");
    let mark = &case.marker;
    let d = case.dir.join("app");
    std::fs::create_dir_all(&d).unwrap();
    write(&d, "Procfile", &format!("kid: sh -c 'sleep {mark} & sleep 0.2; exit 5' #process: --max-restarts 100 --window 600 --delay 0\n"));
    let out = case.zsh(&format!("cd {} && process-up; print st=$?", d.display()));
    assert!(out.stdout.ends_with("st=0\n"), "{out:?}");
    std::thread::sleep(Duration::from_secs(2));
    let rows = status_json(&case, "kid");
    assert!(num(entry(&rows, "kid"), "restarts") >= 3, "{rows:?}");
    let left = pids_with_arg(mark);
    assert!(left.len() <= 1, "copies of the left-behind child: {left:?}");
    let out = case.zsh(&format!("cd {} && process-down; print st=$?", d.display()));
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert!(wait_for(Duration::from_secs(3), || pids_with_arg(mark).is_empty()), "left: {:?}", pids_with_arg(mark));
}

/// A service whose check is met only once it has died (its line written by what it left
/// behind) did not start.
#[test]
fn a_service_that_has_died_is_not_ready_whatever_its_check_says() {
    let case = Case::new("ready-die");
    let out = case.zsh(&format!("process-start --ready-log '^ready' rd '(sleep 0.3; echo ready; sleep {}) & exit 3'; print st=$?", case.marker));
    assert!(out.stdout.ends_with("st=1\n"), "{out:?}");
    assert!(out.stderr.contains("rd exited with status 3 before it was ready"), "{out:?}");
}

/// -f --until-exit for a service that has already exited prints its log and returns: one
/// that ended after its start returned (its registry entry kept), and one that exited at
/// once (process-start took its entry back); with neither entry nor log it is an error.
#[test]
fn following_until_exit_a_service_already_gone_returns_at_once() {
    let case = Case::new("until-gone");
    let follow = |name: &str| format!("timeout 5 zsh -fc 'source \"$(which _process)\"; process-logs -f --until-exit {name}'; print st=$?");
    let out = case.zsh(&format!(
        "process-start --wait 0 late 'sleep 0.2; echo bye' >/dev/null; sleep 0.8; {}
         process-start once 'echo at once' >/dev/null 2>&1; print start=$?; {}
         {}",
        follow("late"),
        follow("once"),
        follow("never")
    ));
    assert_eq!(out.stdout, "bye\nst=0\nstart=1\nat once\nst=0\nst=1\n", "{out:?}");
    assert!(out.stderr.contains("process-logs: never was not started by this library"), "{out:?}");
}

/// A follower keeps up with rotations faster than it reads: no line is skipped.
#[test]
fn following_a_log_across_many_fast_rotations_loses_nothing() {
    let case = Case::new("follow-rot");
    let py = python3();
    let out = case.env.zsh_env(
        &[("PROCESS_LOG_MAX_SIZE", "2K"), ("PROCESS_LOG_KEEP", "100")],
        &format!(
            "process-start --wait 0 rot 'sleep 0.5; {py} -c \"import sys\nfor i in range(20000): print(i)\"' >/dev/null
             process-logs rot -n 0 -f --until-exit > {d}/followed; print st=$?",
            d = case.dir.display()
        ),
    );
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    let got: Vec<u32> = read_text(case.dir.join("followed")).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got.len(), 20000, "followed {} of 20000 lines", got.len());
    assert!(got.iter().enumerate().all(|(i, &n)| n == i as u32), "out of order or a gap");
}

/// The service must never die of its log: its directory removed under it, it goes on.
#[test]
fn a_service_survives_its_log_directory_being_removed() {
    let case = Case::new("log-removed");
    let mark = &case.marker;
    let out = case.zsh(&format!("process-start chatty 'while :; do print tick; sleep 0.05; done; sleep {mark}'; print st=$?"));
    let pid: u32 = out.stdout.lines().next().unwrap().parse().unwrap_or_else(|_| panic!("{out:?}"));
    case.track(pid);
    let logs = case.env.state_dir().join("logs");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_dir_all(&logs).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(is_alive(pid), "the service died with its log directory");
    assert!(wait_for(Duration::from_secs(3), || read_text(logs.join("chatty.log")).contains("tick")), "the log was not made again");
    case.zsh("process-stop chatty");
}

/// Every option of a Procfile entry is checked before anything starts: bad usage, status 2.
#[test]
fn process_up_checks_every_entrys_options_before_starting_anything() {
    let case = Case::new("up-options");
    let mark = &case.marker;
    let d = case.dir.join("app");
    std::fs::create_dir_all(&d).unwrap();
    for bad in ["--max-restarts x", "--window abc", "--delay -1", "--after", "--ready-port 99999", "--bogus", "--ready-log 'unclosed"] {
        write(&d, "Procfile", &format!("good: exec sleep {mark}\nbad: exec sleep {mark} #process: {bad}\n"));
        let out = case.zsh(&format!("cd {} && process-up; print st=$?", d.display()));
        assert!(out.stdout.ends_with("st=2\n"), "{bad}: {out:?}");
        assert!(out.stderr.contains("entry bad:"), "{bad}: {out:?}");
        assert!(pids_with_arg(mark).is_empty(), "{bad}: something started");
    }
    let out = case.zsh("process-up --port 0; print st=$?");
    assert!(out.stdout.ends_with("st=2\n"), "bad options are bad usage even with no Procfile: {out:?}");
}

/// A trap that calls a waiting builtin during process-wait does not cost it the status.
#[test]
fn process_wait_keeps_a_childs_status_through_traps() {
    let case = Case::new("wait-trap");
    let out = case.zsh(
        "TRAPUSR1() { process-status >/dev/null }
         process-start --wait 0 wu 'sleep 2; exit 5' >/dev/null
         ( repeat 60 { kill -USR1 $$ 2>/dev/null; sleep 0.01 } ) &
         process-wait -v st wu; print st=$? got=${(v)st}",
    );
    assert!(out.stdout.ends_with("st=0 got=5\n"), "{out:?}");
}

/// A command that is not UTF-8 is restarted exactly as it was given.
#[test]
fn restart_runs_the_recorded_command_byte_for_byte() {
    let case = Case::new("raw-command");
    let raw = case.dir.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9");
    std::fs::write(raw.join(name), format!("sleep {}\n", case.marker)).unwrap();
    let out = case.zsh(&format!(
        "f=$'{d}/caf\\xe9'
         process-start u8 \"zsh $f\" >/dev/null; print a=$?
         process-restart --delay 0 u8 >/dev/null; print b=$?
         process-stop u8; print c=$?",
        d = raw.display()
    ));
    assert_eq!(out.stdout, "a=0\nb=0\nc=0\n", "{out:?}");
}

/// A Procfile is taken exactly as written or not at all: one whose path or text is not
/// UTF-8 (which the stack record could not name, or the command not keep) is refused
/// before anything starts, as is an entry name too long to record.
#[test]
fn a_procfile_that_could_not_be_kept_exactly_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let case = Case::new("procfile-bytes");
    let odd = case.dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join("Procfile"), format!("w: {}\n", case.sleep())).unwrap();
    let text = case.dir.join("text");
    std::fs::create_dir_all(&text).unwrap();
    std::fs::write(text.join("Procfile"), [&b"ok: printf 'caf\xe9'; "[..], case.sleep().as_bytes(), b"\n"].concat()).unwrap();
    let long = case.dir.join("long");
    std::fs::create_dir_all(&long).unwrap();
    std::fs::write(long.join("Procfile"), format!("{}: {s}\nok: {s}\n", "n".repeat(300), s = case.sleep())).unwrap();
    let out = case.zsh(&format!(
        "cd {odd}; process-up; print st=$?; cd {text}; process-up; print st=$?; cd {long}; process-up >/dev/null; print st=$?; process-status ok >/dev/null; print status=$?; process-down >/dev/null; print down=$?",
        odd = odd.to_str().map_or_else(|| format!("$'{}'", odd.display().to_string().replace('\u{fffd}', "\\xe9")), str::to_string),
        text = text.display(),
        long = long.display()
    ));
    assert_eq!(out.stdout, "st=1\nst=1\nst=0\nstatus=0\ndown=0\n", "{out:?}");
    assert!(out.stderr.contains("the Procfile's path is not UTF-8") && out.stderr.contains("line 1 is not UTF-8"), "{out:?}");
    assert!(out.stderr.contains("not a 'name: command' line, skipped"), "the long name is skipped: {out:?}");
    assert!(pids_with_arg(&case.marker).is_empty(), "something was left running");
}

/// An empty file name for -f or -e is bad usage, not a complaint about the directory.
#[test]
fn an_empty_procfile_name_is_bad_usage() {
    let case = Case::new("procfile-empty");
    for opt in ["-f", "-e"] {
        let out = case.zsh(&format!("process-up {opt} ''"));
        assert_usage_error(&out, "process-up", "expected a file name");
    }
}
