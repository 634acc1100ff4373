
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>


/*
 * TLS on top of a connection, written against BoringSSL (and kept
 * compilable with OpenSSL 3).
 *
 * The event loop is edge-triggered: an event fires once when the socket
 * becomes readable or writable, and ev->ready stays set until an I/O call
 * meets EAGAIN.  SSL_do_handshake(), SSL_read() and SSL_write() only
 * report SSL_ERROR_WANT_READ/WRITE after the socket itself returned
 * EAGAIN, so every TN_AGAIN below is followed by a new edge; and whenever
 * data may remain buffered inside the TLS layer, ready is left set so the
 * caller reads again instead of waiting for an edge that never comes.
 */


#define TN_SSL_CIPHERS       "ECDHE+AESGCM:ECDHE+CHACHA20"
#define TN_SSL_CURVES        "X25519:P-256"
#define TN_SSL_SID_CTX       "tern"

/* TLS 1.2 sessions kept for session-ID resumption, per worker */
#define TN_SSL_SESSION_CACHE_SIZE  4096

/* RFC 1035 limit of a host name, and of a name we look up */
#define TN_SSL_MAX_HOST_LEN  255

#define TN_SSL_PATH_MAX      4096

/* validity of a generated certificate */
#define TN_SSL_CERT_BACKDATE  3600
#define TN_SSL_CERT_DAYS      (10 * 365 + 3)


static SSL_CTX *tn_ssl_new_ctx(tn_log_t *log);
static tn_int_t tn_ssl_add_ctx_cleanup(tn_pool_t *pool, SSL_CTX *ctx);
static void tn_ssl_cleanup_ctx(void *data);
static tn_int_t tn_ssl_load_pair(tn_conf_t *cf, SSL_CTX *ctx, tn_str_t *cert,
    tn_str_t *key);
static tn_int_t tn_ssl_check_file(tn_conf_t *cf, char *file, char *what);
static void tn_ssl_conf_error(tn_conf_t *cf, const char *fmt, ...);
static size_t tn_ssl_host_len(const u_char *name, size_t max);
static int tn_ssl_servername(SSL *ssl_conn, int *ad, void *arg);

static void tn_ssl_cleanup_connection(void *data);
static void tn_ssl_handshake_handler(tn_event_t *ev);
static void tn_ssl_empty_handler(tn_event_t *ev);
static tn_int_t tn_ssl_handle_recv(tn_connection_t *c, int n);
static void tn_ssl_read_handler(tn_event_t *rev);
static void tn_ssl_write_handler(tn_event_t *wev);
static void tn_ssl_connection_error(tn_connection_t *c, int sslerr,
    tn_err_t err, char *text);
static tn_uint_t tn_ssl_error_is_fatal(uint32_t e);
static void tn_ssl_clear_error(tn_log_t *log);
static u_char *tn_ssl_error_text(u_char *p, u_char *last);

static EVP_PKEY *tn_ssl_generate_key(tn_log_t *log);
static X509 *tn_ssl_make_cert(tn_log_t *log, EVP_PKEY *pkey, tn_str_t *cn);
static tn_int_t tn_ssl_add_ext(X509 *x509, X509V3_CTX *ctx, int nid,
    char *value);
static tn_int_t tn_ssl_add_san(X509 *x509, tn_str_t *cn);
static tn_int_t tn_ssl_write_pair(tn_log_t *log, char *certfile,
    char *keyfile, X509 *x509, EVP_PKEY *pkey);
static tn_int_t tn_ssl_create_parent(tn_log_t *log, char *file);
static tn_int_t tn_ssl_sync_parent(char *file);
static tn_int_t tn_ssl_write_file(tn_log_t *log, int fd, char *file,
    BIO *bio, mode_t mode);
static tn_int_t tn_ssl_copy_path(tn_log_t *log, tn_str_t *path, char *buf);


int  tn_ssl_connection_index = -1;
int  tn_ssl_server_conf_index = -1;


/*
 * Listed in auto/sources; there is nothing to configure yet (no engine,
 * no global directives), so the module carries no hooks.
 */

static tn_core_module_t  tn_openssl_module_ctx = {
    tn_string("openssl"),
    NULL,
    NULL
};


tn_module_t  tn_openssl_module = {
    TN_MODULE_V1,
    "tn_openssl_module",
    &tn_openssl_module_ctx,                /* module context */
    NULL,                                  /* module directives */
    TN_CORE_MODULE,                        /* module type */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* exit process */
    NULL,                                   /* exit master */
    TN_MODULE_V1_PADDING
};


tn_int_t
tn_ssl_init(tn_log_t *log)
{
#if (defined OPENSSL_IS_BORINGSSL)
    CRYPTO_library_init();
#else
    if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) == 0) {
        tn_ssl_error(TN_LOG_ALERT, log, 0, "OPENSSL_init_ssl() failed");
        return TN_ERROR;
    }
#endif

    ERR_clear_error();

    /* tests may initialise more than once: the indexes are kept */

    if (tn_ssl_connection_index == -1) {
        tn_ssl_connection_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
                                                       NULL);
        if (tn_ssl_connection_index == -1) {
            tn_ssl_error(TN_LOG_ALERT, log, 0,
                         "SSL_get_ex_new_index() failed");
            return TN_ERROR;
        }
    }

    if (tn_ssl_server_conf_index == -1) {
        tn_ssl_server_conf_index = SSL_CTX_get_ex_new_index(0, NULL, NULL,
                                                            NULL, NULL);
        if (tn_ssl_server_conf_index == -1) {
            tn_ssl_error(TN_LOG_ALERT, log, 0,
                         "SSL_CTX_get_ex_new_index() failed");
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/* contexts and certificates */


tn_int_t
tn_ssl_create(tn_conf_t *cf, tn_ssl_t *ssl, void *data)
{
    ssl->ctx = tn_ssl_new_ctx(cf->log);
    if (ssl->ctx == NULL) {
        return TN_ERROR;
    }

    if (tn_ssl_add_ctx_cleanup(cf->pool, ssl->ctx) != TN_OK) {
        SSL_CTX_free(ssl->ctx);
        ssl->ctx = NULL;
        return TN_ERROR;
    }

    if (SSL_CTX_set_ex_data(ssl->ctx, tn_ssl_server_conf_index, data) == 0) {
        tn_ssl_error(TN_LOG_EMERG, cf->log, 0,
                     "SSL_CTX_set_ex_data() failed");
        return TN_ERROR;
    }

    /*
     * The callback looks names up in ssl->sni, so ssl must live as long as
     * the context, i.e. as long as cf->pool.
     */

    SSL_CTX_set_tlsext_servername_callback(ssl->ctx, tn_ssl_servername);
    SSL_CTX_set_tlsext_servername_arg(ssl->ctx, ssl);

    ssl->log = cf->log;
    ssl->buffer_size = TN_SSL_BUFSIZE;
    ssl->sni = NULL;

    return TN_OK;
}


static SSL_CTX *
tn_ssl_new_ctx(tn_log_t *log)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        tn_ssl_error(TN_LOG_EMERG, log, 0, "SSL_CTX_new() failed");
        return NULL;
    }

    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 0
        || SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 0)
    {
        tn_ssl_error(TN_LOG_EMERG, log, 0,
                     "SSL_CTX_set_min/max_proto_version() failed");
        goto failed;
    }

    /*
     * TLS 1.2 gets forward-secret AEAD suites only; the TLS 1.3 suites
     * are fixed by BoringSSL (all three are AEAD).
     */

