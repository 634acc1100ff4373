
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_idna.h>
#include <tn_mail_dmarc.h>


/* the longest PSL file read: the list is about 250 KB */
#define TN_DMARC_PSL_FILE_MAX   (16 * 1024 * 1024)


typedef struct {
    u_char                 *name;       /* A-labels, lower case */
    size_t                  len;
    tn_uint_t               flags;      /* TN_DMARC_PSL_* */
} tn_dmarc_psl_entry_t;


/* an open-addressing hash of the rules, keyed by the rule's domain */
struct tn_dmarc_psl_s {
    tn_dmarc_psl_entry_t   *slots;
    tn_uint_t               mask;
    tn_uint_t               nrules;
};


static tn_int_t tn_dmarc_psl_line(tn_pool_t *pool, tn_array_t *rules,
    u_char *p, size_t len, tn_uint_t private);
static tn_dmarc_psl_entry_t *tn_dmarc_psl_slot(tn_dmarc_psl_t *psl,
    u_char *name, size_t len);
static uint32_t tn_dmarc_hash(u_char *p, size_t len);
static u_char *tn_dmarc_skip_wsp(u_char *p, u_char *last);
static tn_int_t tn_dmarc_tag_policy(u_char *v, size_t len,
    tn_uint_t *policy);
static tn_int_t tn_dmarc_tag_align(u_char *v, size_t len, tn_uint_t *align);
static tn_int_t tn_dmarc_rua_valid(tn_str_t *rua);


static const char  *tn_dmarc_policy_names[] = {
    "none", "quarantine", "reject"
};


tn_int_t
tn_dmarc_domain_norm(u_char *dst, u_char *name, size_t len)
{
    u_char    ch, buf[TN_IDNA_DOMAIN_MAX + 1];
    size_t    i, label;
    tn_int_t  n;

    if (len && name[len - 1] == '.') {
        len--;
    }

    if (len == 0 || name[0] == '[') {
        return TN_ERROR;
    }

    n = tn_idna_to_ascii(buf, sizeof(buf), name, len);
    if (n <= 0 || n > TN_DMARC_DOMAIN_MAX) {
        return TN_ERROR;
    }

    label = 0;

    for (i = 0; i < (size_t) n; i++) {
        ch = buf[i];

        if (ch == '.') {
            if (label == 0) {
                return TN_ERROR;
            }

            label = 0;

        } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
                   || ch == '-' || ch == '_')
        {
            if (++label > TN_IDNA_LABEL_MAX) {
                return TN_ERROR;
            }

        } else {
            return TN_ERROR;
        }

        dst[i] = ch;
    }

    if (label == 0) {
        return TN_ERROR;
    }

    dst[n] = '\0';

    return n;
}


/* the Public Suffix List */

tn_dmarc_psl_t *
tn_dmarc_psl_load(tn_pool_t *pool, const char *path, tn_log_t *log)
{
    u_char          *data;
    ssize_t          n;
    size_t           size;
    tn_fd_t          fd;
    struct stat      sb;
    tn_dmarc_psl_t  *psl;

    fd = open(path, O_RDONLY|O_CLOEXEC);
    if (fd == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "dmarc: the public suffix list \"%s\" cannot be opened "
                     "(install Debian's publicsuffix package or set "
                     "dmarc_public_suffix_list)", path);
        return NULL;
    }

    if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)
        || sb.st_size > TN_DMARC_PSL_FILE_MAX)
    {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "dmarc: the public suffix list \"%s\" is not a regular "
                     "file of at most %d bytes", path, TN_DMARC_PSL_FILE_MAX);
        (void) close(fd);
        return NULL;
    }

    size = (size_t) sb.st_size;

    data = malloc(size + 1);
    if (data == NULL) {
        (void) close(fd);
        return NULL;
    }

    n = read(fd, data, size);

    (void) close(fd);

    if (n != (ssize_t) size) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "dmarc: reading the public suffix list \"%s\" failed",
                     path);
        free(data);
        return NULL;
    }

    psl = tn_dmarc_psl_parse(pool, data, size, log);

    free(data);

    if (psl == NULL) {
        tn_log_error(TN_LOG_EMERG, log, 0,
                     "dmarc: \"%s\" holds no public suffix rules", path);
    }

    return psl;
}


