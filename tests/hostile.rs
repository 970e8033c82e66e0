//! A hostile local user and a hostile environment: signal storms while builtins run, files
//! and directories planted by another user, FIFOs where the library expects files, and
//! concurrent shells racing for the same names. The promises under test: the shell is
//! never taken down or frozen beyond Ctrl-C, the wrong process is never signalled,
//! nothing is lost, and every refusal is one line naming the command.
mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A loop of mixed builtins with a USR1 trap that allocates and calls a builtin itself,
/// while another process sends USR1 every millisecond.
/// The storm begins once GO exists: after the trap is in place (USR1's default action
/// would end the shell).
const STORM_SCRIPT: &str = r#"
typeset -gi traps=0
TRAPUSR1() { local x=${(l:40::y:)traps}; (( traps++ )); process-exists $$ }
print -r -- $$ > GO.ready
while [[ ! -e GO ]]; do :; done
integer i calls=0
for (( i = 0; i < ROUNDS; i++ )); do
  process-exists $sp; process-get-memory -v m $sp; process-get-cpu -v c $sp
  process-read-pid -v p nothing; process-get-command -v n $sp
  process-exists 99999999 2>/dev/null; process-check-pid-file nothing
  process-signal $sp CONT; process-get-children -v k $$; process-write-pid storm $sp
  (( calls += 10 ))
  (( i % 100 )) || { process-get-info -v q $$; process-find-all-by-name -v a sleep; (( calls += 2 )) }
done
print -r -- "survived calls=$calls traps=$traps"
"#;

/// Sends `sig` to `pid` every `every` until dropped.
struct Storm {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Storm {
    fn start(pid: u32, sig: i32, every: Duration) -> Storm {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut sent = 0;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: kill(2) to the test's own child.
                if unsafe { libc::kill(pid as i32, sig) } != 0 {
                    break;
                }
                sent += 1;
                std::thread::sleep(every);
            }
            sent
        });
        Storm { stop, thread: Some(thread) }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_script_survives_100000_builtin_calls_under_a_trap_storm() {
    let env = Env::new("storm");
    let dir = scratch("storm");
    let target = Proc::sleeper();
    // The shell waits for the storm to start, so every call runs under it.
    let go = dir.join("go");
    let script = format!("sp={}\n{}", target.pid(), STORM_SCRIPT.replace("ROUNDS", "10000").replace("GO", go.to_str().unwrap()));
    let mut bg = Bg::zsh(&env, &dir, "storm", &script);
    assert!(wait_for(Duration::from_secs(10), || dir.join("go.ready").exists()), "the shell never got ready: {}", bg.stderr());
    let storm = Storm::start(bg.pid(), libc::SIGUSR1, Duration::from_millis(1));
    fs::write(dir.join("go"), "").unwrap();
    let status = bg.wait_timeout(Duration::from_secs(300));
    let sent = storm.finish();
    let out = bg.stdout();
    assert_eq!(status, Some(0), "stdout {out} stderr {}", bg.stderr());
    assert!(out.contains("survived calls=100200 "), "{out}");
    let traps: u64 = out.trim().rsplit("traps=").next().unwrap().parse().unwrap();
    assert!(traps > 100 && sent > 100, "{traps} traps ran of {sent} sent: the storm did not reach the loop");
    assert!(!bg.stderr().contains("internal error"), "{}", bg.stderr());
    assert_eq!(bg.stderr(), "");
}

/// The same in a real interactive zsh on a terminal, which is where a prompt framework's
/// TRAPWINCH or a user's TRAPUSR1 lives.
#[test]
fn an_interactive_shell_on_a_terminal_survives_a_trap_storm() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("no script(1): skipping the pty case");
        return;
    }
    let env = Env::new("storm-pty");
    let dir = scratch("storm-pty");
    let target = Proc::sleeper();
    let pidfile = dir.join("shell.pid");
    let go = dir.join("go");
    let body = dir.join("storm.zsh");
    fs::write(&body, STORM_SCRIPT.replace("ROUNDS", "2000").replace("GO", go.to_str().unwrap())).unwrap();
    let typed = format!(
        "source \"$(which _process)\" && print LOADED$((40+2))\n\
         print $$ > {pidfile}; sp={sp}\n\
         source {body}\n\
         print ALIVE$((40+2))\n\
         exit\n",
        pidfile = pidfile.display(),
        body = body.display(),
        sp = target.pid(),
    );
    let mut c = env.command_with("timeout", &["120", "script", "-qec", "zsh -i", "/dev/null"]);
    c.env("TERM", "dumb").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(typed.as_bytes()).unwrap();
    }
    let ready = dir.join("go.ready");
    assert!(wait_for(Duration::from_secs(20), || read_text(&pidfile).trim().parse::<u32>().is_ok() && ready.exists()), "the shell never started");
    let shell: u32 = read_text(&pidfile).trim().parse().unwrap();
    let storm = Storm::start(shell, libc::SIGUSR1, Duration::from_millis(1));
    fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let sent = storm.finish();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("survived calls=20040 "), "sent {sent}: {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("ALIVE42"), "the shell must still answer: {text}");
    assert!(!text.contains("internal error"), "{text}");
}