#if (defined OPENSSL_IS_BORINGSSL)
    if (SSL_CTX_set_strict_cipher_list(ctx, TN_SSL_CIPHERS) == 0) {
#else
    if (SSL_CTX_set_cipher_list(ctx, TN_SSL_CIPHERS) == 0) {
#endif
        tn_ssl_error(TN_LOG_EMERG, log, 0,
                     "SSL_CTX_set_cipher_list(\"" TN_SSL_CIPHERS "\") failed");
        goto failed;
    }

    if (SSL_CTX_set1_curves_list(ctx, TN_SSL_CURVES) == 0) {
        tn_ssl_error(TN_LOG_EMERG, log, 0,
                     "SSL_CTX_set1_curves_list(\"" TN_SSL_CURVES "\") failed");
        goto failed;
    }

    /* BoringSSL has no compression and never renegotiates as a server */

    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE
                             |SSL_OP_NO_COMPRESSION
                             |SSL_OP_NO_RENEGOTIATION);

    /*
     * Partial writes let tn_ssl_write() report what went out; a moving
     * buffer lets a retry come from a buffer that was compacted.
     * BoringSSL always releases idle buffers, RELEASE_BUFFERS is for
     * OpenSSL.
     */

    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS
                          |SSL_MODE_ENABLE_PARTIAL_WRITE
                          |SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    /* resumption stays off until tn_ssl_session_cache(); tickets are on */

    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    if (SSL_CTX_set_session_id_context(ctx, (const u_char *) TN_SSL_SID_CTX,
                                       sizeof(TN_SSL_SID_CTX) - 1)
        == 0)
    {
        tn_ssl_error(TN_LOG_EMERG, log, 0,
                     "SSL_CTX_set_session_id_context() failed");
        goto failed;
    }

    return ctx;

failed:

    SSL_CTX_free(ctx);

    return NULL;
}


static tn_int_t
tn_ssl_add_ctx_cleanup(tn_pool_t *pool, SSL_CTX *ctx)
{
    tn_pool_cleanup_t  *cln;

    cln = tn_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return TN_ERROR;
    }

    cln->handler = tn_ssl_cleanup_ctx;
    cln->data = ctx;

    return TN_OK;
}


static void
tn_ssl_cleanup_ctx(void *data)
{
    SSL_CTX  *ctx = data;

    /* connections still using it hold their own references */

    SSL_CTX_free(ctx);
}


tn_int_t
tn_ssl_certificate(tn_conf_t *cf, tn_ssl_t *ssl, tn_str_t *cert,
    tn_str_t *key)
{
    return tn_ssl_load_pair(cf, ssl->ctx, cert, key);
}


static tn_int_t
tn_ssl_load_pair(tn_conf_t *cf, SSL_CTX *ctx, tn_str_t *cert, tn_str_t *key)
{
    char      *certfile, *keyfile;
    uint32_t   e;

    certfile = (char *) tn_pstrdup(cf->pool, cert);
    keyfile = (char *) tn_pstrdup(cf->pool, key);

    if (certfile == NULL || keyfile == NULL) {
        return TN_ERROR;
    }

    if (tn_ssl_check_file(cf, certfile, "certificate") != TN_OK
        || tn_ssl_check_file(cf, keyfile, "certificate key") != TN_OK)
    {
        return TN_ERROR;
    }

    ERR_clear_error();

    if (SSL_CTX_use_certificate_chain_file(ctx, certfile) == 0) {
        tn_ssl_conf_error(cf, "cannot load certificate \"%s\"", certfile);
        return TN_ERROR;
    }

    if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) == 0) {

        /* BoringSSL checks the key against the certificate right here */

        e = ERR_peek_last_error();

        if (ERR_GET_LIB(e) == ERR_LIB_X509
            && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
        {
            tn_ssl_conf_error(cf, "certificate \"%s\" does not match "
                              "key \"%s\"", certfile, keyfile);
            return TN_ERROR;
        }

        tn_ssl_conf_error(cf, "cannot load certificate key \"%s\"",
                          keyfile);
        return TN_ERROR;
    }

    if (SSL_CTX_check_private_key(ctx) == 0) {
        tn_ssl_conf_error(cf, "certificate \"%s\" does not match key \"%s\"",
                          certfile, keyfile);
        return TN_ERROR;
    }

    return TN_OK;
}


/* a plain open() first, for a clearer message than the library's */

static tn_int_t
tn_ssl_check_file(tn_conf_t *cf, char *file, char *what)
{
    int  fd;

    fd = open(file, O_RDONLY|O_CLOEXEC);

    if (fd == -1) {
        tn_conf_log_error(TN_LOG_EMERG, cf, tn_errno,
                          "cannot open %s \"%s\"", what, file);
        return TN_ERROR;
    }

    (void) close(fd);

    return TN_OK;
}


static void
tn_ssl_conf_error(tn_conf_t *cf, const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;
    u_char    errstr[TN_MAX_CONF_ERRSTR];

    last = errstr + TN_MAX_CONF_ERRSTR;

    va_start(args, fmt);
    p = tn_vslprintf(errstr, last, fmt, args);
    va_end(args);

    p = tn_ssl_error_text(p, last);

    tn_conf_log_error(TN_LOG_EMERG, cf, 0, "%*s", (size_t) (p - errstr),
                      errstr);
}


