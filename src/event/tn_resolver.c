
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_resolver_private.h>

#include <ares.h>


/*
 * The worker's DNS resolver: c-ares driven by the event loop.
 *
 * c-ares opens its sockets itself and reports them through the socket
 * state callback; each becomes a tn_connection_t in the worker's epoll
 * loop, and its handlers call ares_process_fd().  One cancelable timer
 * drives c-ares' retransmissions (ares_timeout()).
 *
 * A lookup is a tn_resolver_ctx_t owned by the caller and a
 * tn_resolver_query_t owned by c-ares (the callback argument).  They
 * point at each other until one goes away: the context's deadline or
 * tn_resolve_done() detaches the query, and the c-ares callback then
 * only frees it (after caching the answer).  c-ares thus never calls
 * into freed memory, and ares_cancel(), which would end every query, is
 * never needed.
 *
 * Answers are parsed into a scratch pool, copied into a cache node
 * (malloc, one block) and into the context's pool.  The handler always
 * runs from the event loop: a posted event for an answer or a cache
 * hit, the context's timer for the deadline.
 *
 * This file holds the module, the channel and its sockets and timer, the
 * contexts and the cache; tn_resolver_answer.c builds the names asked
 * for and parses and copies the answers.
 */


#define TN_RESOLVER_CLASS_IN       1

/* each server is tried this often; c-ares doubles the timeout per round */
#define TN_RESOLVER_TRIES          2
#define TN_RESOLVER_EDNS_SIZE      1232

#define TN_RESOLVER_CACHE_BUCKETS  16384
/* a cap on the cache's memory, whatever the number of entries */
#define TN_RESOLVER_CACHE_BYTES    (16 * 1024 * 1024)

/* contexts kept for reuse */
#define TN_RESOLVER_FREE_MAX       256
#define TN_RESOLVER_POOL_SIZE      1024

/* ares_process_fd() calls per read event before yielding to the loop */
#define TN_RESOLVER_READ_MAX       256

#define TN_RESOLVER_MAX_TIMEOUT    600000


typedef struct {
    /* struct ares_addr_port_node, linked up in the worker */
    tn_array_t             *servers;
    tn_msec_t               timeout;
} tn_resolver_conf_t;


/* a cache entry: the node, the answer's data and the key, one malloc */
typedef struct {
    tn_queue_t              queue;       /* r->lru, most recent first */
    tn_msec_t               expire;
    size_t                  size;
    size_t                  key_len;
    u_char                 *key;
    tn_resolver_answer_t    answer;
} tn_resolver_node_t;


/* the c-ares callback argument; lives until c-ares calls back */
typedef struct {
    tn_resolver_t          *resolver;
    tn_resolver_ctx_t      *ctx;         /* NULL once the context is gone */
    tn_uint_t               type;
    size_t                  key_len;
    u_char                 *name;        /* inside key, NUL-terminated */
    u_char                  key[1];      /* "TYPE name" */
} tn_resolver_query_t;


/* a socket c-ares opened */
typedef struct {
    tn_queue_t              queue;       /* r->socks */
    tn_resolver_t          *resolver;
    tn_connection_t        *connection;  /* NULL if none could be had */
    ares_socket_t           fd;
    tn_uint_t               serial;
    uint32_t                events;
    unsigned                stream:1;
} tn_resolver_sock_t;


/* a context and its event, allocated together; ctx comes first */
typedef struct {
    tn_resolver_ctx_t       ctx;
    tn_event_t              event;
} tn_resolver_ctx_mem_t;


struct tn_resolver_s {
    ares_channel            channel;     /* NULL once destroyed */
    tn_log_t               *log;
    tn_msec_t               timeout;

    /* c-ares' own timeouts and retransmissions */
    tn_event_t              timer;

    tn_queue_t              socks;
    tn_uint_t               sock_serial;

    tn_queue_t              free;        /* contexts for reuse */
    tn_uint_t               nfree;
    tn_queue_t              busy;        /* contexts handed out */

    tn_hash_t               cache;
    tn_queue_t              lru;
    size_t                  cache_size;

    /* answers are parsed here, then copied out; reset after each */
    tn_pool_t              *temp_pool;

    unsigned                exiting:1;
};


