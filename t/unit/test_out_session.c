
/*
 * Copyright (C) The Tern developers
 */


/*
 * The outbound SMTP client end to end: tn_mail_out_deliver() on the real
 * event loop, connections and TLS layer, against scripted SMTP servers,
 * each a thread with a listening socket on 127.0.0.1 and blocking I/O.
 *
 * A script is a list of steps:
 *   "A"         accept a connection
 *   "> text"    send text (the C string has its CRLFs)
 *   "< line"    read a line and compare it, without its CRLF; a '*' at
 *               the end compares only what is before it
 *   "D"         read DATA text up to CRLF "." CRLF (kept, as sent)
 *   "B"         read BDAT chunks, "250" to each, up to LAST (kept)
 *   "T"         TLS as the server (the test certificate)
 *   "X"         close the connection
 *   "E"         read the end of the stream (the client closed)
 *   "S n"       sleep n ms
 * The job runs until its handler is called; then the results, the text
 * the servers got, and the log are checked.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail_out.h>
#include <tn_mail_out_client.h>

#include <pthread.h>
#include <poll.h>
#include <ftw.h>


#define TN_TEST_HOST      "mx.example.test"
#define TN_TEST_MAX_DATA  (4 * 1024 * 1024)


typedef struct {
    const char         **script;
    int                  ls;
    in_port_t            port;
    pthread_t            tid;

    int                  fd;
    SSL                 *ssl;
    u_char               in[65536];
    size_t               in_len;

    char                 error[512];
    u_char              *data;
    size_t               data_len;
    tn_uint_t            connections;
    volatile tn_uint_t   steps;         /* done so far */
} tn_test_server_t;


static tn_uint_t          tn_test_n;
static tn_uint_t          tn_test_failed;

static tn_cycle_t        *tn_test_cycle;
static tn_log_t          *tn_test_log;
static tn_mail_out_conf_t tn_test_ocf;
static SSL_CTX           *tn_test_server_ctx;
static tn_event_t         tn_test_tick;
static tn_uint_t          tn_test_done;
static char               tn_test_dir[] = "/tmp/tn-test-out.XXXXXX";
static char               tn_test_cert[PATH_MAX];
static off_t              tn_test_log_start;

static tn_cycle_t         tn_test_init_cycle;


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
    fflush(stdout);
}


/* the scripted servers */


static ssize_t
tn_test_srv_recv(tn_test_server_t *srv, u_char *buf, size_t size)
{
    int  n;

    if (srv->ssl) {
        n = SSL_read(srv->ssl, buf, (int) size);
        return (n > 0) ? n : (SSL_get_error(srv->ssl, n)
                              == SSL_ERROR_ZERO_RETURN ? 0 : -1);
    }

    return recv(srv->fd, buf, size, 0);
}


static int
tn_test_srv_send(tn_test_server_t *srv, const u_char *buf, size_t len)
{
    ssize_t  n;

    while (len) {
        if (srv->ssl) {
            n = SSL_write(srv->ssl, buf, (int) len);

        } else {
            n = send(srv->fd, buf, len, MSG_NOSIGNAL);
        }

        if (n <= 0) {
            return -1;
        }

        buf += n;
        len -= n;
    }

    return 0;
}


/* more bytes into srv->in; 0 at the end, -1 on an error */

static ssize_t
tn_test_srv_fill(tn_test_server_t *srv)
{
    ssize_t  n;

    if (srv->in_len == sizeof(srv->in)) {
        return -1;
    }

    n = tn_test_srv_recv(srv, srv->in + srv->in_len,
                         sizeof(srv->in) - srv->in_len);

    if (n > 0) {
        srv->in_len += n;
    }

    return n;
}


static void
tn_test_srv_consume(tn_test_server_t *srv, size_t n)
{
    memmove(srv->in, srv->in + n, srv->in_len - n);
    srv->in_len -= n;
}


/* a line without its CRLF into line[size]; -1 on EOF or an error */

static int
tn_test_srv_line(tn_test_server_t *srv, char *line, size_t size)
{
    u_char  *lf;
    size_t   n;

    for ( ;; ) {
        lf = memchr(srv->in, LF, srv->in_len);

        if (lf) {
            break;
        }

        if (tn_test_srv_fill(srv) <= 0) {
            return -1;
        }
    }

    n = lf - srv->in;

    if (n == 0 || srv->in[n - 1] != CR || n - 1 >= size) {
        return -1;
    }

    memcpy(line, srv->in, n - 1);
    line[n - 1] = '\0';

    tn_test_srv_consume(srv, n + 1);

    return 0;
}


static void
tn_test_srv_keep(tn_test_server_t *srv, const u_char *p, size_t n)
{
    if (srv->data_len + n <= TN_TEST_MAX_DATA) {
        memcpy(srv->data + srv->data_len, p, n);
        srv->data_len += n;
    }
}


/* DATA text up to CRLF . CRLF, kept as it came (with the end line) */

static int
tn_test_srv_data(tn_test_server_t *srv)
{
    size_t   i;
    u_char  *p;

    /* the text starts as if after a CRLF */

    for ( ;; ) {
        for (i = 0; i < srv->in_len; i++) {
            p = srv->in + i;

            if (*p != '.' || i + 3 > srv->in_len) {
                continue;
            }

            if ((i == 0 ? (srv->data_len == 0
                           || (srv->data_len >= 2
                               && srv->data[srv->data_len - 1] == LF))
                        : p[-1] == LF)
                && p[1] == CR && p[2] == LF)
            {
                tn_test_srv_keep(srv, srv->in, i + 3);
                tn_test_srv_consume(srv, i + 3);
                return 0;
            }
        }

        /* keep all but a possible start of the end line */

        if (srv->in_len > 4) {
            tn_test_srv_keep(srv, srv->in, srv->in_len - 4);
            tn_test_srv_consume(srv, srv->in_len - 4);
        }

        if (tn_test_srv_fill(srv) <= 0) {
            return -1;
        }
    }
}


/* BDAT chunks up to LAST; each gets "250" */

static int
tn_test_srv_bdat(tn_test_server_t *srv)
{
    int     last;
    char    line[512], reply[64];
    size_t  n, k;

    for ( ;; ) {
        if (tn_test_srv_line(srv, line, sizeof(line)) != 0
            || strncmp(line, "BDAT ", 5) != 0)
        {
            return -1;
        }

        n = strtoul(line + 5, NULL, 10);
        last = (strstr(line, " LAST") != NULL);

        while (n) {
            if (srv->in_len == 0 && tn_test_srv_fill(srv) <= 0) {
                return -1;
            }

            k = tn_min(n, srv->in_len);
            tn_test_srv_keep(srv, srv->in, k);
            tn_test_srv_consume(srv, k);
            n -= k;
        }

        snprintf(reply, sizeof(reply), "250 2.0.0 %s\r\n",
                 last ? "queued" : "chunk");

        if (tn_test_srv_send(srv, (u_char *) reply, strlen(reply)) != 0) {
            return -1;
        }

        if (last) {
            return 0;
        }
    }
}


