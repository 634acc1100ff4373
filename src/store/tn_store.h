
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_STORE_H_INCLUDED_
#define _TN_STORE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * The mailbox store: accounts in PREFIX/tern.db, Maildir++ folders under
 * PREFIX/mail/<domain>/<localpart>/ and a per-user index.db beside them.
 *
 * Every function here is BLOCKING (disk, fsync, SQLite, password hashing)
 * and is called from thread-pool threads or the command line, never from
 * the event loop -- tn_store_spool_create() is the one exception.  They
 * are thread-safe and may run in several processes at once: each thread
 * keeps its own SQLite connections, and cross-process contention waits
 * up to TN_STORE_BUSY_TIMEOUT ms.
 */


#define TN_STORE_PW_YESCRYPT    0
#define TN_STORE_PW_SHA512      1
#define TN_STORE_PW_BCRYPT      2

#define TN_STORE_LOCAL_MAX      64
#define TN_STORE_DOMAIN_MAX     255
/* RFC 5321 4.5.3.1.3: a path is 256 octets with the angle brackets */
#define TN_STORE_ADDRESS_MAX    254
/* the longest password accepted; longer ones are refused, not cut */
#define TN_STORE_PASSWORD_MAX   1024
/* room for any crypt() output (CRYPT_OUTPUT_SIZE is 384) */
#define TN_STORE_HASH_LEN       384

#define TN_STORE_BUSY_TIMEOUT   10000

/* the bit of the directives inside "store { }" */
#define TN_STORE_CONF           0x04000000


/* an address with its NUL: 64 + 1 + 255 */
#define TN_STORE_ADDR_MAX  321


typedef struct {
    tn_str_t        prefix;          /* absolute, without a trailing '/' */
    tn_str_t        db_path;         /* PREFIX/tern.db (NUL-terminated) */
    tn_str_t        mail_root;       /* PREFIX/mail (NUL-terminated) */
    tn_str_t        spool_dir;       /* PREFIX/spool (NUL-terminated) */
    /*
     * The host name as configured; it is escaped when a Maildir file name
     * is made ('/' as \057, ':' as \072 as maildir(5) says, and ',', '\'
     * and bytes outside 0x21..0x7e likewise), so any value is safe here.
     */
    tn_str_t        hostname;
    tn_uint_t       password_scheme; /* TN_STORE_PW_* */
    tn_uint_t       password_cost;   /* 0: the library's default */
    /*
     * recipient_delimiter: the characters that start a +tag in a local
     * part (any one of them); empty when plus-addressing is off.
     */
    tn_str_t        recipient_delimiter;
} tn_store_conf_t;


typedef struct {
    int64_t         id;
    char            address[TN_STORE_ADDR_MAX]; /* lowercased local@domain */
    char            maildir[PATH_MAX];  /* absolute path of the Maildir */
} tn_store_user_t;


/*
 * Creates the mail and spool directories (0700) and the tern.db schema if
 * they are missing.  Refuses (TN_ERROR) a mail or spool directory that is
 * group or world writable.  Opens no connection that outlives the call,
 * so it is safe in the master before fork().  TN_OK or TN_ERROR.
 */
tn_int_t tn_store_init(tn_store_conf_t *conf, tn_log_t *log);


/*
 * Looks up a recipient.  addr need not be NUL-terminated.
 *   TN_OK        a user, u filled;
 *   TN_DECLINED  the domain is local but there is no such (enabled) user,
 *                or the local part is invalid;
 *   TN_DONE      the domain is not local (or the address has no valid
 *                domain at all);
 *   TN_ERROR     store failure (logged).
 * Addresses are checked before any use: local part 1..64 octets of
 * RFC 5322 atext, '.' and UTF-8 (RFC 6531), no '/', no leading, trailing
 * or double '.', no NUL or control (C0, DEL, C1) and no malformed UTF-8;
 * domain U-labels or A-labels, compared in the A-label form, which must
 * be 1..255 octets of LDH labels of 1..63; the whole at most 254 with
 * that form.  Only ASCII letters are case-insensitive: non-ASCII is
 * neither folded nor normalised.
 */
tn_int_t tn_store_user_lookup(tn_store_conf_t *conf, u_char *addr,
    size_t len, tn_store_user_t *u, tn_log_t *log);

/*
 * Checks a login.  TN_OK: the password is right and u is filled;
 * TN_DECLINED: unknown or disabled user, invalid address or wrong
 * password (a dummy hash is computed for an unknown user so that both
 * take about the same time); TN_ERROR: store failure.  The caller zeroes
 * its own copy of passwd; this function zeroes the copies it makes.
 */
tn_int_t tn_store_auth(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char *passwd, size_t plen, tn_store_user_t *u, tn_log_t *log);

/*
 * Hashes a password with crypt_gensalt_rn() + crypt_rn() in the scheme
 * and cost of conf ("$y$", "$6$" or "$2b$").  out gets the NUL-terminated
 * hash; outlen should be TN_STORE_HASH_LEN.  TN_OK, or TN_ERROR (empty,
 * too long or NUL-containing password, or a libxcrypt failure).
 */
