
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_EVENT_CONNECT_H_INCLUDED_
#define _TN_EVENT_CONNECT_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


typedef struct {
    struct sockaddr     *sockaddr;
    socklen_t            socklen;
    tn_str_t            *name;

    tn_connection_t     *connection;

    tn_log_t            *log;
    int                  type;

    tn_addr_t           *local;
} tn_peer_connection_t;


/*
 * Starts a non-blocking connect.  TN_OK: connected; TN_AGAIN: in progress
 * (wait for the write event); TN_DECLINED: this address failed, try the
 * next; TN_ERROR: out of resources.
 */
tn_int_t tn_event_connect_peer(tn_peer_connection_t *pc);


#endif /* _TN_EVENT_CONNECT_H_INCLUDED_ */
