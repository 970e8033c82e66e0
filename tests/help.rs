//! Learning the library from the shell: `--help` on every builtin, `process-help`,
//! `run-help`, the man page, the generated reference and completion (kept current with
//! the specs they come from), every link in the docs, and completion candidates in a
//! real interactive zsh.
mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

fn builtins() -> Vec<String> {
    let out = zsh("zmodload -lF zsh_process/process");
    out.stdout.lines().filter_map(|l| l.strip_prefix("+b:")).map(str::to_string).collect()
}

#[test]
fn the_generated_files_are_what_the_specs_say() {
    for (flag, file) in [("--markdown", "docs/reference.md"), ("--man", "man/zsh-process.1"), ("--completion", "zsh/functions/_zsh_process")] {
        let out = zsh(&format!("process-help {flag}"));
        assert_eq!(out.status, 0, "{out:?}");
        let kept = std::fs::read_to_string(repo_root().join(file)).unwrap();
        assert!(kept == out.stdout, "{file} is out of date: run `zsh scripts/gen-docs`");
    }
}

#[test]
fn every_builtin_has_a_help_page_that_touches_nothing() {
    let env = Env::new("help-pages");
    let names = builtins();
    assert!(names.len() >= 29, "{names:?}");
    let listed = env.zsh("process-help --list");
    let documented: Vec<&String> = names.iter().filter(|n| !n.starts_with('_')).collect();
    assert_eq!(listed.stdout.lines().collect::<Vec<_>>(), documented, "process-help --list and the module disagree");
    assert_eq!(names.iter().filter(|n| n.starts_with('_')).collect::<Vec<_>>(), ["_process-log-writer"], "internal builtins");
    for b in &names {
        for ask in ["--help", "-h"] {
            // Help wins over everything else on the line, which is never acted on.
            let out = env.zsh(&format!("{b} {ask} 1 2 3 --bogus"));
            assert_eq!(out.status, 0, "{b} {ask}: {out:?}");
            assert_eq!(out.stderr, "", "{b} {ask}: {out:?}");
            let page = &out.stdout;
            assert!(page.starts_with(&format!("{b} - ")), "{b}: {page}");
            let usage_line = format!("Usage: {b} ");
            for part in [usage_line.as_str(), "Options:", "-h, --help", "Exit status:", "\n  2    ", "bad usage"] {
                assert!(page.contains(part), "{b} {ask} lacks '{part}': {page}");
            }
        }
        if b.starts_with('_') {
            continue; // internal: a page of its own, not in process-help
        }
        let same = env.zsh(&format!("process-help {b}; process-help {}", b.trim_start_matches("process-")));
        let page = env.zsh(&format!("{b} --help")).stdout;
        assert_eq!(same.stdout, format!("{page}{page}"), "process-help {b}");
    }
    for dir in [env.pid_dir(), env.state_dir()] {
        assert!(!dir.exists(), "a help call created {}", dir.display());
    }
    let out = env.zsh("process-help; print s=$?; process-help nonsense; print s=$?");
    assert!(out.stdout.contains("Detection:") && out.stdout.contains("PROCESS_PID_DIR") && out.stdout.contains("process.alert"), "{out:?}");
    assert!(out.stdout.ends_with("s=0\ns=1\n"), "{out:?}");
    assert_one_error(&env.zsh("process-help nonsense"), 1, "process-help", "unknown builtin");
}

#[test]
fn run_help_shows_the_same_page() {
    let env = Env::new("run-help");
    let script = env.root.join("rh.zsh");
    // As a user's .zshrc does it: run-help is an alias for man until then.
    std::fs::write(&script, "source \"$(which _process)\" || exit 99\nunalias run-help\nautoload -Uz run-help\nPAGER=cat run-help process-stop\nPAGER=cat run-help kill\n").unwrap();
    let out = env.run(&["-f", script.to_str().unwrap()]);
    let page = env.zsh("process-stop --help").stdout;
    assert!(out.stdout.starts_with(&page), "{out:?}");
    assert!(out.stdout.contains("kill"), "zsh's own pages are still there: {out:?}");
}

