/*
 * The few pieces of zsh's module API that are C macros, or need C's own stdio,
 * wrapped as plain functions for the Rust side (src/zsh/ffi.rs).
 */
#include "zsh_api.h"
#include <limits.h>
#include <poll.h>

const char *zp_header_version(void) { return ZSH_VERSION; }

/* zsh flushes C's stdout after every builtin: writing through it keeps output in order
 * with the shell's own and correct inside $(...) and redirections. C's stdio does not
 * retry a write a signal interrupted, so Ctrl-C ends a write to a stalled pipe. */
void zp_stdout_write(const char *buf, size_t len) { fwrite(buf, 1, len, stdout); }
int zp_stdout_flush(void) { return fflush(stdout); }
/*
 * Waits until `fd` takes a write without blocking, with signals let through (a trap runs;
 * Ctrl-C ends the wait), or until `stop_fd` (the signalfd of a builtin that holds its stop
 * signals blocked: a monitor, a supervisor) becomes readable. 0: write now; 1: give up.
 * For a pipe or a terminal, "writable" means room for PIPE_BUF bytes, so a write of at
 * most that much does not block.
 */
static int
zp_wait_writable(int fd, int stop_fd)
{
    struct pollfd p[2];

    p[0].fd = fd;
    p[0].events = POLLOUT;
    p[1].fd = stop_fd;
    p[1].events = POLLIN;
    for (;;) {
	long seen = zp_sigint_seen();
	int q, n;

	p[0].revents = p[1].revents = 0;
	q = zp_let_signals_through();
	n = poll(p, 2, 100);
	zp_restore_signal_queueing(q);
	if ((errflag & ERRFLAG_INT) || zp_sigint_seen() != seen)
	    return 1;
	if (n > 0)
	    return (p[1].revents & POLLIN) ? 1 : 0;
	if (n < 0 && errno != EINTR)
	    return 0;
    }
}

/* Writes all of `buf` to `fd` as zp_wait_writable allows; 0 when all of it went out. */
static int
zp_write_all(int fd, const char *buf, size_t len, int stop_fd)
{
    while (len > 0) {
	long seen = zp_sigint_seen();
	size_t chunk = len;
	ssize_t n;
	int q;

	if (stop_fd >= 0) {
	    if (zp_wait_writable(fd, stop_fd))
		return 1;
	    if (chunk > PIPE_BUF)
		chunk = PIPE_BUF;
	}
	q = zp_let_signals_through();
	n = write(fd, buf, chunk);
	zp_restore_signal_queueing(q);
	if (n > 0) {
	    buf += n;
	    len -= n;
	} else if (!(n < 0 && errno == EINTR && !(errflag & ERRFLAG_INT) && zp_sigint_seen() == seen))
	    return 1;
    }
    return 0;
}

/*
 * One message line, written straight to fd 2 (after anything zsh still buffers there):
 * not through the stderr FILE, which a trap may be writing to, and whose error flag
 * would make zsh end a script with "write error". A write to a stalled pipe is a wait:
 * signals are let through for it, so a trap runs and the write goes on; Ctrl-C ends it,
 * and so does a stop signal arriving on `stop_fd` (-1: none).
 */
void
zp_stderr_write(const char *buf, size_t len, int stop_fd)
{
    fflush(stderr);
    zp_write_all(2, buf, len, stop_fd);
}

/*
 * Output that must show at once (a monitor's CSV to -): stdout flushed, then `buf`
 * written to its descriptor, interruptible as above. 0 when written; 1 when given up
 * (Ctrl-C, a stop signal); -1 on a write error.
 */
int
zp_stdout_write_now(const char *buf, size_t len, int stop_fd)
{
    long seen = zp_sigint_seen();

    if (stop_fd >= 0 && zp_wait_writable(fileno(stdout), stop_fd))
	return 1;
    if (fflush(stdout) != 0)
	return -1;
    if (zp_write_all(fileno(stdout), buf, len, stop_fd) == 0)
	return 0;
    return (errflag & ERRFLAG_INT) || zp_sigint_seen() != seen || stop_fd >= 0 ? 1 : -1;
}

/*
 * Signals. zsh runs a builtin with its signals *not* queued (execbuiltin is called after
 * dont_queue_signals()), so a trap can run from the signal handler in the middle of
 * whatever the builtin does: allocating, writing, holding state. The module queues them
 * for the whole builtin, as zsh's own code does around such work, and lets them through
 * only around a wait (read1char's pattern in Src/utils.c), where a trap is harmless.
 */
void zp_queue_signals(void) { queue_signals(); }
void zp_unqueue_signals(void) { unqueue_signals(); }

