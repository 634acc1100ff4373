
/*
 * Copyright (C) The Tern developers
 */


/*
 * The shared part of the session harnesses (fuzz_smtp_session.c,
 * fuzz_pop3_session.c and fuzz_imap_session.c): a Dovecot-style FD
 * harness that runs whole mail sessions -- the real configuration,
 * store, thread pool and epoll loop of a worker -- with the fuzz input
 * as what the client sends through a socketpair.
 *
 * Once per process: a configuration is written to a temporary prefix
 * (under /dev/shm when there is one, so that the store's fsync()s cost
 * little) and read by tn_init_cycle() in test mode; the store gets a
 * domain and its users; the init_process hooks make a worker of the
 * process (event loop, thread pool).  The listening sockets are never
 * opened: each session's connection is made here as tn_event_accept()
 * makes it, and given to tn_mail_init_connection().
 *
 * Input: byte 0 holds TN_FUZZ_* flags; byte 1 has TN_FUZZ_OTHER, a flag
 * for the protocol, in its top bit, and in the others, when not 0, the
 * seed of random cuts of the stream (byte 1 is 0 in most seed files, and
 * so they are binary for git and auto/check-style: they hold CRLFs); the
 * rest is what the client sends.
 *
 * With TN_FUZZ_SPLIT the stream is cut at each TN_FUZZ_MARK, and each
 * piece waits until the server is idle, as a client waiting for replies
 * would; otherwise it is all written at once, before the greeting.  With
 * TN_FUZZ_TLS the first piece is plain text, then the harness makes a
 * TLS handshake as the client (which only succeeds after a STARTTLS or
 * STLS; otherwise the client hangs up) and sends the rest through TLS.
 * The other flags choose the second server{} of the protocol, an IPv6
 * client, small socket buffers, and when the client shuts down writing:
 * at once, when the loop is idle (TN_FUZZ_LINGER), or never (the session
 * then ends by a timeout: TN_FUZZ_TIMEOUT).  With TN_FUZZ_SHUTDOWN,
 * once the input is sent, worker_shutdown_timeout passes while the last
 * command waits for the thread pool (or when the loop is idle).
 *
 * A session runs until the server closes it: the input is written while
 * the replies are read (so that the server never blocks on a full
 * socket), the write side is shut down, and while the loop is idle with
 * the session still open, time passes: the earliest timer is expired.
 * Then every thread-pool task must complete.  Time never passes by the
 * clock: the protocol timeouts are minutes long.
 *
 * Failures (abort()): an [alert] or [emerg] in the log; a session that
 * ends neither on EOF nor on its timers; a timer, a socket or a spool
 * file left after the session; a thread-pool task that does not end;
 * output that is not CRLF lines; what the protocol's checks refuse (the
 * syntax of replies, the store after the session); and what the
 * sanitizers find (leaks too).
 *
 * TN_FUZZ_DEBUG=1 in the environment logs at "info" to stderr and keeps
 * the prefix.
 */


#ifndef _TN_FUZZ_SESSION_H_INCLUDED_
#define _TN_FUZZ_SESSION_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_store.h>
#include <tn_store_queue.h>
#include <tn_store_rules.h>
#include <tn_mail.h>

#include <dirent.h>
#include <ftw.h>
#include <sys/ioctl.h>


#define TN_FUZZ_MAX          (64 * 1024)

/* flags in byte 0 */
#define TN_FUZZ_SPLIT        0x01    /* cut at TN_FUZZ_MARK, wait between */
#define TN_FUZZ_LINGER       0x02    /* shut down writing only when idle */
#define TN_FUZZ_STRICT       0x04    /* the second server: small limits */
#define TN_FUZZ_IPV6         0x08    /* the client has an IPv6 address */
#define TN_FUZZ_SMALLBUF     0x10    /* 4 KiB socket buffers */
#define TN_FUZZ_TLS          0x20    /* TLS after the first piece */
#define TN_FUZZ_TIMEOUT      0x40    /* never shut down: a timeout ends it */
#define TN_FUZZ_SHUTDOWN     0x80    /* worker_shutdown_timeout passes */

/* the top bit of byte 1, for the protocol (the rest seeds the cuts) */
#define TN_FUZZ_OTHER        0x100

#define TN_FUZZ_MARK         "\x00\xff"
#define TN_FUZZ_MARK_LEN     2

/* a client reads this much and then hangs up (POP3 RETR in a loop) */
#define TN_FUZZ_MAX_OUT      (2 * 1024 * 1024)

/* turns of the loop before "idle" is given up as a livelock */
#define TN_FUZZ_MAX_TURNS    200000

/* timers expired before a session is taken to be stuck (login delays) */
#define TN_FUZZ_MAX_EXPIRED  4096

/* the start of each output line the protocol's check sees */
#define TN_FUZZ_LINE         1024
/* and the end of a longer one, in fs->tail (a ring: fs->len % it) */
#define TN_FUZZ_TAIL         32


typedef struct tn_fuzz_sess_s  tn_fuzz_sess_t;


