
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_check.h>


/*
 * The message checks (see tn_mail_check.h): the registry, the message a
 * transaction makes for them, the header splitter that shows them the
 * header fields, the phases, and the Authentication-Results field with
 * the removal of forged ones (RFC 8601 5).
 *
 * The header splitter (tn_mail_msg_text) sees the text in any chunks.  A
 * field is a line "name:" (name of printable ASCII but ':', optionally
 * followed by WSP before the colon, RFC 5322 4.5.3) and the lines after
 * it that begin with SP or HT.  The header ends at the first empty line,
 * which belongs to neither part.  A line that is neither a field nor a
 * continuation (no colon, a control or 8-bit byte in the name, a
 * continuation before any field, an mbox "From " line) ends the header
 * as well, and that line is the first line of the body, as Python's
 * email package and most MTAs read it; only the bytes of such a line the
 * splitter kept (at least TN_MAIL_CHECK_PREFIX) are shown as body.  A
 * message without an empty line is all header.
 *
 * The checks see the fields while TN_MAIL_CHECK_FIELDS_MAX fields and
 * TN_MAIL_CHECK_HEADER_MAX bytes hold them; from the first field beyond
 * that on, none (header_truncated).  Forged Authentication-Results are
 * looked for in every field all the same, in its first bytes.
 */


/* bytes of a field kept when it is beyond the limits (A-R detection) */
#define TN_MAIL_CHECK_PREFIX     1024
#define TN_MAIL_CHECK_MAX        16
/* the longest value an Authentication-Results field takes */
#define TN_MAIL_CHECK_VALUE_MAX  256

/* split_state */
#define TN_MAIL_SPLIT_BOL        0    /* a header line starts */
#define TN_MAIL_SPLIT_NAME       1    /* the field name */
#define TN_MAIL_SPLIT_NAME_WS    2    /* WSP between name and colon */
#define TN_MAIL_SPLIT_VALUE      3    /* the rest of the line */
#define TN_MAIL_SPLIT_BODY       4


static tn_int_t tn_mail_msg_field_add(tn_mail_msg_t *msg, u_char *p,
    size_t n);
static tn_int_t tn_mail_msg_field_end(tn_mail_msg_t *msg);
static tn_int_t tn_mail_msg_not_field(tn_mail_msg_t *msg);
static tn_int_t tn_mail_msg_header_end(tn_mail_msg_t *msg);
static tn_int_t tn_mail_msg_body(tn_mail_msg_t *msg, u_char *p, size_t n);
static tn_uint_t tn_mail_msg_ar_ours(tn_mail_msg_t *msg, u_char *p,
    size_t len, tn_uint_t whole);
static tn_int_t tn_mail_msg_cut(tn_mail_msg_t *msg, off_t offset,
    off_t len, off_t lines);
static void tn_mail_msg_run(tn_mail_msg_t *msg);
static void tn_mail_msg_finish(tn_mail_msg_t *msg);
static int tn_mail_msg_cut_cmp(const void *one, const void *two);
static void tn_mail_msg_posted(tn_event_t *ev);
static void tn_mail_msg_failed(tn_mail_msg_t *msg, const char *hook,
    tn_mail_check_t *check);
static u_char *tn_mail_ar_result(u_char *p, tn_mail_auth_result_t *r);
static tn_uint_t tn_mail_ar_safe(tn_str_t *v, tn_uint_t at);
static u_char *tn_mail_ar_value(u_char *p, tn_str_t *v);
static u_char *tn_mail_ar_prop(u_char *p, const char *name, tn_str_t *v);
static u_char *tn_mail_ar_props(u_char *p, tn_str_t *props);
static u_char *tn_mail_ar_reason(u_char *p, tn_str_t *reason);


static tn_mail_check_t  *tn_mail_checks[TN_MAIL_CHECK_MAX];
static tn_uint_t         tn_mail_nchecks;

/* set by the dkim module (tn_mail_check.h) */
tn_mail_msg_resign_pt    tn_mail_msg_resign;

static const char  *tn_mail_auth_names[] = {
    "none", "pass", "fail", "softfail", "neutral", "temperror",
    "permerror", "policy"
};


tn_int_t
tn_mail_check_register(tn_mail_check_t *check)
{
    tn_uint_t  i;

    for (i = 0; i < tn_mail_nchecks; i++) {
        if (tn_mail_checks[i] == check) {
            return TN_OK;
        }
    }

    if (tn_mail_nchecks == TN_MAIL_CHECK_MAX) {
        return TN_ERROR;
    }

    check->index = tn_mail_nchecks;
    tn_mail_checks[tn_mail_nchecks++] = check;

    return TN_OK;
}


