
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_check.h>
#include <tn_spf.h>


/*
 * The SPF module: the "spf" and "spf_action" directives, the message
 * check (tn_mail_check.h) that runs check_host() for the MAIL FROM
 * identity (postmaster@HELO for the null reverse path) while RCPT and
 * DATA go on, and the admin command "tern spf".
 */


#define TN_MAIL_SPF_MARK     0
#define TN_MAIL_SPF_REJECT   1

/* the explanation quoted in a reply, at most */
#define TN_MAIL_SPF_REPLY_EXP  200


typedef struct {
    tn_flag_t               enable;
    tn_uint_t               action;
} tn_mail_spf_srv_conf_t;


/* a transaction's check */
typedef struct {
    tn_spf_t               *spf;
    tn_mail_msg_t          *msg;
    unsigned                helo:1;      /* the identity is the HELO */
    unsigned                running:1;   /* the lookups go on */
    unsigned                waiting:1;   /* end() returned TN_AGAIN */
} tn_mail_spf_ctx_t;


static tn_int_t tn_mail_spf_init_module(tn_cycle_t *cycle);
static void *tn_mail_spf_create_srv_conf(tn_conf_t *cf);
static char *tn_mail_spf_merge_srv_conf(tn_conf_t *cf, void *parent,
    void *child);
static tn_int_t tn_mail_spf_mail(tn_mail_msg_t *msg);
static tn_int_t tn_mail_spf_end(tn_mail_msg_t *msg);
static void tn_mail_spf_cleanup(tn_mail_msg_t *msg);
static void tn_mail_spf_handler(tn_spf_t *spf);
static tn_int_t tn_mail_spf_report(tn_mail_spf_ctx_t *ctx);
static tn_int_t tn_mail_spf_reply(tn_mail_msg_t *msg, tn_spf_t *spf,
    tn_uint_t action);
static tn_uint_t tn_mail_spf_safe(tn_str_t *s);
static int tn_mail_spf_cli(tn_cycle_t *cycle, int argc,
    char *const *argv);
static tn_int_t tn_mail_spf_cli_run(tn_cycle_t *cycle, tn_resolver_t *r,
    tn_str_t *ip, tn_str_t *sender, tn_str_t *helo, tn_uint_t batch);
static void tn_mail_spf_cli_handler(tn_spf_t *spf);
static int tn_mail_spf_cli_batch(tn_cycle_t *cycle, tn_resolver_t *r);



static tn_conf_enum_t  tn_mail_spf_actions[] = {
    { tn_string("mark"), TN_MAIL_SPF_MARK },
    { tn_string("reject"), TN_MAIL_SPF_REJECT },
    { tn_null_string, 0 }
};


static tn_command_t  tn_mail_spf_commands[] = {

    { tn_string("spf"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_spf_srv_conf_t, enable),
      NULL },

    { tn_string("spf_action"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_enum_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_spf_srv_conf_t, action),
      &tn_mail_spf_actions },

      tn_null_command
};


static tn_mail_module_t  tn_mail_spf_module_ctx = {
    NULL,                                  /* protocol */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    tn_mail_spf_create_srv_conf,           /* create server configuration */
    tn_mail_spf_merge_srv_conf             /* merge server configuration */
};


tn_module_t  tn_mail_spf_module = {
    TN_MODULE_V1,
    "tn_mail_spf_module",
    &tn_mail_spf_module_ctx,
    tn_mail_spf_commands,
    TN_MAIL_MODULE,
    tn_mail_spf_init_module,               /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    "spf",                                 /* cli name */
    tn_mail_spf_cli                        /* cli */
};


static tn_mail_check_t  tn_mail_spf_check = {
    "spf",
    tn_mail_spf_mail,
    NULL,
    NULL,
    NULL,
    tn_mail_spf_end,
    tn_mail_spf_cleanup,
    0
};


static tn_uint_t  tn_mail_spf_cli_done;


static tn_int_t
tn_mail_spf_init_module(tn_cycle_t *cycle)
{
    if (tn_mail_check_register(&tn_mail_spf_check) != TN_OK) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "too many message checks for \"spf\"");
        return TN_ERROR;
    }

    return TN_OK;
}