static void *tn_resolver_create_conf(tn_cycle_t *cycle);
static char *tn_resolver_init_conf(tn_cycle_t *cycle, void *conf);
static char *tn_resolver_set_servers(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static tn_int_t tn_resolver_parse_server(tn_str_t *value,
    struct ares_addr_port_node *node);
static char *tn_resolver_system(tn_conf_t *cf, tn_resolver_conf_t *rcf,
    char *path);
static char *tn_resolver_check_timeout(tn_conf_t *cf, void *post,
    void *data);
static tn_int_t tn_resolver_init_process(tn_cycle_t *cycle);
static tn_int_t tn_resolver_init_channel(tn_resolver_t *r,
    tn_resolver_conf_t *rcf);
static void tn_resolver_exit_process(tn_cycle_t *cycle);

static void tn_resolver_sock_state(void *data, ares_socket_t fd,
    int readable, int writable);
static tn_resolver_sock_t *tn_resolver_sock_find(tn_resolver_t *r,
    ares_socket_t fd);
static void tn_resolver_sock_open(tn_resolver_t *r, ares_socket_t fd,
    uint32_t events);
static void tn_resolver_sock_close(tn_resolver_t *r, tn_resolver_sock_t *s);
static void tn_resolver_read_handler(tn_event_t *rev);
static void tn_resolver_write_handler(tn_event_t *wev);
static void tn_resolver_timer_handler(tn_event_t *ev);
static void tn_resolver_arm(tn_resolver_t *r);

static tn_int_t tn_resolver_send(tn_resolver_ctx_t *ctx, u_char *key,
    size_t len, size_t skip);
static void tn_resolver_ctx_handler(tn_event_t *ev);
static void tn_resolver_query_handler(void *arg, int status, int timeouts,
    unsigned char *abuf, int alen);
static char *tn_resolver_type_name(tn_uint_t type);

static tn_resolver_node_t *tn_resolver_cache_lookup(tn_resolver_t *r,
    u_char *key, size_t len);
static void tn_resolver_cache_insert(tn_resolver_t *r,
    tn_resolver_query_t *q, tn_resolver_answer_t *a);
static void tn_resolver_cache_delete(tn_resolver_t *r,
    tn_resolver_node_t *node);


/* the worker's resolver; a static so that it stays reachable at exit */
static tn_resolver_t  *tn_resolver_worker;

static char  tn_resolver_lookups[] = "b";


static tn_conf_post_t  tn_resolver_timeout_post = {
    tn_resolver_check_timeout
};


static tn_command_t  tn_resolver_commands[] = {

    { tn_string("resolver"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_1MORE,
      tn_resolver_set_servers,
      0,
      0,
      NULL },

    { tn_string("resolver_timeout"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      0,
      offsetof(tn_resolver_conf_t, timeout),
      &tn_resolver_timeout_post },

      tn_null_command
};


static tn_core_module_t  tn_resolver_module_ctx = {
    tn_string("resolver"),
    tn_resolver_create_conf,
    tn_resolver_init_conf
};


tn_module_t  tn_resolver_module = {
    TN_MODULE_V1,
    "tn_resolver_module",
    &tn_resolver_module_ctx,               /* module context */
    tn_resolver_commands,                  /* module directives */
    TN_CORE_MODULE,                        /* module type */
    NULL,                                  /* init module */
    tn_resolver_init_process,              /* init process */
    tn_resolver_exit_process,              /* exit process */
    NULL,                                   /* exit master */
    TN_MODULE_V1_PADDING
};


static void *
tn_resolver_create_conf(tn_cycle_t *cycle)
{
    tn_resolver_conf_t  *rcf;

    rcf = tn_pcalloc(cycle->pool, sizeof(tn_resolver_conf_t));
    if (rcf == NULL) {
        return NULL;
    }

    /*
     * set by tn_pcalloc():
     *
     *     rcf->servers = NULL;
     */

    rcf->timeout = TN_CONF_UNSET_MSEC;

    return rcf;
}


static char *
tn_resolver_init_conf(tn_cycle_t *cycle, void *conf)
{
    tn_resolver_conf_t  *rcf = conf;

    tn_conf_init_msec_value(rcf->timeout, 5000);

    return TN_CONF_OK;
}


static char *
tn_resolver_set_servers(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_resolver_conf_t  *rcf = conf;

    tn_str_t                    *value;
    tn_uint_t                    i;
    struct ares_addr_port_node  *node;

    if (rcf->servers != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rcf->servers = tn_array_create(cf->pool, cf->args->nelts - 1,
                                   sizeof(struct ares_addr_port_node));
    if (rcf->servers == NULL) {
        return TN_CONF_ERROR;
    }

    if (cf->args->nelts == 2 && value[1].len == 6
        && tn_strncmp(value[1].data, "system", 6) == 0)
    {
        return tn_resolver_system(cf, rcf, TN_RESOLVER_SYSTEM_CONF);
    }

    for (i = 1; i < cf->args->nelts; i++) {

        node = tn_array_push(rcf->servers);
        if (node == NULL) {
            return TN_CONF_ERROR;
        }

        if (tn_resolver_parse_server(&value[i], node) != TN_OK) {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "invalid address \"%V\" in \"%V\" directive, "
                              "expected IPv4[:PORT] or [IPv6][:PORT]",
                              &value[i], &cmd->name);
            return TN_CONF_ERROR;
        }
    }

    return TN_CONF_OK;
}


/*
 * "resolver system;": the "nameserver" lines of /etc/resolv.conf, read
 * when the configuration is (a reload reads them again).
 */

static char *
tn_resolver_system(tn_conf_t *cf, tn_resolver_conf_t *rcf, char *path)
{
    FILE                        *f;
    char                        *p, *end;
    tn_str_t                     addr;
    struct ares_addr_port_node  *node;
    char                         line[512];

    f = fopen(path, "re");
    if (f == NULL) {
        tn_conf_log_error(TN_LOG_EMERG, cf, tn_errno,
                          "\"resolver system\": cannot open %s", path);
        return TN_CONF_ERROR;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "nameserver", 10) != 0
            || (line[10] != ' ' && line[10] != '\t'))
        {
            continue;
        }

        for (p = line + 10; *p == ' ' || *p == '\t'; p++) { /* void */ }

        for (end = p; *end && !isspace((u_char) *end) && *end != '%';
             end++)
        {
            /* a scope "%eth0" is left out */
        }

        addr.data = (u_char *) p;
        addr.len = end - p;

        if (addr.len == 0) {
            continue;
        }

        node = tn_array_push(rcf->servers);
        if (node == NULL) {
            (void) fclose(f);
            return TN_CONF_ERROR;
        }

        if (tn_resolver_parse_server(&addr, node) != TN_OK) {
            rcf->servers->nelts--;
            tn_conf_log_error(TN_LOG_WARN, cf, 0, "\"resolver system\": "
                              "\"%V\" in %s is not an address, skipped",
                              &addr, path);
        }
    }

    (void) fclose(f);

    if (rcf->servers->nelts == 0) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0, "\"resolver system\": no "
                          "nameserver in %s", path);
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


/* "1.2.3.4", "1.2.3.4:5353", "[::1]", "[::1]:5353" or a bare "::1" */

static tn_int_t
tn_resolver_parse_server(tn_str_t *value, struct ares_addr_port_node *node)
{
    u_char     *p, *last, *host, *port, *colon;
    size_t      len;
    tn_int_t    n;
    u_char      text[TN_INET6_ADDRSTRLEN + 1];

    p = value->data;
    last = p + value->len;
    port = NULL;

    tn_memzero(node, sizeof(struct ares_addr_port_node));

    if (p < last && *p == '[') {
        host = p + 1;
        p = tn_strlchr(host, last, ']');
        if (p == NULL) {
            return TN_ERROR;
        }

        len = p - host;
        p++;

        if (p < last) {
            if (*p != ':') {
                return TN_ERROR;
            }
            port = p + 1;
        }

        node->family = AF_INET6;

    } else {
        host = p;
        colon = tn_strlchr(p, last, ':');

        if (colon && tn_strlchr(colon + 1, last, ':')) {
            /* more than one colon: an IPv6 address without a port */
            len = last - host;
            node->family = AF_INET6;

        } else if (colon) {
            len = colon - host;
            port = colon + 1;
            node->family = AF_INET;

        } else {
            len = last - host;
            node->family = AF_INET;
        }
    }

    if (len == 0 || len >= sizeof(text)) {
        return TN_ERROR;
    }

    tn_memcpy(text, host, len);
    text[len] = '\0';

    if (inet_pton(node->family, (char *) text, &node->addr) != 1) {
        return TN_ERROR;
    }

    n = 53;

    if (port) {
        n = tn_atoi(port, last - port);
        if (n < 1 || n > 65535) {
            return TN_ERROR;
        }
    }

    node->udp_port = (int) n;
    node->tcp_port = (int) n;

    return TN_OK;
}


static char *
tn_resolver_check_timeout(tn_conf_t *cf, void *post, void *data)
{
    tn_msec_t  *tp = data;

    if (*tp == 0 || *tp > TN_RESOLVER_MAX_TIMEOUT) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "\"resolver_timeout\" must be more than 0 and "
                          "at most 10m");
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static tn_int_t
tn_resolver_init_process(tn_cycle_t *cycle)
{
    int                  rc;
    tn_resolver_t       *r;
    tn_resolver_conf_t  *rcf;

    rcf = (tn_resolver_conf_t *) tn_get_conf(cycle->conf_ctx,
                                             tn_resolver_module);

    if (rcf == NULL || rcf->servers == NULL || rcf->servers->nelts == 0) {
        return TN_OK;
    }

    rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "ares_library_init() failed: %s",
                     (char *) ares_strerror(rc));
        return TN_ERROR;
    }

    r = tn_calloc(sizeof(tn_resolver_t), cycle->log);
    if (r == NULL) {
        ares_library_cleanup();
        return TN_ERROR;
    }

    r->log = cycle->log;
    r->timeout = rcf->timeout;

    r->timer.data = r;
    r->timer.handler = tn_resolver_timer_handler;
    r->timer.log = cycle->log;
    r->timer.cancelable = 1;

    tn_queue_init(&r->socks);
    tn_queue_init(&r->free);
    tn_queue_init(&r->busy);
    tn_queue_init(&r->lru);

    /* the rest of the process setup is freed by exit_process */
    tn_resolver_worker = r;

    if (tn_hash_init(&r->cache, TN_RESOLVER_CACHE_BUCKETS, cycle->log)
        != TN_OK)
    {
        return TN_ERROR;
    }

    r->temp_pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, cycle->log);
    if (r->temp_pool == NULL) {
        return TN_ERROR;
    }

    return tn_resolver_init_channel(r, rcf);
}


