//! What zsh calls: the module's entry points and the dispatcher every builtin of the
//! module goes through.
//!
//! zsh looks the entry points up by name: plain `setup_`, `features_`, ... when it was
//! built with `DYNAMIC_NAME_CLASH_OK` (Debian's is), otherwise with the module's name
//! mangled onto them (`setup_` + `zsh_process/process` with `/` as `Qs`): both are
//! exported, from one set of functions.

use super::{ffi, unmetafy_bytes, Shell, SignalsQueued};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

/// The module's name for `zmodload`: namespaced, as third-party modules are.
pub const MODULE_NAME: &str = "zsh_process/process";

/// Exit status of a builtin that hit a bug (a caught panic).
const STATUS_INTERNAL: c_int = 3;

/// zsh links builtins into its table in place (`node.next`, flags): the table must be
/// mutable memory that lives as long as the module. Built in setup_ from the module's
/// [`super::Definition`], freed in finish_.
struct Tables {
    builtins: *mut ffi::builtin,
    count: usize,
    features: ffi::features,
}

thread_local! {
    // zsh is single-threaded and calls the module only from its main thread.
    static TABLES: RefCell<Option<Tables>> = const { RefCell::new(None) };
    /// How many of the module's builtins are running now: more than one when a trap ran
    /// during a wait and called another.
    static RUNNING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// The message of a panic, kept by the quiet panic hook for the dispatcher to report.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` for zsh with its signals queued, turning a panic into an error message and
/// status: nothing unwinds into zsh, and no trap runs halfway through.
pub(crate) fn enter<F: FnOnce() -> c_int>(what: &str, f: F) -> c_int {
    let _queued = SignalsQueued::new();
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status,
        Err(_) => {
            let msg = LAST_PANIC
                .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take()))
                .ok()
                .flatten()
                .unwrap_or_else(|| "unknown panic".into());
            Shell::new().error_line(&format!("{what}: internal error: {msg} (please report this)"));
            STATUS_INTERNAL
        }
    }
}

fn install_quiet_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let _ = LAST_PANIC.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                *p = Some(format!("{msg}{at}"));
            }
        });
    }));
}

fn definition() -> &'static super::Definition {
    &crate::MODULE
}

/// The handler of every builtin: `funcid` is the command's index in the definition.
unsafe extern "C" fn dispatch(name: *mut c_char, argv: *mut *mut c_char, _ops: ffi::Options, funcid: c_int) -> c_int {
    let Some(builtin) = definition().builtins.get(funcid as usize) else { return STATUS_INTERNAL };
    // Builtin names are our own ASCII literals.
    let cmd_name: &'static str = builtin.to_str().unwrap_or("process");
    let _ = name;
    let _running = Running::new();
    enter(cmd_name, || {
        let mut args = Vec::with_capacity(4);
        let mut p = argv;
        // SAFETY: walks zsh's NULL-terminated argv of metafied strings.
        unsafe {
            while !p.is_null() && !(*p).is_null() {
                args.push(unmetafy_bytes(CStr::from_ptr(*p).to_bytes()));
                p = p.add(1);
            }
        }
        (definition().run)(&mut Shell::new(), funcid as usize, args)
    })
}

// The entry points are `unsafe`: zsh must pass its own valid `Module` and out-pointers,
// as it does; nothing else calls them.

/// # Safety
/// Called by zsh only, with a valid module.
#[no_mangle]
pub unsafe extern "C" fn setup_(_m: ffi::Module) -> c_int {
    enter("zmodload", setup)
}

/// # Safety
/// Called by zsh only, with a valid module (and out-pointer).
#[no_mangle]
pub unsafe extern "C" fn features_(m: ffi::Module, features: *mut *mut *mut c_char) -> c_int {
    enter("zmodload", || {
        with_tables(|t| {
            // SAFETY: zsh passes a valid out-pointer; the features struct lives in TABLES.
            unsafe { *features = ffi::featuresarray(m, &mut t.features) };
            0
        })
    })
}

/// # Safety
/// Called by zsh only, with a valid module (and out-pointer).
#[no_mangle]
pub unsafe extern "C" fn enables_(m: ffi::Module, enables: *mut *mut c_int) -> c_int {
    // SAFETY: as above.
    enter("zmodload", || with_tables(|t| unsafe { ffi::handlefeatures(m, &mut t.features, enables) }))
}

/// # Safety
/// Called by zsh only, with a valid module (and out-pointer).
#[no_mangle]
pub unsafe extern "C" fn boot_(_m: ffi::Module) -> c_int {
    enter("zmodload", || {
        (definition().on_load)(&mut Shell::new());
        0
    })
}

/// Counts a running builtin for as long as it lives.
struct Running;

impl Running {
    fn new() -> Running {
        let _ = RUNNING.try_with(|r| r.set(r.get() + 1));
        Running
    }

    fn any() -> bool {
        RUNNING.try_with(|r| r.get() > 0).unwrap_or(false)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|r| r.set(r.get().saturating_sub(1)));
    }
}

