mod common;
use common::*;

#[test]
fn shim_loads_module_and_exists_works() {
    let p = Proc::sleeper();
    let out = zsh(&format!("process-version; process-exists {}; echo $?", p.pid()));
    assert_eq!(out.stdout, "_process v1.0.0\n0\n", "{out:?}");
}
