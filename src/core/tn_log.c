
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


static char *tn_error_log(tn_conf_t *cf, tn_command_t *cmd, void *conf);
static char *tn_log_set_levels(tn_conf_t *cf, tn_log_t *log);
static void tn_log_insert(tn_log_t *head, tn_log_t *new);


static tn_command_t  tn_errlog_commands[] = {

    { tn_string("error_log"),
      TN_MAIN_CONF|TN_CONF_1MORE,
      tn_error_log,
      0,
      0,
      NULL },

      tn_null_command
};


static tn_core_module_t  tn_errlog_module_ctx = {
    tn_string("errlog"),
    NULL,
    NULL
};


tn_module_t  tn_errlog_module = {
    TN_MODULE_V1,
    "tn_errlog_module",
    &tn_errlog_module_ctx,
    tn_errlog_commands,
    TN_CORE_MODULE,
    NULL,
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


static tn_log_t        tn_log;
static tn_open_file_t  tn_log_file;
tn_uint_t              tn_use_stderr = 1;


static tn_str_t err_levels[] = {
    tn_null_string,
    tn_string("emerg"),
    tn_string("alert"),
    tn_string("crit"),
    tn_string("error"),
    tn_string("warn"),
    tn_string("notice"),
    tn_string("info"),
    tn_string("debug")
};

static const char *debug_levels[] = {
    "debug_core", "debug_alloc", "debug_unused", "debug_event",
    "debug_mail", "debug_store", "debug_tls", "debug_dns"
};


void
tn_log_error_core(tn_uint_t level, tn_log_t *log, tn_err_t err,
    const char *fmt, ...)
{
    va_list      args;
    u_char      *p, *last, *msg;
    ssize_t      n;
    tn_uint_t    wrote_stderr, debug_connection;
    u_char       errstr[TN_MAX_ERROR_STR];

    last = errstr + TN_MAX_ERROR_STR;

    p = tn_cpymem(errstr, tn_cached_err_log_time.data,
                  tn_cached_err_log_time.len);

    p = tn_slprintf(p, last, " [%V] ", &err_levels[level]);

    /* pid#tid */
    p = tn_slprintf(p, last, "%d#%d: ", (int) tn_pid, (int) gettid());

    if (log->connection) {
        p = tn_slprintf(p, last, "*%ui ", (tn_uint_t) log->connection);
    }

    msg = p;

    va_start(args, fmt);
    p = tn_vslprintf(p, last, fmt, args);
    va_end(args);

    if (err) {
        p = tn_log_errno(p, last, err);
    }

    if (level != TN_LOG_DEBUG && log->handler) {
        p = log->handler(log, p, last - p);
    }

    if (p > last - TN_LINEFEED_SIZE) {
        p = last - TN_LINEFEED_SIZE;
    }

    tn_linefeed(p);

    wrote_stderr = 0;
    debug_connection = (log->log_level & TN_LOG_DEBUG_ALL) != 0;

    while (log) {

        if (log->log_level < level && !debug_connection) {
            break;
        }

        if (log->file && log->file->fd != TN_INVALID_FILE) {
            n = write(log->file->fd, errstr, p - errstr);

            if (n == -1 && tn_errno == TN_ENOSPC) {
                log->disk_full_time = tn_time();
            }

            if (log->file->fd == tn_stderr) {
                wrote_stderr = 1;
            }
        }

        log = log->next;
    }

    if (!tn_use_stderr
        || level > TN_LOG_WARN
        || wrote_stderr)
    {
        return;
    }

    msg -= (7 + err_levels[level].len + 3);

    (void) tn_sprintf(msg, "tern: [%V] ", &err_levels[level]);

    (void) write(tn_stderr, msg, p - msg);
}


void
tn_log_abort(tn_err_t err, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    errstr[TN_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    p = tn_vsnprintf(errstr, sizeof(errstr) - 1, fmt, args);
    va_end(args);

    tn_log_error(TN_LOG_ALERT, tn_cycle->log, err,
                 "%*s", p - errstr, errstr);
}


void
tn_log_stderr(tn_err_t err, const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;
    u_char    errstr[TN_MAX_ERROR_STR];

    last = errstr + TN_MAX_ERROR_STR;

    p = tn_cpymem(errstr, "tern: ", 6);

    va_start(args, fmt);
    p = tn_vslprintf(p, last, fmt, args);
    va_end(args);

    if (err) {
        p = tn_log_errno(p, last, err);
    }

    if (p > last - TN_LINEFEED_SIZE) {
        p = last - TN_LINEFEED_SIZE;
    }

    tn_linefeed(p);

    (void) write(tn_stderr, errstr, p - errstr);
}


u_char *
tn_log_errno(u_char *buf, u_char *last, tn_err_t err)
{
    if (buf > last - 50) {

        /* leave a space for an error code */

        buf = last - 50;
        *buf++ = '.';
        *buf++ = '.';
        *buf++ = '.';
    }

    buf = tn_slprintf(buf, last, " (%d: ", err);

    buf = tn_strerror(err, buf, last - buf);

    if (buf < last) {
        *buf++ = ')';
    }

    return buf;
}


tn_log_t *
tn_log_init(u_char *prefix, u_char *error_log)
{
    u_char  *p, *name;
    size_t   nlen, plen;

    tn_log.file = &tn_log_file;
    tn_log.log_level = TN_LOG_NOTICE;

    if (error_log == NULL) {
        tn_log_file.fd = tn_stderr;
        return &tn_log;
    }

    name = error_log;
    nlen = tn_strlen(name);

    if (nlen == 0) {
        tn_log_file.fd = tn_stderr;
        return &tn_log;
    }

    p = NULL;

    if (name[0] != '/' && prefix) {
        plen = tn_strlen(prefix);

        if (plen) {
            name = malloc(plen + nlen + 2);
            if (name == NULL) {
                return NULL;
            }

            p = tn_cpymem(name, prefix, plen);

            if (p[-1] != '/') {
                *p++ = '/';
            }

            tn_cpystrn(p, error_log, nlen + 1);

            p = name;
        }
    }

    tn_log_file.fd = tn_open_file(name, TN_FILE_APPEND,
                                  TN_FILE_CREATE_OR_OPEN,
                                  TN_FILE_DEFAULT_ACCESS);

    if (tn_log_file.fd == TN_INVALID_FILE) {
        /* the log directory may not exist yet: fall back to stderr */
        tn_log_file.fd = tn_stderr;
    }

    if (p) {
        tn_free(p);
    }

    return &tn_log;
}


tn_int_t
tn_log_open_default(tn_cycle_t *cycle)
{
    tn_log_t         *log;
    static tn_str_t   error_log = tn_string("logs/error.log");

    if (tn_log_get_file_log(&cycle->new_log) != NULL) {
        return TN_OK;
    }

    if (cycle->new_log.log_level != 0) {
        /* there are some error logs, but no files */

        log = tn_pcalloc(cycle->pool, sizeof(tn_log_t));
        if (log == NULL) {
            return TN_ERROR;
        }

    } else {
        /* no error logs at all */
        log = &cycle->new_log;
    }

    log->log_level = TN_LOG_ERR;

    log->file = tn_conf_open_file(cycle, &error_log);
    if (log->file == NULL) {
        return TN_ERROR;
    }

    if (log != &cycle->new_log) {
        log->next = cycle->new_log.next;
        cycle->new_log.next = log;
    }

    return TN_OK;
}


tn_int_t
tn_log_redirect_stderr(tn_cycle_t *cycle)
{
    tn_fd_t  fd;

    if (cycle->log_use_stderr) {
        return TN_OK;
    }

    /* file log always exists when we are called */
    fd = tn_log_get_file_log(cycle->log)->file->fd;

    if (fd != tn_stderr) {
        if (dup2(fd, tn_stderr) == -1) {
            tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                         "dup2(STDERR) failed");
            return TN_ERROR;
        }
    }

    return TN_OK;
}


tn_log_t *
tn_log_get_file_log(tn_log_t *head)
{
    tn_log_t  *log;

    for (log = head; log; log = log->next) {
        if (log->file != NULL) {
            return log;
        }
    }

    return NULL;
}


static char *
tn_log_set_levels(tn_conf_t *cf, tn_log_t *log)
{
    tn_uint_t   i, n, d, found;
    tn_str_t   *value;

    if (cf->args->nelts == 2) {
        log->log_level = TN_LOG_ERR;
        return TN_CONF_OK;
    }

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {
        found = 0;

        for (n = 1; n <= TN_LOG_DEBUG; n++) {
            if (tn_strcmp(value[i].data, err_levels[n].data) == 0) {

                if (log->log_level != 0) {
                    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                      "duplicate log level \"%V\"",
                                      &value[i]);
                    return TN_CONF_ERROR;
                }

                log->log_level = n;
                found = 1;
                break;
            }
        }

        for (n = 0, d = TN_LOG_DEBUG_FIRST; d <= TN_LOG_DEBUG_LAST; d <<= 1) {
            if (tn_strcmp(value[i].data, debug_levels[n++]) == 0) {
                if (log->log_level & ~TN_LOG_DEBUG_ALL) {
                    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                      "invalid log level \"%V\"",
                                      &value[i]);
                    return TN_CONF_ERROR;
                }

                log->log_level |= d;
                found = 1;
                break;
            }
        }


        if (!found) {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "invalid log level \"%V\"", &value[i]);
            return TN_CONF_ERROR;
        }
    }

    if (log->log_level == TN_LOG_DEBUG) {
        log->log_level = TN_LOG_DEBUG_ALL;
    }

    return TN_CONF_OK;
}