/* SNI */


tn_int_t
tn_ssl_add_sni(tn_conf_t *cf, tn_ssl_t *ssl, tn_str_t *name, tn_str_t *cert,
    tn_str_t *key)
{
    u_char         *lname;
    SSL_CTX        *ctx;
    tn_uint_t       i;
    tn_ssl_sni_t   *sni;
    u_char          md[SHA256_DIGEST_LENGTH];

    if (name->len == 0
        || tn_ssl_host_len(name->data, name->len) != name->len)
    {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0, "invalid SNI name \"%V\"",
                          name);
        return TN_ERROR;
    }

    lname = tn_pnalloc(cf->pool, name->len);
    if (lname == NULL) {
        return TN_ERROR;
    }

    tn_strlow(lname, name->data, name->len);

    if (ssl->sni == NULL) {
        ssl->sni = tn_array_create(cf->pool, 4, sizeof(tn_ssl_sni_t));
        if (ssl->sni == NULL) {
            return TN_ERROR;
        }
    }

    sni = ssl->sni->elts;

    for (i = 0; i < ssl->sni->nelts; i++) {
        if (sni[i].name.len == name->len
            && tn_memcmp(sni[i].name.data, lname, name->len) == 0)
        {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0, "duplicate SNI name \"%V\"",
                              name);
            return TN_ERROR;
        }
    }

    ctx = tn_ssl_new_ctx(cf->log);
    if (ctx == NULL) {
        return TN_ERROR;
    }

    if (tn_ssl_add_ctx_cleanup(cf->pool, ctx) != TN_OK) {
        SSL_CTX_free(ctx);
        return TN_ERROR;
    }

    /* code holding the switched context still finds the server's data */

    if (SSL_CTX_set_ex_data(ctx, tn_ssl_server_conf_index,
                            SSL_CTX_get_ex_data(ssl->ctx,
                                                tn_ssl_server_conf_index))
        == 0)
    {
        tn_ssl_error(TN_LOG_EMERG, cf->log, 0,
                     "SSL_CTX_set_ex_data() failed");
        return TN_ERROR;
    }

    /*
     * A session context of its own per name: a session made for one
     * name (and its certificate) is not resumed under another.
     */

    SHA256(lname, name->len, md);

    if (SSL_CTX_set_session_id_context(ctx, md, SSL_MAX_SID_CTX_LENGTH) == 0)
    {
        tn_ssl_error(TN_LOG_EMERG, cf->log, 0,
                     "SSL_CTX_set_session_id_context() failed");
        return TN_ERROR;
    }

    if (tn_ssl_load_pair(cf, ctx, cert, key) != TN_OK) {
        return TN_ERROR;
    }

    sni = tn_array_push(ssl->sni);
    if (sni == NULL) {
        return TN_ERROR;
    }

    sni->name.len = name->len;
    sni->name.data = lname;
    sni->ctx = ctx;

    return TN_OK;
}


/*
 * The length of a host name made of letters, digits, '-', '.' and '_'
 * and at most TN_SSL_MAX_HOST_LEN long, looking at no more than max
 * bytes and stopping at a NUL; 0 when it is anything else (a backslash,
 * a control or 8-bit byte, too long).
 */

static size_t
tn_ssl_host_len(const u_char *name, size_t max)
{
    size_t  len;
    u_char  ch;

    for (len = 0; len < max && name[len] != '\0'; len++) {

        if (len == TN_SSL_MAX_HOST_LEN) {
            return 0;
        }

        ch = name[len];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9')
            || ch == '-' || ch == '.' || ch == '_')
        {
            continue;
        }

        return 0;
    }

    return len;
}


/*
 * Runs on every ClientHello with a server_name.  It allocates nothing:
 * the name is lowercased into a stack buffer and compared with the
 * configured names, so any number of distinct names costs no memory.
 * A name that is invalid or unknown gets the default certificate.
 */

static int
tn_ssl_servername(SSL *ssl_conn, int *ad, void *arg)
{
    size_t            len;
    tn_uint_t         i;
    tn_ssl_t         *ssl;
    const char       *host;
    tn_ssl_sni_t     *sni;
    tn_connection_t  *c;
    u_char            name[TN_SSL_MAX_HOST_LEN];

    ssl = arg;

    if (ssl == NULL || ssl->sni == NULL || ssl->sni->nelts == 0) {
        return SSL_TLSEXT_ERR_NOACK;
    }

    host = SSL_get_servername(ssl_conn, TLSEXT_NAMETYPE_host_name);
    if (host == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }

    len = tn_ssl_host_len((const u_char *) host, TN_SSL_MAX_HOST_LEN + 1);
    if (len == 0) {
        return SSL_TLSEXT_ERR_NOACK;
    }

    tn_strlow(name, (u_char *) host, len);

    sni = ssl->sni->elts;

    for (i = 0; i < ssl->sni->nelts; i++) {

        if (sni[i].name.len != len
            || tn_memcmp(sni[i].name.data, name, len) != 0)
        {
            continue;
        }

        if (SSL_set_SSL_CTX(ssl_conn, sni[i].ctx) == NULL) {
            c = SSL_get_ex_data(ssl_conn, tn_ssl_connection_index);
            tn_ssl_error(TN_LOG_CRIT, c ? c->log : ssl->log, 0,
                         "SSL_set_SSL_CTX() failed");
            *ad = SSL_AD_INTERNAL_ERROR;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }

        return SSL_TLSEXT_ERR_OK;
    }

    return SSL_TLSEXT_ERR_NOACK;
}


tn_int_t
tn_ssl_session_cache(tn_ssl_t *ssl, time_t timeout)
{
    uint32_t  t;

    if (timeout <= 0) {
        SSL_CTX_set_session_cache_mode(ssl->ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ssl->ctx, SSL_OP_NO_TICKET);
        return TN_OK;
    }

    t = (timeout > (time_t) UINT32_MAX) ? UINT32_MAX : (uint32_t) timeout;

    /*
     * Two ways to resume, both per worker process: the internal cache of
     * TLS 1.2 session IDs, bounded in size, and tickets (TLS 1.2 and
     * 1.3).  The ticket keys are made and rotated by the library inside
     * each process, so a ticket issued by one worker is not accepted by
     * another and the client just does a full handshake there.
     */

    SSL_CTX_set_session_cache_mode(ssl->ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ssl->ctx, TN_SSL_SESSION_CACHE_SIZE);
    SSL_CTX_clear_options(ssl->ctx, SSL_OP_NO_TICKET);

    SSL_CTX_set_timeout(ssl->ctx, t);
#if (defined OPENSSL_IS_BORINGSSL)
    SSL_CTX_set_session_psk_dhe_timeout(ssl->ctx, t);
#endif

    return TN_OK;
}