void
tn_mail_check_unregister(tn_mail_check_t *check)
{
    tn_uint_t  i, k;

    for (i = 0, k = 0; i < tn_mail_nchecks; i++) {
        if (tn_mail_checks[i] == check) {
            continue;
        }

        tn_mail_checks[k] = tn_mail_checks[i];
        tn_mail_checks[k]->index = k;
        k++;
    }

    tn_mail_nchecks = k;
}


tn_uint_t
tn_mail_check_active(void)
{
    return tn_mail_nchecks != 0;
}


const char *
tn_mail_auth_result_name(tn_uint_t result)
{
    if (result >= sizeof(tn_mail_auth_names) / sizeof(char *)) {
        return "none";
    }

    return tn_mail_auth_names[result];
}


/* the message */

tn_mail_msg_t *
tn_mail_msg_create(tn_pool_t *pool, tn_mail_session_t *s)
{
    tn_mail_msg_t            *msg;
    tn_mail_core_srv_conf_t  *cscf;

    msg = tn_pcalloc(pool, sizeof(tn_mail_msg_t));
    if (msg == NULL) {
        return NULL;
    }

    msg->pool = pool;
    msg->session = s;
    msg->log = s ? s->connection->log : pool->log;

    if (s) {
        cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);
        msg->authserv_id = cscf->server_name;
    }

    msg->fields = tn_array_create(pool, 32, sizeof(tn_str_t));
    msg->field_offsets = tn_array_create(pool, 32, sizeof(off_t));
    msg->results = tn_array_create(pool, 4, sizeof(tn_mail_auth_result_t));
    msg->add_fields = tn_array_create(pool, 2, sizeof(tn_str_t));
    msg->cuts = tn_array_create(pool, 2, sizeof(tn_mail_msg_cut_t));
    msg->ctx = tn_pcalloc(pool, (tn_mail_nchecks + 1) * sizeof(void *));

    if (msg->fields == NULL || msg->field_offsets == NULL
        || msg->results == NULL || msg->add_fields == NULL
        || msg->cuts == NULL || msg->ctx == NULL)
    {
        return NULL;
    }

    msg->split_state = TN_MAIL_SPLIT_BOL;
    msg->verdict = TN_MAIL_VERDICT_ACCEPT;

    msg->posted.data = msg;
    msg->posted.log = msg->log;
    msg->posted.handler = tn_mail_msg_posted;

    return msg;
}


tn_int_t
tn_mail_msg_mail(tn_mail_msg_t *msg)
{
    tn_int_t          rc;
    tn_mail_check_t  *check;

    rc = TN_OK;

    for ( /* void */ ; msg->nmail < tn_mail_nchecks; msg->nmail++) {
        check = tn_mail_checks[msg->nmail];

        if (check->mail && check->mail(msg) == TN_ERROR) {
            tn_mail_msg_failed(msg, "mail", check);
            rc = TN_ERROR;
        }
    }

    return rc;
}


/*
 * The header splitter (see the top of the file).  TN_ERROR when a hook
 * failed: the verdict is then DEFER already, the caller goes on.
 */
