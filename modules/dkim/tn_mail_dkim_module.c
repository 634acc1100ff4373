
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_check.h>
#include <tn_mail_mime.h>
#include <tn_mail_dkim.h>
#include <openssl/bio.h>
#include <openssl/curve25519.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>


/*
 * DKIM as a message check: incoming messages have every DKIM-Signature
 * checked (the body hashed while DATA streams in, the keys looked up in
 * parallel), outgoing ones are signed with the keys of their From
 * domain, the signatures computed in the thread pool.
 */


/* signatures checked per message; more are reported as not checked */
#define TN_MAIL_DKIM_MAX        10
/* signatures made per message (keys of one domain) */
#define TN_MAIL_DKIM_SIGN_MAX   4


typedef struct {
    tn_array_t                 *signers;    /* tn_dkim_signer_t */
    tn_array_t                 *heads;      /* tn_dkim_sign_header_t */
    tn_flag_t                   verify;
} tn_mail_dkim_conf_t;


typedef struct tn_mail_dkim_ctx_s  tn_mail_dkim_ctx_t;


/* one key lookup, shared by the signatures naming the same key */
typedef struct {
    tn_str_t                    name;       /* s._domainkey.d */
    tn_resolver_ctx_t          *rctx;       /* in flight, or NULL */
    tn_int_t                    state;      /* TN_OK or TN_RESOLVE_* */
    tn_uint_t                   ntxt;
    tn_str_t                   *txt;
    tn_mail_dkim_ctx_t         *ctx;
} tn_mail_dkim_lookup_t;


typedef struct {
    tn_dkim_sig_t               sig;
    tn_int_t                    rc;         /* of parsing */
    const char                 *err;
    tn_mail_dkim_lookup_t      *lookup;
    tn_uint_t                   body;       /* index into ctx->bodies */
} tn_mail_dkim_one_t;


/* the signatures computed in a pool thread */
typedef struct {
    tn_mail_dkim_ctx_t         *ctx;        /* NULL: the message is gone */
    tn_uint_t                   n;
    struct {
        EVP_PKEY               *pkey;
        tn_uint_t               alg;
        tn_int_t                rc;
        size_t                  siglen;
        u_char                  md[32];
        u_char                  sig[TN_DKIM_SIG_MAX];
    }                           jobs[TN_MAIL_DKIM_SIGN_MAX];
} tn_mail_dkim_task_t;


/*
 * The body hash of a changed message, in a pool thread: the body is a
 * copy after this struct and the hash is made here, so that the thread
 * touches nothing of the transaction (which may end meanwhile)
 */
typedef struct {
    tn_mail_dkim_ctx_t         *ctx;        /* first, as in the task above:
                                               cleanup clears it */
    size_t                      len;
    tn_dkim_body_t              hash;
} tn_mail_dkim_rehash_t;


struct tn_mail_dkim_ctx_s {
    tn_mail_msg_t              *msg;
    tn_mail_dkim_conf_t        *conf;

    tn_uint_t                   nsigs;
    tn_uint_t                   skipped;
    tn_mail_dkim_one_t          sigs[TN_MAIL_DKIM_MAX];

    tn_uint_t                   nlookups;
    tn_mail_dkim_lookup_t       lookups[TN_MAIL_DKIM_MAX];
    tn_uint_t                   pending;

    /* one running hash per distinct (c=, l=) */
    tn_uint_t                   nbodies;
    tn_dkim_body_t             *bodies[TN_MAIL_DKIM_MAX];
    u_char                      md[TN_MAIL_DKIM_MAX][32];

    /* signing: the fields being made and the thread-pool task */
    tn_dkim_body_t             *sign_body;
    tn_uint_t                   nsign;
    tn_dkim_signing_t           signing[TN_MAIL_DKIM_SIGN_MAX];
    tn_dkim_signer_t           *signers[TN_MAIL_DKIM_SIGN_MAX];
    tn_thread_task_t           *task;

    unsigned                    header_done:1;
    unsigned                    waiting:1;
};


