//! What each builtin is, in one place: its purpose, its operands and options (with what
//! kind of value each takes), its exit statuses. The argument parser reads it, and so do
//! `--help`, `process-help`, the man page, docs/reference.md and the completion function
//! (see [`super::help`]): they cannot drift apart.

/// What kind of value an operand or an option takes: for the parser's messages, the
/// help's placeholders and the completion's candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A process ID.
    Pid,
    /// A PID, or the name of a PID file in `$PROCESS_PID_DIR`.
    NameOrPid,
    /// A service name (a PID file's, a started service's).
    Service,
    /// A group name.
    Group,
    /// A signal name or number.
    Signal,
    /// A TCP (or UDP) port.
    Port,
    /// A process name to search for.
    ProcessName,
    /// Seconds, decimals allowed.
    Seconds,
    /// A whole number.
    Count,
    /// A percentage of one core.
    Percent,
    /// Kilobytes.
    Kilobytes,
    /// A shell parameter's name.
    Var,
    /// A file name (`-` for standard output where said).
    File,
    /// A command line, run by zsh.
    Command,
    /// Any text.
    Text,
}

/// One operand.
#[derive(Debug)]
pub struct Operand {
    pub name: &'static str,
    pub kind: Kind,
    pub about: &'static str,
}

/// One option: a flag (`value` None) or an option with a value (its placeholder).
#[derive(Debug)]
pub struct Opt {
    pub name: &'static str,
    pub value: Option<(&'static str, Kind)>,
    pub about: &'static str,
}

/// A builtin, as its help and its parser see it.
#[derive(Debug)]
pub struct Spec {
    /// One line: what it does.
    pub purpose: &'static str,
    pub operands: &'static [Operand],
    /// How many operands are required; at most `max` (the last one repeats when `max` is
    /// larger than the list).
    pub min: usize,
    pub max: usize,
    pub options: &'static [Opt],
    /// The exit statuses, besides 2 (bad usage), which every builtin has.
    pub exits: &'static [(u8, &'static str)],
    /// Where it is described at length (a page in docs/).
    pub see: &'static str,
}

/// `-v VAR`, the fork-free form of every command that returns a value.
pub const VAR: Opt = Opt { name: "-v", value: Some(("VAR", Kind::Var)), about: "assign the result to VAR instead of printing it (no $(...) subshell)" };
pub const VAR_ARRAY: Opt = Opt { name: "-v", value: Some(("ARRAY", Kind::Var)), about: "assign the results to the array ARRAY instead of printing them" };

/// The exit status of bad usage, the same for every builtin.
pub const USAGE_EXIT: (u8, &str) = (2, "bad usage: an unknown option, a missing or malformed argument (one line on stderr says which)");

impl Spec {
    /// The options that take a value.
    pub fn valued(&self) -> impl Iterator<Item = &Opt> {
        self.options.iter().filter(|o| o.value.is_some())
    }

    /// The short usage line, as the spec writes it (options may come anywhere):
    /// `<name_or_pid> [--timeout SECONDS] [--force]`.
    pub fn synopsis(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (i, o) in self.operands.iter().enumerate() {
            let repeats = i + 1 == self.operands.len() && self.max > self.operands.len();
            let dots = if repeats { "..." } else { "" };
            parts.push(if i < self.min { format!("<{}>{dots}", o.name) } else { format!("[{}]{dots}", o.name) });
        }
        for o in self.options {
            parts.push(match o.value {
                Some((ph, _)) => format!("[{} {ph}]", o.name),
                None => format!("[{}]", o.name),
            });
        }
        parts.join(" ")
    }

    /// The operand at position `i` (the last one repeats).
    pub fn operand(&self, i: usize) -> Option<&Operand> {
        self.operands.get(i).or_else(|| (self.max > self.operands.len()).then(|| self.operands.last()).flatten())
    }
}

/// True when the arguments ask for help (`-h` or `--help` before any `--`).
pub fn wants_help(argv: &[Vec<u8>]) -> bool {
    argv.iter().take_while(|a| a.as_slice() != b"--").any(|a| a == b"-h" || a == b"--help")
}
