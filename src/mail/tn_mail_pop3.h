
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_POP3_H_INCLUDED_
#define _TN_MAIL_POP3_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>


/* RFC 2449 section 4: a command line is at most 255 octets with CRLF */
#define TN_MAIL_POP3_MAX_LINE      255
/* an AUTH PLAIN continuation: base64 of authzid, authcid and password */
#define TN_MAIL_POP3_MAX_SASL      2048

/* what RETR/TOP read from the message file at a time */
#define TN_MAIL_POP3_FILE_CHUNK    65536
/* the output buffer of RETR/TOP/LIST/UIDL; the out parser needs >= 2 */
#define TN_MAIL_POP3_OUT_SIZE      (TN_MAIL_POP3_FILE_CHUNK + 4096)
/* one status line, or one line of LIST/UIDL/CAPA */
#define TN_MAIL_POP3_REPLY_SIZE    512


typedef struct {
    size_t                  client_buffer_size;
    tn_msec_t               timeout;
    tn_flag_t               auth_plaintext;
} tn_mail_pop3_srv_conf_t;


/* s->data of a POP3 session: where the session is in RFC 1939 terms */
typedef enum {
    /* AUTHORIZATION, nothing given yet */
    tn_pop3_state_auth = 0,
    /* AUTHORIZATION, USER accepted, PASS expected */
    tn_pop3_state_user,
    /* AUTH PLAIN sent "+ ", the response line is expected */
    tn_pop3_state_sasl,
    /* the password is checked and the mailbox loaded: no input is read */
    tn_pop3_state_login,
    /* TRANSACTION */
    tn_pop3_state_transaction,
    /* UPDATE: QUIT was given, the deletions run; no input is read */
    tn_pop3_state_update
} tn_mail_pop3_state_e;


typedef struct {
    tn_mail_pop3_state_e    state;

    /* the USER argument until PASS */
    tn_str_t                user;
    u_char                  user_buf[TN_MAIL_AUTH_USER_MAX];

    /* TRANSACTION: the maildrop as loaded at login, and what is marked */
    tn_store_mailbox_t     *mb;
    u_char                 *deleted;       /* one flag a message */
    tn_uint_t               ndeleted;
    off_t                   deleted_size;
    tn_fd_t                 lock_fd;

    /* counters for the closing log line */
    tn_uint_t               nretr;
    tn_uint_t               ndele;

    /* multi-line output (RETR, TOP, LIST, UIDL) in progress */
    tn_fd_t                 fd;            /* the message file */
    tn_buf_t               *in;            /* read from fd */
    tn_buf_t               *out;           /* the wire bytes */
    tn_mail_pop3_out_t      po;
    tn_uint_t               list_cmd;      /* TN_POP3_LIST or _UIDL */
    tn_uint_t               list_next;     /* the next message index */

    u_char                  reply[TN_MAIL_POP3_REPLY_SIZE];
} tn_mail_pop3_session_t;


void tn_mail_pop3_init_session(tn_mail_session_t *s, tn_connection_t *c);


extern tn_module_t  tn_mail_pop3_module;


#endif /* _TN_MAIL_POP3_H_INCLUDED_ */
