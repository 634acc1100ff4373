
/*
 * Copyright (C) The Tern developers
 */


/*
 * The message checks (src/mail/tn_mail_check.c): the registry, the header
 * splitter (every message fed whole, byte by byte and in random splits
 * must give the same fields, offsets and body), its limits, the phases
 * (end() waiting, failing, the continuation from a posted event, cleanup
 * while waiting), the Authentication-Results field with hostile values
 * and the removal of forged ones.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_check.h>


#define TEST_MODES  5               /* whole, byte, three random splits */
#define TEST_OUT    (1024 * 1024)


typedef struct {
    u_char        *data;
    size_t         len;
} test_buf_t;


/* what the recording check saw */
typedef struct {
    u_char         out[TEST_OUT];
    size_t         len;
    tn_uint_t      header_end;
    tn_uint_t      cleanup;
    tn_uint_t      end;
    tn_int_t       end_rc;          /* what end() returns */
    tn_int_t       header_rc;
} test_rec_t;


static tn_uint_t   tests;
static tn_uint_t   failed;
static tn_log_t    test_log;
static test_rec_t  rec[2];
static tn_uint_t   done_calls;


static void
test_ok(tn_uint_t ok, const char *name)
{
    tests++;

    if (!ok) {
        failed++;
    }

    printf("%sok %u - %s\n", ok ? "" : "not ", (unsigned) tests, name);
}


static void
test_out(test_rec_t *r, const void *p, size_t len)
{
    if (r->len + len <= TEST_OUT) {
        memcpy(r->out + r->len, p, len);
        r->len += len;
    }
}


static tn_int_t
test_header(tn_mail_msg_t *msg, tn_str_t *f)
{
    test_out(&rec[0], "[", 1);
    test_out(&rec[0], f->data, f->len);
    test_out(&rec[0], "]", 1);

    return rec[0].header_rc;
}


static tn_int_t
test_header_end(tn_mail_msg_t *msg)
{
    rec[0].header_end++;
    test_out(&rec[0], "{EOH}", 5);

    return TN_OK;
}


static tn_int_t
test_body(tn_mail_msg_t *msg, u_char *p, size_t len)
{
    test_out(&rec[0], p, len);

    return TN_OK;
}


static tn_int_t
test_end0(tn_mail_msg_t *msg)
{
    tn_mail_auth_result_t  *r;

    rec[0].end++;

    r = tn_mail_msg_add_result(msg, "spf", TN_MAIL_AUTH_PASS);
    if (r == NULL) {
        return TN_ERROR;
    }

    tn_str_set(&r->domain, "example.org");

    return rec[0].end_rc;
}


static tn_int_t
test_end1(tn_mail_msg_t *msg)
{
    rec[1].end++;

    return rec[1].end_rc;
}


static void
test_cleanup0(tn_mail_msg_t *msg)
{
    rec[0].cleanup++;
}


static void
test_cleanup1(tn_mail_msg_t *msg)
{
    rec[1].cleanup++;
}


static tn_mail_check_t  test_check0 = {
    "rec", NULL, test_header, test_header_end, test_body, test_end0,
    test_cleanup0, 0
};

static tn_mail_check_t  test_check1 = {
    "second", NULL, NULL, NULL, NULL, test_end1, test_cleanup1, 0
};


static void
test_done(tn_mail_msg_t *msg)
{
    done_calls++;
}


static tn_mail_msg_t *
test_msg(tn_pool_t *pool, tn_uint_t outgoing)
{
    tn_mail_msg_t  *msg;

    msg = tn_mail_msg_create(pool, NULL);
    if (msg == NULL) {
        return NULL;
    }

    tn_str_set(&msg->id, "TESTID");
    tn_str_set(&msg->authserv_id, "mail.example.test");
    msg->outgoing = outgoing;

    memset(rec, 0, sizeof(rec));

    if (tn_mail_msg_mail(msg) != TN_OK) {
        return NULL;
    }

    return msg;
}


