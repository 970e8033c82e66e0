//! Utilities: process-version, process-self-test.

use super::info::{command_name, cpu_percent};
use super::spec::Spec;
use super::{Args, Context, Exit, Outcome};
use process_facts::pidfile::{Check, PidFiles};
use process_facts::state::{Member, StateDir};
use process_facts::wait::Plain;
use process_facts::{pidfd::PidFd, proc, tree, Identity};

/// The library's version, as `process-version` prints it (the crate's own).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const VERSION_SPEC: Spec = Spec {
    purpose: "print the library's version",
    operands: &[],
    min: 0,
    max: 0,
    options: &[],
    exits: &[(0, "printed")],
    see: "docs/inspect.md#utilities",
};
pub const SELF_TEST: Spec = Spec {
    purpose: "check what this machine gives the library, and print the spec's report",
    exits: &[(0, "every check passed"), (1, "some failed")],
    ..VERSION_SPEC
};

/// `process-version`
pub fn version(cx: &mut Context, _args: &Args) -> Outcome {
    cx.sh.print(format!("_process v{VERSION}\n").as_bytes());
    Ok(Exit::Success)
}

type Check_ = Result<String, String>;
type SelfCheck<'a> = Box<dyn FnMut(&mut Context) -> Check_ + 'a>;

/// `process-self-test`: checks what this machine gives the library, in the spec's format.
pub fn self_test(cx: &mut Context, _args: &Args) -> Outcome {
    let me = proc::current_pid();
    let mut tests: Vec<(&str, SelfCheck)> = vec![
        ("/proc availability", Box::new(|_| proc::stat(me).map(|_| String::new()).map_err(|e| e.to_string()))),
        (
            "Signal delivery (pidfd)",
            Box::new(|_| {
                let id = Identity::of(me).ok_or("cannot identify this shell")?;
                match PidFd::open(id) {
                    Ok(fd) => fd.send_signal(0).map(|_| String::new()).map_err(|e| e.to_string()),
                    Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok("kill(2) fallback: kernel has no pidfds".into()),
                    Err(e) => Err(e.to_string()),
                }
            }),
        ),
        (
            "Process detection",
            Box::new(|cx| match Identity::of(cx.sh.shell_pid()) {
                Some(id) => Ok(format!("current PID: {}", id.pid)),
                None => Err("shell not found".into()),
            }),
        ),
        ("Get CPU usage", Box::new(|cx| cpu_percent(cx, me).map(|p| format!("CPU: {p:.1}%")).ok_or("no reading".into()))),
        ("Get memory usage", Box::new(|_| proc::rss_kb(me).map(|m| format!("Memory: {m} KB")).map_err(|e| e.to_string()))),
        ("Get command", Box::new(|_| command_name(me).map(|c| format!("Command: {}", String::from_utf8_lossy(&c))).ok_or("no name".into()))),
        ("PID file operations", Box::new(|_| pid_file_roundtrip(me))),
        ("Process group operations", Box::new(|_| group_roundtrip(me))),
        (
            "Process tree",
            Box::new(|_| {
                let parent = proc::stat(me).map_err(|e| e.to_string())?.ppid;
                let kids = tree::children(parent).map_err(|e| e.to_string())?;
                if kids.contains(&me) || parent <= 1 {
                    Ok(String::new())
                } else {
                    Err(format!("shell {me} not among the children of {parent}"))
                }
            }),
        ),
    ];
    let mut out = format!("=== _process v{VERSION} Self-Test ===\n");
    let (mut passed, mut failed) = (0, 0);
    for (i, (name, test)) in tests.iter_mut().enumerate() {
        let line = match test(cx) {
            Ok(detail) if detail.is_empty() => {
                passed += 1;
                "PASS".to_string()
            }
            Ok(detail) => {
                passed += 1;
                format!("PASS ({detail})")
            }
            Err(why) => {
                failed += 1;
                format!("FAIL ({why})")
            }
        };
        out.push_str(&format!("Test {}: {name}... {line}\n", i + 1));
    }
    out.push_str(&format!("\n=== Self-Test Summary ===\nPassed: {passed}\nFailed: {failed}\n"));
    out.push_str(if failed == 0 { "All tests passed!\n" } else { "Some tests failed.\n" });
    cx.sh.print(out.as_bytes());
    Ok(Exit::yes_no(failed == 0))
}

/// Write, check and remove a PID file in a private temporary directory (never the
/// user's own PID directory).
fn pid_file_roundtrip(me: i32) -> Check_ {
    let dir = private_scratch("pids");
    let pids = PidFiles::new(&dir);
    let result = (|| {
        pids.write("self-test", me, process_facts::pidfile::Role::Service, &mut Plain).map_err(|e| e.to_string())?;
        match pids.check("self-test", &mut Plain).map_err(|e| e.to_string())? {
            Check::Running(id) if id.pid == me => {}
            other => return Err(format!("check gave {other:?}")),
        }
        pids.remove("self-test", &mut Plain).map_err(|e| e.to_string())?;
        Ok(String::new())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Add to, read and remove a group in a private temporary state directory.
fn group_roundtrip(me: i32) -> Check_ {
    let dir = private_scratch("groups");
    let state = StateDir::new(&dir);
    let result = (|| {
        let id = Identity::of(me).ok_or("cannot identify this shell")?;
        state.group_add("self-test", Member::Service("svc".into()), &mut Plain).map_err(|e| e.to_string())?;
        state.group_add("self-test", Member::Process(id), &mut Plain).map_err(|e| e.to_string())?;
        let labels: Vec<String> = state.group_members("self-test").map_err(|e| e.to_string())?.iter().map(Member::label).collect();
        if labels != ["svc".to_string(), me.to_string()] {
            return Err(format!("members read back as {labels:?}"));
        }
        state.group_remove("self-test", &mut Plain).map_err(|e| e.to_string())?;
        Ok(String::new())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A scratch directory nobody can have made first: a fresh random name (the kernel hands
/// out a new UUID at each read of `random/uuid`), which the store then creates 0700.
fn private_scratch(tag: &str) -> std::path::PathBuf {
    let uuid = proc::read_file("/proc/sys/kernel/random/uuid").map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    std::env::temp_dir().join(format!("process-self-test-{tag}-{}-{uuid}", proc::current_pid()))
}
