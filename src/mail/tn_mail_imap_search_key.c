
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_imap.h>
#include <tn_mail_imap_parse.h>
#include <tn_mail_imap_search_key.h>


/* what follows a search key's name */
#define TN_SKEY_ARG_NONE     0
#define TN_SKEY_ARG_STRING   1
#define TN_SKEY_ARG_DATE     2
#define TN_SKEY_ARG_NUMBER   3
#define TN_SKEY_ARG_ATOM     4      /* a keyword */
#define TN_SKEY_ARG_HEADER   5      /* field-name string */
#define TN_SKEY_ARG_SET      6
#define TN_SKEY_ARG_KEY      7      /* NOT */
#define TN_SKEY_ARG_KEY2     8      /* OR */
#define TN_SKEY_ARG_MODSEQ   9


typedef struct {
    tn_str_t                name;
    tn_uint_t               type;
    tn_uint_t               arg;
    uint32_t                flag;
    tn_uint_t               neg;
} tn_mail_imap_skey_name_t;


typedef struct {
    tn_pool_t              *pool;
    tn_mail_imap_search_t  *sr;
    tn_uint_t               depth;
} tn_mail_imap_skey_ctx_t;


static tn_int_t tn_mail_imap_skey_list(tn_mail_imap_skey_ctx_t *ctx,
    tn_mail_imap_arg_t *arg, tn_mail_imap_skey_t *and);
static tn_int_t tn_mail_imap_skey_one(tn_mail_imap_skey_ctx_t *ctx,
    tn_mail_imap_arg_t **argp, tn_mail_imap_skey_t **keyp);
static tn_int_t tn_mail_imap_skey_args(tn_mail_imap_skey_ctx_t *ctx,
    tn_mail_imap_skey_name_t *kn, tn_mail_imap_arg_t **argp,
    tn_mail_imap_skey_t *key);
static tn_int_t tn_mail_imap_skey_modseq(tn_mail_imap_skey_ctx_t *ctx,
    tn_mail_imap_arg_t **argp, tn_mail_imap_skey_t *key);
static void tn_mail_imap_skey_order(tn_mail_imap_skey_t *and);
static tn_int_t tn_mail_imap_search_return(tn_mail_imap_search_t *sr,
    tn_mail_imap_arg_t *arg);
static tn_int_t tn_mail_imap_search_criteria(tn_mail_imap_search_t *sr,
    tn_mail_imap_arg_t *arg);
static tn_uint_t tn_mail_imap_skey_is(tn_mail_imap_arg_t *arg,
    const char *name);