tn_dmarc_psl_t *
tn_dmarc_psl_parse(tn_pool_t *pool, u_char *data, size_t len, tn_log_t *log)
{
    u_char                *p, *last, *eol;
    tn_uint_t              i, size, private;
    tn_array_t            *rules;
    tn_dmarc_psl_t        *psl;
    tn_dmarc_psl_entry_t  *e, *slot;

    rules = tn_array_create(pool, 8192, sizeof(tn_dmarc_psl_entry_t));
    if (rules == NULL) {
        return NULL;
    }

    private = 0;
    p = data;
    last = data + len;

    while (p < last) {
        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            eol = last;
        }

        if (eol - p >= 2 && p[0] == '/' && p[1] == '/') {
            if (tn_strnstr(p, "===BEGIN PRIVATE DOMAINS===", eol - p)) {
                private = 1;

            } else if (tn_strnstr(p, "===END PRIVATE DOMAINS===", eol - p)) {
                private = 0;
            }

        } else if (tn_dmarc_psl_line(pool, rules, p, eol - p, private)
                   != TN_OK)
        {
            return NULL;
        }

        p = eol + 1;
    }

    if (rules->nelts == 0) {
        return NULL;
    }

    psl = tn_pcalloc(pool, sizeof(tn_dmarc_psl_t));
    if (psl == NULL) {
        return NULL;
    }

    for (size = 16; size < rules->nelts * 2; size *= 2) { /* void */ }

    psl->slots = tn_pcalloc(pool, size * sizeof(tn_dmarc_psl_entry_t));
    if (psl->slots == NULL) {
        return NULL;
    }

    psl->mask = size - 1;

    e = rules->elts;

    for (i = 0; i < rules->nelts; i++) {
        slot = tn_dmarc_psl_slot(psl, e[i].name, e[i].len);

        if (slot->name == NULL) {
            *slot = e[i];
            psl->nrules++;

        } else {
            slot->flags |= e[i].flags;
        }
    }

    return psl;
}


