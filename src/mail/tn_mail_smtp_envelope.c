
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>

#include <sys/statvfs.h>


/*
 * The envelope of an SMTP transaction (see tn_mail_smtp_handler.c): MAIL
 * with its parameters, the room in the spool and the sender check of an
 * authenticated user; RCPT with its parameters and the recipient lookup
 * in the thread pool, which VRFY shares.
 */


/* what a recipient lookup carries to the thread and back */
typedef struct {
    tn_mail_task_ctx_t      task;          /* must be first */
    tn_store_conf_t        *conf;
    tn_uint_t               vrfy;          /* VRFY, not RCPT */
    size_t                  len;
    u_char                  addr[TN_SMTP_PATH_MAX + TN_SMTP_DOMAIN_MAX + 2];
    tn_int_t                rc;
    tn_store_user_t         user;          /* VRFY */

    /* RCPT: the expansion, the quota check and the DSN parameters */
    off_t                   size;          /* MAIL SIZE=, or 0 */
    tn_store_rcpt_t         r;
    tn_uint_t               over_quota;
    tn_uint_t               notify;
    size_t                  orcpt_len;
    u_char                  orcpt[TN_STORE_ADDR_MAX + 16];
} tn_mail_smtp_lookup_t;


/* the sender check of an authenticated user */
typedef struct {
    tn_mail_task_ctx_t      task;          /* must be first */
    tn_store_conf_t        *conf;
    tn_store_user_t         user;
    size_t                  len;
    u_char                  addr[TN_STORE_ADDR_MAX];
    tn_int_t                rc;
} tn_mail_smtp_sender_t;


/* the MAIL parameters */
typedef struct {
    off_t                   size;
    tn_uint_t               ret;
    unsigned                body_8bit:1;
    unsigned                smtputf8:1;
    u_char                  envid[101];
} tn_mail_smtp_params_t;


static tn_int_t tn_mail_smtp_spool_room(tn_mail_session_t *s,
    tn_connection_t *c, off_t size);