tn_int_t
tn_mail_msg_text(tn_mail_msg_t *msg, u_char *p, size_t len)
{
    u_char    *last, *lf, ch;
    size_t     n;
    tn_int_t   rc;

    rc = TN_OK;
    last = p + len;

    while (p < last) {

        switch (msg->split_state) {

        case TN_MAIL_SPLIT_BOL:
            ch = *p;

            if (ch == ' ' || ch == '\t') {
                if (msg->field_full == 0) {
                    /* a continuation before any field */
                    if (tn_mail_msg_not_field(msg) != TN_OK) {
                        rc = TN_ERROR;
                    }

                    break;
                }

                msg->split_state = TN_MAIL_SPLIT_VALUE;
                break;
            }

            if (msg->field_full && tn_mail_msg_field_end(msg) != TN_OK) {
                rc = TN_ERROR;
            }

            if (ch == '\n') {
                /* the empty line */
                p++;
                msg->size++;

                if (tn_mail_msg_header_end(msg) != TN_OK) {
                    rc = TN_ERROR;
                }

                break;
            }

            msg->field_start = msg->size;
            msg->split_state = TN_MAIL_SPLIT_NAME;

            /* fall through */

        case TN_MAIL_SPLIT_NAME:
        case TN_MAIL_SPLIT_NAME_WS:

            ch = *p;

            if (ch == ':' && msg->field_full) {
                msg->split_state = TN_MAIL_SPLIT_VALUE;

            } else if (ch == ' ' || ch == '\t') {
                if (msg->field_full == 0) {
                    if (tn_mail_msg_not_field(msg) != TN_OK) {
                        rc = TN_ERROR;
                    }

                    break;
                }

                msg->split_state = TN_MAIL_SPLIT_NAME_WS;

            } else if (ch < 0x21 || ch > 0x7e || ch == ':'
                       || msg->split_state == TN_MAIL_SPLIT_NAME_WS)
            {
                if (tn_mail_msg_not_field(msg) != TN_OK) {
                    rc = TN_ERROR;
                }

                break;
            }

            if (tn_mail_msg_field_add(msg, p, 1) != TN_OK) {
                rc = TN_ERROR;
            }

            p++;
            msg->size++;
            break;

        case TN_MAIL_SPLIT_VALUE:
            lf = tn_strlchr(p, last, '\n');
            n = (lf ? lf + 1 : last) - p;

            if (tn_mail_msg_field_add(msg, p, n) != TN_OK) {
                rc = TN_ERROR;
            }

            p += n;
            msg->size += n;

            if (lf) {
                msg->field_lines++;
                msg->split_state = TN_MAIL_SPLIT_BOL;
            }

            break;

        default: /* TN_MAIL_SPLIT_BODY */
            if (tn_mail_msg_body(msg, p, last - p) != TN_OK) {
                rc = TN_ERROR;
            }

            msg->size += last - p;
            msg->body_size += last - p;
            p = last;
            break;
        }
    }

    return rc;
}


/*
 * Keeps the bytes of the field being read while the limits allow, at
 * least its first TN_MAIL_CHECK_PREFIX.
 */
static tn_int_t
tn_mail_msg_field_add(tn_mail_msg_t *msg, u_char *p, size_t n)
{
    u_char  *buf;
    size_t   limit, size;

    msg->field_full += n;

    limit = TN_MAIL_CHECK_PREFIX;

    if (!msg->header_truncated
        && msg->fields->nelts < TN_MAIL_CHECK_FIELDS_MAX
        && TN_MAIL_CHECK_HEADER_MAX - msg->header_bytes > limit)
    {
        limit = TN_MAIL_CHECK_HEADER_MAX - msg->header_bytes;
    }

    if (n > limit - msg->field_len) {
        n = limit - msg->field_len;
    }

    if (n == 0) {
        return TN_OK;
    }

    if (msg->field_len + n > msg->field_size) {
        size = msg->field_size ? msg->field_size : 256;

        while (size < msg->field_len + n) {
            size *= 2;
        }

        if (size > limit) {
            size = limit;
        }

        buf = tn_pnalloc(msg->pool, size);
        if (buf == NULL) {
            return TN_ERROR;
        }

        if (msg->field_len) {
            tn_memcpy(buf, msg->field, msg->field_len);
        }

        if (msg->field) {
            (void) tn_pfree(msg->pool, msg->field);
        }

        msg->field = buf;
        msg->field_size = size;
    }

    tn_memcpy(msg->field + msg->field_len, p, n);
    msg->field_len += n;

    return TN_OK;
}


