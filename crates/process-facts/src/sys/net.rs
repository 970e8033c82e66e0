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