static void tn_mail_smtp_mail_accept(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_smtp_sender_check(tn_mail_session_t *s,
    tn_connection_t *c);
static void tn_mail_smtp_sender_thread(void *data, tn_log_t *log);
static void tn_mail_smtp_sender_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_smtp_mail_params(tn_mail_session_t *s,
    tn_smtp_path_t *path, tn_mail_smtp_params_t *mp);
static tn_int_t tn_mail_smtp_mail_body(tn_mail_session_t *s,
    tn_str_t *value, tn_mail_smtp_params_t *mp);
static tn_int_t tn_mail_smtp_rcpt_params(tn_mail_session_t *s,
    tn_smtp_path_t *path, tn_mail_smtp_lookup_t *lk);
static tn_uint_t tn_mail_smtp_is_param(tn_keyval_t *kv, char *name);
static void tn_mail_smtp_lookup_thread(void *data, tn_log_t *log);
static void tn_mail_smtp_lookup_cancel(tn_thread_task_t *task);
static void tn_mail_smtp_lookup_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static void tn_mail_smtp_rcpt_found(tn_mail_session_t *s,
    tn_mail_smtp_lookup_t *lk);
static tn_int_t tn_mail_smtp_rcpt_accept(tn_mail_session_t *s,
    tn_mail_smtp_lookup_t *lk);
static tn_int_t tn_mail_smtp_rcpt_add(tn_mail_session_t *s,
    tn_store_user_t *u);


tn_int_t
tn_mail_smtp_mail(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_int_t                  rc;
    const char               *err;
    tn_smtp_path_t            path;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_params_t     mp;
    tn_mail_smtp_srv_conf_t  *sscf;

    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (sscf->auth == TN_MAIL_SMTP_AUTH_REQUIRED
        && !tn_mail_smtp_authenticated(s))
    {
        tn_mail_smtp_error(s, "530 5.7.0 Authentication required");
        return TN_OK;
    }

    if (s->parse.nargs == 0) {
        tn_mail_smtp_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return TN_OK;
    }

    if (tn_mail_smtp_parse_path(&s->parse.args[0], 0, &path, &err)
        != TN_OK)
    {
        tn_mail_smtp_error(s, "%s", err);
        return TN_OK;
    }

    tn_memzero(&mp, sizeof(tn_mail_smtp_params_t));

    rc = tn_mail_smtp_mail_params(s, &path, &mp);
    if (rc != TN_OK) {
        return TN_OK;
    }

    if (path.utf8 && !mp.smtputf8) {
        tn_mail_smtp_reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
        return TN_OK;
    }

    if (path.addr.len >= TN_STORE_ADDR_MAX) {
        tn_mail_smtp_error(s, "501 5.1.7 Bad sender address syntax");
        return TN_OK;
    }

    if (tn_mail_smtp_spool_room(s, c, mp.size) != TN_OK) {
        tn_mail_smtp_reply(s, "452 4.3.1 Insufficient system storage");
        return TN_OK;
    }

    tx = tn_mail_smtp_tx_create(s, c);
    if (tx == NULL) {
        return TN_ERROR;
    }

    tx->size_param = mp.size;
    tx->body_8bit = mp.body_8bit;
    tx->smtputf8 = mp.smtputf8;
    tx->ret = mp.ret;
    tn_memcpy(tx->envid, mp.envid, sizeof(tx->envid));

    if (!path.null_path) {
        tx->from.data = tn_pnalloc(tx->pool, path.addr.len);
        if (tx->from.data == NULL) {
            return TN_ERROR;
        }

        tn_memcpy(tx->from.data, path.addr.data, path.addr.len);
        tx->from.len = path.addr.len;
    }

    /* an authenticated user sends as one of its own addresses only */

    if (tn_mail_smtp_authenticated(s) && sscf->sender_check
        && !path.null_path)
    {
        return tn_mail_smtp_sender_check(s, c);
    }

    tn_mail_smtp_mail_accept(s, c);

    return TN_OK;
}


/*
 * MAIL is accepted: the message checks start (tn_mail_check.h) and the
 * 250 goes out, or the transaction ends with a 451 when they cannot.
 */
static void
tn_mail_smtp_mail_accept(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_msg_t           *msg;
    tn_mail_smtp_tx_t       *tx;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    tx = sctx->tx;

    if (tn_mail_check_active()) {
        msg = tn_mail_msg_create(tx->pool, s);
        if (msg == NULL) {
            goto failed;
        }

        tx->msg = msg;

        msg->id.data = tx->id;
        msg->id.len = TN_MAIL_SMTP_QUEUE_ID_LEN;
        msg->from = tx->from;
        msg->helo = sctx->helo;
        msg->sockaddr = c->sockaddr;
        msg->socklen = c->socklen;
        msg->addr_text = c->addr_text;
        msg->host = s->host;
        msg->outgoing = tn_mail_smtp_may_relay(s) ? 1 : 0;

        if (tn_mail_msg_mail(msg) != TN_OK) {
            goto failed;
        }
    }

    tn_mail_smtp_reply(s, "250 2.1.0 Ok");

    tn_mail_smtp_enter_state(s, tn_smtp_state_mail);

    return;

failed:

    /* the cleanup of the transaction pool calls the checks' cleanup() */
    tn_mail_smtp_tx_reset(s);
    tn_mail_smtp_reply(s, "451 4.3.0 Error: try again later");
}


/* R4: room for the message and then some, before it is sent */
static tn_int_t
tn_mail_smtp_spool_room(tn_mail_session_t *s, tn_connection_t *c,
    off_t size)
{
    struct statvfs    fs;
    tn_store_conf_t  *conf;

    conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);

    if (statvfs((char *) conf->spool_dir.data, &fs) == 0
        && (off_t) fs.f_bavail * (off_t) fs.f_frsize
           < size + size / 2 + 1024 * 1024)
    {
        tn_log_error(TN_LOG_CRIT, c->log, 0,
                     "not enough free space in \"%V\" for a message",
                     &conf->spool_dir);
        return TN_DECLINED;
    }

    return TN_OK;
}


