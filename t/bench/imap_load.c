/*
 * Copyright (c) 2026, The Tern developers
 *
 * imap_load: the load client of t/bench/imap_bench.sh.  Plain text (no
 * TLS), blocking sockets, one thread per client:
 *
 *   -m login  sessions of connect, greeting, LOGIN, LOGOUT, one after the
 *             other in -c threads, until -n sessions or -t seconds
 *   -m run    one session: LOGIN, then the -C commands in order, the
 *             whole list 1 + -r times; each command timed from its
 *             write to its tagged OK (every response read and parsed,
 *             literals skipped); with -P PID also the CPU time of the
 *             server (PID and all its descendants, from /proc) for the
 *             first run and the mean of the others
 *   -m idle   -n sessions logged in (and SELECTed with -S), opened by -c
 *             threads until -t seconds; prints one line when they are
 *             open, then holds them -H seconds (or until killed)
 *   -m smtp   delivers the -n generated messages over SMTP, -M per
 *             session, -c sessions in parallel, each message to every
 *             address of -R (comma separated), from -f
 *   -m gen    writes the -n generated messages as Maildir files into
 *             -o DIR/new (LF line ends)
 *   -m expect prints how many generated messages SEARCH FROM -F and
 *             SEARCH SUBJECT -S must find (decoded, case-insensitive)
 *
 *     cc -O2 -o imap_load imap_load.c -lpthread
 *     imap_load -m login -c 20 -t 10 -n 100000 -u u@bench.test -p pw \
 *         127.0.0.1:143
 *     imap_load -m run -u u@bench.test -p pw -r 5 -C "SELECT INBOX" \
 *         -C "FETCH 1:* (FLAGS ENVELOPE)" 127.0.0.1:143
 *
 * The generated messages (message i of -n, the same every time): From
 * one of 28 people (8 with non-ASCII names, RFC 2047 B-encoded; the
 * addresses never contain the name), a Subject from 20 topics with a
 * "Re:"/"Fwd:" prefix now and then and, for every fourth message, a
 * non-ASCII word with the whole subject B- or Q-encoded and folded
 * over several encoded words, To, sometimes Cc, Date, Message-ID,
 * In-Reply-To/References for replies, a text body of 300..4300 bytes,
 * every sixth message multipart/mixed with a base64 attachment.
 *
 * Prints one line of key=value; cpu= is the client's own user+system
 * seconds, error= the first failure.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>


#define TN_BENCH_IO_TIMEOUT  120
#define TN_BENCH_MAX_CMDS    16
#define TN_BENCH_MAX_RUNS    1000


typedef enum {
    TN_BENCH_LOGIN = 0,
    TN_BENCH_RUN,
    TN_BENCH_IDLE,
    TN_BENCH_SMTP,
    TN_BENCH_GEN,
    TN_BENCH_EXPECT
} tn_bench_mode_e;


typedef struct {
    int          fd;
    size_t       len;
    size_t       off;
    size_t       size;
    char        *buf;
    char         line[512];     /* the last tagged or failing line */
    long         tag;
    long         untagged;      /* counted responses of the last command */
    long         bytes;         /* bytes read for the last command */
    double       phase[5];      /* start, connected, greeted, logged in,
                                   done (logged out or SELECTed) */
} tn_bench_conn_t;


typedef struct {
    char        *data;
    size_t       len;
    size_t       size;
} tn_bench_str_t;


/* settings */

static tn_bench_mode_e     mode = TN_BENCH_LOGIN;
static int                 clients = 1;
static long                count = 1;
static double              seconds = 60;
static double              hold = 300;
static long                repeats = 3;
static long                per_session = 100;
static int                 do_select;
static const char         *user = "u@bench.test";
static long                users = 0;      /* -U: user has %ld */
static const char         *pass = "";
static const char         *from = "sender@client.bench.test";
static const char         *rcpt_list = "u@bench.test";
static const char         *outdir;
static const char         *from_term = "hartmann";
static const char         *subject_term = "quarterly";
static const char         *cmds[TN_BENCH_MAX_CMDS];
static int                 ncmds;
static pid_t               server_root;    /* -P: the server's master */
static struct sockaddr_in  addr;

/* shared state */

static pthread_mutex_t     lock = PTHREAD_MUTEX_INITIALIZER;
static long                next_item;
static long                ok_total;
static long                failed_total;
static double              t_start;
static double              t_deadline;
static double              t_last;
static char                first_error[700];
static int                *idle_fds;
static double              phase_max[4];   /* slowest connect, greeting,
                                              LOGIN, LOGOUT or SELECT */
static long                slow_sessions;  /* sessions over 1 s */


static double
tn_bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static double
tn_bench_cpu(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);

    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
           + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}


