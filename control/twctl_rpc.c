/*
 * twctl's one round trip to tw-control: connect, send a Request, read the
 * Response. Errors are printed here, once, in the words a user needs
 * ("is tw-control running?"), and returned as -errno.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tw_ctl_socket.h"
#include "twctl.h"

int
twctl_call(const char *socket_path, const Taskwire__Control__Request *req,
	   Taskwire__Control__Response **resp)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { 10, 0 };
	size_t len = taskwire__control__request__get_packed_size(req), in_len;
	uint8_t *out, *in;
	int fd, ret;

	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "twctl: socket path too long: %s\n", socket_path);
		return -ENAMETOOLONG;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* tw-control answers every request promptly; 10 s means it is stuck. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		ret = -errno;
		fprintf(stderr, "twctl: cannot connect to %s: %s (is tw-control running? see "
				"--socket or TW_SOCKET)\n",
			socket_path, strerror(-ret));
		close(fd);
		return ret;
	}
	out = malloc(len ? len : 1);
	if (out == NULL) {
		close(fd);
		return -ENOMEM;
	}
	taskwire__control__request__pack(req, out);
	ret = tw_ctl_send(fd, out, len);
	free(out);
	if (ret == 0)
		ret = tw_ctl_recv(fd, &in, &in_len);
	close(fd);
	if (ret != 0) {
		fprintf(stderr, "twctl: control socket %s: %s\n", socket_path, strerror(-ret));
		return ret;
	}
	*resp = taskwire__control__response__unpack(NULL, in_len, in);
	free(in);
	if (*resp == NULL) {
		fprintf(stderr, "twctl: tw-control sent a response that does not decode\n");
		return -EPROTO;
	}
	return 0;
}
