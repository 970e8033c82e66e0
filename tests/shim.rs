//! The `_process` shim: loading the module into real shells of every kind, the defaults
//! it sets, what happens when it cannot load, and the version guard.
mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The builtins, as the module itself lists its features (`zmodload -lF`): `+b:NAME`.
fn module_builtins() -> Vec<String> {
    let out = zsh("zmodload -lF zsh_process/process");
    assert_eq!(out.status, 0, "{out:?}");
    out.stdout.lines().filter_map(|l| l.strip_prefix("+b:")).map(str::to_string).collect()
}

#[test]
fn every_command_is_a_real_builtin() {
    let builtins = module_builtins();
    // The documented set: detection, information, PID files, control, monitoring,
    // groups, utilities.
    for documented in ["process-exists", "process-find-by-port", "process-get-info", "process-write-pid", "process-stop", "process-monitor", "process-group-add", "process-self-test"] {
        assert!(builtins.iter().any(|b| b == documented), "{documented} not among {builtins:?}");
    }
    let out = zsh(&format!("whence -w {}; zmodload -e zsh_process/process && print loaded", builtins.join(" ")));
    let want: String = builtins.iter().map(|c| format!("{c}: builtin\n")).collect::<String>() + "loaded\n";
    assert_eq!(out.stdout, want, "{out:?}");
    assert_eq!(out.stderr, "");
    // And every one of them answers bad input with one line naming it.
    for b in &builtins {
        let out = zsh(&format!("{b} --no-such-option"));
        assert_usage_error(&out, b, &format!("{b} --no-such-option"));
    }
}

#[test]
fn version_and_self_test() {
    let env = Env::new("meta");
    let out = env.zsh("process-version; print s=$?; process-self-test; print s=$?");
    assert!(out.stdout.starts_with("_process v1.0.0\ns=0\n=== _process v1.0.0 Self-Test ===\n"), "{out:?}");
    let tests: Vec<&str> = out.lines().into_iter().filter(|l| l.starts_with("Test ")).collect();
    assert!(tests.len() >= 8, "{out:?}");
    for (i, t) in tests.iter().enumerate() {
        assert!(t.starts_with(&format!("Test {}: ", i + 1)) && t.contains("... PASS"), "{t}: {out:?}");
    }
    assert!(out.stdout.ends_with(&format!("=== Self-Test Summary ===\nPassed: {}\nFailed: 0\nAll tests passed!\ns=0\n", tests.len())), "{out:?}");
    assert_eq!(out.stderr, "");
    // The self-test uses a private directory, never the user's PID directory.
    assert!(!env.pid_dir().exists());
    for c in ["process-version x", "process-version --bogus", "process-self-test x", "process-self-test -v x"] {
        assert_usage_error(&env.zsh(c), c.split(' ').next().unwrap(), c);
    }
}