/* tn_store_may_send_as() in the thread pool */
static tn_int_t
tn_mail_smtp_sender_check(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_thread_task_t         *task;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_sender_t    *sd;
    tn_mail_smtp_session_t   *sctx;

    sctx = s->data;
    tx = sctx->tx;

    task = tn_mail_task_alloc(s, sizeof(tn_mail_smtp_sender_t),
                              tn_mail_smtp_sender_thread,
                              tn_mail_smtp_sender_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    sd = task->ctx;
    sd->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    sd->user = *s->user;
    sd->len = tx->from.len;
    tn_memcpy(sd->addr, tx->from.data, tx->from.len);

    if (tn_mail_task_post(s, task) != TN_OK) {
        tn_mail_task_free(s, task);
        tn_mail_smtp_tx_reset(s);
        tn_mail_smtp_reply(s, "451 4.3.0 Error: try again later");
        return TN_OK;
    }

    c->log->action = "checking the sender";

    return TN_AGAIN;
}


/* in a pool thread */
static void
tn_mail_smtp_sender_thread(void *data, tn_log_t *log)
{
    tn_mail_smtp_sender_t  *sd = data;

    sd->rc = tn_store_may_send_as(sd->conf, &sd->user, sd->addr, sd->len,
                                  log);
}


static void
tn_mail_smtp_sender_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_connection_t        *c;
    tn_mail_smtp_sender_t  *sd;

    c = s->connection;
    sd = task->ctx;

    switch (sd->rc) {

    case TN_OK:
        tn_mail_smtp_mail_accept(s, c);
        break;

    case TN_DECLINED:
        tn_log_error(TN_LOG_INFO, c->log, 0, "sender <%*s> rejected: not "
                     "owned by %V", sd->len, sd->addr, &s->login);
        tn_mail_smtp_tx_reset(s);
        tn_mail_smtp_reply(s, "553 5.7.1 Sender address rejected: not "
                           "owned by user");
        break;

    default:
        tn_mail_smtp_tx_reset(s);
        tn_mail_smtp_reply(s, "451 4.3.0 Error: try again later");
        break;
    }

    tn_mail_task_free(s, task);

    tn_mail_smtp_process(s, c);
}


/*
 * SIZE= and BODY= (RFC 1870, RFC 6152), SMTPUTF8 (RFC 6531), AUTH= (RFC
 * 4954), RET= and ENVID= (RFC 3461); anything else is refused
 */
static tn_int_t
tn_mail_smtp_mail_params(tn_mail_session_t *s, tn_smtp_path_t *path,
    tn_mail_smtp_params_t *mp)
{
    tn_int_t                  rc;
    tn_uint_t                 i;
    tn_keyval_t              *kv;
    tn_mail_smtp_srv_conf_t  *sscf;

    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    for (i = 0; i < path->nparams; i++) {
        kv = &path->params[i];

        if (tn_mail_smtp_is_param(kv, "SIZE")) {
            if (tn_smtp_param_size(&kv->value, &mp->size) != TN_OK) {
                tn_mail_smtp_error(s, "501 5.5.4 Bad SIZE parameter");
                return TN_DECLINED;
            }

            if (sscf->max_message_size
                && mp->size > sscf->max_message_size)
            {
                tn_mail_smtp_reply(s, "552 5.3.4 Message size exceeds "
                                   "fixed maximum message size");
                return TN_DECLINED;
            }

            continue;
        }

        if (tn_mail_smtp_is_param(kv, "BODY")) {
            if (tn_mail_smtp_mail_body(s, &kv->value, mp) != TN_OK) {
                return TN_DECLINED;
            }

            continue;
        }

        /* RFC 6531 3.4: no value */
        if (tn_mail_smtp_is_param(kv, "SMTPUTF8")) {
            if (kv->value.len) {
                tn_mail_smtp_error(s, "501 5.5.4 Bad SMTPUTF8 parameter");
                return TN_DECLINED;
            }

            mp->smtputf8 = 1;
            continue;
        }

        if (tn_mail_smtp_is_param(kv, "RET")
            || tn_mail_smtp_is_param(kv, "ENVID"))
        {
            rc = (kv->key.len == 3)
                 ? tn_mail_smtp_param_ret(&kv->value, &mp->ret)
                 : tn_mail_smtp_param_envid(&kv->value, mp->envid);

            if (rc != TN_OK) {
                tn_mail_smtp_error(s, "555 5.5.4 Bad %V parameter",
                                   &kv->key);
                return TN_DECLINED;
            }

            continue;
        }

        /*
         * RFC 4954 5: AUTH=<mailbox> or AUTH=<> of a trusted relay; the
         * identity is the session's own login, so the value is ignored
         */
        if (sscf->auth != TN_MAIL_SMTP_AUTH_OFF
            && tn_mail_smtp_is_param(kv, "AUTH") && kv->value.len)
        {
            continue;
        }

        tn_mail_smtp_error(s, "555 5.5.4 Unsupported option: %V",
                           &kv->key);
        return TN_DECLINED;
    }

    return TN_OK;
}


