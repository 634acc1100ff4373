
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_ALLOC_H_INCLUDED_
#define _TN_ALLOC_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/* both log an "malloc() failed" error on failure and return NULL */
void *tn_alloc(size_t size, tn_log_t *log);
void *tn_calloc(size_t size, tn_log_t *log);
void *tn_memalign(size_t alignment, size_t size, tn_log_t *log);

#define tn_free          free

extern tn_uint_t  tn_pagesize;
extern tn_uint_t  tn_cacheline_size;


#endif /* _TN_ALLOC_H_INCLUDED_ */
