//! Right about every process the kernel can show: a process whose leader thread exited,
//! thread IDs, names cut by the kernel inside a UTF-8 character or not UTF-8 at all,
//! scripts under interpreters with their own option rules, zombies, a socket held by
//! another user than the one who made it, and services that a shell only wraps. Each is
//! a real process of that kind, and the answer is the one procps or psutil give (or a
//! better one, as documented in docs/inspect.md).
mod common;
use common::*;
use std::io::BufRead;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Starts `python3 -c CODE ARGS...` and returns it with the first line it prints.
fn python(code: &str, args: &[&str]) -> (Proc, String) {
    let mut child = std::process::Command::new(python3()).arg("-c").arg(code).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Proc { child }, line.trim().to_string())
}

/// A process whose main thread has exited while two others run on (`ps` shows `Zl`).
const LEADERLESS: &str = "import ctypes,threading,time,sys
[threading.Thread(target=time.sleep,args=(300,)).start() for _ in range(2)]
print('ready', flush=True)
ctypes.CDLL(None).pthread_exit(None)";

#[test]
fn a_process_whose_leader_exited_is_alive() {
    let case = Case::new("leaderless");
    let (p, _) = python(LEADERLESS, &[&case.marker]);
    let pid = p.pid();
    assert!(wait_for(Duration::from_secs(5), || proc_state(pid) == Some('Z')), "the leader never exited");
    let out = case.zsh(&format!(
        "process-exists {pid}; print e=$?
         process-get-command {pid}; print c=$?
         process-get-info -v info {pid}; print i=$? ${{info[state]}} ${{(M)${{=info[args]}}:#{m}}}
         (( info[memory] > 0 )) && print has-memory
         process-find-all-by-name -v all python3; (( ${{all[(Ie){pid}]}} )) && print found
         process-write-pid lead {pid}; process-check-pid-file lead; print k=$?
         process-stop lead --timeout 5; print s=$?",
        m = case.marker
    ));
    assert_eq!(out.stdout, format!("e=0\npython3\nc=0\ni=0 Z {}\nhas-memory\nfound\nk=0\ns=0\n", case.marker), "{out:?}");
    assert_eq!(out.stderr, "");
    assert!(wait_for(Duration::from_secs(5), || !is_alive(pid)));
}

#[test]
fn a_thread_id_is_not_a_process() {
    let case = Case::new("tid");
    let code = "import threading,time,sys
t=threading.Thread(target=time.sleep,args=(300,)); t.start()
print(t.native_id, flush=True)
time.sleep(300)";
    let (p, tid) = python(code, &[]);
    assert_ne!(tid, p.pid().to_string());
    assert!(Path::new(&format!("/proc/{tid}/stat")).exists(), "the kernel shows /proc/TID");
    let out = case.zsh(&format!(
        "process-exists {tid}; print e=$?
         process-get-command {tid}; print c=$?
         process-get-info {tid} 2>/dev/null; print i=$?
         process-get-memory {tid}; print m=$?
         process-stop {tid} --force 2>/dev/null; print s=$?
         process-signal {tid} TERM 2>/dev/null; print g=$?
         process-kill-tree {tid} 2>/dev/null; print t=$?"
    ));
    assert_eq!(out.stdout, "e=1\nc=1\ni=1\n0\nm=1\ns=1\ng=1\nt=1\n", "{out:?}");
    assert!(is_alive(p.pid()), "a command given a thread ID signalled its process");
}

#[test]
fn names_cut_inside_a_character_and_names_that_are_not_utf8() {
    let case = Case::new("bytes");
    let cut = renamed_sleep(&case.dir, "abcdefghijklmné-service");
    let a = Proc::spawn_in(&case.dir, cut.to_str().unwrap(), &["300"]);
    let raw = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let odd = case.dir.join(raw);
    std::fs::copy("/bin/sleep", &odd).unwrap();
    std::fs::set_permissions(&odd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut c = std::process::Command::new(&odd);
    c.arg("300").stdin(Stdio::null());
    let b = Proc { child: c.spawn().unwrap() };
    assert!(wait_for(Duration::from_secs(5), || std::fs::read(format!("/proc/{}/comm", b.pid())).is_ok_and(|c| c == b"caf\xe9\n")));
    let out = case.env.zsh(&format!(
        "process-find-by-name abcdefghijklmné-service; print f=$?
         process-get-command {a}
         process-find-by-name $'caf\\xe9'; print g=$?
         process-get-command {b} | od -An -c | tr -s ' '
         process-get-info -v info {b}; print -rn -- ${{info[command]}} | od -An -tx1 | tr -s ' '",
        a = a.pid(),
        b = b.pid()
    ));
    assert_eq!(
        out.stdout,
        format!("{a}\nf=0\nabcdefghijklmné-service\n{b}\ng=0\n c a f 351 \\n\n 63 61 66 e9\n", a = a.pid(), b = b.pid()),
        "{out:?}"
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn scripts_are_found_by_each_interpreters_own_rules() {
    let case = Case::new("scripts");
    std::fs::write(case.dir.join("x.py"), "import time; time.sleep(300)\n").unwrap();
    std::fs::write(case.dir.join("job.sh"), "sleep 300\n").unwrap();
    std::fs::write(case.dir.join("report.awk"), "{ print }\n").unwrap();
    let py = Proc::spawn_in(&case.dir, python3(), &["-W", "ignore", "x.py"]);
    let sh = Proc::spawn_in(&case.dir, "bash", &["-e", "job.sh"]);
    // awk reading a pipe that stays open: its first argument is program text (`1`: print
    // every line), not a file named `1`.
    let mut inline = std::process::Command::new("awk").args(["1", "-"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut file = std::process::Command::new("awk").args(["-f", "report.awk", "-"]).current_dir(&case.dir).stdin(Stdio::piped()).spawn().unwrap();
    let out = case.env.zsh(
        "sleep 0.2; for n in x.py ignore job.sh 1 report.awk; do process-find-by-name -v p $n; print -r -- $n=$?; done",
    );
    assert!(proc_state(inline.id()).is_some(), "awk refused its program");
    let _ = (inline.kill(), file.kill(), inline.wait(), file.wait());
    assert_eq!(out.stdout, "x.py=0\nignore=1\njob.sh=0\n1=1\nreport.awk=0\n", "{out:?}");
    drop((py, sh));
}

#[test]
fn zombies_are_children_and_keep_their_name() {
    let case = Case::new("zombies");
    // A parent that forks a child which exits at once, and never reaps it.
    let code = "import os,time
pid=os.fork()
if pid == 0: os._exit(0)
print(pid, flush=True)
time.sleep(300)";
    let (parent, child) = python(code, &[]);
    let child: u32 = child.parse().unwrap();
    assert!(wait_for(Duration::from_secs(5), || proc_state(child) == Some('Z')));
    let out = case.env.zsh(&format!(
        "process-get-children {p}; print c=$?
         process-get-command {child}; print n=$?
         process-exists {child}; print e=$?",
        p = parent.pid()
    ));
    assert_eq!(out.stdout, format!("{child}\nc=0\npython3\nn=0\ne=1\n"), "{out:?}");
}

#[test]
fn a_socket_handed_to_another_user_is_found() {
    if !Path::new("/proc/self").metadata().is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0) {
        eprintln!("not root: skipping the bind-then-setuid case");
        return;
    }
    let case = Case::new("setuid-port");
    // Bound by root, then the process becomes nobody: the socket's uid stays 0.
    let code = "import os,socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',0)); s.listen()
os.setgid(65534); os.setuid(65534)
print(s.getsockname()[1], flush=True)
time.sleep(300)";
    let (p, port) = python(code, &[]);
    let out = case.env.zsh(&format!("process-find-by-port {port}; print st=$?"));
    assert_eq!(out.stdout, format!("{}\nst=0\n", p.pid()), "{out:?}");
}

/// A listener that comes and goes every few milliseconds (a child binds, listens 3 ms,
/// exits): a search that lost the owner to its exit answers "free" (1) once the socket
/// is gone, never "owner unknown, try as root".
#[test]
fn a_listener_that_closes_during_the_search_is_not_an_unknown_owner() {
    let case = Case::new("flapping-port");
    let code = "import os,socket,time,sys
s=socket.socket(); s.bind(('127.0.0.1',0)); port=s.getsockname()[1]; s.close()
print(port, flush=True)
end=time.time()+60
while time.time()<end:
    pid=os.fork()
    if pid==0:
        c=socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); c.bind(('127.0.0.1',port)); c.listen(); time.sleep(0.003); os._exit(0)
    os.waitpid(pid,0)";
    let (_flapper, port) = python(code, &[]);
    let out = case.env.zsh(&format!(
        "integer found=0 free=0 other=0; repeat 500 {{ process-find-by-port -v p {port}; case $? in (0) (( found++ ));; (1) (( free++ ));; (*) (( other++ ));; esac }}; print found=$found free=$free other=$other"
    ));
    assert!(out.stdout.ends_with("other=0\n"), "{out:?}");
    assert!(!out.stderr.contains("try as root"), "{out:?}");
    eprintln!("{}", out.stdout.trim());
}

/// A server that says "up", and "reload" at each HUP.
fn reloading_server(dir: &Path) -> String {
    let path = dir.join("server.py");
    std::fs::write(
        &path,
        "import signal, sys, time\nsignal.signal(signal.SIGHUP, lambda *a: print('reload', flush=True))\nprint('up', flush=True)\ntime.sleep(int(float(sys.argv[1])))\n",
    )
    .unwrap();
    path.display().to_string()
}

/// zsh that waits (at most 5 s) until FILE holds WORD.
fn wait_in_file(file: &str, word: &str) -> String {
    format!("for i in {{1..100}}; do [[ $(<{file}) == *{word}* ]] && break; sleep 0.05; done")
}

/// The spec's Example 1: `eval "$cmd" &` makes `$!` a zsh subshell whose child is the
/// server. `reload` (a HUP for the service) must reach the server and leave the service
/// manageable; stop must then leave nothing running.
#[test]
fn a_signal_for_a_wrapped_service_reaches_the_service() {
    let case = Case::new("wrapped");
    let log = case.dir.join("server.log").display().to_string();
    let out = case.zsh(&format!(
        "cmd=\"{py} {server} {m}\"
         eval \"$cmd\" >> {log} 2>&1 &
         process-write-pid myapp $!
         {up}
         process-signal myapp HUP; print sig=$?
         {reload}
         process-check-pid-file myapp; print status=$?
         process-stop myapp --timeout 5; print stop=$?",
        py = python3(),
        server = reloading_server(&case.dir),
        m = case.marker,
        up = wait_in_file(&log, "up"),
        reload = wait_in_file(&log, "reload"),
    ));
    assert_eq!(out.stdout, "sig=0\nstatus=0\nstop=0\n", "{out:?}");
    assert_eq!(read_text(&log), "up\nreload\n");
    assert!(wait_for(Duration::from_secs(5), || pids_with_arg(&case.marker).is_empty()), "left running: {:?}", pids_with_arg(&case.marker));
}

/// process-start's own `zsh -c` stays the parent of a compound command: a wrapper too.
#[test]
fn a_signal_for_a_started_compound_command_reaches_the_command() {
    let case = Case::new("compound");
    let out = case.zsh(&format!(
        "process-start svc '{py} {server} {m}; echo finished'; print start=$?
         log=$PROCESS_LOG_DIR/svc.log
         {up}
         process-signal svc HUP; print sig=$?
         {reload}
         process-check-pid-file svc; print status=$?
         process-stop svc --timeout 5; print stop=$?
         print -r -- $(<$log)",
        py = python3(),
        server = reloading_server(&case.dir),
        m = case.marker,
        up = wait_in_file("$log", "up"),
        reload = wait_in_file("$log", "reload"),
    ));
    assert!(out.stdout.ends_with("sig=0\nstatus=0\nstop=0\nup reload\n"), "{out:?}");
    assert!(wait_for(Duration::from_secs(5), || pids_with_arg(&case.marker).is_empty()));
}
