/*
 * Control-socket framing: see tw_ctl_socket.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tw_ctl_socket.h"

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* @return bytes read (< len only at end of stream), or -errno. */
static ssize_t
read_all(int fd, uint8_t *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);

		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int
tw_ctl_send(int fd, const void *buf, size_t len)
{
	uint8_t hdr[4];
	int ret;

	if (len > TW_CTL_MSG_MAX)
		return -EMSGSIZE;
	hdr[0] = (uint8_t)len;
	hdr[1] = (uint8_t)(len >> 8);
	hdr[2] = (uint8_t)(len >> 16);
	hdr[3] = (uint8_t)(len >> 24);
	ret = write_all(fd, hdr, sizeof(hdr));
	return ret != 0 ? ret : write_all(fd, buf, len);
}

int
tw_ctl_recv(int fd, uint8_t **buf, size_t *len)
{
	uint8_t hdr[4];
	uint32_t n;
	ssize_t r;
	uint8_t *p;

	r = read_all(fd, hdr, sizeof(hdr));
	if (r < 0)
		return (int)r;
	if (r == 0)
		return -ENODATA;
	if (r < (ssize_t)sizeof(hdr))
		return -EPROTO;
	n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
	if (n > TW_CTL_MSG_MAX)
		return -EMSGSIZE;
	p = malloc(n ? n : 1);
	if (p == NULL)
		return -ENOMEM;
	r = read_all(fd, p, n);
	if (r != (ssize_t)n) {
		free(p);
		return r < 0 ? (int)r : -EPROTO;
	}
	*buf = p;
	*len = n;
	return 0;
}
