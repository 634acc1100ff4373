/*
 * Copyright (c) 2026, The Tern developers
 *
 * smtp_load: the load client of t/bench/smtp_submission.sh.  Threads
 * with blocking sockets, each running whole sessions one after the
 * other until the count or the time is used up:
 *
 *   -m hs     TLS handshake on an implicit-TLS port (full handshake, no
 *             session resumption), read the 220, close
 *   -m sub    submission: [STARTTLS or implicit TLS], EHLO, AUTH PLAIN,
 *             then -M messages (MAIL, RCPT, DATA pipelined; body), QUIT
 *   -m pipe   one plain session per message: EHLO, then MAIL, -r RCPTs
 *             and DATA in one write (RFC 2920), the body, QUIT
 *   -m speed  no connection: the TLS library's own P-256 ECDH, ECDSA
 *             P-256 sign and RSA 2048 sign rates on one core, each for
 *             -t seconds of CPU time (like `openssl speed`, for the
 *             library this client is built with)
 *
 *     cc -O2 -o smtp_load smtp_load.c -lssl -lcrypto -lpthread
 *     smtp_load -m hs -c 32 -t 8 -n 1000000 -g P-256 127.0.0.1:465
 *
 * Prints one line of key=value (sessions, failed, messages, rcpts,
 * elapsed: seconds from the start to the last success, cpu: the client's
 * own user+system seconds, tls: protocol, cipher, group and signature of
 * the first TLS session, error: the first failure).
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdh.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>


#define TN_BENCH_IO_TIMEOUT  30
#define TN_BENCH_BUF         16384


typedef enum {
    TN_BENCH_HS = 0,
    TN_BENCH_SUB,
    TN_BENCH_PIPE,
    TN_BENCH_SPEED
} tn_bench_mode_e;


typedef enum {
    TN_BENCH_TLS_NONE = 0,
    TN_BENCH_TLS_STARTTLS,
    TN_BENCH_TLS_IMPLICIT
} tn_bench_tls_e;


typedef struct {
    int               fd;
    SSL              *ssl;
    size_t            len;
    size_t            off;
    char              buf[TN_BENCH_BUF];
    char              line[1024];       /* the last reply line */
} tn_bench_conn_t;


/* settings */

static tn_bench_mode_e    mode = TN_BENCH_HS;
static tn_bench_tls_e     tls = TN_BENCH_TLS_NONE;
static int                clients = 1;
static long               count = 1;
static double             seconds = 60;
static long               per_session = 1;
static long               rcpts = 1;
static long               size = 4096;
static const char        *groups;
static const char        *sni = "mail.bench.test";
static const char        *user;
static const char        *pass;
static const char        *from = "sender@client.bench.test";
static const char        *to = "u@bench.test";
static const char        *helo = "client.bench.test";
static struct sockaddr_in  addr;

static SSL_CTX           *ctx;
static char              *body;
static size_t             body_len;
static char               auth_line[1024];

/* shared state */

static pthread_mutex_t    lock = PTHREAD_MUTEX_INITIALIZER;
static long               next_session;
static long               sessions_total;
static long               sessions_ok;
static long               sessions_failed;
static long               messages_ok;
static long               rcpts_ok;
static double             t_start;
static double             t_deadline;
static double             t_last;
static char               first_error[1600];
static char               tls_info[256];


static double
tn_bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
tn_bench_fail(tn_bench_conn_t *c, const char *fmt, ...)
{
    char     msg[400], *p;
    va_list  args;

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    pthread_mutex_lock(&lock);

    if (first_error[0] == '\0') {
        snprintf(first_error, sizeof(first_error), "%s%s%s", msg,
                 c && c->line[0] ? ": " : "", c ? c->line : "");

        for (p = first_error; *p; p++) {
            if (*p == '"' || (unsigned char) *p < 0x20) {
                *p = '\'';
            }
        }
    }

    pthread_mutex_unlock(&lock);

    return -1;
}


static int
tn_bench_write(tn_bench_conn_t *c, const char *p, size_t len)
{
    ssize_t  n;

    while (len) {
        if (c->ssl) {
            n = SSL_write(c->ssl, p, len);
            if (n <= 0) {
                return tn_bench_fail(c, "SSL_write failed");
            }

        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return tn_bench_fail(c, "send: %s", strerror(errno));
            }
        }

        p += n;
        len -= n;
    }

    return 0;
}


