
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>

#include <glob.h>


#define TN_CONF_BUFFER  4096

/* the deepest include chain; a loop of includes stops here */
#define TN_CONF_MAX_INCLUDE_DEPTH  16

static tn_int_t tn_conf_handler(tn_conf_t *cf, tn_int_t last);
static tn_int_t tn_conf_read_token(tn_conf_t *cf);
static tn_int_t tn_conf_refill(tn_conf_t *cf, u_char **start);
static tn_int_t tn_conf_push_arg(tn_conf_t *cf, u_char *start, u_char *end,
    tn_uint_t quoted);


static tn_command_t  tn_conf_commands[] = {

    { tn_string("include"),
      TN_ANY_CONF|TN_CONF_TAKE1,
      tn_conf_include,
      0,
      0,
      NULL },

      tn_null_command
};


tn_module_t  tn_conf_module = {
    TN_MODULE_V1,
    "tn_conf_module",
    NULL,
    tn_conf_commands,
    TN_CONF_MODULE,
    NULL,
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


/* The eight fixed arguments */

static tn_uint_t argument_number[] = {
    TN_CONF_NOARGS,
    TN_CONF_TAKE1,
    TN_CONF_TAKE2,
    TN_CONF_TAKE3,
    TN_CONF_TAKE4,
    TN_CONF_TAKE5,
    TN_CONF_TAKE6,
    TN_CONF_TAKE7
};

static tn_uint_t  tn_conf_include_depth;


char *
tn_conf_param(tn_conf_t *cf)
{
    char             *rv;
    tn_str_t         *param;
    tn_buf_t          b;
    tn_conf_file_t    conf_file;

    param = &cf->cycle->conf_param;

    if (param->len == 0) {
        return TN_CONF_OK;
    }

    tn_memzero(&conf_file, sizeof(tn_conf_file_t));

    tn_memzero(&b, sizeof(tn_buf_t));

    b.start = param->data;
    b.pos = param->data;
    b.last = param->data + param->len;
    b.end = b.last;
    b.temporary = 1;

    conf_file.fd = TN_INVALID_FILE;
    tn_str_set(&conf_file.name, "command line");
    conf_file.buffer = &b;
    conf_file.line = 1;

    cf->conf_file = &conf_file;

    rv = tn_conf_parse(cf, NULL);

    cf->conf_file = NULL;

    return rv;
}


char *
tn_conf_parse(tn_conf_t *cf, tn_str_t *filename)
{
    char             *rv;
    tn_fd_t           fd;
    tn_int_t          rc;
    tn_buf_t          buf;
    tn_conf_file_t   *prev, conf_file;
    tn_file_info_t    sb;
    enum {
        parse_file = 0,
        parse_block,
        parse_param
    } type;

    fd = TN_INVALID_FILE;
    prev = NULL;

    if (filename) {

        /* open configuration file */

        fd = tn_open_file(filename->data, TN_FILE_RDONLY, TN_FILE_OPEN, 0);

        if (fd == TN_INVALID_FILE) {
            tn_conf_log_error(TN_LOG_EMERG, cf, tn_errno,
                              "open() \"%s\" failed", filename->data);
            return TN_CONF_ERROR;
        }

        prev = cf->conf_file;

        cf->conf_file = &conf_file;

        if (tn_fd_info(fd, &sb) == -1) {
            tn_log_error(TN_LOG_EMERG, cf->log, tn_errno,
                         "fstat() \"%s\" failed", filename->data);
            (void) tn_close_file(fd);
            cf->conf_file = prev;
            return TN_CONF_ERROR;
        }

        cf->conf_file->size = sb.st_size;

        cf->conf_file->buffer = &buf;

        buf.start = tn_alloc(TN_CONF_BUFFER, cf->log);
        if (buf.start == NULL) {
            goto failed;
        }

        buf.pos = buf.start;
        buf.last = buf.start;
        buf.end = buf.last + TN_CONF_BUFFER;
        buf.temporary = 1;

        cf->conf_file->fd = fd;
        cf->conf_file->name.len = filename->len;
        cf->conf_file->name.data = filename->data;
        cf->conf_file->offset = 0;
        cf->conf_file->line = 1;

        type = parse_file;

    } else if (cf->conf_file->fd != TN_INVALID_FILE) {

        type = parse_block;

    } else {
        type = parse_param;
    }


    for ( ;; ) {
        rc = tn_conf_read_token(cf);

        /*
         * tn_conf_read_token() may return
         *
         *    TN_ERROR             there is error
         *    TN_OK                the token terminated by ";" was found
         *    TN_CONF_BLOCK_START  the token terminated by "{" was found
         *    TN_CONF_BLOCK_DONE   the "}" was found
         *    TN_CONF_FILE_DONE    the configuration file is done
         */

        if (rc == TN_ERROR) {
            goto done;
        }

        if (rc == TN_CONF_BLOCK_DONE) {

            if (type != parse_block) {
                tn_conf_log_error(TN_LOG_EMERG, cf, 0, "unexpected \"}\"");
                goto failed;
            }

            goto done;
        }

        if (rc == TN_CONF_FILE_DONE) {

            if (type == parse_block) {
                tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                  "unexpected end of file, expecting \"}\"");
                goto failed;
            }

            goto done;
        }

        if (rc == TN_CONF_BLOCK_START) {

            if (type == parse_param) {
                tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                  "block directives are not supported "
                                  "in -g option");
                goto failed;
            }
        }

        /* rc == TN_OK || rc == TN_CONF_BLOCK_START */

        if (cf->handler) {

            /*
             * the custom handler, i.e., that is used in the "types" block;
             * kept for blocks whose contents are not directives
             */

            if (rc == TN_CONF_BLOCK_START) {
                tn_conf_log_error(TN_LOG_EMERG, cf, 0, "unexpected \"{\"");
                goto failed;
            }

            rv = (*cf->handler)(cf, NULL, cf->handler_conf);
            if (rv == TN_CONF_OK) {
                continue;
            }

            if (rv == TN_CONF_ERROR) {
                goto failed;
            }

            tn_conf_log_error(TN_LOG_EMERG, cf, 0, "%s", rv);

            goto failed;
        }


        rc = tn_conf_handler(cf, rc);

        if (rc == TN_ERROR) {
            goto failed;
        }
    }

