//! Service logs: the writer between a service and its log file, and reading the log back.
//!
//! A service's stdout and stderr are a pipe, not the file: a small writer process (one
//! per service, [`write_from`]) reads the pipe and appends to `NAME.log` in whole lines,
//! and when the next lines would take the file past its size limit it renames
//! `NAME.log` to `NAME.log.1` (`.1` to `.2`, ..., the oldest beyond `keep` dropped) and
//! starts a new `NAME.log`. The service never notices (no `copytruncate` window in which
//! lines are lost, no signal to reopen), and the disk holds at most about
//! `(keep + 1) × max_size` per service.
//!
//! Readers: [`last_lines`] (the end of the log, reaching into `NAME.log.1` when the
//! current file is short) and [`Follower`], which reads what is appended as it is
//! appended (inotify, no polling) and moves on to the new file after a rotation once it
//! has read the old one to its end.

use crate::store::{Dir, Result, StoreError};
use crate::sys::fs::{self as sysfs, LockKind};
use crate::sys::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use crate::wait::Blocker;
use std::fs::File;
use std::io::{self, Write};

/// When a log is rotated, and how many old files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The size past which `NAME.log` is rotated, in bytes.
    pub max_size: u64,
    /// How many rotated files (`NAME.log.1` ...) are kept; 0 keeps none.
    pub keep: u32,
}

/// The log file of `service`.
pub fn file_name(service: &str) -> String {
    format!("{service}.log")
}

fn rotated_name(service: &str, k: u32) -> String {
    format!("{service}.log.{k}")
}

/// The most read from the pipe at once; also the longest piece of a line written alone
/// (a line longer than this is written in pieces).
const CHUNK: usize = 64 * 1024;

/// The open log file, and what the writer knows of it.
struct Current {
    file: File,
    ino: u64,
    size: u64,
}

fn open_current(dir: &Dir, service: &str) -> Result<Current> {
    let file = dir.open_append(&file_name(service), 0o600)?;
    let st = sysfs::fstat(file.as_fd()).map_err(|e| StoreError::Io { op: "inspect", path: dir.file_path(&file_name(service)), source: e })?;
    Ok(Current { file, ino: st.ino, size: st.size })
}

/// Copies `input` (the read end of a service's output pipe) to the service's log in the
/// directory `path` until every writer has closed the pipe, rotating as described above.
/// Lines are written whole: a rotation falls between two lines, never inside one.
///
/// The service must never die of its log: when the log cannot be written (its directory
/// removed, a symlink or FIFO planted in its place), the output is read and dropped, one
/// line says so on the writer's stderr, and the log is opened again (by the trust rules)
/// at the next output.
pub fn write_from(input: BorrowedFd, path: &std::path::Path, service: &str, rotation: Rotation, b: &mut dyn Blocker) -> Result<()> {
    let open = |said: &mut bool| -> Option<(Dir, Current)> {
        let opened = Dir::create(path).and_then(|dir| open_current(&dir, service).map(|c| (dir, c)));
        match opened {
            Ok(o) => {
                *said = false;
                Some(o)
            }
            Err(e) => {
                if !*said {
                    let _ = writeln!(std::io::stderr(), "_process-log-writer: {e}; dropping {service}'s output until it can be written");
                    *said = true;
                }
                None
            }
        }
    };
    let mut said = false;
    let mut log = open(&mut said);
    let mut pending: Vec<u8> = Vec::with_capacity(2 * CHUNK);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut result: io::Result<usize> = Ok(0);
        let _ = b.block(&mut || result = sysfs::read(input, &mut buf));
        let n = match result {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::Io { op: "read the output of", path: path.join(file_name(service)), source: e }),
        };
        let whole = if n == 0 {
            // Every writer is gone: the last, unterminated line too.
            pending.len()
        } else {
            pending.extend_from_slice(&buf[..n]);
            match pending.iter().rposition(|&c| c == b'\n') {
                Some(last) => last + 1,
                None if pending.len() >= CHUNK => pending.len(),
                None => continue,
            }
        };
        if log.is_none() {
            log = open(&mut said);
        }
        if let Some((dir, current)) = &mut log {
            if let Err(e) = append(dir, service, rotation, current, &pending[..whole], b) {
                let _ = writeln!(std::io::stderr(), "_process-log-writer: {e}; dropping {service}'s output until it can be written");
                said = true;
                log = None;
            }
        }
        pending.drain(..whole);
        if n == 0 {
            return Ok(());
        }
    }
}