static void *tn_mail_dkim_create_main_conf(tn_conf_t *cf);
static char *tn_mail_dkim_init_main_conf(tn_conf_t *cf, void *conf);
static tn_int_t tn_mail_dkim_init_module(tn_cycle_t *cycle);
static char *tn_mail_dkim_sign_set(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static char *tn_mail_dkim_headers_set(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static tn_int_t tn_mail_dkim_mail(tn_mail_msg_t *msg);
static tn_int_t tn_mail_dkim_header_end(tn_mail_msg_t *msg);
static tn_int_t tn_mail_dkim_add_sig(tn_mail_dkim_ctx_t *ctx,
    tn_str_t *field);
static void tn_mail_dkim_resolve(tn_mail_dkim_ctx_t *ctx,
    tn_mail_dkim_lookup_t *lk);
static void tn_mail_dkim_resolved(tn_resolver_ctx_t *rctx);
static tn_int_t tn_mail_dkim_body(tn_mail_msg_t *msg, u_char *p,
    size_t len);
static tn_int_t tn_mail_dkim_end(tn_mail_msg_t *msg);
static tn_int_t tn_mail_dkim_verify(tn_mail_dkim_ctx_t *ctx);
static tn_int_t tn_mail_dkim_verify_one(tn_mail_dkim_ctx_t *ctx,
    tn_mail_dkim_one_t *one, const char **reason, tn_str_t *note);
static tn_int_t tn_mail_dkim_sign_msg(tn_mail_dkim_ctx_t *ctx);
static void tn_mail_dkim_sign_thread(void *data, tn_log_t *log);
static void tn_mail_dkim_signed(tn_event_t *ev);
static tn_int_t tn_mail_dkim_sign_add(tn_mail_dkim_ctx_t *ctx,
    tn_mail_dkim_task_t *t);
static tn_int_t tn_mail_dkim_from_domain(tn_mail_msg_t *msg,
    tn_str_t *domain);
static void tn_mail_dkim_cleanup(tn_mail_msg_t *msg);
static tn_int_t tn_mail_dkim_resign(tn_mail_msg_t *msg, u_char *text,
    size_t len);
static void tn_mail_dkim_rehash_thread(void *data, tn_log_t *log);
static void tn_mail_dkim_rehashed(tn_event_t *ev);


static tn_command_t  tn_mail_dkim_commands[] = {

    { tn_string("dkim_sign"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE3,
      tn_mail_dkim_sign_set,
      TN_MAIL_MAIN_CONF_OFFSET,
      0,
      NULL },

    { tn_string("dkim_sign_headers"),
      TN_MAIL_MAIN_CONF|TN_CONF_1MORE,
      tn_mail_dkim_headers_set,
      TN_MAIL_MAIN_CONF_OFFSET,
      0,
      NULL },

    { tn_string("dkim_verify"),
      TN_MAIL_MAIN_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_MAIN_CONF_OFFSET,
      offsetof(tn_mail_dkim_conf_t, verify),
      NULL },

      tn_null_command
};


static tn_mail_module_t  tn_mail_dkim_module_ctx = {
    NULL,                                  /* protocol */

    tn_mail_dkim_create_main_conf,         /* create main configuration */
    tn_mail_dkim_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL                                   /* merge server configuration */
};


tn_module_t  tn_mail_dkim_module = {
    TN_MODULE_V1,
    "tn_mail_dkim_module",
    &tn_mail_dkim_module_ctx,
    tn_mail_dkim_commands,
    TN_MAIL_MODULE,
    tn_mail_dkim_init_module,              /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    "dkim",                                /* admin command */
    tn_mail_dkim_cli
};


static tn_mail_check_t  tn_mail_dkim_check = {
    "dkim",
    tn_mail_dkim_mail,
    NULL,
    tn_mail_dkim_header_end,
    tn_mail_dkim_body,
    tn_mail_dkim_end,
    tn_mail_dkim_cleanup,
    0
};


/*
 * Signed by default: From, Subject, Date, To, Cc, Reply-To and
 * Content-Type oversigned (checklist A2: none can be added), the others
 * as often as present.
 */
static tn_dkim_sign_header_t  tn_mail_dkim_default_heads[] = {
    { tn_string("from"), 1 },
    { tn_string("to"), 1 },
    { tn_string("cc"), 1 },
    { tn_string("subject"), 1 },
    { tn_string("date"), 1 },
    { tn_string("message-id"), 0 },
    { tn_string("in-reply-to"), 0 },
    { tn_string("references"), 0 },
    { tn_string("mime-version"), 0 },
    { tn_string("content-type"), 1 },
    { tn_string("content-transfer-encoding"), 0 },
    { tn_string("reply-to"), 1 },
};


static void *
tn_mail_dkim_create_main_conf(tn_conf_t *cf)
{
    tn_mail_dkim_conf_t  *dcf;

    dcf = tn_pcalloc(cf->pool, sizeof(tn_mail_dkim_conf_t));
    if (dcf == NULL) {
        return NULL;
    }

    dcf->signers = tn_array_create(cf->pool, 2, sizeof(tn_dkim_signer_t));
    if (dcf->signers == NULL) {
        return NULL;
    }

    dcf->verify = TN_CONF_UNSET;

    return dcf;
}


static char *
tn_mail_dkim_init_main_conf(tn_conf_t *cf, void *conf)
{
    tn_mail_dkim_conf_t *dcf = conf;

    tn_conf_init_value(dcf->verify, 1);

    return TN_CONF_OK;
}


/*
 * After the configuration was read (start and every reload): the check
 * is always registered, mail() decides per message (dkim_verify, keys).
 */
static tn_int_t
tn_mail_dkim_init_module(tn_cycle_t *cycle)
{
    tn_mail_msg_resign = tn_mail_dkim_resign;

    if (tn_mail_check_register(&tn_mail_dkim_check) != TN_OK) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "too many message checks for \"dkim\"");
        return TN_ERROR;
    }

    return TN_OK;
}


/* dkim_sign DOMAIN SELECTOR KEYFILE: the key is read now */
static char *
tn_mail_dkim_sign_set(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_dkim_conf_t *dcf = conf;

    BIO               *bio;
    tn_str_t          *value, file;
    EVP_PKEY          *pkey;
    tn_dkim_signer_t  *sg;

    value = cf->args->elts;

    if (tn_dkim_name_valid(&value[1]) != TN_OK
        || tn_dkim_name_valid(&value[2]) != TN_OK)
    {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "invalid domain or selector \"%V %V\"",
                          &value[1], &value[2]);
        return TN_CONF_ERROR;
    }

    file = value[3];

    if (tn_conf_full_name(cf->cycle, &file, 0) != TN_OK) {
        return TN_CONF_ERROR;
    }

    bio = BIO_new_file((char *) file.data, "r");
    if (bio == NULL) {
        ERR_clear_error();
        tn_conf_log_error(TN_LOG_EMERG, cf, tn_errno,
                          "cannot read the DKIM key \"%V\"", &file);
        return TN_CONF_ERROR;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();

    if (pkey == NULL) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "\"%V\" is not a PEM private key", &file);
        return TN_CONF_ERROR;
    }

    if (tn_dkim_pkey_cleanup(cf->pool, pkey) != TN_OK) {
        return TN_CONF_ERROR;
    }

    sg = tn_array_push(dcf->signers);
    if (sg == NULL) {
        return TN_CONF_ERROR;
    }

    sg->pkey = pkey;

    if (EVP_PKEY_id(pkey) == EVP_PKEY_ED25519) {
        sg->alg = TN_DKIM_ED25519_SHA256;

    } else if (EVP_PKEY_id(pkey) == EVP_PKEY_RSA
               && EVP_PKEY_bits(pkey) >= 1024
               && EVP_PKEY_bits(pkey) <= TN_DKIM_RSA_MAX_BITS)
    {
        sg->alg = TN_DKIM_RSA_SHA256;

    } else {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "the DKIM key \"%V\" is neither RSA (1024 to 4096 "
                          "bits) nor Ed25519", &file);
        return TN_CONF_ERROR;
    }

    sg->domain.len = value[1].len;
    sg->domain.data = tn_pnalloc(cf->pool, value[1].len);
    sg->selector.len = value[2].len;
    sg->selector.data = tn_pnalloc(cf->pool, value[2].len);

    if (sg->domain.data == NULL || sg->selector.data == NULL) {
        return TN_CONF_ERROR;
    }

    tn_strlow(sg->domain.data, value[1].data, value[1].len);
    tn_strlow(sg->selector.data, value[2].data, value[2].len);

    return TN_CONF_OK;
}


