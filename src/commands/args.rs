//! Argument parsing shared by every command: options may come before or after the
//! operands (the spec writes `process-stop NAME --timeout 30`), `--` ends them, and a
//! negative number is an operand (to be refused as a PID), not an option. Operands are
//! bytes, as zsh passes them; options and their values are text.

use super::outcome::{usage, Failure};

use super::spec::{Kind, Spec};

pub struct Args {
    operands: Vec<Vec<u8>>,
    values: Vec<(&'static str, String)>,
    flags: Vec<&'static str>,
}

fn text(arg: Vec<u8>, what: &str) -> Result<String, Failure> {
    String::from_utf8(arg).map_err(|e| usage(format!("{what} '{}' is not valid UTF-8", String::from_utf8_lossy(e.as_bytes()))))
}

impl Args {
    pub fn parse(argv: Vec<Vec<u8>>, spec: &Spec) -> Result<Args, Failure> {
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
            let known = spec.options.iter().find(|o| o.name == name);
            if let Some(opt) = known.filter(|o| o.value.is_some()) {
                let kind = opt.value.map(|(_, k)| k);
                let opt = opt.name;
                let was_inline = inline.is_some();
                let value = match inline {
                    Some(v) => v,
                    // `--` ends the options: it is no option's value.
                    None => text(it.next().filter(|v| v != b"--").ok_or_else(|| usage(format!("option {opt} needs a value")))?, "the value of an option")?,
                };
                // `--prom $UNSET --count 1` must not write a file named `--count` and take
                // `1` for a target: another option of the command is no value.
                let value_name = value.split_once('=').map_or(value.as_str(), |(n, _)| n);
                if !was_inline && value.len() > 1 && spec.options.iter().any(|o| o.name == value_name) {
                    return Err(usage(format!("option {opt} needs a value (found the option '{value}')")));
                }
                if kind == Some(Kind::File) && value.starts_with('-') && value != "-" {
                    return Err(usage(format!("invalid {opt} '{value}': a file name may not start with '-' (write ./{value})")));
                }
                if opt == "-v" && !is_identifier(&value) {
                    return Err(usage(format!("invalid variable name '{value}' for -v")));
                }
                args.values.retain(|(o, _)| *o != opt);
                args.values.push((opt, value));
            } else if let Some(flag) = known.map(|o| o.name) {
                if inline.is_some() {
                    return Err(usage(format!("option {flag} takes no value")));
                }
                args.flags.push(flag);
            } else {
                return Err(usage(format!("unknown option '{arg}'")));
            }
        }
        if args.operands.len() < spec.min {
            let missing = spec.operand(args.operands.len()).map_or("argument", |o| o.name);
            return Err(usage(format!("missing {missing} (usage: {})", spec.synopsis())));
        }
        if args.operands.len() > spec.max {
            let usage_text = match spec.synopsis() {
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