/* BODY=7BIT or BODY=8BITMIME (RFC 6152) */
static tn_int_t
tn_mail_smtp_mail_body(tn_mail_session_t *s, tn_str_t *value,
    tn_mail_smtp_params_t *mp)
{
    if (value->len == 4
        && tn_strncasecmp(value->data, (u_char *) "7BIT", 4) == 0)
    {
        return TN_OK;
    }

    if (value->len != 8
        || tn_strncasecmp(value->data, (u_char *) "8BITMIME", 8))
    {
        tn_mail_smtp_error(s, "501 5.5.4 Bad BODY parameter");
        return TN_DECLINED;
    }

    mp->body_8bit = 1;

    return TN_OK;
}


/* RCPT NOTIFY= and ORCPT= (RFC 3461) into the lookup */
static tn_int_t
tn_mail_smtp_rcpt_params(tn_mail_session_t *s, tn_smtp_path_t *path,
    tn_mail_smtp_lookup_t *lk)
{
    tn_uint_t     i;
    tn_keyval_t  *kv;

    for (i = 0; i < path->nparams; i++) {
        kv = &path->params[i];

        if (tn_mail_smtp_is_param(kv, "NOTIFY")) {
            if (tn_mail_smtp_param_notify(&kv->value, &lk->notify)
                != TN_OK)
            {
                tn_mail_smtp_error(s, "555 5.5.4 Bad NOTIFY parameter");
                return TN_DECLINED;
            }

            continue;
        }

        if (tn_mail_smtp_is_param(kv, "ORCPT")) {
            if (tn_mail_smtp_param_orcpt(&kv->value) != TN_OK) {
                tn_mail_smtp_error(s, "555 5.5.4 Bad ORCPT parameter");
                return TN_DECLINED;
            }

            tn_memcpy(lk->orcpt, kv->value.data, kv->value.len);
            lk->orcpt_len = kv->value.len;
            continue;
        }

        tn_mail_smtp_error(s, "555 5.5.4 Unsupported option: %V",
                           &kv->key);
        return TN_DECLINED;
    }

    return TN_OK;
}


static tn_uint_t
tn_mail_smtp_is_param(tn_keyval_t *kv, char *name)
{
    size_t  len;

    len = tn_strlen(name);

    return kv->key.len == len
           && tn_strncasecmp(kv->key.data, (u_char *) name, len) == 0;
}


tn_int_t
tn_mail_smtp_rcpt(tn_mail_session_t *s, tn_connection_t *c)
{
    const char               *err;
    tn_smtp_path_t            path;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sctx = s->data;
    tx = sctx->tx;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (s->parse.nargs == 0) {
        tn_mail_smtp_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return TN_OK;
    }

    if (tn_mail_smtp_parse_path(&s->parse.args[0], 1, &path, &err)
        != TN_OK)
    {
        tn_mail_smtp_error(s, "%s", err);
        return TN_OK;
    }

    tx->rcpts_seen++;

    if (path.utf8 && !tx->smtputf8) {
        tn_mail_smtp_reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
        return TN_OK;
    }

    if (tx->nrcpts + tx->nremote >= sscf->max_recipients) {
        tn_mail_smtp_reply(s, "452 4.5.3 Too many recipients");
        return TN_OK;
    }

    return tn_mail_smtp_lookup(s, c, &path, 0);
}


/*
 * Starts a lookup in the thread pool: tn_store_user_lookup() for VRFY;
 * for RCPT tn_store_rcpt_resolve() (aliases, forwards, catch-all,
 * plus-addressing) and the quota of each local user found.
 */
