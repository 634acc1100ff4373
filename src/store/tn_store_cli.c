
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_queue.h>

#include <termios.h>


/*
 * The admin commands: "tern [-p P] [-c C] domain add x.test" and so on.
 * They open tern.db directly, so they work while the server runs.  The
 * reason for a refusal is logged at INFO by the store functions; the
 * commands log to stderr at that level.
 */


typedef int (*tn_store_cli_pt)(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);

typedef struct {
    const char         *object;
    const char         *verb;
    tn_uint_t           nargs;        /* 0 or 1 or 2 (0 or 1) */
    tn_store_cli_pt     handler;
} tn_store_cli_cmd_t;

/* commands with a variable number of arguments get all after the verb */
typedef int (*tn_store_cli_argv_pt)(tn_store_conf_t *conf, int argc,
    char *const *argv, tn_log_t *log);

typedef struct {
    const char             *object;
    const char             *verb;
    tn_uint_t               nargs;    /* at least */
    tn_store_cli_argv_pt    handler;
} tn_store_cli_argv_cmd_t;

/* the queue commands that change messages (tn_store_cli_ops[] names) */
typedef enum {
    TN_STORE_CLI_QUEUE_FLUSH = 0,     /* deferred recipients due now */
    TN_STORE_CLI_QUEUE_HOLD,          /* env.hold set: not delivered */
    TN_STORE_CLI_QUEUE_RELEASE,       /* env.hold cleared, and a flush */
    TN_STORE_CLI_QUEUE_DELETE         /* removed without a bounce */
} tn_store_cli_queue_op_e;

typedef struct {
    tn_store_conf_t            *conf;
    tn_log_t                   *log;          /* the store's reasons */
    tn_log_t                    audit;        /* the server's error log */
    tn_open_file_t              audit_file;
    tn_store_cli_queue_op_e     op;
    tn_uint_t                   wait;         /* for the lock, seconds */
    unsigned                    all:1;        /* flush of the whole queue */
    unsigned                    changed:1;    /* written or removed */
    tn_uint_t                   flushed;      /* messages, when all */
    tn_uint_t                   busy;         /* skipped, when all */
    tn_uint_t                   failed;
} tn_store_cli_queue_t;


/* how long a queue command waits for a delivery under way, seconds */
#define TN_STORE_CLI_LOCK_WAIT  10


