//! One call of one command: the shell, the command's name (every message starts with
//! it), the settings (read once, when first needed), and the waits (a [`Blocker`] that
//! lets zsh's traps run and hears Ctrl-C).

use super::events;
use super::outcome::{failed, Failure};
use super::settings::Settings;
use super::Args;
use crate::zsh::{Shell, Value};
use process_facts::wait::{Blocker, Flow};

pub struct Context<'s> {
    pub sh: &'s mut Shell,
    /// The builtin's name, as the user typed it.
    pub name: &'static str,
    settings: Option<Settings>,
    samples_dir: Option<std::path::PathBuf>,
    /// The events journal failed once in this call already (said once, not per event).
    journal_warned: bool,
}

impl<'s> Context<'s> {
    pub fn new(sh: &'s mut Shell, name: &'static str) -> Context<'s> {
        Context { sh, name, settings: None, samples_dir: None, journal_warned: false }
    }

    /// The settings of this call (a problem with one is reported once per shell, here).
    pub fn settings(&mut self) -> Settings {
        if let Some(s) = &self.settings {
            return s.clone();
        }
        let mut problems = Vec::new();
        let s = Settings::read(self.sh, &mut problems);
        for p in problems {
            if super::with_state(|state| state.settings_said.insert(p.clone())) {
                self.warn(&p);
            }
        }
        self.settings = Some(s.clone());
        s
    }

    /// Where samples are kept (see settings::samples_dir), worked out once per call.
    pub fn samples_dir(&mut self) -> std::path::PathBuf {
        self.samples_dir.get_or_insert_with(|| super::settings::samples_dir(self.sh)).clone()
    }

    /// One line on stderr: `command: message`. The library's only way of saying anything
    /// to the user; nothing it says ever lands in a caller's `$(...)`.
    pub fn warn(&mut self, message: &str) {
        self.sh.error_line(&format!("{}: {message}", self.name));
    }

    /// Writes `bytes` to standard output at once (see Shell::print_now): Ctrl-C, or a
    /// stop signal, while a reader stalls ends the command (130).
    pub fn print_now(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.sh.print_now(bytes).map_err(|e| match e.kind() {
            std::io::ErrorKind::Interrupted => Failure::interrupted(),
            _ => failed(format!("cannot write to standard output: {e}")),
        })
    }

    /// Says what a failure says: its line, then the lines it quotes.
    pub fn report(&mut self, f: &super::Failure) {
        if !f.message.is_empty() {
            self.warn(&f.message);
        }
        for line in &f.detail {
            self.sh.error_line(&format!("  | {line}"));
        }
    }

    /// A debug line, when `$PROCESS_DEBUG` is true: through `_log` (or the shim's
    /// fallback), else straight to stderr.
    pub fn debug(&mut self, message: &str) {
        if !self.settings().debug {
            return;
        }
        if self.sh.call_function("_process-log", &["debug", message]).is_none() {
            self.sh.error_line(&format!("[DEBUG] {message}"));
        }
    }

    /// Emits an event (see [`events`]). A journal that cannot be written is said once per
    /// call, and never fails the command.
    pub fn emit(&mut self, event: &str, payload: &[&str]) {
        if let Err(why) = events::emit(self.sh, event, payload) {
            if !std::mem::replace(&mut self.journal_warned, true) {
                self.warn(&why);
            }
        }
    }

    /// Prints `value`, or assigns it to the variable named with `-v`.
    pub fn put(&mut self, args: &Args, value: Value) -> Result<(), Failure> {
        if let Some(var) = args.var() {
            if !self.sh.assign(var, value) {
                return Err(failed(format!("cannot assign to '{var}' (read-only, or a special parameter of the shell)")));
            }
            return Ok(());
        }
        let mut out = Vec::new();
        match value {
            Value::Scalar(s) => {
                out.extend_from_slice(&s);
                out.push(b'\n');
            }
            Value::Array(items) => {
                for i in items {
                    out.extend_from_slice(&i);
                    out.push(b'\n');
                }
            }
            Value::Assoc(pairs) => {
                for (k, v) in pairs {
                    out.extend_from_slice(k.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(&v);
                    out.push(b'\n');
                }
            }
        }
        self.sh.print(&out);
        Ok(())
    }

    /// With `-v`, clears the variable (a "no" answer leaves no stale value behind).
    pub fn clear_var(&mut self, args: &Args, empty: Value) -> Result<(), Failure> {
        if args.var().is_some() {
            self.put(args, empty)?;
        }
        Ok(())
    }
}

impl Blocker for Context<'_> {
    /// Ctrl-C stops a wait; so does a stop signal held for a builtin that blocks them (a
    /// second Ctrl-C while a supervisor stops its service).
    fn block(&mut self, call: &mut dyn FnMut()) -> Flow {
        self.sh.let_signals_through(call);
        if self.sh.interrupted() || self.sh.stop_signal_pending() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}