/* connections */


tn_int_t
tn_ssl_create_connection(tn_ssl_t *ssl, tn_connection_t *c, tn_uint_t flags)
{
    tn_pool_cleanup_t    *cln;
    tn_ssl_connection_t  *sc;

    sc = tn_pcalloc(c->pool, sizeof(tn_ssl_connection_t));
    if (sc == NULL) {
        return TN_ERROR;
    }

    cln = tn_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        return TN_ERROR;
    }

    sc->buffer = ((flags & TN_SSL_BUFFER) != 0);
    sc->session_ctx = ssl->ctx;

    sc->connection = SSL_new(ssl->ctx);
    if (sc->connection == NULL) {
        tn_ssl_error(TN_LOG_CRIT, c->log, 0, "SSL_new() failed");
        return TN_ERROR;
    }

    /* frees the SSL if the connection closes without tn_ssl_shutdown() */

    cln->handler = tn_ssl_cleanup_connection;
    cln->data = sc;

    if (SSL_set_fd(sc->connection, c->fd) == 0) {
        tn_ssl_error(TN_LOG_CRIT, c->log, 0, "SSL_set_fd() failed");
        return TN_ERROR;
    }

    if (flags & TN_SSL_CLIENT) {
        SSL_set_connect_state(sc->connection);
#if (defined OPENSSL_IS_BORINGSSL)
        SSL_set_renegotiate_mode(sc->connection, ssl_renegotiate_never);
#endif

    } else {
        SSL_set_accept_state(sc->connection);
    }

    if (SSL_set_ex_data(sc->connection, tn_ssl_connection_index, c) == 0) {
        tn_ssl_error(TN_LOG_CRIT, c->log, 0, "SSL_set_ex_data() failed");
        return TN_ERROR;
    }

    c->ssl = sc;

    return TN_OK;
}


static void
tn_ssl_cleanup_connection(void *data)
{
    tn_ssl_connection_t  *sc = data;

    if (sc->connection) {
        SSL_free(sc->connection);
        sc->connection = NULL;
    }
}