typedef struct {
    const char              *name;

    /* the server{} blocks: the first plain, the second TN_FUZZ_STRICT */
    const char              *servers;

    /* once, after the store has its users */
    tn_int_t               (*setup)(tn_store_conf_t *scf);

    /*
     * Each output line without its CRLF, n counting from 0; len is the
     * line's length, of which only the first TN_FUZZ_LINE bytes are in
     * p.  At the end of a session it is called once more with p NULL.
     * Returns an error text or NULL.  It sets fs->starttls on the reply
     * after which the server starts TLS.
     */
    const char            *(*line)(tn_fuzz_sess_t *fs, tn_uint_t n,
                                   u_char *p, size_t len);

    /* before and after each session: TN_FUZZ_OTHER, the store */
    void                   (*prepare)(tn_fuzz_sess_t *fs);
    void                   (*cleanup)(tn_fuzz_sess_t *fs,
                                      tn_store_conf_t *scf);
} tn_fuzz_proto_t;


struct tn_fuzz_sess_s {
    tn_connection_t         *c;
    int                      peer;         /* the client's end, or -1 */
    SSL                     *ssl;          /* the client's TLS once up */
    tn_uint_t                flags;

    unsigned                 closed:1;     /* the server closed it */
    unsigned                 eof:1;        /* the client read the end */
    unsigned                 shut:1;       /* the client shut writing */
    unsigned                 hungup:1;     /* the client closed its end */
    unsigned                 handshake:1;  /* the client's TLS handshake */
    unsigned                 tls:1;        /* the handshake was tried */
    unsigned                 cr:1;         /* the line so far ends in CR */
    /* the protocol's check saw the go-ahead for TLS: no more lines */
    unsigned                 starttls:1;
    unsigned                 raw:1;        /* the output is not checked */

    size_t                   received;
    tn_uint_t                lines;
    size_t                   len;          /* of the line so far */
    u_char                   line[TN_FUZZ_LINE];

    /* for the protocol's line check */
    tn_uint_t                state;
    tn_uint_t                msg;
    size_t                   pos;
    u_char                   code[4];

    /* for the protocol's prepare and cleanup */
    int                      fd;
    tn_int_t                 files;        /* messages in the Maildirs */
    tn_uint_t                queued;       /* SMTP: 250s after DATA */
    tn_uint_t                deleted;      /* POP3: what QUIT removed */
    unsigned                 update:1;     /* POP3: UPDATE answered */
    unsigned                 partly:1;     /* POP3: QUIT removed some */

    /*
     * IMAP: octets of a literal the line check announced ("{N}" ending
     * a line): they pass unchecked, and the line goes on after them
     */
    uint64_t                 skip;
    /* the last TN_FUZZ_TAIL bytes of a line longer than TN_FUZZ_LINE */
    u_char                   tail[TN_FUZZ_TAIL];
};


static tn_fuzz_proto_t  *tn_fuzz_proto;
static tn_cycle_t       *tn_fuzz_cycle;
static tn_log_t         *tn_fuzz_log;
static tn_store_conf_t  *tn_fuzz_store;
static tn_listening_t   *tn_fuzz_listening[2];
static SSL_CTX          *tn_fuzz_client_ctx;
static tn_event_t        tn_fuzz_tick;
static tn_uint_t         tn_fuzz_debug;
static uint64_t          tn_fuzz_seed;
static char              tn_fuzz_dir[PATH_MAX];

/* a static: tn_cycle points at it while the configuration is read */
static tn_cycle_t        tn_fuzz_init_cycle;


static void tn_fuzz_fail(tn_fuzz_sess_t *fs, const char *what);


/*
 * auth_block_after 0: a block would outlive the session that earned it
 * (its end is wall-clock time), and later inputs would behave otherwise.
 */
static const char  tn_fuzz_conf[] =
    "events { worker_connections 32; }\n"
    "thread_pool_threads 2;\n"
    "store {\n"
    "    password_scheme sha512crypt;\n"
    "    password_cost 1000;\n"
    "    recipient_delimiter +;\n"
    "}\n"
    "mail {\n"
    "    server_name example.test;\n"
    "    auth_failure_delay 0;\n"
    "    auth_block_after 0;\n";

/* the TLS lines of a server{}: the prefix is the configuration prefix */
#define TN_FUZZ_TLS_CONF                                                     \
    "        ssl_certificate cert.pem;\n"                                    \
    "        ssl_certificate_key key.pem;\n"


/* the store's users; the first gets the POP3 messages */
static const char  *tn_fuzz_users[][2] = {
    { "user@example.test", "secret" },
    { "postmaster@example.test", "p0stmaster" },
    { "b@example.test", "pw" },
};

#define TN_FUZZ_NUSERS  (sizeof(tn_fuzz_users) / sizeof(tn_fuzz_users[0]))

/* as tn_store_user_lookup() found them */
static tn_store_user_t  tn_fuzz_user[TN_FUZZ_NUSERS];


static tn_uint_t
tn_fuzz_rand(tn_uint_t n)
{
    tn_fuzz_seed ^= tn_fuzz_seed << 13;
    tn_fuzz_seed ^= tn_fuzz_seed >> 7;
    tn_fuzz_seed ^= tn_fuzz_seed << 17;

    return (tn_uint_t) (tn_fuzz_seed % n);
}


static void
tn_fuzz_tick_handler(tn_event_t *ev)
{
    /* only wakes the loop up */
}


/* unread bytes in a socket, or -1 */