failed:

    rc = TN_ERROR;

done:

    if (filename) {
        if (cf->conf_file->buffer->start) {
            tn_free(cf->conf_file->buffer->start);
        }

        if (tn_close_file(fd) == -1) {
            tn_log_error(TN_LOG_ALERT, cf->log, tn_errno,
                          "close() %s failed", filename->data);
            rc = TN_ERROR;
        }

        cf->conf_file = prev;
    }

    if (rc == TN_ERROR) {
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static tn_int_t
tn_conf_handler(tn_conf_t *cf, tn_int_t last)
{
    char           *rv;
    void           *conf, **confp;
    tn_uint_t       i, found;
    tn_str_t       *name;
    tn_command_t   *cmd;

    name = cf->args->elts;

    found = 0;

    for (i = 0; cf->cycle->modules[i]; i++) {

        cmd = cf->cycle->modules[i]->commands;
        if (cmd == NULL) {
            continue;
        }

        for ( /* void */ ; cmd->name.len; cmd++) {

            if (name->len != cmd->name.len) {
                continue;
            }

            if (tn_strcmp(name->data, cmd->name.data) != 0) {
                continue;
            }

            found = 1;

            if (cf->cycle->modules[i]->type != TN_CONF_MODULE
                && cf->cycle->modules[i]->type != cf->module_type)
            {
                continue;
            }

            /* is the directive's location right ? */

            if (!(cmd->type & cf->cmd_type)) {
                continue;
            }

            if (!(cmd->type & TN_CONF_BLOCK) && last != TN_OK) {
                tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                  "directive \"%s\" is not terminated by \";\"",
                                  name->data);
                return TN_ERROR;
            }

            if ((cmd->type & TN_CONF_BLOCK) && last != TN_CONF_BLOCK_START) {
                tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                  "directive \"%s\" has no opening \"{\"",
                                  name->data);
                return TN_ERROR;
            }

            /* is the directive's argument count right ? */

            if (!(cmd->type & TN_CONF_ANY)) {

                if (cmd->type & TN_CONF_FLAG) {

                    if (cf->args->nelts != 2) {
                        goto invalid;
                    }

                } else if (cmd->type & TN_CONF_1MORE) {

                    if (cf->args->nelts < 2) {
                        goto invalid;
                    }

                } else if (cmd->type & TN_CONF_2MORE) {

                    if (cf->args->nelts < 3) {
                        goto invalid;
                    }

                } else if (cf->args->nelts > TN_CONF_MAX_ARGS) {

                    goto invalid;

                } else if (!(cmd->type & argument_number[cf->args->nelts - 1]))
                {
                    goto invalid;
                }
            }

            /* set up the directive's configuration context */

            conf = NULL;

            if (cmd->type & TN_DIRECT_CONF) {
                conf = ((void **) cf->ctx)[cf->cycle->modules[i]->index];

            } else if (cmd->type & TN_MAIN_CONF) {
                conf = &(((void **) cf->ctx)[cf->cycle->modules[i]->index]);

            } else if (cf->ctx) {
                confp = *(void **) ((char *) cf->ctx + cmd->conf);

                if (confp) {
                    conf = confp[cf->cycle->modules[i]->ctx_index];
                }
            }

            rv = cmd->set(cf, cmd, conf);

            if (rv == TN_CONF_OK) {
                return TN_OK;
            }

            if (rv == TN_CONF_ERROR) {
                return TN_ERROR;
            }

            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "\"%s\" directive %s", name->data, rv);

            return TN_ERROR;
        }
    }

    if (found) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "\"%s\" directive is not allowed here", name->data);

        return TN_ERROR;
    }

    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                      "unknown directive \"%s\"", name->data);

    return TN_ERROR;

