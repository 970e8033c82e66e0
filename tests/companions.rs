//! The optional companions, faked in tests/fixtures/companions: _log (used when loaded,
//! before or after _process, fallbacks otherwise, messages on stderr), _cache (detected,
//! not used: see docs/monitoring.md), _lifecycle (cleanup of a shell's own PID file) and
//! zsh's own exit hook without it.

mod common;
use common::{repo_root, zsh, Env, Output, Proc};
use std::time::Duration;

fn fixture(name: &str) -> String {
    repo_root().join("tests/fixtures/companions").join(name).display().to_string()
}

#[test]
fn without_log_the_fallbacks_write_to_stderr() {
    let out = zsh(
        "print -r -- $PROCESS_LOG_AVAILABLE\nlog-info hello\nlog-warn careful\nlog-error bad\nlog-success done\nlog-debug hidden\n\
         PROCESS_DEBUG=true log-debug shown",
    );
    assert_eq!(out.stdout, "false\n", "{out:?}");
    assert_eq!(out.stderr, "[INFO] hello\n[WARN] careful\n[ERROR] bad\n[SUCCESS] done\n[DEBUG] shown\n", "{out:?}");
}

/// _log before or after _process: its functions are the ones called, and the library's
/// own messages still go to stderr although this _log writes to stdout.
fn with_log(before: bool) {
    let env = Env::new("log");
    let t = Proc::sleeper();
    let src = format!("source {}", fixture("_log"));
    let script = format!(
        "{}\nsource \"$(which _process)\" || exit 99\n{}\n_process-companions\n\
         print -r -- available=$PROCESS_LOG_AVAILABLE\nlog-info from-user\n\
         PROCESS_DEBUG=true process-monitor {} --interval 0.1 --count 1 >/dev/null",
        if before { src.as_str() } else { "" },
        if before { "" } else { src.as_str() },
        t.pid()
    );
    let out = env.run(&["-f", "-c", &script]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout, "available=true\nfake-log INFO: from-user\n", "{out:?}");
    assert!(out.stderr.contains(&format!("fake-log DEBUG: process-monitor: watching {p} (PID {p})", p = t.pid())), "{out:?}");
    assert!(out.stderr.contains("fake-log DEBUG: event process.monitor: "), "{out:?}");
    assert!(!out.stderr.contains("[DEBUG]"), "{out:?}");
}

#[test]
fn log_sourced_before_process_is_used() {
    with_log(true);
}

#[test]
fn log_sourced_after_process_is_used() {
    with_log(false);
}

#[test]
fn cache_is_detected_and_cpu_readings_stay_fresh() {
    // A second process-get-cpu 1 s after the first reads the new load, whatever
    // PROCESS_CACHE_TTL says, and _process never calls _cache.
    let env = Env::new("cache");
    let marker = env.root.join("busy");
    let target = Proc::spawn("sh", &["-c", &format!("sleep 0.6; : >{}; while :; do :; done", marker.display())]);
    let script = format!(
        "export PROCESS_CACHE_TTL=10\nsource {}\nsource \"$(which _process)\" || exit 99\n\
         print -r -- available=$PROCESS_CACHE_AVAILABLE ttl=$PROCESS_CACHE_TTL\n\
         process-get-cpu -v idle {p}\nsleep 1.2\nprocess-get-cpu -v busy {p}\n\
         print -r -- $(( idle < 20 )) $(( busy > 20 )) calls=$FAKE_CACHE_CALLS",
        fixture("_cache"),
        p = target.pid()
    );
    let out = env.run(&["-f", "-c", &script]);
    assert_eq!(out.lines(), ["available=true ttl=10", "1 1 calls=0"], "{out:?}");
    let out = zsh("print -r -- $PROCESS_CACHE_AVAILABLE");
    assert_eq!(out.stdout, "false\n");
}

fn pid_file(env: &Env, name: &str) -> std::path::PathBuf {
    env.pid_dir().join(format!("{name}.pid"))
}