/// # Safety
/// Called by zsh only, with a valid module (and out-pointer).
#[no_mangle]
pub unsafe extern "C" fn cleanup_(m: ffi::Module) -> c_int {
    // A trap that runs `zmodload -u` while one of our builtins waits: unloading now would
    // unmap the code that builtin returns into. zsh keeps a module whose cleanup fails.
    if Running::any() {
        Shell::new().error_line(&format!("zmodload: {MODULE_NAME} is in use (a trap during one of its builtins): not unloaded"));
        return 1;
    }
    // SAFETY: as above; disables every builtin of the module.
    enter("zmodload", || with_tables(|t| unsafe { ffi::setfeatureenables(m, &mut t.features, ptr::null_mut()) }))
}

/// # Safety
/// Called by zsh only, with a valid module (and out-pointer).
#[no_mangle]
pub unsafe extern "C" fn finish_(_m: ffi::Module) -> c_int {
    enter("zmodload", || {
        if let Some(t) = TABLES.try_with(|t| t.borrow_mut().take()).ok().flatten() {
            // SAFETY: the builtins were removed from zsh's table in cleanup_; this is the
            // boxed slice made in setup.
            unsafe { drop(Box::from_raw(ptr::slice_from_raw_parts_mut(t.builtins, t.count))) };
        }
        let _ = panic::take_hook();
        0
    })
}

// The same entry points under the names a zsh built without DYNAMIC_NAME_CLASH_OK looks
// up: the function name followed by the module's name, `/` written `Qs`.
/// # Safety
/// As the plain entry point.
#[export_name = "setup_zshQuprocessQsprocess"]
pub unsafe extern "C" fn setup_mangled(m: ffi::Module) -> c_int {
    unsafe { setup_(m) }
}
/// # Safety
/// As the plain entry point.
#[export_name = "features_zshQuprocessQsprocess"]
pub unsafe extern "C" fn features_mangled(m: ffi::Module, features: *mut *mut *mut c_char) -> c_int {
    unsafe { features_(m, features) }
}
/// # Safety
/// As the plain entry point.
#[export_name = "enables_zshQuprocessQsprocess"]
pub unsafe extern "C" fn enables_mangled(m: ffi::Module, enables: *mut *mut c_int) -> c_int {
    unsafe { enables_(m, enables) }
}
/// # Safety
/// As the plain entry point.
#[export_name = "boot_zshQuprocessQsprocess"]
pub unsafe extern "C" fn boot_mangled(m: ffi::Module) -> c_int {
    unsafe { boot_(m) }
}
/// # Safety
/// As the plain entry point.
#[export_name = "cleanup_zshQuprocessQsprocess"]
pub unsafe extern "C" fn cleanup_mangled(m: ffi::Module) -> c_int {
    unsafe { cleanup_(m) }
}
/// # Safety
/// As the plain entry point.
#[export_name = "finish_zshQuprocessQsprocess"]
pub unsafe extern "C" fn finish_mangled(m: ffi::Module) -> c_int {
    unsafe { finish_(m) }
}

fn with_tables(f: impl FnOnce(&mut Tables) -> c_int) -> c_int {
    TABLES
        .try_with(|t| match t.borrow_mut().as_mut() {
            Some(t) => f(t),
            None => 1,
        })
        .unwrap_or(1)
}

fn setup() -> c_int {
    // zsh does no ABI check of its own: a module built against other headers could
    // corrupt memory, so refuse to load unless the versions agree.
    // SAFETY: both strings are static NUL-terminated C strings (or NULL for the param).
    let built_for = unsafe { CStr::from_ptr(ffi::zp_header_version()) }.to_string_lossy().into_owned();
    let running = Shell::new().get("ZSH_VERSION").unwrap_or_default();
    if running != built_for {
        Shell::new().error_line(&format!(
            "zmodload {MODULE_NAME}: this module was built for zsh {built_for} but this shell is zsh {running}; \
             rebuild it here with scripts/install"
        ));
        return 1;
    }
    install_quiet_panic_hook();
    let mut builtins: Vec<ffi::builtin> = definition()
        .builtins
        .iter()
        .enumerate()
        .map(|(i, b)| ffi::builtin {
            // HANDLES_OPTS: without it zsh drops a leading `--` before the command sees
            // it, so `process-find-by-name -- -name` would refuse `-name` as an option.
            node: ffi::hashnode { next: ptr::null_mut(), nam: b.as_ptr() as *mut c_char, flags: ffi::BINF_HANDLES_OPTS as c_int },
            handlerfunc: Some(dispatch),
            minargs: 0,
            maxargs: -1,
            funcid: i as c_int,
            optstr: ptr::null_mut(), // each command parses its own options
            defopts: ptr::null_mut(),
        })
        .collect();
    builtins.shrink_to_fit();
    let count = builtins.len();
    let builtins = Box::into_raw(builtins.into_boxed_slice()) as *mut ffi::builtin;
    let mut param_count: c_int = 0;
    // SAFETY: returns glue.c's static paramdef table and its length.
    let params = unsafe { ffi::zp_paramdefs(&mut param_count) };
    let features =
        ffi::features { bn_list: builtins, bn_size: count as c_int, pd_list: params, pd_size: param_count, ..Default::default() };
    match TABLES.try_with(|t| *t.borrow_mut() = Some(Tables { builtins, count, features })) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
