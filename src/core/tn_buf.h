
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_BUF_H_INCLUDED_
#define _TN_BUF_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * A memory buffer: [start, end) is the storage, [pos, last) the data.
 * Data is consumed by advancing pos and produced by advancing last.
 */
typedef struct tn_buf_s  tn_buf_t;

struct tn_buf_s {
    u_char          *pos;
    u_char          *last;

    u_char          *start;
    u_char          *end;

    unsigned         temporary:1;
    unsigned         last_buf:1;
    unsigned         flush:1;
};


struct tn_chain_s {
    tn_buf_t        *buf;
    tn_chain_t      *next;
};


typedef struct {
    tn_int_t         num;
    size_t           size;
} tn_bufs_t;


#define tn_buf_size(b)       (size_t) ((b)->last - (b)->pos)
#define tn_buf_free_size(b)  (size_t) ((b)->end - (b)->last)
#define tn_buf_reset(b)      (b)->pos = (b)->last = (b)->start

tn_buf_t *tn_create_temp_buf(tn_pool_t *pool, size_t size);
tn_chain_t *tn_alloc_chain_link(tn_pool_t *pool);
tn_chain_t *tn_create_chain_of_bufs(tn_pool_t *pool, tn_bufs_t *bufs);

#define tn_calloc_buf(pool) tn_pcalloc(pool, sizeof(tn_buf_t))

/* moves the unread data [pos, last) to start */
void tn_buf_compact(tn_buf_t *b);


#endif /* _TN_BUF_H_INCLUDED_ */
