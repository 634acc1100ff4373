
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_SMTP_H_INCLUDED_
#define _TN_MAIL_SMTP_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>


/* the reply buffer; a round of pipelined commands stops below the reserve */
#define TN_MAIL_SMTP_OUT_SIZE      8192
#define TN_MAIL_SMTP_OUT_RESERVE   1024
/* what DATA writes to the spool file at a time */
#define TN_MAIL_SMTP_SPOOL_CHUNK   65536
/* the longest HELO/EHLO argument kept (RFC 5321: a domain, 255) */
#define TN_MAIL_SMTP_HELO_MAX      255
/* DATA bytes read in one go before others get their turn */
#define TN_MAIL_SMTP_DATA_SLICE    (1024 * 1024)
/* messages handed to tn_store_deliver() in one group commit, at most */
#define TN_MAIL_SMTP_BATCH_MAX     256
/* the queue id: 7 base32 digits of time, 5 of pid, 4 of a counter */
#define TN_MAIL_SMTP_QUEUE_ID_LEN  16


typedef struct {
    size_t                  client_buffer_size;
    off_t                   max_message_size;
    tn_uint_t               max_recipients;
    tn_uint_t               max_errors;
    tn_msec_t               timeout;
    tn_flag_t               vrfy;
} tn_mail_smtp_srv_conf_t;


/* where a session is; see tn_mail_smtp_enter_state() */
typedef enum {
    /* the PTR lookup runs; the greeting is not sent yet, nothing is read */
    tn_smtp_state_connect = 0,
    /* greeted (or TLS started): HELO/EHLO is needed before MAIL */
    tn_smtp_state_greeted,
    /* after HELO/EHLO, no transaction */
    tn_smtp_state_idle,
    /* after MAIL FROM: RCPT is needed */
    tn_smtp_state_mail,
    /* at least one recipient accepted: more RCPT or DATA */
    tn_smtp_state_rcpt,
    /* the message text is read into the spool file */
    tn_smtp_state_data,
    /* the message waits for its group commit; nothing is read */
    tn_smtp_state_deliver,
    /* the 220 to STARTTLS is out, the handshake runs */
    tn_smtp_state_starttls,
    /* QUIT, a fatal error or a timeout: the last reply is being sent */
    tn_smtp_state_quit
} tn_mail_smtp_state_e;

#define TN_SMTP_STATE_BIT(st)      (1 << (st))


/* one recipient of a transaction */
typedef struct tn_mail_smtp_delivery_s  tn_mail_smtp_delivery_t;


/* the transaction: from MAIL to the end of DATA or RSET, in its own pool */
typedef struct {
    tn_pool_t              *pool;

    u_char                  id[TN_MAIL_SMTP_QUEUE_ID_LEN + 1];

    tn_str_t                from;          /* the reverse path, no <> */
    off_t                   size_param;    /* MAIL ... SIZE=, or 0 */

    tn_store_user_t        *rcpts;         /* nrcpts of nalloc, tx pool */
    tn_uint_t               nrcpts;
    tn_uint_t               nalloc;
    tn_uint_t               rcpts_seen;    /* RCPT commands, also refused */

    /* DATA */
    tn_fd_t                 fd;            /* the spool file, or -1 */
    char                    spool_path[PATH_MAX];
    unsigned                spool_owned:1; /* unlink it when the tx ends */
    tn_err_t                write_err;     /* a failed write() to fd */
    tn_mail_data_parse_t    dp;
    tn_buf_t               *spool_buf;
    /* the Received header we added: its bytes and lines */
    off_t                   header_size;
    off_t                   header_lines;
} tn_mail_smtp_tx_t;


/* s->data of an SMTP session */
typedef struct {
    tn_mail_smtp_state_e    state;

    tn_str_t                helo;          /* c->pool, printable ASCII */
    u_char                  helo_buf[TN_MAIL_SMTP_HELO_MAX];
    unsigned                esmtp:1;
    /* the read timer is the deadline of the command being read */
    unsigned                deadline:1;

    tn_mail_smtp_tx_t      *tx;

    /* replies not sent yet; s->out is always its unsent tail */
    tn_buf_t               *out;

    /* the message in the group commit, NULL when none */
    tn_mail_smtp_delivery_t  *delivery;

    /* the PTR name being confirmed */
    tn_str_t                ptr_name;

    /* "none" or "PROTOCOL/CIPHER", for the log lines */
    tn_str_t                tls;

    tn_uint_t               messages;      /* queued in this session */
    size_t                  data_read;     /* this slice, see DATA_SLICE */
} tn_mail_smtp_session_t;


/* the group-commit batcher of tn_mail_smtp_deliver.c */
typedef void (*tn_mail_smtp_delivered_pt)(tn_mail_session_t *s,
    tn_store_delivery_t *d);

struct tn_mail_smtp_delivery_s {
    tn_queue_t                  queue;
    /* NULL once the session closed: the result is then only logged */
    tn_mail_session_t          *session;
    tn_mail_smtp_delivered_pt   done;
    tn_log_t                   *log;        /* the cycle's */
    tn_store_delivery_t         d;
    /* malloc()ed with the item: d.rcpts and d.uids point here */
};


/*
 * Queues a closed spool file for delivery to rcpts (copied).  On TN_OK
 * the batcher owns the spool file and calls done(s, d) from the event
 * loop once the group commit is over, unless the session closed before:
 * the caller keeps the returned item in its session and sets
 * item->session = NULL when it closes.  NULL on failure (nothing was
 * taken over).
 */
tn_mail_smtp_delivery_t *tn_mail_smtp_deliver(tn_mail_session_t *s,
    char *spool_path, off_t size, off_t vsize, tn_store_user_t *rcpts,
    tn_uint_t nrcpts, tn_mail_smtp_delivered_pt done);


void tn_mail_smtp_init_session(tn_mail_session_t *s, tn_connection_t *c);


extern tn_module_t  tn_mail_smtp_module;


#endif /* _TN_MAIL_SMTP_H_INCLUDED_ */
