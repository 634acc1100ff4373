
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_PARSE_H_INCLUDED_
#define _TN_PARSE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/* "512", "4k", "10m" -> bytes; TN_ERROR on bad syntax or overflow */
ssize_t tn_parse_size(tn_str_t *line);
off_t tn_parse_offset(tn_str_t *line);
/*
 * "30s", "5m", "1h 30m", "500ms" -> milliseconds (is_sec == 0) or
 * seconds (is_sec == 1); TN_ERROR on bad syntax or overflow
 */
tn_int_t tn_parse_time(tn_str_t *line, tn_uint_t is_sec);


#endif /* _TN_PARSE_H_INCLUDED_ */
