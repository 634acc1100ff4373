
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_CHECK_H_INCLUDED_
#define _TN_MAIL_CHECK_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>


/*
 * Message checks: the hooks by which modules (SPF, DKIM, DMARC, later
 * spam scoring and Lua) take part in an SMTP transaction.
 *
 * A module registers one tn_mail_check_t with tn_mail_check_register()
 * from its init_module (or postconfiguration) hook; checks run in the
 * order they were registered, which is the order of tn_modules[].  For
 * every transaction the SMTP session makes one tn_mail_msg_t (in the
 * transaction's pool) and calls, for every registered check:
 *
 *   mail(msg)          after MAIL FROM was accepted: the envelope sender,
 *                      HELO, client address are known.  May start DNS
 *                      lookups (SPF runs here, in parallel with RCPT and
 *                      DATA).
 *   header(msg, f)     for each header field of the message as it streams
 *                      in (our own Received is not shown), in order,
 *                      raw: "Name: value\n" with its folded lines, LF
 *                      line ends (each LF is a CRLF on the wire).
 *   header_end(msg)    after the last header field (also when the message
 *                      has no body).
 *   body(msg, p, len)  body bytes as they stream in (after the empty line
 *                      that ends the header), LF line ends, dot-unstuffed.
 *   end(msg)           the message is complete and the spool file
 *                      written.  Returns TN_OK when the check is done, or
 *                      TN_AGAIN when it waits (DNS): it then calls
 *                      tn_mail_check_done(msg) exactly once from the event
 *                      loop later.  The next check's end() runs only when
 *                      this one is done, so a later check sees the
 *                      results of the earlier ones (DMARC after SPF and
 *                      DKIM).
 *   cleanup(msg)       the transaction ends (RSET, a new MAIL, the session
 *                      closes, or after delivery): cancel lookups, free.
 *                      Called for every check whose mail() was called,
 *                      also when end() never ran or is still waiting.
 *
 * Hooks may be NULL.  A hook that fails (memory) returns TN_ERROR; the
 * message is then refused with 451 4.3.0.  No hook may block.
 *
 * The header and body bytes are those the client sent: any change a
 * check asks for (a header field to add, a forged field to remove) is
 * made when the message is delivered (tn_store_delivery_t edit), so every
 * check sees the same original text.
 */


/* tn_mail_msg_t.verdict */
#define TN_MAIL_VERDICT_ACCEPT      0
#define TN_MAIL_VERDICT_QUARANTINE  1    /* delivered to the Junk folder */
#define TN_MAIL_VERDICT_DEFER       2    /* reply is a 4xx */
#define TN_MAIL_VERDICT_REJECT      3    /* reply is a 5xx */

/* authentication results (RFC 8601 result values) */
#define TN_MAIL_AUTH_NONE           0
#define TN_MAIL_AUTH_PASS           1
#define TN_MAIL_AUTH_FAIL           2
#define TN_MAIL_AUTH_SOFTFAIL       3
#define TN_MAIL_AUTH_NEUTRAL        4
#define TN_MAIL_AUTH_TEMPERROR      5
#define TN_MAIL_AUTH_PERMERROR      6
#define TN_MAIL_AUTH_POLICY         7

/* header bytes a message may have that the checks see in full */
#define TN_MAIL_CHECK_HEADER_MAX    (256 * 1024)
/* header fields the checks see, at most */
#define TN_MAIL_CHECK_FIELDS_MAX    1000


typedef struct tn_mail_msg_s  tn_mail_msg_t;


/* one authentication result: a "method=result" of Authentication-Results */
typedef struct {
    const char             *method;     /* "spf", "dkim", "dmarc" */
    tn_uint_t               result;     /* TN_MAIL_AUTH_* */
    /*
     * the domain the result is for (SPF: the MAIL FROM or HELO domain;
     * DKIM: d=; DMARC: the From domain), lower case, "" when none
     */
    tn_str_t                domain;
    /* DKIM: the selector s=, the first 8 characters of b= */
    tn_str_t                selector;
    tn_str_t                b;
    /*
     * the rest of the A-R resinfo: "ptype.property=value" items separated
     * by spaces ("smtp.mailfrom=a@example.org"), values unquoted; each is
     * checked again and quoted or left out (tn_mail_msg_auth_results).
     * "" when none: SPF then gets smtp.mailfrom=<domain>, DMARC
     * header.from=<domain>; DKIM always gets header.d/s/b from above.
     */
    tn_str_t                props;
    /* the reason, written as reason="..." in the A-R field; "" when none */
    tn_str_t                reason;
} tn_mail_auth_result_t;