#[test]
fn sourcing_twice_is_harmless() {
    let p = Proc::sleeper();
    let out = zsh(&format!(
        "PROCESS_DEFAULT_TIMEOUT=42
         source \"$(which _process)\"; print s=$?
         source \"$(which _process)\"; print s=$?
         print -r -- $PROCESS_DEFAULT_TIMEOUT $PROCESS_MONITOR_INTERVAL
         print -r -- ${{#${{(M)module_path:#*zsh-process*}}}}
         zmodload | grep -c '^zsh_process/process$'
         process-exists {}; print s=$?",
        p.pid()
    ));
    assert_eq!(out.stdout, "s=0\ns=0\n42 5\n0\n1\ns=0\n", "{out:?}");
    assert_eq!(out.stderr, "");
}

#[test]
fn sourced_from_bash_or_sh_it_says_it_needs_zsh() {
    let env = Env::new("posix");
    let script = "source \"$(which _process)\"; echo rc=$?; echo still-here";
    let dot = ". \"$(which _process)\"; echo rc=$?; echo still-here";
    let mut cases = vec![("bash", script), ("sh", dot)];
    if Path::new("/bin/dash").exists() {
        cases.push(("dash", dot));
    }
    for (shell, script) in cases {
        let out = Env::output_of(env.command_with(shell, &["-c", script]));
        assert_eq!(out.stdout, "rc=1\nstill-here\n", "{shell}: {out:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{shell}: {out:?}");
        assert!(lines[0].contains("needs zsh"), "{shell}: {out:?}");
    }
    // Run as a program by sh: the same message, and a failing status.
    let shim = prefix().join("bin/_process");
    let out = Env::output_of(env.command_with("sh", &[shim.to_str().unwrap()]));
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("needs zsh"), "{out:?}");
}

#[test]
fn works_in_zsh_without_rc_files_and_in_an_interactive_zsh() {
    let env = Env::new("interactive");
    let p = Proc::sleeper();
    // -f: no startup files at all.
    let out = env.run(&["-f", "-c", &format!("source \"$(which _process)\"; print s=$?; process-exists {}; print e=$?", p.pid())]);
    assert_eq!(out.stdout, "s=0\ne=0\n", "{out:?}");
    // -i with an empty ZDOTDIR (the harness's HOME): an interactive shell.
    let out = env.run(&[
        "-i",
        "-c",
        &format!("[[ -o interactive ]] && print interactive; source \"$(which _process)\"; print s=$?; process-get-command {}", p.pid()),
    ]);
    assert_eq!(out.stdout, "interactive\ns=0\nsleep\n", "{out:?}");
}

/// An interactive zsh on a real terminal (util-linux's `script` gives it a pty), typing
/// the commands as a user would.
#[test]
fn works_in_an_interactive_zsh_on_a_terminal() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("no script(1): skipping the pty case");
        return;
    }
    let env = Env::new("pty");
    let p = Proc::sleeper();
    // Markers are computed, so the echo of the typed line never matches them.
    let typed = format!(
        "source \"$(which _process)\" && print LOADED$((40+2))\n\
         [[ -o interactive && -t 0 ]] && print TTY$((40+2))\n\
         whence -w process-exists\n\
         process-get-command -v c {pid}; print CMD-$c-$((40+2))\n\
         process-find-by-name -v x no-such-thing-anywhere || print NOTFOUND$((40+2))\n\
         process-exists abc; print STATUS$?X\n\
         print ALIVE$((40+2))\n\
         exit\n",
        pid = p.pid()
    );
    let mut c = env.command_with("timeout", &["30", "script", "-qec", "zsh -i", "/dev/null"]);
    c.env("TERM", "dumb").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(typed.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["LOADED42", "TTY42", "process-exists: builtin", "CMD-sleep-42", "NOTFOUND42", "STATUS2X", "ALIVE42"] {
        assert!(text.contains(want), "missing {want} in the terminal output: {text}");
    }
    assert!(text.contains("process-exists: invalid PID 'abc'"), "{text}");
}

