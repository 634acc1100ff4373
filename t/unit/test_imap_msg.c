
/*
 * Copyright (C) The Tern developers
 */


/*
 * IMAP message rendering (src/mail/tn_mail_imap_msg.c, _struct.c,
 * _str.c): the header cache (ENVELOPE, BODY, BODYSTRUCTURE in the
 * shapes of RFC 3501 7.4.2, search and sort fields) made from a file
 * with LF line ends, FETCH sections of the CRLF form (every size and
 * line count of BODYSTRUCTURE must equal what the section gives),
 * BINARY, HEADER.FIELDS, strings, dates, modified UTF-7 and folding.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_mime.h>
#include <tn_mail_imap_msg.h>


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;
static tn_log_t    tn_test_log;
static tn_pool_t  *tn_test_pool;


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
        printf("not ");
    }

    printf("ok %u - ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


static int
tn_test_eq(tn_str_t *s, const char *want, const char *name)
{
    int  ok;

    ok = (s->len == strlen(want)
          && (s->len == 0 || memcmp(s->data, want, s->len) == 0));

    tn_test_ok(ok, "%s", name);

    if (!ok) {
        printf("#   got:  \"%.*s\"\n#   want: \"%s\"\n",
               (int) s->len, s->data ? (char *) s->data : "", want);
    }

    return ok;
}


/* a message file with LF line ends, its cache and its CRLF form */

typedef struct {
    tn_store_cache_t   cache;
    tn_str_t           msg;
    tn_int_t           rc;
} tn_test_msg_t;


static void
tn_test_load(const char *text, tn_test_msg_t *m)
{
    int   fd;
    char  path[] = "/tmp/tn_test_imap_msg_XXXXXX";

    fd = mkstemp(path);
    if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t) strlen(text)) {
        printf("Bail out! mkstemp/write: %s\n", strerror(errno));
        exit(1);
    }

    m->rc = tn_mail_imap_msg_cache(tn_test_pool, fd, &m->cache,
                                   &tn_test_log);
    close(fd);

    if (tn_mail_imap_msg_load(tn_test_pool, path, 1 << 20, &m->msg)
        != TN_OK)
    {
        printf("Bail out! load failed\n");
        exit(1);
    }

    unlink(path);
}


/* a section by its FETCH attribute */

static tn_int_t
tn_test_section(tn_test_msg_t *m, const char *att, tn_str_t *out,
    tn_uint_t *binary)
{
    tn_str_t                a;
    tn_uint_t               bin;
    tn_mail_imap_section_t  s;

    a.data = (u_char *) att;
    a.len = strlen(att);

    if (tn_mail_imap_parse_section(&a, &s) != TN_OK) {
        printf("# bad section %s\n", att);
        return TN_ERROR;
    }

    return tn_mail_imap_msg_section(tn_test_pool, &m->msg, &s, out,
                                    binary ? binary : &bin);
}


static void
tn_test_sect(tn_test_msg_t *m, const char *att, const char *want)
{
    tn_str_t  out;

    if (tn_test_section(m, att, &out, NULL) != TN_OK) {
        tn_test_ok(0, "%s", att);
        return;
    }

    tn_test_eq(&out, want, att);
}


/* the length of a section, for the sizes in BODYSTRUCTURE */

static size_t
tn_test_len(tn_test_msg_t *m, const char *att)
{
    tn_str_t  out;

    if (tn_test_section(m, att, &out, NULL) != TN_OK) {
        return (size_t) -1;
    }

    return out.len;
}


static size_t
tn_test_lines(tn_test_msg_t *m, const char *att)
{
    size_t    i, n;
    tn_str_t  out;

    if (tn_test_section(m, att, &out, NULL) != TN_OK) {
        return (size_t) -1;
    }

    for (i = 0, n = 0; i < out.len; i++) {
        n += (out.data[i] == LF);
    }

    return n;
}


/* RFC 3501 7.4.2, the example message */

