//! Stacks: a Procfile brought up as one set of services (`process-up`), in the format
//! foreman, honcho and overmind read, and the record of it that lets any shell bring it
//! down, restart one entry, or show its status.
//!
//! - **Procfile**: `name: command` lines (names of letters, digits, `_` and `-`); blank
//!   lines and `#` comments are skipped. Per-entry options ride at the end of the command
//!   as a shell comment, so foreman still reads the file: `web: ./server #process:
//!   --ready-port $PORT`.
//! - **`.env`**: `KEY=VALUE` lines (`export` allowed, `#` comments, values bare, in single
//!   quotes taken as they are, or in double quotes with `\n`, `\"` and `\\`), given to
//!   every entry, as foreman does.
//! - **`$PORT`**: foreman's rule: a base (`$PORT`, else 5000) plus 100 for each entry
//!   before this one in the file: `web` 5000, `worker` 5100, ...

use crate::record::Record;
use std::path::PathBuf;

/// One entry of a Procfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub command: String,
    /// The words after `#process:`, `$PORT` and the `.env`'s variables expanded.
    pub options: Vec<String>,
    pub port: u16,
}

impl Entry {
    /// The entries this one is started after (`--after a,b`, given once or more).
    pub fn after(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut words = self.options.iter();
        while let Some(w) = words.next() {
            let list = match w.strip_prefix("--after=") {
                Some(v) => Some(v.to_string()),
                None if w == "--after" => words.next().cloned(),
                None => None,
            };
            for name in list.iter().flat_map(|l| l.split(',')).map(str::trim).filter(|n| !n.is_empty()) {
                if !out.iter().any(|o| o == name) {
                    out.push(name.to_string());
                }
            }
        }
        out
    }
}

/// A Procfile that was brought up: where it came from, the environment its entries got,
/// and the entries as they were started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub procfile: PathBuf,
    /// The directory the entries run in (the Procfile's).
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub entries: Vec<Entry>,
}

/// The default base of `$PORT`, as foreman's.
pub const BASE_PORT: u16 = 5000;
/// Where `#process:` options begin, after a blank.
const OPTIONS_MARK: &str = "#process:";

/// A line of a Procfile that is not an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub text: String,
}

/// Why a Procfile is not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProcfileError {
    /// The file as a whole: a name given twice, a NUL, no entry, `$PORT` out of range.
    #[error("{0}")]
    Refused(String),
    /// An entry's `#process:` options cannot be read (bad quoting): bad usage, as a bad
    /// option there is.
    #[error("line {line}: entry {entry}: {why}")]
    Options { line: usize, entry: String, why: String },
}

/// Parses a Procfile. `env` is what `$VAR` in options may name (the `.env`'s variables),
/// `base_port` the first entry's `$PORT`. Lines that are neither entries, comments nor
/// blank come back as [`Skipped`] (foreman ignores them too; the caller says so).
pub fn parse_procfile(text: &str, env: &[(String, String)], base_port: u16) -> Result<(Vec<Entry>, Vec<Skipped>), ProcfileError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut skipped = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, rest)) = line.split_once(':').filter(|(n, _)| is_entry_name(n)) else {
            skipped.push(Skipped { line: i + 1, text: raw.to_string() });
            continue;
        };
        let rest = rest.trim();
        // No command line holds one, and it would fail only at launch, after recording.
        if rest.contains('\0') {
            return Err(ProcfileError::Refused(format!("line {}: the command of '{name}' holds a NUL byte", i + 1)));
        }
        if rest.is_empty() {
            skipped.push(Skipped { line: i + 1, text: raw.to_string() });
            continue;
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(ProcfileError::Refused(format!("line {}: '{name}' is given twice", i + 1)));
        }
        let index = entries.len() as u32;
        let port = u32::from(base_port) + 100 * index;
        let port = u16::try_from(port).map_err(|_| ProcfileError::Refused(format!("line {}: $PORT for '{name}' would be {port}, past 65535", i + 1)))?;
        let (command, options) = match find_options(rest) {
            Some(at) => (rest[..at].trim_end(), &rest[at + OPTIONS_MARK.len()..]),
            None => (rest, ""),
        };
        let mut vars: Vec<(String, String)> = env.to_vec();
        vars.push(("PORT".into(), port.to_string()));
        let options = words(options, &vars).map_err(|why| ProcfileError::Options { line: i + 1, entry: name.to_string(), why })?;
        entries.push(Entry { name: name.to_string(), command: command.to_string(), options, port });
    }
    if entries.is_empty() {
        return Err(ProcfileError::Refused("no 'name: command' entry in it".into()));
    }
    Ok((entries, skipped))
}

