//! Detection against real processes: process-exists, process-is-running,
//! process-find-by-name, process-find-all-by-name, process-find-by-port.
mod common;
use common::*;

fn unique(tag: &str) -> String {
    format!("{tag}{}", std::process::id())
}

#[test]
fn exists_and_is_running_see_live_dead_and_zombie_processes() {
    let live = Proc::sleeper();
    let zombie = Proc::zombie();
    let dead = dead_pid();
    let out = zsh(&format!(
        "for c in process-exists process-is-running; do
           $c {live}; print -n \"$? \"; $c {dead}; print -n \"$? \"; $c {zombie}; print -n \"$? \"; $c $$; print \"$?\"
         done
         kill -0 {zombie} && print kill-0-says-the-zombie-exists",
        live = live.pid(),
        zombie = zombie.pid(),
    ));
    assert_eq!(out.stdout, "0 1 1 0\n0 1 1 0\nkill-0-says-the-zombie-exists\n", "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

#[test]
fn find_by_name_finds_names_longer_than_comm_oldest_first() {
    let dir = scratch("longname");
    let name = unique("my-long-service-name-");
    assert!(name.len() > 15);
    let exe = renamed_sleep(&dir, &name);
    let first = Proc::spawn_in(&dir, exe.to_str().unwrap(), &["300"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = Proc::spawn_in(&dir, exe.to_str().unwrap(), &["300"]);
    // The kernel keeps only 15 bytes of the name.
    assert!(wait_for(std::time::Duration::from_secs(5), || std::fs::read_to_string(format!("/proc/{}/comm", second.pid())).map(|c| c.trim() == &name[..15]).unwrap_or(false)));
    let out = zsh(&format!(
        "process-find-by-name {name}; print s=$?
         process-find-all-by-name {name}; print s=$?
         process-find-by-name -v one {name}; print -r -- \"$one ${{(t)one}}\"
         process-find-all-by-name -v all {name}; print -r -- \"$all ${{(t)all}} ${{#all}}\"
         x=$(process-find-by-name {name}); print -r -- \"sub $x\""
    ));
    let (a, b) = (first.pid(), second.pid());
    assert_eq!(out.stdout, format!("{a}\ns=0\n{a}\n{b}\ns=0\n{a} scalar\n{a} {b} array 2\nsub {a}\n"), "{out:?}");
    assert_eq!(out.stderr, "");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn find_by_name_finds_interpreted_scripts() {
    let dir = scratch("scripts");
    let py = unique("worker_");
    let py_name = format!("{py}.py");
    std::fs::write(dir.join(&py_name), "import time\ntime.sleep(300)\n").unwrap();
    let shebang = unique("shebang-job-");
    std::fs::write(dir.join(&shebang), "#!/usr/bin/env python3\nimport time\ntime.sleep(300)\n").unwrap();
    let zscript = unique("deploy-");
    // zsh's own zselect waits without a child process, so killing the shell ends it all.
    std::fs::write(dir.join(&zscript), "zmodload zsh/zselect; zselect -t 30000\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join(&shebang), std::fs::Permissions::from_mode(0o755)).unwrap();

    let as_arg = Proc::spawn_in(&dir, python3(), &["-u", &py_name]);
    let direct = Proc::spawn_in(&dir, &format!("./{shebang}"), &[]);
    let zsh_script = Proc::spawn_in(&dir, "zsh", &["-f", &format!("./{zscript}")]);
    // Wait until env has exec'd python3 (argv then names the script after the interpreter).
    assert!(wait_for(std::time::Duration::from_secs(5), || std::fs::read_to_string(format!("/proc/{}/comm", direct.pid())).map(|c| c.starts_with("python")).unwrap_or(false)));
    let out = zsh(&format!(
        "process-find-by-name {py_name}; process-find-by-name {shebang}; process-find-by-name {zscript}
         process-find-all-by-name -v a {py_name}; print ${{#a}}"
    ));
    assert_eq!(out.stdout, format!("{}\n{}\n{}\n1\n", as_arg.pid(), direct.pid(), zsh_script.pid()), "{out:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn not_found_is_status_1_silent_and_empties_the_variable() {
    let out = zsh(
        "process-find-by-name no-such-process-xyz; print s=$?
         process-find-all-by-name no-such-process-xyz; print s=$?
         one=stale; all=(stale)
         process-find-by-name -v one no-such-process-xyz; print s=$? \"[$one]\" ${(t)one}
         process-find-all-by-name -v all no-such-process-xyz; print s=$? ${#all} ${(t)all}
         x=$(process-find-by-name no-such-process-xyz); print \"[$x]\"",
    );
    assert_eq!(out.stdout, "s=1\ns=1\ns=1 [] scalar\ns=1 0 array\n[]\n", "{out:?}");
    assert_eq!(out.stderr, "");
}

#[test]
fn the_calling_shell_is_not_its_own_match_while_other_shells_exist() {
    // Another zsh, waiting in a builtin (no child to outlive it when killed).
    let other = Proc::spawn("zsh", &["-f", "-c", "zmodload zsh/zselect; zselect -t 30000"]);
    assert!(wait_for(std::time::Duration::from_secs(5), || proc_state(other.pid()).is_some()));
    let out = zsh(
        "process-find-all-by-name -v all zsh
         print -r -- me=$$
         print -r -- all=$all
         process-find-by-name -v one zsh; print -r -- one=$one
         sub=($(process-find-all-by-name zsh)); print -r -- sub=$sub",
    );
    let field = |k: &str| -> Vec<u32> {
        let line = out.stdout.lines().find(|l| l.starts_with(&format!("{k}="))).unwrap_or_else(|| panic!("{k} missing: {out:?}"));
        line[k.len() + 1..].split_whitespace().map(|p| p.parse().unwrap()).collect()
    };
    let me = field("me")[0];
    for k in ["all", "one", "sub"] {
        let pids = field(k);
        assert!(!pids.is_empty() && !pids.contains(&me), "{k}: {pids:?} (me {me}): {out:?}");
    }
    assert!(field("all").contains(&other.pid()), "{out:?}");
}

#[test]
fn the_calling_shell_is_returned_when_it_is_the_only_match() {
    // A zsh under a name nothing else has.
    let dir = scratch("solo");
    let name = format!("zsolo{}", std::process::id() % 100_000);
    let exe = dir.join(&name);
    std::fs::copy("/usr/bin/zsh", &exe).unwrap();
    let env = Env::new("solo");
    let script = format!(
        "source \"$(which _process)\" || exit 99
         process-find-by-name {name}; process-find-all-by-name -v all {name}; print -r -- $all; print -r -- $$"
    );
    let mut out = None;
    for _ in 0..50 {
        let o = Env::output_of(env.command_with(exe.to_str().unwrap(), &["-f", "-c", &script]));
        // ETXTBSY from a concurrent fork holding the fresh copy open: try again.
        if o.status == 0 || !o.stderr.contains("busy") {
            out = Some(o);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = out.unwrap();
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_eq!(lines[0], lines[2], "{out:?}");
    assert_eq!(lines[1], lines[2], "{out:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn find_by_port_tcp_over_ipv4_and_ipv6() {
    let v4 = Listener::start("127.0.0.1", "tcp");
    let mut script = format!(
        "process-find-by-port {p}; print s=$?
         process-find-by-port -v x {p}; print -r -- \"v $x\"
         y=$(process-find-by-port {p}); print -r -- \"sub $y\"\n",
        p = v4.port
    );
    let mut want = format!("{0}\ns=0\nv {0}\nsub {0}\n", v4.pid());
    let v6 = std::net::TcpListener::bind("[::1]:0").ok().map(|probe| {
        drop(probe);
        Listener::start("::1", "tcp")
    });
    match &v6 {
        Some(l) => {
            script.push_str(&format!("process-find-by-port {}; print s=$?\n", l.port));
            want.push_str(&format!("{}\ns=0\n", l.pid()));
        }
        None => eprintln!("IPv6 loopback unavailable: skipping the ::1 case"),
    }
    let out = zsh(&script);
    assert_eq!(out.stdout, want, "{out:?}");
    assert_eq!(out.stderr, "");
}

#[test]
fn find_by_port_udp_only_with_the_option() {
    let u = Listener::start("127.0.0.1", "udp");
    let out = zsh(&format!(
        "process-find-by-port {p}; print s=$?
         process-find-by-port --udp {p}; print s=$?
         process-find-by-port {p} --udp; print s=$?
         process-find-by-port -v x --udp {p}; print -r -- \"v $x\"",
        p = u.port
    ));
    assert_eq!(out.stdout, format!("s=1\n{0}\ns=0\n{0}\ns=0\nv {0}\n", u.pid()), "{out:?}");
    assert_eq!(out.stderr, "");
}

#[test]
fn find_by_port_free_port_is_status_1() {
    let port = free_port();
    let out = zsh(&format!(
        "process-find-by-port {port}; print s=$?
         x=stale; process-find-by-port -v x {port}; print s=$? \"[$x]\"
         process-find-by-port --udp {port}; print s=$?"
    ));
    assert_eq!(out.stdout, "s=1\ns=1 []\ns=1\n", "{out:?}");
    assert_eq!(out.stderr, "");
}

/// A shim prefix and environment that the unprivileged user `nobody` can read.
fn world_readable(env: &Env) {
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &std::path::Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    let pre = prefix();
    for d in [pre.to_path_buf(), pre.join("bin"), pre.join("lib"), pre.join("lib/zsh_process")] {
        set(&d, 0o755);
    }
    set(&pre.join("bin/_process"), 0o755);
    set(&pre.join("lib/zsh_process/process.so"), 0o755);
    set(&env.root, 0o755);
    for d in ["home", "run", "state"] {
        set(&env.root.join(d), 0o777);
    }
}

fn as_nobody(env: &Env, script: &str) -> Option<Output> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("not root or no setpriv: skipping the unprivileged case");
        return None;
    }
    let full = format!("source \"$(which _process)\" || exit 99\n{script}");
    let c = env.command_with("setpriv", &["--reuid=65534", "--regid=65534", "--clear-groups", "zsh", "-f", "-c", &full]);
    Some(Env::output_of(c))
}

#[test]
fn find_by_port_says_owner_unknown_when_the_owner_is_not_readable() {
    let env = Env::new("nobody");
    world_readable(&env);
    // A listener owned by root (this test process), looked up by nobody.
    let root_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = root_listener.local_addr().unwrap().port();
    let Some(out) = as_nobody(&env, &format!("print -r -- \"uid $UID\"; process-find-by-port {port}; print s=$?")) else { return };
    assert_eq!(out.stdout, "uid 65534\ns=2\n", "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(lines[0].starts_with("process-find-by-port: ") && lines[0].contains("in use") && lines[0].contains("owner"), "{out:?}");

    // The -v form empties the variable and gives the same status.
    let out = as_nobody(&env, &format!("x=stale; process-find-by-port -v x {port}; print s=$? \"[$x]\"")).unwrap();
    assert_eq!(out.stdout, "s=2 []\n", "{out:?}");

    // nobody does see its own listener.
    let c = env.command_with(
        "setpriv",
        &["--reuid=65534", "--regid=65534", "--clear-groups", python3(), "-c", Listener::SCRIPT, "127.0.0.1", "tcp"],
    );
    let mut c = c;
    c.stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let own = Proc { child };
    let out = as_nobody(&env, &format!("process-find-by-port {}; print s=$?", line.trim())).unwrap();
    assert_eq!(out.stdout, format!("{}\ns=0\n", own.pid()), "{out:?}");
    drop(root_listener);
}

#[test]
fn bad_input_is_a_one_line_usage_error() {
    let env = Env::new("bad");
    let pid_cmds = ["process-exists", "process-is-running"];
    let mut cases: Vec<(String, &str)> = Vec::new();
    for c in pid_cmds {
        for args in ["abc", "-5", "0", "12x", "''", "--bogus 1", "1 2", "99999999999"] {
            cases.push((format!("{c} {args}"), c));
        }
        cases.push((c.to_string(), c));
    }
    for c in ["process-find-by-name", "process-find-all-by-name"] {
        for args in ["", "''", "--bogus x", "-v", "-v 1bad x", "-v x", "a b"] {
            cases.push((format!("{c} {args}"), c));
        }
    }
    let c = "process-find-by-port";
    for args in ["0", "70000", "65536", "abc", "-1", "''", "", "--tcp 80", "-v", "8080 8081", "-v 9x 80", "+80", " 80x"] {
        cases.push((format!("{c} {args}"), c));
    }
    for (line, cmd) in &cases {
        let out = env.zsh(line);
        assert_usage_error(&out, cmd, line);
    }
}

#[test]
fn exists_is_a_builtin_with_no_subprocess() {
    // Detection never forks: a PATH without ps/pgrep/ss/lsof changes nothing.
    let p = Proc::sleeper();
    let l = Listener::start("127.0.0.1", "tcp");
    let out = zsh(&format!(
        "path=(); process-exists {0}; print $?; process-find-by-name -v x sleep; print ${{+x}}; process-find-by-port {1}",
        p.pid(),
        l.port
    ));
    assert_eq!(out.stdout, format!("0\n1\n{}\n", l.pid()), "{out:?}");
}

#[test]
fn double_dash_ends_the_options() {
    // zsh drops a leading `--` for builtins unless they handle options themselves.
    let dir = scratch("dashname");
    let name = format!("-dash{}", std::process::id() % 100_000);
    let exe = renamed_sleep(&dir, &name);
    let p = Proc::spawn_in(&dir, exe.to_str().unwrap(), &["300"]);
    let out = zsh(&format!(
        "process-find-by-name -- {name}; print s=$?
         process-find-all-by-name -v all -- {name}; print -r -- $all
         process-exists -- {pid}; print s=$?",
        pid = p.pid()
    ));
    assert_eq!(out.stdout, format!("{0}\ns=0\n{0}\ns=0\n", p.pid()), "{out:?}");
    assert_eq!(out.stderr, "");
    let out = zsh(&format!("process-find-by-name {name}"));
    assert_usage_error(&out, "process-find-by-name", "an option-like name without --");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn value_forms_assign_locals_inside_a_function() {
    let dir = scratch("locals");
    let name = format!("locals-test-{}", std::process::id());
    let exe = renamed_sleep(&dir, &name);
    let p = Proc::spawn_in(&dir, exe.to_str().unwrap(), &["300"]);
    let l = Listener::start("127.0.0.1", "tcp");
    let out = zsh(&format!(
        "f() {{
           local one owner; local -a all
           process-find-by-name -v one {name}; process-find-all-by-name -v all {name}; process-find-by-port -v owner {port}
           print -r -- ${{(t)one}} $one ${{(t)all}} $all ${{(t)owner}} $owner
         }}
         f; print -r -- ${{+one}} ${{+all}} ${{+owner}}",
        port = l.port
    ));
    assert_eq!(
        out.stdout,
        format!("scalar-local {0} array-local {0} scalar-local {1}\n0 0 0\n", p.pid(), l.pid()),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
