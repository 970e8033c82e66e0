//! Stacks: process-up and process-down bring a Procfile's entries up and down as one set
//! (process_facts::stack has the file formats and the order). Each entry runs under its
//! own supervisor, a detached `zsh -f` that loads this module and runs
//! `process-supervise --stack STACK [its #process: options] NAME COMMAND` in the
//! Procfile's directory: one entry that exits is restarted alone, within the restart
//! limits, while the others keep running, and any shell can stop it later. The stack is
//! recorded under `$PROCESS_STATE_DIR/stacks`, so process-down, process-restart NAME,
//! process-logs and process-status work from anywhere.

use super::control::{await_release, request_stop, resolve, start_lock, stop_target, timeout_option, KILL_GRACE, TIMEOUT};
use super::events;
use super::lifecycle::{SuperviseOptions, SUPERVISE};
use super::service::{self, forget, module_dir, registry_watch, zsh_path, Readiness};
use super::spec::{Kind, Operand, Opt, Spec};
use super::{failed, usage, Args, Context, Exit, Failure, Outcome};
use crate::zsh::Value;
use process_facts::pidfd::PidFd;
use process_facts::stack::{self, Stack};
use process_facts::store::Dir;
use process_facts::sys::AsFd;
use process_facts::{proc, sys, Identity};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ENTRIES: Operand = Operand { name: "name", kind: Kind::Service, about: "entries of the Procfile (default: all of them)" };
const PROCFILE: Opt = Opt { name: "-f", value: Some(("FILE", Kind::File)), about: "the Procfile (default ./Procfile)" };
const STACK_NAME: Opt = Opt { name: "--name", value: Some(("STACK", Kind::Text)), about: "the stack's name (default: the name of the Procfile's directory)" };

pub const UP: Spec = Spec {
    purpose: "bring up a Procfile's entries, each supervised, in dependency order, each ready before its dependents start",
    operands: &[ENTRIES],
    min: 0,
    max: usize::MAX,
    options: &[
        PROCFILE,
        Opt { name: "-e", value: Some(("FILE", Kind::File)), about: "the environment file (default .env beside the Procfile, if there is one)" },
        Opt { name: "--port", value: Some(("PORT", Kind::Port)), about: "the first entry's $PORT, the next one's 100 more (default $PORT of the .env or the shell, else 5000)" },
        STACK_NAME,
    ],
    exits: &[
        (0, "every entry asked for (and those it comes --after) is up, and ready where it has a check"),
        (1, "an entry did not start or was not ready in time (its dependents are not started; the others stay up), or the Procfile or .env is refused"),
        (130, "Ctrl-C (what is up stays up)"),
    ],
    see: "docs/services.md#stacks",
};
pub const DOWN: Spec = Spec {
    purpose: "stop a stack's entries with their whole trees, dependents first, and their supervisors",
    operands: &[ENTRIES],
    min: 0,
    max: usize::MAX,
    options: &[PROCFILE, STACK_NAME, TIMEOUT],
    exits: &[(0, "stopped (nothing of them is left running)"), (1, "no such stack, or one would not stop"), (130, "Ctrl-C")],
    see: "docs/services.md#stacks",
};

/// How long an entry without a readiness check may take to be recorded as started.
const START_SLACK: Duration = Duration::from_secs(10);

/// The supervisor's program: load the module, go to the Procfile's directory, supervise.
const SUPERVISOR_SCRIPT: &[u8] =
    b"module_path=(\"$1\" $module_path); zmodload zsh_process/process || exit 127; cd -- \"$2\" || exit 1; shift 2; process-supervise \"$@\"";

/// A path given on the command line, made absolute against the shell's directory.
fn absolute(p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(p)
    }
}

/// A user's file (a Procfile, a .env), read by the same rules as the library's own: in a
/// directory no other user can write, owned by the user or root. It says what runs as the
/// user, so a planted one must not be taken.
fn read_user_file(path: &Path) -> Result<Option<String>, Failure> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(usage(format!("not a file: {}", path.display())));
    };
    let Some(dir) = Dir::open(parent)? else { return Ok(None) };
    // Exactly what it says, or nothing: a command changed by a replacement character is
    // not the one the user wrote.
    match dir.read(name)? {
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            failed(format!("{}: line {line} is not UTF-8", path.display()))
        }),
        None => Ok(None),
    }
}