/* dkim_sign_headers NAME ...: "+NAME" is oversigned; From always is */
static char *
tn_mail_dkim_headers_set(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_dkim_conf_t *dcf = conf;

    u_char                 *p;
    tn_str_t               *value, name;
    tn_uint_t               i, j, from;
    tn_dkim_sign_header_t  *h;

    if (dcf->heads) {
        return "is duplicate";
    }

    dcf->heads = tn_array_create(cf->pool, cf->args->nelts,
                                 sizeof(tn_dkim_sign_header_t));
    if (dcf->heads == NULL) {
        return TN_CONF_ERROR;
    }

    value = cf->args->elts;
    from = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        name = value[i];

        h = tn_array_push(dcf->heads);
        if (h == NULL) {
            return TN_CONF_ERROR;
        }

        h->oversign = (name.len && name.data[0] == '+');

        if (h->oversign) {
            name.data++;
            name.len--;
        }

        for (j = 0; j < name.len; j++) {
            if (name.data[j] <= 0x20 || name.data[j] >= 0x7f
                || name.data[j] == ':')
            {
                break;
            }
        }

        if (name.len == 0 || j < name.len) {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "invalid header field name \"%V\"", &value[i]);
            return TN_CONF_ERROR;
        }

        p = tn_pnalloc(cf->pool, name.len);
        if (p == NULL) {
            return TN_CONF_ERROR;
        }

        tn_strlow(p, name.data, name.len);
        h->name.data = p;
        h->name.len = name.len;

        if (name.len == 4 && tn_strncmp(p, "from", 4) == 0) {
            h->oversign = 1;
            from = 1;
        }
    }

    if (!from) {
        /* RFC 6376 5.4: From must be signed */
        h = tn_array_push(dcf->heads);
        if (h == NULL) {
            return TN_CONF_ERROR;
        }

        tn_str_set(&h->name, "from");
        h->oversign = 1;
    }

    return TN_CONF_OK;
}


static tn_int_t
tn_mail_dkim_mail(tn_mail_msg_t *msg)
{
    tn_mail_dkim_ctx_t   *ctx;
    tn_mail_dkim_conf_t  *dcf;

    if (msg->session == NULL) {
        return TN_OK;
    }

    dcf = tn_mail_get_module_main_conf(msg->session, tn_mail_dkim_module);

    /* without a resolver no key can be fetched: nothing to verify */
    if (msg->outgoing ? dcf->signers->nelts == 0
                      : (!dcf->verify
                         || tn_resolver_get((tn_cycle_t *) tn_cycle) == NULL))
    {
        return TN_OK;
    }

    ctx = tn_pcalloc(msg->pool, sizeof(tn_mail_dkim_ctx_t));
    if (ctx == NULL) {
        return TN_ERROR;
    }

    ctx->msg = msg;
    ctx->conf = dcf;

    if (msg->outgoing) {
        ctx->sign_body = tn_palloc(msg->pool, sizeof(tn_dkim_body_t));
        if (ctx->sign_body == NULL) {
            return TN_ERROR;
        }

        tn_dkim_body_init(ctx->sign_body, TN_DKIM_RELAXED, -1);
    }

    tn_mail_msg_ctx(msg, tn_mail_dkim_check) = ctx;

    return TN_OK;
}


