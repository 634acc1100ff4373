
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_spf.h>


/*
 * check_host() (RFC 7208 4, 5, 6) as a state machine.  A check is a stack
 * of frames, one per record being evaluated: "include" pushes one,
 * "redirect" replaces the top one.  st->step says what runs next; a step
 * either moves on at once or starts one DNS lookup and waits, and the
 * resolver's handler runs the loop again.  Only one lookup is in flight
 * at a time, so cancelling is releasing it.
 *
 * Include and redirect loops end on the limit of 10 DNS-querying terms
 * (4.6.4), which also bounds the stack.  The whole check has a deadline.
 */


#define TN_SPF_MAX_DEPTH      (TN_SPF_MAX_DNS_TERMS + 2)
/* the longest SPF record evaluated (a DNS answer holds up to 64 KB) */
#define TN_SPF_MAX_RECORD     16384


enum {
    tn_spf_step_record = 0,      /* look up the top frame's TXT records */
    tn_spf_step_record_answer,
    tn_spf_step_term,            /* evaluate the top frame's next term */
    tn_spf_step_a_answer,        /* "a": the addresses */
    tn_spf_step_mx_answer,       /* "mx": the MX names */
    tn_spf_step_mx_host,         /* "mx": look up the next MX name */
    tn_spf_step_mx_host_answer,
    tn_spf_step_exists_answer,
    tn_spf_step_names,           /* the client's PTR names (ptr, %{p}) */
    tn_spf_step_names_answer,
    tn_spf_step_name_addr,       /* validate the next PTR name */
    tn_spf_step_name_addr_answer,
    tn_spf_step_ptr_match,       /* "ptr", once the names are validated */
    tn_spf_step_redirect,        /* no mechanism matched */
    tn_spf_step_exp,             /* a fail: the explanation */
    tn_spf_step_exp_answer,
    tn_spf_step_exp_text,        /* expand the explanation's text */
    tn_spf_step_done
};


typedef struct {
    tn_str_t                domain;
    tn_spf_record_t         rec;
    tn_uint_t               i;           /* the term being evaluated */
    unsigned                redirected:1;
} tn_spf_frame_t;


typedef struct {
    tn_spf_t               *spf;
    tn_spf_macro_t          m;

    tn_spf_frame_t          frames[TN_SPF_MAX_DEPTH];
    tn_uint_t               depth;

    tn_uint_t               dns_terms;
    tn_uint_t               voids;

    tn_uint_t               step;
    tn_uint_t               resume;      /* after the PTR names */

    /* the lookup in flight or just answered; NULL: ans_state says why */
    tn_resolver_ctx_t      *ctx;
    tn_int_t                ans_state;

    u_char                 *expanded;    /* TN_SPF_MAX_EXPAND bytes */
    tn_str_t                target;      /* of the term evaluated */

    tn_str_t                hosts[TN_SPF_MAX_NAMES];
    tn_uint_t               nhosts;
    tn_uint_t               host;

    tn_str_t                names[TN_SPF_MAX_NAMES];
    u_char                  valid[TN_SPF_MAX_NAMES];
    tn_uint_t               nnames;
    tn_uint_t               name;

    tn_event_t              timer;

    unsigned                names_done:1;
    unsigned                waiting:1;
} tn_spf_state_t;


static tn_str_t *tn_spf_copy(tn_pool_t *pool, tn_str_t *s);
static tn_int_t tn_spf_identity(tn_pool_t *pool, tn_spf_macro_t *m,
    tn_str_t *sender, tn_str_t *helo);
static tn_int_t tn_spf_run(tn_spf_state_t *st);
static void tn_spf_dns_handler(tn_resolver_ctx_t *ctx);
static void tn_spf_timer_handler(tn_event_t *ev);
static void tn_spf_release(tn_spf_state_t *st);
static tn_int_t tn_spf_lookup(tn_spf_state_t *st, tn_str_t *name,
    tn_uint_t type, tn_uint_t next);
static tn_uint_t tn_spf_addr_type(tn_spf_state_t *st);
static tn_int_t tn_spf_record(tn_spf_state_t *st);
static tn_int_t tn_spf_record_answer(tn_spf_state_t *st);
static tn_int_t tn_spf_term(tn_spf_state_t *st);
static tn_int_t tn_spf_term_dns(tn_spf_state_t *st, tn_spf_term_t *t);
static tn_int_t tn_spf_a_answer(tn_spf_state_t *st);
static tn_int_t tn_spf_term_answer(tn_spf_state_t *st, tn_uint_t matched,
    const char *error);
