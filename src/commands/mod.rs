//! The documented commands. Each is a plain Rust function over a [`Context`] (the shell,
//! its name, the settings) and its parsed [`Args`]; [`BUILTINS`] is what the zsh layer
//! registers.
//!
//! Conventions shared by all of them ([`outcome`]): status 0 success, 1 the documented
//! "no" or a failure, 2 bad usage, 130 Ctrl-C, each failure one line `command: problem`
//! on stderr; every command that prints a value also takes `-v NAME` and assigns it
//! instead (an array for lists, an associative array for `process-get-info`), which saves
//! the ~400 µs subshell of `x=$(command)`.
#![deny(unsafe_code)]

mod args;
mod context;
mod control;
mod detect;
mod events;
pub mod groups;
mod info;
mod lifecycle;
mod meta;
mod monitor;
pub mod outcome;
mod pidfiles;
mod registry;
pub mod settings;

pub use args::{Args, OptSpec};
pub use context::Context;
pub use outcome::{failed, usage, Exit, Failure, Outcome};

use crate::zsh::{Builtin, Shell};
use std::cell::RefCell;

/// Runs one command: parses its arguments by `spec`, runs `body`, reports a failure.
fn run(sh: &mut Shell, name: &'static str, argv: Vec<Vec<u8>>, spec: &OptSpec, body: fn(&mut Context, &Args) -> Outcome) -> i32 {
    let mut cx = Context::new(sh, name);
    let outcome = Args::parse(argv, spec).and_then(|args| body(&mut cx, &args));
    match outcome {
        Ok(exit) => exit.code(),
        Err(f) => {
            if !f.message.is_empty() {
                cx.warn(&f.message);
            }
            f.exit.code()
        }
    }
}

/// A builtin table entry for `body`, whose options are `spec`.
macro_rules! builtin {
    ($name:literal, $spec:expr, $body:path) => {
        Builtin { name: $name, run: |sh, name, argv| run(sh, name, argv, &$spec, $body) }
    };
}

/// The builtins, in the order zsh lists them.
pub static BUILTINS: &[Builtin] = &[
    // Detection
    builtin!(c"process-exists", detect::EXISTS, detect::exists),
    builtin!(c"process-is-running", detect::EXISTS, detect::exists),
    builtin!(c"process-find-by-name", detect::FIND, detect::find_by_name),
    builtin!(c"process-find-all-by-name", detect::FIND, detect::find_all_by_name),
    builtin!(c"process-find-by-port", detect::PORT, detect::find_by_port),
    // Information
    builtin!(c"process-get-cpu", info::ONE_PID, info::get_cpu),
    builtin!(c"process-get-memory", info::ONE_PID, info::get_memory),
    builtin!(c"process-get-command", info::ONE_PID, info::get_command),
    builtin!(c"process-get-info", info::ONE_PID, info::get_info),
    // PID files
    builtin!(c"process-write-pid", pidfiles::WRITE, pidfiles::write_pid),
    builtin!(c"process-read-pid", pidfiles::READ, pidfiles::read_pid),
    builtin!(c"process-remove-pid", pidfiles::NAME_ONLY, pidfiles::remove_pid),
    builtin!(c"process-check-pid-file", pidfiles::NAME_ONLY, pidfiles::check_pid_file),
    // Control
    builtin!(c"process-signal", control::SIGNAL, control::signal),
    builtin!(c"process-stop", control::STOP, control::stop),
    builtin!(c"process-start", lifecycle::START, lifecycle::start),
    builtin!(c"process-restart", lifecycle::RESTART, lifecycle::restart),
    builtin!(c"process-supervise", lifecycle::SUPERVISE, lifecycle::supervise),
    builtin!(c"process-get-children", control::CHILDREN, control::get_children),
    builtin!(c"process-kill-tree", control::KILL_TREE, control::kill_tree),
    // Monitoring
    builtin!(c"process-monitor", monitor::MONITOR, monitor::monitor),
    // Groups
    builtin!(c"process-group-add", groups::ADD, groups::add),
    builtin!(c"process-group-stop", groups::STOP, groups::stop),
    builtin!(c"process-group-list", groups::LIST, groups::list),
    // Utilities
    builtin!(c"process-list", registry::NONE, registry::list),
    builtin!(c"process-cleanup", registry::NONE, registry::cleanup),
    builtin!(c"process-version", meta::NONE, meta::version),
    builtin!(c"process-self-test", meta::NONE, meta::self_test),
];

/// What lives as long as the module in this shell: the sample store kept open, the
/// shell's own samples and socket owners for when that store is refused, and pidfds of
/// processes asked about (see process_facts::liveness).
#[derive(Default)]
pub struct State {
    pub liveness: process_facts::liveness::Liveness,
    /// The shared sample store, opened once and checked again at each use.
    pub samples: Option<process_facts::samples::Store>,
    pub cpu_here: std::collections::HashMap<process_facts::Identity, process_facts::samples::CpuSample>,
    pub owners_here: process_facts::ports::OwnerCache,
}

impl State {
    /// Makes `samples` the store at `path` (reusing the open one while it is still there).
    pub fn open_samples(&mut self, path: &std::path::Path) -> Result<(), process_facts::store::StoreError> {
        if !self.samples.as_ref().is_some_and(|s| s.still_at(path)) {
            self.samples = None;
            self.samples = Some(process_facts::samples::Store::open(path)?);
        }
        Ok(())
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Runs `f` on the module's state. Never across a wait or a call into the shell: a trap
/// may call back into the module there. Should that ever happen anyway, or a trap run
/// while the shell exits (after thread-local storage is gone), the call gets a fresh,
/// empty state for its duration: slower, never wrong, never a panic.
pub fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut f = Some(f);
    let done = STATE.try_with(|s| s.try_borrow_mut().ok().map(|mut state| (f.take().expect("called once"))(&mut state)));
    match done {
        Ok(Some(r)) => r,
        _ => (f.take().expect("not called yet"))(&mut State::default()),
    }
}
