//! Control against real processes: process-stop, process-signal, process-get-children,
//! process-kill-tree. Every process signalled here was started by the test (a child, or a
//! process carrying the test's own marker); guards kill them whatever happens.
mod common;
use common::*;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// `key=value` from a line of output.
fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(&format!("{key}=")))
}

fn ms(out: &Output) -> f64 {
    field(&out.stdout, "ms").unwrap_or_else(|| panic!("no ms= in {out:?}")).parse().unwrap()
}

// ---- process-stop -------------------------------------------------------------------------

#[test]
fn stop_term_handling_script_exits_0_after_its_trap_ran() {
    let case = Case::new("stop-term");
    let p = case.fixture("term-handler.zsh", "svc", &[]);
    let out = case.env.zsh(&format!("process-stop {} --timeout 5; print st=$?", p.pid()));
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert_eq!(read_text(case.dir.join("stopped")), "svc\n", "the TERM trap did not run");
    assert!(!is_alive(p.pid()));
}

#[test]
fn stop_by_name_removes_pid_file_and_identity_and_emits_stop() {
    let case = Case::new("stop-name");
    let p = case.fixture("term-handler.zsh", "svc", &[]);
    let pid = p.pid();
    let out = case.zsh(&format!(
        "process-write-pid web {pid}
         [[ -f $PROCESS_PID_DIR/web.pid && -f $PROCESS_PID_DIR/.web.id ]] && print files-written
         process-stop web --timeout 5; print st=$?
         [[ -e $PROCESS_PID_DIR/web.pid ]] && print pid-file-left
         [[ -e $PROCESS_PID_DIR/.web.id ]] && print id-file-left
         print done"
    ));
    assert_eq!(out.stdout, "files-written\nst=0\ndone\n", "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(case.events(), [format!("stop web {pid}")]);
    assert_eq!(read_text(case.dir.join("stopped")), "svc\n");
    assert!(!is_alive(pid));
}

#[test]
fn stop_by_pid_emits_stop_with_the_pid_as_service() {
    let case = Case::new("stop-pid-ev");
    let p = case.fixture("term-handler.zsh", "svc", &[]);
    let out = case.zsh(&format!("process-stop {} --timeout 5; print st=$?", p.pid()));
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert_eq!(case.events(), [format!("stop {0} {0}", p.pid())]);
}

#[test]
fn stop_without_force_gives_up_on_a_term_ignoring_process_which_keeps_running() {
    let case = Case::new("stop-ignore");
    let p = case.fixture("term-ignore.zsh", "stubborn", &[]);
    let out = case.zsh(&format!(
        "zmodload zsh/datetime; t=$EPOCHREALTIME
         process-stop {} --timeout 0.5; print st=$?
         print ms=$(( (EPOCHREALTIME - t) * 1000 ))",
        p.pid()
    ));
    assert_eq!(field(&out.stdout, "st"), Some("1"), "{out:?}");
    let took = ms(&out);
    assert!((450.0..1500.0).contains(&took), "returned after {took} ms, want about the 0.5 s timeout");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("process-stop: ") && out.stderr.contains("--force"), "{out:?}");
    assert!(is_alive(p.pid()), "a TERM-ignoring process must survive a stop without --force");
    assert_eq!(case.events(), Vec::<String>::new(), "no event for a failed stop");
}

