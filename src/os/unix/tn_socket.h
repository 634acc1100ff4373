
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_SOCKET_H_INCLUDED_
#define _TN_SOCKET_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_WRITE_SHUTDOWN SHUT_WR
#define TN_INVALID_SOCKET -1

#define tn_socket          socket
#define tn_close_socket    close
#define tn_shutdown_socket shutdown

int tn_tcp_nodelay(tn_socket_t s);


#endif /* _TN_SOCKET_H_INCLUDED_ */