/* a whole field was read: to the checks, and a forged A-R is cut */
static tn_int_t
tn_mail_msg_field_end(tn_mail_msg_t *msg)
{
    off_t            *off;
    tn_int_t          rc;
    tn_str_t         *f;
    tn_uint_t         i, n;
    tn_mail_check_t  *check;

    rc = TN_OK;

    if (!msg->outgoing && msg->authserv_id.len
        && tn_mail_msg_ar_ours(msg, msg->field, msg->field_len,
                               msg->field_full == (off_t) msg->field_len))
    {
        tn_log_error(TN_LOG_INFO, msg->log, 0,
                     "message %V: a forged Authentication-Results field "
                     "for \"%V\" is removed", &msg->id, &msg->authserv_id);

        if (tn_mail_msg_cut(msg, msg->field_start, msg->field_full,
                            msg->field_lines)
            != TN_OK)
        {
            rc = TN_ERROR;
        }
    }

    if (msg->header_truncated
        || msg->field_full != (off_t) msg->field_len
        || msg->fields->nelts == TN_MAIL_CHECK_FIELDS_MAX
        || msg->header_bytes + msg->field_len > TN_MAIL_CHECK_HEADER_MAX)
    {
        msg->header_truncated = 1;
        goto done;
    }

    f = tn_array_push(msg->fields);
    off = tn_array_push(msg->field_offsets);
    if (f == NULL || off == NULL) {
        msg->field_full = 0;
        return TN_ERROR;
    }

    f->len = msg->field_len;
    f->data = tn_pnalloc(msg->pool, f->len);
    if (f->data == NULL) {
        msg->field_full = 0;
        return TN_ERROR;
    }

    tn_memcpy(f->data, msg->field, f->len);
    *off = msg->field_start;
    msg->header_bytes += f->len;

    n = msg->fields->nelts - 1;

    for (i = 0; i < msg->nmail; i++) {
        check = tn_mail_checks[i];

        /* a pointer into the array: a later push may move the array */
        f = (tn_str_t *) msg->fields->elts + n;

        if (check->header && check->header(msg, f) == TN_ERROR) {
            tn_mail_msg_failed(msg, "header", check);
            rc = TN_ERROR;
        }
    }

done:

    msg->field_len = 0;
    msg->field_full = 0;
    msg->field_lines = 0;

    return rc;
}


/* the line being read is no field: it is the first line of the body */
static tn_int_t
tn_mail_msg_not_field(tn_mail_msg_t *msg)
{
    tn_int_t  rc;
    size_t    len;

    len = msg->field_len;
    msg->field_len = 0;
    msg->field_full = 0;
    msg->field_lines = 0;

    rc = tn_mail_msg_header_end(msg);

    if (len && tn_mail_msg_body(msg, msg->field, len) != TN_OK) {
        rc = TN_ERROR;
    }

    msg->body_size += len;

    return rc;
}


static tn_int_t
tn_mail_msg_header_end(tn_mail_msg_t *msg)
{
    tn_int_t          rc;
    tn_uint_t         i;
    tn_mail_check_t  *check;

    msg->split_state = TN_MAIL_SPLIT_BODY;

    if (msg->header_done) {
        return TN_OK;
    }

    msg->header_done = 1;
    rc = TN_OK;

    for (i = 0; i < msg->nmail; i++) {
        check = tn_mail_checks[i];

        if (check->header_end && check->header_end(msg) == TN_ERROR) {
            tn_mail_msg_failed(msg, "header_end", check);
            rc = TN_ERROR;
        }
    }

    return rc;
}


static tn_int_t
tn_mail_msg_body(tn_mail_msg_t *msg, u_char *p, size_t n)
{
    tn_int_t          rc;
    tn_uint_t         i;
    tn_mail_check_t  *check;

    rc = TN_OK;

    for (i = 0; i < msg->nmail; i++) {
        check = tn_mail_checks[i];

        if (check->body && check->body(msg, p, n) == TN_ERROR) {
            tn_mail_msg_failed(msg, "body", check);
            rc = TN_ERROR;
        }
    }

    return rc;
}


/*
 * An Authentication-Results field whose authserv-id is ours (RFC 8601
 * 2.2, compared without case).  The id comes after CFWS (comments may
 * nest); whole is 0 when p holds only the first bytes of the field: an
 * id that runs to their end is taken as ours.
 */
static tn_uint_t
tn_mail_msg_ar_ours(tn_mail_msg_t *msg, u_char *p, size_t len,
    tn_uint_t whole)
{
    u_char     *last, *s, ch;
    size_t      n;
    tn_uint_t   depth;
    u_char      id[TN_MAIL_CHECK_VALUE_MAX];

    static u_char  name[] = "Authentication-Results";

    last = p + len;

    if (len < sizeof(name) - 1
        || tn_strncasecmp(p, name, sizeof(name) - 1) != 0)
    {
        return 0;
    }

    p += sizeof(name) - 1;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p == last || *p++ != ':') {
        return 0;
    }

    /* CFWS */

    depth = 0;

    for ( /* void */ ; p < last; p++) {
        ch = *p;

        if (depth) {
            if (ch == '\\') {
                p++;
            } else if (ch == '(') {
                depth++;
            } else if (ch == ')') {
                depth--;
            }

            continue;
        }

        if (ch == '(') {
            depth++;
            continue;
        }

        if (ch != ' ' && ch != '\t' && ch != '\n') {
            break;
        }
    }

    if (p >= last) {
        return !whole;
    }

    n = 0;

    if (*p == '"') {
        for (p++; p < last && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < last) {
                p++;
            }

            if (n == sizeof(id)) {
                return 0;
            }

            id[n++] = *p;
        }

        if (p == last) {
            return !whole;
        }

    } else {
        for (s = p; p < last; p++) {
            ch = *p;

            if (ch <= ' ' || ch >= 0x7f || ch == ';' || ch == '(') {
                break;
            }
        }

        if (p == last && !whole) {
            return 1;
        }

        n = p - s;

        if (n > sizeof(id)) {
            return 0;
        }

        tn_memcpy(id, s, n);
    }

    return n == msg->authserv_id.len
           && tn_strncasecmp(id, msg->authserv_id.data, n) == 0;
}