static void
tn_test_srv_close(tn_test_server_t *srv)
{
    if (srv->ssl) {
        SSL_free(srv->ssl);
        srv->ssl = NULL;
    }

    if (srv->fd != -1) {
        close(srv->fd);
        srv->fd = -1;
    }

    srv->in_len = 0;
}


static int
tn_test_srv_step(tn_test_server_t *srv, const char *step)
{
    int             rc;
    char            line[2048];
    size_t          n;
    struct pollfd   pfd;
    struct timeval  tv;

    switch (step[0]) {

    case 'A':
        pfd.fd = srv->ls;
        pfd.events = POLLIN;

        if (poll(&pfd, 1, 10000) != 1) {
            return -1;
        }

        srv->fd = accept(srv->ls, NULL, NULL);

        if (srv->fd == -1) {
            return -1;
        }

        tv.tv_sec = 10;
        tv.tv_usec = 0;
        (void) setsockopt(srv->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

        srv->connections++;
        return 0;

    case '>':
        return tn_test_srv_send(srv, (u_char *) step + 2, strlen(step + 2));

    case '<':
        if (tn_test_srv_line(srv, line, sizeof(line)) != 0) {
            snprintf(srv->error, sizeof(srv->error), "no line for \"%s\"",
                     step);
            return -1;
        }

        n = strlen(step + 2);

        if (n && step[1 + n] == '*') {
            rc = strncmp(line, step + 2, n - 1);

        } else {
            rc = strcmp(line, step + 2);
        }

        if (rc != 0) {
            snprintf(srv->error, sizeof(srv->error),
                     "got \"%.200s\" for \"%s\"", line, step);
            return -1;
        }

        return 0;

    case 'D':
        return tn_test_srv_data(srv);

    case 'B':
        return tn_test_srv_bdat(srv);

    case 'T':
        srv->ssl = SSL_new(tn_test_server_ctx);

        if (srv->ssl == NULL || SSL_set_fd(srv->ssl, srv->fd) != 1) {
            return -1;
        }

        if (srv->in_len) {
            snprintf(srv->error, sizeof(srv->error),
                     "plain text before the handshake");
            return -1;
        }

        if (SSL_accept(srv->ssl) != 1) {
            ERR_clear_error();
            snprintf(srv->error, sizeof(srv->error), "TLS handshake failed");
            return -1;
        }

        return 0;

    case 'X':
        tn_test_srv_close(srv);
        return 0;

    case 'E':
        if (srv->in_len == 0 && tn_test_srv_fill(srv) == 0) {
            return 0;
        }

        snprintf(srv->error, sizeof(srv->error), "no end of stream");
        return -1;

    case 'S':
        usleep(atoi(step + 2) * 1000);
        return 0;
    }

    return -1;
}


static void *
tn_test_srv_run(void *arg)
{
    tn_test_server_t  *srv = arg;
    const char       **step;

    for (step = srv->script; *step; step++, srv->steps++) {
        if (tn_test_srv_step(srv, *step) != 0) {
            if (srv->error[0] == '\0') {
                snprintf(srv->error, sizeof(srv->error), "step \"%.60s\" "
                         "failed", *step);
            }

            ERR_clear_error();
            break;
        }
    }

    tn_test_srv_close(srv);

    return NULL;
}


static int
tn_test_srv_listen(tn_test_server_t *srv)
{
    int                 one;
    socklen_t           len;
    struct sockaddr_in  sin;

    tn_memzero(srv, sizeof(tn_test_server_t));

    srv->fd = -1;
    srv->data = malloc(TN_TEST_MAX_DATA);

    srv->ls = socket(AF_INET, SOCK_STREAM, 0);

    if (srv->ls == -1 || srv->data == NULL) {
        return -1;
    }

    one = 1;
    (void) setsockopt(srv->ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(int));

    tn_memzero(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    len = sizeof(sin);

    if (bind(srv->ls, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || listen(srv->ls, 8) == -1
        || getsockname(srv->ls, (struct sockaddr *) &sin, &len) == -1)
    {
        return -1;
    }

    srv->port = ntohs(sin.sin_port);

    return 0;
}


static void
tn_test_srv_start(tn_test_server_t *srv, const char **script)
{
    srv->script = script;

    if (pthread_create(&srv->tid, NULL, tn_test_srv_run, srv) != 0) {
        printf("# pthread_create() failed\n");
        exit(1);
    }
}


static void
tn_test_srv_end(tn_test_server_t *srv)
{
    pthread_join(srv->tid, NULL);
    close(srv->ls);
}


/* jobs */


typedef struct {
    tn_mail_out_job_t       job;
    tn_mail_out_target_t    targets[4];
    struct sockaddr_in      sin[4];
    tn_mail_out_msg_t       msgs[4];
    tn_store_queue_env_t    envs[4];
    tn_store_queue_rcpt_t   rcpts[4][4];
    tn_uint_t               idx[4][4];
    tn_mail_out_result_t    results[4][4];
    char                    paths[4][PATH_MAX];
    tn_uint_t               nmsgs;
} tn_test_job_t;


static void
tn_test_job_handler(tn_mail_out_job_t *job)
{
    tn_test_done++;
}


static void
tn_test_job_init(tn_test_job_t *t)
{
    tn_memzero(t, sizeof(tn_test_job_t));

    tn_str_set(&t->job.helo, "client.example.test");
    t->job.tls = TN_MAIL_OUT_TLS_NONE;
    t->job.ssl = tn_test_ocf.ssl;
    t->job.connect_timeout = 2000;
    t->job.command_timeout = 3000;
    t->job.data_timeout = 3000;
    t->job.handler = tn_test_job_handler;
    t->job.log = tn_test_log;

    tn_queue_init(&t->job.msgs);
}


static void
tn_test_job_target(tn_test_job_t *t, const char *host, in_port_t port)
{
    tn_uint_t              i;
    tn_mail_out_target_t  *tg;

    i = t->job.ntargets++;
    tg = &t->targets[i];

    t->sin[i].sin_family = AF_INET;
    t->sin[i].sin_port = htons(port);
    t->sin[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    tg->host.data = (u_char *) host;
    tg->host.len = strlen(host);
    tg->addr.sockaddr = (struct sockaddr *) &t->sin[i];
    tg->addr.socklen = sizeof(struct sockaddr_in);

    t->job.targets = t->targets;
}


/* a message to up to 4 recipients ("" ends the list) */

static tn_store_queue_env_t *
tn_test_job_msg(tn_test_job_t *t, const char *text, size_t len,
    const char *sender, const char **rcpts)
{
    int                     fd;
    tn_uint_t               i, m;
    tn_mail_out_msg_t      *msg;
    tn_store_queue_env_t   *env;

    m = t->nmsgs++;
    msg = &t->msgs[m];
    env = &t->envs[m];

    snprintf(t->paths[m], PATH_MAX, "%s/msg%u", tn_test_dir, (unsigned) m);

    fd = open(t->paths[m], O_WRONLY|O_CREAT|O_TRUNC, 0600);

    if (fd == -1 || write(fd, text, len) != (ssize_t) len) {
        printf("# cannot write %s\n", t->paths[m]);
        exit(1);
    }

    close(fd);

    snprintf(env->sender, sizeof(env->sender), "%s", sender);
    snprintf(env->id, sizeof(env->id), "ID%u", (unsigned) m);

    for (i = 0; rcpts[i]; i++) {
        snprintf(t->rcpts[m][i].address, TN_STORE_ADDR_MAX, "%s", rcpts[i]);
        t->idx[m][i] = i;
    }

    env->rcpts = t->rcpts[m];
    env->nrcpts = i;
    env->size = len;

    msg->path = t->paths[m];
    msg->size = len;
    msg->env = env;
    msg->nrcpts = i;
    msg->rcpts = t->idx[m];
    msg->results = t->results[m];
    msg->delivered_to = "";

    tn_queue_insert_tail(&t->job.msgs, &msg->queue);

    return env;
}


/* runs the loop until the handler ran (or limit ms passed) */

static int
tn_test_run(tn_test_job_t *t, tn_msec_t limit)
{
    tn_msec_t  start;

    tn_test_done = 0;

    if (tn_mail_out_deliver(&t->job) != TN_OK) {
        return -1;
    }

    tn_time_update();
    start = tn_current_msec;

    while (!tn_test_done && tn_current_msec - start < limit) {
        if (tn_test_tick.timer_set) {
            tn_event_del_timer(&tn_test_tick);
        }

        tn_event_add_timer(&tn_test_tick, 20);

        tn_process_events_and_timers(tn_test_cycle);
    }

    if (tn_test_tick.timer_set) {
        tn_event_del_timer(&tn_test_tick);
    }

    return tn_test_done == 1 ? 0 : -1;
}


static void
tn_test_tick_handler(tn_event_t *ev)
{
    /* wakes the loop up */
}


/* the log since the last reset */

static char *
tn_test_log_text(void)
{
    int          fd;
    char         path[PATH_MAX];
    ssize_t      n;
    static char  buf[256 * 1024];

    /* the log's own descriptor is write-only */

    snprintf(path, sizeof(path), "%s/error.log", tn_test_dir);

    fd = open(path, O_RDONLY);
    n = (fd == -1) ? -1 : pread(fd, buf, sizeof(buf) - 1, tn_test_log_start);
    buf[n > 0 ? n : 0] = '\0';

    if (fd != -1) {
        close(fd);
    }

    return buf;
}


static void
tn_test_log_reset(void)
{
    struct stat  sb;

    if (fstat(tn_test_log->file->fd, &sb) == 0) {
        tn_test_log_start = sb.st_size;
    }
}


static int
tn_test_result(tn_mail_out_result_t *r, tn_uint_t status, const char *dsn,
    const char *text)
{
    if (r->status != status || strcmp(r->dsn, dsn) != 0
        || (text && strstr(r->text, text) == NULL))
    {
        printf("# result: status %u dsn \"%s\" text \"%s\"\n",
               (unsigned) r->status, r->dsn, r->text);
        return 0;
    }

    return 1;
}


static int
tn_test_data(tn_test_server_t *srv, const char *expect)
{
    if (srv->data_len != strlen(expect)
        || memcmp(srv->data, expect, srv->data_len) != 0)
    {
        printf("# data (%u): \"%.*s\"\n", (unsigned) srv->data_len,
               (int) tn_min(srv->data_len, 400), srv->data);
        return 0;
    }

    return 1;
}


static int
tn_test_srv_ok(tn_test_server_t *srv)
{
    if (srv->error[0]) {
        printf("# server: %s\n", srv->error);
        return 0;
    }

    return 1;
}


/* the cases */


static const char  *tn_test_rcpts2[] = {
    "a@remote.test", "b@remote.test", NULL
};

static const char  *tn_test_rcpts1[] = { "a@remote.test", NULL };


static void
tn_test_pipelining(void)
{
    tn_test_job_t           t;
    tn_test_server_t        srv;
    tn_store_queue_env_t   *env;

    static const char  text[] =
        "Subject: hi\n"
        "\n"
        ".hidden\n"
        "bare\rcr\n"
        "end";

    static const char  *script[] = {
        "A",
        "> 220 " TN_TEST_HOST " ESMTP\r\n",
        "< EHLO client.example.test",
        "> 250-" TN_TEST_HOST "\r\n250-PIPELINING\r\n250-SIZE 100000\r\n"
        "250-8BITMIME\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n",
        "< MAIL FROM:<s@example.test> SIZE=67 RET=HDRS ENVID=id+2Bx+3D1",
        "< RCPT TO:<a@remote.test> NOTIFY=SUCCESS,FAILURE "
        "ORCPT=rfc822;A+40remote.test",
        "< RCPT TO:<b@remote.test>",
        "< DATA",
        "> 250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
        "550-5.1.1 <b@remote.test>: no\r\n550 5.1.1 such user\r\n"
        "354 go ahead\r\n",
        "D",
        "> 250 2.0.0 Ok: queued as X1\r\n",
        "< QUIT",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);

    env = tn_test_job_msg(&t, text, sizeof(text) - 1, "s@example.test",
                          tn_test_rcpts2);

    env->ret = TN_QUEUE_RET_HDRS;
    strcpy(env->envid, "id+x=1");
    env->rcpts[0].notify = TN_QUEUE_NOTIFY_SUCCESS|TN_QUEUE_NOTIFY_FAILURE;
    strcpy(env->rcpts[0].orcpt, "rfc822;A+40remote.test");
    t.msgs[0].delivered_to = "x@local.test";

    tn_test_log_reset();

    tn_test_ok(tn_test_run(&t, 10000) == 0, "pipelining: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "pipelining: the server's script");

    tn_test_ok(tn_test_data(&srv, "Delivered-To: x@local.test\r\n"
                            "Subject: hi\r\n\r\n..hidden\r\nbare\r\ncr\r\n"
                            "end\r\n.\r\n"),
               "pipelining: the text (CRLF, dot-stuffing, Delivered-To)");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_OK, "2.0.0",
                              TN_TEST_HOST "[127.0.0.1] said: 250 2.0.0 Ok: "
                              "queued as X1 (in reply to end of DATA "
                              "command)")
               && strcmp(t.results[0][0].remote_mta, TN_TEST_HOST) == 0
               && !t.results[0][0].relayed,
               "pipelining: the accepted recipient");

    tn_test_ok(tn_test_result(&t.results[0][1], TN_MAIL_OUT_FAIL, "5.1.1",
                              "said: 550-5.1.1 <b@remote.test>: no 550 5.1.1 "
                              "such user (in reply to RCPT TO command)"),
               "pipelining: the refused recipient, multi-line reply");

    tn_test_ok(strstr(tn_test_log_text(), "connect to " TN_TEST_HOST
                      "[127.0.0.1]:") != NULL,
               "pipelining: the connection is logged");

    free(srv.data);
}


static void
tn_test_no_pipelining(void)
{
    tn_test_job_t           t;
    tn_test_server_t        srv;
    tn_store_queue_env_t   *env;

    static const char  text[] = "Subject: \xc3\xa9t\xc3\xa9\n\nbody\n";

    static const char  *script[] = {
        "A",
        "> 220 " TN_TEST_HOST " ESMTP\r\n",
        "< EHLO client.example.test",
        "> 250-" TN_TEST_HOST "\r\n250 HELP\r\n",
        "< MAIL FROM:<>",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "> 451 4.3.0 try later\r\n",
        "< RCPT TO:<b@remote.test>",
        "> 250 ok\r\n",
        "< DATA",
        "> 354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);

    env = tn_test_job_msg(&t, text, sizeof(text) - 1, "", tn_test_rcpts2);
    env->body_8bit = 1;
    env->rcpts[1].notify = TN_QUEUE_NOTIFY_SUCCESS;

    tn_test_log_reset();

    tn_test_ok(tn_test_run(&t, 10000) == 0, "one by one: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "one by one: the server's script");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.3.0",
                              "said: 451 4.3.0 try later (in reply to RCPT TO"),
               "one by one: a deferred recipient");

    tn_test_ok(tn_test_result(&t.results[0][1], TN_MAIL_OUT_OK, "2.0.0",
                              "said: 250 queued (in reply to end of DATA")
               && t.results[0][1].relayed,
               "one by one: NOTIFY=SUCCESS without DSN is relayed");

    tn_test_ok(strstr(tn_test_log_text(), "does not offer 8BITMIME") != NULL,
               "one by one: 8-bit without 8BITMIME is logged");

    free(srv.data);
}


static void
tn_test_chunking(void)
{
    u_char             *text, *expect;
    size_t              i, len, n;
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 " TN_TEST_HOST " ESMTP\r\n",
        "< EHLO client.example.test",
        "> 250-" TN_TEST_HOST "\r\n250-PIPELINING\r\n250-CHUNKING\r\n"
        "250 SIZE\r\n",
        "< MAIL FROM:<s@example.test> SIZE=303000",
        "< RCPT TO:<a@remote.test>",
        "> 250 ok\r\n250 ok\r\n",
        "B",
        "< QUIT",
        "E",
        NULL
    };

    /* 3000 lines of 99 octets and an LF: 300000 octets, 5 chunks */

    len = 3000 * 100;
    text = malloc(len);
    expect = malloc(3000 * 101 + 1);

    for (i = 0, n = 0; i < 3000; i++) {
        memset(text + i * 100, (i % 7) ? 'x' : '.', 99);
        text[i * 100 + 99] = LF;

        memcpy(expect + n, text + i * 100, 99);
        n += 99;
        expect[n++] = CR;
        expect[n++] = LF;
    }

    expect[n] = '\0';

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, (char *) text, len, "s@example.test",
                           tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0, "BDAT: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "BDAT: the server's script");

    tn_test_ok(tn_test_data(&srv, (char *) expect),
               "BDAT: the text in chunks, without dot-stuffing");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_OK, "2.0.0",
                              "said: 250 2.0.0 queued (in reply to BDAT LAST "
                              "command)"),
               "BDAT: the result");

    free(text);
    free(expect);
    free(srv.data);
}