invalid:

    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                      "invalid number of arguments in \"%s\" directive",
                      name->data);

    return TN_ERROR;
}


/*
 * Moves the unfinished token to the buffer start and reads more of the
 * file.  TN_OK, TN_CONF_FILE_DONE at the end of the file, or TN_ERROR.
 */
static tn_int_t
tn_conf_refill(tn_conf_t *cf, u_char **start)
{
    off_t       file_size;
    size_t      len;
    ssize_t     n, size;
    tn_buf_t   *b;

    b = cf->conf_file->buffer;
    file_size = cf->conf_file->size;

    if (cf->conf_file->offset >= file_size) {
        return TN_CONF_FILE_DONE;
    }

    len = b->pos - *start;

    if (len == TN_CONF_BUFFER) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0, "too long parameter \"%*s...\" "
                          "started", 10, *start);
        return TN_ERROR;
    }

    if (len) {
        tn_memmove(b->start, *start, len);
    }

    size = (ssize_t) (file_size - cf->conf_file->offset);

    if (size > b->end - (b->start + len)) {
        size = b->end - (b->start + len);
    }

    n = pread(cf->conf_file->fd, b->start + len, size,
              cf->conf_file->offset);

    if (n == -1) {
        tn_conf_log_error(TN_LOG_EMERG, cf, tn_errno, "read() failed");
        return TN_ERROR;
    }

    if (n != size) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "read() returned only %z bytes instead of %z",
                          n, size);
        return TN_ERROR;
    }

    cf->conf_file->offset += n;

    b->pos = b->start + len;
    b->last = b->pos + n;
    *start = b->start;

    return TN_OK;
}


static tn_int_t
tn_conf_push_arg(tn_conf_t *cf, u_char *start, u_char *end, tn_uint_t quoted)
{
    u_char     *dst, *src;
    tn_str_t   *word;

    word = tn_array_push(cf->args);
    if (word == NULL) {
        return TN_ERROR;
    }

    word->data = tn_pnalloc(cf->pool, end - start + 1);
    if (word->data == NULL) {
        return TN_ERROR;
    }

    for (dst = word->data, src = start, word->len = 0;
         src < end;
         word->len++)
    {
        if (*src == '\\' && quoted) {
            switch (src[1]) {
            case '"':
            case '\'':
            case '\\':
                src++;
                break;

            case 't':
                *dst++ = '\t';
                src += 2;
                continue;

            case 'r':
                *dst++ = '\r';
                src += 2;
                continue;

            case 'n':
                *dst++ = '\n';
                src += 2;
                continue;
            }

        } else if (*src == '\\') {
            src++;
        }

        *dst++ = *src++;
    }

    *dst = '\0';

    return TN_OK;
}


/*
 * The tokenizer: words separated by spaces, "quoted" and 'quoted'
 * strings with \ escapes, # comments, and ; { } as terminators.
 */
