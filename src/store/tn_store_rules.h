
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_STORE_RULES_H_INCLUDED_
#define _TN_STORE_RULES_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>


/*
 * Local delivery rules, kept in tern.db: aliases (one address to many
 * local or remote addresses, "@domain" for a domain's catch-all, a
 * send_as flag per row), plus-addressing (recipient_delimiter), per-user
 * forwarding (forward_to, forward_keep) and quotas (quota_bytes).  Like
 * the rest of the store these functions BLOCK.
 */


/* how deep aliases and forwards nest, and how many targets at most */
#define TN_STORE_RULES_DEPTH    10
#define TN_STORE_RULES_MAX      1000


typedef struct {
    tn_uint_t          nlocal;
    tn_store_user_t   *local;          /* malloc'd */
    tn_uint_t          nremote;
    char             (*remote)[TN_STORE_ADDR_MAX];  /* malloc'd */
} tn_store_rcpt_t;


/*
 * Expands a RCPT address.  For each address the order is: an enabled
 * user; an alias; with the +tag (from the first recipient_delimiter
 * character on) stripped, a user, then an alias; the catch-all alias of
 * the domain.  Alias targets and forward targets are expanded the same
 * way, at most TN_STORE_RULES_DEPTH levels deep; an address outside the
 * local domains is a remote target.  Duplicates are removed.  A loop
 * (an address reached again on its own path) or the depth limit ends
 * that branch, logged at INFO; when the address there is a user, the
 * user keeps the message (so a forwarding loop stores one copy instead
 * of losing it).  A user with forward_to gets forwarded (and keeps a copy
 * with forward_keep); a disabled user gets nothing.
 *   TN_OK        r filled, at least one target;
 *   TN_DECLINED  a local domain, but nobody (or an invalid local part);
 *   TN_DONE      not a local domain (or no valid domain);
 *   TN_ERROR     store failure, or more than TN_STORE_RULES_MAX targets
 *                (logged).
 * On TN_OK the caller frees r with tn_store_rcpt_free(); on any other
 * result r is empty and needs no freeing (freeing it is harmless).
 */
tn_int_t tn_store_rcpt_resolve(tn_store_conf_t *conf, u_char *addr,
    size_t len, tn_store_rcpt_t *r, tn_log_t *log);
void tn_store_rcpt_free(tn_store_rcpt_t *r);

/*
 * TN_OK when user u may use addr as MAIL FROM / From:: its own address,
 * with or without a +tag, or an alias (exact, or with the +tag stripped)
 * whose rows all have send_as on and which expands, forwards not
 * followed, to u alone.  A catch-all never grants it.  TN_DECLINED, or
 * TN_ERROR (store failure).
 */
tn_int_t tn_store_may_send_as(tn_store_conf_t *conf, tn_store_user_t *u,
    u_char *addr, size_t len, tn_log_t *log);

/*
 * At RCPT time: TN_OK when a message of size bytes (0: not known yet,
 * counted as 1) fits in u's quota, or u has none; TN_DECLINED when it
 * does not; TN_ERROR.  Usage is the sum of the message sizes in all the
 * mailboxes of index.db.  tn_store_deliver() makes the binding check
 * again inside the user's index transaction and fails the message with
 * EDQUOT; as rc is per message, one recipient over quota fails the whole
 * message.
 */
tn_int_t tn_store_quota_check(tn_store_conf_t *conf, tn_store_user_t *u,
    off_t size, tn_log_t *log);


/*
 * Administration, as in tn_store.h: TN_OK, TN_DECLINED (reason logged at
 * INFO) or TN_ERROR.
 *
 * alias_add: addr is local@domain or "@domain" (a catch-all); the domain
 * must be local; targets are addresses (local or remote).  Existing
 * (address, target) pairs are kept; new rows take the send_as of the
 * address's existing rows.
 */
tn_int_t tn_store_alias_add(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char **targets, tn_uint_t n, tn_log_t *log);
/* target NULL: every row of addr */
tn_int_t tn_store_alias_del(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char *target, tn_log_t *log);
tn_int_t tn_store_alias_sendas(tn_store_conf_t *conf, u_char *addr,
    size_t len, tn_uint_t on, tn_log_t *log);
/*
 * The callback gets "address target" or "address target send-as" per
 * row, ordered; domain NULL (or len 0): every alias.
 */
tn_int_t tn_store_alias_list(tn_store_conf_t *conf, u_char *domain,
    size_t len, tn_store_list_pt cb, void *data, tn_log_t *log);

/* n == 0: forwarding off */
tn_int_t tn_store_user_forward(tn_store_conf_t *conf, u_char *addr,
    size_t len, u_char **targets, tn_uint_t n, tn_uint_t keep,
    tn_log_t *log);
/* bytes 0: no quota */
tn_int_t tn_store_user_quota(tn_store_conf_t *conf, u_char *addr,
    size_t len, off_t bytes, tn_log_t *log);


#endif /* _TN_STORE_RULES_H_INCLUDED_ */
