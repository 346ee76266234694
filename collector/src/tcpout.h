/* tcpout.h -- optional copy of the events to a json_lines TCP endpoint
 *
 * Owns one non-blocking TCP connection to HOST:PORT or [V6]:PORT
 * (Logstash's tcp input with codec json_lines), reconnection with
 * backoff, and a bounded queue of whole events.  It never blocks stdout
 * and never affects offsets: it is best effort, and it counts what it
 * drops.  It does not log.
 */
#ifndef TCPOUT_H
#define TCPOUT_H

#include <stddef.h>
#include <stdint.h>

#define TCPOUT_IDLE       0     /* nothing worth reporting */
#define TCPOUT_CONNECTED  1     /* a connection came up */
#define TCPOUT_LOST       2     /* the connection failed; err says why */

struct tcpout;

struct tcpout *tcpout_create(const char *hostport, size_t cap, char *err,
    size_t errlen);
void tcpout_destroy(struct tcpout *t);
void tcpout_append(struct tcpout *t, const char *buf, size_t len);
int tcpout_poll_fd(const struct tcpout *t, short *events);
int tcpout_service(struct tcpout *t, long long now_ms, char *err,
    size_t errlen);
long long tcpout_next_ms(const struct tcpout *t);
uint64_t tcpout_dropped(const struct tcpout *t);

#endif