/// A trap that calls builtins while another builtin waits (the first CPU sample, a stop's
/// wait): every call works, none reports an internal error.
#[test]
fn builtins_called_from_a_trap_during_a_wait_work() {
    let env = Env::new("reentry");
    let busy = Proc::busy();
    let slow = start_script("term-handler.zsh", &scratch("reentry-slow"), "slow", &["50"]);
    let out = env.zsh(&format!(
        "typeset -ga seen
         TRAPUSR1() {{ process-get-cpu -v c {busy}; seen+=(cpu=$? ); process-write-pid t {busy}; seen+=(w=$?); process-check-pid-file t; seen+=(k=$?) }}
         ( sleep 0.05; kill -USR1 $$; sleep 0.2; kill -USR1 $$ ) &
         process-get-cpu -v first {busy}; print -r -- outer=$?
         process-stop {slow} --timeout 5; print -r -- stop=$?
         print -r -- ${{seen[@]}}",
        busy = busy.pid(),
        slow = slow.pid()
    ));
    assert!(out.stdout.starts_with("outer=0\nstop=0\n"), "{out:?}");
    assert_eq!(out.stdout.lines().last(), Some("cpu=0 w=0 k=0 cpu=0 w=0 k=0"), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

// ---- files planted by another user ------------------------------------------------------

/// `script` run by `nobody` (uid 65534), when the tests run as root.
fn as_nobody(env: &Env, script: &str) -> Option<Output> {
    if !running_as_root() || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("not root or no setpriv: skipping the second-user case");
        return None;
    }
    let c = env.command_with("setpriv", &["--reuid=65534", "--regid=65534", "--clear-groups", "zsh", "-f", "-c", script]);
    Some(Env::output_of(c))
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory the test root owns, writable by everyone, under a root-owned scratch dir.
fn world_writable(env: &Env, name: &str, mode: u32) -> std::path::PathBuf {
    chmod(&env.root, 0o755);
    let d = env.root.join(name);
    fs::create_dir_all(&d).unwrap();
    chmod(&d, mode);
    d
}

/// Asserts that `out` is a refusal: status 1, one line naming `cmd` and containing `why`.
fn assert_refused(out: &Output, cmd: &str, why: &str) {
    assert_one_error(out, 1, cmd, why);
    assert!(out.stderr.contains(why), "expected '{why}': {out:?}");
}

#[test]
fn a_pid_file_planted_by_another_user_is_never_acted_on() {
    let env = Env::new("planted");
    let sentinel = Proc::sleeper();
    let cases = [("0777 directory", 0o777, "writable by other users"), ("1777 directory", 0o1777, "writable by other users")];
    for (what, mode, why) in cases {
        let dir = world_writable(&env, &format!("pids-{mode:o}"), mode);
        let plant = format!(
            "print {pid} > {d}/daemon.pid; print 'pid={pid}' 'start={start}' boot=$(</proc/sys/kernel/random/boot_id) > {d}/.daemon.id",
            pid = sentinel.pid(),
            start = stat_field(sentinel.pid(), 22).unwrap(),
            d = dir.display()
        );
        let Some(planted) = as_nobody(&env, &plant) else { return };
        assert_eq!(planted.status, 0, "{planted:?}");
        for cmd in ["process-stop daemon --timeout 0.2 --force", "process-signal daemon KILL", "process-check-pid-file daemon"] {
            let out = env.zsh(&format!("PROCESS_PID_DIR={} {cmd}", dir.display()));
            assert_refused(&out, cmd.split(' ').next().unwrap(), why);
            assert!(is_alive(sentinel.pid()), "{what}: {cmd} signalled the sentinel");
        }
    }
    // A directory that belongs to the other user, however tight its mode.
    let theirs = world_writable(&env, "theirs", 0o1777);
    let Some(made) = as_nobody(&env, &format!("mkdir -m 700 {0}/pids && print {1} > {0}/pids/daemon.pid", theirs.display(), sentinel.pid())) else { return };
    assert_eq!(made.status, 0, "{made:?}");
    let out = env.zsh(&format!("PROCESS_PID_DIR={}/pids process-stop daemon --force", theirs.display()));
    assert_refused(&out, "process-stop", "owned by uid 65534");
    assert!(is_alive(sentinel.pid()));
}

#[test]
fn a_registry_entry_planted_by_another_user_is_never_acted_on() {
    let env = Env::new("planted-state");
    let sentinel = Proc::sleeper();
    let service = Proc::sleeper();
    let state = world_writable(&env, "state", 0o777);
    let plant = format!(
        "mkdir -p {s}/registry && print -l pid={svc} start={ss} supervisor_pid={sent} supervisor_start={st} > {s}/registry/web",
        s = state.display(),
        svc = service.pid(),
        ss = stat_field(service.pid(), 22).unwrap(),
        sent = sentinel.pid(),
        st = stat_field(sentinel.pid(), 22).unwrap()
    );
    let Some(planted) = as_nobody(&env, &plant) else { return };
    assert_eq!(planted.status, 0, "{planted:?}");
    let out = env.zsh(&format!(
        "PROCESS_STATE_DIR={s}; process-write-pid web {svc}; process-stop web --timeout 1 --force; print st=$?",
        s = state.display(),
        svc = service.pid()
    ));
    assert!(is_alive(sentinel.pid()), "the planted supervisor was signalled: {out:?}");
    assert!(out.stderr.lines().all(|l| l.starts_with("process-stop: refusing ")), "{out:?}");
    assert!(out.stderr.contains("writable by other users"), "{out:?}");
}

#[test]
fn another_users_symlink_for_the_pid_directory_is_not_followed() {
    let env = Env::new("symlink");
    let shared = world_writable(&env, "shared", 0o1777);
    let target = env.root.join("roots");
    fs::create_dir_all(&target).unwrap();
    chmod(&target, 0o755);
    fs::write(target.join("daemon.pid"), "1\n").unwrap();
    let Some(made) = as_nobody(&env, &format!("ln -s {} {}/pids", target.display(), shared.display())) else { return };
    assert_eq!(made.status, 0, "{made:?}");
    let me = Proc::sleeper();
    let out = env.zsh(&format!("PROCESS_PID_DIR={}/pids process-write-pid daemon {}", shared.display(), me.pid()));
    assert_refused(&out, "process-write-pid", "a symlink owned by uid 65534");
    assert_eq!(read_text(target.join("daemon.pid")), "1\n", "written through the other user's symlink");
    // The user's own symlink to their own directory is fine.
    std::os::unix::fs::symlink(&target, env.root.join("mine")).unwrap();
    let out = env.zsh(&format!("PROCESS_PID_DIR={}/mine process-write-pid daemon {}", env.root.display(), me.pid()));
    assert_eq!(out.status, 0, "{out:?}");
}

#[test]
fn the_defaults_without_runtime_or_home_are_private_to_the_user() {
    let env = Env::new("defaults");
    let show = "source \"$(which _process)\" || exit 99; print -r -- $PROCESS_PID_DIR; print -r -- $PROCESS_STATE_DIR";
    let mut c = env.command(&["-f", "-c", show]);
    c.env_remove("XDG_RUNTIME_DIR").env_remove("XDG_STATE_HOME").env_remove("HOME");
    let out = Env::output_of(c);
    assert_eq!(out.status, 0, "{out:?}");
    let tmp = std::env::temp_dir();
    for line in out.stdout.lines() {
        assert!(!line.starts_with(tmp.to_str().unwrap()) && !line.starts_with("/tmp"), "a shared default: {out:?}");
    }
    // Without the runtime directory, the user's own home (from the user database).
    let home = fs::read_to_string("/etc/passwd").unwrap().lines().find(|l| l.starts_with("root:")).map(|l| l.split(':').nth(5).unwrap().to_string());
    if running_as_root() && !Path::new("/run/user/0").exists() {
        assert_eq!(out.stdout, format!("{0}/.local/state/process/run\n{0}/.local/state/process\n", home.unwrap()), "{out:?}");
    }
}

#[test]
fn a_group_writable_directory_is_fine_for_a_private_group_only() {
    let env = Env::new("umask");
    // The spec's Example 1 under umask 002: mkdir -p makes the PID directory 0775.
    let p = Proc::sleeper();
    let out = env.zsh(&format!(
        "umask 002; mkdir -p \"$(dirname $(_process-get-pid-file myapp))\"; ls -ld $PROCESS_PID_DIR | cut -c1-10
         process-write-pid myapp {pid}; print w=$?; process-check-pid-file myapp; print c=$?; process-stop myapp --timeout 1; print s=$?",
        pid = p.pid()
    ));
    assert_eq!(out.stdout, "drwxrwxr-x\nw=0\nc=0\ns=0\n", "{out:?}");
    assert_eq!(out.stderr, "");
    if !running_as_root() {
        return;
    }
    // A group with other members (here: no such group at all) makes it unsafe.
    let shared = env.root.join("shared-group");
    fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::chown(&shared, Some(0), Some(54321)).unwrap();
    chmod(&shared, 0o770);
    let out = env.zsh(&format!("PROCESS_PID_DIR={} process-write-pid x {}", shared.display(), p.pid()));
    assert_refused(&out, "process-write-pid", "writable by group 54321");
    // The private group's write bit is also an access control list's mask: an entry that
    // lets another user write (which the mode bits do not show) makes it unsafe on read as
    // on write; one that lets them read only does not.
    let pid_dir = env.root.join("acl-pids");
    fs::create_dir_all(&pid_dir).unwrap();
    chmod(&pid_dir, 0o775);
    let use_dir = |d: &Path| env.zsh(&format!("PROCESS_PID_DIR={d} process-write-pid a {pid}; print w=$?; PROCESS_PID_DIR={d} process-read-pid a; print r=$?", d = d.display(), pid = p.pid()));
    if !set_access_acl(&pid_dir, &[(65534, 5)], 5) {
        eprintln!("no ACLs on this file system: skipping the ACL case");
        return;
    }
    let out = use_dir(&pid_dir);
    assert_eq!(out.stdout, format!("w=0\n{}\nr=0\n", p.pid()), "{out:?}");
    assert!(set_access_acl(&pid_dir, &[(65534, 7)], 7));
    let out = use_dir(&pid_dir);
    assert_eq!(out.stdout, "w=1\nr=1\n", "{out:?}");
    let why = "writable by uid 65534 through its access control list";
    assert!(out.stderr.lines().count() == 2 && out.stderr.lines().all(|l| l.contains("refusing") && l.contains(why)), "{out:?}");
    // A long list (600 users who may read, more than one 4 KiB read of it holds) under a
    // mask that allows write is read whole, and nobody in it may write: fine. (On tmpfs:
    // ext4 keeps no list that long.)
    let pid_dir = Path::new("/dev/shm").join(format!("zsh-process-test-acl-{}", std::process::id()));
    fs::create_dir_all(&pid_dir).unwrap();
    chmod(&pid_dir, 0o775);
    let readers: Vec<(u32, u16)> = (1000..1600).map(|uid| (uid, 5)).collect();
    if set_access_acl(&pid_dir, &readers, 7) {
        let out = use_dir(&pid_dir);
        fs::remove_dir_all(&pid_dir).unwrap();
        assert_eq!(out.stdout, format!("w=0\n{}\nr=0\n", p.pid()), "{out:?}");
    } else {
        fs::remove_dir_all(&pid_dir).unwrap();
        eprintln!("this file system keeps no ACL that long: skipping that case");
    }
}

/// Gives `path` an access control list: rwx for its owner, r-x for its group and others,
/// each `(uid, perm)` of `named` for that user, and `mask` (the mode's group bits; what
/// `setfacl -m` computes is the union of the group and named entries). False when its
/// file system keeps no such list.
fn set_access_acl(path: &Path, named: &[(u32, u16)], mask: u16) -> bool {
    const ANY: u32 = u32::MAX;
    let entries: Vec<(u16, u16, u32)> = std::iter::once((0x01, 7, ANY))
        .chain(named.iter().map(|&(uid, perm)| (0x02, perm, uid)))
        .chain([(0x04, 5, ANY), (0x10, mask, ANY), (0x20, 5, ANY)])
        .collect();
    let blob: String = 2u32
        .to_le_bytes()
        .into_iter()
        .chain(entries.iter().flat_map(|&(tag, perm, id)| [&tag.to_le_bytes()[..], &perm.to_le_bytes(), &id.to_le_bytes()].concat()))
        .map(|b| format!("{b:02x}"))
        .collect();
    std::process::Command::new(python3())
        .args(["-c", "import os,sys; os.setxattr(sys.argv[1], 'system.posix_acl_access', bytes.fromhex(sys.argv[2]))"])
        .arg(path)
        .arg(blob)
        .status()
        .unwrap()
        .success()
}

// ---- FIFOs where files belong --------------------------------------------------------------

fn mkfifo(p: &Path) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(p).status().unwrap().success());
}

