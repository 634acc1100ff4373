
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_resolver.h>
#include <tn_mail.h>
#include <tn_mail_check.h>
#include <tn_mail_mime.h>
#include <tn_mail_dmarc.h>
#include <tn_mail_dmarc_module.h>


/*
 *     mail {
 *         dmarc                     on;
 *         dmarc_policy              honour;
 *         dmarc_public_suffix_list  public_suffix_list.dat;
 *         dmarc_report_org          example.com;
 *         dmarc_report_from         dmarc-reports@example.com;
 *     }
 *
 * (the list's default is Debian's, TN_MAIL_DMARC_PSL_DEFAULT).
 * "dmarc" and "dmarc_policy" may also be set per server { }, as "spf";
 * the others are for the mail { } block.  The list is read when a server
 * has DMARC on (at configuration time, in the master), and by the report
 * command.
 *
 * The check: header_end() reads the From field and starts the lookup of
 * _dmarc.<from domain> (then _dmarc.<org domain>), so that DNS runs
 * while the body streams in; end() applies the policy to the results of
 * SPF and DKIM, which ran before it.  Each evaluated message whose
 * policy asks for aggregate reports (rua=) becomes a row of
 * dmarc_records in tern.db, written in batches by the thread pool.
 */


/* the lookup of a check */
#define TN_DMARC_STATE_FROM      0   /* _dmarc.<from> in flight */
#define TN_DMARC_STATE_ORG       1   /* _dmarc.<org> in flight */
#define TN_DMARC_STATE_DONE      2   /* a record, or none */
#define TN_DMARC_STATE_TEMPERROR 3   /* DNS failed */
#define TN_DMARC_STATE_FROM_BAD  4   /* RFC 7489 6.6.1: no one From */
#define TN_DMARC_STATE_OFF       5   /* nothing to do */

/* rows waiting for the thread pool, at most; more are dropped (logged) */
#define TN_DMARC_ROWS_MAX        10000


typedef struct {
    tn_mail_msg_t          *msg;
    tn_resolver_ctx_t      *rctx;
    tn_uint_t               state;
    const char             *from_error;   /* TN_DMARC_STATE_FROM_BAD */
    u_char                  from[TN_DMARC_DOMAIN_MAX + 1];
    tn_str_t                from_domain;
    tn_str_t                org_domain;
    tn_str_t                policy_domain; /* where the record is */
    tn_dmarc_record_t       record;
    unsigned                found:1;      /* record is set */
    unsigned                at_org:1;
    unsigned                waiting:1;    /* end() returned TN_AGAIN */
    unsigned                report:1;     /* the message is a report */
    tn_uint_t               mode;         /* dmarc_policy */
} tn_dmarc_ctx_t;


static void *tn_mail_dmarc_create_main_conf(tn_conf_t *cf);
static char *tn_mail_dmarc_init_main_conf(tn_conf_t *cf, void *conf);
static void *tn_mail_dmarc_create_srv_conf(tn_conf_t *cf);
static char *tn_mail_dmarc_merge_srv_conf(tn_conf_t *cf, void *parent,
    void *child);
static tn_int_t tn_mail_dmarc_init_module(tn_cycle_t *cycle);
static void tn_mail_dmarc_exit_process(tn_cycle_t *cycle);
static tn_int_t tn_mail_dmarc_mail(tn_mail_msg_t *msg);
static tn_int_t tn_mail_dmarc_header_end(tn_mail_msg_t *msg);
static tn_int_t tn_mail_dmarc_end(tn_mail_msg_t *msg);
static void tn_mail_dmarc_cleanup(tn_mail_msg_t *msg);
static tn_int_t tn_mail_dmarc_from(tn_dmarc_ctx_t *ctx);
static tn_int_t tn_mail_dmarc_field_is(tn_str_t *field, const char *name,
    tn_str_t *value);
static tn_int_t tn_mail_dmarc_lookup(tn_dmarc_ctx_t *ctx, tn_str_t *domain);
static void tn_mail_dmarc_resolved(tn_resolver_ctx_t *rctx);
static void tn_mail_dmarc_finish(tn_dmarc_ctx_t *ctx);
static tn_int_t tn_mail_dmarc_apply(tn_dmarc_ctx_t *ctx,
    tn_mail_dmarc_conf_t *dcf);
static void tn_mail_dmarc_record_row(tn_dmarc_ctx_t *ctx,
    tn_dmarc_eval_t *e);
