
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>


/*
 * SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms,
 * for submission.  Offered only under TLS unless smtp_auth_plaintext is
 * on.  The password check is tn_mail_auth(), shared with POP3: failures
 * are delayed and counted per client address and per login name, and an
 * address with too many of them is blocked for a while.
 *
 * The base64 of a response is zeroed in the input buffer once decoded,
 * and every decoded buffer is zeroed after use; the log gets the
 * mechanism, the login name (escaped) and the result, never a password
 * or base64.
 */


static tn_int_t tn_mail_smtp_auth_plain(tn_mail_session_t *s,
    tn_connection_t *c, tn_str_t *arg);
static tn_int_t tn_mail_smtp_auth_login_user(tn_mail_session_t *s,
    tn_str_t *arg);
static tn_int_t tn_mail_smtp_auth_login_pass(tn_mail_session_t *s,
    tn_connection_t *c, tn_str_t *arg);
static tn_int_t tn_mail_smtp_auth_check(tn_mail_session_t *s,
    tn_connection_t *c, tn_str_t *user, tn_str_t *pass);
static void tn_mail_smtp_auth_done(tn_mail_session_t *s, tn_int_t rc);
static void tn_mail_smtp_auth_log(tn_mail_session_t *s, const char *result);
static tn_int_t tn_mail_smtp_auth_fail(tn_mail_session_t *s,
    tn_uint_t bad, const char *reply);


tn_uint_t
tn_mail_smtp_auth_offered(tn_mail_session_t *s)
{
    tn_mail_smtp_srv_conf_t  *sscf;

    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    return sscf->auth != TN_MAIL_SMTP_AUTH_OFF
           && (s->ssl || sscf->auth_plaintext);
}


void
tn_mail_smtp_auth_reset(tn_mail_session_t *s)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    s->user = NULL;
    s->login.len = 0;

    tn_explicit_memzero(sctx->auth_user, sizeof(sctx->auth_user));
    sctx->auth_user_len = 0;
    sctx->auth_mech = 0;
}


/* "AUTH mechanism [initial-response]": PLAIN or LOGIN */

tn_int_t
tn_mail_smtp_auth(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                   *p, *last;
    tn_str_t                  mech, ir;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sctx = s->data;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (sscf->auth == TN_MAIL_SMTP_AUTH_OFF) {
        return tn_mail_smtp_unknown(s, c);
    }

    if (tn_mail_smtp_authenticated(s)) {
        tn_mail_smtp_error(s, "503 5.5.1 Already authenticated");
        return TN_OK;
    }

    /* RFC 4954 4: after EHLO, not during a mail transaction */
    if (sctx->state != tn_smtp_state_idle) {
        tn_mail_smtp_error(s, "503 5.5.1 Bad sequence of commands");
        return TN_OK;
    }

    if (s->parse.nargs == 0) {
        tn_mail_smtp_error(s, "501 5.5.4 Syntax: AUTH mechanism");
        return TN_OK;
    }

    mech = s->parse.args[0];
    last = mech.data + mech.len;

    p = tn_strlchr(mech.data, last, ' ');

    ir.data = p ? p + 1 : last;
    ir.len = last - ir.data;
    mech.len = (p ? p : last) - mech.data;

    if (mech.len == 5
        && tn_strncasecmp(mech.data, (u_char *) "PLAIN", 5) == 0)
    {
        sctx->auth_mech = TN_MAIL_SMTP_MECH_PLAIN;

    } else if (mech.len == 5
               && tn_strncasecmp(mech.data, (u_char *) "LOGIN", 5) == 0)
    {
        sctx->auth_mech = TN_MAIL_SMTP_MECH_LOGIN;

    } else {
        tn_explicit_memzero(ir.data, ir.len);
        tn_mail_smtp_error(s, "504 5.5.4 Unrecognized authentication type");
        return TN_OK;
    }

    if (!tn_mail_smtp_auth_offered(s)) {
        tn_explicit_memzero(ir.data, ir.len);
        tn_mail_smtp_reply(s, "538 5.7.11 Encryption required for "
                           "requested authentication mechanism");
        return TN_OK;
    }

    if (sctx->auth_mech == TN_MAIL_SMTP_MECH_PLAIN) {
        if (ir.len) {
            return tn_mail_smtp_auth_plain(s, c, &ir);
        }

        tn_mail_smtp_reply(s, "334 ");
        tn_mail_smtp_enter_state(s, tn_smtp_state_auth_plain);
        return TN_OK;
    }

    if (ir.len) {
        return tn_mail_smtp_auth_login_user(s, &ir);
    }

    /* base64 of "Username:" */
    tn_mail_smtp_reply(s, "334 VXNlcm5hbWU6");
    tn_mail_smtp_enter_state(s, tn_smtp_state_auth_user);
    return TN_OK;
}


