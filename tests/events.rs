//! Event delivery through the shim's _process-emit: the constants, _events (checked at
//! emit time, so sourcing it after _process works), zsh hook arrays with no companion,
//! payloads as positional arguments, and handlers that fail.

mod common;
use common::{repo_root, zsh, Case, Env, Proc};

fn fixture(name: &str) -> String {
    repo_root().join("tests/fixtures/companions").join(name).display().to_string()
}

/// Handlers that print "via EVENT ARGC ARGS..." on stdout.
const PRINTERS: &str = r#"
show() { print -r -- "$1 ${2#process.} $(( $# - 2 )) ${(j: :)@[3,-1]}" }
ev_monitor() { show events process.monitor "$@" }
ev_alert()   { show events process.alert "$@" }
ev_died()    { show events process.died "$@" }
hk_monitor() { show hook process.monitor "$@" }
hk_alert()   { show hook process.alert "$@" }
hk_died()    { show hook process.died "$@" }
"#;

#[test]
fn the_event_constants_are_the_documented_names() {
    let out = zsh("print -r -- $PROCESS_EVENT_START $PROCESS_EVENT_STOP $PROCESS_EVENT_KILL $PROCESS_EVENT_RESTART $PROCESS_EVENT_DIED $PROCESS_EVENT_MONITOR $PROCESS_EVENT_ALERT");
    assert_eq!(out.stdout, "process.start process.stop process.kill process.restart process.died process.monitor process.alert\n", "{out:?}");
}

/// Every monitor event reaches both an _events subscriber and a hook-array function,
/// with the documented payload, whichever order _events and _process were sourced in.
fn both_mechanisms(events_first: bool) {
    let env = Env::new("both");
    let t = Proc::sleeper();
    let pid = t.pid();
    let (before, after) = if events_first { (format!("source {}", fixture("_events")), String::new()) } else { (String::new(), format!("source {}", fixture("_events"))) };
    let script = format!(
        "{before}\nsource \"$(which _process)\" || exit 99\n{after}\n{PRINTERS}\n\
         events-on $PROCESS_EVENT_MONITOR ev_monitor\nevents-on $PROCESS_EVENT_ALERT ev_alert\nevents-on $PROCESS_EVENT_DIED ev_died\n\
         process_monitor_functions+=(hk_monitor)\nprocess_alert_functions+=(hk_alert)\nprocess_died_functions=(hk_died)\n\
         process-write-pid svc {pid} || exit 9\n\
         process-monitor svc --interval 0.1 --count 2 --alert-mem 1 --alert-every\n\
         print -r -- status=$? available=$PROCESS_EVENTS_AVAILABLE\n\
         ( sleep 0.3; kill {pid} ) &\n\
         process-monitor svc --interval 30\n\
         print -r -- status=$?"
    );
    let out = env.run(&["-f", "-c", &script]);
    assert_eq!(out.stderr, "", "{out:?}");
    let lines = out.lines();
    assert_eq!(lines.len(), 8 + 2 + 2, "{out:?}");
    let mut rest = Vec::new();
    for (i, sample) in [&lines[0..4], &lines[4..8]].iter().enumerate() {
        // monitor to _events then to the hook array, then the alert the same way.
        let m: Vec<&str> = sample[0].splitn(5, ' ').collect();
        assert_eq!(m[..4], ["events", "monitor", "4", "svc"], "sample {i}: {out:?}");
        let payload = m[4];
        assert!(payload.starts_with(&format!("{pid} ")), "{out:?}");
        let f: Vec<&str> = payload.split(' ').collect();
        assert!(f[1].parse::<f64>().is_ok() && f[2].parse::<u64>().unwrap() > 0, "{out:?}");
        assert_eq!(sample[1], format!("hook monitor 4 svc {payload}"));
        assert_eq!(sample[2], format!("events alert 4 svc {pid} memory {}", f[2]));
        assert_eq!(sample[3], format!("hook alert 4 svc {pid} memory {}", f[2]));
        rest.push(payload.to_string());
    }
    assert_eq!(lines[8], "status=0 available=true");
    assert_eq!(lines[9], format!("events died 2 svc {pid}"));
    assert_eq!(lines[10], format!("hook died 2 svc {pid}"));
    assert_eq!(lines[11], "status=0");
    drop(t);
}

#[test]
fn events_reach_events_and_hook_arrays_when_events_is_sourced_first() {
    both_mechanisms(true);
}