/// Runs `script` and asserts it returns quickly (a FIFO opened for reading or writing
/// would block forever) with a one-line refusal naming `cmd`.
fn assert_fifo_refused(env: &Env, script: &str, cmd: &str) {
    let t = Instant::now();
    let mut c = env.command_with("timeout", &["10", "zsh", "-f", "-c", &format!("source \"$(which _process)\" || exit 99\n{script}")]);
    c.stdin(std::process::Stdio::null());
    let out = Env::output_of(c);
    assert!(t.elapsed() < Duration::from_secs(5), "{script}: hung ({out:?})");
    assert_ne!(out.status, 124, "{script}: hung ({out:?})");
    assert!(out.stderr.lines().any(|l| l.starts_with(&format!("{cmd}: refusing ")) && l.contains("FIFO")), "{script}: {out:?}");
}

#[test]
fn fifos_in_the_librarys_places_are_refused_not_waited_on() {
    let env = Env::new("fifos");
    let state = env.state_dir();
    mkfifo(&state.join("registry/web"));
    let p = Proc::sleeper();
    let run = |s: &str| env.zsh(s);
    assert_eq!(run(&format!("process-write-pid web {}", p.pid())).status, 0);
    assert_fifo_refused(&env, "process-stop web --timeout 0.5", "process-stop");
    // (Stop tidies the registry of the name it stopped: plant it again.)
    let _ = fs::remove_file(state.join("registry/web"));
    mkfifo(&state.join("registry/web"));
    assert_fifo_refused(&env, "process-list", "process-list");
    assert_fifo_refused(&env, "process-cleanup", "process-cleanup");
    assert!(state.join("registry/web").exists(), "cleanup leaves a file it refused alone");
    mkfifo(&state.join("groups/g"));
    assert_fifo_refused(&env, "process-group-list g", "process-group-list");
    assert_fifo_refused(&env, "process-group-stop g", "process-group-stop");
    // A prompt that shows the groups must neither hang nor fail.
    let t = Instant::now();
    let out = run("print -r -- \"[${_PROCESS_GROUPS[g]}] [${(k)_PROCESS_GROUPS}]\"");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(out.stdout, "[] [g]\n", "{out:?}");
    mkfifo(&state.join("logs/svc.log"));
    assert_fifo_refused(&env, "process-start svc 'sleep 30'", "process-start");
    mkfifo(&env.pid_dir().join("pidfifo.pid"));
    assert_fifo_refused(&env, "process-read-pid pidfifo", "process-read-pid");
    assert_fifo_refused(&env, "process-check-pid-file pidfifo", "process-check-pid-file");
    let csv = env.root.join("out.csv");
    mkfifo(&csv);
    let watched = Proc::sleeper();
    assert_fifo_refused(&env, &format!("process-monitor {} --count 1 --interval 0.1 --csv {}", watched.pid(), csv.display()), "process-monitor");
}