static int
tn_fuzz_unread(int fd)
{
    int  n;

    if (fd == -1 || ioctl(fd, FIONREAD, &n) == -1) {
        return -1;
    }

    return n;
}


static tn_int_t
tn_fuzz_count(const char *dir)
{
    DIR            *d;
    tn_int_t        n;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }

    closedir(d);

    return n;
}


static int
tn_fuzz_rm(const char *path, const struct stat *sb, int type,
    struct FTW *ftw)
{
    (void) remove(path);

    return 0;
}


static void
tn_fuzz_exit(void)
{
    if (!tn_fuzz_debug && tn_fuzz_dir[0]) {
        (void) nftw(tn_fuzz_dir, tn_fuzz_rm, 16, FTW_DEPTH|FTW_PHYS);
    }
}


/* the output: CRLF lines, each given to the protocol's check */

static void
tn_fuzz_output(tn_fuzz_sess_t *fs, u_char *p, size_t n)
{
    u_char       ch;
    const char  *err;

    for ( /* void */ ; n && !fs->raw; p++, n--) {
        ch = *p;

        if (fs->skip) {
            /* a literal's octets: any byte */
            fs->skip--;
            continue;
        }

        if (fs->cr) {
            if (ch != LF) {
                tn_fuzz_fail(fs, "a bare CR in the output");
            }

            err = tn_fuzz_proto->line(fs, fs->lines++, fs->line, fs->len);
            if (err) {
                tn_fuzz_fail(fs, err);
            }

            fs->cr = 0;
            fs->len = 0;

            if (fs->starttls) {
                /*
                 * TLS records follow (a TLS alert, if the client goes on
                 * in plain text), unless the client makes its handshake
                 */
                fs->raw = 1;
            }

            continue;
        }

        if (ch == LF) {
            tn_fuzz_fail(fs, "a bare LF in the output");
        }

        if (ch == CR) {
            fs->cr = 1;
            continue;
        }

        if (fs->len < TN_FUZZ_LINE) {
            fs->line[fs->len] = ch;

        } else {
            fs->tail[fs->len % TN_FUZZ_TAIL] = ch;
        }

        fs->len++;
    }
}


/* the client reads what there is */

static void
tn_fuzz_read(tn_fuzz_sess_t *fs)
{
    int      n, err;
    u_char   buf[16384];

    while (fs->peer != -1 && !fs->eof && !fs->handshake) {

        if (fs->ssl) {
            n = SSL_read(fs->ssl, buf, sizeof(buf));

            if (n <= 0) {
                err = SSL_get_error(fs->ssl, n);

                if (err == SSL_ERROR_WANT_READ
                    || err == SSL_ERROR_WANT_WRITE)
                {
                    return;
                }

                /* the end, with close_notify or without */
                ERR_clear_error();
                fs->eof = 1;
                return;
            }

        } else {
            n = recv(fs->peer, buf, sizeof(buf), 0);

            if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
                return;
            }

            if (n <= 0) {
                fs->eof = 1;
                return;
            }
        }

        if (tn_fuzz_debug) {
            fprintf(stderr, "S: %.*s", n, buf);
        }

        fs->received += n;
        tn_fuzz_output(fs, buf, n);

        if (fs->received > TN_FUZZ_MAX_OUT) {
            /* enough: the client hangs up, as a real one would */
            if (fs->ssl) {
                SSL_free(fs->ssl);
                fs->ssl = NULL;
            }

            close(fs->peer);
            fs->peer = -1;
            fs->hungup = 1;
            return;
        }
    }
}


/*
 * One turn of the event loop, waiting at most wait ms; then the client
 * reads.  Returns 1 when anything moved: bytes read by either end, or
 * the session closed.
 */

static tn_uint_t
tn_fuzz_turn(tn_fuzz_sess_t *fs, tn_msec_t wait)
{
    int     in, out;
    size_t  received;

    in = fs->closed ? -1 : tn_fuzz_unread(fs->c->fd);
    out = tn_fuzz_unread(fs->peer);
    received = fs->received;

    if (tn_fuzz_tick.timer_set) {
        tn_event_del_timer(&tn_fuzz_tick);
    }

    tn_event_add_timer(&tn_fuzz_tick, wait);

    tn_process_events_and_timers(tn_fuzz_cycle);

    if (!fs->closed && fs->c->fd == (tn_socket_t) -1) {
        /* tn_close_connection() was called: c is in the free list */
        fs->closed = 1;
        return 1;
    }

    tn_fuzz_read(fs);

    return received != fs->received
           || in != (fs->closed ? -1 : tn_fuzz_unread(fs->c->fd))
           || out != tn_fuzz_unread(fs->peer);
}


/* work in the thread pool or in the posted queue */

static tn_uint_t
tn_fuzz_busy(void)
{
    return tn_thread_pool_queued() || !tn_queue_empty(&tn_posted_events);
}


/* runs the loop until nothing moves any more */

static void
tn_fuzz_idle(tn_fuzz_sess_t *fs)
{
    tn_uint_t  n, quiet, busy;

    for (n = 0, quiet = 0; quiet < 2; n++) {

        if (n == TN_FUZZ_MAX_TURNS) {
            tn_fuzz_fail(fs, "the loop never becomes idle");
        }

        busy = tn_fuzz_busy();

        /* a task's end wakes the loop up through the eventfd */

        if (tn_fuzz_turn(fs, busy ? 100 : 0) || busy) {
            quiet = 0;

        } else {
            quiet++;
        }
    }
}


