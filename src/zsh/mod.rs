//! The zsh-facing layer: with `process_facts::sys`, the only place with `unsafe`.
//!
//! [`module`] holds the entry points zsh calls when it loads the module and the one
//! dispatcher every builtin goes through; [`params`] the special parameter; [`Shell`] is
//! the small safe interface the commands use to talk back to the shell.
//!
//! **Signals.** zsh runs builtins with signals not queued, so a trap could run in the
//! middle of anything the module does. Every entry from zsh into Rust (a builtin, a
//! special parameter's callback) runs with zsh's signals queued, and they are let through
//! only by [`Shell::let_signals_through`], around a single blocking system call that
//! allocates nothing and holds no state, and by [`Shell::call_function`], which runs shell
//! code the way zsh does. Traps therefore run at those safe points, or right after the
//! builtin returns.

mod ffi;
pub mod module;
mod params;

use process_facts::sys::signal::Mask;
use std::ffi::{c_char, c_int, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

/// What the module is, for zsh: the builtins, what to do once loaded, the special
/// parameter. Defined by the crate root (lib.rs), which wires the commands in.
pub struct Definition {
    /// The builtins' names; builtin `i` is run by `run(shell, i, arguments)` (unmetafied,
    /// as bytes), which returns its exit status.
    pub builtins: &'static [&'static CStr],
    pub run: fn(&mut Shell, usize, Vec<Vec<u8>>) -> i32,
    /// Runs once when the module is loaded (after the version check).
    pub on_load: fn(&mut Shell),
    /// `$_PROCESS_GROUPS`: a read-only special associative array.
    pub groups: SpecialHash,
}

/// The callbacks behind a read-only special hash: one value, and every key.
pub struct SpecialHash {
    pub get: fn(&mut Shell, &str) -> Option<String>,
    pub keys: fn(&mut Shell) -> Vec<String>,
}

/// The shell, as seen from inside one builtin call. Only the zsh layer creates it, so a
/// command can only reach zsh while zsh is running that command, on zsh's own thread.
pub struct Shell {
    _not_send: std::marker::PhantomData<*const ()>,
    /// The signal mask zsh had, kept by a builtin that is about to block signals for
    /// itself: shell functions it calls run with this one.
    shell_mask: Option<Mask>,
    /// The signalfd of a builtin that holds its stop signals blocked (a monitor, a
    /// supervisor): a write that stalls, and every wait, give up when it becomes readable,
    /// since Ctrl-C can no longer reach zsh's handler to say so.
    stop_fd: Option<std::os::fd::RawFd>,
    /// The count of SIGINTs let through (glue.c) when this entry began: one more since
    /// is a Ctrl-C for this builtin, even when a trap took it.
    sigint_at_entry: std::ffi::c_long,
}

/// A value a command hands back: printed, or assigned to the variable the caller named.
/// Bytes, as zsh strings are: a process name that is not UTF-8 passes through unchanged.
pub enum Value {
    Scalar(Vec<u8>),
    Array(Vec<Vec<u8>>),
    Assoc(Vec<(String, Vec<u8>)>),
}

impl Value {
    pub fn text(s: impl Into<String>) -> Value {
        Value::Scalar(s.into().into_bytes())
    }
}

/// zsh's signals queued while it lives (entries from zsh into Rust).
pub(crate) struct SignalsQueued(());

impl SignalsQueued {
    pub(crate) fn new() -> SignalsQueued {
        // SAFETY: zsh's queue_signals on its own thread; undone in Drop.
        unsafe { ffi::zp_queue_signals() };
        SignalsQueued(())
    }
}

impl Drop for SignalsQueued {
    fn drop(&mut self) {
        // SAFETY: pairs with the queue_signals above; runs the traps that were held.
        unsafe { ffi::zp_unqueue_signals() };
    }
}

