//! Groups: process-group-add, process-group-stop, process-group-list, and the values
//! behind `$_PROCESS_GROUPS`. Groups live in files under `$PROCESS_STATE_DIR/groups`
//! (process_facts::state), so every shell sees the same ones.

use super::control::{stop_target, timeout_option, Target};
use super::info::command_name;
use super::pidfiles::name_operand;
use super::control::{FORCE, NAME_OR_PID, TIMEOUT};
use super::spec::{Kind, Operand, Spec};
use super::{failed, usage, Args, Context, Exit, Failure, Outcome};
use crate::zsh::Shell;
use process_facts::pid::looks_like_pid;
use process_facts::state::Member;
use process_facts::store::validate_name;
use process_facts::{parse_pid, Identity};

const GROUP: Operand = Operand { name: "group", kind: Kind::Group, about: "a group's name (a file name: no /, no .., no leading dot)" };

pub const ADD: Spec = Spec {
    purpose: "add a process, or a service by name, to a group",
    operands: &[GROUP, NAME_OR_PID],
    min: 2,
    max: 2,
    options: &[],
    exits: &[(0, "added (or already there)"), (1, "no such process, or the state directory is refused")],
    see: "docs/control.md#groups",
};
pub const STOP: Spec = Spec {
    purpose: "stop a group's members, dependents and the last added first, then remove the group",
    operands: &[GROUP],
    min: 1,
    max: 1,
    options: &[TIMEOUT, FORCE],
    exits: &[(0, "all stopped"), (1, "no such group, or some would not stop (they stay in it)"), (130, "Ctrl-C ended a wait")],
    see: "docs/control.md#groups",
};
pub const LIST: Spec = Spec {
    purpose: "list a group's members with their PIDs and commands",
    options: &[],
    exits: &[(0, "listed"), (1, "no such group, or empty")],
    ..STOP
};

fn group_operand(args: &Args) -> Result<String, Failure> {
    group_name(args.text(0)?)
}

/// A group's name, checked: it becomes a file name.
pub fn group_name(g: &str) -> Result<String, Failure> {
    if let Err(process_facts::store::StoreError::BadName(_, why)) = validate_name(g) {
        return Err(usage(format!("invalid group name '{g}': {why}")));
    }
    Ok(g.to_string())
}

/// The live process a member stands for now, if any.
fn member_target(cx: &mut Context, member: &Member) -> Option<Target> {
    match member {
        Member::Service(name) => {
            let pids = cx.settings().pid_files();
            pids.running(name, cx).ok().flatten().map(|id| Target { id, name: Some(name.clone()), role: process_facts::pidfile::Role::Service })
        }
        Member::Process(id) => id.is_alive().then_some(Target { id: *id, name: None, role: process_facts::pidfile::Role::Service }),
    }
}

/// `process-group-add GROUP NAME_OR_PID`: a PID must be a live process (its identity is
/// kept, so a reused PID is never taken for it); a name may be added before its service
/// starts.
pub fn add(cx: &mut Context, args: &Args) -> Outcome {
    let group = group_operand(args)?;
    let what = args.text(1)?;
    let member = if looks_like_pid(what) || what.starts_with('-') {
        let pid = parse_pid(what).map_err(|e| usage(e.to_string()))?;
        Member::Process(Identity::of(pid).ok_or_else(|| failed(format!("no such process: {pid}")))?)
    } else {
        Member::Service(name_operand(args, 1)?)
    };
    cx.settings().state().group_add(&group, member, cx)?;
    Ok(Exit::Success)
}

