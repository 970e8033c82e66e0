//! Which process listens on a port, without `lsof`, `ss` or `netstat`.
//!
//! The kernel lists the listening sockets with their inode and owner uid: asked through
//! netlink `sock_diag` (what `ss` uses; it walks only the listening hash), or, where
//! netlink is refused, from the text tables `/proc/net/tcp`, `tcp6` (and `udp`, `udp6`),
//! whose every read walks the whole connection hash. A process holds the socket when one of
//! its `/proc/PID/fd/*` links reads `socket:[INODE]`. Only processes of the socket's uid
//! are searched (a socket belongs to the uid that created it), and the last owner found
//! for an inode is checked first on the next call. Processes whose fds we may not read
//! are counted, so "in use, owner unknown" is never reported as "free".

use crate::proc;
use crate::Pid;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

impl Proto {
    fn table(self) -> &'static str {
        match self {
            Proto::Tcp => "/proc/net/tcp",
            Proto::Tcp6 => "/proc/net/tcp6",
            Proto::Udp => "/proc/net/udp",
            Proto::Udp6 => "/proc/net/udp6",
        }
    }
}

/// A socket bound to the port asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub proto: Proto,
    pub inode: u64,
    pub uid: u32,
}

const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// Parses one socket table: the sockets in `state` bound to `port`.
pub fn parse_table(text: &str, proto: Proto, port: u16, state: &str) -> Vec<Listener> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 10 || f[3] != state {
            continue;
        }
        let Some(port_hex) = f[1].rsplit(':').next() else { continue };
        if u16::from_str_radix(port_hex, 16).ok() != Some(port) {
            continue;
        }
        let (Ok(uid), Ok(inode)) = (f[7].parse::<u32>(), f[9].parse::<u64>()) else { continue };
        if inode != 0 {
            out.push(Listener { proto, inode, uid });
        }
    }
    out
}