static void *
tn_mail_spf_create_srv_conf(tn_conf_t *cf)
{
    tn_mail_spf_srv_conf_t  *conf;

    conf = tn_pcalloc(cf->pool, sizeof(tn_mail_spf_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = TN_CONF_UNSET;
    conf->action = TN_CONF_UNSET_UINT;

    return conf;
}


static char *
tn_mail_spf_merge_srv_conf(tn_conf_t *cf, void *parent, void *child)
{
    tn_mail_spf_srv_conf_t *prev = parent;
    tn_mail_spf_srv_conf_t *conf = child;

    tn_conf_merge_value(conf->enable, prev->enable, 1);
    tn_conf_merge_uint_value(conf->action, prev->action, TN_MAIL_SPF_MARK);

    return TN_CONF_OK;
}


/* MAIL FROM was accepted: check_host() starts and runs beside RCPT, DATA */

static tn_int_t
tn_mail_spf_mail(tn_mail_msg_t *msg)
{
    tn_int_t                  rc;
    tn_str_t                 *receiver;
    tn_spf_t                 *spf;
    tn_resolver_t            *r;
    tn_mail_spf_ctx_t        *ctx;
    tn_mail_session_t        *s;
    tn_mail_spf_srv_conf_t   *conf;
    tn_mail_core_srv_conf_t  *cscf;

    tn_mail_msg_ctx(msg, tn_mail_spf_check) = NULL;

    s = msg->session;
    conf = tn_mail_get_module_srv_conf(s, tn_mail_spf_module);

    if (!conf->enable || msg->outgoing) {
        return TN_OK;
    }

    r = tn_resolver_get((tn_cycle_t *) tn_cycle);

    if (r == NULL) {
        /* no resolver configured: nothing can be checked, no result */
        return TN_OK;
    }

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);
    receiver = &cscf->server_name;

    spf = tn_spf_create(msg->pool, msg->log, r, &msg->addr_text, &msg->from,
                        &msg->helo, receiver);
    if (spf == NULL) {
        tn_log_error(TN_LOG_ERR, msg->log, 0,
                     "SPF check of \"%V\" not possible", &msg->addr_text);
        return TN_OK;
    }

    ctx = tn_pcalloc(msg->pool, sizeof(tn_mail_spf_ctx_t));
    if (ctx == NULL) {
        return TN_ERROR;
    }

    ctx->spf = spf;
    ctx->msg = msg;
    ctx->helo = (msg->from.len == 0);

    spf->handler = tn_mail_spf_handler;
    spf->data = ctx;

    tn_mail_msg_ctx(msg, tn_mail_spf_check) = ctx;

    rc = tn_spf_start(spf);

    if (rc == TN_ERROR) {
        tn_mail_msg_ctx(msg, tn_mail_spf_check) = NULL;
        return TN_ERROR;
    }

    ctx->running = (rc == TN_AGAIN);

    return TN_OK;
}


static tn_int_t
tn_mail_spf_end(tn_mail_msg_t *msg)
{
    tn_mail_spf_ctx_t  *ctx;

    ctx = tn_mail_msg_ctx(msg, tn_mail_spf_check);

    if (ctx == NULL) {
        return TN_OK;
    }

    if (ctx->running) {
        ctx->waiting = 1;
        return TN_AGAIN;
    }

    return tn_mail_spf_report(ctx);
}


static void
tn_mail_spf_cleanup(tn_mail_msg_t *msg)
{
    tn_mail_spf_ctx_t  *ctx;

    ctx = tn_mail_msg_ctx(msg, tn_mail_spf_check);

    if (ctx == NULL) {
        return;
    }

    if (ctx->running) {
        tn_spf_cancel(ctx->spf);
        ctx->running = 0;
    }

    tn_mail_msg_ctx(msg, tn_mail_spf_check) = NULL;
}


static void
tn_mail_spf_handler(tn_spf_t *spf)
{
    tn_mail_spf_ctx_t  *ctx;

    ctx = spf->data;
    ctx->running = 0;

    if (!ctx->waiting) {
        /* end() reports it when the message is in */
        return;
    }

    ctx->waiting = 0;

    if (tn_mail_spf_report(ctx) != TN_OK) {
        tn_mail_msg_verdict(ctx->msg, TN_MAIL_VERDICT_DEFER,
                            "451 4.3.0 Internal server error");
    }

    tn_mail_check_done(ctx->msg);
}


/* the result goes into Authentication-Results, the log and the verdict */

static tn_int_t
tn_mail_spf_report(tn_mail_spf_ctx_t *ctx)
{
    u_char                    *p;
    size_t                     len;
    tn_spf_t                  *spf;
    tn_str_t                   identity;
    tn_mail_msg_t             *msg;
    tn_mail_auth_result_t     *r;
    tn_mail_spf_srv_conf_t    *conf;

    spf = ctx->spf;
    msg = ctx->msg;

    r = tn_mail_msg_add_result(msg, "spf", spf->result);
    if (r == NULL) {
        return TN_ERROR;
    }

    /* the domain, lower case */

    r->domain.data = tn_pnalloc(msg->pool, spf->domain.len + 1);
    if (r->domain.data == NULL) {
        return TN_ERROR;
    }

    tn_strlow(r->domain.data, spf->domain.data, spf->domain.len);
    r->domain.len = spf->domain.len;

    if (!tn_mail_spf_safe(&r->domain)) {
        tn_str_set(&r->domain, "");
    }

    /*
     * smtp.mailfrom=SENDER or smtp.helo=HELO; a value that is not plain
     * printable ASCII without spaces is left out, never passed on.
     */

    identity = ctx->helo ? msg->helo : msg->from;

    if (tn_mail_spf_safe(&identity)) {
        len = sizeof("smtp.mailfrom=") - 1 + identity.len;
        p = tn_pnalloc(msg->pool, len);
        if (p == NULL) {
            return TN_ERROR;
        }

        r->props.data = p;
        p = tn_cpymem(p, ctx->helo ? "smtp.helo=" : "smtp.mailfrom=",
                      ctx->helo ? sizeof("smtp.helo=") - 1
                                : sizeof("smtp.mailfrom=") - 1);
        p = tn_cpymem(p, identity.data, identity.len);
        r->props.len = p - r->props.data;
    }

    r->reason = spf->reason;

    tn_log_error(TN_LOG_INFO, msg->log, 0,
                 "SPF %s for %s \"%V\" (%V)",
                 tn_spf_result_name(spf->result),
                 ctx->helo ? "helo" : "mailfrom", &r->domain, &spf->reason);

    conf = tn_mail_get_module_srv_conf(msg->session, tn_mail_spf_module);

    return tn_mail_spf_reply(msg, spf, conf->action);
}


/*
 * spf_action reject: fail is 550 5.7.23 (RFC 7372) with the explanation,
 * permerror 550 5.7.24, temperror 451 4.7.24: never a 5xx for what may
 * pass later.
 */

static tn_int_t
tn_mail_spf_reply(tn_mail_msg_t *msg, tn_spf_t *spf, tn_uint_t action)
{
    u_char  *p, *reply, ch;
    size_t   i, len;

    if (action != TN_MAIL_SPF_REJECT) {
        return TN_OK;
    }

    switch (spf->result) {

    case TN_SPF_FAIL:
        len = tn_min(spf->explanation.len, TN_MAIL_SPF_REPLY_EXP);

        reply = tn_pnalloc(msg->pool, sizeof("550 5.7.23 SPF validation "
                                             "failed: ") + len + 64);
        if (reply == NULL) {
            return TN_ERROR;
        }

        p = tn_cpymem(reply, "550 5.7.23 SPF validation failed",
                      sizeof("550 5.7.23 SPF validation failed") - 1);

        if (len) {
            *p++ = ':';
            *p++ = ' ';

            /* the explanation is the sender domain's text: printable only */

            for (i = 0; i < len; i++) {
                ch = spf->explanation.data[i];
                *p++ = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
            }
        }

        *p = '\0';

        tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_REJECT, (char *) reply);
        break;

    case TN_SPF_PERMERROR:
        tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_REJECT,
                            "550 5.7.24 SPF validation error: "
                            "the sender's SPF record is broken");
        break;

    case TN_SPF_TEMPERROR:
        tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_DEFER,
                            "451 4.7.24 SPF temporary error, "
                            "try again later");
        break;
    }

    return TN_OK;
}


