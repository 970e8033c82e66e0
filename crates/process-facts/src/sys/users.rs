//! The user and group databases (through NSS, as `ls -l` and OpenSSH read them).

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The home directory the user database gives `uid`, for when `$HOME` is unset.
pub fn home_of(uid: u32) -> Option<PathBuf> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: getpwuid_r fills `pw` with pointers into `buf`, which outlives their use.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out) != 0 || out.is_null() || pw.pw_dir.is_null() {
            return None;
        }
        let dir = CStr::from_ptr(pw.pw_dir).to_bytes();
        (!dir.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(dir)))
    }
}

/// OpenSSH's StrictModes rule for a group-writable file: the group is safe when its one
/// and only member is `uid`, counting both users whose primary group it is and the
/// group's listed members (a user private group, the Debian default). Zero members, an
/// unknown group or any other member makes it unsafe.
pub fn group_is_private_to(gid: u32, uid: u32) -> bool {
    let mut buf = vec![0u8; 16384];
    // SAFETY: getgrgid_r / getpwuid_r fill their structs with pointers into the buffers,
    // read before the buffers are reused; setpwent/getpwent_r/endpwent walk the database
    // with a caller-owned buffer.
    unsafe {
        let mut gr: libc::group = std::mem::zeroed();
        let mut out: *mut libc::group = std::ptr::null_mut();
        if libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut out) != 0 || out.is_null() {
            return false;
        }
        let mut listed: Vec<Vec<u8>> = Vec::new();
        let mut m = gr.gr_mem;
        while !m.is_null() && !(*m).is_null() {
            listed.push(CStr::from_ptr(*m).to_bytes().to_vec());
            m = m.add(1);
        }
        let mut pwbuf = vec![0u8; 4096];
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut pwout: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pw, pwbuf.as_mut_ptr().cast(), pwbuf.len(), &mut pwout) != 0 || pwout.is_null() {
            return false;
        }
        let my_name = CStr::from_ptr(pw.pw_name).to_bytes().to_vec();
        if listed.iter().any(|n| *n != my_name) {
            return false;
        }
        let mut members = usize::from(!listed.is_empty());
        libc::setpwent();
        let mut safe = true;
        loop {
            let mut e: libc::passwd = std::mem::zeroed();
            let mut eout: *mut libc::passwd = std::ptr::null_mut();
            if libc::getpwent_r(&mut e, pwbuf.as_mut_ptr().cast(), pwbuf.len(), &mut eout) != 0 || eout.is_null() {
                break;
            }
            if e.pw_gid == gid {
                members += 1;
                if e.pw_uid != uid {
                    safe = false;
                    break;
                }
            }
        }
        libc::endpwent();
        safe && members > 0
    }
}
