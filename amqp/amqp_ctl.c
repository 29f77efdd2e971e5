/*
 * tw-control requests from tw-amqp's event loop, without waiting in it.
 *
 * One persistent connection to tw-control's socket, registered in the
 * loop's epoll like any connection: requests are queued in order, written
 * as the socket takes them, and answered in the same order (tw-control
 * reads a connection's next request only after it answered the last one,
 * so one connection is a FIFO). A request's answer calls its continuation;
 * an AMQP method that needs the answer parks its channel meanwhile
 * (amqp_channel_wait / amqp_channel_resume), so other channels and
 * connections go on while tw-control is slow, stopped or restarting.
 *
 * Failures stay bounded and are said: each request has a deadline
 * (--control-timeout-ms); past it the continuation gets an error (the
 * method's channel or connection is closed with it), and the connection,
 * whose later answers could no longer be matched, is dropped. A lost
 * connection (tw-control restarted, or its idle or eviction close) is made
 * again on the next request, retried every RETRY_MS while requests wait;
 * requests it carried are sent again once when they are idempotent
 * (declares, binds, lookups, deletes), else failed as possibly applied.
 * The connection is closed after IDLE_CLOSE_MS without requests, before
 * tw-control's own idle close could race a new request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "amqp_server.h"
#include "control.pb-c.h"
#include "tw_ctl_socket.h"

#define RETRY_MS 100          /* between connection attempts while requests wait */
#define IDLE_CLOSE_MS 5000    /* tw-control closes idle connections after 10 s */
#define READ_CHUNK 65536

static void
set_interest(struct amqp_server *s)
{
	struct amqp_ctl *k = &s->ctl;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &k->kind };

	if (k->fd < 0)
		return;
	if (k->wr != NULL)
		e.events |= EPOLLOUT;
	if (e.events != k->events && epoll_ctl(s->epfd, EPOLL_CTL_MOD, k->fd, &e) == 0)
		k->events = e.events;
}

static void
call_free(struct amqp_ctl_call *call)
{
	free(call->req);
	free(call);
}

/* Hand an unlinked call its outcome (resp or err), then free it. */
static void
finish(struct amqp_server *s, struct amqp_ctl_call *call, Taskwire__Control__Response *resp,
       const char *err)
{
	struct amqp_ctl *k = &s->ctl;
	struct amqp_channel *ch;

	k->n_calls--;
	if (resp != NULL && !resp->ok)
		err = resp->error != NULL && resp->error[0] != '\0' ? resp->error : "refused";
	else if (resp == NULL && err == NULL)
		err = "no answer";
	ch = call->conn_id != 0 ? amqp_channel_find(s, call->conn_id, call->channel, call->epoch)
				: NULL;
	call->unanswered = resp == NULL;
	/* what the continuation submits is written by the caller's pump, after
	 * this answer is consumed (never in the middle of a drop or a read) */
	k->depth++;
	call->done(s, call, ch, resp != NULL && resp->ok ? resp : NULL, err);
	/* after the continuation: it may have parked the channel again */
	if (ch != NULL)
		amqp_channel_resume(ch);
	k->depth--;
	call_free(call);
}

static void
finish_head(struct amqp_server *s, Taskwire__Control__Response *resp, const char *err)
{
	struct amqp_ctl *k = &s->ctl;
	struct amqp_ctl_call *call = k->head;

	k->head = call->next;
	if (k->head == NULL)
		k->tail = NULL;
	if (k->wr == call) {
		k->wr = call->next;
		k->wr_off = 0;
	}
	finish(s, call, resp, err);
}

/* The connection is gone (or given up): what it carried is sent again
 * on the next one, in the same order, when that is safe; the rest fails. */
static void
drop_conn(struct amqp_server *s, const char *why)
{
	struct amqp_ctl *k = &s->ctl;
	struct amqp_ctl_call *again = NULL, *again_tail = NULL, *failed = NULL, **pf = &failed, *c;
	char err[200];

	if (k->fd < 0)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	k->fd = -1;
	k->events = 0;
	k->in_len = 0;
	/* the calls before wr were sent, wholly or in part, on this connection */
	while (k->head != NULL && k->head != k->wr) {
		c = k->head;
		k->head = c->next;
		c->next = NULL;
		if (c->idempotent && !c->resent) {
			c->resent = true;
			s->cnt.ctl_resent++;
			if (again_tail != NULL)
				again_tail->next = c;
			else
				again = c;
			again_tail = c;
		} else {
			*pf = c;
			pf = &c->next;
		}
	}
	if (k->head == NULL)
		k->tail = again_tail;
	if (again != NULL) {
		again_tail->next = k->head;
		k->head = again;
	}
	k->wr = k->head;
	k->wr_off = 0;
	k->retry_ms = 0; /* at once: tw-control may simply have closed an idle connection */
	snprintf(err, sizeof(err), "tw-control connection lost (%s) during the request; it may "
		 "have been applied", why);
	while ((c = failed) != NULL) {
		failed = c->next;
		finish(s, c, NULL, err);
	}
}