static void
tn_test_big_data(void)
{
    u_char                *text;
    size_t                 i, len, k;
    tn_buf_t               in, out;
    tn_test_job_t          t;
    tn_test_server_t       srv;
    tn_mail_out_encode_t   e;

    static const char  *script[] = {
        "A",
        "> 220 " TN_TEST_HOST " ESMTP\r\n",
        "< EHLO client.example.test",
        "> 250-" TN_TEST_HOST "\r\n250 PIPELINING\r\n",
        "< MAIL FROM:<s@example.test>",
        "< RCPT TO:<a@remote.test>",
        "< DATA",
        "> 250 ok\r\n250 ok\r\n354 go\r\n",
        "S 300",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        "E",
        NULL
    };

    /*
     * 2 MiB of lines of 2500 octets (broken at 998), leading dots and
     * bare CRs; the server waits before it reads, so that the socket
     * fills up and the writes become partial.
     */

    len = 2 * 1024 * 1024;
    text = malloc(len);

    for (i = 0; i < len; i++) {
        k = i % 2501;
        text[i] = (k == 2500) ? LF : (k == 0) ? '.' : (k == 1700) ? CR
                  : (u_char) ('a' + k % 26);
    }

    /* what must arrive: the encoder over the whole text, then "." */

    out.start = out.pos = out.last = malloc(2 * len + 16);
    out.end = out.start + 2 * len + 16;

    in.start = in.pos = text;
    in.last = in.end = text + len;

    tn_mail_out_encode_init(&e, 1);
    tn_mail_out_encode(&e, &in, &out);
    tn_mail_out_encode_finish(&e, &out);

    out.last = tn_cpymem(out.last, ".\r\n", 4) - 1;

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);

    (void) tn_test_job_msg(&t, (char *) text, len, "s@example.test",
                           tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 20000) == 0, "2 MiB DATA: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "2 MiB DATA: the server's script");

    tn_test_ok(e.split > 500 && tn_test_data(&srv, (char *) out.start),
               "2 MiB DATA: %u octets as encoded", (unsigned) srv.data_len);

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_OK, "2.0.0",
                              NULL),
               "2 MiB DATA: the result");

    free(text);
    free(out.start);
    free(srv.data);
}