/// The default name of the stack of `procfile`: its directory's name, as a file name.
fn default_name(procfile: &Path) -> String {
    let base = procfile.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let clean: String = base.chars().map(|c| if c.is_ascii_alphanumeric() || "_-.".contains(c) { c } else { '_' }).collect();
    let clean = clean.trim_start_matches('.').to_string();
    if clean.is_empty() {
        "stack".to_string()
    } else {
        clean
    }
}

fn stack_name_option(args: &Args) -> Result<Option<String>, Failure> {
    match args.value("--name") {
        Some(n) => {
            process_facts::store::validate_name(n).map_err(|e| usage(format!("invalid --name: {e}")))?;
            Ok(Some(n.to_string()))
        }
        None => Ok(None),
    }
}

/// Reads and parses the Procfile (and its .env) into a stack.
fn load(cx: &mut Context, args: &Args) -> Result<Stack, Failure> {
    // Bad options are bad usage, whatever the files hold.
    let port_option = match args.value("--port") {
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| usage(format!("invalid --port '{p}': expected a port, 1 to 65535")))?),
        None => None,
    };
    let name_option = stack_name_option(args)?;
    if args.value("-f") == Some("") || args.value("-e") == Some("") {
        return Err(usage("invalid -f or -e '': expected a file name"));
    }
    let procfile = absolute(args.value("-f").unwrap_or("Procfile"));
    // The stack's record names its Procfile and directory as text: it must name them exactly.
    if procfile.to_str().is_none() {
        return Err(failed(format!("the Procfile's path is not UTF-8: {}", procfile.display())));
    }
    let text = read_user_file(&procfile)?.ok_or_else(|| failed(format!("no Procfile at {}", procfile.display())))?;
    let dir = procfile.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    let env_file = match args.value("-e") {
        Some(f) => Some(absolute(f)),
        None => Some(dir.join(".env")),
    };
    let env = match env_file {
        Some(f) => match read_user_file(&f)? {
            Some(text) => stack::parse_env(&text).map_err(|e| failed(format!("{}: {e}", f.display())))?,
            None if args.value("-e").is_some() => return Err(failed(format!("no environment file at {}", f.display()))),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let base_port = match port_option {
        Some(p) => p,
        None => {
            let from_env = env.iter().rev().find(|(k, _)| k == "PORT").map(|(_, v)| v.clone()).or_else(|| cx.sh.get("PORT"));
            match from_env.filter(|p| !p.is_empty()) {
                Some(p) => p.parse::<u16>().map_err(|_| failed(format!("$PORT '{p}' is not a port")))?,
                None => stack::BASE_PORT,
            }
        }
    };
    let (entries, skipped) = stack::parse_procfile(&text, &env, base_port).map_err(|e| match e {
        stack::ProcfileError::Refused(_) => failed(format!("{}: {e}", procfile.display())),
        stack::ProcfileError::Options { .. } => usage(format!("{}: {e}", procfile.display())),
    })?;
    for s in skipped {
        cx.warn(&format!("{}:{}: not a 'name: command' line, skipped: {}", procfile.display(), s.line, s.text.trim()));
    }
    // Every entry's options, checked now as its supervisor will read them.
    for e in &entries {
        let mut argv: Vec<Vec<u8>> = e.options.iter().map(|o| o.as_bytes().to_vec()).collect();
        argv.extend([b"--".to_vec(), e.name.clone().into_bytes(), b"x".to_vec()]);
        let parsed = super::Args::parse(argv, &SUPERVISE).and_then(|a| SuperviseOptions::from_args(cx, &a).map(drop));
        if let Err(f) = parsed {
            return Err(usage(format!("{}: entry {}: {}", procfile.display(), e.name, f.message)));
        }
        if e.options.iter().any(|o| o == "--stack" || o.starts_with("--stack=")) {
            return Err(usage(format!("{}: entry {}: --stack is set by process-up", procfile.display(), e.name)));
        }
    }
    let name = name_option.unwrap_or_else(|| default_name(&procfile));
    Ok(Stack { name, procfile, dir, env, entries })
}

/// The recorded stack that down/restart mean: `--name`, else the one of `-f` (or of
/// ./Procfile), else the only one there is.
fn locate(cx: &mut Context, args: &Args) -> Result<Stack, Failure> {
    let state = cx.settings().state();
    if let Some(name) = stack_name_option(args)? {
        return state.stack(&name)?.ok_or_else(|| failed(format!("no stack named {name} is up")));
    }
    let procfile = absolute(args.value("-f").unwrap_or("Procfile"));
    let names = state.stack_names()?;
    for n in &names {
        if let Some(s) = state.stack(n)? {
            if s.procfile == procfile {
                return Ok(s);
            }
        }
    }
    match (args.value("-f"), names.as_slice()) {
        (None, [only]) => state.stack(only)?.ok_or_else(|| failed("the stack vanished")),
        (_, []) => Err(failed("no stack is up")),
        _ => Err(failed(format!("no stack is up from {}; give --name (stacks up: {})", procfile.display(), names.join(", ")))),
    }
}

/// The environment an entry's supervisor (and so the entry) gets: the .env's variables,
/// `$PORT`, and this shell's library settings, so that it keeps its files where this
/// shell looks for them.
fn entry_env(cx: &mut Context, stack: &Stack, entry: &stack::Entry) -> Vec<Vec<u8>> {
    let settings = cx.settings();
    let mut env: Vec<Vec<u8>> = stack.env.iter().map(|(k, v)| format!("{k}={v}").into_bytes()).collect();
    env.push(format!("PORT={}", entry.port).into_bytes());
    let path = |k: &str, p: &Path| {
        let mut e = format!("{k}=").into_bytes();
        e.extend_from_slice(p.as_os_str().as_bytes());
        e
    };
    env.push(path("PROCESS_PID_DIR", &settings.pid_dir));
    env.push(path("PROCESS_STATE_DIR", &settings.state_dir));
    env.push(path("PROCESS_LOG_DIR", &settings.log_dir));
    for (k, v) in [
        ("PROCESS_LOG_MAX_SIZE", settings.log_rotation.max_size.to_string()),
        ("PROCESS_LOG_KEEP", settings.log_rotation.keep.to_string()),
        ("PROCESS_DEFAULT_TIMEOUT", settings.default_timeout.as_secs_f64().to_string()),
        ("PROCESS_MAX_RESTARTS", settings.max_restarts.to_string()),
        ("PROCESS_RESTART_DELAY", settings.restart_delay.as_secs_f64().to_string()),
        ("PROCESS_RESTART_WINDOW", settings.restart_window.as_secs_f64().to_string()),
        ("PROCESS_DEBUG", settings.debug.to_string()),
    ] {
        env.push(format!("{k}={v}").into_bytes());
    }
    for k in ["XDG_RUNTIME_DIR", "PROCESS_EVENTS_JSONL"] {
        if let Some(v) = cx.sh.get_bytes(k).filter(|v| !v.is_empty()) {
            let mut e = format!("{k}=").into_bytes();
            e.extend_from_slice(&v);
            env.push(e);
        }
    }
    env
}

/// Starts the supervisor of one entry, detached; its own messages go to the entry's log.
fn launch_supervisor(cx: &mut Context, stack: &Stack, entry: &stack::Entry) -> Result<Identity, Failure> {
    let module_dir = module_dir(cx).ok_or_else(|| failed("the module file this shell loaded is gone or replaced (rebuilt?); start a new shell to run process-up"))?;
    // Its own messages through a log writer too, so that they follow the log's rotations.
    let output = service::open_output(cx, &entry.name)?;
    let zsh = zsh_path();
    let mut argv: Vec<&[u8]> =
        vec![&zsh, b"-f", b"-c", SUPERVISOR_SCRIPT, b"zsh-process-supervise", &module_dir, stack.dir.as_os_str().as_bytes(), b"--stack", stack.name.as_bytes()];
    argv.extend(entry.options.iter().map(|o| o.as_bytes()));
    argv.extend([b"--".as_slice(), entry.name.as_bytes(), entry.command.as_bytes()]);
    let env = entry_env(cx, stack, entry);
    let pid = process_facts::spawn::spawn_detached(&argv, &env, None, output.fd()).map_err(|e| failed(format!("cannot start the supervisor of {}: {e}", entry.name)))?;
    Ok(Identity { pid, starttime: proc::stat(pid).map(|s| s.starttime).unwrap_or(0) })
}

/// How long `entry` may take to be up: its readiness timeout, and some slack.
fn up_timeout(entry: &stack::Entry) -> Duration {
    let mut argv: Vec<Vec<u8>> = entry.options.iter().map(|o| o.as_bytes().to_vec()).collect();
    argv.extend([b"--".to_vec(), b"x".to_vec(), b"x".to_vec()]);
    let readiness = super::Args::parse(argv, &SUPERVISE).and_then(|a| Readiness::from_args(&a));
    match readiness {
        Ok(r) if r.check.is_some() => r.timeout + START_SLACK,
        _ => START_SLACK,
    }
}

/// Waits until the entry its supervisor `sup` runs is recorded as ready (or, without a
/// check, started): the PID. Err says why not: the supervisor ended (the log's end), or
/// the time ran out.
fn await_up(cx: &mut Context, name: &str, sup: Identity, timeout: Duration) -> Result<Identity, Failure> {
    let state = cx.settings().state();
    let registry = state.registry_dir()?;
    let watch = registry_watch(&registry)?;
    let sup_fd = PidFd::open(sup).ok();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(e) = state.entry(name)? {
            if e.supervisor == Some(sup) && e.ready_epoch.is_some() && e.identity().is_alive() {
                return Ok(e.identity());
            }
        }
        if sup_fd.as_ref().is_none_or(PidFd::has_exited) {
            let log = cx.settings().log_dir.join(process_facts::log::file_name(name));
            let (said, lines) = service::log_end(&service::Launched { id: sup, log, logger: None }, name);
            return Err(failed(format!("{name} did not come up: its supervisor ended{said}")).with_detail(lines));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(failed(format!("{name} not ready within {}s; its supervisor keeps trying (process-logs {name})", timeout.as_secs_f64())));
        }
        let mut fds = vec![sys::readable(watch.as_raw_fd())];
        if let Some(fd) = &sup_fd {
            fds.push(sys::readable(fd.as_raw_fd()));
        }
        process_facts::wait::poll(cx, &mut fds, Some(left))?;
        let _ = sys::fs::inotify_read(watch.as_fd());
    }
}

