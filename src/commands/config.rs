//! The `$PROCESS_*` settings, read from the shell at each call so a change takes effect at
//! once. The shim sets the documented defaults; these fallbacks apply when the module was
//! loaded without it.

use crate::zsh::Shell;
use process_facts::pidfile::PidDir;
use process_facts::state::StateDir;
use std::path::PathBuf;

fn home(sh: &mut Shell) -> String {
    sh.get("HOME").filter(|h| !h.is_empty()).unwrap_or_else(|| "/tmp".into())
}

fn setting(sh: &mut Shell, name: &str) -> Option<String> {
    sh.get(name).filter(|v| !v.is_empty())
}

pub fn pid_dir(sh: &mut Shell) -> PidDir {
    let dir = setting(sh, "PROCESS_PID_DIR").unwrap_or_else(|| {
        let uid = process_facts::proc::current_uid();
        let runtime = setting(sh, "XDG_RUNTIME_DIR").unwrap_or_else(|| format!("/run/user/{uid}"));
        format!("{runtime}/process")
    });
    PidDir::new(dir)
}

pub fn state_dir(sh: &mut Shell) -> PathBuf {
    match setting(sh, "PROCESS_STATE_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let base = setting(sh, "XDG_STATE_HOME").unwrap_or_else(|| format!("{}/.local/state", home(sh)));
            PathBuf::from(base).join("process")
        }
    }
}

/// A whole number of seconds (or a decimal: `0.5`), for timeouts and intervals.
pub fn seconds(text: &str) -> Option<std::time::Duration> {
    let v: f64 = text.parse().ok()?;
    (v.is_finite() && v >= 0.0 && v < 1e9 && !text.starts_with('+')).then(|| std::time::Duration::from_secs_f64(v))
}

/// The value of `--OPTION SECONDS`, or `default` when the option is absent.
pub fn seconds_option(args: &super::Args, opt: &str, default: std::time::Duration) -> Result<std::time::Duration, super::Failure> {
    match args.value(opt) {
        Some(t) => seconds(t).ok_or_else(|| super::usage(format!("invalid {opt} '{t}': expected seconds, e.g. 5 or 0.5"))),
        None => Ok(default),
    }
}

/// A number of seconds from a `$PROCESS_*` setting, with a default.
pub fn setting_seconds(sh: &mut Shell, name: &str, default: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(number_setting(sh, name, default))
}

/// An integer setting with a default, e.g. `PROCESS_DEFAULT_TIMEOUT`.
pub fn number_setting(sh: &mut Shell, name: &str, default: f64) -> f64 {
    // Below 1e9 (31 years), as `seconds` accepts: larger values make no Duration.
    setting(sh, name).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9).unwrap_or(default)
}

pub fn debug(sh: &mut Shell) -> bool {
    setting(sh, "PROCESS_DEBUG").as_deref() == Some("true")
}

pub fn state(sh: &mut Shell) -> StateDir {
    StateDir::new(state_dir(sh))
}

pub fn log_dir(sh: &mut Shell) -> PathBuf {
    match setting(sh, "PROCESS_LOG_DIR") {
        Some(d) => PathBuf::from(d),
        None => state_dir(sh).join("logs"),
    }
}
