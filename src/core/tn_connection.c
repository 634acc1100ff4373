
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


static void tn_drain_connections(tn_cycle_t *cycle);


tn_listening_t *
tn_create_listening(tn_conf_t *cf, struct sockaddr *sockaddr,
    socklen_t socklen)
{
    size_t           len;
    tn_listening_t  *ls;
    struct sockaddr *sa;
    u_char           text[TN_SOCKADDR_STRLEN];

    ls = tn_array_push(&cf->cycle->listening);
    if (ls == NULL) {
        return NULL;
    }

    tn_memzero(ls, sizeof(tn_listening_t));

    sa = tn_palloc(cf->pool, socklen);
    if (sa == NULL) {
        return NULL;
    }

    tn_memcpy(sa, sockaddr, socklen);

    ls->sockaddr = sa;
    ls->socklen = socklen;

    len = tn_sock_ntop(sa, socklen, text, TN_SOCKADDR_STRLEN, 1);
    ls->addr_text.len = len;

    ls->addr_text.data = tn_pnalloc(cf->pool, len);
    if (ls->addr_text.data == NULL) {
        return NULL;
    }

    tn_memcpy(ls->addr_text.data, text, len);

    ls->fd = (tn_socket_t) -1;
    ls->type = SOCK_STREAM;

    ls->backlog = 511;
    ls->reuseport = 1;

    return ls;
}


tn_int_t
tn_clone_listening(tn_cycle_t *cycle, tn_listening_t *ls)
{
    tn_int_t         n;
    tn_listening_t   ols;
    tn_core_conf_t  *ccf;

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    ols = *ls;

    for (n = 1; n < ccf->worker_processes; n++) {

        /* create a socket for each worker process */

        ls = tn_array_push(&cycle->listening);
        if (ls == NULL) {
            return TN_ERROR;
        }

        *ls = ols;
        ls->worker = n;
    }

    return TN_OK;
}


static tn_int_t
tn_open_listening_socket(tn_cycle_t *cycle, tn_listening_t *ls)
{
    int           reuseaddr;
    tn_err_t      err;
    tn_socket_t   s;

    reuseaddr = 1;

    s = tn_socket(ls->sockaddr->sa_family, ls->type | SOCK_CLOEXEC, 0);

    if (s == (tn_socket_t) -1) {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_socket_errno,
                     "socket() %V failed", &ls->addr_text);
        return TN_ERROR;
    }

    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR,
                   (const void *) &reuseaddr, sizeof(int)) == -1)
    {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_socket_errno,
                     "setsockopt(SO_REUSEADDR) %V failed", &ls->addr_text);
        goto failed;
    }

    if (ls->reuseport
        && setsockopt(s, SOL_SOCKET, SO_REUSEPORT,
                      (const void *) &reuseaddr, sizeof(int)) == -1)
    {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_socket_errno,
                     "setsockopt(SO_REUSEPORT) %V failed", &ls->addr_text);
        goto failed;
    }

    if (ls->sockaddr->sa_family == AF_INET6) {
        int  ipv6only = 1;

        if (setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY,
                       (const void *) &ipv6only, sizeof(int)) == -1)
        {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_socket_errno,
                         "setsockopt(IPV6_V6ONLY) %V failed, ignored",
                         &ls->addr_text);
        }
    }

    if (tn_nonblocking(s) == -1) {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_socket_errno,
                     "nonblocking %V failed", &ls->addr_text);
        goto failed;
    }

    if (bind(s, ls->sockaddr, ls->socklen) == -1) {
        err = tn_socket_errno;

        tn_log_error(TN_LOG_EMERG, cycle->log, err,
                     "bind() to %V failed", &ls->addr_text);

        (void) tn_close_socket(s);

        return (err == TN_EADDRINUSE) ? TN_AGAIN : TN_ERROR;
    }

    if (listen(s, ls->backlog) == -1) {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_socket_errno,
                     "listen() to %V, backlog %d failed",
                     &ls->addr_text, ls->backlog);
        goto failed;
    }

    ls->listen = 1;
    ls->fd = s;

    return TN_OK;

failed:

    (void) tn_close_socket(s);

    return TN_ERROR;
}


