//! Parent and child relations between processes.

use crate::proc;
use crate::Pid;
use std::collections::HashMap;

/// A snapshot of who is whose child, taken from one pass over `/proc`: for kernels without
/// child lists.
pub struct ProcessTable {
    children: HashMap<Pid, Vec<(u64, Pid)>>,
}

impl ProcessTable {
    pub fn snapshot() -> std::io::Result<ProcessTable> {
        let mut children: HashMap<Pid, Vec<(u64, Pid)>> = HashMap::new();
        for pid in proc::all_pids()? {
            // Zombies too: not yet reaped, they are still their parent's children.
            let Ok(stat) = proc::stat(pid) else { continue };
            children.entry(stat.ppid).or_default().push((stat.starttime, pid));
        }
        for list in children.values_mut() {
            list.sort_unstable();
        }
        Ok(ProcessTable { children })
    }

    /// Immediate children (zombies included, as `pgrep -P` lists them), oldest first.
    pub fn children(&self, pid: Pid) -> Vec<Pid> {
        self.children.get(&pid).map(|l| l.iter().map(|(_, p)| *p).collect()).unwrap_or_default()
    }

    /// Every descendant (zombies included), deepest first (children before their parents), so signalling
    /// in this order never lets a grandchild be reparented away before it is reached.
    pub fn descendants_deepest_first(&self, root: Pid) -> Vec<Pid> {
        deepest_first(root, |pid| self.children(pid))
    }
}

/// The walk both kinds of child lists share: every descendant of `root` by `children_of`,
/// deepest first. A PID met twice (a list read while the tree changed) is taken once.
fn deepest_first(root: Pid, mut children_of: impl FnMut(Pid) -> Vec<Pid>) -> Vec<Pid> {
    let mut order = Vec::new();
    let mut stack = vec![(root, false)];
    while let Some((pid, expanded)) = stack.pop() {
        if expanded {
            if pid != root {
                order.push(pid);
            }
            continue;
        }
        stack.push((pid, true));
        for child in children_of(pid) {
            if child != root && !order.contains(&child) && !stack.iter().any(|(p, _)| *p == child) {
                stack.push((child, false));
            }
        }
    }
    order
}

/// Whether the kernel keeps child lists (`/proc/PID/task/TID/children`, with
/// CONFIG_PROC_CHILDREN, on in every mainstream kernel).
fn has_child_lists(pid: Pid) -> bool {
    std::path::Path::new(&format!("/proc/{pid}/task/{pid}/children")).exists()
}

/// The PIDs the kernel lists as children of any thread of `pid` (None: no such lists).
fn kernel_children(pid: Pid) -> Option<Vec<Pid>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut found = Vec::new();
    let mut any = false;
    for task in dir.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            any = true;
            found.extend(text.split_ascii_whitespace().filter_map(|p| p.parse::<Pid>().ok()));
        }
    }
    any.then_some(found)
}

/// The kernel's list of `pid`'s children, oldest first (None: no such list).
fn kernel_children_oldest_first(pid: Pid) -> Option<Vec<Pid>> {
    let mut kids: Vec<(u64, Pid)> = kernel_children(pid)?.into_iter().filter_map(|p| proc::stat(p).ok().map(|s| (s.starttime, p))).collect();
    kids.sort_unstable();
    kids.dedup();
    Some(kids.into_iter().map(|(_, p)| p).collect())
}

/// Immediate children of `pid`, zombies included, oldest first. Uses the kernel's own list
/// (`/proc/PID/task/*/children`) when it has one, else a scan of `/proc`.
pub fn children(pid: Pid) -> std::io::Result<Vec<Pid>> {
    match kernel_children_oldest_first(pid) {
        Some(kids) => Ok(kids),
        None => Ok(ProcessTable::snapshot()?.children(pid)),
    }
}

/// Every descendant of `root` (zombies included), deepest first (children before their
/// parents). Through the kernel's child lists, so the cost is the tree's, not the whole
/// system's; a scan of `/proc` where the kernel keeps no such lists.
pub fn descendants_deepest_first(root: Pid) -> std::io::Result<Vec<Pid>> {
    if !has_child_lists(root) {
        return Ok(ProcessTable::snapshot()?.descendants_deepest_first(root));
    }
    // A process gone while the tree is walked has no children left: no scan of /proc.
    Ok(deepest_first(root, |pid| kernel_children_oldest_first(pid).unwrap_or_default()))
}

/// Everything a service is: `root`, its descendants, and, when `root` leads its own
/// session (every service this library starts does), every other process of that
/// session: a daemon that forked twice to leave its parent is still found. Deepest first,
/// `root` last.
pub fn service_tree(root: Pid) -> std::io::Result<Vec<Pid>> {
    let mut out = descendants_deepest_first(root)?;
    if proc::stat(root).is_ok_and(|s| s.session == root) {
        for pid in proc::all_pids()? {
            if pid != root && !out.contains(&pid) && proc::stat(pid).is_ok_and(|s| s.session == root) {
                out.insert(0, pid);
            }
        }
    }
    out.push(root);
    Ok(out)
}

/// `pid` itself and its ancestors up to PID 1, from each one's parent in `/proc/PID/stat`.
pub fn ancestors_of(pid: Pid) -> Vec<Pid> {
    let mut out = vec![pid];
    let mut cur = pid;
    while let Ok(stat) = proc::stat(cur) {
        let p = stat.ppid;
        if p <= 0 || out.contains(&p) {
            break;
        }
        out.push(p);
        cur = p;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn sees_a_child_and_its_grandchild() {
        let mut child = Command::new("sh").arg("-c").arg("sleep 30 & wait").spawn().unwrap();
        let me = std::process::id() as Pid;
        let cpid = child.id() as Pid;
        let mut grand = Vec::new();
        for _ in 0..200 {
            grand = children(cpid).unwrap();
            if !grand.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(children(me).unwrap().contains(&cpid));
        assert_eq!(grand.len(), 1);
        let table = ProcessTable::snapshot().unwrap();
        assert_eq!(table.descendants_deepest_first(cpid), grand);
        assert_eq!(descendants_deepest_first(cpid).unwrap(), grand, "the kernel's lists and the scan agree");
        for below_me in [table.descendants_deepest_first(me), descendants_deepest_first(me).unwrap()] {
            let gi = below_me.iter().position(|p| *p == grand[0]).unwrap();
            let ci = below_me.iter().position(|p| *p == cpid).unwrap();
            assert!(gi < ci, "grandchild must come before child");
        }
        assert_eq!(ancestors_of(grand[0])[..3], [grand[0], cpid, me]);
        crate::signal::send(crate::proc::Identity::of(grand[0]).unwrap(), libc::SIGKILL).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