// ---- races between shells -------------------------------------------------------------------

/// Runs `script` in `n` shells at once; their outputs in order.
fn concurrently(env: &Env, n: usize, script: &str) -> Vec<Output> {
    let go = env.root.join("go");
    let dir = scratch("concurrent");
    let mut shells: Vec<Bg> = (0..n)
        .map(|i| Bg::zsh(env, &dir, &format!("s{i}"), &format!("N={i}\nwhile [[ ! -e {} ]]; do :; done\n{script}", go.display())))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    fs::write(&go, "").unwrap();
    let outs = shells
        .iter_mut()
        .map(|b| {
            let status = b.wait_timeout(Duration::from_secs(60)).unwrap_or(-1);
            Output { status, stdout: b.stdout(), stderr: b.stderr() }
        })
        .collect();
    let _ = fs::remove_file(&go);
    outs
}

#[test]
fn ten_concurrent_starts_of_one_name_start_one_service() {
    let env = Env::new("dup");
    let mark = marker(300);
    let _sweep = Sweep::new(&[&mark]);
    let outs = concurrently(&env, 10, &format!("process-start dup 'sleep {mark}'; print st=$?"));
    let started: Vec<&Output> = outs.iter().filter(|o| o.stdout.ends_with("st=0\n")).collect();
    assert_eq!(started.len(), 1, "{outs:#?}");
    for o in outs.iter().filter(|o| !o.stdout.ends_with("st=0\n")) {
        assert_eq!(o.stdout, "st=1\n", "{o:?}");
        assert!(o.stderr.starts_with("process-start: dup is already running (PID "), "{o:?}");
    }
    assert_eq!(pids_with_arg(&mark).len(), 1, "instances running");
    let out = env.zsh("process-stop dup --timeout 2 --force");
    assert_eq!(out.status, 0, "{out:?}");
}

