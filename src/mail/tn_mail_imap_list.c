
/*
 * Copyright (C) The Tern developers
 */


/*
 * LIST (RFC 3501, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC
 * 6154 SPECIAL-USE), LSUB and STATUS.  The mailboxes are read and the
 * patterns matched in the thread pool (a pattern costs up to O(pattern
 * * name) a mailbox); the event loop only writes the lines.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_mbox.h>


/* a STATUS item: its name, and where tn_store_mbox_info_t has it */
typedef struct {
    tn_str_t                   name;
    tn_uint_t                  bit;        /* TN_IMAP_STATUS_* */
    size_t                     offset;
    tn_uint_t                  wide;       /* uint64_t, else uint32_t */
} tn_mail_imap_status_item_t;


static tn_int_t tn_mail_imap_list_args(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_mail_imap_mbox_task_t *t);
static tn_int_t tn_mail_imap_list_pattern(tn_mail_imap_session_t *is,
    tn_mail_imap_mbox_task_t *t, tn_str_t *ref, tn_mail_imap_arg_t *arg);
static tn_int_t tn_mail_imap_status_items(tn_mail_imap_arg_t *arg,
    tn_uint_t *items);
static tn_uint_t tn_mail_imap_list_match(tn_mail_imap_mbox_task_t *t,
    tn_str_t *name, u_char *row);
static tn_uint_t tn_mail_imap_match(tn_str_t *pat, tn_str_t *name,
    u_char *row);
static void tn_mail_imap_list_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_list_line(tn_mail_imap_session_t *is,
    tn_mail_imap_mbox_task_t *t, tn_mail_imap_listed_t *l);
static tn_int_t tn_mail_imap_status_line(tn_mail_imap_session_t *is,
    tn_pool_t *pool, tn_store_mbox_info_t *info, tn_uint_t items);
static void tn_mail_imap_status_done(tn_mail_session_t *s,
    tn_thread_task_t *task);


#define tn_imap_status_item(name, bit, field, wide)                          \
    { tn_string(name), bit, offsetof(tn_store_mbox_info_t, field), wide }

/* in the order of the STATUS response */
static tn_mail_imap_status_item_t  tn_mail_imap_status_items_all[] = {
    tn_imap_status_item("MESSAGES", TN_IMAP_STATUS_MESSAGES, messages, 0),
    tn_imap_status_item("UIDNEXT", TN_IMAP_STATUS_UIDNEXT, uidnext, 0),
    tn_imap_status_item("UIDVALIDITY", TN_IMAP_STATUS_UIDVALIDITY,
                        uidvalidity, 0),
    tn_imap_status_item("UNSEEN", TN_IMAP_STATUS_UNSEEN, unseen, 0),
    tn_imap_status_item("RECENT", TN_IMAP_STATUS_RECENT, recent, 0),
    tn_imap_status_item("SIZE", TN_IMAP_STATUS_SIZE, size, 1),
    tn_imap_status_item("HIGHESTMODSEQ", TN_IMAP_STATUS_HIGHESTMODSEQ,
                        highestmodseq, 1),
    tn_imap_status_item("DELETED", TN_IMAP_STATUS_DELETED, deleted, 0)
};

#define TN_IMAP_STATUS_NITEMS                                                \
    (sizeof(tn_mail_imap_status_items_all)                                   \
     / sizeof(tn_mail_imap_status_item_t))


/*
 * LIST (RFC 3501, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC
 * 6154 SPECIAL-USE) and LSUB:
 *
 *     LIST [(selection options)] reference (pattern / (patterns))
 *          [RETURN (return options)]
 */

