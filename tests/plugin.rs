//! process.plugin.zsh, loaded the way each plugin manager loads a plugin: zinit (sets
//! `$ZERO`), antidote and sheldon (source the file, the directory on `$fpath`), Oh My Zsh
//! (sources it from a function, as `_omz_source` does), always from a directory other than
//! the clone; unloaded again; and the module built on first load, in a script and in an
//! interactive shell (in the background, loaded at the next prompt).
mod common;
use common::*;
use std::path::{Path, PathBuf};

/// A clone of the plugin as a manager would have it: the files it sources, and (unless
/// `built` is false) a module already built into build/.
fn clone(dir: &Path, built: bool) -> PathBuf {
    for f in ["process.plugin.zsh", "zsh/_process", "zsh/functions/_zsh_process", "scripts/install"] {
        let to = dir.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join(f), &to).unwrap();
    }
    if built {
        let so = dir.join("build/lib/zsh_process/process.so");
        std::fs::create_dir_all(so.parent().unwrap()).unwrap();
        std::fs::copy(prefix().join("lib/zsh_process/process.so"), so).unwrap();
    }
    dir.to_path_buf()
}

/// Checks in a shell that loaded the plugin: the builtins, the completion on $fpath, and
/// that the unload takes it all out.
const CHECK: &str = r#"
process-exists $$ && print builtins
(( ${fpath[(Ie)$CLONE/zsh/functions]} )) && print fpath
process_plugin_unload
whence process-exists process_plugin_unload _process-emit >/dev/null || print unloaded
zmodload -e zsh_process/process || print module-gone
(( ${fpath[(Ie)$CLONE/zsh/functions]} )) || print fpath-gone
"#;

const WANT: &str = "builtins\nfpath\nunloaded\nmodule-gone\nfpath-gone\n";

fn load(env: &Env, clone: &Path, how: &str) -> Output {
    let script = format!("CLONE='{}'\n{how}\n{CHECK}", clone.display());
    let mut c = env.command(&["-f", "-c", &script]);
    c.current_dir("/");
    Env::output_of(c)
}

#[test]
fn loads_as_zinit_antidote_sheldon_and_oh_my_zsh_load_it() {
    let env = Env::new("managers");
    let dir = scratch("managers");
    let plain = clone(&dir.join("repos/zsh-process"), true);
    let omz = clone(&dir.join("custom/plugins/process"), true);
    let cases = [
        ("zinit", &plain, "ZERO=$CLONE/process.plugin.zsh source $CLONE/process.plugin.zsh".to_string()),
        ("antidote", &plain, "fpath+=($CLONE); source $CLONE/process.plugin.zsh".to_string()),
        ("sheldon", &plain, "source \"$CLONE/process.plugin.zsh\"; (( $+functions[process-stop] ))".to_string()),
        (
            "oh-my-zsh",
            &omz,
            "ZSH_CUSTOM=${CLONE:h:h}; plugins=(process)
             _omz_source() { source \"$ZSH_CUSTOM/$1\" }
             for plugin ($plugins); do fpath=($ZSH_CUSTOM/plugins/$plugin $fpath); _omz_source plugins/$plugin/$plugin.plugin.zsh; done"
                .to_string(),
        ),
    ];
    for (manager, clone, how) in cases {
        let out = load(&env, clone, &how);
        assert_eq!(out.stdout, WANT, "{manager}: {out:?}");
        assert_eq!(out.stderr, "", "{manager}: {out:?}");
    }
}

#[test]
fn without_a_module_and_without_cargo_it_says_so_once_and_keeps_the_pure_functions() {
    let env = Env::new("no-cargo");
    let clone = clone(&scratch("no-cargo"), false);
    let mut c = env.command_with(
        "zsh",
        &["-f", "-c", &format!("source {0}/process.plugin.zsh; source {0}/process.plugin.zsh; process-version; _process-get-pid-file web", clone.display())],
    );
    c.env("PATH", "/usr/bin:/bin");
    let out = Env::output_of(c);
    assert_eq!(out.stderr.lines().count(), 1, "said once: {out:?}");
    assert!(out.stderr.contains("not found"), "{out:?}");
    assert_eq!(out.stdout, format!("_process v1.0.0\n{}/web.pid\n", env.pid_dir().display()), "{out:?}");
    let mut quiet = env.command_with("zsh", &["-f", "-c", &format!("source {}/process.plugin.zsh; print -r -- ok", clone.display())]);
    quiet.env("PATH", "/usr/bin:/bin").env("PROCESS_QUIET_NO_MODULE", "1");
    let out = Env::output_of(quiet);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("ok\n", ""), "{out:?}");
}

