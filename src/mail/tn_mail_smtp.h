
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_SMTP_H_INCLUDED_
#define _TN_MAIL_SMTP_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_store_queue.h>
#include <tn_store_rules.h>
#include <tn_mail_check.h>


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
/*
 * RFC 4954 4: an AUTH command line and a SASL response line may be up to
 * 12288 octets; with smtp_auth the input buffer is at least that large
 */
#define TN_MAIL_SMTP_AUTH_LINE_MAX 12288

/* smtp_auth */
#define TN_MAIL_SMTP_AUTH_OFF      0
#define TN_MAIL_SMTP_AUTH_OPTIONAL 1
#define TN_MAIL_SMTP_AUTH_REQUIRED 2

/* the SASL mechanism of an AUTH exchange, for the log */
#define TN_MAIL_SMTP_MECH_PLAIN    1
#define TN_MAIL_SMTP_MECH_LOGIN    2


/* a network of smtp_relay_networks */
typedef struct {
    int                     family;
    u_char                  addr[16];
    u_char                  mask[16];
} tn_mail_smtp_cidr_t;


typedef struct {
    size_t                  client_buffer_size;
    off_t                   max_message_size;
    tn_uint_t               max_recipients;
    tn_uint_t               max_errors;
    tn_msec_t               timeout;
    tn_flag_t               vrfy;
    tn_uint_t               auth;          /* TN_MAIL_SMTP_AUTH_* */
    tn_flag_t               auth_plaintext;
    tn_array_t             *relay_networks;  /* tn_mail_smtp_cidr_t */
    tn_flag_t               sender_check;
    tn_flag_t               quota_permanent;
    tn_uint_t               max_hops;
    tn_uint_t               max_commands;  /* before MAIL; 0: no limit */
    tn_msec_t               session_timeout;  /* 0: none */
    /* smtp_transcript: NULL when off; smtp_transcript_networks or NULL */
    tn_open_file_t         *transcript;
    tn_array_t             *transcript_networks;  /* tn_mail_smtp_cidr_t */
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
    tn_smtp_state_quit,
    /* AUTH PLAIN: "334 " is out, the response line is read */
    tn_smtp_state_auth_plain,
    /* AUTH LOGIN: the user name (base64) is read */
    tn_smtp_state_auth_user,
    /* AUTH LOGIN: the password (base64) is read */
    tn_smtp_state_auth_pass,
    /* the credentials are checked (tn_mail_auth()); nothing is read */
    tn_smtp_state_auth,
    /* BDAT chunks were accepted: more BDAT, or RSET, NOOP, QUIT */
    tn_smtp_state_bdat,
    /* the message checks' end() run (tn_mail_msg_end); nothing is read */
    tn_smtp_state_check
} tn_mail_smtp_state_e;

#define TN_SMTP_STATE_BIT(st)      (1 << (st))

/* the states in which a SASL response line, not a command, is read */
#define TN_SMTP_SASL_STATES                                                  \
    (TN_SMTP_STATE_BIT(tn_smtp_state_auth_plain)                             \
     |TN_SMTP_STATE_BIT(tn_smtp_state_auth_user)                             \
     |TN_SMTP_STATE_BIT(tn_smtp_state_auth_pass))

/* the session is authenticated (AUTH succeeded) */
#define tn_mail_smtp_authenticated(s)  ((s)->user != NULL)


/* one recipient of a transaction */
typedef struct tn_mail_smtp_delivery_s  tn_mail_smtp_delivery_t;


