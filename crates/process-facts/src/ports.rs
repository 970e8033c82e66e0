//! Which process listens on a port, without `lsof`, `ss` or `netstat`.
//!
//! The kernel's socket tables (`/proc/net/tcp`, `tcp6`, and for UDP `udp`, `udp6`) give
//! each listening socket's inode and owner uid; a process holds the socket when one of
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
