
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_IMAP_PARSE_H_INCLUDED_
#define _TN_MAIL_IMAP_PARSE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * The IMAP command parser (RFC 3501, RFC 9051, LITERAL+/LITERAL- of
 * RFC 7888, literal8 of RFC 3516).  One command at a time is read from
 * the session's input buffer into a tree of arguments, by a resumable
 * state machine: bytes may arrive in any split, and a byte-by-byte feed
 * gives the same results as the whole input.
 *
 * Unlike the SMTP/POP3 line parsers the parser copies what it keeps
 * (the tag, the command name, every argument) into p->pool, the
 * per-command pool, so that a command may be longer than the input
 * buffer and literals need no room in it.  It never keeps a pointer into
 * the buffer between calls: after TN_AGAIN all input was consumed
 * (b->pos == b->last) and the caller may reset or reuse the buffer.
 *
 *
 * The calling loop:
 *
 *     for ( ;; ) {
 *         rc = tn_mail_imap_parse_command(p, b);
 *
 *         TN_AGAIN                  read more into b, call again
 *         TN_OK                     p->tag, p->command, p->uid, p->args:
 *                                   run the command; reset p->pool after
 *                                   it (see tn_mail_imap_parse_wipe())
 *         TN_MAIL_IMAP_LITERAL      "{n}\r\n" was read, see below
 *         TN_MAIL_IMAP_LITERAL_DATA p->data: octets of a streamed literal
 *         TN_MAIL_IMAP_LITERAL_END  the streamed literal is complete
 *         tn_mail_imap_parse_error(rc)
 *                                   answer "tag BAD ..." ("* BAD" when
 *                                   p->tag.len is 0) or "NO [TOOBIG]",
 *                                   log p->err; call again: the parser
 *                                   skips the rest of the command itself
 *         TN_ERROR                  out of memory: close the connection
 *     }
 *
 * On every result but TN_AGAIN, b->pos is just after the last byte used
 * and [b->pos, b->last) must be kept for the next call.
 *
 *
 * Literals.  When the parser has read "{n}\r\n", "{n+}\r\n" or
 * "~{n}\r\n" it decides the literal's kind and limit:
 *
 *   - a message literal: any literal of APPEND but its first argument
 *     (the mailbox): the message of APPEND and MULTIAPPEND, the TEXT
 *     parts of CATENATE.  Up to p->max_append octets, streamed: it is
 *     never kept in memory;
 *   - any other literal: up to p->max_literal octets for all the
 *     literals of the command together, collected into the argument.
 *
 * Over the limit (or a non-synchronizing literal over 4096 octets with
 * p->literal_minus), the result is TN_MAIL_IMAP_LITERAL_TOO_LARGE before
 * any octet of it is read: for a synchronizing literal the command ends
 * there (the client waits for a "+" it does not get, reads our tagged
 * BAD or NO instead and does not send the octets); a non-synchronizing
 * one was sent anyway, so the parser skips exactly its n octets and then
 * the rest of the command.  A literal octet is never read as a command.
 *
 * Under the limit the result is TN_MAIL_IMAP_LITERAL with p->literal
 * (the new argument), p->literal_size, p->literal_sync,
 * p->literal_binary and p->literal_stream set.  The caller either
 *
 *   - accepts it: for a synchronizing literal it sends "+ Ready\r\n"
 *     (or any continuation), then calls tn_mail_imap_parse_command()
 *     again; or
 *   - refuses it: tn_mail_imap_parse_refuse(), then answers the tagged
 *     NO/BAD (e.g. APPEND to a mailbox that does not exist): the same
 *     skipping as for a literal too large.
 *
 * An accepted literal that is kept in memory is read silently into
 * p->literal->value.  A streamed one gives TN_MAIL_IMAP_LITERAL_DATA
 * once for each run of octets at hand (p->data points into b and is
 * valid until the caller changes b; p->literal_left octets are still to
 * come), then TN_MAIL_IMAP_LITERAL_END once, then the parse of the
 * command goes on.  The caller writes the data to its spool file; if it
 * has to give up in the middle (disk full), it calls
 * tn_mail_imap_parse_refuse() and answers NO: the parser skips the rest.
 *
 *
 * Errors.  Each error result comes as soon as the parser sees the bad
 * byte (b->pos is left at it, or after the LF of a literal header that
 * is refused), so the caller can answer and log at once, and close the
 * connection if it wants (e.g. after a too long line, or after a
 * non-synchronizing literal too large to be worth skipping: its size may
 * be up to 2^64 - 1); p->err is a static description for the log.
 * With TN_MAIL_IMAP_LITERAL_TOO_LARGE, p->literal_size, p->literal_sync
 * and p->literal_stream (a message literal: answer "NO [TOOBIG]") say
 * what was refused.  The next calls skip, silently, up to the end of that
 * command: the end of its line, except that a "{n+}" or "~{n+}" just
 * before a CRLF makes the parser skip n octets and go on skipping, and a
 * "{n}" just before a CRLF ends the command (the client waits for a
 * continuation it will not get).  Literal headers are recognised in the
 * skipped text whatever precedes them, even inside what would have been
 * a quoted string: a client that sends a literal always has its octets
 * skipped.  A line ends at LF: a bare LF ends the bad command, a bare CR
 * does not.
 *
 *
 * Syntax.  Tag: 1*<ASTRING-CHAR except "+">.  Then one or more SP and
 * the command name (case-insensitive; "UID" and one of COPY, MOVE,
 * FETCH, SEARCH, STORE, EXPUNGE, SORT, THREAD sets p->uid).  An unknown
 * name gives TN_MAIL_IMAP_UNKNOWN_COMMAND as soon as it ends, so the
 * arguments of a command nobody runs are never collected.
 * Arguments are separated by runs of SP (RFC 3501 says one SP; more are
 * accepted, as are spaces after "(", before ")" and before the CRLF):
 *
 *   atom     1*(ATOM-CHAR / "]" / "%" / "*"), or "\" and such chars (a
 *            flag).  An atom of digits only that fits number64 is a
 *            TN_MAIL_IMAP_ARG_NUMBER, "NIL" in any case is
 *            TN_MAIL_IMAP_ARG_NIL; both keep their text in value.
 *            BODY[, BODY.PEEK[, BINARY[, BINARY.PEEK[ and BINARY.SIZE[
 *            start a section, which may hold SP, one level of "( )" and
 *            quoted strings up to its "]"; then the atom goes on (the
 *            partial "<0.100>").  The whole text is kept as sent, with
 *            arg->section set: tn_mail_imap_parse_section() reads it.
 *   quoted   DQUOTE *(TEXT-CHAR but "\" and DQUOTE / "\\" / "\"") DQUOTE;
 *            value has the escapes undone.  NUL, CR and LF are
 *            TN_MAIL_IMAP_INVALID_CHAR, so is any 8-bit byte unless
 *            p->utf8 is set (UTF8=ACCEPT or IMAP4rev2 enabled): then
 *            only well-formed UTF-8 passes, without C1 controls.  Any
 *            other escape is TN_MAIL_IMAP_BAD_SYNTAX.
 *   literal  "{" 1*DIGIT ["+"] "}" CRLF, or the same after "~"
 *            (literal8: NUL allowed).  The size may have leading zeros
 *            ({00001} is 1 octet); a size above 2^64 - 1 counts as
 *            2^64 - 1 (too large for any limit).  Anything else after
 *            the "{" ({-1}, {1 }, {}, {1}x) is TN_MAIL_IMAP_BAD_SYNTAX.
 *            A NUL in a literal kept in memory that is not a literal8 is
 *            TN_MAIL_IMAP_INVALID_CHAR; in a streamed one it sets
 *            p->literal_nul and the caller decides.
 *   list     "(" [arguments] ")", at most p->max_depth deep.
 *
 * Outside quoted strings and literals, a NUL, a control or an 8-bit byte
 * is TN_MAIL_IMAP_INVALID_CHAR; a CR must be followed by LF.  An empty
 * line is TN_MAIL_IMAP_BAD_SYNTAX.
 */


/* results (> 0, see tn_core.h) */
#define TN_MAIL_IMAP_LITERAL            20
#define TN_MAIL_IMAP_LITERAL_DATA       21
#define TN_MAIL_IMAP_LITERAL_END        22

/* errors: the caller answers BAD (NO [TOOBIG] for a message literal) */
#define TN_MAIL_IMAP_BAD_SYNTAX         30
#define TN_MAIL_IMAP_INVALID_CHAR       31
#define TN_MAIL_IMAP_LINE_TOO_LONG      32
#define TN_MAIL_IMAP_NESTING_TOO_DEEP   33
#define TN_MAIL_IMAP_TOO_MANY_ARGS      34
#define TN_MAIL_IMAP_LITERAL_TOO_LARGE  35
#define TN_MAIL_IMAP_UNKNOWN_COMMAND    36

#define tn_mail_imap_parse_error(rc)                                         \
    ((rc) >= TN_MAIL_IMAP_BAD_SYNTAX && (rc) <= TN_MAIL_IMAP_UNKNOWN_COMMAND)


/* defaults of the limits (SECURITY-CHECKLIST, limits table) */
#define TN_MAIL_IMAP_MAX_LINE           (64 * 1024)
#define TN_MAIL_IMAP_MAX_LITERAL        (64 * 1024)
#define TN_MAIL_IMAP_MAX_APPEND         (25 * 1024 * 1024)
#define TN_MAIL_IMAP_MAX_DEPTH          100
#define TN_MAIL_IMAP_MAX_ARGS           4096

/* RFC 7888 section 5: LITERAL- non-synchronizing literals */
#define TN_MAIL_IMAP_LITERAL_MINUS_MAX  4096


/* p->command */
#define TN_MAIL_IMAP_CAPABILITY         1
#define TN_MAIL_IMAP_NOOP               2
#define TN_MAIL_IMAP_LOGOUT             3
#define TN_MAIL_IMAP_STARTTLS           4
#define TN_MAIL_IMAP_AUTHENTICATE       5
#define TN_MAIL_IMAP_LOGIN              6
#define TN_MAIL_IMAP_SELECT             7
#define TN_MAIL_IMAP_EXAMINE            8
#define TN_MAIL_IMAP_CREATE             9
#define TN_MAIL_IMAP_DELETE             10
#define TN_MAIL_IMAP_RENAME             11
#define TN_MAIL_IMAP_SUBSCRIBE          12
#define TN_MAIL_IMAP_UNSUBSCRIBE        13
#define TN_MAIL_IMAP_LIST               14
#define TN_MAIL_IMAP_LSUB               15
#define TN_MAIL_IMAP_NAMESPACE          16
#define TN_MAIL_IMAP_STATUS             17
#define TN_MAIL_IMAP_APPEND             18
#define TN_MAIL_IMAP_IDLE               19
#define TN_MAIL_IMAP_CHECK              20
#define TN_MAIL_IMAP_CLOSE              21
#define TN_MAIL_IMAP_UNSELECT           22
#define TN_MAIL_IMAP_EXPUNGE            23
#define TN_MAIL_IMAP_SEARCH             24
#define TN_MAIL_IMAP_FETCH              25
#define TN_MAIL_IMAP_STORE              26
#define TN_MAIL_IMAP_COPY               27
#define TN_MAIL_IMAP_MOVE               28
#define TN_MAIL_IMAP_ENABLE             29
#define TN_MAIL_IMAP_ID                 30
#define TN_MAIL_IMAP_GETQUOTA           31
#define TN_MAIL_IMAP_GETQUOTAROOT       32
#define TN_MAIL_IMAP_SETQUOTA           33
#define TN_MAIL_IMAP_SORT               34
#define TN_MAIL_IMAP_THREAD             35
#define TN_MAIL_IMAP_ESEARCH            36      /* RFC 7377 */
#define TN_MAIL_IMAP_NCOMMANDS          37


/* arg->type */
#define TN_MAIL_IMAP_ARG_ATOM           1
#define TN_MAIL_IMAP_ARG_NUMBER         2
#define TN_MAIL_IMAP_ARG_NIL            3
#define TN_MAIL_IMAP_ARG_QUOTED         4
#define TN_MAIL_IMAP_ARG_LITERAL        5
#define TN_MAIL_IMAP_ARG_LIST           6


typedef struct tn_mail_imap_arg_s  tn_mail_imap_arg_t;

struct tn_mail_imap_arg_s {
    tn_mail_imap_arg_t  *next;      /* the next one at the same level */
    tn_mail_imap_arg_t  *parent;    /* the enclosing list; NULL: top */
    tn_mail_imap_arg_t  *list;      /* LIST: the first element or NULL */

    /*
     * The text, NUL-terminated in p->pool (len without the NUL): an
     * atom, number or NIL as sent, a quoted string unescaped, a literal
     * kept in memory (a literal8 may hold NULs).  Empty for a list and
     * a streamed literal.
     */
    tn_str_t             value;

    uint64_t             number;    /* NUMBER: the value; LITERAL: size */
    uint32_t             nelts;     /* LIST: the number of elements */

    unsigned             type:3;    /* TN_MAIL_IMAP_ARG_* */
    unsigned             astring:1; /* see tn_mail_imap_arg_astring() */
    unsigned             section:1; /* an atom with a fetch section */
    unsigned             sync:1;    /* LITERAL: "{n}" */
    unsigned             binary:1;  /* LITERAL: "~{n}" */
    unsigned             stream:1;  /* LITERAL: streamed, value empty */
};


typedef struct {
    /*
     * Set by tn_mail_imap_parse_init(); the caller may change them
     * between commands (e.g. p->utf8 after ENABLE UTF8=ACCEPT).  A limit
     * of 0 allows nothing: max_append 0 refuses every APPEND message.
     */
    tn_pool_t           *pool;           /* the per-command pool */
    size_t               max_line;       /* a command without literals */
    size_t               max_literal;    /* literals in memory, together */
    uint64_t             max_append;     /* one message literal */
    tn_uint_t            max_depth;      /* of lists */
    tn_uint_t            max_args;       /* arguments, lists included */
    unsigned             utf8:1;         /* UTF-8 in quoted strings */
    unsigned             literal_minus:1;  /* LITERAL-, not LITERAL+ */

    /* the command; valid until p->pool is reset */
    tn_str_t             tag;            /* len 0 until the tag is read */
    tn_str_t             name;           /* the command name as sent */
    tn_uint_t            command;        /* TN_MAIL_IMAP_*, 0: none yet */
    tn_mail_imap_arg_t  *args;           /* the first argument or NULL */
    tn_uint_t            nargs;          /* arguments at the top level */
    const char          *err;            /* what the last error was */

    /* the literal of the last TN_MAIL_IMAP_LITERAL */
    tn_mail_imap_arg_t  *literal;
    uint64_t             literal_size;
    uint64_t             literal_left;   /* octets still to come */
    tn_str_t             data;           /* TN_MAIL_IMAP_LITERAL_DATA */
    unsigned             literal_sync:1;
    unsigned             literal_binary:1;
    unsigned             literal_stream:1;
    unsigned             literal_nul:1;  /* a NUL in a streamed literal */
    unsigned             uid:1;          /* "UID FETCH", ... */

    /* private */
    unsigned             section_paren:1;
    unsigned             section_done:1;
    unsigned             escaped:1;      /* the quoted string has a "\" */
    unsigned             utf8_need:2;    /* continuation bytes to come */
    u_char               utf8_lo;        /* the range of the next one */
    u_char               utf8_hi;
    tn_uint_t            state;
    size_t               line_len;
    size_t               literal_total;
    tn_uint_t            depth;
    tn_uint_t            nnodes;
    tn_mail_imap_arg_t  *list;           /* the innermost open list */
    tn_mail_imap_arg_t  *last;           /* the last one at its level */
    uint64_t             num;            /* literal size being read */
    uint64_t             skip_left;      /* literal octets to skip */
    tn_uint_t            ndigits;
    u_char              *tok;            /* a token split between calls */
    size_t               tok_len;
    size_t               tok_size;
    size_t               tok_total;      /* bytes of the current token */
    u_char               head[12];       /* its first bytes, upper case */
} tn_mail_imap_parse_t;


/*
 * Zeroes p, sets the pool and the default limits (TN_MAIL_IMAP_MAX_*);
 * the caller then changes the limits it configures.
 */
void tn_mail_imap_parse_init(tn_mail_imap_parse_t *p, tn_pool_t *pool);

/*
 * Reads from [b->pos, b->last); see the top of this file.  Everything it
 * allocates is in p->pool, and the parser keeps no pointer into the pool
 * from one command to the next: the caller may reset the pool after any
 * TN_OK or error result (not after LITERAL, LITERAL_DATA or LITERAL_END,
 * which are in the middle of a command).  What one command allocates is
 * bounded: at most 4 * max_line + max_literal + max_args *
 * (sizeof(tn_mail_imap_arg_t) + 1) bytes, and the pool's own overhead
 * (the fuzz harness checks it).
 */
tn_int_t tn_mail_imap_parse_command(tn_mail_imap_parse_t *p, tn_buf_t *b);

/*
 * The caller gives up the command being read: after
 * TN_MAIL_IMAP_LITERAL (refusing the literal), LITERAL_DATA or
 * LITERAL_END.  A synchronizing literal that was not accepted ends the
 * command; otherwise the parser skips the literal octets still to come
 * and the rest of the command, silently.  Nothing happens between
 * commands.
 */
void tn_mail_imap_parse_refuse(tn_mail_imap_parse_t *p);

/* 1 between two commands: nothing of the next command was read */
tn_uint_t tn_mail_imap_parse_idle(tn_mail_imap_parse_t *p);

/*
 * The literal octets the parser waits for before anything else: those of
 * a literal being read into memory, streamed or skipped; 0 otherwise
 * (and right after TN_MAIL_IMAP_LITERAL, before the caller decided).
 */
uint64_t tn_mail_imap_parse_octets(tn_mail_imap_parse_t *p);

/*
 * Zeroes the text of every argument of the command and what the parser
 * keeps of it (call after LOGIN, before resetting the pool).
 */
void tn_mail_imap_parse_wipe(tn_mail_imap_parse_t *p);


/*
 * An astring (RFC 3501): an atom of ASTRING-CHARs (NUMBER and NIL
 * included), a quoted string or a literal kept in memory.  TN_OK and
 * *s = arg->value, or TN_ERROR.
 */
tn_int_t tn_mail_imap_arg_astring(tn_mail_imap_arg_t *arg, tn_str_t *s);


/*
 * Sequence sets (RFC 9051: sequence-set, with "$" of RFC 5182), read when
 * the command runs, not by the parser: "1:*,5,7:9,$".  Numbers are
 * 1..4294967295 without leading zeros; "*" is the largest number in use.
 */
#define TN_MAIL_IMAP_SEQ_MAX  4294967295U

typedef struct {
    uint32_t    first;      /* first <= last, "*" replaced by star */
    uint32_t    last;
    unsigned    saved:1;    /* "$": the saved search result */
} tn_mail_imap_seq_t;

/* the whole set is well-formed: TN_OK, else TN_ERROR */
tn_int_t tn_mail_imap_seqset_check(tn_str_t *set);

/*
 * The element of set at *off (start with *off = 0): TN_OK with r and
 * *off after it, TN_DONE after the last one, TN_ERROR on bad syntax (so
 * check the set once first).  star is the value "*" stands for (0 when
 * the mailbox is empty: the caller decides what "*" then means).
 */
tn_int_t tn_mail_imap_seqset_next(tn_str_t *set, size_t *off,
    uint32_t star, tn_mail_imap_seq_t *r);


/*
 * A FETCH attribute with a section, as the parser keeps it (arg->section):
 * BODY[<section>]<partial>, BODY.PEEK[...], BINARY[<part>]<partial>,
 * BINARY.PEEK[...], BINARY.SIZE[<part>] (RFC 3501 6.4.5, RFC 9051, RFC
 * 3516), keywords in any case.
 */
#define TN_MAIL_IMAP_FETCH_BODY          1
#define TN_MAIL_IMAP_FETCH_BINARY        2
#define TN_MAIL_IMAP_FETCH_BINARY_SIZE   3

#define TN_MAIL_IMAP_SECTION_ALL         0   /* BODY[] or BODY[1.2] */
#define TN_MAIL_IMAP_SECTION_HEADER      1
#define TN_MAIL_IMAP_SECTION_FIELDS      2   /* HEADER.FIELDS (...) */
#define TN_MAIL_IMAP_SECTION_FIELDS_NOT  3   /* HEADER.FIELDS.NOT (...) */
#define TN_MAIL_IMAP_SECTION_TEXT        4
#define TN_MAIL_IMAP_SECTION_MIME        5   /* only after a part */

/* the MIME nesting limit of the limits table */
#define TN_MAIL_IMAP_SECTION_MAX_PARTS   100

typedef struct {
    tn_uint_t   item;       /* TN_MAIL_IMAP_FETCH_* */
    tn_uint_t   text;       /* TN_MAIL_IMAP_SECTION_* */
    tn_uint_t   nparts;     /* "1.2.3": 3 */
    uint32_t    parts[TN_MAIL_IMAP_SECTION_MAX_PARTS];
    tn_str_t    fields;     /* FIELDS, FIELDS_NOT: inside the parens */
    tn_uint_t   nfields;
    uint32_t    offset;     /* "<offset.count>" */
    uint32_t    count;
    unsigned    peek:1;
    unsigned    partial:1;
} tn_mail_imap_section_t;

/*
 * att: the whole attribute, e.g. "BODY.PEEK[HEADER.FIELDS (From To)]
 * <0.2048>" (no space before "<").  TN_OK and s filled (s->fields points
 * into att), TN_DECLINED if att has no section (FLAGS, BODY,
 * BODYSTRUCTURE...: plain atoms), TN_ERROR on bad syntax: an unknown
 * section text, MIME without a part, a part number or partial out of
 * range (nz-number 1..4294967295, offset 0..4294967295), more than
 * TN_MAIL_IMAP_SECTION_MAX_PARTS parts, an empty field list, a field
 * name that is not printable ASCII without ":" (RFC 5322 ftext), a
 * quoted field name with an escape, text or a partial for BINARY.SIZE,
 * section text for BINARY, anything after the partial.
 */
tn_int_t tn_mail_imap_parse_section(tn_str_t *att,
    tn_mail_imap_section_t *s);

/*
 * The header field name of s->fields at *off (start with 0), without
 * quotes: TN_OK, or TN_DONE after the last one.
 */
tn_int_t tn_mail_imap_section_field(tn_str_t *fields, size_t *off,
    tn_str_t *name);


#endif /* _TN_MAIL_IMAP_PARSE_H_INCLUDED_ */
