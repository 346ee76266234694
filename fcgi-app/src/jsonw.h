/* jsonw.h -- tiny JSON writer for responses
 *
 * Owns: appending JSON string literals to a buf, in the escaping policies
 * the app needs (lib/wsjson.h does the escaping).  Does not own: whole
 * documents (handlers append punctuation themselves) or parsing
 * (session.c uses jansson for that).
 */
#ifndef JSONW_H
#define JSONW_H

#include <stddef.h>

#include "buf.h"

/* Append "..." with '"', '\\', every C0 control (\b \f \n \r \t or
 * \u00XX), DEL, U+2028 and U+2029 escaped.  Returns 0, or -1 if p[0..len)
 * is not valid UTF-8 (nothing appended) or on OOM. */
int jsonw_string(struct buf *out, const char *p, size_t len);

/* Append p[0..len) escaped per flags (WSJSON_* in lib/wsjson.h), without
 * quotes.  Returns 0, or -1 on OOM. */
int jsonw_escaped(struct buf *out, const char *p, size_t len,
                  unsigned flags);

#endif