static tn_int_t
tn_resolver_init_channel(tn_resolver_t *r, tn_resolver_conf_t *rcf)
{
    int                          rc, optmask, timeout;
    tn_uint_t                    i, n;
    struct ares_options          opts;
    struct ares_addr_port_node  *nodes;

    n = rcf->servers->nelts;
    nodes = rcf->servers->elts;

    for (i = 0; i < n; i++) {
        nodes[i].next = (i + 1 < n) ? &nodes[i + 1] : NULL;
    }

    /*
     * c-ares tries every server TN_RESOLVER_TRIES times and doubles the
     * timeout after each round, so the last answer may come after
     * n * timeout * (2^tries - 1): fit that into resolver_timeout.  The
     * context's own timer enforces the deadline in any case.
     */

    timeout = (int) (r->timeout / (n * ((1 << TN_RESOLVER_TRIES) - 1)));
    if (timeout < 1) {
        timeout = 1;
    }

    tn_memzero(&opts, sizeof(struct ares_options));

    /*
     * Only the configured servers: no search list, no HOSTALIASES, and
     * SERVFAIL, REFUSED and NOTIMP are reported as such rather than
     * retried into a misleading ECONNREFUSED (c-ares 1.18).
     */

    opts.flags = ARES_FLAG_NOSEARCH|ARES_FLAG_NOALIASES
                 |ARES_FLAG_NOCHECKRESP|ARES_FLAG_EDNS;
    opts.timeout = timeout;
    opts.tries = TN_RESOLVER_TRIES;
    opts.ndots = 1;
    opts.domains = NULL;
    opts.ndomains = 0;
    opts.lookups = tn_resolver_lookups;
    opts.sock_state_cb = tn_resolver_sock_state;
    opts.sock_state_cb_data = r;
    opts.ednspsz = TN_RESOLVER_EDNS_SIZE;

    optmask = ARES_OPT_FLAGS|ARES_OPT_TIMEOUTMS|ARES_OPT_TRIES
              |ARES_OPT_NDOTS|ARES_OPT_DOMAINS|ARES_OPT_LOOKUPS
              |ARES_OPT_SOCK_STATE_CB|ARES_OPT_EDNSPSZ;

    rc = ares_init_options(&r->channel, &opts, optmask);
    if (rc != ARES_SUCCESS) {
        r->channel = NULL;
        tn_log_error(TN_LOG_EMERG, r->log, 0,
                     "ares_init_options() failed: %s",
                     (char *) ares_strerror(rc));
        return TN_ERROR;
    }

    rc = ares_set_servers_ports(r->channel, nodes);
    if (rc != ARES_SUCCESS) {
        tn_log_error(TN_LOG_EMERG, r->log, 0,
                     "ares_set_servers_ports() failed: %s",
                     (char *) ares_strerror(rc));
        return TN_ERROR;
    }

    tn_log_debug2(TN_LOG_DEBUG_DNS, r->log, 0,
                  "resolver: %ui servers, try timeout %dms", n, timeout);

    return TN_OK;
}