/* a refused connection and a 554 greeting: the third target takes it */

static void
tn_test_next_target(void)
{
    int                 fd;
    in_port_t           closed;
    socklen_t           len;
    tn_test_job_t       t;
    tn_test_server_t    srv1, srv2;
    struct sockaddr_in  sin;

    static const char  *script1[] = {
        "A",
        "> 554 5.7.1 go away\r\n",
        "< QUIT",
        "E",
        NULL
    };

    static const char  *script2[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250 ok\r\n",
        "< MAIL FROM:<s@example.test>",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "> 250 ok\r\n",
        "< DATA",
        "> 354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        "E",
        NULL
    };

    /* a port with nothing behind it */

    fd = socket(AF_INET, SOCK_STREAM, 0);
    tn_memzero(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sin);
    (void) bind(fd, (struct sockaddr *) &sin, sizeof(sin));
    (void) getsockname(fd, (struct sockaddr *) &sin, &len);
    closed = ntohs(sin.sin_port);
    close(fd);

    tn_test_srv_listen(&srv1);
    tn_test_srv_listen(&srv2);
    tn_test_srv_start(&srv1, script1);
    tn_test_srv_start(&srv2, script2);

    tn_test_job_init(&t);
    tn_test_job_target(&t, "mx0.remote.test", closed);
    tn_test_job_target(&t, "mx1.remote.test", srv1.port);
    tn_test_job_target(&t, "mx2.remote.test", srv2.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_log_reset();

    tn_test_ok(tn_test_run(&t, 10000) == 0, "next target: the handler runs");

    tn_test_srv_end(&srv1);
    tn_test_srv_end(&srv2);

    tn_test_ok(tn_test_srv_ok(&srv1) && tn_test_srv_ok(&srv2),
               "next target: the servers' scripts");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_OK, "2.0.0",
                              "mx2.remote.test[127.0.0.1] said: 250 queued"),
               "next target: delivered by the third");

    tn_test_ok(strstr(tn_test_log_text(), "Connection refused") != NULL
               && strstr(tn_test_log_text(), "refused to talk to me: 554 "
                                             "5.7.1 go away") != NULL,
               "next target: the failures are logged");

    free(srv1.data);
    free(srv2.data);
}


