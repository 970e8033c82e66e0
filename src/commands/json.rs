//! JSON text for the library's machine-readable output (process-status --json), with the
//! one string escaper the events journal uses too (process_facts::journal).

/// `s` as a JSON string, quotes included.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    process_facts::journal::push_string(&mut out, s.as_bytes());
    out
}

/// A number as JSON writes it: whole numbers without a fraction, NaN and infinities
/// (which JSON cannot hold) as null.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        "null".to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