static int
tn_bench_fill(tn_bench_conn_t *c)
{
    ssize_t  n;

    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }

    if (c->len == sizeof(c->buf)) {
        return tn_bench_fail(c, "reply line too long");
    }

    for ( ;; ) {
        if (c->ssl) {
            n = SSL_read(c->ssl, c->buf + c->len, sizeof(c->buf) - c->len);

        } else {
            n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
            if (n < 0 && errno == EINTR) {
                continue;
            }
        }

        break;
    }

    if (n <= 0) {
        return tn_bench_fail(c, n == 0 ? "connection closed"
                                       : "read failed or timed out");
    }

    c->len += n;

    return 0;
}


/* reads one whole reply (all its lines); returns its code */

static int
tn_bench_reply(tn_bench_conn_t *c)
{
    char    *p, *nl;
    size_t   n;

    c->line[0] = '\0';

    for ( ;; ) {
        p = c->buf + c->off;
        nl = memchr(p, '\n', c->len - c->off);

        if (nl == NULL) {
            if (tn_bench_fill(c) != 0) {
                return -1;
            }
            continue;
        }

        n = nl - p + 1;
        c->off += n;

        if (n < 4) {
            return tn_bench_fail(c, "short reply line");
        }

        if (p[3] == '-') {
            continue;
        }

        n = n < sizeof(c->line) ? n : sizeof(c->line) - 1;
        memcpy(c->line, p, n);
        while (n && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r')) {
            n--;
        }
        c->line[n] = '\0';

        return atoi(p);
    }
}


static int
tn_bench_expect(tn_bench_conn_t *c, int code, const char *what)
{
    int  rc;

    rc = tn_bench_reply(c);
    if (rc < 0) {
        return -1;
    }

    if (rc != code) {
        return tn_bench_fail(c, "%s: expected %d", what, code);
    }

    return 0;
}


static int
tn_bench_cmd(tn_bench_conn_t *c, const char *cmd, int code)
{
    char  line[1100];
    int   n;

    n = snprintf(line, sizeof(line), "%s\r\n", cmd);

    if (tn_bench_write(c, line, n) != 0) {
        return -1;
    }

    return tn_bench_expect(c, code, cmd);
}


static int
tn_bench_connect(tn_bench_conn_t *c)
{
    int             one = 1;
    struct timeval  tv = { TN_BENCH_IO_TIMEOUT, 0 };

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return tn_bench_fail(NULL, "socket: %s", strerror(errno));
    }

    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (connect(c->fd, (struct sockaddr *) &addr, sizeof(addr)) != 0) {
        return tn_bench_fail(NULL, "connect: %s", strerror(errno));
    }

    return 0;
}


static void
tn_bench_tls_note(SSL *ssl)
{
    const char  *g, *sig;

    if (tls_info[0]) {
        return;
    }

#ifdef OPENSSL_IS_BORINGSSL
    g = SSL_get_curve_name(SSL_get_curve_id(ssl));
    sig = SSL_get_signature_algorithm_name(
              SSL_get_peer_signature_algorithm(ssl), 0);
#else
    int  nid;

    nid = SSL_get_negotiated_group(ssl);
    g = nid > 0 ? OBJ_nid2sn(nid & ~TLSEXT_nid_unknown) : NULL;

    sig = SSL_get_peer_signature_type_nid(ssl, &nid) == 1
          ? OBJ_nid2sn(nid) : NULL;
#endif

    pthread_mutex_lock(&lock);

    if (tls_info[0] == '\0') {
        snprintf(tls_info, sizeof(tls_info), "%s,%s,%s,%s",
                 SSL_get_version(ssl),
                 SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
                 g ? g : "?", sig ? sig : "?");
    }

    pthread_mutex_unlock(&lock);
}


static int
tn_bench_handshake(tn_bench_conn_t *c)
{
    int            err;
    unsigned long  e;

    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL) {
        return tn_bench_fail(NULL, "SSL_new failed");
    }

    SSL_set_fd(c->ssl, c->fd);
    errno = 0;
    SSL_set_tlsext_host_name(c->ssl, sni);

    if (SSL_connect(c->ssl) != 1) {
        err = errno;
        e = ERR_get_error();
        return tn_bench_fail(NULL, "TLS handshake failed: %s",
                             e ? ERR_error_string(e, NULL)
                             : err ? strerror(err) : "closed");
    }

    tn_bench_tls_note(c->ssl);

    return 0;
}


static void
tn_bench_close(tn_bench_conn_t *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }

    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }

    ERR_clear_error();
}


/* MAIL, the RCPTs and DATA in one write, then the body; 0: 250 */

