/* frame.c -- is a whole FastCGI request in these bytes?
 *
 * nginx sends a request as BEGIN_REQUEST, PARAMS records, an empty PARAMS
 * record, the body as STDIN records, and an empty STDIN record, right
 * after another (the body only once it has buffered it).  Walking the
 * 8-byte record headers is enough to find the empty STDIN record; the
 * contents are libfcgi's to parse.
 */
#include "frame.h"

#define FRAME_HEADER   8
#define FRAME_VERSION  1
#define FRAME_PARAMS   4
#define FRAME_STDIN    5

enum frame
frame_scan(const unsigned char *buf, size_t n, size_t window)
{
    size_t off = 0, clen;
    int    head_done = 0;

    while (off + FRAME_HEADER <= n) {
        if (buf[off] != FRAME_VERSION) {
            return FRAME_REJECT;
        }
        clen = ((size_t) buf[off + 4] << 8) | buf[off + 5];
        if (buf[off + 1] == FRAME_PARAMS && clen == 0) {
            head_done = 1;
        }
        if (buf[off + 1] == FRAME_STDIN && clen == 0) {
            return FRAME_WHOLE;
        }
        off += FRAME_HEADER + clen + buf[off + 6];
    }
    if (n >= window) {
        return head_done ? FRAME_HEAD : FRAME_REJECT;
    }
    return FRAME_MORE;
}
