//! Events, one path for every command: the shim's `_process-emit` function, which hands
//! the event to `_events` when it is loaded and to zsh-style hook arrays
//! (`process_stop_functions`, ...) always. A failing handler never fails the command.

use crate::zsh::Shell;

pub const START: &str = "process.start";
pub const STOP: &str = "process.stop";
pub const KILL: &str = "process.kill";
pub const RESTART: &str = "process.restart";
pub const DIED: &str = "process.died";
pub const MONITOR: &str = "process.monitor";
pub const ALERT: &str = "process.alert";

/// The `$PROCESS_EVENT_*` constants users register handlers with.
pub const CONSTANTS: [(&str, &str); 7] = [
    ("PROCESS_EVENT_START", START),
    ("PROCESS_EVENT_STOP", STOP),
    ("PROCESS_EVENT_KILL", KILL),
    ("PROCESS_EVENT_RESTART", RESTART),
    ("PROCESS_EVENT_DIED", DIED),
    ("PROCESS_EVENT_MONITOR", MONITOR),
    ("PROCESS_EVENT_ALERT", ALERT),
];

/// The hook array of an event: `process.alert` -> `process_alert_functions`.
pub fn hook_array(event: &str) -> String {
    format!("process_{}_functions", event.strip_prefix("process.").unwrap_or(event).replace('.', "_"))
}

pub fn emit(sh: &mut Shell, event: &str, payload: &[&str]) {
    let mut args = Vec::with_capacity(payload.len() + 1);
    args.push(event);
    args.extend_from_slice(payload);
    let _ = sh.call_function("_process-emit", &args);
}

/// Whether `event` would reach anyone now: `_events` loaded, debug lines on, or a
/// non-empty hook array. Read straight from the shell, so a monitor of 50 processes with
/// nobody listening makes no shell call per sample.
pub fn heard(sh: &mut Shell, event: &str, debug: bool) -> bool {
    debug || sh.function_exists("events-emit") || sh.get_array(&hook_array(event)).is_some_and(|h| !h.is_empty())
}
