//! Argument parsing shared by every command: options may come before or after the
//! operands (the spec writes `process-stop NAME --timeout 30`), `--` ends them, and a
//! negative number is an operand (to be refused as a PID), not an option. Operands are
//! bytes, as zsh passes them; options and their values are text.

use super::outcome::{usage, Failure};

/// Which options a command takes. `-v NAME` is listed where the command returns a value.
pub struct OptSpec {
    /// Options that take a value, e.g. `["-v", "--timeout"]`.
    pub valued: &'static [&'static str],
    /// Options that don't, e.g. `["--force"]`.
    pub flags: &'static [&'static str],
    /// Operand names, for "missing ..." messages; `min`..=`max` of them are allowed.
    pub operands: &'static [&'static str],
    pub min: usize,
    pub max: usize,
}

pub struct Args {
    operands: Vec<Vec<u8>>,
    values: Vec<(&'static str, String)>,
    flags: Vec<&'static str>,
}

fn text(arg: Vec<u8>, what: &str) -> Result<String, Failure> {
    String::from_utf8(arg).map_err(|e| usage(format!("{what} '{}' is not valid UTF-8", String::from_utf8_lossy(e.as_bytes()))))
}

impl Args {
    pub fn parse(argv: Vec<Vec<u8>>, spec: &OptSpec) -> Result<Args, Failure> {
        let mut args = Args { operands: Vec::new(), values: Vec::new(), flags: Vec::new() };
        let mut it = argv.into_iter();
        let mut options_done = false;
        while let Some(arg) = it.next() {
            let is_option = !options_done && arg.first() == Some(&b'-') && arg.len() > 1 && !arg[1..].iter().all(u8::is_ascii_digit);
            if !is_option {
                args.operands.push(arg);
                continue;
            }
            if arg == b"--" {
                options_done = true;
                continue;
            }
            let arg = text(arg, "option")?;
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            if let Some(&opt) = spec.valued.iter().find(|o| **o == name) {
                let value = match inline {
                    Some(v) => v,
                    None => text(it.next().ok_or_else(|| usage(format!("option {opt} needs a value")))?, "the value of an option")?,
                };
                if opt == "-v" && !is_identifier(&value) {
                    return Err(usage(format!("invalid variable name '{value}' for -v")));
                }
                args.values.retain(|(o, _)| *o != opt);
                args.values.push((opt, value));
            } else if let Some(&flag) = spec.flags.iter().find(|o| **o == name) {
                if inline.is_some() {
                    return Err(usage(format!("option {flag} takes no value")));
                }
                args.flags.push(flag);
            } else {
                return Err(usage(format!("unknown option '{arg}'")));
            }
        }
        if args.operands.len() < spec.min {
            let missing = spec.operands.get(args.operands.len()).copied().unwrap_or("argument");
            return Err(usage(format!("missing {missing} (usage: {})", synopsis(spec))));
        }
        if args.operands.len() > spec.max {
            let usage_text = match synopsis(spec) {
                s if s.is_empty() => "it takes no arguments".to_string(),
                s => format!("usage: {s}"),
            };
            let extra = String::from_utf8_lossy(&args.operands[spec.max]).into_owned();
            return Err(usage(format!("unexpected argument '{extra}' ({usage_text})")));
        }
        Ok(args)
    }

    pub fn value(&self, opt: &str) -> Option<&str> {
        self.values.iter().find(|(o, _)| *o == opt).map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, opt: &str) -> bool {
        self.flags.contains(&opt)
    }

    /// The variable named with `-v`, if any.
    pub fn var(&self) -> Option<&str> {
        self.value("-v")
    }

    /// Operand `i` as bytes ("" when absent).
    pub fn bytes(&self, i: usize) -> &[u8] {
        self.operands.get(i).map(Vec::as_slice).unwrap_or(b"")
    }

    /// Operand `i` as text: a usage error when it is not UTF-8 (a service name, a PID, a
    /// signal name must be).
    pub fn text(&self, i: usize) -> Result<&str, Failure> {
        std::str::from_utf8(self.bytes(i)).map_err(|_| usage(format!("'{}' is not valid UTF-8", String::from_utf8_lossy(self.bytes(i)))))
    }

    pub fn count(&self) -> usize {
        self.operands.len()
    }
}

fn synopsis(spec: &OptSpec) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (i, o) in spec.operands.iter().enumerate() {
        parts.push(if i < spec.min { format!("<{o}>") } else { format!("[{o}]") });
    }
    for v in spec.valued {
        parts.push(if *v == "-v" { "[-v VAR]".to_string() } else { format!("[{v} VALUE]") });
    }
    for f in spec.flags {
        parts.push(format!("[{f}]"));
    }
    parts.join(" ")
}

/// A name zsh accepts for a plain parameter.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Args {
    /// The value of `--OPTION SECONDS` (`5`, `0.5`), or `default` when it is absent.
    pub fn seconds(&self, opt: &str, default: std::time::Duration) -> Result<std::time::Duration, Failure> {
        match self.value(opt) {
            Some(t) => super::settings::seconds(t).ok_or_else(|| usage(format!("invalid {opt} '{t}': expected seconds, e.g. 5 or 0.5"))),
            None => Ok(default),
        }
    }
}