tn_int_t
tn_ssl_handshake(tn_connection_t *c)
{
    int       n, sslerr;
    tn_err_t  err;

    tn_ssl_clear_error(c->log);
    tn_set_socket_errno(0);

    n = SSL_do_handshake(c->ssl->connection);

    tn_log_debug1(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_do_handshake: %d", n);

    if (n == 1) {
        c->ssl->handshaked = 1;

        c->recv = tn_ssl_recv;
        c->send = tn_ssl_write;

        /*
         * The client may have sent data right behind its Finished and the
         * library may hold it already: no edge will announce it.
         */

        c->read->ready = 1;
        c->write->ready = 1;

        tn_log_debug2(TN_LOG_DEBUG_TLS, c->log, 0, "SSL: %s, cipher: \"%s\"",
                      tn_ssl_get_protocol(c), tn_ssl_get_cipher_name(c));

        return TN_OK;
    }

    sslerr = SSL_get_error(c->ssl->connection, n);

    tn_log_debug1(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_get_error: %d", sslerr);

    if (sslerr == SSL_ERROR_WANT_READ || sslerr == SSL_ERROR_WANT_WRITE) {

        if (sslerr == SSL_ERROR_WANT_READ) {
            c->read->ready = 0;

        } else {
            c->write->ready = 0;
        }

        c->read->handler = tn_ssl_handshake_handler;
        c->write->handler = tn_ssl_handshake_handler;

        return TN_AGAIN;
    }

    err = (sslerr == SSL_ERROR_SYSCALL) ? tn_socket_errno : 0;

    c->ssl->no_wait_shutdown = 1;
    c->ssl->no_send_shutdown = 1;
    c->read->eof = 1;

    if (err == 0
        && (sslerr == SSL_ERROR_ZERO_RETURN || ERR_peek_error() == 0))
    {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "peer closed connection in SSL handshake");
        return TN_ERROR;
    }

    c->read->error = 1;

    if (sslerr == SSL_ERROR_SSL
        && !tn_ssl_error_is_fatal(ERR_peek_error())
        && !tn_ssl_error_is_fatal(ERR_peek_last_error()))
    {
        c->ssl->handshake_rejected = 1;
    }

    tn_ssl_connection_error(c, sslerr, err, "SSL_do_handshake() failed");

    return TN_ERROR;
}


/*
 * Installed on both events while the handshake waits for the socket.
 * SSL_do_handshake() goes on until the socket would block, so one call
 * per edge is enough.  The caller's timer on c->read ends a stalled
 * handshake: c->ssl->handler runs with handshaked still 0.
 */

static void
tn_ssl_handshake_handler(tn_event_t *ev)
{
    tn_connection_t  *c;

    c = ev->data;

    tn_log_debug1(TN_LOG_DEBUG_TLS, c->log, 0, "SSL handshake handler: %d",
                  (int) ev->write);

    if (ev->timedout) {
        c->timedout = 1;

    } else if (tn_ssl_handshake(c) == TN_AGAIN) {
        return;
    }

    /*
     * A stray event before c->ssl->handler installs its own handlers must
     * not run the handshake (and the callback) a second time.
     */

    c->read->handler = tn_ssl_empty_handler;
    c->write->handler = tn_ssl_empty_handler;

    c->ssl->handler(c);
}


static void
tn_ssl_empty_handler(tn_event_t *ev)
{
    tn_log_debug0(TN_LOG_DEBUG_TLS, ev->log, 0, "SSL empty handler");
}


ssize_t
tn_ssl_recv(tn_connection_t *c, u_char *buf, size_t size)
{
    int      n;
    ssize_t  bytes;

    /* the end of the stream is final: nothing is read after it */

    if (c->ssl->last == TN_ERROR) {
        c->read->ready = 0;
        c->read->error = 1;
        return TN_ERROR;
    }

    if (c->ssl->last == TN_DONE) {
        c->read->ready = 0;
        c->read->eof = 1;
        return 0;
    }

    if (size == 0) {
        return 0;
    }

    if (size > INT_MAX) {
        size = INT_MAX;
    }

    bytes = 0;

    tn_ssl_clear_error(c->log);

    /* one SSL_read() gives at most one record: go on until size or EAGAIN */

    for ( ;; ) {

        /* a recv() that returns 0 leaves an old errno in place */
        tn_set_socket_errno(0);

        n = SSL_read(c->ssl->connection, buf, (int) size);

        tn_log_debug1(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_read: %d", n);

        if (n > 0) {
            bytes += n;
        }

        c->ssl->last = tn_ssl_handle_recv(c, n);

        if (c->ssl->last == TN_OK) {

            size -= n;

            if (size == 0) {
                /* more may be buffered in the library or the socket */
                c->read->ready = 1;
                return bytes;
            }

            buf += n;

            continue;
        }

        if (bytes) {

            /*
             * Return what was read; an end of stream or an error is kept
             * in c->ssl->last and reported by the next call.
             */

            if (c->ssl->last != TN_AGAIN) {
                c->read->ready = 1;
            }

            return bytes;
        }

        switch (c->ssl->last) {

        case TN_DONE:
            c->read->ready = 0;
            c->read->eof = 1;
            return 0;

        case TN_ERROR:
            c->read->ready = 0;
            c->read->error = 1;
            return TN_ERROR;

        default: /* TN_AGAIN */
            return TN_AGAIN;
        }
    }
}


static tn_int_t
tn_ssl_handle_recv(tn_connection_t *c, int n)
{
    int       sslerr;
    tn_err_t  err;

    if (n > 0) {

        if (c->ssl->saved_write_handler) {

            /* a write that waited for this read may go on */

            c->write->handler = c->ssl->saved_write_handler;
            c->ssl->saved_write_handler = NULL;
            c->write->ready = 1;

            tn_post_event(c->write, &tn_posted_events);
        }

        return TN_OK;
    }

    sslerr = SSL_get_error(c->ssl->connection, n);

    err = (sslerr == SSL_ERROR_SYSCALL) ? tn_socket_errno : 0;

    tn_log_debug1(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_get_error: %d", sslerr);

    if (sslerr == SSL_ERROR_WANT_READ) {

        if (c->ssl->saved_write_handler) {

            c->write->handler = c->ssl->saved_write_handler;
            c->ssl->saved_write_handler = NULL;
            c->write->ready = 1;

            tn_post_event(c->write, &tn_posted_events);
        }

        c->read->ready = 0;

        return TN_AGAIN;
    }

    if (sslerr == SSL_ERROR_WANT_WRITE) {

        /*
         * The library must write (a KeyUpdate answer) before it reads on:
         * the next edge on the write side resumes the reader.
         */

        tn_log_debug0(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_read: want write");

        c->write->ready = 0;

        if (c->ssl->saved_write_handler == NULL) {
            c->ssl->saved_write_handler = c->write->handler;
            c->write->handler = tn_ssl_write_handler;
        }

        return TN_AGAIN;
    }

    c->ssl->no_wait_shutdown = 1;
    c->ssl->no_send_shutdown = 1;

    if (sslerr == SSL_ERROR_ZERO_RETURN
        || (sslerr == SSL_ERROR_SYSCALL && err == 0
            && ERR_peek_error() == 0))
    {
        /* close_notify, or EOF (a truncation the caller must not trust) */

        tn_log_debug0(TN_LOG_DEBUG_TLS, c->log, 0, "peer shutdown SSL");

        ERR_clear_error();

        return TN_DONE;
    }

    tn_ssl_connection_error(c, sslerr, err, "SSL_read() failed");

    return TN_ERROR;
}


static void
tn_ssl_write_handler(tn_event_t *wev)
{
    tn_connection_t  *c;

    c = wev->data;

    tn_log_debug0(TN_LOG_DEBUG_TLS, c->log, 0, "SSL write handler");

    c->read->handler(c->read);
}


ssize_t
tn_ssl_write(tn_connection_t *c, u_char *data, size_t size)
{
    int       n, sslerr;
    tn_err_t  err;

    if (size == 0) {
        return 0;
    }

    if (size > INT_MAX) {
        size = INT_MAX;
    }

    tn_ssl_clear_error(c->log);
    tn_set_socket_errno(0);

    n = SSL_write(c->ssl->connection, data, (int) size);

    tn_log_debug2(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_write: %uz, %d",
                  size, n);

    if (n > 0) {

        if (c->ssl->saved_read_handler) {

            c->read->handler = c->ssl->saved_read_handler;
            c->ssl->saved_read_handler = NULL;
            c->read->ready = 1;

            tn_post_event(c->read, &tn_posted_events);
        }

        c->sent += n;

        return n;
    }

    sslerr = SSL_get_error(c->ssl->connection, n);

    err = (sslerr == SSL_ERROR_SYSCALL) ? tn_socket_errno : 0;

    tn_log_debug1(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_get_error: %d", sslerr);

    if (sslerr == SSL_ERROR_WANT_WRITE) {

        if (c->ssl->saved_read_handler) {

            c->read->handler = c->ssl->saved_read_handler;
            c->ssl->saved_read_handler = NULL;
            c->read->ready = 1;

            tn_post_event(c->read, &tn_posted_events);
        }

        c->write->ready = 0;

        return TN_AGAIN;
    }

    if (sslerr == SSL_ERROR_WANT_READ) {

        tn_log_debug0(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_write: want read");

        c->read->ready = 0;

        if (c->ssl->saved_read_handler == NULL) {
            c->ssl->saved_read_handler = c->read->handler;
            c->read->handler = tn_ssl_read_handler;
        }

        return TN_AGAIN;
    }

    c->ssl->no_wait_shutdown = 1;
    c->ssl->no_send_shutdown = 1;
    c->write->error = 1;

    if (sslerr == SSL_ERROR_ZERO_RETURN) {
        /* the peer's close_notify ended the stream under the write */
        sslerr = SSL_ERROR_SYSCALL;
    }

    tn_ssl_connection_error(c, sslerr, err, "SSL_write() failed");

    return TN_ERROR;
}


static void
tn_ssl_read_handler(tn_event_t *rev)
{
    tn_connection_t  *c;

    c = rev->data;

    tn_log_debug0(TN_LOG_DEBUG_TLS, c->log, 0, "SSL read handler");

    c->write->handler(c->write);
}


/*
 * One SSL_shutdown() without waiting for the peer's close_notify: mail
 * sessions end with QUIT and the socket is closed right after.  Nothing
 * is sent after a fatal error, a timeout or before the handshake ended.
 */

tn_int_t
tn_ssl_shutdown(tn_connection_t *c)
{
    int                   n, sslerr;
    tn_ssl_connection_t  *sc;

    sc = c->ssl;

    if (sc == NULL) {
        return TN_OK;
    }

    if (sc->connection == NULL) {
        goto done;
    }

    if (SSL_in_init(sc->connection)
        || sc->no_send_shutdown
        || c->timedout
        || c->error
        || c->write->error)
    {
        SSL_set_quiet_shutdown(sc->connection, 1);
        goto release;
    }

    tn_ssl_clear_error(c->log);

    n = SSL_shutdown(sc->connection);

    tn_log_debug1(TN_LOG_DEBUG_TLS, c->log, 0, "SSL_shutdown: %d", n);

    if (n < 0) {
        sslerr = SSL_get_error(sc->connection, n);

        /* a full socket buffer just loses the alert */

        if (sslerr != SSL_ERROR_WANT_READ && sslerr != SSL_ERROR_WANT_WRITE
            && ERR_peek_error() != 0)
        {
            tn_ssl_error(TN_LOG_INFO, c->log, 0, "SSL_shutdown() failed");
        }

        ERR_clear_error();
    }

release:

    SSL_free(sc->connection);
    sc->connection = NULL;

done:

    if (sc->saved_read_handler) {
        c->read->handler = sc->saved_read_handler;
        sc->saved_read_handler = NULL;
    }

    if (sc->saved_write_handler) {
        c->write->handler = sc->saved_write_handler;
        sc->saved_write_handler = NULL;
    }

    c->ssl = NULL;
    c->recv = tn_unix_recv;
    c->send = tn_unix_send;

    return TN_OK;
}



const char *
tn_ssl_get_protocol(tn_connection_t *c)
{
    if (c->ssl == NULL || c->ssl->connection == NULL) {
        return "";
    }

    return SSL_get_version(c->ssl->connection);
}


const char *
tn_ssl_get_cipher_name(tn_connection_t *c)
{
    const SSL_CIPHER  *cipher;

    if (c->ssl == NULL || c->ssl->connection == NULL) {
        return "";
    }

    cipher = SSL_get_current_cipher(c->ssl->connection);
    if (cipher == NULL) {
        return "";
    }

    return SSL_CIPHER_get_name(cipher);
}


/* only a well-formed host name is returned: the value is client data */

const char *
tn_ssl_get_server_name(tn_connection_t *c)
{
    const char  *host;

    if (c->ssl == NULL || c->ssl->connection == NULL) {
        return NULL;
    }

    host = SSL_get_servername(c->ssl->connection, TLSEXT_NAMETYPE_host_name);

    if (host == NULL
        || tn_ssl_host_len((const u_char *) host, TN_SSL_MAX_HOST_LEN + 1)
           == 0)
    {
        return NULL;
    }

    return host;
}


/* errors */


static void
tn_ssl_connection_error(tn_connection_t *c, int sslerr, tn_err_t err,
    char *text)
{
    tn_uint_t  level;

    if (sslerr == SSL_ERROR_SYSCALL) {

        if (err == TN_ECONNRESET
            || err == TN_EPIPE
            || err == TN_ENOTCONN
            || err == TN_ETIMEDOUT
            || err == TN_ECONNREFUSED
            || err == ENETDOWN
            || err == ENETUNREACH
            || err == EHOSTDOWN
            || err == EHOSTUNREACH
            || err == 0)
        {
            level = TN_LOG_INFO;

        } else {
            level = TN_LOG_ERR;
        }

    } else if (sslerr == SSL_ERROR_SSL) {

        /*
         * Bad records, alerts, versions or ciphers the peer sent are its
         * business; only the library's own failures are ours.
         */

        if (tn_ssl_error_is_fatal(ERR_peek_error())
            || tn_ssl_error_is_fatal(ERR_peek_last_error()))
        {
            level = TN_LOG_CRIT;

        } else {
            level = TN_LOG_INFO;
        }

    } else {
        level = TN_LOG_ERR;
    }

    tn_ssl_error(level, c->log, err, "%s", text);
}


/* malloc failure, internal error, overflow and the like */

static tn_uint_t
tn_ssl_error_is_fatal(uint32_t e)
{
    int  reason;

    if (e == 0) {
        return 0;
    }

    reason = ERR_GET_REASON(e);

    return (reason == ERR_R_MALLOC_FAILURE
            || reason == ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED
            || reason == ERR_R_PASSED_NULL_PARAMETER
            || reason == ERR_R_INTERNAL_ERROR
#ifdef ERR_R_OVERFLOW
            || reason == ERR_R_OVERFLOW
#endif
            );
}


static void
tn_ssl_clear_error(tn_log_t *log)
{
    /* left over by some other use of the library; a bug, but not fatal */

    if (ERR_peek_error()) {
        tn_ssl_error(TN_LOG_ERR, log, 0, "ignoring stale global SSL error");
    }

    ERR_clear_error();
}


void
tn_ssl_error(tn_uint_t level, tn_log_t *log, tn_err_t err, char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;
    u_char    errstr[TN_MAX_CONF_ERRSTR];

    if (log->log_level < level) {
        ERR_clear_error();
        return;
    }

    last = errstr + TN_MAX_CONF_ERRSTR;

    va_start(args, fmt);
    p = tn_vslprintf(errstr, last, fmt, args);
    va_end(args);

    p = tn_ssl_error_text(p, last);

    tn_log_error(level, log, err, "%*s", (size_t) (p - errstr), errstr);
}


/* appends " (SSL: e1 e2 ...)" for the queued errors and empties the queue */

static u_char *
tn_ssl_error_text(u_char *p, u_char *last)
{
    int             flags, line;
    tn_uint_t       first;
    const char     *data, *file;
    unsigned long   n;
    char            buf[256];

    first = 1;

    for ( ;; ) {
#if (!defined OPENSSL_IS_BORINGSSL && OPENSSL_VERSION_NUMBER >= 0x30000000L)
        n = ERR_get_error_all(&file, &line, NULL, &data, &flags);
#else
        n = ERR_get_error_line_data(&file, &line, &data, &flags);
#endif

        if (n == 0) {
            break;
        }

        ERR_error_string_n(n, buf, sizeof(buf));

        p = tn_slprintf(p, last, "%s%s", first ? " (SSL: " : " ", buf);

        if ((flags & ERR_TXT_STRING) && data && *data) {
            p = tn_slprintf(p, last, ":%s", data);
        }

        first = 0;
    }

    if (!first) {
        p = tn_slprintf(p, last, ")");
    }

    ERR_clear_error();

    return p;
}


/* a self-signed certificate for a first start */


tn_int_t
tn_ssl_generate_self_signed(tn_log_t *log, tn_str_t *cert, tn_str_t *key,
    tn_str_t *cn)
{
    X509      *x509;
    tn_int_t   rc;
    EVP_PKEY  *pkey;
    char       certfile[TN_SSL_PATH_MAX], keyfile[TN_SSL_PATH_MAX];

    if (tn_ssl_copy_path(log, cert, certfile) != TN_OK
        || tn_ssl_copy_path(log, key, keyfile) != TN_OK)
    {
        return TN_ERROR;
    }

    /* a DNS name fits a subjectAltName; 64 is the limit of a CN */

    if (cn->len == 0 || cn->len > 64
        || tn_ssl_host_len(cn->data, cn->len) != cn->len)
    {
        tn_log_error(TN_LOG_ERR, log, 0,
                     "invalid host name \"%V\" for a self-signed "
                     "certificate", cn);
        return TN_ERROR;
    }

    ERR_clear_error();

    pkey = tn_ssl_generate_key(log);
    if (pkey == NULL) {
        return TN_ERROR;
    }

    x509 = tn_ssl_make_cert(log, pkey, cn);
    if (x509 == NULL) {
        EVP_PKEY_free(pkey);
        return TN_ERROR;
    }

    /* the caller logs the success */

    rc = tn_ssl_write_pair(log, certfile, keyfile, x509, pkey);

    X509_free(x509);
    EVP_PKEY_free(pkey);

    return rc;
}


static EVP_PKEY *
tn_ssl_generate_key(tn_log_t *log)
{
    EVP_PKEY      *pkey;
    EVP_PKEY_CTX  *pctx;

    pkey = NULL;

    pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    if (pctx == NULL) {
        tn_ssl_error(TN_LOG_CRIT, log, 0, "EVP_PKEY_CTX_new_id() failed");
        return NULL;
    }

    if (EVP_PKEY_keygen_init(pctx) <= 0
        || EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pctx, NID_X9_62_prime256v1)
           <= 0
        || EVP_PKEY_keygen(pctx, &pkey) <= 0)
    {
        tn_ssl_error(TN_LOG_CRIT, log, 0, "P-256 key generation failed");
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }

    EVP_PKEY_CTX_free(pctx);

    return pkey;
}


static X509 *
tn_ssl_make_cert(tn_log_t *log, EVP_PKEY *pkey, tn_str_t *cn)
{
    X509        *x509;
    BIGNUM      *bn;
    time_t       now;
    X509_NAME   *name;
    X509V3_CTX   ctx;
    u_char       serial[16];

    x509 = X509_new();
    if (x509 == NULL) {
        goto failed;
    }

    if (X509_set_version(x509, X509_VERSION_3) == 0) {
        goto failed;
    }

    /* 127 random bits, positive and never zero (RFC 5280 4.1.2.2) */

    if (RAND_bytes(serial, sizeof(serial)) != 1) {
        goto failed;
    }

    serial[0] = (serial[0] & 0x7f) | 0x40;

    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL) {
        goto failed;
    }

    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509)) == NULL) {
        BN_free(bn);
        goto failed;
    }

    BN_free(bn);

    now = time(NULL);

    if (X509_time_adj_ex(X509_getm_notBefore(x509), 0, -TN_SSL_CERT_BACKDATE,
                         &now)
        == NULL
        || X509_time_adj_ex(X509_getm_notAfter(x509), TN_SSL_CERT_DAYS, 0,
                            &now)
           == NULL)
    {
        goto failed;
    }

    name = X509_get_subject_name(x509);

    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
                                   cn->data, (int) cn->len, -1, 0)
        == 0)
    {
        goto failed;
    }

    if (X509_set_issuer_name(x509, name) == 0
        || X509_set_pubkey(x509, pkey) == 0)
    {
        goto failed;
    }

    X509V3_set_ctx(&ctx, x509, x509, NULL, NULL, 0);

    if (tn_ssl_add_ext(x509, &ctx, NID_basic_constraints, "critical,CA:FALSE")
        != TN_OK
        || tn_ssl_add_ext(x509, &ctx, NID_key_usage,
                          "critical,digitalSignature")
           != TN_OK
        || tn_ssl_add_ext(x509, &ctx, NID_ext_key_usage, "serverAuth")
           != TN_OK
        || tn_ssl_add_ext(x509, &ctx, NID_subject_key_identifier, "hash")
           != TN_OK
        || tn_ssl_add_san(x509, cn) != TN_OK)
    {
        goto failed;
    }

    if (X509_sign(x509, pkey, EVP_sha256()) == 0) {
        goto failed;
    }

    return x509;