/// Every TCP listener (IPv4 and IPv6) on `port`, and with `udp` every bound UDP socket.
/// Fails only when no socket table can be read at all (hardened kernels, no procfs).
pub fn listeners(port: u16, udp: bool) -> io::Result<Vec<Listener>> {
    // The kernel's sock_diag netlink interface (what `ss` uses) walks only the listening
    // hash for a LISTEN-only query; /proc/net/tcp walks the whole established hash on
    // every read() (milliseconds on a machine with a large table), however few sockets.
    let mut protos = vec![(libc::AF_INET, libc::IPPROTO_TCP, Proto::Tcp), (libc::AF_INET6, libc::IPPROTO_TCP, Proto::Tcp6)];
    if udp {
        protos.extend([(libc::AF_INET, libc::IPPROTO_UDP, Proto::Udp), (libc::AF_INET6, libc::IPPROTO_UDP, Proto::Udp6)]);
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (family, protocol, proto) in protos {
        match diag::dump(family as u8, protocol as u8, port, proto) {
            Ok(found) => out.extend(found),
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    if ok {
        return Ok(out);
    }
    listeners_from_tables(port, udp)
}

mod diag {
    use super::{Listener, Proto};
    use std::io;

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
    const TCP_LISTEN: u32 = 10;
    const TCP_CLOSE: u32 = 7;

    struct Fd(i32);
    impl Drop for Fd {
        fn drop(&mut self) {
            // SAFETY: our own socket.
            unsafe { libc::close(self.0) };
        }
    }

    /// The sockets of one family and protocol bound to `port`: TCP in LISTEN, UDP unconnected.
    pub fn dump(family: u8, protocol: u8, port: u16, proto: Proto) -> io::Result<Vec<Listener>> {
        // SAFETY: plain socket calls on a socket we own; buffers are ours and sized.
        unsafe {
            let s = libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG);
            if s < 0 {
                return Err(io::Error::last_os_error());
            }
            let s = Fd(s);
            let states = if protocol == libc::IPPROTO_TCP as u8 { 1 << TCP_LISTEN } else { 1 << TCP_CLOSE };
            let mut req: Request = std::mem::zeroed();
            req.nlh.nlmsg_len = std::mem::size_of::<Request>() as u32;
            req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
            req.nlh.nlmsg_flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
            req.family = family;
            req.protocol = protocol;
            req.states = states;
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            let sent = libc::sendto(
                s.0,
                (&req as *const Request).cast(),
                std::mem::size_of::<Request>(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            );
            if sent < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut out = Vec::new();
            let mut buf = vec![0u8; 32768];
            loop {
                let n = libc::recv(s.0, buf.as_mut_ptr().cast(), buf.len(), 0);
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
                let n = n as usize;
                let mut off = 0;
                while off + std::mem::size_of::<libc::nlmsghdr>() <= n {
                    let h = std::ptr::read_unaligned(buf.as_ptr().add(off) as *const libc::nlmsghdr);
                    let len = h.nlmsg_len as usize;
                    if len < std::mem::size_of::<libc::nlmsghdr>() || off + len > n {
                        break;
                    }
                    match h.nlmsg_type as i32 {
                        libc::NLMSG_DONE => return Ok(out),
                        libc::NLMSG_ERROR => {
                            let code = std::ptr::read_unaligned(buf.as_ptr().add(off + std::mem::size_of::<libc::nlmsghdr>()) as *const i32);
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        _ => {
                            let body = off + std::mem::size_of::<libc::nlmsghdr>();
                            if body + std::mem::size_of::<Msg>() <= n {
                                let m = std::ptr::read_unaligned(buf.as_ptr().add(body) as *const Msg);
                                if u16::from_be(m.id.sport) == port && m.inode != 0 {
                                    out.push(Listener { proto, inode: m.inode as u64, uid: m.uid });
                                }
                            }
                        }
                    }
                    off += (len + 3) & !3;
                }
                if n == 0 {
                    return Ok(out);
                }
            }
        }
    }
}

/// [`listeners`] from the text tables, for kernels without sock_diag.
pub fn listeners_from_tables(port: u16, udp: bool) -> io::Result<Vec<Listener>> {
    let mut tables = vec![(Proto::Tcp, TCP_LISTEN), (Proto::Tcp6, TCP_LISTEN)];
    if udp {
        tables.extend([(Proto::Udp, UDP_UNCONNECTED), (Proto::Udp6, UDP_UNCONNECTED)]);
    }
    let mut out = Vec::new();
    let mut readable = 0;
    let mut last_err = None;
    for (proto, state) in tables {
        match std::fs::read_to_string(proto.table()) {
            Ok(text) => {
                readable += 1;
                out.extend(parse_table(&text, proto, port, state));
            }
            // IPv6 may be disabled: its table is then simply absent.
            Err(e) if e.kind() == io::ErrorKind::NotFound => readable += 1,
            Err(e) => last_err = Some(e),
        }
    }
    if readable == 0 {
        return Err(last_err.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no socket tables")));
    }
    Ok(out)
}

/// The result of looking for the processes that hold some sockets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Owners {
    /// Owning processes, lowest PID first (one socket can be shared after fork).
    pub pids: Vec<Pid>,
    /// Processes of a socket's uid whose fds could not be read (permission).
    pub unreadable: usize,
}

/// Remembers which process held which socket inode last time.
#[derive(Default)]
pub struct OwnerCache {
    last_owner: HashMap<u64, Pid>,
}

fn holds_any(pid: Pid, inodes: &[u64]) -> io::Result<bool> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd"))?;
    for entry in dir.flatten() {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let t = target.as_os_str().as_encoded_bytes();
            if let Some(num) = t.strip_prefix(b"socket:[").and_then(|r| r.strip_suffix(b"]")) {
                if let Some(ino) = std::str::from_utf8(num).ok().and_then(|n| n.parse::<u64>().ok()) {
                    if inodes.contains(&ino) {
                        return Ok(true);
                    }
                }
            }
        }
    }
    Ok(false)
}

/// Finds the processes holding `listeners`' sockets.
pub fn owners(listeners: &[Listener], cache: &mut OwnerCache) -> io::Result<Owners> {
    let mut result = Owners::default();
    if listeners.is_empty() {
        return Ok(result);
    }
    let inodes: Vec<u64> = listeners.iter().map(|l| l.inode).collect();
    // Fast path: the process that held one of these sockets last time still does.
    for l in listeners {
        if let Some(&pid) = cache.last_owner.get(&l.inode) {
            if proc::is_alive(pid) && holds_any(pid, &[l.inode]).unwrap_or(false) {
                result.pids.push(pid);
            }
        }
    }
    if !result.pids.is_empty() && result.pids.len() == listeners.len() {
        result.pids.sort_unstable();
        result.pids.dedup();
        return Ok(result);
    }
    result.pids.clear();
    let uids: Vec<u32> = listeners.iter().map(|l| l.uid).collect();
    let me_root = unsafe { libc::geteuid() } == 0;
    for pid in proc::all_pids()? {
        // /proc/PID belongs to the process's effective uid: skip other users' processes.
        let Ok(meta) = std::fs::metadata(format!("/proc/{pid}")) else { continue };
        if !uids.contains(&meta.uid()) {
            continue;
        }
        match holds_any(pid, &inodes) {
            Ok(true) => {
                if proc::is_alive(pid) {
                    result.pids.push(pid);
                }
            }
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && !me_root => result.unreadable += 1,
            Err(_) => {}
        }
    }
    result.pids.sort_unstable();
    for &pid in &result.pids {
        for l in listeners {
            if holds_any(pid, &[l.inode]).unwrap_or(false) {
                cache.last_owner.insert(l.inode, pid);
            }
        }
    }
    if cache.last_owner.len() > 256 {
        cache.last_owner.clear();
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};

    const SAMPLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 55501 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 55502 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn parses_listeners_only() {
        let l = parse_table(SAMPLE, Proto::Tcp, 8080, TCP_LISTEN);
        assert_eq!(l, vec![Listener { proto: Proto::Tcp, inode: 55501, uid: 1000 }]);
        assert_eq!(parse_table(SAMPLE, Proto::Tcp, 22, TCP_LISTEN)[0].inode, 12);
        assert!(parse_table(SAMPLE, Proto::Tcp, 9999, TCP_LISTEN).is_empty());
    }

    #[test]
    fn finds_this_process_listening_v4_v6_and_udp() {
        let me = std::process::id() as Pid;
        let mut cache = OwnerCache::default();
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        let l = listeners(port, false).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(owners(&l, &mut cache).unwrap().pids, vec![me]);
        // Second time through the cache, same answer.
        assert_eq!(owners(&l, &mut cache).unwrap().pids, vec![me]);

        if let Ok(v6) = TcpListener::bind("[::1]:0") {
            let p6 = v6.local_addr().unwrap().port();
            let l6 = listeners(p6, false).unwrap();
            assert_eq!(l6[0].proto, Proto::Tcp6);
            assert_eq!(owners(&l6, &mut cache).unwrap().pids, vec![me]);
        }

        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let up = u.local_addr().unwrap().port();
        assert!(listeners(up, false).unwrap().iter().all(|l| l.proto != Proto::Udp));
        let lu = listeners(up, true).unwrap();
        assert_eq!(owners(&lu, &mut cache).unwrap().pids, vec![me]);
        drop(v4);
        assert!(listeners(port, false).unwrap().is_empty());
    }
}
