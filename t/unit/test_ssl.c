
/*
 * Copyright (C) The Tern developers
 */


/*
 * TLS layer: self-signed generation, contexts, SNI, and handshakes between
 * a server connection (tn_ssl_* on a non-blocking socket, driven the way
 * the edge-triggered loop drives it) and a plain BoringSSL client on the
 * other end of a socketpair, all in one thread.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>

#include <malloc.h>
#include <poll.h>
#include <openssl/x509v3.h>


#define TN_TEST_CN     "mail.example.test"
#define TN_TEST_SNI    "other.test"


typedef struct {
    tn_connection_t   c;
    tn_event_t        rev;
    tn_event_t        wev;
    int               sv[2];
    SSL              *client;
    tn_int_t          rc;           /* of the first tn_ssl_handshake() */
    tn_uint_t         called;       /* c->ssl->handler calls */
    tn_uint_t         handshaked;
    int               client_rc;
} tn_test_conn_t;


static tn_uint_t         tn_test_n;
static tn_uint_t         tn_test_failed;

static tn_log_t          tn_test_log;
static tn_open_file_t    tn_test_log_file;
static tn_conf_file_t    tn_test_conf_file;
static tn_conf_t         tn_test_cf;
static tn_ssl_t          tn_test_ssl;
static char              tn_test_dir[] = "/tmp/tn-test-ssl.XXXXXX";


static void
tn_test_ok(int cond, const char *name)
{
    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%s %d - %s\n", cond ? "ok" : "not ok", (int) tn_test_n, name);
    fflush(stdout);
}


/* a path under the test directory, in the conf pool */

static void
tn_test_path(tn_str_t *s, const char *name)
{
    char  buf[512];
    int   n;

    n = snprintf(buf, sizeof(buf), "%s/%s", tn_test_dir, name);

    s->data = tn_palloc(tn_test_cf.pool, n + 1);
    memcpy(s->data, buf, n + 1);
    s->len = n;
}


/* the error log goes to a file the tests read back */

static void
tn_test_log_reset(void)
{
    if (ftruncate(tn_test_log.file->fd, 0) == -1) {
        printf("# ftruncate() failed\n");
    }
}


static int
tn_test_log_has(const char *text)
{
    ssize_t  n;
    char     buf[16384];

    n = pread(tn_test_log.file->fd, buf, sizeof(buf) - 1, 0);
    if (n < 0) {
        return 0;
    }

    buf[n] = '\0';

    return strstr(buf, text) != NULL;
}


static void
tn_test_dummy_handler(tn_event_t *ev)
{
}


static void
tn_test_handshake_done(tn_connection_t *c)
{
    tn_test_conn_t  *t;

    t = c->data;

    t->called++;
    t->handshaked = c->ssl->handshaked;
}


static int
tn_test_conn_open(tn_test_conn_t *t, SSL_CTX *client_ctx, const char *sni)
{
    tn_memzero(t, sizeof(tn_test_conn_t));

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, t->sv) == -1) {
        return -1;
    }

    (void) tn_nonblocking(t->sv[0]);
    (void) tn_nonblocking(t->sv[1]);

    t->c.fd = t->sv[0];
    t->c.log = &tn_test_log;
    t->c.data = t;
    t->c.read = &t->rev;
    t->c.write = &t->wev;
    t->c.recv = tn_unix_recv;
    t->c.send = tn_unix_send;

    t->rev.data = &t->c;
    t->rev.log = &tn_test_log;
    t->rev.handler = tn_test_dummy_handler;
    t->wev.data = &t->c;
    t->wev.log = &tn_test_log;
    t->wev.write = 1;
    t->wev.ready = 1;
    t->wev.handler = tn_test_dummy_handler;

    t->c.pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, &tn_test_log);
    if (t->c.pool == NULL) {
        return -1;
    }

    t->client = SSL_new(client_ctx);
    if (t->client == NULL) {
        return -1;
    }

    SSL_set_fd(t->client, t->sv[1]);
    SSL_set_connect_state(t->client);

    if (sni) {
        SSL_set_tlsext_host_name(t->client, sni);
    }

    if (tn_ssl_create_connection(&tn_test_ssl, &t->c, 0) != TN_OK) {
        return -1;
    }

    t->c.ssl->handler = tn_test_handshake_done;

    return 0;
}