/* a remote recipient (relayed, or an alias or forward target) */
typedef struct {
    tn_str_t                addr;
    tn_str_t                orcpt;         /* DSN ORCPT as given, or "" */
    tn_uint_t               notify;        /* TN_QUEUE_NOTIFY_* or 0 */
    /* the local RCPT whose alias or forward made it, or "": the marker */
    tn_str_t                via;
} tn_mail_smtp_remote_t;


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
    tn_uint_t               rcpts_ok;      /* RCPT commands accepted */
    tn_str_t                first_rcpt;    /* as sent, for Received */

    tn_mail_smtp_remote_t  *remote;        /* nremote of nralloc */
    tn_uint_t               nremote;
    tn_uint_t               nralloc;

    /* MAIL parameters: BODY=8BITMIME, SMTPUTF8, RET= and ENVID= */
    unsigned                body_8bit:1;
    unsigned                smtputf8:1;
    tn_uint_t               ret;
    u_char                  envid[101];

    /*
     * the message header as DATA reads it (tn_mail_smtp_scan_header):
     * Received: lines counted (smtp_max_hops), a Delivered-To: naming an
     * address this message is forwarded from (loop), the line being read
     * (its start only)
     */
    tn_uint_t               hops;
    tn_str_t                loop;
    unsigned                header_done:1;
    size_t                  hline_len;
    u_char                  hline[TN_STORE_ADDR_MAX + 16];

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
    /* BDAT: the chunk octets accepted so far */
    off_t                   chunked;

    /* the message checks (tn_mail_check.h), NULL when none is active */
    tn_mail_msg_t          *msg;
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
    tn_uint_t               commands;      /* since MAIL or the start */

    /* smtp_session_timeout; expired: the session ends when it can */
    tn_event_t              session_timer;
    unsigned                expired:1;
    size_t                  data_read;     /* this slice, see DATA_SLICE */

    /* AUTH: the mechanism and the login name (for LOGIN and the log) */
    tn_uint_t               auth_mech;
    size_t                  auth_user_len;
    u_char                  auth_user[TN_MAIL_AUTH_USER_MAX];

    /*
     * a BDAT chunk being read: the octets left, the LAST flag; a refused
     * chunk is read and dropped (skip), then chunk_reply is sent and the
     * session goes back to chunk_state
     */
    off_t                   chunk_left;
    unsigned                chunk:1;
    unsigned                chunk_last:1;
    unsigned                chunk_skip:1;
    tn_mail_smtp_state_e    chunk_state;
    const char             *chunk_reply;

    /* smtp_transcript: the session's lines, NULL when not recorded */
    struct tn_mail_smtp_transcript_s  *transcript;
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
    tn_uint_t nrcpts, tn_store_queue_env_t *queue,
    tn_mail_smtp_delivered_pt done, tn_store_edit_t *edits,
    tn_uint_t nedits, tn_uint_t junk);
/*
 * queue: NULL, or a tn_alloc()ed envelope for the remote recipients that
 * the item takes over on success (freed with it); on NULL the caller
 * still owns it.  edits: nedits changes of the spool file (copied with
 * their data into the item), or NULL; junk: the local copies go to the
 * Junk mailbox (tn_store_delivery_t).
 */


void tn_mail_smtp_init_session(tn_mail_session_t *s, tn_connection_t *c);

/* tn_mail_smtp_handler.c, for the other parts of the state machine */
void tn_mail_smtp_process(tn_mail_session_t *s, tn_connection_t *c);
void tn_mail_smtp_enter_state(tn_mail_session_t *s,
    tn_mail_smtp_state_e state);
void tn_mail_smtp_reply(tn_mail_session_t *s, const char *fmt, ...);
void tn_mail_smtp_error(tn_mail_session_t *s, const char *fmt, ...);
tn_int_t tn_mail_smtp_unknown(tn_mail_session_t *s, tn_connection_t *c);
/* reads and runs commands; DATA sets it back when the message ends */
void tn_mail_smtp_read_handler(tn_event_t *rev);
/* the last reply "421 ... %V ..." (the server name), then close */
void tn_mail_smtp_goodbye(tn_mail_session_t *s, tn_connection_t *c,
    tn_uint_t now, const char *fmt);
/* the transaction: a new one (the old one reset), or none */
tn_mail_smtp_tx_t *tn_mail_smtp_tx_create(tn_mail_session_t *s,
    tn_connection_t *c);
void tn_mail_smtp_tx_reset(tn_mail_session_t *s);

/*
 * tn_mail_smtp_envelope.c: the MAIL and RCPT commands, and the recipient
 * lookup in the thread pool that VRFY shares (vrfy set).  Like a command
 * handler they return TN_OK (replied), TN_AGAIN (the lookup or the
 * sender check runs) or TN_ERROR.
 */
tn_int_t tn_mail_smtp_mail(tn_mail_session_t *s, tn_connection_t *c);
tn_int_t tn_mail_smtp_rcpt(tn_mail_session_t *s, tn_connection_t *c);
tn_int_t tn_mail_smtp_lookup(tn_mail_session_t *s, tn_connection_t *c,
    tn_smtp_path_t *path, tn_uint_t vrfy);
/* a mailbox over quota, at RCPT or at delivery */
void tn_mail_smtp_quota_reply(tn_mail_session_t *s);

/*
 * tn_mail_smtp_data.c: the DATA command (TN_OK when refused, TN_AGAIN
 * when the message is read, TN_ERROR), the message into the spool file
 * and the group commit.
 */
