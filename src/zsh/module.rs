//! What zsh calls: the module's entry points (setup_, features_, enables_, boot_,
//! cleanup_, finish_, plain names since Debian's zsh is built with DYNAMIC_NAME_CLASH_OK)
//! and the dispatcher that every builtin of the module goes through.

use super::{ffi, unmetafy_bytes, Shell};
use crate::commands::{self, Status};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

/// zsh links builtins into its table in place (`node.next`, flags): the table must be
/// mutable memory that lives as long as the module. It is built in setup_ from
/// [`commands::COMMANDS`] and freed in finish_.
struct Tables {
    builtins: *mut ffi::builtin,
    count: usize,
    features: ffi::features,
}

// zsh is single-threaded and calls the module only from its main thread.
static mut TABLES: Option<Tables> = None;

thread_local! {
    /// The message of a panic, kept by the quiet panic hook for the dispatcher to report.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

#[allow(static_mut_refs)]
fn tables() -> Option<&'static mut Tables> {
    // SAFETY: only touched from zsh's main thread, one entry point at a time.
    unsafe { TABLES.as_mut() }
}

/// Runs `f`, turning a panic into an error message and status: nothing unwinds into zsh.
fn guarded<F: FnOnce() -> c_int>(what: &str, f: F) -> c_int {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status,
        Err(_) => {
            let msg = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "unknown panic".into());
            eprintln!("{what}: internal error: {msg} (please report this)");
            commands::STATUS_INTERNAL
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
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
    }));
}

/// The handler of every builtin: `funcid` is the command's index in [`commands::COMMANDS`].
unsafe extern "C" fn dispatch(name: *mut c_char, argv: *mut *mut c_char, _ops: ffi::Options, funcid: c_int) -> c_int {
    // SAFETY: zsh passes the builtin's name and a NULL-terminated argv of metafied strings.
    // Builtin names are our own ASCII literals.
    let cmd_name = unsafe { CStr::from_ptr(name) }.to_str().unwrap_or("process");
    guarded(cmd_name, || {
        let mut args = Vec::with_capacity(4);
        let mut p = argv;
        // SAFETY: walks zsh's NULL-terminated argv.
        unsafe {
            while !p.is_null() && !(*p).is_null() {
                let bytes = unmetafy_bytes(CStr::from_ptr(*p).to_bytes());
                match String::from_utf8(bytes) {
                    Ok(s) => args.push(s),
                    Err(_) => {
                        eprintln!("{cmd_name}: arguments must be valid UTF-8");
                        return commands::STATUS_USAGE;
                    }
                }
                p = p.add(1);
            }
        }
        let Some(command) = commands::COMMANDS.get(funcid as usize) else {
            eprintln!("{cmd_name}: unknown builtin id {funcid}");
            return commands::STATUS_INTERNAL;
        };
        let mut shell = Shell::new();
        let status: Status = (command.run)(&mut shell, cmd_name, args);
        status
    })
}

#[no_mangle]
pub extern "C" fn setup_(_m: ffi::Module) -> c_int {
    guarded("zmodload process", || {
        // zsh does no ABI check of its own: a module built against other headers could
        // corrupt memory, so refuse to load unless the versions agree.
        // SAFETY: both strings are static NUL-terminated C strings (or NULL for the param).
        let built_for = unsafe { CStr::from_ptr(ffi::zp_header_version()) }.to_string_lossy().into_owned();
        let running = unsafe {
            let v = ffi::getsparam(c"ZSH_VERSION".as_ptr() as *mut c_char);
            if v.is_null() { String::new() } else { CStr::from_ptr(v).to_string_lossy().into_owned() }
        };
        if running != built_for {
            eprintln!(
                "zmodload process: this module was built for zsh {built_for} but this shell is zsh {running}; \
                 rebuild it here with scripts/install"
            );
            return 1;
        }
        install_quiet_panic_hook();
        let mut builtins: Vec<ffi::builtin> = commands::COMMANDS
            .iter()
            .enumerate()
            .map(|(i, c)| ffi::builtin {
                // HANDLES_OPTS: without it zsh drops a leading `--` before the command sees
                // it, so `process-find-by-name -- -name` would refuse `-name` as an option.
                node: ffi::hashnode {
                    next: ptr::null_mut(),
                    nam: c.name.as_ptr() as *mut c_char,
                    flags: ffi::BINF_HANDLES_OPTS as c_int,
                },
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
        let features = ffi::features {
            bn_list: builtins,
            bn_size: count as c_int,
            pd_list: params,
            pd_size: param_count,
            ..Default::default()
        };
        // SAFETY: main thread; see TABLES.
        unsafe { TABLES = Some(Tables { builtins, count, features }) };
        0
    })
}

#[no_mangle]
pub extern "C" fn features_(m: ffi::Module, features: *mut *mut *mut c_char) -> c_int {
    guarded("zmodload process", || match tables() {
        // SAFETY: zsh passes a valid out-pointer; the features struct lives in TABLES.
        Some(t) => unsafe {
            *features = ffi::featuresarray(m, &mut t.features);
            0
        },
        None => 1,
    })
}

#[no_mangle]
pub extern "C" fn enables_(m: ffi::Module, enables: *mut *mut c_int) -> c_int {
    guarded("zmodload process", || match tables() {
        // SAFETY: as above.
        Some(t) => unsafe { ffi::handlefeatures(m, &mut t.features, enables) },
        None => 1,
    })
}

#[no_mangle]
pub extern "C" fn boot_(_m: ffi::Module) -> c_int {
    0
}

#[no_mangle]
pub extern "C" fn cleanup_(m: ffi::Module) -> c_int {
    guarded("zmodload process", || match tables() {
        // SAFETY: as above; disables every builtin of the module.
        Some(t) => unsafe { ffi::setfeatureenables(m, &mut t.features, ptr::null_mut()) },
        None => 0,
    })
}

#[no_mangle]
pub extern "C" fn finish_(_m: ffi::Module) -> c_int {
    guarded("zmodload process", || {
        // SAFETY: main thread; the builtins were removed from zsh's table in cleanup_.
        unsafe {
            #[allow(static_mut_refs)]
            if let Some(t) = TABLES.take() {
                drop(Box::from_raw(ptr::slice_from_raw_parts_mut(t.builtins, t.count)));
            }
        }
        let _ = panic::take_hook();
        0
    })
}
