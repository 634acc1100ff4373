
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_OS_H_INCLUDED_
#define _TN_OS_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_IO_SENDFILE    1


/*
 * Connection I/O.  recv/send return the number of bytes, 0 on EOF (recv),
 * TN_AGAIN when the socket would block (and clear ev->ready), or TN_ERROR
 * (and set ev->error).
 */
typedef ssize_t (*tn_recv_pt)(tn_connection_t *c, u_char *buf, size_t size);
typedef ssize_t (*tn_send_pt)(tn_connection_t *c, u_char *buf, size_t size);

ssize_t tn_unix_recv(tn_connection_t *c, u_char *buf, size_t size);
ssize_t tn_unix_send(tn_connection_t *c, u_char *buf, size_t size);

tn_int_t tn_os_init(tn_log_t *log);
void tn_os_status(tn_log_t *log);
tn_int_t tn_os_signal_process(tn_cycle_t *cycle, char *sig, tn_pid_t pid);

extern tn_int_t   tn_ncpu;
extern tn_int_t   tn_max_sockets;
extern tn_uint_t  tn_inherited_nonblocking;


#endif /* _TN_OS_H_INCLUDED_ */