/* feeds text in the mode's chunks; returns the msg, the header closed */
static tn_mail_msg_t *
test_feed(tn_pool_t *pool, const char *text, size_t len, tn_uint_t mode,
    tn_uint_t outgoing)
{
    size_t          pos, n;
    tn_mail_msg_t  *msg;

    msg = test_msg(pool, outgoing);
    if (msg == NULL) {
        return NULL;
    }

    srandom(mode);

    for (pos = 0; pos < len; pos += n) {
        if (mode == 0) {
            n = len;

        } else if (mode == 1) {
            n = 1;

        } else {
            n = 1 + random() % 40;
        }

        if (n > len - pos) {
            n = len - pos;
        }

        (void) tn_mail_msg_text(msg, (u_char *) text + pos, n);
    }

    rec[0].end_rc = TN_OK;
    rec[1].end_rc = TN_OK;

    tn_mail_msg_end(msg, test_done, NULL);
    tn_event_process_posted(NULL, &tn_posted_events);

    return msg;
}


/* the splitter: fields in [], {EOH}, then the body */

static struct {
    const char  *name;
    const char  *text;
    const char  *expect;
    const char  *offsets;          /* of the fields, "0,10," */
} test_cases[] = {

    { "simple",
      "From: a@b\nTo: c@d\n\nbody\nline\n",
      "[From: a@b\n][To: c@d\n]{EOH}body\nline\n", "0,10," },

    { "folded",
      "Subject: one\n two\n\tthree\nX: y\n\nb\n",
      "[Subject: one\n two\n\tthree\n][X: y\n]{EOH}b\n", "0,25," },

    { "no body",
      "A: 1\nB: 2\n",
      "[A: 1\n][B: 2\n]{EOH}", "0,5," },

    { "empty body",
      "A: 1\n\n",
      "[A: 1\n]{EOH}", "0," },

    { "no final LF",
      "A: 1\nB: x",
      "[A: 1\n][B: x]{EOH}", "0,5," },

    { "WSP before the colon",
      "Subject : x\n\nb",
      "[Subject : x\n]{EOH}b", "0," },

    { "not a field ends the header",
      "A: 1\nthis is no field\nB: 2\n",
      "[A: 1\n]{EOH}this is no field\nB: 2\n", "0," },

    { "mbox From line",
      "From someone Sat\nA: 1\n\nx\n",
      "{EOH}From someone Sat\nA: 1\n\nx\n", "" },

    { "continuation first",
      " A: 1\n\nx\n",
      "{EOH} A: 1\n\nx\n", "" },

    { "empty message",
      "",
      "{EOH}", "" },

    { "empty line only",
      "\nbody\n",
      "{EOH}body\n", "" },

    { "colon first",
      ":x\nA: 1\n",
      "{EOH}:x\nA: 1\n", "" },

    { "8-bit in the name",
      "A\xc3\xa4: 1\n\n",
      "{EOH}A\xc3\xa4: 1\n\n", "" },

    { "name then space then text",
      "A b: 1\n\n",
      "{EOH}A b: 1\n\n", "" },

    { "body with an empty first line",
      "A: 1\n\n\nx",
      "[A: 1\n]{EOH}\nx", "0," }
};


static void
test_splitter(tn_pool_t *pool)
{
    u_char          offs[256], *p;
    size_t          i, k, elen;
    off_t          *off;
    tn_uint_t       mode, ok;
    tn_mail_msg_t  *msg;
    char            name[256];

    for (i = 0; i < sizeof(test_cases) / sizeof(test_cases[0]); i++) {
        elen = strlen(test_cases[i].expect);
        ok = 1;

        for (mode = 0; mode < TEST_MODES; mode++) {
            msg = test_feed(pool, test_cases[i].text,
                            strlen(test_cases[i].text), mode, 0);

            if (msg == NULL || rec[0].len != elen
                || memcmp(rec[0].out, test_cases[i].expect, elen) != 0
                || rec[0].header_end != 1)
            {
                ok = 0;
                break;
            }

            off = msg->field_offsets->elts;
            p = offs;

            for (k = 0; k < msg->field_offsets->nelts; k++) {
                p = tn_sprintf(p, "%O,", off[k]);
            }

            if ((size_t) (p - offs) != strlen(test_cases[i].offsets)
                || memcmp(offs, test_cases[i].offsets, p - offs) != 0
                || msg->size != (off_t) strlen(test_cases[i].text))
            {
                ok = 0;
                break;
            }
        }

        if (ok) {
            snprintf(name, sizeof(name), "splitter: %s", test_cases[i].name);

        } else {
            snprintf(name, sizeof(name), "splitter: %s (mode %u)",
                     test_cases[i].name, (unsigned) mode);
        }

        test_ok(ok, name);
    }
}