static void tn_mail_dmarc_rows_post(void);
static void tn_mail_dmarc_rows_thread(void *data, tn_log_t *log);
static void tn_mail_dmarc_rows_done(tn_event_t *ev);


static tn_conf_enum_t  tn_mail_dmarc_policy_modes[] = {
    { tn_string("honour"), TN_MAIL_DMARC_HONOUR },
    { tn_string("honor"), TN_MAIL_DMARC_HONOUR },
    { tn_string("mark"), TN_MAIL_DMARC_MARK },
    { tn_null_string, 0 }
};


static tn_command_t  tn_mail_dmarc_commands[] = {

    { tn_string("dmarc"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_dmarc_srv_conf_t, enable),
      NULL },

    { tn_string("dmarc_policy"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_enum_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_dmarc_srv_conf_t, mode),
      &tn_mail_dmarc_policy_modes },

    { tn_string("dmarc_public_suffix_list"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE1,
      tn_conf_set_str_slot,
      TN_MAIL_MAIN_CONF_OFFSET,
      offsetof(tn_mail_dmarc_conf_t, psl_path),
      NULL },

    { tn_string("dmarc_report_org"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE1,
      tn_conf_set_str_slot,
      TN_MAIL_MAIN_CONF_OFFSET,
      offsetof(tn_mail_dmarc_conf_t, report_org),
      NULL },

    { tn_string("dmarc_report_from"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE1,
      tn_conf_set_str_slot,
      TN_MAIL_MAIN_CONF_OFFSET,
      offsetof(tn_mail_dmarc_conf_t, report_from),
      NULL },

      tn_null_command
};


static tn_mail_module_t  tn_mail_dmarc_module_ctx = {
    NULL,                                  /* protocol */

    tn_mail_dmarc_create_main_conf,        /* create main configuration */
    tn_mail_dmarc_init_main_conf,          /* init main configuration */

    tn_mail_dmarc_create_srv_conf,         /* create server configuration */
    tn_mail_dmarc_merge_srv_conf           /* merge server configuration */
};


tn_module_t  tn_mail_dmarc_module = {
    TN_MODULE_V1,
    "tn_mail_dmarc_module",
    &tn_mail_dmarc_module_ctx,
    tn_mail_dmarc_commands,
    TN_MAIL_MODULE,
    tn_mail_dmarc_init_module,             /* init module */
    NULL,                                  /* init process */
    tn_mail_dmarc_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    "dmarc",                               /* cli name */
    tn_mail_dmarc_cli                      /* cli */
};


static tn_mail_check_t  tn_mail_dmarc_check = {
    "dmarc",
    tn_mail_dmarc_mail,
    NULL,
    tn_mail_dmarc_header_end,
    NULL,
    tn_mail_dmarc_end,
    tn_mail_dmarc_cleanup,
    0
};


/* the rows of this worker not yet written; the batch being written */
static tn_dmarc_row_t   *tn_mail_dmarc_rows;
static tn_dmarc_row_t  **tn_mail_dmarc_rows_last = &tn_mail_dmarc_rows;
static tn_uint_t         tn_mail_dmarc_nrows;
static tn_uint_t         tn_mail_dmarc_busy;


static void *
tn_mail_dmarc_create_main_conf(tn_conf_t *cf)
{
    return tn_pcalloc(cf->pool, sizeof(tn_mail_dmarc_conf_t));
}


static char *
tn_mail_dmarc_init_main_conf(tn_conf_t *cf, void *conf)
{
    tn_mail_dmarc_conf_t  *dcf = conf;

    if (dcf->psl_path.data == NULL) {
        tn_str_set(&dcf->psl_path, TN_MAIL_DMARC_PSL_DEFAULT);
    }

    /* NUL-terminated for open() */

    if (tn_conf_full_name(cf->cycle, &dcf->psl_path, 0) != TN_OK) {
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static void *
tn_mail_dmarc_create_srv_conf(tn_conf_t *cf)
{
    tn_mail_dmarc_srv_conf_t  *conf;

    conf = tn_pcalloc(cf->pool, sizeof(tn_mail_dmarc_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = TN_CONF_UNSET;
    conf->mode = TN_CONF_UNSET_UINT;

    return conf;
}


static char *
tn_mail_dmarc_merge_srv_conf(tn_conf_t *cf, void *parent, void *child)
{
    tn_mail_dmarc_srv_conf_t *prev = parent;
    tn_mail_dmarc_srv_conf_t *conf = child;

    tn_mail_dmarc_conf_t  *dcf;

    tn_conf_merge_value(conf->enable, prev->enable, 1);
    tn_conf_merge_uint_value(conf->mode, prev->mode, TN_MAIL_DMARC_HONOUR);

    if (!conf->enable) {
        return TN_CONF_OK;
    }

    /* the first server with DMARC on reads the list */

    dcf = tn_mail_conf_get_module_main_conf(cf, tn_mail_dmarc_module);

    if (dcf->psl == NULL) {
        dcf->psl = tn_dmarc_psl_load(cf->pool, (char *) dcf->psl_path.data,
                                     cf->log);
        if (dcf->psl == NULL) {
            return TN_CONF_ERROR;
        }
    }

    return TN_CONF_OK;
}


tn_mail_dmarc_conf_t *
tn_mail_dmarc_get_conf(tn_cycle_t *cycle)
{
    tn_mail_conf_ctx_t  *ctx;

    if (cycle == NULL || cycle->conf_ctx == NULL) {
        return NULL;
    }

    ctx = (tn_mail_conf_ctx_t *) tn_get_conf(cycle->conf_ctx, tn_mail_module);

    if (ctx == NULL) {
        return NULL;
    }

    return ctx->main_conf[tn_mail_dmarc_module.ctx_index];
}


static tn_int_t
tn_mail_dmarc_init_module(tn_cycle_t *cycle)
{
    tn_mail_dmarc_conf_t  *dcf;
    tn_housekeeper_job_t  *job;

    if (tn_mail_check_register(&tn_mail_dmarc_check) != TN_OK) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "too many message checks for \"dmarc\"");
        return TN_ERROR;
    }

    dcf = tn_mail_dmarc_get_conf(cycle);

    if (dcf == NULL || dcf->psl == NULL) {
        /* no server checks DMARC: no rows, no reports */
        return TN_OK;
    }

    /* the daily aggregate reports, at housekeeper_time */

    job = tn_pcalloc(cycle->pool, sizeof(tn_housekeeper_job_t));
    if (job == NULL) {
        return TN_ERROR;
    }

    tn_str_set(&job->name, "dmarc-report");
    job->daily = TN_HOUSEKEEPER_DAILY_DEFAULT;
    job->handler = tn_mail_dmarc_report_job;
    job->data = dcf;

    return tn_housekeeper_add(cycle, job);
}


static void
tn_mail_dmarc_exit_process(tn_cycle_t *cycle)
{
    tn_dmarc_row_t   *row, *next;
    tn_store_conf_t  *scf;

    if (tn_mail_dmarc_rows == NULL) {
        return;
    }

    /* the loop is over: what is left is written here, once */

    scf = tn_store_get_conf(cycle);

    if (scf && !tn_mail_dmarc_busy
        && tn_mail_dmarc_rows_write(scf, tn_mail_dmarc_rows, cycle->log)
           == TN_OK)
    {
        tn_log_error(TN_LOG_INFO, cycle->log, 0,
                     "dmarc: %ui report rows written at exit",
                     tn_mail_dmarc_nrows);

    } else {
        tn_log_error(TN_LOG_WARN, cycle->log, 0,
                     "dmarc: %ui report rows lost at exit",
                     tn_mail_dmarc_nrows);
    }

    for (row = tn_mail_dmarc_rows; row; row = next) {
        next = row->next;
        free(row);
    }

    tn_mail_dmarc_rows = NULL;
    tn_mail_dmarc_rows_last = &tn_mail_dmarc_rows;
    tn_mail_dmarc_nrows = 0;
}


/* the check */

static tn_int_t
tn_mail_dmarc_mail(tn_mail_msg_t *msg)
{
    tn_dmarc_ctx_t            *ctx;
    tn_mail_dmarc_srv_conf_t  *scf;

    ctx = tn_pcalloc(msg->pool, sizeof(tn_dmarc_ctx_t));
    if (ctx == NULL) {
        return TN_ERROR;
    }

    scf = tn_mail_get_module_srv_conf(msg->session, tn_mail_dmarc_module);

    ctx->msg = msg;
    ctx->mode = scf->mode;
    /* without a resolver there is nothing to check against */
    ctx->state = (msg->outgoing || !scf->enable
                  || tn_resolver_get((tn_cycle_t *) tn_cycle) == NULL)
                 ? TN_DMARC_STATE_OFF : TN_DMARC_STATE_DONE;

    tn_mail_msg_ctx(msg, tn_mail_dmarc_check) = ctx;

    return TN_OK;
}


static tn_int_t
tn_mail_dmarc_header_end(tn_mail_msg_t *msg)
{
    tn_int_t               rc;
    tn_dmarc_ctx_t        *ctx;
    tn_mail_dmarc_conf_t  *dcf;

    ctx = tn_mail_msg_ctx(msg, tn_mail_dmarc_check);

    if (ctx == NULL || ctx->state == TN_DMARC_STATE_OFF) {
        return TN_OK;
    }

    dcf = tn_mail_get_module_main_conf(ctx->msg->session,
                                      tn_mail_dmarc_module);

    rc = tn_mail_dmarc_from(ctx);
    if (rc != TN_OK) {
        return rc == TN_DECLINED ? TN_OK : TN_ERROR;
    }

    if (tn_dmarc_org_domain(dcf->psl, ctx->from_domain.data,
                            ctx->from_domain.len, &ctx->org_domain)
        == TN_DECLINED)
    {
        ctx->org_domain = ctx->from_domain;
    }

    return tn_mail_dmarc_lookup(ctx, &ctx->from_domain);
}


/*
 * The From field: exactly one, with exactly one address (several of one
 * domain count as that domain), whose domain is a domain name.  Anything
 * else is TN_DMARC_STATE_FROM_BAD (RFC 7489 6.6.1): never a way around
 * the policy.  TN_OK: ctx->from_domain is set; TN_DECLINED: no
 * evaluation (FROM_BAD, or the message is a report); TN_ERROR: memory.
 */
static tn_int_t
tn_mail_dmarc_from(tn_dmarc_ctx_t *ctx)
{
    tn_int_t              n;
    tn_str_t             *fields, value, from, domain;
    tn_uint_t             i, j, nfrom, naddrs;
    tn_mail_msg_t        *msg;
    tn_mail_mime_addr_t  *addrs;
    u_char                buf[TN_DMARC_DOMAIN_MAX + 1];

    msg = ctx->msg;
    ctx->state = TN_DMARC_STATE_FROM_BAD;
    nfrom = 0;
    from.len = 0;
    from.data = NULL;

    fields = msg->fields ? msg->fields->elts : NULL;

    for (i = 0; fields && i < msg->fields->nelts; i++) {

        if (tn_mail_dmarc_field_is(&fields[i], "subject", &value) == TN_OK
            && value.len >= 14
            && tn_strncasecmp(value.data, (u_char *) "Report Domain:", 14)
               == 0)
        {
            /* an aggregate report (RFC 7489 7.2.1.1): never reported on */
            ctx->report = 1;
        }

        if (tn_mail_dmarc_field_is(&fields[i], "from", &value) == TN_OK) {
            nfrom++;
            from = value;
        }
    }

    if (nfrom == 0 && !msg->header_truncated) {
        /*
         * RFC 7489 6.6.1: a message without From is outside DMARC when
         * it is not refused; nothing is shown as its author, so nothing
         * is forged: no result
         */
        ctx->state = TN_DMARC_STATE_OFF;
        return TN_DECLINED;
    }

    if (nfrom != 1) {
        /* a From past the fields the checks keep is not seen: refused */
        ctx->from_error = nfrom ? "several From fields"
                                : "no From field in the header's first "
                                  "fields";
        return TN_DECLINED;
    }

    if (tn_mail_mime_parse_addresses(msg->pool, from.data, from.len, &addrs,
                                     &naddrs)
        != TN_OK)
    {
        return TN_ERROR;
    }

    domain.len = 0;
    domain.data = NULL;

    for (j = 0; j < naddrs; j++) {
        if (addrs[j].group_start || addrs[j].group_end || addrs[j].invalid
            || addrs[j].host.len == 0)
        {
            ctx->from_error = "an unusable From address";
            return TN_DECLINED;
        }

        n = tn_dmarc_domain_norm(buf, addrs[j].host.data, addrs[j].host.len);
        if (n == TN_ERROR) {
            ctx->from_error = "a From domain that is not a domain name";
            return TN_DECLINED;
        }

        if (domain.data == NULL) {
            tn_memcpy(ctx->from, buf, n + 1);
            domain.data = ctx->from;
            domain.len = n;

        } else if ((size_t) n != domain.len
                   || tn_memcmp(buf, domain.data, n) != 0)
        {
            ctx->from_error = "From addresses in several domains";
            return TN_DECLINED;
        }
    }

    if (domain.data == NULL) {
        ctx->from_error = "no From address";
        return TN_DECLINED;
    }

    ctx->from_domain = domain;
    ctx->state = TN_DMARC_STATE_FROM;

    return TN_OK;
}


/* field is "Name: value\n" with folded lines; the value, trimmed */
static tn_int_t
tn_mail_dmarc_field_is(tn_str_t *field, const char *name, tn_str_t *value)
{
    u_char  *p, *last;
    size_t   len;

    len = tn_strlen(name);

    if (field->len <= len
        || tn_strncasecmp(field->data, (u_char *) name, len) != 0)
    {
        return TN_DECLINED;
    }

    p = field->data + len;
    last = field->data + field->len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p == last || *p != ':') {
        return TN_DECLINED;
    }

    p++;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                        || last[-1] == ' ' || last[-1] == '\t'))
    {
        last--;
    }

    value->data = p;
    value->len = last - p;

    return TN_OK;
}


static tn_int_t
tn_mail_dmarc_lookup(tn_dmarc_ctx_t *ctx, tn_str_t *domain)
{
    u_char             *p;
    tn_resolver_t      *r;
    tn_resolver_ctx_t  *rctx;

    r = tn_resolver_get((tn_cycle_t *) tn_cycle);

    if (r == NULL) {
        tn_log_error(TN_LOG_ERR, ctx->msg->log, 0,
                     "dmarc: no resolver is configured");
        ctx->state = TN_DMARC_STATE_TEMPERROR;
        return TN_OK;
    }

    rctx = tn_resolve_start(r);
    if (rctx == NULL) {
        return TN_ERROR;
    }

    p = tn_pnalloc(ctx->msg->pool, sizeof("_dmarc.") - 1 + domain->len);
    if (p == NULL) {
        tn_resolve_done(rctx);
        return TN_ERROR;
    }

    rctx->name.data = p;
    rctx->name.len = tn_cpymem(tn_cpymem(p, "_dmarc.", 7), domain->data,
                               domain->len) - p;
    rctx->type = TN_RESOLVE_TXT;
    rctx->handler = tn_mail_dmarc_resolved;
    rctx->data = ctx;

    if (tn_resolve_name(rctx) != TN_OK) {
        /* a name too long for DNS has no record */
        tn_resolve_done(rctx);
        ctx->state = TN_DMARC_STATE_DONE;
        return TN_OK;
    }

    ctx->rctx = rctx;

    return TN_OK;
}


static void
tn_mail_dmarc_resolved(tn_resolver_ctx_t *rctx)
{
    tn_int_t            rc;
    tn_str_t           *txt, rec;
    tn_uint_t           i, nrec;
    tn_dmarc_ctx_t     *ctx;
    tn_dmarc_record_t   r;

    ctx = rctx->data;
    ctx->rctx = NULL;

    switch (rctx->state) {

    case TN_OK:
    case TN_RESOLVE_NXDOMAIN:
    case TN_RESOLVE_NODATA:
        break;

    default:
        tn_log_error(TN_LOG_INFO, ctx->msg->log, 0,
                     "dmarc: %V: %s", &rctx->name,
                     tn_resolver_strerror(rctx->state));
        tn_resolve_done(rctx);
        ctx->state = TN_DMARC_STATE_TEMPERROR;
        tn_mail_dmarc_finish(ctx);
        return;
    }

    /* RFC 7489 6.6.3: the records that start with v=DMARC1, one wanted */

    nrec = 0;
    rec.len = 0;
    rec.data = NULL;
    txt = rctx->txt;

    for (i = 0; rctx->state == TN_OK && i < rctx->ntxt; i++) {
        rc = tn_dmarc_record_parse(txt[i].data, txt[i].len, &r);

        if (rc != TN_DECLINED) {
            nrec++;
            rec = txt[i];
        }
    }

    if (nrec == 1) {
        /* the record must outlive the answer */
        rec.data = tn_pstrdup(ctx->msg->pool, &rec);

        if (rec.data
            && tn_dmarc_record_parse(rec.data, rec.len, &ctx->record)
               == TN_OK)
        {
            ctx->found = 1;
            ctx->policy_domain.data = rctx->name.data + 7;
            ctx->policy_domain.len = rctx->name.len - 7;

        } else {
            tn_log_error(TN_LOG_INFO, ctx->msg->log, 0,
                         "dmarc: %V: an invalid record is ignored",
                         &rctx->name);
        }

    } else if (nrec > 1) {
        tn_log_error(TN_LOG_INFO, ctx->msg->log, 0,
                     "dmarc: %V: %ui records, none applies",
                     &rctx->name, nrec);
    }

    tn_resolve_done(rctx);

    if (nrec == 0 && ctx->state == TN_DMARC_STATE_FROM
        && ctx->org_domain.len != ctx->from_domain.len)
    {
        /* none at the From domain: the organisational domain's */

        ctx->state = TN_DMARC_STATE_ORG;
        ctx->at_org = 1;

        if (tn_mail_dmarc_lookup(ctx, &ctx->org_domain) != TN_OK) {
            ctx->state = TN_DMARC_STATE_TEMPERROR;
            tn_mail_dmarc_finish(ctx);
            return;
        }

        if (ctx->rctx) {
            return;
        }
    }

    if (ctx->state == TN_DMARC_STATE_FROM
        || ctx->state == TN_DMARC_STATE_ORG)
    {
        ctx->state = TN_DMARC_STATE_DONE;
    }

    tn_mail_dmarc_finish(ctx);
}


/* the lookups are over: if end() waits, it is done now */
static void
tn_mail_dmarc_finish(tn_dmarc_ctx_t *ctx)
{
    tn_mail_dmarc_conf_t  *dcf;

    if (!ctx->waiting) {
        return;
    }

    ctx->waiting = 0;

    dcf = tn_mail_get_module_main_conf(ctx->msg->session,
                                      tn_mail_dmarc_module);

    if (tn_mail_dmarc_apply(ctx, dcf) != TN_OK) {
        tn_mail_msg_verdict(ctx->msg, TN_MAIL_VERDICT_DEFER,
                            "451 4.3.0 Internal server error");
    }

    tn_mail_check_done(ctx->msg);
}


static tn_int_t
tn_mail_dmarc_end(tn_mail_msg_t *msg)
{
    tn_dmarc_ctx_t        *ctx;
    tn_mail_dmarc_conf_t  *dcf;

    ctx = tn_mail_msg_ctx(msg, tn_mail_dmarc_check);

    if (ctx == NULL || ctx->state == TN_DMARC_STATE_OFF) {
        return TN_OK;
    }

    if (ctx->rctx) {
        ctx->waiting = 1;
        return TN_AGAIN;
    }

    dcf = tn_mail_get_module_main_conf(ctx->msg->session,
                                      tn_mail_dmarc_module);

    return tn_mail_dmarc_apply(ctx, dcf);
}


static void
tn_mail_dmarc_cleanup(tn_mail_msg_t *msg)
{
    tn_dmarc_ctx_t  *ctx;

    ctx = tn_mail_msg_ctx(msg, tn_mail_dmarc_check);

    if (ctx == NULL) {
        return;
    }

    if (ctx->rctx) {
        tn_resolve_done(ctx->rctx);
        ctx->rctx = NULL;
    }

    tn_mail_msg_ctx(msg, tn_mail_dmarc_check) = NULL;
}


/* the result, the A-R entry, the verdict and the report row */
static tn_int_t
tn_mail_dmarc_apply(tn_dmarc_ctx_t *ctx, tn_mail_dmarc_conf_t *dcf)
{
    u_char                 *p;
    size_t                  len;
    tn_uint_t               result;
    tn_mail_msg_t          *msg;
    tn_dmarc_eval_t         e;
    tn_mail_auth_result_t  *ar;
    u_char                  reply[128 + TN_DMARC_DOMAIN_MAX];

    msg = ctx->msg;

    tn_memzero(&e, sizeof(tn_dmarc_eval_t));

    switch (ctx->state) {

    case TN_DMARC_STATE_FROM_BAD:
        result = TN_MAIL_AUTH_PERMERROR;
        break;

    case TN_DMARC_STATE_TEMPERROR:
        result = TN_MAIL_AUTH_TEMPERROR;
        break;

    default:
        if (!ctx->found) {
            result = TN_MAIL_AUTH_NONE;
            break;
        }

        e.from = ctx->from_domain;
        e.org = ctx->org_domain;
        e.record = &ctx->record;
        e.at_org = ctx->at_org;
        e.random = arc4random_uniform(100);

        tn_dmarc_evaluate(dcf->psl, &e, msg->results->elts,
                          msg->results->nelts);

        result = e.pass ? TN_MAIL_AUTH_PASS : TN_MAIL_AUTH_FAIL;
    }

    ar = tn_mail_msg_add_result(msg, "dmarc", result);
    if (ar == NULL) {
        return TN_ERROR;
    }

    if (ctx->from_domain.len) {
        ar->domain = ctx->from_domain;

        len = sizeof("header.from=") - 1 + ctx->from_domain.len;
        p = tn_pnalloc(msg->pool, len);
        if (p == NULL) {
            return TN_ERROR;
        }

        ar->props.data = p;
        ar->props.len = tn_sprintf(p, "header.from=%V", &ctx->from_domain)
                        - p;
    }

    if (result == TN_MAIL_AUTH_PERMERROR) {
        ar->reason.data = (u_char *) ctx->from_error;
        ar->reason.len = tn_strlen(ctx->from_error);

        tn_log_error(TN_LOG_INFO, msg->log, 0, "dmarc: permerror: %s",
                     ctx->from_error);

        if (ctx->mode == TN_MAIL_DMARC_HONOUR) {
            tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_REJECT,
                                "550 5.7.1 The message must have exactly "
                                "one From address (RFC 7489 6.6.1)");
        }

        return TN_OK;
    }

    if (result != TN_MAIL_AUTH_PASS && result != TN_MAIL_AUTH_FAIL) {
        tn_log_error(TN_LOG_INFO, msg->log, 0, "dmarc: %s, header.from=%V",
                     tn_mail_auth_result_name(result), &ctx->from_domain);
        return TN_OK;
    }

    p = tn_pnalloc(msg->pool, sizeof("p=quarantine dis=quarantine "
                                     "sampled_out") - 1);
    if (p == NULL) {
        return TN_ERROR;
    }

    ar->reason.data = p;
    ar->reason.len = tn_sprintf(p, "p=%s dis=%s%s",
                                tn_dmarc_policy_name(e.policy),
                                tn_dmarc_policy_name(e.disposition),
                                e.sampled_out ? " sampled_out" : "")
                     - p;

    tn_log_error(TN_LOG_INFO, msg->log, 0,
                 "dmarc: %s, header.from=%V, policy of %V, %V",
                 tn_mail_auth_result_name(result), &ctx->from_domain,
                 &ctx->policy_domain, &ar->reason);

    if (!ctx->report && ctx->record.rua.len) {
        tn_mail_dmarc_record_row(ctx, &e);
    }

    if (ctx->mode != TN_MAIL_DMARC_HONOUR) {
        return TN_OK;
    }

    if (e.disposition == TN_DMARC_POLICY_REJECT) {
        (void) tn_snprintf(reply, sizeof(reply) - 1,
                           "550 5.7.1 Rejected by the DMARC policy of %V%Z",
                           &ctx->policy_domain);
        tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_REJECT, (char *) reply);

    } else if (e.disposition == TN_DMARC_POLICY_QUARANTINE) {
        tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_QUARANTINE, NULL);
    }

    return TN_OK;
}


