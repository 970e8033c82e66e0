//! The C-facing side of `$_PROCESS_GROUPS`, the special associative array defined in
//! glue.c: zsh calls these while expanding it, on its own thread (glue.c queues signals
//! around them). Values are allocated on zsh's heap (freed by zsh after the command), and
//! nothing unwinds back into C. What the values are is the module definition's business.

use super::{ffi, unmetafy_bytes, Shell};
use std::ffi::{c_char, c_int, CStr};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

/// A copy of `s` on zsh's heap (metafied), freed by zsh when the command is done.
fn heap_string(s: &str) -> *mut c_char {
    let mut bytes = s.as_bytes().iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>();
    let len = bytes.len();
    bytes.push(0);
    // SAFETY: metafy with META_HEAPDUP copies `len` bytes onto zsh's heap.
    unsafe { ffi::metafy(bytes.as_mut_ptr().cast(), len as c_int, ffi::META_HEAPDUP as c_int) }
}

/// `${_PROCESS_GROUPS[name]}`: the group's members separated by spaces, or NULL (unset).
#[no_mangle]
pub extern "C" fn zp_group_value(name: *const c_char) -> *mut c_char {
    panic::catch_unwind(AssertUnwindSafe(|| {
        if name.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: zsh passes a NUL-terminated key.
        let key = String::from_utf8_lossy(&unmetafy_bytes(unsafe { CStr::from_ptr(name) }.to_bytes())).into_owned();
        match (crate::MODULE.groups.get)(&mut Shell::new(), &key) {
            Some(text) => heap_string(&text),
            None => ptr::null_mut(),
        }
    }))
    .unwrap_or(ptr::null_mut())
}

/// `${(k)_PROCESS_GROUPS}`: every group name, as a NULL-terminated array on zsh's heap.
#[no_mangle]
pub extern "C" fn zp_group_names() -> *mut *mut c_char {
    panic::catch_unwind(AssertUnwindSafe(|| {
        let names = (crate::MODULE.groups.keys)(&mut Shell::new());
        // SAFETY: hcalloc returns zeroed heap memory for names.len() + 1 pointers.
        unsafe {
            let arr = ffi::hcalloc((names.len() + 1) * std::mem::size_of::<*mut c_char>()) as *mut *mut c_char;
            for (i, n) in names.iter().enumerate() {
                *arr.add(i) = heap_string(n);
            }
            arr
        }
    }))
    .unwrap_or(ptr::null_mut())
}