/* the header is complete: parse the signatures, start the lookups */
static tn_int_t
tn_mail_dkim_header_end(tn_mail_msg_t *msg)
{
    tn_str_t            *fields;
    tn_uint_t            i;
    tn_mail_dkim_ctx_t  *ctx;

    ctx = tn_mail_msg_ctx(msg, tn_mail_dkim_check);

    if (ctx == NULL || ctx->sign_body || ctx->header_done) {
        return TN_OK;
    }

    ctx->header_done = 1;
    fields = msg->fields->elts;

    for (i = 0; i < msg->fields->nelts; i++) {
        if (fields[i].len > 15
            && tn_strncasecmp(fields[i].data, (u_char *) "DKIM-Signature",
                              14) == 0
            && (fields[i].data[14] == ':' || fields[i].data[14] == ' '
                || fields[i].data[14] == '\t'))
        {
            if (tn_mail_dkim_add_sig(ctx, &fields[i]) != TN_OK) {
                return TN_ERROR;
            }
        }
    }

    for (i = 0; i < ctx->nlookups; i++) {
        tn_mail_dkim_resolve(ctx, &ctx->lookups[i]);
    }

    return TN_OK;
}


static tn_int_t
tn_mail_dkim_add_sig(tn_mail_dkim_ctx_t *ctx, tn_str_t *field)
{
    u_char                 *p;
    tn_uint_t               i;
    tn_mail_msg_t          *msg;
    tn_dkim_sig_t          *sig;
    tn_mail_dkim_one_t     *one;
    tn_mail_dkim_lookup_t  *lk;

    msg = ctx->msg;

    if (ctx->nsigs == TN_MAIL_DKIM_MAX) {
        ctx->skipped++;
        return TN_OK;
    }

    one = &ctx->sigs[ctx->nsigs++];
    sig = &one->sig;

    one->rc = tn_dkim_parse_sig(msg->pool, field, sig, &one->err);

    if (one->rc == TN_ERROR) {
        return TN_ERROR;
    }

    if (one->rc != TN_OK || sig->alg == TN_DKIM_RSA_SHA1) {
        return TN_OK;
    }

    if (msg->header_truncated) {
        /* fields it may sign were not kept */
        one->rc = TN_DECLINED;
        one->err = "header too large to check";
        return TN_OK;
    }

    /* the key lookup: one per distinct s._domainkey.d */

    lk = NULL;

    for (i = 0; i < ctx->nlookups; i++) {
        if (ctx->lookups[i].name.len
                == sig->selector.len + 12 + sig->domain.len
            && tn_strncmp(ctx->lookups[i].name.data, sig->selector.data,
                          sig->selector.len) == 0
            && ctx->lookups[i].name.data[sig->selector.len] == '.'
            && tn_strncmp(ctx->lookups[i].name.data + sig->selector.len + 12,
                          sig->domain.data, sig->domain.len) == 0)
        {
            lk = &ctx->lookups[i];
            break;
        }
    }

    if (lk == NULL) {
        lk = &ctx->lookups[ctx->nlookups++];

        p = tn_pnalloc(msg->pool, sig->selector.len + sig->domain.len + 13);
        if (p == NULL) {
            return TN_ERROR;
        }

        lk->name.data = p;
        lk->name.len = tn_sprintf(p, "%V._domainkey.%V", &sig->selector,
                                  &sig->domain) - p;
        lk->ctx = ctx;
        lk->state = TN_RESOLVE_ERROR;
    }

    one->lookup = lk;

    /* the body hash: one per distinct (c=, l=) */

    for (i = 0; i < ctx->nbodies; i++) {
        if (ctx->bodies[i]->canon == sig->bcanon
            && ctx->bodies[i]->limit == sig->length)
        {
            break;
        }
    }

    if (i == ctx->nbodies) {
        ctx->bodies[i] = tn_palloc(msg->pool, sizeof(tn_dkim_body_t));
        if (ctx->bodies[i] == NULL) {
            return TN_ERROR;
        }

        tn_dkim_body_init(ctx->bodies[i], sig->bcanon, sig->length);
        ctx->nbodies++;
    }

    one->body = i;

    return TN_OK;
}


static void
tn_mail_dkim_resolve(tn_mail_dkim_ctx_t *ctx, tn_mail_dkim_lookup_t *lk)
{
    tn_resolver_t      *r;
    tn_resolver_ctx_t  *rctx;

    r = tn_resolver_get((tn_cycle_t *) tn_cycle);

    if (r == NULL) {
        lk->state = TN_RESOLVE_ERROR;
        return;
    }

    rctx = tn_resolve_start(r);
    if (rctx == NULL) {
        lk->state = TN_RESOLVE_ERROR;
        return;
    }

    rctx->name = lk->name;
    rctx->type = TN_RESOLVE_TXT;
    rctx->handler = tn_mail_dkim_resolved;
    rctx->data = lk;

    if (tn_resolve_name(rctx) != TN_OK) {
        lk->state = rctx->state;
        tn_resolve_done(rctx);
        return;
    }

    lk->rctx = rctx;
    ctx->pending++;
}


