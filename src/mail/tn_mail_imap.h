
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_IMAP_H_INCLUDED_
#define _TN_MAIL_IMAP_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_store_imap.h>
#include <tn_mail_imap_parse.h>
#include <tn_mail_imap_msg.h>


/*
 * The IMAP server (RFC 3501, RFC 9051 on ENABLE IMAP4rev2).  Files:
 *
 *   tn_mail_imap_module.c    directives, the protocol, the module
 *   tn_mail_imap_handler.c   session, input loop, command table and
 *                            dispatch, output, STARTTLS, CAPABILITY,
 *                            NOOP, LOGOUT, ID, ENABLE, CHECK, NAMESPACE
 *   tn_mail_imap_auth.c      LOGIN, AUTHENTICATE
 *   tn_mail_imap_mailbox.c   SELECT, EXAMINE, CREATE, DELETE, RENAME,
 *                            SUBSCRIBE, UNSUBSCRIBE, APPEND, GETQUOTA,
 *                            GETQUOTAROOT
 *   tn_mail_imap_list.c      LIST, LSUB, STATUS
 *   tn_mail_imap_notify.c    change notices across workers, the sync of
 *                            the selected mailbox (untagged EXISTS,
 *                            EXPUNGE/VANISHED, FETCH FLAGS), IDLE, the
 *                            view helpers (uids, sequence sets, flags),
 *                            the tasks (tn_mail_imap_task_alloc())
 *   tn_mail_imap_fetch*.c    FETCH (and UID FETCH); see
 *                            tn_mail_imap_fetch.h
 *   tn_mail_imap_store.c     STORE (and UID STORE)
 *   tn_mail_imap_search.c    SEARCH, ESEARCH results, SORT
 *   tn_mail_imap_copy.c      COPY, MOVE, EXPUNGE, UID EXPUNGE, CLOSE,
 *                            UNSELECT
 *   tn_mail_imap_qresync.c   QRESYNC: VANISHED (EARLIER) and FETCH of
 *                            SELECT (QRESYNC) and UID FETCH (VANISHED)
 *   tn_mail_imap_msg*.c      message rendering (tn_mail_imap_msg.h)
 *   tn_mail_imap_parse.c     the command parser
 *
 * Commands run one at a time per session, in the order received (RFC
 * 3501 5.5 allows more; clients gain little from it).  A command handler
 * either finishes at once or posts one thread-pool task at a time
 * (tn_mail_task_post()) and finishes in its done callback.  It writes
 * its untagged responses with tn_mail_imap_write()/_printf() and ends
 * with tn_mail_imap_tagged(); the dispatcher then, when the selected
 * mailbox changed meanwhile (a notice from tn_mail_imap_notify.c), runs
 * the sync first (its untagged responses come before the tagged line,
 * EXPUNGE only where RFC 3501 7.4.1 allows it), sends everything and
 * goes on with the next command in the input.
 */


#define TN_MAIL_IMAP_PROTOCOL_NAME   "imap"

/* the FETCH/SEARCH work of one task: stop after this much output */
#define TN_MAIL_IMAP_BATCH_OUTPUT    (256 * 1024)
/* an output buffer larger than this after a flush is given back */
#define TN_MAIL_IMAP_OUT_KEEP        (16 * 1024)


typedef struct {
    size_t                  client_buffer_size;  /* imap_client_buffer */
    tn_msec_t               timeout;             /* imap_timeout */
    size_t                  max_line;            /* imap_max_line */
    size_t                  max_literal;         /* imap_max_literal */
    off_t                   max_append;          /* imap_max_append */
    tn_flag_t               auth_plaintext;      /* imap_auth_plaintext */
    tn_uint_t               max_idle;            /* imap_max_idle_sessions,
                                                    per worker; 0: none */
} tn_mail_imap_srv_conf_t;


typedef enum {
    tn_imap_state_nonauth = 0,
    tn_imap_state_auth,
    tn_imap_state_selected,
    tn_imap_state_logout
} tn_mail_imap_state_e;

#define tn_imap_bit(state)         (1 << (state))


/* a handler's result: TN_OK (tagged line written), TN_AGAIN (a task is
   out; its done callback finishes the command), TN_ERROR (close) */
typedef struct tn_mail_imap_session_s  tn_mail_imap_session_t;

typedef tn_int_t (*tn_mail_imap_cmd_pt)(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);


struct tn_mail_imap_session_s {
    tn_mail_imap_state_e    state;
    tn_mail_imap_parse_t    parse;
    tn_pool_t              *cmd_pool;       /* parse.pool: per command */