/* time passes: the earliest timer expires; TN_DECLINED when none */

static tn_int_t
tn_fuzz_expire(void)
{
    tn_event_t        *ev;
    tn_rbtree_node_t  *node, *root, *sentinel;

    if (tn_fuzz_tick.timer_set) {
        tn_event_del_timer(&tn_fuzz_tick);
    }

    root = tn_event_timer_rbtree.root;
    sentinel = tn_event_timer_rbtree.sentinel;

    if (root == sentinel) {
        return TN_DECLINED;
    }

    node = tn_rbtree_min(root, sentinel);
    ev = tn_rbtree_data(node, tn_event_t, timer);

    /* as tn_event_expire_timers() does */

    tn_event_del_timer(ev);

    ev->timedout = 1;
    ev->handler(ev);

    return TN_OK;
}


/*
 * The client writes all of p, reading meanwhile.  It gives up when the
 * session is closed, on a write error, or when the server stops reading
 * with the socket full.
 */

static void
tn_fuzz_send(tn_fuzz_sess_t *fs, const u_char *p, size_t len)
{
    int        n, err;
    tn_uint_t  quiet, busy;

    quiet = 0;

    while (len && fs->peer != -1 && !fs->closed && !fs->shut) {

        if (fs->ssl) {
            n = SSL_write(fs->ssl, p, (int) tn_min(len, 16384));

            if (n <= 0) {
                err = SSL_get_error(fs->ssl, n);

                if (err != SSL_ERROR_WANT_READ
                    && err != SSL_ERROR_WANT_WRITE)
                {
                    ERR_clear_error();
                    return;
                }

                n = -1;
                errno = EAGAIN;
            }

        } else {
            n = send(fs->peer, p, len, MSG_NOSIGNAL);
        }

        if (n > 0) {
            if (tn_fuzz_debug) {
                fprintf(stderr, "C: %.*s", n, p);
            }

            p += n;
            len -= n;
            quiet = 0;
            continue;
        }

        if (errno != EAGAIN && errno != EINTR) {
            return;
        }

        busy = tn_fuzz_busy();

        if (tn_fuzz_turn(fs, busy ? 100 : 0) || busy) {
            quiet = 0;

        } else if (++quiet == 3) {
            /* the server does not read now: the rest is not sent */
            return;
        }
    }
}


static void
tn_fuzz_shut(tn_fuzz_sess_t *fs)
{
    if (fs->shut || fs->peer == -1) {
        return;
    }

    if (fs->ssl) {
        /* close_notify; the answer to it is not waited for */
        (void) SSL_shutdown(fs->ssl);
        ERR_clear_error();
    }

    (void) shutdown(fs->peer, SHUT_WR);

    fs->shut = 1;
}


/*
 * The client's TLS handshake, after the plain first piece: the server
 * must have answered STARTTLS (or STLS) for it to work.  If it fails,
 * the client hangs up.
 */

static void
tn_fuzz_tls(tn_fuzz_sess_t *fs)
{
    int        rc, err;
    SSL       *ssl;
    tn_uint_t  n, quiet, busy;

    tn_fuzz_idle(fs);

    if (fs->closed || fs->eof || fs->peer == -1) {
        return;
    }

    ssl = SSL_new(tn_fuzz_client_ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fs->peer) != 1) {
        tn_fuzz_fail(fs, "SSL_new() failed");
    }

    SSL_set_connect_state(ssl);

    /* the loop must not read the records meant for the handshake */
    fs->handshake = 1;

    for (n = 0, quiet = 0; n < TN_FUZZ_MAX_TURNS; n++) {

        rc = SSL_do_handshake(ssl);

        if (rc == 1) {
            fs->handshake = 0;
            fs->ssl = ssl;

            /* lines again, through TLS */
            fs->starttls = 0;
            fs->raw = 0;

            return;
        }

        err = SSL_get_error(ssl, rc);

        if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
            || fs->closed)
        {
            break;
        }

        busy = tn_fuzz_busy();

        if (tn_fuzz_turn(fs, busy ? 100 : 0) || busy) {
            quiet = 0;

        } else if (++quiet == 3) {
            break;
        }
    }

    ERR_clear_error();
    SSL_free(ssl);

    fs->handshake = 0;

    /*
     * The handshake may have eaten plain-text replies: the stream can no
     * longer be read or checked, and the client hangs up, as a real one
     * would after a failed handshake.
     */

    close(fs->peer);
    fs->peer = -1;
    fs->hungup = 1;
}


/* a connection as tn_event_accept() makes it, given to the mail module */

