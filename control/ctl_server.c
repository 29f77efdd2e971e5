/*
 * The control socket server: see ctl_server.h. One poll loop over the
 * listening socket and every connection; each connection is a small state
 * machine (read a 4-byte length, read the body, answer, write the answer)
 * that only ever does what the socket allows without waiting.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_handlers.h"
#include "ctl_http_guard.h"
#include "ctl_import.h"
#include "ctl_names.h"
#include "ctl_server.h"
#include "tw_ctl_socket.h"
#include "tw_limits.h"
#include "tw_clock.h"

#define ACCEPTS_PER_POLL 64     /* bounds one pass's accept loop */
#define PARKED_RETRY_MS 20      /* how often a waiting events request looks again */
#define EVENTS_MAX_WAIT_MS 500  /* the longest wait an events request may ask */
#define RX_MIN_CHUNK 4096
#define IMPORT_CHECK_MS 5       /* how often the poll loop looks at a running import */

const char *const ctl_server_counter_names[CTL_SRV__MAX] = {
#define X(n) #n,
	CTL_SERVER_COUNTERS(X)
#undef X
};

struct ctl_conn {
	int fd;
	bool refused;           /* peer not allowed: its first request gets the reason */
	bool close_after;       /* close once the reply is written */
	char why[160];          /* the refusal's reason */
	uint64_t last_ms;       /* last progress (read, write or accept) */
	uint64_t deadline_ms;   /* the partial request or unsent reply must be done by; 0: none */
	uint8_t hdr[4];
	uint32_t hdr_got;
	uint32_t want;          /* body length, once hdr_got == 4 */
	uint8_t *in;            /* body buffer, grows with what arrives */
	uint32_t in_cap, in_got;
	uint8_t *out;           /* framed reply being written */
	size_t out_len, out_sent;
	Taskwire__Control__Request *parked; /* an events request waiting for events */
	Taskwire__Control__Request *held;   /* a request waiting for the import's end */
	uint64_t park_until_ms;
};

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
	s->conns = calloc(CTL_MAX_CLIENTS, sizeof(*s->conns));
	if (s->conns == NULL)
		return -ENOMEM;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		s->conns[i].fd = -1;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	snprintf(s->path, sizeof(s->path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Created with no permissions for others before bind; 0600 (or 0660
	 * for the configured group) after. */
	mode_t old = umask(0177);

	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    (group >= 0 && chown(path, (uid_t)-1, (gid_t)group) != 0) || chmod(path, mode) != 0 ||
	    listen(fd, 128) != 0) {
		int e = errno;

		umask(old);
		close(fd);
		free(s->conns);
		s->conns = NULL;
		return -e;
	}
	umask(old);
	s->listen_fd = fd;
	return 0;
}

static void
conn_drop_rx(struct ctl_server *s, struct ctl_conn *c)
{
	s->rx_buffered -= c->in_cap;
	free(c->in);
	c->in = NULL;
	c->in_cap = c->in_got = c->hdr_got = c->want = 0;
}

static void
conn_close(struct ctl_server *s, struct ctl_conn *c)
{
	conn_drop_rx(s, c);
	free(c->out);
	if (c->parked != NULL)
		taskwire__control__request__free_unpacked(c->parked, NULL);
	if (c->held != NULL)
		taskwire__control__request__free_unpacked(c->held, NULL);
	if (s->import_conn == c)
		s->import_conn = NULL; /* the import goes on; its answer has no reader */
	close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	s->n_conns--;
}

void
ctl_server_close(struct ctl_server *s)
{
	if (s->import != NULL) {
		/* bounded: finish it, so the model and the table agree */
		ctl_import_finish(s->import);
		s->import = NULL;
		s->import_conn = NULL;
	}
	if (s->conns != NULL)
		for (int i = 0; i < CTL_MAX_CLIENTS; i++)
			if (s->conns[i].fd >= 0)
				conn_close(s, &s->conns[i]);
	free(s->conns);
	s->conns = NULL;
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
	}
	s->listen_fd = -1;
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

/*
 * Try to write what is left of c's reply. @return 0 while the connection
 * stays (all written, or the socket is full), -1 once it was closed.
 */
static int
conn_flush(struct ctl_server *s, struct ctl_conn *c, uint64_t now)
{
	while (c->out_sent < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			conn_close(s, c);
			return -1;
		}
		c->out_sent += (size_t)w;
		c->last_ms = now;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_sent = 0;
	c->deadline_ms = 0;
	if (c->close_after) {
		conn_close(s, c);
		return -1;
	}
	return 0;
}