static void
tn_test_conn_close(tn_test_conn_t *t)
{
    if (t->c.ssl) {
        (void) tn_ssl_shutdown(&t->c);
    }

    if (t->c.pool) {
        tn_destroy_pool(t->c.pool);
    }

    if (t->client) {
        SSL_free(t->client);
    }

    (void) close(t->sv[0]);
    (void) close(t->sv[1]);
}


/*
 * Alternates client steps with what the edge-triggered loop would do for
 * the server: call the read (write) handler when the socket turns
 * readable (writable) while the server waits for it.
 */

static void
tn_test_drive(tn_test_conn_t *t)
{
    int            i, n, client_done;
    struct pollfd  pfd;

    t->rc = tn_ssl_handshake(&t->c);

    if (t->rc != TN_AGAIN) {
        t->called++;
        t->handshaked = (t->rc == TN_OK);
    }

    client_done = 0;

    for (i = 0; i < 200; i++) {

        if (!client_done) {
            n = SSL_do_handshake(t->client);

            if (n == 1) {
                client_done = 1;
                t->client_rc = 1;

            } else {
                n = SSL_get_error(t->client, n);

                if (n != SSL_ERROR_WANT_READ && n != SSL_ERROR_WANT_WRITE) {
                    client_done = 1;
                    t->client_rc = -1;
                    ERR_clear_error();
                }
            }
        }

        if (t->called && client_done) {
            return;
        }

        if (t->called) {
            continue;
        }

        pfd.fd = t->sv[0];
        pfd.events = POLLIN|POLLOUT;
        pfd.revents = 0;

        if (poll(&pfd, 1, 0) <= 0) {
            continue;
        }

        if ((pfd.revents & (POLLIN|POLLHUP)) && !t->rev.ready) {
            t->rev.ready = 1;
            t->rev.handler(&t->rev);

        } else if ((pfd.revents & POLLOUT) && !t->wev.ready) {
            t->wev.ready = 1;
            t->wev.handler(&t->wev);
        }
    }
}


static void
tn_test_peer_cn(SSL *ssl, char *buf, size_t size)
{
    X509  *x509;

    buf[0] = '\0';

    x509 = SSL_get_peer_certificate(ssl);
    if (x509 == NULL) {
        return;
    }

    (void) X509_NAME_get_text_by_NID(X509_get_subject_name(x509),
                                     NID_commonName, buf, (int) size);
    X509_free(x509);
}


static SSL_CTX *
tn_test_client_ctx(int max_version)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        return NULL;
    }

    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

    return ctx;
}


static int
tn_test_read_file(const char *path, char *buf, size_t size)
{
    int      fd;
    ssize_t  n;

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        return -1;
    }

    n = read(fd, buf, size);
    (void) close(fd);

    return (int) n;
}


