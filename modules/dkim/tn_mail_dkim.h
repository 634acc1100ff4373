
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_DKIM_H_INCLUDED_
#define _TN_MAIL_DKIM_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <openssl/evp.h>
#include <openssl/sha.h>


/*
 * The DKIM engine (RFC 6376, RFC 8301, RFC 8463): tag lists, signature
 * fields and key records (tn_mail_dkim_parse.c), canonicalisation, the
 * streaming body hash, header hashes, verification and signing
 * (tn_mail_dkim.c).  No I/O and no event loop: the module
 * (tn_mail_dkim_module.c) does the DNS and the SMTP hooks.
 *
 * Header fields are given raw as the SMTP check hooks see them:
 * "Name: value\n" with their folded lines, LF line ends, each LF a CRLF
 * on the wire.  The body likewise has LF line ends.
 */


/* tags of one tag list, at most; a signature has 13 known ones */
#define TN_DKIM_TAGS_MAX        64
/* names in h=, at most (checklist A7: h= with 1000 names) */
#define TN_DKIM_H_MAX           128
/* RSA key sizes accepted (RFC 8301 3.2; more than 4096 is a DoS) */
#define TN_DKIM_RSA_MIN_BITS    1024
#define TN_DKIM_RSA_MAX_BITS    4096

/* a= */
#define TN_DKIM_RSA_SHA256      1
#define TN_DKIM_ED25519_SHA256  2
#define TN_DKIM_RSA_SHA1        3    /* parsed, always fails: RFC 8301 */

/* c= */
#define TN_DKIM_SIMPLE          0
#define TN_DKIM_RELAXED         1

/* k= */
#define TN_DKIM_KEY_RSA         1
#define TN_DKIM_KEY_ED25519     2


typedef struct {
    tn_str_t                name;
    /* the value without the FWS around it; FWS inside is kept */
    tn_str_t                value;
    /* the raw value: from after "=" to the ";" or the end */
    u_char                 *start;
    u_char                 *end;
} tn_dkim_tag_t;


typedef struct {
    tn_uint_t               alg;          /* TN_DKIM_RSA_SHA256, ... */
    tn_uint_t               hcanon;       /* TN_DKIM_SIMPLE, RELAXED */
    tn_uint_t               bcanon;

    tn_str_t                domain;       /* d=, lower case */
    tn_str_t                selector;     /* s=, lower case */
    tn_str_t                auid;         /* i=, or "@" d= */
    tn_str_t                auid_domain;  /* the domain part of i= */
    tn_str_t                b;            /* b=, decoded */
    tn_str_t                b_text;       /* b= as base64, FWS removed */
    tn_str_t                bh;           /* bh=, decoded */

    tn_uint_t               nh;           /* h=, the names in order */
    tn_str_t                h[TN_DKIM_H_MAX];

    off_t                   length;       /* l=, or -1 */
    time_t                  timestamp;    /* t=, or -1 */
    time_t                  expire;       /* x=, or -1 */

    /*
     * The field as given, and the bytes of its b= value (from after
     * "b=" to the ";" or the end of the field value) that are left out
     * when the field is hashed.
     */
    tn_str_t                field;
    size_t                  b_start;
    size_t                  b_end;
} tn_dkim_sig_t;


typedef struct {
    tn_uint_t               type;         /* TN_DKIM_KEY_* */
    unsigned                sha256:1;     /* h= allows (or no h=) */
    unsigned                testing:1;    /* t=y */
    unsigned                strict:1;     /* t=s */
    unsigned                revoked:1;    /* p= empty */
    EVP_PKEY               *pkey;         /* NULL when revoked */
    tn_uint_t               bits;         /* RSA */
} tn_dkim_key_t;


/* the running body hash of one (c=, l=) */
typedef struct {
    tn_uint_t               canon;
    off_t                   limit;        /* l=, or -1 */
    off_t                   length;       /* canonical bytes, all of them */
    off_t                   pending;      /* empty lines not yet hashed */
    unsigned                content:1;    /* the line has content */
    unsigned                wsp:1;        /* relaxed: WSP not yet hashed */
    unsigned                any:1;        /* any line at all */
    SHA256_CTX              sha;
    size_t                  nout;
    u_char                  out[1024];
} tn_dkim_body_t;


/*
 * Parses a tag list (RFC 6376 3.2) into tags[max]: strict, a duplicate
 * tag name, a tag without "=", a bad tag name or a character outside
 * VALCHAR in a value is an error.  TN_OK, or TN_ERROR with *err set to
 * a static text.  The values point into p.
 */
tn_int_t tn_dkim_parse_tags(u_char *p, size_t len, tn_dkim_tag_t *tags,
    tn_uint_t max, tn_uint_t *ntags, const char **err);

/* the value of tag name, or NULL */
tn_str_t *tn_dkim_tag(tn_dkim_tag_t *tags, tn_uint_t n, const char *name);

/*
 * Parses a DKIM-Signature field (raw, "DKIM-Signature: ...\n").
 * TN_OK; TN_DECLINED (the signature is invalid: *err says why, and the
 * fields parsed so far, d= and s= and b= among them, may be set);
 * TN_ERROR (memory).  The strings are in pool or point into field.
 */
tn_int_t tn_dkim_parse_sig(tn_pool_t *pool, tn_str_t *field,
    tn_dkim_sig_t *sig, const char **err);

/*
 * Parses a key record (RFC 6376 3.6.1).  TN_OK (key->revoked for an
 * empty p=), TN_DECLINED (*err says why) or TN_ERROR (memory).  The
 * EVP_PKEY is freed when the pool is destroyed.
 */
tn_int_t tn_dkim_parse_key(tn_pool_t *pool, u_char *p, size_t len,
    tn_dkim_key_t *key, const char **err);

