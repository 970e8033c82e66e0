//! Test harness: runs real zsh processes that load the module through the shim, from a
//! private install prefix laid out as scripts/install lays it out
//! (PREFIX/bin/_process, PREFIX/lib/zsh_process/process.so).
//!
//! # Adding a test
//!
//! Most tests start from a [`Case`]: an isolated environment (its own HOME, PID, state
//! and log directories), a scratch directory, a marker unique to the test, the library's
//! events recorded, and a sweep that kills, when the test ends (passed or not), every
//! process carrying the marker or recorded with [`Case::track`]:
//!
//! ```ignore
//! #[test]
//! fn stop_by_name_emits_stop() {
//!     let case = Case::new("stop-name");
//!     let out = case.zsh(&format!("process-start web '{}'; process-stop web", case.sleep()));
//!     assert_eq!(out.status, 0, "{out:?}");
//!     assert!(case.events().iter().any(|e| e.starts_with("stop web ")));
//! }
//! ```
//!
//! Real processes, not stubs: [`Proc`] (a child killed when dropped), [`Listener`] (a
//! real socket), [`start_script`] (a fixture under `tests/fixtures/control`). What the
//! kernel says is read back independently of the module, from `/proc` ([`Stat`]). Failures
//! are checked with [`assert_one_error`]: one line on stderr naming the command.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The module, built fresh for these tests: `cargo test` builds a cdylib-only library
/// only when asked, so each test binary runs `cargo build --lib` once (a no-op when it is
/// up to date), with the same profile and target directory as the tests themselves.
fn built_module() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
            let target_dir = profile_dir.parent().unwrap();
            let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            build.args(["build", "--quiet", "--lib", "-p", "zsh-process"]).current_dir(repo_root()).env("CARGO_TARGET_DIR", target_dir);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("cannot run cargo to build the module");
            assert!(status.success(), "building the module failed");
            let so = profile_dir.join("libzsh_process.so");
            assert!(so.exists(), "{} not built", so.display());
            so
        })
        .clone()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Scratch directories of test runs that have ended: `zsh-process-test-PID-...` whose
/// PID is no longer a live test process. Removed once per test binary, so that runs
/// don't pile up in the temp dir (a test binary cannot clean up after itself at exit).
fn remove_stale_scratch() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else { return };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("zsh-process-test-")) else { continue };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
            let alive = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok();
            if !alive {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// A unique scratch directory under the system temp dir.
pub fn scratch(tag: &str) -> PathBuf {
    remove_stale_scratch();
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!("zsh-process-test-{}-{}-{tag}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The install prefix shared by the tests of one test binary.
pub fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let p = scratch("prefix");
        std::fs::create_dir_all(p.join("bin")).unwrap();
        std::fs::create_dir_all(p.join("lib/zsh_process")).unwrap();
        std::fs::copy(built_module(), p.join("lib/zsh_process/process.so")).unwrap();
        let shim = p.join("bin/_process");
        std::fs::copy(repo_root().join("zsh/_process"), &shim).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        // share/, as scripts/install lays it out: the man page, the completion, and a
        // run-help directory with one page per builtin (written by the module itself).
        for (from, to) in [("man/zsh-process.1", "share/man/man1/zsh-process.1"), ("zsh/functions/_zsh_process", "share/zsh/site-functions/_zsh_process")] {
            std::fs::create_dir_all(p.join(to).parent().unwrap()).unwrap();
            std::fs::copy(repo_root().join(from), p.join(to)).unwrap();
        }
        let help = p.join("share/zsh-process/help");
        std::fs::create_dir_all(&help).unwrap();
        let made = Command::new("zsh")
            .args(["-f", "-c", "source \"$1\" || exit 1; for b in $(process-help --list); do process-help $b >| \"$2/$b\"; done", "_"])
            .arg(&shim)
            .arg(&help)
            .env("HOME", &p)
            .env("XDG_RUNTIME_DIR", &p)
            .status()
            .unwrap();
        assert!(made.success(), "cannot write the run-help pages");
        p
    })
}

#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// One isolated environment: its own HOME, PID, state and log directories.
pub struct Env {
    pub root: PathBuf,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        let root = scratch(tag);
        for d in ["home", "run", "state"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        Env { root }
    }

    pub fn pid_dir(&self) -> PathBuf {
        self.root.join("run/process")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state/process")
    }

