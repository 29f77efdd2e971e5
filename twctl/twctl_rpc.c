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
	const char *stage;

	/* tw-control answers every request promptly; 10 s means it is stuck. */
	return twctl_call_ms(socket_path, req, resp, 10000, &stage);
}

int
twctl_call_ms(const char *socket_path, const Taskwire__Control__Request *req,
	      Taskwire__Control__Response **resp, int timeout_ms, const char **stage_out)
{
	const char *stage;
	int ret = tw_ctl_call(socket_path, req, resp, timeout_ms, &stage);

	*stage_out = stage;

	if (ret == 0)
		return 0;
	if (strcmp(stage, "connect") == 0)
		fprintf(stderr, "twctl: cannot connect to %s: %s (is tw-control running? see "
				"--socket or TW_SOCKET)\n",
			socket_path, strerror(-ret));
	else if (ret == -EPROTO)
		fprintf(stderr, "twctl: tw-control sent a response that does not decode\n");
	else if (ret == -EAGAIN && strcmp(stage, "receive") == 0)
		fprintf(stderr, "twctl: control socket %s: no answer within %d s\n", socket_path,
			timeout_ms / 1000);
	else
		fprintf(stderr, "twctl: control socket %s: %s\n", socket_path, strerror(-ret));
	return ret;
}

int
twctl_usage_error(const char *msg)
{
	fprintf(stderr, "%s\n", msg);
	return TWCTL_USAGE;
}
