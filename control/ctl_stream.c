/*
 * SSE and WebSocket event streams (see ctl_stream.h).
 *
 * WebSocket (RFC 6455), server side, only what this stream needs: the
 * handshake (SHA-1 + base64 of the key, from nettle), unmasked text
 * frames out, and reading client frames only to notice a close. Frames
 * from the client are masked and small here (pings, close); anything we
 * cannot parse closes the connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <poll.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "ctl_events.h"
#include "ctl_http_guard.h"
#include "ctl_stream.h"

#define BATCH 32
#define WAIT_MS 1000

struct stream {
	struct ctl_http_guard *g;
	struct ctl_events *e;
	uint64_t after;
	uint64_t task_id;
	char queue[64];
	char *first;           /* sent before the events, then freed */
	/* SSE: formatted bytes not yet taken by MHD */
	char *pending;
	size_t pending_len, pending_off;
};

/* @return a stream counted in the guard's budget, or NULL (not counted). */
static struct stream *
stream_new(struct ctl_http_guard *g, struct ctl_events *e, struct MHD_Connection *conn,
	   const char *first)
{
	struct stream *s = calloc(1, sizeof(*s));
	const char *task = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "task");
	const char *queue = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "queue");

	if (s == NULL)
		return NULL;
	if (first != NULL && (s->first = strdup(first)) == NULL) {
		free(s);
		return NULL;
	}
	if (!ctl_http_guard_stream_open(g, conn)) {
		free(s->first);
		free(s);
		return NULL;
	}
	s->g = g;
	s->e = e;
	s->after = UINT64_MAX - 1; /* from now on */
	if (task != NULL)
		s->task_id = strtoull(task, NULL, 16);
	if (queue != NULL)
		snprintf(s->queue, sizeof(s->queue), "%s", queue);
	ctl_events_follow(e);
	return s;
}

/* Next events for s as text: SSE records or bare JSON lines. @return bytes in *out (malloc'd). */
static size_t
next_text(struct stream *s, bool sse, char **out)
{
	struct ctl_event ev[BATCH];
	uint32_t n;
	size_t cap, len = 0;
	char *buf;

	if (s->first != NULL) {
		int k = sse ? asprintf(out, "event: task-state\ndata: %s\n\n", s->first)
			    : asprintf(out, "%s\n", s->first);

		free(s->first);
		s->first = NULL;
		if (k < 0)
			*out = NULL;
		return k < 0 ? 0 : (size_t)k;
	}
	n = ctl_events_read(s->e, s->after, ev, BATCH, WAIT_MS, &s->after);
	cap = 1024 * (n + 1);
	buf = malloc(cap);
	*out = buf;
	if (buf == NULL)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		char json[1024];

		if (!ctl_event_matches(&ev[i], s->task_id, s->queue))
			continue;
		ctl_event_json(&ev[i], json, sizeof(json));
		/* SSE records, or one JSON object per line (the WebSocket frames each line) */
		if (sse)
			len += (size_t)snprintf(buf + len, cap - len, "event: %s\ndata: %s\n\n",
						ev[i].type, json);
		else
			len += (size_t)snprintf(buf + len, cap - len, "%s\n", json);
	}
	return len;
}

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	(void)pos;
	if (ctl_http_guard_stopping(s->g))
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (s->pending_off == s->pending_len) {
		free(s->pending);
		s->pending_len = next_text(s, true, &s->pending);
		s->pending_off = 0;
		if (s->pending == NULL)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (s->pending_len == 0) {
			/* a comment: keeps proxies and our own timeout from closing an idle stream */
			static const char ka[] = ": keep-alive\n\n";

			memcpy(buf, ka, sizeof(ka) - 1);
			return (ssize_t)(sizeof(ka) - 1);
		}
	}
	n = s->pending_len - s->pending_off < max ? s->pending_len - s->pending_off : max;
	memcpy(buf, s->pending + s->pending_off, n);
	s->pending_off += n;
	return (ssize_t)n;
}

static void
stream_free(void *cls)
{
	struct stream *s = cls;

	ctl_http_guard_stream_close(s->g);
	free(s->pending);
	free(s->first);
	free(s);
}

static enum MHD_Result
plain_error(struct MHD_Connection *conn, unsigned status, const char *msg, bool version)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(msg), (void *)msg,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	if (version)
		MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
busy(struct MHD_Connection *conn)
{
	return plain_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
			   "too many event streams open; try again later\n", false);
}

enum MHD_Result
ctl_stream_sse(struct ctl_http_guard *g, struct ctl_events *e, struct MHD_Connection *conn,
	       const char *first)
{
	struct stream *s;
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (e == NULL)
		return MHD_NO;
	s = stream_new(g, e, conn, first);
	if (s == NULL)
		return busy(conn);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, stream_free);
	if (r == NULL) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* --- WebSocket --- */