/* Frame and queue r's response on c (replacing nothing: c has no reply queued). */
static void
conn_reply(struct ctl_server *s, struct ctl_conn *c, struct ctl_reply *r, uint64_t now)
{
	size_t len = taskwire__control__response__get_packed_size(&r->resp);
	uint8_t *out;

	if (len > TW_CTL_MSG_MAX) {
		/* a listing too large for the framing: say so instead */
		ctl_reply_free(r);
		ctl_reply_init(r);
		r->resp.ok = false;
		r->resp.error = (char *)"reply larger than the 4 MiB control message limit";
		len = taskwire__control__response__get_packed_size(&r->resp);
	}
	out = malloc(len + 4);
	if (out == NULL) {
		ctl_reply_free(r);
		conn_close(s, c);
		return;
	}
	out[0] = (uint8_t)len;
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 24);
	taskwire__control__response__pack(&r->resp, out + 4);
	ctl_reply_free(r);
	c->out = out;
	c->out_len = len + 4;
	c->out_sent = 0;
	c->deadline_ms = now + CTL_REPLY_DEADLINE_MS;
	conn_flush(s, c, now);
}

static void
conn_error(struct ctl_server *s, struct ctl_conn *c, const char *msg, bool close_after,
	   uint64_t now)
{
	struct ctl_reply r;

	ctl_reply_init(&r);
	r.resp.ok = false;
	r.resp.error = (char *)msg;
	c->close_after = close_after;
	conn_reply(s, c, &r, now);
}

/* Append the server's counters to a status reply's control section. */
static void
status_append(const struct ctl_server *s, struct ctl_reply *r)
{
	Taskwire__Control__Status *st = r->resp.status;
	Taskwire__Control__Counter **arr, *items;
	size_t n;

	if (st == NULL)
		return;
	n = st->n_control;
	arr = ctl_reply_alloc(r, sizeof(*arr) * (n + CTL_SRV__MAX + 1 + CTL_HTTP__MAX));
	items = ctl_reply_alloc(r, sizeof(*items) * (CTL_SRV__MAX + 1 + CTL_HTTP__MAX));
	if (arr == NULL || items == NULL)
		return;
	memcpy(arr, st->control, sizeof(*arr) * n);
	for (int i = 0; i <= CTL_SRV__MAX; i++) {
		taskwire__control__counter__init(&items[i]);
		items[i].name = (char *)(i < CTL_SRV__MAX ? ctl_server_counter_names[i] : "ctl_clients");
		items[i].value = i < CTL_SRV__MAX ? s->c[i] : s->n_conns;
		arr[n++] = &items[i];
	}
	for (int i = 0; s->http != NULL && i < CTL_HTTP__MAX; i++) {
		Taskwire__Control__Counter *c = &items[CTL_SRV__MAX + 1 + i];

		taskwire__control__counter__init(c);
		c->name = (char *)ctl_http_counter_names[i];
		c->value = __atomic_load_n(&s->http->c[i], __ATOMIC_RELAXED);
		arr[n++] = c;
	}
	st->control = arr;
	st->n_control = n;
}

/* Decoding allocator: a request may not decode into more than its budget. */
struct decode_budget {
	size_t left;
	bool exceeded;
};

static void *
budget_alloc(void *data, size_t size)
{
	struct decode_budget *d = data;

	if (size > d->left) {
		d->exceeded = true;
		return NULL;
	}
	d->left -= size;
	return malloc(size);
}

static void
budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

/*
 * Requests served while an import's table is being built: they only read
 * the broker model (as the builder does). Every other one waits, so the
 * model the builder reads does not change under it.
 */
static bool
read_only(const Taskwire__Control__Request *req)
{
	switch (req->body_case) {
	case TASKWIRE__CONTROL__REQUEST__BODY_STATUS:
	case TASKWIRE__CONTROL__REQUEST__BODY_LIST:
	case TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_INFO:
	case TASKWIRE__CONTROL__REQUEST__BODY_RESULT:
	case TASKWIRE__CONTROL__REQUEST__BODY_EVENTS:
		return true;
	default:
		return false;
	}
}

static Taskwire__Control__Request *decode_request(const uint8_t *in, size_t len, char *err,
						  size_t err_len, bool *over_budget);

/*
 * Start a definitions import (ctl_import.h), from the request's bytes or
 * decoded; c waits for its answer, which import_end() sends.
 */
