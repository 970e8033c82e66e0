//! Starting services against real processes: process-start, process-restart,
//! process-supervise, and the registry (process-list, process-cleanup). Every service
//! command carries a marker unique to the test, so a guard can kill whatever is left.
mod common;
use common::*;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(&format!("{key}=")))
}

fn pid_field(out: &Output, key: &str) -> u32 {
    field(&out.stdout, key).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {key}= in {out:?}"))
}

fn pid_file(env: &Env, name: &str) -> Option<u32> {
    read_text(env.pid_dir().join(format!("{name}.pid"))).trim().parse().ok()
}

// ---- process-start ------------------------------------------------------------------------

#[test]
fn start_prints_the_pid_of_a_detached_service_with_pid_file_and_registry_entry() {
    let case = Case::new("start");
    let mark = &case.marker;
    let out = case.zsh(&format!(
        "zmodload zsh/datetime
         t=$EPOCHREALTIME
         pid=$(process-start web 'sleep {mark}'); print st=$?
         print ms=$(( (EPOCHREALTIME - t) * 1000 ))
         print pid=$pid
         process-start -v second web2 'sleep {mark}'; print st2=$?
         print second=$second
         print \"jobs=[$(jobs; jobs -p)]\"
         jobs
         print pidfile=$(<$PROCESS_PID_DIR/web.pid)
         [[ -f $PROCESS_PID_DIR/.web.id ]] && print identity-recorded
         process-list"
    ));
    let pid = pid_field(&out, "pid");
    let second = pid_field(&out, "second");
    case.track(pid);
    case.track(second);
    assert_eq!(field(&out.stdout, "st"), Some("0"), "{out:?}");
    assert_eq!(field(&out.stdout, "st2"), Some("0"), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    let ms: f64 = field(&out.stdout, "ms").unwrap().parse().unwrap();
    assert!(ms < 2000.0, "x=$(process-start ...) took {ms} ms: an inherited pipe?");
    assert!(out.stdout.contains("\njobs=[]\npidfile="), "the service is a job of the shell: {out:?}");
    assert_eq!(field(&out.stdout, "pidfile"), Some(pid.to_string().as_str()));
    assert!(out.stdout.contains("\nidentity-recorded\n"), "{out:?}");
    assert!(
        out.stdout.ends_with(&format!("Tracked processes:\n  [{pid}] web: sleep {mark}\n  [{second}] web2: sleep {mark}\n")),
        "{out:?}"
    );
    // The calling shell has exited: the services run on, each in its own session, as itself.
    for p in [pid, second] {
        assert!(is_alive(p), "the service died with the shell that started it");
        assert_eq!(stat_field(p, 6), Some(p.to_string()), "not a session leader");
        assert_eq!(stat_field(p, 5), Some(p.to_string()), "not a process-group leader");
        assert_eq!(stat_field(p, 7).as_deref(), Some("0"), "has a controlling terminal");
        let cmdline = || std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
        assert!(wait_for(2 * SECOND, || cmdline() == format!("sleep\0{mark}\0")), "{:?}", cmdline());
    }
    assert_eq!(case.events(), [format!("start web {pid}"), format!("start web2 {second}")]);
}

#[test]
fn start_logs_output_and_passes_exported_variables() {
    let case = Case::new("start-log");
    let mark = &case.marker;
    let out = case.env.zsh(&format!(
        "export GREETING=hello-from-env
         NOT_EXPORTED=secret
         process-start -v pid chatty 'print -r -- \"out:$GREETING\"; print -ru2 -- \"err:[$NOT_EXPORTED]\"; exec sleep {mark}'
         print pid=$pid
         print log=$PROCESS_LOG_DIR/chatty.log"
    ));
    let pid = pid_field(&out, "pid");
    case.track(pid);
    let log = std::path::PathBuf::from(field(&out.stdout, "log").unwrap());
    assert!(log.starts_with(case.env.state_dir()), "log outside $PROCESS_LOG_DIR's default: {log:?}");
    assert!(wait_for(5 * SECOND, || read_text(&log).lines().count() >= 2), "log: {:?}", read_text(&log));
    assert_eq!(read_text(&log), "out:hello-from-env\nerr:[]\n");
    assert!(is_alive(pid));
    // A log directory the user sets is used, and the output is appended.
    let out = case.env.zsh(&format!(
        "PROCESS_LOG_DIR=$HOME/mylogs
         process-stop chatty --timeout 2; print stop=$?
         process-start -v pid chatty 'print -r -- second run; exec sleep {mark}'; print pid=$pid"
    ));
    assert_eq!(field(&out.stdout, "stop"), Some("0"), "{out:?}");
    case.track(pid_field(&out, "pid"));
    let mine = case.env.root.join("home/mylogs/chatty.log");
    assert!(wait_for(5 * SECOND, || read_text(&mine) == "second run\n"), "{:?}", read_text(&mine));
}

#[test]
fn start_fails_clearly_when_the_command_exits_at_once() {
    let env = Env::new("start-fail");
    for (name, command, want) in [
        ("exits3", "print -ru2 -- boom-line; exit 3", ["status 3", "boom-line"]),
        ("missing", "no-such-command-xyz --flag", ["status 127", "no-such-command-xyz"]),
    ] {
        let out = env.zsh(&format!(
            "process-start {name} '{command}'; print st=$?
             [[ -e $PROCESS_PID_DIR/{name}.pid ]] && print pid-file-left
             process-list"
        ));
        assert_eq!(out.stdout, "st=1\nTracked processes:\n", "{name}: {out:?}");
        // One line saying what happened, then the end of the service's log, quoted.
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(lines[0].starts_with(&format!("process-start: {name} exited at once with {}", want[0])), "{name}: {out:?}");
        assert!(lines[1..].iter().all(|l| l.starts_with("  | ")), "{name}: {out:?}");
        assert!(lines[1..].iter().any(|l| l.contains(want[1])), "{name}: the log's end lacks {:?}: {out:?}", want[1]);
    }
}

#[test]
fn start_refuses_a_service_that_is_already_running() {
    let case = Case::new("start-twice");
    let mark = &case.marker;
    let out = case.env.zsh(&format!(
        "process-start -v pid web 'sleep {mark}'; print pid=$pid
         process-start web 'sleep {mark}'; print st=$?
         print pidfile=$(<$PROCESS_PID_DIR/web.pid)"
    ));
    let pid = pid_field(&out, "pid");
    case.track(pid);
    assert_eq!(field(&out.stdout, "st"), Some("1"), "{out:?}");
    assert_eq!(pid_field(&out, "pidfile"), pid, "the PID file changed");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("process-start: ") && out.stderr.contains("already running"), "{out:?}");
    assert!(wait_for(2 * SECOND, || pids_with_arg(mark) == vec![pid]), "a second copy was started: {:?}", pids_with_arg(mark));
}

