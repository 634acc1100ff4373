
/*
 * Copyright (C) The Tern developers
 */


/*
 * LOGIN and AUTHENTICATE PLAIN (RFC 4616, SASL-IR RFC 4959).  The check
 * runs in tn_mail_auth() (the thread pool, the failure delay); here the
 * arguments are taken apart and every copy of the password in the input
 * buffer, the command pool and the decoding buffer is zeroed.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>


static tn_int_t tn_mail_imap_plain(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_str_t *arg);
static void tn_mail_imap_auth_done(tn_mail_session_t *s, tn_int_t rc);


tn_int_t
tn_mail_imap_login(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t             rc;
    tn_str_t             user, pass;
    tn_mail_imap_arg_t  *arg;

    tn_mail_imap_wipe_input(s, is);

    if (!tn_mail_imap_plaintext_ok(s)) {
        tn_mail_imap_parse_wipe(&is->parse);
        return tn_mail_imap_tagged(is, "NO", "[PRIVACYREQUIRED] Plaintext "
                                   "authentication disallowed without "
                                   "TLS");
    }

    arg = is->parse.args;

    if (tn_mail_imap_arg_astring(arg, &user) != TN_OK
        || tn_mail_imap_arg_astring(arg->next, &pass) != TN_OK)
    {
        tn_mail_imap_parse_wipe(&is->parse);
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid LOGIN arguments");
    }

    if (user.len == 0 || user.len > TN_MAIL_AUTH_USER_MAX
        || pass.len == 0 || pass.len > TN_MAIL_AUTH_PASS_MAX)
    {
        tn_mail_imap_parse_wipe(&is->parse);
        return tn_mail_imap_tagged(is, "NO", "[AUTHENTICATIONFAILED] "
                                   "Authentication failed");
    }

    s->connection->log->action = "checking the login";

    /* tn_mail_auth() copies what it needs and zeroes pass */
    rc = tn_mail_auth(s, &user, &pass, tn_mail_imap_auth_done);

    tn_mail_imap_parse_wipe(&is->parse);

    if (rc != TN_OK) {
        return tn_mail_imap_unavailable(is);
    }

    return TN_AGAIN;
}


/*
 * The consumed input holds the password: zero it, and what earlier
 * reads left past the end of the data.
 */

void
tn_mail_imap_wipe_input(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_buf_t  *b;

    b = s->buffer;

    if (b->start == NULL) {
        return;
    }

    tn_explicit_memzero(b->start, b->pos - b->start);
    tn_explicit_memzero(b->last, b->end - b->last);
}


tn_int_t
tn_mail_imap_authenticate(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t             rc;
    tn_mail_imap_arg_t  *arg;

    tn_mail_imap_wipe_input(s, is);

    arg = is->parse.args;

    if (arg->type != TN_MAIL_IMAP_ARG_ATOM) {
        tn_mail_imap_parse_wipe(&is->parse);
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid AUTHENTICATE "
                                   "arguments");
    }

    if (arg->value.len != 5
        || tn_strncasecmp(arg->value.data, (u_char *) "PLAIN", 5) != 0)
    {
        tn_mail_imap_parse_wipe(&is->parse);
        return tn_mail_imap_tagged(is, "NO", "Unsupported authentication "
                                   "mechanism");
    }

    if (!tn_mail_imap_plaintext_ok(s)) {
        tn_mail_imap_parse_wipe(&is->parse);
        return tn_mail_imap_tagged(is, "NO", "[PRIVACYREQUIRED] Plaintext "
                                   "authentication disallowed without "
                                   "TLS");
    }

    if (arg->next) {
        /* SASL-IR (RFC 4959); "=" is an empty response */
        if (arg->next->type != TN_MAIL_IMAP_ARG_ATOM) {
            tn_mail_imap_parse_wipe(&is->parse);
            s->errors++;
            return tn_mail_imap_tagged(is, "BAD", "Invalid initial "
                                       "response");
        }

        rc = tn_mail_imap_plain(s, is, &arg->next->value);

        tn_mail_imap_parse_wipe(&is->parse);

        return rc;
    }

    if (tn_mail_imap_printf(is, "+ " CRLF) != TN_OK) {
        return TN_ERROR;
    }

    is->sasl = 1;

    return TN_AGAIN;
}


/* the response line after "+ " */

tn_int_t
tn_mail_imap_sasl(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_str_t *line)
{
    is->sasl = 0;

    if (line->len == 1 && line->data[0] == '*') {
        return tn_mail_imap_tagged(is, "BAD", "Authentication cancelled");
    }

    return tn_mail_imap_plain(s, is, line);
}


static tn_int_t
tn_mail_imap_plain(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_str_t *arg)
{
    u_char    buf[tn_base64_decoded_length(TN_MAIL_IMAP_MAX_SASL)];
    tn_int_t  rc;
    tn_str_t  user, pass;

    if (arg->len > TN_MAIL_IMAP_MAX_SASL
        || tn_mail_auth_plain(arg, buf, &user, &pass) != TN_OK)
    {
        tn_explicit_memzero(arg->data, arg->len);
        tn_explicit_memzero(buf, sizeof(buf));
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid SASL PLAIN "
                                   "response");
    }

    tn_explicit_memzero(arg->data, arg->len);

    s->connection->log->action = "checking the login";

    rc = tn_mail_auth(s, &user, &pass, tn_mail_imap_auth_done);

    tn_explicit_memzero(buf, sizeof(buf));

    if (rc != TN_OK) {
        return tn_mail_imap_unavailable(is);
    }

    return TN_AGAIN;
}


static void
tn_mail_imap_auth_done(tn_mail_session_t *s, tn_int_t rc)
{
    u_char                  *p, buf[1024];
    tn_mail_imap_session_t  *is;

    is = s->data;

    s->connection->log->action = "in nonauth state";

    switch (rc) {

    case TN_OK:
        tn_log_error(TN_LOG_INFO, s->connection->log, 0, "imap login");

        is->state = tn_imap_state_auth;
        s->connection->log->action = "in authenticated state";

        p = tn_mail_imap_capabilities(s, is, buf, buf + sizeof(buf) - 1);
        *p = '\0';

        (void) tn_mail_imap_tagged(is, "OK", "[CAPABILITY %s] Logged in",
                                   buf);
        break;

    case TN_DECLINED:
        (void) tn_mail_imap_tagged(is, "NO", "[AUTHENTICATIONFAILED] "
                                   "Authentication failed");
        break;

    case TN_BUSY:
        (void) tn_mail_imap_tagged(is, "NO", "[UNAVAILABLE] Too many "
                                   "failed logins, try again later");
        break;

    default:
        (void) tn_mail_imap_unavailable(is);
    }

    tn_mail_imap_command_done(s, TN_OK);
}
