//! Events, one path for every command: the shim's `_process-emit` function, which hands
//! the event to `_events` when it is loaded and to zsh-style hook arrays
//! (`process_stop_functions`, ...) always; and, when `$PROCESS_EVENTS_JSONL` names a
//! file, one JSON line appended to it (process_facts::journal). A failing handler or a
//! failing append never fails the command.

use crate::zsh::Shell;
use process_facts::journal::{self, Value};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

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

/// The variable naming the events journal (a JSON Lines file; unset or empty: none).
pub const JOURNAL: &str = "PROCESS_EVENTS_JSONL";

/// How a payload argument is written in the journal.
#[derive(Clone, Copy)]
enum Field {
    Text,
    Number,
}

/// The journal's keys for each event's payload, in the order of its positional arguments
/// (the spec's payload names: docs/metrics.md has the schema).
fn payload_keys(event: &str) -> &'static [(&'static str, Field)] {
    use Field::*;
    match event {
        START | STOP | KILL => &[("service", Text), ("pid", Number)],
        RESTART => &[("service", Text), ("new_pid", Number)],
        // The supervisor adds the exit status.
        DIED => &[("service", Text), ("pid", Number), ("status", Number)],
        MONITOR => &[("service", Text), ("pid", Number), ("cpu", Number), ("memory", Number)],
        ALERT => &[("service", Text), ("pid", Number), ("metric", Text), ("value", Number)],
        _ => &[],
    }
}

/// The hook array of an event: `process.alert` -> `process_alert_functions`.
pub fn hook_array(event: &str) -> String {
    format!("process_{}_functions", event.strip_prefix("process.").unwrap_or(event).replace('.', "_"))
}

/// Emits `event`: the journal line first (when there is a journal), then the shell's
/// handlers. Err: why the journal line could not be written (the handlers still ran).
pub fn emit(sh: &mut Shell, event: &str, payload: &[&str]) -> Result<(), String> {
    let journaled = match journal_path(sh) {
        Some(path) => append(&path, event, payload).map_err(|e| format!("${JOURNAL}: {e}")),
        None => Ok(()),
    };
    let mut args = Vec::with_capacity(payload.len() + 1);
    args.push(event);
    args.extend_from_slice(payload);
    let _ = sh.call_function("_process-emit", &args);
    journaled
}

/// The journal file, when `$PROCESS_EVENTS_JSONL` is set and not empty.
fn journal_path(sh: &mut Shell) -> Option<PathBuf> {
    sh.get_bytes(JOURNAL).filter(|p| !p.is_empty()).map(|p| PathBuf::from(std::ffi::OsString::from_vec(p)))
}

/// Appends `event` to the journal at `path`: opened for this one line (a file logrotate
/// renamed away gets no more), stamped with the time and this machine's name.
fn append(path: &std::path::Path, event: &str, payload: &[&str]) -> process_facts::store::Result<()> {
    let keys = payload_keys(event);
    let extra: Vec<String> = (keys.len()..payload.len()).map(|i| format!("arg{}", i + 1)).collect();
    let fields: Vec<(&str, Value)> = payload
        .iter()
        .enumerate()
        .map(|(i, v)| match keys.get(i) {
            Some((key, Field::Number)) => (*key, Value::Number(v)),
            Some((key, Field::Text)) => (*key, Value::Text(v.as_bytes())),
            None => (extra[i - keys.len()].as_str(), Value::Text(v.as_bytes())),
        })
        .collect();
    let host = process_facts::sys::process::nodename();
    let line = journal::line(event, std::time::SystemTime::now(), &host, &fields);
    journal::append(path, line.as_bytes())
}

/// Whether `event` would reach anyone now: a journal, `_events` loaded, debug lines on,
/// or a non-empty hook array. Read straight from the shell, so a monitor of 50 processes
/// with nobody listening makes no shell call per sample.
pub fn heard(sh: &mut Shell, event: &str, debug: bool) -> bool {
    debug
        || journal_path(sh).is_some()
        || sh.function_exists("events-emit")
        || sh.get_array(&hook_array(event)).is_some_and(|h| !h.is_empty())
}
