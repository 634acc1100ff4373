
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_IMAP_MSG_H_INCLUDED_
#define _TN_MAIL_IMAP_MSG_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_imap.h>
#include <tn_mail_imap_parse.h>


/*
 * What IMAP makes of a message: the header cache (ENVELOPE,
 * BODYSTRUCTURE, BODY, search and sort fields), FETCH sections, and the
 * string forms IMAP needs (quoted strings, dates, modified UTF-7, case
 * folding).  Pure functions over memory or a file descriptor, safe in
 * any thread; everything they make is in the pool given.  Messages are
 * parsed with the streaming MIME parser (tn_mail_mime.h) with its
 * default limits: a message beyond them is still described, with what
 * is past the limits treated as the body of the last part.
 */


/*
 * Reads the message file fd (LF or CRLF line ends, as stored) from
 * offset 0 in chunks and fills c: the cached header block (CRLF ends;
 * header_too_large past TN_STORE_CACHE_HEADER_MAX), ENVELOPE,
 * BODYSTRUCTURE and BODY exactly as a FETCH response writes them
 * (sizes and line counts of the CRLF form), and the folded search and
 * sort fields.  TN_OK; TN_ERROR on a read error or out of memory
 * (logged with errno).
 */
tn_int_t tn_mail_imap_msg_cache(tn_pool_t *pool, tn_fd_t fd,
    tn_store_cache_t *c, tn_log_t *log);

/*
 * Reads the whole message file at path into memory in its CRLF form
 * (each bare LF becomes CRLF; a bare CR is kept).  max: refuse
 * (TN_DECLINED) a file whose CRLF form would be larger.  TN_ERROR: open
 * or read failure (errno set, not logged: the caller knows if ENOENT
 * means "expunged meanwhile").
 */
tn_int_t tn_mail_imap_msg_load(tn_pool_t *pool, const char *path,
    off_t max, tn_str_t *msg);

/*
 * A FETCH section of msg (CRLF form, from tn_mail_imap_msg_load()),
 * before any partial is applied: BODY[] the whole message, BODY[HEADER],
 * [TEXT], [HEADER.FIELDS (..)] and [.NOT] (fields matched
 * case-insensitively, folded lines kept, the empty line at the end), a
 * part "1.2" (of a message/rfc822 part: its body is the encapsulated
 * message, whose HEADER/TEXT "1.2.HEADER" select), [1.2.MIME] (the
 * part's own MIME header), per RFC 3501 6.4.5 and RFC 9051.  A part
 * number that does not exist gives an empty string (TN_OK, out->len 0).
 * For BINARY (s->item TN_MAIL_IMAP_FETCH_BINARY or _BINARY_SIZE) the
 * part's body is decoded from base64 or quoted-printable; *binary is
 * set when the result holds a NUL (the caller then sends a literal8).
 * TN_DECLINED: BINARY of a part whose Content-Transfer-Encoding is
 * unknown ([UNKNOWN-CTE]).  TN_ERROR: out of memory.  out may point
 * into msg.
 */
tn_int_t tn_mail_imap_msg_section(tn_pool_t *pool, tn_str_t *msg,
    tn_mail_imap_section_t *s, tn_str_t *out, tn_uint_t *binary);

/*
 * [HEADER.FIELDS (..)] and [.NOT] of a header block (CRLF form, with
 * its empty line): used for the cached header and by
 * tn_mail_imap_msg_section().  not: 1 for .NOT.
 */
tn_int_t tn_mail_imap_msg_fields(tn_pool_t *pool, tn_str_t *header,
    tn_str_t *fields, tn_uint_t not, tn_str_t *out);


/*
 * IMAP string output.  tn_mail_imap_astring() writes s as an IMAP
 * string into dst (which has room for tn_mail_imap_astring_len(s)):
 * a quoted string when s is short (<= 1024), has no CR, LF, NUL and,
 * unless utf8 is set, no 8-bit byte; else a literal "{n}\r\n" + s.
 * NIL when s->data is NULL.  Returns the end of what was written.
 */
size_t tn_mail_imap_astring_len(tn_str_t *s, tn_uint_t utf8);
u_char *tn_mail_imap_astring(u_char *dst, tn_str_t *s, tn_uint_t utf8);

/* "27-Nov-2026 20:24:48 +0000" (26 bytes, no quotes) for INTERNALDATE */
#define TN_MAIL_IMAP_DATE_TIME_LEN  26
u_char *tn_mail_imap_date_time(u_char *dst, time_t t, int32_t tz_minutes);

/*
 * Parses an APPEND date-time (RFC 3501: "dd-Mon-yyyy hh:mm:ss +zzzz",
 * day with a leading space or digit) into UTC.  TN_OK or TN_ERROR.
 */
tn_int_t tn_mail_imap_parse_date_time(tn_str_t *s, time_t *t);

/*
 * Parses a SEARCH date ("1-Feb-1994", day 1 or 2 digits, month in any
 * case) into the UTC time of that day's 00:00.  TN_OK or TN_ERROR.
 */
tn_int_t tn_mail_imap_parse_date(tn_str_t *s, time_t *t);

/*
 * Modified UTF-7 (RFC 3501 5.1.3) to UTF-8 and back, for mailbox names
 * of clients that did not enable UTF-8.  decode refuses (TN_ERROR) what
 * RFC 3501 forbids: a printable ASCII char encoded, "&" not followed by
 * "-" or base64, a shift not ended by "-", bad padding bits, an
 * unpaired surrogate, a shift that encodes nothing.  Results are
 * NUL-terminated, in pool.
 */
tn_int_t tn_mail_imap_utf7_decode(tn_pool_t *pool, tn_str_t *in,
    tn_str_t *out);
tn_int_t tn_mail_imap_utf7_encode(tn_pool_t *pool, tn_str_t *in,
    tn_str_t *out);

/*
 * Case folding for SEARCH (RFC 9051: case-insensitive in UTF-8): ASCII,
 * Latin-1, Latin Extended-A, Greek and Cyrillic letters to their lower
 * case, anything else as is; malformed UTF-8 bytes kept as they are.
 * dst has room for 2 * len bytes (a folding never grows more).  Returns
 * the length written.
 */
size_t tn_mail_imap_fold(u_char *dst, u_char *src, size_t len);

/*
 * SEARCH substring test on folded text: 1 if needle (folded) is in hay
 * (folded), 0 otherwise.  An empty needle matches.
 */
tn_uint_t tn_mail_imap_contains(tn_str_t *hay, tn_str_t *needle);

/*
 * The folded, RFC 2047 decoded, UTF-8 value of every field called name
 * in a header block (CRLF form), values joined by "\n": for SEARCH
 * HEADER.  TN_OK.
 */
tn_int_t tn_mail_imap_msg_header_values(tn_pool_t *pool, tn_str_t *header,
    tn_str_t *name, tn_str_t *out);

/*
 * The folded, decoded (transfer encoding and charset) text of every
 * text/ part of msg (CRLF form), parts joined by "\n": for SEARCH BODY
 * and TEXT.  TN_OK or TN_ERROR (out of memory).
 */
tn_int_t tn_mail_imap_msg_text(tn_pool_t *pool, tn_str_t *msg,
    tn_str_t *out);


#endif /* _TN_MAIL_IMAP_MSG_H_INCLUDED_ */