failed:

    tn_ssl_error(TN_LOG_CRIT, log, 0, "cannot make a certificate for \"%V\"",
                 cn);

    if (x509) {
        X509_free(x509);
    }

    return NULL;
}


static tn_int_t
tn_ssl_add_ext(X509 *x509, X509V3_CTX *ctx, int nid, char *value)
{
    tn_int_t         rc;
    X509_EXTENSION  *ext;

    ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (ext == NULL) {
        return TN_ERROR;
    }

    rc = (X509_add_ext(x509, ext, -1) == 1) ? TN_OK : TN_ERROR;

    X509_EXTENSION_free(ext);

    return rc;
}


/*
 * Built by hand rather than from a "DNS:..." string, whose parser gives
 * commas a meaning.
 */

static tn_int_t
tn_ssl_add_san(X509 *x509, tn_str_t *cn)
{
    tn_int_t          rc;
    GENERAL_NAME     *gen;
    ASN1_IA5STRING   *ia5;
    GENERAL_NAMES    *gens;

    gens = sk_GENERAL_NAME_new_null();
    if (gens == NULL) {
        return TN_ERROR;
    }

    rc = TN_ERROR;

    gen = GENERAL_NAME_new();
    if (gen == NULL) {
        goto done;
    }

    ia5 = ASN1_IA5STRING_new();
    if (ia5 == NULL) {
        GENERAL_NAME_free(gen);
        goto done;
    }

    if (ASN1_STRING_set(ia5, cn->data, (int) cn->len) == 0) {
        ASN1_IA5STRING_free(ia5);
        GENERAL_NAME_free(gen);
        goto done;
    }

    GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);

    if (sk_GENERAL_NAME_push(gens, gen) == 0) {
        GENERAL_NAME_free(gen);
        goto done;
    }

    if (X509_add1_ext_i2d(x509, NID_subject_alt_name, gens, 0,
                          X509V3_ADD_DEFAULT)
        == 1)
    {
        rc = TN_OK;
    }