static int tn_store_cli_domain_add(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_domain_del(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_domain_list(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_user_add(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_user_passwd(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_user_del(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_user_list(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_index_rebuild(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_argv(tn_store_conf_t *conf, int argc,
    char *const *argv);
static int tn_store_cli_alias_add(tn_store_conf_t *conf, int argc,
    char *const *argv, tn_log_t *log);
static int tn_store_cli_alias_del(tn_store_conf_t *conf, int argc,
    char *const *argv, tn_log_t *log);
static int tn_store_cli_alias_list(tn_store_conf_t *conf, int argc,
    char *const *argv, tn_log_t *log);
static int tn_store_cli_alias_sendas(tn_store_conf_t *conf, int argc,
    char *const *argv, tn_log_t *log);
static int tn_store_cli_user_forward(tn_store_conf_t *conf, int argc,
    char *const *argv, tn_log_t *log);
static int tn_store_cli_user_quota(tn_store_conf_t *conf, int argc,
    char *const *argv, tn_log_t *log);
static int tn_store_cli_queue_list(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_queue_show(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static tn_int_t tn_store_cli_queue_line(void *data,
    tn_store_queue_env_t *env);
static int tn_store_cli_queue_json(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static tn_int_t tn_store_cli_queue_json_one(void *data,
    tn_store_queue_env_t *env);
static u_char *tn_store_cli_json_rcpt(u_char *p, tn_store_queue_rcpt_t *r);
static u_char *tn_store_cli_json_str(u_char *p, const char *s);
static int tn_store_cli_queue_flush(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_queue_hold(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_queue_release(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_queue_delete(tn_store_conf_t *conf, char *arg,
    tn_log_t *log);
static int tn_store_cli_queue_admin(tn_store_conf_t *conf, char *id,
    tn_store_cli_queue_op_e op, tn_log_t *log);
static tn_int_t tn_store_cli_queue_flush_one(void *data,
    tn_store_queue_env_t *env);
static tn_int_t tn_store_cli_queue_change(tn_store_cli_queue_t *q,
    const char *id);
static tn_int_t tn_store_cli_queue_remove_bare(tn_store_cli_queue_t *q,
    const char *id);
static u_char *tn_store_cli_queue_apply(tn_store_cli_queue_t *q,
    tn_store_queue_env_t *env, u_char *what, tn_int_t *rc);
static tn_uint_t tn_store_cli_due_now(tn_store_queue_env_t *env);
static tn_uint_t tn_store_cli_undelivered(tn_store_queue_env_t *env);
static void tn_store_cli_queue_done(tn_store_cli_queue_t *q, const char *id,
    u_char *what, u_char *end);
static tn_int_t tn_store_cli_queue_failed(tn_store_cli_queue_t *q,
    const char *id, tn_int_t rc);
static tn_uint_t tn_store_cli_lock_wait(void);
static void tn_store_cli_audit_open(tn_store_cli_queue_t *q);
static u_char *tn_store_cli_age(u_char *p, time_t t);
static tn_int_t tn_store_cli_print(void *data, const char *name);
static tn_int_t tn_store_cli_password(u_char *buf, size_t size,
    size_t *len);
static tn_int_t tn_store_cli_read_line(const char *prompt, u_char *buf,
    size_t size, size_t *len);
static void tn_store_cli_usage(void);
static int tn_store_cli_result(tn_int_t rc, const char *what, char *arg);


static tn_store_cli_cmd_t  tn_store_cli_cmds[] = {
    { "domain", "add",     1, tn_store_cli_domain_add },
    { "domain", "del",     1, tn_store_cli_domain_del },
    { "domain", "list",    0, tn_store_cli_domain_list },
    { "user",   "add",     1, tn_store_cli_user_add },
    { "user",   "passwd",  1, tn_store_cli_user_passwd },
    { "user",   "del",     1, tn_store_cli_user_del },
    { "user",   "list",    2, tn_store_cli_user_list },
    { "index",  "rebuild", 1, tn_store_cli_index_rebuild },
    { "queue",  "list",    2, tn_store_cli_queue_list },
    { "queue",  "show",    1, tn_store_cli_queue_show },
    { "queue",  "json",    0, tn_store_cli_queue_json },
    { "queue",  "flush",   2, tn_store_cli_queue_flush },
    { "queue",  "hold",    1, tn_store_cli_queue_hold },
    { "queue",  "release", 1, tn_store_cli_queue_release },
    { "queue",  "delete",  1, tn_store_cli_queue_delete },
    { NULL, NULL, 0, NULL }
};


static tn_store_cli_argv_cmd_t  tn_store_cli_argv_cmds[] = {
    { "alias",  "add",     2, tn_store_cli_alias_add },
    { "alias",  "del",     1, tn_store_cli_alias_del },
    { "alias",  "list",    0, tn_store_cli_alias_list },
    { "alias",  "sendas",  2, tn_store_cli_alias_sendas },
    { "user",   "forward", 2, tn_store_cli_user_forward },
    { "user",   "quota",   2, tn_store_cli_user_quota },
    { NULL, NULL, 0, NULL }
};


static tn_open_file_t  tn_store_cli_stderr = {
    STDERR_FILENO, tn_string("stderr")
};


int
tn_store_cli(tn_store_conf_t *conf, int argc, char *const *argv,
    tn_log_t *log)
{
    int                  rc;
    tn_uint_t            nargs;
    tn_log_t             cli;
    tn_store_cli_cmd_t  *cmd;

    if (argc < 2) {
        tn_store_cli_usage();
        return 1;
    }

    rc = tn_store_cli_argv(conf, argc, argv);
    if (rc != -1) {
        return rc;
    }

    nargs = argc - 2;

    for (cmd = tn_store_cli_cmds; cmd->object; cmd++) {
        if (strcmp(argv[0], cmd->object) != 0
            || strcmp(argv[1], cmd->verb) != 0)
        {
            continue;
        }

        if (nargs > 1 || (cmd->nargs == 1 && nargs != 1)
            || (cmd->nargs == 0 && nargs != 0))
        {
            break;
        }

        /* reasons at INFO go to the admin's terminal */

        tn_memzero(&cli, sizeof(tn_log_t));
        cli.log_level = TN_LOG_INFO;
        cli.file = &tn_store_cli_stderr;

        if (tn_store_init(conf, &cli) != TN_OK) {
            return 1;
        }

        rc = cmd->handler(conf, nargs ? argv[2] : NULL, &cli);

        /* the last connection out checkpoints and removes the -wal */
        tn_store_db_close_all();

        return rc;
    }

    tn_store_cli_usage();

    return 1;
}


/* the commands of tn_store_cli_argv_cmds: -1 when argv is none of them */

static int
tn_store_cli_argv(tn_store_conf_t *conf, int argc, char *const *argv)
{
    int                       rc;
    tn_log_t                  cli;
    tn_store_cli_argv_cmd_t  *cmd;

    for (cmd = tn_store_cli_argv_cmds; cmd->object; cmd++) {
        if (strcmp(argv[0], cmd->object) == 0
            && strcmp(argv[1], cmd->verb) == 0)
        {
            break;
        }
    }

    if (cmd->object == NULL) {
        return -1;
    }

    if ((tn_uint_t) argc - 2 < cmd->nargs) {
        tn_store_cli_usage();
        return 1;
    }

    tn_memzero(&cli, sizeof(tn_log_t));
    cli.log_level = TN_LOG_INFO;
    cli.file = &tn_store_cli_stderr;

    if (tn_store_init(conf, &cli) != TN_OK) {
        return 1;
    }

    rc = cmd->handler(conf, argc - 2, argv + 2, &cli);

    tn_store_db_close_all();

    return rc;
}


static void
tn_store_cli_usage(void)
{
    tn_write_stderr(
        "usage: tern [-p prefix] [-c conf] domain add|del DOMAIN" TN_LINEFEED
        "       tern [-p prefix] [-c conf] domain list" TN_LINEFEED
        "       tern [-p prefix] [-c conf] user add|passwd|del ADDRESS"
        TN_LINEFEED
        "       tern [-p prefix] [-c conf] user list [DOMAIN]" TN_LINEFEED
        "       tern [-p prefix] [-c conf] index rebuild ADDRESS" TN_LINEFEED
        "       tern [-p prefix] [-c conf] queue list [--json]" TN_LINEFEED
        "       tern [-p prefix] [-c conf] queue show ID" TN_LINEFEED
        "       tern [-p prefix] [-c conf] queue flush [ID]" TN_LINEFEED
        "       tern [-p prefix] [-c conf] queue hold|release|delete ID"
        TN_LINEFEED
        "       tern [-p prefix] [-c conf] alias add ADDRESS|@DOMAIN "
        "TARGET..." TN_LINEFEED
        "       tern [-p prefix] [-c conf] alias del ADDRESS|@DOMAIN "
        "[TARGET]" TN_LINEFEED
        "       tern [-p prefix] [-c conf] alias list [DOMAIN]" TN_LINEFEED
        "       tern [-p prefix] [-c conf] alias sendas ADDRESS on|off"
        TN_LINEFEED
        "       tern [-p prefix] [-c conf] user forward ADDRESS "
        "[--keep] TARGET...|off" TN_LINEFEED
        "       tern [-p prefix] [-c conf] user quota ADDRESS BYTES[k|m|g]|off"
        TN_LINEFEED
        "user add and user passwd read the password from stdin (one line)"
        TN_LINEFEED);
}


static int
tn_store_cli_result(tn_int_t rc, const char *what, char *arg)
{
    u_char  buf[256];

    if (rc == TN_OK) {
        return 0;
    }

    /* the reason was logged; this says what failed */

    *tn_snprintf(buf, sizeof(buf) - 1, "tern: %s ", what) = '\0';

    tn_store_write_escaped(STDERR_FILENO, (char *) buf, (u_char *) arg,
                           tn_min(strlen(arg), 320),
                           rc == TN_DECLINED ? ": refused" TN_LINEFEED
                                             : ": failed" TN_LINEFEED);
    return 1;
}


static int
tn_store_cli_domain_add(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    return tn_store_cli_result(tn_store_domain_add(conf, (u_char *) arg,
                                                   strlen(arg), log),
                               "domain add", arg);
}


static int
tn_store_cli_domain_del(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    return tn_store_cli_result(tn_store_domain_del(conf, (u_char *) arg,
                                                   strlen(arg), log),
                               "domain del", arg);
}


static int
tn_store_cli_domain_list(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    return tn_store_domain_list(conf, tn_store_cli_print, NULL, log)
           == TN_OK ? 0 : 1;
}


static int
tn_store_cli_user_add(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    size_t    len;
    tn_int_t  rc;
    u_char    pw[TN_STORE_PASSWORD_MAX + 2];

    if (tn_store_cli_password(pw, sizeof(pw), &len) != TN_OK) {
        return 1;
    }

    rc = tn_store_user_add(conf, (u_char *) arg, strlen(arg), pw, len, log);

    tn_explicit_memzero(pw, sizeof(pw));

    return tn_store_cli_result(rc, "user add", arg);
}


static int
tn_store_cli_user_passwd(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    size_t    len;
    tn_int_t  rc;
    u_char    pw[TN_STORE_PASSWORD_MAX + 2];

    if (tn_store_cli_password(pw, sizeof(pw), &len) != TN_OK) {
        return 1;
    }

    rc = tn_store_user_passwd(conf, (u_char *) arg, strlen(arg), pw, len,
                              log);

    tn_explicit_memzero(pw, sizeof(pw));

    return tn_store_cli_result(rc, "user passwd", arg);
}


static int
tn_store_cli_user_del(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    return tn_store_cli_result(tn_store_user_del(conf, (u_char *) arg,
                                                 strlen(arg), log),
                               "user del", arg);
}


static int
tn_store_cli_user_list(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    tn_int_t  rc;

    rc = tn_store_user_list(conf, (u_char *) arg, arg ? strlen(arg) : 0,
                            tn_store_cli_print, NULL, log);

    return tn_store_cli_result(rc, "user list", arg ? arg : "");
}


static int
tn_store_cli_index_rebuild(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    tn_int_t         rc;
    tn_store_user_t  u;

    rc = tn_store_user_lookup(conf, (u_char *) arg, strlen(arg), &u, log);

    if (rc == TN_DECLINED || rc == TN_DONE) {
        tn_store_write_escaped(STDERR_FILENO, "tern: no user \"",
                               (u_char *) arg, tn_min(strlen(arg), 320),
                               "\"" TN_LINEFEED);
        return 1;
    }

    if (rc == TN_OK) {
        rc = tn_store_index_rebuild(conf, &u, log);
    }

    return tn_store_cli_result(rc, "index rebuild", arg);
}


static int
tn_store_cli_alias_add(tn_store_conf_t *conf, int argc, char *const *argv,
    tn_log_t *log)
{
    return tn_store_cli_result(tn_store_alias_add(conf, (u_char *) argv[0],
                                                  strlen(argv[0]),
                                                  (u_char **) argv + 1,
                                                  argc - 1, log),
                               "alias add", argv[0]);
}


static int
tn_store_cli_alias_del(tn_store_conf_t *conf, int argc, char *const *argv,
    tn_log_t *log)
{
    if (argc > 2) {
        tn_store_cli_usage();
        return 1;
    }

    return tn_store_cli_result(tn_store_alias_del(conf, (u_char *) argv[0],
                                   strlen(argv[0]),
                                   argc == 2 ? (u_char *) argv[1] : NULL,
                                   log),
                               "alias del", argv[0]);
}


static int
tn_store_cli_alias_list(tn_store_conf_t *conf, int argc, char *const *argv,
    tn_log_t *log)
{
    tn_int_t  rc;

    if (argc > 1) {
        tn_store_cli_usage();
        return 1;
    }

    rc = tn_store_alias_list(conf, argc ? (u_char *) argv[0] : NULL,
                             argc ? strlen(argv[0]) : 0, tn_store_cli_print,
                             NULL, log);

    return tn_store_cli_result(rc, "alias list", argc ? argv[0] : "");
}


static int
tn_store_cli_alias_sendas(tn_store_conf_t *conf, int argc, char *const *argv,
    tn_log_t *log)
{
    tn_uint_t  on;

    if (argc != 2
        || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0))
    {
        tn_store_cli_usage();
        return 1;
    }

    on = (strcmp(argv[1], "on") == 0);

    return tn_store_cli_result(tn_store_alias_sendas(conf,
                                   (u_char *) argv[0], strlen(argv[0]), on,
                                   log),
                               "alias sendas", argv[0]);
}


static int
tn_store_cli_user_forward(tn_store_conf_t *conf, int argc, char *const *argv,
    tn_log_t *log)
{
    tn_int_t   rc;
    tn_uint_t  keep, first;

    keep = (strcmp(argv[1], "--keep") == 0);
    first = keep ? 2 : 1;

    if (argc == 2 && strcmp(argv[1], "off") == 0) {
        rc = tn_store_user_forward(conf, (u_char *) argv[0], strlen(argv[0]),
                                   NULL, 0, 0, log);

    } else if ((tn_uint_t) argc > first) {
        rc = tn_store_user_forward(conf, (u_char *) argv[0], strlen(argv[0]),
                                   (u_char **) argv + first, argc - first,
                                   keep, log);

    } else {
        tn_store_cli_usage();
        return 1;
    }

    return tn_store_cli_result(rc, "user forward", argv[0]);
}


static int
tn_store_cli_user_quota(tn_store_conf_t *conf, int argc, char *const *argv,
    tn_log_t *log)
{
    off_t     bytes;
    tn_str_t  v;

    if (argc != 2) {
        tn_store_cli_usage();
        return 1;
    }

    if (strcmp(argv[1], "off") == 0) {
        bytes = 0;

    } else {
        v.data = (u_char *) argv[1];
        v.len = strlen(argv[1]);

        bytes = tn_parse_offset(&v);

        if (bytes == TN_ERROR) {
            tn_store_write_escaped(STDERR_FILENO, "tern: invalid size \"",
                                   v.data, tn_min(v.len, 320),
                                   "\" (BYTES, with k, m or g, or off)"
                                   TN_LINEFEED);
            return 1;
        }
    }

    return tn_store_cli_result(tn_store_user_quota(conf, (u_char *) argv[0],
                                                   strlen(argv[0]), bytes,
                                                   log),
                               "user quota", argv[0]);
}


static const char  *tn_store_cli_states[] = {
    "pending", "deferred", "delivered", "bounced"
};

static const char  *tn_store_cli_ops[] = {
    "flush", "hold", "release", "delete"
};


static int
tn_store_cli_queue_list(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    if (arg != NULL) {
        if (strcmp(arg, "--json") == 0) {
            return tn_store_cli_queue_json(conf, NULL, log);
        }

        tn_store_cli_usage();
        return 1;
    }

    return tn_store_queue_list(conf, tn_store_cli_queue_line, NULL, log)
           == TN_OK ? 0 : 1;
}


/* "ID SIZE AGE <sender> <rcpt>:state ...", every string escaped */
static tn_int_t
tn_store_cli_queue_line(void *data, tn_store_queue_env_t *env)
{
    size_t                  size;
    u_char                 *buf, *p;
    tn_uint_t               i;
    tn_store_queue_rcpt_t  *r;

    size = 128 + 4 * strlen(env->sender);

    for (i = 0; i < env->nrcpts; i++) {
        size += 16 + 4 * strlen(env->rcpts[i].address);
    }

    buf = malloc(size);
    if (buf == NULL) {
        return TN_ERROR;
    }

    p = tn_sprintf(buf, "%s %O ", env->id, env->size);
    p = tn_store_cli_age(p, env->received);
    p = tn_cpymem(p, " <", 2);
    p = tn_escape_log(p, (u_char *) env->sender, strlen(env->sender));
    *p++ = '>';

    for (i = 0; i < env->nrcpts; i++) {
        r = &env->rcpts[i];

        p = tn_cpymem(p, " <", 2);
        p = tn_escape_log(p, (u_char *) r->address, strlen(r->address));
        p = tn_sprintf(p, ">:%s", tn_store_cli_states[r->status]);
    }

    *p++ = LF;

    (void) tn_write_fd(STDOUT_FILENO, buf, p - buf);
    free(buf);

    return TN_OK;
}


static u_char *
tn_store_cli_age(u_char *p, time_t t)
{
    time_t  age;

    age = time(NULL) - t;

    if (age < 0) {
        age = 0;
    }

    if (age < 60) {
        return tn_sprintf(p, "%Ts", age);
    }

    if (age < 3600) {
        return tn_sprintf(p, "%Tm", age / 60);
    }

    if (age < 86400) {
        return tn_sprintf(p, "%Th%02Tm", age / 3600, age % 3600 / 60);
    }

    return tn_sprintf(p, "%Td%02Th", age / 86400, age % 86400 / 3600);
}


static int
tn_store_cli_queue_show(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    u_char                  buf[256], *p;
    tn_int_t                rc;
    tn_uint_t               i;
    tn_store_queue_env_t    env;
    tn_store_queue_rcpt_t  *r;

    rc = tn_store_queue_read(conf, arg, &env, log);

    if (rc != TN_OK) {
        tn_store_write_escaped(STDERR_FILENO, "tern: no queued message \"",
                               (u_char *) arg, tn_min(strlen(arg), 320),
                               rc == TN_DECLINED ? "\"" TN_LINEFEED
                                                 : "\" (unreadable)"
                                                   TN_LINEFEED);
        return 1;
    }

    p = tn_sprintf(buf, "id: %s%Nsize: %O%Nreceived: %T (", env.id,
                   env.size, env.received);
    p = tn_store_cli_age(p, env.received);
    p = tn_sprintf(p, " ago)%Nret: %s%Nsmtputf8: %s%N8bit: %s%Nhold: %s%N",
                   env.ret == TN_QUEUE_RET_FULL ? "full"
                   : env.ret == TN_QUEUE_RET_HDRS ? "hdrs" : "-",
                   env.smtputf8 ? "yes" : "no", env.body_8bit ? "yes" : "no",
                   env.hold ? "yes" : "no");
    (void) tn_write_fd(STDOUT_FILENO, buf, p - buf);

    tn_store_write_escaped(STDOUT_FILENO, "sender: <", (u_char *) env.sender,
                           strlen(env.sender), ">" TN_LINEFEED);
    tn_store_write_escaped(STDOUT_FILENO, "auth user: ",
                           (u_char *) env.auth_user, strlen(env.auth_user),
                           TN_LINEFEED);
    tn_store_write_escaped(STDOUT_FILENO, "envid: ", (u_char *) env.envid,
                           strlen(env.envid), TN_LINEFEED);

    for (i = 0; i < env.nrcpts; i++) {
        r = &env.rcpts[i];

        tn_store_write_escaped(STDOUT_FILENO, "rcpt: <", (u_char *) r->address,
                               strlen(r->address), ">" TN_LINEFEED);

        p = tn_sprintf(buf, "  status: %s%N  tries: %ui%N  next try: %T%N"
                       "  notify: %s%s%s%s%N",
                       tn_store_cli_states[r->status], r->tries, r->next_try,
                       r->notify & TN_QUEUE_NOTIFY_NEVER ? "never " : "",
                       r->notify & TN_QUEUE_NOTIFY_SUCCESS ? "success " : "",
                       r->notify & TN_QUEUE_NOTIFY_FAILURE ? "failure " : "",
                       r->notify & TN_QUEUE_NOTIFY_DELAY ? "delay " : "");
        (void) tn_write_fd(STDOUT_FILENO, buf, p - buf);

        tn_store_write_escaped(STDOUT_FILENO, "  orcpt: ", (u_char *) r->orcpt,
                               strlen(r->orcpt), TN_LINEFEED);
        tn_store_write_escaped(STDOUT_FILENO, "  error: ", (u_char *) r->error,
                               strlen(r->error), TN_LINEFEED);
        tn_store_write_escaped(STDOUT_FILENO, "  delivered to: ",
                               (u_char *) r->delivered_to,
                               strlen(r->delivered_to), TN_LINEFEED);
    }

    tn_store_queue_env_free(&env);

    return 0;
}


/*
 * "queue list --json" (also "queue json"): the whole queue as one JSON
 * array, one message object a line, for the admin UI.  Read-only: no
 * lock is taken, a message being delivered shows its last written state.
 */

static int
tn_store_cli_queue_json(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    tn_int_t   rc;
    tn_uint_t  n;

    n = 0;

    rc = tn_store_queue_list(conf, tn_store_cli_queue_json_one, &n, log);

    /* the array is closed whatever happened: stdout is one document */

    if (tn_write_fd(STDOUT_FILENO, n ? "\n]\n" : "[]\n", 3) != 3) {
        rc = TN_ERROR;
    }

    if (rc != TN_OK) {
        tn_write_stderr("tern: queue list --json failed" TN_LINEFEED);
        return 1;
    }

    return 0;
}


static tn_int_t
tn_store_cli_queue_json_one(void *data, tn_store_queue_env_t *env)
{
    size_t                  size;
    u_char                 *buf, *p;
    ssize_t                 n;
    tn_uint_t               i, *count;
    tn_store_queue_rcpt_t  *r;

    count = data;

    /* a string byte takes 6 bytes at most ("\u00XX", "\uFFFD") */

    size = 256 + 6 * (strlen(env->id) + strlen(env->sender)
                      + strlen(env->auth_user) + strlen(env->envid));

    for (i = 0; i < env->nrcpts; i++) {
        r = &env->rcpts[i];
        size += 256 + 6 * (strlen(r->address) + strlen(r->orcpt)
                           + strlen(r->error) + strlen(r->delivered_to));
    }

    buf = malloc(size);
    if (buf == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(buf, *count ? ",\n{\"id\":" : "[\n{\"id\":", 8);
    p = tn_store_cli_json_str(p, env->id);
    p = tn_sprintf(p, ",\"size\":%O,\"received\":%T,\"sender\":", env->size,
                   env->received);
    p = tn_store_cli_json_str(p, env->sender);
    p = tn_cpymem(p, ",\"auth_user\":", 13);
    p = tn_store_cli_json_str(p, env->auth_user);
    p = tn_cpymem(p, ",\"envid\":", 9);
    p = tn_store_cli_json_str(p, env->envid);
    p = tn_sprintf(p, ",\"ret\":%s,\"smtputf8\":%s,\"body_8bit\":%s,"
                   "\"hold\":%s,\"recipients\":[",
                   env->ret == TN_QUEUE_RET_FULL ? "\"full\""
                   : env->ret == TN_QUEUE_RET_HDRS ? "\"hdrs\"" : "null",
                   env->smtputf8 ? "true" : "false",
                   env->body_8bit ? "true" : "false",
                   env->hold ? "true" : "false");

    for (i = 0; i < env->nrcpts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = tn_store_cli_json_rcpt(p, &env->rcpts[i]);
    }

    p = tn_cpymem(p, "]}", 2);

    n = tn_write_fd(STDOUT_FILENO, buf, p - buf);
    free(buf);

    if (n != p - buf) {
        return TN_ERROR;
    }

    (*count)++;

    return TN_OK;
}


static u_char *
tn_store_cli_json_rcpt(u_char *p, tn_store_queue_rcpt_t *r)
{
    tn_uint_t  i, first;

    static const char  *notify[] = { "never", "success", "failure", "delay" };

    p = tn_cpymem(p, "{\"address\":", 11);
    p = tn_store_cli_json_str(p, r->address);
    p = tn_cpymem(p, ",\"orcpt\":", 9);
    p = tn_store_cli_json_str(p, r->orcpt);

    /* TN_QUEUE_NOTIFY_NEVER ... _DELAY are the bits 0 to 3 */

    p = tn_cpymem(p, ",\"notify\":[", 11);
    first = 1;

    for (i = 0; i < 4; i++) {
        if (r->notify & (1 << i)) {
            p = tn_sprintf(p, first ? "\"%s\"" : ",\"%s\"", notify[i]);
            first = 0;
        }
    }

    p = tn_sprintf(p, "],\"status\":\"%s\",\"tries\":%ui,\"next_try\":%T,"
                   "\"delay_warned\":%s,\"error\":",
                   tn_store_cli_states[r->status], r->tries, r->next_try,
                   (r->flags & TN_QUEUE_RCPT_WARNED) ? "true" : "false");
    p = tn_store_cli_json_str(p, r->error);
    p = tn_cpymem(p, ",\"delivered_to\":", 16);
    p = tn_store_cli_json_str(p, r->delivered_to);
    *p++ = '}';

    return p;
}


/*
 * A JSON string (RFC 8259): '"' and '\' escaped, control characters
 * (C0, DEL and the C1 range) and U+2028/U+2029 (line ends to JavaScript)
 * as \uXXXX, other well-formed UTF-8 as it is, and each byte that is not
 * part of well-formed UTF-8 as \uFFFD.  dst needs 6 bytes a byte of s
 * and 2 for the quotes.
 */

static u_char *
tn_store_cli_json_str(u_char *p, const char *s)
{
    u_char    *src, *end, *next;
    uint32_t   u;

    src = (u_char *) s;
    end = src + strlen(s);

    *p++ = '"';

    while (src < end) {
        next = src;
        u = tn_utf8_decode(&next, end - src);

        if (u == TN_UTF8_INVALID) {
            p = tn_cpymem(p, "\\ufffd", 6);
            src++;
            continue;
        }

        if (u == '"' || u == '\\') {
            *p++ = '\\';
            *p++ = (u_char) u;

        } else if (u < 0x20 || (u >= 0x7f && u < 0xa0)
                   || u == 0x2028 || u == 0x2029)
        {
            p = tn_sprintf(p, "\\u%04xi", (tn_uint_t) u);

        } else {
            p = tn_cpymem(p, src, next - src);
        }

        src = next;
    }

    *p++ = '"';

    return p;
}


/*
 * flush [ID], hold ID, release ID, delete ID.  Each message is changed
 * under its delivery lock (tn_store_queue_lock()): read, changed,
 * written back with tn_store_queue_update() or removed, so that neither
 * a worker delivering it nor another admin command loses the change.
 */

static int
tn_store_cli_queue_flush(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    return tn_store_cli_queue_admin(conf, arg, TN_STORE_CLI_QUEUE_FLUSH,
                                    log);
}


static int
tn_store_cli_queue_hold(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    return tn_store_cli_queue_admin(conf, arg, TN_STORE_CLI_QUEUE_HOLD,
                                    log);
}


static int
tn_store_cli_queue_release(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    return tn_store_cli_queue_admin(conf, arg, TN_STORE_CLI_QUEUE_RELEASE,
                                    log);
}


static int
tn_store_cli_queue_delete(tn_store_conf_t *conf, char *arg, tn_log_t *log)
{
    return tn_store_cli_queue_admin(conf, arg, TN_STORE_CLI_QUEUE_DELETE,
                                    log);
}


static int
tn_store_cli_queue_admin(tn_store_conf_t *conf, char *id,
    tn_store_cli_queue_op_e op, tn_log_t *log)
{
    u_char                 line[128], *p;
    tn_int_t               rc;
    tn_store_cli_queue_t   q;

    tn_memzero(&q, sizeof(tn_store_cli_queue_t));
    q.conf = conf;
    q.log = log;
    q.op = op;
    q.wait = tn_store_cli_lock_wait();
    q.all = (id == NULL);

    tn_store_cli_audit_open(&q);

    if (id) {
        rc = tn_store_cli_queue_change(&q, id);

    } else {
        rc = tn_store_queue_list(conf, tn_store_cli_queue_flush_one, &q,
                                 log);

        if (rc == TN_OK) {
            p = tn_sprintf(line, "%ui message%s flushed", q.flushed,
                           q.flushed == 1 ? "" : "s");

            if (q.busy) {
                p = tn_sprintf(p, ", %ui being delivered (skipped)", q.busy);
            }

            *p++ = LF;
            (void) tn_write_fd(STDOUT_FILENO, line, p - line);
        }

        if (q.failed) {
            rc = TN_ERROR;
        }
    }

    if (q.audit_file.fd != TN_INVALID_FILE) {
        close(q.audit_file.fd);
    }

    return rc == TN_OK ? 0 : 1;
}


/* "queue flush" without an id: every message with a deferred recipient */

static tn_int_t
tn_store_cli_queue_flush_one(void *data, tn_store_queue_env_t *env)
{
    tn_uint_t              i;
    tn_store_cli_queue_t  *q;

    q = data;

    /* a first look without the lock: most messages need no change */

    if (env->hold) {
        return TN_OK;
    }

    for (i = 0; i < env->nrcpts; i++) {
        if (env->rcpts[i].status == TN_QUEUE_DEFERRED
            && env->rcpts[i].next_try != 0)
        {
            (void) tn_store_cli_queue_change(q, env->id);
            break;
        }
    }

    return TN_OK;
}


static tn_int_t
tn_store_cli_queue_change(tn_store_cli_queue_t *q, const char *id)
{
    u_char                 what[160], *end;
    tn_fd_t                fd;
    tn_int_t               rc;
    tn_store_queue_env_t   env;

    /* the whole queue does not wait for deliveries under way */

    rc = tn_store_queue_lock(q->conf, id, q->all ? 0 : q->wait, &fd, q->log);

    if (rc == TN_DECLINED && q->op == TN_STORE_CLI_QUEUE_DELETE) {
        return tn_store_cli_queue_remove_bare(q, id);
    }

    if (rc != TN_OK) {
        return tn_store_cli_queue_failed(q, id, rc);
    }

    end = NULL;

    rc = tn_store_queue_read(q->conf, id, &env, q->log);

    if (rc == TN_OK) {
        end = tn_store_cli_queue_apply(q, &env, what, &rc);
        tn_store_queue_env_free(&env);

    } else if (rc == TN_ERROR && q->op == TN_STORE_CLI_QUEUE_DELETE) {
        /* an unreadable record (logged) can still be deleted */

        rc = tn_store_queue_remove(q->conf, id, q->log);
        q->changed = 1;
        end = tn_sprintf(what, "deleted (its envelope was unreadable), "
                         "no bounce sent");
    }

    tn_store_queue_unlock(fd);

    if (rc != TN_OK) {
        return tn_store_cli_queue_failed(q, id, rc);
    }

    if (end) {
        tn_store_cli_queue_done(q, id, what, end);
    }

    return TN_OK;
}


/*
 * An envelope without its message file (only damage makes one) can be
 * neither locked nor delivered, but it can be deleted.
 */

static tn_int_t
tn_store_cli_queue_remove_bare(tn_store_cli_queue_t *q, const char *id)
{
    u_char    what[64], *end;
    tn_int_t  rc;

    rc = tn_store_queue_remove(q->conf, id, q->log);

    if (rc != TN_OK) {
        return tn_store_cli_queue_failed(q, id, rc);
    }

    q->changed = 1;
    end = tn_sprintf(what, "deleted (it had no message file)");
    tn_store_cli_queue_done(q, id, what, end);

    return TN_OK;
}


/* changes env as q->op says and writes it back: the report, or NULL */

static u_char *
tn_store_cli_queue_apply(tn_store_cli_queue_t *q, tn_store_queue_env_t *env,
    u_char *what, tn_int_t *rc)
{
    tn_uint_t  n, held;

    *rc = TN_OK;
    q->changed = 1;

    switch (q->op) {

    case TN_STORE_CLI_QUEUE_DELETE:
        n = tn_store_cli_undelivered(env);
        *rc = tn_store_queue_remove(q->conf, env->id, q->log);

        return tn_sprintf(what, "deleted, no bounce sent (%ui recipient%s "
                          "undelivered)", n, n == 1 ? "" : "s");

    case TN_STORE_CLI_QUEUE_HOLD:
        if (env->hold) {
            q->changed = 0;
            return tn_sprintf(what, "already held");
        }

        env->hold = 1;
        *rc = tn_store_queue_update(q->conf, env, q->log);

        return tn_sprintf(what, "held");

    case TN_STORE_CLI_QUEUE_RELEASE:
        held = env->hold;
        env->hold = 0;
        n = tn_store_cli_due_now(env);

        if (held || n) {
            *rc = tn_store_queue_update(q->conf, env, q->log);

        } else {
            q->changed = 0;
        }

        return tn_sprintf(what, "%s, %ui deferred recipient%s due now",
                          held ? "released" : "was not held", n,
                          n == 1 ? "" : "s");

    default: /* TN_STORE_CLI_QUEUE_FLUSH */

        if (q->all && env->hold) {
            /* held meanwhile: the whole queue leaves it alone */
            return NULL;
        }

        n = tn_store_cli_due_now(env);

        if (n == 0) {
            q->changed = 0;
            return q->all ? NULL
                          : tn_sprintf(what, "no deferred recipient to flush");
        }

        *rc = tn_store_queue_update(q->conf, env, q->log);

        if (*rc == TN_OK && q->all) {
            q->flushed++;
        }

        return tn_sprintf(what, "flushed, %ui deferred recipient%s due now%s",
                          n, n == 1 ? "" : "s",
                          env->hold ? " (held: sent after queue release)"
                                    : "");
    }
}


/* deferred recipients become due now: how many were waiting */

static tn_uint_t
tn_store_cli_due_now(tn_store_queue_env_t *env)
{
    tn_uint_t  i, n;

    n = 0;

    for (i = 0; i < env->nrcpts; i++) {
        if (env->rcpts[i].status == TN_QUEUE_DEFERRED
            && env->rcpts[i].next_try != 0)
        {
            env->rcpts[i].next_try = 0;
            n++;
        }
    }

    return n;
}


static tn_uint_t
tn_store_cli_undelivered(tn_store_queue_env_t *env)
{
    tn_uint_t  i, n;

    n = 0;

    for (i = 0; i < env->nrcpts; i++) {
        n += (env->rcpts[i].status == TN_QUEUE_PENDING
              || env->rcpts[i].status == TN_QUEUE_DEFERRED);
    }

    return n;
}


/* "ID: what" on stdout, and a change in the server's error log too */

static void
tn_store_cli_queue_done(tn_store_cli_queue_t *q, const char *id,
    u_char *what, u_char *end)
{
    u_char  line[TN_STORE_QUEUE_ID_LEN + 192], *p;

    p = tn_snprintf(line, sizeof(line) - 1, "%s: %*s", id,
                    (size_t) (end - what), what);
    *p++ = LF;
    (void) tn_write_fd(STDOUT_FILENO, line, p - line);

    if (q->changed) {
        tn_log_error(TN_LOG_NOTICE, &q->audit, 0,
                     "queue admin: %s: %*s (uid %d)", id,
                     (size_t) (end - what), what, (int) getuid());
    }
}


static tn_int_t
tn_store_cli_queue_failed(tn_store_cli_queue_t *q, const char *id,
    tn_int_t rc)
{
    u_char  buf[64];

    switch (rc) {

    case TN_BUSY:
        if (q->all) {
            /* it is being tried right now, which is what flush asks */
            q->busy++;
            return TN_OK;
        }

        tn_store_write_escaped(STDERR_FILENO, "tern: message ", (u_char *) id,
                               strlen(id), " is being delivered, try again"
                               TN_LINEFEED);
        break;

    case TN_DECLINED:
        if (q->all) {
            /* delivered or deleted since the listing */
            return TN_OK;
        }

        tn_store_write_escaped(STDERR_FILENO, "tern: no queued message \"",
                               (u_char *) id, tn_min(strlen(id), 320),
                               "\"" TN_LINEFEED);
        break;

    default:
        /* the reason was logged to stderr */

        q->failed++;

        *tn_snprintf(buf, sizeof(buf) - 1, "tern: queue %s of ",
                     tn_store_cli_ops[q->op]) = '\0';

        tn_store_write_escaped(STDERR_FILENO, (char *) buf, (u_char *) id,
                               tn_min(strlen(id), 320),
                               " failed" TN_LINEFEED);
        break;
    }

    return rc;
}


/* how long a command waits for a delivery to end, in seconds */

static tn_uint_t
tn_store_cli_lock_wait(void)
{
    char      *v;
    tn_int_t   n;

    /* for tests: a shorter wait than the operator's */

    v = getenv("TERN_QUEUE_LOCK_WAIT");

    if (v != NULL) {
        n = tn_atoi((u_char *) v, strlen(v));

        if (n != TN_ERROR && n <= 3600) {
            return n;
        }
    }

    return TN_STORE_CLI_LOCK_WAIT;
}


/*
 * The admin's changes are also written to the server's error log (the
 * first file of "error_log"), which the CLI's cycle names but does not
 * open: appended to, never created, and only when its level includes
 * NOTICE.  Without it (or when it cannot be opened) stdout has them.
 */

static void
tn_store_cli_audit_open(tn_store_cli_queue_t *q)
{
    tn_log_t  *l;
    char       path[PATH_MAX];

    q->audit_file.fd = TN_INVALID_FILE;
    q->audit.file = &q->audit_file;
    q->audit.log_level = 0;

    if (tn_cycle == NULL) {
        return;
    }

    l = tn_log_get_file_log((tn_log_t *) &tn_cycle->new_log);

    if (l == NULL || l->log_level < TN_LOG_NOTICE
        || l->file->name.len == 0 || l->file->name.len >= PATH_MAX)
    {
        return;
    }

    tn_memcpy(path, l->file->name.data, l->file->name.len);
    path[l->file->name.len] = '\0';

    q->audit_file.fd = open(path, O_WRONLY|O_APPEND|O_CLOEXEC);

    if (q->audit_file.fd == -1) {
        q->audit_file.fd = TN_INVALID_FILE;
        return;
    }

    q->audit_file.name = l->file->name;
    q->audit.log_level = TN_LOG_NOTICE;
}


static tn_int_t
tn_store_cli_print(void *data, const char *name)
{
    /* a name from the database is data too: escape what is not text */
    tn_store_write_escaped(STDOUT_FILENO, "", (u_char *) name, strlen(name),
                           TN_LINEFEED);

    return TN_OK;
}


static tn_int_t
tn_store_cli_password(u_char *buf, size_t size, size_t *len)
{
    tn_int_t  rc;
    size_t    len2;
    u_char    again[TN_STORE_PASSWORD_MAX + 2];

    if (tn_store_cli_read_line("Password: ", buf, size, len) != TN_OK) {
        return TN_ERROR;
    }

    if (!isatty(STDIN_FILENO)) {
        return TN_OK;
    }

    /* typed blind: ask twice */

    rc = tn_store_cli_read_line("Retype password: ", again, sizeof(again),
                                &len2);

    if (rc == TN_OK && (len2 != *len || tn_memcmp(again, buf, *len) != 0)) {
        tn_write_stderr("tern: the passwords differ" TN_LINEFEED);
        rc = TN_ERROR;
    }

    tn_explicit_memzero(again, sizeof(again));

    if (rc != TN_OK) {
        tn_explicit_memzero(buf, size);
    }

    return rc;
}


static tn_int_t
tn_store_cli_read_line(const char *prompt, u_char *buf, size_t size,
    size_t *len)
{
    u_char          ch;
    size_t          n;
    ssize_t         rc;
    tn_uint_t       tty, toolong;
    struct termios  saved, quiet;

    tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;

    if (tty) {
        tn_write_stderr((char *) prompt);

        quiet = saved;
        quiet.c_lflag &= ~(ECHO|ECHOE|ECHOK|ECHONL);
        (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }

    /* one byte at a time: nothing after the line is consumed */

    n = 0;
    toolong = 0;

    for ( ;; ) {
        rc = tn_read_fd(STDIN_FILENO, &ch, 1);

        if (rc <= 0 || ch == LF) {
            break;
        }

        if (n < size - 1) {
            buf[n++] = ch;

        } else {
            toolong = 1;
        }
    }

    if (tty) {
        (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        tn_write_stderr(TN_LINEFEED);
    }

    if (rc < 0) {
        tn_write_stderr("tern: reading the password failed" TN_LINEFEED);
        tn_explicit_memzero(buf, size);
        return TN_ERROR;
    }

    if (n > 0 && buf[n - 1] == CR) {
        n--;
    }

    if (toolong || n > TN_STORE_PASSWORD_MAX) {
        tn_write_stderr("tern: the password is too long" TN_LINEFEED);
        tn_explicit_memzero(buf, size);
        return TN_ERROR;
    }

    if (n == 0) {
        tn_write_stderr("tern: empty password" TN_LINEFEED);
        return TN_ERROR;
    }

    *len = n;

    return TN_OK;
}