/* a range of the message text to leave out at delivery */
typedef struct {
    off_t                   offset;     /* in the message text (see below) */
    off_t                   len;
    off_t                   lines;      /* LFs in it */
} tn_mail_msg_cut_t;


struct tn_mail_msg_s {
    tn_pool_t              *pool;       /* the transaction's */
    tn_mail_session_t      *session;
    tn_log_t               *log;

    /* the envelope */
    tn_str_t                id;         /* the queue id */
    tn_str_t                from;       /* reverse path, no <>; "" for <> */
    tn_str_t                helo;
    struct sockaddr        *sockaddr;   /* the client */
    socklen_t               socklen;
    tn_str_t                addr_text;
    tn_str_t                host;       /* confirmed PTR name or "" */
    /*
     * the message is sent by one of ours (AUTH or smtp_relay_networks):
     * outgoing, to be signed, not checked
     */
    unsigned                outgoing:1;

    /*
     * The header fields seen so far (tn_str_t, raw with LF line ends,
     * pointing into the pool), at most TN_MAIL_CHECK_FIELDS_MAX and
     * TN_MAIL_CHECK_HEADER_MAX bytes; header_truncated is set when there
     * were more (DKIM then fails the signatures it cannot check).
     */
    tn_array_t             *fields;
    unsigned                header_truncated:1;
    /* where each field starts in the message text (off_t per field) */
    tn_array_t             *field_offsets;

    /* body bytes seen and the message size, LF line ends */
    off_t                   body_size;
    off_t                   size;

    /* results, in the order the checks added them */
    tn_array_t             *results;    /* tn_mail_auth_result_t */

    /*
     * What delivery changes: header fields to put on top ("Name: value\n"
     * each, LF line ends, in this order, after our Received), and ranges
     * of the message text (offsets count from its first byte, after our
     * Received) to leave out.  Cuts are whole header fields, in order,
     * not overlapping.
     */
    tn_array_t             *add_fields; /* tn_str_t */
    tn_array_t             *cuts;       /* tn_mail_msg_cut_t */

    /* the decision; reply is the whole reply line without CRLF */
    tn_uint_t               verdict;
    tn_str_t                reply;

    /* each check's context, by tn_mail_check_t.index */
    void                  **ctx;

    /* private: the check whose end() runs, the continuation */
    tn_uint_t               current;
    void                  (*done)(tn_mail_msg_t *msg);
    void                   *data;
    tn_event_t              posted;

    /*
     * private (tn_mail_check.c): our authserv-id (server_name), the
     * checks whose mail() ran (they get cleanup()), the header splitter
     * of tn_mail_msg_text() with the field being read, the phase
     */
    tn_str_t                authserv_id;
    tn_uint_t               nmail;
    tn_uint_t               split_state;
    u_char                 *field;      /* its first field_len bytes */
    size_t                  field_len;
    size_t                  field_size;
    off_t                   field_full; /* its length */
    off_t                   field_lines;
    off_t                   field_start;
    size_t                  header_bytes;   /* of the fields kept */
    unsigned                header_done:1;
    unsigned                running:1;
    unsigned                done_early:1;
    unsigned                waiting:1;
    unsigned                cleaned:1;

    /*
     * Set by the SMTP session before tn_mail_msg_end(): the spool file
     * (written and closed; end() may read it, not on the event loop if
     * it is large) and where the message text starts in it (after our
     * Received header).
     */
    char                   *spool_path;
    off_t                   text_offset;
    /*
     * Replacements of ranges of the message text (tn_mail_msg_edit_t,
     * offsets as for cuts, in order, not overlapping; len 0 inserts), or
     * NULL: the Lua mime phase's changes, applied at delivery with the
     * cuts (a cut inside an edit's range is dropped).
     */
    tn_array_t             *edits;

    /*
     * Set by the SMTP session before tn_mail_msg_end() too: the
     * recipients (tn_str_t: the local mailboxes the RCPTs and their
     * aliases led to, then the remote addresses), the login of an
     * authenticated session ("" if none), whether the session runs TLS.
     */
    tn_array_t             *rcpts;
    tn_str_t                login;
    tn_uint_t               tls;
};


typedef struct {
    off_t                   offset;
    off_t                   len;
    off_t                   lines;      /* LFs in the range */
    u_char                 *data;
    size_t                  size;
    off_t                   data_lines; /* LFs in data */
} tn_mail_msg_edit_t;