/// The environment for a real build of the clone's module: the repository's own sources
/// (the plugin is the repository itself: its scripts/install builds there) and target
/// directory, so cargo finds its release build if there is one.
fn build_env(c: &mut std::process::Command, build: &Path) {
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let path = format!("{}/bin:{}", cargo_home.display(), std::env::var("PATH").unwrap_or_default());
    c.env("PATH", path)
        .env("PROCESS_PLUGIN_BUILD", build)
        .env("CARGO_TARGET_DIR", repo_root().join("target"))
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", std::env::var_os("RUSTUP_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".rustup")));
}

#[test]
fn a_script_builds_the_module_on_first_load() {
    let env = Env::new("build-script");
    let build = scratch("build-script").join("build");
    let mut c = env.command_with("zsh", &["-f", "-c", &format!("source {}/process.plugin.zsh; process-exists $$ && print loaded", repo_root().display())]);
    build_env(&mut c, &build);
    let out = Env::output_of(c);
    assert_eq!(out.stdout, "loaded\n", "{out:?}\n{}", read_text(build.join("build.log")));
    assert_eq!(out.stderr, "_process: building the native module (once)\n", "{out:?}");
    assert!(build.join("lib/zsh_process/process.so").exists() && build.join("share/zsh-process/help/process-stop").exists());
    the_installed_shim_is_read_compiled(&env, &build);
}

/// scripts/install compiles the shim for this zsh (bin/_process.zwc), `source` reads that
/// instead of the text, and it is the very same library.
fn the_installed_shim_is_read_compiled(env: &Env, prefix: &Path) {
    let zsh = |script: &str, args: &[&Path]| {
        let mut c = std::process::Command::new("zsh");
        c.args(["-f", "-c", script, "_"]).args(args).env("PROCESS_MODULE_PATH", prefix.join("lib")).env("HOME", &env.root);
        Env::output_of(c)
    };
    let listed = zsh("zcompile -t $1; print -r -- $ZSH_VERSION", &[&prefix.join("bin/_process.zwc")]);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{listed:?}");
    assert!(lines[0].starts_with("zwc file (") && lines[0].ends_with(&format!(") for zsh-{}", lines[2])), "made by this zsh: {listed:?}");
    assert_eq!(lines[1], prefix.join("bin/_process").to_str().unwrap(), "{listed:?}");
    // A copy whose text says otherwise, and is older than its .zwc: what runs is the .zwc.
    let copy = scratch("zwc-copy");
    std::fs::copy(prefix.join("bin/_process.zwc"), copy.join("_process.zwc")).unwrap();
    std::fs::write(copy.join("_process"), "print -r -- the text was parsed; return 7\n").unwrap();
    let older = std::fs::File::options().write(true).open(copy.join("_process")).unwrap();
    older.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60)).unwrap();
    let defs = "source $1 || exit 1; typeset -f -m '_process*' 'process-*'; print -l ${(k)builtins[(I)process-*]}";
    let compiled = zsh(defs, &[&copy.join("_process")]);
    let text = zsh(defs, &[&repo_root().join("zsh/_process")]);
    assert_eq!(compiled.status, 0, "{compiled:?}");
    assert!(compiled.stdout.contains("process-stop") && compiled.stdout.contains("_process-emit"), "{compiled:?}");
    assert_eq!(compiled.stdout, text.stdout, "the compiled shim defines what the text does");
}