tn_int_t tn_store_password_hash(tn_store_conf_t *conf, u_char *pw,
    size_t len, char *out, size_t outlen);

/*
 * Verifies pw against any hash libxcrypt knows ($y$, $6$, $2b$, $5$,
 * ...), comparing in constant time.  TN_OK when it matches, TN_DECLINED
 * when not (or when hash is unusable, e.g. "!" or "*").
 */
tn_int_t tn_store_password_verify(u_char *pw, size_t len, const char *hash);


/*
 * Administration.  Each returns TN_OK, TN_DECLINED (the thing exists or
 * does not exist, an invalid name, a domain still in use...; the reason
 * is logged at INFO) or TN_ERROR (store failure, logged at ERR).
 */
tn_int_t tn_store_domain_add(tn_store_conf_t *conf, u_char *name,
    size_t len, tn_log_t *log);
/* refuses (TN_DECLINED) while the domain has users */
tn_int_t tn_store_domain_del(tn_store_conf_t *conf, u_char *name,
    size_t len, tn_log_t *log);

/*
 * The domain must exist.  Creates the Maildir (tmp, new, cur, mode 0700)
 * and its index.db; refuses (TN_DECLINED) when the user exists or when
 * the Maildir directory already exists (it may be an old user's mail).
 * Run as root, the new files are given to the owner of the mail root.
 */
tn_int_t tn_store_user_add(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char *pw, size_t pwlen, tn_log_t *log);
/* removes the account; the Maildir is renamed to <maildir>.deleted-<time> */
tn_int_t tn_store_user_del(tn_store_conf_t *conf, u_char *addr, size_t len,
    tn_log_t *log);
tn_int_t tn_store_user_passwd(tn_store_conf_t *conf, u_char *addr,
    size_t len, u_char *pw, size_t pwlen, tn_log_t *log);

/*
 * Listing: the callback gets each NUL-terminated name in order, and may
 * stop the walk by returning anything but TN_OK (which is then returned).
 */
typedef tn_int_t (*tn_store_list_pt)(void *data, const char *name);

tn_int_t tn_store_domain_list(tn_store_conf_t *conf, tn_store_list_pt cb,
    void *data, tn_log_t *log);
/* domain NULL (or len 0): every user */
tn_int_t tn_store_user_list(tn_store_conf_t *conf, u_char *domain,
    size_t len, tn_store_list_pt cb, void *data, tn_log_t *log);


/*
 * Spool: the file an incoming message is written to by the event loop.
 * Opens PREFIX/spool/<unique> with O_CREAT|O_EXCL|O_WRONLY|O_CLOEXEC,
 * 0600, writes its path into path[PATH_MAX] and returns the fd (the
 * caller closes it), or TN_INVALID_FILE with errno set.  Cheap: it is
 * the one function here the event loop may call.
 */
tn_fd_t tn_store_spool_create(tn_store_conf_t *conf, char *path,
    tn_log_t *log);


/* tn_store_queue.h */
typedef struct tn_store_queue_env_s  tn_store_queue_env_t;

/*
 * A change of the spool file made at delivery: at offset (in the spool
 * file) len bytes with lines LFs are left out, and size bytes of data
 * with data_lines LFs are put in.
 */
typedef struct {
    off_t             offset;
    off_t             len;
    off_t             lines;
    u_char           *data;
    size_t            size;
    off_t             data_lines;
} tn_store_edit_t;

typedef struct {
    char              spool_path[PATH_MAX]; /* written, closed, not synced */
    off_t             size;          /* bytes on disk (LF line ends) */
    off_t             vsize;         /* size with CRLF line ends (POP3) */
    time_t            internaldate;
    tn_uint_t         nrcpts;
    tn_store_user_t  *rcpts;         /* nrcpts users from user_lookup */
    /*
     * NULL: no remote recipients.  Otherwise the message is also queued
     * for queue->rcpts (tn_store_queue_add(), queue->id is filled) once
     * its local copies are durable and before the spool file goes; rc is
     * TN_OK only if both are durable, and a failed queueing removes the
     * local copies again.  nrcpts may be 0 then.
     */
    tn_store_queue_env_t  *queue;
    uint32_t         *uids;          /* out: nrcpts UIDs; the caller's array */
    tn_int_t          rc;            /* out: TN_OK or TN_ERROR */
    tn_err_t          err;           /* out: errno of the failure (ENOSPC:
                                        answer 452 4.3.1) */
    /*
     * The message checks' changes (tn_mail_check.h): nedits edits by
     * offset, not overlapping, or NULL.  The delivery then writes an
     * edited copy of the spool file beside it, fsyncs it and delivers
     * that (to the local and the remote recipients); size and vsize are
     * those of the spool file and are changed to the copy's.
     */
    tn_store_edit_t  *edits;
    tn_uint_t         nedits;
    /* the local copies go to each user's Junk (\Junk) mailbox */
    unsigned          junk:1;
} tn_store_delivery_t;

