//! Metrics and event logs against the real engines: `process-monitor --prom` files checked
//! by `promtool check metrics` and read back through a real node_exporter, their values
//! against /proc; `--tree`; `$PROCESS_EVENTS_JSONL` lines parsed by Python's json module,
//! from concurrent shells and across a logrotate; docs/metrics.md's rules and scrape
//! config checked and unit-tested by promtool.
//!
//! promtool and node_exporter come from Debian's `prometheus` and
//! `prometheus-node-exporter` packages (.ci/run installs them); without them the checks
//! that need them are skipped with a line saying so.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECOND: Duration = Duration::from_secs(1);

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory arguments.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn page_size() -> u64 {
    // SAFETY: as above.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) as u64
}

fn now_epoch() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

// ---- promtool ------------------------------------------------------------------------------

fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("promtool not installed (apt-get install prometheus): skipping the promtool checks");
    }
    found.then_some("promtool")
}

/// `promtool check metrics` on `text`: valid exposition format, and no lint complaint
/// (names, units, help, _total on counters). Nothing when promtool is absent.
fn check_metrics(text: &str) {
    let Some(tool) = promtool() else { return };
    let mut child = Command::new(tool).args(["check", "metrics"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}\n--- on ---\n{text}");
}

// ---- the exposition format, read back ------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The samples of a text exposition (what node_exporter serves, or a file), label values
/// unescaped.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut chars = line.chars().peekable();
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '{' || c == ' ' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let mut labels = Vec::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                match chars.peek() {
                    Some('}') => {
                        chars.next();
                        break;
                    }
                    Some(',') => {
                        chars.next();
                        continue;
                    }
                    None => panic!("unterminated labels: {line}"),
                    _ => {}
                }
                let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                assert_eq!(chars.next(), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(c) => value.push(c),
                            None => panic!("{line}"),
                        },
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => panic!("unterminated label value: {line}"),
                    }
                }
                labels.push((key, value));
            }
        }
        let rest: String = chars.collect();
        let value = rest.split_whitespace().next().unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?}: {line}")),
        };
        labels.sort();
        out.push(Sample { name, labels, value });
    }
    out
}

/// The value of `name` for `service` (and the other labels given), if there is one.
fn value_of(samples: &[Sample], name: &str, service: &str, more: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<(String, String)> = vec![("service".into(), service.into())];
    want.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    want.sort();
    samples.iter().find(|s| s.name == name && s.labels == want).map(|s| s.value)
}

fn ours(samples: &[Sample]) -> Vec<Sample> {
    samples.iter().filter(|s| s.name.starts_with("zsh_process_")).cloned().collect()
}

// ---- node_exporter ---------------------------------------------------------------------------

/// A real node_exporter serving only its textfile collector over `dir`, on a free loopback
/// port; killed when dropped.
struct NodeExporter {
    child: Child,
    port: u16,
}

impl NodeExporter {
    fn start(dir: &Path, log: &Path) -> Option<NodeExporter> {
        let bin = ["/usr/bin/prometheus-node-exporter", "/usr/local/bin/node_exporter"].into_iter().find(|b| Path::new(b).exists());
        let Some(bin) = bin else {
            eprintln!("node_exporter not installed (apt-get install prometheus-node-exporter): skipping the scrape checks");
            return None;
        };
        // free_port releases the port before node_exporter binds it: another test may take
        // it meanwhile, so a node_exporter that exits at once is tried again elsewhere.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(bin)
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(["--collector.disable-defaults", "--collector.textfile"])
                .arg(format!("--collector.textfile.directory={}", dir.display()))
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(log).unwrap())
                .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
                .spawn()
                .expect("cannot start node_exporter");
            let mut ne = NodeExporter { child, port };
            let end = Instant::now() + 10 * SECOND;
            while Instant::now() < end {
                if ne.child.try_wait().unwrap().is_some() {
                    break;
                }
                if http_get(port, "/metrics").is_some() {
                    return Some(ne);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = ne.child.kill();
        }
        panic!("node_exporter never served /metrics: {}", read_text(log.with_extension("err")));
    }

    fn scrape(&self) -> Vec<Sample> {
        parse_exposition(&http_get(self.port, "/metrics").expect("node_exporter stopped serving"))
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of `GET path` from 127.0.0.1:port, when the answer is 200 (HTTP/1.0: the
/// server closes the connection after the body, no chunking).
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), 2 * SECOND).ok()?;
    s.set_read_timeout(Some(10 * SECOND)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

// ---- JSON lines, parsed by Python's json module ----------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum J {
    Str(String),
    Int(i64),
    Float(f64),
    Null,
}

impl J {
    fn str(&self) -> &str {
        match self {
            J::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn int(&self) -> i64 {
        match self {
            J::Int(n) => *n,
            other => panic!("not an integer: {other:?}"),
        }
    }
    fn number(&self) -> f64 {
        match self {
            J::Int(n) => *n as f64,
            J::Float(f) => *f,
            other => panic!("not a number: {other:?}"),
        }
    }
}

/// One line: its fields in order, and its `time` as Python's datetime read it (epoch s).
#[derive(Debug, Clone)]
struct Line {
    fields: Vec<(String, J)>,
    time: f64,
}

impl Line {
    fn get(&self, key: &str) -> &J {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or_else(|| panic!("no {key}: {self:?}"))
    }
    fn keys(&self) -> Vec<&str> {
        self.fields.iter().map(|(k, _)| k.as_str()).collect()
    }
    fn event(&self) -> &str {
        self.get("event").str()
    }
}

/// Reads a JSON Lines file with json.loads, one line at a time, and hands each object's
/// fields back hex-encoded (so any string survives): a line that is not exactly one flat
/// JSON object (duplicate keys, a control character, a half line, bad UTF-8, a time not in
/// RFC 3339 UTC with microseconds) fails the script.
const JSONL_READER: &str = r#"
import datetime, json, sys
def pairs(ps):
    keys = [k for k, _ in ps]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return ps
data = open(sys.argv[1], "rb").read()
if data and not data.endswith(b"\n"):
    raise ValueError("a partial last line")
for raw in data.split(b"\n")[:-1]:
    if not raw.startswith(b"{"):
        raise ValueError("not an object: %r" % raw)
    out = []
    for k, v in json.loads(raw.decode("utf-8"), object_pairs_hook=pairs):
        if isinstance(v, bool) or isinstance(v, (list, tuple, dict)):
            raise ValueError("unexpected value %r" % (v,))
        elif isinstance(v, int):
            t = "i:%d" % v
        elif isinstance(v, float):
            t = "f:%r" % v
        elif isinstance(v, str):
            t = "s:" + v.encode("utf-8").hex()
        elif v is None:
            t = "n:"
        out.append(k.encode("utf-8").hex() + "=" + t)
        if k == "time":
            d = datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
            out.append("@=f:%r" % d.timestamp())
    print("\t".join(out))
"#;

fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
    String::from_utf8(bytes).unwrap()
}

/// Every line of the JSON Lines file at `path`, parsed (no file: no lines).
fn json_lines(path: &Path) -> Vec<Line> {
    if !path.exists() {
        return Vec::new();
    }
    let out = Command::new(python3()).args(["-c", JSONL_READER]).arg(path).output().unwrap();
    assert!(out.status.success(), "not valid JSON lines: {}\n--- file ---\n{}", String::from_utf8_lossy(&out.stderr), read_text(path));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut fields = Vec::new();
            let mut time = f64::NAN;
            for f in l.split('\t') {
                let (k, v) = f.split_once('=').unwrap();
                let (t, v) = v.split_once(':').unwrap();
                let v = match t {
                    "i" => J::Int(v.parse().unwrap()),
                    "f" => J::Float(v.parse().unwrap()),
                    "s" => J::Str(unhex(v)),
                    _ => J::Null,
                };
                if k == "@" {
                    time = v.number();
                } else {
                    fields.push((unhex(k), v));
                }
            }
            Line { fields, time }
        })
        .collect()
}