/// Appends `data` (whole lines, but maybe a last piece of one) line by line, rotating
/// before the line that would take the file past the limit.
fn append(dir: &Dir, service: &str, rotation: Rotation, current: &mut Current, data: &[u8], b: &mut dyn Blocker) -> Result<()> {
    let path = || dir.file_path(&file_name(service));
    let mut rest = data;
    while !rest.is_empty() {
        // As many lines as fit; at least one line, however long, into an empty file.
        let room = rotation.max_size.saturating_sub(current.size) as usize;
        let mut take = 0;
        for (i, &c) in rest.iter().enumerate() {
            if c == b'\n' || i + 1 == rest.len() {
                if i + 1 > room && (take > 0 || current.size > 0) {
                    break;
                }
                take = i + 1;
            }
        }
        if take == 0 {
            rotate(dir, service, rotation, current, b)?;
            continue;
        }
        // Another writer for the same name (an old instance's descendants still hold its
        // pipe) may have rotated meanwhile: follow it to the new file.
        if dir.stat(&file_name(service))?.map(|st| st.ino) != Some(current.ino) {
            *current = open_current(dir, service)?;
            continue;
        }
        current.file.write_all(&rest[..take]).map_err(|e| StoreError::Io { op: "write", path: path(), source: e })?;
        current.size += take as u64;
        rest = &rest[take..];
    }
    Ok(())
}

/// Renames `NAME.log` to `NAME.log.1` (and the older ones up by one, the oldest past
/// `keep` removed), then opens a new `NAME.log`. Under the log directory's lock, and only
/// when the file is still the one this writer has open: two writers never rotate twice.
fn rotate(dir: &Dir, service: &str, rotation: Rotation, current: &mut Current, b: &mut dyn Blocker) -> Result<()> {
    let name = file_name(service);
    let _lock = dir.lock(LockKind::Exclusive, b)?;
    if dir.stat(&name)?.map(|st| st.ino) == Some(current.ino) {
        if rotation.keep == 0 {
            dir.remove(&name)?;
        } else {
            dir.remove(&rotated_name(service, rotation.keep))?;
            for k in (1..rotation.keep).rev() {
                if dir.stat(&rotated_name(service, k))?.is_some() {
                    dir.rename(&rotated_name(service, k), &rotated_name(service, k + 1))?;
                }
            }
            dir.rename(&name, &rotated_name(service, 1))?;
        }
    }
    *current = open_current(dir, service)?;
    Ok(())
}

/// The log files of `service` that exist, newest first: `NAME.log`, `NAME.log.1`, ...
pub fn files(dir: &Dir, service: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if dir.stat(&file_name(service))?.is_some() {
        out.push(file_name(service));
    }
    let mut k = 1;
    while dir.stat(&rotated_name(service, k))?.is_some() {
        out.push(rotated_name(service, k));
        k += 1;
    }
    Ok(out)
}

/// The last `n` lines of `service`'s log (fewer when it has fewer), reaching back into
/// the rotated files when the current one is shorter.
pub fn last_lines(dir: &Dir, service: &str, n: usize) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    for name in files(dir, service)? {
        let mut limit = 16 * 1024;
        loop {
            let tail = dir.read_tail(&name, limit)?;
            let whole = (tail.len() as u64) < limit as u64;
            let mut joined = tail;
            joined.extend_from_slice(&out);
            if let Some(start) = start_of_last_lines(&joined, n) {
                return Ok(joined[start..].to_vec());
            }
            if whole {
                out = joined;
                break;
            }
            limit *= 4;
        }
    }
    Ok(out)
}

