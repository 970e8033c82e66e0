//! The one text format of the library's own files (everything but the PID file itself,
//! which holds one number for other tools): `key=value` lines, UTF-8, in order. Keys are
//! lower-case words; a value's backslashes and line breaks are escaped (`\\`, `\n`, `\r`),
//! so any value stays on its line. A key may repeat (a group lists one `service=` or
//! `process=` line per member). Readers skip lines and keys they do not know, so a file
//! written by a newer version still reads.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    fields: Vec<(String, String)>,
}

impl Record {
    pub fn new() -> Record {
        Record::default()
    }

    pub fn with(mut self, key: &str, value: impl ToString) -> Record {
        self.push(key, value);
        self
    }

    pub fn push(&mut self, key: &str, value: impl ToString) {
        debug_assert!(!key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        self.fields.push((key.to_string(), value.to_string()));
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, parsed.
    pub fn parse_of<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.get(key)?.parse().ok()
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.fields {
            out.push_str(k);
            out.push('=');
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('\n');
        }
        out
    }

    pub fn parse(text: &str) -> Record {
        let mut r = Record::new();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else { continue };
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                continue;
            }
            let mut value = String::with_capacity(v.len());
            let mut chars = v.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    value.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some(other) => value.push(other),
                    None => {}
                }
            }
            r.fields.push((k.to_string(), value));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_any_text_on_one_line() {
        let r = Record::new().with("command", "echo 'a=b'\nexit 3 \\ done").with("pid", 42).with("service", "web").with("service", "db");
        let text = r.to_text();
        assert_eq!(text.lines().count(), 4, "{text}");
        let back = Record::parse(&text);
        assert_eq!(back, r);
        assert_eq!(back.parse_of::<i32>("pid"), Some(42));
        assert_eq!(back.all("service").collect::<Vec<_>>(), ["web", "db"]);
    }

    #[test]
    fn unknown_and_malformed_lines_are_skipped() {
        let r = Record::parse("pid=7\ngarbage\nBAD=1\n=x\nfuture_key=whatever\n");
        assert_eq!(r.get("pid"), Some("7"));
        assert_eq!(r.get("future_key"), Some("whatever"));
        assert_eq!(r.fields().count(), 2);
    }
}
