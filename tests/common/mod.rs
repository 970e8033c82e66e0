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
