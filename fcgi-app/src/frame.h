/* frame.h -- is a whole FastCGI request in these bytes?
 *
 * Owns: reading FastCGI 1.0 record headers (spec section 3.3: version,
 * type, request id, content length, padding length) from the bytes a
 * worker peeked at on a connection, to decide whether libfcgi can read
 * the request without waiting.  Pure; fuzzed by
 * tests/fuzz/fcgi-app/fuzz_frame.c.  Does not own reading the socket
 * (worker.c) nor the request's meaning (libfcgi, handler.c).
 */
#ifndef APP_FRAME_H
#define APP_FRAME_H

#include <stddef.h>

enum frame {
    FRAME_MORE,        /* a part of a request: wait for the rest */
    FRAME_WHOLE,       /* a whole request, up to its empty STDIN record */
    FRAME_HEAD,        /* BEGIN and PARAMS whole; the body goes past the
                        * window */
    FRAME_REJECT       /* not FastCGI 1 (libfcgi refuses it at once), or a
                        * head larger than the window */
};

/* Scan buf[0..n) from a record boundary.  window: the most bytes the
 * caller can look at; n >= window with no end in sight is FRAME_HEAD
 * (when the empty PARAMS record was seen) or FRAME_REJECT. */
enum frame frame_scan(const unsigned char *buf, size_t n, size_t window);

#endif
