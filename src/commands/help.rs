//! Help, from the builtins' own specs ([`super::spec`]): `CMD --help` and
//! `process-help CMD` (one page), `process-help` (the overview), and the files generated
//! from the same source and kept in the repository, which tests compare with what this
//! prints: the man page `zsh-process(1)` (`--man`), docs/reference.md (`--markdown`) and
//! the completion function `_zsh_process` (`--completion`).

use super::events;
use super::settings::VARIABLES;
use super::spec::{Kind, Opt, Spec, USAGE_EXIT};
use super::{failed, usage, Args, Command, Context, Exit, Outcome, COMMANDS};

pub const HELP: Spec = Spec {
    purpose: "the library's reference from the shell: every builtin, setting and event",
    operands: &[super::spec::Operand { name: "command", kind: Kind::Text, about: "a builtin, with or without its process- prefix" }],
    min: 0,
    max: 1,
    options: &[
        Opt { name: "--list", value: None, about: "print the builtins' names, one a line" },
        Opt { name: "--man", value: None, about: "print the man page zsh-process(1), in roff" },
        Opt { name: "--markdown", value: None, about: "print the reference as Markdown (docs/reference.md)" },
        Opt { name: "--completion", value: None, about: "print the zsh completion function for every builtin (_zsh_process)" },
    ],
    exits: &[(0, "printed"), (1, "no such builtin")],
    see: "docs/reference.md",
};

/// How the builtins are grouped in the overview, the man page and the reference.
const SECTIONS: &[(&str, &[&str])] = &[
    ("Detection", &["process-exists", "process-is-running", "process-find-by-name", "process-find-all-by-name", "process-find-by-port"]),
    ("Information", &["process-get-cpu", "process-get-memory", "process-get-command", "process-get-info"]),
    ("PID files", &["process-write-pid", "process-read-pid", "process-remove-pid", "process-check-pid-file"]),
    ("Control", &["process-signal", "process-stop", "process-start", "process-restart", "process-supervise", "process-get-children", "process-kill-tree", "process-wait"]),
    ("Services", &["process-up", "process-down", "process-status", "process-logs"]),
    ("Monitoring", &["process-monitor"]),
    ("Groups", &["process-group-add", "process-group-stop", "process-group-list"]),
    ("Utilities", &["process-list", "process-cleanup", "process-version", "process-self-test", "process-help"]),
];

/// What each event carries, in the order handlers get it ($1, $2, ...).
const EVENT_PAYLOADS: &[(&str, &str)] = &[
    (events::START, "service pid: a service was started"),
    (events::STOP, "service pid: stopped gracefully (service is the name, or the PID)"),
    (events::KILL, "service pid: stopped by KILL after the timeout"),
    (events::RESTART, "service pid: started again (the new PID)"),
    (events::DIED, "service pid [status]: a monitored or supervised process exited"),
    (events::MONITOR, "service pid cpu memory_kb: one sample of process-monitor"),
    (events::ALERT, "service pid metric value: a threshold crossed (metric: cpu or memory)"),
];

/// A variable's default as the reference says it: no default is "unset".
fn shown_default(default: &str) -> &str {
    if default.is_empty() {
        "unset"
    } else {
        default
    }
}

fn find(name: &str) -> Option<&'static Command> {
    let full = if name.starts_with("process-") { name.to_string() } else { format!("process-{name}") };
    COMMANDS.iter().find(|c| c.name() == full)
}

/// The documented statuses and bad usage's 2 (said beside a command's own 2, when it
/// has one: find-by-port's "owner unknown").
fn all_exits(spec: &Spec) -> Vec<(u8, String)> {
    let mut exits: Vec<(u8, String)> = spec.exits.iter().map(|(c, w)| (*c, w.to_string())).collect();
    match exits.iter_mut().find(|(c, _)| *c == USAGE_EXIT.0) {
        Some((_, what)) => *what = format!("{what}; or {}", USAGE_EXIT.1),
        None => exits.push((USAGE_EXIT.0, USAGE_EXIT.1.to_string())),
    }
    exits.sort_by_key(|(c, _)| *c);
    exits
}

fn option_label(o: &Opt) -> String {
    match o.value {
        Some((ph, _)) => format!("{} {ph}", o.name),
        None => o.name.to_string(),
    }
}