    /* the output: untagged responses, then the tagged line */
    u_char                 *out;            /* tn_alloc'd */
    size_t                  out_len;
    size_t                  out_size;
    size_t                  out_sent;
    u_char                  tagged[512];    /* the tagged line, CRLF */
    size_t                  tagged_len;

    /* the command running: 0 between commands */
    tn_uint_t               command;
    tn_mail_imap_cmd_pt     resume;         /* after a sync, if set */

    /* enabled (ENABLE) and negotiated */
    unsigned                rev2:1;         /* IMAP4rev2 */
    unsigned                utf8:1;         /* UTF8=ACCEPT or rev2 */
    unsigned                condstore:1;    /* CONDSTORE enabled/used */
    unsigned                qresync:1;
    unsigned                idling:1;       /* IDLE: waits for DONE */
    unsigned                readonly:1;     /* EXAMINE */
    unsigned                notice:1;       /* the mailbox may have
                                               changed: sync it */
    unsigned                syncing:1;      /* the sync task is out */
    unsigned                logout:1;

    /* the selected mailbox: the session's view */
    int64_t                 mbox_id;
    tn_str_t                mbox_name;      /* UTF-8, tn_alloc'd */
    uint32_t                uidvalidity;
    uint32_t                uidnext;
    uint64_t                modseq;         /* synced up to this */
    tn_store_imsg_t        *msgs;           /* seq = index + 1, by uid */
    tn_uint_t               nmsgs;
    tn_uint_t               msgs_size;      /* allocated (tn_alloc) */
    tn_uint_t               nkeywords;
    tn_str_t                keywords[TN_STORE_KEYWORDS_MAX]; /* tn_alloc */
    /* expunges seen but not yet told (not allowed during FETCH...) */
    uint32_t               *pending;        /* uids, tn_alloc'd */
    tn_uint_t               npending;
    /* SEARCHRES (RFC 5182): the saved result, uids */
    uint32_t               *saved;
    tn_uint_t               nsaved;

    /* change notices (tn_mail_imap_notify.c) */
    tn_queue_t              selected_link;  /* in the worker's list */
    uint32_t                generation;     /* the user's, when synced */

    /* APPEND in progress: the spool file the literal streams into */
    tn_fd_t                 spool_fd;
    tn_store_append_t      *append;
    u_char                  spool_cr;       /* a CR ended the last data */

    /* a command's own state across its tasks (FETCH, SEARCH...) */
    void                   *cmd_ctx;

    /* counters for the closing log line */
    tn_uint_t               nfetch;
    tn_uint_t               nappend;
    tn_uint_t               nexpunge;

    /* private to tn_mail_imap_handler.c, _mailbox.c and _notify.c */
    tn_mail_session_t      *session;        /* the owner of this state */
    tn_uint_t               command_uid;    /* the running one is UID x */
    unsigned                sasl:1;         /* AUTHENTICATE waits for
                                               the client's response */
    unsigned                starttls_go:1;  /* TLS starts once the
                                               output is sent */
    unsigned                idle_counted:1; /* in the worker's count */
    unsigned                selected_in:1;  /* in the selected list */
    unsigned                bye:1;          /* close after the output */
    /* the tag of IDLE, tn_alloc'ed: the command pool goes while idling */
    tn_str_t                idle_tag;
    /* tn_mail_imap_flush(): called once the output is sent */
    void                  (*flush_sent)(tn_mail_session_t *s);
};


/* the response line to an AUTHENTICATE challenge */
#define TN_MAIL_IMAP_MAX_SASL        4096


/* tn_mail_imap_handler.c */
void tn_mail_imap_init_session(tn_mail_session_t *s, tn_connection_t *c);
/* the capabilities of the session's state, into p (up to last) */
u_char *tn_mail_imap_capabilities(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, u_char *p, u_char *last);
/* a plain-text login is allowed: TLS is up or imap_auth_plaintext on */
tn_uint_t tn_mail_imap_plaintext_ok(tn_mail_session_t *s);

/* appends to the output; TN_ERROR only when out of memory */
tn_int_t tn_mail_imap_write(tn_mail_imap_session_t *is, u_char *data,
    size_t len);
/* tn_sprintf formats; one call writes at most 4096 bytes */
tn_int_t tn_mail_imap_printf(tn_mail_imap_session_t *is, const char *fmt,
    ...);
/*
 * The tagged line of the running command: status "OK", "NO" or "BAD",
 * then the text (tn_sprintf format; may start with a response code
 * "[...]").  Returns TN_OK, for "return tn_mail_imap_tagged(...)".
 */
tn_int_t tn_mail_imap_tagged(tn_mail_imap_session_t *is, const char *status,
    const char *fmt, ...);
