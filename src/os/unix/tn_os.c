
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


tn_int_t   tn_ncpu;
tn_int_t   tn_max_sockets;
tn_uint_t  tn_inherited_nonblocking;


typedef struct {
    int     signo;
    char   *name;
} tn_os_signal_t;


static tn_os_signal_t  tn_os_signals[] = {
    { SIGHUP,  "reload" },
    { SIGUSR1, "reopen" },
    { SIGQUIT, "quit" },
    { SIGTERM, "stop" },
    { 0, NULL }
};


tn_int_t
tn_os_init(tn_log_t *log)
{
    struct rlimit  rlmt;

    tn_pagesize = getpagesize();

    tn_ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (tn_ncpu < 1) {
        tn_ncpu = 1;
    }

    if (getrlimit(RLIMIT_NOFILE, &rlmt) == -1) {
        tn_log_error(TN_LOG_ALERT, log, errno,
                     "getrlimit(RLIMIT_NOFILE) failed");
        return TN_ERROR;
    }

    tn_max_sockets = (tn_int_t) rlmt.rlim_cur;

    return TN_OK;
}


void
tn_os_status(tn_log_t *log)
{
    tn_log_error(TN_LOG_NOTICE, log, 0, TN_VER);
}


tn_int_t
tn_os_signal_process(tn_cycle_t *cycle, char *name, tn_pid_t pid)
{
    tn_os_signal_t  *sig;

    for (sig = tn_os_signals; sig->signo != 0; sig++) {
        if (tn_strcmp(name, sig->name) == 0) {
            if (kill(pid, sig->signo) != -1) {
                return 0;
            }

            tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                         "kill(%d, %d) failed", (int) pid, sig->signo);
        }
    }

    return 1;
}