tn_int_t
tn_open_listening_sockets(tn_cycle_t *cycle)
{
    tn_int_t         rc;
    tn_uint_t        tries, failed, i;
    tn_listening_t  *ls;

    /* a port in TIME_WAIT use by a previous instance may need a moment */

    for (tries = 5; tries; tries--) {
        failed = 0;

        ls = cycle->listening.elts;
        for (i = 0; i < cycle->listening.nelts; i++) {

            if (ls[i].ignore || ls[i].fd != (tn_socket_t) -1) {
                continue;
            }

            rc = tn_open_listening_socket(cycle, &ls[i]);

            if (rc == TN_ERROR) {
                return TN_ERROR;
            }

            if (rc == TN_AGAIN) {
                failed = 1;
            }
        }

        if (!failed) {
            break;
        }

        tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "try again to bind()");

        tn_msleep(500);
    }

    if (failed) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0, "still could not bind()");
        return TN_ERROR;
    }

    return TN_OK;
}


void
tn_configure_listening_sockets(tn_cycle_t *cycle)
{
    tn_uint_t        i;
    tn_listening_t  *ls;

    ls = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {

        ls[i].log = *ls[i].logp;

        if (ls[i].listen && ls[i].previous
            && listen(ls[i].fd, ls[i].backlog) == -1)
        {
            tn_log_error(TN_LOG_ALERT, cycle->log, tn_socket_errno,
                         "listen() to %V, backlog %d failed, ignored",
                         &ls[i].addr_text, ls[i].backlog);
        }
    }
}


void
tn_close_listening_sockets(tn_cycle_t *cycle)
{
    tn_uint_t         i;
    tn_listening_t   *ls;
    tn_connection_t  *c;

    tn_accept_disabled = 1;

    ls = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {

        c = ls[i].connection;

        if (c) {
            if (c->read->active) {
                tn_del_event(c->read, TN_READ_EVENT, TN_CLOSE_EVENT);
            }

            tn_free_connection(c);

            c->fd = (tn_socket_t) -1;
        }

        if (ls[i].fd != (tn_socket_t) -1
            && tn_close_socket(ls[i].fd) == -1)
        {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_socket_errno,
                         "close() socket %V failed", &ls[i].addr_text);
        }

        ls[i].fd = (tn_socket_t) -1;
    }

    cycle->listening.nelts = 0;
}


tn_connection_t *
tn_get_connection(tn_socket_t s, tn_log_t *log)
{
    tn_uint_t         instance;
    tn_event_t       *rev, *wev;
    tn_connection_t  *c;

    if (tn_cycle->files && (tn_uint_t) s >= tn_cycle->files_n) {
        tn_log_error(TN_LOG_ALERT, log, 0,
                     "the new socket has number %d, "
                     "but only %ui files are available",
                     s, tn_cycle->files_n);
        return NULL;
    }

    tn_drain_connections((tn_cycle_t *) tn_cycle);

    c = tn_cycle->free_connections;

    if (c == NULL) {
        tn_log_error(TN_LOG_ALERT, log, 0,
                     "%ui worker_connections are not enough",
                     tn_cycle->connection_n);

        return NULL;
    }

    tn_cycle->free_connections = c->data;
    tn_cycle->free_connection_n--;

    if (tn_cycle->files && tn_cycle->files[s] == NULL) {
        tn_cycle->files[s] = c;
    }

    rev = c->read;
    wev = c->write;

    tn_memzero(c, sizeof(tn_connection_t));

    c->read = rev;
    c->write = wev;
    c->fd = s;
    c->log = log;

    instance = rev->instance;

    tn_memzero(rev, sizeof(tn_event_t));
    tn_memzero(wev, sizeof(tn_event_t));

    rev->instance = !instance;
    wev->instance = !instance;

    rev->index = TN_INVALID_INDEX;
    wev->index = TN_INVALID_INDEX;

    rev->data = c;
    wev->data = c;

    wev->write = 1;

    return c;
}


void
tn_free_connection(tn_connection_t *c)
{
    c->data = tn_cycle->free_connections;
    tn_cycle->free_connections = c;
    tn_cycle->free_connection_n++;

    if (tn_cycle->files && tn_cycle->files[c->fd] == c) {
        tn_cycle->files[c->fd] = NULL;
    }
}


