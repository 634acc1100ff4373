
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>


/*
 * Who may relay, the DSN parameters of MAIL and RCPT (RFC 3461), the
 * envelope of the outbound queue and the hop count of a message.
 *
 * Unauthenticated clients outside smtp_relay_networks may only send to
 * the local domains; mail for remote addresses that the local rules
 * produce (aliases, forwards) is queued all the same: that is the
 * domain's own policy, not relaying.
 */


static tn_int_t tn_mail_smtp_cidr_parse(tn_str_t *value,
    tn_mail_smtp_cidr_t *cidr);
static void tn_mail_smtp_header_line(tn_mail_smtp_tx_t *tx);
static tn_uint_t tn_mail_smtp_xtext_ok(u_char *p, u_char *last);


tn_uint_t
tn_mail_smtp_may_relay(tn_mail_session_t *s)
{
    tn_mail_smtp_srv_conf_t  *sscf;

    if (tn_mail_smtp_authenticated(s)) {
        return 1;
    }

    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (sscf->relay_networks == NULL) {
        return 0;
    }

    return tn_mail_smtp_networks_match(sscf->relay_networks,
                                       s->connection->sockaddr);
}


tn_uint_t
tn_mail_smtp_networks_match(tn_array_t *networks, struct sockaddr *sa)
{
    u_char                *a;
    tn_uint_t              i, k, n;
    struct sockaddr_in    *sin;
    struct sockaddr_in6   *sin6;
    tn_mail_smtp_cidr_t   *cidr;

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        a = (u_char *) &sin->sin_addr;
        n = 4;
        break;

    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        a = sin6->sin6_addr.s6_addr;
        n = 16;
        break;

    default:
        return 0;
    }

    cidr = networks->elts;

    for (i = 0; i < networks->nelts; i++) {
        if (cidr[i].family != sa->sa_family) {
            continue;
        }

        for (k = 0; k < n; k++) {
            if ((a[k] & cidr[i].mask[k]) != cidr[i].addr[k]) {
                break;
            }
        }

        if (k == n) {
            return 1;
        }
    }

    return 0;
}


/*
 * "smtp_relay_networks 127.0.0.0/8 ::1/128 192.0.2.7;", and the same for
 * smtp_transcript_networks: the tn_array_t * at cmd->offset
 */

char *
tn_mail_smtp_set_networks_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *p = conf;

    tn_int_t              rc;
    tn_str_t             *value;
    tn_uint_t             i;
    tn_array_t          **networks;
    tn_mail_smtp_cidr_t  *cidr;

    networks = (tn_array_t **) (p + cmd->offset);

    if (*networks != TN_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *networks = tn_array_create(cf->pool, cf->args->nelts - 1,
                                sizeof(tn_mail_smtp_cidr_t));
    if (*networks == NULL) {
        return TN_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        cidr = tn_array_push(*networks);
        if (cidr == NULL) {
            return TN_CONF_ERROR;
        }

        rc = tn_mail_smtp_cidr_parse(&value[i], cidr);

        if (rc == TN_DECLINED) {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0, "low address bits of "
                              "\"%V\" are meaningless", &value[i]);
            return TN_CONF_ERROR;
        }

        if (rc != TN_OK) {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0, "invalid network \"%V\"",
                              &value[i]);
            return TN_CONF_ERROR;
        }
    }

    return TN_CONF_OK;
}


/*
 * ADDR or ADDR/BITS, IPv4 or IPv6: TN_OK, TN_DECLINED (bits set beyond
 * the prefix) or TN_ERROR
 */