#[test]
fn events_reach_events_sourced_after_process() {
    both_mechanisms(false);
}

#[test]
fn hook_arrays_work_with_no_companion() {
    let t = Proc::sleeper();
    let out = zsh(&format!(
        "{PRINTERS}\nprint -r -- available=$PROCESS_EVENTS_AVAILABLE\nprocess_monitor_functions=(hk_monitor)\n\
         process-monitor {} --interval 0.1 --count 1\nprint -r -- status=$? available=$PROCESS_EVENTS_AVAILABLE",
        t.pid()
    ));
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_eq!(lines[0], "available=false");
    assert!(lines[1].starts_with(&format!("hook monitor 4 {p} {p} ", p = t.pid())), "{out:?}");
    assert_eq!(lines[2], "status=0 available=false");
}

#[test]
fn events_available_follows_the_companion() {
    let out = zsh(&format!(
        "print -r -- $PROCESS_EVENTS_AVAILABLE\nsource {}\nprint -r -- $PROCESS_EVENTS_AVAILABLE\n\
         _process-companions\nprint -r -- $PROCESS_EVENTS_AVAILABLE\n\
         unfunction events-emit\n_process-emit process.monitor x 1 0.0 1\nprint -r -- $PROCESS_EVENTS_AVAILABLE\n\
         source \"$(which _process)\"\nprint -r -- $PROCESS_EVENTS_AVAILABLE",
        fixture("_events")
    ));
    // Sourced after _process: seen at the next event or _process-companions call (and by
    // sourcing _process again); gone when events-emit is.
    assert_eq!(out.lines(), ["false", "false", "true", "false", "false"], "{out:?}");
}

#[test]
fn failing_handlers_break_neither_the_command_nor_the_shell() {
    let t = Proc::sleeper();
    let out = zsh(&format!(
        "{PRINTERS}\n\
         returns_1() {{ return 1 }}\n\
         divides_by_zero() {{ print $(( 1 / 0 )) }}\n\
         readonly_write() {{ local -r r=1; r=2 }}\n\
         bad_flags() {{ print ${{(j)x}} }}\n\
         parse_error() {{ eval 'print ${{' }}\n\
         exits_nonzero_command() {{ false }}\n\
         process_monitor_functions=(returns_1 not_defined divides_by_zero readonly_write bad_flags parse_error exits_nonzero_command hk_monitor)\n\
         process_died_functions=(divides_by_zero hk_died)\n\
         process-monitor {} --interval 0.1 --count 2\n\
         print -r -- status=$?\n\
         print -r -- still running",
        t.pid()
    ));
    let lines = out.lines();
    assert_eq!(lines.len(), 4, "{out:?}");
    assert!(lines[0].starts_with("hook monitor 4 ") && lines[1].starts_with("hook monitor 4 "), "{out:?}");
    assert_eq!(lines[2..], ["status=0", "still running"], "{out:?}");
    // The handlers' own zsh errors are shown (they are the user's bugs), nothing else.
    for what in ["division by zero", "read-only variable", "error in flags", "closing brace expected"] {
        assert!(out.stderr.contains(what), "{what}: {out:?}");
    }
    assert!(!out.stderr.contains("not_defined"), "{out:?}");
}

#[test]
fn a_failing_handler_does_not_trip_err_exit_or_stop_other_handlers() {
    let t = Proc::sleeper();
    let out = zsh(&format!(
        "{PRINTERS}\nset -e\n\
         process-monitor {p} --interval 0.1 --count 1 --alert-mem 1\nprint -r -- nobody listening status=$?\n\
         fails() {{ return 3 }}\nprocess_monitor_functions=(fails hk_monitor)\n\
         process-monitor {p} --interval 0.1 --count 1\nprint -r -- after status=$?\n\
         setopt err_return\nf() {{ process-monitor {p} --interval 0.1 --count 1; print -r -- in function }}\nf",
        p = t.pid()
    ));
    assert_eq!(out.lines().len(), 5, "{out:?}");
    assert_eq!(out.lines()[0], "nobody listening status=0", "{out:?}");
    assert_eq!(out.lines()[2], "after status=0", "{out:?}");
    assert_eq!(out.lines()[4], "in function", "{out:?}");
}