static void
tn_resolver_exit_process(tn_cycle_t *cycle)
{
    tn_queue_t             *q;
    tn_resolver_t          *r;
    tn_resolver_node_t     *node;
    tn_resolver_ctx_mem_t  *mem;

    r = tn_resolver_worker;

    if (r == NULL) {
        return;
    }

    r->exiting = 1;

    if (r->timer.timer_set) {
        tn_event_del_timer(&r->timer);
    }

    if (r->channel) {
        /* calls back every query with ARES_EDESTRUCTION, closes sockets */
        ares_destroy(r->channel);
        r->channel = NULL;
        ares_library_cleanup();
    }

    while (!tn_queue_empty(&r->lru)) {
        q = tn_queue_head(&r->lru);
        node = tn_queue_data(q, tn_resolver_node_t, queue);
        tn_resolver_cache_delete(r, node);
    }

    if (r->cache.buckets) {
        tn_hash_free(&r->cache);
        r->cache.buckets = NULL;
    }

    if (r->temp_pool) {
        tn_destroy_pool(r->temp_pool);
        r->temp_pool = NULL;
    }

    while (!tn_queue_empty(&r->free)) {
        q = tn_queue_head(&r->free);
        tn_queue_remove(q);
        mem = (tn_resolver_ctx_mem_t *)
                  tn_queue_data(q, tn_resolver_ctx_t, queue);
        if (mem->ctx.pool) {
            tn_destroy_pool(mem->ctx.pool);
        }
        tn_free(mem);
    }

    r->nfree = 0;

    /*
     * Contexts still held by sessions point at r and may yet be passed
     * to tn_resolve_done(): then r stays, reachable from the static.
     */

    if (tn_queue_empty(&r->busy)) {
        tn_free(r);
        tn_resolver_worker = NULL;
    }
}


tn_resolver_t *
tn_resolver_get(tn_cycle_t *cycle)
{
    tn_resolver_t  *r;

    r = tn_resolver_worker;

    if (r == NULL || r->channel == NULL) {
        return NULL;
    }

    return r;
}


/*
 * Sockets.  c-ares reports (readable, writable) for each socket it opens;
 * (0, 0) comes just before it closes one.  Registered for EPOLLIN always
 * and EPOLLOUT while a TCP query waits to be written.
 */

static void
tn_resolver_sock_state(void *data, ares_socket_t fd, int readable,
    int writable)
{
    tn_resolver_t  *r = data;

    uint32_t             events;
    tn_resolver_sock_t  *s;

    tn_log_debug3(TN_LOG_DEBUG_DNS, r->log, 0,
                  "resolver: socket %d read:%d write:%d",
                  fd, readable, writable);

    s = tn_resolver_sock_find(r, fd);

    if (!readable && !writable) {
        if (s) {
            tn_resolver_sock_close(r, s);
        }
        return;
    }

    events = (readable ? TN_READ_EVENT : 0) | (writable ? TN_WRITE_EVENT : 0)
             | TN_CLEAR_EVENT;

    if (s == NULL) {
        tn_resolver_sock_open(r, fd, events);
        return;
    }

    if (s->connection == NULL || s->events == events) {
        return;
    }

    if (tn_epoll_mod_fd(s->connection, events) != TN_OK) {
        tn_log_error(TN_LOG_ERR, r->log, 0,
                     "resolver: cannot change events of socket %d", fd);
        return;
    }

    s->events = events;
}