static tn_int_t
tn_mail_smtp_cidr_parse(tn_str_t *value, tn_mail_smtp_cidr_t *cidr)
{
    u_char    *p, buf[64];
    tn_int_t   bits;
    tn_str_t   net, len;
    tn_uint_t  k, max;

    tn_memzero(cidr, sizeof(tn_mail_smtp_cidr_t));

    net = *value;

    p = tn_strlchr(net.data, net.data + net.len, '/');
    if (p) {
        len.data = p + 1;
        len.len = net.data + net.len - len.data;
        net.len = p - net.data;
    }

    if (net.len == 0 || net.len >= sizeof(buf)) {
        return TN_ERROR;
    }

    *tn_cpymem(buf, net.data, net.len) = '\0';

    if (inet_pton(AF_INET, (char *) buf, cidr->addr) == 1) {
        cidr->family = AF_INET;
        max = 32;

    } else if (inet_pton(AF_INET6, (char *) buf, cidr->addr) == 1) {
        cidr->family = AF_INET6;
        max = 128;

    } else {
        return TN_ERROR;
    }

    bits = max;

    if (p) {
        bits = tn_mail_parse_number(&len, max);
        if (bits == TN_ERROR) {
            return TN_ERROR;
        }
    }

    for (k = 0; k < max / 8; k++) {
        cidr->mask[k] = (bits >= 8) ? 0xff
                        : (bits > 0 ? (u_char) (0xff << (8 - bits)) : 0);
        bits = (bits >= 8) ? bits - 8 : 0;

        if (cidr->addr[k] & ~cidr->mask[k]) {
            return TN_DECLINED;
        }
    }

    return TN_OK;
}


/* RET=FULL / RET=HDRS */

tn_int_t
tn_mail_smtp_param_ret(tn_str_t *value, tn_uint_t *ret)
{
    if (value->len == 4
        && tn_strncasecmp(value->data, (u_char *) "FULL", 4) == 0)
    {
        *ret = TN_QUEUE_RET_FULL;
        return TN_OK;
    }

    if (value->len == 4
        && tn_strncasecmp(value->data, (u_char *) "HDRS", 4) == 0)
    {
        *ret = TN_QUEUE_RET_HDRS;
        return TN_OK;
    }

    return TN_ERROR;
}


/* ENVID=xtext, at most 100 characters decoded, printable ASCII */

tn_int_t
tn_mail_smtp_param_envid(tn_str_t *value, u_char *envid)
{
    u_char     *p, *last, *d;
    tn_int_t    ch;

    p = value->data;
    last = p + value->len;

    if (p == last || !tn_mail_smtp_xtext_ok(p, last)) {
        return TN_ERROR;
    }

    d = envid;

    while (p < last) {

        if (d == envid + 100) {
            return TN_ERROR;
        }

        if (*p != '+') {
            *d++ = *p++;
            continue;
        }

        /* the xtext check made sure of two hex digits */
        ch = tn_hextoi(p + 1, 2);

        if (ch < 0x20 || ch > 0x7e) {
            return TN_ERROR;
        }

        *d++ = (u_char) ch;
        p += 3;
    }

    *d = '\0';

    return TN_OK;
}


/* NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY (any of them, once) */

tn_int_t
tn_mail_smtp_param_notify(tn_str_t *value, tn_uint_t *notify)
{
    u_char     *p, *last, *w;
    size_t      n;
    tn_uint_t   bit;

    *notify = 0;

    p = value->data;
    last = p + value->len;

    while (p < last) {

        for (w = p; p < last && *p != ','; p++) { /* void */ }

        n = p - w;

        if (n == 5 && tn_strncasecmp(w, (u_char *) "NEVER", 5) == 0) {
            bit = TN_QUEUE_NOTIFY_NEVER;

        } else if (n == 7
                   && tn_strncasecmp(w, (u_char *) "SUCCESS", 7) == 0)
        {
            bit = TN_QUEUE_NOTIFY_SUCCESS;

        } else if (n == 7
                   && tn_strncasecmp(w, (u_char *) "FAILURE", 7) == 0)
        {
            bit = TN_QUEUE_NOTIFY_FAILURE;

        } else if (n == 5
                   && tn_strncasecmp(w, (u_char *) "DELAY", 5) == 0)
        {
            bit = TN_QUEUE_NOTIFY_DELAY;

        } else {
            return TN_ERROR;
        }

        if (*notify & bit) {
            return TN_ERROR;
        }

        *notify |= bit;

        if (p < last) {
            /* a trailing comma is an empty keyword */
            if (++p == last) {
                return TN_ERROR;
            }
        }
    }

    if (*notify == 0
        || ((*notify & TN_QUEUE_NOTIFY_NEVER)
            && *notify != TN_QUEUE_NOTIFY_NEVER))
    {
        return TN_ERROR;
    }

    return TN_OK;
}