/*
 * Keeps the list sorted by level, highest first, so that the writer can
 * stop at the first log that does not take a line.  The head is embedded
 * in the cycle, so a new head swaps contents with it.
 */
static void
tn_log_insert(tn_log_t *head, tn_log_t *new)
{
    tn_log_t  tmp, *log;

    if (new->log_level > head->log_level) {
        tmp = *head;
        *head = *new;
        *new = tmp;
        head->next = new;

        return;
    }

    for (log = head;
         log->next && log->next->log_level >= new->log_level;
         log = log->next)
    { /* void */ }

    new->next = log->next;
    log->next = new;
}


static char *
tn_error_log(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_log_t  *dummy;

    dummy = &cf->cycle->new_log;

    return tn_log_set_log(cf, &dummy);
}


char *
tn_log_set_log(tn_conf_t *cf, tn_log_t **head)
{
    tn_log_t   *new;
    tn_str_t   *value, name;

    if (*head != NULL && (*head)->log_level == 0) {
        new = *head;

    } else {

        new = tn_pcalloc(cf->pool, sizeof(tn_log_t));
        if (new == NULL) {
            return TN_CONF_ERROR;
        }

        if (*head == NULL) {
            *head = new;
        }
    }

    value = cf->args->elts;

    if (tn_strcmp(value[1].data, "stderr") == 0) {
        tn_str_null(&name);
        cf->cycle->log_use_stderr = 1;

        new->file = tn_conf_open_file(cf->cycle, &name);
        if (new->file == NULL) {
            return TN_CONF_ERROR;
        }

    } else {
        new->file = tn_conf_open_file(cf->cycle, &value[1]);
        if (new->file == NULL) {
            return TN_CONF_ERROR;
        }
    }

    if (tn_log_set_levels(cf, new) != TN_CONF_OK) {
        return TN_CONF_ERROR;
    }

    if (*head != new) {
        tn_log_insert(*head, new);
    }

    return TN_CONF_OK;
}