/// `process-group-stop GROUP [--timeout S] [--force]`: stops the members in the reverse
/// order of adding (last added, first stopped; dependents before what they were started
/// `--after`), then removes the group. Members that
/// would not stop stay in the group, and the status is 1.
pub fn stop(cx: &mut Context, args: &Args) -> Outcome {
    let group = group_operand(args)?;
    let timeout = timeout_option(cx, args)?;
    let force = args.flag("--force");
    let state = cx.settings().state();
    let members = state.group_members(&group)?;
    if members.is_empty() {
        return Err(failed(format!("no such group, or empty: {group}")));
    }
    // Only the members seen here, stopped or found dead, leave the group: one that
    // another shell adds meanwhile stays.
    let mut done: Vec<Member> = Vec::new();
    let mut still_running = 0;
    for member in stop_order(cx, &members) {
        let Some(target) = member_target(cx, member) else {
            done.push(member.clone());
            continue;
        };
        match stop_target(cx, &target, timeout, force) {
            Ok(_) => done.push(member.clone()),
            Err(f) if f.is_interrupted() => {
                state.group_retain(&group, &mut |m| !done.contains(m), cx)?;
                return Err(f);
            }
            Err(f) => {
                cx.warn(&format!("{}: {}", member.label(), f.message));
                still_running += 1;
            }
        }
    }
    state.group_retain(&group, &mut |m| !done.contains(m), cx)?;
    Ok(Exit::yes_no(still_running == 0))
}

/// The members in the order to stop them: the reverse of the order they were added,
/// except that a service started `--after` another member stops before it (dependents
/// first). With a cycle, simply the reverse order.
fn stop_order<'m>(cx: &mut Context, members: &'m [Member]) -> Vec<&'m Member> {
    let labels: Vec<String> = members.iter().map(Member::label).collect();
    let names: Vec<&str> = labels.iter().map(String::as_str).collect();
    let state = cx.settings().state();
    let after: Vec<Vec<String>> = members
        .iter()
        .map(|m| match m {
            Member::Service(n) => state.entry(n).ok().flatten().map(|e| e.after).unwrap_or_default(),
            Member::Process(_) => Vec::new(),
        })
        .collect();
    let order = process_facts::stack::dependency_order(&names, &after).unwrap_or_else(|_| (0..members.len()).collect());
    order.into_iter().rev().map(|i| &members[i]).collect()
}

/// `process-group-list GROUP`: the documented format; dead members are marked.
pub fn list(cx: &mut Context, args: &Args) -> Outcome {
    let group = group_operand(args)?;
    let members = cx.settings().state().group_members(&group)?;
    if members.is_empty() {
        return Err(failed(format!("no such group, or empty: {group}")));
    }
    let mut out = format!("Processes in group {group}:\n").into_bytes();
    for member in &members {
        match member_target(cx, member) {
            Some(t) => {
                out.extend_from_slice(format!("  PID {}: ", t.id.pid).as_bytes());
                let name = command_name(t.id.pid).unwrap_or_default();
                out.extend_from_slice(super::printable(&String::from_utf8_lossy(&name)).as_bytes());
                out.push(b'\n');
            }
            None => match member {
                Member::Service(name) => out.extend_from_slice(format!("  PID -: {name} (dead)\n").as_bytes()),
                Member::Process(id) => out.extend_from_slice(format!("  PID {}: (dead)\n", id.pid).as_bytes()),
            },
        }
    }
    cx.sh.print(&out);
    Ok(Exit::Success)
}

/// `${_PROCESS_GROUPS[group]}`: member labels separated by spaces. A refused state
/// directory reads as no group (a prompt that shows groups must never hang or spew).
pub fn members_text(sh: &mut Shell, group: &str) -> Option<String> {
    let mut cx = Context::new(sh, "_PROCESS_GROUPS");
    let members = cx.settings().state().group_members(group).ok()?;
    (!members.is_empty()).then(|| members.iter().map(Member::label).collect::<Vec<_>>().join(" "))
}

/// `${(k)_PROCESS_GROUPS}`
pub fn names(sh: &mut Shell) -> Vec<String> {
    let mut cx = Context::new(sh, "_PROCESS_GROUPS");
    cx.settings().state().group_names().unwrap_or_default()
}