/// Groups whose only member dies are removed by process-cleanup while other shells add
/// services to them: every add survives (the group is re-made, or the service kept).
#[test]
fn no_group_add_is_lost_while_cleanup_removes_the_group() {
    let env = Env::new("group-race");
    let ready = env.root.join("ready");
    let outs = concurrently(
        &env,
        6,
        &format!(
            "if (( N == 0 )); then
               for i in {{1..40}}; do sleep 0.2 & process-group-add g$i $!; done
               : > {ready}
               repeat 60 process-cleanup 2>/dev/null
               wait
               repeat 5 process-cleanup 2>/dev/null
             else
               while [[ ! -e {ready} ]]; do :; done
               for i in {{1..40}}; do process-group-add g$i s$N || print failed; sleep 0.01; done
             fi
             print done",
            ready = ready.display()
        ),
    );
    for o in &outs {
        assert_eq!(o.stdout, "done\n", "{o:?}");
    }
    let out = env.zsh("for i in {1..40}; do print -r -- ${_PROCESS_GROUPS[g$i]}; done");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 40, "{out:?}");
    for (i, l) in lines.iter().enumerate() {
        let services = l.split(' ').filter(|m| m.starts_with('s')).count();
        assert_eq!(services, 5, "group g{}: adds were lost: {l:?}", i + 1);
    }
}

#[test]
fn a_pid_file_and_its_identity_always_name_the_same_process() {
    let env = Env::new("id-race");
    let a = Proc::sleeper();
    let b = Proc::sleeper();
    assert_eq!(env.zsh(&format!("process-write-pid svc {}", a.pid())).status, 0);
    let outs = concurrently(
        &env,
        8,
        &format!(
            "for i in {{1..60}}; do
               if (( N % 2 )); then process-write-pid svc $(( i % 2 ? {a} : {b} )); else process-check-pid-file svc || print stale-$i; fi
             done; print done",
            a = a.pid(),
            b = b.pid()
        ),
    );
    for o in &outs {
        // Both PIDs live: a reader that found one's PID with the other's identity would
        // call the file stale (and remove it).
        assert_eq!(o.stdout, "done\n", "{o:?}");
        assert_eq!(o.stderr, "", "{o:?}");
    }
    let pid: u32 = read_text(env.pid_dir().join("svc.pid")).trim().parse().unwrap();
    let (id_pid, start, _) = parse_identity_record(&read_text(env.pid_dir().join(".svc.id"))).unwrap();
    assert_eq!(id_pid, pid, "the identity names another PID than the PID file");
    assert_eq!(Some(start.to_string()), stat_field(pid, 22));
}

// ---- found by the hostile review of the safety work --------------------------------------

/// `process-supervise` run in the foreground of a shell records that shell as the
/// supervisor. Stopping or restarting the service from another shell must end
/// supervision without one signal to that shell, whose other jobs live on.
#[test]
fn stopping_a_service_supervised_in_a_shells_foreground_leaves_that_shell_alone() {
    let case = Case::new("fg-supervise");
    let mark = &case.marker;
    let mut shell = case.bg(
        "sup",
        &format!("sleep {mark} & job=$!\nprint job=$job > {d}/job\nprocess-supervise sup1 'sleep {mark}'; print done=$?\nsleep 0.3; kill -0 $job && print job-alive", d = case.dir.display()),
    );
    // Up, and its registry entry (with the command a restart needs) written.
    assert!(wait_for(Duration::from_secs(5), || case.zsh("process-status sup1").status == 0), "never supervised");
    let out = case.zsh("process-restart sup1 --timeout 1 --delay 0; print st=$?");
    assert!(out.stdout.ends_with("st=0\n"), "{out:?}");
    let restarted: u32 = out.stdout.lines().next().unwrap().parse().unwrap();
    case.track(restarted);
    assert_eq!(shell.wait_timeout(Duration::from_secs(10)), Some(0), "the supervising shell: {} {}", shell.stdout(), shell.stderr());
    assert_eq!(shell.stdout(), "done=0\njob-alive\n", "supervision ended normally and the shell's job lives: {}", shell.stderr());
    let job: u32 = read_text(case.dir.join("job")).trim().strip_prefix("job=").unwrap().parse().unwrap();
    assert!(is_alive(job), "the shell's own job was killed");
    // Restarted unsupervised, as process-restart does; and stop works the same way.
    assert_eq!(case.zsh("process-stop sup1").status, 0);
    send_signal(job, libc::SIGKILL);
}