tn_int_t tn_mail_smtp_data(tn_mail_session_t *s, tn_connection_t *c);
/* BDAT (RFC 3030), the same contract */
tn_int_t tn_mail_smtp_bdat(tn_mail_session_t *s, tn_connection_t *c);

/*
 * tn_mail_smtp_auth.c: the AUTH command (RFC 4954, PLAIN and LOGIN) and
 * the SASL response lines read in TN_SMTP_SASL_STATES (rc is what
 * tn_mail_parse_line() said).  Command handler contract: TN_OK, TN_AGAIN
 * (the check runs) or TN_ERROR.
 */
tn_int_t tn_mail_smtp_auth(tn_mail_session_t *s, tn_connection_t *c);
tn_int_t tn_mail_smtp_auth_response(tn_mail_session_t *s,
    tn_connection_t *c, tn_int_t rc);
/* AUTH may be used now: under TLS, or in the clear when allowed */
tn_uint_t tn_mail_smtp_auth_offered(tn_mail_session_t *s);
/* forgets the login (STARTTLS) */
void tn_mail_smtp_auth_reset(tn_mail_session_t *s);

/*
 * tn_mail_smtp_relay.c: relay rules, DSN parameters, the queue envelope.
 */
/* the client may relay: authenticated, or in smtp_relay_networks */
tn_uint_t tn_mail_smtp_may_relay(tn_mail_session_t *s);
/*
 * "smtp_relay_networks CIDR ...;", "smtp_transcript_networks CIDR ...;":
 * an array of tn_mail_smtp_cidr_t at cmd->offset of the srv conf
 */
char *tn_mail_smtp_set_networks_slot(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
/* the address is in one of the networks */
tn_uint_t tn_mail_smtp_networks_match(tn_array_t *networks,
    struct sockaddr *sa);
/* MAIL RET= and ENVID=, RCPT NOTIFY= and ORCPT=: TN_OK or TN_ERROR */
tn_int_t tn_mail_smtp_param_ret(tn_str_t *value, tn_uint_t *ret);
tn_int_t tn_mail_smtp_param_envid(tn_str_t *value, u_char *envid);
tn_int_t tn_mail_smtp_param_notify(tn_str_t *value, tn_uint_t *notify);
tn_int_t tn_mail_smtp_param_orcpt(tn_str_t *value);
/*
 * adds a remote recipient to the transaction unless it is there already;
 * via: the local address it was expanded from ("" when relayed)
 */
tn_int_t tn_mail_smtp_remote_add(tn_mail_smtp_tx_t *tx, u_char *addr,
    size_t len, tn_str_t *orcpt, tn_uint_t notify, tn_str_t *via);
/* the envelope for the queue (tn_alloc()ed), or NULL */
tn_store_queue_env_t *tn_mail_smtp_queue_env(tn_mail_session_t *s,
    tn_mail_smtp_tx_t *tx);
/* the loop checks on the header of what DATA wrote to the spool buffer */
void tn_mail_smtp_scan_header(tn_mail_smtp_tx_t *tx, u_char *p,
    u_char *last);


/*
 * tn_mail_smtp_transcript.c: the per-session transcript (smtp_transcript).
 * start decides whether the session is recorded (in init_session, before
 * anything is said); every other call does nothing for a session that is
 * not.  client records the line just read (rc: what the parser said; in
 * a SASL state, and for AUTH's initial response, only "****"); reply a
 * reply line; event a line of our own ('T' TLS, 'R' results).  Lines are
 * buffered and written by flush (after a round of replies) and close
 * (the last line, at the end of the session).
 */
typedef struct tn_mail_smtp_transcript_s  tn_mail_smtp_transcript_t;

void tn_mail_smtp_transcript_start(tn_mail_session_t *s, tn_connection_t *c);
void tn_mail_smtp_transcript_client(tn_mail_session_t *s, tn_int_t rc);
void tn_mail_smtp_transcript_reply(tn_mail_session_t *s, u_char *p,
    u_char *last);
void tn_mail_smtp_transcript_event(tn_mail_session_t *s, u_char tag,
    const char *fmt, ...);
void tn_mail_smtp_transcript_flush(tn_mail_session_t *s);
void tn_mail_smtp_transcript_close(tn_mail_session_t *s);
/* "smtp_transcript off | PATH;" */
char *tn_mail_smtp_transcript_set(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
/* the module's init_module: the files go to "user" */
tn_int_t tn_mail_smtp_transcript_init_module(tn_cycle_t *cycle);


extern tn_module_t  tn_mail_smtp_module;


#endif /* _TN_MAIL_SMTP_H_INCLUDED_ */