static void
tn_mail_dkim_resolved(tn_resolver_ctx_t *rctx)
{
    tn_uint_t               i;
    tn_mail_msg_t          *msg;
    tn_mail_dkim_ctx_t     *ctx;
    tn_mail_dkim_lookup_t  *lk;

    lk = rctx->data;
    ctx = lk->ctx;
    msg = ctx->msg;

    lk->state = rctx->state;
    lk->rctx = NULL;

    if (rctx->state == TN_OK && rctx->ntxt) {
        lk->txt = tn_palloc(msg->pool, rctx->ntxt * sizeof(tn_str_t));

        if (lk->txt == NULL) {
            lk->state = TN_RESOLVE_ERROR;

        } else {
            for (i = 0; i < rctx->ntxt; i++) {
                lk->txt[i].len = rctx->txt[i].len;
                lk->txt[i].data = tn_pstrdup(msg->pool, &rctx->txt[i]);

                if (lk->txt[i].data == NULL) {
                    lk->state = TN_RESOLVE_ERROR;
                    break;
                }
            }

            lk->ntxt = i;
        }
    }

    tn_resolve_done(rctx);

    if (--ctx->pending == 0 && ctx->waiting) {
        ctx->waiting = 0;

        if (tn_mail_dkim_verify(ctx) != TN_OK) {
            tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_DEFER,
                                "451 4.3.0 Internal server error");
        }

        tn_mail_check_done(msg);
    }
}


static tn_int_t
tn_mail_dkim_body(tn_mail_msg_t *msg, u_char *p, size_t len)
{
    tn_uint_t            i;
    tn_mail_dkim_ctx_t  *ctx;

    ctx = tn_mail_msg_ctx(msg, tn_mail_dkim_check);

    if (ctx == NULL) {
        return TN_OK;
    }

    if (ctx->sign_body) {
        tn_dkim_body_update(ctx->sign_body, p, len);
        return TN_OK;
    }

    for (i = 0; i < ctx->nbodies; i++) {
        tn_dkim_body_update(ctx->bodies[i], p, len);
    }

    return TN_OK;
}


static tn_int_t
tn_mail_dkim_end(tn_mail_msg_t *msg)
{
    tn_uint_t            i;
    tn_mail_dkim_ctx_t  *ctx;

    ctx = tn_mail_msg_ctx(msg, tn_mail_dkim_check);

    if (ctx == NULL) {
        return TN_OK;
    }

    if (ctx->sign_body) {
        return tn_mail_dkim_sign_msg(ctx);
    }

    if (!ctx->header_done && tn_mail_dkim_header_end(msg) != TN_OK) {
        return TN_ERROR;
    }

    for (i = 0; i < ctx->nbodies; i++) {
        tn_dkim_body_final(ctx->bodies[i], ctx->md[i]);
    }

    if (ctx->pending) {
        ctx->waiting = 1;
        return TN_AGAIN;
    }

    return tn_mail_dkim_verify(ctx);
}


/* every signature's result, in the order of the fields */
static tn_int_t
tn_mail_dkim_verify(tn_mail_dkim_ctx_t *ctx)
{
    size_t                  n;
    tn_int_t                result;
    tn_str_t                note;
    tn_uint_t               i;
    const char             *reason;
    tn_mail_msg_t          *msg;
    tn_dkim_sig_t          *sig;
    tn_mail_dkim_one_t     *one;
    tn_mail_auth_result_t  *r;

    msg = ctx->msg;

    for (i = 0; i < ctx->nsigs; i++) {
        one = &ctx->sigs[i];
        sig = &one->sig;

        tn_str_null(&note);
        reason = "";

        result = tn_mail_dkim_verify_one(ctx, one, &reason, &note);

        if (result == TN_ERROR) {
            return TN_ERROR;
        }

        r = tn_mail_msg_add_result(msg, "dkim", result);
        if (r == NULL) {
            return TN_ERROR;
        }

        r->domain = sig->domain;
        r->selector = sig->selector;
        r->b.data = sig->b_text.data;
        r->b.len = tn_min(sig->b_text.len, 8);

        if (note.len) {
            r->reason = note;

        } else {
            r->reason.data = (u_char *) reason;
            r->reason.len = tn_strlen(reason);
        }

        tn_log_error(TN_LOG_INFO, msg->log, 0,
                     "dkim: d=%V s=%V: %s%s%V", &r->domain, &r->selector,
                     tn_mail_auth_result_name(result),
                     r->reason.len ? ", " : "", &r->reason);
    }

    for (i = 0; i < ctx->skipped; i++) {
        r = tn_mail_msg_add_result(msg, "dkim", TN_MAIL_AUTH_POLICY);
        if (r == NULL) {
            return TN_ERROR;
        }

        n = sizeof("not checked: more than " tn_value(TN_MAIL_DKIM_MAX)
                   " signatures") - 1;
        r->reason.data = (u_char *) "not checked: more than "
                                    tn_value(TN_MAIL_DKIM_MAX) " signatures";
        r->reason.len = n;
    }

    if (ctx->skipped) {
        tn_log_error(TN_LOG_INFO, msg->log, 0,
                     "dkim: %ui signatures beyond the first "
                     tn_value(TN_MAIL_DKIM_MAX) " not checked",
                     ctx->skipped);
    }

    return TN_OK;
}


