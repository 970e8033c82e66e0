//! The sample store: CPU samples and socket owners kept between calls, so the spec's own
//! `$(...)` idiom (every call a fresh subshell) measures what a `-v` loop measures, at
//! subshell cost; and the store treated with the same care as PID files.
mod common;
use common::*;

/// Runs the spec's resource tracker loop: `cpu=$(process-get-cpu PID)` every second.
fn tracker(case: &Case, pid: u32, rounds: u32) -> Vec<(f64, f64)> {
    let out = case.env.zsh(&format!(
        "zmodload zsh/datetime
         repeat {rounds}; do
           t=$EPOCHREALTIME; cpu=$(process-get-cpu {pid}); print -r -- \"$cpu $(( (EPOCHREALTIME - t) * 1000 ))\"
           sleep 1
         done"
    ));
    assert_eq!(out.status, 0, "{out:?}");
    out.stdout.lines().map(|l| l.split_once(' ').map(|(c, ms)| (c.parse().unwrap(), ms.parse().unwrap())).unwrap()).collect()
}

#[test]
fn the_trackers_subshell_loop_reports_the_last_second_without_a_stall() {
    let case = Case::new("tracker");
    let busy = Proc::busy();
    let idle = Proc::sleeper();
    let busy_readings = tracker(&case, busy.pid(), 3);
    let idle_readings = tracker(&case, idle.pid(), 3);
    // Only the very first call of a process measures for 100 ms; the later ones measure
    // the second since the previous call, kept by the subshell that made it.
    assert!(busy_readings[0].1 >= 90.0, "{busy_readings:?}");
    for (i, &(cpu, ms)) in busy_readings.iter().enumerate().skip(1) {
        assert!(ms < 60.0, "call {i} stalled: {busy_readings:?}");
        assert!(cpu > 60.0, "a busy loop read {cpu}% over the last second: {busy_readings:?}");
    }
    for &(cpu, ms) in idle_readings.iter().skip(1) {
        assert!(ms < 60.0 && cpu < 5.0, "{idle_readings:?}");
    }
}

#[test]
fn a_v_call_and_a_subshell_call_share_one_window() {
    let case = Case::new("window");
    let busy = Proc::busy();
    let out = case.env.zsh(&format!(
        "zmodload zsh/datetime
         x=$(process-get-cpu {p}); sleep 0.4
         t=$EPOCHREALTIME; process-get-cpu -v y {p}; print -r -- $(( (EPOCHREALTIME - t) * 1000 ))
         sleep 0.4
         t=$EPOCHREALTIME; z=$(process-get-cpu {p}); print -r -- $(( (EPOCHREALTIME - t) * 1000 ))",
        p = busy.pid()
    ));
    let ms: Vec<f64> = out.stdout.lines().map(|l| l.parse().unwrap()).collect();
    // Neither is a first call: each finds the sample the other kind of call left.
    assert!(ms.len() == 2 && ms[0] < 50.0 && ms[1] < 50.0, "{out:?}");
}

#[test]
fn a_fresh_shell_finds_the_port_owner_without_a_scan_and_checks_it() {
    let case = Case::new("owners");
    let first = Listener::start("127.0.0.1", "tcp");
    let out = case.env.zsh(&format!("process-find-by-port {p}; x=$(process-find-by-port {p}); print -r -- $x", p = first.port));
    assert_eq!(out.stdout, format!("{0}\n{0}\n", first.pid()), "{out:?}");
    let samples = case.env.root.join("run/process-samples");
    let kept: Vec<String> = std::fs::read_dir(&samples).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(kept.iter().any(|n| n.starts_with("port.")), "{kept:?}");
    // The owner recorded there is checked before it is believed: the same process, still
    // holding that socket.
    drop(first);
    let second = Listener::start("127.0.0.1", "tcp");
    let out = case.env.zsh(&format!("process-find-by-port {}", second.port));
    assert_eq!(out.stdout, format!("{}\n", second.pid()), "{out:?}");
}

#[test]
fn the_store_is_held_to_the_trust_rule() {
    let case = Case::new("hostile-store");
    let busy = Proc::busy();
    let store = case.env.root.join("run/process-samples");
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if root && std::path::Path::new("/usr/bin/setpriv").exists() {
        // Another user's symlink planted in its place (in a sticky shared runtime
        // directory): refused in one line; the shell measures on its own.
        let run = case.env.root.join("run");
        std::fs::set_permissions(&case.env.root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
        let planted = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "ln", "-s", "/"])
            .arg(&store)
            .status()
            .unwrap();
        assert!(planted.success());
        let out = case.env.zsh(&format!("process-get-cpu -v c {}; print -r -- ${{c%%.*}}", busy.pid()));
        assert_eq!(out.status, 0, "{out:?}");
        assert!(out.stdout.trim().parse::<u32>().is_ok_and(|c| c > 20), "{out:?}");
        assert!(out.stderr.starts_with("process-get-cpu: refusing ") && out.stderr.contains("symlink owned by uid 65534"), "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        std::fs::remove_file(&store).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    // A corrupt entry reads as no sample: the call measures afresh, and is right.
    let out = case.env.zsh(&format!("process-get-cpu {}", busy.pid()));
    assert_eq!(out.status, 0, "{out:?}");
    let entry = std::fs::read_dir(&store).unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with("cpu.")).unwrap().path();
    std::fs::write(&entry, "at=1\nticks=99999999999\npercent=5000\ncheck=0\n").unwrap();
    let out = case.env.zsh(&format!("process-get-cpu -v c {}; print -r -- ${{c%%.*}}", busy.pid()));
    let cpu: u32 = out.stdout.trim().parse().unwrap();
    assert!(cpu > 20 && cpu < 250, "{out:?}");
    assert_eq!(out.stderr, "");
    // Another user's directory in its place.
    if root {
        std::os::unix::fs::chown(&store, Some(65534), Some(65534)).unwrap();
        let out = case.env.zsh(&format!("process-get-cpu {}", busy.pid()));
        assert!(out.stderr.contains("owned by uid 65534"), "{out:?}");
        assert_eq!(out.status, 0, "{out:?}");
    }
}