/* the rows of the aggregate reports */

static void
tn_mail_dmarc_record_row(tn_dmarc_ctx_t *ctx, tn_dmarc_eval_t *e)
{
    u_char                 *p, *last;
    tn_uint_t               i;
    tn_mail_msg_t          *msg;
    tn_dmarc_row_t         *row;
    tn_dmarc_record_t      *r;
    tn_mail_auth_result_t  *ar;

    msg = ctx->msg;

    if (tn_mail_dmarc_nrows >= TN_DMARC_ROWS_MAX) {
        tn_log_error(TN_LOG_WARN, msg->log, 0,
                     "dmarc: %ui report rows wait to be written, this one "
                     "is dropped", tn_mail_dmarc_nrows);
        return;
    }

    row = calloc(1, sizeof(tn_dmarc_row_t));
    if (row == NULL) {
        tn_log_error(TN_LOG_CRIT, msg->log, tn_errno,
                     "dmarc: calloc() failed");
        return;
    }

    r = &ctx->record;

    row->time = tn_time();
    tn_dmarc_row_copy(row->source_ip, sizeof(row->source_ip),
                      &msg->addr_text);
    tn_dmarc_row_copy(row->header_from, sizeof(row->header_from),
                      &ctx->from_domain);
    tn_dmarc_row_copy(row->policy_domain, sizeof(row->policy_domain),
                      &ctx->policy_domain);
    tn_dmarc_row_copy(row->rua, sizeof(row->rua), &r->rua);

    (void) tn_snprintf((u_char *) row->policy, sizeof(row->policy) - 1,
                       "%s %s %c %c %ui%Z", tn_dmarc_policy_name(r->p),
                       tn_dmarc_policy_name(r->sp),
                       r->adkim == TN_DMARC_ALIGN_STRICT ? 's' : 'r',
                       r->aspf == TN_DMARC_ALIGN_STRICT ? 's' : 'r', r->pct);

    row->disposition = e->disposition;
    row->dkim_aligned = e->dkim_aligned;
    row->spf_aligned = e->spf_aligned;
    row->sampled_out = e->sampled_out;

    /* the SPF and DKIM results: "domain selector-or-scope result" lines */

    p = (u_char *) row->auth;
    last = p + sizeof(row->auth) - 1;
    ar = msg->results->elts;

    for (i = 0; i < msg->results->nelts; i++) {
        if (ar[i].method == NULL
            || (strcmp(ar[i].method, "spf") != 0
                && strcmp(ar[i].method, "dkim") != 0))
        {
            continue;
        }

        if (ar[i].method[0] == 's') {
            tn_dmarc_row_copy(row->envelope_from, sizeof(row->envelope_from),
                              &ar[i].domain);
        }

        p = tn_dmarc_row_auth(p, last, ar[i].method, &ar[i].domain,
                              ar[i].method[0] == 's'
                              ? (msg->from.len ? "mfrom" : "helo") : NULL,
                              &ar[i].selector,
                              tn_mail_auth_result_name(ar[i].result));
    }

    *p = '\0';

    *tn_mail_dmarc_rows_last = row;
    tn_mail_dmarc_rows_last = &row->next;
    tn_mail_dmarc_nrows++;

    tn_mail_dmarc_rows_post();
}