static tn_int_t
tn_conf_read_token(tn_conf_t *cf)
{
    u_char      *start, ch, *src;
    tn_int_t     rc;
    tn_uint_t    found, need_space, last_space, sharp_comment;
    tn_uint_t    quoted, s_quoted, d_quoted;
    tn_buf_t    *b;

    found = 0;
    need_space = 0;
    last_space = 1;
    sharp_comment = 0;
    quoted = 0;
    s_quoted = 0;
    d_quoted = 0;

    cf->args->nelts = 0;
    b = cf->conf_file->buffer;
    start = b->pos;

    for ( ;; ) {

        if (b->pos >= b->last) {

            if (cf->conf_file->fd == TN_INVALID_FILE) {
                rc = TN_CONF_FILE_DONE;

            } else {
                rc = tn_conf_refill(cf, &start);

                if (rc == TN_ERROR) {
                    return TN_ERROR;
                }
            }

            if (rc == TN_CONF_FILE_DONE) {

                if (cf->args->nelts > 0 || !last_space) {

                    if (cf->conf_file->fd == TN_INVALID_FILE) {
                        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                          "unexpected end of parameter, "
                                          "expecting \";\"");
                        return TN_ERROR;
                    }

                    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                      "unexpected end of file, "
                                      "expecting \";\" or \"}\"");
                    return TN_ERROR;
                }

                return TN_CONF_FILE_DONE;
            }
        }

        ch = *b->pos++;

        if (ch == LF) {
            cf->conf_file->line++;

            if (sharp_comment) {
                sharp_comment = 0;
            }
        }

        if (sharp_comment) {
            continue;
        }

        if (quoted) {
            quoted = 0;
            continue;
        }

        if (ch == '\0') {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "unexpected NUL byte in configuration");
            return TN_ERROR;
        }

        if (need_space) {
            if (ch == ' ' || ch == '\t' || ch == CR || ch == LF) {
                last_space = 1;
                need_space = 0;
                continue;
            }

            if (ch == ';') {
                return TN_OK;
            }

            if (ch == '{') {
                return TN_CONF_BLOCK_START;
            }

            tn_conf_log_error(TN_LOG_EMERG, cf, 0, "unexpected \"%c\"", ch);
            return TN_ERROR;
        }

        if (last_space) {

            start = b->pos - 1;

            if (ch == ' ' || ch == '\t' || ch == CR || ch == LF) {
                continue;
            }

            switch (ch) {

            case ';':
            case '{':
                if (cf->args->nelts == 0) {
                    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                      "unexpected \"%c\"", ch);
                    return TN_ERROR;
                }

                if (ch == '{') {
                    return TN_CONF_BLOCK_START;
                }

                return TN_OK;

            case '}':
                if (cf->args->nelts != 0) {
                    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                      "unexpected \"}\"");
                    return TN_ERROR;
                }

                return TN_CONF_BLOCK_DONE;

            case '#':
                sharp_comment = 1;
                continue;

            case '\\':
                quoted = 1;
                last_space = 0;
                continue;

            case '"':
                start++;
                d_quoted = 1;
                last_space = 0;
                continue;

            case '\'':
                start++;
                s_quoted = 1;
                last_space = 0;
                continue;

            default:
                last_space = 0;
            }

        } else {
            if (ch == '\\') {
                quoted = 1;
                continue;
            }

            if (d_quoted) {
                if (ch == '"') {
                    d_quoted = 0;
                    need_space = 1;
                    found = 1;
                }

            } else if (s_quoted) {
                if (ch == '\'') {
                    s_quoted = 0;
                    need_space = 1;
                    found = 1;
                }

            } else if (ch == ' ' || ch == '\t' || ch == CR || ch == LF
                       || ch == ';' || ch == '{')
            {
                last_space = 1;
                found = 1;
            }

            if (found) {
                src = b->pos - 1;

                if (tn_conf_push_arg(cf, start, src, need_space) != TN_OK) {
                    return TN_ERROR;
                }

                if (ch == ';') {
                    return TN_OK;
                }

                if (ch == '{') {
                    return TN_CONF_BLOCK_START;
                }

                found = 0;
            }
        }
    }
}