/// The machine's name, read apart from the library (which asks uname).
fn hostname() -> String {
    read_text("/proc/sys/kernel/hostname").trim().to_string()
}

/// Checks what every line carries first: the event, its time (now, give or take a
/// minute), the host.
fn check_envelope(line: &Line) {
    assert_eq!(line.keys()[..3], ["event", "time", "host"], "{line:?}");
    assert!((line.time - now_epoch()).abs() < 60.0, "{line:?}");
    assert_eq!(line.get("host").str(), hostname());
}

// ---- processes and files ------------------------------------------------------------------------

/// A python3 process that burns `cpu` seconds of CPU, says "ready", then sleeps: its CPU
/// time no longer moves, so what the metrics say can be compared with /proc exactly.
fn burnt(marker: &str, cpu: f64) -> (Proc, f64, f64) {
    let code = format!(
        "import time\nt = time.process_time()\nwhile time.process_time() - t < {cpu}: pass\nprint('ready', flush=True)\ntime.sleep(300)"
    );
    let before = now_epoch();
    let mut child = Command::new(python3()).args(["-c", &code, marker]).stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
    let after = now_epoch();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    (Proc { child }, before, after)
}

/// utime + stime of `pid` in seconds, as /proc says.
fn proc_cpu_seconds(pid: u32) -> f64 {
    let f = |n| stat_field(pid, n).unwrap().parse::<u64>().unwrap();
    (f(14) + f(15)) as f64 / clock_ticks()
}

fn proc_rss_bytes(pid: u32) -> u64 {
    let statm = read_text(format!("/proc/{pid}/statm"));
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * page_size()
}

fn proc_start_seconds(pid: u32) -> f64 {
    let btime: f64 = read_text("/proc/stat").lines().find_map(|l| l.strip_prefix("btime ")).unwrap().trim().parse().unwrap();
    btime + stat_field(pid, 22).unwrap().parse::<f64>().unwrap() / clock_ticks()
}

