
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


tn_int_t
tn_event_connect_peer(tn_peer_connection_t *pc)
{
    int                rc;
    tn_err_t           err;
    tn_uint_t          level;
    tn_socket_t        s;
    tn_connection_t   *c;

    s = tn_socket(pc->sockaddr->sa_family,
                  SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);

    if (s == (tn_socket_t) -1) {
        tn_log_error(TN_LOG_ALERT, pc->log, tn_socket_errno,
                     "socket() failed");
        return TN_ERROR;
    }

    c = tn_get_connection(s, pc->log);

    if (c == NULL) {
        if (tn_close_socket(s) == -1) {
            tn_log_error(TN_LOG_ALERT, pc->log, tn_socket_errno,
                         "close() socket failed");
        }

        return TN_ERROR;
    }

    c->type = SOCK_STREAM;

    if (pc->local
        && bind(s, pc->local->sockaddr, pc->local->socklen) == -1)
    {
        tn_log_error(TN_LOG_CRIT, pc->log, tn_socket_errno,
                     "bind(%V) failed", &pc->local->name);
        goto failed;
    }

    c->recv = tn_unix_recv;
    c->send = tn_unix_send;

    c->log = pc->log;
    c->read->log = pc->log;
    c->write->log = pc->log;

    pc->connection = c;

    c->number = tn_atomic_fetch_add(tn_connection_counter, 1);

    if (tn_add_conn(c) == TN_ERROR) {
        goto failed;
    }

    rc = connect(s, pc->sockaddr, pc->socklen);

    if (rc == -1) {
        err = tn_socket_errno;

        if (err != TN_EINPROGRESS) {
            if (err == TN_ECONNREFUSED || err == TN_ECONNRESET
                || err == TN_ETIMEDOUT || err == ENETDOWN
                || err == ENETUNREACH || err == EHOSTDOWN
                || err == EHOSTUNREACH)
            {
                level = TN_LOG_ERR;

            } else {
                level = TN_LOG_CRIT;
            }

            tn_log_error(level, c->log, err, "connect() to %V failed",
                         pc->name);

            tn_close_connection(c);
            pc->connection = NULL;

            return TN_DECLINED;
        }

        return TN_AGAIN;
    }

    c->write->ready = 1;

    return TN_OK;

failed:

    tn_close_connection(c);
    pc->connection = NULL;

    return TN_ERROR;
}