char *
tn_conf_include(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char        *rv;
    size_t       i;
    tn_str_t    *value, file, name;
    glob_t       gl;
    int          rc;

    value = cf->args->elts;
    file = value[1];

    if (tn_conf_full_name(cf->cycle, &file, 1) != TN_OK) {
        return TN_CONF_ERROR;
    }

    if (tn_conf_include_depth >= TN_CONF_MAX_INCLUDE_DEPTH) {
        return "is nested too deeply (an include loop?)";
    }

    if (strpbrk((char *) file.data, "*?[") == NULL) {

        tn_conf_include_depth++;
        rv = tn_conf_parse(cf, &file);
        tn_conf_include_depth--;

        return rv;
    }

    tn_memzero(&gl, sizeof(glob_t));

    rc = glob((char *) file.data, 0, NULL, &gl);

    if (rc == GLOB_NOMATCH) {
        globfree(&gl);
        return TN_CONF_OK;
    }

    if (rc != 0) {
        globfree(&gl);
        tn_conf_log_error(TN_LOG_EMERG, cf, tn_errno,
                          "glob() \"%s\" failed", file.data);
        return TN_CONF_ERROR;
    }

    rv = TN_CONF_OK;

    for (i = 0; i < gl.gl_pathc; i++) {
        name.len = tn_strlen(gl.gl_pathv[i]);

        name.data = tn_pnalloc(cf->pool, name.len + 1);
        if (name.data == NULL) {
            rv = TN_CONF_ERROR;
            break;
        }

        tn_memcpy(name.data, gl.gl_pathv[i], name.len + 1);

        tn_conf_include_depth++;
        rv = tn_conf_parse(cf, &name);
        tn_conf_include_depth--;

        if (rv != TN_CONF_OK) {
            break;
        }
    }

    globfree(&gl);

    return rv;
}


tn_int_t
tn_conf_full_name(tn_cycle_t *cycle, tn_str_t *name, tn_uint_t conf_prefix)
{
    tn_str_t  *prefix;

    prefix = conf_prefix ? &cycle->conf_prefix : &cycle->prefix;

    return tn_get_full_name(cycle->pool, prefix, name);
}


tn_open_file_t *
tn_conf_open_file(tn_cycle_t *cycle, tn_str_t *name)
{
    tn_str_t         full;
    tn_uint_t        i;
    tn_list_part_t  *part;
    tn_open_file_t  *file;

    if (name->len) {
        full = *name;

        if (tn_conf_full_name(cycle, &full, 0) != TN_OK) {
            return NULL;
        }

        part = &cycle->open_files.part;
        file = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                file = part->elts;
                i = 0;
            }

            if (full.len != file[i].name.len) {
                continue;
            }

            if (tn_strcmp(full.data, file[i].name.data) == 0) {
                return &file[i];
            }
        }
    }

    file = tn_list_push(&cycle->open_files);
    if (file == NULL) {
        return NULL;
    }

    if (name->len) {
        file->fd = TN_INVALID_FILE;
        file->name = full;

    } else {
        file->fd = tn_stderr;
        file->name = *name;
    }

    return file;
}


void tn_cdecl
tn_conf_log_error(tn_uint_t level, tn_conf_t *cf, tn_err_t err,
    const char *fmt, ...)
{
    u_char   errstr[TN_MAX_CONF_ERRSTR], *p, *last;
    va_list  args;

    last = errstr + TN_MAX_CONF_ERRSTR;

    va_start(args, fmt);
    p = tn_vslprintf(errstr, last, fmt, args);
    va_end(args);

    if (err) {
        p = tn_log_errno(p, last, err);
    }

    if (cf->conf_file == NULL) {
        tn_log_error(level, cf->log, 0, "%*s", p - errstr, errstr);
        return;
    }

    if (cf->conf_file->fd == TN_INVALID_FILE) {
        tn_log_error(level, cf->log, 0, "%*s in command line",
                     p - errstr, errstr);
        return;
    }

    tn_log_error(level, cf->log, 0, "%*s in %s:%ui",
                 p - errstr, errstr,
                 cf->conf_file->name.data, cf->conf_file->line);
}