/* ORCPT=addr-type;xtext, kept as given */

tn_int_t
tn_mail_smtp_param_orcpt(tn_str_t *value)
{
    u_char  *p, *last;

    p = value->data;
    last = p + value->len;

    if (value->len >= TN_STORE_ADDR_MAX + 16) {
        return TN_ERROR;
    }

    /* addr-type is an atom: letters, digits, hyphens */

    for ( /* void */ ; p < last && *p != ';'; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
              || (*p >= 'A' && *p <= 'Z') || *p == '-'))
        {
            return TN_ERROR;
        }
    }

    if (p == value->data || p + 1 >= last) {
        return TN_ERROR;
    }

    return tn_mail_smtp_xtext_ok(p + 1, last) ? TN_OK : TN_ERROR;
}


/* RFC 3461 4: xchar (33..126 but '+' and '=') or "+" 2 uppercase hex */

static tn_uint_t
tn_mail_smtp_xtext_ok(u_char *p, u_char *last)
{
    tn_uint_t  i;

    while (p < last) {

        if (*p == '+') {
            if (last - p < 3) {
                return 0;
            }

            for (i = 1; i < 3; i++) {
                if (!((p[i] >= '0' && p[i] <= '9')
                      || (p[i] >= 'A' && p[i] <= 'F')))
                {
                    return 0;
                }
            }

            p += 3;
            continue;
        }

        if (*p < 33 || *p > 126 || *p == '=') {
            return 0;
        }

        p++;
    }

    return 1;
}


tn_int_t
tn_mail_smtp_remote_add(tn_mail_smtp_tx_t *tx, u_char *addr, size_t len,
    tn_str_t *orcpt, tn_uint_t notify, tn_str_t *via)
{
    tn_uint_t               i, n;
    tn_mail_smtp_remote_t  *r, *nr;

    if (len == 0 || len >= TN_STORE_ADDR_MAX) {
        return TN_ERROR;
    }

    for (i = 0; i < tx->nremote; i++) {
        r = &tx->remote[i];

        if (r->addr.len == len && tn_strncmp(r->addr.data, addr, len) == 0) {
            return TN_OK;
        }
    }

    if (tx->nremote == tx->nralloc) {
        n = tx->nralloc ? tx->nralloc * 2 : 4;

        nr = tn_palloc(tx->pool, n * sizeof(tn_mail_smtp_remote_t));
        if (nr == NULL) {
            return TN_ERROR;
        }

        if (tx->remote) {
            tn_memcpy(nr, tx->remote,
                      tx->nremote * sizeof(tn_mail_smtp_remote_t));
        }

        tx->remote = nr;
        tx->nralloc = n;
    }

    r = &tx->remote[tx->nremote];

    if (via->len >= TN_STORE_ADDR_MAX) {
        return TN_ERROR;
    }

    r->addr.data = tn_pnalloc(tx->pool, len + orcpt->len + via->len);
    if (r->addr.data == NULL) {
        return TN_ERROR;
    }

    r->addr.len = len;
    tn_memcpy(r->addr.data, addr, len);

    r->orcpt.data = r->addr.data + len;
    r->orcpt.len = orcpt->len;

    if (orcpt->len) {
        tn_memcpy(r->orcpt.data, orcpt->data, orcpt->len);
    }

    r->via.data = r->orcpt.data + orcpt->len;
    r->via.len = via->len;

    if (via->len) {
        tn_memcpy(r->via.data, via->data, via->len);
    }

    r->notify = notify;

    tx->nremote++;

    return TN_OK;
}


