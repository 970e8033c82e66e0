//! Groups against real processes: process-group-add, process-group-list,
//! process-group-stop, and `$_PROCESS_GROUPS` as seen from other shells and subshells.
mod common;
use common::*;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(&format!("{key}=")))
}

fn pid_field(out: &Output, key: &str) -> u32 {
    field(&out.stdout, key).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {key}= in {out:?}"))
}

/// zsh code starting service NAME (a TERM-handling script that appends NAME to
/// DIR/stopped) and printing `NAME=PID`.
fn start_handler(dir: &std::path::Path, name: &str, mark: &str) -> String {
    format!(
        "process-start -v _p {name} 'zsh -f {fx} {dir} {name} 0 {mark}' && print {name}=$_p\n",
        fx = control_fixture("term-handler.zsh"),
        dir = dir.display()
    )
}

#[test]
fn group_list_shows_members_in_the_order_added_and_marks_dead_ones() {
    let case = Case::new("group-list");
    let mark = &case.marker;
    let mut by_pid = Proc::sleeper();
    let out = case.env.zsh(&format!(
        "process-start -v w web 'sleep {mark}'; print web=$w
         process-group-add app web; print add-name=$?
         process-group-add app {p}; print add-pid=$?
         process-group-add app ghost; print add-unstarted=$?
         process-group-add app web; print add-again=$?
         process-group-add app {dead}; print add-dead-pid=$?
         process-group-list app; print st=$?",
        p = by_pid.pid(),
        dead = dead_pid()
    ));
    let web = pid_field(&out, "web");
    case.track(web);
    let p = by_pid.pid();
    assert!(
        out.stdout.contains("add-name=0\nadd-pid=0\nadd-unstarted=0\nadd-again=0\nadd-dead-pid=1\nProcesses in group app:\n"),
        "{out:?}"
    );
    let lines: Vec<&str> = out.stdout.lines().skip_while(|l| !l.starts_with("Processes in group")).collect();
    assert_eq!(lines.len(), 5, "header, three members (web once), status: {out:?}");
    assert!(lines[1].starts_with(&format!("  PID {web}: sleep")), "{out:?}");
    assert_eq!(lines[2], format!("  PID {p}: sleep"), "{out:?}");
    assert!(lines[3].starts_with("  PID ") && lines[3].contains("ghost") && lines[3].ends_with("(dead)"), "{out:?}");
    assert_eq!(lines[4], "st=0");
    assert_eq!(out.stderr.lines().count(), 1, "only the dead PID is refused: {out:?}");
    assert!(out.stderr.starts_with("process-group-add: "), "{out:?}");

    // Both kinds of member die: both are marked, and the group is still listed.
    case.track(web).unwrap().signal(libc::SIGKILL);
    let _ = by_pid.child.kill();
    let _ = by_pid.child.wait();
    assert!(wait_for(5 * SECOND, || !is_alive(web)));
    let out = case.env.zsh("process-group-list app; print st=$?");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{out:?}");
    assert_eq!(lines[0], "Processes in group app:");
    assert!(lines[1].starts_with("  PID ") && lines[1].contains("web") && lines[1].ends_with("(dead)"), "{out:?}");
    assert!(lines[2].starts_with(&format!("  PID {p}: ")) && lines[2].ends_with("(dead)"), "{out:?}");
    assert!(lines[3].contains("ghost") && lines[3].ends_with("(dead)"), "{out:?}");
    assert_eq!(lines[4], "st=0");
    // The spec's check_group_health loop finds the live PIDs in these lines.
    let out = case.env.zsh(&format!(
        "process-group-add health {p2}
         process-group-list health | while read -r line; do
           [[ $line =~ 'PID ([0-9]+)' ]] && print -r -- found=$match[1]
         done",
        p2 = std::process::id()
    ));
    assert_eq!(out.stdout, format!("found={}\n", std::process::id()), "{out:?}");
}

/// The spec documents the lines as `  PID <pid>: <command>` (`PID 1235: python` for the
/// member named app_server): the command only, not the member's name.
#[test]
fn group_list_prints_exactly_the_documented_lines() {
    let case = Case::new("group-list-exact");
    let mark = &case.marker;
    let p = Proc::sleeper();
    let out = case.env.zsh(&format!(
        "process-start -v w web 'sleep {mark}'; print web=$w
         process-group-add webapp web
         process-group-add webapp {p}
         process-group-list webapp",
        p = p.pid()
    ));
    let web = pid_field(&out, "web");
    case.track(web);
    assert_eq!(out.stdout, format!("web={web}\nProcesses in group webapp:\n  PID {web}: sleep\n  PID {}: sleep\n", p.pid()));
}