impl Shell {
    pub(crate) fn new() -> Shell {
        // SAFETY: reads a counter glue.c keeps, on zsh's thread.
        let sigint_at_entry = unsafe { ffi::zp_sigint_seen() };
        Shell { _not_send: std::marker::PhantomData, shell_mask: None, stop_fd: None, sigint_at_entry }
    }

    /// Writes to the shell's standard output (C's stdout, which zsh flushes after every
    /// builtin, so output stays in order inside `$(...)` and redirections).
    pub fn print(&mut self, bytes: &[u8]) {
        // SAFETY: the pointer and length describe `bytes`, which outlives the call.
        unsafe { ffi::zp_stdout_write(bytes.as_ptr().cast(), bytes.len()) }
    }

    /// Writes `line` to standard error as one line, with one write: the library's only
    /// way to say something to the user (commands prefix their name). Control characters
    /// a message quotes from user input are shown escaped, so it stays one line.
    pub fn error_line(&mut self, line: &str) {
        // stdout first, so a message printed after output appears after it.
        // SAFETY: flushing C's stdout has no preconditions.
        unsafe { ffi::zp_stdout_flush() };
        let mut out = String::with_capacity(line.len() + 1);
        for c in line.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        out.push('\n');
        // SAFETY: as print; the stop descriptor is only polled.
        unsafe { ffi::zp_stderr_write(out.as_ptr().cast(), out.len(), self.stop_fd.unwrap_or(-1)) }
    }

    /// Assigns `value` to the parameter `name` (scalar, array or associative array), as
    /// zsh's `read`, `zstat -A` and `strftime -s` do: locals in the caller's scope are
    /// honoured. Returns false (and zsh has printed why) when zsh refused, e.g. readonly.
    pub fn assign(&mut self, name: &str, value: Value) -> bool {
        let Some(zname) = zsh_string(name.as_bytes()) else { return false };
        // SAFETY: a lookup in zsh's parameter table by a name we own.
        if !matches!(value, Value::Scalar(_)) && unsafe { ffi::zp_param_is_special(zname) } != 0 {
            // SAFETY: our copy.
            unsafe { ffi::zsfree(zname) };
            return false;
        }
        // SAFETY: every string and array handed to zsh is allocated by zsh (zalloc/metafy)
        // and becomes zsh's; the name is a writable zsh copy that we free afterwards.
        let param = unsafe {
            let p = match value {
                Value::Scalar(s) => match zsh_string(&s) {
                    Some(v) => ffi::setsparam(zname, v),
                    None => ptr::null_mut(),
                },
                Value::Array(items) => ffi::setaparam(zname, zsh_array(items.iter().map(Vec::as_slice))),
                Value::Assoc(pairs) => ffi::sethparam(zname, zsh_array(pairs.iter().flat_map(|(k, v)| [k.as_bytes(), v.as_slice()]))),
            };
            ffi::zsfree(zname);
            p
        };
        !param.is_null()
    }

    /// Sets the global scalar `name` to `value` unless it is set and not empty (the way
    /// the documented `$PROCESS_*` defaults are published).
    pub fn set_default(&mut self, name: &str, value: &[u8]) {
        let (Some(zname), Some(zvalue)) = (zsh_string(name.as_bytes()), zsh_string(value)) else { return };
        // SAFETY: zsh copies the value; both copies are ours to free.
        unsafe {
            ffi::zp_set_default(zname, zvalue);
            ffi::zsfree(zname);
            ffi::zsfree(zvalue);
        }
    }

    /// The value of a scalar parameter, if it is set, as bytes.
    pub fn get_bytes(&mut self, name: &str) -> Option<Vec<u8>> {
        let cname = CString::new(name).ok()?;
        // SAFETY: getsparam only reads the name; the returned string belongs to zsh and is
        // copied (and unmetafied) before we return.
        unsafe {
            let v = ffi::getsparam(cname.as_ptr() as *mut c_char);
            (!v.is_null()).then(|| unmetafy_bytes(CStr::from_ptr(v).to_bytes()))
        }
    }