done:

    GENERAL_NAMES_free(gens);

    return rc;
}


/*
 * Both files are created with O_EXCL, the key first and with mode 0600
 * from the start, so an existing file (or a symlink planted in its place)
 * is never written through; if the second file cannot be made, the first
 * is removed again.
 */

static tn_int_t
tn_ssl_write_pair(tn_log_t *log, char *certfile, char *keyfile, X509 *x509,
    EVP_PKEY *pkey)
{
    int        kfd, cfd;
    BIO       *kbio, *cbio;
    long       len;
    char      *data;
    tn_err_t   err;
    tn_int_t   rc;

    rc = TN_ERROR;
    kfd = -1;
    cfd = -1;

    kbio = BIO_new(BIO_s_mem());
    cbio = BIO_new(BIO_s_mem());

    if (kbio == NULL || cbio == NULL
        || PEM_write_bio_PrivateKey(kbio, pkey, NULL, NULL, 0, NULL, NULL)
           == 0
        || PEM_write_bio_X509(cbio, x509) == 0)
    {
        tn_ssl_error(TN_LOG_CRIT, log, 0, "PEM encoding failed");
        goto done;
    }

    if (tn_ssl_create_parent(log, keyfile) != TN_OK
        || tn_ssl_create_parent(log, certfile) != TN_OK)
    {
        goto done;
    }

    kfd = open(keyfile, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600);

    if (kfd == -1) {
        err = tn_errno;
        tn_log_error(TN_LOG_ERR, log, err,
                     (err == TN_EEXIST) ? "refusing to overwrite \"%s\""
                                        : "open(\"%s\") failed",
                     keyfile);
        goto done;
    }

    cfd = open(certfile, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0644);

    if (cfd == -1) {
        err = tn_errno;
        tn_log_error(TN_LOG_ERR, log, err,
                     (err == TN_EEXIST) ? "refusing to overwrite \"%s\""
                                        : "open(\"%s\") failed",
                     certfile);

        (void) close(kfd);
        kfd = -1;
        (void) unlink(keyfile);
        goto done;
    }

    /* tn_ssl_write_file() closes the descriptor in any case */

    rc = tn_ssl_write_file(log, kfd, keyfile, kbio, 0600);
    kfd = -1;

    if (rc == TN_OK) {
        rc = tn_ssl_write_file(log, cfd, certfile, cbio, 0644);
        cfd = -1;
    }

    if (rc != TN_OK) {
        (void) unlink(keyfile);
        (void) unlink(certfile);
        goto done;
    }

    (void) tn_ssl_sync_parent(keyfile);
    (void) tn_ssl_sync_parent(certfile);

done:

    if (kfd != -1) {
        (void) close(kfd);
    }

    if (cfd != -1) {
        (void) close(cfd);
    }

    if (kbio) {
        /* the PEM text of the key is a secret */
        len = BIO_get_mem_data(kbio, &data);

        if (len > 0) {
            OPENSSL_cleanse(data, len);
        }

        BIO_free(kbio);
    }

    if (cbio) {
        BIO_free(cbio);
    }

    return rc;
}