static tn_int_t tn_spf_mx_answer(tn_spf_state_t *st);
static tn_int_t tn_spf_mx_host(tn_spf_state_t *st);
static tn_int_t tn_spf_mx_host_answer(tn_spf_state_t *st);
static tn_int_t tn_spf_exists_answer(tn_spf_state_t *st);
static tn_int_t tn_spf_names(tn_spf_state_t *st);
static tn_int_t tn_spf_names_answer(tn_spf_state_t *st);
static tn_int_t tn_spf_name_addr(tn_spf_state_t *st);
static tn_int_t tn_spf_name_addr_answer(tn_spf_state_t *st);
static tn_int_t tn_spf_ptr_match(tn_spf_state_t *st);
static tn_int_t tn_spf_redirect(tn_spf_state_t *st);
static tn_int_t tn_spf_exp(tn_spf_state_t *st);
static tn_int_t tn_spf_exp_answer(tn_spf_state_t *st);
static tn_int_t tn_spf_exp_text(tn_spf_state_t *st);
static tn_uint_t tn_spf_addr_match(tn_spf_state_t *st, tn_uint_t cidr4,
    tn_uint_t cidr6);
static tn_int_t tn_spf_expand_target(tn_spf_state_t *st, tn_str_t *spec,
    tn_str_t *target);
static void tn_spf_choose_validated(tn_spf_state_t *st);
static tn_uint_t tn_spf_name_under(tn_str_t *name, tn_str_t *domain);
static void tn_spf_match(tn_spf_state_t *st);
static void tn_spf_next_term(tn_spf_state_t *st);
static void tn_spf_frame_result(tn_spf_state_t *st, tn_uint_t result,
    const char *reason);
static void tn_spf_finish(tn_spf_state_t *st, tn_uint_t result,
    const char *reason);
static tn_uint_t tn_spf_void(tn_spf_state_t *st);


tn_spf_t *
tn_spf_create(tn_pool_t *pool, tn_log_t *log, tn_resolver_t *r,
    tn_str_t *ip, tn_str_t *sender, tn_str_t *helo, tn_str_t *receiver)
{
    tn_spf_t        *spf;
    tn_spf_state_t  *st;

    spf = tn_pcalloc(pool, sizeof(tn_spf_t));
    st = tn_pcalloc(pool, sizeof(tn_spf_state_t));
    if (spf == NULL || st == NULL) {
        return NULL;
    }

    st->expanded = tn_pnalloc(pool, TN_SPF_MAX_EXPAND);
    if (st->expanded == NULL) {
        return NULL;
    }

    spf->pool = pool;
    spf->log = log;
    spf->resolver = r;
    spf->state = st;
    spf->result = TN_SPF_NONE;
    tn_str_set(&spf->explanation, "");
    tn_str_set(&spf->reason, "");

    st->spf = spf;

    if (tn_spf_parse_ip(ip->data, ip->len, &st->m) != TN_OK) {
        return NULL;
    }

    /* the session's strings may be in buffers that are reused */

    sender = tn_spf_copy(pool, sender);
    helo = tn_spf_copy(pool, helo);
    receiver = tn_spf_copy(pool, receiver);

    if (sender == NULL || helo == NULL || receiver == NULL
        || tn_spf_identity(pool, &st->m, sender, helo) != TN_OK)
    {
        return NULL;
    }

    st->m.helo = *helo;
    st->m.receiver = *receiver;
    st->m.now = tn_time();

    spf->domain = st->m.sender_domain;

    st->timer.data = st;
    st->timer.handler = tn_spf_timer_handler;
    st->timer.log = log;
    st->timer.cancelable = 1;

    return spf;
}


/*
 * RFC 7208 4.3, 2.4: the null reverse path is postmaster@HELO; a sender
 * without a local part gets "postmaster".  The domain follows the last
 * "@": a quoted local part may hold one.
 */

static tn_int_t
tn_spf_identity(tn_pool_t *pool, tn_spf_macro_t *m, tn_str_t *sender,
    tn_str_t *helo)
{
    u_char  *p, *at;
    size_t   len;

    if (sender->len == 0) {
        m->sender_domain = *helo;

    } else {
        at = NULL;

        for (p = sender->data; p < sender->data + sender->len; p++) {
            if (*p == '@') {
                at = p;
            }
        }

        if (at == NULL) {
            m->sender_domain = *sender;
            at = sender->data;

        } else {
            m->sender_domain.data = at + 1;
            m->sender_domain.len = sender->data + sender->len - at - 1;
        }

        if (at != sender->data) {
            m->sender = *sender;
            m->local.data = sender->data;
            m->local.len = at - sender->data;
            return TN_OK;
        }
    }

    len = sizeof("postmaster@") - 1 + m->sender_domain.len;

    p = tn_pnalloc(pool, len);
    if (p == NULL) {
        return TN_ERROR;
    }

    m->sender.data = p;
    m->sender.len = len;

    p = tn_cpymem(p, "postmaster@", sizeof("postmaster@") - 1);
    tn_memcpy(p, m->sender_domain.data, m->sender_domain.len);

    tn_str_set(&m->local, "postmaster");

    return TN_OK;
}


static tn_str_t *
tn_spf_copy(tn_pool_t *pool, tn_str_t *s)
{
    tn_str_t  *d;

    d = tn_palloc(pool, sizeof(tn_str_t));
    if (d == NULL) {
        return NULL;
    }

    d->len = s->len;
    d->data = tn_pnalloc(pool, s->len + 1);
    if (d->data == NULL) {
        return NULL;
    }

    if (s->len) {
        tn_memcpy(d->data, s->data, s->len);
    }

    d->data[s->len] = '\0';

    return d;
}