/// Foreman's rule for a name, and the store's (which also limits its length): an entry
/// that could not be recorded is no entry.
fn is_entry_name(n: &str) -> bool {
    n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') && crate::store::validate_name(n).is_ok()
}

/// Where `#process:` starts, when a blank comes before it (a `#` inside a word is no shell
/// comment).
fn find_options(command: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = command[from..].find(OPTIONS_MARK).map(|a| a + from) {
        if at == 0 || command[..at].ends_with([' ', '\t']) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Splits option text into words as a shell would for plain words: blanks separate,
/// '...' is literal, "..." and bare text expand `$NAME` / `${NAME}` from `vars` (unknown:
/// empty), a backslash quotes the next character.
fn words(text: &str, vars: &[(String, String)]) -> Result<Vec<String>, String> {
    let lookup = |name: &str| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, ' ' | '\t') => {
                if let Some(w) = word.take() {
                    out.push(w);
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.get_or_insert_with(String::new).push(c),
            (_, '\\') => {
                let next = chars.next().ok_or("a backslash at the end of the options")?;
                word.get_or_insert_with(String::new).push(next);
            }
            (_, '$') => {
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced && chars.next() != Some('}') {
                    return Err("a '${' without its '}' in the options".into());
                }
                let w = word.get_or_insert_with(String::new);
                if name.is_empty() {
                    w.push('$');
                } else {
                    w.push_str(&lookup(&name));
                }
            }
            (_, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err("an unclosed quote in the options".into());
    }
    out.extend(word);
    Ok(out)
}

/// Parses a `.env` file: `KEY=VALUE` pairs in order. Lines that are not assignments are
/// errors (with their number): a typo there would silently change what a service gets.
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: not a KEY=VALUE line", i + 1));
        };
        let key = key.trim();
        let valid_key = !key.is_empty() && !key.starts_with(|c: char| c.is_ascii_digit()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key {
            return Err(format!("line {}: '{key}' is not a variable name", i + 1));
        }
        let value = env_value(value.trim()).map_err(|why| format!("line {}: {why}", i + 1))?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// A `.env` value, as foreman and the dotenv libraries read it: `'...'` literally, `"..."`
/// with `\n` and backslash escapes, or bare, up to a comment (a `#` after a blank). After a
/// closing quote only a comment may follow.
fn env_value(value: &str) -> Result<String, &'static str> {
    let only_comment = |rest: &str| {
        let r = rest.trim_start();
        r.is_empty() || (r.starts_with('#') && r.len() < rest.len())
    };
    if let Some(inner) = value.strip_prefix('\'') {
        let end = inner.find('\'').ok_or("an unclosed single quote")?;
        return if only_comment(&inner[end + 1..]) { Ok(inner[..end].to_string()) } else { Err("text after the closing quote") };
    }
    if let Some(inner) = value.strip_prefix('"') {
        let mut v = String::new();
        let mut chars = inner.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => return if only_comment(&inner[at + 1..]) { Ok(v) } else { Err("text after the closing quote") },
                '\\' => match chars.next() {
                    Some((_, 'n')) => v.push('\n'),
                    Some((_, o)) => v.push(o),
                    None => break,
                },
                c => v.push(c),
            }
        }
        return Err("an unclosed double quote");
    }
    let comment = value.char_indices().find(|&(at, c)| c == '#' && value[..at].ends_with([' ', '\t'])).map(|(at, _)| at);
    Ok(value[..comment.unwrap_or(value.len())].trim_end().to_string())
}

