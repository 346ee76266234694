/* jsonw.h -- tiny JSON writer for responses
 *
 * Owns: appending JSON string literals to a buf with every byte that
 * could break a JSON document or a JavaScript consumer escaped.  Does not
 * own: whole documents (handlers append punctuation themselves) or
 * parsing (session.c uses jansson for that).
 */
#ifndef JSONW_H
#define JSONW_H

#include <stddef.h>

#include "buf.h"

/* Append "..." with '"', '\\', every C0 control (\b \f \n \r \t or
 * \u00XX), DEL, U+2028 and U+2029 escaped.  Returns 0, or -1 if p[0..len)
 * is not valid UTF-8 (nothing appended) or on OOM. */
int jsonw_string(struct buf *out, const char *p, size_t len);

#endif
