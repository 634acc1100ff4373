
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_DMARC_H_INCLUDED_
#define _TN_MAIL_DMARC_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_check.h>


/*
 * DMARC (RFC 7489): the pure parts, which the unit tests and the fuzz
 * harness use without a server (tn_mail_dmarc_engine.c): the Public
 * Suffix List and the organisational domain, the policy record parser,
 * report URIs, identifier alignment and the policy evaluation.  The
 * message check is tn_mail_dmarc_module.c, the aggregate reports
 * tn_mail_dmarc_report.c.
 *
 * Domains given to these functions are in the form the check makes of
 * them (tn_dmarc_domain_norm()): A-labels, lower case, no trailing dot.
 */


/* p=, sp=, np= and a disposition */
#define TN_DMARC_POLICY_NONE         0
#define TN_DMARC_POLICY_QUARANTINE   1
#define TN_DMARC_POLICY_REJECT       2

/* adkim=, aspf= */
#define TN_DMARC_ALIGN_RELAXED       0
#define TN_DMARC_ALIGN_STRICT        1

/* the longest TXT record considered; longer ones are not DMARC records */
#define TN_DMARC_RECORD_MAX          4096
/* report URIs of rua= used at most (RFC 7489 6.2 wants 2 at least) */
#define TN_DMARC_RUA_MAX             5

/* the PSL rule flags */
#define TN_DMARC_PSL_RULE            0x01    /* "x" */
#define TN_DMARC_PSL_WILDCARD        0x02    /* "*.x" */
#define TN_DMARC_PSL_EXCEPTION       0x04    /* "!x" */
#define TN_DMARC_PSL_PRIVATE         0x08    /* in the PRIVATE section */


typedef struct tn_dmarc_psl_s  tn_dmarc_psl_t;


typedef struct {
    tn_uint_t               p;           /* TN_DMARC_POLICY_* */
    tn_uint_t               sp;          /* = p when absent */
    tn_uint_t               adkim;       /* TN_DMARC_ALIGN_* */
    tn_uint_t               aspf;
    tn_uint_t               pct;         /* 0..100 */
    tn_uint_t               ri;          /* seconds, 86400 by default */
    tn_str_t                rua;         /* as given, "" when absent */
    tn_str_t                ruf;
    tn_str_t                fo;          /* "0" by default */
    unsigned                sp_set:1;
    /*
     * p= was missing or invalid but rua= has a valid URI: the record
     * counts as p=none (RFC 7489 6.6.3)
     */
    unsigned                p_assumed:1;
} tn_dmarc_record_t;


/* a report URI of rua= */
typedef struct {
    tn_str_t                uri;         /* the whole URI, trimmed */
    tn_str_t                address;     /* local@domain (mailto: only) */
    tn_str_t                domain;      /* lower case A-labels */
    uint64_t                max_size;    /* "!size"; 0: no limit */
} tn_dmarc_uri_t;


/* what the evaluation takes and gives */
typedef struct {
    /* in */
    tn_str_t                from;        /* the RFC5322.From domain */
    tn_str_t                org;         /* its organisational domain */
    tn_dmarc_record_t      *record;
    unsigned                at_org:1;    /* record of the org domain */
    tn_uint_t               random;      /* 0..99 for pct= sampling */

    /* out */
    unsigned                dkim_aligned:1;  /* an aligned DKIM pass */
    unsigned                spf_aligned:1;   /* an aligned SPF pass */
    unsigned                pass:1;
    unsigned                sampled_out:1;   /* pct= lowered it */
    tn_uint_t               policy;      /* p or sp that applied */
    tn_uint_t               disposition; /* what to do */
    tn_str_t                dkim_domain; /* the aligned d=, or "" */
} tn_dmarc_eval_t;


/*
 * A domain name in the form the checks compare: tn_idna_to_ascii()
 * (A-labels, lower case) of name without one trailing dot, then letters,
 * digits, '-' and '_' in labels of 1..63 octets.  dst holds
 * TN_DMARC_DOMAIN_MAX + 1 bytes and is NUL-terminated.  The length, or
 * TN_ERROR for a name that is not a domain (literals, empty labels,
 * other characters).
 */
#define TN_DMARC_DOMAIN_MAX          253

tn_int_t tn_dmarc_domain_norm(u_char *dst, u_char *name, size_t len);

/*
 * The Public Suffix List: the rules of the file at path (the format of
 * publicsuffix.org: a rule a line, "//" comments, "*." wildcards, "!"
 * exceptions, the ===BEGIN PRIVATE DOMAINS=== section), U-labels
 * converted to A-labels.  Allocated from pool.  NULL on failure, with
 * the reason logged.
 */
tn_dmarc_psl_t *tn_dmarc_psl_load(tn_pool_t *pool, const char *path,
    tn_log_t *log);
/* the same from a buffer (the unit tests, the fuzz harness) */
tn_dmarc_psl_t *tn_dmarc_psl_parse(tn_pool_t *pool, u_char *data,
    size_t len, tn_log_t *log);
tn_uint_t tn_dmarc_psl_rules(tn_dmarc_psl_t *psl);

/*
 * The organisational domain of name (normalised) per RFC 7489 3.2: the
 * public suffix by the PSL algorithm (exceptions first, then the rule
 * of most labels, wildcards counting their "*", "*" when none matches)
 * and one label more.  TN_OK: *org is the tail of name; TN_DECLINED:
 * name is itself a public suffix (*org is name then).
 */
tn_int_t tn_dmarc_org_domain(tn_dmarc_psl_t *psl, u_char *name, size_t len,
    tn_str_t *org);

/*
 * Parses a TXT record.  TN_OK: a DMARC record, r filled;
 * TN_DECLINED: not a DMARC record (it does not start with "v=DMARC1");
 * TN_ERROR: a DMARC record that is not valid (a bad tag list, or no
 * valid p= and no valid rua=), which RFC 7489 6.6.3 says to ignore.
 */
tn_int_t tn_dmarc_record_parse(u_char *p, size_t len, tn_dmarc_record_t *r);

/*
 * The next URI of a rua=/ruf= list from *pos (up to last): *pos moves
 * past it and its comma.  TN_OK: a mailto: URI, u filled (strings point
 * into the list); TN_DECLINED: a URI of another scheme; TN_ERROR:
 * malformed; u->uri is the URI in each case.  TN_DONE: the list is over.
 */
tn_int_t tn_dmarc_uri_next(u_char **pos, u_char *last, tn_dmarc_uri_t *u);

/* the identifiers a and b are aligned (both normalised) */
tn_uint_t tn_dmarc_aligned(tn_dmarc_psl_t *psl, tn_str_t *a, tn_str_t *b,
    tn_uint_t mode);

/*
 * Applies e->record to the authentication results (results, n of them:
 * tn_mail_auth_result_t of the SPF and DKIM checks) and fills the out
 * fields of e.
 */
void tn_dmarc_evaluate(tn_dmarc_psl_t *psl, tn_dmarc_eval_t *e,
    tn_mail_auth_result_t *results, tn_uint_t n);

/* "none", "quarantine", "reject" */
const char *tn_dmarc_policy_name(tn_uint_t policy);


#endif /* _TN_MAIL_DMARC_H_INCLUDED_ */
