//! Process IDs as users type them.

use thiserror::Error;

/// A process ID: always positive (PID 0 and negative numbers name groups, not processes).
pub type Pid = i32;

/// Linux never hands out PIDs above 2^22 (`PID_MAX_LIMIT` on 64-bit).
pub const PID_MAX_LIMIT: i64 = 1 << 22;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PidError {
    #[error("missing PID")]
    Empty,
    #[error("invalid PID '{0}': negative PIDs name process groups, not processes")]
    Negative(String),
    #[error("invalid PID '{0}': PID 0 names the caller's process group, not a process")]
    Zero(String),
    #[error("invalid PID '{0}': not a number")]
    NotANumber(String),
    #[error("invalid PID '{0}': larger than any PID Linux hands out")]
    TooLarge(String),
}

/// Parses a PID the way a careful user means it: decimal digits only (no sign, no
/// spaces, no `0x`), 1 ..= 2^22.
pub fn parse_pid(text: &str) -> Result<Pid, PidError> {
    if text.is_empty() {
        return Err(PidError::Empty);
    }
    if let Some(rest) = text.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PidError::Negative(text.into()));
        }
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PidError::NotANumber(text.into()));
    }
    let digits = text.trim_start_matches('0');
    if digits.is_empty() {
        return Err(PidError::Zero(text.into()));
    }
    if digits.len() > 7 {
        return Err(PidError::TooLarge(text.into()));
    }
    let n: i64 = digits.parse().map_err(|_| PidError::NotANumber(text.into()))?;
    if n > PID_MAX_LIMIT {
        return Err(PidError::TooLarge(text.into()));
    }
    Ok(n as Pid)
}

/// True when `text` looks like a PID rather than a service name (all digits).
pub fn looks_like_pid(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_decimal() {
        assert_eq!(parse_pid("1"), Ok(1));
        assert_eq!(parse_pid("4194304"), Ok(4194304));
        assert_eq!(parse_pid("00042"), Ok(42));
    }

    #[test]
    fn rejects_what_is_not_one_process() {
        assert_eq!(parse_pid(""), Err(PidError::Empty));
        assert!(matches!(parse_pid("-5"), Err(PidError::Negative(_))));
        assert!(matches!(parse_pid("0"), Err(PidError::Zero(_))));
        assert!(matches!(parse_pid("000"), Err(PidError::Zero(_))));
        assert!(matches!(parse_pid("12a"), Err(PidError::NotANumber(_))));
        assert!(matches!(parse_pid("+5"), Err(PidError::NotANumber(_))));
        assert!(matches!(parse_pid(" 5"), Err(PidError::NotANumber(_))));
        assert!(matches!(parse_pid("4194305"), Err(PidError::TooLarge(_))));
        assert!(matches!(parse_pid("99999999999999999999"), Err(PidError::TooLarge(_))));
    }
}