typedef struct {
    const char             *name;
    tn_int_t              (*mail)(tn_mail_msg_t *msg);
    tn_int_t              (*header)(tn_mail_msg_t *msg, tn_str_t *field);
    tn_int_t              (*header_end)(tn_mail_msg_t *msg);
    tn_int_t              (*body)(tn_mail_msg_t *msg, u_char *p, size_t len);
    tn_int_t              (*end)(tn_mail_msg_t *msg);
    void                  (*cleanup)(tn_mail_msg_t *msg);
    /* set by tn_mail_check_register(): the index into msg->ctx */
    tn_uint_t               index;
} tn_mail_check_t;


/* at configuration time; TN_OK or TN_ERROR (too many checks) */
tn_int_t tn_mail_check_register(tn_mail_check_t *check);
/*
 * Registering a check twice is a no-op, so init_module may register on
 * every (re)load.  A module that is not configured after a reload takes
 * its check out again (its index then goes to the checks after it).
 */
void tn_mail_check_unregister(tn_mail_check_t *check);
/* any check is registered */
tn_uint_t tn_mail_check_active(void);

/* for checks */
#define tn_mail_msg_ctx(msg, check)  (msg)->ctx[(check).index]
tn_mail_auth_result_t *tn_mail_msg_add_result(tn_mail_msg_t *msg,
    const char *method, tn_uint_t result);
tn_int_t tn_mail_msg_add_field(tn_mail_msg_t *msg, u_char *field,
    size_t len);
tn_int_t tn_mail_msg_cut_field(tn_mail_msg_t *msg, tn_uint_t n);
/* sets the verdict unless a stronger one is set; reply is copied */
void tn_mail_msg_verdict(tn_mail_msg_t *msg, tn_uint_t verdict,
    const char *reply);
/* the end() that returned TN_AGAIN is over */
void tn_mail_check_done(tn_mail_msg_t *msg);

/*
 * Signing again a message a later check changed (the Lua mime phase
 * changes outgoing messages after the dkim module signed them while
 * they streamed in).  Set by the dkim module when it is built; NULL
 * otherwise.  text is the whole changed message text (after our
 * Received, LF line ends), in msg->pool, kept until the transaction
 * ends.  The signatures the module added to add_fields are replaced by
 * new ones over text.  Returns TN_OK (done, or the message was not
 * signed), TN_AGAIN (the signing runs in the thread pool: the module
 * then calls tn_mail_check_done(msg) itself, which ends the caller's
 * end()) or TN_ERROR (the caller must remove the old signatures).
 * Called from the end() of a check that runs after the dkim module's.
 */
typedef tn_int_t (*tn_mail_msg_resign_pt)(tn_mail_msg_t *msg, u_char *text,
    size_t len);

extern tn_mail_msg_resign_pt  tn_mail_msg_resign;
/* "pass", "fail", ...; the RFC 8601 name of a TN_MAIL_AUTH_* */
const char *tn_mail_auth_result_name(tn_uint_t result);


/*
 * for the SMTP session (tn_mail_smtp_*.c); s may be NULL (unit tests: set
 * msg->authserv_id then)
 */
tn_mail_msg_t *tn_mail_msg_create(tn_pool_t *pool, tn_mail_session_t *s);
tn_int_t tn_mail_msg_mail(tn_mail_msg_t *msg);
/*
 * the message text as the parser writes it (after our Received), in any
 * chunks; TN_ERROR when a hook failed (the verdict is DEFER then: the
 * caller reads on)
 */
tn_int_t tn_mail_msg_text(tn_mail_msg_t *msg, u_char *p, size_t len);
/*
 * runs every end() in turn; done(msg) once all are over, from a posted
 * event, never inside.  Before done(): the Authentication-Results field
 * is in add_fields (incoming messages with results), the cuts are sorted
 * and without duplicates.
 */
void tn_mail_msg_end(tn_mail_msg_t *msg, void (*done)(tn_mail_msg_t *msg),
    void *data);
void tn_mail_msg_cleanup(tn_mail_msg_t *msg);
/*
 * the Authentication-Results field from msg->results ("Name: value\n",
 * folded with LF HT), or "" if none; TN_ERROR: memory, or an authserv-id
 * that cannot be written
 */
tn_int_t tn_mail_msg_auth_results(tn_mail_msg_t *msg, tn_str_t *authserv_id,
    tn_str_t *field);


#endif /* _TN_MAIL_CHECK_H_INCLUDED_ */