static tn_mail_imap_skey_name_t  tn_mail_imap_skey_names[] = {
    { tn_string("ALL"), TN_MAIL_IMAP_SKEY_ALL, TN_SKEY_ARG_NONE, 0, 0 },
    { tn_string("ANSWERED"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_ANSWERED, 0 },
    { tn_string("BCC"), TN_MAIL_IMAP_SKEY_BCC, TN_SKEY_ARG_STRING, 0, 0 },
    { tn_string("BEFORE"), TN_MAIL_IMAP_SKEY_BEFORE, TN_SKEY_ARG_DATE,
      0, 0 },
    { tn_string("BODY"), TN_MAIL_IMAP_SKEY_BODY, TN_SKEY_ARG_STRING, 0, 0 },
    { tn_string("CC"), TN_MAIL_IMAP_SKEY_CC, TN_SKEY_ARG_STRING, 0, 0 },
    { tn_string("DELETED"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_DELETED, 0 },
    { tn_string("DRAFT"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_DRAFT, 0 },
    { tn_string("FLAGGED"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_FLAGGED, 0 },
    { tn_string("FROM"), TN_MAIL_IMAP_SKEY_FROM, TN_SKEY_ARG_STRING, 0, 0 },
    { tn_string("HEADER"), TN_MAIL_IMAP_SKEY_HEADER, TN_SKEY_ARG_HEADER,
      0, 0 },
    { tn_string("KEYWORD"), TN_MAIL_IMAP_SKEY_KEYWORD, TN_SKEY_ARG_ATOM,
      0, 0 },
    { tn_string("LARGER"), TN_MAIL_IMAP_SKEY_LARGER, TN_SKEY_ARG_NUMBER,
      0, 0 },
    { tn_string("MODSEQ"), TN_MAIL_IMAP_SKEY_MODSEQ, TN_SKEY_ARG_MODSEQ,
      0, 0 },
    { tn_string("NEW"), TN_MAIL_IMAP_SKEY_NEW, TN_SKEY_ARG_NONE, 0, 0 },
    { tn_string("NOT"), TN_MAIL_IMAP_SKEY_NOT, TN_SKEY_ARG_KEY, 0, 0 },
    { tn_string("OLD"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_RECENT, 1 },
    { tn_string("ON"), TN_MAIL_IMAP_SKEY_ON, TN_SKEY_ARG_DATE, 0, 0 },
    { tn_string("OR"), TN_MAIL_IMAP_SKEY_OR, TN_SKEY_ARG_KEY2, 0, 0 },
    { tn_string("RECENT"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_RECENT, 0 },
    { tn_string("SEEN"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_SEEN, 0 },
    { tn_string("SENTBEFORE"), TN_MAIL_IMAP_SKEY_SENTBEFORE,
      TN_SKEY_ARG_DATE, 0, 0 },
    { tn_string("SENTON"), TN_MAIL_IMAP_SKEY_SENTON, TN_SKEY_ARG_DATE,
      0, 0 },
    { tn_string("SENTSINCE"), TN_MAIL_IMAP_SKEY_SENTSINCE,
      TN_SKEY_ARG_DATE, 0, 0 },
    { tn_string("SINCE"), TN_MAIL_IMAP_SKEY_SINCE, TN_SKEY_ARG_DATE, 0, 0 },
    { tn_string("SMALLER"), TN_MAIL_IMAP_SKEY_SMALLER, TN_SKEY_ARG_NUMBER,
      0, 0 },
    { tn_string("SUBJECT"), TN_MAIL_IMAP_SKEY_SUBJECT, TN_SKEY_ARG_STRING,
      0, 0 },
    { tn_string("TEXT"), TN_MAIL_IMAP_SKEY_TEXT, TN_SKEY_ARG_STRING, 0, 0 },
    { tn_string("TO"), TN_MAIL_IMAP_SKEY_TO, TN_SKEY_ARG_STRING, 0, 0 },
    { tn_string("UID"), TN_MAIL_IMAP_SKEY_UID, TN_SKEY_ARG_SET, 0, 0 },
    { tn_string("UNANSWERED"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_ANSWERED, 1 },
    { tn_string("UNDELETED"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_DELETED, 1 },
    { tn_string("UNDRAFT"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_DRAFT, 1 },
    { tn_string("UNFLAGGED"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_FLAGGED, 1 },
    { tn_string("UNKEYWORD"), TN_MAIL_IMAP_SKEY_KEYWORD, TN_SKEY_ARG_ATOM,
      0, 1 },
    { tn_string("UNSEEN"), TN_MAIL_IMAP_SKEY_FLAG, TN_SKEY_ARG_NONE,
      TN_STORE_F_SEEN, 1 },
    { tn_null_string, 0, 0, 0, 0 }
};


static tn_str_t  tn_mail_imap_sort_names[] = {
    tn_null_string,
    tn_string("ARRIVAL"),
    tn_string("CC"),
    tn_string("DATE"),
    tn_string("FROM"),
    tn_string("SIZE"),
    tn_string("SUBJECT"),
    tn_string("TO"),
    tn_null_string
};


tn_int_t
tn_mail_imap_search_parse(tn_pool_t *pool, tn_mail_imap_arg_t *arg,
    tn_uint_t sort, tn_mail_imap_search_t *sr)
{
    tn_int_t                 rc;
    tn_mail_imap_skey_ctx_t  ctx;

    tn_memzero(sr, sizeof(tn_mail_imap_search_t));

    if (sort) {
        if (arg == NULL || arg->type != TN_MAIL_IMAP_ARG_LIST) {
            sr->err = "sort criteria expected";
            return TN_ERROR;
        }

        if (tn_mail_imap_search_criteria(sr, arg) != TN_OK) {
            return TN_ERROR;
        }

        arg = arg->next;

        /* the charset is not optional in SORT */

        if (arg == NULL
            || tn_mail_imap_arg_astring(arg, &sr->charset) != TN_OK)
        {
            sr->err = "charset expected";
            return TN_ERROR;
        }

        arg = arg->next;

    } else {
        if (arg && tn_mail_imap_skey_is(arg, "RETURN")) {
            arg = arg->next;

            if (arg == NULL || arg->type != TN_MAIL_IMAP_ARG_LIST) {
                sr->err = "return options expected";
                return TN_ERROR;
            }

            if (tn_mail_imap_search_return(sr, arg) != TN_OK) {
                return TN_ERROR;
            }

            sr->esearch = 1;
            arg = arg->next;
        }

        if (arg && tn_mail_imap_skey_is(arg, "CHARSET")) {
            arg = arg->next;

            if (arg == NULL
                || tn_mail_imap_arg_astring(arg, &sr->charset) != TN_OK)
            {
                sr->err = "charset expected";
                return TN_ERROR;
            }

            arg = arg->next;
        }
    }

    if (arg == NULL) {
        sr->err = "search key expected";
        return TN_ERROR;
    }

    sr->root = tn_pcalloc(pool, sizeof(tn_mail_imap_skey_t));
    if (sr->root == NULL) {
        return TN_DECLINED;
    }

    sr->root->type = TN_MAIL_IMAP_SKEY_AND;

    ctx.pool = pool;
    ctx.sr = sr;
    ctx.depth = 0;

    rc = tn_mail_imap_skey_list(&ctx, arg, sr->root);

    if (rc != TN_OK) {
        return rc;
    }

    return TN_OK;
}


/* keys up to the end of a level: the children of the AND node "and" */

static tn_int_t
tn_mail_imap_skey_list(tn_mail_imap_skey_ctx_t *ctx, tn_mail_imap_arg_t *arg,
    tn_mail_imap_skey_t *and)
{
    tn_int_t              rc;
    tn_mail_imap_skey_t  *key, **last;

    last = &and->child;

    while (arg) {
        rc = tn_mail_imap_skey_one(ctx, &arg, &key);
        if (rc != TN_OK) {
            return rc;
        }

        *last = key;
        last = &key->next;

        if (key->cost > and->cost) {
            and->cost = key->cost;
        }
    }

    tn_mail_imap_skey_order(and);

    return TN_OK;
}


/* one search key at *argp; *argp is moved past its arguments */

static tn_int_t
tn_mail_imap_skey_one(tn_mail_imap_skey_ctx_t *ctx,
    tn_mail_imap_arg_t **argp, tn_mail_imap_skey_t **keyp)
{
    tn_int_t                   rc;
    tn_mail_imap_arg_t        *arg;
    tn_mail_imap_skey_t       *key;
    tn_mail_imap_skey_name_t  *kn;

    arg = *argp;

    key = tn_pcalloc(ctx->pool, sizeof(tn_mail_imap_skey_t));
    if (key == NULL) {
        return TN_DECLINED;
    }

    *keyp = key;

    if (arg->type == TN_MAIL_IMAP_ARG_LIST) {
        if (arg->list == NULL) {
            ctx->sr->err = "empty search key list";
            return TN_ERROR;
        }

        if (++ctx->depth > TN_MAIL_IMAP_SEARCH_MAX_DEPTH) {
            ctx->sr->err = "search keys nested too deeply";
            return TN_ERROR;
        }

        key->type = TN_MAIL_IMAP_SKEY_AND;

        rc = tn_mail_imap_skey_list(ctx, arg->list, key);

        ctx->depth--;
        *argp = arg->next;

        return rc;
    }

    if (arg->type != TN_MAIL_IMAP_ARG_ATOM
        && arg->type != TN_MAIL_IMAP_ARG_NUMBER)
    {
        ctx->sr->err = "search key expected";
        return TN_ERROR;
    }

    *argp = arg->next;

    /* a sequence set: digits, "*", ":", ",", "$" */

    if (arg->value.len
        && (tn_strchr("0123456789*$", arg->value.data[0]) != NULL))
    {
        if (tn_mail_imap_seqset_check(&arg->value) != TN_OK) {
            ctx->sr->err = "invalid sequence set";
            return TN_ERROR;
        }

        key->type = TN_MAIL_IMAP_SKEY_SEQSET;
        key->str = arg->value;

        if (tn_strlchr(arg->value.data, arg->value.data + arg->value.len,
                       '$'))
        {
            ctx->sr->saved = 1;
        }

        return TN_OK;
    }

    for (kn = tn_mail_imap_skey_names; kn->name.len; kn++) {
        if (kn->name.len == arg->value.len
            && tn_strncasecmp(kn->name.data, arg->value.data, kn->name.len)
               == 0)
        {
            break;
        }
    }

    if (kn->name.len == 0) {
        ctx->sr->err = "unknown search key";
        return TN_ERROR;
    }

    key->type = kn->type;
    key->num = kn->flag;
    key->neg = kn->neg;

    return tn_mail_imap_skey_args(ctx, kn, argp, key);
}


static tn_int_t
tn_mail_imap_skey_args(tn_mail_imap_skey_ctx_t *ctx,
    tn_mail_imap_skey_name_t *kn, tn_mail_imap_arg_t **argp,
    tn_mail_imap_skey_t *key)
{
    tn_int_t              rc;
    tn_mail_imap_arg_t   *arg;
    tn_mail_imap_skey_t  *k2;

    arg = *argp;

    switch (kn->arg) {

    case TN_SKEY_ARG_NONE:
        return TN_OK;

    case TN_SKEY_ARG_KEY:
    case TN_SKEY_ARG_KEY2:

        if (arg == NULL) {
            ctx->sr->err = "search key expected";
            return TN_ERROR;
        }

        if (++ctx->depth > TN_MAIL_IMAP_SEARCH_MAX_DEPTH) {
            ctx->sr->err = "search keys nested too deeply";
            return TN_ERROR;
        }

        rc = tn_mail_imap_skey_one(ctx, argp, &key->child);

        if (rc == TN_OK && kn->arg == TN_SKEY_ARG_KEY2) {
            if (*argp == NULL) {
                ctx->sr->err = "search key expected";
                return TN_ERROR;
            }

            rc = tn_mail_imap_skey_one(ctx, argp, &k2);

            if (rc == TN_OK) {
                key->child->next = k2;

                /* the cheaper side first */

                if (k2->cost < key->child->cost) {
                    k2->next = key->child;
                    key->child->next = NULL;
                    key->child = k2;
                }
            }
        }

        ctx->depth--;

        if (rc != TN_OK) {
            return rc;
        }

        key->cost = key->child->cost;

        if (key->child->next && key->child->next->cost > key->cost) {
            key->cost = key->child->next->cost;
        }

        return TN_OK;

    case TN_SKEY_ARG_MODSEQ:
        return tn_mail_imap_skey_modseq(ctx, argp, key);

    default:
        break;
    }

    if (arg == NULL) {
        ctx->sr->err = "search key argument expected";
        return TN_ERROR;
    }

    *argp = arg->next;

    switch (kn->arg) {

    case TN_SKEY_ARG_NUMBER:

        if (arg->type != TN_MAIL_IMAP_ARG_NUMBER) {
            ctx->sr->err = "number expected";
            return TN_ERROR;
        }

        key->num = arg->number;
        return TN_OK;

    case TN_SKEY_ARG_SET:

        if ((arg->type != TN_MAIL_IMAP_ARG_ATOM
             && arg->type != TN_MAIL_IMAP_ARG_NUMBER)
            || tn_mail_imap_seqset_check(&arg->value) != TN_OK)
        {
            ctx->sr->err = "invalid uid set";
            return TN_ERROR;
        }

        key->str = arg->value;

        if (tn_strlchr(arg->value.data, arg->value.data + arg->value.len,
                       '$'))
        {
            ctx->sr->saved = 1;
        }

        return TN_OK;

    case TN_SKEY_ARG_ATOM:

        if (arg->type != TN_MAIL_IMAP_ARG_ATOM || arg->value.len == 0
            || arg->value.data[0] == '\\')
        {
            ctx->sr->err = "keyword expected";
            return TN_ERROR;
        }

        key->str = arg->value;
        return TN_OK;

    case TN_SKEY_ARG_HEADER:

        if (tn_mail_imap_arg_astring(arg, &key->field) != TN_OK
            || key->field.len == 0)
        {
            ctx->sr->err = "header field name expected";
            return TN_ERROR;
        }

        arg = *argp;

        if (arg == NULL) {
            ctx->sr->err = "search string expected";
            return TN_ERROR;
        }

        *argp = arg->next;

        /* fall through */

    default: /* STRING, DATE */

        if (tn_mail_imap_arg_astring(arg, &key->str) != TN_OK) {
            ctx->sr->err = "string expected";
            return TN_ERROR;
        }

        break;
    }

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_SENTBEFORE:
    case TN_MAIL_IMAP_SKEY_SENTON:
    case TN_MAIL_IMAP_SKEY_SENTSINCE:
    case TN_MAIL_IMAP_SKEY_FROM:
    case TN_MAIL_IMAP_SKEY_TO:
    case TN_MAIL_IMAP_SKEY_CC:
    case TN_MAIL_IMAP_SKEY_BCC:
    case TN_MAIL_IMAP_SKEY_SUBJECT:
    case TN_MAIL_IMAP_SKEY_HEADER:
        key->cost = TN_MAIL_IMAP_SCOST_CACHE;
        break;

    case TN_MAIL_IMAP_SKEY_BODY:
    case TN_MAIL_IMAP_SKEY_TEXT:
        key->cost = TN_MAIL_IMAP_SCOST_FILE;
        break;

    default:
        break;
    }

    return TN_OK;
}


/*
 * RFC 7162 3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer;
 * the entry (per-flag modseqs) is accepted and ignored: a message has one
 * modseq here.
 */

static tn_int_t
tn_mail_imap_skey_modseq(tn_mail_imap_skey_ctx_t *ctx,
    tn_mail_imap_arg_t **argp, tn_mail_imap_skey_t *key)
{
    tn_mail_imap_arg_t  *arg;

    arg = *argp;

    if (arg && arg->type == TN_MAIL_IMAP_ARG_QUOTED) {
        arg = arg->next;

        if (arg == NULL
            || !(tn_mail_imap_skey_is(arg, "priv")
                 || tn_mail_imap_skey_is(arg, "shared")
                 || tn_mail_imap_skey_is(arg, "all")))
        {
            ctx->sr->err = "invalid MODSEQ entry type";
            return TN_ERROR;
        }

        arg = arg->next;
    }

    if (arg == NULL || arg->type != TN_MAIL_IMAP_ARG_NUMBER
        || arg->number > (uint64_t) INT64_MAX)
    {
        ctx->sr->err = "modseq expected";
        return TN_ERROR;
    }

    key->num = arg->number;
    ctx->sr->modseq = 1;
    *argp = arg->next;

    return TN_OK;
}


/* the children of an AND, cheapest first (a stable insertion sort) */

static void
tn_mail_imap_skey_order(tn_mail_imap_skey_t *and)
{
    tn_mail_imap_skey_t  *key, *next, *sorted, **pp;

    sorted = NULL;

    for (key = and->child; key; key = next) {
        next = key->next;

        for (pp = &sorted; *pp && (*pp)->cost <= key->cost;
             pp = &(*pp)->next)
        {
            /* void */
        }

        key->next = *pp;
        *pp = key;
    }

    and->child = sorted;
}


/* RETURN (MIN MAX COUNT ALL SAVE); "()" is ALL (RFC 4731 3.1) */

static tn_int_t
tn_mail_imap_search_return(tn_mail_imap_search_t *sr,
    tn_mail_imap_arg_t *arg)
{
    tn_mail_imap_arg_t  *a;

    for (a = arg->list; a; a = a->next) {

        if (tn_mail_imap_skey_is(a, "MIN")) {
            sr->ret |= TN_MAIL_IMAP_SRET_MIN;

        } else if (tn_mail_imap_skey_is(a, "MAX")) {
            sr->ret |= TN_MAIL_IMAP_SRET_MAX;

        } else if (tn_mail_imap_skey_is(a, "COUNT")) {
            sr->ret |= TN_MAIL_IMAP_SRET_COUNT;

        } else if (tn_mail_imap_skey_is(a, "ALL")) {
            sr->ret |= TN_MAIL_IMAP_SRET_ALL;

        } else if (tn_mail_imap_skey_is(a, "SAVE")) {
            sr->ret |= TN_MAIL_IMAP_SRET_SAVE;

        } else {
            sr->err = "unknown search return option";
            return TN_ERROR;
        }
    }

    if (sr->ret == 0) {
        sr->ret = TN_MAIL_IMAP_SRET_ALL;
    }

    return TN_OK;
}


static tn_int_t
tn_mail_imap_search_criteria(tn_mail_imap_search_t *sr,
    tn_mail_imap_arg_t *arg)
{
    tn_uint_t            i, reverse;
    tn_mail_imap_arg_t  *a;

    reverse = 0;

    for (a = arg->list; a; a = a->next) {

        if (tn_mail_imap_skey_is(a, "REVERSE")) {
            reverse = 1;
            continue;
        }

        for (i = 1; tn_mail_imap_sort_names[i].len; i++) {
            if (a->type == TN_MAIL_IMAP_ARG_ATOM
                && a->value.len == tn_mail_imap_sort_names[i].len
                && tn_strncasecmp(a->value.data,
                                  tn_mail_imap_sort_names[i].data,
                                  a->value.len) == 0)
            {
                break;
            }
        }

        if (tn_mail_imap_sort_names[i].len == 0) {
            sr->err = "unknown sort criterion";
            return TN_ERROR;
        }

        if (sr->nsort == TN_MAIL_IMAP_SORT_MAX) {
            sr->err = "too many sort criteria";
            return TN_ERROR;
        }

        sr->sort[sr->nsort].key = i;
        sr->sort[sr->nsort].reverse = reverse;
        sr->nsort++;
        reverse = 0;
    }

    if (sr->nsort == 0 || reverse) {
        sr->err = "sort criterion expected";
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_uint_t
tn_mail_imap_skey_is(tn_mail_imap_arg_t *arg, const char *name)
{
    size_t  len;

    if (arg->type != TN_MAIL_IMAP_ARG_ATOM) {
        return 0;
    }

    len = tn_strlen(name);

    return arg->value.len == len
           && tn_strncasecmp(arg->value.data, (u_char *) name, len) == 0;
}


u_char *
tn_mail_imap_numset(u_char *dst, uint32_t *nums, tn_uint_t n)
{
    tn_uint_t  i, j;

    for (i = 0; i < n; i = j) {

        for (j = i + 1; j < n && nums[j - 1] != TN_MAIL_IMAP_SEQ_MAX
                        && nums[j] == nums[j - 1] + 1; j++)
        {
            /* void */
        }

        if (i) {
            *dst++ = ',';
        }

        if (j - i == 1) {
            dst = tn_sprintf(dst, "%uD", nums[i]);

        } else {
            dst = tn_sprintf(dst, "%uD:%uD", nums[i], nums[j - 1]);
        }
    }

    return dst;
}
