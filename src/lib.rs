//! `_process` as a zsh module.
//!
//! Three layers, and only the first one is unsafe:
//! - [`zsh`]: the zsh-facing layer: module entry points, the builtin table, arguments,
//!   output, parameters, calls back into the shell, signal queueing. Every entry point
//!   contains panics and runs with zsh's signals queued.
//! - `process_facts` (crates/process-facts): facts about Linux processes and the
//!   library's files, plain Rust over one module of system calls, with unit tests that
//!   need no shell.
//! - [`commands`]: the documented commands, written against a small safe [`zsh::Shell`]
//!   interface.
//!
//! This file wires the commands into the zsh layer; neither knows the other otherwise.

pub mod commands;
pub mod zsh;

/// The module as zsh sees it.
pub static MODULE: zsh::Definition = zsh::Definition {
    builtins: commands::NAMES,
    run: commands::run,
    on_load: commands::settings::publish_defaults,
    groups: zsh::SpecialHash { get: commands::groups::members_text, keys: commands::groups::names },
};