/// The entries in an order that starts each after those it names in `--after` (stable:
/// Procfile order otherwise). Names not in the stack are left to the start itself to
/// check (they must be running already). A cycle is an error naming its members.
pub fn start_order(entries: &[Entry]) -> Result<Vec<usize>, String> {
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let after: Vec<Vec<String>> = entries.iter().map(Entry::after).collect();
    dependency_order(&names, &after)
}

/// An order of `names` in which each comes after the names it lists in `after` (those
/// among `names`; others are ignored), otherwise in the given order. Stopping goes the
/// other way round: dependents first.
pub fn dependency_order(names: &[&str], after: &[Vec<String>]) -> Result<Vec<usize>, String> {
    let deps: Vec<Vec<usize>> = after.iter().map(|a| a.iter().filter_map(|d| names.iter().position(|n| n == d)).collect()).collect();
    let mut done = vec![false; names.len()];
    let mut order = Vec::with_capacity(names.len());
    while order.len() < names.len() {
        let next = (0..names.len()).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d] || d == i));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                let stuck: Vec<&str> = (0..names.len()).filter(|&i| !done[i]).map(|i| names[i]).collect();
                return Err(format!("--after makes a cycle among {}", stuck.join(", ")));
            }
        }
    }
    Ok(order)
}

impl Stack {
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn to_record(&self) -> Record {
        let mut r = Record::new().with("procfile", self.procfile.display()).with("dir", self.dir.display());
        for (k, v) in &self.env {
            r.push("env", format!("{k}={v}"));
        }
        for e in &self.entries {
            r.push("service", &e.name);
            r.push("command", &e.command);
            r.push("port", e.port);
            for o in &e.options {
                r.push("option", o);
            }
        }
        r
    }

    pub fn from_record(name: &str, r: &Record) -> Option<Stack> {
        let mut stack =
            Stack { name: name.to_string(), procfile: r.get("procfile")?.into(), dir: r.get("dir")?.into(), env: Vec::new(), entries: Vec::new() };
        for (k, v) in r.fields() {
            match k {
                "env" => {
                    let (key, value) = v.split_once('=')?;
                    stack.env.push((key.to_string(), value.to_string()));
                }
                "service" => stack.entries.push(Entry { name: v.to_string(), command: String::new(), options: Vec::new(), port: 0 }),
                "command" => stack.entries.last_mut()?.command = v.to_string(),
                "port" => stack.entries.last_mut()?.port = v.parse().ok()?,
                "option" => stack.entries.last_mut()?.options.push(v.to_string()),
                _ => {}
            }
        }
        Some(stack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfile_entries_options_and_ports() {
        let text = "# the app\n\nweb: python3 -m http.server $PORT #process: --ready-port $PORT --ready-timeout 5\n\
                    worker:   ./work --queue=a#b #process: --after web --ready-log 'worker \\d+ up'\n\
                    not an entry\njob: sh -c 'exit 1'\n";
        let env = vec![("QUEUE".to_string(), "jobs".to_string())];
        let (entries, skipped) = parse_procfile(text, &env, BASE_PORT).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].command, "python3 -m http.server $PORT", "the command keeps its $PORT for the shell");
        assert_eq!(entries[0].options, ["--ready-port", "5000", "--ready-timeout", "5"]);
        assert_eq!(entries[1].command, "./work --queue=a#b", "a # inside a word is not the mark");
        assert_eq!(entries[1].options, ["--after", "web", "--ready-log", "worker \\d+ up"]);
        assert_eq!(entries[1].port, 5100);
        assert_eq!(entries[2].port, 5200);
        assert_eq!(entries[1].after(), ["web"]);
        assert_eq!(skipped, [Skipped { line: 5, text: "not an entry".into() }]);
        let why = |text: &str, base| parse_procfile(text, &[], base).unwrap_err().to_string();
        assert!(why("a: x\na: y\n", BASE_PORT).contains("twice"));
        assert!(parse_procfile("# nothing\n", &[], BASE_PORT).is_err());
        assert_eq!(
            parse_procfile("a: x #process: --ready-log 'open\n", &[], BASE_PORT).unwrap_err(),
            ProcfileError::Options { line: 1, entry: "a".into(), why: "an unclosed quote in the options".into() }
        );
        assert!(why("a: x\nb: y\n", 65500).contains("65535"));
        // A name the store could not record is no entry; a NUL is refused before anything.
        let long = format!("{}: sleep 5\nok: sleep 5\n", "n".repeat(300));
        let (entries, skipped) = parse_procfile(&long, &[], BASE_PORT).unwrap();
        assert_eq!((entries.len(), skipped.len()), (1, 1));
        assert!(why("a: x\0y\n", BASE_PORT).contains("NUL"));
    }