static void
tn_test_rfc3501(void)
{
    char            want[2048];
    tn_test_msg_t   m;

    tn_test_load(
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
        "From: Terry Gray <gray@cac.washington.edu>\n"
        "Subject: IMAP4rev1 WG mtg summary and minutes\n"
        "To: imap@cac.washington.edu\n"
        "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
        "Message-Id: <B27397-0100000@cac.washington.edu>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
        "\n"
        "Summary\n"
        "of the meeting.\n", &m);

    tn_test_ok(m.rc == TN_OK, "rfc3501: cache");

    tn_test_eq(&m.cache.envelope,
        "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
        "\"IMAP4rev1 WG mtg summary and minutes\" "
        "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
        "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
        "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
        "((NIL NIL \"imap\" \"cac.washington.edu\")) "
        "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
        "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
        "\"<B27397-0100000@cac.washington.edu>\")",
        "rfc3501: ENVELOPE");

    tn_test_eq(&m.cache.body,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
        "26 2)", "rfc3501: BODY");

    tn_test_eq(&m.cache.bodystructure,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
        "26 2 NIL NIL NIL NIL)", "rfc3501: BODYSTRUCTURE");

    snprintf(want, sizeof(want), "%zu", tn_test_len(&m, "BODY[TEXT]"));
    tn_test_ok(strcmp(want, "26") == 0, "rfc3501: TEXT is 26 octets");
    tn_test_sect(&m, "BODY[1]", "Summary\r\nof the meeting.\r\n");
    tn_test_sect(&m, "BODY[TEXT]", "Summary\r\nof the meeting.\r\n");
    tn_test_sect(&m, "BODY[HEADER.FIELDS (cc Date)]",
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
        "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
        "\r\n");
    tn_test_ok(m.msg.len == tn_test_len(&m, "BODY[HEADER]") + 26,
               "rfc3501: HEADER + TEXT is the message");

    tn_test_ok(m.cache.date == 837595405 && m.cache.date_tz == -420,
               "rfc3501: date");
    tn_test_eq(&m.cache.from, "terry gray <gray@cac.washington.edu>",
               "rfc3501: from");
    tn_test_eq(&m.cache.cc, "minutes@cnri.reston.va.us, "
               "john klensin <klensin@mit.edu>", "rfc3501: cc");
    tn_test_eq(&m.cache.sort_from, "gray", "rfc3501: sort_from");
    tn_test_eq(&m.cache.sort_cc, "minutes", "rfc3501: sort_cc");
    tn_test_eq(&m.cache.subject, "imap4rev1 wg mtg summary and minutes",
               "rfc3501: subject");
    tn_test_ok(m.cache.bcc.len == 0, "rfc3501: no bcc");
    tn_test_ok(!m.cache.header_too_large
               && m.cache.header.len == tn_test_len(&m, "BODY[HEADER]")
               && memcmp(m.cache.header.data, m.msg.data,
                         m.cache.header.len) == 0,
               "rfc3501: cached header");
}


/* a nested multipart with a message/rfc822 */

static const char  tn_test_nested_msg[] =
    "From: a@b.example\n"
    "Subject: Re: [list] Fwd: nested (fwd)\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
    "\n"
    "preamble\n"
    "--outer\n"
    "Content-Type: text/plain\n"
    "\n"
    "part one\n"
    "--outer\n"
    "Content-Type: message/rfc822\n"
    "Content-Description: forwarded\n"
    "\n"
    "From: =?utf-8?q?J=C3=B6rg?= <x@y.example>\n"
    "Subject: inner\n"
    "Content-Type: multipart/alternative; boundary=inner\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "inner plain\n"
    "--inner\n"
    "Content-Type: text/html\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "PGI+aGk8L2I+\n"
    "--inner--\n"
    "--outer\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\n"
    "Content-Disposition: attachment; filename=\"a.bin\"\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "Content-Language: en, de\n"
    "Content-Location: http://x.example/a\n"
    "\n"
    "a=3Db=00\n"
    "--outer\n"
    "Content-Type: text/x-odd; charset=utf-8\n"
    "Content-Transfer-Encoding: x-uuencode\n"
    "\n"
    "begin\n"
    "--outer--\n"
    "epilogue\n";


