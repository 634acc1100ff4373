
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_fetch.h>


/*
 * The FETCH items and modifiers (RFC 3501 6.4.5, RFC 3516 BINARY, RFC
 * 7162 CHANGEDSINCE) into a tn_mail_imap_fetch_t.
 */


static tn_int_t tn_mail_imap_fetch_item(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg);
static tn_mail_imap_fitem_t *tn_mail_imap_fetch_add(
    tn_mail_imap_session_t *is, tn_mail_imap_fetch_t *f, tn_uint_t type,
    const char *name);
static tn_int_t tn_mail_imap_fetch_section(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg);
static tn_int_t tn_mail_imap_fetch_modifiers(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg);


/* a bad FETCH argument: the tagged BAD is written, TN_DONE */

tn_int_t
tn_mail_imap_fetch_bad(tn_mail_imap_session_t *is, const char *text)
{
    (void) tn_mail_imap_tagged(is, "BAD", "%s", text);

    return TN_DONE;
}


/* the items and the modifiers; TN_OK, TN_DONE (BAD written), TN_ERROR */

tn_int_t
tn_mail_imap_fetch_parse(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg)
{
    tn_int_t             rc;
    tn_str_t            *v;
    tn_mail_imap_arg_t  *a;

    f->items_size = (arg->type == TN_MAIL_IMAP_ARG_LIST) ? arg->nelts : 2;

    f->items = tn_palloc(is->cmd_pool,
                         f->items_size * sizeof(tn_mail_imap_fitem_t));
    if (f->items == NULL) {
        return TN_ERROR;
    }

    if (is->parse.uid) {
        f->uid = 1;
    }

    v = &arg->value;

#define tn_fetch_macro(lit)                                                  \
    (arg->type == TN_MAIL_IMAP_ARG_ATOM && !arg->section                     \
     && v->len == sizeof(lit) - 1                                            \
     && tn_strncasecmp(v->data, (u_char *) lit, sizeof(lit) - 1) == 0)

    /* the macros of RFC 3501 6.4.5, alone only */

    if (tn_fetch_macro("ALL") || tn_fetch_macro("FAST")
        || tn_fetch_macro("FULL"))
    {
        f->flags = 1;
        f->idate = 1;
        f->size = 1;

        if (!tn_fetch_macro("FAST")
            && tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_ENVELOPE, "ENVELOPE")
               == NULL)
        {
            return TN_ERROR;
        }

        if (tn_fetch_macro("FULL")
            && tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_BODY, "BODY") == NULL)
        {
            return TN_ERROR;
        }

        goto modifiers;
    }

#undef tn_fetch_macro

    if (arg->type == TN_MAIL_IMAP_ARG_LIST) {
        if (arg->list == NULL) {
            return tn_mail_imap_fetch_bad(is, "Empty fetch item list");
        }

        for (a = arg->list; a; a = a->next) {
            rc = tn_mail_imap_fetch_item(is, f, a);
            if (rc != TN_OK) {
                return rc;
            }
        }

    } else {
        rc = tn_mail_imap_fetch_item(is, f, arg);
        if (rc != TN_OK) {
            return rc;
        }
    }