/*
 * A domain or selector: dot-separated labels of letters, digits, "-"
 * and "_", 1-63 bytes each, at most 253 in all.  TN_OK or TN_ERROR.
 */
tn_int_t tn_dkim_name_valid(tn_str_t *name);

/* decodes base64 with FWS in it; TN_OK or TN_ERROR */
tn_int_t tn_dkim_decode_base64(tn_pool_t *pool, tn_str_t *src,
    tn_str_t *dst, tn_str_t *text);

/* a registered EVP_PKEY is freed with the pool */
tn_int_t tn_dkim_pkey_cleanup(tn_pool_t *pool, EVP_PKEY *pkey);


/*
 * Header canonicalisation of one raw field into dst (at least
 * 2 * field->len + 2 bytes): "name:value\r\n" (relaxed) or the field
 * with CRLF line ends (simple).  With strip, the bytes [b_start, b_end)
 * of the field are left out and the final CRLF too (the signature field
 * itself).  Returns the end of the output.
 */
u_char *tn_dkim_canon_header(u_char *dst, tn_str_t *field, tn_uint_t canon,
    size_t b_start, size_t b_end, tn_uint_t strip);

/* the field name of a raw field (without WSP before the colon) */
void tn_dkim_field_name(tn_str_t *field, tn_str_t *name);

/*
 * The body hash: init, then update with the body in any pieces, then
 * final (SHA-256, 32 bytes).  b->length is the length of the whole
 * canonical body after final.
 */
void tn_dkim_body_init(tn_dkim_body_t *b, tn_uint_t canon, off_t limit);
void tn_dkim_body_update(tn_dkim_body_t *b, u_char *p, size_t len);
void tn_dkim_body_final(tn_dkim_body_t *b, u_char *md);

/*
 * The hash of the header for a signature: the fields h= names, chosen
 * from the bottom up (a name listed more often than present adds
 * nothing: oversigning), then the signature field without its b= value
 * and final CRLF.  fields is an array of nfields tn_str_t.
 * TN_OK or TN_ERROR (memory).
 */
tn_int_t tn_dkim_header_hash(tn_pool_t *pool, tn_dkim_sig_t *sig,
    tn_str_t *fields, tn_uint_t nfields, u_char *md);

/*
 * Checks the signature over the header hash md with the key.
 * TN_OK (good), TN_DECLINED (bad signature, *err says why).
 */
tn_int_t tn_dkim_verify_hash(tn_dkim_sig_t *sig, tn_dkim_key_t *key,
    u_char *md, const char **err);

/*
 * Checks a key against a signature: a=, k=, h=, t=s, the key size.
 * TN_OK, TN_DECLINED (*err; *fail set when the result is "fail"
 * rather than "permerror").
 */
tn_int_t tn_dkim_key_usable(tn_dkim_sig_t *sig, tn_dkim_key_t *key,
    tn_uint_t *fail, const char **err);


/* what signing needs */
typedef struct {
    tn_str_t                domain;
    tn_str_t                selector;
    EVP_PKEY               *pkey;
    tn_uint_t               alg;          /* RSA_SHA256 or ED25519_SHA256 */
} tn_dkim_signer_t;

/* a header name to sign, oversigned (listed once more than present) */
typedef struct {
    tn_str_t                name;
    tn_uint_t               oversign;
} tn_dkim_sign_header_t;

/* a signature's bytes, at most: RSA-4096 */
#define TN_DKIM_SIG_MAX         512

/* a signature being made: the field up to "b=", the header hash */
typedef struct {
    tn_str_t                field;        /* with room for b= */
    size_t                  col;
    u_char                  md[32];
} tn_dkim_signing_t;

/*
 * Signing in three steps, so that the costly one may run in a thread:
 * prepare (the field without b=, its header hash; pool), hash (the
 * signature of md: no pool, thread-safe; *siglen is the room in sig,
 * TN_DKIM_SIG_MAX, then the length), finish (b= appended, folded).
 */
tn_int_t tn_dkim_sign_prepare(tn_pool_t *pool, tn_dkim_signer_t *signer,
    tn_dkim_sign_header_t *heads, tn_uint_t nheads, tn_str_t *fields,
    tn_uint_t nfields, u_char *bh, time_t now, tn_dkim_signing_t *st);
tn_int_t tn_dkim_sign_hash(EVP_PKEY *pkey, tn_uint_t alg, u_char *md,
    u_char *sig, size_t *siglen);
tn_int_t tn_dkim_sign_finish(tn_pool_t *pool, tn_dkim_signing_t *st,
    u_char *sig, size_t siglen, tn_str_t *out);

/*
 * Makes the DKIM-Signature field ("DKIM-Signature: ...\n", folded to 78
 * columns, LF line ends) for a relaxed/relaxed signature over the fields
 * and the body hash bh (relaxed, no l=), at time now.  TN_OK, TN_ERROR.
 */
tn_int_t tn_dkim_sign(tn_pool_t *pool, tn_dkim_signer_t *signer,
    tn_dkim_sign_header_t *heads, tn_uint_t nheads, tn_str_t *fields,
    tn_uint_t nfields, u_char *bh, time_t now, tn_str_t *out);


/*
 * The p= value of a key record for pkey, in base64: the
 * SubjectPublicKeyInfo (RSA) or the bare key (Ed25519, RFC 8463).
 * TN_OK or TN_ERROR.
 */
tn_int_t tn_dkim_public_key(tn_pool_t *pool, EVP_PKEY *pkey, tn_str_t *p);

/* "tern dkim keygen ..." (tn_mail_dkim_cli.c) */
int tn_mail_dkim_cli(tn_cycle_t *cycle, int argc, char *const *argv);


#endif /* _TN_MAIL_DKIM_H_INCLUDED_ */
