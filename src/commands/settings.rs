//! The `$PROCESS_*` settings: defined here once, published into the shell when the module
//! loads (only where the user has not set them, so `echo $PROCESS_PID_DIR` shows what is
//! used), and read at each call into one typed [`Settings`] (so a change takes effect at
//! once). A value that is not valid is reported in one line and the default is used.

use super::events;
use crate::zsh::Shell;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

/// One documented variable: its name, its default as the documentation says it (empty:
/// none, the variable is left unset), and what it does.
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub summary: &'static str,
}

pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "PROCESS_PID_DIR",
        default: "$XDG_RUNTIME_DIR/process",
        summary: "directory of PID files; without a runtime directory of yours, /run/user/$UID/process, else ~/.local/state/process/run",
    },
    Variable { name: "PROCESS_STATE_DIR", default: "$XDG_STATE_HOME/process", summary: "groups, registry and locks (~/.local/state/process)" },
    Variable { name: "PROCESS_LOG_DIR", default: "$PROCESS_STATE_DIR/logs", summary: "logs of started and supervised services" },
    Variable { name: "PROCESS_DEFAULT_TIMEOUT", default: "10", summary: "seconds process-stop waits for an exit after TERM" },
    Variable { name: "PROCESS_MONITOR_INTERVAL", default: "5", summary: "seconds between process-monitor samples" },
    Variable { name: "PROCESS_MAX_RESTARTS", default: "3", summary: "restarts process-supervise allows within the window" },
    Variable { name: "PROCESS_RESTART_DELAY", default: "5", summary: "seconds process-supervise waits before a restart" },
    Variable { name: "PROCESS_RESTART_WINDOW", default: "60", summary: "seconds over which restarts are counted; older ones are forgiven" },
    Variable {
        name: "PROCESS_LOG_MAX_SIZE",
        default: "10M",
        summary: "size past which a service's log is rotated: bytes, or with K, M or G (1024-based)",
    },
    Variable { name: "PROCESS_LOG_KEEP", default: "5", summary: "rotated logs kept per service (NAME.log.1 is the newest); 0 keeps none" },
    Variable { name: "PROCESS_CACHE_TTL", default: "2", summary: "accepted for the spec's _cache companion (the module needs no cache)" },
    Variable { name: "PROCESS_DEBUG", default: "false", summary: "true: debug lines on stderr (through _log when loaded)" },
    Variable {
        name: events::JOURNAL,
        default: "",
        summary: "a file every event is appended to as one JSON line, for log shippers (docs/metrics.md)",
    },
];

const DEFAULT_LOG_MAX_SIZE: u64 = 10 << 20;

/// Every setting, as one call sees them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub pid_dir: PathBuf,
    pub state_dir: PathBuf,
    pub log_dir: PathBuf,
    pub default_timeout: Duration,
    pub monitor_interval: Duration,
    pub max_restarts: u32,
    pub restart_delay: Duration,
    pub restart_window: Duration,
    pub log_rotation: process_facts::log::Rotation,
    pub debug: bool,
}

/// Sets every documented default the user has not set, and the event-name constants.
pub fn publish_defaults(sh: &mut Shell) {
    for v in VARIABLES {
        let value = default_value(sh, v.name);
        if !value.is_empty() {
            sh.set_default(v.name, &value);
        }
    }
    for (var, event) in events::CONSTANTS {
        sh.set_default(var, event.as_bytes());
    }
}

/// The default of one variable in this shell's environment now.
fn default_value(sh: &mut Shell, name: &str) -> Vec<u8> {
    let path = |p: PathBuf| p.into_os_string().into_vec();
    match name {
        "PROCESS_PID_DIR" => path(default_pid_dir(sh)),
        "PROCESS_STATE_DIR" => path(state_home(sh).join("process")),
        "PROCESS_LOG_DIR" => path(state_dir(sh).join("logs")),
        other => VARIABLES.iter().find(|v| v.name == other).map(|v| v.default.as_bytes().to_vec()).unwrap_or_default(),
    }
}

/// A directory named by the environment variable `var`, when it exists and is the
/// user's own (an inherited one, say root's `sudo` shell holding the user's
/// `XDG_RUNTIME_DIR`, is not).
fn own_dir(sh: &mut Shell, var: &str) -> Option<PathBuf> {
    let p = path_setting(sh, var)?;
    is_own_dir(&p).then_some(p)
}

fn is_own_dir(p: &std::path::Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_dir() && std::os::unix::fs::MetadataExt::uid(&m) == process_facts::sys::process::euid())
}

/// The user's runtime directory (private, cleared at boot): `$XDG_RUNTIME_DIR`, or the
/// login manager's `/run/user/UID` when the variable is missing.
fn runtime_dir(sh: &mut Shell) -> Option<PathBuf> {
    own_dir(sh, "XDG_RUNTIME_DIR").or_else(|| {
        let run_user = PathBuf::from(format!("/run/user/{}", process_facts::sys::process::euid()));
        is_own_dir(&run_user).then_some(run_user)
    })
}

/// Where PID files go by default: the runtime directory, or else a directory under the
/// user's own state directory: never a shared path another user could make first.
fn default_pid_dir(sh: &mut Shell) -> PathBuf {
    match runtime_dir(sh) {
        Some(runtime) => runtime.join("process"),
        None => state_home(sh).join("process/run"),
    }
}