static int
tn_bench_message(tn_bench_conn_t *c, long seq, long *accepted)
{
    char   cmds[64 * 1024], hdr[1024], rcpt[256];
    long   i;
    int    n, hn, rc;

    n = snprintf(cmds, sizeof(cmds), "MAIL FROM:<%s>\r\n", from);

    for (i = 1; i <= rcpts; i++) {
        /* -r N: "%ld" in the address is the recipient's number */
        snprintf(rcpt, sizeof(rcpt), to, i);
        n += snprintf(cmds + n, sizeof(cmds) - n, "RCPT TO:<%s>\r\n", rcpt);
    }

    n += snprintf(cmds + n, sizeof(cmds) - n, "DATA\r\n");

    if (tn_bench_write(c, cmds, n) != 0) {
        return -1;
    }

    if (tn_bench_expect(c, 250, "MAIL") != 0) {
        return -1;
    }

    *accepted = 0;

    for (i = 1; i <= rcpts; i++) {
        rc = tn_bench_reply(c);
        if (rc < 0) {
            return -1;
        }
        if (rc == 250 || rc == 251) {
            (*accepted)++;
        } else {
            tn_bench_fail(c, "RCPT %ld refused", i);
        }
    }

    if (tn_bench_expect(c, 354, "DATA") != 0) {
        return -1;
    }

    hn = snprintf(hdr, sizeof(hdr),
                  "From: <%s>\r\n"
                  "To: <%s>\r\n"
                  "Subject: bench %ld\r\n"
                  "Message-ID: <%ld.%d.%ld@%s>\r\n"
                  "\r\n",
                  from, rcpts > 1 ? "undisclosed-recipients:;" : to,
                  seq, (long) time(NULL), (int) getpid(), seq, helo);

    if (tn_bench_write(c, hdr, hn) != 0
        || tn_bench_write(c, body, body_len) != 0
        || tn_bench_write(c, ".\r\n", 3) != 0)
    {
        return -1;
    }

    return tn_bench_expect(c, 250, "end of DATA");
}


static int
tn_bench_ehlo(tn_bench_conn_t *c)
{
    char  cmd[300];

    snprintf(cmd, sizeof(cmd), "EHLO %s", helo);

    return tn_bench_cmd(c, cmd, 250);
}


/* one session; returns the messages it got 250 for, -1 on failure */

static long
tn_bench_session(long s, long *rcpt_total)
{
    long              i, msgs, done, acc;
    tn_bench_conn_t  *c;

    c = malloc(sizeof(tn_bench_conn_t));
    if (c == NULL) {
        return tn_bench_fail(NULL, "out of memory");
    }

    c->fd = -1;
    c->ssl = NULL;
    c->len = 0;
    c->off = 0;
    c->line[0] = '\0';
    done = 0;
    *rcpt_total = 0;

    if (tn_bench_connect(c) != 0) {
        goto failed;
    }

    if (tls == TN_BENCH_TLS_IMPLICIT && tn_bench_handshake(c) != 0) {
        goto failed;
    }

    if (tn_bench_expect(c, 220, "greeting") != 0) {
        goto failed;
    }

    if (mode == TN_BENCH_HS) {
        tn_bench_close(c);
        free(c);
        return 1;
    }

    if (tn_bench_ehlo(c) != 0) {
        goto failed;
    }

    if (tls == TN_BENCH_TLS_STARTTLS) {
        if (tn_bench_cmd(c, "STARTTLS", 220) != 0) {
            goto failed;
        }

        c->len = 0;
        c->off = 0;

        if (tn_bench_handshake(c) != 0 || tn_bench_ehlo(c) != 0) {
            goto failed;
        }
    }

    if (user && tn_bench_cmd(c, auth_line, 235) != 0) {
        goto failed;
    }

    msgs = mode == TN_BENCH_SUB ? per_session : 1;

    if (mode == TN_BENCH_SUB && (s + 1) * per_session > count) {
        msgs = count - s * per_session;
    }

    for (i = 0; i < msgs; i++) {
        if (tn_bench_message(c, s * per_session + i, &acc) != 0) {
            goto failed;
        }

        done++;
        *rcpt_total += acc;

        pthread_mutex_lock(&lock);
        messages_ok++;
        rcpts_ok += acc;
        t_last = tn_bench_now();
        pthread_mutex_unlock(&lock);
    }

    if (tn_bench_cmd(c, "QUIT", 221) != 0) {
        goto failed;
    }

    tn_bench_close(c);
    free(c);

    return done;

failed:

    tn_bench_close(c);
    free(c);

    return -1;
}