static void
tn_fuzz_connect(tn_fuzz_sess_t *fs, int fd)
{
    tn_log_t             *log;
    tn_listening_t       *ls;
    tn_connection_t      *c;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    ls = tn_fuzz_listening[(fs->flags & TN_FUZZ_STRICT) ? 1 : 0];

    c = tn_get_connection(fd, tn_fuzz_log);
    if (c == NULL) {
        tn_fuzz_fail(fs, "tn_get_connection() failed");
    }

    fs->c = c;

    c->type = SOCK_STREAM;

    c->pool = tn_create_pool(ls->pool_size, tn_fuzz_log);
    if (c->pool == NULL) {
        tn_fuzz_fail(fs, "no memory");
    }

    c->sockaddr = tn_pcalloc(c->pool, sizeof(tn_sockaddr_t));
    log = tn_palloc(c->pool, sizeof(tn_log_t));
    c->addr_text.data = tn_pnalloc(c->pool, TN_SOCKADDR_STRLEN);

    if (c->sockaddr == NULL || log == NULL || c->addr_text.data == NULL) {
        tn_fuzz_fail(fs, "no memory");
    }

    if (fs->flags & TN_FUZZ_IPV6) {
        sin6 = (struct sockaddr_in6 *) c->sockaddr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(40000);
        sin6->sin6_addr.s6_addr[0] = 0x20;
        sin6->sin6_addr.s6_addr[1] = 0x01;
        sin6->sin6_addr.s6_addr[2] = 0x0d;
        sin6->sin6_addr.s6_addr[3] = 0xb8;
        sin6->sin6_addr.s6_addr[15] = 1;
        c->socklen = sizeof(struct sockaddr_in6);

    } else {
        sin = (struct sockaddr_in *) c->sockaddr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(40000);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c->socklen = sizeof(struct sockaddr_in);
    }

    *log = *tn_fuzz_log;
    log->handler = NULL;
    log->data = NULL;

    c->recv = tn_unix_recv;
    c->send = tn_unix_send;

    c->log = log;
    c->pool->log = log;

    c->listening = ls;
    c->local_sockaddr = ls->sockaddr;
    c->local_socklen = ls->socklen;

    c->write->ready = 1;
    c->read->log = log;
    c->write->log = log;

    c->number = tn_atomic_fetch_add(tn_connection_counter, 1);
    c->start_time = tn_current_msec;

    c->addr_text.len = tn_sock_ntop(c->sockaddr, c->socklen,
                                    c->addr_text.data, TN_SOCKADDR_STRLEN,
                                    0);

    if (c->addr_text.len == 0 || tn_add_conn(c) == TN_ERROR) {
        tn_fuzz_fail(fs, "the connection cannot be set up");
    }

    ls->handler(c);

    if (c->fd == (tn_socket_t) -1) {
        fs->closed = 1;
    }
}


/* the input, as pieces and random cuts */

static void
tn_fuzz_input(tn_fuzz_sess_t *fs, const u_char *p, size_t len,
    tn_uint_t cuts)
{
    size_t         n, cut, piece;
    tn_uint_t      first;
    const u_char  *mark;

    for (first = 1; /* void */ ; first = 0) {

        piece = len;

        if (fs->flags & (TN_FUZZ_SPLIT|TN_FUZZ_TLS)) {
            mark = memmem(p, len, TN_FUZZ_MARK, TN_FUZZ_MARK_LEN);

            if (mark) {
                piece = mark - p;
            }

            if (!first || (fs->flags & TN_FUZZ_SPLIT)) {
                /* the client waits for the replies so far */
                tn_fuzz_idle(fs);
            }

            if (!first && (fs->flags & TN_FUZZ_TLS) && !fs->tls) {
                fs->tls = 1;
                tn_fuzz_tls(fs);
            }
        }

        while (piece) {
            n = piece;

            if (cuts) {
                /* tn_min() evaluates twice */
                cut = 1 + tn_fuzz_rand(tn_fuzz_rand(4) ? 16 : 512);
                n = tn_min(n, cut);
            }

            tn_fuzz_send(fs, p, n);

            p += n;
            len -= n;
            piece -= n;

            if (cuts && piece) {
                tn_fuzz_idle(fs);
            }
        }

        if (len < TN_FUZZ_MARK_LEN) {
            break;
        }

        p += TN_FUZZ_MARK_LEN;
        len -= TN_FUZZ_MARK_LEN;
    }
}


static void
tn_fuzz_fail(tn_fuzz_sess_t *fs, const char *what)
{
    fprintf(stderr, "\nfuzz_%s: %s", tn_fuzz_proto->name, what);

    if (fs) {
        fprintf(stderr, " (flags 0x%03x, %lu bytes read, line %lu: \"%.*s\")",
                (unsigned) fs->flags, (unsigned long) fs->received,
                (unsigned long) fs->lines,
                (int) tn_min(fs->len, (size_t) 80), fs->line);
    }

    fprintf(stderr, "\n");

    abort();
}


/* an [alert] or [emerg] fails the input: the log stays empty otherwise */