static void
tn_test_nested(void)
{
    char            want[4096];
    tn_str_t        out;
    tn_int_t        rc;
    tn_uint_t       bin;
    tn_test_msg_t   m;

    tn_test_load(tn_test_nested_msg, &m);

    tn_test_ok(m.rc == TN_OK, "nested: cache");

    tn_test_sect(&m, "BODY[1]", "part one");
    tn_test_sect(&m, "BODY[1.1]", "part one");
    tn_test_sect(&m, "BODY[1.MIME]", "Content-Type: text/plain\r\n\r\n");
    tn_test_sect(&m, "BODY[2.HEADER]",
        "From: =?utf-8?q?J=C3=B6rg?= <x@y.example>\r\n"
        "Subject: inner\r\n"
        "Content-Type: multipart/alternative; boundary=inner\r\n\r\n");
    tn_test_sect(&m, "BODY[2.HEADER.FIELDS (SUBJECT)]",
                 "Subject: inner\r\n\r\n");
    tn_test_sect(&m, "BODY[2.HEADER.FIELDS.NOT (SUBJECT From)]",
        "Content-Type: multipart/alternative; boundary=inner\r\n\r\n");
    tn_test_sect(&m, "BODY[2.MIME]",
        "Content-Type: message/rfc822\r\n"
        "Content-Description: forwarded\r\n\r\n");
    tn_test_sect(&m, "BODY[2.1]", "inner plain");
    tn_test_sect(&m, "BODY[2.1.MIME]",
                 "Content-Type: text/plain; charset=utf-8\r\n\r\n");
    tn_test_sect(&m, "BODY[2.2]", "PGI+aGk8L2I+");
    tn_test_sect(&m, "BINARY[2.2]", "<b>hi</b>");
    tn_test_sect(&m, "BODY[2.TEXT]",
        "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "inner plain\r\n--inner\r\nContent-Type: text/html\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n"
        "--inner--\r\n");
    tn_test_sect(&m, "BODY[3]", "a=3Db=00");
    tn_test_sect(&m, "BODY[5]", "");
    tn_test_sect(&m, "BODY[1.2]", "");
    tn_test_sect(&m, "BODY[2.3]", "");
    tn_test_sect(&m, "BODY[1.HEADER]", "");

    rc = tn_test_section(&m, "BINARY[3]", &out, &bin);
    tn_test_ok(rc == TN_OK && out.len == 4 && memcmp(out.data, "a=b", 4) == 0
               && bin == 1, "nested: BINARY[3] is QP decoded, with a NUL");

    rc = tn_test_section(&m, "BINARY.SIZE[2.1]", &out, &bin);
    tn_test_ok(rc == TN_OK && out.len == 11 && bin == 0,
               "nested: BINARY.SIZE[2.1]");

    rc = tn_test_section(&m, "BINARY[4]", &out, &bin);
    tn_test_ok(rc == TN_DECLINED, "nested: BINARY of x-uuencode: "
               "UNKNOWN-CTE");

    rc = tn_test_section(&m, "BODY[4]", &out, &bin);
    tn_test_ok(rc == TN_OK && out.len == 5, "nested: BODY[4] as is");

    snprintf(want, sizeof(want),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
        "%zu %zu)"
        "(\"MESSAGE\" \"RFC822\" NIL NIL \"forwarded\" \"7BIT\" %zu "
        "(NIL \"inner\" ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"x\" \"y.example\"))"
        " ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"x\" \"y.example\"))"
        " ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"x\" \"y.example\"))"
        " NIL NIL NIL NIL NIL) "
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" "
        "%zu %zu)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"BASE64\" "
        "%zu %zu) \"ALTERNATIVE\") %zu)"
        "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") NIL NIL "
        "\"QUOTED-PRINTABLE\" %zu)"
        "(\"TEXT\" \"X-ODD\" (\"CHARSET\" \"utf-8\") NIL NIL \"X-UUENCODE\" "
        "%zu %zu) \"MIXED\")",
        tn_test_len(&m, "BODY[1]"), tn_test_lines(&m, "BODY[1]"),
        tn_test_len(&m, "BODY[2]"),
        tn_test_len(&m, "BODY[2.1]"), tn_test_lines(&m, "BODY[2.1]"),
        tn_test_len(&m, "BODY[2.2]"), tn_test_lines(&m, "BODY[2.2]"),
        tn_test_lines(&m, "BODY[2]"),
        tn_test_len(&m, "BODY[3]"),
        tn_test_len(&m, "BODY[4]"), tn_test_lines(&m, "BODY[4]"));

    tn_test_eq(&m.cache.body, want, "nested: BODY");

    snprintf(want, sizeof(want),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
        "%zu %zu NIL NIL NIL NIL)"
        "(\"MESSAGE\" \"RFC822\" NIL NIL \"forwarded\" \"7BIT\" %zu "
        "(NIL \"inner\" ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"x\" \"y.example\"))"
        " ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"x\" \"y.example\"))"
        " ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"x\" \"y.example\"))"
        " NIL NIL NIL NIL NIL) "
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" "
        "%zu %zu NIL NIL NIL NIL)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"BASE64\" "
        "%zu %zu NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"inner\") "
        "NIL NIL NIL) %zu NIL NIL NIL NIL)"
        "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") NIL NIL "
        "\"QUOTED-PRINTABLE\" %zu NIL (\"ATTACHMENT\" (\"FILENAME\" "
        "\"a.bin\")) (\"en\" \"de\") \"http://x.example/a\")"
        "(\"TEXT\" \"X-ODD\" (\"CHARSET\" \"utf-8\") NIL NIL \"X-UUENCODE\" "
        "%zu %zu NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"outer\") "
        "NIL NIL NIL)",
        tn_test_len(&m, "BODY[1]"), tn_test_lines(&m, "BODY[1]"),
        tn_test_len(&m, "BODY[2]"),
        tn_test_len(&m, "BODY[2.1]"), tn_test_lines(&m, "BODY[2.1]"),
        tn_test_len(&m, "BODY[2.2]"), tn_test_lines(&m, "BODY[2.2]"),
        tn_test_lines(&m, "BODY[2]"),
        tn_test_len(&m, "BODY[3]"),
        tn_test_len(&m, "BODY[4]"), tn_test_lines(&m, "BODY[4]"));

    tn_test_eq(&m.cache.bodystructure, want, "nested: BODYSTRUCTURE");

    tn_test_eq(&m.cache.envelope,
        "(NIL \"Re: [list] Fwd: nested (fwd)\" "
        "((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) "
        "((NIL NIL \"a\" \"b.example\")) NIL NIL NIL NIL NIL)",
        "nested: ENVELOPE");
    tn_test_eq(&m.cache.sort_subject, "nested", "nested: sort subject");
    tn_test_ok(m.cache.date == -1, "nested: no date");

    if (tn_mail_imap_msg_text(tn_test_pool, &m.msg, &out) == TN_OK) {
        tn_test_eq(&out, "part one\ninner plain\n<b>hi</b>\nbegin",
                   "nested: search text");

    } else {
        tn_test_ok(0, "nested: search text");
    }
}


/* the multipart example of RFC 3501 7.4.2 (BODY) */