    /// A zsh command for this environment (PATH has the prefix first; no user rc files).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("zsh");
        c.args(args)
            .env_clear()
            .env("PATH", format!("{}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", prefix().display()))
            .env("HOME", self.root.join("home"))
            .env("XDG_RUNTIME_DIR", self.root.join("run"))
            .env("XDG_STATE_HOME", self.root.join("state"))
            .env("TMPDIR", std::env::temp_dir())
            .env("LANG", "C.UTF-8")
            .env("ZDOTDIR", self.root.join("home"))
            .stdin(Stdio::null());
        c
    }

    /// Runs `script` in `zsh -f` after `source "$(which _process)"`.
    pub fn zsh(&self, script: &str) -> Output {
        self.run(&["-f", "-c", &sourced(script)])
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("cannot run zsh");
        Output {
            status: out.status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(0)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `script` after the line every test script begins with: the library loaded through
/// the shim, as users load it (exit 99 tells a failed load apart).
pub fn sourced(script: &str) -> String {
    format!("source \"$(which _process)\" || exit 99\n{script}")
}

/// Runs `script` in a fresh environment.
pub fn zsh(script: &str) -> Output {
    Env::new("run").zsh(script)
}

/// A process started for a test, killed when dropped.
pub struct Proc {
    pub child: std::process::Child,
}

impl Proc {
    pub fn spawn(cmd: &str, args: &[&str]) -> Proc {
        Proc { child: Command::new(cmd).args(args).stdin(Stdio::null()).spawn().unwrap() }
    }
    pub fn sleeper() -> Proc {
        Proc::spawn("sleep", &["300"])
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- helpers for the detection, information, PID-file and shim tests ----------------------

/// Asserts the bad-input contract: status 2, nothing on stdout, exactly one stderr line,
/// and that line names the command.
pub fn assert_usage_error(out: &Output, cmd: &str, what: &str) {
    assert_one_error(out, 2, cmd, what);
}

/// Python 3 as Debian installs it (a version manager's shim would add a wrapper process).
pub fn python3() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A PID that no process holds now (a child that ran and was reaped).
pub fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

impl Proc {
    /// A child that has exited and not been reaped: a zombie until dropped.
    pub fn zombie() -> Proc {
        let p = Proc::spawn("true", &[]);
        let pid = p.pid();
        assert!(wait_for(std::time::Duration::from_secs(5), || proc_state(pid) == Some('Z')), "no zombie");
        p
    }

    /// A shell spinning on one core.
    pub fn busy() -> Proc {
        Proc::spawn("sh", &["-c", "while :; do :; done"])
    }

    /// A process started with a clean environment and a fixed PATH.
    pub fn spawn_in(dir: &Path, cmd: &str, args: &[&str]) -> Proc {
        // A binary copied a moment ago can be briefly "busy" (ETXTBSY) while another
        // test thread's fork still holds the copy's write descriptor: retry.
        for attempt in 0.. {
            let r = Command::new(cmd)
                .args(args)
                .current_dir(dir)
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .stdin(Stdio::null())
                .spawn();
            match r {
                Ok(child) => return Proc { child },
                Err(e) if e.raw_os_error() == Some(26) && attempt < 50 => std::thread::sleep(std::time::Duration::from_millis(20)),
                Err(e) => panic!("cannot start {cmd}: {e}"),
            }
        }
        unreachable!()
    }
}

/// A real socket held by a python3 process: `addr` is `127.0.0.1` or `::1`, `kind` is
/// `tcp` (listening) or `udp` (bound). The port is chosen by the kernel.
pub struct Listener {
    pub proc: Proc,
    pub port: u16,
}

impl Listener {
    pub const SCRIPT: &'static str = r#"
import socket, sys, time
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
typ = socket.SOCK_DGRAM if sys.argv[2] == 'udp' else socket.SOCK_STREAM
s = socket.socket(fam, typ)
s.bind((sys.argv[1], 0))
if typ == socket.SOCK_STREAM:
    s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(600)
"#;

    pub fn start(addr: &str, kind: &str) -> Listener {
        use std::io::BufRead;
        let mut child = Command::new(python3())
            .args(["-c", Listener::SCRIPT, addr, kind])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("listener on {addr} {kind} printed {line:?}"));
        Listener { proc: Proc { child }, port }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

/// A port nothing listens on (bound by the kernel's choice, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Env {
    /// Like [`Env::command`], but runs `program args...` (e.g. `setpriv ... zsh`, `bash`).
    pub fn command_with(&self, program: &str, args: &[&str]) -> Command {
        let base = self.command(&[]);
        let mut c = Command::new(program);
        c.args(args).env_clear().stdin(Stdio::null());
        for (k, v) in base.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c
    }

    /// Runs a prepared command and collects its output.
    pub fn output_of(mut c: Command) -> Output {
        let out = c.output().expect("cannot run command");
        Output {
            status: out.status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(0)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `script` after sourcing the shim, with extra environment variables.
    pub fn zsh_env(&self, vars: &[(&str, &str)], script: &str) -> Output {
        let mut c = self.command(&["-f", "-c", &sourced(script)]);
        for (k, v) in vars {
            c.env(k, v);
        }
        Env::output_of(c)
    }
}

/// A scratch copy of `/bin/sleep` under `name` (for names longer than `comm`'s 15 bytes).
pub fn renamed_sleep(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy("/bin/sleep", &path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

// ---- helpers for the control, lifecycle, group and example tests ---------------------------

/// `tests/fixtures/control/NAME`, as a string for scripts.
pub fn control_fixture(name: &str) -> String {
    repo_root().join("tests/fixtures/control").join(name).display().to_string()
}

// ---- what /proc says, read independently of the module ------------------------------------

/// The fields of `/proc/PID/stat` the tests look at (the name is cut off at the last
/// `)`, as the kernel's format requires).
#[derive(Debug, Clone)]
pub struct Stat {
    pub state: char,
    pub ppid: u32,
    /// Start time, clock ticks after boot.
    pub start: u64,
    /// Every field after the name: `fields[n - 3]` is field n of proc(5).
    pub fields: Vec<String>,
}

impl Stat {
    pub fn of(pid: u32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<String> = text[text.rfind(')')? + 1..].split_whitespace().map(str::to_string).collect();
        Some(Stat { state: fields.first()?.chars().next()?, ppid: fields.get(1)?.parse().ok()?, start: fields.get(19)?.parse().ok()?, fields })
    }

    /// Not exited (a zombie leader with live threads is alive: field 20 counts them).
    pub fn alive(&self) -> bool {
        match self.state {
            'X' | 'x' => false,
            'Z' => self.fields.get(17).and_then(|n| n.parse::<i64>().ok()).is_some_and(|n| n > 1),
            _ => true,
        }
    }
}

/// `/proc/PID/stat` state letter, if the PID exists.
pub fn proc_state(pid: u32) -> Option<char> {
    Stat::of(pid).map(|s| s.state)
}

/// `/proc/PID/stat` field N (1-based, as in proc(5)).
pub fn stat_field(pid: u32, n: usize) -> Option<String> {
    match n {
        1 => Some(pid.to_string()),
        2 => None,
        n => Stat::of(pid)?.fields.get(n - 3).cloned(),
    }
}

/// The PID is a running process (exists and has not exited).
pub fn is_alive(pid: u32) -> bool {
    Stat::of(pid).is_some_and(|s| s.alive())
}

/// A process as one identity: PID and start time (field 22 of `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcId {
    pub pid: u32,
    pub start: u64,
}

impl ProcId {
    pub fn of(pid: u32) -> Option<ProcId> {
        Some(ProcId { pid, start: Stat::of(pid)?.start })
    }

    /// Still this process, and not exited.
    pub fn alive(&self) -> bool {
        Stat::of(self.pid).is_some_and(|s| s.alive() && s.start == self.start)
    }

    /// Sends `sig` to this process, only while the PID still names it.
    pub fn signal(&self, sig: i32) {
        if self.alive() {
            // SAFETY: kill(2) to a positive PID we just checked.
            unsafe { libc::kill(self.pid as i32, sig) };
        }
    }
}

/// Every PID in /proc.
fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc").unwrap().flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).collect()
}

/// The live immediate children of `pid`, from a scan of `/proc`.
/// Sends `sig` to `pid` if it is still there (as [`ProcId`]: never to a reused PID).
pub fn send_signal(pid: u32, sig: i32) {
    if let Some(id) = ProcId::of(pid) {
        id.signal(sig);
    }
}

pub fn children_of(pid: u32) -> Vec<u32> {
    let mut kids: Vec<u32> = all_pids().into_iter().filter(|&p| Stat::of(p).is_some_and(|s| s.alive() && s.ppid == pid)).collect();
    kids.sort_unstable();
    kids
}

/// A marker unique to this test run, usable as a `sleep` duration and as an argv element
/// to find a test's processes by: `BASE.<test pid><counter>`.
pub fn marker(base: u32) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{base}.{}{:03}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Live processes whose argv holds `marker` as one whole argument.
pub fn pids_with_arg(marker: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = all_pids()
        .into_iter()
        .filter(|&p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == marker.as_bytes()))
                && is_alive(p)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Waits up to `limit` for `cond`; true when it held.
pub fn wait_for(limit: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A file's text, or "" when it does not exist.
pub fn read_text(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kills, when dropped (test passed or not), what a test started indirectly (through
/// process-start, a supervisor, a script): the identities recorded with `track`, and every
/// live process carrying one of the test's own markers in its argv. Nothing else.
#[derive(Default)]
pub struct Sweep {
    ids: std::sync::Mutex<Vec<ProcId>>,
    markers: Vec<String>,
}

impl Sweep {
    pub fn new(markers: &[&str]) -> Sweep {
        Sweep { ids: Default::default(), markers: markers.iter().map(|m| m.to_string()).collect() }
    }

    /// Records a process (by PID, taken as the identity it has now) to be killed at the end.
    pub fn track(&self, pid: u32) -> Option<ProcId> {
        let id = ProcId::of(pid)?;
        self.ids.lock().unwrap().push(id);
        Some(id)
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        // Markers first (a supervisor's service may be restarted until its supervisor dies),
        // then the recorded identities, then the markers again.
        for round in 0..3 {
            if round != 1 {
                for m in &self.markers {
                    for p in pids_with_arg(m) {
                        if let Some(id) = ProcId::of(p) {
                            id.signal(libc::SIGKILL);
                        }
                    }
                }
            } else {
                for id in self.ids.lock().unwrap().iter() {
                    id.signal(libc::SIGKILL);
                }
            }
        }
    }
}

/// A child of the test (e.g. a zsh running a script), killed and reaped when dropped;
/// its output goes to files the test can read while it runs.
pub struct Bg {
    pub child: std::process::Child,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Bg {
    /// Starts `script` in `zsh -f -c` after sourcing the shim, in `env`, output to files in `dir`.
    pub fn zsh(env: &Env, dir: &Path, tag: &str, script: &str) -> Bg {
        let out = dir.join(format!("{tag}.out"));
        let err = dir.join(format!("{tag}.err"));
        let mut c = env.command(&["-f", "-c", &sourced(script)]);
        c.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap());
        Bg { child: c.spawn().expect("cannot start zsh"), out, err }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the exit; its status (128+N for a signal).
    pub fn wait_timeout(&mut self, limit: std::time::Duration) -> Option<i32> {
        let end = std::time::Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)));
            }
            if std::time::Instant::now() >= end {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    pub fn stdout(&self) -> String {
        read_text(&self.out)
    }

    pub fn stderr(&self) -> String {
        read_text(&self.err)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts a refusal or failure: status `status`, nothing on stdout, one stderr line naming `cmd`.
pub fn assert_one_error(out: &Output, status: i32, cmd: &str, what: &str) {
    assert_eq!(out.status, status, "{what}: status {out:?}");
    assert_eq!(out.stdout, "", "{what}: stdout {out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: want one stderr line, got {out:?}");
    assert!(lines[0].starts_with(&format!("{cmd}: ")), "{what}: stderr does not name {cmd}: {out:?}");
}

/// zsh code that records the library's events in `file`, one line each: `EVENT ARGS...`
/// (`stop web 1234`), through the hook arrays the shim calls (`process_stop_functions`).
pub fn event_hooks(file: &Path) -> String {
    let mut code = String::new();
    for ev in ["start", "stop", "kill", "restart", "died"] {
        code.push_str(&format!(
            "_test_ev_{ev}() {{ print -r -- \"{ev} $*\" >> {file} }}\nprocess_{ev}_functions+=(_test_ev_{ev})\n",
            file = file.display()
        ));
    }
    code
}

/// Starts a fixture script under `zsh -f` as a child of the test, and waits until it says
/// it is ready (`DIR/NAME.ready`).
pub fn start_script(script: &str, dir: &Path, name: &str, extra: &[&str]) -> Proc {
    let fx = control_fixture(script);
    let d = dir.display().to_string();
    let mut args = vec!["-f", fx.as_str(), d.as_str(), name];
    args.extend_from_slice(extra);
    let p = Proc::spawn("zsh", &args);
    let ready = if script == "signals.zsh" { dir.join("signals.ready") } else { dir.join(format!("{name}.ready")) };
    assert!(wait_for(std::time::Duration::from_secs(5), || ready.exists()), "{script} never got ready");
    p
}

/// The identity file the library keeps beside `NAME.pid` (`.NAME.id`): a record of the
/// PID, its start time (clock ticks after boot) and the boot ID.
pub fn identity_record(pid: u32, start: u64, boot: &str) -> String {
    format!("pid={pid}\nstart={start}\nboot={boot}\n")
}

/// The (pid, start, boot) of an identity file's text.
pub fn parse_identity_record(text: &str) -> Option<(u32, u64, String)> {
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
    Some((field("pid")?.parse().ok()?, field("start")?.parse().ok()?, field("boot")?))
}

// ---- one test's world --------------------------------------------------------------------

/// An isolated environment, a scratch directory, a marker, recorded events and a sweep:
/// see the module documentation.
pub struct Case {
    pub env: Env,
    /// A scratch directory for the test's own files (fixtures' ready files, outputs).
    pub dir: PathBuf,
    /// Unique to this test and usable as a `sleep` duration (about 300 s): processes that
    /// carry it in their argv are the test's, and are killed when the case is dropped.
    pub marker: String,
    events: PathBuf,
    sweep: Sweep,
}

impl Case {
    pub fn new(tag: &str) -> Case {
        let env = Env::new(tag);
        let dir = scratch(tag);
        let marker = marker(300);
        let events = dir.join("events");
        let sweep = Sweep::new(&[&marker]);
        Case { env, dir, marker, events, sweep }
    }

    /// `sleep MARKER`: a service command whose processes the sweep will find.
    pub fn sleep(&self) -> String {
        format!("sleep {}", self.marker)
    }

    /// Runs `script` (after the shim) with the library's events recorded.
    pub fn zsh(&self, script: &str) -> Output {
        self.env.zsh(&format!("{}{script}", event_hooks(&self.events)))
    }

    /// Starts `script` in the background, events recorded, output in the scratch dir.
    pub fn bg(&self, tag: &str, script: &str) -> Bg {
        Bg::zsh(&self.env, &self.dir, tag, &format!("{}{script}", event_hooks(&self.events)))
    }

    /// The events recorded so far, one `EVENT ARGS...` line each (`stop web 1234`).
    pub fn events(&self) -> Vec<String> {
        read_text(&self.events).lines().map(str::to_string).collect()
    }

    /// Records a process to be killed when the case ends.
    pub fn track(&self, pid: u32) -> Option<ProcId> {
        self.sweep.track(pid)
    }

    /// Starts the fixture `script` (tests/fixtures/control) under `zsh -f` as a child of
    /// the test, and waits until it is ready.
    pub fn fixture(&self, script: &str, name: &str, extra: &[&str]) -> Proc {
        start_script(script, &self.dir, name, extra)
    }
}

// ---- an interactive shell on a terminal ------------------------------------------------

/// A real interactive zsh in tmux: types a line, presses Tab, reads the screen.
pub struct Terminal {
    socket: String,
}

impl Terminal {
    /// A zsh -i in `env` whose .zshrc is `zshrc` (which must set a prompt with READY).
    pub fn start(env: &Env, zshrc: &str) -> Option<Terminal> {
        if std::process::Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("no tmux: skipping the interactive completion case");
            return None;
        }
        let home = env.root.join("home");
        std::fs::write(home.join(".zshrc"), zshrc).unwrap();
        let socket = format!("zp-{}-{}", std::process::id(), env.root.file_name().unwrap().to_string_lossy());
        let zsh = env.command(&["-i"]);
        let mut c = std::process::Command::new("tmux");
        c.args(["-L", &socket, "-f", "/dev/null", "new-session", "-d", "-x", "220", "-y", "50", "zsh", "-i"]);
        for (k, v) in zsh.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c.env("TERM", "xterm-256color");
        assert!(c.status().unwrap().success(), "tmux did not start");
        let t = Terminal { socket };
        assert!(wait_for(std::time::Duration::from_secs(10), || t.screen().contains("READY")), "the shell never started: {}", t.screen());
        Some(t)
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut c = std::process::Command::new("tmux");
        c.args(["-L", &self.socket, "send-keys", "-t", "0"]).args(keys);
        assert!(c.status().unwrap().success());
    }

    /// The screen with its colours and attributes, as escape sequences.
    pub fn screen_with_escapes(&self) -> String {
        let out = std::process::Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-e", "-t", "0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        let out = std::process::Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the screen shows after typing `line` and pressing Tab (twice: the list).
    pub fn complete(&self, line: &str, want: &[&str]) -> String {
        self.keys(&["C-u", "C-l"]);
        std::thread::sleep(std::time::Duration::from_millis(150));
        self.keys(&["-l", line]);
        self.keys(&["Tab"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        self.keys(&["Tab"]);
        wait_for(std::time::Duration::from_secs(5), || want.iter().all(|w| self.screen().contains(w)));
        self.screen()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

