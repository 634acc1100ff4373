
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


typedef struct {
    int     signo;
    char   *signame;
    char   *name;
    void  (*handler)(int signo, siginfo_t *siginfo, void *ucontext);
} tn_signal_t;


static void tn_signal_handler(int signo, siginfo_t *siginfo, void *ucontext);
static void tn_process_get_status(void);
static void tn_init_setproctitle(void);


/* the longest command line kept for the master's title */
#define TN_PROCTITLE_MAX  4096

extern char  **environ;

static tn_uint_t   tn_proctitle_ready;
static char       *tn_proctitle_start;
static char       *tn_proctitle_end;
static char       *tn_proctitle_saved;


tn_uint_t      tn_process;
tn_uint_t      tn_worker;
tn_pid_t       tn_pid;
tn_pid_t       tn_parent;
tn_int_t       tn_last_process;
tn_process_t   tn_processes[TN_MAX_PROCESSES];
tn_int_t       tn_process_slot;

sig_atomic_t   tn_reap;
sig_atomic_t   tn_sigio;
sig_atomic_t   tn_sigalrm;
sig_atomic_t   tn_quit;
sig_atomic_t   tn_terminate;
sig_atomic_t   tn_reconfigure;
sig_atomic_t   tn_reopen;
sig_atomic_t   tn_run_jobs;
sig_atomic_t   tn_exiting;
tn_uint_t      tn_daemonized;


static tn_signal_t  signals[] = {
    { SIGHUP, "SIGHUP", "reload", tn_signal_handler },
    { SIGUSR1, "SIGUSR1", "reopen", tn_signal_handler },
    { SIGUSR2, "SIGUSR2", "", tn_signal_handler },
    { SIGTERM, "SIGTERM", "stop", tn_signal_handler },
    { SIGQUIT, "SIGQUIT", "quit", tn_signal_handler },
    { SIGALRM, "SIGALRM", "", tn_signal_handler },
    { SIGINT, "SIGINT", "", tn_signal_handler },
    { SIGIO, "SIGIO", "", tn_signal_handler },
    { SIGCHLD, "SIGCHLD", "", tn_signal_handler },
    { SIGSYS, "SIGSYS, SIG_IGN", "", NULL },
    { SIGPIPE, "SIGPIPE, SIG_IGN", "", NULL },
    { 0, NULL, "", NULL }
};


tn_pid_t
tn_spawn_process(tn_cycle_t *cycle, tn_spawn_proc_pt proc, void *data,
    char *name, tn_int_t worker)
{
    tn_pid_t  pid;
    tn_int_t  s;

    for (s = 0; s < tn_last_process; s++) {
        if (tn_processes[s].pid == -1) {
            break;
        }
    }

    if (s == TN_MAX_PROCESSES) {
        tn_log_error(TN_LOG_ALERT, cycle->log, 0,
                     "no more than %d processes can be spawned",
                     TN_MAX_PROCESSES);
        return TN_INVALID_PID;
    }

    tn_worker = worker;
    tn_process_slot = s;

    pid = fork();

    switch (pid) {

    case -1:
        tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                     "fork() failed while spawning \"%s\"", name);
        return TN_INVALID_PID;

    case 0:
        tn_parent = tn_pid;
        tn_pid = tn_getpid();
        proc(cycle, data);
        break;

    default:
        break;
    }

    tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "start %s %d",
                 name, (int) pid);

    tn_processes[s].pid = pid;
    tn_processes[s].exited = 0;
    tn_processes[s].exiting = 0;
    tn_processes[s].respawn = 1;
    tn_processes[s].proc = proc;
    tn_processes[s].data = data;
    tn_processes[s].name = name;
    tn_processes[s].worker = worker;

    if (s == tn_last_process) {
        tn_last_process++;
    }

    return pid;
}


tn_int_t
tn_init_signals(tn_log_t *log)
{
    tn_signal_t       *sig;
    struct sigaction   sa;

    for (sig = signals; sig->signo != 0; sig++) {
        tn_memzero(&sa, sizeof(struct sigaction));

        if (sig->handler) {
            sa.sa_sigaction = sig->handler;
            sa.sa_flags = SA_SIGINFO;

        } else {
            sa.sa_handler = SIG_IGN;
        }

        sigemptyset(&sa.sa_mask);
        if (sigaction(sig->signo, &sa, NULL) == -1) {
            tn_log_error(TN_LOG_EMERG, log, tn_errno,
                         "sigaction(%s) failed", sig->signame);
            return TN_ERROR;
        }
    }

    return TN_OK;
}


static void
tn_signal_handler(int signo, siginfo_t *siginfo, void *ucontext)
{
    tn_err_t  err;

    err = tn_errno;

    switch (tn_process) {

    case TN_PROCESS_MASTER:
        switch (signo) {

        case SIGQUIT:
            tn_quit = 1;
            break;

        case SIGTERM:
        case SIGINT:
            tn_terminate = 1;
            break;

        case SIGHUP:
            tn_reconfigure = 1;
            break;

        case SIGUSR1:
            tn_reopen = 1;
            break;

        case SIGUSR2:
            tn_run_jobs = 1;
            break;

        case SIGALRM:
            tn_sigalrm = 1;
            break;

        case SIGIO:
            tn_sigio = 1;
            break;

        case SIGCHLD:
            tn_reap = 1;
            break;
        }

        break;

    case TN_PROCESS_WORKER:
    case TN_PROCESS_HELPER:
        switch (signo) {

        case SIGQUIT:
            tn_quit = 1;
            break;

        case SIGTERM:
        case SIGINT:
            tn_terminate = 1;
            break;

        case SIGUSR1:
            tn_reopen = 1;
            break;

        case SIGUSR2:
            /* only the housekeeper looks at it */
            tn_run_jobs = 1;
            break;
        }

        break;
    }

    tn_set_errno(err);
}


