//! PID files on a real file system: process-write-pid, process-read-pid,
//! process-remove-pid, process-check-pid-file.
mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
    names.sort();
    names
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim().to_string()
}

fn start_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(19).unwrap().parse().unwrap()
}

#[test]
fn write_read_check_remove_on_a_live_then_dead_process() {
    let env = Env::new("cycle");
    let mut p = Proc::sleeper();
    let pid = p.pid();
    let out = env.zsh(&format!(
        "process-write-pid web {pid}; print w=$?
         process-read-pid web; print r=$?
         process-read-pid -v x web; print -r -- \"v=$x ${{(t)x}}\"
         y=$(process-read-pid web); print -r -- sub=$y
         process-check-pid-file web; print c=$?"
    ));
    assert_eq!(out.stdout, format!("w=0\n{pid}\nr=0\nv={pid} scalar\nsub={pid}\nc=0\n"), "{out:?}");
    assert_eq!(out.stderr, "");
    let dir = env.pid_dir();
    // The PID file is one number and a newline; its identity sits beside it; nothing else.
    assert_eq!(fs::read_to_string(dir.join("web.pid")).unwrap(), format!("{pid}\n"));
    assert_eq!(listing(&dir), [".web.id", "web.pid"]);
    assert_eq!(fs::read_to_string(dir.join(".web.id")).unwrap(), identity_record(pid, start_ticks(pid), &boot_id()));
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o7777, 0o700);

    // The process dies: the file is stale; check says so and removes it (and its identity).
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let out = env.zsh(
        "process-read-pid web; print r=$?
         process-check-pid-file web; print c=$?
         process-read-pid web; print r=$?
         x=stale; process-read-pid -v x web; print r=$? \"[$x]\"
         process-check-pid-file web; print c=$?
         process-remove-pid web; print rm=$?",
    );
    assert_eq!(out.stdout, format!("{pid}\nr=0\nc=1\nr=1\nr=1 []\nc=1\nrm=0\n"), "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(listing(&dir), Vec::<String>::new());
}

#[test]
fn write_overwrites_and_remove_removes_both_files() {
    let env = Env::new("overwrite");
    let (a, b) = (Proc::sleeper(), Proc::sleeper());
    let out = env.zsh(&format!(
        "process-write-pid svc {a}; process-write-pid svc {b}; process-read-pid svc
         process-remove-pid svc; print rm=$?; process-remove-pid svc; print rm=$?
         process-read-pid svc; print r=$?",
        a = a.pid(),
        b = b.pid()
    ));
    assert_eq!(out.stdout, format!("{}\nrm=0\nrm=0\nr=1\n", b.pid()), "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(listing(&env.pid_dir()), Vec::<String>::new());
}

#[test]
fn writes_are_atomic_under_concurrent_readers() {
    let env = Env::new("atomic");
    let (a, b) = (Proc::sleeper(), Proc::sleeper());
    let file = env.pid_dir().join("race.pid");
    let valid = [format!("{}\n", a.pid()), format!("{}\n", b.pid())];
    // Create the file first so the reader has something to read from the start.
    assert_eq!(env.zsh(&format!("process-write-pid race {}", a.pid())).status, 0);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (file, valid, done) = (file.clone(), valid.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut reads, mut bad) = (0u64, Vec::new());
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                match fs::read_to_string(&file) {
                    Ok(t) if valid.contains(&t) => reads += 1,
                    Ok(t) => bad.push(t),
                    Err(e) => bad.push(format!("error: {e}")),
                }
            }
            (reads, bad)
        })
    };
    let out = env.zsh(&format!(
        "repeat 300 {{ process-write-pid race {a} || exit 1; process-write-pid race {b} || exit 1 }}; print done",
        a = a.pid(),
        b = b.pid()
    ));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (reads, bad) = reader.join().unwrap();
    assert_eq!(out.stdout, "done\n", "{out:?}");
    assert!(bad.is_empty(), "torn, empty or missing reads: {:?}", &bad[..bad.len().min(5)]);
    assert!(reads > 0);
    // No temporary files left behind.
    assert_eq!(listing(&env.pid_dir()), [".race.id", "race.pid"]);
}