static void
try_connect(struct amqp_server *s)
{
	struct amqp_ctl *k = &s->ctl;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &k->kind };
	int fd;

	if (k->fd >= 0 || s->now_ms < k->retry_ms)
		return;
	k->retry_ms = s->now_ms + RETRY_MS;
	if (strlen(s->control_socket) >= sizeof(a.sun_path)) {
		snprintf(k->last_err, sizeof(k->last_err), "socket path too long");
		return;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->control_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(k->last_err, sizeof(k->last_err), "socket: %s", strerror(errno));
		return;
	}
	/* a Unix socket connects at once or not at all (EAGAIN: its backlog is
	 * full, tw-control is not accepting): tried again after RETRY_MS */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
		snprintf(k->last_err, sizeof(k->last_err), "connect %s: %s", s->control_socket,
			 strerror(errno));
		close(fd);
		return;
	}
	k->fd = fd;
	k->events = EPOLLIN;
	k->last_use_ms = s->now_ms;
	s->cnt.ctl_connects++;
}

/* Write what the socket takes, in order. */
static void
write_calls(struct amqp_server *s)
{
	struct amqp_ctl *k = &s->ctl;

	while (k->fd >= 0 && k->wr != NULL) {
		struct amqp_ctl_call *c = k->wr;
		ssize_t n = send(k->fd, c->req + k->wr_off, c->req_len - k->wr_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				drop_conn(s, strerror(errno));
			break;
		}
		k->wr_off += (size_t)n;
		k->last_use_ms = s->now_ms;
		if (k->wr_off == c->req_len) {
			k->wr = c->next;
			k->wr_off = 0;
		}
	}
	set_interest(s);
}

static void
pump(struct amqp_server *s)
{
	if (s->ctl.head == NULL || s->ctl.depth != 0)
		return;
	try_connect(s);
	write_calls(s);
}

void
amqp_ctl_init(struct amqp_server *s)
{
	s->ctl.kind = EV_CONTROL;
	s->ctl.fd = -1;
}

int
amqp_ctl_submit(struct amqp_server *s, const Taskwire__Control__Request *req,
		struct amqp_ctl_call *call, struct amqp_channel *ch, uint32_t method)
{
	struct amqp_ctl *k = &s->ctl;
	size_t len = taskwire__control__request__get_packed_size(req);

	if (len > TW_CTL_MSG_MAX) {
		call_free(call);
		return -EMSGSIZE;
	}
	call->req = malloc(len + 4);
	if (call->req == NULL) {
		call_free(call);
		return -ENOMEM;
	}
	call->req[0] = (uint8_t)len;
	call->req[1] = (uint8_t)(len >> 8);
	call->req[2] = (uint8_t)(len >> 16);
	call->req[3] = (uint8_t)(len >> 24);
	taskwire__control__request__pack(req, call->req + 4);
	call->req_len = len + 4;
	call->deadline_ms = s->now_ms + s->ctl_timeout_ms;
	call->next = NULL;
	if (k->tail != NULL)
		k->tail->next = call;
	else
		k->head = call;
	k->tail = call;
	if (k->wr == NULL) {
		k->wr = call;
		k->wr_off = 0;
	}
	k->n_calls++;
	s->cnt.ctl_requests++;
	if (ch != NULL) {
		call->conn_id = ch->conn->id;
		call->channel = ch->num;
		call->epoch = ch->epoch;
		call->method = method;
		amqp_channel_wait(ch);
	}
	pump(s);
	return 0;
}

struct amqp_ctl_call *
amqp_ctl_call_new(amqp_ctl_done_fn done, bool idempotent)
{
	struct amqp_ctl_call *call = calloc(1, sizeof(*call));

	if (call != NULL) {
		call->done = done;
		call->idempotent = idempotent;
	}
	return call;
}