#[test]
fn an_interactive_shell_builds_in_the_background_and_loads_at_the_next_prompt() {
    let env = Env::new("build-bg");
    let build = scratch("build-bg").join("build");
    let zshrc = format!(
        "export PROCESS_PLUGIN_BUILD={b} CARGO_TARGET_DIR={t} PATH={path}\nsource {r}/process.plugin.zsh\nPROMPT='READY%# '\n",
        b = build.display(),
        t = repo_root().join("target").display(),
        path = {
            let mut c = std::process::Command::new("true");
            build_env(&mut c, &build);
            c.get_envs().find(|(k, _)| *k == "PATH").and_then(|(_, v)| v).unwrap().to_string_lossy().into_owned()
        },
        r = repo_root().display()
    );
    let Some(t) = Terminal::start(&env, &zshrc) else { return };
    assert!(t.screen().contains("building the native module in the background"), "{}", t.screen());
    // Each Enter is a prompt; the library is there at the first one after the build.
    let loaded = wait_for(std::time::Duration::from_secs(600), || {
        t.keys(&["-l", "whence -w process-stop"]);
        t.keys(&["Enter"]);
        std::thread::sleep(std::time::Duration::from_millis(500));
        t.screen().contains("process-stop: builtin")
    });
    assert!(loaded, "{}\n{}", t.screen(), read_text(build.join("build.log")));
}

/// The user's options change nothing (the plugin runs under `emulate -L zsh`): it loads,
/// keeps every `$fpath` entry, and unloads under nounset, ksharrays, shwordsplit and
/// errexit; a `$ZERO` that names another directory is refused before anything is built
/// or sourced; and a build directory of another user's is not built in.
#[test]
fn the_plugin_is_the_same_under_any_options_and_trusts_only_its_own_directories() {
    let env = Env::new("plugin-options");
    let dir = scratch("plugin-options");
    let plain = clone(&dir.join("with space/zsh-process"), true);
    for opts in ["nounset", "ksharrays", "shwordsplit", "errexit", "nounset ksharrays shwordsplit"] {
        let out = load(&env, &plain, &format!("fpath=(/a /b /c); setopt {opts}; source \"$CLONE/process.plugin.zsh\"; print -r -- \"${{(j:|:)fpath[@]}}\"; emulate zsh  # (the checks count from 1)"));
        let want = format!("{}/zsh/functions|/a|/b|/c\n{WANT}", plain.display());
        assert_eq!(out.stdout, want, "{opts}: {out:?}");
        assert_eq!(out.stderr, "", "{opts}: {out:?}");
    }
    let out = load(&env, &plain, "ZERO=/ source \"$CLONE/process.plugin.zsh\"; print st=$?");
    assert!(out.stdout.starts_with("st=1\n") && out.stderr.contains("/ is not the plugin's directory"), "{out:?}");
    assert!(!Path::new("/build").exists());
    // Another user's build directory (as root, with a second user): neither loaded from
    // nor built in, and its log symlink is not written through.
    let theirs = dir.join("theirs");
    std::fs::create_dir_all(theirs.join("lib/zsh_process")).unwrap();
    std::fs::copy(prefix().join("lib/zsh_process/process.so"), theirs.join("lib/zsh_process/process.so")).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, theirs.join("build.log")).unwrap();
    let chowned = std::process::Command::new("chown").args(["-hR", "65534"]).arg(&theirs).status();
    if !chowned.is_ok_and(|s| s.success()) {
        eprintln!("cannot chown (not root?): skipping the second-user case");
        return;
    }
    let fake = dir.join("fake-cargo");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("cargo"), "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(fake.join("cargo"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = load(
        &env,
        &plain,
        &format!("PATH={}:$PATH PROCESS_PLUGIN_BUILD={} source \"$CLONE/process.plugin.zsh\"; zmodload -e zsh_process/process && print module-loaded", fake.display(), theirs.display()),
    );
    assert!(!out.stdout.contains("module-loaded"), "another user's module was loaded: {out:?}");
    assert!(out.stderr.contains(&format!("refusing to build in {}", theirs.display())), "{out:?}");
    assert_eq!(read_text(&victim), "precious\n");
}