static void
tn_test_rfc3501_mixed(void)
{
    char            want[1024];
    tn_test_msg_t   m;

    tn_test_load(
        "Content-Type: MULTIPART/MIXED; BOUNDARY=\"x\"\n"
        "\n"
        "--x\n"
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
        "\n"
        "line 1\n"
        "line 2\n"
        "--x\n"
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\n"
        "Content-ID: <960723163407.20117h@cac.washington.edu>\n"
        "Content-Description: Compiler diff\n"
        "Content-Transfer-Encoding: BASE64\n"
        "\n"
        "AAAA\n"
        "--x--\n", &m);

    snprintf(want, sizeof(want),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
        "%zu %zu)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" "
        "\"cc.diff\") \"<960723163407.20117h@cac.washington.edu>\" "
        "\"Compiler diff\" \"BASE64\" %zu %zu) \"MIXED\")",
        tn_test_len(&m, "BODY[1]"), tn_test_lines(&m, "BODY[1]"),
        tn_test_len(&m, "BODY[2]"), tn_test_lines(&m, "BODY[2]"));

    tn_test_eq(&m.cache.body, want, "rfc3501 multipart: BODY");
    tn_test_ok(tn_test_len(&m, "BODY[1]") == 14
               && tn_test_len(&m, "BODY[2]") == 4,
               "rfc3501 multipart: sizes of the CRLF form");
}


/* ENVELOPE details: groups, defaults, encoded words, search fields */

static void
tn_test_envelope(void)
{
    tn_str_t        out, name;
    tn_test_msg_t   m;

    tn_test_load(
        "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <Joerg@X.Example>\n"
        "Sender: \n"
        "Reply-To: list@x.example\n"
        "To: team: a@x.example, \"B \\\"q\\\"\" <b@x.example>;, "
        "c@x.example\n"
        "Bcc: undisclosed-recipients:;\n"
        "Subject: =?iso-8859-1?q?=C4pfel?= und\n"
        " Birnen\n"
        "In-Reply-To: <a@b>\n"
        "X-Tag: one\n"
        "X-Tag: =?utf-8?b?w5xiZXI=?=\n"
        "Date: Fri, 27 Nov 2026 20:24:48 +0000\n"
        "\n"
        "body\n", &m);

    tn_test_eq(&m.cache.envelope,
        "(\"Fri, 27 Nov 2026 20:24:48 +0000\" "
        "\"=?iso-8859-1?q?=C4pfel?= und Birnen\" "
        "((\"=?utf-8?q?J=C3=B6rg_M=C3=BCller?=\" NIL \"Joerg\" "
        "\"X.Example\")) "
        "((\"=?utf-8?q?J=C3=B6rg_M=C3=BCller?=\" NIL \"Joerg\" "
        "\"X.Example\")) "
        "((NIL NIL \"list\" \"x.example\")) "
        "((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"x.example\")"
        "(\"B \\\"q\\\"\" NIL \"b\" \"x.example\")(NIL NIL NIL NIL)"
        "(NIL NIL \"c\" \"x.example\")) NIL "
        "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
        "\"<a@b>\" NIL)", "envelope: groups, Sender defaults to From");

    tn_test_eq(&m.cache.from,
               "j\xc3\xb6rg m\xc3\xbcller <joerg@x.example>",
               "envelope: from search field decoded and folded");
    tn_test_eq(&m.cache.to, "a@x.example, b \"q\" <b@x.example>, "
               "c@x.example", "envelope: to search field");
    tn_test_eq(&m.cache.subject, "\xc3\xa4pfel und birnen",
               "envelope: subject decoded, unfolded, folded");
    tn_test_eq(&m.cache.sort_from, "joerg", "envelope: sort_from");
    tn_test_ok(m.cache.date == 1795811088 && m.cache.date_tz == 0,
               "envelope: date");

    tn_str_set(&name, "x-tag");
    if (tn_mail_imap_msg_header_values(tn_test_pool, &m.cache.header,
                                       &name, &out) == TN_OK)
    {
        tn_test_eq(&out, "one\n\xc3\xbc" "ber", "header values");

    } else {
        tn_test_ok(0, "header values");
    }

    tn_str_set(&name, "subject");
    if (tn_mail_imap_msg_header_values(tn_test_pool, &m.cache.header,
                                       &name, &out) == TN_OK)
    {
        tn_test_eq(&out, "\xc3\xa4pfel und birnen", "header value folded");

    } else {
        tn_test_ok(0, "header value folded");
    }

    tn_test_sect(&m, "BODY.PEEK[HEADER.FIELDS (\"subject\" x-tag)]",
        "Subject: =?iso-8859-1?q?=C4pfel?= und\r\n Birnen\r\n"
        "X-Tag: one\r\nX-Tag: =?utf-8?b?w5xiZXI=?=\r\n\r\n");
    tn_test_sect(&m, "BODY[HEADER.FIELDS (X-None)]", "\r\n");
    tn_test_sect(&m, "BODY[HEADER.FIELDS.NOT (From Sender Reply-To To Bcc "
                 "Subject X-Tag Date)]", "In-Reply-To: <a@b>\r\n\r\n");
}


/* odd messages: no header end, empty, a childless multipart, binary */