#[test]
fn a_shells_own_pid_file_is_removed_when_it_exits() {
    let env = Env::new("own");
    for (tag, ending, removed) in [
        ("end", "true", true),
        ("exit", "exit 3", true),
        ("error", "print ${(j)x}", true),
    ] {
        let name = format!("own-{tag}");
        let out = env.zsh(&format!("process-write-pid {name} $$ || exit 9\n[[ -f $PROCESS_PID_DIR/{name}.pid ]] && print written\n{ending}"));
        assert!(out.stdout.starts_with("written"), "{tag}: {out:?}");
        assert_eq!(pid_file(&env, &name).exists(), !removed, "{tag}: {out:?}");
    }
}

#[test]
fn a_subshell_exit_or_another_pid_does_not_remove_it() {
    let env = Env::new("keep");
    let other = Proc::sleeper();
    let out = env.zsh(&format!(
        "process-write-pid mine $$ || exit 9\n( true ); ( exit 4 ); print -r -- $(print sub)\n\
         [[ -f $PROCESS_PID_DIR/mine.pid ]] && print kept-through-subshells\n\
         process-write-pid theirs {} || exit 9\n\
         process-write-pid replaced $$ || exit 9\nprocess-write-pid replaced {} || exit 9",
        other.pid(),
        other.pid()
    ));
    assert_eq!(out.lines(), ["sub", "kept-through-subshells"], "{out:?}");
    assert!(!pid_file(&env, "mine").exists());
    assert!(pid_file(&env, "theirs").exists(), "another process's PID file stays");
    assert!(pid_file(&env, "replaced").exists(), "a file that no longer names this shell stays");
}

#[test]
fn a_shell_killed_by_a_signal_leaves_a_stale_file_that_readers_discard() {
    let env = Env::new("killed");
    let out = env.zsh("process-write-pid victim $$ || exit 9\nkill -KILL $$");
    assert_eq!(out.status, 128 + 9, "{out:?}");
    assert!(pid_file(&env, "victim").exists());
    let out = env.zsh("process-check-pid-file victim; print -r -- $?");
    assert_eq!(out.stdout, "1\n", "{out:?}");
    assert!(!pid_file(&env, "victim").exists());
}

fn with_lifecycle(api: &str) {
    let env = Env::new("lifecycle");
    let script = format!(
        "source {}\nsource \"$(which _process)\" || exit 99\n_process-companions\nprint -r -- $PROCESS_LIFECYCLE_AVAILABLE\n\
         process-write-pid svc $$ || exit 9\nprocess-write-pid svc2 $$ || exit 9\n\
         print -r -- via=$_PROCESS_CLEANUP_VIA zshexit=${{(j:,:)zshexit_functions}}",
        fixture("_lifecycle")
    );
    let mut c = env.command(&["-f", "-c", &script]);
    c.env("FAKE_LIFECYCLE_API", api);
    let out = c.output().unwrap();
    let out = Output { status: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() };
    let via = if api == "on-exit" { "lifecycle-on-exit" } else { "lifecycle-register-cleanup" };
    assert_eq!(out.lines(), ["true", &format!("via={via} zshexit=_fake_lifecycle_run")], "{out:?}");
    assert_eq!(out.stderr, "fake-lifecycle: cleanup _process-cleanup\n", "{out:?}");
    assert!(!pid_file(&env, "svc").exists() && !pid_file(&env, "svc2").exists());
}

#[test]
fn lifecycle_register_cleanup_is_used_when_loaded() {
    with_lifecycle("register");
}

#[test]
fn lifecycle_on_exit_is_used_when_loaded() {
    with_lifecycle("on-exit");
}

#[test]
fn an_interactive_shell_removes_its_pid_file_at_logout() {
    let env = Env::new("interactive");
    let mut c = env.command(&["-f", "-i"]);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "source \"$(which _process)\" || exit 99").unwrap();
        writeln!(stdin, "process-write-pid login $$").unwrap();
        writeln!(stdin, "print -r -- written").unwrap();
        writeln!(stdin, "exit").unwrap();
    }
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(child.try_wait().unwrap().is_some(), "the shell did not exit");
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("written"), "{out:?}");
    std::thread::sleep(Duration::from_millis(10));
    assert!(!pid_file(&env, "login").exists());
}