static void
tn_test_generate(void)
{
    int              n1, n2, days, secs;
    X509            *x509;
    FILE            *fp;
    tn_str_t         cert, key, cn, bad;
    struct stat      st;
    GENERAL_NAMES   *gens;
    GENERAL_NAME    *gen;
    ASN1_IA5STRING  *dns;
    char             buf1[4096], buf2[4096], name[256];

    tn_test_path(&cert, "certs/tern.crt");
    tn_test_path(&key, "certs/tern.key");
    tn_str_set(&cn, TN_TEST_CN);

    tn_test_ok(tn_ssl_generate_self_signed(&tn_test_log, &cert, &key, &cn)
               == TN_OK, "self-signed certificate generated");

    tn_test_ok(stat((char *) key.data, &st) == 0
               && (st.st_mode & 07777) == 0600, "key file mode 0600");

    tn_test_ok(stat((char *) cert.data, &st) == 0
               && (st.st_mode & 07777) == 0644, "certificate file mode 0644");

    x509 = NULL;
    fp = fopen((char *) cert.data, "r");
    if (fp) {
        x509 = PEM_read_X509(fp, NULL, NULL, NULL);
        fclose(fp);
    }

    name[0] = '\0';
    dns = NULL;
    days = 0;
    secs = 0;

    if (x509) {
        (void) X509_NAME_get_text_by_NID(X509_get_subject_name(x509),
                                         NID_commonName, name, sizeof(name));

        gens = X509_get_ext_d2i(x509, NID_subject_alt_name, NULL, NULL);
        if (gens && sk_GENERAL_NAME_num(gens) == 1) {
            gen = sk_GENERAL_NAME_value(gens, 0);
            if (gen->type == GEN_DNS) {
                dns = gen->d.dNSName;
            }
        }

        if (dns) {
            tn_test_ok(ASN1_STRING_length(dns) == (int) cn.len
                       && memcmp(ASN1_STRING_get0_data(dns), cn.data, cn.len)
                          == 0, "subjectAltName DNS is the CN");
        } else {
            tn_test_ok(0, "subjectAltName DNS is the CN");
        }

        GENERAL_NAMES_free(gens);

        (void) ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x509),
                              X509_get0_notAfter(x509));
        X509_free(x509);

    } else {
        tn_test_ok(0, "subjectAltName DNS is the CN");
    }

    tn_test_ok(strcmp(name, TN_TEST_CN) == 0, "certificate CN");
    tn_test_ok(days >= 3650 && days <= 3655, "valid for ten years");

    n1 = tn_test_read_file((char *) key.data, buf1, sizeof(buf1));

    tn_test_ok(tn_ssl_generate_self_signed(&tn_test_log, &cert, &key, &cn)
               == TN_ERROR, "existing key and certificate are not replaced");

    n2 = tn_test_read_file((char *) key.data, buf2, sizeof(buf2));

    tn_test_ok(n1 > 0 && n1 == n2 && memcmp(buf1, buf2, n1) == 0,
               "existing key left as it was");

    /* only the certificate exists: no key may be left behind */

    tn_test_path(&bad, "certs/lone.key");

    tn_test_ok(tn_ssl_generate_self_signed(&tn_test_log, &cert, &bad, &cn)
               == TN_ERROR && access((char *) bad.data, F_OK) == -1,
               "existing certificate is not replaced, no key left");

    tn_test_path(&cert, "certs/x.crt");
    tn_test_path(&key, "certs/x.key");
    tn_str_set(&bad, "bad,name\\");

    tn_test_ok(tn_ssl_generate_self_signed(&tn_test_log, &cert, &key, &bad)
               == TN_ERROR && access((char *) key.data, F_OK) == -1,
               "invalid host name refused");

    tn_test_path(&cert, "sni/other.crt");
    tn_test_path(&key, "sni/other.key");
    tn_str_set(&cn, TN_TEST_SNI);

    tn_test_ok(tn_ssl_generate_self_signed(&tn_test_log, &cert, &key, &cn)
               == TN_OK, "second certificate generated");
}


static void
tn_test_contexts(void)
{
    tn_ssl_t  ssl;
    tn_str_t  cert, key, key2, name, missing;

    tn_test_path(&cert, "certs/tern.crt");
    tn_test_path(&key, "certs/tern.key");
    tn_test_path(&key2, "sni/other.key");
    tn_test_path(&missing, "certs/missing.crt");

    tn_test_ok(tn_ssl_create(&tn_test_cf, &tn_test_ssl, &tn_test_cf) == TN_OK
               && tn_ssl_certificate(&tn_test_cf, &tn_test_ssl, &cert, &key)
                  == TN_OK
               && tn_ssl_session_cache(&tn_test_ssl, 600) == TN_OK,
               "server context");

    tn_test_ok(SSL_CTX_get_ex_data(tn_test_ssl.ctx, tn_ssl_server_conf_index)
               == &tn_test_cf, "server conf ex_data");

    tn_memzero(&ssl, sizeof(tn_ssl_t));

    tn_test_log_reset();

    tn_test_ok(tn_ssl_create(&tn_test_cf, &ssl, NULL) == TN_OK
               && tn_ssl_certificate(&tn_test_cf, &ssl, &cert, &key2)
                  == TN_ERROR, "mismatched key refused");

    tn_test_ok(tn_test_log_has("does not match"), "mismatch logged");

    tn_test_ok(tn_ssl_certificate(&tn_test_cf, &ssl, &missing, &key)
               == TN_ERROR && tn_test_log_has("missing.crt"),
               "missing certificate refused, file named");

    tn_test_path(&cert, "sni/other.crt");

    tn_str_set(&name, "Other.Test");

    tn_test_ok(tn_ssl_add_sni(&tn_test_cf, &tn_test_ssl, &name, &cert, &key2)
               == TN_OK, "SNI name added");

    tn_str_set(&name, "other.TEST");

    tn_test_ok(tn_ssl_add_sni(&tn_test_cf, &tn_test_ssl, &name, &cert, &key2)
               == TN_ERROR, "duplicate SNI name refused");

    tn_str_set(&name, "bad\\name");

    tn_test_ok(tn_ssl_add_sni(&tn_test_cf, &tn_test_ssl, &name, &cert, &key2)
               == TN_ERROR, "invalid SNI name refused");
}


