/*
 * The control socket: a Unix SOCK_STREAM socket (mode 0600, or 0660 with
 * a group) carrying length-prefixed control.proto requests and responses
 * (tw_ctl_socket.h). Each client's credentials are checked (SO_PEERCRED,
 * SO_PEERGROUPS): root, tw-control's user or the configured group only;
 * others get one error response and are counted.
 *
 * One client is served at a time, each request to completion; a client
 * that stalls mid-message is cut off after CTL_CLIENT_TIMEOUT_MS so it
 * cannot hold the control plane. Threads: tw-control's main thread.
 */
#ifndef CTL_SERVER_H
#define CTL_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl_ctx.h"

#define CTL_CLIENT_TIMEOUT_MS 2000

struct ctl_server {
	int listen_fd;
	char path[108];
	long group;             /* gid allowed besides the owner, -1: none */
	uint64_t requests, bad_requests, refused;
};

/** Create the socket (replacing a stale one); group: a gid or -1. @return 0 or -errno. */
int ctl_server_open(struct ctl_server *s, const char *path, long group);
void ctl_server_close(struct ctl_server *s);

/**
 * Wait up to timeout_ms for a client and serve it until it disconnects.
 * @return 0 (served or timed out), or -errno on a listening-socket error.
 */
int ctl_server_poll(struct ctl_server *s, struct ctl_ctx *ctx, int timeout_ms);

#endif