/// Who runs `name` now, if anyone: its process alive, or its supervisor.
enum Owner {
    Nobody,
    /// This stack's entry, up already (the PID).
    Us(Identity),
    /// Another stack's entry, or a service of its own: not ours to take or stop.
    Other(String),
}

fn owner(cx: &mut Context, stack: &str, name: &str) -> Result<Owner, Failure> {
    let settings = cx.settings();
    let entry = settings.state().entry(name)?;
    let running = settings.pid_files().running(name, cx)?;
    let supervised = entry.as_ref().filter(|e| !e.gave_up).and_then(|e| e.supervisor).filter(Identity::is_alive);
    let Some(id) = running.or(supervised) else { return Ok(Owner::Nobody) };
    Ok(match entry.as_ref().and_then(|e| e.stack.as_deref()) {
        Some(s) if s == stack => Owner::Us(id),
        Some(other) => Owner::Other(format!("the stack {other}")),
        None => Owner::Other(format!("PID {} (not started by this stack)", id.pid)),
    })
}

/// The indexes of `wanted` entries and of those they come after (within the stack).
fn with_dependencies(stack: &Stack, wanted: &[String]) -> Result<Vec<bool>, Failure> {
    let mut chosen = vec![wanted.is_empty(); stack.entries.len()];
    let mut todo: Vec<String> = wanted.to_vec();
    while let Some(n) = todo.pop() {
        let i = stack.entries.iter().position(|e| e.name == n).ok_or_else(|| usage(format!("no entry {n} in {}", stack.procfile.display())))?;
        if !chosen[i] {
            chosen[i] = true;
            todo.extend(stack.entries[i].after().into_iter().filter(|a| stack.entry(a).is_some()));
        }
    }
    Ok(chosen)
}