tn_int_t
tn_mail_imap_list(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t                   rc;
    tn_mail_imap_mbox_task_t  *t;

    t = tn_mail_imap_mbox_task(s, tn_mail_imap_list_done, NULL);
    if (t == NULL) {
        return tn_mail_imap_unavailable(is);
    }

    rc = tn_mail_imap_list_args(s, is, t);

    if (rc != TN_AGAIN) {
        /* the reply is written */
        tn_mail_imap_task_free(s, t->base.task);
        return rc;
    }

    if (t->npatterns == 0) {
        /* only the empty pattern: the hierarchy delimiter (RFC 3501) */
        tn_mail_imap_task_free(s, t->base.task);

        if (tn_mail_imap_printf(is, "* %s (\\Noselect) \"/\" \"\"" CRLF,
                                is->command == TN_MAIL_IMAP_LSUB
                                ? "LSUB" : "LIST")
            != TN_OK)
        {
            return TN_ERROR;
        }

        return tn_mail_imap_tagged(is, "OK", "%s completed",
                                   is->command == TN_MAIL_IMAP_LSUB
                                   ? "LSUB" : "LIST");
    }

    return tn_mail_imap_mbox_start(s, t);
}


/* TN_AGAIN: t is filled; TN_OK: a BAD is written */

static tn_int_t
tn_mail_imap_list_args(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_mail_imap_mbox_task_t *t)
{
    tn_str_t            *v, ref;
    tn_uint_t            sel;
    tn_mail_imap_arg_t  *arg, *a;

    arg = is->parse.args;
    sel = 0;

    if (is->command == TN_MAIL_IMAP_LSUB) {
        t->flag = TN_IMAP_LIST_LSUB | TN_IMAP_LIST_SUBSCRIBED;

    } else if (arg->type == TN_MAIL_IMAP_ARG_LIST) {
        t->flag = TN_IMAP_LIST_EXTENDED;

        for (a = arg->list; a; a = a->next) {
            v = &a->value;

            if (a->type != TN_MAIL_IMAP_ARG_ATOM) {
                goto bad;
            }

            if (v->len == 10
                && tn_strncasecmp(v->data, (u_char *) "SUBSCRIBED", 10) == 0)
            {
                t->flag |= TN_IMAP_LIST_SUBSCRIBED
                           | TN_IMAP_LIST_RET_SUBSCRIBED;
                sel = 1;

            } else if (v->len == 6
                       && tn_strncasecmp(v->data, (u_char *) "REMOTE", 6)
                          == 0)
            {
                /* no remote mailboxes */

            } else if (v->len == 14
                       && tn_strncasecmp(v->data,
                                         (u_char *) "RECURSIVEMATCH", 14)
                          == 0)
            {
                t->flag |= TN_IMAP_LIST_RECURSIVE;

            } else if (v->len == 11
                       && tn_strncasecmp(v->data, (u_char *) "SPECIAL-USE",
                                         11)
                          == 0)
            {
                t->flag |= TN_IMAP_LIST_SPECIAL;
                sel = 1;

            } else {
                goto bad;
            }
        }

        /* RFC 5258 3.1: RECURSIVEMATCH needs another selection option */
        if ((t->flag & TN_IMAP_LIST_RECURSIVE) && !sel) {
            goto bad;
        }

        arg = arg->next;
    }

    if (arg == NULL || arg->next == NULL
        || tn_mail_imap_mbox_name_in(is, arg, &ref) != TN_OK)
    {
        goto bad;
    }

    arg = arg->next;

    if (arg->type == TN_MAIL_IMAP_ARG_LIST) {
        if (is->command == TN_MAIL_IMAP_LSUB || arg->nelts == 0) {
            goto bad;
        }

        t->flag |= TN_IMAP_LIST_EXTENDED;

        for (a = arg->list; a; a = a->next) {
            if (tn_mail_imap_list_pattern(is, t, &ref, a) != TN_OK) {
                goto bad;
            }
        }

    } else if (tn_mail_imap_list_pattern(is, t, &ref, arg) != TN_OK) {
        goto bad;
    }

    arg = arg->next;

    if (arg) {
        /* RETURN (options) */
        if (is->command == TN_MAIL_IMAP_LSUB
            || arg->type != TN_MAIL_IMAP_ARG_ATOM || arg->value.len != 6
            || tn_strncasecmp(arg->value.data, (u_char *) "RETURN", 6) != 0
            || arg->next == NULL || arg->next->type != TN_MAIL_IMAP_ARG_LIST
            || arg->next->next != NULL)
        {
            goto bad;
        }

        t->flag |= TN_IMAP_LIST_EXTENDED;

        for (a = arg->next->list; a; a = a->next) {
            v = &a->value;

            if (a->type != TN_MAIL_IMAP_ARG_ATOM) {
                goto bad;
            }

            if (v->len == 10
                && tn_strncasecmp(v->data, (u_char *) "SUBSCRIBED", 10) == 0)
            {
                t->flag |= TN_IMAP_LIST_RET_SUBSCRIBED;

            } else if ((v->len == 8
                        && tn_strncasecmp(v->data, (u_char *) "CHILDREN", 8)
                           == 0)
                       || (v->len == 11
                           && tn_strncasecmp(v->data,
                                             (u_char *) "SPECIAL-USE", 11)
                              == 0))
            {
                /* always returned */

            } else if (v->len == 6
                       && tn_strncasecmp(v->data, (u_char *) "STATUS", 6)
                          == 0
                       && a->next
                       && a->next->type == TN_MAIL_IMAP_ARG_LIST)
            {
                if (tn_mail_imap_status_items(a->next, &t->items) != TN_OK) {
                    goto bad;
                }

                t->flag |= TN_IMAP_LIST_RET_STATUS;
                a = a->next;

            } else {
                goto bad;
            }
        }
    }

    if (t->items & TN_IMAP_STATUS_HIGHESTMODSEQ) {
        is->condstore = 1;
    }

    return TN_AGAIN;

bad:

    s->errors++;
    return tn_mail_imap_tagged(is, "BAD", "Invalid %s arguments",
                               is->command == TN_MAIL_IMAP_LSUB
                               ? "LSUB" : "LIST");
}