/* the tagged NO [UNAVAILABLE] of a command that could not start (out of
   memory, the thread pool); TN_OK */
tn_int_t tn_mail_imap_unavailable(tn_mail_imap_session_t *is);
/*
 * A handler that returned TN_AGAIN calls this from its done callback
 * once it wrote the tagged line (or rc TN_ERROR to close): the
 * dispatcher syncs if needed, sends, and goes on reading commands.
 */
void tn_mail_imap_command_done(tn_mail_session_t *s, tn_int_t rc);
/* the mailbox name as the client writes it: modified UTF-7 unless utf8 */
tn_int_t tn_mail_imap_mbox_name_out(tn_mail_imap_session_t *is,
    tn_pool_t *pool, tn_str_t *name, tn_str_t *out);
/* a mailbox name argument to UTF-8 (INBOX in any case: "INBOX") */
tn_int_t tn_mail_imap_mbox_name_in(tn_mail_imap_session_t *is,
    tn_mail_imap_arg_t *arg, tn_str_t *name);

/* the index of uid in is->msgs, or -1 */
tn_int_t tn_mail_imap_uid_index(tn_mail_imap_session_t *is, uint32_t uid);
/* uid in uids (ascending) */
tn_uint_t tn_mail_imap_uid_in(uint32_t *uids, tn_uint_t n, uint32_t uid);
/*
 * RFC 7162 3.1: the first CONDSTORE-enabling command (with a mailbox
 * selected) writes "* OK [HIGHESTMODSEQ n]" and sets is->condstore.
 */
tn_int_t tn_mail_imap_condstore(tn_mail_imap_session_t *is);

/*
 * A sequence set argument (or "$") to the ascending uids of the
 * messages it names in the view: by sequence numbers, or by uids when
 * uid is set (uids not in the view are dropped).  *uids in pool.
 * TN_OK; TN_DECLINED: a sequence number beyond the view when !uid (the
 * caller answers BAD "invalid message sequence number"); TN_ERROR: bad
 * syntax.
 */
tn_int_t tn_mail_imap_seqset_uids(tn_mail_imap_session_t *is,
    tn_pool_t *pool, tn_str_t *set, tn_uint_t uid, uint32_t **uids,
    tn_uint_t *n);

/* the flag list "(\Seen $Junk)" of a message, into dst (enough room:
   tn_mail_imap_flags_len()) */
size_t tn_mail_imap_flags_len(tn_mail_imap_session_t *is,
    tn_store_imsg_t *m);
u_char *tn_mail_imap_flags(tn_mail_imap_session_t *is, u_char *dst,
    tn_store_imsg_t *m);
/* "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" of the view */
tn_int_t tn_mail_imap_flag_lines(tn_mail_imap_session_t *is);
/*
 * A flag list argument (STORE, APPEND): system flags into *flags,
 * keywords into kw (in pool).  TN_ERROR: not a flag list, \Recent or an
 * unknown \flag (BAD), an invalid keyword.
 */
tn_int_t tn_mail_imap_flags_parse(tn_pool_t *pool, tn_mail_imap_arg_t *arg,
    uint32_t *flags, tn_str_t **kw, tn_uint_t *nkw);


/*
 * tn_mail_imap_notify.c: the head of the ctx of every thread-pool task of
 * a command (and of the sync): what the store calls need, copied from
 * the session, and a pool of the task's own, since the thread must not
 * touch the command pool.
 */
typedef struct {
    tn_mail_task_ctx_t      ctx;
    tn_thread_task_t       *task;        /* the task of this ctx */
    tn_store_conf_t        *conf;
    tn_store_user_t         user;
    int64_t                 mbox_id;     /* the selected mailbox, or 0 */
    tn_pool_t              *pool;        /* the task's */
    /* releases what else the ctx holds (malloc'ed output...), if set */
    void                  (*release)(tn_thread_task_t *task);
} tn_mail_imap_task_t;

/*
 * A task whose ctx of size bytes starts with a tn_mail_imap_task_t,
 * filled, with a pool of pool_size; NULL when out of memory.  Until it
 * is posted and after done, tn_mail_imap_task_free() frees it, its
 * release() and its pool; when the session closes while it is out, the
 * same happens without done.  tn_mail_imap_task_post() posts it: TN_AGAIN
 * (a command handler returns it: its done callback finishes the
 * command), or TN_ERROR after freeing it.
 */
tn_thread_task_t *tn_mail_imap_task_alloc(tn_mail_session_t *s, size_t size,
    size_t pool_size, void (*handler)(void *data, tn_log_t *log),
    void (*done)(tn_mail_session_t *s, tn_thread_task_t *task));