/* the helpers for checks */

tn_mail_auth_result_t *
tn_mail_msg_add_result(tn_mail_msg_t *msg, const char *method,
    tn_uint_t result)
{
    tn_mail_auth_result_t  *r;

    r = tn_array_push(msg->results);
    if (r == NULL) {
        return NULL;
    }

    tn_memzero(r, sizeof(tn_mail_auth_result_t));

    r->method = method;
    r->result = result;
    r->domain.data = (u_char *) "";
    r->selector.data = (u_char *) "";
    r->b.data = (u_char *) "";
    r->props.data = (u_char *) "";
    r->reason.data = (u_char *) "";

    return r;
}


/*
 * "Name: value\n" with folded lines: the name is printable ASCII, every
 * LF but the last is followed by SP or HT, no CR or NUL.  A field without
 * the last LF gets one.
 */
tn_int_t
tn_mail_msg_add_field(tn_mail_msg_t *msg, u_char *field, size_t len)
{
    u_char    *p, *last, *colon;
    tn_str_t  *f;

    if (len && field[len - 1] == '\n') {
        len--;
    }

    last = field + len;
    colon = tn_strlchr(field, last, ':');

    if (colon == NULL || colon == field) {
        goto invalid;
    }

    for (p = field; p < colon; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            goto invalid;
        }
    }

    for (p = colon; p < last; p++) {
        if (*p == '\0' || *p == '\r'
            || (*p == '\n' && (p + 1 == last
                               || (p[1] != ' ' && p[1] != '\t'))))
        {
            goto invalid;
        }
    }

    f = tn_array_push(msg->add_fields);
    if (f == NULL) {
        return TN_ERROR;
    }

    f->data = tn_pnalloc(msg->pool, len + 1);
    if (f->data == NULL) {
        msg->add_fields->nelts--;
        return TN_ERROR;
    }

    tn_memcpy(f->data, field, len);
    f->data[len] = '\n';
    f->len = len + 1;

    return TN_OK;

invalid:

    tn_log_error(TN_LOG_ALERT, msg->log, 0,
                 "message %V: a check added an invalid header field \"%*s\"",
                 &msg->id, tn_min(len, 64), field);

    return TN_ERROR;
}


tn_int_t
tn_mail_msg_cut_field(tn_mail_msg_t *msg, tn_uint_t n)
{
    off_t     lines, *off;
    u_char   *p, *last;
    tn_str_t  *f;

    if (n >= msg->fields->nelts) {
        return TN_ERROR;
    }

    f = (tn_str_t *) msg->fields->elts + n;
    off = (off_t *) msg->field_offsets->elts + n;

    lines = 0;
    last = f->data + f->len;

    for (p = f->data; p < last; p++) {
        if (*p == '\n') {
            lines++;
        }
    }

    return tn_mail_msg_cut(msg, *off, f->len, lines);
}


static tn_int_t
tn_mail_msg_cut(tn_mail_msg_t *msg, off_t offset, off_t len, off_t lines)
{
    tn_mail_msg_cut_t  *cut;

    cut = tn_array_push(msg->cuts);
    if (cut == NULL) {
        return TN_ERROR;
    }

    cut->offset = offset;
    cut->len = len;
    cut->lines = lines;

    return TN_OK;
}