static void
tn_test_tls13(SSL_CTX *client_ctx)
{
    int              n;
    ssize_t          rc;
    u_char           buf[64];
    char             cn[256];
    tn_test_conn_t   t;

    if (tn_test_conn_open(&t, client_ctx, NULL) != 0) {
        tn_test_ok(0, "TLS 1.3 connection set up");
        return;
    }

    tn_test_drive(&t);

    tn_test_ok(t.rc == TN_AGAIN && t.called == 1 && t.handshaked == 1
               && t.client_rc == 1, "TLS 1.3 handshake via the handler");

    tn_test_ok(strcmp(tn_ssl_get_protocol(&t.c), "TLSv1.3") == 0
               && SSL_version(t.client) == TLS1_3_VERSION,
               "TLS 1.3 negotiated");

    tn_test_ok(strncmp(tn_ssl_get_cipher_name(&t.c), "TLS_", 4) == 0,
               "TLS 1.3 cipher name");

    tn_test_peer_cn(t.client, cn, sizeof(cn));
    tn_test_ok(strcmp(cn, TN_TEST_CN) == 0, "no SNI: default certificate");

    tn_test_ok(t.c.recv == tn_ssl_recv && t.c.send == tn_ssl_write
               && t.rev.ready, "recv/send switched, read ready");

    n = SSL_write(t.client, "EHLO x\r\n", 8);

    rc = t.c.recv(&t.c, buf, sizeof(buf));

    tn_test_ok(n == 8 && rc == 8 && memcmp(buf, "EHLO x\r\n", 8) == 0,
               "tn_ssl_recv() reads a record");

    rc = t.c.recv(&t.c, buf, sizeof(buf));

    tn_test_ok(rc == TN_AGAIN && !t.rev.ready, "then TN_AGAIN, not ready");

    /* two records, read into a buffer smaller than both */

    n = SSL_write(t.client, "0123456789", 10);
    n += SSL_write(t.client, "abcdef", 6);

    rc = t.c.recv(&t.c, buf, 12);

    tn_test_ok(n == 16 && rc == 12 && t.rev.ready
               && memcmp(buf, "0123456789ab", 12) == 0,
               "a full buffer leaves read ready");

    rc = t.c.recv(&t.c, buf, sizeof(buf));

    tn_test_ok(rc == 4 && memcmp(buf, "cdef", 4) == 0, "rest of the data");

    rc = t.c.send(&t.c, (u_char *) "250 ok\r\n", 8);
    n = SSL_read(t.client, buf, sizeof(buf));

    tn_test_ok(rc == 8 && n == 8 && memcmp(buf, "250 ok\r\n", 8) == 0,
               "tn_ssl_write() reaches the client");

    /* T4: close_notify, then a plaintext byte */

    (void) SSL_shutdown(t.client);
    n = write(t.sv[1], "X", 1);

    rc = t.c.recv(&t.c, buf, sizeof(buf));

    tn_test_ok(n == 1 && rc == 0 && t.rev.eof, "close_notify gives 0");

    rc = t.c.recv(&t.c, buf, sizeof(buf));

    tn_test_ok(rc == 0, "and stays at 0 despite the plaintext after it");

    (void) tn_ssl_shutdown(&t.c);

    tn_test_ok(t.c.ssl == NULL && t.c.recv == tn_unix_recv
               && t.c.send == tn_unix_send, "shutdown restores plain I/O");

    tn_test_conn_close(&t);
}