static void
tn_fuzz_check_log(void)
{
    char         buf[4096];
    ssize_t      n;
    struct stat  sb;

    if (tn_fuzz_debug) {
        return;
    }

    if (fstat(tn_fuzz_log->file->fd, &sb) == -1 || sb.st_size == 0) {
        return;
    }

    n = pread(tn_fuzz_log->file->fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';

    fprintf(stderr, "\nthe log:\n%s", buf);

    tn_fuzz_fail(NULL, "an alert was logged");
}


/*
 * worker_shutdown_timeout passes, as tn_worker_shutdown_handler() makes
 * it: when the session has read all the input and has work out (the last
 * command's: a lookup, a login, a delivery), or else when it is idle.
 */

static void
tn_fuzz_shutdown(tn_fuzz_sess_t *fs)
{
    tn_uint_t           n, quiet, busy;
    tn_connection_t    *c;
    tn_mail_session_t  *s;

    for (n = 0, quiet = 0; n < TN_FUZZ_MAX_TURNS; n++) {

        if (fs->closed) {
            return;
        }

        s = fs->c->data;
        busy = tn_fuzz_busy();

        if (busy && tn_fuzz_unread(fs->c->fd) == 0
            && s->buffer && !tn_mail_pending_input(s))
        {
            break;
        }

        if (tn_fuzz_turn(fs, busy ? 100 : 0) || busy) {
            quiet = 0;

        } else if (++quiet == 2) {
            break;
        }
    }

    if (fs->closed) {
        return;
    }

    c = fs->c;

    c->close = 1;
    c->error = 1;

    c->read->handler(c->read);

    if (c->fd == (tn_socket_t) -1) {
        fs->closed = 1;
    }
}


/* the client connects and sends the input */

static void
tn_fuzz_start(tn_fuzz_sess_t *fs, const uint8_t *data, size_t size)
{
    int      sv[2], buf;
    ssize_t  sent;

    if (socketpair(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0, sv)
        == -1)
    {
        tn_fuzz_fail(fs, "socketpair() failed");
    }

    fs->peer = sv[1];

    if (fs->flags & TN_FUZZ_SMALLBUF) {
        buf = 4096;
        (void) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(int));
        (void) setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(int));
    }

    tn_time_update();

    if (size <= 2) {
        tn_fuzz_connect(fs, sv[0]);
        return;
    }

    if ((fs->flags & (TN_FUZZ_SPLIT|TN_FUZZ_TLS)) || (data[1] & 0x7f)) {
        tn_fuzz_connect(fs, sv[0]);
        tn_fuzz_input(fs, data + 2, size - 2, data[1] & 0x7f);
        return;
    }

    /* all at once, before the greeting: what fits in the socket */

    sent = send(fs->peer, data + 2, size - 2, MSG_NOSIGNAL);
    sent = (sent < 0) ? 0 : sent;

    if (tn_fuzz_debug) {
        fprintf(stderr, "C: %.*s", (int) sent, data + 2);
    }

    tn_fuzz_connect(fs, sv[0]);
    tn_fuzz_send(fs, data + 2 + sent, size - 2 - sent);
}


/* the input is sent: the session must end, by EOF or by its timers */

static void
tn_fuzz_end(tn_fuzz_sess_t *fs)
{
    tn_uint_t    n;
    const char  *err;

    if (!(fs->flags & (TN_FUZZ_LINGER|TN_FUZZ_TIMEOUT))) {
        tn_fuzz_shut(fs);
    }

    tn_fuzz_idle(fs);

    if (!(fs->flags & TN_FUZZ_TIMEOUT)) {
        tn_fuzz_shut(fs);
        tn_fuzz_idle(fs);
    }

    for (n = 0; !fs->closed; n++) {
        if (n == TN_FUZZ_MAX_EXPIRED || tn_fuzz_expire() != TN_OK) {
            tn_fuzz_fail(fs, "the session does not end");
        }

        tn_fuzz_idle(fs);
    }

    /* the server's socket is closed: the client reads the end */

    tn_fuzz_read(fs);

    if (fs->peer != -1 && !fs->eof) {
        tn_fuzz_fail(fs, "the socket is left open after the close");
    }

    if (fs->hungup) {
        return;
    }

    if (!fs->raw && (fs->len || fs->cr)) {
        tn_fuzz_fail(fs, "the output ends inside a line");
    }

    if (!fs->raw && fs->skip) {
        tn_fuzz_fail(fs, "the output ends inside a literal");
    }

    err = tn_fuzz_proto->line(fs, fs->lines, NULL, 0);
    if (err) {
        tn_fuzz_fail(fs, err);
    }
}


/* the session is over: nothing of it may be left */

static void
tn_fuzz_after(tn_fuzz_sess_t *fs)
{
    tn_uint_t  n;

    /* the work of the thread pool that the session started */

    for (n = 0; tn_fuzz_busy(); n++) {
        if (n == TN_FUZZ_MAX_TURNS) {
            tn_fuzz_fail(fs, "thread-pool tasks do not complete");
        }

        (void) tn_fuzz_turn(fs, 100);
    }

    if (tn_fuzz_tick.timer_set) {
        tn_event_del_timer(&tn_fuzz_tick);
    }

    if (tn_event_timer_rbtree.root != tn_event_timer_rbtree.sentinel) {
        tn_fuzz_fail(fs, "a timer is left after the session");
    }

    if (tn_fuzz_count((char *) tn_fuzz_store->spool_dir.data) != 0) {
        tn_fuzz_fail(fs, "a spool file is left after the session");
    }

    if (fs->ssl) {
        SSL_free(fs->ssl);
    }

    if (fs->peer != -1) {
        close(fs->peer);
    }

    tn_fuzz_check_log();
}