static tn_resolver_sock_t *
tn_resolver_sock_find(tn_resolver_t *r, ares_socket_t fd)
{
    tn_queue_t          *q;
    tn_resolver_sock_t  *s;

    for (q = tn_queue_head(&r->socks);
         q != tn_queue_sentinel(&r->socks);
         q = tn_queue_next(q))
    {
        s = tn_queue_data(q, tn_resolver_sock_t, queue);

        if (s->fd == fd) {
            return s;
        }
    }

    return NULL;
}


static void
tn_resolver_sock_open(tn_resolver_t *r, ares_socket_t fd, uint32_t events)
{
    int                  type;
    socklen_t            len;
    tn_connection_t     *c;
    tn_resolver_sock_t  *s;

    s = tn_calloc(sizeof(tn_resolver_sock_t), r->log);
    if (s == NULL) {
        /* the queries on it time out */
        return;
    }

    s->resolver = r;
    s->fd = fd;
    s->serial = ++r->sock_serial;
    s->events = events;

    type = SOCK_DGRAM;
    len = sizeof(int);
    (void) getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    s->stream = (type == SOCK_STREAM);

    tn_queue_insert_tail(&r->socks, &s->queue);

    c = tn_get_connection(fd, r->log);
    if (c == NULL) {
        return;
    }

    c->data = s;
    c->log = r->log;
    c->read->handler = tn_resolver_read_handler;
    c->write->handler = tn_resolver_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    if (tn_epoll_add_fd(c, events) != TN_OK) {
        tn_log_error(TN_LOG_ERR, r->log, 0,
                     "resolver: cannot add socket %d to the event loop", fd);
        tn_free_connection(c);
        c->fd = (tn_socket_t) -1;
        return;
    }

    s->connection = c;
}


static void
tn_resolver_sock_close(tn_resolver_t *r, tn_resolver_sock_t *s)
{
    tn_connection_t  *c;

    c = s->connection;

    if (c) {
        if (c->read->posted) {
            tn_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            tn_delete_posted_event(c->write);
        }

        /*
         * c-ares closes the fd right after this; at exit the loop may be
         * gone already, and the close removes the fd from epoll anyway.
         */
        (void) tn_del_conn(c, r->exiting ? TN_CLOSE_EVENT : 0);

        tn_free_connection(c);

        /* the fd is c-ares' to close: make the connection look closed */
        c->fd = (tn_socket_t) -1;
    }

    tn_queue_remove(&s->queue);
    tn_free(s);
}


/*
 * The loop is edge-triggered, so a read event must drain the socket.
 * For UDP, c-ares 1.18 reads datagrams until EAGAIN in one call; for TCP
 * it makes one recv() per call (the length word, then the message), so
 * call again while bytes are waiting, and once more on a stream to see
 * an EOF.  A socket c-ares closed during a call is not touched again:
 * the serial tells a reused fd from ours.
 */

static void
tn_resolver_read_handler(tn_event_t *rev)
{
    int                  avail;
    tn_uint_t            n, serial;
    ares_socket_t        fd;
    tn_resolver_t       *r;
    tn_connection_t     *c;
    tn_resolver_sock_t  *s;

    c = rev->data;
    s = c->data;
    r = s->resolver;
    fd = s->fd;
    serial = s->serial;

    if (r->channel == NULL) {
        return;
    }

    for (n = 0; /* void */; n++) {

        ares_process_fd(r->channel, fd, ARES_SOCKET_BAD);

        s = tn_resolver_sock_find(r, fd);
        if (s == NULL || s->serial != serial) {
            break;
        }

        avail = 0;
        if (ioctl(fd, FIONREAD, &avail) == -1) {
            break;
        }

        if (avail <= 0) {
            if (s->stream && n == 0) {
                /* an EOF shows only as a recv() of 0 */
                ares_process_fd(r->channel, fd, ARES_SOCKET_BAD);
            }
            break;
        }

        if (n == TN_RESOLVER_READ_MAX) {
            /* let other connections run; continue from the posted queue */
            tn_post_event(rev, &tn_posted_events);
            break;
        }
    }

    tn_resolver_arm(r);
}


static void
tn_resolver_write_handler(tn_event_t *wev)
{
    tn_connection_t     *c;
    tn_resolver_sock_t  *s;
    tn_resolver_t       *r;

    c = wev->data;
    s = c->data;
    r = s->resolver;

    if (r->channel == NULL) {
        return;
    }

    ares_process_fd(r->channel, ARES_SOCKET_BAD, s->fd);

    tn_resolver_arm(r);
}


static void
tn_resolver_timer_handler(tn_event_t *ev)
{
    tn_resolver_t  *r;

    r = ev->data;
    ev->timedout = 0;

    if (r->channel == NULL) {
        return;
    }

    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);

    tn_resolver_arm(r);
}


/* sets the timer to c-ares' next timeout, or clears it when idle */

