/*
 * What keeps tw-control's HTTP side (ctl_metrics.c, ctl_http.c,
 * ctl_stream.c) available and its task data private:
 *
 *  - deadlines: a connection must complete its request headers within
 *    CTL_HTTP_HEADER_DEADLINE_MS of connecting (or of its previous answer,
 *    kept alive), however slowly it trickles bytes; past it the socket is
 *    shut down (libmicrohttpd's own timeout only measures silence);
 *  - a budget: at most CTL_HTTP_PENDING_MAX connections may be waiting for
 *    their headers; a new one makes the oldest of them go, so a crowd of
 *    slow clients cannot keep /metrics or the API out (a real client sends
 *    its headers at once and is never the oldest); event streams (SSE,
 *    WebSocket) are at most CTL_HTTP_STREAMS_MAX, 503 past it;
 *  - Host and Origin: a request's Host must be an IP literal or
 *    "localhost" (with our port, if it has one), and an Origin, if sent,
 *    http:// one of those: a web page from elsewhere (CSRF) or a name rebound to this
 *    address (DNS rebinding) is refused (403);
 *  - a credential for task data and changes (/api/tasks..., revoke,
 *    /events, /ws): the token tw-control writes next to its control
 *    socket (SOCKET.token, readable by the socket's users only), given as
 *    "Authorization: Bearer TOKEN" or "?token=TOKEN" (browsers cannot set
 *    headers on EventSource and WebSocket); 401 without it. /metrics, the
 *    dashboard page and /api/overview (counters only) stay open;
 *  - or, to follow one task from a web page, a view token for that task
 *    (ctl_view_token.h), accepted from any Origin;
 *  - shutdown: streams end within a second of ctl_http_guard_stop(),
 *    whatever their clients do.
 *
 * Every refusal is counted; `twctl status` shows them.
 * Threads: the HTTP daemon's connection threads and tw-control's main
 * thread (ctl_http_guard_reap); `lock` guards the connection list.
 */
#ifndef CTL_HTTP_GUARD_H
#define CTL_HTTP_GUARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define CTL_HTTP_HEADER_DEADLINE_MS 5000
#define CTL_HTTP_PENDING_MAX 128
#define CTL_HTTP_STREAMS_MAX 64
#define CTL_HTTP_TOKEN_HEX 64

#define CTL_HTTP_COUNTERS(X)                                                      \
	X(http_header_timeouts)  /* headers not complete within the deadline */ \
	X(http_evicted)          /* slow connections closed to make room */     \
	X(http_streams_refused)  /* 503: event streams at their budget */       \
	X(http_bad_host)         /* 403: Host not ours */                       \
	X(http_bad_origin)       /* 403: Origin not ours */                     \
	X(http_unauthorized)     /* 401: no or a wrong token */                 \
	X(http_ws_bad_handshake) /* 400: not an RFC 6455 upgrade */             \
	X(http_view_ok)          /* requests let in by a view token */           \
	X(http_view_refused)     /* 401: a view token expired, forged, or for another task */

enum ctl_http_counter {
#define X(n) CTL_HTTP_##n,
	CTL_HTTP_COUNTERS(X)
#undef X
	CTL_HTTP__MAX
};

extern const char *const ctl_http_counter_names[CTL_HTTP__MAX];

struct ctl_http_conn;

struct ctl_http_guard {
	pthread_mutex_t lock;
	struct ctl_http_conn *conns;   /* every open connection, oldest last */
	uint32_t n_pending;            /* of them, waiting for request headers */
	uint32_t n_streams;            /* SSE and WebSocket streams open */
	uint64_t c[CTL_HTTP__MAX];     /* relaxed atomics */
	uint16_t port;                 /* ours, for Host and Origin */
	bool stopping;                 /* atomic: streams end */
	char token[CTL_HTTP_TOKEN_HEX + 1];
};

/**
 * Make a new token and write it to token_path (mode 0600, or 0640 with
 * group gid >= 0), replacing the old file. @return 0 or -errno.
 */
int ctl_http_guard_init(struct ctl_http_guard *g, const char *token_path, long gid);
void ctl_http_guard_fini(struct ctl_http_guard *g);

/* libmicrohttpd callbacks (cls: the guard). */
enum MHD_Result ctl_http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t len);
void ctl_http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			   enum MHD_ConnectionNotificationCode what);
void ctl_http_guard_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			      enum MHD_RequestTerminationCode why);

/** A request's headers are in (called first thing by the access handler). */
void ctl_http_guard_request(struct ctl_http_guard *g, struct MHD_Connection *conn);

/**
 * Check Host, Origin and (if need_token) the token. view_task: the one task
 * this request reads (0: none), which a "view" argument signed for it lets
 * in instead of the token, whatever the Origin.
 * @return 0 if the request may go on, else the HTTP status it was refused
 *   with (a response has been queued, *ret set).
 */
unsigned ctl_http_guard_check(struct ctl_http_guard *g, struct MHD_Connection *conn,
			      bool need_token, uint64_t view_task, enum MHD_Result *ret);

/** A stream may start: @return true and counted, or false (503 is the caller's). */
bool ctl_http_guard_stream_open(struct ctl_http_guard *g, struct MHD_Connection *conn);
void ctl_http_guard_stream_close(struct ctl_http_guard *g);

/** Shut down connections past their header deadline. Threads: main. */
void ctl_http_guard_reap(struct ctl_http_guard *g);

/** Make streams end (before the daemon stops). */
void ctl_http_guard_stop(struct ctl_http_guard *g);

static inline bool
ctl_http_guard_stopping(const struct ctl_http_guard *g)
{
	return __atomic_load_n(&g->stopping, __ATOMIC_RELAXED);
}

static inline void
ctl_http_count(struct ctl_http_guard *g, enum ctl_http_counter c)
{
	__atomic_fetch_add(&g->c[c], 1, __ATOMIC_RELAXED);
}

#endif