/* one line of the list: the rule is its first word */
static tn_int_t
tn_dmarc_psl_line(tn_pool_t *pool, tn_array_t *rules, u_char *p, size_t len,
    tn_uint_t private)
{
    u_char                *end, buf[TN_DMARC_DOMAIN_MAX + 1];
    tn_int_t               n;
    tn_uint_t              flags;
    tn_dmarc_psl_entry_t  *e;

    end = p + len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    len = 0;

    while (p + len < end && p[len] != ' ' && p[len] != '\t'
           && p[len] != '\r')
    {
        len++;
    }

    if (len == 0) {
        return TN_OK;
    }

    flags = TN_DMARC_PSL_RULE;

    if (p[0] == '!') {
        flags = TN_DMARC_PSL_EXCEPTION;
        p++;
        len--;

    } else if (len > 2 && p[0] == '*' && p[1] == '.') {
        flags = TN_DMARC_PSL_WILDCARD;
        p += 2;
        len -= 2;
    }

    n = tn_dmarc_domain_norm(buf, p, len);
    if (n == TN_ERROR) {
        /* a rule we cannot use (a "*" inside a name): skipped */
        return TN_OK;
    }

    e = tn_array_push(rules);
    if (e == NULL) {
        return TN_ERROR;
    }

    e->name = tn_pnalloc(pool, n);
    if (e->name == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(e->name, buf, n);
    e->len = n;
    e->flags = flags | (private ? TN_DMARC_PSL_PRIVATE : 0);

    return TN_OK;
}


tn_uint_t
tn_dmarc_psl_rules(tn_dmarc_psl_t *psl)
{
    return psl->nrules;
}


static tn_dmarc_psl_entry_t *
tn_dmarc_psl_slot(tn_dmarc_psl_t *psl, u_char *name, size_t len)
{
    tn_uint_t              i;
    tn_dmarc_psl_entry_t  *e;

    i = tn_dmarc_hash(name, len) & psl->mask;

    for ( ;; ) {
        e = &psl->slots[i];

        if (e->name == NULL
            || (e->len == len && tn_memcmp(e->name, name, len) == 0))
        {
            return e;
        }

        i = (i + 1) & psl->mask;
    }
}


static uint32_t
tn_dmarc_hash(u_char *p, size_t len)
{
    uint32_t  h;

    h = 2166136261u;

    while (len--) {
        h = (h ^ *p++) * 16777619u;
    }

    return h;
}


tn_int_t
tn_dmarc_org_domain(tn_dmarc_psl_t *psl, u_char *name, size_t len,
    tn_str_t *org)
{
    size_t                 i, nlabels, label, best, suffix;
    size_t                 starts[TN_DMARC_DOMAIN_MAX / 2 + 2];
    tn_dmarc_psl_entry_t  *e;

    org->data = name;
    org->len = len;

    if (len == 0) {
        return TN_DECLINED;
    }

    /* where each label starts */

    nlabels = 0;
    starts[nlabels++] = 0;

    for (i = 0; i < len && nlabels < TN_DMARC_DOMAIN_MAX / 2 + 1; i++) {
        if (name[i] == '.') {
            starts[nlabels++] = i + 1;
        }
    }

    /* the public suffix in labels: the "*" rule makes it 1 at least */

    best = 1;

    for (label = 0; label < nlabels; label++) {
        e = tn_dmarc_psl_slot(psl, name + starts[label],
                              len - starts[label]);

        if (e->name == NULL) {
            continue;
        }

        suffix = nlabels - label;

        if (e->flags & TN_DMARC_PSL_EXCEPTION) {
            /* an exception wins: its suffix is the rule without a label */
            best = suffix - 1;
            break;
        }

        if ((e->flags & TN_DMARC_PSL_WILDCARD) && label > 0
            && suffix + 1 > best)
        {
            best = suffix + 1;
        }

        if ((e->flags & TN_DMARC_PSL_RULE) && suffix > best) {
            best = suffix;
        }
    }

    if (best >= nlabels) {
        return TN_DECLINED;
    }

    /* one label more than the public suffix */

    i = starts[nlabels - best - 1];

    org->data = name + i;
    org->len = len - i;

    return TN_OK;
}


/*
 * The policy record (RFC 7489 6.3, 6.4): a tag-list parser with its tag
 * dispatch, one function (about 150 lines) so that the order rules
 * (v= first) and the fallbacks of 6.6.3 read in one place.
 */

tn_int_t
tn_dmarc_record_parse(u_char *p, size_t len, tn_dmarc_record_t *r)
{
    u_char     *last, *tag, *v, *end;
    size_t      tlen, vlen;
    tn_int_t    n, p_ok, sp_ok;
    tn_uint_t   first;

    tn_memzero(r, sizeof(tn_dmarc_record_t));

    r->pct = 100;
    r->ri = 86400;
    tn_str_set(&r->fo, "0");
    r->rua.data = (u_char *) "";
    r->ruf.data = (u_char *) "";

    if (len > TN_DMARC_RECORD_MAX) {
        return TN_DECLINED;
    }

    last = p + len;
    first = 1;
    p_ok = 0;
    sp_ok = 1;

    for ( ;; ) {
        p = tn_dmarc_skip_wsp(p, last);

        if (p == last) {
            break;
        }

        /* tag-name = ALPHA *(ALPHA / DIGIT / "_") */

        tag = p;

        while (p < last && (isalnum(*p) || *p == '_')) {
            p++;
        }

        tlen = p - tag;

        p = tn_dmarc_skip_wsp(p, last);

        if (tlen == 0 || p == last || *p != '=') {
            return first ? TN_DECLINED : TN_ERROR;
        }

        p = tn_dmarc_skip_wsp(p + 1, last);

        v = p;

        while (p < last && *p != ';') {
            p++;
        }

        end = p;

        while (end > v && (end[-1] == ' ' || end[-1] == '\t'
                           || end[-1] == '\r' || end[-1] == '\n'))
        {
            end--;
        }

        vlen = end - v;

        if (p < last) {
            p++;
        }

        if (first) {
            /* "v=DMARC1" must come first (RFC 7489 6.3) */
            if (!(tlen == 1 && tag[0] == 'v' && vlen == 6
                  && tn_strncmp(v, "DMARC1", 6) == 0))
            {
                return TN_DECLINED;
            }

            first = 0;
            continue;
        }

#define tn_dmarc_tag_is(name)                                                \
        (tlen == sizeof(name) - 1 && tn_strncasecmp(tag, (u_char *) name,    \
                                                    tlen) == 0)

        if (tn_dmarc_tag_is("p")) {
            p_ok = (tn_dmarc_tag_policy(v, vlen, &r->p) == TN_OK);

        } else if (tn_dmarc_tag_is("sp")) {
            sp_ok = (tn_dmarc_tag_policy(v, vlen, &r->sp) == TN_OK);
            r->sp_set = sp_ok;

        } else if (tn_dmarc_tag_is("adkim")) {
            if (tn_dmarc_tag_align(v, vlen, &r->adkim) != TN_OK) {
                return TN_ERROR;
            }

        } else if (tn_dmarc_tag_is("aspf")) {
            if (tn_dmarc_tag_align(v, vlen, &r->aspf) != TN_OK) {
                return TN_ERROR;
            }

        } else if (tn_dmarc_tag_is("pct")) {
            n = (vlen > 0 && vlen <= 3) ? tn_atoi(v, vlen) : TN_ERROR;

            if (n == TN_ERROR || n > 100) {
                return TN_ERROR;
            }

            r->pct = n;

        } else if (tn_dmarc_tag_is("ri")) {
            n = (vlen > 0 && vlen <= 9) ? tn_atoi(v, vlen) : TN_ERROR;

            if (n == TN_ERROR) {
                return TN_ERROR;
            }

            r->ri = n;

        } else if (tn_dmarc_tag_is("rua")) {
            r->rua.data = v;
            r->rua.len = vlen;

        } else if (tn_dmarc_tag_is("ruf")) {
            r->ruf.data = v;
            r->ruf.len = vlen;

        } else if (tn_dmarc_tag_is("fo")) {
            r->fo.data = v;
            r->fo.len = vlen;
        }

#undef tn_dmarc_tag_is

        /* unknown tags (np=, t=, psd= of later drafts) are ignored */
    }

    if (first) {
        return TN_DECLINED;
    }

    if (!p_ok || !sp_ok) {
        /* RFC 7489 6.6.3: p=none when rua= has a valid URI, else none */

        if (tn_dmarc_rua_valid(&r->rua) != TN_OK) {
            return TN_ERROR;
        }

        r->p = TN_DMARC_POLICY_NONE;
        r->sp_set = 0;
        r->p_assumed = 1;
    }

    if (!r->sp_set) {
        r->sp = r->p;
    }

    return TN_OK;
}


static u_char *
tn_dmarc_skip_wsp(u_char *p, u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    return p;
}


static tn_int_t
tn_dmarc_tag_policy(u_char *v, size_t len, tn_uint_t *policy)
{
    tn_uint_t  i;

    for (i = 0; i < 3; i++) {
        if (len == tn_strlen(tn_dmarc_policy_names[i])
            && tn_strncasecmp(v, (u_char *) tn_dmarc_policy_names[i], len)
               == 0)
        {
            *policy = i;
            return TN_OK;
        }
    }

    return TN_ERROR;
}


static tn_int_t
tn_dmarc_tag_align(u_char *v, size_t len, tn_uint_t *align)
{
    if (len != 1) {
        return TN_ERROR;
    }

    switch (tn_tolower(v[0])) {

    case 'r':
        *align = TN_DMARC_ALIGN_RELAXED;
        return TN_OK;

    case 's':
        *align = TN_DMARC_ALIGN_STRICT;
        return TN_OK;
    }

    return TN_ERROR;
}


static tn_int_t
tn_dmarc_rua_valid(tn_str_t *rua)
{
    u_char          *pos;
    tn_int_t         rc;
    tn_dmarc_uri_t   u;

    pos = rua->data;

    for ( ;; ) {
        rc = tn_dmarc_uri_next(&pos, rua->data + rua->len, &u);

        if (rc == TN_OK) {
            return TN_OK;
        }

        if (rc == TN_DONE) {
            return TN_ERROR;
        }
    }
}


/* report URIs: "mailto:addr[!size[kmgt]]", comma separated */

tn_int_t
tn_dmarc_uri_next(u_char **pos, u_char *last, tn_dmarc_uri_t *u)
{
    u_char    *p, *start, *end, *at, *bang, *d;
    uint64_t   size, unit;

    tn_memzero(u, sizeof(tn_dmarc_uri_t));

    p = *pos;

    while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
        p++;
    }

    if (p == last) {
        *pos = p;
        return TN_DONE;
    }

    start = p;

    while (p < last && *p != ',') {
        p++;
    }

    end = p;
    *pos = (p < last) ? p + 1 : p;

    while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    u->uri.data = start;
    u->uri.len = end - start;
    u->address = u->uri;

    if (end - start < 7 || tn_strncasecmp(start, (u_char *) "mailto:", 7)
                           != 0)
    {
        return (memchr(start, ':', end - start) != NULL) ? TN_DECLINED
                                                          : TN_ERROR;
    }

    start += 7;

    bang = memchr(start, '!', end - start);

    if (bang) {
        /* "!" size [ "k" / "m" / "g" / "t" ] */

        size = 0;
        unit = 1;

        for (d = bang + 1; d < end && *d >= '0' && *d <= '9'; d++) {
            if (size > 1000000000000ULL) {
                return TN_ERROR;
            }

            size = size * 10 + (*d - '0');
        }

        if (d == bang + 1) {
            return TN_ERROR;
        }

        if (d < end) {
            switch (tn_tolower(*d)) {
            case 'k': unit = 1024ULL; break;
            case 'm': unit = 1024ULL * 1024; break;
            case 'g': unit = 1024ULL * 1024 * 1024; break;
            case 't': unit = 1024ULL * 1024 * 1024 * 1024; break;
            default: return TN_ERROR;
            }

            if (d + 1 != end) {
                return TN_ERROR;
            }
        }

        u->max_size = size * unit;
        end = bang;
    }

    u->address.data = start;
    u->address.len = end - start;

    /* one '@', a local part and a domain; no URI escapes or headers */

    at = NULL;

    for (d = start; d < end; d++) {
        if (*d <= 0x20 || *d >= 0x7f || *d == '?' || *d == '%'
            || *d == '<' || *d == '>' || *d == '"' || *d == '\\')
        {
            return TN_ERROR;
        }

        if (*d == '@') {
            if (at) {
                return TN_ERROR;
            }

            at = d;
        }
    }

    if (at == NULL || at == start || at + 1 == end
        || at - start > 64 || end - at - 1 > TN_DMARC_DOMAIN_MAX)
    {
        return TN_ERROR;
    }

    u->domain.data = at + 1;
    u->domain.len = end - at - 1;

    return TN_OK;
}


