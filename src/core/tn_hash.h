
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_HASH_H_INCLUDED_
#define _TN_HASH_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * A chained hash table with a fixed number of buckets, for lookups by
 * string key at run time (per-IP counters, caches).  Keys are copied
 * into the table's own memory.  Memory: malloc(), one entry per key;
 * the caller bounds the number of entries (tn_hash_count()).
 */

typedef struct tn_hash_entry_s  tn_hash_entry_t;

struct tn_hash_entry_s {
    tn_hash_entry_t   *next;
    tn_uint_t          key_hash;
    size_t             key_len;
    void              *value;
    u_char             key[1];
};


typedef struct {
    tn_hash_entry_t  **buckets;
    tn_uint_t          nbuckets;
    tn_uint_t          count;
    tn_log_t          *log;
} tn_hash_t;


#define tn_hash(key, c)     ((tn_uint_t) key * 31 + c)
tn_uint_t tn_hash_key(u_char *data, size_t len);
tn_uint_t tn_hash_key_lc(u_char *data, size_t len);

tn_int_t tn_hash_init(tn_hash_t *h, tn_uint_t nbuckets, tn_log_t *log);
/* frees every entry; values are the caller's */
void tn_hash_free(tn_hash_t *h);
void *tn_hash_find(tn_hash_t *h, u_char *key, size_t len);
/* TN_OK, TN_BUSY if the key exists (value unchanged), TN_ERROR */
tn_int_t tn_hash_add(tn_hash_t *h, u_char *key, size_t len, void *value);
/* returns the removed value or NULL */
void *tn_hash_delete(tn_hash_t *h, u_char *key, size_t len);
#define tn_hash_count(h)    (h)->count

/* calls fn(key, len, value, data) for each entry; fn may not modify h */
void tn_hash_walk(tn_hash_t *h,
    void (*fn)(u_char *key, size_t len, void *value, void *data), void *data);


#endif /* _TN_HASH_H_INCLUDED_ */