/* every target fails: the last error, as DEFER */

static void
tn_test_all_fail(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 502 5.5.1 what\r\n",
        "< HELO client.example.test",
        "> 550 5.7.1 no\r\n",
        "< QUIT",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts2);

    tn_test_ok(tn_test_run(&t, 10000) == 0, "HELO refused: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "HELO refused: the server's script");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.7.1",
                              "said: 550 5.7.1 no (in reply to HELO command)")
               && tn_test_result(&t.results[0][1], TN_MAIL_OUT_DEFER, "4.7.1",
                                 NULL),
               "HELO refused: DEFER with the reply, class 4");

    free(srv.data);
}


/* MAIL refused (pipelined), RSET, then the next message goes */

static void
tn_test_mail_refused(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 PIPELINING\r\n",
        "< MAIL FROM:<bad@example.test>",
        "< RCPT TO:<a@remote.test>",
        "< RCPT TO:<b@remote.test>",
        "< DATA",
        "> 553 5.1.8 sender refused\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"
        "503 5.5.1 no\r\n",
        "< RSET",
        "> 250 ok\r\n",
        "< MAIL FROM:<s@example.test>",
        "< RCPT TO:<a@remote.test>",
        "< DATA",
        "> 250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n",
        "< RSET",
        "> 250 ok\r\n",
        "< MAIL FROM:<s@example.test>",
        "< RCPT TO:<a@remote.test>",
        "< DATA",
        "> 250 ok\r\n250 ok\r\n354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "bad@example.test", tn_test_rcpts2);
    (void) tn_test_job_msg(&t, "y\n", 2, "s@example.test", tn_test_rcpts1);
    (void) tn_test_job_msg(&t, "z\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0, "MAIL refused: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "MAIL refused: the server's script");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_FAIL, "5.1.8",
                              "said: 553 5.1.8 sender refused (in reply to "
                              "MAIL FROM command)")
               && tn_test_result(&t.results[0][1], TN_MAIL_OUT_FAIL, "5.1.8",
                                 NULL),
               "MAIL refused: every recipient gets MAIL's reply");

    tn_test_ok(tn_test_result(&t.results[1][0], TN_MAIL_OUT_FAIL, "5.1.1",
                              "(in reply to RCPT TO command)"),
               "MAIL refused: no recipient, DATA refused");

    tn_test_ok(tn_test_result(&t.results[2][0], TN_MAIL_OUT_OK, "2.0.0",
                              NULL)
               && tn_test_data(&srv, "z\r\n.\r\n"),
               "MAIL refused: the third message after RSET");

    free(srv.data);
}


/* the connection is lost after the end of data: DEFER, no other target */

static void
tn_test_lost(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv, srv2;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250 ok\r\n",
        "< MAIL FROM:<s@example.test>",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "> 250 ok\r\n",
        "< DATA",
        "> 354 go\r\n",
        "D",
        "X",
        NULL
    };

    static const char  *none[] = { NULL };

    tn_test_srv_listen(&srv);
    tn_test_srv_listen(&srv2);
    tn_test_srv_start(&srv, script);
    tn_test_srv_start(&srv2, none);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    tn_test_job_target(&t, "mx2.remote.test", srv2.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);
    (void) tn_test_job_msg(&t, "y\n", 2, "s@example.test", tn_test_rcpts2);

    tn_test_ok(tn_test_run(&t, 10000) == 0, "lost: the handler runs");

    tn_test_srv_end(&srv);
    tn_test_srv_end(&srv2);

    tn_test_ok(tn_test_srv_ok(&srv), "lost: the server's script");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.4.2",
                              "lost connection with " TN_TEST_HOST
                              "[127.0.0.1] while sending end of data -- "
                              "message may be sent more than once"),
               "lost: the message waits (RFC 1047)");

    tn_test_ok(tn_test_result(&t.results[1][0], TN_MAIL_OUT_DEFER, "4.4.2",
                              NULL)
               && tn_test_result(&t.results[1][1], TN_MAIL_OUT_DEFER, "4.4.2",
                                 NULL)
               && srv2.connections == 0,
               "lost: the next message waits too, no other target");

    free(srv.data);
    free(srv2.data);
}


/* a server that stops answering: command_timeout */

static void
tn_test_timeout(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250 ok\r\n",
        "< MAIL FROM:<s@example.test>",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    t.job.command_timeout = 500;
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0, "timeout: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "timeout: the server's script");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.4.2",
                              "conversation with " TN_TEST_HOST
                              "[127.0.0.1] timed out while sending RCPT TO"),
               "timeout: DEFER");

    free(srv.data);
}


/* SIZE: too big for the server, no MAIL at all */