/// The text page of one builtin.
pub fn page(command: &Command) -> String {
    let spec = command.spec;
    let name = command.name();
    let mut out = format!("{name} - {}\n\nUsage: {name} {}\n", spec.purpose, spec.synopsis());
    if !spec.operands.is_empty() {
        out.push_str("\nArguments:\n");
        for o in spec.operands {
            out.push_str(&format!("  {:<20} {}\n", o.name, o.about));
        }
    }
    out.push_str("\nOptions:\n");
    for o in spec.options {
        out.push_str(&format!("  {:<20} {}\n", option_label(o), o.about));
    }
    out.push_str(&format!("  {:<20} {}\n", "-h, --help", "print this help and exit"));
    out.push_str("\nExit status:\n");
    for (code, what) in all_exits(spec) {
        out.push_str(&format!("  {code:<4} {what}\n"));
    }
    out.push_str(&format!("\nMore: {} in the sources; man zsh-process\n", spec.see));
    out
}

pub fn print_page(cx: &mut Context, command: &Command) {
    cx.sh.print(page(command).as_bytes());
}

fn overview() -> String {
    let mut out = format!("_process v{}: process management for zsh, as builtins.\n", super::meta::VERSION);
    out.push_str("Usage: source \"$(which _process)\"; CMD --help or process-help CMD for one builtin.\n");
    for (title, names) in SECTIONS {
        out.push_str(&format!("\n{title}:\n"));
        for n in *names {
            if let Some(c) = find(n) {
                out.push_str(&format!("  {:<26} {}\n", n, c.spec.purpose));
            }
        }
    }
    out.push_str("\nSettings (set before or after sourcing; read at every call):\n");
    for v in VARIABLES {
        out.push_str(&format!("  {:<26} {} (default {})\n", v.name, v.summary, shown_default(v.default)));
    }
    out.push_str("\nEvents (handlers: process_NAME_functions+=(fn), or events-on with _events):\n");
    for (e, what) in EVENT_PAYLOADS {
        out.push_str(&format!("  {e:<26} {what}\n"));
    }
    out.push_str("\nThe reference: man zsh-process, or docs/reference.md in the sources.\n");
    out
}

/// `process-help [--list | --man | --markdown | --completion] [COMMAND]`
pub fn help(cx: &mut Context, args: &Args) -> Outcome {
    let modes = ["--list", "--man", "--markdown", "--completion"].into_iter().filter(|m| args.flag(m)).count();
    if modes > 1 || (modes == 1 && args.count() > 0) {
        return Err(usage("give one of --list, --man, --markdown, --completion, or a command"));
    }
    let text = if args.flag("--list") {
        super::documented().map(|c| format!("{}\n", c.name())).collect()
    } else if args.flag("--man") {
        man_page()
    } else if args.flag("--markdown") {
        markdown()
    } else if args.flag("--completion") {
        completion()
    } else if args.count() == 1 {
        let name = args.text(0)?;
        page(find(name).ok_or_else(|| failed(format!("no such builtin: {name} (process-help --list lists them)")))?)
    } else {
        overview()
    };
    cx.sh.print(text.as_bytes());
    Ok(Exit::Success)
}

// ---- the man page ---------------------------------------------------------------------------

/// Text for roff: backslashes escaped, a leading dot or quote neutralised.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

fn man_page() -> String {
    let mut m = String::new();
    m.push_str(&format!(".TH ZSH\\-PROCESS 1 \"\" \"zsh-process {}\" \"User Commands\"\n", super::meta::VERSION));
    m.push_str(".\\\" Generated by `process-help --man` from the builtins' specs: do not edit.\n");
    m.push_str(".SH NAME\nzsh\\-process \\- process management for zsh, as builtins of a native module\n");
    m.push_str(".SH SYNOPSIS\n.B source \\(dq$(which _process)\\(dq\n.br\n.B process\\-help\n.RI [ command ]\n");
    m.push_str(".SH DESCRIPTION\n");
    m.push_str(&roff("The _process library finds, inspects, signals, stops, starts, supervises and monitors processes, and manages PID files, groups and process trees, from zsh. Each command is a builtin of the native module zsh_process/process: nothing is forked for it. Every command that prints a value also takes -v NAME and assigns it instead. Bad input gets one line on stderr naming the command, and status 2."));
    m.push('\n');
    for (title, names) in SECTIONS {
        m.push_str(&format!(".SH {}\n", roff(&title.to_uppercase())));
        for n in *names {
            let Some(c) = find(n) else { continue };
            let spec = c.spec;
            m.push_str(&format!(".SS {}\n.B {}\n{}\n.PP\n{}\n", roff(n), roff(n), roff(&spec.synopsis()), roff(spec.purpose)));
            for o in spec.operands {
                m.push_str(&format!(".TP\n.I {}\n{}\n", roff(o.name), roff(o.about)));
            }
            for o in spec.options {
                m.push_str(&format!(".TP\n.B {}\n{}\n", roff(&option_label(o)), roff(o.about)));
            }
            m.push_str(".PP\nExit status:\n");
            for (code, what) in all_exits(spec) {
                m.push_str(&format!(".br\n{code}: {}\n", roff(&what)));
            }
        }
    }
    m.push_str(".SH ENVIRONMENT\n");
    for v in VARIABLES {
        m.push_str(&format!(".TP\n.B {}\n{} (default {})\n", roff(v.name), roff(v.summary), roff(shown_default(v.default))));
    }
    m.push_str(".SH EVENTS\nHandlers are functions listed in process_NAME_functions (process.alert: process_alert_functions), or registered with events\\-on when _events is loaded; they get the payload as $1, $2, ...\n");
    for (e, what) in EVENT_PAYLOADS {
        m.push_str(&format!(".TP\n.B {}\n{}\n", roff(e), roff(what)));
    }
    m.push_str(".SH FILES\n.TP\n.I $PROCESS_PID_DIR/NAME.pid\nthe PID, one number; .NAME.id beside it records who that PID was\n");
    m.push_str(".TP\n.I $PROCESS_STATE_DIR\ngroups/, registry/, locks/\n.TP\n.I $PROCESS_LOG_DIR/NAME.log\na started service's output\n");
    m.push_str(".SH SEE ALSO\n.BR zsh (1),\n.BR zshmodules (1),\n.BR kill (1),\n.BR pgrep (1)\n");
    m
}