void
tn_close_connection(tn_connection_t *c)
{
    tn_err_t     err;
    tn_uint_t    log_error, level;
    tn_socket_t  fd;

    if (c->fd == (tn_socket_t) -1) {
        tn_log_error(TN_LOG_ALERT, c->log, 0, "connection already closed");
        return;
    }

    if (c->read->timer_set) {
        tn_event_del_timer(c->read);
    }

    if (c->write->timer_set) {
        tn_event_del_timer(c->write);
    }

    if (!c->shared) {
        tn_del_conn(c, TN_CLOSE_EVENT);
    }

    if (c->read->posted) {
        tn_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        tn_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    tn_reusable_connection(c, 0);

    log_error = c->log_error;

    tn_free_connection(c);

    fd = c->fd;
    c->fd = (tn_socket_t) -1;

    if (c->shared) {
        return;
    }

    if (tn_close_socket(fd) == -1) {

        err = tn_socket_errno;

        if (err == TN_ECONNRESET || err == TN_ENOTCONN) {

            switch (log_error) {

            case TN_ERROR_INFO:
                level = TN_LOG_INFO;
                break;

            case TN_ERROR_ERR:
                level = TN_LOG_ERR;
                break;

            default:
                level = TN_LOG_CRIT;
            }

        } else {
            level = TN_LOG_CRIT;
        }

        tn_log_error(level, c->log, err, "close() socket %d failed", fd);
    }
}


void
tn_reusable_connection(tn_connection_t *c, tn_uint_t reusable)
{
    if (c->reusable) {
        tn_queue_remove(&c->queue);
        tn_cycle->reusable_connections_n--;
    }

    c->reusable = reusable;

    if (reusable) {
        /* need cast as tn_cycle is volatile */

        tn_queue_insert_head(
            (tn_queue_t *) &tn_cycle->reusable_connections_queue, &c->queue);
        tn_cycle->reusable_connections_n++;
    }
}


/*
 * When the free list runs low, idle connections (an SMTP session between
 * commands, say) are closed, oldest first, to make room.
 */
static void
tn_drain_connections(tn_cycle_t *cycle)
{
    tn_uint_t         i, n;
    tn_queue_t       *q;
    tn_connection_t  *c;

    if (cycle->free_connection_n > cycle->connection_n / 16
        || cycle->reusable_connections_n == 0)
    {
        return;
    }

    if (cycle->connections_reuse_time != tn_time()) {
        cycle->connections_reuse_time = tn_time();

        tn_log_error(TN_LOG_WARN, cycle->log, 0,
                     "%ui worker_connections are not enough, "
                     "reusing connections", cycle->connection_n);
    }

    n = tn_max(tn_min(32, cycle->reusable_connections_n / 8), 1);

    for (i = 0; i < n; i++) {
        if (tn_queue_empty(&cycle->reusable_connections_queue)) {
            break;
        }

        q = tn_queue_last(&cycle->reusable_connections_queue);
        c = tn_queue_data(q, tn_connection_t, queue);

        c->close = 1;
        c->read->handler(c->read);
    }
}


tn_int_t
tn_connection_local_sockaddr(tn_connection_t *c, tn_str_t *s,
    tn_uint_t port)
{
    socklen_t       len;
    tn_sockaddr_t   sa;

    if (c->local_sockaddr == NULL) {

        len = sizeof(tn_sockaddr_t);

        if (getsockname(c->fd, &sa.sockaddr, &len) == -1) {
            tn_connection_error(c, tn_socket_errno, "getsockname() failed");
            return TN_ERROR;
        }

        c->local_sockaddr = tn_palloc(c->pool, len);
        if (c->local_sockaddr == NULL) {
            return TN_ERROR;
        }

        tn_memcpy(c->local_sockaddr, &sa, len);

        c->local_socklen = len;
    }

    if (s == NULL) {
        return TN_OK;
    }

    s->len = tn_sock_ntop(c->local_sockaddr, c->local_socklen,
                          s->data, s->len, port);

    return TN_OK;
}


tn_int_t
tn_connection_error(tn_connection_t *c, tn_err_t err, char *text)
{
    tn_uint_t  level;

    if ((err == TN_ECONNRESET || err == TN_ECONNABORTED
         || err == TN_EPIPE || err == TN_ENOTCONN || err == TN_ETIMEDOUT
         || err == TN_ECONNREFUSED)
        && c->log_error == TN_ERROR_IGNORE_ECONNRESET)
    {
        return 0;
    }

    switch (c->log_error) {

    case TN_ERROR_IGNORE_EINVAL:
    case TN_ERROR_IGNORE_ECONNRESET:
    case TN_ERROR_INFO:
        level = TN_LOG_INFO;
        break;

    default:
        level = TN_LOG_ERR;
    }

    tn_log_error(level, c->log, err, text);

    return TN_ERROR;
}