static bool
send_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len > 0) {
		ssize_t w = send(fd, b, len, MSG_NOSIGNAL);

		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return false;
		}
		b += w;
		len -= (size_t)w;
	}
	return true;
}

/* One unmasked frame (server to client): FIN + opcode, then the length. */
static bool
ws_frame(int fd, uint8_t opcode, const void *p, size_t len)
{
	uint8_t h[10];
	size_t hl = 2;

	h[0] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		h[1] = (uint8_t)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	return send_all(fd, h, hl) && send_all(fd, p, len);
}

/* @return false once the client closed or sent something we do not follow. */
static bool
ws_client_alive(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t buf[512];
	ssize_t n;

	if (poll(&pfd, 1, 0) <= 0)
		return true;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n <= 0)
		return n < 0 && (errno == EAGAIN || errno == EINTR);
	/* opcode 8: close; pings (9) are answered by our next frame soon enough */
	return (buf[0] & 0x0f) != 8;
}

static void
ws_run(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra,
       size_t extra_len, MHD_socket fd, struct MHD_UpgradeResponseHandle *urh)
{
	struct stream *s = cls;

	(void)conn;
	(void)req_cls;
	(void)extra;
	(void)extra_len;
	/* bounded by the client (it ends when the client closes or a send fails)
	 * and by shutdown: each pass waits at most WAIT_MS */
	while (!ctl_http_guard_stopping(s->g) && ws_client_alive(fd)) {
		char *text;
		size_t len = next_text(s, false, &text);
		bool ok = text != NULL;

		for (char *line = text, *nl; ok && len != 0 && (nl = strchr(line, '\n')) != NULL;
		     line = nl + 1) {
			ok = ws_frame(fd, 0x1, line, (size_t)(nl - line));
			if (nl + 1 >= text + len)
				break;
		}
		free(text);
		if (!ok || (len == 0 && !ws_frame(fd, 0x9, "", 0))) /* idle: ping */
			break;
		ctl_events_follow(s->e);
	}
	ws_frame(fd, 0x8, "", 0);
	stream_free(s);
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* The Connection header lists "upgrade" among its comma-separated tokens. */
static bool
connection_upgrade(const char *v)
{
	while (v != NULL && *v != '\0') {
		size_t n;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		n = strcspn(v, ", \t");
		if (n == 7 && strncasecmp(v, "upgrade", 7) == 0)
			return true;
		v += n;
	}
	return false;
}

/* 16 bytes in base64: 22 characters of the alphabet and "==". */
static bool
key_ok(const char *k)
{
	size_t n = strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

	return n == 22 && strcmp(k + 22, "==") == 0;
}

enum MHD_Result
ctl_stream_websocket(struct ctl_http_guard *g, struct ctl_events *e, struct MHD_Connection *conn,
		     const char *first)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	const char *up = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
	const char *cn = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Connection");
	const char *ver = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						      "Sec-WebSocket-Version");
	uint8_t digest[SHA1_DIGEST_SIZE];
	char accept[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1];
	struct sha1_ctx sha;
	struct MHD_Response *r;
	struct stream *s;
	enum MHD_Result ret;

	if (key == NULL || up == NULL || strcasecmp(up, "websocket") != 0 || !key_ok(key) ||
	    !connection_upgrade(cn)) {
		ctl_http_count(g, CTL_HTTP_http_ws_bad_handshake);
		return plain_error(conn, MHD_HTTP_BAD_REQUEST,
				   "a WebSocket upgrade is expected here (RFC 6455: Connection: "
				   "Upgrade, Upgrade: websocket, a 16-byte Sec-WebSocket-Key)\n",
				   false);
	}
	if (ver == NULL || strcmp(ver, "13") != 0) {
		ctl_http_count(g, CTL_HTTP_http_ws_bad_handshake);
		return plain_error(conn, MHD_HTTP_UPGRADE_REQUIRED,
				   "Sec-WebSocket-Version 13 is the one spoken here\n", true);
	}
	sha1_init(&sha);
	sha1_update(&sha, strlen(key), (const uint8_t *)key);
	sha1_update(&sha, sizeof(guid) - 1, (const uint8_t *)guid);
	sha1_digest(&sha, sizeof(digest), digest);
	base64_encode_raw((char *)accept, sizeof(digest), digest);
	accept[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
	if (e == NULL)
		return MHD_NO;
	s = stream_new(g, e, conn, first);
	if (s == NULL)
		return busy(conn);
	r = MHD_create_response_for_upgrade(ws_run, s);
	if (r == NULL) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
	ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
	MHD_destroy_response(r);
	return ret;
}