static void
tn_test_odd(void)
{
    char            big[TN_STORE_CACHE_HEADER_MAX + 200];
    size_t          i;
    tn_str_t        out;
    tn_uint_t       bin;
    tn_test_msg_t   m;

    tn_test_load("", &m);
    tn_test_ok(m.rc == TN_OK, "empty: cache");
    tn_test_eq(&m.cache.envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
               "empty: ENVELOPE");
    tn_test_eq(&m.cache.bodystructure,
               "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
               "\"7BIT\" 0 0 NIL NIL NIL NIL)", "empty: BODYSTRUCTURE");
    tn_test_sect(&m, "BODY[]", "");
    tn_test_sect(&m, "BODY[1]", "");

    tn_test_load("Subject: x\n"
                 "Content-Type: multipart/mixed; boundary=b\n\n"
                 "no parts here\n", &m);
    tn_test_eq(&m.cache.body,
               "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
               "\"7BIT\" 0 0) \"MIXED\")", "childless multipart: BODY");
    tn_test_sect(&m, "BODY[1]", "");

    tn_test_load("Content-Type: multipart/mixed\n\n--x\n\nbody\n", &m);
    tn_test_eq(&m.cache.body,
               "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\" 13)",
               "multipart without a boundary: a leaf");
    tn_test_sect(&m, "BODY[1]", "--x\r\n\r\nbody\r\n");

    tn_test_load("Content-Type: message/rfc822\n"
                 "Content-Transfer-Encoding: base64\n\n"
                 "U3ViamVjdDogeAoKeQo=\n", &m);
    tn_test_eq(&m.cache.body,
               "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 22)",
               "encoded message/rfc822: a leaf");
    tn_test_sect(&m, "BINARY[1]", "Subject: x\n\ny\n");
    tn_test_sect(&m, "BODY[1.HEADER]", "");

    tn_test_load("Content-Type: message/rfc822\n\n"
                 "Subject: inner\n\ntext\n", &m);
    tn_test_eq(&m.cache.body,
               "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 24 "
               "(NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
               "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
               "\"7BIT\" 6 1) 3)", "message/rfc822 message");
    tn_test_sect(&m, "BODY[1]", "Subject: inner\r\n\r\ntext\r\n");
    tn_test_sect(&m, "BODY[1.1]", "text\r\n");
    tn_test_sect(&m, "BODY[1.HEADER]", "Subject: inner\r\n\r\n");
    tn_test_sect(&m, "BODY[1.TEXT]", "text\r\n");
    tn_test_sect(&m, "BODY[1.1.MIME]", "Subject: inner\r\n\r\n");
    tn_test_sect(&m, "BODY[1.2]", "");

    tn_test_load("Subject: no end\nFrom: a@b", &m);
    tn_test_sect(&m, "BODY[HEADER]", "Subject: no end\r\nFrom: a@b");
    tn_test_sect(&m, "BODY[TEXT]", "");
    tn_test_sect(&m, "BODY[HEADER.FIELDS (FROM)]", "From: a@b\r\n\r\n");

    tn_test_load("Content-Type: application/octet-stream\n"
                 "Content-Transfer-Encoding: base64\n\n"
                 "AAECAw==\n", &m);
    tn_test_ok(tn_test_section(&m, "BINARY[1]", &out, &bin) == TN_OK
               && out.len == 4 && out.data[0] == 0 && out.data[3] == 3
               && bin == 1, "base64 root: BINARY[1]");
    tn_test_ok(tn_test_section(&m, "BINARY[]", &out, &bin) == TN_OK
               && out.len == m.msg.len && bin == 0,
               "BINARY[] is the message");

    tn_test_load("Subject: cr\r\n\r\nbare\rcr\r\nand lf\n", &m);
    tn_test_ok(m.msg.len == 32, "load: CRLF form, bare CR kept");
    tn_test_ok(strstr(m.cache.body.data ? (char *) m.cache.body.data : "",
                      " 17 2)") != NULL, "bare CR: size and lines");

    memset(big, 'a', sizeof(big));
    memcpy(big, "X-Big: ", 7);
    i = sizeof(big) - 20;
    memcpy(big + i, "\n\nbody\n", 8);
    tn_test_load(big, &m);
    tn_test_ok(m.rc == TN_OK && m.cache.header_too_large
               && m.cache.header.len == 0, "header too large");
    tn_test_sect(&m, "BODY[TEXT]", "body\r\n");

    tn_test_load("Subject: x\n\nline\n", &m);
    tn_test_ok(tn_mail_imap_msg_load(tn_test_pool, "/nonexistent/x", 100,
                                     &out) == TN_ERROR && errno == ENOENT,
               "load: ENOENT");
}


/* a CRLF split between two read chunks of the cache (64k) */

static void
tn_test_chunks(void)
{
    char            want[128];
    size_t          i, k;
    tn_test_msg_t   m;
    static char     text[3 * 65536];

    for (k = 0; k < 3; k++) {
        i = tn_cpymem(text, "Subject: chunks\r\n\r\n", 19) - (u_char *) text;

        while (i < 65536 - 1 - k) {
            text[i] = (i % 61 == 0) ? '\n' : 'x';
            i++;
        }

        memcpy(text + i, "\r\nlast\r\n\rcr\n", 13);

        tn_test_load(text, &m);

        snprintf(want, sizeof(want), " %zu %zu NIL NIL NIL NIL)",
                 tn_test_len(&m, "BODY[TEXT]"),
                 tn_test_lines(&m, "BODY[TEXT]"));

        tn_test_ok(m.rc == TN_OK
                   && strstr((char *) m.cache.bodystructure.data, want)
                      != NULL,
                   "chunk split %u: size and lines", (unsigned) k);
    }
}