/* a line read in a SASL state */

tn_int_t
tn_mail_smtp_auth_response(tn_mail_session_t *s, tn_connection_t *c,
    tn_int_t rc)
{
    tn_str_t                *line;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    line = &s->parse.args[0];

    if (rc == TN_MAIL_PARSE_LINE_TOO_LONG) {
        /* tn_mail_read_command() counted it as a bad line already */
        return tn_mail_smtp_auth_fail(s, 0, "500 5.5.6 Authentication "
                                      "Exchange line is too long");
    }

    if (rc != TN_OK) {
        return tn_mail_smtp_auth_fail(s, 0, "501 5.5.2 Cannot decode "
                                      "response");
    }

    if (line->len == 1 && line->data[0] == '*') {
        tn_mail_smtp_auth_log(s, "cancelled");
        return tn_mail_smtp_auth_fail(s, 0, "501 5.0.0 Authentication "
                                      "cancelled");
    }

    switch (sctx->state) {

    case tn_smtp_state_auth_plain:
        return tn_mail_smtp_auth_plain(s, c, line);

    case tn_smtp_state_auth_user:
        return tn_mail_smtp_auth_login_user(s, line);

    default: /* tn_smtp_state_auth_pass */
        return tn_mail_smtp_auth_login_pass(s, c, line);
    }
}


static tn_int_t
tn_mail_smtp_auth_plain(tn_mail_session_t *s, tn_connection_t *c,
    tn_str_t *arg)
{
    tn_int_t  rc;
    tn_str_t  user, pass;
    u_char    buf[tn_base64_decoded_length(TN_MAIL_SMTP_AUTH_LINE_MAX)];

    if (arg->len > TN_MAIL_SMTP_AUTH_LINE_MAX
        || tn_mail_auth_plain(arg, buf, &user, &pass) != TN_OK)
    {
        tn_explicit_memzero(arg->data, arg->len);
        tn_explicit_memzero(buf, sizeof(buf));
        tn_mail_smtp_auth_log(s, "bad response");
        return tn_mail_smtp_auth_fail(s, 1, "501 5.5.2 Cannot decode "
                                      "response");
    }

    /* the base64 of the password must not linger in the input buffer */
    tn_explicit_memzero(arg->data, arg->len);

    rc = tn_mail_smtp_auth_check(s, c, &user, &pass);

    tn_explicit_memzero(buf, sizeof(buf));

    return rc;
}


static tn_int_t
tn_mail_smtp_auth_login_user(tn_mail_session_t *s, tn_str_t *arg)
{
    tn_str_t                 user;
    tn_mail_smtp_session_t  *sctx;
    u_char                   buf[TN_MAIL_AUTH_USER_MAX + 3];

    sctx = s->data;

    user.data = buf;

    if (arg->len == 0
        || tn_base64_decoded_length(arg->len) > sizeof(buf)
        || tn_decode_base64(&user, arg) != TN_OK
        || user.len == 0 || user.len > TN_MAIL_AUTH_USER_MAX)
    {
        tn_explicit_memzero(buf, sizeof(buf));
        tn_mail_smtp_auth_log(s, "bad response");
        return tn_mail_smtp_auth_fail(s, 1, "501 5.5.2 Cannot decode "
                                      "response");
    }

    tn_memcpy(sctx->auth_user, user.data, user.len);
    sctx->auth_user_len = user.len;

    tn_explicit_memzero(buf, sizeof(buf));

    /* base64 of "Password:" */
    tn_mail_smtp_reply(s, "334 UGFzc3dvcmQ6");
    tn_mail_smtp_enter_state(s, tn_smtp_state_auth_pass);

    return TN_OK;
}


static tn_int_t
tn_mail_smtp_auth_login_pass(tn_mail_session_t *s, tn_connection_t *c,
    tn_str_t *arg)
{
    tn_int_t                 rc;
    tn_str_t                 user, pass;
    tn_mail_smtp_session_t  *sctx;
    u_char                   buf[TN_MAIL_AUTH_PASS_MAX + 3];

    sctx = s->data;

    pass.data = buf;

    if (arg->len == 0
        || tn_base64_decoded_length(arg->len) > sizeof(buf)
        || tn_decode_base64(&pass, arg) != TN_OK
        || pass.len == 0 || pass.len > TN_MAIL_AUTH_PASS_MAX)
    {
        tn_explicit_memzero(arg->data, arg->len);
        tn_explicit_memzero(buf, sizeof(buf));
        tn_mail_smtp_auth_log(s, "bad response");
        return tn_mail_smtp_auth_fail(s, 1, "501 5.5.2 Cannot decode "
                                      "response");
    }

    tn_explicit_memzero(arg->data, arg->len);

    user.data = sctx->auth_user;
    user.len = sctx->auth_user_len;

    rc = tn_mail_smtp_auth_check(s, c, &user, &pass);

    tn_explicit_memzero(buf, sizeof(buf));

    return rc;
}