    /// The value of a scalar parameter, if it is set (bytes that are not UTF-8: U+FFFD).
    pub fn get(&mut self, name: &str) -> Option<String> {
        self.get_bytes(name).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The elements of an array parameter, if it is set.
    pub fn get_array(&mut self, name: &str) -> Option<Vec<String>> {
        let cname = CString::new(name).ok()?;
        // SAFETY: getaparam returns zsh's own NULL-terminated array (not ours to free),
        // copied before we return.
        unsafe {
            let mut p = ffi::getaparam(cname.as_ptr() as *mut c_char);
            if p.is_null() {
                return None;
            }
            let mut out = Vec::new();
            while !(*p).is_null() {
                out.push(String::from_utf8_lossy(&unmetafy_bytes(CStr::from_ptr(*p).to_bytes())).into_owned());
                p = p.add(1);
            }
            Some(out)
        }
    }

    /// True when a shell function `name` is defined.
    pub fn function_exists(&mut self, name: &str) -> bool {
        let Some(zname) = zsh_string(name.as_bytes()) else { return false };
        // SAFETY: getshfunc only reads the name, which we free.
        unsafe {
            let found = ffi::zp_function_exists(zname) != 0;
            ffi::zsfree(zname);
            found
        }
    }

    /// Calls the shell function `name` with `args`; None when no such function exists.
    /// It runs as zsh runs functions (signals let through), with errexit off; a failing
    /// function never aborts the calling command (glue.c keeps errflag). The caller must
    /// hold no module state across it: the function may call back into the module.
    pub fn call_function(&mut self, name: &str, args: &[&str]) -> Option<i32> {
        let zname = zsh_string(name.as_bytes())?;
        let mut owned: Vec<*mut c_char> = args.iter().filter_map(|a| zsh_string(a.as_bytes())).collect();
        owned.push(ptr::null_mut());
        let mut status: c_int = 0;
        let mask = self.shell_mask.as_ref().map_or(ptr::null(), Mask::as_ptr);
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

    /// Runs `call` with zsh's signals let through: a trap that is due runs now, and one
    /// whose signal arrives during `call` runs from the signal handler. So `call` must be
    /// one blocking system call that allocates nothing and holds no module state.
    pub fn let_signals_through(&mut self, call: &mut dyn FnMut()) {
        // SAFETY: zsh's dont_queue_signals / restore_queue_signals pair, on its thread.
        let q = unsafe { ffi::zp_let_signals_through() };
        call();
        unsafe { ffi::zp_restore_signal_queueing(q) };
    }

    /// Keeps the current signal mask as the shell's own, before this builtin blocks
    /// signals for itself (to read them from a signalfd): shell functions it calls then
    /// run with the shell's mask, and a stop signal arriving meanwhile is held for the
    /// builtin instead of killing the shell halfway (glue.c).
    pub fn keep_shell_signal_mask(&mut self) {
        self.shell_mask = Some(Mask::current());
    }

    /// True once the user has pressed Ctrl-C during this builtin: zsh's ERRFLAG_INT, or,
    /// when an INT trap took it, a SIGINT counted while signals were let through.
    pub fn interrupted(&mut self) -> bool {
        // SAFETY: reads a flag and a counter on zsh's own thread.
        unsafe { ffi::zp_errflag_interrupted() != 0 || ffi::zp_sigint_seen() != self.sigint_at_entry }
    }

    /// True inside a trap that is not the shell's own exit: a signal trap, or an `EXIT`
    /// trap set in a function, which zsh runs when that function returns.
    pub fn in_trap_before_exit(&mut self) -> bool {
        // SAFETY: plain reads of zsh's globals, on its thread.
        unsafe { std::ptr::read_volatile(&raw const ffi::intrap) > 0 && std::ptr::read_volatile(&raw const ffi::in_exit_trap) == 0 }
    }

    /// The file this module was loaded from (`.../zsh_process/process.so`), for starting
    /// helper shells that load it too. Asked of the loader for the address of a private
    /// static: not of an exported function, since every zsh module exports `setup_` &
    /// co. and a reference to ours may resolve to another module's.
    pub fn module_file(&mut self) -> Option<std::path::PathBuf> {
        static ANCHOR: u8 = 0;
        // SAFETY: Dl_info is plain data, valid zeroed; dladdr only reads the address and
        // fills `info`, whose file name points into the loader's storage (copied at once).
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let found = unsafe { libc::dladdr(std::ptr::addr_of!(ANCHOR).cast(), &mut info) };
        if found == 0 || info.dli_fname.is_null() {
            return None;
        }
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes())))
    }

    /// The PID of the main shell, `$$` (a `$(...)` subshell reports its parent's, as zsh does).
    pub fn shell_pid(&mut self) -> i32 {
        // SAFETY: plain read of zsh's global.
        unsafe { ffi::mypid as i32 }
    }

    /// Writes to standard output and flushes at once: for output that must show up while
    /// a long-running builtin (a monitor writing CSV to `-`) is still running. A reader
    /// that stalls is waited for with signals let through; Ctrl-C, or a stop signal on
    /// the builtin's signalfd, gives up on the write (Interrupted).
    pub fn print_now(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // SAFETY: the pointer and length describe `bytes`; the stop descriptor is polled.
        match unsafe { ffi::zp_stdout_write_now(bytes.as_ptr().cast(), bytes.len(), self.stop_fd.unwrap_or(-1)) } {
            0 => Ok(()),
            1 => Err(std::io::Error::from(std::io::ErrorKind::Interrupted)),
            _ => Err(std::io::Error::last_os_error()),
        }
    }

    /// Tells the shell layer that this builtin holds its stop signals blocked and reads
    /// them from `fd` (see `stop_fd`).
    pub fn watch_stop_signals(&mut self, fd: std::os::fd::RawFd) {
        self.stop_fd = Some(fd);
    }

    /// The builtin's stop signals are not blocked any more (it calls shell code).
    pub fn stop_watching_signals(&mut self) {
        self.stop_fd = None;
    }

    /// True when a stop signal is waiting on the builtin's signalfd.
    pub fn stop_signal_pending(&mut self) -> bool {
        let Some(fd) = self.stop_fd else { return false };
        let mut p = [process_facts::sys::readable(fd)];
        matches!(process_facts::sys::poll(&mut p, 0), Ok(n) if n > 0)
    }
}

/// A zsh-allocated, metafied copy of `s` (NUL bytes cannot be passed to zsh: None).
fn zsh_string(s: &[u8]) -> Option<*mut c_char> {
    if s.contains(&0) {
        return None;
    }
    let mut bytes = s.to_vec();
    bytes.push(0);
    // SAFETY: metafy with META_DUP copies `len` bytes into zsh's permanent heap (zalloc).
    Some(unsafe { ffi::metafy(bytes.as_mut_ptr().cast(), s.len() as c_int, ffi::META_DUP as c_int) })
}

/// A zsh-allocated NULL-terminated array of zsh strings.
fn zsh_array<'a>(items: impl Iterator<Item = &'a [u8]>) -> *mut *mut c_char {
    let items: Vec<*mut c_char> = items.map(|s| zsh_string(s).unwrap_or_else(|| zsh_string(b"").unwrap())).collect();
    // SAFETY: zshcalloc returns zeroed memory of the requested size; zsh frees it with the array.
    unsafe {
        let arr = ffi::zshcalloc((items.len() + 1) * std::mem::size_of::<*mut c_char>()) as *mut *mut c_char;
        for (i, p) in items.into_iter().enumerate() {
            *arr.add(i) = p;
        }
        arr
    }
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