/* one pattern, with the reference before it, into t->patterns */

static tn_int_t
tn_mail_imap_list_pattern(tn_mail_imap_session_t *is,
    tn_mail_imap_mbox_task_t *t, tn_str_t *ref, tn_mail_imap_arg_t *arg)
{
    u_char    *p;
    tn_str_t   v, pat;

    if (arg->type == TN_MAIL_IMAP_ARG_LIST
        || (arg->type == TN_MAIL_IMAP_ARG_LITERAL && arg->stream))
    {
        return TN_ERROR;
    }

    v = arg->value;

    if (!is->utf8) {
        if (tn_mail_imap_utf7_decode(is->cmd_pool, &arg->value, &v)
            != TN_OK)
        {
            return TN_ERROR;
        }
    }

    if (v.len == 0 && ref->len == 0) {
        /* the empty pattern */
        return TN_OK;
    }

    if (t->npatterns == TN_MAIL_IMAP_PATTERNS_MAX
        || ref->len + v.len > TN_MAIL_IMAP_PATTERN_MAX)
    {
        return TN_ERROR;
    }

    pat.len = ref->len + v.len;
    pat.data = tn_pnalloc(t->base.pool, pat.len + 1);
    if (pat.data == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(pat.data, ref->data, ref->len);
    p = tn_cpymem(p, v.data, v.len);
    *p = '\0';

    t->patterns[t->npatterns++] = pat;

    return TN_OK;
}


static tn_int_t
tn_mail_imap_status_items(tn_mail_imap_arg_t *arg, tn_uint_t *items)
{
    tn_str_t                    *v;
    tn_uint_t                    i;
    tn_mail_imap_arg_t          *a;
    tn_mail_imap_status_item_t  *names;

    names = tn_mail_imap_status_items_all;

    *items = 0;

    if (arg->type != TN_MAIL_IMAP_ARG_LIST || arg->nelts == 0) {
        return TN_ERROR;
    }

    for (a = arg->list; a; a = a->next) {
        if (a->type != TN_MAIL_IMAP_ARG_ATOM) {
            return TN_ERROR;
        }

        v = &a->value;

        for (i = 0; i < TN_IMAP_STATUS_NITEMS; i++) {
            if (v->len == names[i].name.len
                && tn_strncasecmp(v->data, names[i].name.data, v->len) == 0)
            {
                *items |= names[i].bit;
                break;
            }
        }

        if (i == TN_IMAP_STATUS_NITEMS) {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/*
 * In the thread: the mailboxes, and which of them the patterns and
 * options select (the match costs up to O(pattern * name) a name).
 */

void
tn_mail_imap_list_select(tn_mail_imap_mbox_task_t *t, tn_log_t *log)
{
    u_char                 *row;
    size_t                  len;
    tn_uint_t               i, j, n, flag, match, sub;
    tn_array_t             *all;
    tn_str_t                parent;
    tn_store_mbox_info_t   *info, *f;
    tn_mail_imap_listed_t  *l;

    flag = t->flag;

    t->rc = tn_store_mbox_list(t->base.conf, &t->base.user, t->base.pool,
                               (flag & TN_IMAP_LIST_RET_STATUS)
                               ? TN_STORE_LIST_STATUS : 0,
                               &all, log);
    if (t->rc != TN_OK) {
        return;
    }

    t->listed = tn_array_create(t->base.pool, 16,
                                sizeof(tn_mail_imap_listed_t));
    row = tn_pnalloc(t->base.pool, TN_STORE_MBOX_NAME_MAX + 2);

    if (t->listed == NULL || row == NULL) {
        t->rc = TN_ERROR;
        return;
    }

    info = all->elts;
    n = all->nelts;

    for (i = 0; i < n; i++) {

        match = tn_mail_imap_list_match(t, &info[i].name, row);

        if (flag & TN_IMAP_LIST_LSUB) {
            if (match && info[i].subscribed) {
                l = tn_array_push(t->listed);
                if (l == NULL) {
                    t->rc = TN_ERROR;
                    return;
                }

                tn_memzero(l, sizeof(tn_mail_imap_listed_t));
                l->info = &info[i];
                continue;
            }

            /* RFC 3501 6.3.9: a parent of a subscribed name with "%" */
            if (match && !info[i].subscribed) {
                len = info[i].name.len;

                for (j = 0; j < n; j++) {
                    f = &info[j];

                    if (f->subscribed && f->name.len > len
                        && f->name.data[len] == '/'
                        && tn_memcmp(f->name.data, info[i].name.data, len)
                           == 0)
                    {
                        l = tn_array_push(t->listed);
                        if (l == NULL) {
                            t->rc = TN_ERROR;
                            return;
                        }

                        tn_memzero(l, sizeof(tn_mail_imap_listed_t));
                        l->info = &info[i];
                        l->noselect = 1;
                        break;
                    }
                }
            }

            continue;
        }

        if (!match) {
            continue;
        }

        if ((flag & TN_IMAP_LIST_SPECIAL)
            && info[i].special == TN_STORE_SPECIAL_NONE)
        {
            continue;
        }

        sub = 0;

        if (flag & TN_IMAP_LIST_SUBSCRIBED) {

            if (flag & TN_IMAP_LIST_RECURSIVE) {
                parent = info[i].name;

                for (j = 0; j < n; j++) {
                    f = &info[j];

                    if (f->subscribed && f->name.len > parent.len
                        && f->name.data[parent.len] == '/'
                        && tn_memcmp(f->name.data, parent.data, parent.len)
                           == 0)
                    {
                        sub = 1;
                        break;
                    }
                }
            }

            if (!info[i].subscribed && !sub) {
                continue;
            }

        } else if (info[i].id == 0 && !info[i].noselect) {
            /* a subscription without a mailbox: only LIST (SUBSCRIBED) */
            continue;
        }

        l = tn_array_push(t->listed);
        if (l == NULL) {
            t->rc = TN_ERROR;
            return;
        }

        tn_memzero(l, sizeof(tn_mail_imap_listed_t));
        l->info = &info[i];
        l->childinfo = sub;
    }
}


static tn_uint_t
tn_mail_imap_list_match(tn_mail_imap_mbox_task_t *t, tn_str_t *name,
    u_char *row)
{
    tn_uint_t  i;

    for (i = 0; i < t->npatterns; i++) {
        if (tn_mail_imap_match(&t->patterns[i], name, row)) {
            return 1;
        }
    }

    return 0;
}


/*
 * A LIST pattern: "*" matches anything, "%" anything but "/".  The first
 * five octets of INBOX (and of "INBOX/...") match case-insensitively.
 * row[j]: the pattern so far matches the first j octets of the name
 * (dynamic programming, one row per pattern octet).
 */

static tn_uint_t
tn_mail_imap_match(tn_str_t *pat, tn_str_t *name, u_char *row)
{
    u_char     c, d, any;
    size_t     i, j, n, icase;

    n = name->len;

    if (n > TN_STORE_MBOX_NAME_MAX) {
        return 0;
    }

    icase = (n >= 5 && tn_memcmp(name->data, "INBOX", 5) == 0
             && (n == 5 || name->data[5] == '/')) ? 5 : 0;

    row[0] = 1;

    for (j = 1; j <= n; j++) {
        row[j] = 0;
    }

    for (i = 0; i < pat->len; i++) {
        c = pat->data[i];

        if (c == '*' || c == '%') {
            any = 0;

            for (j = 0; j <= n; j++) {
                if (c == '%' && j > 0 && name->data[j - 1] == '/') {
                    any = 0;
                }

                any |= row[j];
                row[j] = any;
            }

            continue;
        }

        for (j = n; j > 0; j--) {
            d = name->data[j - 1];

            if (j - 1 < icase) {
                row[j] = row[j - 1] && tn_tolower(c) == tn_tolower(d);

            } else {
                row[j] = row[j - 1] && c == d;
            }
        }

        row[0] = 0;
    }

    return row[n];
}


static void
tn_mail_imap_list_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_uint_t                  i;
    tn_mail_imap_listed_t     *l;
    tn_mail_imap_session_t    *is;
    tn_mail_imap_mbox_task_t  *t;

    is = s->data;
    t = task->ctx;

    if (tn_mail_imap_mbox_failed(s, task, "")) {
        return;
    }

    l = t->listed->elts;

    for (i = 0; i < t->listed->nelts; i++) {
        if (tn_mail_imap_list_line(is, t, &l[i]) != TN_OK) {
            tn_mail_imap_task_free(s, task);
            tn_mail_imap_command_done(s, TN_ERROR);
            return;
        }
    }

    tn_mail_imap_task_free(s, task);

    (void) tn_mail_imap_tagged(is, "OK", "%s completed",
                               is->command == TN_MAIL_IMAP_LSUB
                               ? "LSUB" : "LIST");

    tn_mail_imap_command_done(s, TN_OK);
}


static tn_int_t
tn_mail_imap_list_line(tn_mail_imap_session_t *is,
    tn_mail_imap_mbox_task_t *t, tn_mail_imap_listed_t *l)
{
    u_char                *p, *start, buf[256];
    tn_uint_t              flag;
    tn_store_mbox_info_t  *info;

    info = l->info;
    flag = t->flag;

    start = buf + 1;
    p = start;

    if (info->id == 0 && !info->noselect && !(flag & TN_IMAP_LIST_LSUB)) {
        p = tn_cpymem(p, " \\NonExistent", 13);

    } else if (info->noselect || l->noselect) {
        p = tn_cpymem(p, " \\Noselect", 10);
    }

    if (!(flag & TN_IMAP_LIST_LSUB) && (info->id || info->noselect)) {
        p = info->children ? tn_cpymem(p, " \\HasChildren", 13)
                           : tn_cpymem(p, " \\HasNoChildren", 15);
    }

    if ((flag & TN_IMAP_LIST_RET_SUBSCRIBED) && info->subscribed) {
        p = tn_cpymem(p, " \\Subscribed", 12);
    }

    if (info->special > TN_STORE_SPECIAL_NONE
        && info->special <= TN_STORE_SPECIAL_ARCHIVE)
    {
        *p++ = ' ';
        p = tn_cpymem(p, tn_mail_imap_special_names[info->special].data,
                      tn_mail_imap_special_names[info->special].len);
    }

    if (tn_mail_imap_printf(is, "* %s (%*s) \"/\" ",
                            (flag & TN_IMAP_LIST_LSUB) ? "LSUB" : "LIST",
                            (size_t) (p > start ? p - start - 1 : 0),
                            start + 1)
        != TN_OK)
    {
        return TN_ERROR;
    }

    if (tn_mail_imap_write_name(is, t->base.pool, &info->name) != TN_OK) {
        return TN_ERROR;
    }

    if (l->childinfo
        && tn_mail_imap_write(is, (u_char *) " (\"CHILDINFO\" "
                              "(\"SUBSCRIBED\"))", 29)
           != TN_OK)
    {
        return TN_ERROR;
    }

    if (tn_mail_imap_write(is, (u_char *) CRLF, 2) != TN_OK) {
        return TN_ERROR;
    }

    if ((flag & TN_IMAP_LIST_RET_STATUS) && info->id && !info->noselect) {
        return tn_mail_imap_status_line(is, t->base.pool, info, t->items);
    }

    return TN_OK;
}


/* "* STATUS name (MESSAGES 1 ...)" */

static tn_int_t
tn_mail_imap_status_line(tn_mail_imap_session_t *is, tn_pool_t *pool,
    tn_store_mbox_info_t *info, tn_uint_t items)
{
    u_char                      *p, *last, *v, buf[512];
    uint64_t                     n;
    tn_uint_t                    i;
    tn_mail_imap_status_item_t  *it;

    if (tn_mail_imap_write(is, (u_char *) "* STATUS ", 9) != TN_OK
        || tn_mail_imap_write_name(is, pool, &info->name) != TN_OK)
    {
        return TN_ERROR;
    }

    p = buf;
    last = buf + sizeof(buf);

    for (i = 0; i < TN_IMAP_STATUS_NITEMS; i++) {
        it = &tn_mail_imap_status_items_all[i];

        if (!(items & it->bit)) {
            continue;
        }

        v = (u_char *) info + it->offset;
        n = it->wide ? *(uint64_t *) v : *(uint32_t *) v;

        p = tn_slprintf(p, last, " %V %uL", &it->name, n);
    }

    return tn_mail_imap_printf(is, " (%*s)" CRLF,
                               (size_t) (p > buf ? p - buf - 1 : 0),
                               buf + 1);
}


/* STATUS */

tn_int_t
tn_mail_imap_status(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_str_t                   name;
    tn_uint_t                  items;
    tn_mail_imap_mbox_task_t  *t;

    if (tn_mail_imap_mbox_name_in(is, is->parse.args, &name) != TN_OK) {
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid mailbox name");
    }

    if (tn_mail_imap_status_items(is->parse.args->next, &items) != TN_OK) {
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid STATUS items");
    }

    if (items & TN_IMAP_STATUS_HIGHESTMODSEQ) {
        /* RFC 7162 3.1: a CONDSTORE enabling command */
        is->condstore = 1;
    }

    t = tn_mail_imap_mbox_task(s, tn_mail_imap_status_done, &name);
    if (t == NULL) {
        return tn_mail_imap_unavailable(is);
    }

    t->items = items;

    return tn_mail_imap_mbox_start(s, t);
}


static void
tn_mail_imap_status_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t                   rc;
    tn_mail_imap_session_t    *is;
    tn_mail_imap_mbox_task_t  *t;

    is = s->data;
    t = task->ctx;

    if (tn_mail_imap_mbox_failed(s, task, "[NONEXISTENT] ")) {
        return;
    }

    /* the name as the client gave it */
    t->info.name = t->name;

    rc = tn_mail_imap_status_line(is, t->base.pool, &t->info, t->items);

    tn_mail_imap_task_free(s, task);

    if (rc != TN_OK) {
        tn_mail_imap_command_done(s, TN_ERROR);
        return;
    }

    (void) tn_mail_imap_tagged(is, "OK", "STATUS completed");

    tn_mail_imap_command_done(s, TN_OK);
}
