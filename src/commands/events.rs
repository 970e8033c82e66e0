//! Event emission, one path for every command: the shim's `_process-emit` function, which
//! hands the event to `_events` when it is loaded and to zsh-style hook arrays
//! (`process_stop_functions`, ...) always. A failing handler never fails the command.

use crate::zsh::Shell;

pub const START: &str = "process.start";
pub const STOP: &str = "process.stop";
pub const KILL: &str = "process.kill";
pub const RESTART: &str = "process.restart";
pub const DIED: &str = "process.died";
pub const MONITOR: &str = "process.monitor";
pub const ALERT: &str = "process.alert";

/// A debug line through `_log` (or the shim's fallback) when `$PROCESS_DEBUG` is true.
pub fn debug(sh: &mut Shell, message: &str) {
    if !super::config::debug(sh) {
        return;
    }
    if sh.call_function("_process-log", &["debug", message]).is_none() {
        eprintln!("[DEBUG] {message}");
    }
}

pub fn emit(sh: &mut Shell, event: &str, payload: &[&str]) {
    let mut args = Vec::with_capacity(payload.len() + 1);
    args.push(event);
    args.extend_from_slice(payload);
    let _ = sh.call_function("_process-emit", &args);
}