/// Shells starting, stopping and restarting one name at once: never more than one
/// instance, and never one that runs untracked.
#[test]
fn concurrent_starts_stops_and_restarts_never_leave_an_untracked_copy() {
    let env = Env::new("race-start-stop");
    let mark = marker(300);
    let _sweep = Sweep::new(&[&mark]);
    let script = format!(
        "repeat 25 {{
           case $(( N % 3 )) in
             0) process-start --wait 0 svc 'sleep {mark}' ;;
             1) process-stop svc --timeout 2 --force ;;
             2) process-restart svc 'sleep {mark}' --timeout 2 --delay 0 --wait 0 ;;
           esac
         }} >/dev/null 2>&1; print done"
    );
    let outs = concurrently(&env, 6, &script);
    assert!(outs.iter().all(|o| o.stdout == "done\n"), "{outs:#?}");
    let running = pids_with_arg(&mark);
    assert!(running.len() <= 1, "copies running: {running:?}");
    if let [pid] = running[..] {
        let tracked = env.zsh("process-read-pid svc").stdout;
        assert_eq!(tracked.trim(), pid.to_string(), "the one running is the one tracked");
    }
    env.zsh("process-stop svc --timeout 2 --force");
}

/// A member added by another shell while process-group-stop works stays in the group.
#[test]
fn a_member_added_during_a_group_stop_is_kept() {
    let case = Case::new("gstop-add");
    let stubborn = case.fixture("term-ignore.zsh", "stubborn", &[]);
    let out = case.zsh(&format!("process-group-add app {}", stubborn.pid()));
    assert_eq!(out.status, 0, "{out:?}");
    let mut stop = case.bg("stop", "process-group-stop app --timeout 1.5; print st=$?");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(case.zsh("process-group-add app latecomer").status, 0);
    assert_eq!(stop.wait_timeout(Duration::from_secs(10)), Some(0));
    assert!(stop.stdout().ends_with("st=1\n"), "the stubborn member did not stop: {}", stop.stdout());
    let members = case.zsh("print -r -- ${_PROCESS_GROUPS[app]}").stdout;
    assert!(members.contains("latecomer") && members.contains(&stubborn.pid().to_string()), "{members:?}");
}

/// A PID file written for a PID that is no live process reads as stale from the start:
/// whatever process is later handed that PID is never taken for the service.
#[test]
fn a_pid_file_written_for_a_dead_pid_is_never_taken_for_whoever_gets_that_pid() {
    let env = Env::new("dead-pid-file");
    let dead = dead_pid();
    let out = env.zsh(&format!("process-write-pid web {dead}; print w=$?; process-check-pid-file web; print c=$?"));
    assert_eq!(out.stdout, "w=0\nc=1\n", "{out:?}");
    // The same for a zombie, which a PID reuse would turn into another process.
    let z = Proc::zombie();
    let out = env.zsh(&format!("process-write-pid z {}; process-check-pid-file z; print c=$?", z.pid()));
    assert_eq!(out.stdout, "c=1\n", "{out:?}");
}

/// A monitor writing CSV to a reader that stalls, and a supervisor whose stderr is full,
/// still end on TERM at once (their stop signals are blocked for their waits).
#[test]
fn a_stalled_output_does_not_keep_a_monitor_from_stopping() {
    let case = Case::new("stalled-csv");
    let fifo = case.dir.join("fifo");
    mkfifo(&fifo);
    // A reader that opens the FIFO and never reads.
    let _reader = Proc::spawn(python3(), &["-c", &format!("import time; f = open({:?}); time.sleep(60)", fifo.display().to_string())]);
    // 20 targets at 1 ms: the pipe's 64 KiB fill within a fraction of a second.
    let sleepers: Vec<Proc> = (0..20).map(|_| Proc::sleeper()).collect();
    let pids: Vec<String> = sleepers.iter().map(|p| p.pid().to_string()).collect();
    let mut mon = case.bg("mon", &format!("process-monitor {} --interval 0.001 --csv - > {}", pids.join(" "), fifo.display()));
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    send_signal(mon.pid(), libc::SIGTERM);
    assert_eq!(mon.wait_timeout(Duration::from_secs(5)), Some(143), "TERM did not end a monitor stalled on its output");
    eprintln!("monitor stalled on its CSV ended {} ms after TERM", t.elapsed().as_millis());
}