static void
tn_test_size(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 SIZE 10\r\n",
        "< MAIL FROM:<s@example.test> SIZE=5",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "> 250 ok\r\n",
        "< DATA",
        "> 354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "0123456789\n", 11, "s@example.test",
                           tn_test_rcpts2);
    (void) tn_test_job_msg(&t, "abc\n", 4, "s@example.test",
                           tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0, "SIZE: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "SIZE: the server's script");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_FAIL, "5.3.4",
                              "message size 12 exceeds size limit 10 of "
                              "server " TN_TEST_HOST "[127.0.0.1]")
               && tn_test_result(&t.results[0][1], TN_MAIL_OUT_FAIL, "5.3.4",
                                 NULL),
               "SIZE: the big one fails without being sent");

    tn_test_ok(tn_test_result(&t.results[1][0], TN_MAIL_OUT_OK, "2.0.0",
                              NULL),
               "SIZE: the small one goes");

    free(srv.data);
}


/* SMTPUTF8 not offered: A-labels, 5.6.7 for a UTF-8 local part */

static void
tn_test_smtputf8(void)
{
    tn_test_job_t           t;
    tn_test_server_t        srv, srv2;
    tn_store_queue_env_t   *env;

    static const char  *rcpts[] = {
        "j\xc3\xb6rg@remote.test", "a@b\xc3\xbc\x63her.test", NULL
    };

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 PIPELINING\r\n",
        "< MAIL FROM:<s@example.test>",
        "< RCPT TO:<a@xn--bcher-kva.test>",
        "< DATA",
        "> 250 ok\r\n250 ok\r\n354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        "E",
        NULL
    };

    static const char  *script2[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n",
        "< MAIL FROM:<s@example.test> SMTPUTF8",
        "< RCPT TO:<j\xc3\xb6rg@remote.test>",
        "< RCPT TO:<a@b\xc3\xbc\x63her.test>",
        "< DATA",
        "> 250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    env = tn_test_job_msg(&t, "x\n", 2, "s@example.test", rcpts);
    env->smtputf8 = 1;

    tn_test_log_reset();

    tn_test_ok(tn_test_run(&t, 10000) == 0, "SMTPUTF8 not offered: the "
               "handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "SMTPUTF8 not offered: the server's "
               "script (A-label domain)");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_FAIL, "5.6.7",
                              "SMTPUTF8 is required, but was not offered")
               && tn_test_result(&t.results[0][1], TN_MAIL_OUT_OK, "2.0.0",
                                 NULL),
               "SMTPUTF8 not offered: 5.6.7 for the UTF-8 local part only");

    tn_test_ok(strstr(tn_test_log_text(), "does not offer SMTPUTF8") != NULL,
               "SMTPUTF8 not offered: the downgrade is logged");

    free(srv.data);

    tn_test_srv_listen(&srv2);
    tn_test_srv_start(&srv2, script2);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv2.port);
    env = tn_test_job_msg(&t, "x\n", 2, "s@example.test", rcpts);
    env->smtputf8 = 1;

    tn_test_ok(tn_test_run(&t, 10000) == 0, "SMTPUTF8: the handler runs");

    tn_test_srv_end(&srv2);

    tn_test_ok(tn_test_srv_ok(&srv2)
               && t.results[0][0].status == TN_MAIL_OUT_OK
               && t.results[0][1].status == TN_MAIL_OUT_OK,
               "SMTPUTF8: addresses as they are");

    free(srv2.data);
}


/* STARTTLS (may), then AUTH PLAIN; and AUTH LOGIN */

static void
tn_test_starttls_auth(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n",
        "< STARTTLS",
        "> 220 go ahead\r\n",
        "T",
        "< EHLO client.example.test",
        "> 250-ok\r\n250-PIPELINING\r\n250 AUTH LOGIN PLAIN\r\n",
        "< AUTH PLAIN AHVzZXIAcGFzcw==",
        "> 235 2.7.0 ok\r\n",
        "< MAIL FROM:<s@example.test>",
        "< RCPT TO:<a@remote.test>",
        "< DATA",
        "> 250 ok\r\n250 ok\r\n354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        NULL
    };

    static const char  *login[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250-STARTTLS\r\n250 AUTH LOGIN\r\n",
        "< STARTTLS",
        "> 220 go ahead\r\n",
        "T",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 AUTH=LOGIN\r\n",
        "< AUTH LOGIN",
        "> 334 VXNlcm5hbWU6\r\n",
        "< dXNlcg==",
        "> 334 UGFzc3dvcmQ6\r\n",
        "< cGFzcw==",
        "> 535 5.7.8 bad credentials\r\n",
        "< QUIT",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_MAY;
    tn_str_set(&t.job.auth_user, "user");
    tn_str_set(&t.job.auth_pass, "pass");
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_log_reset();

    tn_test_ok(tn_test_run(&t, 10000) == 0, "STARTTLS: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "STARTTLS, AUTH PLAIN: the server's "
               "script");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_OK, "2.0.0",
                              NULL),
               "STARTTLS, AUTH PLAIN: delivered");

    tn_test_ok(strstr(tn_test_log_text(), "Unverified TLS connection "
                      "established to " TN_TEST_HOST "[127.0.0.1]:") != NULL
               && strstr(tn_test_log_text(), " with cipher ") != NULL
               && strstr(tn_test_log_text(), "cGFzcw") == NULL
               && strstr(tn_test_log_text(), "AHVzZX") == NULL,
               "STARTTLS: protocol and cipher logged, credentials not");

    free(srv.data);

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, login);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_REQUIRE;
    tn_str_set(&t.job.auth_user, "user");
    tn_str_set(&t.job.auth_pass, "pass");
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0, "AUTH LOGIN: the handler runs");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "AUTH LOGIN: the server's script");

    tn_test_ok(tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.7.8",
                              "said: 535 5.7.8 bad credentials (in reply to "
                              "AUTH command)"),
               "AUTH LOGIN: 535 defers");

    free(srv.data);
}


/* no credentials in the clear; TLS required but not offered */

static void
tn_test_tls_refusals(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 AUTH PLAIN\r\n",
        "< QUIT",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_MAY;
    tn_str_set(&t.job.auth_user, "user");
    tn_str_set(&t.job.auth_pass, "pass");
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0
               && tn_test_srv_ok(&srv)
               && tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.7.0",
                                 "AUTH needs TLS"),
               "AUTH without TLS: DEFER 4.7.0");

    tn_test_srv_end(&srv);
    free(srv.data);

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_REQUIRE;
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0
               && tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.7.5",
                                 "TLS is required, but was not offered by "
                                 "host " TN_TEST_HOST "[127.0.0.1]"),
               "TLS required, not offered: DEFER 4.7.5");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "TLS required: the server's script");

    free(srv.data);
}


/* plain text after the 220 to STARTTLS: dropped (response injection) */

static void
tn_test_starttls_injection(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 STARTTLS\r\n",
        "< STARTTLS",
        "> 220 go ahead\r\n250-injected\r\n250 PIPELINING\r\n",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_REQUIRE;
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0
               && tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.5.0",
                                 "plain text after the STARTTLS reply"),
               "STARTTLS response injection: dropped");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "STARTTLS injection: the server's "
               "script");

    free(srv.data);
}