modifiers:

    if (arg->next) {
        if (arg->next->type != TN_MAIL_IMAP_ARG_LIST
            || arg->next->next != NULL)
        {
            return tn_mail_imap_fetch_bad(is, "Invalid arguments");
        }

        rc = tn_mail_imap_fetch_modifiers(is, f, arg->next);
        if (rc != TN_OK) {
            return rc;
        }
    }

    if (f->modseq && tn_mail_imap_condstore(is) != TN_OK) {
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_mail_imap_fetch_item(tn_mail_imap_session_t *is, tn_mail_imap_fetch_t *f,
    tn_mail_imap_arg_t *arg)
{
    tn_str_t              *v;
    tn_mail_imap_fitem_t  *it;

    if (arg->type != TN_MAIL_IMAP_ARG_ATOM) {
        return tn_mail_imap_fetch_bad(is, "Invalid fetch item");
    }

    if (arg->section) {
        return tn_mail_imap_fetch_section(is, f, arg);
    }

    v = &arg->value;

#define tn_fetch_is(lit)                                                     \
    (v->len == sizeof(lit) - 1                                               \
     && tn_strncasecmp(v->data, (u_char *) lit, sizeof(lit) - 1) == 0)

    if (tn_fetch_is("FLAGS")) {
        f->flags = 1;
        return TN_OK;
    }

    if (tn_fetch_is("UID")) {
        f->uid = 1;
        return TN_OK;
    }

    if (tn_fetch_is("INTERNALDATE")) {
        f->idate = 1;
        return TN_OK;
    }

    if (tn_fetch_is("RFC822.SIZE")) {
        f->size = 1;
        return TN_OK;
    }

    if (tn_fetch_is("MODSEQ")) {
        f->modseq = 1;
        return TN_OK;
    }

    it = NULL;

    if (tn_fetch_is("ENVELOPE")) {
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_ENVELOPE, "ENVELOPE");

    } else if (tn_fetch_is("BODY")) {
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_BODY, "BODY");

    } else if (tn_fetch_is("BODYSTRUCTURE")) {
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_BODYSTRUCTURE,
                                    "BODYSTRUCTURE");

    } else if (tn_fetch_is("RFC822")) {
        /* BODY[] */
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_SECTION, "RFC822");
        if (it) {
            it->sec.item = TN_MAIL_IMAP_FETCH_BODY;
            it->sec.text = TN_MAIL_IMAP_SECTION_ALL;
            it->cost = TN_MAIL_IMAP_SCOST_FILE;
            f->set_seen = 1;
        }

    } else if (tn_fetch_is("RFC822.HEADER")) {
        /* BODY.PEEK[HEADER] */
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_SECTION,
                                    "RFC822.HEADER");
        if (it) {
            it->sec.item = TN_MAIL_IMAP_FETCH_BODY;
            it->sec.text = TN_MAIL_IMAP_SECTION_HEADER;
            it->sec.peek = 1;
        }

    } else if (tn_fetch_is("RFC822.TEXT")) {
        /* BODY[TEXT] */
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_SECTION,
                                    "RFC822.TEXT");
        if (it) {
            it->sec.item = TN_MAIL_IMAP_FETCH_BODY;
            it->sec.text = TN_MAIL_IMAP_SECTION_TEXT;
            it->cost = TN_MAIL_IMAP_SCOST_FILE;
            f->set_seen = 1;
        }

    } else {
        return tn_mail_imap_fetch_bad(is, "Unknown fetch item");
    }

#undef tn_fetch_is

    if (it == NULL) {
        return TN_ERROR;
    }

    if (it->cost > f->cost) {
        f->cost = it->cost;
    }

    return TN_OK;
}


static tn_mail_imap_fitem_t *
tn_mail_imap_fetch_add(tn_mail_imap_session_t *is, tn_mail_imap_fetch_t *f,
    tn_uint_t type, const char *name)
{
    tn_mail_imap_fitem_t  *it;

    if (f->nitems == f->items_size) {
        return NULL;
    }

    it = &f->items[f->nitems++];
    tn_memzero(it, sizeof(tn_mail_imap_fitem_t));

    it->type = type;
    it->name.data = (u_char *) name;
    it->name.len = tn_strlen(name);
    it->cost = TN_MAIL_IMAP_SCOST_CACHE;

    if (it->cost > f->cost) {
        f->cost = it->cost;
    }

    return it;
}


/*
 * BODY[...]<...>, BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
 * BINARY.SIZE[...].  The response names the section as the client
 * wrote it, without ".PEEK", and the partial by its origin only.
 */