/// A second TERM to a supervisor that is stopping a service which ignores TERM: KILL now,
/// instead of the rest of a long --timeout.
#[test]
fn a_second_stop_signal_ends_a_supervisors_stop_wait_at_once() {
    let case = Case::new("second-term");
    let mark = &case.marker;
    let mut sup = case.bg("sup", &format!("process-supervise stubborn 'trap \"\" TERM; sleep {mark}; :' --timeout 60; print st=$?"));
    assert!(wait_for(Duration::from_secs(5), || !pids_with_arg(mark).is_empty()), "never started");
    std::thread::sleep(Duration::from_millis(200));
    send_signal(sup.pid(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    send_signal(sup.pid(), libc::SIGTERM);
    assert_eq!(sup.wait_timeout(Duration::from_secs(10)), Some(0), "{} {}", sup.stdout(), sup.stderr());
    assert!(t.elapsed() < Duration::from_secs(6), "waited {:?} after the second TERM", t.elapsed());
    assert!(wait_for(Duration::from_secs(2), || pids_with_arg(mark).is_empty()), "the service survived");
}

/// `zmodload -u` from a trap while one of the module's builtins waits is refused: the
/// shell survives and the builtin finishes.
#[test]
fn unloading_the_module_from_a_trap_during_a_wait_is_refused() {
    let env = Env::new("unload-trap");
    let out = env.zsh(
        "TRAPUSR1() { zmodload -u zsh_process/process; print unload=$? }
         sh -c 'trap \"\" TERM; exec sleep 5' & v=$!
         sleep 0.2
         ( sleep 0.3; kill -USR1 $$ ) &
         process-stop $v --timeout 1 --force; print stop=$?
         zmodload -u zsh_process/process; print later=$?",
    );
    assert_eq!(out.status, 0, "the shell died: {out:?}");
    assert_eq!(out.stdout, "unload=1\nstop=0\nlater=0\n", "{out:?}");
    assert!(out.stderr.contains("zmodload: zsh_process/process is in use"), "{out:?}");
}

/// An event handler that leaves a background job holds no lock of the library's: the
/// next start of the same name does not wait for that job.
#[test]
fn a_handlers_background_job_holds_no_start_lock() {
    let case = Case::new("handler-lock");
    let out = case.zsh(&format!(
        "zmodload zsh/datetime
         h() {{ {{ sleep 20; : }} &! }}
         process_start_functions+=(h)
         process-start one '{s}' >/dev/null; process-stop one
         t=$EPOCHREALTIME; process-start one '{s}' >/dev/null; print st=$? s=$(( EPOCHREALTIME - t ))
         process-stop one",
        s = case.sleep()
    ));
    let secs: f64 = out.stdout.trim().split("s=").nth(1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{out:?}"));
    assert!(out.stdout.starts_with("st=0"), "{out:?}");
    assert!(secs < 5.0, "the second start waited {secs} s for a handler's job");
}

/// Names become file names and arguments: one that starts with '-' is refused.
#[test]
fn a_name_that_starts_with_a_dash_is_refused() {
    let env = Env::new("dash-name");
    let out = env.zsh("process-start -- -x 'sleep 1'; print st=$?; process-group-add -- -g $$; print g=$?");
    assert_eq!(out.stdout, "st=2\ng=2\n", "{out:?}");
    assert!(out.stderr.contains("starts with '-'"), "{out:?}");
}

/// Ctrl-C ends every wait even when an INT trap takes it (zsh then runs the trap and sets
/// no error flag): the trap runs, and the builtin returns 130 at once.
#[test]
fn a_ctrl_c_taken_by_an_int_trap_still_ends_every_wait() {
    let case = Case::new("int-trap");
    let waits = [
        "process-wait web --timeout 20",
        "process-logs web -f",
        &format!("process-status web --prom {}/m.prom --every 5", case.env.root.display()),
        "process-stop stubborn --timeout 20",
    ];
    let out = case.zsh(&format!(
        "zmodload zsh/datetime
         process-start web '{s}' >/dev/null; process-start stubborn 'trap \"\" TERM; {s}' >/dev/null
         sleep 0.3
         trap 'print -u2 trapped' INT
         for w in {waits}; do
           ( sleep 0.3; kill -INT $$ ) &
           t=$EPOCHREALTIME; eval $w >/dev/null; print -r -- \"$w: $? $(( EPOCHREALTIME - t < 3 ))\"
         done
         trap - INT; process-stop stubborn --force --timeout 1; process-stop web",
        s = case.sleep(),
        waits = waits.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ")
    ));
    let expected: String = waits.iter().map(|w| format!("{w}: 130 1\n")).collect();
    assert_eq!(out.stdout, expected, "{out:?}");
    assert_eq!(out.stderr, "trapped\n".repeat(waits.len()), "{out:?}");
}

/// The shim loads no module another user could have put in place (its code would run
/// as the user): one in a directory of theirs, or writable by everyone, or reached
/// through their symlink, is refused with one line; the user's own loads.
#[test]
fn a_module_another_user_could_have_placed_is_not_loaded() {
    let env = Env::new("module-trust");
    let root = scratch("module-trust");
    chmod(&root, 0o755);
    let so = prefix().join("lib/zsh_process/process.so");
    let place = |name: &str| -> std::path::PathBuf {
        let lib = root.join(name).join("lib");
        fs::create_dir_all(lib.join("zsh_process")).unwrap();
        fs::copy(&so, lib.join("zsh_process/process.so")).unwrap();
        lib
    };
    let try_load = |lib: &Path| env.zsh_env(&[("PROCESS_MODULE_PATH", lib.to_str().unwrap())], "zmodload -e zsh_process/process && print loaded; print st=$_process_loaded");
    let mine = place("mine");
    let out = try_load(&mine);
    assert_eq!(out.stdout, "loaded\nst=1\n", "{out:?}");
    let open = place("open");
    chmod(&open, 0o777);
    let out = try_load(&open);
    assert_eq!((out.status, out.stdout.as_str()), (99, ""), "not loaded, so the source fails: {out:?}");
    assert!(out.stderr.contains("refusing to load") && out.stderr.contains("is writable by other users"), "{out:?}");
    if !running_as_root() {
        return;
    }
    let theirs = place("theirs");
    let owned = std::process::Command::new("chown").args(["-R", "65534"]).arg(theirs.parent().unwrap()).status().unwrap();
    assert!(owned.success());
    let out = try_load(&theirs);
    assert_eq!((out.status, out.stdout.as_str()), (99, ""), "not loaded, so the source fails: {out:?}");
    assert!(out.stderr.contains("belongs to another user"), "{out:?}");
    // Writable by another user through an ACL entry, which the mode bits do not show
    // (drwxrwxr-x+, root's own group): refused too, where the file system keeps ACLs.
    let acl = place("acl");
    let dir = acl.join("zsh_process");
    chmod(&dir, 0o775);
    if set_access_acl(&dir, &[(65534, 7)], 7) {
        let out = try_load(&acl);
        assert_eq!((out.status, out.stdout.as_str()), (99, ""), "not loaded, so the source fails: {out:?}");
        assert!(out.stderr.contains("is group-writable with an access control list"), "{out:?}");
        // One that lets another user read only (the mask shows no group write) is fine.
        assert!(set_access_acl(&dir, &[(65534, 5)], 5));
        let out = try_load(&acl);
        assert_eq!(out.stdout, "loaded\nst=1\n", "{out:?}");
    } else {
        eprintln!("no ACLs on this file system: skipping the ACL case");
    }
    // That check leaves zsh/attr as the user had it: loaded with only zgetattr, loaded
    // whole, or not loaded; and a function named zlistattr is not what runs.
    let private = place("private");
    chmod(&private.join("zsh_process"), 0o775);
    for (before, after) in [("zmodload -F zsh/attr b:zgetattr", "1 0 1"), ("zmodload zsh/attr", "1 1 1"), (":", "0 0 0"), ("zlistattr() { exit 9 }", "0 0 0")] {
        let script = format!(
            "{before}; source {shim} || exit 99; print -r -- ${{+builtins[zgetattr]}} ${{+builtins[zlistattr]}} $(zmodload -e zsh/attr && print 1 || print 0)",
            shim = prefix().join("bin/_process").display()
        );
        let mut c = env.command_with("zsh", &["-f", "-c", &script]);
        c.env("PROCESS_MODULE_PATH", &private);
        let out = Env::output_of(c);
        assert_eq!(out.stdout, format!("{after}\n"), "{before}: {out:?}");
    }
    let link = root.join("link");
    std::os::unix::fs::symlink(&mine, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
    let out = try_load(&link);
    assert_eq!((out.status, out.stdout.as_str()), (99, ""), "not loaded, so the source fails: {out:?}");
    assert!(out.stderr.contains(&format!("{} belongs to another user", link.display())), "{out:?}");
}

/// What the module keeps open between calls (the sample store, process-exists's pidfds)
/// sits out of the way of the numbers scripts use, and a script's own descriptor put at
/// any of those numbers (`7>file`) is never closed, used or replaced by the next call.
#[test]
fn a_scripts_own_descriptors_are_never_taken_by_the_module() {
    let case = Case::new("script-fds");
    let d = case.dir.display();
    let out = case.zsh(&format!(
        "process-get-cpu -v x $$; process-exists $$; process-get-info -v i $$
         print kept=${{(j:,:)${{(n)$(print -l /proc/$$/fd/*(N:t))}}:#([0-2]|1[0-9])}}
         for n in {{3..9}}; do eval \"exec $n>{d}/f$n\"; done
         process-get-cpu -v x $$; process-exists $$; process-get-cpu -v x $$
         for n in {{3..9}}; do eval \"print -u$n line$n && exec $n>&-\" || print failed=$n; done"
    ));
    let kept: Vec<i32> = out.stdout.lines().find_map(|l| l.strip_prefix("kept=")).unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(|n| n.parse().unwrap()).collect();
    assert!(!kept.is_empty() && kept.iter().all(|&n| n >= 200), "kept descriptors at 200 and up: {out:?}");
    assert!(!out.stdout.contains("failed="), "{out:?}");
    for n in 3..=9 {
        assert_eq!(read_text(case.dir.join(format!("f{n}"))), format!("line{n}\n"), "fd {n}: {out:?}");
    }
}

/// Nothing of a directory's trust carries over from one call to the next in one shell: the
/// directory, or one above it, made unsafe, or replaced by another user's, between two
/// calls, is refused by the next call, exactly as by a fresh shell (the sample store too).
#[test]
fn a_directory_changed_between_two_calls_of_one_shell_is_checked_again() {
    let env = Env::new("walked");
    let sentinel = Proc::sleeper();
    let d = env.root.join("run");
    fs::create_dir_all(d.join("a")).unwrap();
    chmod(&env.root, 0o755);
    let out = env.zsh(&format!(
        "PROCESS_PID_DIR={d}/a/pids XDG_RUNTIME_DIR={d}/a
         process-write-pid web {s}; process-read-pid web >/dev/null; print r0=$?; process-get-cpu -v x $$; print c0=$?
         chmod 777 {d}/a/pids; process-read-pid web; print r1=$?
         chmod 700 {d}/a/pids; chmod 777 {d}/a; process-read-pid web; print r2=$?; process-get-cpu -v x $$ 2>&1 | grep -c refusing
         chmod 755 {d}/a; process-read-pid web >/dev/null; print r3=$?",
        d = d.display(),
        s = sentinel.pid()
    ));
    assert_eq!(out.stdout, "r0=0\nc0=0\nr1=1\nr2=1\n1\nr3=0\n", "{out:?}");
    assert!(out.stderr.contains("/a/pids: writable by other users") && out.stderr.contains("/a: writable by other users"), "{out:?}");
    if !running_as_root() {
        return;
    }
    let out = env.zsh(&format!(
        "PROCESS_PID_DIR={d}/a/pids
         process-read-pid web >/dev/null; print r0=$?
         mv {d}/a/pids {d}/a/pids.old; mkdir -m 700 {d}/a/pids; print {s} > {d}/a/pids/daemon.pid; chown -R 65534 {d}/a/pids
         process-stop daemon --force --timeout 0.2; print s=$?",
        d = d.display(),
        s = sentinel.pid()
    ));
    assert_eq!(out.stdout, "r0=0\ns=1\n", "{out:?}");
    assert!(out.stderr.contains("process-stop: refusing") && out.stderr.contains("owned by uid 65534"), "{out:?}");
    assert!(is_alive(sentinel.pid()), "another user's PID file was acted on");
}
