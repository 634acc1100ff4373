
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_CONNECTION_H_INCLUDED_
#define _TN_CONNECTION_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


typedef struct tn_listening_s  tn_listening_t;

struct tn_listening_s {
    tn_socket_t          fd;

    struct sockaddr     *sockaddr;
    socklen_t            socklen;
    tn_str_t             addr_text;

    int                  type;
    int                  backlog;

    /* called for each accepted connection */
    tn_connection_handler_pt   handler;

    /* protocol configuration, e.g. the mail addresses table */
    void                *servers;

    tn_log_t             log;
    tn_log_t            *logp;

    size_t               pool_size;

    /* the worker slot this socket serves (SO_REUSEPORT) */
    tn_uint_t            worker;

    tn_listening_t      *previous;
    tn_connection_t     *connection;

    unsigned             open:1;
    unsigned             remain:1;
    unsigned             ignore:1;
    unsigned             bound:1;
    unsigned             inherited:1;
    unsigned             listen:1;
    unsigned             reuseport:1;
    unsigned             ipv6only:1;
};


typedef enum {
    TN_ERROR_ALERT = 0,
    TN_ERROR_ERR,
    TN_ERROR_INFO,
    TN_ERROR_IGNORE_ECONNRESET,
    TN_ERROR_IGNORE_EINVAL
} tn_connection_log_error_e;


struct tn_connection_s {
    void                *data;
    tn_event_t          *read;
    tn_event_t          *write;

    tn_socket_t          fd;

    tn_recv_pt           recv;
    tn_send_pt           send;

    tn_listening_t      *listening;

    off_t                sent;

    tn_log_t            *log;

    tn_pool_t           *pool;

    int                  type;

    struct sockaddr     *sockaddr;
    socklen_t            socklen;
    tn_str_t             addr_text;

    struct sockaddr     *local_sockaddr;
    socklen_t            local_socklen;

    tn_ssl_connection_t *ssl;

    tn_buf_t            *buffer;

    /* the worker's list of idle connections that may be reclaimed */
    tn_queue_t           queue;

    tn_atomic_uint_t     number;

    tn_msec_t            start_time;
    tn_uint_t            requests;

    unsigned             log_error:3;     /* tn_connection_log_error_e */

    unsigned             timedout:1;
    unsigned             error:1;
    unsigned             destroyed:1;
    unsigned             idle:1;
    unsigned             reusable:1;
    unsigned             close:1;
    unsigned             shared:1;
    unsigned             tcp_nodelay:1;
};


#define tn_set_connection_log(c, l)                                         \
                                                                             \
    c->log->file = l->file;                                                  \
    c->log->next = l->next;                                                  \
    if (!(c->log->log_level & TN_LOG_DEBUG_ALL)) {                          \
        c->log->log_level = l->log_level;                                    \
    }


tn_listening_t *tn_create_listening(tn_conf_t *cf, struct sockaddr *sockaddr,
    socklen_t socklen);
tn_int_t tn_clone_listening(tn_cycle_t *cycle, tn_listening_t *ls);
tn_int_t tn_open_listening_sockets(tn_cycle_t *cycle);
void tn_configure_listening_sockets(tn_cycle_t *cycle);
void tn_close_listening_sockets(tn_cycle_t *cycle);
void tn_close_connection(tn_connection_t *c);
tn_int_t tn_connection_local_sockaddr(tn_connection_t *c, tn_str_t *s,
    tn_uint_t port);
tn_int_t tn_connection_error(tn_connection_t *c, tn_err_t err, char *text);

tn_connection_t *tn_get_connection(tn_socket_t s, tn_log_t *log);
void tn_free_connection(tn_connection_t *c);

void tn_reusable_connection(tn_connection_t *c, tn_uint_t reusable);


#endif /* _TN_CONNECTION_H_INCLUDED_ */