/* "tls may" and a failed handshake: once more without TLS */

static void
tn_test_tls_fallback(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 STARTTLS\r\n",
        "< STARTTLS",
        "> 220 go ahead\r\n",
        "S 50",
        "> this is not TLS\r\n",
        "X",
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 STARTTLS\r\n",
        "< MAIL FROM:<s@example.test>",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "> 250 ok\r\n",
        "< DATA",
        "> 354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_MAY;
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0
               && tn_test_result(&t.results[0][0], TN_MAIL_OUT_OK, "2.0.0",
                                 NULL),
               "tls may, handshake failure: delivered in the clear");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv) && srv.connections == 2,
               "tls may, handshake failure: the server's script");

    free(srv.data);
}


/* "tls verify": the name must match a trusted certificate */

static void
tn_test_verify(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *good[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 STARTTLS\r\n",
        "< STARTTLS",
        "> 220 go ahead\r\n",
        "T",
        "< EHLO client.example.test",
        "> 250 ok\r\n",
        "< MAIL FROM:<s@example.test>",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "> 250 ok\r\n",
        "< DATA",
        "> 354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        NULL
    };

    static const char  *bad[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 STARTTLS\r\n",
        "< STARTTLS",
        "> 220 go ahead\r\n",
        "T",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, good);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_VERIFY;
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_log_reset();

    tn_test_ok(tn_test_run(&t, 10000) == 0
               && tn_test_result(&t.results[0][0], TN_MAIL_OUT_OK, "2.0.0",
                                 NULL),
               "tls verify: a trusted certificate for the name");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv)
               && strstr(tn_test_log_text(), "Verified TLS connection") != NULL,
               "tls verify: the server's script, logged as verified");

    free(srv.data);

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, bad);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_VERIFY;
    tn_test_job_target(&t, "other.example.test", srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0
               && tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.7.5",
                                 "cannot start TLS with other.example.test"
                                 "[127.0.0.1]: "),
               "tls verify: another name defers");

    tn_test_srv_end(&srv);

    free(srv.data);
}


/* implicit TLS (port 465) */

static void
tn_test_implicit(void)
{
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "T",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250-ok\r\n250 STARTTLS\r\n",
        "< MAIL FROM:<s@example.test>",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "> 250 ok\r\n",
        "< DATA",
        "> 354 go\r\n",
        "D",
        "> 250 queued\r\n",
        "< QUIT",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    t.job.tls = TN_MAIL_OUT_TLS_REQUIRE;
    t.job.implicit_tls = 1;
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_ok(tn_test_run(&t, 10000) == 0
               && tn_test_result(&t.results[0][0], TN_MAIL_OUT_OK, "2.0.0",
                                 NULL),
               "implicit TLS: delivered");

    tn_test_srv_end(&srv);

    tn_test_ok(tn_test_srv_ok(&srv), "implicit TLS: the server's script");

    free(srv.data);
}


/* hostile replies: too long, too many lines, mixed codes, 421 */

static void
tn_test_hostile(void)
{
    char                long_reply[1024];
    tn_uint_t           i;
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *scripts[][12] = {
        { "A", "> 220 ok\r\n", "< EHLO client.example.test", NULL, "E",
          NULL },
        { "A", "> 220 ok\r\n", "< EHLO client.example.test",
          "> 250-a\r\n251 b\r\n", "E", NULL },
        { "A", "> 220 ok\r\n", "< EHLO client.example.test", "> 250 ok\r\n",
          "< MAIL FROM:<s@example.test>",
          "> 421-4.3.2 shutting\r\n421 4.3.2 down\r\n", "E", NULL },
        { "A", "> 220 ok\r\n", "< EHLO client.example.test", "> 250 ok\r\n",
          "< MAIL FROM:<s@example.test>", "> 354 what\r\n", "E", NULL },
        { "A", "> 220 ok\r\n250 and more\r\n", "< EHLO client.example.test",
          "E", NULL },
    };

    static const char  *texts[] = {
        "protocol error with " TN_TEST_HOST "[127.0.0.1] while performing "
        "the EHLO handshake: reply line too long",
        "reply lines with different codes",
        "said: 421-4.3.2 shutting 421 4.3.2 down (in reply to MAIL FROM "
        "command)",
        "unexpected reply to MAIL",
        "protocol error with " TN_TEST_HOST "[127.0.0.1] while performing "
        "the EHLO handshake: data from the server where no reply was due"
    };

    static const char  *dsns[] = {
        "4.5.0", "4.5.0", "4.3.2", "4.5.0", "4.5.0"
    };

    snprintf(long_reply, sizeof(long_reply), "> 250 %0600d\r\n", 0);
    scripts[0][3] = long_reply;

    for (i = 0; i < sizeof(dsns) / sizeof(dsns[0]); i++) {
        tn_test_srv_listen(&srv);
        tn_test_srv_start(&srv, scripts[i]);

        tn_test_job_init(&t);
        tn_test_job_target(&t, TN_TEST_HOST, srv.port);
        (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test",
                               tn_test_rcpts1);

        tn_test_ok(tn_test_run(&t, 10000) == 0
                   && tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER,
                                     dsns[i], texts[i]),
                   "hostile reply %u: DEFER", (unsigned) i);

        tn_test_srv_end(&srv);

        tn_test_ok(tn_test_srv_ok(&srv), "hostile reply %u: the server's "
                   "script", (unsigned) i);

        free(srv.data);
    }
}


/* tn_mail_out_abort(): everything DEFER, no handler call */

static void
tn_test_abort(void)
{
    tn_uint_t           n;
    tn_test_job_t       t;
    tn_test_server_t    srv;

    static const char  *script[] = {
        "A",
        "> 220 ok\r\n",
        "< EHLO client.example.test",
        "> 250 ok\r\n",
        "< MAIL FROM:<s@example.test>",
        "> 250 ok\r\n",
        "< RCPT TO:<a@remote.test>",
        "E",
        NULL
    };

    tn_test_srv_listen(&srv);
    tn_test_srv_start(&srv, script);

    tn_test_job_init(&t);
    tn_test_job_target(&t, TN_TEST_HOST, srv.port);
    (void) tn_test_job_msg(&t, "x\n", 2, "s@example.test", tn_test_rcpts1);

    tn_test_done = 0;

    tn_test_ok(tn_mail_out_deliver(&t.job) == TN_OK, "abort: started");

    /* turns of the loop until the server has read the RCPT */

    for (n = 0; n < 500 && t.job.priv && srv.steps < 7; n++) {
        tn_event_add_timer(&tn_test_tick, 10);
        tn_process_events_and_timers(tn_test_cycle);
    }

    tn_mail_out_abort(&t.job);

    tn_test_ok(t.job.priv == NULL && tn_test_done == 0
               && tn_test_result(&t.results[0][0], TN_MAIL_OUT_DEFER, "4.3.2",
                                 "the worker is exiting"),
               "abort: DEFER, no handler call");

    for (n = 0; n < 10; n++) {
        tn_event_add_timer(&tn_test_tick, 10);
        tn_process_events_and_timers(tn_test_cycle);
    }

    if (tn_test_tick.timer_set) {
        tn_event_del_timer(&tn_test_tick);
    }

    tn_test_ok(tn_test_done == 0
               && tn_event_timer_rbtree.root == tn_event_timer_rbtree.sentinel,
               "abort: no handler later, no timer left");

    tn_test_srv_end(&srv);

    free(srv.data);
}


