//! Clock ticks, page size, and local time as text.

use std::sync::OnceLock;

pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no memory arguments.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64)
}

/// Clock ticks per second (`USER_HZ`), the unit of `/proc/PID/stat`'s times.
pub fn clock_ticks() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    // SAFETY: as above.
    *HZ.get_or_init(|| unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64)
}

/// `ctime`-style local time: `Mon Nov  4 10:30:15 2025` (the epoch number itself when the
/// time zone database cannot convert it).
pub fn local_time_text(epoch: u64) -> String {
    let t = epoch as libc::time_t;
    // SAFETY: localtime_r fills `tm`; strftime writes at most buf.len() bytes.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return epoch.to_string();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c"%a %b %e %H:%M:%S %Y".as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of this boot, so a sample
/// one shell took can be compared with another shell's (std's Instant cannot be shared).
pub fn monotonic_ns() -> u64 {
    // SAFETY: clock_gettime fills a plain struct.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