/* alignment and evaluation (RFC 7489 3.1, 6.6) */

tn_uint_t
tn_dmarc_aligned(tn_dmarc_psl_t *psl, tn_str_t *a, tn_str_t *b,
    tn_uint_t mode)
{
    tn_str_t  oa, ob;

    if (a->len == 0 || b->len == 0) {
        return 0;
    }

    if (a->len == b->len && tn_strncasecmp(a->data, b->data, a->len) == 0) {
        return 1;
    }

    if (mode == TN_DMARC_ALIGN_STRICT) {
        return 0;
    }

    (void) tn_dmarc_org_domain(psl, a->data, a->len, &oa);
    (void) tn_dmarc_org_domain(psl, b->data, b->len, &ob);

    return oa.len == ob.len
           && tn_strncasecmp(oa.data, ob.data, oa.len) == 0;
}


void
tn_dmarc_evaluate(tn_dmarc_psl_t *psl, tn_dmarc_eval_t *e,
    tn_mail_auth_result_t *results, tn_uint_t n)
{
    tn_uint_t           i;
    tn_dmarc_record_t  *r;

    r = e->record;

    e->dkim_aligned = 0;
    e->spf_aligned = 0;
    e->sampled_out = 0;
    e->dkim_domain.len = 0;
    e->dkim_domain.data = (u_char *) "";

    for (i = 0; i < n; i++) {
        if (results[i].method == NULL
            || results[i].result != TN_MAIL_AUTH_PASS)
        {
            continue;
        }

        if (strcmp(results[i].method, "dkim") == 0) {
            if (!e->dkim_aligned
                && tn_dmarc_aligned(psl, &e->from, &results[i].domain,
                                    r->adkim))
            {
                e->dkim_aligned = 1;
                e->dkim_domain = results[i].domain;
            }

        } else if (strcmp(results[i].method, "spf") == 0) {
            if (tn_dmarc_aligned(psl, &e->from, &results[i].domain,
                                 r->aspf))
            {
                e->spf_aligned = 1;
            }
        }
    }

    e->pass = e->dkim_aligned || e->spf_aligned;

    /* sp= for a subdomain whose record is the org domain's */
    e->policy = e->at_org ? r->sp : r->p;

    if (e->pass) {
        e->disposition = TN_DMARC_POLICY_NONE;
        return;
    }

    e->disposition = e->policy;

    /* pct=: the rest get the next policy down (RFC 7489 6.6.4) */

    if (e->policy != TN_DMARC_POLICY_NONE && e->random >= r->pct) {
        e->disposition = e->policy - 1;
        e->sampled_out = 1;
    }
}


const char *
tn_dmarc_policy_name(tn_uint_t policy)
{
    return policy <= TN_DMARC_POLICY_REJECT ? tn_dmarc_policy_names[policy]
                                            : "none";
}
