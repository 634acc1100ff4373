
/*
 * Copyright (C) The Tern developers
 */


/*
 * Connection limits of the mail servers, checked right after accept,
 * before TLS, the PTR lookup or the greeting:
 *
 *   max_sessions N            sessions of one server{} in one worker;
 *   max_connections_per_ip N  connections of one protocol from one client
 *                             address (IPv4 /32, IPv6 /64) over every
 *                             worker of every reload generation.
 *
 * The second counts in a tn_shm_counter_t table the master maps once and
 * keeps for its whole life: a worker counts in its own row, the count of
 * an address is the sum over the rows of the live workers, and the row
 * of a worker that dies is zeroed by the master.  The key is the
 * protocol and the address, hashed into one of TN_MAIL_LIMIT_BUCKETS
 * buckets; addresses that share a bucket share a count (an over-count,
 * never an under-count).
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_shm_counter.h>


/*
 * 4096 buckets: with a few hundred client addresses connected at once,
 * an address shares its bucket with another one about one time in ten,
 * and that only matters when the two together pass the limit.  The
 * table is 8 KiB a process slot, touched only for slots in use.
 */
#define TN_MAIL_LIMIT_BUCKETS   4096

/* the protocol, the address family, then at most 8 address bytes */
#define TN_MAIL_LIMIT_KEY_LEN   10


/* what a session holds, in c->pool; released once, then all zero */
typedef struct {
    tn_mail_core_srv_conf_t  *cscf;
    tn_uint_t                 bucket;
    unsigned                  ip:1;          /* counted in the table */
    unsigned                  session:1;     /* counted in cscf->sessions */
} tn_mail_limit_t;


static tn_int_t tn_mail_limit_key(tn_connection_t *c, tn_uint_t protocol,
    u_char *key, size_t *len);
static void tn_mail_limit_refuse(tn_mail_session_t *s, tn_connection_t *c,
    tn_str_t *text);
static void tn_mail_limit_read_handler(tn_event_t *rev);
static void tn_mail_limit_cleanup(void *data);


/* the master's, inherited by every worker; never unmapped */
static tn_shm_counter_t  *tn_mail_limit_counter;


/*
 * The init_module of tn_mail_core_module: the first configuration with
 * mail{} makes the table, and every later one (a reload) keeps it, so
 * the sessions of old workers still count against the new ones.
 */
tn_int_t
tn_mail_limit_init_module(tn_cycle_t *cycle)
{
    if (tn_process == TN_PROCESS_CLI || tn_mail_limit_counter != NULL) {
        return TN_OK;
    }

    if (tn_get_conf(cycle->conf_ctx, tn_mail_module) == NULL) {
        return TN_OK;
    }

    tn_mail_limit_counter = tn_shm_counter_get("mail_connections",
                                               TN_MAIL_LIMIT_BUCKETS,
                                               cycle->log);

    return tn_mail_limit_counter != NULL ? TN_OK : TN_ERROR;
}


tn_int_t
tn_mail_limit_connection(tn_mail_session_t *s, tn_connection_t *c)
{
    size_t                    len;
    u_char                    key[TN_MAIL_LIMIT_KEY_LEN];
    tn_int_t                  rc;
    tn_uint_t                 total;
    tn_mail_limit_t          *lim;
    tn_pool_cleanup_t        *cln;
    tn_mail_core_srv_conf_t  *cscf;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    if (cscf->max_sessions && cscf->sessions >= cscf->max_sessions) {
        c->log->action = "refusing the connection";

        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "connection from %V refused: %ui sessions of the "
                     "server in this worker, max_sessions is %ui",
                     &c->addr_text, cscf->sessions, cscf->max_sessions);

        tn_mail_limit_refuse(s, c, &cscf->protocol->too_many_sessions);
        return TN_DONE;
    }

    cln = tn_pool_cleanup_add(c->pool, sizeof(tn_mail_limit_t));
    if (cln == NULL) {
        tn_mail_close_connection(c);
        return TN_DONE;
    }

    lim = cln->data;
    lim->cscf = cscf;

    cln->handler = tn_mail_limit_cleanup;

    /*
     * Every connection is counted, also to a server without a limit:
     * another server of the protocol may have one.
     */
    if (tn_mail_limit_counter != NULL
        && tn_mail_limit_key(c, s->protocol, key, &len) == TN_OK)
    {
        lim->bucket = tn_shm_counter_bucket(tn_mail_limit_counter, key, len);

        rc = tn_shm_counter_acquire(tn_mail_limit_counter, lim->bucket,
                                    cscf->max_connections_per_ip, &total);

        if (rc == TN_BUSY) {
            c->log->action = "refusing the connection";

            tn_log_error(TN_LOG_INFO, c->log, 0,
                         "connection from %V refused: %ui connections "
                         "from the address, max_connections_per_ip is %ui",
                         &c->addr_text, total,
                         cscf->max_connections_per_ip);

            tn_mail_limit_refuse(s, c,
                                 &cscf->protocol->too_many_connections);
            return TN_DONE;
        }

        /* TN_DECLINED: a saturated counter lets the connection in */
        lim->ip = (rc == TN_OK);
    }

    cscf->sessions++;
    lim->session = 1;

    s->limit = lim;

    return TN_OK;
}


