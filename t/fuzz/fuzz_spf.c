
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the SPF record parser and macro expander
 * (modules/spf/tn_spf_parse.c): the input is a TXT record from a hostile
 * DNS server.
 *
 * Input: byte 0 selects the client's address family and what the
 * input is; the rest is the record text (copied into a buffer of its
 * exact size, so that a read past the end shows in ASan).
 * Checks:
 *   - the record, raw and after "v=spf1 ", parses or is refused; a parsed
 *     record has CIDR lengths in range, domain-specs inside the input
 *     that tn_spf_check_domain_spec() accepts, and each of them expands
 *     within TN_SPF_MAX_EXPAND to a target name of at most 253 bytes in
 *     labels of 1 to 63 (or to none);
 *   - the input as a macro-string and as an explanation: a string the
 *     checker refuses never expands, one it accepts expands or is too
 *     long, and the expansion holds no '%' that was not in a value;
 *   - tn_spf_macro_uses_p() agrees with a plain search.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_spf.h>


#define TN_FUZZ_MAX  (64 * 1024)


static tn_log_t        tn_fuzz_log;
static tn_open_file_t  tn_fuzz_file;
static tn_pool_t      *tn_fuzz_pool;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
tn_fuzz_init(void)
{
    if (tn_fuzz_pool) {
        return;
    }

    tn_pagesize = getpagesize();
    tn_time_init();
    tn_use_stderr = 0;

    tn_fuzz_file.fd = open("/dev/null", O_WRONLY);
    tn_fuzz_log.file = &tn_fuzz_file;
    tn_fuzz_log.log_level = TN_LOG_EMERG;

    tn_fuzz_pool = tn_create_pool(16384, &tn_fuzz_log);
    if (tn_fuzz_pool == NULL) {
        abort();
    }
}


static void
tn_fuzz_macro(tn_spf_macro_t *m, int ipv6)
{
    static tn_str_t  p = tn_string("mx.example.com");

    tn_memzero(m, sizeof(tn_spf_macro_t));

    tn_str_set(&m->sender, "~Strong-Bad+x=y@email.example.com");
    tn_str_set(&m->local, "~Strong-Bad+x=y");
    tn_str_set(&m->sender_domain, "email.example.com");
    tn_str_set(&m->domain, "email.example.com");
    tn_str_set(&m->helo, "JUMPIN' JUPITER");
    tn_str_set(&m->receiver, "mx.example.net");
    m->now = 1700000000;

    if (ipv6) {
        m->validated = p;
        (void) tn_spf_parse_ip((u_char *) "2001:db8::cb01", 14, m);

    } else {
        (void) tn_spf_parse_ip((u_char *) "192.0.2.3", 9, m);
    }
}


static void
tn_fuzz_target(tn_spf_macro_t *m, tn_str_t *spec, u_char *out)
{
    ssize_t   n;
    size_t    i, label;
    tn_str_t  name;

    if (tn_spf_check_domain_spec(spec->data, spec->len) != TN_OK) {
        abort();
    }

    n = tn_spf_expand(m, spec, 0, out);

    if (n == TN_ERROR) {
        return;
    }

    if (n < 0 || n > TN_SPF_MAX_EXPAND) {
        abort();
    }

    name.data = out;
    name.len = n;

    if (tn_spf_target_name(&name) != TN_OK) {
        return;
    }

    if (name.len == 0 || name.len > 253 || name.data < out
        || name.data + name.len > out + n)
    {
        abort();
    }

    label = 0;

    for (i = 0; i < name.len; i++) {
        if (name.data[i] == '.') {
            if (label == 0) {
                abort();
            }
            label = 0;

        } else if (++label > 63) {
            abort();
        }
    }
}


static void
tn_fuzz_record(tn_spf_macro_t *m, u_char *p, size_t len, u_char *out)
{
    tn_int_t          rc;
    tn_str_t          err;
    tn_uint_t         i;
    tn_spf_term_t    *t;
    tn_spf_record_t   rec;

    rc = tn_spf_parse_record(tn_fuzz_pool, p, len, &rec, &err);

    if (rc == TN_ABORT) {
        abort();
    }

    if (rc != TN_OK) {
        if (err.len == 0) {
            abort();
        }
        return;
    }

    if (!tn_spf_is_record(p, len)) {
        abort();
    }

    for (i = 0; i < rec.nterms; i++) {
        t = &rec.terms[i];

        if (t->type < TN_SPF_ALL || t->type > TN_SPF_EXISTS
            || t->cidr4 > 32 || t->cidr6 > 128
            || t->qualifier < TN_SPF_PASS || t->qualifier > TN_SPF_NEUTRAL)
        {
            abort();
        }

        if (t->spec.len == 0) {
            if (t->type == TN_SPF_INCLUDE || t->type == TN_SPF_EXISTS) {
                abort();
            }
            continue;
        }

        if (t->spec.data < p || t->spec.data + t->spec.len > p + len) {
            abort();
        }

        tn_fuzz_target(m, &t->spec, out);
    }

    if (rec.redirect.data) {
        tn_fuzz_target(m, &rec.redirect, out);
    }

    if (rec.exp.data) {
        tn_fuzz_target(m, &rec.exp, out);
    }
}


static void
tn_fuzz_string(tn_spf_macro_t *m, u_char *p, size_t len, tn_uint_t exp,
    u_char *out)
{
    ssize_t   n;
    size_t    i;
    tn_str_t  s;
    tn_uint_t uses;

    s.data = p;
    s.len = len;

    n = tn_spf_expand(m, &s, exp, out);

    if (tn_spf_check_macro_string(p, len, exp) != TN_OK) {
        if (n != TN_ERROR) {
            abort();
        }

    } else if (n != TN_ERROR && (n < 0 || n > TN_SPF_MAX_EXPAND)) {
        abort();
    }

    uses = 0;

    for (i = 0; i + 2 < len; i++) {
        if (p[i] == '%') {
            if (p[i + 1] == '{' && (p[i + 2] | 0x20) == 'p') {
                uses = 1;
                break;
            }
            i++;
        }
    }

    if (uses != tn_spf_macro_uses_p(&s)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char          *p, *q;
    size_t           len;
    tn_spf_macro_t   m;
    static u_char    out[TN_SPF_MAX_EXPAND];

    if (size < 1 || size > TN_FUZZ_MAX) {
        return 0;
    }

    tn_fuzz_init();

    tn_fuzz_macro(&m, data[0] & 1);

    len = size - 1;

    p = malloc(len ? len : 1);
    q = malloc(len + 7);
    if (p == NULL || q == NULL) {
        abort();
    }

    tn_memcpy(p, data + 1, len);
    tn_memcpy(q, "v=spf1 ", 7);
    tn_memcpy(q + 7, data + 1, len);

    tn_fuzz_record(&m, p, len, out);
    tn_fuzz_record(&m, q, len + 7, out);

    tn_fuzz_string(&m, p, len, 0, out);
    tn_fuzz_string(&m, p, len, 1, out);

    free(p);
    free(q);

    tn_reset_pool(tn_fuzz_pool);

    return 0;
}