/* TN_MAIL_AUTH_* for one signature, or TN_ERROR (memory) */
static tn_int_t
tn_mail_dkim_verify_one(tn_mail_dkim_ctx_t *ctx, tn_mail_dkim_one_t *one,
    const char **reason, tn_str_t *note)
{
    u_char                 *md, hmd[32];
    tn_int_t                rc;
    tn_uint_t               i, fail;
    const char             *err;
    tn_mail_msg_t          *msg;
    tn_dkim_key_t           key;
    tn_dkim_sig_t          *sig;
    tn_dkim_body_t         *b;
    tn_mail_dkim_lookup_t  *lk;

    msg = ctx->msg;
    sig = &one->sig;

    if (one->rc != TN_OK) {
        *reason = one->err;
        return TN_MAIL_AUTH_PERMERROR;
    }

    if (sig->alg == TN_DKIM_RSA_SHA1) {
        *reason = "rsa-sha1 is not accepted (RFC 8301)";
        return TN_MAIL_AUTH_FAIL;
    }

    if (sig->expire != -1 && sig->expire < tn_time()) {
        *reason = "signature expired";
        return TN_MAIL_AUTH_PERMERROR;
    }

    lk = one->lookup;

    switch (lk->state) {

    case TN_OK:
        break;

    case TN_RESOLVE_NXDOMAIN:
    case TN_RESOLVE_NODATA:
        *reason = "no key for the signature";
        return TN_MAIL_AUTH_PERMERROR;

    case TN_RESOLVE_FORMERR:
        *reason = "key name not valid";
        return TN_MAIL_AUTH_PERMERROR;

    default:
        *reason = "key lookup failed";
        return TN_MAIL_AUTH_TEMPERROR;
    }

    /* the first record that is a key (RFC 6376 3.6.2.2) */

    rc = TN_DECLINED;
    err = "no key for the signature";

    for (i = 0; i < lk->ntxt; i++) {
        rc = tn_dkim_parse_key(msg->pool, lk->txt[i].data, lk->txt[i].len,
                               &key, &err);

        if (rc != TN_DECLINED) {
            break;
        }
    }

    if (rc == TN_ERROR) {
        return TN_ERROR;
    }

    if (rc != TN_OK) {
        *reason = err;
        return TN_MAIL_AUTH_PERMERROR;
    }

    if (tn_dkim_key_usable(sig, &key, &fail, reason) != TN_OK) {
        return fail ? TN_MAIL_AUTH_FAIL : TN_MAIL_AUTH_PERMERROR;
    }

    b = ctx->bodies[one->body];
    md = ctx->md[one->body];

    if (sig->length != -1 && sig->length > b->length) {
        *reason = "l= larger than the body";
        return TN_MAIL_AUTH_FAIL;
    }

    if (tn_memcmp(md, sig->bh.data, 32) != 0) {
        *reason = "body hash mismatch";
        return TN_MAIL_AUTH_FAIL;
    }

    if (tn_dkim_header_hash(msg->pool, sig, msg->fields->elts,
                            msg->fields->nelts, hmd)
        != TN_OK)
    {
        return TN_ERROR;
    }

    if (tn_dkim_verify_hash(sig, &key, hmd, reason) != TN_OK) {
        return TN_MAIL_AUTH_FAIL;
    }

    if (sig->length != -1 && sig->length < b->length) {
        /*
         * Checklist A1: what follows l= is anybody's; the signature holds
         * but does not vouch for the message, so DMARC gets no pass from
         * it (RFC 8601 "policy": verified, not accepted here)
         */
        note->data = tn_pnalloc(msg->pool, 128);
        if (note->data == NULL) {
            return TN_ERROR;
        }

        note->len = tn_snprintf(note->data, 128,
                                "l= leaves %O bytes of the body unsigned",
                                b->length - sig->length)
                    - note->data;

        return TN_MAIL_AUTH_POLICY;
    }

    if (key.testing) {
        tn_str_set(note, "key in testing mode (t=y)");
    }

    return TN_MAIL_AUTH_PASS;
}


/*
 * Signs an outgoing message with every key of its From domain.  The
 * fields and their header hashes are made here; the signatures (an
 * RSA-2048 one costs 1-2 ms) in a pool thread, unless the pool's queue
 * is full: then here.
 */
static tn_int_t
tn_mail_dkim_sign_msg(tn_mail_dkim_ctx_t *ctx)
{
    u_char                  bh[32];
    tn_int_t                rc;
    tn_str_t                domain;
    tn_uint_t               i, nheads;
    tn_mail_msg_t          *msg;
    tn_dkim_signer_t       *sg;
    tn_thread_task_t       *task;
    tn_mail_dkim_task_t    *t;
    tn_dkim_sign_header_t  *heads;

    msg = ctx->msg;

    if (msg->header_truncated) {
        tn_log_error(TN_LOG_INFO, msg->log, 0,
                     "dkim: header too large, not signed");
        return TN_OK;
    }

    if (tn_mail_dkim_from_domain(msg, &domain) != TN_OK) {
        return TN_OK;
    }

    if (ctx->conf->heads) {
        heads = ctx->conf->heads->elts;
        nheads = ctx->conf->heads->nelts;

    } else {
        heads = tn_mail_dkim_default_heads;
        nheads = sizeof(tn_mail_dkim_default_heads)
                 / sizeof(tn_dkim_sign_header_t);
    }

    tn_dkim_body_final(ctx->sign_body, bh);

    sg = ctx->conf->signers->elts;

    for (i = 0; i < ctx->conf->signers->nelts; i++) {
        if (sg[i].domain.len != domain.len
            || tn_strncmp(sg[i].domain.data, domain.data, domain.len) != 0
            || ctx->nsign == TN_MAIL_DKIM_SIGN_MAX)
        {
            continue;
        }

        if (tn_dkim_sign_prepare(msg->pool, &sg[i], heads, nheads,
                                 msg->fields->elts, msg->fields->nelts, bh,
                                 tn_time(), &ctx->signing[ctx->nsign])
            != TN_OK)
        {
            return TN_ERROR;
        }

        ctx->signers[ctx->nsign++] = &sg[i];
    }

    if (ctx->nsign == 0) {
        return TN_OK;
    }

    task = tn_thread_task_alloc(sizeof(tn_mail_dkim_task_t),
                                tn_cycle->log);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    t->ctx = ctx;
    t->n = ctx->nsign;

    for (i = 0; i < t->n; i++) {
        t->jobs[i].pkey = ctx->signers[i]->pkey;
        t->jobs[i].alg = ctx->signers[i]->alg;
        tn_memcpy(t->jobs[i].md, ctx->signing[i].md, 32);
    }

    task->handler = tn_mail_dkim_sign_thread;
    task->event.handler = tn_mail_dkim_signed;
    task->event.data = task;

    if (tn_thread_task_post(task) == TN_OK) {
        ctx->task = task;
        return TN_AGAIN;
    }

    /* the queue is full: on the loop, rather than not at all */

    tn_mail_dkim_sign_thread(t, msg->log);

    rc = tn_mail_dkim_sign_add(ctx, t);
    tn_thread_task_free(task);

    return rc;
}