// ---- the Markdown reference ---------------------------------------------------------------

fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

fn markdown() -> String {
    let mut r = String::from("# Reference\n\n");
    r.push_str("<!-- Generated by `process-help --markdown` from the builtins' own specs (src/commands); tests/help.rs checks it is current. Do not edit. -->\n\n");
    r.push_str("Every builtin of the library: what it takes and what it returns. Each also answers `-h`/`--help` with its page, and `process-help` lists them all. How each one behaves is described at length in the page its section links to; the conventions shared by all are in [inspect.md](inspect.md#conventions), and the rules for files and signals in [safety.md](safety.md).\n\n");
    for (title, names) in SECTIONS {
        r.push_str(&format!("## {title}\n\n"));
        for n in *names {
            let Some(c) = find(n) else { continue };
            let spec = c.spec;
            let see = spec.see.strip_prefix("docs/").unwrap_or(spec.see);
            r.push_str(&format!("### {n}\n\n    {n} {}\n\n{} (more: [{}]({see}))\n\n", spec.synopsis(), md(spec.purpose), see.split('#').next().unwrap_or(see)));
            if !spec.operands.is_empty() || !spec.options.is_empty() {
                r.push_str("| argument or option | meaning |\n| --- | --- |\n");
                for o in spec.operands {
                    r.push_str(&format!("| `{}` | {} |\n", o.name, md(o.about)));
                }
                for o in spec.options {
                    r.push_str(&format!("| `{}` | {} |\n", option_label(o), md(o.about)));
                }
                r.push('\n');
            }
            r.push_str("| status | meaning |\n| --- | --- |\n");
            for (code, what) in all_exits(spec) {
                r.push_str(&format!("| {code} | {} |\n", md(&what)));
            }
            r.push('\n');
        }
    }
    r.push_str("## Settings\n\nRead at every call; the module sets the defaults when it loads, where you have not set them ([safety.md](safety.md#the-defaults) for the directories).\n\n| variable | default | meaning |\n| --- | --- | --- |\n");
    for v in VARIABLES {
        let default = if v.default.is_empty() { shown_default(v.default).to_string() } else { format!("`{}`", v.default) };
        r.push_str(&format!("| `{}` | {default} | {} |\n", v.name, md(v.summary)));
    }
    r.push_str("\n## Events\n\nHandlers are functions listed in the hook array `process_NAME_functions` (for `process.alert`: `process_alert_functions`), or registered with `events-on` when `_events` is loaded; they get the payload as `$1`, `$2`, ... A failing handler never fails the command. The names are also in `$PROCESS_EVENT_START` ... `$PROCESS_EVENT_ALERT`. See [monitoring.md](monitoring.md).\n\n| event | payload |\n| --- | --- |\n");
    for (e, what) in EVENT_PAYLOADS {
        r.push_str(&format!("| `{e}` | {} |\n", md(what)));
    }
    r
}

// ---- completion ------------------------------------------------------------------------------

