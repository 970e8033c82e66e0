//! Builds the module against the headers of the zsh installed on this machine (Debian's
//! `zsh-dev`): bindgen for zsh's functions and types, cc for the few macros (glue.c).

use std::env;
use std::path::PathBuf;

/// Where zsh-dev puts the headers; `ZSH_INCLUDE_DIR` overrides it for another zsh.
fn zsh_include_dir() -> PathBuf {
    env::var_os("ZSH_INCLUDE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/include"))
}

fn main() {
    let include = zsh_include_dir();
    let mdh = include.join("zsh/zsh.mdh");
    if !mdh.exists() {
        panic!(
            "zsh module headers not found at {}: install them with `apt-get install zsh-dev libcap-dev libclang-dev` \
             (or set ZSH_INCLUDE_DIR)",
            mdh.display()
        );
    }
    println!("cargo:rerun-if-changed=src/zsh/zsh_api.h");
    println!("cargo:rerun-if-changed=src/zsh/glue.c");
    println!("cargo:rerun-if-env-changed=ZSH_INCLUDE_DIR");

    cc::Build::new()
        .file("src/zsh/glue.c")
        .include(&include)
        .include("src/zsh")
        .warnings(false)
        .compile("zshglue");

    let bindings = bindgen::Builder::default()
        .header("src/zsh/zsh_api.h")
        .clang_arg(format!("-I{}", include.display()))
        .clang_arg("-Isrc/zsh")
        // Only what the module uses: keeps the bindings small and free of u128.
        .allowlist_function(
            "zp_.*|hcalloc|setsparam|setaparam|sethparam|getsparam|getaparam|gethparam|getiparam|unsetparam|ztrdup|zalloc|zshcalloc|zfree|zsfree|\
             metafy|unmetafy|zwarnnam|featuresarray|handlefeatures|setfeatureenables",
        )
        .allowlist_var("errflag|mypid|META_DUP|META_HEAPDUP|ZSH_VERSION|BINF_.*")
        .allowlist_type("builtin|features|module|options|paramdef")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen could not read zsh's module headers");

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings.write_to_file(out.join("zsh_bindings.rs")).expect("cannot write zsh_bindings.rs");
}
