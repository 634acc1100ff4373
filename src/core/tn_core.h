
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_CORE_H_INCLUDED_
#define _TN_CORE_H_INCLUDED_


#include <tn_config.h>


typedef struct tn_module_s           tn_module_t;
typedef struct tn_conf_s             tn_conf_t;
typedef struct tn_cycle_s            tn_cycle_t;
typedef struct tn_pool_s             tn_pool_t;
typedef struct tn_chain_s            tn_chain_t;
typedef struct tn_log_s              tn_log_t;
typedef struct tn_open_file_s        tn_open_file_t;
typedef struct tn_command_s          tn_command_t;
typedef struct tn_event_s            tn_event_t;
typedef struct tn_connection_s       tn_connection_t;
typedef struct tn_thread_task_s      tn_thread_task_t;
typedef struct tn_ssl_s              tn_ssl_t;
typedef struct tn_ssl_connection_s   tn_ssl_connection_t;

typedef void (*tn_event_handler_pt)(tn_event_t *ev);
typedef void (*tn_connection_handler_pt)(tn_connection_t *c);


/*
 * The seven return codes.  Protocol-specific codes are greater than 0.
 */
#define  TN_OK          0
#define  TN_ERROR      -1
#define  TN_AGAIN      -2
#define  TN_BUSY       -3
#define  TN_DONE       -4
#define  TN_DECLINED   -5
#define  TN_ABORT      -6


#include <tn_errno.h>
#include <tn_atomic.h>
#include <tn_queue.h>
#include <tn_rbtree.h>
#include <tn_time.h>
#include <tn_string.h>
#include <tn_files.h>
#include <tn_log.h>
#include <tn_alloc.h>
#include <tn_palloc.h>
#include <tn_buf.h>
#include <tn_array.h>
#include <tn_list.h>
#include <tn_hash.h>
#include <tn_inet.h>
#include <tn_os.h>
#include <tn_process.h>
#include <tn_times.h>
#include <tn_socket.h>
#include <tn_parse.h>
#include <tn_idna.h>
#include <tn_conf_file.h>
#include <tn_module.h>
#include <tn_connection.h>
#include <tn_cycle.h>


#define LF     (u_char) '\n'
#define CR     (u_char) '\r'
#define CRLF   "\r\n"


#define tn_abs(value)       (((value) >= 0) ? (value) : - (value))
#define tn_max(val1, val2)  ((val1 < val2) ? (val2) : (val1))
#define tn_min(val1, val2)  ((val1 > val2) ? (val2) : (val1))


#endif /* _TN_CORE_H_INCLUDED_ */