/*
 * The key of a client: the protocol (SMTP and POP3 connections are
 * counted apart) and the address, IPv4 /32 or IPv6 /64 (one site, one
 * customer: RFC 6177); an IPv4-mapped IPv6 address is its IPv4 address.
 * A Unix socket has no address to count.
 */
static tn_int_t
tn_mail_limit_key(tn_connection_t *c, tn_uint_t protocol, u_char *key,
    size_t *len)
{
    u_char               *a;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    key[0] = (u_char) protocol;

    switch (c->sockaddr->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) c->sockaddr;
        key[1] = 4;
        tn_memcpy(&key[2], &sin->sin_addr, 4);
        *len = 6;
        return TN_OK;

    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) c->sockaddr;
        a = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            key[1] = 4;
            tn_memcpy(&key[2], &a[12], 4);
            *len = 6;
            return TN_OK;
        }

        key[1] = 6;
        tn_memcpy(&key[2], a, 8);
        *len = 10;
        return TN_OK;

    default:
        return TN_DECLINED;
    }
}


/*
 * Sends the refusal and closes, without reading anything.  On an "ssl"
 * listener the connection is closed at once: a TLS client could not
 * read a line in the clear, and a handshake would spend on a refused
 * client the time and CPU the limit is there to save.
 */
static void
tn_mail_limit_refuse(tn_mail_session_t *s, tn_connection_t *c,
    tn_str_t *text)
{
    u_char                   *p;
    size_t                    len;
    tn_mail_core_srv_conf_t  *cscf;

    if (s->addr_conf->ssl) {
        tn_mail_close_connection(c);
        return;
    }

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    len = text->len + cscf->server_name.len;

    p = tn_pnalloc(c->pool, len);
    if (p == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    /* the text is a constant of the protocol module, NUL-terminated */
    s->out.data = p;
    s->out.len = tn_snprintf(p, len, (const char *) text->data,
                             &cscf->server_name)
                 - p;

    s->quit = 1;

    c->read->handler = tn_mail_limit_read_handler;
    c->write->handler = tn_mail_send;

    tn_mail_send(c->write);
}


/* a refused client waits for its reply to go out; nothing is read */
static void
tn_mail_limit_read_handler(tn_event_t *rev)
{
    tn_connection_t  *c;

    c = rev->data;

    if (c->close || rev->timedout || rev->error) {
        tn_mail_close_connection(c);
    }
}


void
tn_mail_limit_release(tn_mail_session_t *s)
{
    if (s->limit != NULL) {
        tn_mail_limit_cleanup(s->limit);
    }
}


static void
tn_mail_limit_cleanup(void *data)
{
    tn_mail_limit_t  *lim = data;

    if (lim->ip) {
        lim->ip = 0;

        if (tn_shm_counter_release(tn_mail_limit_counter, lim->bucket)
            != TN_OK)
        {
            tn_log_error(TN_LOG_ALERT, tn_cycle->log, 0,
                         "mail connection count of bucket %ui released "
                         "twice", lim->bucket);
        }
    }

    if (lim->session) {
        lim->session = 0;
        lim->cscf->sessions--;
    }
}