void
tn_mail_msg_verdict(tn_mail_msg_t *msg, tn_uint_t verdict, const char *reply)
{
    u_char  *p;
    size_t   len;

    if (verdict <= msg->verdict && msg->reply.len) {
        return;
    }

    if (verdict < msg->verdict) {
        return;
    }

    if (reply == NULL) {
        reply = (verdict == TN_MAIL_VERDICT_REJECT)
                ? "550 5.7.1 Message rejected"
                : (verdict == TN_MAIL_VERDICT_DEFER)
                  ? "451 4.7.1 Try again later" : "";
    }

    len = tn_min(tn_strlen(reply), 512);

    p = tn_pnalloc(msg->pool, len);
    if (p == NULL) {
        /* the verdict holds all the same, with the reply of its class */
        msg->verdict = verdict;
        if (verdict == TN_MAIL_VERDICT_REJECT) {
            tn_str_set(&msg->reply, "550 5.7.1 Message rejected");

        } else {
            tn_str_set(&msg->reply, "451 4.3.0 Error: try again later");
        }

        return;
    }

    msg->verdict = verdict;
    msg->reply.data = p;
    msg->reply.len = len;

    /* a reply is one line of printable text */
    for ( /* void */ ; len; len--, reply++) {
        *p++ = (*reply < 0x20 || *reply == 0x7f) ? ' ' : *reply;
    }
}


static void
tn_mail_msg_failed(tn_mail_msg_t *msg, const char *hook,
    tn_mail_check_t *check)
{
    tn_log_error(TN_LOG_ERR, msg->log, 0, "message %V: check \"%s\" failed "
                 "in %s()", &msg->id, check->name, hook);

    tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_DEFER,
                        "451 4.3.0 Error: message check failed, try again "
                        "later");
}


/* the end of the message: every check's end() in turn */

void
tn_mail_msg_end(tn_mail_msg_t *msg, void (*done)(tn_mail_msg_t *msg),
    void *data)
{
    msg->done = done;
    msg->data = data;
    msg->current = 0;

    /* the last field, when the text has no empty line */

    switch (msg->split_state) {

    case TN_MAIL_SPLIT_NAME:
    case TN_MAIL_SPLIT_NAME_WS:
        (void) tn_mail_msg_not_field(msg);
        break;

    case TN_MAIL_SPLIT_BODY:
        break;

    default:
        if (msg->field_full) {
            (void) tn_mail_msg_field_end(msg);
        }

        (void) tn_mail_msg_header_end(msg);
        break;
    }

    tn_mail_msg_run(msg);
}


/*
 * Runs end() from msg->current on.  A check that calls
 * tn_mail_check_done() from inside its end() (before returning TN_AGAIN)
 * is taken as done.
 */
static void
tn_mail_msg_run(tn_mail_msg_t *msg)
{
    tn_int_t          rc;
    tn_mail_check_t  *check;

    msg->running = 1;

    for ( /* void */ ; msg->current < msg->nmail; msg->current++) {
        check = tn_mail_checks[msg->current];

        if (check->end == NULL) {
            continue;
        }

        msg->done_early = 0;

        rc = check->end(msg);

        if (rc == TN_AGAIN && !msg->done_early) {
            msg->waiting = 1;
            msg->running = 0;
            return;
        }

        if (rc == TN_ERROR) {
            tn_mail_msg_failed(msg, "end", check);
        }
    }

    msg->running = 0;

    tn_mail_msg_finish(msg);

    /* done() runs from the event loop, never inside the caller */
    tn_post_event(&msg->posted, &tn_posted_events);
}


void
tn_mail_check_done(tn_mail_msg_t *msg)
{
    if (msg->cleaned) {
        return;
    }

    if (msg->running) {
        msg->done_early = 1;
        return;
    }

    if (!msg->waiting) {
        tn_log_error(TN_LOG_ALERT, msg->log, 0, "message %V: a check is "
                     "done that did not wait", &msg->id);
        return;
    }

    msg->waiting = 0;
    msg->current++;

    tn_mail_msg_run(msg);
}


/* the Authentication-Results field, the cuts in order */
static void
tn_mail_msg_finish(tn_mail_msg_t *msg)
{
    tn_str_t            field;
    tn_uint_t           i, k;
    tn_mail_msg_cut_t  *cut;

    if (!msg->outgoing && msg->results->nelts && msg->authserv_id.len) {
        if (tn_mail_msg_auth_results(msg, &msg->authserv_id, &field)
            != TN_OK
            || tn_mail_msg_add_field(msg, field.data, field.len) != TN_OK)
        {
            tn_log_error(TN_LOG_CRIT, msg->log, 0, "message %V: no "
                         "Authentication-Results field", &msg->id);
        }
    }

    /* cut_field() and the forged fields may name a field twice */

    cut = msg->cuts->elts;

    qsort(cut, msg->cuts->nelts, sizeof(tn_mail_msg_cut_t),
          tn_mail_msg_cut_cmp);

    for (i = 0, k = 0; i < msg->cuts->nelts; i++) {
        if (k && cut[i].offset < cut[k - 1].offset + cut[k - 1].len) {
            continue;
        }

        cut[k++] = cut[i];
    }

    msg->cuts->nelts = k;
}


