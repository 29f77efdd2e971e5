/*
 * HTTP deadlines, budgets, Host/Origin and token checks: see
 * ctl_http_guard.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_http_guard.h"
#include "ctl_view_token.h"
#include "tw_clock.h"

const char *const ctl_http_counter_names[CTL_HTTP__MAX] = {
#define X(n) #n,
	CTL_HTTP_COUNTERS(X)
#undef X
};

/* One open connection (libmicrohttpd's socket context). */
struct ctl_http_conn {
	struct ctl_http_conn *prev, *next;
	int fd;
	uint64_t since_ms;     /* connected, or last answered (kept alive) */
	bool pending;          /* waiting for request headers */
	bool stream;           /* an event stream: no deadline applies */
};

int
ctl_http_guard_init(struct ctl_http_guard *g, const char *token_path, long gid)
{
	uint8_t raw[CTL_HTTP_TOKEN_HEX / 2];
	char tmp[300];
	int fd, ret = 0;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(g->token + 2 * i, 3, "%02x", raw[i]);
	if (snprintf(tmp, sizeof(tmp), "%s.new", token_path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* readable by the control socket's users only, before a byte is in it */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if ((gid >= 0 && (fchown(fd, (uid_t)-1, (gid_t)gid) != 0 || fchmod(fd, 0640) != 0)) ||
	    write(fd, g->token, CTL_HTTP_TOKEN_HEX) != CTL_HTTP_TOKEN_HEX ||
	    write(fd, "\n", 1) != 1)
		ret = -errno;
	close(fd);
	if (ret == 0 && rename(tmp, token_path) != 0)
		ret = -errno;
	if (ret != 0)
		unlink(tmp);
	return ret;
}

void
ctl_http_guard_fini(struct ctl_http_guard *g)
{
	/* connections are gone with the daemon; their notify freed them */
	pthread_mutex_destroy(&g->lock);
}

/* Shut the oldest pending connection down (its thread then closes it). Under lock. */
static bool
evict_oldest_pending(struct ctl_http_guard *g)
{
	struct ctl_http_conn *old = NULL;

	for (struct ctl_http_conn *c = g->conns; c != NULL; c = c->next)
		if (c->pending && c->fd >= 0 && (old == NULL || c->since_ms <= old->since_ms))
			old = c;
	if (old == NULL)
		return false;
	shutdown(old->fd, SHUT_RDWR);
	old->fd = -1; /* once only; it leaves the list when libmicrohttpd closes it */
	old->pending = false;
	g->n_pending--;
	return true;
}

enum MHD_Result
ctl_http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct ctl_http_guard *g = cls;

	(void)addr;
	(void)len;
	pthread_mutex_lock(&g->lock);
	if (g->n_pending >= CTL_HTTP_PENDING_MAX && evict_oldest_pending(g))
		ctl_http_count(g, CTL_HTTP_http_evicted);
	pthread_mutex_unlock(&g->lock);
	return MHD_YES;
}

void
ctl_http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode what)
{
	struct ctl_http_guard *g = cls;
	struct ctl_http_conn *c = *socket_context;

	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		c = calloc(1, sizeof(*c));
		*socket_context = c;
		if (c == NULL)
			return; /* not tracked: libmicrohttpd's own timeout still applies */
		c->fd = fd != NULL ? fd->connect_fd : -1;
		c->since_ms = tw_monotonic_ms();
		c->pending = true;
		pthread_mutex_lock(&g->lock);
		c->next = g->conns;
		if (g->conns != NULL)
			g->conns->prev = c;
		g->conns = c;
		g->n_pending++;
		pthread_mutex_unlock(&g->lock);
		return;
	}
	/* closed: libmicrohttpd tells us before it closes the socket */
	if (c == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	if (c->pending)
		g->n_pending--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&g->lock);
	free(c);
	*socket_context = NULL;
}

static struct ctl_http_conn *
conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i != NULL ? i->socket_context : NULL;
}

void
ctl_http_guard_request(struct ctl_http_guard *g, struct MHD_Connection *conn)
{
	struct ctl_http_conn *c = conn_of(conn);

	if (c == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	if (c->pending) {
		c->pending = false;
		g->n_pending--;
	}
	pthread_mutex_unlock(&g->lock);
}

void
ctl_http_guard_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct ctl_http_guard *g = cls;
	struct ctl_http_conn *c = conn_of(conn);

	(void)req_cls;
	(void)why;
	if (c == NULL)
		return;
	/* kept alive: the next request's headers have a deadline of their own */
	pthread_mutex_lock(&g->lock);
	if (!c->pending && !c->stream && c->fd >= 0) {
		c->pending = true;
		c->since_ms = tw_monotonic_ms();
		g->n_pending++;
	}
	pthread_mutex_unlock(&g->lock);
}

void
ctl_http_guard_reap(struct ctl_http_guard *g)
{
	uint64_t now = tw_monotonic_ms();

	pthread_mutex_lock(&g->lock);
	/* bounded by the daemon's connection limit */
	for (struct ctl_http_conn *c = g->conns; c != NULL; c = c->next)
		if (c->pending && c->fd >= 0 && now - c->since_ms >= CTL_HTTP_HEADER_DEADLINE_MS) {
			shutdown(c->fd, SHUT_RDWR);
			c->fd = -1;
			c->pending = false;
			g->n_pending--;
			ctl_http_count(g, CTL_HTTP_http_header_timeouts);
		}
	pthread_mutex_unlock(&g->lock);
}

