/*
 * Control-socket framing, shared by tw-control and twctl: each message is
 * a 4-byte little-endian length followed by that many bytes of a packed
 * control.proto message, over a Unix SOCK_STREAM socket.
 *
 * Ownership: send borrows the buffer; recv returns a malloc'd buffer the
 * caller frees. Threads: any; a file descriptor is used by one thread.
 */
#ifndef TW_CTL_SOCKET_H
#define TW_CTL_SOCKET_H

#include <stddef.h>
#include <stdint.h>

#define TW_CTL_MSG_MAX (4u << 20) /* a request or response never exceeds 4 MiB */

/* Where tw-control listens and twctl connects unless told otherwise (--socket, $TW_SOCKET). */
#define TW_CTL_DEFAULT_SOCKET "/run/taskwire/control.sock"

/** @return 0, or -errno (-EMSGSIZE when len > TW_CTL_MSG_MAX). */
int tw_ctl_send(int fd, const void *buf, size_t len);

/**
 * Read one message. @return 0 with *buf (malloc'd) and *len set,
 * -ENODATA on a clean end of stream before a header, -EMSGSIZE for a
 * length above TW_CTL_MSG_MAX, -EPROTO for a stream cut mid-message,
 * or -errno (-EAGAIN when a receive timeout expired).
 */
int tw_ctl_recv(int fd, uint8_t **buf, size_t *len);

struct Taskwire__Control__Request;
struct Taskwire__Control__Response;

/**
 * One round trip: connect to socket_path, send req, read the response
 * (receive timeout timeout_ms). Prints nothing.
 * @return 0 with *resp (free with taskwire__control__response__free_unpacked),
 *   -ENAMETOOLONG, -EPROTO (undecodable answer), or -errno of the step that
 *   failed; *stage names that step for messages: "connect", "exchange"
 *   (sending), "receive" (the request was sent whole, so tw-control may
 *   have applied it), "decode".
 */
int tw_ctl_call(const char *socket_path, const struct Taskwire__Control__Request *req,
		struct Taskwire__Control__Response **resp, int timeout_ms, const char **stage);

#endif