static void
tn_test_tls12(void)
{
    SSL_CTX         *ctx;
    tn_test_conn_t   t;

    ctx = tn_test_client_ctx(TLS1_2_VERSION);

    if (ctx == NULL || tn_test_conn_open(&t, ctx, NULL) != 0) {
        tn_test_ok(0, "TLS 1.2 connection set up");
        return;
    }

    tn_test_drive(&t);

    tn_test_ok(t.handshaked && t.client_rc == 1
               && strcmp(tn_ssl_get_protocol(&t.c), "TLSv1.2") == 0
               && strncmp(tn_ssl_get_cipher_name(&t.c), "ECDHE-", 6) == 0,
               "TLS 1.2 client gets an ECDHE suite");

    tn_test_conn_close(&t);
    SSL_CTX_free(ctx);
}


static void
tn_test_old_client(void)
{
    SSL_CTX         *ctx;
    tn_test_conn_t   t;

    ctx = tn_test_client_ctx(TLS1_1_VERSION);

    if (ctx == NULL || tn_test_conn_open(&t, ctx, NULL) != 0) {
        tn_test_ok(0, "TLS 1.1 connection set up");
        return;
    }

    tn_test_log_reset();

    tn_test_drive(&t);

    tn_test_ok(t.called == 1 && t.handshaked == 0 && t.client_rc == -1,
               "TLS 1.1 client refused");

    tn_test_ok(tn_test_log_has("[info]")
               && tn_test_log_has("SSL_do_handshake() failed")
               && !tn_test_log_has("[crit]") && !tn_test_log_has("[alert]"),
               "refusal logged at info");

    tn_test_conn_close(&t);
    SSL_CTX_free(ctx);
}