static void
tn_test_load_max(void)
{
    int        fd;
    char       path[] = "/tmp/tn_test_imap_msg_XXXXXX";
    tn_str_t   out;

    fd = mkstemp(path);
    if (fd == -1 || write(fd, "a\nb\n", 4) != 4) {
        printf("Bail out! mkstemp\n");
        exit(1);
    }

    close(fd);

    tn_test_ok(tn_mail_imap_msg_load(tn_test_pool, path, 5, &out)
               == TN_DECLINED, "load: CRLF form over max");
    tn_test_ok(tn_mail_imap_msg_load(tn_test_pool, path, 6, &out) == TN_OK
               && out.len == 6 && memcmp(out.data, "a\r\nb\r\n", 6) == 0,
               "load: CRLF form at max");
    tn_test_ok(tn_mail_imap_msg_load(tn_test_pool, path, 3, &out)
               == TN_DECLINED, "load: file over max");

    unlink(path);
}


/* strings */

static void
tn_test_astring(void)
{
    u_char    buf[2048], *p;
    tn_str_t  s;
    u_char    longs[1100];

    static const struct {
        const char  *in;
        tn_uint_t    utf8;
        const char  *out;
    } cases[] = {
        { "abc", 0, "\"abc\"" },
        { "", 0, "\"\"" },
        { "a\"b\\c", 0, "\"a\\\"b\\\\c\"" },
        { "caf\xc3\xa9", 0, "{5}\r\ncaf\xc3\xa9" },
        { "caf\xc3\xa9", 1, "\"caf\xc3\xa9\"" },
        { "a\r\nb", 1, "{4}\r\na\r\nb" },
        { "caf\xc3", 1, "{4}\r\ncaf\xc3" },
    };

    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s.data = (u_char *) cases[i].in;
        s.len = strlen(cases[i].in);
        p = tn_mail_imap_astring(buf, &s, cases[i].utf8);
        s.data = buf;
        s.len = p - buf;
        tn_test_eq(&s, cases[i].out, "astring");
        s.data = (u_char *) cases[i].in;
        s.len = strlen(cases[i].in);
        tn_test_ok(tn_mail_imap_astring_len(&s, cases[i].utf8)
                   >= (size_t) (p - buf), "astring_len");
    }

    s.data = NULL;
    s.len = 0;
    p = tn_mail_imap_astring(buf, &s, 0);
    tn_test_ok(p - buf == 3 && memcmp(buf, "NIL", 3) == 0, "astring NIL");

    memset(longs, 'x', sizeof(longs));
    s.data = longs;
    s.len = sizeof(longs);
    p = tn_mail_imap_astring(buf, &s, 0);
    tn_test_ok(memcmp(buf, "{1100}\r\n", 8) == 0
               && (size_t) (p - buf) <= tn_mail_imap_astring_len(&s, 0),
               "astring: a long string is a literal");
}


static void
tn_test_dates(void)
{
    u_char    buf[64];
    time_t    t;
    size_t    i;
    tn_str_t  s;

    static const char  *bad[] = {
        "17-Jul-1996 02:44:25",
        "32-Jan-2000 00:00:00 +0000",
        "29-Feb-2001 00:00:00 +0000",
        "17-Jux-1996 02:44:25 -0700",
        "17-Jul-96 02:44:25 -0700",
        "17-Jul-1996 24:00:00 +0000",
        "17-Jul-1996 02:60:00 +0000",
        "17-Jul-1996 2:44:25 -0700",
        "17-Jul-1996 02:44:25 0700",
        "17-Jul-1996 02:44:25 -07000",
        "17-Jul-1996 02:44:25 -0760",
        "117-Jul-1996 02:44:25 -0700",
        "17-Jul-1996  02:44:25 -0700",
        "",
    };

    static const char  *bad_day[] = {
        "1-Feb-94", "1 Feb 1994", "", "0-Feb-1994", "1-Feb-1994 ",
        "30-Feb-2000", "001-Feb-1994", "1-Febr-1994", "a-Feb-1994"
    };

    tn_test_ok(tn_mail_imap_date_time(buf, 0, 0) - buf
               == TN_MAIL_IMAP_DATE_TIME_LEN
               && memcmp(buf, "01-Jan-1970 00:00:00 +0000", 26) == 0,
               "date_time epoch");
    tn_test_ok(tn_mail_imap_date_time(buf, 837596665, -420) - buf == 26
               && memcmp(buf, "17-Jul-1996 02:44:25 -0700", 26) == 0,
               "date_time with a zone");
    tn_test_ok(tn_mail_imap_date_time(buf, 1795811088, 330) - buf == 26
               && memcmp(buf, "28-Nov-2026 01:54:48 +0530", 26) == 0,
               "date_time +0530");

    tn_str_set(&s, "17-Jul-1996 02:44:25 -0700");
    tn_test_ok(tn_mail_imap_parse_date_time(&s, &t) == TN_OK
               && t == 837596665, "parse date-time");
    tn_str_set(&s, " 7-jul-1996 02:44:25 +0000");
    tn_test_ok(tn_mail_imap_parse_date_time(&s, &t) == TN_OK
               && t == 837596665 - 10 * 86400 - 7 * 3600,
               "parse date-time, day with a space");
    tn_str_set(&s, "29-Feb-2000 00:00:00 +0000");
    tn_test_ok(tn_mail_imap_parse_date_time(&s, &t) == TN_OK
               && t == 951782400, "parse date-time, leap day");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s.data = (u_char *) bad[i];
        s.len = strlen(bad[i]);
        tn_test_ok(tn_mail_imap_parse_date_time(&s, &t) == TN_ERROR,
                   "date-time \"%s\" refused", bad[i]);
    }

    tn_str_set(&s, "1-Feb-1994");
    tn_test_ok(tn_mail_imap_parse_date(&s, &t) == TN_OK && t == 760060800,
               "parse date");
    tn_str_set(&s, "01-FEB-1994");
    tn_test_ok(tn_mail_imap_parse_date(&s, &t) == TN_OK && t == 760060800,
               "parse date, any case");

    for (i = 0; i < sizeof(bad_day) / sizeof(bad_day[0]); i++) {
        s.data = (u_char *) bad_day[i];
        s.len = strlen(bad_day[i]);
        tn_test_ok(tn_mail_imap_parse_date(&s, &t) == TN_ERROR,
                   "date \"%s\" refused", bad_day[i]);
    }
}