/*
 * Ctrl-C with an INT trap set. zsh then runs the trap and, unlike an untrapped Ctrl-C,
 * leaves errflag alone, so a builtin's wait would carry on after it (zsh's own `wait`
 * notes the signal instead, in last_signal, which anything arriving later overwrites).
 * While signals are let through, a handler ahead of zsh's counts each SIGINT and then
 * calls zsh's, so a wait that saw one ends as Ctrl-C ends it, once the trap has run.
 * It is put in by the outermost window only, and taken out only if it is still there: a
 * trap that changed INT's handling meanwhile keeps what it set.
 */
static volatile sig_atomic_t zp_sigint_count;
static struct sigaction zp_sigint_previous;
static int zp_window_depth, zp_sigint_hooked;

static void
zp_count_sigint(int sig, siginfo_t *info, void *ctx)
{
    zp_sigint_count++;
    if (zp_sigint_previous.sa_flags & SA_SIGINFO)
	zp_sigint_previous.sa_sigaction(sig, info, ctx);
    else
	zp_sigint_previous.sa_handler(sig);
}

static void
zp_hook_sigint(void)
{
    struct sigaction ours;
    int i;

    /* An INT zsh queued before the window opens is run by dont_queue_signals, which
     * calls zsh's handler directly: count it here. */
    for (i = queue_front; i != queue_rear;) {
	i = (i + 1) % MAX_QUEUE_SIZE;
	if (signal_queue[i] == SIGINT)
	    zp_sigint_count++;
    }
    if (sigaction(SIGINT, NULL, &zp_sigint_previous) != 0 ||
	(!(zp_sigint_previous.sa_flags & SA_SIGINFO) &&
	 (zp_sigint_previous.sa_handler == SIG_DFL || zp_sigint_previous.sa_handler == SIG_IGN)))
	return;			/* no handler to go ahead of: INT ends or skips the shell */
    ours = zp_sigint_previous;
    ours.sa_sigaction = zp_count_sigint;
    ours.sa_flags = (zp_sigint_previous.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    zp_sigint_hooked = sigaction(SIGINT, &ours, NULL) == 0;
}

static void
zp_unhook_sigint(void)
{
    struct sigaction now;

    if (zp_sigint_hooked && sigaction(SIGINT, NULL, &now) == 0 &&
	(now.sa_flags & SA_SIGINFO) && now.sa_sigaction == zp_count_sigint)
	sigaction(SIGINT, &zp_sigint_previous, NULL);
    zp_sigint_hooked = 0;
}

/* How many SIGINTs the shell has had during windows so far. */
long zp_sigint_seen(void) { return zp_sigint_count; }

int
zp_let_signals_through(void)
{
    int q = queue_signal_level();

    if (zp_window_depth++ == 0)
	zp_hook_sigint();
    dont_queue_signals();
    return q;
}

void
zp_restore_signal_queueing(int q)
{
    restore_queue_signals(q);
    if (--zp_window_depth == 0)
	zp_unhook_sigint();
}

int zp_function_exists(char *name) { return getshfunc(name) != NULL; }

/* True when NAME (metafied) is one of the shell's special parameters ($options, $path,
 * $signals...): an array or a hash of ours must not be assigned over one, whose setter
 * would refuse it element by element. */
int
zp_param_is_special(char *name)
{
    Param pm = (Param) paramtab->getnode(paramtab, name);

    return pm && (pm->node.flags & PM_SPECIAL);
}

/* Sets the scalar NAME (metafied) to VALUE unless it is set and not empty, as
 * `: ${NAME:=VALUE}` would, globally and without WARN_CREATE_GLOBAL's warning. */
void
zp_set_default(char *name, char *value)
{
    char *current = getsparam(name);

    if (current && *current)
	return;
    assignsparam(name, ztrdup(value), 0);
}

/*
 * Signals a builtin blocked for itself (a monitor or supervisor reads TERM,
 * INT and HUP from a signalfd) are unblocked while shell code runs, so that commands a
 * handler starts do not inherit them blocked. One that arrives meanwhile must not kill
 * the shell halfway through (a supervisor would leave its service orphaned): it is
 * recorded here and raised again, into the signalfd, once the call is over.
 */
static const int zp_deferrable[] = { SIGTERM, SIGINT, SIGHUP };
#define ZP_NDEFER ((int) (sizeof(zp_deferrable) / sizeof(*zp_deferrable)))
static volatile sig_atomic_t zp_deferred[ZP_NDEFER];

static void
zp_defer_signal(int sig)
{
    int i;

    for (i = 0; i < ZP_NDEFER; i++)
	if (zp_deferrable[i] == sig)
	    zp_deferred[i] = 1;
}

/*
 * Call the shell function NAME with the metafied, NULL-terminated ARGS ($1...).
 * Returns 0 and the function's status in *status, or -1 when no such function exists.
 *
 * The call is isolated both ways:
 * - with SHELL_MASK (the mask zsh had when it entered a builtin that then blocked
 *   signals), the function runs with it, not the builtin's (see above); the builtin gets
 *   its mask back after in any case;
 * - errexit and errreturn are off while it runs and a handler's error does not abort the
 *   builtin (a failing handler must not end the script that emitted the event); Ctrl-C
 *   is kept.
 */
int zp_call_function(char *name, char **args, int *status, const sigset_t *shell_mask)
{
    Shfunc shf = getshfunc(name);
    LinkList list;
    char **ap;
    int saved_errflag = errflag, i, q, deferring[ZP_NDEFER];
    char saved_errexit = opts[ERREXIT], saved_errreturn = opts[ERRRETURN];
    zlong saved_lastval = lastval;
    sigset_t builtin_mask;
    struct sigaction defer, previous[ZP_NDEFER];

    if (!shf)
        return -1;
    sigprocmask(SIG_SETMASK, NULL, &builtin_mask);
    memset(&defer, 0, sizeof(defer));
    defer.sa_handler = zp_defer_signal;
    sigemptyset(&defer.sa_mask);
    for (i = 0; i < ZP_NDEFER; i++) {
	int sig = zp_deferrable[i];
	zp_deferred[i] = 0;
	deferring[i] = shell_mask && sigismember(&builtin_mask, sig) && !sigismember(shell_mask, sig);
	if (deferring[i])
	    sigaction(sig, &defer, &previous[i]);
    }
    if (shell_mask)
	sigprocmask(SIG_SETMASK, shell_mask, NULL);
    opts[ERREXIT] = opts[ERRRETURN] = 0;
    list = znewlinklist();
    zaddlinknode(list, ztrdup(name));
    for (ap = args; ap && *ap; ap++)
        zaddlinknode(list, ztrdup(*ap));
    /* Shell code runs with signals let through, as zsh runs a function (execfuncdef). */
    q = queue_signal_level();
    dont_queue_signals();
    *status = doshfunc(shf, list, 1);
    restore_queue_signals(q);
    freelinklist(list, freestr);
    opts[ERREXIT] = saved_errexit;
    opts[ERRRETURN] = saved_errreturn;
    lastval = saved_lastval;
    errflag = saved_errflag | (errflag & ERRFLAG_INT);
    sigprocmask(SIG_SETMASK, &builtin_mask, NULL);
    for (i = 0; i < ZP_NDEFER; i++) {
	if (!deferring[i])
	    continue;
	sigaction(zp_deferrable[i], &previous[i], NULL);
	if (zp_deferred[i])
	    raise(zp_deferrable[i]);	/* blocked again: pending, for the signalfd */
    }
    return 0;
}

/* Ctrl-C while a builtin waits: zsh sets ERRFLAG_INT in errflag. */
int zp_errflag_interrupted(void) { return (errflag & ERRFLAG_INT) != 0; }

/*
 * $_PROCESS_GROUPS: a read-only special associative array (as zsh/parameter's
 * $builtins), group name -> members separated by spaces. Every lookup reads the groups
 * under $PROCESS_STATE_DIR afresh (src/zsh/params.rs), so what another shell or a
 * $(...) subshell changed is seen at once.
 */
char *zp_group_value(const char *name);	/* Rust: zsh heap string, or NULL */
char **zp_group_names(void);			/* Rust: zsh heap array */

static HashNode
getpmgroup(UNUSED(HashTable ht), const char *name)
{
    Param pm = (Param) hcalloc(sizeof(struct param));
    char *value;

    queue_signals();
    value = zp_group_value(name);
    unqueue_signals();

    pm->node.nam = dupstring(name);
    pm->node.flags = PM_SCALAR | PM_READONLY;
    pm->gsu.s = &nullsetscalar_gsu;
    if (value)
	pm->u.str = value;
    else {
	pm->u.str = dupstring("");
	pm->node.flags |= PM_UNSET;
    }
    return &pm->node;
}

static void
scanpmgroups(UNUSED(HashTable ht), ScanFunc func, int flags)
{
    struct param pm;
    char **names;

    queue_signals();
    names = zp_group_names();
    unqueue_signals();

    memset(&pm, 0, sizeof(pm));
    pm.node.flags = PM_SCALAR | PM_READONLY;
    pm.gsu.s = &nullsetscalar_gsu;
    for (; names && *names; names++) {
	pm.node.nam = *names;
	if (func != scancountparams &&
	    ((flags & (SCANPM_WANTVALS|SCANPM_MATCHVAL)) ||
	     !(flags & SCANPM_WANTKEYS))) {
	    char *value;

	    queue_signals();
	    value = zp_group_value(*names);
	    unqueue_signals();
	    pm.u.str = value ? value : dupstring("");
	}
	func(&pm.node, flags);
    }
}

static struct paramdef zp_partab[] = {
    SPECIALPMDEF("_PROCESS_GROUPS", PM_READONLY_SPECIAL, NULL, getpmgroup, scanpmgroups),
};

struct paramdef *zp_paramdefs(int *count)
{
    *count = sizeof(zp_partab) / sizeof(*zp_partab);
    return zp_partab;
}