fn operands(args: &Args) -> Result<Vec<String>, Failure> {
    (0..args.count()).map(|i| super::pidfiles::name_operand(args, i)).collect()
}

/// `process-up [-f FILE] [-e FILE] [--port N] [--name STACK] [NAME...]`
pub fn up(cx: &mut Context, args: &Args) -> Outcome {
    let stack = load(cx, args)?;
    let state = cx.settings().state();
    if let Some(old) = state.stack(&stack.name)? {
        if old.procfile != stack.procfile {
            return Err(failed(format!("a stack named {} is up from {}; give this one another --name", stack.name, old.procfile.display())));
        }
    }
    let chosen = with_dependencies(&stack, &operands(args)?)?;
    let order = stack::start_order(&stack.entries).map_err(|e| failed(format!("{}: {e}", stack.procfile.display())))?;
    state.save_stack(&stack)?;
    let mut down: Vec<&str> = Vec::new();
    for i in order.into_iter().filter(|&i| chosen[i]) {
        let entry = &stack.entries[i];
        if let Some(blocker) = entry.after().into_iter().find(|a| down.contains(&a.as_str())) {
            cx.warn(&format!("{}: not started: {blocker} is not up", entry.name));
            down.push(&entry.name);
            continue;
        }
        match owner(cx, &stack.name, &entry.name)? {
            Owner::Us(id) => {
                cx.debug(&format!("{} is up already (PID {})", entry.name, id.pid));
                continue;
            }
            Owner::Other(who) => {
                cx.warn(&format!("{}: not started: the name is taken by {who}", entry.name));
                down.push(&entry.name);
                continue;
            }
            Owner::Nobody => {}
        }
        let sup = launch_supervisor(cx, &stack, entry)?;
        match await_up(cx, &entry.name, sup, up_timeout(entry)) {
            Ok(id) => cx.debug(&format!("{} is up (PID {}, supervisor {})", entry.name, id.pid, sup.pid)),
            Err(f) if f.is_interrupted() => return Err(f),
            Err(f) => {
                cx.report(&f);
                down.push(&entry.name);
            }
        }
    }
    Ok(Exit::yes_no(down.is_empty()))
}