static int
tn_fuzz_session(const uint8_t *data, size_t size)
{
    tn_fuzz_sess_t  fs;

    if (size > TN_FUZZ_MAX) {
        return 0;
    }

    tn_memzero(&fs, sizeof(tn_fuzz_sess_t));

    fs.fd = -1;
    fs.flags = (size > 0) ? data[0] : 0;

    if (size > 1 && (data[1] & 0x80)) {
        fs.flags |= TN_FUZZ_OTHER;
    }

    tn_fuzz_seed = 0x9e3779b97f4a7c15ULL
                   ^ (uint64_t) ((size > 1) ? data[1] : 0) << 32 ^ size;

    if (tn_fuzz_proto->prepare) {
        tn_fuzz_proto->prepare(&fs);
    }

    tn_fuzz_start(&fs, data, size);

    if (fs.flags & TN_FUZZ_SHUTDOWN) {
        tn_fuzz_shutdown(&fs);
    }

    tn_fuzz_end(&fs);
    tn_fuzz_after(&fs);

    tn_fuzz_proto->cleanup(&fs, tn_fuzz_store);

    return 0;
}


/* a user's messages all go, through the store's API */

static tn_int_t
tn_fuzz_empty_mailbox(tn_store_conf_t *scf, tn_store_user_t *u)
{
    tn_int_t            rc;
    tn_uint_t           i;
    uint32_t           *uids;
    tn_store_mailbox_t  mb;

    if (tn_store_mailbox_load(scf, u, &mb, tn_fuzz_log) != TN_OK) {
        return TN_ERROR;
    }

    rc = TN_OK;

    if (mb.nmsgs) {
        uids = malloc(mb.nmsgs * sizeof(uint32_t));
        if (uids == NULL) {
            tn_store_mailbox_free(&mb);
            return TN_ERROR;
        }

        for (i = 0; i < mb.nmsgs; i++) {
            uids[i] = mb.msgs[i].uid;
        }

        rc = tn_store_expunge(scf, u, uids, mb.nmsgs, tn_fuzz_log);

        free(uids);
    }

    tn_store_mailbox_free(&mb);

    return rc;
}


/* messages in new/ and cur/ of a Maildir */

static tn_int_t
tn_fuzz_maildir_count(tn_store_user_t *u)
{
    char      path[PATH_MAX + 8];
    tn_int_t  n, m;

    snprintf(path, sizeof(path), "%s/new", u->maildir);
    n = tn_fuzz_count(path);

    snprintf(path, sizeof(path), "%s/cur", u->maildir);
    m = tn_fuzz_count(path);

    return (n < 0 || m < 0) ? -1 : n + m;
}