static void
import_start(struct ctl_server *s, struct ctl_ctx *ctx, struct ctl_conn *c, uint8_t *raw,
	     size_t len, Taskwire__Control__Request *req, uint64_t now)
{
	struct ctl_reply r;

	ctl_reply_init(&r);
	s->import = ctl_import_start(ctx, raw, len, req, decode_request, r.err);
	if (s->import != NULL) {
		s->c[CTL_SRV_ctl_imports]++;
		s->import_conn = c;
		return;
	}
	s->c[CTL_SRV_ctl_requests]++;
	r.resp.ok = false;
	r.resp.error = r.err;
	conn_reply(s, c, &r, now);
}

/*
 * Handle a decoded request and queue its reply; an events request that
 * finds nothing yet is parked instead, a request that must wait for an
 * import is held, an import is started (each takes ownership of req).
 * @return true if req was kept (not freed).
 */
static bool
conn_handle(struct ctl_server *s, struct ctl_ctx *ctx, struct ctl_conn *c,
	    Taskwire__Control__Request *req, uint64_t now)
{
	struct ctl_reply r;
	bool waits = req->body_case == TASKWIRE__CONTROL__REQUEST__BODY_EVENTS &&
		     req->events->wait_ms > 0;
	uint32_t wait_ms = waits ? req->events->wait_ms : 0;

	if (s->import != NULL && !read_only(req)) {
		if (c->parked == req)
			c->parked = NULL;
		s->c[CTL_SRV_ctl_held_for_import]++;
		c->held = req;
		return true;
	}
	if (req->body_case == TASKWIRE__CONTROL__REQUEST__BODY_IMPORT_DEFINITIONS) {
		import_start(s, ctx, c, NULL, 0, req, now);
		return true;
	}

	/* The wait happens here, between poll passes, not inside the handler:
	 * the handler always looks once without waiting. */
	if (waits)
		req->events->wait_ms = 0;
	ctl_reply_init(&r);
	if (ctl_names_check(req, r.err, sizeof(r.err)) != 0) {
		s->c[CTL_SRV_ctl_names_refused]++;
		r.resp.ok = false;
		r.resp.error = r.err;
	} else {
		pthread_mutex_lock(&ctx->lock);
		ctl_handle(ctx, req, &r);
		pthread_mutex_unlock(&ctx->lock);
	}
	if (waits && r.resp.ok && r.resp.n_events == 0) {
		uint64_t until = c->parked == req ? c->park_until_ms
			: now + (wait_ms > EVENTS_MAX_WAIT_MS ? EVENTS_MAX_WAIT_MS : wait_ms);

		if (now < until) {
			/* from where this look ended: nothing between is lost */
			req->events->after_seq = r.resp.next_seq;
			req->events->wait_ms = wait_ms;
			ctl_reply_free(&r);
			c->parked = req;
			c->park_until_ms = until;
			return true;
		}
	}
	if (c->parked == req)
		c->parked = NULL;
	s->c[CTL_SRV_ctl_requests]++;
	if (req->body_case == TASKWIRE__CONTROL__REQUEST__BODY_STATUS)
		status_append(s, &r);
	taskwire__control__request__free_unpacked(req, NULL);
	conn_reply(s, c, &r, now);
	return false;
}

/* One protobuf varint at *p (< end). @return false if cut or too long. */
static bool
varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/*
 * Count the fields of one message, by number (1..max), without decoding
 * it. @return false if it is not well-formed (the decoder then says so).
 */
static bool
count_fields(const uint8_t *p, const uint8_t *end, uint64_t *n, uint32_t max, const uint8_t **sub,
	     size_t *sub_len, uint32_t sub_field)
{
	/* bounded: each pass consumes at least one byte */
	while (p < end) {
		uint64_t key, len;

		if (!varint(&p, end, &key))
			return false;
		switch (key & 7) {
		case 0:
			if (!varint(&p, end, &len))
				return false;
			break;
		case 1:
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2:
			if (!varint(&p, end, &len) || len > (uint64_t)(end - p))
				return false;
			if (sub != NULL && key >> 3 == sub_field) {
				*sub = p;
				*sub_len = (size_t)len;
			}
			p += len;
			break;
		default:
			return false;
		}
		if (p > end)
			return false;
		if ((key >> 3) >= 1 && (key >> 3) <= max)
			n[(key >> 3) - 1]++;
	}
	return true;
}

/*
 * Before decoding: a definitions import may not list more exchanges,
 * queues or bindings than the engine can hold, so the memory a request
 * costs is bounded by what could be valid, not only by its size.
 * @return NULL, or why the request is refused (in msg).
 */
