/*
 * Control-socket framing: see tw_ctl_socket.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.pb-c.h"
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

int
tw_ctl_call(const char *socket_path, const Taskwire__Control__Request *req,
	    Taskwire__Control__Response **resp, int timeout_ms, const char **stage)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	size_t len = taskwire__control__request__get_packed_size(req), in_len;
	uint8_t *out, *in;
	int fd, ret;

	*resp = NULL;
	*stage = "connect";
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*stage = "exchange";
	out = malloc(len ? len : 1);
	if (out == NULL) {
		close(fd);
		return -ENOMEM;
	}
	taskwire__control__request__pack(req, out);
	ret = tw_ctl_send(fd, out, len);
	free(out);
	if (ret == 0) {
		*stage = "receive"; /* sent whole: tw-control may have acted on it */
		ret = tw_ctl_recv(fd, &in, &in_len);
	}
	close(fd);
	if (ret != 0)
		return ret;
	*stage = "decode";
	*resp = taskwire__control__response__unpack(NULL, in_len, in);
	free(in);
	return *resp != NULL ? 0 : -EPROTO;
}