static void
test_limits(tn_pool_t *pool)
{
    u_char         *text, *p;
    size_t          i, len;
    tn_uint_t       mode, ok;
    tn_mail_msg_t  *msg;

    /* 1100 fields: 1000 are kept, then none */

    text = malloc(64 * 1100 + 16);
    p = text;

    for (i = 0; i < 1100; i++) {
        p += sprintf((char *) p, "X-N: %u\n", (unsigned) i);
    }

    p += sprintf((char *) p, "\nbody");
    len = p - text;

    ok = 1;

    for (mode = 0; mode < 3; mode++) {
        msg = test_feed(pool, (char *) text, len, mode, 0);

        if (msg == NULL || msg->fields->nelts != TN_MAIL_CHECK_FIELDS_MAX
            || !msg->header_truncated || msg->body_size != 4
            || rec[0].len < 4
            || memcmp(rec[0].out + rec[0].len - 9, "{EOH}body", 9) != 0)
        {
            ok = 0;
        }
    }

    test_ok(ok, "limits: fields beyond TN_MAIL_CHECK_FIELDS_MAX");
    free(text);

    /* a field larger than the header limit, then a small one */

    len = TN_MAIL_CHECK_HEADER_MAX + 100;
    text = malloc(len + 64);
    p = tn_cpymem(text, "A: 1\nBig: ", 10);
    memset(p, 'x', len);
    p += len;
    p += sprintf((char *) p, "\nC: 3\n\nb");
    len = p - text;

    ok = 1;

    for (mode = 0; mode < 3; mode += 2) {
        msg = test_feed(pool, (char *) text, len, mode, 0);

        if (msg == NULL || msg->fields->nelts != 1
            || !msg->header_truncated || msg->body_size != 1
            || rec[0].len != sizeof("[A: 1\n]{EOH}b") - 1)
        {
            ok = 0;
        }
    }

    test_ok(ok, "limits: a field beyond TN_MAIL_CHECK_HEADER_MAX");
    free(text);
}


/* forged Authentication-Results */

static void
test_forged(tn_pool_t *pool)
{
    size_t              i;
    tn_uint_t           mode, ok;
    tn_mail_msg_t      *msg;
    tn_mail_msg_cut_t  *cut;
    u_char             *q;
    char                big[3000];

    static const char  text[] =
        "Authentication-Results: mail.example.test; spf=pass\n"
        "Received: x\n"
        "authentication-results : (c (nested) \\) x) \"MAIL.example.TEST\";"
        "\n dkim=pass\n"
        "Authentication-Results: other.test; spf=pass\n"
        "Authentication-Results: mail.example.testx; spf=pass\n"
        "Authentication-Results:\n\tmail.example.test;\n\tspf=pass\n"
        "Authentication-Results-X: mail.example.test\n"
        "\n"
        "Authentication-Results: mail.example.test; in the body\n";

    ok = 1;

    for (mode = 0; mode < TEST_MODES; mode++) {
        msg = test_feed(pool, text, sizeof(text) - 1, mode, 0);

        if (msg == NULL || msg->cuts->nelts != 3) {
            ok = 0;
            break;
        }

        cut = msg->cuts->elts;

        if (cut[0].offset != 0 || cut[0].len != 52 || cut[0].lines != 1
            || cut[1].offset != 64 || cut[1].len != 75 || cut[1].lines != 2
            || cut[2].offset != 237 || cut[2].len != 54
            || cut[2].lines != 3)
        {
            ok = 0;
            break;
        }

        /* the A-R of our checks was added for this incoming message */

        if (msg->add_fields->nelts != 1) {
            ok = 0;
        }
    }

    test_ok(ok, "forged Authentication-Results are cut, others stay");

    msg = test_feed(pool, text, sizeof(text) - 1, 0, 1);
    test_ok(msg && msg->cuts->nelts == 0 && msg->add_fields->nelts == 0,
            "an outgoing message keeps its fields, gets no A-R");

    /* an id hidden behind a long comment, beyond the kept prefix */

    msg = test_msg(pool, 0);

    for (i = 0; msg && i < TN_MAIL_CHECK_FIELDS_MAX; i++) {
        (void) tn_mail_msg_text(msg, (u_char *) "X: y\n", 5);
    }

    q = (u_char *) big;
    q = tn_cpymem(q, "Authentication-Results: (", 25);
    memset(q, 'c', 2000);
    q += 2000;
    q = tn_cpymem(q, ") mail.example.test; spf=pass\n\nb", 32);

    if (msg) {
        (void) tn_mail_msg_text(msg, (u_char *) big, q - (u_char *) big);
        tn_mail_msg_end(msg, test_done, NULL);
        tn_event_process_posted(NULL, &tn_posted_events);
    }

    test_ok(msg && msg->header_truncated && msg->cuts->nelts == 1
            && ((tn_mail_msg_cut_t *) msg->cuts->elts)[0].offset
               == 5 * TN_MAIL_CHECK_FIELDS_MAX
            && ((tn_mail_msg_cut_t *) msg->cuts->elts)[0].len == 2055,
            "a forged A-R beyond the limits is cut all the same");
}