char *
tn_conf_set_flag_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    tn_str_t        *value;
    tn_flag_t       *fp;
    tn_conf_post_t  *post;

    fp = (tn_flag_t *) (p + cmd->offset);

    if (*fp != TN_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (tn_strcasecmp(value[1].data, (u_char *) "on") == 0) {
        *fp = 1;

    } else if (tn_strcasecmp(value[1].data, (u_char *) "off") == 0) {
        *fp = 0;

    } else {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                     "invalid value \"%s\" in \"%s\" directive, "
                     "it must be \"on\" or \"off\"",
                     value[1].data, cmd->name.data);
        return TN_CONF_ERROR;
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, fp);
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_str_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    tn_str_t        *field, *value;
    tn_conf_post_t  *post;

    field = (tn_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *field = value[1];

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, field);
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_path_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char      *rv;
    tn_str_t  *field;

    rv = tn_conf_set_str_slot(cf, cmd, conf);
    if (rv != TN_CONF_OK) {
        return rv;
    }

    field = (tn_str_t *) ((char *) conf + cmd->offset);

    if (tn_conf_full_name(cf->cycle, field, 0) != TN_OK) {
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_str_array_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    tn_str_t         *value, *s;
    tn_array_t      **a;
    tn_conf_post_t   *post;

    a = (tn_array_t **) (p + cmd->offset);

    if (*a == TN_CONF_UNSET_PTR) {
        *a = tn_array_create(cf->pool, 4, sizeof(tn_str_t));
        if (*a == NULL) {
            return TN_CONF_ERROR;
        }
    }

    s = tn_array_push(*a);
    if (s == NULL) {
        return TN_CONF_ERROR;
    }

    value = cf->args->elts;

    *s = value[1];

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, s);
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_num_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    tn_int_t        *np;
    tn_str_t        *value;
    tn_conf_post_t  *post;


    np = (tn_int_t *) (p + cmd->offset);

    if (*np != TN_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    *np = tn_atoi(value[1].data, value[1].len);
    if (*np == TN_ERROR) {
        return "invalid number";
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, np);
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_size_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    size_t          *sp;
    tn_str_t        *value;
    tn_conf_post_t  *post;


    sp = (size_t *) (p + cmd->offset);
    if (*sp != TN_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *sp = tn_parse_size(&value[1]);
    if (*sp == (size_t) TN_ERROR) {
        return "invalid value";
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, sp);
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_off_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    off_t           *op;
    tn_str_t        *value;
    tn_conf_post_t  *post;


    op = (off_t *) (p + cmd->offset);
    if (*op != TN_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *op = tn_parse_offset(&value[1]);
    if (*op == (off_t) TN_ERROR) {
        return "invalid value";
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, op);
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_msec_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    tn_msec_t       *msp;
    tn_str_t        *value;
    tn_conf_post_t  *post;


    msp = (tn_msec_t *) (p + cmd->offset);
    if (*msp != TN_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *msp = tn_parse_time(&value[1], 0);
    if (*msp == (tn_msec_t) TN_ERROR) {
        return "invalid value";
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, msp);
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_sec_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    time_t          *sp;
    tn_str_t        *value;
    tn_conf_post_t  *post;


    sp = (time_t *) (p + cmd->offset);
    if (*sp != TN_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *sp = tn_parse_time(&value[1], 1);
    if (*sp == (time_t) TN_ERROR) {
        return "invalid value";
    }

    if (cmd->post) {
        post = cmd->post;
        return post->post_handler(cf, post, sp);
    }

    return TN_CONF_OK;
}


char *
tn_conf_set_enum_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    tn_uint_t       *np, i;
    tn_str_t        *value;
    tn_conf_enum_t  *e;

    np = (tn_uint_t *) (p + cmd->offset);

    if (*np != TN_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len != 0; i++) {
        if (e[i].name.len != value[1].len
            || tn_strcasecmp(e[i].name.data, value[1].data) != 0)
        {
            continue;
        }

        *np = e[i].value;

        return TN_CONF_OK;
    }

    tn_conf_log_error(TN_LOG_WARN, cf, 0,
                      "invalid value \"%s\"", value[1].data);

    return TN_CONF_ERROR;
}


char *
tn_conf_check_num_bounds(tn_conf_t *cf, void *post, void *data)
{
    tn_conf_num_bounds_t  *bounds = post;
    tn_int_t  *np = data;

    if (bounds->high == -1) {
        if (*np >= bounds->low) {
            return TN_CONF_OK;
        }

        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "value must be equal to or greater than %i",
                          bounds->low);

        return TN_CONF_ERROR;
    }

    if (*np >= bounds->low && *np <= bounds->high) {
        return TN_CONF_OK;
    }

    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                      "value must be between %i and %i",
                      bounds->low, bounds->high);

    return TN_CONF_ERROR;
}

