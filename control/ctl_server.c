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
ctl_server_open(struct ctl_server *s, const char *path, long group)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t mode = group >= 0 ? 0660 : 0600;
	int fd;

	memset(s, 0, sizeof(*s));
	s->listen_fd = -1;
	s->group = group;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	snprintf(s->path, sizeof(s->path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Created with no permissions for others before bind; 0600 (or 0660
	 * for the configured group) after. */
	mode_t old = umask(0177);

	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    (group >= 0 && chown(path, (uid_t)-1, (gid_t)group) != 0) || chmod(path, mode) != 0 ||
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
serve_one(struct ctl_server *s, struct ctl_ctx *ctx, int fd)
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
		pthread_mutex_lock(&ctx->lock);
		ctl_handle(ctx, req, &r);
		pthread_mutex_unlock(&ctx->lock);
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

/*
 * Who may use the control socket: root, tw-control's own user, and, if
 * configured, members of its group (primary or supplementary). The
 * file's mode says the same; this check holds even if the mode is
 * loosened by mistake. @return NULL if allowed, else why not.
 */
static const char *
peer_refused(const struct ctl_server *s, int fd, char *why, size_t len)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	gid_t groups[256];
	socklen_t gl = sizeof(groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0)
		return "cannot read the peer's credentials";
	if (cred.uid == 0 || cred.uid == geteuid())
		return NULL;
	if (s->group >= 0) {
		if (cred.gid == (gid_t)s->group)
			return NULL;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0)
			for (size_t i = 0; i < gl / sizeof(gid_t); i++)
				if (groups[i] == (gid_t)s->group)
					return NULL;
	}
	snprintf(why, len, "access refused: uid %u is not tw-control's user (uid %u)%s", cred.uid,
		 (unsigned)geteuid(), s->group >= 0 ? " nor in its --socket-group" : "");
	return why;
}

/* Answer one refusal (a Response with the reason) and count it. */
static void
refuse(struct ctl_server *s, int fd, const char *why)
{
	struct ctl_reply r;
	size_t len;
	uint8_t *out, *in;

	s->refused++;
	/* take its request first (bounded by the socket timeouts), so that it
	 * reads our answer instead of a broken pipe; it is not decoded */
	if (tw_ctl_recv(fd, &in, &len) == 0)
		free(in);
	ctl_reply_init(&r);
	r.resp.ok = false;
	r.resp.error = (char *)why;
	len = taskwire__control__response__get_packed_size(&r.resp);
	out = malloc(len ? len : 1);
	if (out != NULL) {
		taskwire__control__response__pack(&r.resp, out);
		tw_ctl_send(fd, out, len);
		free(out);
	}
	ctl_reply_free(&r);
}

int
ctl_server_poll(struct ctl_server *s, struct ctl_ctx *ctx, int timeout_ms)
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
	{
		char why[160];
		const char *refused = peer_refused(s, fd, why, sizeof(why));

		if (refused != NULL) {
			refuse(s, fd, refused);
			close(fd);
			return 0;
		}
	}
	/* Bounded: each request either completes or hits the socket timeouts. */
	while (serve_one(s, ctx, fd) == 0)
		;
	close(fd);
	return 0;
}
