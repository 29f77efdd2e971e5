/*
 * The control socket server: see ctl_server.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_handlers.h"
#include "ctl_server.h"
#include "tw_ctl_socket.h"

int
ctl_server_open(struct ctl_server *s, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	memset(s, 0, sizeof(*s));
	s->listen_fd = -1;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	snprintf(s->path, sizeof(s->path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Created with no permissions for others before bind; 0600 after. */
	mode_t old = umask(0177);

	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || chmod(path, 0600) != 0 ||
	    listen(fd, 16) != 0) {
		int e = errno;

		umask(old);
		close(fd);
		return -e;
	}
	umask(old);
	s->listen_fd = fd;
	return 0;
}

void
ctl_server_close(struct ctl_server *s)
{
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
	}
	s->listen_fd = -1;
}

/* @return 0 to keep the connection, or -errno to close it. */
static int
serve_one(struct ctl_server *s, struct ctl_broker *b, int fd)
{
	Taskwire__Control__Request *req;
	struct ctl_reply r;
	uint8_t *in, *out;
	size_t len, out_len;
	int ret;

	ret = tw_ctl_recv(fd, &in, &len);
	if (ret != 0)
		return ret;
	s->requests++;
	ctl_reply_init(&r);
	req = taskwire__control__request__unpack(NULL, len, in);
	free(in);
	if (req == NULL) {
		s->bad_requests++;
		r.resp.ok = false;
		r.resp.error = (char *)"request does not decode as taskwire.control.Request";
	} else {
		pthread_mutex_lock(&b->lock);
		ctl_handle(b, req, &r);
		pthread_mutex_unlock(&b->lock);
		taskwire__control__request__free_unpacked(req, NULL);
	}
	out_len = taskwire__control__response__get_packed_size(&r.resp);
	out = malloc(out_len ? out_len : 1);
	if (out == NULL) {
		ctl_reply_free(&r);
		return -ENOMEM;
	}
	taskwire__control__response__pack(&r.resp, out);
	ctl_reply_free(&r);
	ret = tw_ctl_send(fd, out, out_len);
	free(out);
	return ret;
}

int
ctl_server_poll(struct ctl_server *s, struct ctl_broker *b, int timeout_ms)
{
	struct pollfd p = { .fd = s->listen_fd, .events = POLLIN };
	struct timeval tv = { CTL_CLIENT_TIMEOUT_MS / 1000, (CTL_CLIENT_TIMEOUT_MS % 1000) * 1000 };
	int fd, ret;

	ret = poll(&p, 1, timeout_ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	if (ret == 0)
		return 0;
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EINTR || errno == ECONNABORTED ? 0 : -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* Bounded: each request either completes or hits the socket timeouts. */
	while (serve_one(s, b, fd) == 0)
		;
	close(fd);
	return 0;
}