/// Where the last `n` lines of `text` begin, if `text` holds more than `n` of them (the
/// first may be cut, so more than n are needed to know).
fn start_of_last_lines(text: &[u8], n: usize) -> Option<usize> {
    if n == 0 {
        return Some(text.len());
    }
    // Skip the final newline: it ends the last line, it does not begin another.
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, &c) in body.iter().enumerate().rev() {
        if c == b'\n' {
            seen += 1;
            if seen == n {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Reads a log as it grows, across rotations.
pub struct Follower {
    dir: Dir,
    name: String,
    /// The file being read and its inode; None until `NAME.log` exists.
    file: Option<(File, u64)>,
    /// How far into it.
    offset: u64,
    inotify: OwnedFd,
}

impl Follower {
    /// Follows `service`'s log from `offset` bytes into the current file (its size, to
    /// read only what comes next; 0 for all of it).
    pub fn new(dir: Dir, service: &str, offset: u64) -> Result<Follower> {
        let name = file_name(service);
        let err = |e| StoreError::Io { op: "watch", path: dir.path().to_path_buf(), source: e };
        let inotify = sysfs::inotify().map_err(err)?;
        let mask = sysfs::watch::MODIFY | sysfs::watch::CREATE | sysfs::watch::MOVED_TO | sysfs::watch::CLOSE_WRITE;
        sysfs::inotify_watch(inotify.as_fd(), dir.fd(), b"", mask).map_err(err)?;
        let file = dir.open_read(&name)?.map(|(f, st)| (f, st.ino));
        Ok(Follower { dir, name, file, offset, inotify })
    }

    /// The size of `service`'s current log (where a follower that wants only new lines
    /// starts), 0 when there is none.
    pub fn size_now(dir: &Dir, service: &str) -> Result<u64> {
        Ok(dir.stat(&file_name(service))?.map_or(0, |st| st.size))
    }

    /// The descriptor to poll: readable when the log directory changed.
    pub fn fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }

    /// Everything appended since the last call: the rest of the file being read and, when
    /// `NAME.log` is a new file now (rotations), the files that came after it, oldest
    /// first: the rotated ones newer than it, then the new `NAME.log` from its start.
    pub fn read_new(&mut self, b: &mut dyn Blocker) -> Result<Vec<u8>> {
        let _ = sysfs::inotify_read(self.inotify.as_fd());
        let err = |dir: &Dir, name: &str, e| StoreError::Io { op: "read", path: dir.file_path(name), source: e };
        let mut out = Vec::new();
        loop {
            if let Some((file, _)) = &self.file {
                // Cut short (`: > NAME.log`, a copytruncate): read again from its start, as
                // `tail -f` does, instead of waiting for it to grow past the old offset.
                if sysfs::fstat(file.as_fd()).is_ok_and(|st| st.size < self.offset) {
                    self.offset = 0;
                }
                self.offset += read_to_end_at(file, self.offset, &mut out).map_err(|e| err(&self.dir, &self.name, e))?;
            }
            let now = self.dir.stat(&self.name)?.map(|st| st.ino);
            let old = self.file.as_ref().map(|(_, ino)| *ino);
            if now.is_none() || now == old {
                return Ok(out);
            }
            // Rotated: NAME.log.K is the file just read, and .K-1 ... .1 came after it;
            // when it is not among them (removed, past KEEP), every one there is newer.
            // Opened under the log directory's lock, which a rotation takes: the names
            // cannot shift while they are opened; read once the lock is let go.
            let mut newer: Vec<File> = Vec::new();
            {
                let _lock = self.dir.lock(LockKind::Shared, b)?;
                if old.is_some() {
                    let service = self.name.strip_suffix(".log").unwrap_or(&self.name).to_string();
                    for k in 1.. {
                        let Some((f, st)) = self.dir.open_read(&rotated_name(&service, k))? else { break };
                        if Some(st.ino) == old {
                            break;
                        }
                        newer.push(f);
                    }
                }
                self.file = self.dir.open_read(&self.name)?.map(|(f, st)| (f, st.ino));
                self.offset = 0;
            }
            for f in newer.iter().rev() {
                read_to_end_at(f, 0, &mut out).map_err(|e| err(&self.dir, &self.name, e))?;
            }
        }
    }
}

fn read_to_end_at(file: &File, offset: u64, out: &mut Vec<u8>) -> io::Result<u64> {
    let mut buf = [0u8; 16 * 1024];
    let mut read = 0u64;
    loop {
        match sysfs::pread(file.as_fd(), &mut buf, offset + read) {
            Ok(0) => return Ok(read),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                read += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Plain;
    use std::path::PathBuf;

    fn tmp(tag: &str) -> (PathBuf, Dir) {
        let d = std::env::temp_dir().join(format!("log-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let dir = Dir::create(&d).unwrap();
        (d, dir)
    }

    /// Writes `text` through a pipe into the writer, as a service would.
    fn through_writer(dir: &Dir, service: &str, rotation: Rotation, chunks: &[&[u8]]) {
        let (r, w) = crate::sys::process::pipe().unwrap();
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        let writer = std::thread::spawn(move || {
            let mut f = File::from(w);
            for c in chunks {
                f.write_all(&c).unwrap();
            }
        });
        write_from(r.as_fd(), dir.path(), service, rotation, &mut Plain).unwrap();
        writer.join().unwrap();
    }

    #[test]
    fn whole_lines_rotation_and_no_loss() {
        let (d, dir) = tmp("rotate");
        let lines: Vec<String> = (0..2000).map(|i| format!("line {i:05}\n")).collect();
        let text = lines.concat();
        // Pieces that cut lines in the middle.
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(777).collect();
        let rotation = Rotation { max_size: 4096, keep: 3 };
        through_writer(&dir, "svc", rotation, &pieces);
        let names = files(&dir, "svc").unwrap();
        assert_eq!(names, ["svc.log", "svc.log.1", "svc.log.2", "svc.log.3"]);
        let mut kept = String::new();
        for n in names.iter().rev() {
            let body = std::fs::read_to_string(d.join(n)).unwrap();
            assert!(body.len() as u64 <= rotation.max_size, "{n} is {} bytes", body.len());
            assert!(body.ends_with('\n') && body.starts_with("line "), "{n} was cut inside a line");
            kept.push_str(&body);
        }
        // What is kept is exactly the end of what was written: nothing lost in between.
        assert!(text.ends_with(&kept), "a gap in the kept lines");
        assert!(kept.len() > 3 * 4000);
        assert_eq!(last_lines(&dir, "svc", 3).unwrap(), b"line 01997\nline 01998\nline 01999\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn last_lines_reach_into_the_rotated_file_and_keep_an_unterminated_end() {
        let (d, dir) = tmp("last");
        through_writer(&dir, "s", Rotation { max_size: 12, keep: 1 }, &[b"one\ntwo\nthree\nfour\nfive"]);
        // "three\n" would take the first file to 14 bytes: rotated before it.
        assert_eq!(std::fs::read_to_string(d.join("s.log.1")).unwrap(), "three\nfour\n");
        assert_eq!(std::fs::read_to_string(d.join("s.log")).unwrap(), "five");
        assert_eq!(last_lines(&dir, "s", 3).unwrap(), b"three\nfour\nfive");
        assert_eq!(last_lines(&dir, "s", 0).unwrap(), b"");
        assert_eq!(last_lines(&dir, "missing", 5).unwrap(), b"");
        // keep 0: only the current file.
        through_writer(&dir, "z", Rotation { max_size: 8, keep: 0 }, &[b"aaaa\nbbbb\ncccc\n"]);
        assert_eq!(files(&dir, "z").unwrap(), ["z.log"]);
        assert_eq!(std::fs::read_to_string(d.join("z.log")).unwrap(), "cccc\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_follower_reads_across_a_rotation() {
        let (d, dir) = tmp("follow");
        std::fs::write(d.join("f.log"), "old\n").unwrap();
        let mut f = Follower::new(Dir::open(&d).unwrap().unwrap(), "f", Follower::size_now(&dir, "f").unwrap()).unwrap();
        assert_eq!(f.read_new(&mut Plain).unwrap(), b"");
        std::fs::OpenOptions::new().append(true).open(d.join("f.log")).unwrap().write_all(b"a\n").unwrap();
        let mut fds = [crate::sys::readable(f.fd())];
        assert_eq!(crate::sys::poll(&mut fds, 1000).unwrap(), 1, "inotify says the log grew");
        assert_eq!(f.read_new(&mut Plain).unwrap(), b"a\n");
        // Rotation: the rest of the old file, then the new one.
        std::fs::OpenOptions::new().append(true).open(d.join("f.log")).unwrap().write_all(b"b\n").unwrap();
        std::fs::rename(d.join("f.log"), d.join("f.log.1")).unwrap();
        std::fs::write(d.join("f.log"), "c\n").unwrap();
        assert_eq!(f.read_new(&mut Plain).unwrap(), b"b\nc\n");
        // Cut short, then written again (less than was there, as `tail -f` also needs to
        // tell): read from its start, nothing skipped.
        std::fs::OpenOptions::new().append(true).open(d.join("f.log")).unwrap().write_all(b"long line\n").unwrap();
        assert_eq!(f.read_new(&mut Plain).unwrap(), b"long line\n");
        std::fs::write(d.join("f.log"), "").unwrap();
        std::fs::OpenOptions::new().append(true).open(d.join("f.log")).unwrap().write_all(b"d\n").unwrap();
        assert_eq!(f.read_new(&mut Plain).unwrap(), b"d\n");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