static void *
tn_bench_thread(void *data)
{
    long  s, n, r;

    (void) data;

    for ( ;; ) {
        pthread_mutex_lock(&lock);

        if (next_session >= sessions_total || tn_bench_now() >= t_deadline) {
            pthread_mutex_unlock(&lock);
            break;
        }

        s = next_session++;

        pthread_mutex_unlock(&lock);

        n = tn_bench_session(s, &r);

        pthread_mutex_lock(&lock);

        if (n < 0) {
            sessions_failed++;

        } else {
            sessions_ok++;

            if (mode == TN_BENCH_HS) {
                t_last = tn_bench_now();
            }
        }

        pthread_mutex_unlock(&lock);
    }

    return NULL;
}


static void
tn_bench_make_body(void)
{
    int     k;
    long    i;
    size_t  n, room, line;

    body = malloc(size + 200);
    if (body == NULL) {
        exit(2);
    }

    n = 0;
    i = 0;

    /* numbered lines of 76 characters and CRLF; none starts with '.' */

    while ((long) n < size) {
        room = size - n;
        line = room > 78 ? 76 : (room > 3 ? room - 2 : 1);

        k = snprintf(body + n, line + 1, "%ld", ++i);
        k = (size_t) k > line ? (int) line : k;

        memset(body + n + k, 'x', line - k);
        n += line;
        body[n++] = '\r';
        body[n++] = '\n';
    }

    body_len = n;
}