static void
tn_test_utf7(void)
{
    size_t    i;
    tn_str_t  in, out, back;

    static const struct {
        const char  *utf7;
        const char  *utf8;
    } good[] = {
        { "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
          "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
          "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
        { "&-", "&" },
        { "a&-b&-", "a&b&" },
        { "INBOX", "INBOX" },
        { "&Jjo-", "\xe2\x98\xba" },
        { "&Jjo-a&Jjo-", "\xe2\x98\xba" "a" "\xe2\x98\xba" },
        { "&2D3eAA-", "\xf0\x9f\x98\x80" },
        { "&AAE-", "\x01" },
        { "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
        { "&BB8EQAQ4BDIENQRC-", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5"
                                "\xd1\x82" },
        { "", "" },
    };

    static const char  *bad[] = {
        "&",                /* & at the end */
        "a&",
        "&Jjo",             /* a shift not ended */
        "&Jjo!-",           /* not base64 */
        "&Jj/-",            /* '/' is ',' in modified base64 */
        "&AGE-",            /* printable ASCII encoded */
        "&ACY-",            /* '&' encoded */
        "&2D0-",            /* a high surrogate alone */
        "&3gA-",            /* a low surrogate alone */
        "&2D3YPQ-",         /* two high surrogates */
        "&Jjo-&Jjo-",       /* two shifts in a row */
        "&Jj-",             /* encodes nothing */
        "&J-",
        "&Jjp-",            /* padding bits not zero */
        "&JjoAAA-",         /* NUL */
        "&AAA-",
        "caf\xc3\xa9",      /* 8-bit */
        "a\x01",            /* a raw control */
        "a\x7f",
    };

    static const char  *bad8[] = {
        "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\0b",
        "\xe2\x98"
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        in.data = (u_char *) good[i].utf7;
        in.len = strlen(good[i].utf7);

        if (tn_mail_imap_utf7_decode(tn_test_pool, &in, &out) != TN_OK) {
            tn_test_ok(0, "utf7 decode \"%s\"", good[i].utf7);
            continue;
        }

        tn_test_eq(&out, good[i].utf8, good[i].utf7);

        if (tn_mail_imap_utf7_encode(tn_test_pool, &out, &back) != TN_OK) {
            tn_test_ok(0, "utf7 encode \"%s\"", good[i].utf7);
            continue;
        }

        tn_test_eq(&back, good[i].utf7, "round trip");
        tn_test_ok(back.data[back.len] == '\0' && out.data[out.len] == '\0',
                   "NUL-terminated");
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        in.data = (u_char *) bad[i];
        in.len = strlen(bad[i]);
        tn_test_ok(tn_mail_imap_utf7_decode(tn_test_pool, &in, &out)
                   == TN_ERROR, "utf7 \"%s\" refused", bad[i]);
    }

    for (i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
        in.data = (u_char *) bad8[i];
        in.len = (i == 4) ? 3 : strlen(bad8[i]);
        tn_test_ok(tn_mail_imap_utf7_encode(tn_test_pool, &in, &out)
                   == TN_ERROR, "utf7 encode of bad UTF-8 %u refused",
                   (unsigned) i);
    }
}


static void
tn_test_fold(void)
{
    u_char    buf[256], big[5000];
    size_t    i, n;
    tn_str_t  s, hay, needle;

    static const struct {
        const char  *in;
        const char  *out;
    } cases[] = {
        { "Hello WORLD 123", "hello world 123" },
        { "\xc3\x80\xc3\x89\xc3\x8e\xc3\x96\xc3\x9e\xc3\x97",  /* ÀÉÎÖÞ× */
          "\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb6\xc3\xbe\xc3\x97" },
        { "\xc3\x9f", "\xc3\x9f" },                          /* ß */
        { "\xc4\x80\xc4\x81\xc5\x81\xc5\xb8\xc5\xbd",       /* ĀāŁŸŽ */
          "\xc4\x81\xc4\x81\xc5\x82\xc3\xbf\xc5\xbe" },
        { "\xc4\xb0\xc5\xbf", "is" },                        /* İſ */
        { "\xce\x91\xce\x92\xce\x93\xce\xa3\xcf\x82\xce\x86",  /* ΑΒΓΣςΆ */
          "\xce\xb1\xce\xb2\xce\xb3\xcf\x83\xcf\x83\xce\xac" },
        { "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2 "
          "\xd0\x81\xd0\xb6",                                /* ПРИВЕТ Ёж */
          "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
          "\xd1\x91\xd0\xb6" },
        { "\xd2\x90\xd3\x80", "\xd2\x91\xd3\x8f" },          /* ҐӀ */
        { "\xe6\x97\xa5X\xff\xc3", "\xe6\x97\xa5x\xff\xc3" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = tn_mail_imap_fold(buf, (u_char *) cases[i].in,
                              strlen(cases[i].in));
        s.data = buf;
        s.len = n;
        tn_test_eq(&s, cases[i].out, "fold");

        /* in place */
        n = strlen(cases[i].in);
        memcpy(buf, cases[i].in, n);
        s.len = tn_mail_imap_fold(buf, buf, n);
        tn_test_eq(&s, cases[i].out, "fold in place");
    }

    tn_str_set(&hay, "hello w\xc3\xb6rld");
    tn_str_set(&needle, "W\xc3\x96R");
    tn_test_ok(tn_mail_imap_contains(&hay, &needle), "contains");
    tn_str_set(&needle, "world");
    tn_test_ok(!tn_mail_imap_contains(&hay, &needle), "contains: no");
    tn_str_set(&needle, "");
    tn_test_ok(tn_mail_imap_contains(&hay, &needle), "contains: empty");
    tn_str_set(&needle, "rldx");
    tn_test_ok(!tn_mail_imap_contains(&hay, &needle), "contains: past end");
    tn_str_set(&needle, "hello w\xc3\xb6rld!");
    tn_test_ok(!tn_mail_imap_contains(&hay, &needle), "contains: longer");
    tn_str_set(&hay, "HELLO W\xc3\x96RLD");
    tn_str_set(&needle, "w\xc3\xb6r");
    tn_test_ok(tn_mail_imap_contains(&hay, &needle),
               "contains: hay not folded");
    tn_str_set(&needle, "w\xc3\xb6x");
    tn_test_ok(!tn_mail_imap_contains(&hay, &needle),
               "contains: hay not folded, no");

    memset(big, 'a', sizeof(big));
    hay.data = big;
    hay.len = sizeof(big);
    needle.data = big;
    needle.len = 2000;
    tn_test_ok(tn_mail_imap_contains(&hay, &needle), "contains: long needle");
    big[sizeof(big) - 1] = 'A';
    needle.data = big + sizeof(big) - 2000;
    tn_test_ok(tn_mail_imap_contains(&hay, &needle),
               "contains: long needle, hay not folded");
    big[sizeof(big) - 1] = 'b';
    tn_test_ok(tn_mail_imap_contains(&hay, &needle),
               "contains: long needle at the end");
    big[sizeof(big) - 1] = 'a';
    big[sizeof(big) - 2000] = 'c';
    hay.len = sizeof(big) - 1000;
    tn_test_ok(!tn_mail_imap_contains(&hay, &needle),
               "contains: long needle, no");

    tn_str_set(&hay, "aab");
    tn_str_set(&needle, "ab");
    tn_test_ok(tn_mail_imap_contains(&hay, &needle), "contains: overlap");
}


/* SORT base subjects, through the cache */

static void
tn_test_subjects(void)
{
    char            text[512];
    size_t          i;
    tn_test_msg_t   m;

    static const struct {
        const char  *subject;
        const char  *base;
    } cases[] = {
        { "Re: [list] Fwd: Hello (fwd)", "hello" },
        { "[Fwd: Re: Test]", "test" },
        { "Re: Re[2]: RE:  x  y", "x y" },
        { "[blob]", "[blob]" },
        { "[a] [b] c", "c" },
        { "Fw: fwd:re: z (FWD) (fwd)", "z" },
        { "=?utf-8?q?Re=3A_=C3=84?=", "\xc3\xa4" },
        { "", "" },
        { "re:", "" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "Subject: %s\n\nx\n", cases[i].subject);
        tn_test_load(text, &m);
        tn_test_eq(&m.cache.sort_subject, cases[i].base, cases[i].subject);
    }
}


int
main(void)
{
    tn_pagesize = getpagesize();
    tn_memzero(&tn_test_log, sizeof(tn_log_t));

    tn_test_pool = tn_create_pool(4096, &tn_test_log);
    if (tn_test_pool == NULL) {
        printf("Bail out! pool\n");
        return 1;
    }

    tn_test_rfc3501();
    tn_test_rfc3501_mixed();
    tn_test_nested();
    tn_test_envelope();
    tn_test_odd();
    tn_test_load_max();
    tn_test_chunks();
    tn_test_astring();
    tn_test_dates();
    tn_test_utf7();
    tn_test_fold();
    tn_test_subjects();

    tn_destroy_pool(tn_test_pool);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