#[test]
fn group_stop_stops_members_in_reverse_order_and_removes_the_group() {
    let case = Case::new("group-stop");
    let dir = &case.dir;
    // A member added by PID, between the named ones.
    let by_pid = case.fixture("term-handler.zsh", "bypid", &[]);
    let mut script = String::new();
    for name in ["db", "cache"] {
        script.push_str(&start_handler(dir, name, &case.marker));
    }
    script.push_str(&start_handler(dir, "server", &case.marker));
    script.push_str(&format!(
        "for n in db cache server; do while [[ ! -e {dir}/$n.ready ]]; do sleep 0.01; done; done
         process-group-add app db
         process-group-add app cache
         process-group-add app {bypid}
         process-group-add app server
         print -r -- members=${{_PROCESS_GROUPS[app]}}
         process-group-stop app --timeout 5; print st=$?
         process-group-list app; print list=$?
         print -r -- \"groups=[${{(k)_PROCESS_GROUPS}}]\"
         pidfiles=($PROCESS_PID_DIR/*.pid(N:t)); print -r -- \"pidfiles=[$pidfiles]\"",
        bypid = by_pid.pid(),
        dir = dir.display()
    ));
    let out = case.zsh(&script);
    let pids: Vec<u32> = ["db", "cache", "server"].iter().map(|n| pid_field(&out, n)).collect();
    for p in &pids {
        case.track(*p);
    }
    assert_eq!(field(&out.stdout, "members"), Some(format!("db cache {} server", by_pid.pid()).as_str()), "{out:?}");
    assert_eq!(field(&out.stdout, "st"), Some("0"), "{out:?}");
    assert_eq!(field(&out.stdout, "list"), Some("1"), "the group is still there: {out:?}");
    assert_eq!(field(&out.stdout, "groups"), Some("[]"), "{out:?}");
    assert_eq!(field(&out.stdout, "pidfiles"), Some("[]"), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "only group-list's complaint: {out:?}");
    assert!(out.stderr.starts_with("process-group-list: "), "{out:?}");
    // Each stop waits for its member to exit, so this order is the order of stopping.
    assert_eq!(read_text(dir.join("stopped")), "server\nbypid\ncache\ndb\n");
    for p in pids.iter().chain([&by_pid.pid()]) {
        assert!(!is_alive(*p));
    }
    let (db, cache, server) = (pids[0], pids[1], pids[2]);
    let bp = by_pid.pid();
    assert_eq!(
        case.events(),
        [
            format!("start db {db}"),
            format!("start cache {cache}"),
            format!("start server {server}"),
            format!("stop server {server}"),
            format!("stop {bp} {bp}"),
            format!("stop cache {cache}"),
            format!("stop db {db}"),
        ]
    );
}

#[test]
fn group_stop_honours_timeout_and_force() {
    let case = Case::new("group-force");
    let polite = case.fixture("term-handler.zsh", "polite", &[]);
    let stubborn = case.fixture("term-ignore.zsh", "stubborn", &[]);
    let (pp, sp) = (polite.pid(), stubborn.pid());
    let out = case.zsh(&format!(
        "zmodload zsh/datetime
         process-write-pid stubborn {sp}
         process-group-add g {pp}
         process-group-add g stubborn
         t=$EPOCHREALTIME
         process-group-stop g --timeout 0.3; print st=$?
         print ms=$(( (EPOCHREALTIME - t) * 1000 ))
         print -r -- left=${{_PROCESS_GROUPS[g]}}"
    ));
    assert_eq!(field(&out.stdout, "st"), Some("1"), "{out:?}");
    let ms: f64 = field(&out.stdout, "ms").unwrap().parse().unwrap();
    assert!((280.0..1500.0).contains(&ms), "took {ms} ms with --timeout 0.3");
    assert_eq!(field(&out.stdout, "left"), Some("stubborn"), "the member that would not stop stays: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("process-group-stop: ") && out.stderr.contains("stubborn"), "{out:?}");
    assert!(is_alive(sp), "killed without --force");
    assert!(!is_alive(pp));
    assert_eq!(read_text(case.dir.join("stopped")), "polite\n");

    let out = case.zsh(
        "process-group-stop g --timeout 0.3 --force; print st=$?
         process-group-list g 2>/dev/null; print list=$?
         [[ -e $PROCESS_PID_DIR/stubborn.pid ]] && print pid-file-left; true",
    );
    assert_eq!(out.stdout, "st=0\nlist=1\n", "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert!(!is_alive(sp));
    assert_eq!(case.events(), [format!("stop {pp} {pp}"), format!("kill stubborn {sp}")]);
}

#[test]
fn group_stop_of_a_missing_group_fails() {
    let env = Env::new("group-missing");
    for cmd in ["process-group-stop nosuch", "process-group-list nosuch"] {
        let out = env.zsh(cmd);
        assert_one_error(&out, 1, cmd.split(' ').next().unwrap(), cmd);
    }
}

#[test]
fn groups_are_shared_with_other_shells_and_subshells() {
    let env = Env::new("group-shared");
    let p = Proc::sleeper();
    // Another zsh process.
    let out = env.zsh("process-group-add app web; process-group-add other worker");
    assert_eq!(out.status, 0, "{out:?}");
    let out = env.zsh(&format!(
        "print -r -- \"1 ${{_PROCESS_GROUPS[app]}} | ${{(k)_PROCESS_GROUPS}}\"
         x=$(process-group-add app from-cmdsubst)
         (process-group-add app from-subshell)
         process-group-add batch {p} &
         wait
         print -r -- \"2 ${{_PROCESS_GROUPS[app]}} | ${{(ko)_PROCESS_GROUPS}}\"
         print -r -- \"3 ${{_PROCESS_GROUPS[batch]}} ${{#_PROCESS_GROUPS}}\"
         [[ -n ${{_PROCESS_GROUPS[workers]}} ]] || print 4 no-workers
         (( ${{+_PROCESS_GROUPS[app]}} )) && print 5 app-is-set
         for g in ${{(k)_PROCESS_GROUPS}}; do print -r -- \"6 $g: ${{_PROCESS_GROUPS[$g]}}\"; done | sort
         print -r -- \"7 $(print -r -- ${{_PROCESS_GROUPS[app]}})\"",
        p = p.pid()
    ));
    let app = "web from-cmdsubst from-subshell";
    assert_eq!(
        out.stdout,
        format!(
            "1 web | app other\n2 {app} | app batch other\n3 {p} 3\n4 no-workers\n5 app-is-set\n6 app: {app}\n6 batch: {p}\n6 other: worker\n7 {app}\n",
            p = p.pid()
        ),
        "{out:?}"
    );
    assert_eq!(out.stderr, "", "{out:?}");
    // And a later shell sees what those subshells added.
    let out = env.zsh("print -r -- ${_PROCESS_GROUPS[app]}");
    assert_eq!(out.stdout, format!("{app}\n"));
}

#[test]
fn concurrent_adds_from_five_shells_lose_nothing() {
    let case = Case::new("group-concurrent");
    let go = case.dir.join("go");
    let mut shells: Vec<Bg> = (0..5)
        .map(|n| {
            Bg::zsh(
                &case.env,
                &case.dir,
                &format!("adder{n}"),
                &format!(
                    "zmodload zsh/zselect
                     while [[ ! -e {go} ]]; do zselect -t 1; done
                     for i in {{1..20}}; do process-group-add big s{n}_$i || print -u2 failed $i; done",
                    go = go.display()
                ),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&go, "").unwrap();
    for s in &mut shells {
        assert_eq!(s.wait_timeout(20 * SECOND), Some(0), "{}", s.stderr());
        assert_eq!(s.stderr(), "");
    }
    let out = case.env.zsh(
        "members=(${(z)_PROCESS_GROUPS[big]})
         print -r -- count=$#members unique=${#${(u)members}}
         print -r -- listed=$(process-group-list big | grep -c '^  PID -: s[0-4]_[0-9]* (dead)$')",
    );
    assert_eq!(out.stdout, "count=100 unique=100\nlisted=100\n", "{out:?}");
}

#[test]
fn group_and_member_names_with_slash_or_dotdot_are_refused() {
    let env = Env::new("group-names");
    let p = Proc::sleeper();
    for cmd in [
        "process-group-add a/b web".to_string(),
        "process-group-add ../evil web".to_string(),
        "process-group-add .. web".to_string(),
        "process-group-add .hidden web".to_string(),
        "process-group-add '' web".to_string(),
        "process-group-add g a/b".to_string(),
        "process-group-add g ../../etc/passwd".to_string(),
        "process-group-add g ..".to_string(),
        format!("process-group-add ../x {}", p.pid()),
        "process-group-list ../x".to_string(),
        "process-group-list a/b".to_string(),
        "process-group-stop ../x".to_string(),
        "process-group-stop a/b --force".to_string(),
    ] {
        let out = env.zsh(&cmd);
        assert_usage_error(&out, cmd.split(' ').next().unwrap(), &cmd);
    }
    let out = env.zsh("print -r -- \"groups=[${(k)_PROCESS_GROUPS}]\"");
    assert_eq!(out.stdout, "groups=[]\n");
    // Nothing was written anywhere: the state directory holds no group files.
    let mut written = Vec::new();
    let mut stack = vec![env.root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                written.push(e.path());
            }
        }
    }
    assert_eq!(written, Vec::<std::path::PathBuf>::new());
}
