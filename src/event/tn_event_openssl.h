
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_EVENT_OPENSSL_H_INCLUDED_
#define _TN_EVENT_OPENSSL_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>


/* one SNI entry: a server name and its own context */
typedef struct {
    tn_str_t             name;          /* lowercased */
    SSL_CTX             *ctx;
} tn_ssl_sni_t;


struct tn_ssl_s {
    SSL_CTX             *ctx;
    tn_log_t            *log;
    size_t               buffer_size;
    tn_array_t          *sni;           /* of tn_ssl_sni_t, or NULL */
};


struct tn_ssl_connection_s {
    SSL                 *connection;
    SSL_CTX             *session_ctx;

    tn_int_t             last;

    /* called once the handshake ends, with c->ssl->handshaked set or not */
    tn_connection_handler_pt  handler;

    tn_event_handler_pt  saved_read_handler;
    tn_event_handler_pt  saved_write_handler;

    unsigned             handshaked:1;
    unsigned             handshake_rejected:1;
    unsigned             renegotiation:1;
    unsigned             buffer:1;
    unsigned             no_wait_shutdown:1;
    unsigned             no_send_shutdown:1;
    unsigned             shutdown_without_free:1;
    unsigned             handshake_buffer_set:1;
    unsigned             in_early:1;
};


#define TN_SSL_BUFFER    1
#define TN_SSL_CLIENT    2

#define TN_SSL_BUFSIZE   16384


/* process-wide library setup; once in main() */
tn_int_t tn_ssl_init(tn_log_t *log);

/*
 * A server (or client) context allowing TLS 1.2 and 1.3 only, with
 * X25519 and P-256 key exchange, server cipher preference and session
 * tickets; data is stored as the context's ex_data.  The context is freed
 * by a cleanup in cf->pool.  ssl itself is the SNI callback's argument:
 * it must live as long as cf->pool.
 */
tn_int_t tn_ssl_create(tn_conf_t *cf, tn_ssl_t *ssl, void *data);

/* loads a PEM certificate chain and key into ssl->ctx */
tn_int_t tn_ssl_certificate(tn_conf_t *cf, tn_ssl_t *ssl, tn_str_t *cert,
    tn_str_t *key);

/*
 * Adds an SNI name with its own certificate; a ClientHello naming it
 * (compared without case) gets that certificate, any other name the
 * default one.  Names are host names of at most 255 bytes.
 */
tn_int_t tn_ssl_add_sni(tn_conf_t *cf, tn_ssl_t *ssl, tn_str_t *name,
    tn_str_t *cert, tn_str_t *key);

/* enables session resumption (tickets and an internal cache) */
tn_int_t tn_ssl_session_cache(tn_ssl_t *ssl, time_t timeout);

/*
 * Writes a self-signed ECDSA P-256 certificate for cn (valid 10 years)
 * and its key (mode 0600), creating the directories.  TN_ERROR, with
 * nothing written, if either file exists already.
 */
tn_int_t tn_ssl_generate_self_signed(tn_log_t *log, tn_str_t *cert,
    tn_str_t *key, tn_str_t *cn);

/* attaches an SSL object to c; c->recv/send switch at handshake end */
tn_int_t tn_ssl_create_connection(tn_ssl_t *ssl, tn_connection_t *c,
    tn_uint_t flags);

/*
 * Drives the handshake.  TN_OK: done (c->recv/send are now TLS);
 * TN_AGAIN: waiting for the socket (c->ssl->handler is called at the
 * end, with c->ssl->handshaked telling the outcome); TN_ERROR: failed.
 * Renegotiation is refused.
 *
 * Call it at once after tn_ssl_create_connection(): the ClientHello may
 * be in the socket already, and the edge-triggered loop will not say so
 * again.  The caller sets (and later deletes) the handshake timer on
 * c->read; when it fires, c->ssl->handler runs with handshaked 0.  Before
 * c->ssl->handler runs, both event handlers become no-ops; it installs
 * its own.  On success c->read->ready and c->write->ready are set: data
 * may already sit inside the TLS layer, so read before waiting for an
 * event.  BoringSSL sends TLS 1.3 session tickets with the first
 * tn_ssl_write().
 */
tn_int_t tn_ssl_handshake(tn_connection_t *c);

/*
 * As tn_unix_recv(): bytes, 0 on close_notify or EOF, TN_AGAIN (ready
 * cleared) or TN_ERROR (error set).  After 0 or TN_ERROR every later call
 * returns the same without reading.  A full buffer leaves ready set.
 */
ssize_t tn_ssl_recv(tn_connection_t *c, u_char *buf, size_t size);

/*
 * As tn_unix_send(); writes may be partial.  After TN_AGAIN, retry with
 * the same bytes first (the buffer may move).
 */
ssize_t tn_ssl_write(tn_connection_t *c, u_char *data, size_t size);

/*
 * Sends close_notify once without waiting for the peer's (nothing after
 * an error, a timeout or an unfinished handshake), frees the SSL, sets
 * c->ssl to NULL and restores tn_unix_recv/tn_unix_send; returns TN_OK.
 * A connection closed without it has the SSL freed with c->pool.
 */
tn_int_t tn_ssl_shutdown(tn_connection_t *c);

/* "TLSv1.3", "TLS_AES_128_GCM_SHA256"; static strings */
const char *tn_ssl_get_protocol(tn_connection_t *c);
const char *tn_ssl_get_cipher_name(tn_connection_t *c);
/* the SNI name the client sent if it is a well-formed host name, or NULL */
const char *tn_ssl_get_server_name(tn_connection_t *c);

void tn_ssl_error(tn_uint_t level, tn_log_t *log, tn_err_t err,
    char *fmt, ...);


extern int  tn_ssl_connection_index;
extern int  tn_ssl_server_conf_index;


#endif /* _TN_EVENT_OPENSSL_H_INCLUDED_ */
