//! Groups: process-group-add, process-group-stop, process-group-list, and the values
//! behind `$_PROCESS_GROUPS`. Groups live in files under `$PROCESS_STATE_DIR/groups`
//! (process_facts::state), so every shell sees the same ones.

use super::config::{self, pid_dir};
use super::control::{stop_target, timeout_option, Target};
use super::info::command_name;
use super::pidfiles::to_failure;
use super::{failed, usage, Args, Failure, OptSpec, Outcome, STATUS_NO, STATUS_OK};
use crate::zsh::Shell;
use process_facts::pid::looks_like_pid;
use process_facts::pidfile::validate_name;
use process_facts::state::Member;
use process_facts::{parse_pid, Identity};

pub const ADD: OptSpec = OptSpec { valued: &[], flags: &[], operands: &["group", "name_or_pid"], min: 2, max: 2 };
pub const STOP: OptSpec = OptSpec { valued: &["--timeout"], flags: &["--force"], operands: &["group"], min: 1, max: 1 };
pub const LIST: OptSpec = OptSpec { valued: &[], flags: &[], operands: &["group"], min: 1, max: 1 };

fn group_operand(args: &Args) -> Result<String, Failure> {
    let g = args.operand(0);
    validate_name(g).map_err(|e| usage(e.to_string().replacen("name", "group name", 1)))?;
    Ok(g.to_string())
}

/// The live process a member stands for now, if any.
fn member_target(sh: &mut Shell, member: &Member) -> Option<Target> {
    match member {
        Member::Service(name) => {
            pid_dir(sh).running(name).ok().flatten().map(|id| Target { id, name: Some(name.clone()) })
        }
        Member::Process(id) => id.is_alive().then(|| Target { id: *id, name: None }),
    }
}

/// `process-group-add GROUP NAME_OR_PID`: a PID must be a live process (its identity is
/// kept, so a reused PID is never taken for it); a name may be added before its service
/// starts.
pub fn add(sh: &mut Shell, args: &Args) -> Outcome {
    let group = group_operand(args)?;
    let what = args.operand(1);
    let member = if looks_like_pid(what) || what.starts_with('-') {
        let pid = parse_pid(what).map_err(|e| usage(e.to_string()))?;
        Member::Process(Identity::of(pid).ok_or_else(|| failed(format!("no such process: {pid}")))?)
    } else {
        validate_name(what).map_err(to_failure)?;
        Member::Service(what.to_string())
    };
    config::state(sh).group_add(&group, member).map_err(to_failure)?;
    Ok(STATUS_OK)
}

/// `process-group-stop GROUP [--timeout S] [--force]`: stops the members in the reverse
/// order of adding (last added, first stopped), then removes the group. Members that
/// would not stop stay in the group, and the status is 1.
pub fn stop(sh: &mut Shell, args: &Args) -> Outcome {
    let group = group_operand(args)?;
    let timeout = timeout_option(sh, args)?;
    let force = args.flag("--force");
    let state = config::state(sh);
    let members = state.group_members(&group).map_err(to_failure)?;
    if members.is_empty() {
        return Err(failed(format!("no such group, or empty: {group}")));
    }
    let mut still_running: Vec<Member> = Vec::new();
    for member in members.iter().rev() {
        let Some(target) = member_target(sh, member) else { continue };
        if let Err(e) = stop_target(sh, &target, timeout, force) {
            match e {
                Failure::Failed(msg, 130) => return Err(Failure::Failed(msg, 130)),
                Failure::Failed(msg, _) | Failure::Usage(msg) => sh.warn("process-group-stop", &format!("{}: {msg}", member.label())),
            }
            still_running.push(member.clone());
        }
    }
    state.group_retain(&group, |m| still_running.contains(m)).map_err(to_failure)?;
    Ok(if still_running.is_empty() { STATUS_OK } else { STATUS_NO })
}

/// `process-group-list GROUP`: the documented format; dead members are marked.
pub fn list(sh: &mut Shell, args: &Args) -> Outcome {
    let group = group_operand(args)?;
    let members = config::state(sh).group_members(&group).map_err(to_failure)?;
    if members.is_empty() {
        return Err(failed(format!("no such group, or empty: {group}")));
    }
    let mut out = format!("Processes in group {group}:\n");
    for member in &members {
        match member_target(sh, member) {
            Some(t) => {
                let cmd = command_name(t.id.pid).unwrap_or_default();
                out.push_str(&format!("  PID {}: {cmd}\n", t.id.pid));
            }
            None => match member {
                Member::Service(name) => out.push_str(&format!("  PID -: {name} (dead)\n")),
                Member::Process(id) => out.push_str(&format!("  PID {}: (dead)\n", id.pid)),
            },
        }
    }
    sh.print(&out);
    Ok(STATUS_OK)
}

/// `${_PROCESS_GROUPS[group]}`: member labels separated by spaces.
pub fn members_text(sh: &mut Shell, group: &str) -> Option<String> {
    let members = config::state(sh).group_members(group).ok()?;
    (!members.is_empty()).then(|| members.iter().map(Member::label).collect::<Vec<_>>().join(" "))
}

/// `${(k)_PROCESS_GROUPS}`
pub fn names(sh: &mut Shell) -> Vec<String> {
    config::state(sh).group_names()
}