/* Answers, in request order. */
static void
read_answers(struct amqp_server *s)
{
	struct amqp_ctl *k = &s->ctl;

	for (int rounds = 0; rounds < 16 && k->fd >= 0; rounds++) {
		ssize_t n;
		size_t off = 0;

		if (k->in_cap - k->in_len < READ_CHUNK) {
			uint8_t *b = realloc(k->in, k->in_len + READ_CHUNK);

			if (b == NULL) {
				drop_conn(s, "out of memory");
				return;
			}
			k->in = b;
			k->in_cap = k->in_len + READ_CHUNK;
		}
		n = recv(k->fd, k->in + k->in_len, k->in_cap - k->in_len, MSG_DONTWAIT);
		if (n == 0) {
			drop_conn(s, "closed by tw-control");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				drop_conn(s, strerror(errno));
			return;
		}
		k->in_len += (size_t)n;
		k->last_use_ms = s->now_ms;
		while (k->fd >= 0 && k->in_len - off >= 4) {
			const uint8_t *p = k->in + off;
			uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				       (uint32_t)p[3] << 24;
			Taskwire__Control__Response *resp;

			if (len > TW_CTL_MSG_MAX || k->head == NULL || k->head == k->wr) {
				/* an answer to nothing sent: the stream cannot be trusted */
				drop_conn(s, "an answer out of order");
				return;
			}
			if (k->in_len - off - 4 < len) {
				/* a large answer (a listing): room for all of it */
				if (k->in_cap < (size_t)len + 4) {
					memmove(k->in, k->in + off, k->in_len - off);
					k->in_len -= off;
					off = 0;
					uint8_t *b = realloc(k->in, (size_t)len + 4);

					if (b == NULL) {
						drop_conn(s, "out of memory");
						return;
					}
					k->in = b;
					k->in_cap = (size_t)len + 4;
				}
				break;
			}
			resp = taskwire__control__response__unpack(NULL, len, p + 4);
			off += (size_t)len + 4;
			finish_head(s, resp, resp == NULL ? "undecodable answer from tw-control" : NULL);
			if (resp != NULL)
				taskwire__control__response__free_unpacked(resp, NULL);
		}
		if (k->fd < 0)
			return;
		memmove(k->in, k->in + off, k->in_len - off);
		k->in_len -= off;
	}
}

void
amqp_ctl_on_event(struct amqp_server *s, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_answers(s);
	pump(s);
}

void
amqp_ctl_timers(struct amqp_server *s)
{
	struct amqp_ctl *k = &s->ctl;
	char err[200];

	/* one timeout for all: the head's deadline is the earliest */
	while (k->head != NULL && k->head->deadline_ms <= s->now_ms) {
		bool sent = k->head != k->wr || k->wr_off != 0;

		s->cnt.ctl_timeouts++;
		if (sent) {
			snprintf(err, sizeof(err),
				 "tw-control did not answer within %u ms (it may still apply the "
				 "request)", s->ctl_timeout_ms);
			/* its answer may still come: nothing later on this
			 * connection could be matched to its request */
			finish_head(s, NULL, err);
			drop_conn(s, "a request timed out");
		} else {
			snprintf(err, sizeof(err), "tw-control unreachable for %u ms (%s)",
				 s->ctl_timeout_ms, k->last_err[0] != '\0' ? k->last_err : "busy");
			finish_head(s, NULL, err);
		}
	}
	if (k->head == NULL && k->fd >= 0 && s->now_ms - k->last_use_ms >= IDLE_CLOSE_MS)
		drop_conn(s, "idle");
	pump(s);
}

uint64_t
amqp_ctl_next_ms(const struct amqp_server *s)
{
	const struct amqp_ctl *k = &s->ctl;
	uint64_t at;

	if (k->head == NULL)
		return UINT64_MAX;
	at = k->head->deadline_ms;
	if (k->fd < 0 && k->retry_ms < at)
		at = k->retry_ms;
	return at;
}

void
amqp_ctl_close(struct amqp_server *s)
{
	struct amqp_ctl *k = &s->ctl;

	while (k->head != NULL) {
		struct amqp_ctl_call *c = k->head;

		k->head = c->next;
		call_free(c);
	}
	k->tail = k->wr = NULL;
	k->n_calls = 0;
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	free(k->in);
	k->in = NULL;
}
