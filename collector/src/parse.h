/* parse.h -- recognise known log formats and split them into fields
 *
 * Owns the two known formats: nginx "combined" access lines and Redis
 * server log lines.  A recogniser only points into the line it was given;
 * it allocates nothing and knows nothing about JSON.  Lines it does not
 * recognise are left to pass through untouched.
 */
#ifndef PARSE_H
#define PARSE_H

#include <stddef.h>

#define PARSE_MAX_FIELDS 8

struct parse_field {
    const char *name;           /* static field name */
    const char *val;            /* points into the line or a static string */
    size_t      len;
    int         is_int;         /* 1: num holds the value as a number */
    long long   num;
};

struct parse_result {
    const char         *format; /* "nginx-combined" or "redis" */
    size_t              n;
    struct parse_field  f[PARSE_MAX_FIELDS];
};

int parse_line(const char *s, size_t len, struct parse_result *r);
int parse_nginx_combined(const char *s, size_t len, struct parse_result *r);
int parse_redis(const char *s, size_t len, struct parse_result *r);

#endif
