/* wsaddr.h -- one host:port or [v6]:port, and a port number
 *
 * Owns: the host:port grammar both programs accept.  The port is the
 * text after the LAST colon, a whole decimal 1..65535; a host holding a
 * colon must be bracketed ([::1]:6379) so "::1:6379" is refused rather
 * than guessed; the brackets are removed from the host returned.  Pure
 * functions that do not log.  Does not own: lists of addresses
 * (fcgi-app's addr.c) or resolving names (each caller, off its loop).
 */
#ifndef WS_LIB_ADDR_H
#define WS_LIB_ADDR_H

#include <stddef.h>

/* A whole decimal port 1..65535 from (p, len), or -1.  Can't fail
 * otherwise. */
int wsaddr_parse_port(const char *p, size_t len);

/* Parse the token (p, len) as host:port or [v6]:port: the host, without
 * brackets, goes to host[0..hostcap) NUL-terminated, the port to *port.
 * Returns 0, or -1 with err filled (no colon, bad port, stray bracket,
 * unbracketed colon in the host, host empty or not shorter than
 * hostcap); host and *port are then unspecified. */
int wsaddr_parse(const char *p, size_t len, char *host, size_t hostcap,
                 int *port, char *err, size_t errlen);

#endif
