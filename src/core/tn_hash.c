
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


/* 64-bit FNV-1a: cheap, and good enough for short keys such as addresses */
#define TN_HASH_FNV_OFFSET  0xcbf29ce484222325ULL
#define TN_HASH_FNV_PRIME   0x100000001b3ULL


static tn_hash_entry_t **tn_hash_lookup(tn_hash_t *h, u_char *key,
    size_t len, tn_uint_t hash);


tn_uint_t
tn_hash_key(u_char *data, size_t len)
{
    uint64_t  key;

    key = TN_HASH_FNV_OFFSET;

    while (len--) {
        key ^= *data++;
        key *= TN_HASH_FNV_PRIME;
    }

    return (tn_uint_t) key;
}


tn_uint_t
tn_hash_key_lc(u_char *data, size_t len)
{
    uint64_t  key;

    key = TN_HASH_FNV_OFFSET;

    while (len--) {
        key ^= tn_tolower(*data);
        key *= TN_HASH_FNV_PRIME;
        data++;
    }

    return (tn_uint_t) key;
}


tn_int_t
tn_hash_init(tn_hash_t *h, tn_uint_t nbuckets, tn_log_t *log)
{
    h->buckets = NULL;
    h->nbuckets = 0;
    h->count = 0;
    h->log = log;

    if (nbuckets == 0 || nbuckets > SIZE_MAX / sizeof(tn_hash_entry_t *)) {
        return TN_ERROR;
    }

    h->buckets = tn_calloc(nbuckets * sizeof(tn_hash_entry_t *), log);
    if (h->buckets == NULL) {
        return TN_ERROR;
    }

    h->nbuckets = nbuckets;

    return TN_OK;
}


void
tn_hash_free(tn_hash_t *h)
{
    tn_uint_t         i;
    tn_hash_entry_t  *e, *next;

    if (h->buckets == NULL) {
        return;
    }

    for (i = 0; i < h->nbuckets; i++) {
        for (e = h->buckets[i]; e; e = next) {
            next = e->next;
            tn_free(e);
        }
    }

    tn_free(h->buckets);

    h->buckets = NULL;
    h->nbuckets = 0;
    h->count = 0;
}


/* the link that points at the entry for key, or at the NULL ending it */

static tn_hash_entry_t **
tn_hash_lookup(tn_hash_t *h, u_char *key, size_t len, tn_uint_t hash)
{
    tn_hash_entry_t  **pe, *e;

    pe = &h->buckets[hash % h->nbuckets];

    for (e = *pe; e; e = *pe) {

        if (e->key_hash == hash
            && e->key_len == len
            && (len == 0 || tn_memcmp(e->key, key, len) == 0))
        {
            break;
        }

        pe = &e->next;
    }

    return pe;
}


void *
tn_hash_find(tn_hash_t *h, u_char *key, size_t len)
{
    tn_hash_entry_t  *e;

    if (h->buckets == NULL) {
        return NULL;
    }

    e = *tn_hash_lookup(h, key, len, tn_hash_key(key, len));

    return e ? e->value : NULL;
}


tn_int_t
tn_hash_add(tn_hash_t *h, u_char *key, size_t len, void *value)
{
    size_t             size;
    tn_uint_t          hash;
    tn_hash_entry_t  **pe, *e;

    if (h->buckets == NULL) {
        return TN_ERROR;
    }

    hash = tn_hash_key(key, len);

    pe = tn_hash_lookup(h, key, len, hash);

    if (*pe) {
        return TN_BUSY;
    }

    if (len > SIZE_MAX - sizeof(tn_hash_entry_t)) {
        return TN_ERROR;
    }

    /* the key is stored inline, after the fixed fields */
    size = offsetof(tn_hash_entry_t, key) + len;

    if (size < sizeof(tn_hash_entry_t)) {
        size = sizeof(tn_hash_entry_t);
    }

    e = tn_alloc(size, h->log);
    if (e == NULL) {
        return TN_ERROR;
    }

    e->next = NULL;
    e->key_hash = hash;
    e->key_len = len;
    e->value = value;

    if (len) {
        tn_memcpy(e->key, key, len);
    }

    /* pe is the NULL link at the end of the chain */
    *pe = e;
    h->count++;

    return TN_OK;
}


void *
tn_hash_delete(tn_hash_t *h, u_char *key, size_t len)
{
    void              *value;
    tn_hash_entry_t  **pe, *e;

    if (h->buckets == NULL) {
        return NULL;
    }

    pe = tn_hash_lookup(h, key, len, tn_hash_key(key, len));

    e = *pe;

    if (e == NULL) {
        return NULL;
    }

    *pe = e->next;
    value = e->value;

    tn_free(e);
    h->count--;

    return value;
}


void
tn_hash_walk(tn_hash_t *h,
    void (*fn)(u_char *key, size_t len, void *value, void *data), void *data)
{
    tn_uint_t         i;
    tn_hash_entry_t  *e;

    if (h->buckets == NULL) {
        return;
    }

    for (i = 0; i < h->nbuckets; i++) {
        for (e = h->buckets[i]; e; e = e->next) {
            fn(e->key, e->key_len, e->value, data);
        }
    }
}
