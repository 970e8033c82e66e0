//! process-logs: the end of a service's log, and following it live (process_facts::log:
//! inotify, across rotations, no `tail` forked).

use super::pidfiles::{name_operand, NAME};
use super::spec::{Kind, Operand, Opt, Spec};
use super::{failed, usage, Args, Context, Exit, Outcome};
use process_facts::log::{self, Follower};
use process_facts::pidfd::PidFd;
use process_facts::store::Dir;
use process_facts::{sys, Identity};
use std::path::PathBuf;
use std::time::Duration;

pub const LOGS: Spec = Spec {
    purpose: "print the last lines of a service's log; with -f, follow it as it grows",
    operands: &[NAME],
    min: 1,
    max: 1,
    options: &[
        Opt { name: "-n", value: Some(("LINES", Kind::Count)), about: "how many lines (default 10; 0 with -f: only new ones)" },
        Opt { name: "-f", value: None, about: "follow: print lines as they are written, across rotations, until Ctrl-C" },
        Opt { name: "--until-exit", value: None, about: "with -f: stop once the service (or its supervisor) has exited and its last lines are out" },
    ],
    exits: &[(0, "printed (with --until-exit: the service ended)"), (1, "no log for NAME, or it is refused"), (130, "Ctrl-C ended -f")],
    see: "docs/services.md#logs",
};

pub const LOG_WRITER: Spec = Spec {
    purpose: "internal: the log writer of a service, reading its output on standard input",
    operands: &[
        Operand { name: "log_dir", kind: Kind::File, about: "the log directory" },
        NAME,
        Operand { name: "max_size", kind: Kind::Count, about: "bytes past which the log is rotated" },
        Operand { name: "keep", kind: Kind::Count, about: "rotated files kept" },
    ],
    min: 4,
    max: 4,
    options: &[],
    exits: &[(0, "its input ended"), (1, "the log directory or file is refused")],
    see: "docs/services.md#logs",
};

const DEFAULT_LINES: usize = 10;
/// After the service has exited, how long its log writer may take to write what is left.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Where NAME's log is: the directory its registry entry names (it may have been started
/// with another `$PROCESS_LOG_DIR`), else `$PROCESS_LOG_DIR`.
fn log_dir(cx: &mut Context, name: &str) -> Result<(PathBuf, Option<process_facts::state::Entry>), super::Failure> {
    let settings = cx.settings();
    let entry = settings.state().entry(name)?;
    let dir = entry.as_ref().and_then(|e| PathBuf::from(&e.log).parent().map(PathBuf::from)).unwrap_or(settings.log_dir);
    Ok((dir, entry))
}

/// `process-logs NAME [-n LINES] [-f [--until-exit]]`
pub fn logs(cx: &mut Context, args: &Args) -> Outcome {
    let name = name_operand(args, 0)?;
    let lines = match args.value("-n") {
        Some(t) => t.parse::<usize>().map_err(|_| usage(format!("invalid -n '{t}': expected a number of lines")))?,
        None => DEFAULT_LINES,
    };
    let follow = args.flag("-f");
    if args.flag("--until-exit") && !follow {
        return Err(usage("--until-exit goes with -f"));
    }
    let (path, entry) = log_dir(cx, &name)?;
    let no_log = || failed(format!("no log for {name} in {}", path.display()));
    let dir = Dir::open(&path)?.ok_or_else(no_log)?;
    let has_log = !log::files(&dir, &name)?.is_empty();
    if !has_log && !follow {
        return Err(no_log());
    }
    // Taken before the tail is read, so that nothing written in between is missed.
    let offset = Follower::size_now(&dir, &name)?;
    let tail = log::last_lines(&dir, &name, lines)?;
    cx.print_now(&tail)?;
    if !follow {
        return Ok(Exit::Success);
    }
    // With --until-exit: the process whose end ends the follow, then its log writer's. A
    // log with no registry entry is a service that has ended (process-start takes back the
    // entry of one that exits at once): its tail is all there is.
    let watched = match (args.flag("--until-exit"), &entry) {
        (false, _) => None,
        (true, Some(e)) => {
            let main = e.supervisor.filter(Identity::is_alive).unwrap_or(e.identity());
            Some((PidFd::open(main).ok(), e.logger))
        }
        (true, None) if !has_log => return Err(failed(format!("{name} was not started by this library: nothing to wait for"))),
        (true, None) => return Ok(Exit::Success),
    };
    let mut follower = Follower::new(Dir::open(&path)?.ok_or_else(no_log)?, &name, offset)?;
    let out = |cx: &mut Context, follower: &mut Follower| -> Result<(), super::Failure> {
        let new = follower.read_new(cx)?;
        if !new.is_empty() {
            cx.print_now(&new)?;
        }
        Ok(())
    };
    loop {
        out(cx, &mut follower)?;
        let ended = match &watched {
            Some((Some(fd), _)) => fd.has_exited(),
            // Gone before we could watch it.
            Some((None, _)) => true,
            None => false,
        };
        if !ended {
            let mut fds = vec![sys::readable(follower.fd())];
            if let Some((Some(fd), _)) = &watched {
                fds.push(sys::readable(std::os::fd::AsRawFd::as_raw_fd(fd)));
            }
            process_facts::wait::poll(cx, &mut fds, None)?;
            continue;
        }
        // Ended: what its log writer still has to write, then no more.
        if let Some(writer) = watched.as_ref().and_then(|(_, w)| *w).and_then(|w| PidFd::open(w).ok()) {
            writer.wait_exit(WRITER_GRACE, cx)?;
        }
        out(cx, &mut follower)?;
        return Ok(Exit::Success);
    }
}