static void
tn_resolver_arm(tn_resolver_t *r)
{
    tn_msec_t        ms;
    struct timeval   tv, *tp;

    if (r->channel == NULL) {
        return;
    }

    tp = ares_timeout(r->channel, NULL, &tv);

    if (tp == NULL) {
        if (r->timer.timer_set) {
            tn_event_del_timer(&r->timer);
        }
        return;
    }

    /* c-ares rounds down to a millisecond: fire just after, not before */
    ms = (tn_msec_t) tp->tv_sec * 1000 + tp->tv_usec / 1000 + 1;

    if (r->timer.timer_set) {
        if (r->timer.timer.key == tn_current_msec + ms) {
            return;
        }

        /* no lazy re-arming: retransmissions are due to the millisecond */
        tn_event_del_timer(&r->timer);
    }

    tn_event_add_timer(&r->timer, ms);
}


tn_resolver_ctx_t *
tn_resolve_start(tn_resolver_t *r)
{
    tn_queue_t             *q;
    tn_pool_t              *pool;
    tn_resolver_ctx_t      *ctx;
    tn_resolver_ctx_mem_t  *mem;

    if (r == NULL || r->channel == NULL) {
        return NULL;
    }

    pool = NULL;

    if (!tn_queue_empty(&r->free)) {
        q = tn_queue_head(&r->free);
        tn_queue_remove(q);
        r->nfree--;

        mem = (tn_resolver_ctx_mem_t *)
                  tn_queue_data(q, tn_resolver_ctx_t, queue);
        pool = mem->ctx.pool;

    } else {
        mem = tn_alloc(sizeof(tn_resolver_ctx_mem_t), r->log);
        if (mem == NULL) {
            return NULL;
        }
    }

    tn_memzero(mem, sizeof(tn_resolver_ctx_mem_t));

    if (pool == NULL) {
        pool = tn_create_pool(TN_RESOLVER_POOL_SIZE, r->log);
        if (pool == NULL) {
            tn_free(mem);
            return NULL;
        }
    }

    ctx = &mem->ctx;

    ctx->resolver = r;
    ctx->pool = pool;
    ctx->event = &mem->event;

    ctx->event->data = ctx;
    ctx->event->handler = tn_resolver_ctx_handler;
    ctx->event->log = r->log;

    tn_queue_insert_tail(&r->busy, &ctx->queue);

    return ctx;
}


tn_int_t
tn_resolve_name(tn_resolver_ctx_t *ctx)
{
    char                *tname;
    size_t               tlen;
    ssize_t              n;
    tn_msec_int_t        left;
    tn_resolver_t       *r;
    tn_resolver_node_t  *node;
    u_char               key[sizeof("AAAA ") + TN_RESOLVER_MAX_QNAME];

    r = ctx->resolver;

    if (ctx->pending || ctx->done || ctx->handler == NULL
        || r->channel == NULL)
    {
        ctx->state = TN_RESOLVE_ERROR;
        return TN_ERROR;
    }

    tname = tn_resolver_type_name(ctx->type);
    if (tname == NULL) {
        tn_log_error(TN_LOG_ALERT, r->log, 0,
                     "resolver: unsupported type %ui", ctx->type);
        ctx->state = TN_RESOLVE_ERROR;
        return TN_ERROR;
    }

    /* the key is "TYPE name", the name lowercased and without a final dot */

    tlen = tn_strlen(tname);
    tn_memcpy(key, tname, tlen);
    key[tlen++] = ' ';

    if (ctx->type == TN_RESOLVE_PTR) {
        n = tn_resolver_make_ptr(&ctx->name, key + tlen);

    } else if (ctx->any_name) {
        n = tn_resolver_make_any_name(&ctx->name, key + tlen);

    } else {
        n = tn_resolver_make_name(&ctx->name, key + tlen);
    }

    if (n == TN_ERROR) {
        tn_log_debug1(TN_LOG_DEBUG_DNS, r->log, 0,
                      "resolver: invalid name for %s lookup", tname);
        ctx->state = TN_RESOLVE_FORMERR;
        return TN_ERROR;
    }

    node = tn_resolver_cache_lookup(r, key, tlen + n);

    if (node) {
        left = (tn_msec_int_t) (node->expire - tn_current_msec);

        tn_log_debug2(TN_LOG_DEBUG_DNS, r->log, 0,
                      "resolver: cache hit \"%*s\"", tlen + n, key);

        tn_resolver_set_answer(ctx, &node->answer,
                               (uint32_t) ((left + 999) / 1000));

        ctx->pending = 1;
        tn_post_event(ctx->event, &tn_posted_events);

        return TN_OK;
    }

    return tn_resolver_send(ctx, key, tlen + n, tlen);
}


/* sends the query for key, the name starting at key + skip */

static tn_int_t
tn_resolver_send(tn_resolver_ctx_t *ctx, u_char *key, size_t len,
    size_t skip)
{
    tn_resolver_t        *r;
    tn_resolver_query_t  *q;

    r = ctx->resolver;

    q = tn_alloc(offsetof(tn_resolver_query_t, key) + len + 1, r->log);
    if (q == NULL) {
        ctx->state = TN_RESOLVE_ERROR;
        return TN_ERROR;
    }

    q->resolver = r;
    q->ctx = ctx;
    q->type = ctx->type;
    q->key_len = len;
    tn_memcpy(q->key, key, len);
    q->key[len] = '\0';
    q->name = q->key + skip;

    ctx->query = q;
    ctx->pending = 1;

    tn_event_add_timer(ctx->event, r->timeout);

    tn_log_debug1(TN_LOG_DEBUG_DNS, r->log, 0,
                  "resolver: query \"%s\"", q->key);

    /*
     * The callback may run inside ares_query() (a bad name, no memory, no
     * socket): it only posts the context's event, so the handler still
     * runs later.  q may be gone when ares_query() returns.
     */

    ares_query(r->channel, (char *) q->name, TN_RESOLVER_CLASS_IN,
               (int) ctx->type, tn_resolver_query_handler, q);

    tn_resolver_arm(r);

    return TN_OK;
}


