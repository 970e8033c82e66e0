//! Facts about Linux processes, read straight from `/proc` and asked of the kernel with
//! system calls: no `ps`, `pgrep`, `kill` or `lsof`, and no shell.
//!
//! A process is named by a [`Pid`]; because PIDs are reused, the pair (pid, start time)
//! in [`Identity`] is what says "the same process" (as psutil does). What "alive" means is
//! defined once, in [`proc`]. The system calls themselves, and all of this crate's unsafe
//! code, are in [`sys`]; every wait goes through a [`wait::Blocker`]; every file the
//! library keeps goes through [`store`].
#![deny(unsafe_code)]

pub mod cpu;
pub mod find;
pub mod journal;
pub mod kept;
pub mod liveness;
pub mod log;
pub mod pid;
pub mod pidfd;
pub mod pidfile;
pub mod ports;
pub mod proc;
pub mod prom;
pub mod ready;
pub mod record;
pub mod samples;
pub mod signal;
pub mod spawn;
pub mod stack;
pub mod state;
pub mod store;
pub mod sys;
pub mod tree;
pub mod wait;
pub mod watch;

pub use pid::{parse_pid, Pid, PidError};
pub use proc::{Identity, ProcStat};