/// Where CPU samples and socket owners are kept between calls (process_facts::samples),
/// by the same rule as the PID directory. Not a setting (nothing to configure), and read
/// alone: `$(process-get-cpu)` in a loop needs nothing else.
pub fn samples_dir(sh: &mut Shell) -> PathBuf {
    match runtime_dir(sh) {
        Some(runtime) => runtime.join("process-samples"),
        None => state_home(sh).join("process/samples"),
    }
}

/// Where the notify sockets of services being started are made (`--ready-notify`), by the
/// same rule: private, and short enough for a socket address.
pub fn notify_dir(sh: &mut Shell) -> PathBuf {
    match runtime_dir(sh) {
        Some(runtime) => runtime.join("process-notify"),
        None => state_home(sh).join("process/notify"),
    }
}

/// A size in bytes: `1048576`, `512K`, `10M`, `1G` (1024-based), at least 1 KiB.
pub fn size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&text[..text.len() - 1], 1 << 20),
        b'G' | b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit).filter(|&v| v >= 1024)
}

/// `$XDG_STATE_HOME`, or `~/.local/state` with `~` from `$HOME` or the user database.
fn state_home(sh: &mut Shell) -> PathBuf {
    if let Some(p) = path_setting(sh, "XDG_STATE_HOME") {
        return p;
    }
    let home = path_setting(sh, "HOME")
        .or_else(|| process_facts::sys::users::home_of(process_facts::sys::process::euid()))
        .unwrap_or_else(|| PathBuf::from("/"));
    home.join(".local/state")
}

fn state_dir(sh: &mut Shell) -> PathBuf {
    path_setting(sh, "PROCESS_STATE_DIR").unwrap_or_else(|| state_home(sh).join("process"))
}

fn path_setting(sh: &mut Shell, name: &str) -> Option<PathBuf> {
    let v = sh.get_bytes(name).filter(|v| !v.is_empty())?;
    Some(PathBuf::from(std::ffi::OsString::from_vec(v)))
}

/// A number of seconds: `5`, `0.5`; below 1e9 (31 years), which is what a Duration can
/// be made of and more than any timeout means.
pub fn seconds(text: &str) -> Option<Duration> {
    let v: f64 = text.parse().ok()?;
    (v.is_finite() && (0.0..1e9).contains(&v) && !text.starts_with('+')).then(|| Duration::from_secs_f64(v))
}

impl Settings {
    /// Reads every setting; a value that is not valid gives a line in `problems` and the
    /// default.
    pub fn read(sh: &mut Shell, problems: &mut Vec<String>) -> Settings {
        let mut number = |sh: &mut Shell, name: &str, valid: fn(f64) -> bool| -> f64 {
            let default: f64 = VARIABLES.iter().find(|v| v.name == name).and_then(|v| v.default.parse().ok()).unwrap_or(0.0);
            match sh.get(name).filter(|v| !v.is_empty()) {
                None => default,
                Some(text) => match seconds(&text).map(|d| d.as_secs_f64()).filter(|&v| valid(v)) {
                    Some(v) => v,
                    None => {
                        problems.push(format!("ignoring {name}='{text}' (not a valid number); using {default}"));
                        default
                    }
                },
            }
        };
        let default_timeout = Duration::from_secs_f64(number(sh, "PROCESS_DEFAULT_TIMEOUT", |_| true));
        let monitor_interval = Duration::from_secs_f64(number(sh, "PROCESS_MONITOR_INTERVAL", |v| v > 0.0));
        let max_restarts = number(sh, "PROCESS_MAX_RESTARTS", |v| v.fract() == 0.0 && v <= u32::MAX as f64) as u32;
        let restart_delay = Duration::from_secs_f64(number(sh, "PROCESS_RESTART_DELAY", |_| true));
        let restart_window = Duration::from_secs_f64(number(sh, "PROCESS_RESTART_WINDOW", |_| true));
        let state_dir = state_dir(sh);
        let keep = number(sh, "PROCESS_LOG_KEEP", |v| v.fract() == 0.0 && v <= 1000.0) as u32;
        let max_size = match sh.get("PROCESS_LOG_MAX_SIZE").filter(|v| !v.is_empty()) {
            None => DEFAULT_LOG_MAX_SIZE,
            Some(text) => size(&text).unwrap_or_else(|| {
                problems.push(format!("ignoring PROCESS_LOG_MAX_SIZE='{text}' (expected bytes of at least 1024, or a size like 512K, 10M, 1G); using 10M"));
                DEFAULT_LOG_MAX_SIZE
            }),
        };
        Settings {
            pid_dir: path_setting(sh, "PROCESS_PID_DIR").unwrap_or_else(|| default_pid_dir(sh)),
            log_dir: path_setting(sh, "PROCESS_LOG_DIR").unwrap_or_else(|| state_dir.join("logs")),
            state_dir,
            default_timeout,
            monitor_interval,
            max_restarts,
            restart_delay,
            restart_window,
            log_rotation: process_facts::log::Rotation { max_size, keep },
            debug: sh.get("PROCESS_DEBUG").as_deref() == Some("true"),
        }
    }

    pub fn pid_files(&self) -> process_facts::pidfile::PidFiles {
        process_facts::pidfile::PidFiles::new(&self.pid_dir)
    }

    pub fn state(&self) -> process_facts::state::StateDir {
        process_facts::state::StateDir::new(&self.state_dir)
    }
}
