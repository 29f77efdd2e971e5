/*
 * Outgoing datagrams sent together: see tw_client_outq.h.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "tw_client_outq.h"

/* a full socket buffer: how long to keep trying before giving up (1 ms each) */
#define FULL_BUFFER_TRIES 1000

void
tw_outq_init(struct tw_outq *q, int fd)
{
	q->fd = fd;
	q->n = 0;
	q->calls = 0;
	q->datagrams = 0;
}

/* Send datagrams [0, n) of v, waiting on a full socket buffer. @return 0 or -errno. */
static int
send_all(struct tw_outq *q, struct mmsghdr *v, unsigned n)
{
	unsigned done = 0;

	for (int attempt = 0; done < n && attempt < FULL_BUFFER_TRIES;) {
		int r = sendmmsg(q->fd, v + done, n - done, 0);

		if (r > 0) {
			q->calls++;
			q->datagrams += (uint64_t)r;
			done += (unsigned)r;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
			return -errno;
		{
			struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };

			poll(&pfd, 1, 1);
		}
		attempt++;
	}
	return done == n ? 0 : -EAGAIN;
}

int
tw_outq_send(struct tw_outq *q)
{
	struct mmsghdr v[TW_OUTQ_DATAGRAMS];
	struct iovec iov[TW_OUTQ_DATAGRAMS];
	unsigned n = q->n;

	if (n == 0)
		return 0;
	q->n = 0;
	memset(v, 0, sizeof(v[0]) * n);
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = q->buf[i];
		iov[i].iov_len = q->len[i];
		v[i].msg_hdr.msg_iov = &iov[i];
		v[i].msg_hdr.msg_iovlen = 1;
	}
	return send_all(q, v, n);
}

int
tw_outq_add(struct tw_outq *q, const uint8_t *buf, size_t len)
{
	int ret = 0;

	if (q->n == TW_OUTQ_DATAGRAMS || len > TW_OUTQ_SLOT)
		ret = tw_outq_send(q);
	if (len > TW_OUTQ_SLOT) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
		struct mmsghdr one;

		memset(&one, 0, sizeof(one));
		one.msg_hdr.msg_iov = &iov;
		one.msg_hdr.msg_iovlen = 1;
		return ret != 0 ? ret : send_all(q, &one, 1);
	}
	memcpy(q->buf[q->n], buf, len);
	q->len[q->n++] = (uint32_t)len;
	return ret;
}