/// The `_arguments` action for a kind of value.
fn action(kind: Kind) -> &'static str {
    match kind {
        Kind::Pid => "_pids",
        Kind::NameOrPid => "_zsh_process_targets",
        Kind::Service => "_zsh_process_services",
        Kind::Group => "_zsh_process_groups",
        Kind::Signal => "_signals",
        Kind::Port => "_zsh_process_ports",
        Kind::ProcessName => "_zsh_process_names",
        Kind::Var => "_parameters",
        Kind::File => "_files",
        Kind::Command => "_cmdstring",
        Kind::Seconds | Kind::Count | Kind::Percent | Kind::Kilobytes | Kind::Text => " ",
    }
}

/// `[`, `]` and `:` are special in an `_arguments` spec.
fn spec_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('[', "\\[").replace(']', "\\]").replace(':', "\\:").replace('\'', "'\\''")
}

fn arguments(spec: &Spec) -> Vec<String> {
    let mut lines = vec!["'(- *)'{-h,--help}'[print help and exit]'".to_string()];
    for o in spec.options {
        let about = spec_text(o.about);
        lines.push(match o.value {
            Some((ph, kind)) if o.name.starts_with("--") => format!("'{}=[{about}]:{}:{}'", o.name, ph.to_lowercase(), action(kind)),
            Some((ph, kind)) => format!("'{}[{about}]:{}:{}'", o.name, ph.to_lowercase(), action(kind)),
            None => format!("'{}[{about}]'", o.name),
        });
    }
    for (i, o) in spec.operands.iter().enumerate() {
        let repeats = i + 1 == spec.operands.len() && spec.max > spec.operands.len();
        let optional = if i < spec.min { "" } else { ":" };
        let prefix = if repeats { "*".to_string() } else { format!("{}", i + 1) };
        lines.push(format!("'{prefix}:{optional}{}:{}'", spec_text(o.name), action(o.kind)));
    }
    lines
}

fn completion() -> String {
    let names: Vec<&str> = super::documented().map(Command::name).collect();
    let mut f = format!("#compdef {}\n", names.join(" "));
    f.push_str("# Completion for every builtin of _process, generated by `process-help --completion`\n");
    f.push_str("# from the builtins' own specs (src/commands): do not edit. tests/help.rs checks it.\n\n");
    f.push_str(COMPLETION_HELPERS);
    f.push_str("\ncase $service in\n");
    for c in super::documented() {
        f.push_str(&format!("  ({})\n    _arguments -s -S : \\\n", c.name()));
        let args = arguments(c.spec);
        for (i, a) in args.iter().enumerate() {
            let end = if i + 1 == args.len() { "\n" } else { " \\\n" };
            f.push_str(&format!("      {a}{end}"));
        }
        f.push_str("    ;;\n");
    }
    f.push_str("esac\n");
    f
}

/// The candidates the library itself knows, read the way the library reads them (PID
/// files, groups, listening ports): no command is forked for a completion.
const COMPLETION_HELPERS: &str = r#"(( $+functions[_zsh_process_services] )) ||
_zsh_process_services() {
  local -a names
  names=( ${PROCESS_PID_DIR:-/nonexistent}/*.pid(N:t:r) ${PROCESS_STATE_DIR:-/nonexistent}/registry/*(N:t) )
  _wanted services expl 'service' compadd -- ${(u)names}
}

(( $+functions[_zsh_process_targets] )) ||
_zsh_process_targets() {
  _alternative 'services:service:_zsh_process_services' 'processes:process ID:_pids'
}

(( $+functions[_zsh_process_groups] )) ||
_zsh_process_groups() {
  local -a groups
  groups=( ${(k)_PROCESS_GROUPS} )
  _wanted groups expl 'group' compadd -- $groups
}

(( $+functions[_zsh_process_ports] )) ||
_zsh_process_ports() {
  # Listening TCP ports, from the kernel's tables (state 0A: LISTEN).
  local -a ports
  local line table
  for table in /proc/net/tcp /proc/net/tcp6; do
    [[ -r $table ]] || continue
    for line in ${${(f)"$(<$table)"}[2,-1]}; do
      line=(${=line})
      [[ $line[4] == 0A ]] && ports+=( $(( 16#${line[2]##*:} )) )
    done
  done
  _wanted ports expl 'listening port' compadd -- ${(un)ports}
}

(( $+functions[_zsh_process_names] )) ||
_zsh_process_names() {
  local -a names
  local f
  for f in /proc/<->/comm(N); do
    names+=( "$(<$f)" )
  done 2>/dev/null
  _wanted process-names expl 'process name' compadd -- ${(u)names}
}
"#;