tn_store_queue_env_t *
tn_mail_smtp_queue_env(tn_mail_session_t *s, tn_mail_smtp_tx_t *tx)
{
    tn_uint_t               i;
    tn_store_queue_env_t   *env;
    tn_store_queue_rcpt_t  *qr;
    tn_mail_smtp_remote_t  *r;

    env = tn_alloc(sizeof(tn_store_queue_env_t)
                   + tx->nremote * sizeof(tn_store_queue_rcpt_t),
                   s->connection->log);
    if (env == NULL) {
        return NULL;
    }

    tn_memzero(env, sizeof(tn_store_queue_env_t)
                    + tx->nremote * sizeof(tn_store_queue_rcpt_t));

    env->rcpts = (tn_store_queue_rcpt_t *) (env + 1);
    env->nrcpts = tx->nremote;

    /* the lengths were checked when they were taken */

    if (tx->from.len) {
        tn_memcpy(env->sender, tx->from.data, tx->from.len);
    }

    if (tn_mail_smtp_authenticated(s)) {
        tn_cpystrn((u_char *) env->auth_user, (u_char *) s->user->address,
                   sizeof(env->auth_user));
    }

    tn_cpystrn((u_char *) env->envid, tx->envid, sizeof(env->envid));
    env->ret = tx->ret;
    env->body_8bit = tx->body_8bit;
    env->smtputf8 = tx->smtputf8;
    env->received = tn_time();

    for (i = 0; i < tx->nremote; i++) {
        r = &tx->remote[i];
        qr = &env->rcpts[i];

        tn_memcpy(qr->address, r->addr.data, r->addr.len);
        if (r->orcpt.len) {
            tn_memcpy(qr->orcpt, r->orcpt.data, r->orcpt.len);
        }

        if (r->via.len) {
            tn_memcpy(qr->delivered_to, r->via.data, r->via.len);
        }
        qr->notify = r->notify;
    }

    return env;
}


/*
 * Reads the message header in [p, last), the bytes DATA just wrote (LF
 * line ends, dot-stuffing removed), until the empty line after it: counts
 * the lines that start with "Received:", and looks for a "Delivered-To:"
 * that names a local address this message is forwarded or aliased from
 * (the marker its copy carried when it left here before: a loop).  Only
 * the first bytes of a line are kept; folded lines are not joined.
 */

void
tn_mail_smtp_scan_header(tn_mail_smtp_tx_t *tx, u_char *p, u_char *last)
{
    for ( /* void */ ; p < last && !tx->header_done; p++) {

        if (*p != '\n') {
            if (tx->hline_len < sizeof(tx->hline)) {
                tx->hline[tx->hline_len] = *p;
            }

            tx->hline_len++;
            continue;
        }

        if (tx->hline_len == 0) {
            tx->header_done = 1;
            break;
        }

        tn_mail_smtp_header_line(tx);

        tx->hline_len = 0;
    }
}


static void
tn_mail_smtp_header_line(tn_mail_smtp_tx_t *tx)
{
    u_char                 *v, *end;
    tn_uint_t               i;
    tn_mail_smtp_remote_t  *r;

    if (tx->hline_len >= sizeof("received:") - 1
        && tn_strncasecmp(tx->hline, (u_char *) "received:",
                          sizeof("received:") - 1) == 0)
    {
        tx->hops++;
        return;
    }

    if (tx->hline_len > sizeof(tx->hline)
        || tx->hline_len < sizeof("delivered-to:") - 1
        || tn_strncasecmp(tx->hline, (u_char *) "delivered-to:",
                          sizeof("delivered-to:") - 1) != 0)
    {
        return;
    }

    v = tx->hline + sizeof("delivered-to:") - 1;
    end = tx->hline + tx->hline_len;

    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }

    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (end - v > 2 && *v == '<' && end[-1] == '>') {
        v++;
        end--;
    }

    for (i = 0; i < tx->nremote; i++) {
        r = &tx->remote[i];

        if (r->via.len && r->via.len == (size_t) (end - v)
            && tn_strncasecmp(r->via.data, v, r->via.len) == 0)
        {
            tx->loop = r->via;
            return;
        }
    }
}