static void
tn_test_sni(SSL_CTX *client_ctx)
{
    size_t           i;
    const char      *sn;
    tn_test_conn_t   t;
    char             cn[256], name[300];

    struct {
        const char  *sni;
        const char  *cn;
        const char  *title;
    } cases[] = {
        { "OTHER.test", TN_TEST_SNI, "SNI in another case picks its cert" },
        { "other.test", TN_TEST_SNI, "SNI picks its certificate" },
        { "unknown.test", TN_TEST_CN, "unknown SNI: default certificate" },
        { "other.test\\", TN_TEST_CN, "SNI with a backslash: default" },
        { "other.test.", TN_TEST_CN, "SNI with a trailing dot: default" },
        { NULL, TN_TEST_CN, "SNI of 255 bytes: default certificate" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {

        if (cases[i].sni == NULL) {
            memset(name, 'a', 255);
            name[255] = '\0';
            cases[i].sni = name;
        }

        if (tn_test_conn_open(&t, client_ctx, cases[i].sni) != 0) {
            tn_test_ok(0, cases[i].title);
            continue;
        }

        tn_test_drive(&t);

        tn_test_peer_cn(t.client, cn, sizeof(cn));

        tn_test_ok(t.handshaked && strcmp(cn, cases[i].cn) == 0,
                   cases[i].title);

        if (i == 3) {
            sn = tn_ssl_get_server_name(&t.c);
            tn_test_ok(sn == NULL, "server name with a backslash hidden");
        }

        if (i == 0) {
            sn = tn_ssl_get_server_name(&t.c);
            tn_test_ok(sn && strcmp(sn, "OTHER.test") == 0,
                       "server name reported");
        }

        tn_test_conn_close(&t);
    }
}


/* many distinct names must not make memory grow */

static void
tn_test_sni_flood(SSL_CTX *client_ctx)
{
    int              i, ok;
    size_t           before, after;
    char              name[64];
    tn_test_conn_t    t;
    struct mallinfo2  mi;

    ok = 1;
    before = 0;

    for (i = 0; i < 320; i++) {

        if (i == 20) {
            mi = mallinfo2();
            before = mi.uordblks;
        }

        snprintf(name, sizeof(name), "n%d.flood.test", i);

        if (tn_test_conn_open(&t, client_ctx, name) != 0) {
            ok = 0;
            break;
        }

        tn_test_drive(&t);

        if (!t.handshaked) {
            ok = 0;
        }

        tn_test_conn_close(&t);
    }

    mi = mallinfo2();
    after = mi.uordblks;

    tn_test_ok(ok, "300 handshakes with distinct SNI names");
    tn_test_ok(after < before + 64 * 1024 && tn_test_ssl.sni->nelts == 1,
               "memory stays flat");
}


static void
tn_test_bad_records(SSL_CTX *client_ctx)
{
    ssize_t          n, rc, rc2;
    u_char           buf[64];
    tn_test_conn_t   t;

    static u_char    partial[] = { 0x17, 0x03, 0x03, 0x00, 0x40, 1, 2, 3 };
    static u_char    junk[] = { 0x17, 0x03, 0x03, 0x00, 0x20,
                                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                                25, 26, 27, 28, 29, 30, 31, 32 };

    /* a truncated record, then EOF */

    if (tn_test_conn_open(&t, client_ctx, NULL) == 0) {
        tn_test_drive(&t);

        n = write(t.sv[1], partial, sizeof(partial));
        (void) shutdown(t.sv[1], SHUT_WR);

        rc = t.c.recv(&t.c, buf, sizeof(buf));
        rc2 = t.c.recv(&t.c, buf, sizeof(buf));

        tn_test_ok(t.handshaked && n == (ssize_t) sizeof(partial)
                   && (rc == 0 || rc == TN_ERROR) && rc2 == rc,
                   "truncated record: end of stream, and it stays");

        tn_test_conn_close(&t);

    } else {
        tn_test_ok(0, "truncated record");
    }

    /* a record that does not decrypt */

    if (tn_test_conn_open(&t, client_ctx, NULL) == 0) {
        tn_test_drive(&t);

        tn_test_log_reset();

        n = write(t.sv[1], junk, sizeof(junk));

        rc = t.c.recv(&t.c, buf, sizeof(buf));
        rc2 = t.c.recv(&t.c, buf, sizeof(buf));

        tn_test_ok(t.handshaked && n == (ssize_t) sizeof(junk)
                   && rc == TN_ERROR && rc2 == TN_ERROR
                   && t.rev.error, "undecryptable record: TN_ERROR");

        tn_test_ok(tn_test_log_has("[info]") && !tn_test_log_has("[crit]"),
                   "bad record logged at info");

        tn_test_conn_close(&t);

    } else {
        tn_test_ok(0, "undecryptable record");
    }

    /* a fatal alert from the client */

    if (tn_test_conn_open(&t, client_ctx, NULL) == 0) {
        tn_test_drive(&t);

#if (defined OPENSSL_IS_BORINGSSL)
        SSL_send_fatal_alert(t.client, SSL_AD_DECODE_ERROR);
#else
        (void) SSL_shutdown(t.client);
#endif

        rc = t.c.recv(&t.c, buf, sizeof(buf));

        tn_test_ok(t.handshaked && (rc == TN_ERROR || rc == 0),
                   "alert from the peer ends the stream");

        tn_test_conn_close(&t);

    } else {
        tn_test_ok(0, "alert from the peer");
    }
}


static void
tn_test_timeout(SSL_CTX *client_ctx)
{
    tn_test_conn_t  t;

    if (tn_test_conn_open(&t, client_ctx, NULL) != 0) {
        tn_test_ok(0, "handshake timeout");
        return;
    }

    /* the client never speaks; the caller's timer fires */

    t.rc = tn_ssl_handshake(&t.c);

    t.rev.timedout = 1;
    t.rev.handler(&t.rev);

    tn_test_ok(t.rc == TN_AGAIN && t.called == 1 && t.handshaked == 0
               && t.c.timedout, "timed out handshake calls the handler");

    /* a late event must not run the handshake and the callback again */

    t.rev.timedout = 0;
    t.rev.handler(&t.rev);

    tn_test_ok(t.called == 1, "no second callback");

    tn_test_conn_close(&t);
}


static SSL_SESSION  *tn_test_session;


/* TLS 1.3 sessions arrive as tickets after the handshake, through here */

static int
tn_test_new_session(SSL *ssl, SSL_SESSION *sess)
{
    if (tn_test_session) {
        SSL_SESSION_free(tn_test_session);
    }

    tn_test_session = sess;

    return 1;
}


static void
tn_test_resume(int version, const char *title)
{
    int              reused;
    ssize_t          n;
    u_char           buf[16];
    SSL_CTX         *ctx;
    SSL_SESSION     *sess;
    tn_test_conn_t   t;

    ctx = tn_test_client_ctx(version);
    if (ctx == NULL) {
        tn_test_ok(0, title);
        return;
    }

    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                        |SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, tn_test_new_session);

    if (version == TLS1_2_VERSION) {
        /* test the server's session ID cache, not tickets */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }

    sess = NULL;
    reused = 0;
    n = 0;

    if (tn_test_conn_open(&t, ctx, NULL) == 0) {
        tn_test_drive(&t);

        /*
         * BoringSSL sends TLS 1.3 tickets with the server's first write
         * (the greeting); the client reads them with the data.
         */
        n = t.c.send(&t.c, (u_char *) "220 x\r\n", 7);
        (void) SSL_read(t.client, buf, sizeof(buf));
        ERR_clear_error();

        sess = tn_test_session;
        tn_test_session = NULL;
        tn_test_conn_close(&t);
    }

    if (sess && tn_test_conn_open(&t, ctx, NULL) == 0) {
        SSL_set_session(t.client, sess);
        tn_test_drive(&t);
        reused = t.handshaked && SSL_session_reused(t.client);
        tn_test_conn_close(&t);
    }

    if (sess) {
        SSL_SESSION_free(sess);
    }

    if (tn_test_session) {
        SSL_SESSION_free(tn_test_session);
        tn_test_session = NULL;
    }

    tn_test_ok(reused && n == 7, title);

    SSL_CTX_free(ctx);
}


int
main(void)
{
    SSL_CTX  *ctx;
    char      path[512];

    tn_pagesize = getpagesize();
    tn_time_init();

    tn_queue_init(&tn_posted_events);

    if (mkdtemp(tn_test_dir) == NULL) {
        printf("Bail out! mkdtemp() failed\n");
        return 1;
    }

    snprintf(path, sizeof(path), "%s/error.log", tn_test_dir);

    tn_test_log_file.fd = open(path, O_RDWR|O_CREAT|O_APPEND|O_CLOEXEC,
                               0644);
    tn_test_log_file.name.data = (u_char *) path;
    tn_test_log_file.name.len = strlen(path);

    tn_test_log.file = &tn_test_log_file;
    tn_test_log.log_level = TN_LOG_INFO;

    tn_test_conf_file.name.data = (u_char *) "test_ssl.conf";
    tn_test_conf_file.name.len = sizeof("test_ssl.conf") - 1;
    tn_test_conf_file.line = 1;
    tn_test_conf_file.fd = -1;

    tn_test_cf.log = &tn_test_log;
    tn_test_cf.conf_file = &tn_test_conf_file;
    tn_test_cf.pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, &tn_test_log);
    tn_test_cf.temp_pool = tn_test_cf.pool;

    if (tn_test_log_file.fd == -1 || tn_test_cf.pool == NULL
        || tn_ssl_init(&tn_test_log) != TN_OK)
    {
        printf("Bail out! setup failed\n");
        return 1;
    }

    tn_test_generate();
    tn_test_contexts();

    ctx = tn_test_client_ctx(TLS1_3_VERSION);

    if (ctx && tn_test_ssl.ctx) {
        tn_test_tls13(ctx);
        tn_test_tls12();
        tn_test_old_client();
        tn_test_sni(ctx);
        tn_test_sni_flood(ctx);
        tn_test_bad_records(ctx);
        tn_test_timeout(ctx);
        tn_test_resume(TLS1_2_VERSION, "TLS 1.2 session resumed");
        tn_test_resume(TLS1_3_VERSION, "TLS 1.3 session resumed");

    } else {
        tn_test_ok(0, "contexts for handshakes");
    }

    if (ctx) {
        SSL_CTX_free(ctx);
    }

    /* frees the server contexts through the pool cleanups */
    tn_destroy_pool(tn_test_cf.pool);

    if (tn_test_failed == 0) {
        snprintf(path, sizeof(path), "rm -rf '%s'", tn_test_dir);

        if (system(path) != 0) {
            fprintf(stderr, "cannot remove %s\n", tn_test_dir);
        }

    } else {
        fprintf(stderr, "test files left in %s\n", tn_test_dir);
    }

    printf("1..%d\n", (int) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