static const char *
over_limits(const uint8_t *in, size_t len, char *msg, size_t msg_len, bool *is_import)
{
	static const struct {
		const char *what;
		uint64_t max;
	} lim[3] = { { "exchanges", TW_MAX_EXCHANGES }, { "queues", TW_MAX_QUEUES },
		     { "bindings", TW_MAX_BINDINGS } };
	const uint8_t *defs = NULL;
	size_t defs_len = 0;
	uint64_t top[17] = { 0 }, n[3] = { 0 };

	/* Request.import_definitions is field 10 */
	if (!count_fields(in, in + len, top, 17, &defs, &defs_len, 10) || defs == NULL)
		return NULL;
	/* one field of the body oneof: an import and nothing else */
	*is_import = top[9] == 1;
	if (!count_fields(defs, defs + defs_len, n, 3, NULL, NULL, 0))
		return NULL;
	for (int i = 0; i < 3; i++)
		if (n[i] > lim[i].max) {
			snprintf(msg, msg_len, "definitions with %" PRIu64 " %s, above the limit of %"
				 PRIu64 ": refused", n[i], lim[i].what, lim[i].max);
			return msg;
		}
	return NULL;
}

/*
 * Decode a request within the budget (16 times its size and 1 MiB): the
 * decoder's own allocations are counted. Safe on any thread.
 */
static Taskwire__Control__Request *
decode_request(const uint8_t *in, size_t len, char *err, size_t err_len, bool *over_budget)
{
	struct decode_budget d = { len * CTL_DECODE_FACTOR + CTL_DECODE_FLOOR, false };
	ProtobufCAllocator a = { budget_alloc, budget_free, &d };
	Taskwire__Control__Request *req = taskwire__control__request__unpack(&a, len, in);

	*over_budget = req == NULL && d.exceeded;
	if (req == NULL && d.exceeded)
		snprintf(err, err_len, "request of %zu bytes decodes to more than %zu bytes: refused",
			 len, len * CTL_DECODE_FACTOR + CTL_DECODE_FLOOR);
	else if (req == NULL)
		snprintf(err, err_len, "request does not decode as taskwire.control.Request");
	return req;
}

/* A whole request is in c->in: decode it (within budget) and answer. */
static void
conn_request(struct ctl_server *s, struct ctl_ctx *ctx, struct ctl_conn *c, uint64_t now)
{
	size_t len = c->in_got;
	struct decode_budget d = { (size_t)len * CTL_DECODE_FACTOR + CTL_DECODE_FLOOR, false };
	ProtobufCAllocator a = { budget_alloc, budget_free, &d };
	Taskwire__Control__Request *req;
	bool is_import = false;
	char msg[160];

	c->deadline_ms = 0;
	if (c->refused) {
		s->c[CTL_SRV_ctl_refused_peers]++;
		conn_drop_rx(s, c);
		conn_error(s, c, c->why, true, now);
		return;
	}
	if (over_limits(c->in, len, msg, sizeof(msg), &is_import) != NULL) {
		s->c[CTL_SRV_ctl_over_limits]++;
		conn_drop_rx(s, c);
		conn_error(s, c, msg, false, now);
		return;
	}
	if (is_import && s->import == NULL) {
		/* decoded on the import's thread: the buffer goes with it */
		uint8_t *raw = c->in;

		c->in = NULL;
		conn_drop_rx(s, c); /* the budget is released with the buffer's ownership */
		import_start(s, ctx, c, raw, len, NULL, now);
		return;
	}
	req = taskwire__control__request__unpack(&a, len, c->in);
	conn_drop_rx(s, c);
	if (req == NULL) {
		if (d.exceeded) {
			s->c[CTL_SRV_ctl_decode_over_budget]++;
			snprintf(msg, sizeof(msg),
				 "request of %zu bytes decodes to more than %zu bytes: refused", len,
				 (size_t)len * CTL_DECODE_FACTOR + CTL_DECODE_FLOOR);
		} else {
			s->c[CTL_SRV_ctl_bad_requests]++;
			snprintf(msg, sizeof(msg),
				 "request does not decode as taskwire.control.Request");
		}
		conn_error(s, c, msg, false, now);
		return;
	}
	/* The decoded request is freed with the default allocator from here on:
	 * budget_free is plain free(), so the two agree. */
	conn_handle(s, ctx, c, req, now);
}

/* The body buffer's next size: it grows with what arrives, doubling, never
 * past the announced length (a length alone reserves nothing). */