/* a batch to the thread pool, unless one is being written */
static void
tn_mail_dmarc_rows_post(void)
{
    tn_cycle_t         *cycle;
    tn_store_conf_t    *scf;
    tn_thread_task_t   *task;
    tn_dmarc_batch_t   *b;

    if (tn_mail_dmarc_busy || tn_mail_dmarc_rows == NULL) {
        return;
    }

    cycle = (tn_cycle_t *) tn_cycle;
    scf = tn_store_get_conf(cycle);

    task = tn_thread_task_alloc(sizeof(tn_dmarc_batch_t), cycle->log);
    if (task == NULL) {
        return;
    }

    b = task->ctx;
    b->scf = scf;
    b->rows = tn_mail_dmarc_rows;
    b->nrows = tn_mail_dmarc_nrows;

    task->log = cycle->log;
    task->handler = tn_mail_dmarc_rows_thread;
    task->event.handler = tn_mail_dmarc_rows_done;
    task->event.data = task;

    if (tn_thread_task_post(task) != TN_OK) {
        /* the rows stay for the next message or the worker's exit */
        tn_thread_task_free(task);
        return;
    }

    tn_mail_dmarc_rows = NULL;
    tn_mail_dmarc_rows_last = &tn_mail_dmarc_rows;
    tn_mail_dmarc_nrows = 0;
    tn_mail_dmarc_busy = 1;
}


static void
tn_mail_dmarc_rows_thread(void *data, tn_log_t *log)
{
    tn_dmarc_batch_t  *b = data;

    b->rc = tn_mail_dmarc_rows_write(b->scf, b->rows, log);
}


static void
tn_mail_dmarc_rows_done(tn_event_t *ev)
{
    tn_dmarc_row_t    *row, *next;
    tn_dmarc_batch_t  *b;
    tn_thread_task_t  *task;

    task = ev->data;
    b = task->ctx;

    tn_log_error(TN_LOG_INFO, tn_cycle->log, 0,
                 "dmarc: %ui report rows %s", b->nrows,
                 b->rc == TN_OK ? "written" : "lost");

    for (row = b->rows; row; row = next) {
        next = row->next;
        free(row);
    }

    tn_thread_task_free(task);

    tn_mail_dmarc_busy = 0;

    tn_mail_dmarc_rows_post();
}
