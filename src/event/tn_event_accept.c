
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


/* connections accepted per readiness report; the socket is level-triggered */
#define TN_ACCEPT_BATCH  64


static void tn_close_accepted_connection(tn_connection_t *c);


void
tn_event_accept(tn_event_t *ev)
{
    socklen_t          socklen;
    tn_err_t           err;
    tn_uint_t          n, level;
    tn_log_t          *log;
    tn_socket_t        s;
    tn_event_t        *rev, *wev;
    tn_sockaddr_t      sa;
    tn_listening_t    *ls;
    tn_connection_t   *c, *lc;

    if (ev->timedout) {
        if (tn_enable_accept_events((tn_cycle_t *) tn_cycle) != TN_OK) {
            return;
        }

        ev->timedout = 0;
    }

    lc = ev->data;
    ls = lc->listening;
    ev->ready = 0;

    for (n = 0; n < TN_ACCEPT_BATCH; n++) {
        socklen = sizeof(tn_sockaddr_t);

        s = accept4(lc->fd, &sa.sockaddr, &socklen,
                    SOCK_NONBLOCK|SOCK_CLOEXEC);

        if (s == (tn_socket_t) -1) {
            err = tn_socket_errno;

            if (err == TN_EAGAIN || err == TN_EINTR) {
                return;
            }

            if (err == TN_ECONNABORTED) {
                continue;
            }

            level = (err == TN_EMFILE || err == TN_ENFILE)
                    ? TN_LOG_CRIT : TN_LOG_ALERT;

            tn_log_error(level, ev->log, err, "accept4() failed");

            if (err == TN_EMFILE || err == TN_ENFILE) {
                /* stop accepting for a moment to let connections close */
                if (tn_disable_accept_events((tn_cycle_t *) tn_cycle, 1)
                    != TN_OK)
                {
                    return;
                }

                tn_event_add_timer(ev, 500);
            }

            return;
        }

        (void) tn_atomic_fetch_add(tn_connection_counter, 1);

        c = tn_get_connection(s, ev->log);

        if (c == NULL) {
            if (tn_close_socket(s) == -1) {
                tn_log_error(TN_LOG_ALERT, ev->log, tn_socket_errno,
                             "close() socket failed");
            }

            return;
        }

        c->type = SOCK_STREAM;

        c->pool = tn_create_pool(ls->pool_size, ev->log);
        if (c->pool == NULL) {
            tn_close_accepted_connection(c);
            return;
        }

        if (socklen > (socklen_t) sizeof(tn_sockaddr_t)) {
            socklen = sizeof(tn_sockaddr_t);
        }

        c->sockaddr = tn_palloc(c->pool, socklen);
        if (c->sockaddr == NULL) {
            tn_close_accepted_connection(c);
            return;
        }

        tn_memcpy(c->sockaddr, &sa, socklen);

        log = tn_palloc(c->pool, sizeof(tn_log_t));
        if (log == NULL) {
            tn_close_accepted_connection(c);
            return;
        }

        *log = ls->log;

        c->recv = tn_unix_recv;
        c->send = tn_unix_send;

        c->log = log;
        c->pool->log = log;

        c->socklen = socklen;
        c->listening = ls;
        c->local_sockaddr = ls->sockaddr;
        c->local_socklen = ls->socklen;

        rev = c->read;
        wev = c->write;

        wev->ready = 1;

        rev->log = log;
        wev->log = log;

        c->number = tn_atomic_fetch_add(tn_connection_counter, 1);

        c->start_time = tn_current_msec;

        c->addr_text.data = tn_pnalloc(c->pool, TN_SOCKADDR_STRLEN);
        if (c->addr_text.data == NULL) {
            tn_close_accepted_connection(c);
            return;
        }

        c->addr_text.len = tn_sock_ntop(c->sockaddr, c->socklen,
                                        c->addr_text.data,
                                        TN_SOCKADDR_STRLEN, 0);
        if (c->addr_text.len == 0) {
            tn_close_accepted_connection(c);
            return;
        }

        if (tn_add_conn(c) == TN_ERROR) {
            tn_close_accepted_connection(c);
            return;
        }

        log->data = NULL;
        log->handler = NULL;

        ls->handler(c);
    }
}


tn_int_t
tn_enable_accept_events(tn_cycle_t *cycle)
{
    tn_uint_t         i;
    tn_listening_t   *ls;
    tn_connection_t  *c;

    ls = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {

        c = ls[i].connection;

        if (c == NULL || c->read->active) {
            continue;
        }

        if (tn_add_event(c->read, EPOLLIN, 0) == TN_ERROR) {
            return TN_ERROR;
        }
    }

    tn_accept_disabled = 0;

    return TN_OK;
}


tn_int_t
tn_disable_accept_events(tn_cycle_t *cycle, tn_uint_t all)
{
    tn_uint_t         i;
    tn_listening_t   *ls;
    tn_connection_t  *c;

    ls = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {

        c = ls[i].connection;

        if (c == NULL || !c->read->active) {
            continue;
        }

        if (tn_del_event(c->read, TN_READ_EVENT, 0) == TN_ERROR) {
            return TN_ERROR;
        }
    }

    tn_accept_disabled = all;

    return TN_OK;
}


static void
tn_close_accepted_connection(tn_connection_t *c)
{
    tn_socket_t  fd;

    tn_free_connection(c);

    fd = c->fd;
    c->fd = (tn_socket_t) -1;

    if (tn_close_socket(fd) == -1) {
        tn_log_error(TN_LOG_ALERT, c->log, tn_socket_errno,
                     "close() socket failed");
    }

    if (c->pool) {
        tn_destroy_pool(c->pool);
    }
}


u_char *
tn_accept_log_error(tn_log_t *log, u_char *buf, size_t len)
{
    return tn_snprintf(buf, len, " while accepting new connection on %V",
                       log->data);
}