static tn_int_t
tn_fuzz_write_conf(void)
{
    FILE  *f;
    char   path[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/tern.conf", tn_fuzz_dir);

    f = fopen(path, "w");
    if (f == NULL) {
        return TN_ERROR;
    }

    fputs(tn_fuzz_conf, f);
    fputs(tn_fuzz_proto->servers, f);
    fputs("}\n", f);

    return (fclose(f) == 0) ? TN_OK : TN_ERROR;
}


static tn_int_t
tn_fuzz_make_cycle(void)
{
    char         path[PATH_MAX + 16];
    size_t       len;
    tn_cycle_t  *init;

    init = &tn_fuzz_init_cycle;

    tn_memzero(init, sizeof(tn_cycle_t));
    init->log = tn_fuzz_log;
    tn_cycle = init;

    init->pool = tn_create_pool(1024, tn_fuzz_log);
    if (init->pool == NULL) {
        return TN_ERROR;
    }

    snprintf(path, sizeof(path), "%s/tern.conf", tn_fuzz_dir);
    len = strlen(path);

    init->prefix.data = (u_char *) tn_fuzz_dir;
    init->prefix.len = strlen(tn_fuzz_dir);
    init->conf_prefix = init->prefix;

    init->conf_file.data = tn_pnalloc(init->pool, len + 1);
    if (init->conf_file.data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(init->conf_file.data, path, len + 1);
    init->conf_file.len = len;

    /* parsed and checked, nothing opened: the harness makes the rest */
    tn_test_config = 1;
    tn_quiet_mode = 1;

    tn_fuzz_cycle = tn_init_cycle(init);

    tn_test_config = 0;

    if (tn_fuzz_cycle == NULL) {
        return TN_ERROR;
    }

    tn_destroy_pool(init->pool);

    tn_cycle = tn_fuzz_cycle;

    return TN_OK;
}


/* the store: a domain and its users */

static tn_int_t
tn_fuzz_make_store(void)
{
    tn_uint_t     i;
    const char   *a, *pw;

    tn_fuzz_store = tn_store_get_conf(tn_fuzz_cycle);

    /* as tn_store_init_module() does */

    if (tn_fuzz_store == NULL
        || tn_store_init(tn_fuzz_store, tn_fuzz_log) != TN_OK
        || tn_store_queue_init(tn_fuzz_store, (uid_t) -1, (gid_t) -1,
                               tn_fuzz_log)
           != TN_OK
        || tn_store_domain_add(tn_fuzz_store, (u_char *) "example.test",
                               sizeof("example.test") - 1, tn_fuzz_log)
           != TN_OK)
    {
        return TN_ERROR;
    }

    for (i = 0; i < TN_FUZZ_NUSERS; i++) {
        a = tn_fuzz_users[i][0];
        pw = tn_fuzz_users[i][1];

        if (tn_store_user_add(tn_fuzz_store, (u_char *) a, strlen(a),
                              (u_char *) pw, strlen(pw), tn_fuzz_log)
            != TN_OK
            || tn_store_user_lookup(tn_fuzz_store, (u_char *) a, strlen(a),
                                    &tn_fuzz_user[i], tn_fuzz_log)
               != TN_OK)
        {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/* as a worker: the loop and the thread pool; the listeners stay shut */

static tn_int_t
tn_fuzz_make_worker(void)
{
    tn_uint_t        i;
    tn_listening_t  *ls;

    ls = tn_fuzz_cycle->listening.elts;

    if (tn_fuzz_cycle->listening.nelts != 2) {
        return TN_ERROR;
    }

    tn_fuzz_listening[0] = &ls[0];
    tn_fuzz_listening[1] = &ls[1];

    /* the event module would add their (unopened) sockets */
    tn_fuzz_cycle->listening.nelts = 0;

    tn_process = TN_PROCESS_WORKER;

    for (i = 0; tn_fuzz_cycle->modules[i]; i++) {
        if (tn_fuzz_cycle->modules[i]->init_process
            && tn_fuzz_cycle->modules[i]->init_process(tn_fuzz_cycle)
               != TN_OK)
        {
            return TN_ERROR;
        }
    }

    tn_fuzz_tick.handler = tn_fuzz_tick_handler;
    tn_fuzz_tick.log = tn_fuzz_log;
    tn_fuzz_tick.data = &tn_fuzz_tick;

    return TN_OK;
}


static tn_int_t
tn_fuzz_make_tls(void)
{
    char      cert[PATH_MAX + 16], key[PATH_MAX + 16];
    tn_str_t  c, k, cn;

    snprintf(cert, sizeof(cert), "%s/cert.pem", tn_fuzz_dir);
    snprintf(key, sizeof(key), "%s/key.pem", tn_fuzz_dir);

    c.data = (u_char *) cert;
    c.len = strlen(cert);
    k.data = (u_char *) key;
    k.len = strlen(key);
    tn_str_set(&cn, "example.test");

    if (tn_ssl_generate_self_signed(tn_fuzz_log, &c, &k, &cn) != TN_OK) {
        return TN_ERROR;
    }

    tn_fuzz_client_ctx = SSL_CTX_new(TLS_method());
    if (tn_fuzz_client_ctx == NULL) {
        return TN_ERROR;
    }

    SSL_CTX_set_verify(tn_fuzz_client_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(tn_fuzz_client_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                                         |SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    return TN_OK;
}


static void
tn_fuzz_init(tn_fuzz_proto_t *proto)
{
    char         path[PATH_MAX];
    const char  *tmp;

    tn_fuzz_proto = proto;
    tn_fuzz_debug = (getenv("TN_FUZZ_DEBUG") != NULL);

    tn_time_init();
    tn_pid = tn_getpid();

    /* as in a worker (tn_init_signals()): writes to a closed socket */
    (void) signal(SIGPIPE, SIG_IGN);

    /* tmpfs: the store fsync()s after every message */
    tmp = (access("/dev/shm", W_OK) == 0) ? "/dev/shm" : "/tmp";

    snprintf(tn_fuzz_dir, sizeof(tn_fuzz_dir), "%s/tn-fuzz-%s.XXXXXX", tmp,
             proto->name);

    if (mkdtemp(tn_fuzz_dir) == NULL) {
        tn_fuzz_dir[0] = '\0';
        tn_fuzz_fail(NULL, "mkdtemp() failed");
    }

    atexit(tn_fuzz_exit);

    snprintf(path, sizeof(path), "%s/error.log", tn_fuzz_dir);

    tn_fuzz_log = tn_log_init(NULL, tn_fuzz_debug ? NULL : (u_char *) path);
    if (tn_fuzz_log == NULL) {
        tn_fuzz_fail(NULL, "no log");
    }

    tn_fuzz_log->log_level = tn_fuzz_debug ? TN_LOG_INFO : TN_LOG_ALERT;

    if (tn_fuzz_debug) {
        fprintf(stderr, "fuzz_%s: the prefix is %s\n", proto->name,
                tn_fuzz_dir);
    }

    if (tn_os_init(tn_fuzz_log) != TN_OK
        || tn_ssl_init(tn_fuzz_log) != TN_OK
        || tn_preinit_modules() != TN_OK)
    {
        tn_fuzz_fail(NULL, "the process cannot be set up");
    }

    if (tn_fuzz_make_tls() != TN_OK) {
        tn_fuzz_fail(NULL, "no certificate");
    }

    if (tn_fuzz_write_conf() != TN_OK || tn_fuzz_make_cycle() != TN_OK) {
        tn_fuzz_check_log();
        tn_fuzz_fail(NULL, "the configuration is refused");
    }

    /* the log takes only what must not happen from here on */
    tn_fuzz_log->log_level = tn_fuzz_debug ? TN_LOG_INFO : TN_LOG_ALERT;

    if (tn_fuzz_make_store() != TN_OK) {
        tn_fuzz_fail(NULL, "the store cannot be made");
    }

    if (tn_fuzz_make_worker() != TN_OK) {
        tn_fuzz_fail(NULL, "the worker cannot be made");
    }

    if (proto->setup && proto->setup(tn_fuzz_store) != TN_OK) {
        tn_fuzz_fail(NULL, "the setup failed");
    }

    tn_fuzz_check_log();
}


#endif /* _TN_FUZZ_SESSION_H_INCLUDED_ */
