/*
 * libtaskwire's outgoing datagrams, queued and sent together: one
 * sendmmsg(2) for up to TW_OUTQ_DATAGRAMS of them. On these machines a
 * system call costs more than packing a frame of tasks, so a publisher
 * that fills several frames between two polls sends them in one call.
 *
 * Frames go out when the queue is full and at every point where the
 * client could otherwise wait for an answer to them: tw_client_flush(),
 * tw_client_poll(), tw_client_wait(), the probe at open and close.
 */
#ifndef TW_CLIENT_OUTQ_H
#define TW_CLIENT_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "tw_cookie_jar.h"
#include "tw_limits.h"

#define TW_OUTQ_DATAGRAMS 16
/* a datagram the client sends: a frame or a fragment, with its cookie and MAC */
#define TW_OUTQ_SLOT (TW_DATAGRAM_MAX + TW_COOKIE_JAR_EXTRA + 64)

struct tw_outq {
	int fd;
	unsigned n;
	uint64_t calls;      /* sendmmsg calls that sent something */
	uint64_t datagrams;  /* datagrams they sent */
	uint32_t len[TW_OUTQ_DATAGRAMS];
	uint8_t buf[TW_OUTQ_DATAGRAMS][TW_OUTQ_SLOT];
};

void tw_outq_init(struct tw_outq *q, int fd);

/**
 * Queue one datagram (a copy: buf may be reused at once); a full queue is
 * sent first. One larger than a slot is sent on its own, after the queue.
 * @return 0, or -errno of a send that failed (what was queued is dropped:
 *   the sender's retransmission covers it, as it covers a lost datagram).
 */
int tw_outq_add(struct tw_outq *q, const uint8_t *buf, size_t len);

/** Send what is queued, waiting briefly for socket buffer space. @return 0 or -errno. */
int tw_outq_send(struct tw_outq *q);

#endif