static int
tn_mail_msg_cut_cmp(const void *one, const void *two)
{
    const tn_mail_msg_cut_t  *a = one, *b = two;

    return (a->offset > b->offset) - (a->offset < b->offset);
}


static void
tn_mail_msg_posted(tn_event_t *ev)
{
    tn_mail_msg_t  *msg;

    msg = ev->data;

    if (msg->cleaned || msg->done == NULL) {
        return;
    }

    msg->done(msg);
}


void
tn_mail_msg_cleanup(tn_mail_msg_t *msg)
{
    tn_uint_t         i;
    tn_mail_check_t  *check;

    if (msg == NULL || msg->cleaned) {
        return;
    }

    msg->cleaned = 1;
    msg->done = NULL;

    if (msg->posted.posted) {
        tn_delete_posted_event(&msg->posted);
    }

    for (i = 0; i < msg->nmail; i++) {
        check = tn_mail_checks[i];

        if (check->cleanup) {
            check->cleanup(msg);
        }
    }
}


/*
 * Authentication-Results (RFC 8601 2.2):
 *   Authentication-Results: <authserv-id>;
 *           spf=pass smtp.mailfrom=example.test;
 *           dkim=pass header.d=example.test header.s=sel header.b=AbCd;
 *           dmarc=pass header.from=example.test
 * with reasons as reason="..." after the result.  Every value is written
 * as a token when it is one, else as a quoted-string; a value with
 * control or 8-bit bytes, or longer than TN_MAIL_CHECK_VALUE_MAX, is left
 * out (a reason has those bytes replaced by '?' and is cut).
 */