static tn_uint_t
tn_mail_spf_safe(tn_str_t *s)
{
    size_t  i;

    if (s->len == 0 || s->len > 255) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] <= 0x20 || s->data[i] >= 0x7f
            || s->data[i] == '"' || s->data[i] == '\\'
            || s->data[i] == ';' || s->data[i] == '(' || s->data[i] == ')')
        {
            return 0;
        }
    }

    return 1;
}


/*
 * tern spf IP SENDER HELO: prints the result and, on a second line, the
 * explanation if there is one.  tern spf -: reads "IP<TAB>SENDER<TAB>HELO"
 * lines and prints "RESULT<TAB>EXPLANATION" for each.  SENDER "" or "<>"
 * is the null reverse path.  The command has no server around it: it
 * sets up the event loop and the resolver itself, as a worker does.
 * Exit 0 once the results are printed, 1 on a usage or setup error.
 */

static int
tn_mail_spf_cli(tn_cycle_t *cycle, int argc, char *const *argv)
{
    int             rc;
    tn_str_t        ip, sender, helo;
    tn_resolver_t  *r;

    if (!(argc == 4 || (argc == 2 && strcmp(argv[1], "-") == 0))) {
        tn_write_stderr("usage: tern [-p prefix] [-c conf] spf IP SENDER "
                        "HELO" TN_LINEFEED
                        "       tern [-p prefix] [-c conf] spf -"
                        TN_LINEFEED);
        return 1;
    }

    r = tn_resolver_cli_start(cycle);
    if (r == NULL) {
        tn_resolver_cli_stop(cycle);
        return 1;
    }

    if (argc == 2) {
        rc = tn_mail_spf_cli_batch(cycle, r);

    } else {
        ip.data = (u_char *) argv[1];
        ip.len = tn_strlen(argv[1]);
        sender.data = (u_char *) argv[2];
        sender.len = tn_strlen(argv[2]);
        helo.data = (u_char *) argv[3];
        helo.len = tn_strlen(argv[3]);

        rc = (tn_mail_spf_cli_run(cycle, r, &ip, &sender, &helo, 0) == TN_OK)
             ? 0 : 1;
    }

    tn_resolver_cli_stop(cycle);

    return rc;
}