/* mkdir -p of the directory part of file, if there is one */

static tn_int_t
tn_ssl_create_parent(tn_log_t *log, char *file)
{
    char  *slash;

    slash = strrchr(file, '/');

    if (slash == NULL || slash == file) {
        return TN_OK;
    }

    *slash = '\0';

    if (tn_create_full_path((u_char *) file, 0755) != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "cannot create directory \"%s\"", file);
        *slash = '/';
        return TN_ERROR;
    }

    *slash = '/';

    return TN_OK;
}


/* makes the new directory entry durable; best effort */

static tn_int_t
tn_ssl_sync_parent(char *file)
{
    char      *slash;
    tn_int_t   rc;

    slash = strrchr(file, '/');

    if (slash == NULL) {
        return tn_fsync_dir(".");
    }

    if (slash == file) {
        return tn_fsync_dir("/");
    }

    *slash = '\0';
    rc = tn_fsync_dir(file);
    *slash = '/';

    return rc;
}


/* writes, syncs and closes fd (always closed, even on failure) */

static tn_int_t
tn_ssl_write_file(tn_log_t *log, int fd, char *file, BIO *bio, mode_t mode)
{
    long   len;
    char  *data;

    len = BIO_get_mem_data(bio, &data);

    if (len <= 0) {
        tn_ssl_error(TN_LOG_CRIT, log, 0, "BIO_get_mem_data() failed");
        (void) close(fd);
        return TN_ERROR;
    }

    /* the umask may have taken bits off; the modes are part of the contract */

    if (fchmod(fd, mode) == -1
        || tn_write_fd(fd, data, len) != (ssize_t) len
        || fsync(fd) == -1)
    {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "cannot write \"%s\"", file);
        (void) close(fd);
        return TN_ERROR;
    }

    if (close(fd) == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "close(\"%s\") failed", file);
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_ssl_copy_path(tn_log_t *log, tn_str_t *path, char *buf)
{
    if (path->len == 0 || path->len >= TN_SSL_PATH_MAX
        || tn_strlchr(path->data, path->data + path->len, '\0') != NULL)
    {
        tn_log_error(TN_LOG_ERR, log, 0, "invalid path \"%V\"", path);
        return TN_ERROR;
    }

    tn_memcpy(buf, path->data, path->len);
    buf[path->len] = '\0';

    return TN_OK;
}
