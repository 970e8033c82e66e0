//! Facts about Linux processes, read straight from `/proc` and asked of the kernel with
//! raw system calls: no `ps`, `pgrep`, `kill` or `lsof`, and no shell.
//!
//! A process is named by a [`Pid`]; because PIDs are reused, the pair (pid, start time)
//! in [`Identity`] is what says "the same process" (as psutil does). A zombie counts as
//! gone everywhere here: it has exited and only waits for its parent to reap it.

pub mod cpu;
pub mod find;
pub mod liveness;
pub mod pid;
pub mod pidfd;
pub mod pidfile;
pub mod ports;
pub mod proc;
pub mod signal;
pub mod signalfd;
pub mod spawn;
pub mod state;
pub mod tree;
pub mod watch;

pub use pid::{parse_pid, Pid, PidError};
pub use proc::{Identity, ProcStat};