static uint32_t
next_cap(const struct ctl_conn *c)
{
	uint32_t cap = c->in_cap ? c->in_cap * 2 : RX_MIN_CHUNK;

	return cap > c->want ? c->want : cap;
}

/* A body that needs more buffer than the budget has left now. */
static bool
starved(const struct ctl_server *s, const struct ctl_conn *c)
{
	return c->hdr_got == sizeof(c->hdr) && c->in_got == c->in_cap && c->in_got < c->want &&
	       s->rx_buffered + (next_cap(c) - c->in_cap) > CTL_RX_BUDGET;
}

/*
 * Read what c's socket has, up to the end of one request. Stops early when
 * the receive budget is spent (the connection then waits for room, within
 * its deadline). @return -1 once c was closed, else 0.
 */
static int
conn_read(struct ctl_server *s, struct ctl_ctx *ctx, struct ctl_conn *c, uint64_t now)
{
	for (;;) {
		uint8_t *dst;
		size_t room;
		ssize_t r;

		if (c->hdr_got < sizeof(c->hdr)) {
			dst = c->hdr + c->hdr_got;
			room = sizeof(c->hdr) - c->hdr_got;
		} else {
			if (c->in_got == c->in_cap && c->in_got < c->want) {
				uint32_t cap = next_cap(c);
				uint8_t *p;

				if (s->rx_buffered + (cap - c->in_cap) > CTL_RX_BUDGET)
					return 0;
				p = realloc(c->in, cap);
				if (p == NULL)
					return 0;
				s->rx_buffered += cap - c->in_cap;
				c->in = p;
				c->in_cap = cap;
			}
			dst = c->in + c->in_got;
			room = c->in_cap - c->in_got; /* 0 only for an empty body */
		}
		r = room == 0 ? 0 : recv(c->fd, dst, room, MSG_DONTWAIT);
		if (room != 0 && r == 0) {
			conn_close(s, c); /* the peer closed (mid-request or between them) */
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			conn_close(s, c);
			return -1;
		}
		if (r > 0 && c->hdr_got == 0 && c->deadline_ms == 0)
			c->deadline_ms = now + CTL_REQUEST_DEADLINE_MS; /* a request has begun */
		c->last_ms = now;
		if (c->hdr_got < sizeof(c->hdr)) {
			c->hdr_got += (uint32_t)r;
			if (c->hdr_got < sizeof(c->hdr))
				continue;
			c->want = (uint32_t)c->hdr[0] | (uint32_t)c->hdr[1] << 8 |
				  (uint32_t)c->hdr[2] << 16 | (uint32_t)c->hdr[3] << 24;
			if (c->want > TW_CTL_MSG_MAX) {
				char msg[120];

				s->c[CTL_SRV_ctl_too_large]++;
				snprintf(msg, sizeof(msg),
					 "request of %u bytes above the %u-byte limit: closing",
					 c->want, TW_CTL_MSG_MAX);
				conn_drop_rx(s, c);
				conn_error(s, c, msg, true, now);
				return c->fd < 0 ? -1 : 0;
			}
		} else {
			c->in_got += (uint32_t)r;
		}
		if (c->hdr_got == sizeof(c->hdr) && c->in_got == c->want) {
			conn_request(s, ctx, c, now);
			return c->fd < 0 ? -1 : 0;
		}
	}
}

static void
accept_new(struct ctl_server *s, uint64_t now)
{
	for (int k = 0; k < ACCEPTS_PER_POLL; k++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ctl_conn *c = NULL;

		if (fd < 0)
			return; /* EAGAIN: none left; others: try again next pass */
		if (s->n_conns == CTL_MAX_CLIENTS) {
			/* make room: the connection that has waited longest without progress */
			struct ctl_conn *old = NULL;

			for (int i = 0; i < CTL_MAX_CLIENTS; i++)
				if (old == NULL || s->conns[i].last_ms < old->last_ms)
					old = &s->conns[i];
			s->c[CTL_SRV_ctl_evicted]++;
			conn_close(s, old);
		}
		for (int i = 0; i < CTL_MAX_CLIENTS && c == NULL; i++)
			if (s->conns[i].fd < 0)
				c = &s->conns[i];
		c->fd = fd;
		c->last_ms = now;
		s->n_conns++;
		{
			const char *why = peer_refused(s, fd, c->why, sizeof(c->why));

			if (why != NULL) {
				c->refused = true;
				if (why != c->why) /* a literal reason */
					snprintf(c->why, sizeof(c->why), "%s", why);
			}
		}
	}
}