tn_int_t
tn_spf_start(tn_spf_t *spf)
{
    tn_int_t         rc;
    tn_spf_state_t  *st;

    st = spf->state;

    /* RFC 7208 4.3: a malformed domain is "none" without any lookup */

    if (!tn_spf_valid_domain(&spf->domain)) {
        spf->result = TN_SPF_NONE;
        tn_str_set(&spf->reason, "not a valid domain");
        return TN_OK;
    }

    if (spf->resolver == NULL) {
        spf->result = TN_SPF_TEMPERROR;
        tn_str_set(&spf->reason, "no resolver configured");
        return TN_OK;
    }

    st->depth = 1;
    st->frames[0].domain = spf->domain;
    st->step = tn_spf_step_record;

    rc = tn_spf_run(st);

    if (rc == TN_AGAIN) {
        tn_event_add_timer(&st->timer, TN_SPF_TIMEOUT);
        return TN_AGAIN;
    }

    tn_spf_release(st);

    return TN_OK;
}


void
tn_spf_cancel(tn_spf_t *spf)
{
    tn_spf_release(spf->state);
}


static void
tn_spf_release(tn_spf_state_t *st)
{
    if (st->ctx) {
        tn_resolve_done(st->ctx);
        st->ctx = NULL;
    }

    st->waiting = 0;

    if (st->timer.timer_set) {
        tn_event_del_timer(&st->timer);
    }
}


static void
tn_spf_dns_handler(tn_resolver_ctx_t *ctx)
{
    tn_spf_t        *spf;
    tn_spf_state_t  *st;

    st = ctx->data;
    st->waiting = 0;
    st->ans_state = ctx->state;

    if (tn_spf_run(st) == TN_AGAIN) {
        return;
    }

    tn_spf_release(st);

    spf = st->spf;
    spf->handler(spf);
}


static void
tn_spf_timer_handler(tn_event_t *ev)
{
    tn_spf_t        *spf;
    tn_spf_state_t  *st;

    st = ev->data;
    ev->timedout = 0;

    tn_spf_release(st);

    spf = st->spf;
    spf->result = TN_SPF_TEMPERROR;
    tn_str_set(&spf->explanation, "");
    tn_str_set(&spf->reason, "the check took too long");
    st->step = tn_spf_step_done;

    spf->handler(spf);
}


/* runs steps until one waits for DNS (TN_AGAIN) or the check is over */

static tn_int_t
tn_spf_run(tn_spf_state_t *st)
{
    tn_int_t  rc;

    for ( ;; ) {

        switch (st->step) {

        case tn_spf_step_record:
            rc = tn_spf_record(st);
            break;

        case tn_spf_step_record_answer:
            rc = tn_spf_record_answer(st);
            break;

        case tn_spf_step_term:
            rc = tn_spf_term(st);
            break;

        case tn_spf_step_a_answer:
            rc = tn_spf_a_answer(st);
            break;

        case tn_spf_step_mx_answer:
            rc = tn_spf_mx_answer(st);
            break;

        case tn_spf_step_mx_host:
            rc = tn_spf_mx_host(st);
            break;

        case tn_spf_step_mx_host_answer:
            rc = tn_spf_mx_host_answer(st);
            break;

        case tn_spf_step_exists_answer:
            rc = tn_spf_exists_answer(st);
            break;

        case tn_spf_step_names:
            rc = tn_spf_names(st);
            break;

        case tn_spf_step_names_answer:
            rc = tn_spf_names_answer(st);
            break;

        case tn_spf_step_name_addr:
            rc = tn_spf_name_addr(st);
            break;

        case tn_spf_step_name_addr_answer:
            rc = tn_spf_name_addr_answer(st);
            break;

        case tn_spf_step_ptr_match:
            rc = tn_spf_ptr_match(st);
            break;

        case tn_spf_step_redirect:
            rc = tn_spf_redirect(st);
            break;

        case tn_spf_step_exp:
            rc = tn_spf_exp(st);
            break;

        case tn_spf_step_exp_answer:
            rc = tn_spf_exp_answer(st);
            break;

        case tn_spf_step_exp_text:
            rc = tn_spf_exp_text(st);
            break;

        default: /* tn_spf_step_done */
            return TN_OK;
        }

        if (rc == TN_AGAIN) {
            return TN_AGAIN;
        }

        if (rc == TN_ERROR) {
            /* no memory: try again later */
            tn_spf_finish(st, TN_SPF_TEMPERROR, "out of memory");
        }
    }
}


/*
 * Starts a lookup; next is the step that reads the answer.  TN_AGAIN
 * while it runs; TN_OK when it could not start: ans_state says why
 * (TN_RESOLVE_FORMERR for a name that cannot be asked, which the answer
 * steps treat as a name that does not exist).
 */