static void
tn_mail_dkim_sign_thread(void *data, tn_log_t *log)
{
    tn_mail_dkim_task_t *t = data;

    tn_uint_t  i;

    for (i = 0; i < t->n; i++) {
        t->jobs[i].siglen = TN_DKIM_SIG_MAX;
        t->jobs[i].rc = tn_dkim_sign_hash(t->jobs[i].pkey, t->jobs[i].alg,
                                          t->jobs[i].md, t->jobs[i].sig,
                                          &t->jobs[i].siglen);
    }
}


static void
tn_mail_dkim_signed(tn_event_t *ev)
{
    tn_thread_task_t *task = ev->data;

    tn_mail_msg_t        *msg;
    tn_mail_dkim_ctx_t   *ctx;
    tn_mail_dkim_task_t  *t;

    t = task->ctx;
    ctx = t->ctx;

    if (ctx == NULL) {
        /* the transaction ended meanwhile */
        tn_thread_task_free(task);
        return;
    }

    ctx->task = NULL;
    msg = ctx->msg;

    if (tn_mail_dkim_sign_add(ctx, t) != TN_OK) {
        tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_DEFER,
                            "451 4.3.0 Internal server error");
    }

    tn_thread_task_free(task);

    tn_mail_check_done(msg);
}


/* the signatures made: the fields finished and added */
static tn_int_t
tn_mail_dkim_sign_add(tn_mail_dkim_ctx_t *ctx, tn_mail_dkim_task_t *t)
{
    tn_str_t           field;
    tn_uint_t          i;
    tn_mail_msg_t     *msg;
    tn_dkim_signer_t  *sg;

    msg = ctx->msg;

    for (i = 0; i < t->n; i++) {
        sg = ctx->signers[i];

        if (t->jobs[i].rc != TN_OK) {
            tn_log_error(TN_LOG_ERR, msg->log, 0,
                         "dkim: signing for d=%V s=%V failed",
                         &sg->domain, &sg->selector);
            return TN_ERROR;
        }

        if (tn_dkim_sign_finish(msg->pool, &ctx->signing[i], t->jobs[i].sig,
                                t->jobs[i].siglen, &field)
            != TN_OK
            || tn_mail_msg_add_field(msg, field.data, field.len) != TN_OK)
        {
            return TN_ERROR;
        }

        tn_log_error(TN_LOG_INFO, msg->log, 0,
                     "dkim: signed d=%V s=%V", &sg->domain, &sg->selector);
    }

    return TN_OK;
}


/* the domain of the one address of the one From field, lower case */
static tn_int_t
tn_mail_dkim_from_domain(tn_mail_msg_t *msg, tn_str_t *domain)
{
    u_char               *p, *last;
    tn_str_t             *fields, *from;
    tn_uint_t             i, n, naddrs;
    tn_mail_mime_addr_t  *addrs, *a;

    fields = msg->fields->elts;
    from = NULL;

    for (i = 0; i < msg->fields->nelts; i++) {
        if (fields[i].len > 5
            && tn_strncasecmp(fields[i].data, (u_char *) "from", 4) == 0
            && (fields[i].data[4] == ':' || fields[i].data[4] == ' '
                || fields[i].data[4] == '\t'))
        {
            p = fields[i].data + 4;
            last = fields[i].data + fields[i].len;

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (p == last || *p != ':') {
                continue;
            }

            if (from) {
                tn_log_error(TN_LOG_INFO, msg->log, 0,
                             "dkim: more than one From field, not signed");
                return TN_DECLINED;
            }

            from = &fields[i];
        }
    }

    if (from == NULL) {
        tn_log_error(TN_LOG_INFO, msg->log, 0,
                     "dkim: no From field, not signed");
        return TN_DECLINED;
    }

    p = tn_strlchr(from->data, from->data + from->len, ':') + 1;

    if (tn_mail_mime_parse_addresses(msg->pool, p,
                                     from->data + from->len - p,
                                     &addrs, &naddrs)
        != TN_OK)
    {
        return TN_ERROR;
    }

    a = NULL;
    n = 0;

    for (i = 0; i < naddrs; i++) {
        if (addrs[i].group_start || addrs[i].group_end) {
            continue;
        }

        a = &addrs[i];
        n++;
    }

    if (n != 1 || a->invalid || a->host.len == 0) {
        tn_log_error(TN_LOG_INFO, msg->log, 0,
                     "dkim: From is not one address, not signed");
        return TN_DECLINED;
    }

    domain->len = a->host.len;
    domain->data = tn_pnalloc(msg->pool, a->host.len);
    if (domain->data == NULL) {
        return TN_ERROR;
    }

    tn_strlow(domain->data, a->host.data, a->host.len);

    return TN_OK;
}


