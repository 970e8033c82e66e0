//! `_process` as a zsh module.
//!
//! Three layers, and only the first one is unsafe:
//! - [`zsh`]: the zsh-facing layer: module entry points, the builtin table, arguments,
//!   output, parameters, calls back into the shell. Every entry point contains panics.
//! - [`linux`]: facts about Linux processes (`/proc`, signals, pidfds, sockets), plain Rust
//!   with unit tests that need no shell.
//! - [`commands`]: the documented commands, written against a small safe [`zsh::Shell`]
//!   interface.

pub mod commands;

pub mod zsh;
