//! The spec's Use Cases and Examples, run as written against real processes. The
//! functions are copied from the spec; changes are only where a real command, a port or a
//! shorter sleep is needed, and each is marked `# test:` in the script.
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

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// Use Case 1's service manager, verbatim except for the line that starts the command.
fn service_manager(start_line: &str) -> String {
    format!(
        r#"
# Service manager
service_start() {{
    local service_name="${{1}}"
    local command="${{2}}"

    if process-check-pid-file "$service_name"; then
        log-info "Service already running: $service_name"
        return 0
    fi

    log-info "Starting service: $service_name"

    # Start service in background
    {start_line}
    local pid=$!

    # Track with PID file
    process-write-pid "$service_name" "$pid"

    log-success "Service started: $service_name (PID: $pid)"
}}

# Stop service gracefully
service_stop() {{
    local service_name="${{1}}"

    if ! process-check-pid-file "$service_name"; then
        log-warn "Service not running: $service_name"
        return 0
    fi

    log-info "Stopping service: $service_name"
    process-stop "$service_name" --timeout 30 --force
}}
"#
    )
}

/// The spec's own line: in zsh, `eval ... &` forks a subshell that runs the command as its
/// child, so `$!` is the subshell, not the service.
const SPEC_START_LINE: &str = r#"eval "$command" > "$(_process-get-log-file "$service_name")" 2>&1 &"#;
/// The same line with `exec`, so that `$!` is the service itself.
const EXEC_START_LINE: &str = r#"eval "exec $command" > "$(_process-get-log-file "$service_name")" 2>&1 &  # test: exec"#;

fn use_case_1(start_line: &str, tag: &str) {
    let case = Case::new(tag);
    let port = free_port();
    let script = format!(
        "{fns}
         service_start web \"{py} -m http.server --bind 127.0.0.1 {port}\"; print start=$?
         for i in {{1..200}}; do process-find-by-port {port} >/dev/null && break; sleep 0.02; done
         print server=$(process-find-by-port {port})
         print recorded=$(process-read-pid web)
         service_start web \"{py} -m http.server --bind 127.0.0.1 {port}\"; print again=$?
         service_stop web; print stop=$?
         process-check-pid-file web; print check=$?
         service_stop web; print stop-again=$?",
        fns = service_manager(start_line),
        py = python3()
    );
    let out = case.env.zsh(&script);
    let server = pid_field(&out, "server");
    case.track(server);
    let recorded = pid_field(&out, "recorded");
    case.track(recorded);
    assert!(
        out.stdout.ends_with("again=0\nstop=0\ncheck=1\nstop-again=0\n") && out.stdout.starts_with("start=0\n"),
        "{out:?}"
    );
    let err = &out.stderr;
    for want in [
        "[INFO] Starting service: web".to_string(),
        format!("[SUCCESS] Service started: web (PID: {recorded})"),
        "[INFO] Service already running: web".to_string(),
        "[INFO] Stopping service: web".to_string(),
        "[WARN] Service not running: web".to_string(),
    ] {
        assert!(err.contains(&want), "stderr lacks {want:?}: {out:?}");
    }
    assert_eq!(err.lines().count(), 5, "{out:?}");
    assert!(case.env.root.join("state/process/logs/web.log").exists(), "no log file");
    // What the text promises: the service is stopped.
    assert!(wait_for(2 * SECOND, || !port_open(port)), "the server still answers on port {port}");
    assert!(!is_alive(server), "the http.server (PID {server}) is still running; the PID file named {recorded}");
}

#[test]
fn use_case_1_service_manager_as_written() {
    use_case_1(SPEC_START_LINE, "uc1-spec");
}

#[test]
fn use_case_1_service_manager_with_exec() {
    use_case_1(EXEC_START_LINE, "uc1-exec");
}

fn use_case_3(start_line: &str, tag: &str) {
    let case = Case::new(tag);
    let (dir, mark) = (&case.dir, &case.marker);
    let svc = |name: &str| format!("zsh -f {} {} {name} 0 {mark}", control_fixture("term-handler.zsh"), dir.display());
    let script = format!(
        r#"{fns}
# Application lifecycle manager
app_start() {{
    log-info "Starting application stack"

    # Start database first
    service_start "app_database" "{db}"  # test: a real command
    sleep 0.2  # Wait for DB startup  # test: was 5

    # Start cache
    service_start "app_cache" "{cache}"
    sleep 0.2  # test: was 2

    # Start application
    service_start "app_server" "{server}"

    # Group for coordinated shutdown
    process-group-add "application" "app_database"
    process-group-add "application" "app_cache"
    process-group-add "application" "app_server"

    log-success "Application started"
}}

app_stop() {{
    log-info "Stopping application stack"

    # Stop in reverse order
    process-group-stop "application" --timeout 30 --force
}}

app_start; print start=$?
for n in app_database app_cache app_server; do  # test: let the last one set its trap
  for i in {{1..200}}; do [[ -e {dir}/$n.ready ]] && break; sleep 0.01; done
done
process-group-list application
app_stop; print stop=$?
process-group-list application 2>/dev/null; print list=$?
"#,
        fns = service_manager(start_line),
        db = svc("app_database"),
        cache = svc("app_cache"),
        server = svc("app_server"),
        dir = dir.display()
    );
    let out = case.env.zsh(&script);
    for n in ["app_database", "app_cache", "app_server"] {
        if let Ok(p) = read_text(dir.join(format!("{n}.ready"))).trim().parse() {
            case.track(p);
        }
    }
    assert!(out.stdout.starts_with("start=0\nProcesses in group application:\n"), "{out:?}");
    assert!(out.stdout.ends_with("stop=0\nlist=1\n"), "{out:?}");
    assert!(out.stderr.contains("[SUCCESS] Application started") && out.stderr.contains("[INFO] Stopping application stack"), "{out:?}");
    // Stopped in reverse order, each one by its own TERM handler.
    assert_eq!(read_text(dir.join("stopped")), "app_server\napp_cache\napp_database\n", "{out:?}");
    assert!(wait_for(2 * SECOND, || pids_with_arg(mark).is_empty()), "left running: {:?}", pids_with_arg(mark));
}