/* called by the master with signals blocked, after SIGCHLD */
void
tn_process_reap(void)
{
    tn_process_get_status();
}


static void
tn_process_get_status(void)
{
    int              status;
    char            *name;
    tn_pid_t         pid;
    tn_err_t         err;
    tn_int_t         i;
    tn_uint_t        one, level;

    one = 0;

    for ( ;; ) {
        pid = waitpid(-1, &status, WNOHANG);

        if (pid == 0) {
            return;
        }

        if (pid == -1) {
            err = tn_errno;

            if (err == TN_EINTR) {
                continue;
            }

            if (err == TN_ECHILD && one) {
                return;
            }

            if (err != TN_ECHILD) {
                tn_log_error(TN_LOG_ALERT, tn_cycle->log, err,
                             "waitpid() failed");
            }

            return;
        }

        one = 1;
        name = "unknown process";

        for (i = 0; i < tn_last_process; i++) {
            if (tn_processes[i].pid == pid) {
                tn_processes[i].status = status;
                tn_processes[i].exited = 1;
                name = tn_processes[i].name;
                break;
            }
        }

        if (WIFSIGNALED(status)) {
            switch (WTERMSIG(status)) {
            case SIGSEGV:
            case SIGBUS:
            case SIGILL:
            case SIGFPE:
            case SIGABRT:
                level = TN_LOG_ALERT;
                break;
            default:
                level = TN_LOG_ERR;
            }

            tn_log_error(level, tn_cycle->log, 0,
                         "%s %d exited on signal %d%s",
                         name, (int) pid, WTERMSIG(status),
                         WCOREDUMP(status) ? " (core dumped)" : "");

        } else if (WEXITSTATUS(status) != 0) {
            tn_log_error(TN_LOG_ALERT, tn_cycle->log, 0,
                         "%s %d exited with fatal code %d "
                         "and cannot be respawned",
                         name, (int) pid, WEXITSTATUS(status));

            if (i < tn_last_process) {
                tn_processes[i].respawn = 0;
            }

        } else {
            tn_log_error(TN_LOG_NOTICE, tn_cycle->log, 0,
                         "%s %d exited with code 0", name, (int) pid);
        }
    }
}


/*
 * The title ps shows.  The kernel's name of the process (ps -e, top) is
 * 15 bytes long; the command line (ps -ef, /proc/PID/cmdline) is the
 * area that holds argv, which is overwritten as nginx does: the
 * environment strings that follow argv move to the heap first, so a
 * title may use their room too.  The master's title keeps the original
 * command line after it.
 */
void
tn_setproctitle(char *title)
{
    size_t  len;

    if (!tn_proctitle_ready) {
        tn_init_setproctitle();
    }

#ifdef PR_SET_NAME
    (void) prctl(PR_SET_NAME, title, 0, 0, 0);
#endif

    if (tn_proctitle_start == NULL) {
        return;
    }

    len = tn_min(strlen(title), (size_t) (tn_proctitle_end
                                          - tn_proctitle_start - 1));

    tn_memcpy(tn_proctitle_start, title, len);
    tn_memzero(tn_proctitle_start + len,
               tn_proctitle_end - tn_proctitle_start - len);
}


/* the command line the process was started with, arguments by spaces */
char *
tn_proctitle_args(void)
{
    if (!tn_proctitle_ready) {
        tn_init_setproctitle();
    }

    return tn_proctitle_saved ? tn_proctitle_saved : "";
}


static void
tn_init_setproctitle(void)
{
    int       fd;
    char     *start, *last, *env, *buf;
    size_t    size;
    ssize_t   n;
    tn_int_t  i;

    tn_proctitle_ready = 1;

    buf = malloc(TN_PROCTITLE_MAX);
    if (buf == NULL) {
        return;
    }

    fd = open("/proc/self/cmdline", O_RDONLY|O_CLOEXEC);
    if (fd == -1) {
        free(buf);
        return;
    }

    n = read(fd, buf, TN_PROCTITLE_MAX - 1);

    (void) close(fd);

    start = program_invocation_name;

    /* argv[0] must be what the kernel says: else only the name is set */
    if (n <= 0 || start == NULL || memcmp(start, buf, n) != 0) {
        free(buf);
        return;
    }

    last = start + n;

    for (i = 0; environ[i]; i++) {
        if (environ[i] != last) {
            break;
        }

        size = strlen(environ[i]) + 1;

        env = malloc(size);
        if (env == NULL) {
            break;
        }

        tn_memcpy(env, environ[i], size);
        environ[i] = env;

        last += size;
    }

    /* the saved copy reads "ARG0 ARG1 ..." */
    for (i = 0; i < n - 1; i++) {
        if (buf[i] == '\0') {
            buf[i] = ' ';
        }
    }

    buf[n - 1] = '\0';

    tn_proctitle_saved = buf;
    tn_proctitle_start = start;
    tn_proctitle_end = last;
}