/*
 * The low-level EC_KEY and RSA calls are deprecated in OpenSSL 3 but are
 * the ones both OpenSSL and BoringSSL have; each op is what a TLS server
 * does once per full handshake (a P-256 ECDH, a signature).
 */

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static double
tn_bench_cpu(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
tn_bench_speed(void)
{
    long            n;
    double          t0, t, ecdh, sign, rsa;
    BIGNUM         *e;
    EC_KEY         *a, *b;
    RSA            *r;
    unsigned int    len;
    unsigned char   out[64], digest[32], sig[512];

    memset(digest, 0x5a, sizeof(digest));

    a = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    b = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    r = RSA_new();
    e = BN_new();

    if (a == NULL || b == NULL || r == NULL || e == NULL
        || !EC_KEY_generate_key(a) || !EC_KEY_generate_key(b)
        || !BN_set_word(e, 65537) || !RSA_generate_key_ex(r, 2048, e, NULL))
    {
        fprintf(stderr, "key generation failed\n");
        return 2;
    }

    t0 = tn_bench_cpu();
    for (n = 0; (t = tn_bench_cpu() - t0) < seconds; n++) {
        if (ECDH_compute_key(out, 32, EC_KEY_get0_public_key(b), a, NULL)
            <= 0)
        {
            return 2;
        }
    }
    ecdh = n / t;

    t0 = tn_bench_cpu();
    for (n = 0; (t = tn_bench_cpu() - t0) < seconds; n++) {
        if (!ECDSA_sign(0, digest, 32, sig, &len, a)) {
            return 2;
        }
    }
    sign = n / t;

    t0 = tn_bench_cpu();
    for (n = 0; (t = tn_bench_cpu() - t0) < seconds; n++) {
        if (!RSA_sign(NID_sha256, digest, 32, sig, &len, r)) {
            return 2;
        }
    }
    rsa = n / t;

    printf("library=%s ecdh=%.1f ecdsa_sign=%.1f rsa_sign=%.1f\n",
#ifdef OPENSSL_IS_BORINGSSL
           "BoringSSL",
#else
           "OpenSSL",
#endif
           ecdh, sign, rsa);

    return 0;
}


static void
tn_bench_base64(const char *in, size_t len, char *out)
{
    static const char  b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t             i;
    uint32_t           v;

    for (i = 0; i + 2 < len; i += 3) {
        v = (unsigned char) in[i] << 16 | (unsigned char) in[i + 1] << 8
            | (unsigned char) in[i + 2];
        *out++ = b64[v >> 18];
        *out++ = b64[(v >> 12) & 63];
        *out++ = b64[(v >> 6) & 63];
        *out++ = b64[v & 63];
    }

    if (i < len) {
        v = (unsigned char) in[i] << 16;
        if (i + 1 < len) {
            v |= (unsigned char) in[i + 1] << 8;
        }
        *out++ = b64[v >> 18];
        *out++ = b64[(v >> 12) & 63];
        *out++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        *out++ = '=';
    }

    *out = '\0';
}


static void
tn_bench_usage(void)
{
    fprintf(stderr,
        "usage: smtp_load [-m hs|sub|pipe|speed]"
        " [-T none|starttls|implicit]\n"
        "  [-c clients] [-n count] [-t seconds] [-M messages/session]\n"
        "  [-r recipients] [-s body bytes] [-g TLS groups] [-u user]\n"
        "  [-p password] [-f from] [-R to (%%ld: recipient number)]\n"
        "  [-H helo] HOST:PORT\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int             ch, i;
    char           *colon, plain[600];
    size_t          n;
    pthread_t      *tids;
    pthread_attr_t  attr;
    struct rusage   ru;
    double          elapsed, cpu;

    while ((ch = getopt(argc, argv, "m:T:c:n:t:M:r:s:g:u:p:f:R:H:")) != -1) {
        switch (ch) {
        case 'm':
            mode = strcmp(optarg, "sub") == 0 ? TN_BENCH_SUB
                   : strcmp(optarg, "pipe") == 0 ? TN_BENCH_PIPE
                   : strcmp(optarg, "speed") == 0 ? TN_BENCH_SPEED
                   : TN_BENCH_HS;
            break;
        case 'T':
            tls = strcmp(optarg, "starttls") == 0 ? TN_BENCH_TLS_STARTTLS
                  : strcmp(optarg, "implicit") == 0 ? TN_BENCH_TLS_IMPLICIT
                  : TN_BENCH_TLS_NONE;
            break;
        case 'c': clients = atoi(optarg); break;
        case 'n': count = atol(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'M': per_session = atol(optarg); break;
        case 'r': rcpts = atol(optarg); break;
        case 's': size = atol(optarg); break;
        case 'g': groups = optarg; break;
        case 'u': user = optarg; break;
        case 'p': pass = optarg; break;
        case 'f': from = optarg; break;
        case 'R': to = optarg; break;
        case 'H': helo = optarg; break;
        default: tn_bench_usage();
        }
    }

    if (mode == TN_BENCH_SPEED) {
        return tn_bench_speed();
    }

    if (optind != argc - 1 || clients < 1 || count < 1 || per_session < 1
        || rcpts < 1 || rcpts > 1000 || size < 2)
    {
        tn_bench_usage();
    }

    colon = strrchr(argv[optind], ':');
    if (colon == NULL) {
        tn_bench_usage();
    }
    *colon = '\0';

    addr.sin_family = AF_INET;
    addr.sin_port = htons(atoi(colon + 1));
    if (inet_pton(AF_INET, argv[optind], &addr.sin_addr) != 1) {
        tn_bench_usage();
    }

    if (mode == TN_BENCH_HS) {
        tls = TN_BENCH_TLS_IMPLICIT;
    }

    if (user) {
        n = snprintf(plain, sizeof(plain), "%c%s%c%s", 0, user, 0,
                     pass ? pass : "");
        memcpy(auth_line, "AUTH PLAIN ", 11);
        tn_bench_base64(plain, n, auth_line + 11);
    }

    if (tls != TN_BENCH_TLS_NONE) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (ctx == NULL) {
            fprintf(stderr, "SSL_CTX_new failed\n");
            return 2;
        }

        /* every handshake a full one: no session is kept or offered */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

#ifdef OPENSSL_IS_BORINGSSL
        if (groups && SSL_CTX_set1_curves_list(ctx, groups) != 1) {
#else
        if (groups && SSL_CTX_set1_groups_list(ctx, groups) != 1) {
#endif
            fprintf(stderr, "bad TLS groups \"%s\"\n", groups);
            return 2;
        }
    }

    /* OpenSSL writes with write(2): a peer gone must not kill us */
    signal(SIGPIPE, SIG_IGN);

    tn_bench_make_body();

    sessions_total = mode == TN_BENCH_SUB
                     ? (count + per_session - 1) / per_session : count;

    tids = calloc(clients, sizeof(pthread_t));
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);

    t_start = tn_bench_now();
    t_deadline = t_start + seconds;
    t_last = t_start;

    for (i = 0; i < clients; i++) {
        if (pthread_create(&tids[i], &attr, tn_bench_thread, NULL) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    }

    for (i = 0; i < clients; i++) {
        pthread_join(tids[i], NULL);
    }

    elapsed = t_last - t_start;

    getrusage(RUSAGE_SELF, &ru);
    cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
          + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

    printf("sessions=%ld failed=%ld messages=%ld rcpts=%ld elapsed=%.6f "
           "cpu=%.3f tls=%s error=\"%s\"\n",
           sessions_ok, sessions_failed, messages_ok, rcpts_ok, elapsed,
           cpu, tls_info[0] ? tls_info : "-", first_error);

    return sessions_failed ? 1 : 0;
}
