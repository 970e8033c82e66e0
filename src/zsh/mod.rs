//! The zsh-facing layer: the only place with `unsafe`.
//!
//! [`module`] holds the entry points zsh calls when it loads the module and the one
//! dispatcher every builtin goes through; [`Shell`] is the small safe interface the
//! commands use to talk back to the shell (output, parameters, function calls, Ctrl-C).

mod ffi;
pub mod module;
mod params;

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;

/// The shell, as seen from inside one builtin call. Only the dispatcher creates it, so a
/// command can only reach zsh while zsh is running that command, on zsh's own thread.
pub struct Shell {
    _not_send: std::marker::PhantomData<*const ()>,
    /// The signal mask zsh had, kept by a builtin that is about to block signals for
    /// itself: shell functions it calls run with this one.
    shell_mask: Option<libc::sigset_t>,
}

/// A value a command hands back: printed, or assigned to the variable the caller named.
pub enum Value {
    Scalar(String),
    Array(Vec<String>),
    Assoc(Vec<(String, String)>),
}

impl Shell {
    pub(crate) fn new() -> Shell {
        Shell { _not_send: std::marker::PhantomData, shell_mask: None }
    }

    /// Writes to the shell's standard output (C's stdout, which zsh flushes after every
    /// builtin, so output stays in order inside `$(...)` and redirections).
    pub fn print(&mut self, text: &str) {
        // SAFETY: the pointer and length describe `text`, which outlives the call.
        unsafe { ffi::zp_stdout_write(text.as_ptr().cast(), text.len()) }
    }

    /// Writes one line to standard error. The library's messages never go to stdout, so
    /// they never end up in a caller's `$(...)`.
    pub fn warn(&mut self, command: &str, message: &str) {
        use std::io::Write;
        // stdout first, so a message printed after output appears after it.
        // SAFETY: flushing C's stdout has no preconditions.
        unsafe { ffi::zp_stdout_flush() };
        // One line, always: a newline or other control character in user input quoted
        // by the message (a name, an option) is shown escaped.
        let mut line = String::with_capacity(command.len() + message.len() + 2);
        for c in command.chars().chain(": ".chars()).chain(message.chars()) {
            if c.is_control() {
                line.extend(c.escape_default());
            } else {
                line.push(c);
            }
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    /// Assigns `value` to the parameter `name` (scalar, array or associative array), as
    /// zsh's `read`, `zstat -A` and `strftime -s` do: locals in the caller's scope are
    /// honoured. Returns false (and zsh has printed why) when zsh refused, e.g. readonly.
    pub fn assign(&mut self, name: &str, value: Value) -> bool {
        let Some(zname) = zsh_string(name) else { return false };
        // SAFETY: every string and array handed to zsh is allocated by zsh (zalloc/metafy)
        // and becomes zsh's; the name is a writable zsh copy that we free afterwards.
        let param = unsafe {
            let p = match value {
                Value::Scalar(s) => match zsh_string(&s) {
                    Some(v) => ffi::setsparam(zname, v),
                    None => ptr::null_mut(),
                },
                Value::Array(items) => ffi::setaparam(zname, zsh_array(items.iter().map(String::as_str))),
                Value::Assoc(pairs) => ffi::sethparam(
                    zname,
                    zsh_array(pairs.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()])),
                ),
            };
            ffi::zsfree(zname);
            p
        };
        !param.is_null()
    }

    /// The value of a scalar parameter, if it is set.
    pub fn get(&mut self, name: &str) -> Option<String> {
        let cname = CString::new(name).ok()?;
        // SAFETY: getsparam only reads the name; the returned string belongs to zsh and is
        // copied (and unmetafied) before we return.
        unsafe {
            let v = ffi::getsparam(cname.as_ptr() as *mut c_char);
            if v.is_null() {
                None
            } else {
                Some(unmetafy_to_string(v))
            }
        }
    }

    /// Calls the shell function `name` with `args`; None when no such function exists.
    /// A failing function never aborts the calling command (glue.c keeps errflag).
    pub fn call_function(&mut self, name: &str, args: &[&str]) -> Option<i32> {
        let zname = zsh_string(name)?;
        let mut owned: Vec<*mut c_char> = args.iter().filter_map(|a| zsh_string(a)).collect();
        owned.push(ptr::null_mut());
        let mut status: c_int = 0;
        let mask = self.shell_mask.as_ref().map_or(ptr::null(), |m| m as *const libc::sigset_t);
        // SAFETY: zp_call_function copies every argument (we free our copies below) and
        // only reads the mask.
        let found = unsafe { ffi::zp_call_function(zname, owned.as_mut_ptr(), &mut status, mask.cast()) };
        unsafe {
            ffi::zsfree(zname);
            for p in owned.into_iter().filter(|p| !p.is_null()) {
                ffi::zsfree(p);
            }
        }
        (found == 0).then_some(status)
    }