void
tn_resolve_done(tn_resolver_ctx_t *ctx)
{
    tn_event_t             *ev;
    tn_resolver_t          *r;
    tn_resolver_query_t    *q;
    tn_resolver_ctx_mem_t  *mem;

    r = ctx->resolver;
    ev = ctx->event;

    if (ev->timer_set) {
        tn_event_del_timer(ev);
    }

    if (ev->posted) {
        tn_delete_posted_event(ev);
    }

    q = ctx->query;

    if (q) {
        /* the c-ares callback will find no context and only free q */
        q->ctx = NULL;
        ctx->query = NULL;
    }

    tn_queue_remove(&ctx->queue);

    mem = (tn_resolver_ctx_mem_t *) ctx;

    if (r->nfree < TN_RESOLVER_FREE_MAX && !r->exiting) {
        tn_reset_pool(ctx->pool);
        tn_queue_insert_head(&r->free, &ctx->queue);
        r->nfree++;
        return;
    }

    tn_destroy_pool(ctx->pool);
    tn_free(mem);

    if (r->exiting && tn_queue_empty(&r->busy) && tn_queue_empty(&r->free))
    {
        tn_free(r);
        tn_resolver_worker = NULL;
    }
}


static void
tn_resolver_ctx_handler(tn_event_t *ev)
{
    tn_resolver_ctx_t     *ctx;
    tn_resolver_query_t   *q;
    tn_resolver_answer_t   answer;

    ctx = ev->data;

    if (ev->timedout) {
        ev->timedout = 0;

        q = ctx->query;

        if (q) {
            /* the late c-ares callback will only cache the answer */
            q->ctx = NULL;
            ctx->query = NULL;
        }

        tn_memzero(&answer, sizeof(tn_resolver_answer_t));
        answer.state = TN_RESOLVE_TIMEDOUT;

        tn_resolver_set_answer(ctx, &answer, 0);

        tn_log_error(TN_LOG_ERR, ev->log, 0,
                     "DNS %s lookup of \"%V\" timed out",
                     tn_resolver_type_name(ctx->type), &ctx->name);
    }

    ctx->pending = 0;
    ctx->done = 1;

    ctx->handler(ctx);
}


static void
tn_resolver_query_handler(void *arg, int status, int timeouts,
    unsigned char *abuf, int alen)
{
    tn_resolver_query_t  *q = arg;

    tn_int_t               state;
    tn_resolver_t         *r;
    tn_resolver_ctx_t     *ctx;
    tn_resolver_answer_t   answer;

    r = q->resolver;
    ctx = q->ctx;

    tn_log_debug4(TN_LOG_DEBUG_DNS, r->log, 0,
                  "resolver: answer \"%s\": %s, %d timeouts%s",
                  q->key, (char *) ares_strerror(status), timeouts,
                  ctx ? "" : ", no context");

    if (ctx) {
        ctx->query = NULL;
    }

    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        /* the worker is exiting: nobody waits for the handler */
        tn_free(q);
        return;
    }

    tn_memzero(&answer, sizeof(tn_resolver_answer_t));

    state = tn_resolver_status(status);

    if (state == TN_OK) {
        state = tn_resolver_parse(r->temp_pool, q->type, abuf, alen,
                                  &answer);
    }

    switch (state) {

    case TN_OK:
        break;

    case TN_RESOLVE_NXDOMAIN:
    case TN_RESOLVE_NODATA:
        tn_memzero(&answer, sizeof(tn_resolver_answer_t));
        answer.ttl = TN_RESOLVER_NEG_TTL;
        break;

    default:
        /* not cached: the next lookup asks again */
        tn_memzero(&answer, sizeof(tn_resolver_answer_t));

        if (ctx) {
            tn_log_error(TN_LOG_ERR, r->log, 0,
                         "DNS %s failed: %s (%s)", q->key,
                         tn_resolver_strerror(state),
                         (char *) ares_strerror(status));
        }
    }

    answer.state = state;

    if (answer.ttl > 0) {
        tn_resolver_cache_insert(r, q, &answer);
    }

    if (ctx) {
        tn_resolver_set_answer(ctx, &answer, answer.ttl);

        if (ctx->event->timer_set) {
            tn_event_del_timer(ctx->event);
        }

        tn_post_event(ctx->event, &tn_posted_events);
    }

    tn_reset_pool(r->temp_pool);
    tn_free(q);
}


static char *
tn_resolver_type_name(tn_uint_t type)
{
    switch (type) {
    case TN_RESOLVE_A:
        return "A";
    case TN_RESOLVE_AAAA:
        return "AAAA";
    case TN_RESOLVE_MX:
        return "MX";
    case TN_RESOLVE_TXT:
        return "TXT";
    case TN_RESOLVE_PTR:
        return "PTR";
    default:
        return NULL;
    }
}