#[test]
fn the_man_page_renders_cleanly() {
    let Ok(out) = std::process::Command::new("groff").args(["-man", "-ww", "-z"]).arg(repo_root().join("man/zsh-process.1")).output() else {
        eprintln!("no groff: skipping");
        return;
    };
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    // `man zsh-process` through PATH, as man-db finds PREFIX/share/man from PREFIX/bin.
    if Path::new("/usr/bin/man").exists() {
        let env = Env::new("man");
        let out = Env::output_of(env.command_with("man", &["-P", "cat", "zsh-process"]));
        assert!(out.stdout.contains("process-stop") && out.stdout.contains("PROCESS_PID_DIR"), "{out:?}");
    }
}

#[test]
fn every_link_in_the_docs_resolves_in_a_clone() {
    let root = repo_root();
    let mut pages = vec![root.join("README.md")];
    pages.extend(std::fs::read_dir(root.join("docs")).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "md")));
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for link in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            let target = link.split('#').next().unwrap();
            if target.is_empty() || target.contains("://") {
                continue;
            }
            let path = page.parent().unwrap().join(target);
            assert!(path.exists(), "{}: broken link {link}", page.display());
            assert!(path.canonicalize().unwrap().starts_with(root.canonicalize().unwrap()), "{}: {link} points outside the repository", page.display());
        }
    }
}

fn completion_session(env: &Env, compinit_first: bool) -> Option<Terminal> {
    let source = "source \"$(which _process)\"";
    let compinit = "autoload -Uz compinit; compinit -u -d $HOME/.zcompdump";
    let (a, b) = if compinit_first { (compinit, source) } else { (source, compinit) };
    Terminal::start(env, &format!("{a}\n{b}\nzstyle ':completion:*' format '%d'\nPROMPT='READY%# '\n"))
}

#[test]
fn tab_completes_options_services_signals_groups_pids_and_ports() {
    for compinit_first in [true, false] {
        let env = Env::new(if compinit_first { "comp-before" } else { "comp-after" });
        let p = Proc::sleeper();
        let l = Listener::start("127.0.0.1", "tcp");
        let setup = env.zsh(&format!("process-write-pid web-frontend {0}; process-write-pid db-backend {0}; process-group-add nightly-jobs {0}", p.pid()));
        assert_eq!(setup.status, 0, "{setup:?}");
        let Some(t) = completion_session(&env, compinit_first) else { return };
        let when = if compinit_first { "compinit before sourcing" } else { "compinit after sourcing" };
        let s = t.complete("process-stop --", &["--timeout", "--force"]);
        assert!(s.contains("--timeout") && s.contains("--force") && s.contains("KILL what still runs"), "{when}: options: {s}");
        let s = t.complete("process-stop ", &["web-frontend", "db-backend"]);
        assert!(s.contains("web-frontend") && s.contains("db-backend"), "{when}: services: {s}");
        let s = t.complete("process-signal web-frontend HU", &["HUP"]);
        assert!(s.contains("process-signal web-frontend HUP"), "{when}: signals: {s}");
        let s = t.complete("process-group-list nigh", &["nightly-jobs"]);
        assert!(s.contains("process-group-list nightly-jobs"), "{when}: groups: {s}");
        let s = t.complete(&format!("process-find-by-port {}", &l.port.to_string()[..2]), &[&l.port.to_string()]);
        assert!(s.contains(&l.port.to_string()), "{when}: ports: {s}");
        // zsh's _pids offers the processes of the terminal (its `ps`): one started there.
        t.keys(&["C-u"]);
        t.keys(&["-l", "sleep 4321 & print BG=$!"]);
        t.keys(&["Enter"]);
        assert!(wait_for(Duration::from_secs(5), || t.screen().rsplit("BG=").next().is_some_and(|s| s.starts_with(|c: char| c.is_ascii_digit()))));
        let bg: String = t.screen().rsplit("BG=").next().unwrap().chars().take_while(char::is_ascii_digit).collect();
        let s = t.complete(&format!("process-get-cpu {}", &bg[..bg.len() - 1]), &[&bg]);
        assert!(s.contains(&format!("process-get-cpu {bg}")) || s.lines().any(|l| l.trim_start().starts_with(&bg)), "{when}: pids: {s}");
        let s = t.complete("process-monitor web-frontend --alert-", &["--alert-cpu", "--alert-mem"]);
        assert!(s.contains("--alert-cpu") && s.contains("--alert-every"), "{when}: monitor options: {s}");
    }
}
