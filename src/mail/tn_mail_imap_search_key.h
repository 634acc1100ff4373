
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_IMAP_SEARCH_KEY_H_INCLUDED_
#define _TN_MAIL_IMAP_SEARCH_KEY_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_imap_parse.h>


/*
 * The pure parts of SEARCH, SORT and the UIDPLUS responses
 * (tn_mail_imap_search_key.c): the search keys of a command's arguments
 * into a tree, the SORT criteria, the ESEARCH RETURN options, and the
 * compact number sets "1:3,5" of COPYUID, ESEARCH ALL, MODIFIED and
 * VANISHED.  No session state: tn_mail_imap_search.c resolves sets,
 * dates and keywords against the view and evaluates the tree.
 */


/* key->type */
#define TN_MAIL_IMAP_SKEY_AND          1   /* child: the list */
#define TN_MAIL_IMAP_SKEY_OR           2   /* child and child->next */
#define TN_MAIL_IMAP_SKEY_NOT          3   /* child */
#define TN_MAIL_IMAP_SKEY_ALL          4
#define TN_MAIL_IMAP_SKEY_SEQSET       5   /* str: the set */
#define TN_MAIL_IMAP_SKEY_UID          6   /* str: the set */
#define TN_MAIL_IMAP_SKEY_FLAG         7   /* num: TN_STORE_F_*; neg: UN */
#define TN_MAIL_IMAP_SKEY_NEW          8   /* \Recent and not \Seen */
#define TN_MAIL_IMAP_SKEY_KEYWORD      9   /* str; neg: UNKEYWORD */
#define TN_MAIL_IMAP_SKEY_BEFORE       10  /* str: the date */
#define TN_MAIL_IMAP_SKEY_ON           11
#define TN_MAIL_IMAP_SKEY_SINCE        12
#define TN_MAIL_IMAP_SKEY_SENTBEFORE   13
#define TN_MAIL_IMAP_SKEY_SENTON       14
#define TN_MAIL_IMAP_SKEY_SENTSINCE    15
#define TN_MAIL_IMAP_SKEY_LARGER       16  /* num */
#define TN_MAIL_IMAP_SKEY_SMALLER      17  /* num */
#define TN_MAIL_IMAP_SKEY_FROM         18  /* str */
#define TN_MAIL_IMAP_SKEY_TO           19
#define TN_MAIL_IMAP_SKEY_CC           20
#define TN_MAIL_IMAP_SKEY_BCC          21
#define TN_MAIL_IMAP_SKEY_SUBJECT      22
#define TN_MAIL_IMAP_SKEY_HEADER       23  /* field, str */
#define TN_MAIL_IMAP_SKEY_BODY         24  /* str */
#define TN_MAIL_IMAP_SKEY_TEXT         25  /* str */
#define TN_MAIL_IMAP_SKEY_MODSEQ       26  /* num */

/* what evaluating a key needs, cheapest first */
#define TN_MAIL_IMAP_SCOST_VIEW        0   /* the session's view */
#define TN_MAIL_IMAP_SCOST_CACHE       1   /* the header cache */
#define TN_MAIL_IMAP_SCOST_FILE        2   /* the message file */

/* RETURN options of ESEARCH (RFC 4731, RFC 5182) */
#define TN_MAIL_IMAP_SRET_MIN          0x01
#define TN_MAIL_IMAP_SRET_MAX          0x02
#define TN_MAIL_IMAP_SRET_COUNT        0x04
#define TN_MAIL_IMAP_SRET_ALL          0x08
#define TN_MAIL_IMAP_SRET_SAVE         0x10

/* SORT criteria (RFC 5256) */
#define TN_MAIL_IMAP_SORT_ARRIVAL      1
#define TN_MAIL_IMAP_SORT_CC           2
#define TN_MAIL_IMAP_SORT_DATE         3
#define TN_MAIL_IMAP_SORT_FROM         4
#define TN_MAIL_IMAP_SORT_SIZE         5
#define TN_MAIL_IMAP_SORT_SUBJECT      6
#define TN_MAIL_IMAP_SORT_TO           7

#define TN_MAIL_IMAP_SORT_MAX          16

/* NOT, OR and parentheses nest at most this deep */
#define TN_MAIL_IMAP_SEARCH_MAX_DEPTH  64


typedef struct tn_mail_imap_skey_s  tn_mail_imap_skey_t;

struct tn_mail_imap_skey_s {
    tn_mail_imap_skey_t   *next;      /* the next one in AND or OR */
    tn_mail_imap_skey_t   *child;     /* AND, OR, NOT */
    tn_uint_t              type;      /* TN_MAIL_IMAP_SKEY_* */
    tn_str_t               str;       /* as sent; search.c folds it */
    tn_str_t               field;     /* HEADER: the field name */
    uint64_t               num;
    /* filled by tn_mail_imap_search.c before evaluation */
    uint32_t              *uids;      /* SEQSET, UID: ascending */
    tn_uint_t              nuids;
    time_t                 day;       /* dates: days since the epoch */
    unsigned               neg:1;     /* UN... */
    unsigned               cost:2;    /* TN_MAIL_IMAP_SCOST_* of the tree */
};


typedef struct {
    tn_uint_t              key;       /* TN_MAIL_IMAP_SORT_* */
    tn_uint_t              reverse;
} tn_mail_imap_sort_key_t;


typedef struct {
    tn_mail_imap_skey_t   *root;      /* an AND */
    tn_str_t               charset;   /* len 0: not given */
    tn_uint_t              ret;       /* TN_MAIL_IMAP_SRET_* */
    tn_uint_t              nsort;
    tn_mail_imap_sort_key_t  sort[TN_MAIL_IMAP_SORT_MAX];
    const char            *err;       /* for the BAD answer */
    unsigned               esearch:1; /* RETURN was given */
    unsigned               modseq:1;  /* a MODSEQ key is there */
    unsigned               saved:1;   /* "$" is used */
} tn_mail_imap_search_t;


/*
 * The arguments of SEARCH ("[RETURN (..)] [CHARSET x] keys"), or with
 * sort set of SORT ("(criteria) charset keys").  TN_OK and sr filled
 * (strings point into the arguments); TN_ERROR with sr->err: bad syntax
 * (BAD); TN_DECLINED: out of memory.  Key names are case-insensitive;
 * NEW, OLD and RECENT of RFC 3501 are accepted as well.
 */
tn_int_t tn_mail_imap_search_parse(tn_pool_t *pool, tn_mail_imap_arg_t *arg,
    tn_uint_t sort, tn_mail_imap_search_t *sr);

/*
 * A set of numbers (ascending or not) in the compact form "1:3,5,9:10":
 * runs of consecutive numbers become ranges.  dst needs
 * tn_mail_imap_numset_len(n) bytes.  Returns the end of what was
 * written.
 */
#define tn_mail_imap_numset_len(n)    ((size_t) (n) * 11 + 1)
u_char *tn_mail_imap_numset(u_char *dst, uint32_t *nums, tn_uint_t n);


#endif /* _TN_MAIL_IMAP_SEARCH_KEY_H_INCLUDED_ */
