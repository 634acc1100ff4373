
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_LOG_H_INCLUDED_
#define _TN_LOG_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_LOG_STDERR            0
#define TN_LOG_EMERG             1
#define TN_LOG_ALERT             2
#define TN_LOG_CRIT              3
#define TN_LOG_ERR               4
#define TN_LOG_WARN              5
#define TN_LOG_NOTICE            6
#define TN_LOG_INFO              7
#define TN_LOG_DEBUG             8

/* per-module debug bits, enabled by "error_log FILE debug_<name>" */
#define TN_LOG_DEBUG_CORE        0x010
#define TN_LOG_DEBUG_ALLOC       0x020
#define TN_LOG_DEBUG_EVENT       0x080
#define TN_LOG_DEBUG_MAIL        0x100
#define TN_LOG_DEBUG_STORE       0x200
#define TN_LOG_DEBUG_TLS         0x400
#define TN_LOG_DEBUG_DNS         0x800

#define TN_LOG_DEBUG_FIRST       TN_LOG_DEBUG_CORE
#define TN_LOG_DEBUG_LAST        TN_LOG_DEBUG_DNS
#define TN_LOG_DEBUG_ALL         0x7ffffff0


/*
 * Called to append context (", client: ..., server: ...") to a line;
 * returns the new end of buf.
 */
typedef u_char *(*tn_log_handler_pt) (tn_log_t *log, u_char *buf,
    size_t len);


struct tn_log_s {
    tn_uint_t            log_level;
    tn_open_file_t      *file;

    tn_atomic_uint_t     connection;

    time_t               disk_full_time;

    tn_log_handler_pt    handler;
    void                *data;

    /* what the connection is doing: "reading command", ... */
    char                *action;

    tn_log_t            *next;
};


#define TN_MAX_ERROR_STR   2048


#define tn_log_error(level, log, ...)                                        \
    if ((log)->log_level >= level) tn_log_error_core(level, log, __VA_ARGS__)

void tn_log_error_core(tn_uint_t level, tn_log_t *log, tn_err_t err,
    const char *fmt, ...);

#if (TN_DEBUG)

#define tn_log_debug(level, log, ...)                                        \
    if ((log)->log_level & level)                                            \
        tn_log_error_core(TN_LOG_DEBUG, log, __VA_ARGS__)

#else

#define tn_log_debug(level, log, ...)

#endif

#define tn_log_debug0  tn_log_debug
#define tn_log_debug1  tn_log_debug
#define tn_log_debug2  tn_log_debug
#define tn_log_debug3  tn_log_debug
#define tn_log_debug4  tn_log_debug
#define tn_log_debug5  tn_log_debug
#define tn_log_debug6  tn_log_debug


tn_log_t *tn_log_init(u_char *prefix, u_char *error_log);
void tn_log_abort(tn_err_t err, const char *fmt, ...);
void tn_log_stderr(tn_err_t err, const char *fmt, ...);
u_char *tn_log_errno(u_char *buf, u_char *last, tn_err_t err);
tn_int_t tn_log_open_default(tn_cycle_t *cycle);
tn_int_t tn_log_redirect_stderr(tn_cycle_t *cycle);
tn_log_t *tn_log_get_file_log(tn_log_t *head);
char *tn_log_set_log(tn_conf_t *cf, tn_log_t **head);


static tn_inline void
tn_write_stderr(char *text)
{
    (void) write(STDERR_FILENO, text, strlen(text));
}


static tn_inline void
tn_write_stdout(char *text)
{
    (void) write(STDOUT_FILENO, text, strlen(text));
}


extern tn_module_t  tn_errlog_module;
extern tn_uint_t    tn_use_stderr;


#endif /* _TN_LOG_H_INCLUDED_ */