tn_int_t
tn_mail_msg_auth_results(tn_mail_msg_t *msg, tn_str_t *authserv_id,
    tn_str_t *field)
{
    u_char                 *p, *start;
    size_t                  len;
    tn_uint_t               i;
    tn_mail_auth_result_t  *r;

    r = msg->results->elts;

    if (msg->results->nelts == 0) {
        field->len = 0;
        field->data = (u_char *) "";
        return TN_OK;
    }

    /* each value quoted at most doubles, plus its name and quotes */

    len = sizeof("Authentication-Results: \n") + 2 * authserv_id->len + 2;

    for (i = 0; i < msg->results->nelts; i++) {
        len += 64 + 2 * (r[i].domain.len + r[i].selector.len + r[i].b.len)
               + 3 * r[i].props.len + 2 * TN_MAIL_CHECK_VALUE_MAX + 128;
    }

    start = tn_pnalloc(msg->pool, len);
    if (start == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(start, "Authentication-Results: ",
                  sizeof("Authentication-Results: ") - 1);

    if (tn_mail_ar_safe(authserv_id, 0) == 0) {
        tn_log_error(TN_LOG_ALERT, msg->log, 0, "server_name \"%V\" is no "
                     "authserv-id", authserv_id);
        return TN_ERROR;
    }

    p = tn_mail_ar_value(p, authserv_id);

    for (i = 0; i < msg->results->nelts; i++) {
        p = tn_mail_ar_result(p, &r[i]);
    }

    *p++ = '\n';

    field->data = start;
    field->len = p - start;

    return TN_OK;
}


/* ";\n\tmethod=result reason="..." ptype.property=value ..." */
static u_char *
tn_mail_ar_result(u_char *p, tn_mail_auth_result_t *r)
{
    const char  *m;
    tn_str_t     domain;

    for (m = r->method; *m; m++) {
        if (!((*m >= 'a' && *m <= 'z') || (*m >= '0' && *m <= '9')
              || *m == '-' || *m == '_'))
        {
            return p;
        }
    }

    if (m == r->method) {
        return p;
    }

    p = tn_sprintf(p, ";\n\t%s=%s", r->method,
                   tn_mail_auth_result_name(r->result));

    p = tn_mail_ar_reason(p, &r->reason);

    domain = r->domain;

    if (tn_strcmp(r->method, "dkim") == 0) {
        p = tn_mail_ar_prop(p, "header.d", &domain);
        p = tn_mail_ar_prop(p, "header.s", &r->selector);
        p = tn_mail_ar_prop(p, "header.b", &r->b);
        domain.len = 0;
    }

    if (r->props.len) {
        return tn_mail_ar_props(p, &r->props);
    }

    if (tn_strcmp(r->method, "spf") == 0) {
        return tn_mail_ar_prop(p, "smtp.mailfrom", &domain);
    }

    if (tn_strcmp(r->method, "dmarc") == 0) {
        return tn_mail_ar_prop(p, "header.from", &domain);
    }

    return p;
}


/*
 * 0: not to be written (empty, too long, control or 8-bit bytes); 1: a
 * token (RFC 2045; with at, a pvalue may have '@' too); 2: to be quoted
 */
static tn_uint_t
tn_mail_ar_safe(tn_str_t *v, tn_uint_t at)
{
    u_char     ch;
    size_t     i;
    tn_uint_t  rc;

    if (v->len == 0 || v->len > TN_MAIL_CHECK_VALUE_MAX) {
        return 0;
    }

    rc = 1;

    for (i = 0; i < v->len; i++) {
        ch = v->data[i];

        if (ch < 0x20 || ch >= 0x7f) {
            return 0;
        }

        if (ch == '@' && at) {
            continue;
        }

        if (tn_strchr("()<>@,;:\\\"/[]?= ", ch)) {
            rc = 2;
        }
    }

    return rc;
}


/* a value tn_mail_ar_safe() allowed: as it is, or quoted */
static u_char *
tn_mail_ar_value(u_char *p, tn_str_t *v)
{
    size_t     i;
    tn_uint_t  quote;

    quote = (tn_mail_ar_safe(v, 1) == 2);

    if (!quote) {
        return tn_cpymem(p, v->data, v->len);
    }

    *p++ = '"';

    for (i = 0; i < v->len; i++) {
        if (v->data[i] == '"' || v->data[i] == '\\') {
            *p++ = '\\';
        }

        *p++ = v->data[i];
    }

    *p++ = '"';

    return p;
}


static u_char *
tn_mail_ar_prop(u_char *p, const char *name, tn_str_t *v)
{
    if (tn_mail_ar_safe(v, 1) == 0) {
        return p;
    }

    p = tn_sprintf(p, " %s=", name);

    return tn_mail_ar_value(p, v);
}


/*
 * The props a check gave: "ptype.property=value" items separated by
 * spaces; an item whose name is not [A-Za-z0-9._-] with a dot, or whose
 * value is not safe, is left out.
 */
static u_char *
tn_mail_ar_props(u_char *p, tn_str_t *props)
{
    u_char    *s, *last, *eq, *end, ch;
    tn_str_t   v;
    tn_uint_t  dot;

    s = props->data;
    last = s + props->len;

    while (s < last) {

        while (s < last && (*s == ' ' || *s == '\t')) {
            s++;
        }

        for (end = s; end < last && *end != ' ' && *end != '\t'; end++) {
            /* void */
        }

        eq = tn_strlchr(s, end, '=');
        dot = 0;

        if (eq && eq > s) {
            for (v.data = s; v.data < eq; v.data++) {
                ch = *v.data;

                if (ch == '.') {
                    /* ptype "." property, neither empty */
                    dot = (v.data > s && v.data + 1 < eq);
                    if (!dot) {
                        break;
                    }

                } else if (!((ch >= 'a' && ch <= 'z')
                             || (ch >= 'A' && ch <= 'Z')
                             || (ch >= '0' && ch <= '9')
                             || ch == '-' || ch == '_'))
                {
                    dot = 0;
                    break;
                }
            }
        }

        if (dot) {
            v.data = eq + 1;
            v.len = end - v.data;

            if (tn_mail_ar_safe(&v, 1)) {
                *p++ = ' ';
                p = tn_cpymem(p, s, eq + 1 - s);
                p = tn_mail_ar_value(p, &v);
            }
        }

        s = end;
    }

    return p;
}


/* reason="..." (RFC 8601 2.2 reasonspec), printable ASCII only */
static u_char *
tn_mail_ar_reason(u_char *p, tn_str_t *reason)
{
    u_char  ch;
    size_t  i, len;

    if (reason->len == 0) {
        return p;
    }

    len = tn_min(reason->len, TN_MAIL_CHECK_VALUE_MAX);

    p = tn_cpymem(p, " reason=\"", sizeof(" reason=\"") - 1);

    for (i = 0; i < len; i++) {
        ch = reason->data[i];

        if (ch < 0x20 || ch >= 0x7f) {
            ch = '?';

        } else if (ch == '"' || ch == '\\') {
            *p++ = '\\';
        }

        *p++ = ch;
    }

    *p++ = '"';

    return p;
}
