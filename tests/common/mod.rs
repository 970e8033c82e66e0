//! Test harness: runs real zsh processes that load the module through the shim, from a
//! private install prefix laid out as scripts/install lays it out
//! (PREFIX/bin/_process, PREFIX/lib/zsh-process/process.so).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The cdylib cargo built for these tests: target/<profile>/libzsh_process.so.
fn built_module() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let so = profile_dir.join("libzsh_process.so");
    assert!(so.exists(), "{} not built", so.display());
    so
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A unique scratch directory under the system temp dir.
pub fn scratch(tag: &str) -> PathBuf {
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
        std::fs::create_dir_all(p.join("lib/zsh-process")).unwrap();
        std::fs::copy(built_module(), p.join("lib/zsh-process/process.so")).unwrap();
        let shim = p.join("bin/_process");
        std::fs::copy(repo_root().join("zsh/_process"), &shim).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
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
        let full = format!("source \"$(which _process)\" || exit 99\n{script}");
        self.run(&["-f", "-c", &full])
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
    assert_eq!(out.status, 2, "{what}: status {out:?}");
    assert_eq!(out.stdout, "", "{what}: stdout {out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: want one stderr line, got {out:?}");
    assert!(lines[0].starts_with(&format!("{cmd}: ")), "{what}: stderr does not name {cmd}: {out:?}");
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

/// `/proc/PID/stat` state letter, if the PID exists.
pub fn proc_state(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..].trim_start().chars().next()
}

/// Waits (up to 5 s) until `cond` holds.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cond()
}

impl Proc {
    /// A child that has exited and not been reaped: a zombie until dropped.
    pub fn zombie() -> Proc {
        let p = Proc::spawn("true", &[]);
        let pid = p.pid();
        assert!(wait_until(|| proc_state(pid) == Some('Z')), "no zombie");
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
        let full = format!("source \"$(which _process)\" || exit 99\n{script}");
        let mut c = self.command(&["-f", "-c", &full]);
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