char *
tn_resolver_strerror(tn_int_t err)
{
    switch (err) {
    case TN_OK:
        return "no error";
    case TN_RESOLVE_FORMERR:
        return "format error";
    case TN_RESOLVE_SERVFAIL:
        return "server failure";
    case TN_RESOLVE_NXDOMAIN:
        return "host not found";
    case TN_RESOLVE_NOTIMP:
        return "unimplemented";
    case TN_RESOLVE_REFUSED:
        return "operation refused";
    case TN_RESOLVE_NODATA:
        return "no data of the requested type";
    case TN_RESOLVE_TIMEDOUT:
        return "timed out";
    case TN_RESOLVE_ERROR:
        return "local resolver error";
    default:
        return "unknown error";
    }
}


static tn_resolver_node_t *
tn_resolver_cache_lookup(tn_resolver_t *r, u_char *key, size_t len)
{
    tn_resolver_node_t  *node;

    node = tn_hash_find(&r->cache, key, len);

    if (node == NULL) {
        return NULL;
    }

    if ((tn_msec_int_t) (node->expire - tn_current_msec) <= 0) {
        tn_resolver_cache_delete(r, node);
        return NULL;
    }

    tn_queue_remove(&node->queue);
    tn_queue_insert_head(&r->lru, &node->queue);

    return node;
}


static void
tn_resolver_cache_insert(tn_resolver_t *r, tn_resolver_query_t *q,
    tn_resolver_answer_t *a)
{
    u_char              *p;
    size_t               size, asize, hsize;
    tn_queue_t          *lq;
    tn_resolver_node_t  *node, *old;

    hsize = tn_align(sizeof(tn_resolver_node_t), sizeof(void *));
    asize = tn_resolver_answer_size(a);
    size = hsize + asize + q->key_len;

    node = tn_alloc(size, r->log);
    if (node == NULL) {
        return;
    }

    p = (u_char *) node + hsize;

    tn_resolver_answer_copy(&node->answer, a, p);

    node->key = p + asize;
    node->key_len = q->key_len;
    tn_memcpy(node->key, q->key, q->key_len);

    node->size = size;
    node->expire = tn_current_msec + (tn_msec_t) a->ttl * 1000;

    /* concurrent identical lookups: the later answer wins */

    old = tn_hash_find(&r->cache, node->key, node->key_len);
    if (old) {
        tn_resolver_cache_delete(r, old);
    }

    if (tn_hash_add(&r->cache, node->key, node->key_len, node) != TN_OK) {
        tn_free(node);
        return;
    }

    tn_queue_insert_head(&r->lru, &node->queue);
    r->cache_size += size;

    while (tn_hash_count(&r->cache) > TN_RESOLVER_CACHE_MAX
           || r->cache_size > TN_RESOLVER_CACHE_BYTES)
    {
        lq = tn_queue_last(&r->lru);

        if (lq == &node->queue) {
            break;
        }

        old = tn_queue_data(lq, tn_resolver_node_t, queue);
        tn_resolver_cache_delete(r, old);
    }

    tn_log_debug3(TN_LOG_DEBUG_DNS, r->log, 0,
                  "resolver: cached \"%s\" for %uDs, %ui entries",
                  q->key, a->ttl, tn_hash_count(&r->cache));
}


static void
tn_resolver_cache_delete(tn_resolver_t *r, tn_resolver_node_t *node)
{
    (void) tn_hash_delete(&r->cache, node->key, node->key_len);

    tn_queue_remove(&node->queue);
    r->cache_size -= node->size;

    tn_free(node);
}


static tn_uint_t  tn_resolver_cli;   /* 1: events set up, 2: resolver too */


tn_resolver_t *
tn_resolver_cli_start(tn_cycle_t *cycle)
{
    tn_resolver_t  *r;

    if (tn_resolver_cli) {
        return tn_resolver_cli == 2 ? tn_resolver_get(cycle) : NULL;
    }

    /*
     * The listening sockets of the configuration were never opened in an
     * admin command (fd -1): the event setup must not take them on.
     */
    cycle->listening.nelts = 0;

    if (tn_event_core_module.init_process(cycle) != TN_OK) {
        tn_write_stderr("tern: the event loop could not be set up"
                        TN_LINEFEED);
        return NULL;
    }

    tn_resolver_cli = 1;

    if (tn_resolver_module.init_process(cycle) != TN_OK) {
        tn_write_stderr("tern: the resolver could not be set up"
                        TN_LINEFEED);
        return NULL;
    }

    tn_resolver_cli = 2;

    r = tn_resolver_get(cycle);
    if (r == NULL) {
        tn_write_stderr("tern: no \"resolver\" is configured" TN_LINEFEED);
    }

    return r;
}


void
tn_resolver_cli_stop(tn_cycle_t *cycle)
{
    if (tn_resolver_cli == 2) {
        tn_resolver_module.exit_process(cycle);
    }

    if (tn_resolver_cli) {
        tn_epoll_done(cycle);

        tn_free(cycle->files);
        tn_free(cycle->connections);
        tn_free(cycle->read_events);
        tn_free(cycle->write_events);

        cycle->files = NULL;
        cycle->connections = NULL;
        cycle->read_events = NULL;
        cycle->write_events = NULL;
        cycle->free_connections = NULL;
        cycle->free_connection_n = 0;
    }

    tn_resolver_cli = 0;
}