#[test]
fn undefined_parameter_errors_are_caught_in_an_interactive_shell() {
    // ${name?message} ends a NON-interactive zsh even inside `always` (zsh's own rule, see
    // docs/monitoring.md); in an interactive shell the handler fails and the rest goes on.
    let env = Env::new("interactive");
    let t = Proc::sleeper();
    let script = format!(
        "source \"$(which _process)\" || exit 99\n{PRINTERS}\n\
         unset_param() {{ print -r -- ${{undefined_thing?not set}} }}\n\
         process_monitor_functions=(unset_param hk_monitor)\n\
         process-monitor {} --interval 0.1 --count 1\nprint -r -- status=$?",
        t.pid()
    );
    let out = env.run(&["-f", "-i", "-c", &script]);
    let lines: Vec<&str> = out.lines().into_iter().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.iter().any(|l| l.starts_with("hook monitor 4 ")), "{out:?}");
    assert!(lines.contains(&"status=0"), "{out:?}");
    assert!(out.stderr.contains("undefined_thing: not set"), "{out:?}");
}

#[test]
fn handlers_run_with_the_callers_options_and_see_its_globals() {
    let t = Proc::sleeper();
    let out = zsh(&format!(
        "setopt ksh_arrays sh_word_split no_unset\n\
         typeset -g event=mine hook_array=mine handler=mine\n\
         typeset -gi count=0\n\
         counter() {{ count=$(( count + 1 )); words=( $4 ); print -r -- \"$event $hook_array $handler ${{words[0]}} $[ $# ]\" }}\n\
         process_monitor_functions=(counter)\n\
         process-monitor {} --interval 0.1 --count 3\n\
         print -r -- count=$count",
        t.pid()
    ));
    let lines = out.lines();
    assert_eq!(lines.len(), 4, "{out:?}");
    for l in &lines[..3] {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f[..3], ["mine", "mine", "mine"], "{out:?}");
        assert!(f[3].parse::<u64>().is_ok() && f[4] == "4", "{out:?}");
    }
    assert_eq!(lines[3], "count=3", "{out:?}");
}

#[test]
fn an_error_inside_events_emit_does_not_stop_the_hook_arrays() {
    let env = Env::new("evfail");
    let t = Proc::sleeper();
    let script = format!(
        "source \"$(which _process)\" || exit 99\nsource {}\n{PRINTERS}\n\
         events-emit() {{ print $(( 1 / 0 )) }}\n\
         process_monitor_functions=(hk_monitor)\n\
         process-monitor {} --interval 0.1 --count 1\nprint -r -- status=$?",
        fixture("_events"),
        t.pid()
    );
    let out = env.run(&["-f", "-c", &script]);
    assert_eq!(out.lines().len(), 2, "{out:?}");
    assert!(out.lines()[0].starts_with("hook monitor 4 "), "{out:?}");
    assert_eq!(out.lines()[1], "status=0");
}

/// Handlers run with the shell's own signal mask, even when the builtin that emits blocks
/// signals for itself (process-supervise blocks TERM, INT, HUP and CHLD): a command a
/// handler starts must not inherit them blocked.
#[test]
fn commands_started_by_handlers_do_not_inherit_blocked_signals() {
    let case = Case::new("mask");
    let out = case.env.zsh(&format!(
        "on_start() {{ sleep 30 &! print -r -- $! > {dir}/child; return 0 }}
         process_start_functions=(on_start)
         process-supervise svc 'sleep 30' --delay 0.1 &!
         sup=$!
         for i in {{1..300}}; do [[ -s {dir}/child ]] && break; sleep 0.01; done
         child=$(<{dir}/child)
         print -r -- ${{${{(M)${{(f)\"$(</proc/$child/status)\"}}:#SigBlk*}}##*[[:space:]]}}
         kill $child; process-stop svc --timeout 5; print st=$?",
        dir = case.dir.display()
    ));
    assert_eq!(out.stdout, "0000000000000000\nst=0\n", "{out:?}");
}

/// errexit does not reach into handlers: a failing command in one neither ends the script
/// nor skips the rest of the handler.
#[test]
fn errexit_is_off_inside_handlers() {
    let t = Proc::sleeper();
    let out = zsh(&format!(
        "setopt errexit
         on_stop() {{ false; print -r -- handler-went-on; }}
         process_stop_functions=(on_stop)
         process-stop {pid} --timeout 5
         print -r -- script-went-on",
        pid = t.pid()
    ));
    assert_eq!(out.stdout, "handler-went-on\nscript-went-on\n", "{out:?}");
    assert_eq!(out.status, 0, "{out:?}");
}
