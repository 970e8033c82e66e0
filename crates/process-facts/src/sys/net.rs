//! The kernel's socket tables through netlink `sock_diag` (what `ss` uses): for a
//! LISTEN-only query the kernel walks only its listening hash, where `/proc/net/tcp`
//! walks every connection on each read.

use super::{check, AsRawFd, OwnedFd};
use std::io;
use std::os::fd::FromRawFd;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct SockId {
    sport: u16,
    dport: u16,
    src: [u32; 4],
    dst: [u32; 4],
    ifindex: u32,
    cookie: [u32; 2],
}

#[repr(C)]
struct Request {
    nlh: libc::nlmsghdr,
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: SockId,
}

#[repr(C)]
struct Msg {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: SockId,
    expires: u32,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;

/// One socket the kernel listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagSocket {
    /// The local port.
    pub port: u16,
    pub inode: u64,
    /// The uid that created the socket.
    pub uid: u32,
}

/// The sockets of `family` (AF_INET, AF_INET6) and `protocol` (IPPROTO_TCP, IPPROTO_UDP)
/// whose TCP state is in the bit set `states` (1 << TCP_LISTEN, 1 << TCP_CLOSE, ...) and
/// whose local port is `port`.
pub fn sock_diag(family: u8, protocol: u8, states: u32, port: u16) -> io::Result<Vec<DiagSocket>> {
    // SAFETY: socket calls on a socket we own; every buffer is ours and sized, and the
    // replies are read with read_unaligned after bounds checks.
    unsafe {
        let s = check(libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) as libc::c_long)?;
        let s = OwnedFd::from_raw_fd(s as i32);
        let mut req: Request = std::mem::zeroed();
        req.nlh.nlmsg_len = std::mem::size_of::<Request>() as u32;
        req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
        req.nlh.nlmsg_flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        req.family = family;
        req.protocol = protocol;
        req.states = states;
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        check(libc::sendto(
            s.as_raw_fd(),
            (&req as *const Request).cast(),
            std::mem::size_of::<Request>(),
            0,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        ) as libc::c_long)?;
        let header = std::mem::size_of::<libc::nlmsghdr>();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32768];
        loop {
            let n = libc::recv(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0);
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n == 0 {
                return Ok(out);
            }
            let mut off = 0;
            while off + header <= n {
                let h = std::ptr::read_unaligned(buf.as_ptr().add(off) as *const libc::nlmsghdr);
                let len = h.nlmsg_len as usize;
                if len < header || off + len > n {
                    break;
                }
                match h.nlmsg_type as i32 {
                    libc::NLMSG_DONE => return Ok(out),
                    libc::NLMSG_ERROR => {
                        let code = std::ptr::read_unaligned(buf.as_ptr().add(off + header) as *const i32);
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    _ if off + header + std::mem::size_of::<Msg>() <= n => {
                        let m = std::ptr::read_unaligned(buf.as_ptr().add(off + header) as *const Msg);
                        let sport = u16::from_be(m.id.sport);
                        if sport == port && m.inode != 0 {
                            out.push(DiagSocket { port: sport, inode: m.inode as u64, uid: m.uid });
                        }
                    }
                    _ => {}
                }
                off += (len + 3) & !3;
            }
        }
    }
}

/// A datagram socket bound at `path` for the sd_notify protocol (`$NOTIFY_SOCKET`), with
/// SO_PASSCRED on, so each message comes with its sender's PID. Non-blocking.
pub fn notify_socket(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: socket calls on a socket we own; sockaddr_un filled within its bounds.
    unsafe {
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        if bytes.len() >= addr.sun_path.len() {
            return Err(super::invalid("the notify socket's path is too long"));
        }
        let s = check(libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) as libc::c_long)?;
        let s = OwnedFd::from_raw_fd(s as i32);
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (i, b) in bytes.iter().enumerate() {
            addr.sun_path[i] = *b as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
        check(libc::bind(s.as_raw_fd(), (&addr as *const libc::sockaddr_un).cast(), len) as libc::c_long)?;
        let on: libc::c_int = 1;
        check(libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PASSCRED, (&on as *const libc::c_int).cast(), 4) as libc::c_long)?;
        Ok(s)
    }
}

/// A datagram received on a notify socket, and who sent it (the kernel's word, from
/// SCM_CREDENTIALS: a sender cannot forge it).
pub struct Notification {
    pub data: Vec<u8>,
    /// The sender's PID and uid.
    pub sender: Option<(i32, u32)>,
}

/// One datagram from a notify socket; None when nothing is waiting.
pub fn recv_notify(fd: std::os::fd::BorrowedFd) -> Option<Notification> {
    // SAFETY: recvmsg into our own buffers; the control message is read within the bounds
    // the kernel reported.
    unsafe {
        let mut data = vec![0u8; 4096];
        let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
        let mut control = [0u8; 128];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        let n = libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return None;
        }
        data.truncate(n as usize);
        let mut sender = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                let cred = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::ucred);
                sender = Some((cred.pid, cred.uid));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Some(Notification { data, sender })
    }
}
