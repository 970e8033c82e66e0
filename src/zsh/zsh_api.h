/* The one way zsh's headers can be included from a module: zsh.mdh, with MODULE
 * defined and the main module's import marker set (see the zsh module facts). */
#ifndef ZSH_PROCESS_API_H
#define ZSH_PROCESS_API_H
#define MODULE
#define IMPORTING_MODULE_zshQsmain 1
#include <zsh/zsh.mdh>
#include <zsh/version.h>

/* Glue for the parts of zsh's API that are macros or need C's stdio (glue.c). */
const char *zp_header_version(void);
void zp_stdout_write(const char *buf, size_t len);
int zp_stdout_flush(void);
void zp_stderr_write(const char *buf, size_t len, int stop_fd);
int zp_stdout_write_now(const char *buf, size_t len, int stop_fd);
int zp_call_function(char *name, char **args, int *status, const sigset_t *shell_mask);
int zp_function_exists(char *name);
int zp_param_is_special(char *name);
void zp_set_default(char *name, char *value);
int zp_errflag_interrupted(void);
void zp_queue_signals(void);
void zp_unqueue_signals(void);
int zp_let_signals_through(void);
void zp_restore_signal_queueing(int q);
long zp_sigint_seen(void);
struct paramdef *zp_paramdefs(int *count);
#endif