tn_int_t
tn_mail_smtp_lookup(tn_mail_session_t *s, tn_connection_t *c,
    tn_smtp_path_t *path, tn_uint_t vrfy)
{
    u_char                   *p;
    tn_thread_task_t         *task;
    tn_mail_smtp_lookup_t    *lk;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_core_srv_conf_t  *cscf;

    sctx = s->data;

    task = tn_mail_task_alloc(s, sizeof(tn_mail_smtp_lookup_t),
                              tn_mail_smtp_lookup_thread,
                              tn_mail_smtp_lookup_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    lk = task->ctx;
    lk->task.cancel = tn_mail_smtp_lookup_cancel;
    lk->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    lk->vrfy = vrfy;

    if (!vrfy) {
        lk->size = sctx->tx->size_param;

        if (tn_mail_smtp_rcpt_params(s, path, lk) != TN_OK) {
            tn_mail_task_free(s, task);
            return TN_OK;
        }
    }

    p = tn_cpymem(lk->addr, path->local.data, path->local.len);

    if (path->domain.len) {
        *p++ = '@';
        p = tn_cpymem(p, path->domain.data, path->domain.len);

    } else {
        /* RCPT TO:<postmaster> (RFC 5321 4.5.1): ours */
        cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

        if (cscf->server_name.len <= TN_SMTP_DOMAIN_MAX) {
            *p++ = '@';
            p = tn_cpymem(p, cscf->server_name.data, cscf->server_name.len);
        }
    }

    lk->len = p - lk->addr;

    if (tn_mail_task_post(s, task) != TN_OK) {
        tn_mail_task_free(s, task);
        tn_mail_smtp_reply(s, "451 4.3.0 Error: try again later");
        return TN_OK;
    }

    c->log->action = "looking up a recipient";

    return TN_AGAIN;
}


/* in a pool thread */
static void
tn_mail_smtp_lookup_thread(void *data, tn_log_t *log)
{
    tn_int_t                rc;
    tn_uint_t               i;
    tn_mail_smtp_lookup_t  *lk = data;

    if (lk->vrfy) {
        lk->rc = tn_store_user_lookup(lk->conf, lk->addr, lk->len,
                                      &lk->user, log);
        return;
    }

    lk->rc = tn_store_rcpt_resolve(lk->conf, lk->addr, lk->len, &lk->r,
                                   log);
    if (lk->rc != TN_OK) {
        return;
    }

    for (i = 0; i < lk->r.nlocal; i++) {
        rc = tn_store_quota_check(lk->conf, &lk->r.local[i], lk->size, log);

        if (rc == TN_DECLINED) {
            lk->over_quota = 1;
            break;
        }

        if (rc != TN_OK) {
            lk->rc = TN_ERROR;
            break;
        }
    }
}


/* the session closed while the lookup ran */
static void
tn_mail_smtp_lookup_cancel(tn_thread_task_t *task)
{
    tn_mail_smtp_lookup_t  *lk = task->ctx;

    tn_store_rcpt_free(&lk->r);
}


static void
tn_mail_smtp_lookup_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_connection_t        *c;
    tn_mail_smtp_lookup_t  *lk;

    c = s->connection;
    lk = task->ctx;

    switch (lk->rc) {

    case TN_OK:
        if (lk->vrfy) {
            tn_mail_smtp_reply(s, "250 2.1.5 <%s>", lk->user.address);
            break;
        }

        tn_mail_smtp_rcpt_found(s, lk);
        break;

    case TN_DECLINED:
        tn_log_error(TN_LOG_INFO, c->log, 0, "unknown recipient <%*s>",
                     lk->len, lk->addr);
        tn_mail_smtp_reply(s, "550 5.1.1 User unknown");
        break;

    case TN_DONE:
        if (!lk->vrfy && tn_mail_smtp_may_relay(s)) {
            tn_mail_smtp_rcpt_found(s, lk);
            break;
        }

        tn_log_error(TN_LOG_INFO, c->log, 0, "relaying denied to <%*s>",
                     lk->len, lk->addr);
        tn_mail_smtp_reply(s, "550 5.7.1 Relaying denied");
        break;

    default:
        tn_mail_smtp_reply(s, "451 4.3.0 Error: try again later");
        break;
    }

    tn_store_rcpt_free(&lk->r);
    tn_mail_task_free(s, task);

    tn_mail_smtp_process(s, c);
}