#[test]
fn use_case_3_application_stack_as_written() {
    use_case_3(SPEC_START_LINE, "uc3-spec");
}

#[test]
fn use_case_3_application_stack_with_exec() {
    use_case_3(EXEC_START_LINE, "uc3-exec");
}

#[test]
fn use_case_5_graceful_shutdown_handler() {
    let case = Case::new("uc5");
    let (dir, mark) = (&case.dir, &case.marker);
    let script = format!(
        r#"
# Graceful shutdown handler
setup_shutdown_handler() {{
    local service_name="${{1}}"

    # Trap signals
    trap "shutdown_handler '$service_name'" SIGTERM SIGINT

    log-info "Shutdown handler registered for: $service_name"
}}

shutdown_handler() {{
    local service_name="${{1}}"

    log-info "Shutdown signal received for: $service_name"

    # Notify application to stop accepting new work
    process-signal "$service_name" "USR1"

    # Wait for in-flight work to complete
    sleep 0.3  # test: was 10

    # Graceful shutdown
    process-stop "$service_name" --timeout 30 --force

    log-success "Graceful shutdown complete"
}}

process-start worker 'zsh -f {fx} {dir} {mark}' > {dir}/worker.pid  # test: the service
setup_shutdown_handler worker
print ready > {dir}/ready
while :; do sleep 0.05; done
"#,
        fx = control_fixture("signals.zsh"),
        dir = dir.display()
    );
    let mut shell = Bg::zsh(&case.env, dir, "shell", &script);
    assert!(wait_for(5 * SECOND, || dir.join("ready").exists() && dir.join("signals.ready").exists()), "{}", shell.stderr());
    let worker = read_text(dir.join("worker.pid")).trim().parse::<u32>().unwrap();
    case.track(worker);
    // The shutdown signal, from outside.
    // SAFETY: kill(2) to our own child.
    unsafe { libc::kill(shell.pid() as i32, libc::SIGTERM) };
    assert!(wait_for(5 * SECOND, || shell.stderr().contains("Graceful shutdown complete")), "{}", shell.stderr());
    assert_eq!(read_text(dir.join("got")), "USR1\nTERM\n", "the worker saw USR1, then TERM");
    assert!(!is_alive(worker));
    assert!(!case.env.pid_dir().join("worker.pid").exists(), "PID file left");
    assert_eq!(
        shell.stderr(),
        "[INFO] Shutdown handler registered for: worker\n[INFO] Shutdown signal received for: worker\n[SUCCESS] Graceful shutdown complete\n"
    );
    assert!(shell.child.try_wait().unwrap().is_none(), "the trap must not end the shell");
}