static void
tn_mail_dkim_cleanup(tn_mail_msg_t *msg)
{
    tn_uint_t            i;
    tn_mail_dkim_ctx_t  *ctx;

    ctx = tn_mail_msg_ctx(msg, tn_mail_dkim_check);

    if (ctx == NULL) {
        return;
    }

    /* cancelled: their handlers never run */

    for (i = 0; i < ctx->nlookups; i++) {
        if (ctx->lookups[i].rctx) {
            tn_resolve_done(ctx->lookups[i].rctx);
            ctx->lookups[i].rctx = NULL;
        }
    }

    if (ctx->task) {
        /* the pool thread may still run: its completion frees the task */
        ((tn_mail_dkim_task_t *) ctx->task->ctx)->ctx = NULL;
        ctx->task = NULL;
    }

    ctx->pending = 0;
    ctx->waiting = 0;

    tn_mail_msg_ctx(msg, tn_mail_dkim_check) = NULL;
}


/*
 * tn_mail_msg_resign: the Lua mime phase changed a message signed here.
 * The old signatures go; the header fields are taken from the changed
 * text, its body is hashed in a pool thread, then signed as in end().
 */
static tn_int_t
tn_mail_dkim_resign(tn_mail_msg_t *msg, u_char *text, size_t len)
{
    u_char                 *p, *last, *start;
    tn_str_t               *f;
    tn_uint_t               i, k;
    tn_array_t             *fields;
    tn_thread_task_t       *task;
    tn_mail_dkim_ctx_t     *ctx;
    tn_mail_dkim_rehash_t  *t;

    ctx = tn_mail_msg_ctx(msg, tn_mail_dkim_check);

    if (ctx == NULL || ctx->sign_body == NULL || ctx->nsign == 0) {
        return TN_OK;
    }

    if (ctx->task) {
        return TN_ERROR;
    }

    f = msg->add_fields->elts;

    for (i = 0, k = 0; i < msg->add_fields->nelts; i++) {
        if (f[i].len > 15
            && tn_strncasecmp(f[i].data, (u_char *) "DKIM-Signature:", 15)
               == 0)
        {
            continue;
        }

        f[k++] = f[i];
    }

    msg->add_fields->nelts = k;
    ctx->nsign = 0;

    /* the header fields: a line and its continuation lines */

    fields = tn_array_create(msg->pool, 16, sizeof(tn_str_t));
    if (fields == NULL) {
        return TN_ERROR;
    }

    p = text;
    last = text + len;
    start = NULL;

    while (p < last && *p != '\n') {
        if (start && *p != ' ' && *p != '\t') {
            f = tn_array_push(fields);
            if (f == NULL) {
                return TN_ERROR;
            }

            f->data = start;
            f->len = p - start;
            start = NULL;
        }

        if (start == NULL) {
            start = p;
        }

        p = memchr(p, '\n', last - p);
        p = p ? p + 1 : last;
    }

    if (start) {
        f = tn_array_push(fields);
        if (f == NULL) {
            return TN_ERROR;
        }

        f->data = start;
        f->len = p - start;
    }

    msg->fields = fields;

    p = p < last ? p + 1 : last;

    task = tn_thread_task_alloc(sizeof(tn_mail_dkim_rehash_t) + (last - p),
                                msg->log);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    t->ctx = ctx;
    t->len = last - p;
    tn_memcpy(t + 1, p, t->len);
    tn_dkim_body_init(&t->hash, TN_DKIM_RELAXED, -1);

    task->handler = tn_mail_dkim_rehash_thread;
    task->event.handler = tn_mail_dkim_rehashed;
    task->event.data = task;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_thread_task_free(task);
        return TN_ERROR;
    }

    ctx->task = task;

    return TN_AGAIN;
}


static void
tn_mail_dkim_rehash_thread(void *data, tn_log_t *log)
{
    tn_mail_dkim_rehash_t  *t = data;

    tn_dkim_body_update(&t->hash, (u_char *) (t + 1), t->len);
}


static void
tn_mail_dkim_rehashed(tn_event_t *ev)
{
    tn_thread_task_t *task = ev->data;

    tn_int_t                rc;
    tn_mail_msg_t          *msg;
    tn_mail_dkim_ctx_t     *ctx;
    tn_mail_dkim_rehash_t  *t;

    t = task->ctx;
    ctx = t->ctx;

    if (ctx == NULL) {
        tn_thread_task_free(task);
        return;
    }

    ctx->task = NULL;
    msg = ctx->msg;

    *ctx->sign_body = t->hash;
    tn_thread_task_free(task);

    rc = tn_mail_dkim_sign_msg(ctx);

    if (rc == TN_AGAIN) {
        /* tn_mail_dkim_signed() ends it */
        return;
    }

    if (rc != TN_OK) {
        tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_DEFER,
                            "451 4.3.0 Internal server error");
    }

    tn_mail_check_done(msg);
}
