//! How a command ends: its exit status, by name (fd's `ExitCode` is the model), and the
//! message that goes with a failure.

use process_facts::store::StoreError;
use process_facts::wait::Interrupted;

/// The exit statuses the library documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Success,
    /// 1: the documented "no" (not found, not running) or a failure.
    No,
    /// 2: bad usage (unknown option, missing or malformed argument).
    Usage,
    /// A status a command documents for itself (find-by-port's 2 and 6, 128 + a signal).
    Status(u8),
    /// 130: Ctrl-C cut a wait short (128 + SIGINT, the shell's convention).
    Interrupted,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::No => 1,
            Exit::Usage => 2,
            Exit::Status(n) => n as i32,
            Exit::Interrupted => 130,
        }
    }

    /// 0 when `ok`, else 1: for the commands whose answer is yes or no.
    pub fn yes_no(ok: bool) -> Exit {
        if ok {
            Exit::Success
        } else {
            Exit::No
        }
    }

    /// 128 + `signal`, as the shell reports a command ended by it.
    pub fn signal(signal: i32) -> Exit {
        Exit::Status((128 + signal).clamp(0, 255) as u8)
    }
}

/// A command that ends early: `message` (one line, printed as `command: message`; empty
/// for Ctrl-C, which the shell reports itself), lines quoted after it (a dead service's
/// last log lines, each printed as `  | line`), and the status.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub detail: Vec<String>,
}

pub type Outcome = Result<Exit, Failure>;

/// Bad input: status 2.
pub fn usage(msg: impl Into<String>) -> Failure {
    Failure { exit: Exit::Usage, message: msg.into(), detail: Vec::new() }
}

/// The operation failed: status 1.
pub fn failed(msg: impl Into<String>) -> Failure {
    Failure { exit: Exit::No, message: msg.into(), detail: Vec::new() }
}

/// A failure with a status of its own.
pub fn failed_with(exit: Exit, msg: impl Into<String>) -> Failure {
    Failure { exit, message: msg.into(), detail: Vec::new() }
}

impl Failure {
    pub fn interrupted() -> Failure {
        Failure { exit: Exit::Interrupted, message: String::new(), detail: Vec::new() }
    }

    /// With these lines quoted after the message.
    pub fn with_detail(mut self, lines: Vec<String>) -> Failure {
        self.detail = lines;
        self
    }

    pub fn is_interrupted(&self) -> bool {
        self.exit == Exit::Interrupted
    }
}

impl From<Interrupted> for Failure {
    fn from(_: Interrupted) -> Failure {
        Failure::interrupted()
    }
}

/// A refused or unreadable library file ends the command with one line saying which and
/// why; a bad name is bad usage.
impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::BadName(..) => usage(e.to_string()),
            StoreError::Interrupted => Failure::interrupted(),
            other => failed(other.to_string()),
        }
    }
}
