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
mod help;
mod info;
mod json;
mod lifecycle;
mod logs;
mod meta;
mod monitor;
pub mod outcome;
mod pidfiles;
mod promfile;
mod registry;
mod service;
pub mod settings;
pub mod spec;
mod stack;
mod status;
mod waiting;

pub use args::Args;
pub use context::Context;
pub use outcome::{failed, usage, Exit, Failure, Outcome};

use crate::zsh::Shell;
use spec::Spec;
use std::cell::RefCell;
use std::ffi::CStr;

/// One builtin: its name, its spec (options, help), and what it does.
pub struct Command {
    pub name: &'static CStr,
    pub spec: &'static Spec,
    pub body: fn(&mut Context, &Args) -> Outcome,
}

impl Command {
    pub fn name(&self) -> &'static str {
        self.name.to_str().unwrap_or("process")
    }

    /// A builtin the library runs for itself (`_process-log-writer`): not listed in the
    /// help or the completion, though it answers `--help` like every other.
    pub fn is_internal(&self) -> bool {
        self.name().starts_with('_')
    }
}

/// The builtins users call, in the order of [`COMMANDS`].
pub fn documented() -> impl Iterator<Item = &'static Command> {
    COMMANDS.iter().filter(|c| !c.is_internal())
}

/// The commands, and their names for the zsh layer, from one list.
macro_rules! commands {
    ($( $name:literal => $spec:path, $body:path; )*) => {
        pub static COMMANDS: &[Command] = &[ $( Command { name: $name, spec: &$spec, body: $body } ),* ];
        pub static NAMES: &[&CStr] = &[ $( $name ),* ];
    };
}

commands! {
    // Detection
    c"process-exists" => detect::EXISTS, detect::exists;
    c"process-is-running" => detect::IS_RUNNING, detect::exists;
    c"process-find-by-name" => detect::FIND_BY_NAME, detect::find_by_name;
    c"process-find-all-by-name" => detect::FIND_ALL_BY_NAME, detect::find_all_by_name;
    c"process-find-by-port" => detect::FIND_BY_PORT, detect::find_by_port;
    // Information
    c"process-get-cpu" => info::GET_CPU, info::get_cpu;
    c"process-get-memory" => info::GET_MEMORY, info::get_memory;
    c"process-get-command" => info::GET_COMMAND, info::get_command;
    c"process-get-info" => info::GET_INFO, info::get_info;
    // PID files
    c"process-write-pid" => pidfiles::WRITE, pidfiles::write_pid;
    c"process-read-pid" => pidfiles::READ, pidfiles::read_pid;
    c"process-remove-pid" => pidfiles::REMOVE, pidfiles::remove_pid;
    c"process-check-pid-file" => pidfiles::CHECK, pidfiles::check_pid_file;
    // Control
    c"process-signal" => control::SIGNAL, control::signal;
    c"process-stop" => control::STOP, control::stop;
    c"process-start" => lifecycle::START, lifecycle::start;
    c"process-restart" => lifecycle::RESTART, lifecycle::restart;
    c"process-supervise" => lifecycle::SUPERVISE, lifecycle::supervise;
    c"process-get-children" => control::CHILDREN, control::get_children;
    c"process-kill-tree" => control::KILL_TREE, control::kill_tree;
    c"process-wait" => waiting::WAIT, waiting::wait;
    // Services
    c"process-logs" => logs::LOGS, logs::logs;
    c"process-status" => status::STATUS, status::status;
    c"process-up" => stack::UP, stack::up;
    c"process-down" => stack::DOWN, stack::down;
    // Monitoring
    c"process-monitor" => monitor::MONITOR, monitor::monitor;
    // Groups
    c"process-group-add" => groups::ADD, groups::add;
    c"process-group-stop" => groups::STOP, groups::stop;
    c"process-group-list" => groups::LIST, groups::list;
    // Utilities
    c"process-list" => registry::LIST, registry::list;
    c"process-cleanup" => registry::CLEANUP, registry::cleanup;
    c"process-version" => meta::VERSION_SPEC, meta::version;
    c"process-self-test" => meta::SELF_TEST, meta::self_test;
    c"process-help" => help::HELP, help::help;
    // Internal: the log writer of a service (see service.rs).
    c"_process-log-writer" => logs::LOG_WRITER, service::log_writer;
}

/// Text from a process (its name, its command line) made safe for a listing a person
/// reads: line breaks become spaces and other control characters are shown escaped, so
/// another user's process cannot forge a line or send escape sequences to the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' => " ".to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// [`printable`] for bytes: control characters escaped, bytes that are not UTF-8 kept as
/// they are (a name is bytes; only what would drive the terminal is defused).
pub fn printable_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.extend_from_slice(printable(chunk.valid()).as_bytes());
        out.extend_from_slice(chunk.invalid());
    }
    out
}

/// Runs builtin `index` of [`COMMANDS`]: `-h`/`--help` prints its help; otherwise its
/// arguments are parsed by its spec, it runs, and a failure is reported in one line.
pub fn run(sh: &mut Shell, index: usize, argv: Vec<Vec<u8>>) -> i32 {
    let Some(command) = COMMANDS.get(index) else { return 3 };
    let mut cx = Context::new(sh, command.name());
    if spec::wants_help(&argv) {
        help::print_page(&mut cx, command);
        return 0;
    }
    let outcome = Args::parse(argv, command.spec).and_then(|args| (command.body)(&mut cx, &args));
    match outcome {
        Ok(exit) => exit.code(),
        Err(f) => {
            cx.report(&f);
            f.exit.code()
        }
    }
}

/// What lives as long as the module in this shell: the sample store kept open, the
/// shell's own samples and socket owners for when that store is refused, and pidfds of
/// processes asked about (see process_facts::liveness).
#[derive(Default)]
pub struct State {
    pub liveness: process_facts::liveness::Liveness,
    pub cpu_here: std::collections::HashMap<process_facts::Identity, process_facts::samples::CpuSample>,
    pub owners_here: process_facts::ports::OwnerCache,
    /// Warnings about the settings said already: each is said once per shell, not at
    /// every call.
    pub settings_said: std::collections::HashSet<String>,
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
