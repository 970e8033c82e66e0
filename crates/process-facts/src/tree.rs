//! Parent and child relations between processes.

use crate::proc;
use crate::Pid;
use std::collections::HashMap;

/// A snapshot of who is whose parent, taken from one pass over `/proc`.
pub struct ProcessTable {
    children: HashMap<Pid, Vec<(u64, Pid)>>,
    parent: HashMap<Pid, Pid>,
}

impl ProcessTable {
    pub fn snapshot() -> std::io::Result<ProcessTable> {
        let mut children: HashMap<Pid, Vec<(u64, Pid)>> = HashMap::new();
        let mut parent = HashMap::new();
        for pid in proc::all_pids()? {
            // Zombies too: not yet reaped, they are still their parent's children.
            let Ok(stat) = proc::stat(pid) else { continue };
            children.entry(stat.ppid).or_default().push((stat.starttime, pid));
            parent.insert(pid, stat.ppid);
        }
        for list in children.values_mut() {
            list.sort_unstable();
        }
        Ok(ProcessTable { children, parent })
    }

    /// Immediate children (zombies included, as `pgrep -P` lists them), oldest first.
    pub fn children(&self, pid: Pid) -> Vec<Pid> {
        self.children.get(&pid).map(|l| l.iter().map(|(_, p)| *p).collect()).unwrap_or_default()
    }

    /// Every descendant (zombies included), deepest first (children before their parents), so signalling
    /// in this order never lets a grandchild be reparented away before it is reached.
    pub fn descendants_deepest_first(&self, root: Pid) -> Vec<Pid> {
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
            for child in self.children(pid) {
                if !order.contains(&child) && child != root {
                    stack.push((child, false));
                }
            }
        }
        order
    }

    /// `pid` itself and all its ancestors up to PID 1.
    pub fn ancestors_of(&self, pid: Pid) -> Vec<Pid> {
        let mut out = vec![pid];
        let mut cur = pid;
        while let Some(&p) = self.parent.get(&cur) {
            if p <= 0 || out.contains(&p) {
                break;
            }
            out.push(p);
            cur = p;
        }
        out
    }
}

/// Immediate children of `pid`, zombies included. Uses the kernel's own list
/// (`/proc/PID/task/*/children`) when it has one, else a scan of `/proc`.
pub fn children(pid: Pid) -> std::io::Result<Vec<Pid>> {
    let tasks = format!("/proc/{pid}/task");
    let mut found = Vec::new();
    let mut kernel_lists = false;
    if let Ok(dir) = std::fs::read_dir(&tasks) {
        for task in dir.flatten() {
            let path = task.path().join("children");
            if let Ok(text) = std::fs::read_to_string(path) {
                kernel_lists = true;
                found.extend(text.split_ascii_whitespace().filter_map(|p| p.parse::<Pid>().ok()));
            }
        }
    }
    if !kernel_lists {
        return Ok(ProcessTable::snapshot()?.children(pid));
    }
    let mut live: Vec<(u64, Pid)> = found.into_iter().filter_map(|p| proc::stat(p).ok().map(|s| (s.starttime, p))).collect();
    live.sort_unstable();
    live.dedup();
    Ok(live.into_iter().map(|(_, p)| p).collect())
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
        let order = table.descendants_deepest_first(cpid);
        assert_eq!(order, grand);
        let below_me = table.descendants_deepest_first(me);
        let gi = below_me.iter().position(|p| *p == grand[0]).unwrap();
        let ci = below_me.iter().position(|p| *p == cpid).unwrap();
        assert!(gi < ci, "grandchild must come before child");
        assert!(table.ancestors_of(grand[0]).contains(&me));
        crate::signal::send(crate::proc::Identity::of(grand[0]).unwrap(), libc::SIGKILL).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