tn_int_t tn_mail_imap_task_post(tn_mail_session_t *s, tn_thread_task_t *task);
void tn_mail_imap_task_free(tn_mail_session_t *s, tn_thread_task_t *task);

/*
 * tn_mail_imap_handler.c: a command that streams a large output waits
 * here for it to be sent: TN_OK when little enough of is->out is still
 * to go (the caller goes on at once), or TN_AGAIN: what is in is->out
 * is being sent, and sent(s) is called from the write handler (never
 * from inside this call) once all of it is on the wire; the command
 * goes on from there.
 */
tn_int_t tn_mail_imap_flush(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    void (*sent)(tn_mail_session_t *s));


/* the command handlers, one file each (see the top) */
tn_int_t tn_mail_imap_login(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_authenticate(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
/* zeroes the input consumed so far (it may hold a password) */
void tn_mail_imap_wipe_input(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
/* the client's response line to the AUTHENTICATE challenge ("+ ") */
tn_int_t tn_mail_imap_sasl(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_str_t *line);
tn_int_t tn_mail_imap_select(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_create(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_delete(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_rename(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_subscribe(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_list(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_status(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_append(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_quota(tn_mail_session_t *s, tn_mail_imap_session_t *is);

tn_int_t tn_mail_imap_fetch(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_store(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_search(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_sort(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_copy(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_expunge(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_close(tn_mail_session_t *s, tn_mail_imap_session_t *is);

/*
 * APPEND literal streaming, called by the dispatcher for the literal of
 * an APPEND (TN_MAIL_IMAP_LITERAL: decide and open the spool file;
 * _DATA: write, CRLF to LF; _END: close).  TN_OK to go on, TN_DECLINED
 * after the handler refused and wrote the tagged line, TN_ERROR.
 */
tn_int_t tn_mail_imap_append_literal(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_int_t rc);


/* tn_mail_imap_notify.c */
/* master: maps the table of per-user change generations (once) */
tn_int_t tn_mail_imap_notify_init_module(tn_cycle_t *cycle);
/* worker: sets tn_store_changed and starts the check timer */
tn_int_t tn_mail_imap_notify_init_process(tn_cycle_t *cycle);
/* the session selected a mailbox (after SELECT/EXAMINE loaded it) or
   leaves it; the view's sync point is is->modseq */
void tn_mail_imap_notify_select(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
void tn_mail_imap_notify_unselect(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
/*
 * Brings the view up to date (one task): untagged EXISTS for new
 * messages, FETCH (FLAGS, and MODSEQ with CONDSTORE, UID for UID
 * commands) for changed ones, EXPUNGE (VANISHED with QRESYNC) for those
 * gone when expunge is 1, else they wait in is->pending.  done(s, rc)
 * when over.  Returns TN_OK (done will be called) or TN_ERROR.
 */
tn_int_t tn_mail_imap_sync(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_uint_t expunge, void (*done)(tn_mail_session_t *s, tn_int_t rc));
/* tells the pending expunges (when allowed) into the output */
tn_int_t tn_mail_imap_flush_expunges(tn_mail_imap_session_t *is);

/* the keywords of the mailbox, kw[0..n), that the view lacks, copied in
   (tn_alloc); TN_OK or TN_ERROR */
tn_int_t tn_mail_imap_view_keywords(tn_mail_imap_session_t *is, tn_str_t *kw,
    tn_uint_t n, tn_log_t *log);
/*
 * Frees the view of the selected mailbox (msgs, keywords, name,
 * pending expunges) after leaving the worker's selected list; is->state
 * is left to the caller (notify.c).
 */
void tn_mail_imap_view_free(tn_mail_imap_session_t *is);
/*
 * IDLE (notify.c): the command; the line the client sent while idling
 * (DONE or not: the tagged line is written, TN_OK); the end of the
 * session's IDLE count.  The done callback of a sync made while idling
 * (handler.c) sends what the sync wrote.
 */
tn_int_t tn_mail_imap_idle(tn_mail_session_t *s, tn_mail_imap_session_t *is);
tn_int_t tn_mail_imap_idle_line(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_str_t *line);
void tn_mail_imap_idle_synced(tn_mail_session_t *s, tn_int_t rc);
void tn_mail_imap_idle_release(tn_mail_imap_session_t *is);
/* the user's change generation now (notify.c), read before a SELECT */
uint32_t tn_mail_imap_notify_generation(tn_mail_session_t *s);


extern tn_module_t  tn_mail_imap_module;


#endif /* _TN_MAIL_IMAP_H_INCLUDED_ */
