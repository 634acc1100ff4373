
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_EVENT_H_INCLUDED_
#define _TN_EVENT_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_INVALID_INDEX  0xd0d0d0d0


struct tn_event_s {
    void                *data;

    unsigned             write:1;
    unsigned             accept:1;

    /* used to detect stale events from epoll */
    unsigned             instance:1;

    /* registered in the event loop */
    unsigned             active:1;

    /* data can be read or written without blocking */
    unsigned             ready:1;

    unsigned             eof:1;
    unsigned             error:1;

    unsigned             timedout:1;
    unsigned             timer_set:1;

    unsigned             delayed:1;

    unsigned             deferred_accept:1;

    /* the peer closed its writing side (EPOLLRDHUP) */
    unsigned             pending_eof:1;

    unsigned             posted:1;

    unsigned             closed:1;

    /* a timer that does not keep a shutting-down worker alive */
    unsigned             cancelable:1;

    int                  available;

    tn_event_handler_pt  handler;

    tn_uint_t            index;

    tn_log_t            *log;

    tn_rbtree_node_t     timer;

    /* the posted queue */
    tn_queue_t           queue;
};


/*
 * The loop is edge-triggered epoll: a connection is added once with
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET (tn_add_conn), and handlers read or
 * write until TN_AGAIN.  tn_handle_read_event()/tn_handle_write_event()
 * keep the nginx shape; for a connection in the loop they do nothing.
 */

#define TN_READ_EVENT     (EPOLLIN|EPOLLRDHUP)
#define TN_WRITE_EVENT    EPOLLOUT

#define TN_LEVEL_EVENT    0
#define TN_CLEAR_EVENT    EPOLLET
#define TN_EXCLUSIVE_EVENT  EPOLLEXCLUSIVE

#define TN_CLOSE_EVENT    1
#define TN_DISABLE_EVENT  2
#define TN_FLUSH_EVENT    4

#define TN_UPDATE_TIME    1
#define TN_POST_EVENTS    2


tn_int_t tn_add_event(tn_event_t *ev, tn_int_t event, tn_uint_t flags);
tn_int_t tn_del_event(tn_event_t *ev, tn_int_t event, tn_uint_t flags);
tn_int_t tn_add_conn(tn_connection_t *c);
tn_int_t tn_del_conn(tn_connection_t *c, tn_uint_t flags);
/* registers fd for readability only (eventfd, c-ares sockets) */
tn_int_t tn_epoll_add_fd(tn_connection_t *c, uint32_t events);
tn_int_t tn_epoll_mod_fd(tn_connection_t *c, uint32_t events);
/* closes the epoll descriptor (the end of a process's event loop) */
void tn_epoll_done(tn_cycle_t *cycle);
tn_int_t tn_process_events(tn_cycle_t *cycle, tn_msec_t timer,
    tn_uint_t flags);

tn_int_t tn_handle_read_event(tn_event_t *rev, tn_uint_t flags);
tn_int_t tn_handle_write_event(tn_event_t *wev, size_t lowat);


typedef struct {
    tn_uint_t     connections;
    tn_uint_t     use;
    tn_flag_t     accept_mutex;
    tn_msec_t     accept_mutex_delay;
} tn_event_conf_t;


typedef struct {
    tn_str_t     *name;
    void       *(*create_conf)(tn_cycle_t *cycle);
    char       *(*init_conf)(tn_cycle_t *cycle, void *conf);
} tn_event_module_t;


#define TN_EVENT_MODULE      0x544E5645  /* "EVNT" */
#define TN_EVENT_CONF        0x02000000


extern sig_atomic_t          tn_event_timer_alarm;
extern tn_uint_t             tn_event_flags;
extern tn_atomic_t          *tn_connection_counter;
extern tn_uint_t             tn_accept_disabled;
extern tn_module_t           tn_events_module;
extern tn_module_t           tn_event_core_module;


#define tn_event_get_conf(conf_ctx, module)                                  \
             (*(tn_get_conf(conf_ctx, tn_events_module))) [module.ctx_index]


void tn_event_accept(tn_event_t *ev);
tn_int_t tn_enable_accept_events(tn_cycle_t *cycle);
tn_int_t tn_disable_accept_events(tn_cycle_t *cycle, tn_uint_t all);
u_char *tn_accept_log_error(tn_log_t *log, u_char *buf, size_t len);

void tn_process_events_and_timers(tn_cycle_t *cycle);

tn_int_t tn_send_lowat(tn_connection_t *c, size_t lowat);


#include <tn_event_timer.h>
#include <tn_event_posted.h>
#include <tn_event_connect.h>
#include <tn_thread_pool.h>
#include <tn_event_openssl.h>
#include <tn_resolver.h>


#endif /* _TN_EVENT_H_INCLUDED_ */