#[test]
fn empty_garbage_and_dead_files_are_stale_and_removed_by_check() {
    let env = Env::new("stale");
    let live = Proc::sleeper();
    let dead = dead_pid();
    let dir = env.pid_dir();
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let files = [
        ("empty", String::new()),
        ("junk", "hello\n".to_string()),
        ("neg", "-5\n".to_string()),
        ("zero", "0\n".to_string()),
        ("huge", "99999999999\n".to_string()),
        ("dead", format!("{dead}\n")),
        // Written by another tool: no identity beside it, so liveness alone decides.
        ("foreign", format!("{}\n", live.pid())),
        ("spaces", format!("  {}  \n", live.pid())),
    ];
    for (name, text) in &files {
        fs::write(dir.join(format!("{name}.pid")), text).unwrap();
    }
    let out = env.zsh(
        "for n in empty junk neg zero huge; do process-read-pid $n; print -n \"r$? \"; done; print
         process-read-pid dead; process-read-pid foreign
         for n in empty junk neg zero huge dead foreign spaces; do process-check-pid-file $n; print -n \"c$? \"; done; print",
    );
    assert_eq!(out.stdout, format!("r1 r1 r1 r1 r1 \n{dead}\n{}\nc1 c1 c1 c1 c1 c1 c0 c0 \n", live.pid()), "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(listing(&dir), ["foreign.pid", "spaces.pid"]);
}

#[test]
fn a_reused_pid_is_not_the_process_the_file_named() {
    let env = Env::new("reuse");
    let p = Proc::sleeper();
    let pid = p.pid();
    assert_eq!(env.zsh(&format!("process-write-pid svc {pid}; process-write-pid other-boot {pid}")).status, 0);
    let dir = env.pid_dir();
    // Same PID, different start time: what a reused PID looks like in the identity file.
    fs::write(dir.join(".svc.id"), identity_record(pid, start_ticks(pid) + 1, &boot_id())).unwrap();
    // An identity recorded in another boot: that process is gone, whoever holds the PID
    // now (after a reboot low PIDs are handed out again at once).
    fs::write(dir.join(".other-boot.id"), identity_record(pid, start_ticks(pid), "00000000-0000-0000-0000-000000000000")).unwrap();
    let out = env.zsh(&format!(
        "process-exists {pid}; print e=$?
         process-check-pid-file svc; print c=$?
         process-check-pid-file other-boot; print c=$?"
    ));
    assert_eq!(out.stdout, "e=0\nc=1\nc=1\n", "{out:?}");
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
}

/// Makes the kernel hand out `pid` again (root only: /proc/sys/kernel/ns_last_pid).
fn respawn_with_pid(pid: u32) -> Option<Proc> {
    for _ in 0..50 {
        if fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1)).is_err() {
            return None;
        }
        let p = Proc::sleeper();
        if p.pid() == pid {
            return Some(p);
        }
    }
    None
}

#[test]
fn a_really_reused_pid_is_detected() {
    let env = Env::new("realreuse");
    let mut first = Proc::sleeper();
    let pid = first.pid();
    assert_eq!(env.zsh(&format!("process-write-pid svc {pid}")).status, 0);
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let Some(second) = respawn_with_pid(pid) else {
        eprintln!("cannot make the kernel reuse PID {pid} (not root?): skipping");
        return;
    };
    assert_eq!(second.pid(), pid);
    let out = env.zsh(&format!(
        "process-exists {pid}; print e=$?
         process-read-pid svc; print r=$?
         process-check-pid-file svc; print c=$?
         process-read-pid svc; print r=$?"
    ));
    assert_eq!(out.stdout, format!("e=0\n{pid}\nr=0\nc=1\nr=1\n"), "{out:?}");
    assert_eq!(listing(&env.pid_dir()), Vec::<String>::new());
    // Written again for the new process, it is running.
    let out = env.zsh(&format!("process-write-pid svc {pid}; process-check-pid-file svc; print c=$?"));
    assert_eq!(out.stdout, "c=0\n", "{out:?}");
}