/* set-up: a worker's event loop from a minimal configuration */

static int
tn_test_setup(void)
{
    int          fd;
    char         path[PATH_MAX];
    size_t       len;
    tn_uint_t    i;
    tn_str_t     cert, key, cn;
    tn_conf_t    cf;
    tn_cycle_t  *init;

    static const char  conf[] = "events { worker_connections 64; }\n";

    tn_time_init();
    tn_pid = tn_getpid();

    (void) signal(SIGPIPE, SIG_IGN);

    if (mkdtemp(tn_test_dir) == NULL) {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/error.log", tn_test_dir);

    tn_test_log = tn_log_init(NULL, (u_char *) path);
    if (tn_test_log == NULL) {
        return -1;
    }

    tn_test_log->log_level = TN_LOG_INFO;

    if (tn_os_init(tn_test_log) != TN_OK
        || tn_ssl_init(tn_test_log) != TN_OK
        || tn_preinit_modules() != TN_OK)
    {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/tern.conf", tn_test_dir);

    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0600);
    if (fd == -1 || write(fd, conf, sizeof(conf) - 1) == -1) {
        return -1;
    }

    close(fd);

    init = &tn_test_init_cycle;
    init->log = tn_test_log;
    tn_cycle = init;

    init->pool = tn_create_pool(1024, tn_test_log);
    if (init->pool == NULL) {
        return -1;
    }

    len = strlen(path);

    init->prefix.data = (u_char *) tn_test_dir;
    init->prefix.len = strlen(tn_test_dir);
    init->conf_prefix = init->prefix;
    init->conf_file.data = tn_pnalloc(init->pool, len + 1);
    tn_memcpy(init->conf_file.data, path, len + 1);
    init->conf_file.len = len;

    tn_test_config = 1;
    tn_quiet_mode = 1;

    tn_test_cycle = tn_init_cycle(init);

    tn_test_config = 0;

    if (tn_test_cycle == NULL) {
        return -1;
    }

    tn_cycle = tn_test_cycle;
    tn_test_cycle->listening.nelts = 0;
    tn_process = TN_PROCESS_WORKER;

    /* only the event loop of a worker */

    for (i = 0; tn_test_cycle->modules[i]; i++) {
        if (tn_test_cycle->modules[i] == &tn_event_core_module
            && tn_test_cycle->modules[i]->init_process(tn_test_cycle)
               != TN_OK)
        {
            return -1;
        }
    }

    tn_test_tick.handler = tn_test_tick_handler;
    tn_test_tick.log = tn_test_log;
    tn_test_tick.data = &tn_test_tick;

    /* the server's certificate, and the client context trusting it */

    snprintf(tn_test_cert, sizeof(tn_test_cert), "%s/cert.pem", tn_test_dir);
    snprintf(path, sizeof(path), "%s/key.pem", tn_test_dir);

    cert.data = (u_char *) tn_test_cert;
    cert.len = strlen(tn_test_cert);
    key.data = (u_char *) path;
    key.len = strlen(path);
    tn_str_set(&cn, TN_TEST_HOST);

    if (tn_ssl_generate_self_signed(tn_test_log, &cert, &key, &cn) != TN_OK) {
        return -1;
    }

    tn_test_server_ctx = SSL_CTX_new(TLS_method());

    if (tn_test_server_ctx == NULL
        || SSL_CTX_use_certificate_chain_file(tn_test_server_ctx,
                                              tn_test_cert) != 1
        || SSL_CTX_use_PrivateKey_file(tn_test_server_ctx, path,
                                       SSL_FILETYPE_PEM) != 1)
    {
        return -1;
    }

    tn_memzero(&cf, sizeof(tn_conf_t));
    cf.cycle = tn_test_cycle;
    cf.pool = tn_test_cycle->pool;
    cf.log = tn_test_log;

    tn_test_ocf.tls = TN_MAIL_OUT_TLS_VERIFY;

    if (tn_mail_out_client_ssl(&cf, &tn_test_ocf) != TN_CONF_OK) {
        return -1;
    }

    /*
     * The generated certificate (CA:FALSE, no keyCertSign) is not taken
     * for its own issuer: trusted as it is, a partial chain.
     */

    if (SSL_CTX_load_verify_locations(tn_test_ocf.ssl->ctx, tn_test_cert,
                                      NULL)
        != 1
        || X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(
                                           tn_test_ocf.ssl->ctx),
                                       X509_V_FLAG_PARTIAL_CHAIN)
           != 1)
    {
        return -1;
    }

    return 0;
}


static int
tn_test_rm(const char *path, const struct stat *sb, int type,
    struct FTW *ftw)
{
    (void) remove(path);
    return 0;
}


int
main(void)
{
    char  *log;

    if (tn_test_setup() != 0) {
        printf("1..0 # SKIP the set-up failed (%s)\n", tn_test_dir);
        return 1;
    }

    tn_test_pipelining();
    tn_test_no_pipelining();
    tn_test_chunking();
    tn_test_big_data();
    tn_test_next_target();
    tn_test_all_fail();
    tn_test_mail_refused();
    tn_test_lost();
    tn_test_timeout();
    tn_test_size();
    tn_test_smtputf8();
    tn_test_starttls_auth();
    tn_test_tls_refusals();
    tn_test_starttls_injection();
    tn_test_tls_fallback();
    tn_test_verify();
    tn_test_implicit();
    tn_test_hostile();
    tn_test_abort();

    tn_test_log_start = 0;

    log = tn_test_log_text();

    tn_test_ok(strstr(log, "[alert]") == NULL && strstr(log, "[emerg]") == NULL,
               "no alert in the log");

    printf("1..%u\n", (unsigned) tn_test_n);

    if (getenv("TN_TEST_KEEP") == NULL) {
        (void) nftw(tn_test_dir, tn_test_rm, 16, FTW_DEPTH|FTW_PHYS);
    }

    return tn_test_failed ? 1 : 0;
}