/// Waits until the file at `path` holds text for which `done` is true, keeping (and
/// checking with promtool) every distinct version seen on the way; returns them.
fn watch_file(path: &Path, limit: Duration, mut done: impl FnMut(&[Sample]) -> bool) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let end = Instant::now() + limit;
    loop {
        let text = read_text(path);
        if !text.is_empty() && seen.last() != Some(&text) {
            check_metrics(&text);
            seen.push(text.clone());
            if done(&parse_exposition(&text)) {
                return seen;
            }
        }
        assert!(Instant::now() < end, "{} never got there; last: {}", path.display(), seen.last().map_or("", |s| s));
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A directory other tools may read (node_exporter runs as another user on a real
/// machine): 0755.
fn open_dir(path: PathBuf) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

// ---- the tests -----------------------------------------------------------------------------------

#[test]
fn prom_files_pass_promtool_match_proc_and_reach_node_exporter() {
    let case = Case::new("prom");
    let textfiles = open_dir(case.dir.join("textfiles"));
    let prom = textfiles.join("zsh_process.prom");
    let (api, spawned_before, spawned_after) = burnt(&case.marker, 0.3);
    let spin = Proc::spawn("sh", &["-c", "while :; do :; done", &case.marker]);
    let cache = Proc::spawn("sleep", &[&case.marker]);
    let (a, s) = (api.pid(), spin.pid());
    // Two monitors, two files, one directory: node_exporter merges them.
    let _mon = case.bg(
        "mon",
        &format!(
            "process-write-pid api {a} || exit 9\n\
             process-monitor api {s} --interval 0.2 --alert-cpu 5 --alert-mem 1000000000 --prom {} --duration 60",
            prom.display()
        ),
    );
    let _other = case.bg("other", &format!("process-write-pid cache {} || exit 9\nprocess-monitor cache --interval 0.2 --prom {}/other.prom --duration 60", cache.pid(), textfiles.display()));

    // Every version written on the way passes promtool, from the first (before any
    // sample: no CPU use yet) to one where the spinning process alerts.
    let versions = watch_file(&prom, 20 * SECOND, |m| value_of(m, "zsh_process_alert", &s.to_string(), &[("metric", "cpu")]) == Some(1.0));
    let first = parse_exposition(&versions[0]);
    assert_eq!(value_of(&first, "zsh_process_up", "api", &[]), Some(1.0), "{}", versions[0]);
    assert_eq!(value_of(&first, "zsh_process_cpu_usage_ratio", "api", &[]), None, "no CPU use before a first interval: {}", versions[0]);

    // The figures against /proc: CPU time within a tick or two, memory exact (the process
    // sleeps; read before and after the file), start time to the tick and within the
    // second of the spawn (btime is whole seconds).
    let rss_before = proc_rss_bytes(a);
    let m = parse_exposition(&read_text(&prom));
    let rss_after = proc_rss_bytes(a);
    check_metrics(&read_text(&prom));
    let api_figure = |name| value_of(&m, name, "api", &[]).unwrap_or_else(|| panic!("no {name} for api in {m:?}"));
    assert_eq!(api_figure("zsh_process_up"), 1.0);
    assert_eq!(api_figure("zsh_process_pid"), a as f64);
    assert_eq!(api_figure("zsh_process_processes"), 1.0);
    assert_eq!(api_figure("zsh_process_restarts_total"), 0.0);
    let cpu = api_figure("zsh_process_cpu_seconds_total");
    assert!(cpu >= 0.29 && (cpu - proc_cpu_seconds(a)).abs() <= 2.0 / clock_ticks(), "{cpu} s against /proc's {}", proc_cpu_seconds(a));
    let rss = api_figure("zsh_process_resident_memory_bytes") as u64;
    assert!(rss == rss_before || rss == rss_after, "{rss} bytes against /proc's {rss_before}/{rss_after}");
    let start = api_figure("zsh_process_start_time_seconds");
    assert!((start - proc_start_seconds(a)).abs() < 0.011, "{start} against /proc's {}", proc_start_seconds(a));
    assert!(start >= spawned_before - 1.02 && start <= spawned_after, "{start} not between {spawned_before} and {spawned_after}");
    assert!(api_figure("zsh_process_cpu_usage_ratio") < 0.05, "a sleeping process: {m:?}");
    assert_eq!(value_of(&m, "zsh_process_alert", "api", &[("metric", "cpu")]), Some(0.0));
    assert_eq!(value_of(&m, "zsh_process_alert", "api", &[("metric", "memory")]), Some(0.0));
    assert!(value_of(&m, "zsh_process_cpu_usage_ratio", &s.to_string(), &[]).unwrap() > 0.05, "a spinning process: {m:?}");
    assert!(m.iter().all(|x| !x.labels.iter().any(|(k, _)| k == "pid")), "no pid label");

    // Through node_exporter: our families, the same series as the files, and the stable
    // values exactly.
    watch_file(&textfiles.join("other.prom"), 20 * SECOND, |m| value_of(m, "zsh_process_cpu_usage_ratio", "cache", &[]).is_some());
    let Some(ne) = NodeExporter::start(&textfiles, &case.dir.join("node_exporter.log")) else { return };
    let scraped = ne.scrape();
    let other = read_text(textfiles.join("other.prom"));
    check_metrics(&other);
    let files: Vec<Sample> = [parse_exposition(&read_text(&prom)), parse_exposition(&other)].concat();
    let names = |v: &[Sample]| {
        let mut n: Vec<(String, Vec<(String, String)>)> = ours(v).into_iter().map(|s| (s.name, s.labels)).collect();
        n.sort();
        n
    };
    assert_eq!(names(&scraped), names(&files), "node_exporter serves the files' series");
    assert_eq!(value_of(&scraped, "zsh_process_up", "cache", &[]), Some(1.0));
    assert_eq!(value_of(&scraped, "zsh_process_cpu_seconds_total", "api", &[]), Some(cpu));
    assert_eq!(value_of(&scraped, "zsh_process_start_time_seconds", "api", &[]), Some(start));
    assert_eq!(value_of(&scraped, "zsh_process_pid", "api", &[]), Some(a as f64));
    assert!(scraped.iter().any(|x| x.name == "node_textfile_scrape_error" && x.value == 0.0), "{scraped:?}");
    drop((api, spin, cache));
}

#[test]
fn a_death_is_up_0_at_the_next_write_and_a_died_line() {
    let case = Case::new("died");
    let textfiles = open_dir(case.dir.join("textfiles"));
    let prom = textfiles.join("db.prom");
    let journal = case.dir.join("events.jsonl");
    let target = Proc::spawn("sleep", &[&case.marker]);
    let pid = target.pid();
    // A 30 s interval: no sample is due before the end of the test, so up 0 can only come
    // from the write the death itself causes.
    let mut mon = case.bg(
        "mon",
        &format!(
            "PROCESS_EVENTS_JSONL={}\nprocess-write-pid db {pid} || exit 9\nprocess-monitor db --interval 30 --alert-mem 1 --prom {}\nprint -r -- status=$?",
            journal.display(),
            prom.display()
        ),
    );
    watch_file(&prom, 10 * SECOND, |m| value_of(m, "zsh_process_up", "db", &[]) == Some(1.0));
    let ne = NodeExporter::start(&textfiles, &case.dir.join("node_exporter.log"));
    if let Some(ne) = &ne {
        assert_eq!(value_of(&ne.scrape(), "zsh_process_up", "db", &[]), Some(1.0));
    }
    drop(target);
    let versions = watch_file(&prom, 10 * SECOND, |m| value_of(m, "zsh_process_up", "db", &[]) == Some(0.0));
    let last = parse_exposition(versions.last().unwrap());
    // Dead: no figures, the alert no longer firing.
    assert_eq!(value_of(&last, "zsh_process_pid", "db", &[]), None);
    assert_eq!(value_of(&last, "zsh_process_alert", "db", &[("metric", "memory")]), Some(0.0));
    if let Some(ne) = &ne {
        assert_eq!(value_of(&ne.scrape(), "zsh_process_up", "db", &[]), Some(0.0));
    }
    assert_eq!(mon.wait_timeout(10 * SECOND), Some(0), "{}", mon.stderr());
    assert_eq!(mon.stdout(), "status=0\n");
    let lines = json_lines(&journal);
    assert_eq!(lines.iter().map(Line::event).collect::<Vec<_>>(), ["process.died"], "{lines:?}");
    check_envelope(&lines[0]);
    assert_eq!(lines[0].keys(), ["event", "time", "host", "service", "pid"]);
    assert_eq!((lines[0].get("service").str(), lines[0].get("pid").int()), ("db", pid as i64));
}

/// A shell whose children are a sleeper and a spinner, all carrying `marker`.
fn family(marker: &str) -> (Proc, Vec<u32>) {
    let root = Proc::spawn("sh", &["-c", &format!("sleep {marker} & sh -c 'while :; do :; done' {marker} & wait"), marker]);
    assert!(wait_for(5 * SECOND, || children_of(root.pid()).len() == 2), "the children never started");
    let kids = children_of(root.pid());
    (root, kids)
}

#[test]
fn tree_counts_the_descendants_in_every_figure() {
    let case = Case::new("tree");
    let dir = open_dir(case.dir.join("textfiles"));
    let (root, kids) = family(&case.marker);
    let r = root.pid();
    let journal = case.dir.join("events.jsonl");
    let script = |tree: &str, tag: &str| {
        format!(
            "PROCESS_EVENTS_JSONL={j}\nprocess-write-pid {tag} {r} || exit 9\n\
             process-monitor {tag} {tree} --interval 0.25 --count 6 --alert-cpu 20 --csv {d}/{tag}.csv --prom {d}/{tag}.prom",
            j = journal.display(),
            d = dir.display()
        )
    };
    let mut with = case.bg("with", &script("--tree", "whole"));
    let mut without = case.bg("without", &script("", "alone"));
    assert_eq!(with.wait_timeout(20 * SECOND), Some(0), "{}", with.stderr());
    assert_eq!(without.wait_timeout(20 * SECOND), Some(0), "{}", without.stderr());
    assert_eq!((with.stderr(), without.stderr()), (String::new(), String::new()));

    // Memory: the sum over the tree, exactly what /proc says of its three processes (all
    // three keep their size); the process alone without --tree.
    let rss_of = |pids: &[u32]| pids.iter().map(|&p| proc_rss_bytes(p)).sum::<u64>();
    let whole = parse_exposition(&read_text(dir.join("whole.prom")));
    let alone = parse_exposition(&read_text(dir.join("alone.prom")));
    check_metrics(&read_text(dir.join("whole.prom")));
    check_metrics(&read_text(dir.join("alone.prom")));
    let all: Vec<u32> = [vec![r], kids.clone()].concat();
    assert_eq!(value_of(&whole, "zsh_process_processes", "whole", &[]), Some(3.0));
    assert_eq!(value_of(&alone, "zsh_process_processes", "alone", &[]), Some(1.0));
    assert_eq!(value_of(&whole, "zsh_process_resident_memory_bytes", "whole", &[]), Some(rss_of(&all) as f64));
    assert_eq!(value_of(&alone, "zsh_process_resident_memory_bytes", "alone", &[]), Some(rss_of(&[r]) as f64));
    // CPU: the spinning child counts only in the tree, in the counter, the gauge and the alert.
    let whole_cpu = value_of(&whole, "zsh_process_cpu_seconds_total", "whole", &[]).unwrap();
    let alone_cpu = value_of(&alone, "zsh_process_cpu_seconds_total", "alone", &[]).unwrap();
    assert!(whole_cpu > alone_cpu + 0.3, "{whole_cpu} against {alone_cpu}");
    assert!(value_of(&whole, "zsh_process_cpu_usage_ratio", "whole", &[]).unwrap() > 0.2, "{whole:?}");
    assert!(value_of(&alone, "zsh_process_cpu_usage_ratio", "alone", &[]).unwrap() < 0.2, "{alone:?}");
    assert_eq!(value_of(&whole, "zsh_process_alert", "whole", &[("metric", "cpu")]), Some(1.0));
    assert_eq!(value_of(&alone, "zsh_process_alert", "alone", &[("metric", "cpu")]), Some(0.0));

    // The CSV and the events say the same.
    let rows = |tag: &str| -> Vec<Vec<String>> {
        read_text(dir.join(format!("{tag}.csv"))).lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
    };
    let (whole_rows, alone_rows) = (rows("whole"), rows("alone"));
    assert_eq!((whole_rows.len(), alone_rows.len()), (6, 6));
    assert_eq!(whole_rows[5][3].parse::<u64>().unwrap() * 1024, rss_of(&all));
    assert_eq!(alone_rows[5][3].parse::<u64>().unwrap() * 1024, rss_of(&[r]));
    assert!(whole_rows[1..].iter().all(|row| row[2].parse::<f64>().unwrap() > 20.0), "{whole_rows:?}");
    assert!(alone_rows.iter().all(|row| row[2].parse::<f64>().unwrap() < 20.0), "{alone_rows:?}");
    let lines = json_lines(&journal);
    let alerts: Vec<&str> = lines.iter().filter(|l| l.event() == "process.alert").map(|l| l.get("service").str()).collect();
    assert_eq!(alerts, ["whole"], "one cpu alert, for the tree: {lines:?}");
    let last_memory = |tag: &str| lines.iter().rev().find(|l| l.event() == "process.monitor" && l.get("service").str() == tag).unwrap().get("memory").int();
    assert_eq!(last_memory("whole") as u64 * 1024, rss_of(&all));
    assert_eq!(last_memory("alone") as u64 * 1024, rss_of(&[r]));
    drop(root);
}

#[test]
fn a_trees_cpu_counter_never_goes_back_when_a_child_exits() {
    let case = Case::new("tree-exit");
    let dir = open_dir(case.dir.join("textfiles"));
    let prom = dir.join("t.prom");
    let m = &case.marker;
    // The child burns about half a second of CPU and exits; the shell then becomes a
    // sleep (exec: the same process, now alone).
    let root = Proc::spawn("sh", &["-c", &format!("sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done' {m}; exec sleep {m}"), m]);
    let _mon = case.bg("mon", &format!("process-monitor {} --tree --interval 0.05 --prom {} --duration 60", root.pid(), prom.display()));
    let service = root.pid().to_string();
    let figure = |m: &[Sample], name| value_of(m, name, &service, &[]);
    let busy = watch_file(&prom, 30 * SECOND, |m| figure(m, "zsh_process_processes") == Some(2.0));
    let done = watch_file(&prom, 30 * SECOND, |m| figure(m, "zsh_process_processes") == Some(1.0));
    let counters: Vec<f64> = [busy, done].concat().iter().map(|v| figure(&parse_exposition(v), "zsh_process_cpu_seconds_total").unwrap()).collect();
    assert!(counters.windows(2).all(|w| w[1] >= w[0]), "the counter went back: {counters:?}");
    assert!(*counters.last().unwrap() > 0.1, "the child's CPU was counted: {counters:?}");
    // The shell itself has used next to nothing.
    assert!(proc_cpu_seconds(root.pid()) < 0.1);
}

#[test]
fn every_event_is_one_json_line_with_the_specs_payload_names() {
    let case = Case::new("jsonl");
    let journal = case.dir.join("events.jsonl");
    let m = &case.marker;
    let stubborn = case.fixture("term-ignore.zsh", "stubborn", &[]);
    let watched = Proc::sleeper();
    let svc = "we\"b\\ü ✓";
    let out = case.zsh(&format!(
        "PROCESS_EVENTS_JSONL={j}\n\
         svc={svc_q}\n\
         process-start $svc 'sleep {m}' >/dev/null || exit 3\n\
         process-restart $svc 'sleep {m}' --delay 0 >/dev/null || exit 4\n\
         process-stop $svc || exit 5\n\
         process-write-pid stubborn {st} && process-stop stubborn --timeout 0.2 --force || exit 6\n\
         process-supervise once 'exit 3' --max-restarts 0 --delay 0 2>/dev/null; print -r -- supervise=$?\n\
         process-monitor {w} --interval 0.05 --count 1 --alert-mem 1 || exit 7\n\
         ( sleep 0.2; kill {w} ) &\n\
         process-monitor {w} --interval 30 || exit 8",
        j = journal.display(),
        svc_q = shell_quote(svc),
        st = stubborn.pid(),
        w = watched.pid(),
    ));
    assert_eq!((out.status, out.stdout.as_str(), out.stderr.as_str()), (0, "supervise=1\n", ""), "{out:?}");
    let lines = json_lines(&journal);
    let events: Vec<&str> = lines.iter().map(Line::event).collect();
    assert_eq!(
        events,
        [
            "process.start",
            "process.stop",
            "process.restart",
            "process.stop",
            "process.kill",
            "process.start",
            "process.died",
            "process.monitor",
            "process.alert",
            "process.died"
        ],
        "{lines:?}"
    );
    let w = watched.pid() as i64;
    for l in &lines {
        check_envelope(l);
        let payload = &l.keys()[3..];
        match l.event() {
            "process.start" | "process.stop" | "process.kill" => assert_eq!(payload, ["service", "pid"], "{l:?}"),
            "process.restart" => assert_eq!(payload, ["service", "new_pid"], "{l:?}"),
            "process.died" if l.get("service").str() == "once" => assert_eq!(payload, ["service", "pid", "status"], "{l:?}"),
            "process.died" => assert_eq!(payload, ["service", "pid"], "{l:?}"),
            "process.monitor" => assert_eq!(payload, ["service", "pid", "cpu", "memory"], "{l:?}"),
            "process.alert" => assert_eq!(payload, ["service", "pid", "metric", "value"], "{l:?}"),
            other => panic!("{other}"),
        }
    }
    // Names come back byte for byte; numbers are numbers; a PID as the service stays a string.
    for l in &lines[..4] {
        assert_eq!(l.get("service").str(), svc, "{l:?}");
    }
    assert!(lines[0].get("pid").int() > 1 && lines[2].get("new_pid").int() > 1);
    assert_eq!(lines[2].get("new_pid").int(), lines[3].get("pid").int(), "the restarted service is what stops");
    assert_eq!((lines[4].get("service").str(), lines[4].get("pid").int()), ("stubborn", stubborn.pid() as i64));
    assert_eq!(lines[6].get("status").int(), 3);
    assert_eq!(lines[7].get("service").str(), w.to_string());
    assert_eq!(lines[7].get("pid").int(), w);
    assert!(matches!(lines[7].get("cpu"), J::Float(c) if *c >= 0.0), "{:?}", lines[7]);
    let memory = lines[7].get("memory").int();
    assert!(memory > 0);
    assert_eq!((lines[8].get("metric").str(), lines[8].get("value").int()), ("memory", memory));
    assert_eq!((lines[9].get("service").str(), lines[9].get("pid").int()), (w.to_string().as_str(), w));
    // Sorted in time, each with its microseconds.
    assert!(lines.windows(2).all(|p| p[1].time >= p[0].time), "{lines:?}");
    drop(stubborn);
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn concurrent_shells_append_whole_lines() {
    let case = Case::new("jsonl-many");
    let journal = case.dir.join("events.jsonl");
    let target = Proc::sleeper();
    // Long names make long lines: any line written in two pieces would show.
    let names: Vec<String> = (1..=4).map(|i| format!("shell{i}-{}", "x".repeat(180))).collect();
    let mut shells: Vec<Bg> = names
        .iter()
        .map(|n| {
            case.bg(
                &n[..6],
                &format!("PROCESS_EVENTS_JSONL={}\nprocess-write-pid {n} {} || exit 9\nprocess-monitor {n} --interval 0.001 --count 500", journal.display(), target.pid()),
            )
        })
        .collect();
    for s in &mut shells {
        assert_eq!(s.wait_timeout(60 * SECOND), Some(0), "{}", s.stderr());
        assert_eq!(s.stderr(), "");
    }
    let lines = json_lines(&journal);
    assert_eq!(lines.len(), 4 * 500);
    for n in &names {
        let theirs = lines.iter().filter(|l| l.get("service").str() == n).count();
        assert_eq!(theirs, 500, "{n}");
    }
    assert!(lines.iter().all(|l| l.event() == "process.monitor" && l.get("pid").int() == target.pid() as i64));
}

#[test]
fn a_rotated_journal_loses_no_event() {
    let case = Case::new("jsonl-rotate");
    let logs = open_dir(case.dir.join("logs"));
    let journal = logs.join("events.jsonl");
    let target = Proc::sleeper();
    let mut mon = case.bg(
        "mon",
        &format!("PROCESS_EVENTS_JSONL={}\nprocess-monitor {} --interval 0.005 --count 400", journal.display(), target.pid()),
    );
    assert!(wait_for(20 * SECOND, || read_text(&journal).lines().count() >= 100), "{}", mon.stderr());
    // logrotate's default: rename the file, create a new one; the library opens the file
    // for every event, so the next line goes to the new file.
    let conf = case.dir.join("logrotate.conf");
    std::fs::write(&conf, format!("{} {{\n    rotate 3\n    create 0644\n    nocompress\n    missingok\n}}\n", journal.display())).unwrap();
    let rotate = Command::new("logrotate").arg("-f").arg("-s").arg(case.dir.join("logrotate.state")).arg(&conf).output();
    match rotate {
        Ok(out) => assert!(out.status.success(), "logrotate: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => {
            eprintln!("logrotate not installed: rotating by rename, as it would");
            std::fs::rename(&journal, logs.join("events.jsonl.1")).unwrap();
        }
    }
    assert_eq!(mon.wait_timeout(60 * SECOND), Some(0), "{}", mon.stderr());
    let (old, new) = (json_lines(&logs.join("events.jsonl.1")), json_lines(&journal));
    assert!(old.len() >= 100 && !new.is_empty(), "{} before, {} after the rotation", old.len(), new.len());
    assert_eq!(old.len() + new.len(), 400, "every event is in one of the two files");
    assert!(old.last().unwrap().time <= new[0].time);
}

/// A full disk: an event that does not fit is taken back whole, and the next one, once
/// there is room again, is a line of its own.
#[test]
fn a_full_disk_leaves_no_half_line_in_the_journal() {
    let case = Case::new("jsonl-full");
    let disk = open_dir(case.dir.join("disk"));
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k,mode=755", "tmpfs"]).arg(&disk).status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("cannot mount a small tmpfs (not root?): skipping");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&disk);
    let journal = disk.join("events.jsonl");
    let out = case.zsh(&format!(
        "PROCESS_EVENTS_JSONL={j}\nprocess-start live '{s}' >/dev/null\n\
         dd if=/dev/zero of={d}/fill bs=1k count=100 2>/dev/null\n\
         process-monitor live --interval 0.001 --count 100 >/dev/null\n\
         rm {d}/fill; process-stop live",
        j = journal.display(),
        d = disk.display(),
        s = case.sleep()
    ));
    assert!(out.stderr.contains("short write (disk full?)"), "the disk never filled: {out:?}");
    let text = read_text(&journal);
    assert!(text.ends_with('\n'), "a half line is left: {text:?}");
    let lines = json_lines(&journal);
    assert_eq!(lines.first().map(|l| l.event()), Some("process.start"));
    assert_eq!(lines.last().map(|l| l.event()), Some("process.stop"), "the event after the full disk is lost");
}

#[test]
fn a_journal_that_cannot_be_written_is_said_once_and_fails_nothing() {
    let case = Case::new("jsonl-refused");
    let target = Proc::sleeper();
    let shared = case.dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let fifo = case.dir.join("fifo.jsonl");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (journal, why) in [
        (shared.join("e.jsonl"), "refusing"),
        (fifo.clone(), "FIFO"),
        (case.dir.join("no/such/dir/e.jsonl"), "no such directory"),
    ] {
        let out = case.zsh(&format!(
            "PROCESS_EVENTS_JSONL={}\nn=0; count() {{ (( ++n )) }}; process_monitor_functions+=(count)\n\
             process-monitor {} --interval 0.01 --count 20; print -r -- status=$? handled=$n",
            journal.display(),
            target.pid()
        ));
        assert_eq!(out.stdout, "status=0 handled=20\n", "{out:?}");
        let said: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(said.len(), 1, "one line for 20 events: {out:?}");
        assert!(said[0].starts_with("process-monitor: $PROCESS_EVENTS_JSONL: ") && said[0].contains(why), "{out:?}");
        assert!(!journal.is_file(), "{}", journal.display());
    }
}

#[test]
fn a_metrics_file_that_stops_being_writable_is_said_once_and_the_monitor_goes_on() {
    let case = Case::new("prom-lost");
    let dir = open_dir(case.dir.join("textfiles"));
    let target = Proc::sleeper();
    let mut mon = case.bg(
        "mon",
        &format!(
            "n=0; count() {{ (( ++n )) }}; process_monitor_functions+=(count)
             process-monitor {} --interval 0.02 --count 100 --prom {}/x.prom; print -r -- status=$? handled=$n",
            target.pid(),
            dir.display()
        ),
    );
    assert!(wait_for(10 * SECOND, || dir.join("x.prom").exists()), "{}", mon.stderr());
    // The directory goes (a temporary file may be made meanwhile: try again).
    assert!(wait_for(10 * SECOND, || std::fs::remove_dir_all(&dir).is_ok()));
    assert_eq!(mon.wait_timeout(30 * SECOND), Some(0), "{}", mon.stderr());
    assert_eq!(mon.stdout(), "status=0 handled=100\n", "{}", mon.stderr());
    let said = mon.stderr();
    assert_eq!(said.lines().count(), 1, "one line for every failed write: {said}");
    assert!(said.starts_with("process-monitor: cannot open ") && said.contains("x.prom: no such directory"), "{said}");
}

#[test]
fn bad_prom_and_tree_usage_is_refused_with_one_line() {
    let case = Case::new("prom-bad");
    let t = Proc::sleeper();
    let p = t.pid();
    for args in ["--prom ''", "--prom -", "--prom /tmp/", "--prom", "--tree=1", "--prom -x.prom"] {
        let out = case.env.zsh(&format!("process-monitor {p} --count 1 --interval 0.01 {args}"));
        assert_usage_error(&out, "process-monitor", args);
    }
    // An unset variable for FILE: the next option is no file name, and its value no target.
    let out = case.env.zsh(&format!("cd {}; process-monitor {p} --prom $unset --count 1 --interval 0.01", case.dir.display()));
    assert_usage_error(&out, "process-monitor", "option --prom needs a value (found the option '--count')");
    let out = case.env.zsh(&format!("cd {}; process-status --prom $unset --json", case.dir.display()));
    assert_usage_error(&out, "process-status", "option --prom needs a value (found the option '--json')");
    assert!(!case.dir.join("--count").exists() && !case.dir.join("--json").exists());
    let shared = open_dir(case.dir.join("shared"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    for (file, why) in [(case.dir.join("none/x.prom"), "no such directory"), (shared.join("x.prom"), "writable by other users")] {
        let out = case.env.zsh(&format!("process-monitor {p} --count 1 --interval 0.01 --prom {}", file.display()));
        assert_one_error(&out, 1, "process-monitor", why);
        assert!(out.stderr.contains(why), "{out:?}");
        assert!(!file.exists());
    }
}

// ---- docs/metrics.md: its Prometheus configuration, checked by promtool ------------------------

/// The code block after the marker `<!-- tests/metrics.rs: NAME -->` in docs/metrics.md.
fn doc_block(name: &str) -> String {
    let doc = read_text(repo_root().join("docs/metrics.md"));
    let marker = format!("<!-- tests/metrics.rs: {name} -->");
    let at = doc.find(&marker).unwrap_or_else(|| panic!("docs/metrics.md has no {marker}"));
    let rest = &doc[at + marker.len()..];
    let open = rest.find("```").unwrap();
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

/// Unit tests of the documented rules, for `promtool test rules`: a service at 90% of a
/// core alerts (as --alert-cpu 80 would), one at 50% does not; a dead one is down.
const RULE_TESTS: &str = r#"
rule_files:
  - zsh_process_rules.yml
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'zsh_process_cpu_seconds_total{instance="web1:9100",job="node",service="busy"}'
        values: '0+13.5x20'
      - series: 'zsh_process_cpu_seconds_total{instance="web1:9100",job="node",service="calm"}'
        values: '0+7.5x20'
      - series: 'zsh_process_up{instance="web1:9100",job="node",service="gone"}'
        values: '1 1 0 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 3m
        alertname: ProcessCpuHigh
        exp_alerts:
          - exp_labels: {severity: warning, instance: "web1:9100", job: node, service: busy}
            exp_annotations:
              summary: "busy on web1:9100 uses 90% of a core"
      - eval_time: 2m
        alertname: ProcessDown
        exp_alerts:
          - exp_labels: {severity: critical, instance: "web1:9100", job: node, service: gone}
            exp_annotations:
              summary: "gone on web1:9100 is not running"
"#;

#[test]
fn the_documented_rules_and_scrape_config_pass_promtool_and_fire_as_alert_cpu_80() {
    let Some(tool) = promtool() else { return };
    let case = Case::new("rules");
    let rules = case.dir.join("zsh_process_rules.yml");
    std::fs::write(&rules, doc_block("zsh_process_rules.yml")).unwrap();
    std::fs::write(case.dir.join("prometheus.yml"), doc_block("prometheus.yml")).unwrap();
    std::fs::write(case.dir.join("tests.yml"), RULE_TESTS).unwrap();
    for args in [vec!["check", "rules", "zsh_process_rules.yml"], vec!["check", "config", "prometheus.yml"], vec!["test", "rules", "tests.yml"]] {
        let out = Command::new(tool).args(&args).current_dir(&case.dir).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One command publishes every service of the host: `process-status --prom --every`, over
/// a stack brought up with process-up. Up, PID, CPU time, memory and restarts as the
/// registry and /proc say; a killed service is `up 0` within the interval (its supervisor
/// then brings it back: restarts_total 1), all through a real node_exporter.
#[test]
fn process_status_publishes_every_service_and_follows_a_death() {
    let case = Case::new("status-prom");
    let mark = &case.marker;
    let textfiles = open_dir(case.dir.join("textfiles"));
    let prom = textfiles.join("services.prom");
    let app = case.dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("Procfile"), format!("db: exec sleep {mark}\nweb: exec sleep 301 {mark} #process: --after db --delay 0.1\n")).unwrap();
    let up = case.zsh(&format!("cd {} && process-up; print st=$?", app.display()));
    assert!(up.stdout.ends_with("st=0\n"), "{up:?}");
    let mut publisher = case.bg("publish", &format!("process-status --prom {} --every 0.5", prom.display()));
    let t = Instant::now();
    let m = parse_exposition(&watch_file(&prom, 10 * SECOND, |m| value_of(m, "zsh_process_up", "web", &[]) == Some(1.0)).pop().unwrap());
    check_metrics(&read_text(&prom));
    let pid_of = |name: &str| case.zsh(&format!("process-read-pid {name}")).stdout.trim().parse::<u32>().unwrap();
    let (db, web) = (pid_of("db"), pid_of("web"));
    assert_eq!(value_of(&m, "zsh_process_pid", "db", &[]), Some(db as f64));
    assert_eq!(value_of(&m, "zsh_process_restarts_total", "web", &[]), Some(0.0));
    let rss = value_of(&m, "zsh_process_resident_memory_bytes", "db", &[]).unwrap() as u64;
    assert!(rss.abs_diff(proc_rss_bytes(db)) <= 64 * 1024, "{rss} against /proc's {}", proc_rss_bytes(db));
    let cpu = value_of(&m, "zsh_process_cpu_seconds_total", "db", &[]).unwrap();
    assert!((cpu - proc_cpu_seconds(db)).abs() <= 2.0 / clock_ticks(), "{cpu} against /proc's {}", proc_cpu_seconds(db));
    let start = value_of(&m, "zsh_process_start_time_seconds", "db", &[]).unwrap();
    assert!((start - proc_start_seconds(db)).abs() < 0.011);
    let ne = NodeExporter::start(&textfiles, &case.dir.join("node_exporter.log"));
    if let Some(ne) = &ne {
        let scraped = ne.scrape();
        assert_eq!(value_of(&scraped, "zsh_process_up", "db", &[]), Some(1.0));
        assert_eq!(value_of(&scraped, "zsh_process_pid", "web", &[]), Some(web as f64));
    }
    // Killed: restarted by its supervisor, and the file says so at once.
    send_signal(web, libc::SIGKILL);
    let versions = watch_file(&prom, 10 * SECOND, |m| value_of(m, "zsh_process_restarts_total", "web", &[]) == Some(1.0) && value_of(m, "zsh_process_up", "web", &[]) == Some(1.0));
    for v in &versions {
        check_metrics(v);
    }
    let last = parse_exposition(versions.last().unwrap());
    assert_ne!(value_of(&last, "zsh_process_pid", "web", &[]), Some(web as f64), "a new PID after the restart");
    if let Some(ne) = &ne {
        assert_eq!(value_of(&ne.scrape(), "zsh_process_restarts_total", "web", &[]), Some(1.0));
    }
    eprintln!("published, killed, restarted and published again in {} ms", t.elapsed().as_millis());
    let t = Instant::now();
    let down = case.zsh(&format!("cd {} && process-down; print st=$?", app.display()));
    assert!(down.stdout.ends_with("st=0\n"), "{down:?}");
    eprintln!("down in {} ms", t.elapsed().as_millis());
    assert!(wait_for(5 * SECOND, || pids_with_arg(mark).is_empty()));
    send_signal(publisher.pid(), libc::SIGTERM);
    assert!(publisher.wait_timeout(5 * SECOND).is_some());
}

/// What the hostile review found in `process-status` and its `--prom` writer: one record
/// that cannot be read is said and the other services are still shown and published;
/// `--every` says each thing once, keeps its interval with nothing alive, writes into a
/// metrics directory made again, and refuses another user's file and the registry itself.
#[test]
fn process_status_shows_what_it_can_and_publishes_through_trouble() {
    let case = Case::new("status-trouble");
    let textfiles = open_dir(case.dir.join("textfiles"));
    let prom = textfiles.join("services.prom");
    let registry = case.env.state_dir().join("registry");
    let up = case.zsh(&format!("process-start web '{}' >/dev/null; print st=$?", case.sleep()));
    assert_eq!(up.stdout, "st=0\n", "{up:?}");
    assert!(Command::new("mkfifo").arg(registry.join("bad")).status().unwrap().success());
    let stacks = case.env.state_dir().join("stacks");
    std::fs::create_dir_all(&stacks).unwrap();
    std::fs::write(stacks.join("st"), "procfile=/x\ndir=/x\nservice=bad\\nname\ncommand=x\n").unwrap();
    let out = case.zsh(&format!("process-status; print st=$?; process-status --prom {}; print st=$?", prom.display()));
    let table = out.stdout.lines().filter(|l| l.starts_with("web ")).count();
    assert_eq!((table, out.stdout.matches("st=1").count()), (1, 2), "{out:?}");
    assert!(out.stderr.contains("registry/bad: it is a FIFO") && out.stderr.contains("invalid name 'bad\\nname'"), "{out:?}");
    assert_eq!(value_of(&parse_exposition(&read_text(&prom)), "zsh_process_up", "web", &[]), Some(1.0));
    check_metrics(&read_text(&prom));
    std::fs::remove_file(stacks.join("st")).unwrap();

    // --every over a dead service: each warning once, no busy loop, and the directory
    // removed and made again is written to.
    let gone = case.zsh("process-start --wait 0 gone 'sleep 0.2' >/dev/null; sleep 0.5; print ok");
    assert_eq!(gone.stdout, "ok\n", "{gone:?}");
    let mut publisher = case.bg("publish", &format!("process-status gone nosuch --prom {} --every 0.1", prom.display()));
    std::thread::sleep(Duration::from_millis(1500));
    let ticks = |pid: u32| -> u64 { stat_field(pid, 14).unwrap().parse::<u64>().unwrap() + stat_field(pid, 15).unwrap().parse::<u64>().unwrap() };
    let before = ticks(publisher.pid());
    std::fs::remove_dir_all(&textfiles).unwrap();
    open_dir(textfiles.clone());
    assert!(wait_for(5 * SECOND, || prom.exists()), "never written again after its directory was made again: {}", publisher.stderr());
    std::thread::sleep(Duration::from_millis(1000));
    let used = ticks(publisher.pid()) - before;
    send_signal(publisher.pid(), libc::SIGTERM);
    assert!(publisher.wait_timeout(5 * SECOND).is_some());
    assert!(used as f64 / clock_ticks() < 0.5, "{used} ticks of CPU in about 1.5 s with nothing alive");
    let said = publisher.stderr();
    assert_eq!(said.matches("no such service: nosuch").count(), 1, "{said}");
    assert_eq!(value_of(&parse_exposition(&read_text(&prom)), "zsh_process_up", "gone", &[]), Some(0.0));

    // Another user's file is not replaced; the registry directory is no place for it.
    let theirs = textfiles.join("theirs.prom");
    std::fs::write(&theirs, "old\n").unwrap();
    if std::os::unix::fs::chown(&theirs, Some(65534), None).is_ok() {
        let out = case.zsh(&format!("process-status web --prom {}", theirs.display()));
        assert_one_error(&out, 1, "process-status", "owned by uid 65534");
        assert_eq!(read_text(&theirs), "old\n");
    }
    let out = case.zsh(&format!("process-status --prom {}/m.prom --every 1", registry.display()));
    assert_usage_error(&out, "process-status", "registry directory");
    let _ = std::fs::remove_file(registry.join("bad"));
    case.zsh("process-stop web");
}