/* Close or answer what is past its time; retry parked events requests. */
static void
expire(struct ctl_server *s, struct ctl_ctx *ctx, uint64_t now)
{
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_conn *c = &s->conns[i];

		if (c->fd < 0)
			continue;
		if (c->parked != NULL && c->out == NULL) {
			conn_handle(s, ctx, c, c->parked, now);
			continue;
		}
		if (c->deadline_ms != 0 && now >= c->deadline_ms) {
			s->c[c->out != NULL ? CTL_SRV_ctl_reply_timeouts : CTL_SRV_ctl_request_timeouts]++;
			conn_close(s, c);
		} else if (c->deadline_ms == 0 && c->out == NULL && c->held == NULL &&
			   s->import_conn != c && now - c->last_ms >= CTL_IDLE_MS) {
			s->c[CTL_SRV_ctl_idle_closed]++;
			conn_close(s, c);
		}
	}
}

/* Advance the import; once it has ended, answer it, then the held requests. */
static void
import_advance(struct ctl_server *s, struct ctl_ctx *ctx, uint64_t now)
{
	struct ctl_reply r;
	int ret;

	ctl_reply_init(&r);
	ret = ctl_import_poll(s->import, r.err);
	if (ret == 0)
		return;
	if (ret == -E2BIG)
		s->c[CTL_SRV_ctl_decode_over_budget]++;
	else if (ret == -EBADMSG)
		s->c[CTL_SRV_ctl_bad_requests]++;
	else if (ret == -EILSEQ)
		s->c[CTL_SRV_ctl_names_refused]++;
	ctl_import_free(s->import);
	s->import = NULL;
	r.resp.ok = ret > 0;
	r.resp.error = r.resp.ok ? (char *)"" : r.err;
	s->c[CTL_SRV_ctl_requests]++;
	if (s->import_conn != NULL)
		conn_reply(s, s->import_conn, &r, now);
	else
		ctl_reply_free(&r);
	s->import_conn = NULL;
	/* in connection order; one of them may start the next import, and
	 * those after it wait again */
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_conn *c = &s->conns[i];
		Taskwire__Control__Request *req = c->held;

		if (c->fd < 0 || req == NULL || s->import != NULL)
			continue;
		c->held = NULL;
		conn_handle(s, ctx, c, req, now);
	}
}

int
ctl_server_poll(struct ctl_server *s, struct ctl_ctx *ctx, int timeout_ms)
{
	struct pollfd p[CTL_MAX_CLIENTS + 1];
	int map[CTL_MAX_CLIENTS + 1];
	uint64_t now = tw_monotonic_ms(), next = now + (uint64_t)timeout_ms;
	int n = 0, ret;

	p[n] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
	map[n++] = -1;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_conn *c = &s->conns[i];
		uint64_t due;

		if (c->fd < 0)
			continue;
		due = c->parked != NULL ? now + PARKED_RETRY_MS
		      : c->deadline_ms != 0 ? c->deadline_ms : c->last_ms + CTL_IDLE_MS;
		if (due < next)
			next = due;
		if (c->parked != NULL || c->held != NULL || s->import_conn == c)
			continue; /* it reads nothing more until answered */
		if (c->out == NULL && starved(s, c))
			continue; /* waits for buffer room (or its deadline) */
		p[n] = (struct pollfd){ .fd = c->fd, .events = c->out != NULL ? POLLOUT : POLLIN };
		map[n++] = i;
	}
	if (s->import != NULL && next > now + IMPORT_CHECK_MS)
		next = now + IMPORT_CHECK_MS;
	ret = poll(p, (nfds_t)n, next > now ? (int)(next - now) : 0);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	now = tw_monotonic_ms();
	for (int k = 1; k < n && ret > 0; k++) {
		struct ctl_conn *c = &s->conns[map[k]];

		if (p[k].revents == 0)
			continue;
		if (c->out != NULL) {
			if (conn_flush(s, c, now) != 0)
				continue;
			if (p[k].revents & (POLLERR | POLLHUP))
				conn_close(s, c);
			continue;
		}
		conn_read(s, ctx, c, now);
	}
	if (p[0].revents & POLLIN)
		accept_new(s, now);
	else if (p[0].revents & (POLLERR | POLLNVAL))
		return -EIO;
	expire(s, ctx, tw_monotonic_ms());
	if (s->import != NULL)
		import_advance(s, ctx, tw_monotonic_ms());
	return 0;
}