    /// Keeps the current signal mask as the shell's own, before this builtin blocks
    /// signals for itself (to read them from a signalfd): shell functions it calls then
    /// run with the shell's mask, and a stop signal arriving meanwhile is held for the
    /// builtin instead of killing the shell halfway (glue.c).
    pub fn keep_shell_signal_mask(&mut self) {
        // SAFETY: reads the mask into a local sigset_t.
        unsafe {
            let mut m: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_SETMASK, ptr::null(), &mut m);
            self.shell_mask = Some(m);
        }
    }

    /// True once the user has pressed Ctrl-C during this builtin (zsh's ERRFLAG_INT).
    pub fn interrupted(&mut self) -> bool {
        // SAFETY: reads a flag on zsh's own thread.
        unsafe { ffi::zp_errflag_interrupted() != 0 }
    }

    /// True inside a trap that is not the shell's own exit: a signal trap, or an `EXIT`
    /// trap set in a function, which zsh runs when that function returns.
    pub fn in_trap_before_exit(&mut self) -> bool {
        // SAFETY: plain reads of zsh's globals, on its thread.
        unsafe { std::ptr::read_volatile(&raw const ffi::intrap) > 0 && std::ptr::read_volatile(&raw const ffi::in_exit_trap) == 0 }
    }

    /// The PID of the main shell, `$$` (a `$(...)` subshell reports its parent's, as zsh does).
    pub fn shell_pid(&mut self) -> i32 {
        // SAFETY: plain read of zsh's global.
        unsafe { ffi::mypid as i32 }
    }
}

/// Writes to the shell's standard output and flushes it at once: for output that must
/// show up while a long-running builtin (a monitor writing CSV to `-`) is still running.
pub fn print_now(text: &str) -> std::io::Result<()> {
    // SAFETY: the pointer and length describe `text`; fflush has no preconditions.
    unsafe {
        ffi::zp_stdout_write(text.as_ptr().cast(), text.len());
        if ffi::zp_stdout_flush() != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A zsh-allocated, metafied copy of `s` (NUL bytes cannot be passed to zsh: None).
fn zsh_string(s: &str) -> Option<*mut c_char> {
    if s.as_bytes().contains(&0) {
        return None;
    }
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    // SAFETY: metafy with META_DUP copies `len` bytes into zsh's permanent heap (zalloc).
    Some(unsafe { ffi::metafy(bytes.as_mut_ptr().cast(), s.len() as c_int, ffi::META_DUP as c_int) })
}

/// A zsh-allocated NULL-terminated array of zsh strings.
fn zsh_array<'a>(items: impl Iterator<Item = &'a str>) -> *mut *mut c_char {
    let items: Vec<*mut c_char> = items.map(|s| zsh_string(s).unwrap_or_else(|| zsh_string("").unwrap())).collect();
    // SAFETY: zshcalloc returns zeroed memory of the requested size; zsh frees it with the array.
    unsafe {
        let arr = ffi::zshcalloc((items.len() + 1) * std::mem::size_of::<*mut c_char>()) as *mut *mut c_char;
        for (i, p) in items.into_iter().enumerate() {
            *arr.add(i) = p;
        }
        arr
    }
}

/// Copies a metafied zsh string into Rust, undoing zsh's metafication. Bytes that are not
/// UTF-8 become U+FFFD.
///
/// # Safety
/// `s` must point to a NUL-terminated string.
unsafe fn unmetafy_to_string(s: *const c_char) -> String {
    String::from_utf8_lossy(&unmetafy_bytes(CStr::from_ptr(s).to_bytes())).into_owned()
}

/// zsh's metafication: `Meta` (0x83) followed by the byte XOR 32.
fn unmetafy_bytes(raw: &[u8]) -> Vec<u8> {
    const META: u8 = 0x83;
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter();
    while let Some(&b) = it.next() {
        if b == META {
            if let Some(&n) = it.next() {
                out.push(n ^ 32);
            }
        } else {
            out.push(b);
        }
    }
    out
}