fn use_case_6(prelude: &str, tag: &str) {
    let case = Case::new(tag);
    let (env, dir) = (&case.env, &case.dir);
    let ensure = r#"
# Single-instance enforcer
ensure_single_instance() {
    local lock_name="${1}"

    if process-check-pid-file "$lock_name"; then
        local existing_pid=$(process-read-pid "$lock_name")
        log-error "Another instance is running (PID: $existing_pid)"
        return 1
    fi

    # Claim lock
    process-write-pid "$lock_name" $$

    # Register cleanup
    trap "process-remove-pid '$lock_name'" EXIT

    log-success "Lock acquired: $lock_name"
}
"#;
    let job = |tag: &str| {
        format!(
            "{prelude}{ensure}
             # Usage
             ensure_single_instance \"backup_job\" || exit 1
             # ... run backup ...
             print -r -- $$ > {dir}/{tag}.running  # test: hold the lock until told to finish
             zmodload zsh/zselect
             while [[ ! -e {dir}/{tag}.finish ]]; do zselect -t 1; done
             print finished",
            dir = dir.display()
        )
    };
    let mut first = Bg::zsh(env, dir, "first", &job("first"));
    assert!(wait_for(5 * SECOND, || dir.join("first.running").exists()), "{}", first.stderr());
    // A second instance while the first runs: refused. (Told to finish at once, should it
    // get the lock.)
    std::fs::write(dir.join("second.finish"), "").unwrap();
    let second = env.zsh(&job("second"));
    assert_eq!(second.status, 1, "{second:?}");
    assert_eq!(second.stderr, format!("[ERROR] Another instance is running (PID: {})\n", first.pid()), "{second:?}");
    // The first finishes; its EXIT trap frees the lock.
    std::fs::write(dir.join("first.finish"), "").unwrap();
    assert_eq!(first.wait_timeout(5 * SECOND), Some(0), "{}", first.stderr());
    assert_eq!(first.stderr(), "[SUCCESS] Lock acquired: backup_job\n");
    assert!(!env.pid_dir().join("backup_job.pid").exists(), "the lock outlived its holder");
    std::fs::write(dir.join("third.finish"), "").unwrap();
    let third = env.zsh(&job("third"));
    assert_eq!(third.status, 0, "{third:?}");
    assert_eq!(third.stdout, "finished\n");
    // A holder killed without a chance to clean up leaves a stale lock: it is taken over.
    let mut crashed = Bg::zsh(env, dir, "crashed", &job("crashed"));
    assert!(wait_for(5 * SECOND, || dir.join("crashed.running").exists()));
    let _ = crashed.child.kill();
    let _ = crashed.child.wait();
    assert!(env.pid_dir().join("backup_job.pid").exists());
    std::fs::write(dir.join("fourth.finish"), "").unwrap();
    let fourth = env.zsh(&job("fourth"));
    assert_eq!(fourth.status, 0, "{fourth:?}");
}

#[test]
fn use_case_6_single_instance_lock_as_written() {
    use_case_6("", "uc6-spec");
}

#[test]
fn use_case_6_single_instance_lock_with_posix_traps() {
    use_case_6("setopt posix_traps  # test: EXIT traps set in functions run at shell exit\n", "uc6-posix");
}

#[test]
fn use_case_8_cleanup_stuck_processes() {
    let env = Env::new("uc8");
    let listener = Listener::start("127.0.0.1", "tcp");
    let dead = dead_pid();
    let script = format!(
        r#"
confirm() {{ true }}  # test: say yes

# System maintenance
cleanup_stuck_processes() {{
    log-info "Checking for stuck processes"

    # Find processes using specific port
    local port={port}  # test: was 8080
    local pid=$(process-find-by-port "$port")

    if [[ -n "$pid" ]]; then
        log-warn "Found process on port $port: $pid"

        # Get process info
        process-get-info "$pid"

        # Kill if necessary
        if confirm "Kill process $pid?"; then
            process-stop "$pid" --force
        fi
    fi

    # Cleanup stale PID files
    process-cleanup
}}

process-write-pid leftover {dead}  # test: a stale PID file to clean up
cleanup_stuck_processes; print st=$?
[[ -e $PROCESS_PID_DIR/leftover.pid ]] && print stale-pid-file-left; true
"#,
        port = listener.port
    );
    let out = env.zsh(&script);
    let pid = listener.pid();
    assert!(out.stdout.starts_with("PID: ") && out.stdout.contains(&format!("{pid}\n")), "process-get-info: {out:?}");
    assert!(out.stdout.ends_with("st=0\n"), "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "[INFO] Checking for stuck processes\n[WARN] Found process on port {port}: {pid}\n[INFO] process-cleanup: removed 1 stale entry\n",
            port = listener.port
        ),
        "{out:?}"
    );
    assert!(!is_alive(pid), "the listener survived");
    assert!(!port_open(listener.port));
}

#[test]
fn pattern_4_process_groups() {
    let case = Case::new("pattern4");
    let (dir, mark) = (&case.dir, &case.marker);
    let script = format!(
        r#"
# test: Pattern 2's start_service, for a service named by its argument, with process-start
start_service() {{
    process-check-pid-file "$1" && return 0
    process-start "$1" "zsh -f {fx} {dir} $1 0 {mark}" > /dev/null
}}

# Coordinate related processes
for service in api worker scheduler; do
    start_service "$service"
    process-group-add "app" "$service"
done
for s in api worker scheduler; do while [[ ! -e {dir}/$s.ready ]]; do sleep 0.01; done; done  # test
print -r -- "members=${{_PROCESS_GROUPS[app]}}"
print running=$(process-group-list app | grep -c '^  PID [0-9]')

# Shutdown group
process-group-stop "app" --force
print st=$?
print -r -- "groups=[${{(k)_PROCESS_GROUPS}}]"
"#,
        fx = control_fixture("term-handler.zsh"),
        dir = dir.display()
    );
    let out = case.env.zsh(&script);
    assert_eq!(out.stdout, "members=api worker scheduler\nrunning=3\nst=0\ngroups=[]\n", "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert_eq!(read_text(dir.join("stopped")), "scheduler\nworker\napi\n");
    assert!(pids_with_arg(mark).is_empty());
}