#[test]
fn never_reads_or_writes_through_a_symlink() {
    let env = Env::new("symlink");
    let dir = env.pid_dir();
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let victim = env.root.join("victim");
    fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("evil.pid")).unwrap();
    let p = Proc::sleeper();

    for cmd in ["process-read-pid", "process-check-pid-file"] {
        let out = env.zsh(&format!("{cmd} evil"));
        assert_eq!(out.status, 1, "{out:?}");
        assert_eq!(out.stdout, "", "{out:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{out:?}");
        assert!(lines[0].starts_with(&format!("{cmd}: ")) && lines[0].contains("symlink"), "{out:?}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    }
    // Writing replaces the link itself with a regular file: the target is untouched.
    let out = env.zsh(&format!("process-write-pid evil {}; print w=$?; process-read-pid evil", p.pid()));
    assert_eq!(out.stdout, format!("w=0\n{}\n", p.pid()), "{out:?}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    let meta = fs::symlink_metadata(dir.join("evil.pid")).unwrap();
    assert!(meta.file_type().is_file());
    // Removing a symlinked PID file removes the link, never its target.
    std::os::unix::fs::symlink(&victim, dir.join("link.pid")).unwrap();
    let out = env.zsh("process-remove-pid link; print rm=$?");
    assert_eq!(out.stdout, "rm=0\n", "{out:?}");
    assert!(fs::symlink_metadata(dir.join("link.pid")).is_err());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn refuses_a_pid_directory_others_can_write_to() {
    let env = Env::new("shared");
    let shared = env.root.join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    let p = Proc::sleeper();
    let out = env.zsh(&format!("PROCESS_PID_DIR={} process-write-pid svc {}", shared.display(), p.pid()));
    assert_eq!(out.status, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(lines[0].starts_with("process-write-pid: ") && lines[0].contains("writable by other users"), "{out:?}");
    assert_eq!(listing(&shared), Vec::<String>::new());
}

#[test]
fn honours_the_users_pid_directory_and_creates_it_0700() {
    let env = Env::new("custom");
    let custom = env.root.join("custom/nested/pids");
    let p = Proc::sleeper();
    let out = env.zsh_env(
        &[("PROCESS_PID_DIR", custom.to_str().unwrap())],
        &format!("process-write-pid svc {}; print -r -- $PROCESS_PID_DIR; _process-get-pid-file svc", p.pid()),
    );
    assert_eq!(out.stdout, format!("{0}\n{0}/svc.pid\n", custom.display()), "{out:?}");
    assert_eq!(fs::read_to_string(custom.join("svc.pid")).unwrap(), format!("{}\n", p.pid()));
    assert_eq!(fs::metadata(&custom).unwrap().permissions().mode() & 0o7777, 0o700);
    assert!(!env.pid_dir().exists());
}

#[test]
fn bad_names_and_pids_are_refused_and_touch_nothing() {
    let env = Env::new("badnames");
    let bad_names = ["a/b", "..", "''", "../escape", "a..b", ".hidden", "/abs", "$'x\\ny'"];
    let mut cases: Vec<(String, &str)> = Vec::new();
    for name in bad_names {
        cases.push((format!("process-write-pid {name} $$"), "process-write-pid"));
        for c in ["process-read-pid", "process-remove-pid", "process-check-pid-file"] {
            cases.push((format!("{c} {name}"), c));
        }
    }
    for args in ["", "svc", "svc abc", "svc -5", "svc 0", "svc ''", "svc 1 2", "--bogus svc 1", "-v x svc 1", "svc 99999999999"] {
        cases.push((format!("process-write-pid {args}"), "process-write-pid"));
    }
    for c in ["process-read-pid", "process-remove-pid", "process-check-pid-file"] {
        for args in ["", "a b", "--bogus svc"] {
            cases.push((format!("{c} {args}"), c));
        }
    }
    cases.push(("process-read-pid -v".into(), "process-read-pid"));
    cases.push(("process-read-pid -v 1x svc".into(), "process-read-pid"));
    cases.push(("process-remove-pid -v x svc".into(), "process-remove-pid"));
    cases.push(("process-check-pid-file -v x svc".into(), "process-check-pid-file"));
    for (line, cmd) in &cases {
        assert_usage_error(&env.zsh(line), cmd, line);
    }
    // Nothing was created anywhere: not the PID directory, nor anything beside it.
    assert!(!env.pid_dir().exists(), "{:?}", listing(&env.pid_dir()));
    assert_eq!(listing(&env.root.join("run")), Vec::<String>::new());
}

#[test]
fn read_pid_assigns_a_local_inside_a_function() {
    let env = Env::new("local");
    let p = Proc::sleeper();
    let out = env.zsh(&format!(
        "process-write-pid svc {}
         f() {{ local pid; process-read-pid -v pid svc; print -r -- ${{(t)pid}} $pid }}
         f; print -r -- ${{+pid}}",
        p.pid()
    ));
    assert_eq!(out.stdout, format!("scalar-local {}\n0\n", p.pid()), "{out:?}");
}

#[test]
fn a_function_exit_trap_releases_the_shells_own_pid_file_at_shell_exit() {
    // zsh runs an EXIT trap set inside a function when the function returns: the spec's
    // single-instance lock would be dropped while the shell still holds it.
    let env = Env::new("trap-defer");
    let p = Proc::sleeper();
    let out = env.zsh(&format!(
        "lock() {{ process-write-pid mine $$; process-write-pid other {pid}
                  trap 'process-remove-pid mine; process-remove-pid other' EXIT }}
         lock
         [[ -e $PROCESS_PID_DIR/mine.pid ]] && print mine-held
         [[ -e $PROCESS_PID_DIR/other.pid ]] || print other-removed
         process-remove-pid mine; [[ -e $PROCESS_PID_DIR/mine.pid ]] || print direct-removes",
        pid = p.pid()
    ));
    assert_eq!(out.stdout, "mine-held\nother-removed\ndirect-removes\n", "{out:?}");
    let out = env.zsh("f() { process-write-pid mine $$; trap 'process-remove-pid mine' EXIT }; f; print $$");
    assert_eq!(out.status, 0, "{out:?}");
    assert!(!env.pid_dir().join("mine.pid").exists(), "released when the shell exited");
}