static tn_int_t
tn_spf_lookup(tn_spf_state_t *st, tn_str_t *name, tn_uint_t type,
    tn_uint_t next)
{
    tn_resolver_ctx_t  *ctx;

    if (st->ctx) {
        tn_resolve_done(st->ctx);
        st->ctx = NULL;
    }

    st->step = next;

    ctx = tn_resolve_start(st->spf->resolver);
    if (ctx == NULL) {
        st->ans_state = TN_RESOLVE_ERROR;
        return TN_OK;
    }

    ctx->name = *name;
    ctx->type = type;
    ctx->handler = tn_spf_dns_handler;
    ctx->data = st;
    ctx->any_name = 1;

    if (tn_resolve_name(ctx) != TN_OK) {
        /* a name that cannot be asked names nothing */
        st->ans_state = (ctx->state == TN_RESOLVE_FORMERR)
                        ? TN_RESOLVE_NXDOMAIN : ctx->state;
        tn_resolve_done(ctx);
        return TN_OK;
    }

    st->ctx = ctx;
    st->waiting = 1;

    return TN_AGAIN;
}


static tn_uint_t
tn_spf_addr_type(tn_spf_state_t *st)
{
    return st->m.family == AF_INET ? TN_RESOLVE_A : TN_RESOLVE_AAAA;
}


#define tn_spf_answer_ok(st)                                                 \
    ((st)->ans_state == TN_OK && (st)->ctx != NULL)

#define tn_spf_answer_void(st)                                               \
    ((st)->ans_state == TN_RESOLVE_NXDOMAIN                                  \
     || (st)->ans_state == TN_RESOLVE_NODATA)


static tn_int_t
tn_spf_record(tn_spf_state_t *st)
{
    tn_spf_frame_t  *f;

    f = &st->frames[st->depth - 1];

    if (tn_spf_target_name(&f->domain) != TN_OK) {
        st->ans_state = TN_RESOLVE_NXDOMAIN;
        st->step = tn_spf_step_record_answer;
        return TN_OK;
    }

    return tn_spf_lookup(st, &f->domain, TN_RESOLVE_TXT,
                         tn_spf_step_record_answer);
}


/* RFC 7208 4.4, 4.5: exactly one record starting "v=spf1" */