    #[test]
    fn env_files_as_foreman_reads_them() {
        let env = parse_env("# c\nexport A=1\nB = two words # note\nC='lit $X \\n'\nD=\"x\\ny \\\"q\\\"\"\nE=\n").unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("lit $X \\n"));
        assert_eq!(get("D"), Some("x\ny \"q\""));
        assert_eq!(get("E"), Some(""));
        assert!(parse_env("JUSTAWORD\n").unwrap_err().starts_with("line 1"));
        assert!(parse_env("1X=a\n").is_err());
        assert!(parse_env("A='open\n").is_err());
        // Quotes end where they close; a comment may follow, after a blank or a tab.
        let env = parse_env("A='x' # c\nB=\"y\" # c\nC=z\t#c\nD=\"a\\\"b\"\n").unwrap();
        assert_eq!(env, [("A", "x"), ("B", "y"), ("C", "z"), ("D", "a\"b")].map(|(k, v)| (k.to_string(), v.to_string())));
        assert!(parse_env("V=\"x\\\"\n").unwrap_err().contains("unclosed double quote"));
        assert!(parse_env("V='x'y\n").unwrap_err().contains("after the closing quote"));
    }

    #[test]
    fn dependency_order_and_cycles() {
        let e = |name: &str, after: &str| Entry {
            name: name.into(),
            command: "x".into(),
            options: if after.is_empty() { vec![] } else { vec!["--after".into(), after.into()] },
            port: 0,
        };
        let entries = vec![e("worker", "web,db"), e("web", "db"), e("db", ""), e("cron", "outside")];
        let order: Vec<&str> = start_order(&entries).unwrap().into_iter().map(|i| entries[i].name.as_str()).collect();
        assert_eq!(order, ["db", "web", "worker", "cron"]);
        let cyclic = vec![e("a", "b"), e("b", "a"), e("c", "")];
        assert_eq!(start_order(&cyclic).unwrap_err(), "--after makes a cycle among a, b");
    }

    #[test]
    fn the_record_round_trips() {
        let stack = Stack {
            name: "shop".into(),
            procfile: "/srv/shop/Procfile".into(),
            dir: "/srv/shop".into(),
            env: vec![("A".into(), "x=y".into())],
            entries: vec![
                Entry { name: "web".into(), command: "serve\nmore".into(), options: vec!["--ready-port".into(), "5000".into()], port: 5000 },
                Entry { name: "job".into(), command: "run".into(), options: vec![], port: 5100 },
            ],
        };
        assert_eq!(Stack::from_record("shop", &Record::parse(&stack.to_record().to_text())), Some(stack));
    }
}