/* "tern spf -": a check per line of standard input */

static int
tn_mail_spf_cli_batch(tn_cycle_t *cycle, tn_resolver_t *r)
{
    int        rc;
    char      *line, *f[3], *tab;
    size_t     cap;
    ssize_t    n;
    tn_uint_t  i;
    tn_str_t   ip, sender, helo;

    rc = 0;
    line = NULL;
    cap = 0;

    while ((n = getline(&line, &cap, stdin)) != -1) {

        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }

        f[0] = line;

        for (i = 1; i < 3; i++) {
            tab = strchr(f[i - 1], '\t');
            if (tab == NULL) {
                break;
            }
            *tab = '\0';
            f[i] = tab + 1;
        }

        if (i < 3) {
            printf("error\tnot IP<TAB>SENDER<TAB>HELO\n");
            fflush(stdout);
            continue;
        }

        ip.data = (u_char *) f[0];
        ip.len = tn_strlen(f[0]);
        sender.data = (u_char *) f[1];
        sender.len = tn_strlen(f[1]);
        helo.data = (u_char *) f[2];
        helo.len = tn_strlen(f[2]);

        if (tn_mail_spf_cli_run(cycle, r, &ip, &sender, &helo, 1) != TN_OK) {
            rc = 1;
            break;
        }
    }

    free(line);

    return rc;
}


static tn_int_t
tn_mail_spf_cli_run(tn_cycle_t *cycle, tn_resolver_t *r, tn_str_t *ip,
    tn_str_t *sender, tn_str_t *helo, tn_uint_t batch)
{
    size_t      i;
    tn_int_t    rc;
    tn_str_t    receiver;
    tn_spf_t   *spf;
    tn_pool_t  *pool;

    if (sender->len == 2 && tn_strncmp(sender->data, "<>", 2) == 0) {
        sender->len = 0;
    }

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, cycle->log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    receiver = cycle->hostname;

    spf = tn_spf_create(pool, cycle->log, r, ip, sender, helo, &receiver);
    if (spf == NULL) {
        tn_destroy_pool(pool);

        if (batch) {
            printf("error\tnot an IP address\n");
            fflush(stdout);
            return TN_OK;
        }

        tn_write_stderr("tern: not an IP address" TN_LINEFEED);
        return TN_ERROR;
    }

    spf->handler = tn_mail_spf_cli_handler;
    tn_mail_spf_cli_done = 0;

    rc = tn_spf_start(spf);

    if (rc == TN_ERROR) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    while (rc == TN_AGAIN && !tn_mail_spf_cli_done) {
        tn_process_events_and_timers(cycle);
    }

    /* the explanation is printed as printable ASCII on one line */

    for (i = 0; i < spf->explanation.len; i++) {
        if (spf->explanation.data[i] < 0x20
            || spf->explanation.data[i] >= 0x7f)
        {
            spf->explanation.data[i] = '?';
        }
    }

    if (batch) {
        printf("%s\t%.*s\n", tn_spf_result_name(spf->result),
               (int) spf->explanation.len, spf->explanation.data);

    } else {
        printf("%s\n", tn_spf_result_name(spf->result));

        if (spf->explanation.len) {
            printf("%.*s\n", (int) spf->explanation.len,
                   spf->explanation.data);
        }
    }

    fflush(stdout);

    tn_destroy_pool(pool);

    return TN_OK;
}


static void
tn_mail_spf_cli_handler(tn_spf_t *spf)
{
    tn_mail_spf_cli_done = 1;
}
