# process.plugin.zsh: the _process library as a zsh plugin, for zinit, antidote, sheldon,
# Oh My Zsh and any manager that follows the Zsh Plugin Standard.
#
# It finds its own directory from $ZERO (or $0) wherever the manager cloned it, puts
# zsh/functions (the completion) on $fpath, and loads the library from zsh/_process with
# the native module built into build/ (or $PROCESS_PLUGIN_BUILD). When the module is not
# built yet and cargo is there, it is built once: at an interactive prompt in the
# background (one line says so; the library loads at the first prompt after the build),
# in a script at once. A manager's build hook can run the same step ahead of time:
#     PREFIX=<plugin dir>/build bash <plugin dir>/scripts/install
# process_plugin_unload takes it all out again. See docs/install.md.
#
# Everything below runs under `emulate -L zsh`, so the user's options (nounset, ksharrays,
# shwordsplit, ...) change nothing. The module is loaded by the shim, which refuses one
# that another user could have put there (docs/safety.md).

0="${ZERO:-${${0:#$ZSH_ARGZERO}:-${(%):-%N}}}"
0="${${(M)0:#/*}:-$PWD/$0}"
typeset -g _PROCESS_PLUGIN_DIR=${0:h}

# A wrong $ZERO must not make it build in, or source from, some other directory.
if [[ ! -f $_PROCESS_PLUGIN_DIR/process.plugin.zsh || ! -f $_PROCESS_PLUGIN_DIR/zsh/_process ]]; then
    print -ru2 -- "_process: $_PROCESS_PLUGIN_DIR is not the plugin's directory (set ZERO to this file's path when sourcing it)"
    unset _PROCESS_PLUGIN_DIR
    return 1
fi

# _process_plugin_load: sources the library against the built module (status 1 if not).
_process_plugin_load() {
    emulate -L zsh
    local build=${PROCESS_PLUGIN_BUILD:-$_PROCESS_PLUGIN_DIR/build}
    [[ -f $build/lib/zsh_process/process.so ]] || return 1
    PROCESS_MODULE_PATH=$build/lib source "$_PROCESS_PLUGIN_DIR/zsh/_process"
}

# _process_plugin_build: builds and installs the module into the build directory, which
# must be the user's own and writable by nobody else (its log is written there).
_process_plugin_build() {
    emulate -L zsh
    setopt extendedglob
    local build=${PROCESS_PLUGIN_BUILD:-$_PROCESS_PLUGIN_DIR/build}
    mkdir -p -m 700 -- $build || return 1
    if [[ ! -O $build || -L $build || -n $build(#qNf:o+w:,f:g+w:^g$GID) ]]; then
        print -ru2 -- "_process: refusing to build in $build: not your own directory, or writable by others"
        return 1
    fi
    PREFIX=$build bash "$_PROCESS_PLUGIN_DIR/scripts/install" >| $build/build.log 2>&1
}

# At the first prompt after a background build ends: load, or say where the log is.
_process_plugin_after_build() {
    emulate -L zsh
    kill -0 ${_PROCESS_PLUGIN_BUILDING:-0} 2>/dev/null && return 0
    add-zsh-hook -d precmd _process_plugin_after_build
    unset _PROCESS_PLUGIN_BUILDING
    _process_plugin_load || print -ru2 -- "_process: the build failed; see ${PROCESS_PLUGIN_BUILD:-$_PROCESS_PLUGIN_DIR/build}/build.log"
    unfunction _process_plugin_after_build
}

process_plugin_unload() {
    emulate -L zsh
    (( ${+functions[_process-unload]} )) && _process-unload
    fpath=(${fpath:#$_PROCESS_PLUGIN_DIR/zsh/functions})
    precmd_functions=(${precmd_functions:#_process_plugin_after_build})
    unfunction _process_plugin_load _process_plugin_build _process_plugin_after_build process_plugin_unload 2>/dev/null
    unset _PROCESS_PLUGIN_DIR _PROCESS_PLUGIN_BUILDING
}

() {
    emulate -L zsh
    local functions_dir=$_PROCESS_PLUGIN_DIR/zsh/functions
    if [[ ${zsh_loaded_plugins[-1]-} != */process ]] && (( ! ${fpath[(Ie)$functions_dir]} )); then
        fpath=($functions_dir $fpath)
    fi
    _process_plugin_load 2>/dev/null && return 0
    if (( ! ${+commands[cargo]} )); then
        # The shim's own message (the module is missing), and its module-free parts.
        source "$_PROCESS_PLUGIN_DIR/zsh/_process"
    elif [[ -o interactive ]]; then
        print -ru2 -- "_process: building the native module in the background (once); it loads at the next prompt after that"
        _process_plugin_build &!
        typeset -g _PROCESS_PLUGIN_BUILDING=$!
        autoload -Uz add-zsh-hook
        add-zsh-hook precmd _process_plugin_after_build
    else
        print -ru2 -- "_process: building the native module (once)"
        _process_plugin_build && _process_plugin_load || print -ru2 -- "_process: the build failed; see ${PROCESS_PLUGIN_BUILD:-$_PROCESS_PLUGIN_DIR/build}/build.log"
    fi
}
