//! Which process listens on a port, without `lsof`, `ss` or `netstat`.
//!
//! The kernel lists the listening sockets with their inode and the uid that made them:
//! asked through netlink `sock_diag` (what `ss` uses; it walks only the listening hash),
//! or, where netlink is refused, from the text tables `/proc/net/tcp`, `tcp6` (and `udp`,
//! `udp6`), whose every read walks the whole connection hash. A process holds the socket
//! when one of its `/proc/PID/fd/*` links reads `socket:[INODE]`. Processes whose
//! descriptors we may not read are counted, so "in use, owner unknown" is never reported
//! as "free".

use crate::proc::{self, Identity};
use crate::sys;
use crate::Pid;
use std::collections::HashMap;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

impl Proto {
    /// Its text table's name in `/proc/net`.
    fn table(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Tcp6 => "tcp6",
            Proto::Udp => "udp",
            Proto::Udp6 => "udp6",
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
    const LISTEN_STATE: u32 = 1 << 10;
    const CLOSE_STATE: u32 = 1 << 7;
    let mut queries = vec![
        (libc::AF_INET, libc::IPPROTO_TCP, LISTEN_STATE, Proto::Tcp),
        (libc::AF_INET6, libc::IPPROTO_TCP, LISTEN_STATE, Proto::Tcp6),
    ];
    if udp {
        queries.extend([
            (libc::AF_INET, libc::IPPROTO_UDP, CLOSE_STATE, Proto::Udp),
            (libc::AF_INET6, libc::IPPROTO_UDP, CLOSE_STATE, Proto::Udp6),
        ]);
    }
    let mut out = Vec::new();
    for (family, protocol, states, proto) in queries {
        match sys::net::sock_diag(family as u8, protocol as u8, states, port) {
            Ok(found) => out.extend(found.into_iter().map(|s| Listener { proto, inode: s.inode, uid: s.uid })),
            // IPv6 turned off: the kernel has no such family to ask about.
            Err(e) if family == libc::AF_INET6 && e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(_) => return listeners_from_tables(std::path::Path::new("/proc/net"), port, udp),
        }
    }
    Ok(out)
}

/// [`listeners`] from the text tables in `net` (`/proc/net`), for kernels without
/// sock_diag. The IPv4 tables are there whenever `/proc/net` is; only the IPv6 ones may be
/// absent (IPv6 disabled). No table, no answer: an error, never "nothing listens".
pub fn listeners_from_tables(net: &std::path::Path, port: u16, udp: bool) -> io::Result<Vec<Listener>> {
    let mut tables = vec![(Proto::Tcp, TCP_LISTEN), (Proto::Tcp6, TCP_LISTEN)];
    if udp {
        tables.extend([(Proto::Udp, UDP_UNCONNECTED), (Proto::Udp6, UDP_UNCONNECTED)]);
    }
    let mut out = Vec::new();
    for (proto, state) in tables {
        match std::fs::read_to_string(net.join(proto.table())) {
            Ok(text) => out.extend(parse_table(&text, proto, port, state)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && matches!(proto, Proto::Tcp6 | Proto::Udp6) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The result of looking for the process that holds some sockets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Owners {
    /// The owning process found (a socket can be shared after fork: the first found, in
    /// the order [`owners`] searches).
    pub pid: Option<Pid>,
    /// Processes whose descriptors could not be read (another user's, without privilege).
    pub unreadable: usize,
}

/// What remembers which process held which socket last time: the sample store, shared by
/// every shell ([`crate::samples::Store`]), or a shell's own map ([`OwnerCache`]).
pub trait OwnerMemory {
    fn recall(&mut self, inode: u64) -> Option<Identity>;
    fn remember(&mut self, inode: u64, owner: Identity);
}

/// A shell's own memory of socket owners, for when the shared store cannot be used.
#[derive(Default)]
pub struct OwnerCache {
    last_owner: HashMap<u64, Identity>,
}

impl OwnerMemory for OwnerCache {
    fn recall(&mut self, inode: u64) -> Option<Identity> {
        self.last_owner.get(&inode).copied()
    }

    fn remember(&mut self, inode: u64, owner: Identity) {
        if self.last_owner.len() >= 256 {
            self.last_owner.clear();
        }
        self.last_owner.insert(inode, owner);
    }
}

impl OwnerMemory for crate::samples::Store {
    fn recall(&mut self, inode: u64) -> Option<Identity> {
        self.owner(inode)
    }

    fn remember(&mut self, inode: u64, owner: Identity) {
        let _ = self.put_owner(inode, owner);
    }
}

/// Whether one of `pid`'s descriptors is one of the sockets `inodes`.
pub fn holds_any(pid: Pid, inodes: &[u64]) -> io::Result<bool> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd"))?;
    for entry in dir.flatten() {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let t = target.as_os_str().as_encoded_bytes();
            if let Some(num) = t.strip_prefix(b"socket:[").and_then(|r| r.strip_suffix(b"]")) {
                if std::str::from_utf8(num).ok().and_then(|n| n.parse::<u64>().ok()).is_some_and(|ino| inodes.contains(&ino)) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Finds a process holding one of `listeners`' sockets, stopping at the first found:
/// 1. the process that held it last time, if it is the same process and still holds it
///    (one directory read);
/// 2. the processes of the user who made the socket, lowest PID first (the usual owner);
/// 3. every other process, lowest PID first: a socket handed to another user (systemd
///    socket activation) or bound before a setuid is found too.
pub fn owners(listeners: &[Listener], memory: &mut dyn OwnerMemory) -> io::Result<Owners> {
    let mut result = Owners::default();
    if listeners.is_empty() {
        return Ok(result);
    }
    let inodes: Vec<u64> = listeners.iter().map(|l| l.inode).collect();
    for l in listeners {
        if let Some(owner) = memory.recall(l.inode) {
            if owner.is_alive() && holds_any(owner.pid, &[l.inode]).unwrap_or(false) {
                result.pid = Some(owner.pid);
                return Ok(result);
            }
        }
    }
    let mut pids = proc::all_pids()?;
    pids.sort_unstable();
    let uids: Vec<u32> = listeners.iter().map(|l| l.uid).collect();
    let (likely, others): (Vec<Pid>, Vec<Pid>) = pids.into_iter().partition(|&p| proc::owner_uid(p).is_some_and(|u| uids.contains(&u)));
    let privileged = sys::process::euid() == 0;
    for pid in likely.into_iter().chain(others) {
        match holds_any(pid, &inodes) {
            Ok(true) => {
                let Some(owner) = Identity::of(pid) else { continue };
                for l in listeners {
                    memory.remember(l.inode, owner);
                }
                result.pid = Some(pid);
                return Ok(result);
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && !privileged => result.unreadable += 1,
            Err(_) => {}
        }
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
    fn without_socket_tables_there_is_no_answer() {
        let dir = std::env::temp_dir().join(format!("ports-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(listeners_from_tables(&dir, 8080, false).is_err(), "an absent /proc/net is not a free port");
        std::fs::write(dir.join("tcp"), SAMPLE).unwrap();
        assert_eq!(listeners_from_tables(&dir, 8080, false).unwrap().len(), 1, "IPv6 tables may be absent");
        assert!(listeners_from_tables(&dir, 8080, true).is_err(), "the UDP table is missing");
        let real = listeners_from_tables(std::path::Path::new("/proc/net"), 1, true);
        assert!(real.is_ok(), "{real:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
        assert_eq!(owners(&l, &mut cache).unwrap().pid, Some(me));
        // Second time through the cache, same answer.
        assert_eq!(owners(&l, &mut cache).unwrap().pid, Some(me));

        if let Ok(v6) = TcpListener::bind("[::1]:0") {
            let p6 = v6.local_addr().unwrap().port();
            let l6 = listeners(p6, false).unwrap();
            assert_eq!(l6[0].proto, Proto::Tcp6);
            assert_eq!(owners(&l6, &mut cache).unwrap().pid, Some(me));
        }

        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let up = u.local_addr().unwrap().port();
        assert!(listeners(up, false).unwrap().iter().all(|l| l.proto != Proto::Udp));
        let lu = listeners(up, true).unwrap();
        assert_eq!(owners(&lu, &mut cache).unwrap().pid, Some(me));
        // Closed, its socket is gone (another test may be handed the same port since, and
        // a child another test forks holds our descriptor until its exec closes it).
        let inode = l[0].inode;
        drop(v4);
        let gone = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            listeners(port, false).unwrap().iter().all(|x| x.inode != inode)
        });
        assert!(gone, "a closed listener still listed");
    }
}