void
ctl_http_guard_stop(struct ctl_http_guard *g)
{
	__atomic_store_n(&g->stopping, true, __ATOMIC_RELAXED);
}

bool
ctl_http_guard_stream_open(struct ctl_http_guard *g, struct MHD_Connection *conn)
{
	struct ctl_http_conn *c = conn_of(conn);
	bool ok;

	pthread_mutex_lock(&g->lock);
	ok = g->n_streams < CTL_HTTP_STREAMS_MAX;
	if (ok) {
		g->n_streams++;
		if (c != NULL)
			c->stream = true;
	}
	pthread_mutex_unlock(&g->lock);
	if (!ok)
		ctl_http_count(g, CTL_HTTP_http_streams_refused);
	return ok;
}

void
ctl_http_guard_stream_close(struct ctl_http_guard *g)
{
	pthread_mutex_lock(&g->lock);
	g->n_streams--;
	pthread_mutex_unlock(&g->lock);
}

/*
 * "HOST[:PORT]" (or "[V6][:PORT]") naming us: an IP literal or localhost,
 * and our port if one is given. A DNS name is refused: that is what a
 * rebinding attack uses (the name is the attacker's, its address ours).
 */
static bool
host_ok(const char *h, size_t len, uint16_t port)
{
	char host[64], buf[16];
	const char *port_s = NULL;
	unsigned long p;
	char *end;

	if (len == 0 || len >= sizeof(host))
		return false;
	memcpy(host, h, len);
	host[len] = '\0';
	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (close == NULL || (close[1] != ':' && close[1] != '\0'))
			return false;
		port_s = close[1] == ':' ? close + 2 : NULL;
		*close = '\0';
		if (inet_pton(AF_INET6, host + 1, buf) != 1)
			return false;
	} else {
		char *colon = strrchr(host, ':');

		if (colon != NULL) {
			*colon = '\0';
			port_s = colon + 1;
		}
		if (strcasecmp(host, "localhost") != 0 && inet_pton(AF_INET, host, buf) != 1)
			return false;
	}
	if (port_s == NULL)
		return true;
	p = strtoul(port_s, &end, 10);
	return *end == '\0' && end != port_s && p == port;
}

static enum MHD_Result
refuse(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(msg), (void *)msg,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"taskwire\"");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Equal without a timing difference that tells how much of it matched. */
static bool
token_equal(const char *given, const char *ours)
{
	unsigned char diff = 0;
	size_t n = strlen(given);

	if (n != CTL_HTTP_TOKEN_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(given[i] ^ ours[i]);
	return diff == 0;
}

unsigned
ctl_http_guard_check(struct ctl_http_guard *g, struct MHD_Connection *conn, bool need_token,
		     uint64_t view_task, enum MHD_Result *ret)
{
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *view = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "view");
	const char *auth, *q;

	if (host == NULL || !host_ok(host, strlen(host), g->port)) {
		ctl_http_count(g, CTL_HTTP_http_bad_host);
		*ret = refuse(conn, MHD_HTTP_FORBIDDEN,
			      "Host must be this server's IP address or localhost, with its port\n");
		return MHD_HTTP_FORBIDDEN;
	}
	/* a page of the application following its task: the page's Origin is the
	 * application's, the signed token its credential */
	if (view != NULL && view_task != 0) {
		enum ctl_view_verdict v = ctl_view_token_check(g->token, view_task, view,
							       (uint64_t)time(NULL));
		static const char *const why[] = {
			[CTL_VIEW_MALFORMED] = "view token refused: malformed (EXPIRY.HMAC, with ?task=ID)\n",
			[CTL_VIEW_EXPIRED] = "view token refused: expired\n",
			[CTL_VIEW_TOO_LONG] = "view token refused: it may live a day at most\n",
			[CTL_VIEW_BAD_MAC] = "view token refused: not signed for this task\n",
		};

		if (v == CTL_VIEW_OK) {
			ctl_http_count(g, CTL_HTTP_http_view_ok);
			return 0;
		}
		ctl_http_count(g, CTL_HTTP_http_view_refused);
		*ret = refuse(conn, MHD_HTTP_UNAUTHORIZED, why[v]);
		return MHD_HTTP_UNAUTHORIZED;
	}
	if (origin != NULL &&
	    (strncmp(origin, "http://", 7) != 0 || !host_ok(origin + 7, strlen(origin + 7), g->port))) {
		ctl_http_count(g, CTL_HTTP_http_bad_origin);
		*ret = refuse(conn, MHD_HTTP_FORBIDDEN, "requests from other origins are refused\n");
		return MHD_HTTP_FORBIDDEN;
	}
	if (!need_token)
		return 0;
	auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
	if ((auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 && token_equal(auth + 7, g->token)) ||
	    (q != NULL && token_equal(q, g->token)))
		return 0;
	ctl_http_count(g, CTL_HTTP_http_unauthorized);
	*ret = refuse(conn, MHD_HTTP_UNAUTHORIZED,
		      "task data needs the token of the control socket's users (SOCKET.token): "
		      "Authorization: Bearer TOKEN, or ?token=TOKEN\n");
	return MHD_HTTP_UNAUTHORIZED;
}