/*
 * Delivers n messages as one group commit.  For each message: fsync the
 * spool file (a failure fails that message; fsync is never retried on the
 * fd); for each recipient link it (copy and fsync on EXDEV) into
 * <maildir>/tmp/<name> and rename it to new/<name>, name being
 * "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>"; then fsync each
 * distinct new/ and tmp/ once; then one SQLite transaction per user
 * (BEGIN IMMEDIATE, synchronous=FULL) gives the user's new messages UIDs
 * from uidnext.  A message whose steps fail gets rc TN_ERROR and err, and
 * the links it made are removed again (from every recipient's new/).
 * The spool files are always unlinked, whatever the outcome.  The caller
 * may answer 250 only for an item whose rc is TN_OK; S= is the size
 * found by fstat(), which wins over d->size.
 */
void tn_store_deliver(tn_store_conf_t *conf, tn_store_delivery_t **d,
    tn_uint_t n, tn_log_t *log);


/* the POP3 (later IMAP) view of INBOX */
typedef struct {
    uint32_t          uid;
    off_t             size;
    off_t             vsize;
    time_t            internaldate;
    char             *path;          /* absolute path now (new/ or cur/) */
    /*
     * A stable POP3 UIDL: the Maildir base name (before ':' and ",S=" or
     * ",W="), if it is 1..70 octets of 0x21..0x7e; otherwise the hex
     * SHA-256 of it.  NUL-terminated.
     */
    char              uidl[71];
} tn_store_msg_t;

typedef struct {
    uint32_t          uidvalidity;
    uint32_t          uidnext;
    tn_uint_t         nmsgs;
    tn_store_msg_t   *msgs;          /* sorted by uid */

    /* private */
    tn_pool_t        *pool;          /* msgs and paths live here */
} tn_store_mailbox_t;

/*
 * Syncs the index with the Maildir, then loads INBOX into mb.  Files in
 * new/ or cur/ missing from the index get new UIDs (vsize is computed by
 * reading them), rows whose file is gone are removed, files in tmp/ not
 * touched for 36 hours are removed.  Only regular files owned by the
 * owner of the Maildir count: symlinks, devices and foreign files are
 * skipped with a warning.  A corrupt index.db is rebuilt.  TN_OK (free mb
 * with tn_store_mailbox_free) or TN_ERROR (nothing to free).
 */
tn_int_t tn_store_mailbox_load(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_mailbox_t *mb, tn_log_t *log);
void tn_store_mailbox_free(tn_store_mailbox_t *mb);

/*
 * Removes these UIDs from INBOX: unlinks the files, fsyncs the
 * directories, then deletes the rows (synchronous=FULL).  UIDs that are
 * not in the index are ignored.  TN_OK, or TN_ERROR if any file could not
 * be removed or anything failed to become durable.
 */
tn_int_t tn_store_expunge(tn_store_conf_t *conf, tn_store_user_t *u,
    uint32_t *uids, tn_uint_t n, tn_log_t *log);

/*
 * The absolute path now (PATH_MAX) of INBOX message uid, for a POP3
 * session whose tn_store_msg_t path went stale: an IMAP SELECT moved the
 * file from new/ to cur/, or a flag change renamed it in cur/.  Looks up
 * the flags in the index and tries cur/<base>:2,<flags> and new/<base>,
 * then scans.  TN_OK; TN_DECLINED: expunged, or no file; TN_ERROR.
 */
tn_int_t tn_store_message_path(tn_store_conf_t *conf, tn_store_user_t *u,
    uint32_t uid, char *path, tn_log_t *log);

/*
 * Rebuilds index.db from the Maildir alone.  When the old index is
 * readable and consistent its UIDs and UIDVALIDITY are kept; otherwise it
 * is renamed to index.db.broken-<time> and a new one is made with a new
 * UIDVALIDITY greater than any used before (every UIDVALIDITY given out
 * is also recorded as an empty file "tern-uidvalidity.<hex>" in the
 * Maildir, so it survives the loss of index.db).  TN_OK or TN_ERROR.
 */
tn_int_t tn_store_index_rebuild(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_log_t *log);


/*
 * The admin command line: argv = { "domain", "add", "x.test" } and so on
 * (see the spec: domain add|del|list, user add|passwd|del|list,
 * index rebuild).  Calls tn_store_init() first.  Prints results to
 * stdout and errors to stderr; reads one password line from stdin for
 * user add/passwd (without echo when stdin is a terminal).  Returns the
 * exit code, 0 or 1.
 */
int tn_store_cli(tn_store_conf_t *conf, int argc, char *const *argv,
    tn_log_t *log);


/* the store { } block; NULL before the configuration is read */
tn_store_conf_t *tn_store_get_conf(tn_cycle_t *cycle);

extern tn_module_t  tn_store_module;


/* aliases, catch-all, plus-addressing, forwarding, quotas */
#include <tn_store_rules.h>


#endif /* _TN_STORE_H_INCLUDED_ */