/* hands the credentials to tn_mail_auth(), which zeroes pass */

static tn_int_t
tn_mail_smtp_auth_check(tn_mail_session_t *s, tn_connection_t *c,
    tn_str_t *user, tn_str_t *pass)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    /* kept for the log line of the result */
    if (user->data != sctx->auth_user) {
        tn_memcpy(sctx->auth_user, user->data, user->len);
        sctx->auth_user_len = user->len;
    }

    tn_mail_smtp_enter_state(s, tn_smtp_state_auth);

    if (tn_mail_auth(s, user, pass, tn_mail_smtp_auth_done) != TN_OK) {
        tn_mail_smtp_auth_log(s, "error");
        tn_mail_smtp_enter_state(s, tn_smtp_state_idle);
        return tn_mail_smtp_auth_fail(s, 0, "454 4.7.0 Temporary "
                                      "authentication failure");
    }

    c->log->action = "authenticating";

    return TN_AGAIN;
}


/* tn_mail_auth() answered, from the event loop */

static void
tn_mail_smtp_auth_done(tn_mail_session_t *s, tn_int_t rc)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    if (sctx->state != tn_smtp_state_auth) {
        /* the session is ending (421 at shutdown): nothing more to say */
        return;
    }

    switch (rc) {

    case TN_OK:
        tn_mail_smtp_auth_log(s, "ok");
        tn_mail_smtp_reply(s, "235 2.7.0 Authentication successful");
        break;

    case TN_DECLINED:
        tn_mail_smtp_auth_log(s, "failed");
        tn_mail_smtp_reply(s, "535 5.7.8 Authentication credentials "
                           "invalid");
        break;

    case TN_BUSY:
        tn_mail_smtp_auth_log(s, "blocked");
        tn_mail_smtp_reply(s, "454 4.7.0 Too many failed attempts, "
                           "try later");
        break;

    default:
        tn_mail_smtp_auth_log(s, "error");
        tn_mail_smtp_reply(s, "454 4.7.0 Temporary authentication "
                           "failure");
        break;
    }

    tn_explicit_memzero(sctx->auth_user, sizeof(sctx->auth_user));
    sctx->auth_user_len = 0;

    tn_mail_smtp_enter_state(s, tn_smtp_state_idle);

    tn_mail_smtp_process(s, s->connection);
}


/* one INFO line per attempt: mechanism, login name as sent, result */

static void
tn_mail_smtp_auth_log(tn_mail_session_t *s, const char *result)
{
    u_char                  *p;
    size_t                   len;
    tn_mail_smtp_session_t  *sctx;
    u_char                   buf[4 * 64 + 4];

    sctx = s->data;

    len = tn_min(sctx->auth_user_len, 64);

    p = tn_escape_log(buf, sctx->auth_user, len);
    if (sctx->auth_user_len > 64) {
        p = tn_cpymem(p, "...", 3);
    }

    tn_log_error(TN_LOG_INFO, s->connection->log, 0,
                 "smtp auth: mechanism=%s, user=\"%*s\", result=%s",
                 sctx->auth_mech == TN_MAIL_SMTP_MECH_LOGIN ? "LOGIN"
                                                            : "PLAIN",
                 (size_t) (p - buf), buf, result);

    /* the name as sent (the transcript escapes it), never a password */
    tn_mail_smtp_transcript_event(s, 'R', "AUTH result: %s mechanism=%s "
                                  "user=%*s", result,
                                  sctx->auth_mech == TN_MAIL_SMTP_MECH_LOGIN
                                  ? "LOGIN" : "PLAIN",
                                  sctx->auth_user_len, sctx->auth_user);
}


/*
 * The exchange ends without a check: back to idle; bad: the reply counts
 * as a bad command (smtp_max_errors).
 */

static tn_int_t
tn_mail_smtp_auth_fail(tn_mail_session_t *s, tn_uint_t bad,
    const char *reply)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    tn_explicit_memzero(sctx->auth_user, sizeof(sctx->auth_user));
    sctx->auth_user_len = 0;

    if (sctx->state != tn_smtp_state_idle) {
        tn_mail_smtp_enter_state(s, tn_smtp_state_idle);
    }

    if (bad) {
        tn_mail_smtp_error(s, "%s", reply);

    } else {
        tn_mail_smtp_reply(s, "%s", reply);
    }

    return TN_OK;
}