/* the Authentication-Results field */

static tn_uint_t
test_ar_clean(tn_str_t *f)
{
    size_t  i;

    /* every LF folds (LF HT) but the last; no other control bytes */

    for (i = 0; i < f->len; i++) {
        if (f->data[i] == '\n') {
            if (i + 1 != f->len && f->data[i + 1] != '\t') {
                return 0;
            }

            continue;
        }

        if (f->data[i] < 0x20 && f->data[i] != '\t') {
            return 0;
        }

        if (f->data[i] >= 0x7f) {
            return 0;
        }
    }

    return f->len && f->data[f->len - 1] == '\n';
}


static tn_uint_t
test_has(tn_str_t *f, const char *s)
{
    size_t  n;

    n = strlen(s);

    return tn_strlcasestrn(f->data, f->data + f->len, (u_char *) s, n)
           != NULL;
}


static void
test_ar(tn_pool_t *pool)
{
    tn_str_t                id, f;
    tn_mail_msg_t          *msg;
    tn_mail_auth_result_t  *r;

    static const char  expect[] =
        "Authentication-Results: mail.example.test;\n"
        "\tspf=pass smtp.mailfrom=example.org;\n"
        "\tdkim=pass header.d=example.org header.s=sel"
        " header.b=\"AbC/+d==\";\n"
        "\tdmarc=fail reason=\"p=reject dis=reject\""
        " header.from=example.org\n";

    msg = test_msg(pool, 0);
    tn_str_set(&id, "mail.example.test");

    r = tn_mail_msg_add_result(msg, "spf", TN_MAIL_AUTH_PASS);
    tn_str_set(&r->props, "smtp.mailfrom=example.org");
    r = tn_mail_msg_add_result(msg, "dkim", TN_MAIL_AUTH_PASS);
    tn_str_set(&r->domain, "example.org");
    tn_str_set(&r->selector, "sel");
    tn_str_set(&r->b, "AbC/+d==");
    r = tn_mail_msg_add_result(msg, "dmarc", TN_MAIL_AUTH_FAIL);
    tn_str_set(&r->domain, "example.org");
    tn_str_set(&r->reason, "p=reject dis=reject");

    test_ok(tn_mail_msg_auth_results(msg, &id, &f) == TN_OK
            && f.len == sizeof(expect) - 1
            && memcmp(f.data, expect, f.len) == 0,
            "A-R: the usual three results");

    if (f.len != sizeof(expect) - 1 || memcmp(f.data, expect, f.len)) {
        printf("# got: %.*s", (int) f.len, f.data);
    }

    /* hostile values from the network */

    msg = test_msg(pool, 0);

    r = tn_mail_msg_add_result(msg, "spf", TN_MAIL_AUTH_SOFTFAIL);
    tn_str_set(&r->domain, "evil.test\r\nX-Injected: 1");
    tn_str_set(&r->reason, "bad \"quote\" \\ and\r\nCRLF \x01\xff");
    r = tn_mail_msg_add_result(msg, "dkim", TN_MAIL_AUTH_FAIL);
    tn_str_set(&r->domain, "d;x=1");
    tn_str_set(&r->selector, "s\nX: y");
    tn_str_set(&r->b, "");
    tn_str_set(&r->props, "header.i=@a;b bad;key=1 x.y=\"q\" .z=1 "
               "header.a=rsa-sha256 smtp.helo=\x7f");
    r = tn_mail_msg_add_result(msg, "dmarc\n", TN_MAIL_AUTH_PASS);
    r = tn_mail_msg_add_result(msg, "iprev", 99);

    test_ok(tn_mail_msg_auth_results(msg, &id, &f) == TN_OK
            && test_ar_clean(&f)
            && !test_has(&f, "Injected")
            && !test_has(&f, "evil")
            && test_has(&f, "\tspf=softfail reason=\"bad \\\"quote\\\" "
                        "\\\\ and??CRLF ??\";\n")
            && test_has(&f, "\tdkim=fail header.d=\"d;x=1\" "
                        "header.i=\"@a;b\" x.y=\"\\\"q\\\"\" "
                        "header.a=rsa-sha256;\n")
            && !test_has(&f, "dmarc")
            && test_has(&f, "\tiprev=none\n"),
            "A-R: hostile values are quoted or left out");

    if (!test_ar_clean(&f) || !test_has(&f, "iprev")) {
        printf("# got: %.*s", (int) f.len, f.data);
    }

    msg = test_msg(pool, 0);
    test_ok(tn_mail_msg_auth_results(msg, &id, &f) == TN_OK && f.len == 0,
            "A-R: none without results");
}


