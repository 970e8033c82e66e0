//! The documented commands. Each is a plain Rust function over a [`Shell`] and its
//! arguments; the zsh layer registers every entry of [`COMMANDS`] as a builtin.
//!
//! Conventions shared by all of them:
//! - exit status 0 success, 1 the documented "no"/failure, 2 bad usage (unknown option,
//!   missing or malformed argument), with a one-line message `command: problem` on stderr;
//! - every command that prints a value also takes `-v NAME` and assigns it to `NAME`
//!   instead (an array for lists, an associative array for `process-get-info`), which
//!   saves the ~400 µs subshell of `x=$(command)`.

mod args;
mod config;
mod control;
mod detect;
mod events;
pub mod groups;
mod info;
mod lifecycle;
mod meta;
mod monitor;
mod pidfiles;
mod registry;

pub use args::{Args, OptSpec};
use crate::zsh::{Shell, Value};
use std::cell::RefCell;
use std::ffi::CStr;

pub type Status = i32;
pub const STATUS_OK: Status = 0;
pub const STATUS_NO: Status = 1;
pub const STATUS_USAGE: Status = 2;
pub const STATUS_INTERNAL: Status = 3;
/// Ctrl-C ended the command (128 + SIGINT, the shell's convention).
pub const STATUS_INTERRUPTED: Status = 130;

/// A problem that ends a command: printed as `command: message`.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: status 2.
    Usage(String),
    /// The operation failed: status 1 (or the given status).
    Failed(String, Status),
}

pub type Outcome = Result<Status, Failure>;

pub fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}
pub fn failed(msg: impl Into<String>) -> Failure {
    Failure::Failed(msg.into(), STATUS_NO)
}

pub struct Command {
    pub name: &'static CStr,
    pub run: fn(&mut Shell, &str, Vec<String>) -> Status,
}

/// Adapts `fn(&mut Shell, Args) -> Outcome` to the builtin calling convention.
macro_rules! command {
    ($name:literal, $spec:expr, $body:path) => {
        Command {
            name: $name,
            run: |sh, cmd, argv| run_with(sh, cmd, argv, &$spec, $body),
        }
    };
}

fn run_with(sh: &mut Shell, cmd: &str, argv: Vec<String>, spec: &OptSpec, body: fn(&mut Shell, &Args) -> Outcome) -> Status {
    let outcome = Args::parse(cmd, argv, spec).and_then(|args| body(sh, &args));
    match outcome {
        Ok(status) => status,
        Err(Failure::Usage(msg)) => {
            sh.warn(cmd, &msg);
            STATUS_USAGE
        }
        Err(Failure::Failed(msg, status)) => {
            if !msg.is_empty() {
                sh.warn(cmd, &msg);
            }
            status
        }
    }
}

/// The builtins, in the order zsh lists them. `funcid` is the index here.
pub static COMMANDS: &[Command] = &[
    // Detection
    command!(c"process-exists", detect::EXISTS, detect::exists),
    command!(c"process-is-running", detect::EXISTS, detect::exists),
    command!(c"process-find-by-name", detect::FIND, detect::find_by_name),
    command!(c"process-find-all-by-name", detect::FIND, detect::find_all_by_name),
    command!(c"process-find-by-port", detect::PORT, detect::find_by_port),
    // Information
    command!(c"process-get-cpu", info::ONE_PID, info::get_cpu),
    command!(c"process-get-memory", info::ONE_PID, info::get_memory),
    command!(c"process-get-command", info::ONE_PID, info::get_command),
    command!(c"process-get-info", info::ONE_PID, info::get_info),
    // PID files
    command!(c"process-write-pid", pidfiles::WRITE, pidfiles::write_pid),
    command!(c"process-read-pid", pidfiles::READ, pidfiles::read_pid),
    command!(c"process-remove-pid", pidfiles::NAME_ONLY, pidfiles::remove_pid),
    command!(c"process-check-pid-file", pidfiles::NAME_ONLY, pidfiles::check_pid_file),
    // Control
    command!(c"process-signal", control::SIGNAL, control::signal),
    command!(c"process-stop", control::STOP, control::stop),
    command!(c"process-start", lifecycle::START, lifecycle::start),
    command!(c"process-restart", lifecycle::RESTART, lifecycle::restart),
    command!(c"process-supervise", lifecycle::SUPERVISE, lifecycle::supervise),
    command!(c"process-get-children", control::CHILDREN, control::get_children),
    command!(c"process-kill-tree", control::KILL_TREE, control::kill_tree),
    // Monitoring
    command!(c"process-monitor", monitor::MONITOR, monitor::monitor),
    // Groups
    command!(c"process-group-add", groups::ADD, groups::add),
    command!(c"process-group-stop", groups::STOP, groups::stop),
    command!(c"process-group-list", groups::LIST, groups::list),
    // Utilities
    command!(c"process-list", registry::NONE, registry::list),
    command!(c"process-cleanup", registry::NONE, registry::cleanup),
    command!(c"process-version", meta::NONE, meta::version),
    command!(c"process-self-test", meta::NONE, meta::self_test),
];

/// Prints `value`, or assigns it to the variable named with `-v`.
pub fn put(sh: &mut Shell, args: &Args, value: Value) -> Result<(), Failure> {
    if let Some(var) = args.var() {
        if !sh.assign(var, value) {
            return Err(failed(format!("cannot assign to '{var}'")));
        }
        return Ok(());
    }
    let mut out = String::new();
    match value {
        Value::Scalar(s) => {
            out.push_str(&s);
            out.push('\n');
        }
        Value::Array(items) => {
            for i in items {
                out.push_str(&i);
                out.push('\n');
            }
        }
        Value::Assoc(pairs) => {
            for (k, v) in pairs {
                out.push_str(&format!("{k}: {v}\n"));
            }
        }
    }
    sh.print(&out);
    Ok(())
}

/// State that lives as long as the module in this shell: CPU samples, socket owners, and
/// pidfds of processes asked about (see process_facts::liveness).
#[derive(Default)]
pub struct State {
    pub cpu: process_facts::cpu::Sampler,
    pub ports: process_facts::ports::OwnerCache,
    pub liveness: process_facts::liveness::LivenessCache,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

pub fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Sleeps for `d`, in slices, returning false at once if the user presses Ctrl-C.
pub fn sleep_interruptibly(sh: &mut Shell, d: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        let ms = left.as_millis().clamp(1, 100) as i32;
        process_facts::signalfd::nap(ms);
        if sh.interrupted() {
            return false;
        }
    }
}