static tn_int_t
tn_spf_record_answer(tn_spf_state_t *st)
{
    u_char           *p;
    tn_int_t          rc;
    tn_str_t         *txt, *rec, err;
    tn_uint_t         i;
    tn_spf_frame_t   *f;

    f = &st->frames[st->depth - 1];
    rec = NULL;

    if (tn_spf_answer_ok(st)) {
        txt = st->ctx->txt;

        for (i = 0; i < st->ctx->ntxt; i++) {
            if (!tn_spf_is_record(txt[i].data, txt[i].len)) {
                continue;
            }

            if (rec) {
                tn_spf_frame_result(st, TN_SPF_PERMERROR,
                                    "more than one SPF record");
                return TN_OK;
            }

            rec = &txt[i];
        }

    } else if (!tn_spf_answer_void(st)) {
        tn_spf_frame_result(st, TN_SPF_TEMPERROR,
                            "the SPF record lookup failed");
        return TN_OK;
    }

    if (rec == NULL) {
        if (f->redirected) {
            /* RFC 7208 6.1: a redirect to a domain without a record */
            tn_spf_frame_result(st, TN_SPF_PERMERROR,
                                "no SPF record at the redirect target");
            return TN_OK;
        }

        tn_spf_frame_result(st, TN_SPF_NONE, "no SPF record");
        return TN_OK;
    }

    if (rec->len > TN_SPF_MAX_RECORD) {
        tn_spf_frame_result(st, TN_SPF_PERMERROR, "the SPF record is too long");
        return TN_OK;
    }

    /* the answer goes with the next lookup: the record is kept */

    p = tn_pnalloc(st->spf->pool, rec->len);
    if (p == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(p, rec->data, rec->len);

    rc = tn_spf_parse_record(st->spf->pool, p, rec->len, &f->rec, &err);

    if (rc == TN_ABORT) {
        return TN_ERROR;
    }

    if (rc != TN_OK) {
        tn_log_error(TN_LOG_INFO, st->spf->log, 0,
                     "SPF record of \"%V\": %V", &f->domain, &err);
        tn_spf_frame_result(st, TN_SPF_PERMERROR, "a syntax error");
        return TN_OK;
    }

    f->i = 0;
    st->step = tn_spf_step_term;

    return TN_OK;
}


static tn_int_t
tn_spf_term(tn_spf_state_t *st)
{
    tn_spf_term_t   *t;
    tn_spf_frame_t  *f;

    f = &st->frames[st->depth - 1];

    if (f->i == f->rec.nterms) {
        st->step = tn_spf_step_redirect;
        return TN_OK;
    }

    t = &f->rec.terms[f->i];

    switch (t->type) {

    case TN_SPF_ALL:
        tn_spf_match(st);
        return TN_OK;

    case TN_SPF_IP4:
        if (st->m.family == AF_INET
            && tn_spf_cidr_match(st->m.ip, t->addr, t->cidr4))
        {
            tn_spf_match(st);

        } else {
            tn_spf_next_term(st);
        }

        return TN_OK;

    case TN_SPF_IP6:
        if (st->m.family == AF_INET6
            && tn_spf_cidr_match(st->m.ip, t->addr, t->cidr6))
        {
            tn_spf_match(st);

        } else {
            tn_spf_next_term(st);
        }

        return TN_OK;
    }

    return tn_spf_term_dns(st, t);
}


/* include, a, mx, ptr, exists: each counts against the limit */

static tn_int_t
tn_spf_term_dns(tn_spf_state_t *st, tn_spf_term_t *t)
{
    tn_int_t         rc;
    tn_spf_frame_t  *f;

    f = &st->frames[st->depth - 1];

    if (t->spec.len && tn_spf_macro_uses_p(&t->spec) && !st->names_done) {
        st->resume = tn_spf_step_term;
        st->step = tn_spf_step_names;
        return TN_OK;
    }

    if (++st->dns_terms > TN_SPF_MAX_DNS_TERMS) {
        tn_spf_finish(st, TN_SPF_PERMERROR, "too many DNS lookups");
        return TN_OK;
    }

    if (t->spec.len == 0) {
        st->target = f->domain;

    } else {
        rc = tn_spf_expand_target(st, &t->spec, &st->target);
        if (rc != TN_OK) {
            return rc == TN_DECLINED ? TN_OK : rc;
        }
    }

    switch (t->type) {

    case TN_SPF_INCLUDE:
        if (st->depth == TN_SPF_MAX_DEPTH) {
            tn_spf_finish(st, TN_SPF_PERMERROR, "includes nest too deep");
            return TN_OK;
        }

        f = &st->frames[st->depth++];
        tn_memzero(f, sizeof(tn_spf_frame_t));
        f->domain = st->target;
        st->step = tn_spf_step_record;
        return TN_OK;

    case TN_SPF_A:
        return tn_spf_lookup(st, &st->target, tn_spf_addr_type(st),
                             tn_spf_step_a_answer);

    case TN_SPF_MX:
        return tn_spf_lookup(st, &st->target, TN_RESOLVE_MX,
                             tn_spf_step_mx_answer);

    case TN_SPF_EXISTS:
        /* RFC 7208 5.7: an A lookup, whatever the client's family */
        return tn_spf_lookup(st, &st->target, TN_RESOLVE_A,
                             tn_spf_step_exists_answer);

    default: /* TN_SPF_PTR */
        st->step = tn_spf_step_ptr_match;

        if (!st->names_done) {
            st->resume = tn_spf_step_ptr_match;
            st->step = tn_spf_step_names;
        }

        return TN_OK;
    }
}


/*
 * Expands a domain-spec into a name to look up, kept in the pool.
 * TN_OK; TN_DECLINED when the check ended or moved on (a bad expansion
 * is a permerror; a name that cannot exist is a lookup that finds
 * nothing, which st->ans_state tells); TN_ERROR: no memory.
 */

static tn_int_t
tn_spf_expand_target(tn_spf_state_t *st, tn_str_t *spec, tn_str_t *target)
{
    ssize_t   n;
    tn_str_t  name;

    st->m.domain = st->frames[st->depth - 1].domain;
    tn_spf_choose_validated(st);

    n = tn_spf_expand(&st->m, spec, 0, st->expanded);

    if (n == TN_ERROR) {
        tn_spf_finish(st, TN_SPF_PERMERROR, "a bad macro expansion");
        return TN_DECLINED;
    }

    name.data = st->expanded;
    name.len = n;

    if (tn_spf_target_name(&name) != TN_OK) {
        /* an empty or overlong label: names nothing (4.3, 5) */
        tn_str_set(&name, ".");
    }

    target->data = tn_pnalloc(st->spf->pool, name.len);
    if (target->data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(target->data, name.data, name.len);
    target->len = name.len;

    return TN_OK;
}


static tn_int_t
tn_spf_a_answer(tn_spf_state_t *st)
{
    tn_spf_term_t   *t;
    tn_spf_frame_t  *f;

    f = &st->frames[st->depth - 1];
    t = &f->rec.terms[f->i];

    return tn_spf_term_answer(st, tn_spf_answer_ok(st)
                                  && tn_spf_addr_match(st, t->cidr4,
                                                       t->cidr6),
                              "an address lookup failed");
}


/*
 * The answer to a term's lookup: a match, no match, a void lookup (which
 * may be one too many), or an error.
 */

static tn_int_t
tn_spf_term_answer(tn_spf_state_t *st, tn_uint_t matched, const char *error)
{
    if (tn_spf_answer_ok(st)) {
        if (matched) {
            tn_spf_match(st);

        } else {
            tn_spf_next_term(st);
        }

        return TN_OK;
    }

    if (tn_spf_answer_void(st)) {
        if (tn_spf_void(st)) {
            tn_spf_next_term(st);
        }

        return TN_OK;
    }

    tn_spf_finish(st, TN_SPF_TEMPERROR, error);

    return TN_OK;
}


static tn_int_t
tn_spf_mx_answer(tn_spf_state_t *st)
{
    tn_uint_t          i;
    tn_resolver_mx_t  *mx;

    if (!tn_spf_answer_ok(st)) {
        return tn_spf_term_answer(st, 0, "an MX lookup failed");
    }

    /* RFC 7208 4.6.4: more than 10 MX names is a permerror */

    if (st->ctx->nmx > TN_SPF_MAX_NAMES) {
        tn_spf_finish(st, TN_SPF_PERMERROR, "more than 10 MX names");
        return TN_OK;
    }

    st->nhosts = 0;
    st->host = 0;
    mx = st->ctx->mx;

    for (i = 0; i < st->ctx->nmx; i++) {
        if (mx[i].host.len == 0) {
            /* the null MX "." (RFC 7505) */
            continue;
        }

        st->hosts[st->nhosts].data = tn_pnalloc(st->spf->pool,
                                                mx[i].host.len);
        if (st->hosts[st->nhosts].data == NULL) {
            return TN_ERROR;
        }

        tn_memcpy(st->hosts[st->nhosts].data, mx[i].host.data,
                  mx[i].host.len);
        st->hosts[st->nhosts].len = mx[i].host.len;
        st->nhosts++;
    }

    st->step = tn_spf_step_mx_host;

    return TN_OK;
}


static tn_int_t
tn_spf_mx_host(tn_spf_state_t *st)
{
    if (st->host == st->nhosts) {
        tn_spf_next_term(st);
        return TN_OK;
    }

    return tn_spf_lookup(st, &st->hosts[st->host], tn_spf_addr_type(st),
                         tn_spf_step_mx_host_answer);
}


static tn_int_t
tn_spf_mx_host_answer(tn_spf_state_t *st)
{
    tn_spf_term_t   *t;
    tn_spf_frame_t  *f;

    f = &st->frames[st->depth - 1];
    t = &f->rec.terms[f->i];

    if (tn_spf_answer_ok(st)) {
        if (tn_spf_addr_match(st, t->cidr4, t->cidr6)) {
            tn_spf_match(st);
            return TN_OK;
        }

    } else if (!tn_spf_answer_void(st)) {
        tn_spf_finish(st, TN_SPF_TEMPERROR, "an MX address lookup failed");
        return TN_OK;
    }

    st->host++;
    st->step = tn_spf_step_mx_host;

    return TN_OK;
}


static tn_int_t
tn_spf_exists_answer(tn_spf_state_t *st)
{
    return tn_spf_term_answer(st, 1, "an exists lookup failed");
}


/*
 * The client's validated names (RFC 7208 5.5, 7.3): the PTR names of its
 * address, at most 10, each of which has the address among its own.
 * DNS errors on the way leave names out; they are not errors.
 */

static tn_int_t
tn_spf_names(tn_spf_state_t *st)
{
    u_char    *p;
    tn_str_t   ip;

    p = tn_pnalloc(st->spf->pool, TN_INET6_ADDRSTRLEN);
    if (p == NULL) {
        return TN_ERROR;
    }

    ip.data = p;
    ip.len = tn_inet_ntop(st->m.family, st->m.ip, p, TN_INET6_ADDRSTRLEN);

    return tn_spf_lookup(st, &ip, TN_RESOLVE_PTR, tn_spf_step_names_answer);
}


static tn_int_t
tn_spf_names_answer(tn_spf_state_t *st)
{
    tn_uint_t   i;
    tn_str_t   *names;

    st->nnames = 0;
    st->name = 0;

    if (tn_spf_answer_ok(st)) {
        names = st->ctx->names;

        for (i = 0; i < st->ctx->nnames && st->nnames < TN_SPF_MAX_NAMES;
             i++)
        {
            st->names[st->nnames].data = tn_pnalloc(st->spf->pool,
                                                    names[i].len);
            if (st->names[st->nnames].data == NULL) {
                return TN_ERROR;
            }

            tn_memcpy(st->names[st->nnames].data, names[i].data,
                      names[i].len);
            st->names[st->nnames].len = names[i].len;
            st->valid[st->nnames] = 0;
            st->nnames++;
        }
    }

    st->step = tn_spf_step_name_addr;

    return TN_OK;
}


static tn_int_t
tn_spf_name_addr(tn_spf_state_t *st)
{
    if (st->name == st->nnames) {
        st->names_done = 1;
        st->step = st->resume;
        return TN_OK;
    }

    return tn_spf_lookup(st, &st->names[st->name], tn_spf_addr_type(st),
                         tn_spf_step_name_addr_answer);
}


static tn_int_t
tn_spf_name_addr_answer(tn_spf_state_t *st)
{
    if (tn_spf_answer_ok(st) && tn_spf_addr_match(st, 32, 128)) {
        st->valid[st->name] = 1;
    }

    st->name++;
    st->step = tn_spf_step_name_addr;

    return TN_OK;
}


static tn_int_t
tn_spf_ptr_match(tn_spf_state_t *st)
{
    tn_uint_t  i;

    for (i = 0; i < st->nnames; i++) {
        if (st->valid[i] && tn_spf_name_under(&st->names[i], &st->target)) {
            tn_spf_match(st);
            return TN_OK;
        }
    }

    tn_spf_next_term(st);

    return TN_OK;
}


/* RFC 7208 6.1: redirect, once no mechanism matched */

static tn_int_t
tn_spf_redirect(tn_spf_state_t *st)
{
    tn_int_t         rc;
    tn_spf_frame_t  *f;

    f = &st->frames[st->depth - 1];

    if (f->rec.redirect.data == NULL) {
        tn_spf_frame_result(st, TN_SPF_NEUTRAL, "no mechanism matched");
        return TN_OK;
    }

    if (tn_spf_macro_uses_p(&f->rec.redirect) && !st->names_done) {
        st->resume = tn_spf_step_redirect;
        st->step = tn_spf_step_names;
        return TN_OK;
    }

    if (++st->dns_terms > TN_SPF_MAX_DNS_TERMS) {
        tn_spf_finish(st, TN_SPF_PERMERROR, "too many DNS lookups");
        return TN_OK;
    }

    rc = tn_spf_expand_target(st, &f->rec.redirect, &st->target);
    if (rc != TN_OK) {
        return rc == TN_DECLINED ? TN_OK : rc;
    }

    f->domain = st->target;
    tn_memzero(&f->rec, sizeof(tn_spf_record_t));
    f->i = 0;
    f->redirected = 1;

    st->step = tn_spf_step_record;

    return TN_OK;
}


/* RFC 7208 6.2: any failure only leaves the explanation out */

static tn_int_t
tn_spf_exp(tn_spf_state_t *st)
{
    ssize_t          n;
    tn_str_t         name;
    tn_spf_frame_t  *f;

    f = &st->frames[0];

    if (tn_spf_macro_uses_p(&f->rec.exp) && !st->names_done) {
        st->resume = tn_spf_step_exp;
        st->step = tn_spf_step_names;
        return TN_OK;
    }

    st->m.domain = f->domain;
    tn_spf_choose_validated(st);

    n = tn_spf_expand(&st->m, &f->rec.exp, 0, st->expanded);

    name.data = st->expanded;
    name.len = n;

    if (n == TN_ERROR || tn_spf_target_name(&name) != TN_OK) {
        st->step = tn_spf_step_done;
        return TN_OK;
    }

    st->target.data = tn_pnalloc(st->spf->pool, name.len);
    if (st->target.data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(st->target.data, name.data, name.len);
    st->target.len = name.len;

    return tn_spf_lookup(st, &st->target, TN_RESOLVE_TXT,
                         tn_spf_step_exp_answer);
}


static tn_int_t
tn_spf_exp_answer(tn_spf_state_t *st)
{
    tn_str_t  *text;

    st->step = tn_spf_step_done;

    if (!tn_spf_answer_ok(st) || st->ctx->ntxt != 1) {
        return TN_OK;
    }

    /* the text goes with the lookup: it is kept in target */

    text = &st->ctx->txt[0];

    if (tn_spf_check_macro_string(text->data, text->len, 1) != TN_OK) {
        return TN_OK;
    }

    st->target.data = tn_pnalloc(st->spf->pool, text->len);
    if (st->target.data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(st->target.data, text->data, text->len);
    st->target.len = text->len;

    st->step = tn_spf_step_exp_text;

    return TN_OK;
}


static tn_int_t
tn_spf_exp_text(tn_spf_state_t *st)
{
    u_char    *p;
    ssize_t    n;
    tn_spf_t  *spf;

    if (tn_spf_macro_uses_p(&st->target) && !st->names_done) {
        st->resume = tn_spf_step_exp_text;
        st->step = tn_spf_step_names;
        return TN_OK;
    }

    st->step = tn_spf_step_done;

    st->m.domain = st->frames[0].domain;
    tn_spf_choose_validated(st);

    n = tn_spf_expand(&st->m, &st->target, 1, st->expanded);
    if (n == TN_ERROR) {
        return TN_OK;
    }

    if (n > TN_SPF_MAX_EXPLANATION) {
        n = TN_SPF_MAX_EXPLANATION;
    }

    p = tn_pnalloc(st->spf->pool, n);
    if (p == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(p, st->expanded, n);

    spf = st->spf;
    spf->explanation.data = p;
    spf->explanation.len = n;

    return TN_OK;
}


/* an address of the answer in st->ctx is the client's, to the bits given */

static tn_uint_t
tn_spf_addr_match(tn_spf_state_t *st, tn_uint_t cidr4, tn_uint_t cidr6)
{
    tn_uint_t             i;
    tn_addr_t            *a;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    a = st->ctx->addrs;

    for (i = 0; i < st->ctx->naddrs; i++) {

        if (a[i].sockaddr->sa_family == AF_INET) {
            if (st->m.family != AF_INET) {
                continue;
            }

            sin = (struct sockaddr_in *) a[i].sockaddr;

            if (tn_spf_cidr_match(st->m.ip, (u_char *) &sin->sin_addr,
                                  cidr4))
            {
                return 1;
            }

        } else if (a[i].sockaddr->sa_family == AF_INET6) {
            if (st->m.family != AF_INET6) {
                continue;
            }

            sin6 = (struct sockaddr_in6 *) a[i].sockaddr;

            if (tn_spf_cidr_match(st->m.ip, sin6->sin6_addr.s6_addr, cidr6))
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * %{p} (RFC 7208 7.3): the validated name that is the domain, else one
 * under it, else any; NULL ("unknown") when none.
 */

static void
tn_spf_choose_validated(tn_spf_state_t *st)
{
    tn_uint_t  i, under, any;

    st->m.validated.data = NULL;
    st->m.validated.len = 0;

    under = TN_SPF_MAX_NAMES;
    any = TN_SPF_MAX_NAMES;

    for (i = 0; i < st->nnames; i++) {
        if (!st->valid[i]) {
            continue;
        }

        if (st->names[i].len == st->m.domain.len
            && tn_strncasecmp(st->names[i].data, st->m.domain.data,
                              st->m.domain.len) == 0)
        {
            st->m.validated = st->names[i];
            return;
        }

        if (under == TN_SPF_MAX_NAMES
            && tn_spf_name_under(&st->names[i], &st->m.domain))
        {
            under = i;
        }

        if (any == TN_SPF_MAX_NAMES) {
            any = i;
        }
    }

    if (under < TN_SPF_MAX_NAMES) {
        st->m.validated = st->names[under];

    } else if (any < TN_SPF_MAX_NAMES) {
        st->m.validated = st->names[any];
    }
}


/* name is domain or a name under it, any case, final dots ignored */

static tn_uint_t
tn_spf_name_under(tn_str_t *name, tn_str_t *domain)
{
    size_t   nlen, dlen;
    u_char  *n;

    nlen = name->len;
    dlen = domain->len;

    if (nlen && name->data[nlen - 1] == '.') {
        nlen--;
    }

    if (dlen && domain->data[dlen - 1] == '.') {
        dlen--;
    }

    if (dlen == 0 || nlen < dlen) {
        return 0;
    }

    n = name->data + nlen - dlen;

    if (tn_strncasecmp(n, domain->data, dlen) != 0) {
        return 0;
    }

    return nlen == dlen || n[-1] == '.';
}


/* the current term matched: its qualifier is the frame's result */

static void
tn_spf_match(tn_spf_state_t *st)
{
    tn_spf_term_t   *t;
    tn_spf_frame_t  *f;

    static const char  *reasons[] = {
        "", "mechanism all matched", "mechanism include matched",
        "mechanism a matched", "mechanism mx matched",
        "mechanism ptr matched", "mechanism ip4 matched",
        "mechanism ip6 matched", "mechanism exists matched"
    };

    f = &st->frames[st->depth - 1];
    t = &f->rec.terms[f->i];

    tn_spf_frame_result(st, t->qualifier, reasons[t->type]);
}


static void
tn_spf_next_term(tn_spf_state_t *st)
{
    st->frames[st->depth - 1].i++;
    st->step = tn_spf_step_term;
}


/*
 * The top frame is over with result.  For an include, RFC 7208 5.2 maps
 * it onto the including term: pass matches, fail, softfail and neutral
 * do not, none is a permerror, errors end the check.
 */

static void
tn_spf_frame_result(tn_spf_state_t *st, tn_uint_t result, const char *reason)
{
    if (st->depth == 1
        || result == TN_SPF_TEMPERROR || result == TN_SPF_PERMERROR)
    {
        tn_spf_finish(st, result, reason);

        if (result == TN_SPF_FAIL && st->frames[0].rec.exp.data) {
            st->step = tn_spf_step_exp;
        }

        return;
    }

    st->depth--;

    switch (result) {

    case TN_SPF_PASS:
        tn_spf_match(st);
        return;

    case TN_SPF_NONE:
        tn_spf_finish(st, TN_SPF_PERMERROR,
                      "an include without an SPF record");
        return;

    default:
        tn_spf_next_term(st);
        return;
    }
}


static void
tn_spf_finish(tn_spf_state_t *st, tn_uint_t result, const char *reason)
{
    tn_spf_t  *spf;

    spf = st->spf;

    spf->result = result;
    spf->reason.data = (u_char *) reason;
    spf->reason.len = tn_strlen(reason);

    st->step = tn_spf_step_done;
}


/* counts a lookup that found nothing: 0 when that is one too many */

static tn_uint_t
tn_spf_void(tn_spf_state_t *st)
{
    if (++st->voids > TN_SPF_MAX_VOID) {
        tn_spf_finish(st, TN_SPF_PERMERROR, "too many void lookups");
        return 0;
    }

    return 1;
}