/// Stops one entry of `stack` and its supervisor, whatever state it is in, and forgets
/// it. A service of that name that is not this stack's is left alone.
fn stop_entry(cx: &mut Context, stack: &str, name: &str, timeout: Duration) -> Result<(), Failure> {
    let recorded = cx.settings().state().entry(name)?;
    if let Some(e) = &recorded {
        if e.stack.as_deref() != Some(stack) {
            cx.debug(&format!("{name} is not running as an entry of {stack}: left alone"));
            return Ok(());
        }
    } else if cx.settings().pid_files().running(name, cx)?.is_some() {
        cx.debug(&format!("{name} is running, but not as an entry of {stack}: left alone"));
        return Ok(());
    }
    match resolve(cx, name)? {
        Ok(target) => {
            stop_target(cx, &target, timeout, true)?;
        }
        Err(_) => {
            // Between two tries, or given up: a supervisor (maybe) to end.
            let _lock = start_lock(cx, name)?;
            if let Some(sup) = request_stop(cx, name)? {
                await_release(cx, name, sup, timeout + KILL_GRACE)?;
                // One of this stack's own supervisors (a zsh of ours) that did not let go.
                if sup.is_alive() {
                    let _ = process_facts::signal::send(sup, libc::SIGKILL);
                }
            }
            forget(cx, name);
        }
    }
    Ok(())
}

/// `process-down [-f FILE] [--name STACK] [--timeout S] [NAME...]`
pub fn down(cx: &mut Context, args: &Args) -> Outcome {
    let timeout = timeout_option(cx, args)?;
    let stack = locate(cx, args)?;
    let wanted = operands(args)?;
    for w in &wanted {
        if stack.entry(w).is_none() {
            return Err(usage(format!("no entry {w} in the stack {}", stack.name)));
        }
    }
    let order = stack::start_order(&stack.entries).unwrap_or_else(|_| (0..stack.entries.len()).collect());
    let mut failures = 0;
    for i in order.into_iter().rev() {
        let name = &stack.entries[i].name;
        if !wanted.is_empty() && !wanted.contains(name) {
            continue;
        }
        if let Err(f) = stop_entry(cx, &stack.name, name, timeout) {
            if f.is_interrupted() {
                return Err(f);
            }
            cx.warn(&format!("{name}: {}", f.message));
            failures += 1;
        }
    }
    if wanted.is_empty() && failures == 0 {
        cx.settings().state().remove_stack(&stack.name)?;
    }
    Ok(Exit::yes_no(failures == 0))
}

/// `process-restart NAME` for an entry of a stack: its supervisor and it are stopped, and
/// a new supervisor runs it with its Procfile options; prints the new PID once it is up.
pub fn restart_entry(cx: &mut Context, args: &Args, stack_name: &str, name: &str, timeout: Duration) -> Outcome {
    let stack = cx.settings().state().stack(stack_name)?.ok_or_else(|| failed(format!("{name} belongs to the stack {stack_name}, which is not recorded any more")))?;
    let entry = stack.entry(name).ok_or_else(|| failed(format!("{name} is no entry of the stack {stack_name} any more")))?.clone();
    let delay = args.seconds("--delay", Duration::from_secs(1))?;
    match owner(cx, stack_name, name)? {
        Owner::Us(_) => {
            stop_entry(cx, stack_name, name, timeout)?;
            process_facts::wait::sleep(cx, delay)?;
        }
        Owner::Other(who) => return Err(failed(format!("{name} is taken by {who}"))),
        Owner::Nobody => {}
    }
    let sup = launch_supervisor(cx, &stack, &entry)?;
    let id = await_up(cx, name, sup, up_timeout(&entry))?;
    let pid = id.pid.to_string();
    cx.emit(events::RESTART, &[name, &pid]);
    cx.put(args, Value::text(pid))?;
    Ok(Exit::Success)
}
