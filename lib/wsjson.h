/* wsjson.h -- JSON string escaping, with the policies both programs use
 *
 * Owns: writing bytes as the inside of a JSON string literal (RFC 8259),
 * with flags for the escaping policies the programs need byte for byte:
 *
 *   policy                      flags                       used by
 *   jansson's json_dumpb()      WSJSON_HEX_UPPER            collector
 *                               | WSJSON_REPLACE_BAD        event.c
 *   JSON.stringify()            0                           session.c
 *   JSON that is also safe      WSJSON_ESCAPE_DEL           jsonw.c
 *   inside JavaScript source    | WSJSON_ESCAPE_LS_PS
 *
 * Always escaped: '"' and '\\' as themselves, \b \f \n \r \t, every other
 * byte below 0x20 as \u00XX.  Never escaped: '/', bytes >= 0x80 (copied
 * as they are, or replaced, see WSJSON_REPLACE_BAD).  Does not own: the
 * quotes around the string, whole documents, or deciding whether invalid
 * UTF-8 is an error (a caller that refuses it checks with wsutf8_valid()
 * first).
 */
#ifndef WS_LIB_JSON_H
#define WS_LIB_JSON_H

#include <stddef.h>

/* \u00XX with upper-case hex digits (jansson); else lower-case
 * (JSON.stringify). */
#define WSJSON_HEX_UPPER    0x01u
/* DEL (0x7f) as \u007f; else copied. */
#define WSJSON_ESCAPE_DEL   0x02u
/* U+2028 and U+2029 as \u2028 and \u2029 (line terminators in
 * JavaScript source before ES2019); else copied. */
#define WSJSON_ESCAPE_LS_PS 0x04u
/* Every byte that does not start a well-formed UTF-8 sequence
 * (wsutf8_seq()), and NUL, becomes U+FFFD (EF BF BD) and decoding goes
 * on at the next byte; else such bytes are copied and NUL is \u0000. */
#define WSJSON_REPLACE_BAD  0x08u

/* The most bytes wsjson_escape() writes per input byte. */
#define WSJSON_MAX_GROWTH   6

/* Write in[0..len) escaped per flags to out, which must hold
 * len * WSJSON_MAX_GROWTH bytes; no quotes, no NUL terminator.  Returns
 * the number of bytes written.  Can't fail. */
size_t wsjson_escape(const char *in, size_t len, char *out, unsigned flags);

#endif
