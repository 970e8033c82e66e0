//! The events journal: every event as one JSON object per line (JSON Lines), appended to a
//! file that log shippers (Vector, promtail, Fluent Bit) tail.
//!
//! Each line is written with one `write(2)` on a descriptor opened with `O_APPEND`, so
//! lines of concurrent shells never interleave (the kernel appends each write whole to a
//! local file). The file is opened again for every event, by the store's trust rules: a
//! file renamed away by logrotate gets no more lines, the next event creates the new one.

use crate::store::{self, Dir, StoreError};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A field's value.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// A string: any bytes (invalid UTF-8 becomes U+FFFD).
    Text(&'a [u8]),
    /// A number as the library prints it (`1234`, `12.5`); written as a JSON number, or as
    /// `null` when it is not one (a supervisor's "unknown" exit status).
    Number(&'a str),
}

/// One JSON line (with its newline): `{"event":..,"time":..,"host":..,FIELDS}`.
pub fn line(event: &str, time: SystemTime, host: &[u8], fields: &[(&str, Value)]) -> String {
    let mut out = String::with_capacity(96 + fields.len() * 24);
    out.push_str("{\"event\":");
    push_string(&mut out, event.as_bytes());
    out.push_str(",\"time\":\"");
    out.push_str(&rfc3339_utc(time));
    out.push_str("\",\"host\":");
    push_string(&mut out, host);
    for (key, value) in fields {
        out.push(',');
        push_string(&mut out, key.as_bytes());
        out.push(':');
        match value {
            Value::Text(t) => push_string(&mut out, t),
            Value::Number(n) if is_json_number(n) => out.push_str(n),
            Value::Number(_) => out.push_str("null"),
        }
    }
    out.push_str("}\n");
    out
}

/// `bytes` as a JSON string, quotes included: `"` and `\` escaped, control characters as
/// `\n`, `\t`, ... or `\u00XX`, invalid UTF-8 as U+FFFD.
pub fn push_string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// True when `s` is a number by JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    if !digits(&mut i) || (b[int_start] == b'0' && i - int_start > 1) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// RFC 3339 in UTC with microseconds: `2026-12-02T03:04:05.123456Z`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_micros())
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

/// Appends `line` to the file at `path` with one write, opening it (created 0644, for the
/// shipper that reads it) by the store's rules: its directory must exist and be trusted;
/// a symlink, a FIFO or another user's file in its place is refused.
pub fn append(path: &Path, line: &[u8]) -> store::Result<()> {
    let Some((dir_path, name)) = store::split_file_path(path) else {
        return Err(StoreError::BadName(path.display().to_string(), "not a file name (or not UTF-8)"));
    };
    let dir = Dir::open(dir_path)?.ok_or_else(|| StoreError::Io {
        op: "open",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
    })?;
    let mut file = dir.open_append(name, 0o644)?;
    store::append_line(&mut file, line).map_err(|e| StoreError::Io { op: "append to", path: path.to_path_buf(), source: e })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    #[test]
    fn times_are_rfc3339_utc_with_microseconds() {
        assert_eq!(rfc3339_utc(at(0, 0)), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_utc(at(951_782_400, 1)), "2000-02-29T00:00:00.000001Z");
        assert_eq!(rfc3339_utc(at(1_796_180_645, 123_456)), "2026-12-02T03:04:05.123456Z");
        assert_eq!(rfc3339_utc(at(4_102_444_799, 999_999)), "2099-12-31T23:59:59.999999Z");
        assert_eq!(rfc3339_utc(at(1_709_164_800, 0)), "2024-02-29T00:00:00.000000Z");
    }

    #[test]
    fn strings_are_escaped_for_any_bytes() {
        let s = |b: &[u8]| {
            let mut out = String::new();
            push_string(&mut out, b);
            out
        };
        assert_eq!(s(b"web"), "\"web\"");
        assert_eq!(s(b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(s(b"\n\r\t\x08\x0c\x01\x1f\x7f"), "\"\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\"");
        assert_eq!(s("ünï ✓".as_bytes()), "\"ünï ✓\"");
        assert_eq!(s(b"caf\xe9"), "\"caf\u{fffd}\"");
    }

    #[test]
    fn numbers_follow_the_json_grammar() {
        for good in ["0", "1234", "12.5", "0.0", "-1", "1e5", "2.5E-3"] {
            assert!(is_json_number(good), "{good}");
        }
        for bad in ["", "-", "01", "1.", ".5", "+1", "1e", "unknown", "NaN", "12,5", "0x10", " 1"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn a_line_is_one_object_with_the_fields_in_order() {
        let l = line(
            "process.died",
            at(1_796_180_645, 5),
            b"box",
            &[("service", Value::Text(b"we\"b")), ("pid", Value::Number("42")), ("status", Value::Number("unknown"))],
        );
        assert_eq!(l, "{\"event\":\"process.died\",\"time\":\"2026-12-02T03:04:05.000005Z\",\"host\":\"box\",\"service\":\"we\\\"b\",\"pid\":42,\"status\":null}\n");
    }

    #[test]
    fn appends_whole_lines_and_refuses_what_the_store_refuses() {
        let d = std::env::temp_dir().join(format!("journal-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Dir::create(&d).unwrap();
        let f = d.join("events.jsonl");
        append(&f, b"{\"a\":1}\n").unwrap();
        append(&f, b"{\"a\":2}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        // Renamed away (logrotate): the next line goes to a new file.
        std::fs::rename(&f, d.join("events.jsonl.1")).unwrap();
        append(&f, b"{\"a\":3}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "{\"a\":3}\n");
        std::os::unix::fs::symlink(d.join("events.jsonl.1"), d.join("link")).unwrap();
        assert!(matches!(append(&d.join("link"), b"x\n"), Err(StoreError::Untrusted { .. })));
        assert!(append(&d.join("missing/e.jsonl"), b"x\n").is_err());
        assert!(append(&d.join("e/.."), b"x\n").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