static int
tn_bench_fail(tn_bench_conn_t *c, const char *fmt, ...)
{
    char     msg[300], *p;
    va_list  args;

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    pthread_mutex_lock(&lock);

    if (first_error[0] == '\0') {
        snprintf(first_error, sizeof(first_error), "%s%s%.380s", msg,
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


/* growing strings for the message generator */

static void
tn_bench_add(tn_bench_str_t *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->size) {
        s->size = (s->len + n + 1) * 2;
        s->data = realloc(s->data, s->size);
        if (s->data == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }

    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = '\0';
}


static void
tn_bench_addf(tn_bench_str_t *s, const char *fmt, ...)
{
    char     tmp[2048];
    int      n;
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, args);
    va_end(args);

    tn_bench_add(s, tmp, n < (int) sizeof(tmp) ? (size_t) n
                                                : sizeof(tmp) - 1);
}


/*
 * The message generator.  Lines end in LF here; SMTP turns them into
 * CRLF.
 */

static const char  *tn_bench_names[] = {
    "Alice Martin", "Bob Dupont", "Carla Rossi", "David Chen",
    "Emma Schmidt", "Farid Haddad", "Grace Okafor", "Hiro Tanaka",
    "Ingrid Larsen", "Jamal Wright", "Karin Berg", "Liam OBrien",
    "Maria Garcia", "Nils Holm", "Olga Petrova", "Pablo Ruiz",
    "Qin Wei", "Rosa Lopez", "Sven Eriksson", "Tara Singh",
    "Jos\xc3\xa9 N\xc3\xba\xc3\xb1""ez", "Zo\xc3\xab Hartmann",
    "J\xc3\xbcrgen Wei\xc3\x9f", "Fran\xc3\xa7ois Lef\xc3\xa8vre",
    "\xc3\x85sa Lindqvist", "Chlo\xc3\xa9 Dubois",
    "\xc3\x9cnal Y\xc4\xb1lmaz", "S\xc3\xb8ren Madsen"
};

#define TN_BENCH_NNAMES  (sizeof(tn_bench_names) / sizeof(char *))

static const char  *tn_bench_topics[] = {
    "quarterly report", "meeting notes", "invoice 2026", "lunch on Friday",
    "release plan", "budget review", "travel booking", "team offsite",
    "newsletter", "security update", "build failure", "design review",
    "holiday schedule", "contract draft", "server migration",
    "customer feedback", "hiring update", "weekly sync", "bug triage",
    "conference talk"
};

#define TN_BENCH_NTOPICS  (sizeof(tn_bench_topics) / sizeof(char *))

static const char  *tn_bench_extras[] = {
    "r\xc3\xa9sum\xc3\xa9", "Zusammenfassung f\xc3\xbcr M\xc3\xbcnchen",
    "\xc3\xa0 revoir", "na\xc3\xafve caf\xc3\xa9 pr\xc3\xa9visions",
    "\xe2\x82\xac 1200", "\xce\xb1\xce\xb2\xce\xb3 status"
};

#define TN_BENCH_NEXTRAS  (sizeof(tn_bench_extras) / sizeof(char *))

static const char  *tn_bench_words[] = {
    "the", "server", "mail", "index", "cache", "client", "please",
    "review", "attached", "numbers", "tomorrow", "morning", "thanks",
    "regards", "update", "project", "schedule", "question", "about",
    "delivery", "header", "folder", "message", "search", "quickly"
};

#define TN_BENCH_NWORDS  (sizeof(tn_bench_words) / sizeof(char *))


static int
tn_bench_ascii(const char *s)
{
    for ( ; *s; s++) {
        if ((unsigned char) *s >= 0x80) {
            return 0;
        }
    }

    return 1;
}


static void
tn_bench_b64(tn_bench_str_t *out, const unsigned char *in, size_t len)
{
    static const char  tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char    q[4];
    size_t  i;

    for (i = 0; i + 2 < len; i += 3) {
        q[0] = tab[in[i] >> 2];
        q[1] = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        q[2] = tab[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        q[3] = tab[in[i + 2] & 63];
        tn_bench_add(out, q, 4);
    }

    if (len - i == 1) {
        q[0] = tab[in[i] >> 2];
        q[1] = tab[(in[i] & 3) << 4];
        q[2] = '=';
        q[3] = '=';
        tn_bench_add(out, q, 4);

    } else if (len - i == 2) {
        q[0] = tab[in[i] >> 2];
        q[1] = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        q[2] = tab[(in[i + 1] & 15) << 2];
        q[3] = '=';
        tn_bench_add(out, q, 4);
    }
}


/*
 * RFC 2047 encoded words of UTF-8 text, each holding whole characters
 * (at most 30 bytes of text), separated by a folding: "B" or "Q"
 */

static void
tn_bench_encode(tn_bench_str_t *out, const char *s, int q)
{
    size_t   n, len, i;
    char     hex[4];

    len = strlen(s);

    while (len) {
        n = len > 30 ? 30 : len;
        while (n < len && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }

        tn_bench_add(out, q ? "=?UTF-8?Q?" : "=?utf-8?B?", 10);

        if (q) {
            for (i = 0; i < n; i++) {
                unsigned char  ch = s[i];

                if (ch == ' ') {
                    tn_bench_add(out, "_", 1);

                } else if (ch >= 0x80 || ch == '=' || ch == '?' || ch == '_') {
                    snprintf(hex, sizeof(hex), "=%02X", ch);
                    tn_bench_add(out, hex, 3);

                } else {
                    tn_bench_add(out, (char *) &ch, 1);
                }
            }

        } else {
            tn_bench_b64(out, (const unsigned char *) s, n);
        }

        tn_bench_add(out, "?=", 2);

        s += n;
        len -= n;

        if (len) {
            tn_bench_add(out, "\n ", 2);
        }
    }
}


/* message i's decoded From (name and address) and Subject */

static void
tn_bench_fields(long i, const char **name, char *address, size_t asize,
    char *subject, size_t ssize)
{
    long         ni, ti;
    const char  *prefix;

    ni = (i * 11) % TN_BENCH_NNAMES;
    *name = tn_bench_names[ni];
    snprintf(address, asize, "user%02ld.%ld@example%ld.test", ni, i % 3,
             ni % 5);

    ti = (i * 3) % TN_BENCH_NTOPICS;
    prefix = i % 5 == 1 ? "Re: " : (i % 11 == 2 ? "Fwd: " : "");

    if (i % 4 == 1) {
        snprintf(subject, ssize, "%s%s %s #%ld", prefix,
                 tn_bench_topics[ti],
                 tn_bench_extras[(i / 4) % TN_BENCH_NEXTRAS], i);

    } else {
        snprintf(subject, ssize, "%s%s #%ld", prefix, tn_bench_topics[ti], i);
    }
}


static void
tn_bench_message(long i, tn_bench_str_t *m)
{
    long            n, k, len, w;
    char            address[128], subject[256], date[64], boundary[64];
    time_t          t;
    struct tm       tm;
    const char     *name;
    unsigned char   bin[3072];
    static const int zones[] = { 0, 100, -500, 200, 530, -800 };
    int             zone;

    m->len = 0;

    tn_bench_fields(i, &name, address, sizeof(address), subject,
                    sizeof(subject));

    zone = zones[i % 6];
    t = 1767225600 + i * 613 + (zone / 100) * 3600 + (zone % 100) * 60;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S", &tm);

    tn_bench_addf(m, "Message-ID: <bench.%ld.%lx@example.test>\n", i,
                  (unsigned long) (i * 2654435761u));
    tn_bench_addf(m, "Date: %s %c%04d\n", date, zone < 0 ? '-' : '+',
                  zone < 0 ? -zone : zone);

    tn_bench_add(m, "From: ", 6);
    if (!tn_bench_ascii(name)) {
        tn_bench_encode(m, name, 0);
    } else if (i % 2) {
        tn_bench_addf(m, "\"%s\"", name);
    } else {
        tn_bench_add(m, name, strlen(name));
    }
    tn_bench_addf(m, " <%s>\n", address);

    tn_bench_addf(m, "To: Bench Users <bench@bench.test>\n");
    if (i % 3 == 0) {
        tn_bench_addf(m, "Cc: %s <user%02ld@example%ld.test>, "
                      "team-%ld@lists.example.test\n",
                      tn_bench_names[(i * 7) % 20], (i * 7) % 20, i % 5,
                      i % 9);
    }

    tn_bench_add(m, "Subject: ", 9);
    if (i % 4 == 1) {
        tn_bench_encode(m, subject, i % 8 == 5);
    } else {
        tn_bench_add(m, subject, strlen(subject));
    }
    tn_bench_add(m, "\n", 1);

    if (i % 5 == 1 && i > 10) {
        tn_bench_addf(m, "In-Reply-To: <bench.%ld.%lx@example.test>\n",
                      i - 10, (unsigned long) ((i - 10) * 2654435761u));
        tn_bench_addf(m, "References: <bench.%ld.%lx@example.test>\n",
                      i - 10, (unsigned long) ((i - 10) * 2654435761u));
    }

    if (i % 7 == 0) {
        tn_bench_addf(m, "List-Id: Team %ld <team-%ld.lists.example.test>\n",
                      i % 9, i % 9);
    }

    tn_bench_add(m, "MIME-Version: 1.0\n", 18);

    if (i % 6 == 0) {
        snprintf(boundary, sizeof(boundary), "=_bench_%ld_%lx", i,
                 (unsigned long) (i * 40503u));
        tn_bench_addf(m, "Content-Type: multipart/mixed;\n"
                      " boundary=\"%s\"\n\n"
                      "This is a multi-part message in MIME format.\n\n"
                      "--%s\n"
                      "Content-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: 8bit\n\n",
                      boundary, boundary);
    } else {
        tn_bench_addf(m, "Content-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: 8bit\n\n");
    }

    /* the text: lines of words, none starting with '.' */

    len = 300 + (i * 131) % 4000;
    n = 0;
    w = i;

    while (n < len) {
        k = 0;
        while (k < 68) {
            const char  *word = tn_bench_words[w++ % TN_BENCH_NWORDS];

            tn_bench_add(m, word, strlen(word));
            tn_bench_add(m, " ", 1);
            k += strlen(word) + 1;
            w += i % 3;
        }
        tn_bench_add(m, "\n", 1);
        n += k + 1;
    }

    if (i % 6 == 0) {
        n = 1024 + (i * 97) % 2048;
        for (k = 0; k < n; k++) {
            bin[k] = (unsigned char) ((k * 31 + i) & 0xff);
        }

        tn_bench_addf(m, "\n--%s\n"
                      "Content-Type: application/octet-stream;"
                      " name=\"data-%ld.bin\"\n"
                      "Content-Disposition: attachment;"
                      " filename=\"data-%ld.bin\"\n"
                      "Content-Transfer-Encoding: base64\n\n",
                      boundary, i, i);

        for (k = 0; k < n; k += 57) {
            tn_bench_b64(m, bin + k, n - k > 57 ? 57 : n - k);
            tn_bench_add(m, "\n", 1);
        }

        tn_bench_addf(m, "\n--%s--\n", boundary);
    }
}


static int
tn_bench_contains(const char *hay, const char *needle)
{
    size_t  i, j, hn, nn;

    hn = strlen(hay);
    nn = strlen(needle);

    for (i = 0; i + nn <= hn; i++) {
        for (j = 0; j < nn; j++) {
            if (tolower((unsigned char) hay[i + j])
                != tolower((unsigned char) needle[j]))
            {
                break;
            }
        }

        if (j == nn) {
            return 1;
        }
    }

    return 0;
}


static int
tn_bench_expect(void)
{
    long         i, f, s;
    char         address[128], subject[256];
    const char  *name;

    f = 0;
    s = 0;

    for (i = 0; i < count; i++) {
        tn_bench_fields(i, &name, address, sizeof(address), subject,
                        sizeof(subject));

        f += tn_bench_contains(name, from_term)
             || tn_bench_contains(address, from_term);
        s += tn_bench_contains(subject, subject_term);
    }

    printf("from=%ld subject=%ld\n", f, s);

    return 0;
}


static int
tn_bench_gen(void)
{
    int             fd;
    long            i;
    char            path[4096];
    tn_bench_str_t  m = { NULL, 0, 0 };

    for (i = 0; i < count; i++) {
        tn_bench_message(i, &m);

        snprintf(path, sizeof(path), "%s/new/%ld.M%ldP%d.bench.test,S=%zu",
                 outdir, 1767225600 + i * 613, i, (int) getpid(), m.len);

        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || write(fd, m.data, m.len) != (ssize_t) m.len
            || close(fd) != 0)
        {
            fprintf(stderr, "%s: %s\n", path, strerror(errno));
            return 1;
        }
    }

    printf("messages=%ld\n", count);

    return 0;
}


/* I/O */

static int
tn_bench_write(tn_bench_conn_t *c, const char *p, size_t len)
{
    ssize_t  n;

    while (len) {
        n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return tn_bench_fail(c, "send: %s", strerror(errno));
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

    if (c->len == c->size) {
        return tn_bench_fail(c, "response line too long");
    }

    do {
        n = recv(c->fd, c->buf + c->len, c->size - c->len, 0);
    } while (n < 0 && errno == EINTR);

    if (n <= 0) {
        return tn_bench_fail(c, n == 0 ? "connection closed"
                                       : "read failed or timed out");
    }

    c->len += n;
    c->bytes += n;

    return 0;
}


/* the next line (without CRLF, NUL-terminated in the buffer) */

static char *
tn_bench_line(tn_bench_conn_t *c, size_t *len)
{
    char    *p, *nl;
    size_t   n;

    for ( ;; ) {
        p = c->buf + c->off;
        nl = memchr(p, '\n', c->len - c->off);

        if (nl) {
            break;
        }

        if (tn_bench_fill(c) != 0) {
            return NULL;
        }
    }

    n = nl - p;
    c->off += n + 1;

    if (n && p[n - 1] == '\r') {
        n--;
    }

    p[n] = '\0';
    *len = n;

    return p;
}


static int
tn_bench_skip(tn_bench_conn_t *c, size_t n)
{
    size_t  have;

    for ( ;; ) {
        have = c->len - c->off;

        if (have >= n) {
            c->off += n;
            return 0;
        }

        n -= have;
        c->off = c->len = 0;

        if (tn_bench_fill(c) != 0) {
            return -1;
        }
    }
}


/* a line ending in {N} or {N+}: N, else -1 */

static long
tn_bench_literal(const char *p, size_t len)
{
    size_t  i;

    if (len < 3 || p[len - 1] != '}') {
        return -1;
    }

    i = len - 2;
    if (p[i] == '+') {
        i--;
    }

    while (i > 0 && isdigit((unsigned char) p[i])) {
        i--;
    }

    if (p[i] != '{' || !isdigit((unsigned char) p[i + 1])) {
        return -1;
    }

    return atol(p + i + 1);
}


static void
tn_bench_keep_line(tn_bench_conn_t *c, const char *p, size_t len)
{
    len = len < sizeof(c->line) - 1 ? len : sizeof(c->line) - 1;
    memcpy(c->line, p, len);
    c->line[len] = '\0';
}


/*
 * Reads every response up to the tagged one of tag c->tag: counts the
 * untagged FETCH responses and the numbers of "* SEARCH" in
 * c->untagged.  Returns 0 on OK.
 */

static int
tn_bench_response(tn_bench_conn_t *c)
{
    int      first;
    char    *p, tag[32], *q;
    long     lit;
    size_t   len, tlen;

    tlen = snprintf(tag, sizeof(tag), "a%ld ", c->tag);
    c->untagged = 0;
    first = 1;

    for ( ;; ) {
        p = tn_bench_line(c, &len);
        if (p == NULL) {
            return -1;
        }

        if (first) {
            if (len >= tlen && memcmp(p, tag, tlen) == 0) {
                tn_bench_keep_line(c, p, len);

                if (len >= tlen + 2 && memcmp(p + tlen, "OK", 2) == 0) {
                    return 0;
                }

                return tn_bench_fail(c, "command failed");
            }

            if (len > 2 && p[0] == '*' && p[1] == ' ') {
                if (len > 9 && memcmp(p + 2, "SEARCH", 6) == 0) {
                    for (q = p + 8; *q; q++) {
                        if (q[0] == ' ' && isdigit((unsigned char) q[1])) {
                            c->untagged++;
                        }
                    }

                } else if (isdigit((unsigned char) p[2])) {
                    q = memchr(p + 2, ' ', len - 2);
                    if (q && strncmp(q, " FETCH ", 7) == 0) {
                        c->untagged++;
                    }

                } else if (len > 5 && memcmp(p + 2, "BYE", 3) == 0) {
                    /* the BYE of LOGOUT, or the server going away */
                    tn_bench_keep_line(c, p, len);
                }

            } else if (!(len >= 1 && p[0] == '+')) {
                tn_bench_keep_line(c, p, len);
                return tn_bench_fail(c, "unexpected response");
            }
        }

        lit = tn_bench_literal(p, len);

        if (lit >= 0) {
            if (tn_bench_skip(c, lit) != 0) {
                return -1;
            }
            first = 0;
            continue;
        }

        first = 1;
    }
}


static int
tn_bench_command(tn_bench_conn_t *c, const char *cmd)
{
    char    line[2048];
    int     n;

    c->tag++;
    c->bytes = 0;
    n = snprintf(line, sizeof(line), "a%ld %s\r\n", c->tag, cmd);
    if (n >= (int) sizeof(line)) {
        return tn_bench_fail(c, "command too long");
    }

    if (tn_bench_write(c, line, n) != 0) {
        return -1;
    }

    return tn_bench_response(c);
}


static int
tn_bench_connect(tn_bench_conn_t *c, size_t size)
{
    int             one = 1;
    struct timeval  tv = { TN_BENCH_IO_TIMEOUT, 0 };

    c->fd = -1;
    c->len = c->off = 0;
    c->line[0] = '\0';
    c->tag = 0;

    if (c->buf == NULL) {
        c->size = size;
        c->buf = malloc(size);
        if (c->buf == NULL) {
            return tn_bench_fail(NULL, "out of memory");
        }
    }

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
tn_bench_close(tn_bench_conn_t *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}


/* connect, the greeting, LOGIN: 0 when logged in */

static int
tn_bench_login(tn_bench_conn_t *c, long n, size_t size)
{
    int      rc;
    char     cmd[600], name[256];
    size_t   len;
    char    *p;

    c->phase[0] = tn_bench_now();

    if (tn_bench_connect(c, size) != 0) {
        return -1;
    }

    c->phase[1] = tn_bench_now();

    p = tn_bench_line(c, &len);
    if (p == NULL) {
        return -1;
    }

    c->phase[2] = tn_bench_now();

    if (len < 4 || memcmp(p, "* OK", 4) != 0) {
        tn_bench_keep_line(c, p, len);
        return tn_bench_fail(c, "greeting");
    }

    if (users > 0) {
        snprintf(name, sizeof(name), user, n % users + 1);
    } else {
        snprintf(name, sizeof(name), "%s", user);
    }

    snprintf(cmd, sizeof(cmd), "LOGIN \"%s\" \"%s\"", name, pass);

    rc = tn_bench_command(c, cmd);
    c->phase[3] = tn_bench_now();

    return rc;
}


/* the slowest phases of the sessions so far */

static void
tn_bench_phases(tn_bench_conn_t *c)
{
    int  i;

    c->phase[4] = tn_bench_now();

    pthread_mutex_lock(&lock);

    for (i = 0; i < 4; i++) {
        if (c->phase[i + 1] - c->phase[i] > phase_max[i]) {
            phase_max[i] = c->phase[i + 1] - c->phase[i];
        }
    }

    slow_sessions += c->phase[4] - c->phase[0] > 1.0;

    pthread_mutex_unlock(&lock);
}


/* -m login */

static int
tn_bench_login_session(long n)
{
    int              rc;
    tn_bench_conn_t  c;

    memset(&c, 0, sizeof(c));

    rc = tn_bench_login(&c, n, 4096);
    if (rc == 0) {
        rc = tn_bench_command(&c, "LOGOUT");
    }

    if (rc == 0) {
        tn_bench_phases(&c);
    }

    tn_bench_close(&c);
    free(c.buf);

    return rc;
}


/* -m idle: the connection stays open */

static int
tn_bench_idle_session(long n)
{
    int              rc;
    tn_bench_conn_t  c;

    memset(&c, 0, sizeof(c));

    rc = tn_bench_login(&c, n, 4096);
    if (rc == 0 && do_select) {
        rc = tn_bench_command(&c, "SELECT INBOX");
    }

    if (rc == 0) {
        tn_bench_phases(&c);
    }

    free(c.buf);

    if (rc != 0) {
        tn_bench_close(&c);
        return -1;
    }

    idle_fds[n] = c.fd;

    return 0;
}


/* -m smtp: messages first .. first + n - 1 in one session */

static int
tn_bench_smtp_expect(tn_bench_conn_t *c, int code, const char *what)
{
    char    *p;
    size_t   len;

    for ( ;; ) {
        p = tn_bench_line(c, &len);
        if (p == NULL) {
            return -1;
        }

        if (len < 4) {
            tn_bench_keep_line(c, p, len);
            return tn_bench_fail(c, "%s: short reply", what);
        }

        if (p[3] != '-') {
            break;
        }
    }

    tn_bench_keep_line(c, p, len);

    if (atoi(p) != code) {
        return tn_bench_fail(c, "%s: expected %d", what, code);
    }

    return 0;
}


static int
tn_bench_smtp_session(long first, long n, long *done)
{
    long             i;
    char             cmd[1200], *r, *comma;
    size_t           k;
    tn_bench_conn_t  c;
    tn_bench_str_t   m = { NULL, 0, 0 }, d = { NULL, 0, 0 };
    int              rc = -1, nr;

    memset(&c, 0, sizeof(c));
    *done = 0;

    if (tn_bench_connect(&c, 4096) != 0
        || tn_bench_smtp_expect(&c, 220, "greeting") != 0)
    {
        goto out;
    }

    snprintf(cmd, sizeof(cmd), "EHLO client.bench.test\r\n");
    if (tn_bench_write(&c, cmd, strlen(cmd)) != 0
        || tn_bench_smtp_expect(&c, 250, "EHLO") != 0)
    {
        goto out;
    }

    for (i = first; i < first + n; i++) {
        tn_bench_message(i, &m);

        /* CRLF line ends; the generator starts no line with '.' */
        d.len = 0;
        for (k = 0; k < m.len; k++) {
            if (m.data[k] == '\n') {
                tn_bench_add(&d, "\r\n", 2);
            } else {
                tn_bench_add(&d, m.data + k, 1);
            }
        }
        tn_bench_add(&d, ".\r\n", 3);

        snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", from);
        if (tn_bench_write(&c, cmd, strlen(cmd)) != 0
            || tn_bench_smtp_expect(&c, 250, "MAIL") != 0)
        {
            goto out;
        }

        nr = 0;
        for (r = (char *) rcpt_list; r && *r; r = comma ? comma + 1 : NULL) {
            comma = strchr(r, ',');
            k = comma ? (size_t) (comma - r) : strlen(r);
            snprintf(cmd, sizeof(cmd), "RCPT TO:<%.*s>\r\n", (int) k, r);
            if (tn_bench_write(&c, cmd, strlen(cmd)) != 0
                || tn_bench_smtp_expect(&c, 250, "RCPT") != 0)
            {
                goto out;
            }
            nr++;
        }

        if (tn_bench_write(&c, "DATA\r\n", 6) != 0
            || tn_bench_smtp_expect(&c, 354, "DATA") != 0
            || tn_bench_write(&c, d.data, d.len) != 0
            || tn_bench_smtp_expect(&c, 250, "end of data") != 0)
        {
            goto out;
        }

        (*done)++;
    }

    if (tn_bench_write(&c, "QUIT\r\n", 6) == 0) {
        (void) tn_bench_smtp_expect(&c, 221, "QUIT");
    }

    rc = 0;

out:

    tn_bench_close(&c);
    free(c.buf);
    free(m.data);
    free(d.data);

    return rc;
}


static void *
tn_bench_thread(void *data)
{
    long  s, n, done;
    int   rc;

    (void) data;

    for ( ;; ) {
        pthread_mutex_lock(&lock);

        if (next_item >= count || tn_bench_now() >= t_deadline) {
            pthread_mutex_unlock(&lock);
            break;
        }

        s = next_item;
        n = mode == TN_BENCH_SMTP ? per_session : 1;
        n = s + n > count ? count - s : n;
        next_item += n;

        pthread_mutex_unlock(&lock);

        done = 0;

        switch (mode) {
        case TN_BENCH_SMTP:
            rc = tn_bench_smtp_session(s, n, &done);
            break;
        case TN_BENCH_IDLE:
            rc = tn_bench_idle_session(s);
            done = rc == 0;
            break;
        default:
            rc = tn_bench_login_session(s);
            done = rc == 0;
            break;
        }

        pthread_mutex_lock(&lock);

        ok_total += done;
        failed_total += rc != 0;

        if (done) {
            t_last = tn_bench_now();
        }

        pthread_mutex_unlock(&lock);
    }

    return NULL;
}


static int
tn_bench_threads(void)
{
    int             i;
    pthread_t      *tids;
    pthread_attr_t  attr;

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

    free(tids);

    return 0;
}


/*
 * -P: the CPU seconds (user + system, with what was reaped) used so far
 * by the server: every process under server_root, found in /proc
 */

typedef struct {
    pid_t   pid;
    pid_t   ppid;
    long    ticks;
    int     keep;
} tn_bench_proc_t;


static double
tn_bench_server_cpu(void)
{
    int               changed;
    long              n, size, i, j, t[4];
    char              path[64], buf[1024], *p;
    FILE             *f;
    DIR              *d;
    double            sum;
    struct dirent    *de;
    tn_bench_proc_t  *procs, *np;

    if (server_root <= 0) {
        return 0;
    }

    d = opendir("/proc");
    if (d == NULL) {
        return 0;
    }

    n = 0;
    size = 0;
    procs = NULL;

    while ((de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char) de->d_name[0])) {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%.20s/stat", de->d_name);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
        fclose(f);

        if (p == NULL) {
            continue;
        }

        if (n == size) {
            size = size ? size * 2 : 1024;
            np = realloc(procs, size * sizeof(tn_bench_proc_t));
            if (np == NULL) {
                break;
            }
            procs = np;
        }

        /* after ") ": state ppid ... utime (14) stime cutime cstime */
        procs[n].pid = atoi(de->d_name);
        procs[n].ppid = 0;
        procs[n].keep = procs[n].pid == server_root;

        if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                   "%ld %ld %ld %ld", &procs[n].ppid, &t[0], &t[1], &t[2],
                   &t[3]) != 5)
        {
            continue;
        }

        procs[n].ticks = t[0] + t[1] + t[2] + t[3];
        n++;
    }

    closedir(d);

    do {
        changed = 0;

        for (i = 0; i < n; i++) {
            if (procs[i].keep) {
                continue;
            }

            for (j = 0; j < n; j++) {
                if (procs[j].keep && procs[j].pid == procs[i].ppid) {
                    procs[i].keep = 1;
                    changed = 1;
                    break;
                }
            }
        }
    } while (changed);

    sum = 0;
    for (i = 0; i < n; i++) {
        if (procs[i].keep) {
            sum += procs[i].ticks;
        }
    }

    free(procs);

    return sum / sysconf(_SC_CLK_TCK);
}


/* -m run */

static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static int
tn_bench_run(void)
{
    int               k, rc;
    long              r, untagged[TN_BENCH_MAX_CMDS], bytes[TN_BENCH_MAX_CMDS];
    double            t0, *times[TN_BENCH_MAX_CMDS], cpu0, cpu, s0;
    double            scpu_first[TN_BENCH_MAX_CMDS];
    double            scpu_rest[TN_BENCH_MAX_CMDS];
    tn_bench_conn_t   c;

    memset(&c, 0, sizeof(c));

    if (repeats > TN_BENCH_MAX_RUNS) {
        repeats = TN_BENCH_MAX_RUNS;
    }

    for (k = 0; k < ncmds; k++) {
        times[k] = calloc(repeats + 1, sizeof(double));
        untagged[k] = -1;
        bytes[k] = 0;
        scpu_first[k] = 0;
        scpu_rest[k] = 0;
    }

    rc = tn_bench_login(&c, 0, 16 * 1024 * 1024);

    cpu = 0;
    t_start = tn_bench_now();

    for (r = 0; rc == 0 && r <= repeats; r++) {
        for (k = 0; k < ncmds; k++) {
            s0 = tn_bench_server_cpu();
            cpu0 = tn_bench_cpu();
            t0 = tn_bench_now();
            rc = tn_bench_command(&c, cmds[k]);
            times[k][r] = tn_bench_now() - t0;

            /* the client's own CPU in the commands, not in the scans */
            cpu += tn_bench_cpu() - cpu0;

            if (r == 0) {
                scpu_first[k] = tn_bench_server_cpu() - s0;
            } else {
                scpu_rest[k] += tn_bench_server_cpu() - s0;
            }

            if (rc != 0) {
                break;
            }

            /* the same answer every time, or say so */
            if (untagged[k] >= 0 && untagged[k] != c.untagged) {
                tn_bench_fail(&c, "\"%s\": %ld responses, %ld before",
                              cmds[k], c.untagged, untagged[k]);
            }

            untagged[k] = c.untagged;
            bytes[k] = c.bytes;
        }

        if (tn_bench_now() - t_start > seconds) {
            r++;
            break;
        }
    }


    if (rc == 0) {
        (void) tn_bench_command(&c, "LOGOUT");
    }

    tn_bench_close(&c);

    printf("runs=%ld", rc == 0 ? r : 0);

    for (k = 0; rc == 0 && k < ncmds; k++) {
        printf(" c%d_first=%.6f", k, times[k][0]);

        if (r > 1) {
            qsort(times[k] + 1, r - 1, sizeof(double), cmp_double);
            printf(" c%d_min=%.6f c%d_med=%.6f", k, times[k][1], k,
                   times[k][1 + (r - 1) / 2]);
        }

        printf(" c%d_n=%ld c%d_bytes=%ld", k, untagged[k], k, bytes[k]);

        if (server_root > 0) {
            printf(" c%d_scpufirst=%.3f", k, scpu_first[k]);
            if (r > 1) {
                printf(" c%d_scpumean=%.4f", k, scpu_rest[k] / (r - 1));
            }
        }
    }

    printf(" cpu=%.3f error=\"%s\"\n", cpu, first_error);

    return rc == 0 ? 0 : 1;
}


static void
tn_bench_usage(void)
{
    fprintf(stderr,
        "usage: imap_load [-m login|run|idle|smtp|gen|expect] [-c clients]\n"
        "  [-n count] [-t seconds] [-r repeats] [-C command]...\n"
        "  [-u user (%%ld with -U)] [-U users] [-p password] [-S]\n"
        "  [-H hold seconds] [-M messages/session] [-f from] [-R rcpts]\n"
        "  [-o maildir] [-F from term] [-s subject term]\n"
        "  [-P server pid: its tree's CPU per command] HOST:PORT\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int            ch, rc;
    long           i;
    char          *colon;
    struct rlimit  rl;

    while ((ch = getopt(argc, argv, "m:c:n:t:r:C:P:u:U:p:SH:M:f:R:o:F:s:"))
           != -1)
    {
        switch (ch) {
        case 'm':
            mode = strcmp(optarg, "run") == 0 ? TN_BENCH_RUN
                   : strcmp(optarg, "idle") == 0 ? TN_BENCH_IDLE
                   : strcmp(optarg, "smtp") == 0 ? TN_BENCH_SMTP
                   : strcmp(optarg, "gen") == 0 ? TN_BENCH_GEN
                   : strcmp(optarg, "expect") == 0 ? TN_BENCH_EXPECT
                   : TN_BENCH_LOGIN;
            break;
        case 'c': clients = atoi(optarg); break;
        case 'n': count = atol(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'r': repeats = atol(optarg); break;
        case 'C':
            if (ncmds == TN_BENCH_MAX_CMDS) {
                tn_bench_usage();
            }
            cmds[ncmds++] = optarg;
            break;
        case 'P': server_root = atoi(optarg); break;
        case 'u': user = optarg; break;
        case 'U': users = atol(optarg); break;
        case 'p': pass = optarg; break;
        case 'S': do_select = 1; break;
        case 'H': hold = atof(optarg); break;
        case 'M': per_session = atol(optarg); break;
        case 'f': from = optarg; break;
        case 'R': rcpt_list = optarg; break;
        case 'o': outdir = optarg; break;
        case 'F': from_term = optarg; break;
        case 's': subject_term = optarg; break;
        default: tn_bench_usage();
        }
    }

    if (mode == TN_BENCH_EXPECT) {
        return tn_bench_expect();
    }

    if (mode == TN_BENCH_GEN) {
        if (outdir == NULL) {
            tn_bench_usage();
        }
        return tn_bench_gen();
    }

    if (optind != argc - 1 || clients < 1 || count < 1 || per_session < 1
        || repeats < 0 || (mode == TN_BENCH_RUN && ncmds == 0))
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

    signal(SIGPIPE, SIG_IGN);

    if (mode == TN_BENCH_RUN) {
        return tn_bench_run();
    }

    if (mode == TN_BENCH_IDLE) {
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }

        idle_fds = malloc(count * sizeof(int));
        for (i = 0; i < count; i++) {
            idle_fds[i] = -1;
        }
    }

    rc = tn_bench_threads();
    if (rc != 0) {
        return rc;
    }

    printf("%s=%ld failed=%ld elapsed=%.6f cpu=%.3f",
           mode == TN_BENCH_SMTP ? "messages" : "sessions",
           ok_total, failed_total, t_last - t_start, tn_bench_cpu());

    if (mode != TN_BENCH_SMTP) {
        printf(" max_connect=%.3f max_greeting=%.3f max_login=%.3f"
               " max_%s=%.3f slow=%ld", phase_max[0], phase_max[1],
               phase_max[2], mode == TN_BENCH_IDLE ? "select" : "logout",
               phase_max[3], slow_sessions);
    }

    printf(" error=\"%s\"\n", first_error);

    if (mode == TN_BENCH_IDLE) {
        fflush(stdout);

        /* hold them; the script measures, then kills us */
        t_deadline = tn_bench_now() + hold;
        while (tn_bench_now() < t_deadline) {
            sleep(1);
        }

        for (i = 0; i < count; i++) {
            if (idle_fds[i] >= 0) {
                close(idle_fds[i]);
            }
        }
    }

    return failed_total ? 1 : 0;
}
