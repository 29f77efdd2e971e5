/*
 * The control socket: a Unix SOCK_STREAM socket (mode 0600, or 0660 with
 * a group) carrying length-prefixed control.proto requests and responses
 * (tw_ctl_socket.h). Each client's credentials are checked (SO_PEERCRED,
 * SO_PEERGROUPS): root, tw-control's user or the configured group only;
 * others get one error response and are counted.
 *
 * No client can hold up another: every connection is non-blocking and has
 * its own state (a request being read, a reply being written, or an events
 * request waiting for events), served from one poll loop. A request must
 * arrive whole within CTL_REQUEST_DEADLINE_MS of its first byte, a reply be
 * taken within CTL_REPLY_DEADLINE_MS, and an idle connection goes after
 * CTL_IDLE_MS. A connection reads its next request only once its reply is
 * sent, so at most one reply is queued per connection. Past CTL_MAX_CLIENTS
 * the connection idle the longest makes room for the new one. Request
 * buffers grow with the bytes that arrive (never to the announced length
 * up front), all of them within CTL_RX_BUDGET; a definitions import listing
 * more exchanges, queues or bindings than the engine holds is refused
 * before it is decoded, and decoding a request may allocate at most
 * CTL_DECODE_FACTOR times its size (plus a floor).
 * Every refusal is counted (ctl_server_counters) and shown by `twctl status`.
 *
 * Threads: tw-control's main thread.
 */
#ifndef CTL_SERVER_H
#define CTL_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "control.pb-c.h"
#include "ctl_ctx.h"

#define CTL_MAX_CLIENTS 64
#define CTL_REQUEST_DEADLINE_MS 2000
#define CTL_REPLY_DEADLINE_MS 5000
#define CTL_IDLE_MS 10000
#define CTL_RX_BUDGET (32u << 20)      /* request bytes buffered over all connections */
#define CTL_DECODE_FACTOR 16u          /* decoded bytes per request byte ... */
#define CTL_DECODE_FLOOR (1u << 20)    /* ... plus this */

/* The server's counters, in `twctl status` under the control section. */
#define CTL_SERVER_COUNTERS(X)                                                   \
	X(ctl_requests)          /* requests answered */                         \
	X(ctl_bad_requests)      /* did not decode as a Request */               \
	X(ctl_refused_peers)     /* peer's uid/gid not allowed */                \
	X(ctl_too_large)         /* announced length above TW_CTL_MSG_MAX */     \
	X(ctl_decode_over_budget) /* decoding needed more than the budget */     \
	X(ctl_over_limits)       /* more items than the engine could hold */    \
	X(ctl_request_timeouts)  /* a partial request not completed in time */   \
	X(ctl_reply_timeouts)    /* a reply the client did not read in time */   \
	X(ctl_idle_closed)       /* idle connections closed */                   \
	X(ctl_evicted)           /* closed to make room past CTL_MAX_CLIENTS */   \
	X(ctl_names_refused)     /* a name breaking the rule of tw_names.h */     \
	X(ctl_imports)           /* definitions imports built off the poll loop */ \
	X(ctl_held_for_import)   /* requests that waited for an import's end */

enum ctl_server_counter {
#define X(n) CTL_SRV_##n,
	CTL_SERVER_COUNTERS(X)
#undef X
	CTL_SRV__MAX
};

extern const char *const ctl_server_counter_names[CTL_SRV__MAX];

struct ctl_conn;
struct ctl_http_guard;
struct ctl_import;

struct ctl_server {
	int listen_fd;
	char path[108];
	long group;             /* gid allowed besides the owner, -1: none */
	uint64_t c[CTL_SRV__MAX];
	uint32_t n_conns;
	uint64_t rx_buffered;   /* bytes of request buffers, all connections */
	struct ctl_conn *conns; /* CTL_MAX_CLIENTS slots, fd -1 when free */
	const struct ctl_http_guard *http; /* its counters join ours in status; may be NULL */
	/* The definitions import under way (ctl_import.h) and the connection
	 * waiting for its answer (NULL once that one closed). */
	struct ctl_import *import;
	struct ctl_conn *import_conn;
};

/** Create the socket (replacing a stale one); group: a gid or -1. @return 0 or -errno. */
int ctl_server_open(struct ctl_server *s, const char *path, long group);
/** Close every connection and the socket (removing its file). */
void ctl_server_close(struct ctl_server *s);

/**
 * Wait up to timeout_ms for socket activity, then do all the work that is
 * ready: accept, read, answer, write, expire. Never blocks on one client.
 * @return 0, or -errno on a listening-socket error.
 */
int ctl_server_poll(struct ctl_server *s, struct ctl_ctx *ctx, int timeout_ms);

/** Connections open now. */
static inline uint32_t
ctl_server_clients(const struct ctl_server *s)
{
	return s->n_conns;
}

#endif