/// The same commands, with and without the options zunit and users set, print the same.
#[test]
fn hostile_user_options_change_nothing() {
    let dir = scratch("opts");
    let name = format!("opt-test-service-{}", std::process::id());
    let exe = renamed_sleep(&dir, &name);
    let p = Proc::spawn_in(&dir, exe.to_str().unwrap(), &["300"]);
    let l = Listener::start("127.0.0.1", "tcp");
    let body = format!(
        "st() {{ \"$@\" && print -r -- \"s=0\" || print -r -- \"s=$?\"; }}
         st process-version
         st process-exists {pid}
         st process-is-running {pid}
         st process-find-by-name {name}
         st process-find-all-by-name {name}
         st process-find-all-by-name -v arr {name}; print -r -- \"${{arr[@]}}\" ${{#arr[@]}}
         st process-find-by-port {port}
         st process-get-command {pid}
         st process-get-command -v c {pid}; print -r -- \"$c\"
         st process-get-info -v info {pid}; print -r -- ${{(ok)info[@]}}; print -r -- \"${{info[command]}} ${{info[pid]}}\"
         st process-write-pid opts {pid}
         st process-read-pid opts
         st process-check-pid-file opts
         st process-remove-pid opts
         st process-check-pid-file opts
         st process-find-by-name no-such-process-anywhere
         st process-exists abc
         st process-get-cpu -v x -5
         st _process-get-pid-file opts
         print -r -- $PROCESS_DEFAULT_TIMEOUT $PROCESS_DEBUG
         print -r -- end",
        pid = p.pid(),
        port = l.port
    );
    let env = Env::new("opts");
    let plain = env.zsh(&body);
    let hostile_script = format!(
        "setopt errexit nounset ksharrays shwordsplit extendedglob typesetsilent nohashdirs\n\
         source \"$(which _process)\" || exit 99\n{body}"
    );
    let hostile = env.run(&["-f", "-c", &hostile_script]);
    assert_eq!(plain.status, 0, "{plain:?}");
    assert!(plain.stdout.ends_with("10 false\nend\n"), "{plain:?}");
    assert!(plain.stdout.contains(&format!("s=0\n{} 1\n", p.pid())), "{plain:?}");
    assert!(plain.stdout.contains(&format!("{}\ns=0\n", l.pid())), "{plain:?}");
    assert_eq!(hostile.stdout, plain.stdout, "with hostile options: {hostile:?}");
    assert_eq!(hostile.stderr, plain.stderr);
    assert_eq!(hostile.status, plain.status);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn the_users_settings_are_kept_and_defaults_fill_the_rest() {
    let env = Env::new("settings");
    let mine = env.root.join("mine");
    let vars = [
        ("PROCESS_PID_DIR", mine.to_str().unwrap()),
        ("PROCESS_DEFAULT_TIMEOUT", "30"),
        ("PROCESS_DEBUG", "true"),
        ("PROCESS_LOG_DIR", "/somewhere/logs"),
    ];
    let show = "print -r -- $PROCESS_PID_DIR $PROCESS_STATE_DIR $PROCESS_LOG_DIR $PROCESS_DEFAULT_TIMEOUT $PROCESS_MONITOR_INTERVAL \
                $PROCESS_MAX_RESTARTS $PROCESS_RESTART_DELAY $PROCESS_CACHE_TTL $PROCESS_DEBUG";
    let out = env.zsh_env(&vars, show);
    let state = env.root.join("state/process");
    assert_eq!(out.stdout, format!("{} {} /somewhere/logs 30 5 3 5 2 true\n", mine.display(), state.display()), "{out:?}");
    // Unexported shell variables set before sourcing count too.
    let out = env.run(&[
        "-f",
        "-c",
        &format!("PROCESS_MAX_RESTARTS=7 PROCESS_CACHE_TTL=9; source \"$(which _process)\"; {show}"),
    ]);
    let run = env.root.join("run/process");
    assert_eq!(
        out.stdout,
        format!("{} {} {}/logs 10 5 7 5 9 false\n", run.display(), state.display(), state.display()),
        "{out:?}"
    );
    // The event names are constants.
    let out = env.zsh("print -r -- $PROCESS_EVENT_START $PROCESS_EVENT_STOP $PROCESS_EVENT_KILL $PROCESS_EVENT_RESTART $PROCESS_EVENT_DIED $PROCESS_EVENT_MONITOR $PROCESS_EVENT_ALERT");
    assert_eq!(out.stdout, "process.start process.stop process.kill process.restart process.died process.monitor process.alert\n");
}

#[test]
fn log_fallbacks_only_where_log_is_not_loaded() {
    let out = zsh(
        "print -r -- $PROCESS_LOG_AVAILABLE; log-info hello; log-warn careful; log-error bad; log-success yay
         log-debug hidden; PROCESS_DEBUG=true log-debug shown",
    );
    assert_eq!(out.stdout, "false\n");
    assert_eq!(out.stderr, "[INFO] hello\n[WARN] careful\n[ERROR] bad\n[SUCCESS] yay\n[DEBUG] shown\n");
    let env = Env::new("log");
    let out = env.run(&[
        "-f",
        "-c",
        "log-info() { print -r -- \"mine: $*\" }; source \"$(which _process)\"; print -r -- $PROCESS_LOG_AVAILABLE; log-info hi",
    ]);
    assert_eq!(out.stdout, "true\nmine: hi\n", "{out:?}");
}

#[test]
fn path_helpers() {
    let env = Env::new("paths");
    let out = env.zsh(
        "_process-get-pid-file web; print s=$?; _process-get-log-file web; print s=$?
         f=$(_process-get-log-file web); print -r -- log > $f; print -r -- $(<$f)",
    );
    let pid_dir = env.pid_dir();
    let log_dir = env.state_dir().join("logs");
    assert_eq!(out.stdout, format!("{}/web.pid\ns=0\n{}/web.log\ns=0\nlog\n", pid_dir.display(), log_dir.display()), "{out:?}");
    assert_eq!(fs::metadata(&log_dir).unwrap().permissions().mode() & 0o777, 0o700);
    for bad in ["a/b", "..", "''", ".hidden"] {
        for f in ["_process-get-pid-file", "_process-get-log-file"] {
            let line = format!("{f} {bad}");
            assert_usage_error(&env.zsh(&line), f, &line);
        }
    }
    let out = env.zsh("_process-get-pid-file");
    assert_eq!(out.status, 2, "{out:?}");
}

/// A prefix laid out like an install, with `so` (or nothing) as the module.
fn broken_prefix(tag: &str, so: Option<&[u8]>) -> PathBuf {
    let p = scratch(tag);
    fs::create_dir_all(p.join("bin")).unwrap();
    fs::create_dir_all(p.join("lib/zsh_process")).unwrap();
    fs::copy(repo_root().join("zsh/_process"), p.join("bin/_process")).unwrap();
    fs::set_permissions(p.join("bin/_process"), fs::Permissions::from_mode(0o755)).unwrap();
    if let Some(bytes) = so {
        fs::write(p.join("lib/zsh_process/process.so"), bytes).unwrap();
    }
    p
}

/// Sources the shim of `prefix` and checks the shell survives: (status of source, stdout,
/// stderr).
fn source_from(prefix: &Path) -> Output {
    let env = Env::new("broken");
    let mut c = env.command_with(
        "zsh",
        &["-f", "-c", "source \"$(which _process)\"; print -r -- rc=$?; print -r -- alive; whence -w process-exists; zmodload -e zsh_process/process || print not-loaded"],
    );
    c.env("PATH", format!("{}/bin:/usr/bin:/bin", prefix.display()));
    Env::output_of(c)
}

#[test]
fn a_missing_module_is_one_clear_line_and_a_failed_source() {
    let pre = broken_prefix("nomodule", None);
    let out = source_from(&pre);
    assert_eq!(out.stdout, "rc=1\nalive\nprocess-exists: none\nnot-loaded\n", "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(lines[0].starts_with("_process: ") && lines[0].contains("process.so not found") && lines[0].contains("scripts/install"), "{out:?}");
    let _ = fs::remove_dir_all(pre);
}

#[test]
fn an_unloadable_module_is_one_clear_line_and_a_failed_source() {
    let pre = broken_prefix("badmodule", Some(b"this is not an ELF file"));
    let out = source_from(&pre);
    assert_eq!(out.stdout, "rc=1\nalive\nprocess-exists: none\nnot-loaded\n", "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(lines[0].starts_with("_process: cannot load ") && lines[0].contains("process.so"), "{out:?}");
    assert_eq!(lines[0].matches("scripts/install").count(), 1, "the fix is said once: {out:?}");
    let _ = fs::remove_dir_all(pre);
}

/// The version guard, tested honestly: the module is built against a copy of zsh's headers
/// that claims zsh 5.8, and must refuse to load into this zsh with a clear message.
#[test]
fn a_module_built_for_another_zsh_refuses_to_load() {
    let headers = Path::new("/usr/include/zsh");
    assert!(headers.join("version.h").exists(), "zsh-dev headers missing");
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap().parent().unwrap().join("version-guard");
    let include = target.join("include");
    let zdir = include.join("zsh");
    let version_h = fs::read_to_string(headers.join("version.h")).unwrap();
    let running = version_h.split('"').nth(1).expect("ZSH_VERSION in version.h").to_string();
    let other = if running == "5.8" { "5.7.1" } else { "5.8" };
    let altered = version_h.replace(&format!("\"{running}\""), &format!("\"{other}\""));
    // A fresh copy only when needed: new header mtimes would make cargo rebuild.
    if fs::read_to_string(zdir.join("version.h")).ok().as_deref() != Some(altered.as_str()) {
        let _ = fs::remove_dir_all(&zdir);
        fs::create_dir_all(&include).unwrap();
        let cp = std::process::Command::new("cp").arg("-r").arg(headers).arg(&include).status().unwrap();
        assert!(cp.success());
        fs::write(zdir.join("version.h"), &altered).unwrap();
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = std::process::Command::new(cargo)
        .args(["build", "--lib", "--target-dir"])
        .arg(target.join("build"))
        .current_dir(repo_root())
        .env("ZSH_INCLUDE_DIR", &include)
        .output()
        .expect("cannot run cargo");
    assert!(build.status.success(), "build against the altered headers failed:\n{}", String::from_utf8_lossy(&build.stderr));
    let so = fs::read(target.join("build/debug/libzsh_process.so")).unwrap();

    let pre = broken_prefix("otherzsh", Some(&so));
    let out = source_from(&pre);
    assert_eq!(out.stdout, "rc=1\nalive\nprocess-exists: none\nnot-loaded\n", "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(
        lines[0].starts_with("_process: cannot load ") && lines[0].contains(&format!("built for zsh {other}")) && lines[0].contains(&running),
        "{out:?}"
    );
    assert_eq!(lines[0].matches("scripts/install").count(), 1, "the fix is said once: {out:?}");
    let _ = fs::remove_dir_all(pre);
}
