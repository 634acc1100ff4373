
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


tn_int_t
tn_daemon(tn_log_t *log)
{
    int  fd;

    switch (fork()) {
    case -1:
        tn_log_error(TN_LOG_EMERG, log, tn_errno, "fork() failed");
        return TN_ERROR;

    case 0:
        break;

    default:
        exit(0);
    }

    tn_parent = tn_pid;
    tn_pid = tn_getpid();

    if (setsid() == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno, "setsid() failed");
        return TN_ERROR;
    }

    umask(0);

    fd = open("/dev/null", O_RDWR);
    if (fd == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "open(\"/dev/null\") failed");
        return TN_ERROR;
    }

    if (dup2(fd, STDIN_FILENO) == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno, "dup2(STDIN) failed");
        return TN_ERROR;
    }

    if (dup2(fd, STDOUT_FILENO) == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno, "dup2(STDOUT) failed");
        return TN_ERROR;
    }

    if (fd > STDERR_FILENO) {
        if (close(fd) == -1) {
            tn_log_error(TN_LOG_EMERG, log, tn_errno, "close() failed");
            return TN_ERROR;
        }
    }

    return TN_OK;
}


int
tn_tcp_nodelay(tn_socket_t s)
{
    int  nodelay = 1;

    return setsockopt(s, IPPROTO_TCP, TCP_NODELAY,
                      (const void *) &nodelay, sizeof(int));
}