/* the phases */

static void
test_phases(tn_pool_t *pool)
{
    tn_mail_msg_t  *msg;

    /* the first end() waits */

    msg = test_msg(pool, 0);
    (void) tn_mail_msg_text(msg, (u_char *) "A: 1\n\nb\n", 8);

    rec[0].end_rc = TN_AGAIN;
    done_calls = 0;

    tn_mail_msg_end(msg, test_done, NULL);
    tn_event_process_posted(NULL, &tn_posted_events);

    test_ok(done_calls == 0 && rec[0].end == 1 && rec[1].end == 0,
            "phases: a waiting end() holds the next one");

    tn_mail_check_done(msg);

    test_ok(done_calls == 0 && rec[1].end == 1,
            "phases: done() is not called from inside");

    tn_event_process_posted(NULL, &tn_posted_events);

    test_ok(done_calls == 1 && msg->verdict == TN_MAIL_VERDICT_ACCEPT
            && msg->add_fields->nelts == 1,
            "phases: done() from the posted event, A-R added");

    tn_mail_msg_cleanup(msg);
    tn_mail_msg_cleanup(msg);

    test_ok(rec[0].cleanup == 1 && rec[1].cleanup == 1,
            "phases: cleanup once for each check");

    /* cleanup while an end() waits */

    msg = test_msg(pool, 0);
    rec[0].end_rc = TN_AGAIN;
    done_calls = 0;

    tn_mail_msg_end(msg, test_done, NULL);
    tn_mail_msg_cleanup(msg);
    tn_mail_check_done(msg);
    tn_event_process_posted(NULL, &tn_posted_events);

    test_ok(done_calls == 0 && rec[0].cleanup == 1 && rec[1].end == 0,
            "phases: cleanup while waiting, nothing calls back");

    /* cleanup after the checks are over, before the posted event */

    msg = test_msg(pool, 0);
    done_calls = 0;

    tn_mail_msg_end(msg, test_done, NULL);
    tn_mail_msg_cleanup(msg);
    tn_event_process_posted(NULL, &tn_posted_events);

    test_ok(done_calls == 0, "phases: cleanup drops the posted event");

    /* a failing end() */

    msg = test_msg(pool, 0);
    rec[1].end_rc = TN_ERROR;
    done_calls = 0;

    tn_mail_msg_end(msg, test_done, NULL);
    tn_event_process_posted(NULL, &tn_posted_events);

    test_ok(done_calls == 1 && msg->verdict == TN_MAIL_VERDICT_DEFER
            && msg->reply.len > 4
            && memcmp(msg->reply.data, "451 4.3.0 ", 10) == 0,
            "phases: a failing end() defers with 451 4.3.0");

    /* verdicts: the stronger wins */

    msg = test_msg(pool, 0);
    tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_QUARANTINE, "250 junk");
    tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_REJECT, "550 5.7.1 no\r\nX");
    tn_mail_msg_verdict(msg, TN_MAIL_VERDICT_DEFER, "451 later");

    test_ok(msg->verdict == TN_MAIL_VERDICT_REJECT
            && msg->reply.len == 15
            && memcmp(msg->reply.data, "550 5.7.1 no  X", 15) == 0,
            "verdict: the strongest, its reply one line");

    /* header fields a check adds */

    test_ok(tn_mail_msg_add_field(msg, (u_char *) "X-A: 1", 6) == TN_OK
            && tn_mail_msg_add_field(msg, (u_char *) "X-B: 1\n 2\n", 10)
               == TN_OK
            && tn_mail_msg_add_field(msg, (u_char *) "X-C: 1\nX: 2\n", 12)
               == TN_ERROR
            && tn_mail_msg_add_field(msg, (u_char *) "no colon\n", 9)
               == TN_ERROR
            && tn_mail_msg_add_field(msg, (u_char *) "X-D: a\rb\n", 9)
               == TN_ERROR
            && msg->add_fields->nelts == 2
            && ((tn_str_t *) msg->add_fields->elts)[0].len == 7,
            "add_field: folded fields only");

    /* cut_field by index, and twice the same field */

    msg = test_feed(pool, "A: 1\nB: 2\n 3\nC: 4\n\nb", 20, 0, 1);
    msg->cuts->nelts = 0;
    (void) tn_mail_msg_cut_field(msg, 1);
    (void) tn_mail_msg_cut_field(msg, 1);
    (void) tn_mail_msg_cut_field(msg, 0);

    tn_mail_msg_end(msg, test_done, NULL);
    tn_event_process_posted(NULL, &tn_posted_events);

    test_ok(msg->cuts->nelts == 2
            && ((tn_mail_msg_cut_t *) msg->cuts->elts)[0].offset == 0
            && ((tn_mail_msg_cut_t *) msg->cuts->elts)[1].offset == 5
            && ((tn_mail_msg_cut_t *) msg->cuts->elts)[1].len == 8
            && ((tn_mail_msg_cut_t *) msg->cuts->elts)[1].lines == 2
            && tn_mail_msg_cut_field(msg, 3) == TN_ERROR,
            "cut_field: in order, once each");
}