static tn_int_t
tn_mail_imap_fetch_section(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg)
{
    u_char                  *lb, *rb, *p, *q;
    tn_mail_imap_fitem_t    *it;
    tn_mail_imap_section_t   sec;

    if (tn_mail_imap_parse_section(&arg->value, &sec) != TN_OK) {
        return tn_mail_imap_fetch_bad(is, "Invalid fetch section");
    }

    lb = tn_strlchr(arg->value.data, arg->value.data + arg->value.len, '[');

    if (lb == NULL) {
        return tn_mail_imap_fetch_bad(is, "Invalid fetch section");
    }

    for (rb = arg->value.data + arg->value.len - 1; rb > lb; rb--) {
        if (*rb == ']') {
            break;
        }
    }

    if (rb == lb) {
        return tn_mail_imap_fetch_bad(is, "Invalid fetch section");
    }

    it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_SECTION, "");
    if (it == NULL) {
        return tn_mail_imap_fetch_bad(is, "Too many fetch items");
    }

    it->sec = sec;

    /* "BINARY.SIZE" + "[" + section + "]" + "<4294967295>" */

    it->name.data = tn_pnalloc(is->cmd_pool, (rb - lb) + 32);
    if (it->name.data == NULL) {
        return TN_ERROR;
    }

    switch (sec.item) {
    case TN_MAIL_IMAP_FETCH_BINARY:
        p = tn_cpymem(it->name.data, "BINARY", 6);
        break;
    case TN_MAIL_IMAP_FETCH_BINARY_SIZE:
        p = tn_cpymem(it->name.data, "BINARY.SIZE", 11);
        break;
    default:
        p = tn_cpymem(it->name.data, "BODY", 4);
        break;
    }

    /* the section keywords in upper case, the field names as sent */

    for (q = lb; q <= rb; q++) {
        if (*q == '(') {
            p = tn_cpymem(p, q, rb - q + 1);
            break;
        }

        *p++ = tn_toupper(*q);
    }

    if (sec.partial) {
        p = tn_sprintf(p, "<%uD>", sec.offset);
    }

    it->name.len = p - it->name.data;

    /* the header of the whole message is in the cache */

    if (sec.item == TN_MAIL_IMAP_FETCH_BODY && sec.nparts == 0
        && (sec.text == TN_MAIL_IMAP_SECTION_HEADER
            || sec.text == TN_MAIL_IMAP_SECTION_FIELDS
            || sec.text == TN_MAIL_IMAP_SECTION_FIELDS_NOT))
    {
        it->cost = TN_MAIL_IMAP_SCOST_CACHE;

    } else {
        it->cost = TN_MAIL_IMAP_SCOST_FILE;
    }

    if (it->cost > f->cost) {
        f->cost = it->cost;
    }

    if (!sec.peek && sec.item != TN_MAIL_IMAP_FETCH_BINARY_SIZE) {
        f->set_seen = 1;
    }

    return TN_OK;
}


/* (CHANGEDSINCE n) of RFC 7162 3.1.4, VANISHED of 3.2.6 */

static tn_int_t
tn_mail_imap_fetch_modifiers(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg)
{
    tn_mail_imap_arg_t  *a;

    for (a = arg->list; a; a = a->next) {

        if (a->type == TN_MAIL_IMAP_ARG_ATOM
            && a->value.len == 12
            && tn_strncasecmp(a->value.data, (u_char *) "CHANGEDSINCE", 12)
               == 0
            && a->next && a->next->type == TN_MAIL_IMAP_ARG_NUMBER
            && a->next->number <= (uint64_t) INT64_MAX)
        {
            a = a->next;
            f->changedsince = a->number;
            f->modseq = 1;
            f->changed = 1;
            continue;
        }

        if (a->type == TN_MAIL_IMAP_ARG_ATOM
            && a->value.len == 8
            && tn_strncasecmp(a->value.data, (u_char *) "VANISHED", 8) == 0)
        {
            f->vanished = 1;
            continue;
        }

        return tn_mail_imap_fetch_bad(is, "Invalid fetch modifier");
    }

    return TN_OK;
}