/* RCPT: local users and remote targets found, or a relayed address */
static void
tn_mail_smtp_rcpt_found(tn_mail_session_t *s, tn_mail_smtp_lookup_t *lk)
{
    tn_connection_t         *c;
    tn_mail_smtp_session_t  *sctx;

    c = s->connection;
    sctx = s->data;

    if (lk->over_quota) {
        tn_log_error(TN_LOG_INFO, c->log, 0, "recipient <%*s> over quota",
                     lk->len, lk->addr);
        tn_mail_smtp_quota_reply(s);
        return;
    }

    if (tn_mail_smtp_rcpt_accept(s, lk) != TN_OK) {
        tn_mail_smtp_reply(s, "451 4.3.0 Internal server error");
        return;
    }

    tn_mail_smtp_reply(s, "250 2.1.5 Ok");

    if (sctx->state == tn_smtp_state_mail) {
        tn_mail_smtp_enter_state(s, tn_smtp_state_rcpt);
    }
}


/*
 * Adds what one RCPT resolved to: its local users (each once per
 * message, whatever RCPT named them) and its remote targets, or the
 * address itself when it is relayed (lk->rc == TN_DONE).
 */
static tn_int_t
tn_mail_smtp_rcpt_accept(tn_mail_session_t *s, tn_mail_smtp_lookup_t *lk)
{
    tn_uint_t                i;
    tn_str_t                 orcpt, via;
    tn_mail_smtp_tx_t       *tx;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    tx = sctx->tx;

    orcpt.data = lk->orcpt;
    orcpt.len = lk->orcpt_len;

    via.data = lk->addr;
    via.len = 0;

    if (lk->rc == TN_DONE) {
        if (tn_mail_smtp_remote_add(tx, lk->addr, lk->len, &orcpt,
                                    lk->notify, &via)
            != TN_OK)
        {
            return TN_ERROR;
        }

    } else {
        for (i = 0; i < lk->r.nlocal; i++) {
            if (tn_mail_smtp_rcpt_add(s, &lk->r.local[i]) != TN_OK) {
                return TN_ERROR;
            }
        }

        /* the RCPT as given marks the copies its rules send away */
        via.len = lk->len;

        for (i = 0; i < lk->r.nremote; i++) {
            if (tn_mail_smtp_remote_add(tx, (u_char *) lk->r.remote[i],
                                        tn_strlen(lk->r.remote[i]), &orcpt,
                                        lk->notify, &via)
                != TN_OK)
            {
                return TN_ERROR;
            }
        }
    }

    if (tx->rcpts_ok++ == 0) {
        tx->first_rcpt.data = tn_pnalloc(tx->pool, lk->len);
        if (tx->first_rcpt.data == NULL) {
            return TN_ERROR;
        }

        tn_memcpy(tx->first_rcpt.data, lk->addr, lk->len);
        tx->first_rcpt.len = lk->len;
    }

    return TN_OK;
}


/* a mailbox over quota, at RCPT or at delivery */
void
tn_mail_smtp_quota_reply(tn_mail_session_t *s)
{
    tn_mail_smtp_srv_conf_t  *sscf;

    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    tn_mail_smtp_reply(s, sscf->quota_permanent
                          ? "552 5.2.2 Mailbox full"
                          : "452 4.2.2 Mailbox full");
}


/* one copy per user: the same mailbox named twice is delivered once */
static tn_int_t
tn_mail_smtp_rcpt_add(tn_mail_session_t *s, tn_store_user_t *u)
{
    tn_uint_t                i, n;
    tn_store_user_t         *rcpts;
    tn_mail_smtp_tx_t       *tx;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    tx = sctx->tx;

    for (i = 0; i < tx->nrcpts; i++) {
        if (tx->rcpts[i].id == u->id) {
            return TN_OK;
        }
    }

    if (tx->nrcpts == tx->nalloc) {
        n = tx->nalloc ? tx->nalloc * 2 : 2;

        rcpts = tn_palloc(tx->pool, n * sizeof(tn_store_user_t));
        if (rcpts == NULL) {
            return TN_ERROR;
        }

        if (tx->rcpts) {
            tn_memcpy(rcpts, tx->rcpts,
                      tx->nrcpts * sizeof(tn_store_user_t));
            (void) tn_pfree(tx->pool, tx->rcpts);
        }

        tx->rcpts = rcpts;
        tx->nalloc = n;
    }

    tx->rcpts[tx->nrcpts++] = *u;

    return TN_OK;
}