#[test]
fn stop_with_force_kills_a_term_ignoring_process_and_emits_kill() {
    let case = Case::new("stop-force");
    let p = case.fixture("term-ignore.zsh", "stubborn", &[]);
    let pid = p.pid();
    let out = case.zsh(&format!(
        "zmodload zsh/datetime; t=$EPOCHREALTIME
         process-write-pid stubborn {pid}
         process-stop stubborn --timeout 0.3 --force; print st=$?
         print ms=$(( (EPOCHREALTIME - t) * 1000 ))
         [[ -e $PROCESS_PID_DIR/stubborn.pid ]] && print pid-file-left; true"
    ));
    assert_eq!(field(&out.stdout, "st"), Some("0"), "{out:?}");
    assert!(!out.stdout.contains("pid-file-left"), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert!(ms(&out) < 1500.0, "{out:?}");
    assert!(!is_alive(pid));
    assert_eq!(case.events(), [format!("kill stubborn {pid}")], "want process.kill, not process.stop");
}

#[test]
fn stop_reaches_a_stopped_process_by_sending_cont() {
    let case = Case::new("stop-stopped");
    let p = case.fixture("term-handler.zsh", "frozen", &[]);
    // SAFETY: kill(2) to our own child.
    unsafe { libc::kill(p.pid() as i32, libc::SIGSTOP) };
    assert!(wait_for(5 * SECOND, || proc_state(p.pid()) == Some('T')), "not stopped");
    let out = case.env.zsh(&format!("process-stop {} --timeout 5; print st=$?", p.pid()));
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert_eq!(read_text(case.dir.join("stopped")), "frozen\n", "the TERM trap never ran: was CONT sent?");
    assert!(!is_alive(p.pid()));
}

#[test]
fn stop_returns_right_after_a_process_that_exits_at_once() {
    let case = Case::new("stop-latency");
    // Five zsh scripts whose TERM trap exits at once, and five plain sleeps (TERM kills them).
    let scripts: Vec<Proc> = (0..5).map(|i| case.fixture("term-handler.zsh", &format!("s{i}"), &[])).collect();
    let sleeps: Vec<Proc> = (0..5).map(|_| Proc::sleeper()).collect();
    let pids: Vec<String> = scripts.iter().chain(&sleeps).map(|p| p.pid().to_string()).collect();
    let out = case.env.zsh(&format!(
        "zmodload zsh/datetime
         for p in {}; do
           t=$EPOCHREALTIME
           process-stop $p --timeout 5 || print failed=$p
           print ms=$(( (EPOCHREALTIME - t) * 1000 ))
         done",
        pids.join(" ")
    ));
    assert!(!out.stdout.contains("failed"), "{out:?}");
    let times: Vec<f64> = out.stdout.lines().filter_map(|l| l.strip_prefix("ms=")).map(|v| v.parse().unwrap()).collect();
    assert_eq!(times.len(), 10, "{out:?}");
    let (trap, sleep) = times.split_at(5);
    eprintln!("process-stop latency, TERM-trapping zsh that exits at once (ms): {trap:.2?}");
    eprintln!("process-stop latency, sleep killed by TERM (ms): {sleep:.2?}");
    for t in &times {
        assert!(*t < 250.0, "process-stop took {t} ms for a process that exits at once: {times:?}");
    }
    assert_eq!(read_text(case.dir.join("stopped")).lines().count(), 5);
}

#[test]
fn stop_returns_soon_after_a_slow_handler_exits_not_after_the_timeout() {
    let case = Case::new("stop-slow");
    // The TERM handler waits 0.3 s, then exits.
    let p = case.fixture("term-handler.zsh", "slow", &["30"]);
    let out = case.env.zsh(&format!(
        "zmodload zsh/datetime; t=$EPOCHREALTIME
         process-stop {} --timeout 5; print st=$?
         print ms=$(( (EPOCHREALTIME - t) * 1000 ))",
        p.pid()
    ));
    assert_eq!(field(&out.stdout, "st"), Some("0"), "{out:?}");
    let took = ms(&out);
    eprintln!("process-stop with a 0.3 s TERM handler returned after {took:.2} ms (after the exit: {:.2} ms)", took - 300.0);
    assert!((290.0..550.0).contains(&took), "took {took} ms; want 0.3 s + under 250 ms");
    assert_eq!(read_text(case.dir.join("stopped")), "slow\n");
}

/// Runs `cmd` as the last thing before `print alive`, checking the refusal contract.
fn assert_refused(env: &Env, cmd: &str, name: &str) {
    let out = env.zsh(&format!("{cmd}; print st=$?; print alive"));
    let st = field(&out.stdout, "st").unwrap_or_else(|| panic!("{cmd}: the calling shell died: {out:?}"));
    assert_ne!(st, "0", "{cmd}: {out:?}");
    assert!(out.stdout.ends_with("alive\n"), "{cmd}: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{cmd}: want one stderr line: {out:?}");
    assert!(out.stderr.starts_with(&format!("{name}: ")), "{cmd}: {out:?}");
}

#[test]
fn stop_refuses_the_calling_shell_and_malformed_pids() {
    let env = Env::new("stop-refuse");
    for target in ["$$", "0", "-5", "abc", "''", "12abc"] {
        assert_refused(&env, &format!("process-stop {target} --timeout 0.2"), "process-stop");
    }
    // A subshell's $$ is still the calling shell's.
    assert_refused(&env, "(process-stop $$ --timeout 0.2)", "process-stop");
}

/// Runs `inner` (a zsh script that loads the library) in a new PID namespace whose PID 1 is
/// a zsh of ours that records every TERM, HUP, INT and CONT it gets: asking to signal
/// "PID 1" can then only ever reach our own process. Returns (inner output, signals PID 1 got).
fn against_namespace_init(case: &Case, inner: &str) -> Option<(Output, String)> {
    let dir = &case.dir;
    let script = dir.join("inner.zsh");
    std::fs::write(&script, format!("source \"$(which _process)\" || exit 99\n{inner}\n")).unwrap();
    let got = dir.join("init-got");
    let outer = format!(
        "for s in TERM HUP INT CONT USR1; do trap \"print -r -- $s >> {got}\" $s; done
         zsh -f {script} > {dir}/out 2> {dir}/err; print -r -- $? > {dir}/status
         sleep 0.2; :",
        got = got.display(),
        script = script.display(),
        dir = dir.display()
    );
    let mut c = case.env.command_with("unshare", &["--pid", "--fork", "--mount-proc", "zsh", "-f", "-c", &outer]);
    let st = c.status().ok()?;
    if !st.success() || !dir.join("status").exists() {
        eprintln!("skipping the PID-namespace check: unshare is not permitted here");
        return None;
    }
    let out = Output {
        status: read_text(dir.join("status")).trim().parse().unwrap(),
        stdout: read_text(dir.join("out")),
        stderr: read_text(dir.join("err")),
    };
    Some((out, read_text(got)))
}

#[test]
fn pid_1_is_never_signalled() {
    let case = Case::new("pid1");
    let Some((out, got)) = against_namespace_init(
        &case,
        "[[ $(</proc/1/cmdline) == zsh* ]] || { print wrong-pid-1; exit 1 }
         process-stop 1 --timeout 0.2; print stop=$?
         process-stop 1 --timeout 0.2 --force; print force=$?
         process-signal 1 HUP; print signal=$?
         process-kill-tree 1; print tree=$?",
    ) else {
        return;
    };
    assert_eq!(out.stdout, "stop=1\nforce=1\nsignal=1\ntree=1\n", "{out:?}");
    assert_eq!(out.stderr.lines().count(), 4, "one line per refusal: {out:?}");
    assert!(out.stderr.lines().all(|l| l.contains("PID 1")), "{out:?}");
    assert_eq!(got, "", "PID 1 received signals");
}

#[test]
fn stop_of_a_stale_pid_file_fails_and_removes_it() {
    let env = Env::new("stop-stale");
    let dead = dead_pid();
    let out = env.zsh(&format!(
        "process-write-pid old {dead}
         [[ -f $PROCESS_PID_DIR/old.pid ]] && print written
         process-stop old --timeout 0.2; print st=$?
         [[ -e $PROCESS_PID_DIR/old.pid || -e $PROCESS_PID_DIR/.old.id ]] && print left; true"
    ));
    assert_eq!(out.stdout, "written\nst=1\n", "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("process-stop: "), "{out:?}");
}

/// A PID file whose identity records another process than the one now at that PID.
fn reused_pid_case(sidecar: impl Fn(u32, u64, &str) -> String, tag: &str) {
    let case = Case::new(tag);
    let p = case.fixture("term-handler.zsh", "innocent", &[]);
    let pid = p.pid();
    let id = ProcId::of(pid).unwrap();
    let out = case.env.zsh(&format!("process-write-pid svc {pid}; print -r -- $PROCESS_PID_DIR"));
    assert_eq!(out.status, 0, "{out:?}");
    let pid_dir = std::path::PathBuf::from(out.stdout.trim());
    let idfile = pid_dir.join(".svc.id");
    let recorded = read_text(&idfile);
    let (_, _, boot) = parse_identity_record(&recorded).expect("identity file: pid, start, boot");
    assert_eq!(recorded, identity_record(pid, id.start, &boot), "the identity file's format changed");
    std::fs::write(&idfile, sidecar(pid, id.start, &boot)).unwrap();
    let out = case.env.zsh(
        "process-signal svc HUP; print signal=$?
         process-stop svc --timeout 0.3 --force; print stop=$?
         process-check-pid-file svc; print check=$?",
    );
    assert_eq!(out.stdout, "signal=1\nstop=1\ncheck=1\n", "{out:?}");
    assert!(out.stderr.lines().count() >= 2, "{out:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(id.alive(), "the process now holding the PID was killed");
    assert_eq!(read_text(case.dir.join("stopped")), "", "the process now holding the PID got TERM");
}

#[test]
fn a_reused_pid_is_not_signalled() {
    reused_pid_case(|pid, start, boot| identity_record(pid, start.saturating_sub(1), boot), "reused");
}

/// After a reboot PIDs start again from 1, so a PID file kept on disk (PROCESS_PID_DIR
/// outside tmpfs) names some new process: its identity file, from the other boot, is the
/// proof that it is stale.
#[test]
fn a_pid_recorded_in_another_boot_is_not_signalled() {
    reused_pid_case(|pid, start, _| identity_record(pid, start, "00000000-0000-0000-0000-000000000000"), "reused-boot");
}

/// Drives an interactive zsh under a pseudo-terminal (python3's pty module): runs
/// `process-stop PID --timeout 30`, presses Ctrl-C after 0.5 s, and reports how long the
/// shell took to give the prompt back, the status the interrupted stop left in `$?`, and
/// whether the shell still runs commands. (zsh abandons the rest of an interrupted command
/// line, so the status is read by the next command.)
const PTY_DRIVER: &str = r#"
import os, pty, re, select, sys, time
target = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("zsh", ["zsh", "-f", "-i"])
buf = b""
def until(pattern, limit):
    global buf
    end = time.monotonic() + limit
    while True:
        m = re.search(pattern, buf)
        if m:
            buf = buf[m.end():]
            return m
        left = end - time.monotonic()
        if left <= 0:
            sys.exit(f"timeout waiting for {pattern!r}; output so far: {buf[-400:]!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                sys.exit(f"the shell went away; output: {buf[-400:]!r}")
            buf += data
def send(text):
    os.write(fd, text.encode())
send("PS1='%% '; source \"$(which _process)\" && print READY$((40+2))\n")
until(rb"READY42", 10)
until(rb"% ", 10)
send(f"process-stop {target} --timeout 30\n")
until(rb"--timeout 30", 5)
time.sleep(0.5)
t = time.monotonic()
send("\x03")
until(rb"\^C", 5)
until(rb"% ", 10)
elapsed = time.monotonic() - t
send("print ST$((1000+$?))END\n")
m = until(rb"ST(\d+)END", 5)
send("print ALIVE$((6*7))\n")
until(rb"ALIVE42", 5)
send("exit\n")
os.waitpid(pid, 0)
print(f"status={int(m.group(1)) - 1000} ms={elapsed * 1000:.0f}")
"#;

#[test]
fn ctrl_c_ends_a_stop_wait_at_once_in_an_interactive_shell() {
    let case = Case::new("ctrl-c");
    let p = case.fixture("term-ignore.zsh", "stubborn", &[]);
    let mut c = case.env.command_with(python3(), &["-c", PTY_DRIVER, &p.pid().to_string()]);
    c.env("TERM", "dumb");
    let started = Instant::now();
    let out = Env::output_of(c);
    assert_eq!(out.status, 0, "{out:?}");
    assert!(started.elapsed() < 10 * SECOND);
    let status = field(out.stdout.trim(), "status").map(|s| s.split_whitespace().next().unwrap().to_string());
    let line = out.stdout.trim();
    let ms: f64 = line.rsplit("ms=").next().unwrap().parse().unwrap();
    eprintln!("process-stop returned {ms} ms after Ctrl-C");
    assert_eq!(status.as_deref(), Some("130"), "{out:?}");
    assert!(ms < 1000.0, "stop returned {ms} ms after Ctrl-C");
    assert!(is_alive(p.pid()), "Ctrl-C must not kill the target");
}

// ---- process-signal -----------------------------------------------------------------------

#[test]
fn signal_accepts_names_any_case_with_or_without_sig_and_numbers() {
    let case = Case::new("signal-names");
    let p = case.fixture("signals.zsh", "sig", &[]);
    let got = case.dir.join("got");
    let cases = [("HUP", "HUP"), ("hup", "HUP"), ("SIGHUP", "HUP"), ("sighup", "HUP"), ("1", "HUP"), ("USR1", "USR1"), ("SigUsr2", "USR2"), ("10", "USR1"), ("quit", "QUIT"), ("3", "QUIT")];
    let mut want = String::new();
    for (i, (spec, name)) in cases.iter().enumerate() {
        let out = case.env.zsh(&format!("process-signal {} {spec}; print st=$?", p.pid()));
        assert_eq!(out.stdout, "st=0\n", "{spec}: {out:?}");
        assert_eq!(out.stderr, "", "{spec}: {out:?}");
        want.push_str(name);
        want.push('\n');
        assert!(wait_for(5 * SECOND, || read_text(&got).lines().count() > i), "{spec} never arrived");
        assert_eq!(read_text(&got), want, "after {spec}");
    }
    assert!(is_alive(p.pid()));
}

#[test]
fn signal_sends_real_time_signals() {
    let case = Case::new("signal-rt");
    let d = case.dir.display().to_string();
    let p = Proc::spawn(python3(), &[&control_fixture("signals.py"), &d]);
    assert!(wait_for(5 * SECOND, || case.dir.join("signals.ready").exists()));
    let got = case.dir.join("got");
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let number = (rtmin + 3).to_string();
    let cases = [("RTMIN+2", rtmin + 2), ("SIGRTMAX-1", rtmax - 1), ("rtmin", rtmin), ("RTMAX", rtmax), ("sigrtmin+5", rtmin + 5), (number.as_str(), rtmin + 3), ("USR1", libc::SIGUSR1)];
    let mut want = String::new();
    for (i, (spec, n)) in cases.iter().enumerate() {
        let out = case.env.zsh(&format!("process-signal {} {spec}; print st=$?", p.pid()));
        assert_eq!(out.stdout, "st=0\n", "{spec}: {out:?}");
        want.push_str(&format!("{n}\n"));
        assert!(wait_for(5 * SECOND, || read_text(&got).lines().count() > i), "{spec} never arrived");
        assert_eq!(read_text(&got), want, "after {spec}");
    }
}

#[test]
fn signal_rejects_unknown_signals_and_sends_nothing() {
    let case = Case::new("signal-bad");
    let d = case.dir.display().to_string();
    let p = Proc::spawn(python3(), &[&control_fixture("signals.py"), &d]);
    assert!(wait_for(5 * SECOND, || case.dir.join("signals.ready").exists()));
    for bad in ["FOO", "SIGFOO", "0", "99", "65", "RTMIN+99", "RTMAX-99", "RTMIN-1", "RTMAX+1", "-9", "''", "1.5", "+1"] {
        let out = case.env.zsh(&format!("process-signal {} {bad}", p.pid()));
        assert_usage_error(&out, "process-signal", bad);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(read_text(case.dir.join("got")), "", "a signal was sent");
    assert!(is_alive(p.pid()));
}

#[test]
fn signal_by_name_uses_the_pid_file() {
    let case = Case::new("signal-name");
    let p = case.fixture("signals.zsh", "sig", &[]);
    let out = case.env.zsh(&format!(
        "process-write-pid reloadable {}
         process-signal reloadable HUP; print st=$?
         process-signal no-such-service HUP; print missing=$?",
        p.pid()
    ));
    assert_eq!(out.stdout, "st=0\nmissing=1\n", "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(wait_for(5 * SECOND, || read_text(case.dir.join("got")) == "HUP\n"));
}

// ---- trees --------------------------------------------------------------------------------

/// The tree fixture, carrying the case's marker: root, two sleeps and a sub-zsh with a
/// sleep grandchild, all ready. Returns the root.
fn tree(case: &Case) -> Proc {
    let root = Proc::spawn("zsh", &["-f", &control_fixture("tree.zsh"), &case.marker]);
    let pid = root.pid();
    let ready = wait_for(5 * SECOND, || {
        let kids = children_of(pid);
        kids.len() == 3 && kids.iter().any(|&k| children_of(k).len() == 1) && pids_with_arg(&case.marker).len() == 5
    });
    assert!(ready, "tree never formed: children {:?}", children_of(pid));
    root
}

#[test]
fn get_children_lists_exactly_the_immediate_children() {
    let case = Case::new("children");
    let t = tree(&case);
    let root = t.pid();
    let kids = children_of(root);
    let sub = *kids.iter().find(|&&k| children_of(k).len() == 1).unwrap();
    let grandchild = children_of(sub)[0];
    let out = case.env.zsh(&format!(
        "process-get-children {root}; print st=$?
         process-get-children -v kids {root}; print -r -- \"${{(t)kids}} ${{(on)kids}}\"
         process-get-children {grandchild}; print leaf=$?
         process-get-children -v none {grandchild}; print -r -- \"leafv=$? ${{(t)none}} ${{#none}}\""
    ));
    let mut listed: Vec<u32> = out.stdout.lines().take_while(|l| !l.starts_with("st=")).map(|l| l.parse().unwrap()).collect();
    listed.sort_unstable();
    assert_eq!(listed, kids, "{out:?}");
    let sorted: Vec<String> = kids.iter().map(|p| p.to_string()).collect();
    assert!(out.stdout.contains(&format!("\nst=0\narray {}\nleaf=1\nleafv=1 array 0\n", sorted.join(" "))), "{out:?}");
    assert!(!listed.contains(&grandchild));
    assert_eq!(out.stderr, "");
}

#[test]
fn kill_tree_kills_the_whole_tree() {
    let case = Case::new("kill-tree");
    let t = tree(&case);
    let root = ProcId::of(t.pid()).unwrap();
    let all: Vec<ProcId> = pids_with_arg(&case.marker).into_iter().filter_map(ProcId::of).collect();
    assert_eq!(all.len(), 5);
    assert!(all.contains(&root));
    let out = case.env.zsh(&format!("process-kill-tree {}; print st=$?", root.pid));
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert!(wait_for(2 * SECOND, || all.iter().all(|p| !p.alive())), "survivors: {:?}", all.iter().filter(|p| p.alive()).collect::<Vec<_>>());
    assert_eq!(pids_with_arg(&case.marker), Vec::<u32>::new());
}

#[test]
fn kill_tree_with_signal_kill_kills_a_tree_that_keeps_forking() {
    let case = Case::new("kill-forker");
    let mark = &case.marker;
    let root = Proc::spawn("zsh", &["-f", &control_fixture("forker.zsh"), mark]);
    assert!(wait_for(5 * SECOND, || pids_with_arg(mark).len() >= 10), "the forker did not fork");
    let out = case.env.zsh(&format!("process-kill-tree {} --signal KILL; print st=$?", root.pid()));
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert!(wait_for(SECOND, || !is_alive(root.pid()) && pids_with_arg(mark).is_empty()), "survivors: {:?}", pids_with_arg(mark));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pids_with_arg(mark), Vec::<u32>::new(), "new processes appeared after kill-tree");
}

#[test]
fn kill_tree_accepts_signal_names_and_rejects_unknown_ones() {
    let case = Case::new("kill-tree-sig");
    let t = tree(&case);
    let out = case.env.zsh(&format!("process-kill-tree {} --signal FOO", t.pid()));
    assert_usage_error(&out, "process-kill-tree", "--signal FOO");
    assert_eq!(pids_with_arg(&case.marker).len(), 5, "something was signalled");
    let out = case.env.zsh(&format!("process-kill-tree {} --signal sigkill; print st=$?", t.pid()));
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert!(wait_for(2 * SECOND, || pids_with_arg(&case.marker).is_empty() && !is_alive(t.pid())));
}

#[test]
fn kill_tree_refuses_the_calling_shell_and_its_ancestors() {
    let env = Env::new("kill-tree-refuse");
    // The outer zsh (not exec'd away: more follows) is the inner one's parent.
    let out = env.zsh(
        "zsh -f -c 'source \"$(which _process)\"
                    process-kill-tree $$; print self=$?
                    process-kill-tree $PPID; print parent=$?
                    process-kill-tree $PPID --signal KILL; print parent-kill=$?'
         print outer-alive",
    );
    assert_eq!(out.stdout, "self=1\nparent=1\nparent-kill=1\nouter-alive\n", "{out:?}");
    assert_eq!(out.stderr.lines().count(), 3, "{out:?}");
    assert!(out.stderr.lines().all(|l| l.starts_with("process-kill-tree: ")), "{out:?}");
    // 0 and garbage are usage errors.
    for bad in ["0", "-1", "abc"] {
        let out = env.zsh(&format!("process-kill-tree {bad}"));
        assert_usage_error(&out, "process-kill-tree", bad);
    }
}

// ---- process-stop: what the stopped process started ----------------------------------------

#[test]
fn stop_also_stops_what_the_process_started() {
    // `eval "$cmd" &` in zsh: $! is a subshell whose child is the real service.
    let case = Case::new("stop-subshell");
    let (dir, mark) = (&case.dir, &case.marker);
    let out = case.env.zsh(&format!(
        "eval 'zsh -f {script} {dir} inner 0 {mark}; :' &
         wrapper=$!
         for i in {{1..300}}; do [[ -e {dir}/inner.ready ]] && break; sleep 0.01; done
         process-stop $wrapper --timeout 5; print st=$?",
        script = control_fixture("term-handler.zsh"),
        dir = dir.display()
    ));
    if let Ok(p) = read_text(dir.join("inner.ready")).trim().parse() {
        case.track(p);
    }
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert_eq!(read_text(dir.join("stopped")), "inner\n", "the service's own TERM trap must run: {out:?}");
    assert!(wait_for(2 * SECOND, || pids_with_arg(mark).is_empty()), "left running: {:?}", pids_with_arg(mark));
}

#[test]
fn a_child_that_ignores_term_needs_force() {
    let case = Case::new("stop-stubborn-child");
    let (dir, mark) = (&case.dir, &case.marker);
    let out = case.env.zsh(&format!(
        "eval 'zsh -f {script} {dir} inner {mark}; :' &
         wrapper=$!
         for i in {{1..300}}; do [[ -e {dir}/inner.ready ]] && break; sleep 0.01; done
         process-stop $wrapper --timeout 0.3; print st=$?
         inner=$(<{dir}/inner.ready)
         process-exists $inner && print inner-alive
         process-stop $inner --timeout 0.3 --force; print force=$?",
        script = control_fixture("term-ignore.zsh"),
        dir = dir.display()
    ));
    if let Ok(p) = read_text(dir.join("inner.ready")).trim().parse() {
        case.track(p);
    }
    assert_eq!(out.stdout, "st=1\ninner-alive\nforce=0\n", "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("that it started is still running"), "{out:?}");
    assert!(wait_for(2 * SECOND, || pids_with_arg(mark).is_empty()), "left running: {:?}", pids_with_arg(mark));
}