// ---- process-restart ----------------------------------------------------------------------

#[test]
fn restart_replaces_a_running_service() {
    let case = Case::new("restart");
    let mark = &case.marker;
    let out = case.zsh(&format!(
        "zmodload zsh/datetime
         process-start -v old web 'sleep {mark}'; print old=$old
         t=$EPOCHREALTIME
         new=$(process-restart web 'sleep {mark}' --delay 0); print st=$?
         print fast=$(( (EPOCHREALTIME - t) * 1000 ))
         print new=$new
         t=$EPOCHREALTIME
         process-restart -v third web 'sleep {mark}'; print st3=$?
         print slow=$(( (EPOCHREALTIME - t) * 1000 ))
         print third=$third
         print pidfile=$(<$PROCESS_PID_DIR/web.pid)"
    ));
    let (old, new, third) = (pid_field(&out, "old"), pid_field(&out, "new"), pid_field(&out, "third"));
    for p in [old, new, third] {
        case.track(p);
    }
    assert_eq!(field(&out.stdout, "st"), Some("0"), "{out:?}");
    assert_eq!(field(&out.stdout, "st3"), Some("0"), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert!(old != new && new != third && old != third, "{out:?}");
    assert!(!is_alive(old) && !is_alive(new), "an old copy survived the restart");
    assert!(is_alive(third));
    assert_eq!(pid_field(&out, "pidfile"), third);
    assert!(wait_for(2 * SECOND, || pids_with_arg(mark) == vec![third]), "{:?}", pids_with_arg(mark));
    let fast: f64 = field(&out.stdout, "fast").unwrap().parse().unwrap();
    let slow: f64 = field(&out.stdout, "slow").unwrap().parse().unwrap();
    assert!(fast < 900.0, "--delay 0 restart took {fast} ms");
    assert!(slow >= 1000.0, "the default 1 s pause between stop and start was not kept: {slow} ms");
    assert_eq!(
        case.events(),
        [format!("start web {old}"), format!("stop web {old}"), format!("restart web {new}"), format!("stop web {new}"), format!("restart web {third}")]
    );
}

#[test]
fn restart_of_a_service_that_is_not_running_just_starts_it() {
    let case = Case::new("restart-fresh");
    let mark = &case.marker;
    let out = case.zsh(&format!(
        "zmodload zsh/datetime; t=$EPOCHREALTIME
         print pid=$(process-restart fresh 'sleep {mark}')
         print ms=$(( (EPOCHREALTIME - t) * 1000 ))
         print pidfile=$(<$PROCESS_PID_DIR/fresh.pid)"
    ));
    let pid = pid_field(&out, "pid");
    case.track(pid);
    assert_eq!(pid_field(&out, "pidfile"), pid, "{out:?}");
    assert!(is_alive(pid));
    assert_eq!(out.stderr, "", "{out:?}");
    let ms: f64 = field(&out.stdout, "ms").unwrap().parse().unwrap();
    assert!(ms < 900.0, "nothing to stop, yet it paused: {ms} ms");
    assert_eq!(case.events(), [format!("restart fresh {pid}")]);
}

// ---- process-supervise --------------------------------------------------------------------

/// A supervisor run as its own zsh process (a child of the test), its events recorded.
fn supervisor(case: &Case, name: &str, command: &str, opts: &str) -> Bg {
    case.bg("supervisor", &format!("process-supervise {name} '{command}' {opts}; print st=$?"))
}

fn wait_for_service(env: &Env, name: &str, not: Option<u32>) -> u32 {
    let mut pid = None;
    assert!(
        wait_for(5 * SECOND, || {
            pid = pid_file(env, name).filter(|p| Some(*p) != not && is_alive(*p));
            pid.is_some()
        }),
        "{name} never (re)started"
    );
    pid.unwrap()
}

#[test]
fn supervise_restarts_a_killed_service() {
    let case = Case::new("supervise");
    let mark = &case.marker;
    let mut sup = supervisor(&case, "web", &case.sleep(), "--delay 0.1");
    let first = ProcId::of(wait_for_service(&case.env, "web", None)).unwrap();
    assert!(wait_for(2 * SECOND, || pids_with_arg(mark) == vec![first.pid]), "{:?}", pids_with_arg(mark));
    // Once the supervisor has announced the start, it watches the service. (A service that
    // dies before that costs a second: see supervise_retries_an_instant_failure_promptly.)
    assert!(wait_for(5 * SECOND, || case.events().iter().any(|e| e.contains("start web"))));
    std::thread::sleep(Duration::from_millis(50));
    first.signal(libc::SIGKILL);
    let killed = Instant::now();
    let second = wait_for_service(&case.env, "web", Some(first.pid));
    let took = killed.elapsed();
    assert!(took < SECOND, "restarted after {took:?} with --delay 0.1");
    assert!(wait_for(2 * SECOND, || pids_with_arg(mark) == vec![second]), "{:?}", pids_with_arg(mark));
    assert!(wait_for(2 * SECOND, || case.events().len() >= 3));
    assert_eq!(case.events(), [format!("start web {}", first.pid), format!("died web {} 137", first.pid), format!("restart web {second}")]);
    assert!(sup.stderr().contains(&format!("web (PID {}) exited with status 137", first.pid)), "{}", sup.stderr());
    // TERM to the supervisor stops the service too, and the supervisor exits 0.
    // SAFETY: kill(2) to our own child.
    unsafe { libc::kill(sup.pid() as i32, libc::SIGTERM) };
    assert_eq!(sup.wait_timeout(5 * SECOND), Some(0), "supervisor: {} {}", sup.stdout(), sup.stderr());
    assert_eq!(sup.stdout(), "st=0\n");
    assert!(!is_alive(second), "the service outlived its supervisor");
    assert_eq!(pid_file(&case.env, "web"), None, "PID file left behind");
    assert_eq!(case.events().last(), Some(&format!("stop web {second}")), "{:?}", case.events());
}

#[test]
fn supervise_gives_up_after_max_restarts() {
    let case = Case::new("supervise-fail");
    let started = Instant::now();
    let out = case.zsh(
        "process-supervise flaky 'sleep 0.1; exit 3' --max-restarts 2 --delay 0.1; print st=$?
         [[ -e $PROCESS_PID_DIR/flaky.pid ]] && print pid-file-left
         process-list",
    );
    assert!(started.elapsed() < 5 * SECOND);
    // Given up on: no PID file, and listed as dead until process-cleanup.
    let last_pid = out.stderr.lines().rev().find_map(|l| l.split("(PID ").nth(1)).and_then(|r| r.split(')').next()).unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(out.stdout, format!("st=1\nTracked processes:\n  [{last_pid}] flaky: sleep 0.1; exit 3 (dead)\n"), "{out:?}");
    let err: Vec<&str> = out.stderr.lines().collect();
    let last = err.last().copied().unwrap_or_default();
    assert!(last.starts_with("process-supervise: ") && last.contains("giving up"), "{out:?}");
    assert_eq!(err.iter().filter(|l| l.contains("exited with status 3")).count(), 3, "{out:?}");
    let ev = case.events();
    let died: Vec<&String> = ev.iter().filter(|l| l.starts_with("died flaky ")).collect();
    assert_eq!(died.len(), 3, "{ev:?}");
    assert!(died.iter().all(|l| l.ends_with(" 3")), "{ev:?}");
    assert_eq!(ev.iter().filter(|l| l.starts_with("restart flaky ")).count(), 2, "{ev:?}");
}

#[test]
fn supervise_respects_process_max_restarts_and_restart_delay_settings() {
    let env = Env::new("supervise-settings");
    let started = Instant::now();
    let out = env.zsh(
        "PROCESS_MAX_RESTARTS=1 PROCESS_RESTART_DELAY=0.3
         process-supervise flaky 'sleep 0.05; exit 4'; print st=$?",
    );
    let took = started.elapsed();
    assert_eq!(out.stdout, "st=1\n", "{out:?}");
    assert_eq!(out.stderr.lines().filter(|l| l.contains("exited with status 4")).count(), 2, "{out:?}");
    assert!(took >= Duration::from_millis(300) && took < 3 * SECOND, "took {took:?}");
}

/// A crash loop's first symptom is a command that exits at once: its status must still
/// reach the log line and the process.died event.
#[test]
fn supervise_reports_the_status_of_a_command_that_exits_at_once() {
    let case = Case::new("supervise-instant");
    let out = case.zsh(
        "process-supervise flaky 'exit 4' --max-restarts 2 --delay 0.05; print st=$?
         process-supervise other '/bin/false' --max-restarts 0; print st=$?",
    );
    assert_eq!(out.stdout, "st=1\nst=1\n", "{out:?}");
    assert_eq!(out.stderr.lines().filter(|l| l.contains("exited with status 4")).count(), 3, "{out:?}");
    assert_eq!(out.stderr.lines().filter(|l| l.contains("exited with status 1")).count(), 1, "{out:?}");
    let ev = case.events();
    let died: Vec<&String> = ev.iter().filter(|l| l.starts_with("died ")).collect();
    assert_eq!(died.len(), 4, "{ev:?}");
    assert!(died[..3].iter().all(|l| l.ends_with(" 4")) && died[3].ends_with(" 1"), "{ev:?}");
}

/// Three tries with 0.1 s between them take well under a second.
#[test]
fn supervise_retries_an_instant_failure_promptly() {
    let env = Env::new("supervise-prompt");
    let started = Instant::now();
    let out = env.zsh("process-supervise flaky 'exit 4' --max-restarts 2 --delay 0.1; print st=$?");
    let took = started.elapsed();
    assert_eq!(out.stdout, "st=1\n", "{out:?}");
    assert!(took < SECOND, "3 tries, 0.1 s apart, took {took:?}");
}

#[test]
fn stop_by_name_stops_a_supervised_service_and_its_supervisor() {
    let case = Case::new("supervise-stop");
    let mut sup = supervisor(&case, "web", &case.sleep(), "--delay 0.1");
    let service = wait_for_service(&case.env, "web", None);
    let out = case.env.zsh("process-stop web --timeout 5; print st=$?");
    assert_eq!(out.stdout, "st=0\n", "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert_eq!(sup.wait_timeout(5 * SECOND), Some(0), "the supervisor kept running: {}", sup.stderr());
    assert!(!is_alive(service));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pids_with_arg(&case.marker), Vec::<u32>::new(), "the service was started again");
    assert_eq!(pid_file(&case.env, "web"), None);
}

// ---- registry -----------------------------------------------------------------------------

#[test]
fn process_list_shows_tracked_processes_and_marks_dead_ones() {
    let case = Case::new("list");
    let mark = &case.marker;
    let manual = Proc::sleeper();
    let out = case.env.zsh(&format!(
        "process-start -v web web 'sleep {mark}'; print web=$web
         process-start -v crashed crashed 'sleep {mark}'; print crashed=$crashed
         process-write-pid manual {manual}",
        manual = manual.pid()
    ));
    let (web, crashed) = (pid_field(&out, "web"), pid_field(&out, "crashed"));
    case.track(web);
    case.track(crashed).unwrap().signal(libc::SIGKILL);
    assert!(wait_for(5 * SECOND, || !is_alive(crashed)));
    let out = case.env.zsh("process-list; print st=$?");
    assert_eq!(
        out.stdout,
        format!(
            "Tracked processes:\n  [{crashed}] crashed: sleep {mark} (dead)\n  [{manual}] manual: sleep 300\n  [{web}] web: sleep {mark}\nst=0\n",
            manual = manual.pid()
        ),
        "{out:?}"
    );
    assert_eq!(out.stderr, "");
    // Listing changes nothing.
    assert_eq!(case.env.zsh("process-list").stdout, out.stdout.trim_end_matches("st=0\n"));
}

/// A PID file of a dead process that this library did not start: no command is known.
#[test]
fn process_list_marks_a_dead_pid_file_without_a_command() {
    let env = Env::new("list-dead");
    let dead = dead_pid();
    let out = env.zsh(&format!("process-write-pid gone {dead}; process-list"));
    assert_eq!(out.stdout, format!("Tracked processes:\n  [{dead}] gone: (dead)\n"), "{out:?}");
}

#[test]
fn cleanup_removes_stale_pid_files_dead_registry_entries_and_dead_group_members() {
    let case = Case::new("cleanup");
    let mark = &case.marker;
    let live = Proc::sleeper();
    let mut doomed = Proc::sleeper();
    let dead = dead_pid();
    let out = case.env.zsh(&format!(
        "process-start -v web web 'sleep {mark}'; print web=$web
         process-start -v crashed crashed 'sleep {mark}'; print crashed=$crashed
         process-write-pid old {dead}
         process-group-add g {live}
         process-group-add g {doomed}
         process-group-add g web
         process-group-add g crashed
         process-group-add solo {doomed}",
        live = live.pid(),
        doomed = doomed.pid()
    ));
    assert_eq!(out.stderr, "", "{out:?}");
    let (web, crashed) = (pid_field(&out, "web"), pid_field(&out, "crashed"));
    case.track(web);
    case.track(crashed).unwrap().signal(libc::SIGKILL);
    let _ = doomed.child.kill();
    let _ = doomed.child.wait();
    assert!(wait_for(5 * SECOND, || !is_alive(crashed)));
    // Stale: old.pid, crashed.pid, crashed's registry entry, the dead PID in g and in solo.
    let out = case.env.zsh(
        "process-cleanup; print st=$?
         print -r -- groups=${(k)_PROCESS_GROUPS} g=${_PROCESS_GROUPS[g]}
         pidfiles=($PROCESS_PID_DIR/*.pid(N:t)); print -r -- pidfiles=$pidfiles
         process-list",
    );
    assert_eq!(
        out.stdout,
        format!(
            "st=0\ngroups=g g={live} web crashed\npidfiles=web.pid\nTracked processes:\n  [{web}] web: sleep {mark}\n",
            live = live.pid()
        ),
        "{out:?}"
    );
    assert_eq!(out.stderr, "[INFO] process-cleanup: removed 5 stale entries\n", "the count goes to stderr");
    // Nothing left to do: nothing said (a cleanup in every prompt must stay quiet).
    let again = case.env.zsh("process-cleanup");
    assert_eq!(again.stdout, "");
    assert_eq!(again.stderr, "");
}

/// TERM that reaches a supervisor while one of its event handlers runs is not lost, and
/// does not kill it halfway: it stops the service and ends supervision once the handler
/// is done.
#[test]
fn term_during_a_handler_still_stops_the_service() {
    let case = Case::new("sup-term-in-handler");
    let (dir, mark) = (&case.dir, &case.marker);
    let out = case.env.zsh(&format!(
        "slow() {{ print -r -- $2 > {dir}/in-handler; sleep 0.5; return 0 }}
         process_start_functions=(slow)
         process-supervise svc 'sleep {mark}' --delay 0.1 &!
         sup=$!
         for i in {{1..300}}; do [[ -s {dir}/in-handler ]] && break; sleep 0.01; done
         svc=$(<{dir}/in-handler)
         kill -TERM $sup
         for i in {{1..300}}; do process-exists $sup || break; sleep 0.01; done
         process-exists $sup && print supervisor-alive
         process-exists $svc && print service-alive
         process-check-pid-file svc || print pid-file-gone",
        dir = dir.display()
    ));
    if let Ok(p) = read_text(dir.join("in-handler")).trim().parse() {
        case.track(p);
    }
    assert_eq!(out.stdout, "pid-file-gone\n", "{out:?}");
    assert!(wait_for(2 * SECOND, || pids_with_arg(mark).is_empty()), "left running: {:?}", pids_with_arg(mark));
}

/// A script's background job ignores INT: a Ctrl-C meant for another command must not end
/// supervision (a blocked signal is queued even when ignored, so the supervisor must not
/// block it).
#[test]
fn an_ignored_int_does_not_end_a_background_supervisor() {
    let case = Case::new("sup-ignored-int");
    let mark = &case.marker;
    let out = case.env.zsh(&format!(
        "process-supervise svc 'sleep {mark}' --delay 0.1 &
         sup=$!
         for i in {{1..300}}; do process-check-pid-file svc && break; sleep 0.01; done
         kill -INT $sup; sleep 0.3
         process-exists $sup && print survived
         process-check-pid-file svc && print service-running
         process-stop svc --timeout 5; print st=$?"
    ));
    assert_eq!(out.stdout, "survived\nservice-running\nst=0\n", "{out:?}");
}

/// A supervisor started from another supervisor's event handler (it inherits the first
/// one's SIGCHLD handler through the fork) restarts its own service like any other.
#[test]
fn a_supervisor_started_from_a_handler_restarts_its_service() {
    let case = Case::new("sup-nested");
    let outer = &case.marker;
    // The inner supervisor's service carries a second marker, swept on its own.
    let inner = marker(4294);
    let _inner_sweep = Sweep::new(&[&inner]);
    let out = case.env.zsh(&format!(
        "on_start() {{ [[ $1 == svc ]] && process-supervise inner 'sleep {inner}' --delay 0.1 &!; return 0 }}
         process_start_functions=(on_start)
         process-supervise svc 'sleep {outer}' --delay 0.1 &!
         for i in {{1..300}}; do process-read-pid -v first inner 2>/dev/null && process-exists $first && break; sleep 0.01; done
         kill -KILL $first
         for i in {{1..300}}; do process-read-pid -v second inner 2>/dev/null && [[ $second != $first ]] && process-exists $second && break; sleep 0.01; done
         [[ -n $second && $second != $first ]] && process-exists $second && print restarted
         process-stop inner --timeout 5; process-stop svc --timeout 5; print done"
    ));
    assert_eq!(out.stdout, "restarted\ndone\n", "{out:?}");
}