static void
test_registry(void)
{
    tn_uint_t  ok;

    ok = tn_mail_check_register(&test_check0) == TN_OK
         && tn_mail_check_register(&test_check1) == TN_OK
         && tn_mail_check_register(&test_check0) == TN_OK
         && test_check0.index == 0 && test_check1.index == 1;

    test_ok(ok, "registry: registering twice is a no-op");

    tn_mail_check_unregister(&test_check0);
    ok = test_check1.index == 0 && tn_mail_check_active();
    tn_mail_check_unregister(&test_check1);
    ok = ok && !tn_mail_check_active();

    (void) tn_mail_check_register(&test_check0);
    (void) tn_mail_check_register(&test_check1);

    test_ok(ok && test_check0.index == 0 && test_check1.index == 1,
            "registry: unregister renumbers");
}


int
main(void)
{
    tn_pool_t  *pool;

    tn_memzero(&test_log, sizeof(tn_log_t));
    tn_queue_init(&tn_posted_events);

    test_registry();

    pool = tn_create_pool(4096, &test_log);
    if (pool == NULL) {
        return 1;
    }

    test_splitter(pool);
    test_limits(pool);
    test_forged(pool);
    test_ar(pool);
    test_phases(pool);

    tn_destroy_pool(pool);

    printf("1..%u\n", (unsigned) tests);

    return failed ? 1 : 0;
}
