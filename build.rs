//! Builds the module against the headers of the zsh it is for: bindgen for zsh's
//! functions and types, cc for the few macros (src/zsh/glue.c).
//!
//! Which headers, first that applies:
//! 1. `ZSH_INCLUDE_DIR`: a directory holding `zsh/zsh.mdh` (an install's `include`);
//! 2. `ZSH_SOURCE_DIR`: a configured and built zsh source tree (`Src/zsh.mdh`,
//!    `config.h` at its top), for a zsh built from source;
//! 3. beside the zsh the module is for (`$ZSH_BINARY`, else the first `zsh` on `PATH`):
//!    `PREFIX/include/zsh` for `PREFIX/bin/zsh`, so a zsh in /usr/local gets its own;
//! 4. `/usr/include/zsh`, where Debian's `zsh-dev` puts them.
//!
//! The module checks at load that the running zsh is the version these headers are of.

use std::env;
use std::path::{Path, PathBuf};

fn fail(msg: &str) -> ! {
    eprintln!("\nerror: {msg}\n");
    std::process::exit(1);
}

/// The include directories for the compiler: the one that holds `zsh/zsh.mdh`, and any
/// others the headers need.
fn zsh_includes(out: &Path) -> Vec<PathBuf> {
    if let Some(dir) = env::var_os("ZSH_INCLUDE_DIR").map(PathBuf::from) {
        if !dir.join("zsh/zsh.mdh").exists() {
            fail(&format!("ZSH_INCLUDE_DIR={}: no zsh/zsh.mdh there", dir.display()));
        }
        return vec![dir];
    }
    if let Some(src) = env::var_os("ZSH_SOURCE_DIR").map(PathBuf::from) {
        if !src.join("Src/zsh.mdh").exists() || !src.join("config.h").exists() {
            fail(&format!("ZSH_SOURCE_DIR={}: no Src/zsh.mdh and config.h: run ./configure && make there first", src.display()));
        }
        // The headers include each other as "zsh/...": give them that name.
        let shim = out.join("zsh-source-include");
        let _ = std::fs::remove_dir_all(&shim);
        std::fs::create_dir_all(&shim).expect("cannot create the include directory");
        std::os::unix::fs::symlink(src.join("Src"), shim.join("zsh")).expect("cannot link the zsh sources");
        return vec![shim, src.clone(), src.join("Src")];
    }
    // (Not $ZSH: Oh My Zsh uses that name for its own directory.)
    let zsh = env::var_os("ZSH_BINARY").map(PathBuf::from).or_else(|| {
        env::split_paths(&env::var_os("PATH").unwrap_or_default()).map(|d| d.join("zsh")).find(|p| p.is_file())
    });
    if let Some(prefix) = zsh.and_then(|z| std::fs::canonicalize(z).ok()).and_then(|z| z.parent()?.parent().map(Path::to_path_buf)) {
        let include = prefix.join("include");
        if include.join("zsh/zsh.mdh").exists() {
            return vec![include];
        }
    }
    let debian = PathBuf::from("/usr/include");
    if !debian.join("zsh/zsh.mdh").exists() {
        fail(
            "zsh's module headers (zsh.mdh) not found: install them with \
             `apt-get install zsh-dev libcap-dev libclang-dev`, or set ZSH_INCLUDE_DIR or ZSH_SOURCE_DIR",
        );
    }
    vec![debian]
}

fn main() {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        fail("zsh-process reads /proc and uses pidfds, signalfd and sock_diag: it builds for Linux only");
    }
    for var in ["ZSH_INCLUDE_DIR", "ZSH_SOURCE_DIR", "ZSH_BINARY"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=src/zsh/zsh_api.h");
    println!("cargo:rerun-if-changed=src/zsh/glue.c");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let includes = zsh_includes(&out);
    // Any change to the headers (a zsh-dev upgrade) rebuilds: the directory, and each
    // header bindgen reads (CargoCallbacks below).
    println!("cargo:rerun-if-changed={}", includes[0].join("zsh").display());

    let mut cc = cc::Build::new();
    cc.file("src/zsh/glue.c").include("src/zsh").warnings(false);
    for i in &includes {
        cc.include(i);
    }
    cc.compile("zshglue");

    let mut bindings = bindgen::Builder::default().header("src/zsh/zsh_api.h").clang_arg("-Isrc/zsh");
    for i in &includes {
        bindings = bindings.clang_arg(format!("-I{}", i.display()));
    }
    let bindings = bindings
        // Only what the module uses: keeps the bindings small and free of u128.
        .allowlist_function(
            "zp_.*|hcalloc|setsparam|setaparam|sethparam|getsparam|getaparam|zsfree|zshcalloc|metafy|featuresarray|handlefeatures|setfeatureenables",
        )
        .allowlist_var("mypid|META_DUP|META_HEAPDUP|BINF_HANDLES_OPTS")
        .allowlist_type("builtin|features|module|options|paramdef")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen could not read zsh's module headers: {e}")));
    bindings.write_to_file(out.join("zsh_bindings.rs")).expect("cannot write zsh_bindings.rs");
}
