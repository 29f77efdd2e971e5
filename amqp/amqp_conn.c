/*
 * tw-amqp connections: the socket, frame splitting, the connection class
 * (protocol header, start/start-ok with PLAIN or AMQPLAIN, tune, open,
 * heartbeats, close) and the channel class. Methods of the other classes
 * are handed to amqp_model.c, amqp_publish.c and amqp_consume.c.
 *
 * Every error the peer causes ends in an AMQP exception with its reply
 * code (channel.close or connection.close) before the socket is closed;
 * only a peer that is not speaking AMQP 0-9-1 at all gets the protocol
 * header back and a close, as the spec asks.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "amqp_server.h"

static const uint8_t PROTOCOL_HEADER[8] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };

#define HANDSHAKE_MS 10000   /* from accept to connection.open */
#define CLOSING_MS 3000      /* waiting for close-ok, or for the last bytes to leave */
#define READ_CHUNK 65536

static void channel_free(struct amqp_conn *c, struct amqp_channel *ch);
static void conn_free(struct amqp_conn *c);

uint64_t
amqp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
set_events(struct amqp_conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return;
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

void
amqp_conn_update_interest(struct amqp_conn *c)
{
	size_t queued = c->out.len - c->out_off;
	uint32_t ev = 0;
	bool was = c->throttled;

	if (!c->throttled && queued > AMQP_OUT_HIGH) {
		c->throttled = true;
		c->srv->cnt.throttled++;
	} else if (c->throttled && queued < AMQP_OUT_LOW) {
		c->throttled = false;
	}
	/* a throttled connection is not read either: its publishes wait in TCP;
	 * nor one holding much input for channels parked on tw-control */
	if (!c->throttled && c->parked_bytes < AMQP_PARKED_HIGH && c->state != CS_DEAD)
		ev |= EPOLLIN;
	if (queued != 0)
		ev |= EPOLLOUT;
	set_events(c, ev);
	if (was != c->throttled)
		for (uint32_t i = 1; i <= c->ch_hi; i++) {
			struct amqp_channel *ch = c->ch != NULL ? c->ch[i] : NULL;

			if (ch == NULL)
				continue;
			for (struct amqp_consumer *k = ch->consumers; k != NULL; k = k->next)
				amqp_consumer_set_paused(c->srv, k, c->throttled || ch->flow_stopped);
		}
}

void
amqp_conn_flush(struct amqp_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* the peer is gone: nothing more can be said to it */
				c->out_off = c->out.len;
				c->state = CS_DEAD;
			}
			break;
		}
		c->out_off += (size_t)n;
		c->last_send_ms = c->srv->now_ms;
	}
	if (c->out_off == c->out.len) {
		c->out.len = 0;
		c->out_off = 0;
	} else if (c->out_off > (1u << 20)) {
		memmove(c->out.buf, c->out.buf + c->out_off, c->out.len - c->out_off);
		c->out.len -= c->out_off;
		c->out_off = 0;
	}
	amqp_conn_update_interest(c);
}

void
amqp_conn_mark(struct amqp_conn *c)
{
	if (c->marked || c->dead)
		return;
	c->marked = true;
	c->mark_next = c->srv->marked;
	c->srv->marked = c;
}

void
amqp_conn_flush_marked(struct amqp_server *s)
{
	while (s->marked != NULL) {
		struct amqp_conn *c = s->marked;

		s->marked = c->mark_next;
		c->marked = false;
		if (c->dead)
			continue;
		amqp_conn_flush(c);
		if (c->state == CS_DEAD && c->out_off == c->out.len)
			conn_free(c);
	}
}

static void
write_close(struct amqp_wr *w, uint16_t ch, uint32_t what, uint16_t code, const char *text,
	    uint32_t method)
{
	size_t f = amqp_wr_method_begin(w, ch, what);

	amqp_wr_u16(w, code);
	amqp_wr_shortstr(w, text);
	amqp_wr_u16(w, (uint16_t)(method >> 16));
	amqp_wr_u16(w, (uint16_t)method);
	amqp_wr_frame_end(w, f);
}

static const char *
code_name(uint16_t code)
{
	switch (code) {
	case AMQP_CONNECTION_FORCED: return "CONNECTION_FORCED";
	case AMQP_CONTENT_TOO_LARGE: return "CONTENT_TOO_LARGE";
	case AMQP_NO_ROUTE: return "NO_ROUTE";
	case AMQP_ACCESS_REFUSED: return "ACCESS_REFUSED";
	case AMQP_NOT_FOUND: return "NOT_FOUND";
	case AMQP_RESOURCE_LOCKED: return "RESOURCE_LOCKED";
	case AMQP_PRECONDITION_FAILED: return "PRECONDITION_FAILED";
	case AMQP_FRAME_ERROR: return "FRAME_ERROR";
	case AMQP_SYNTAX_ERROR: return "SYNTAX_ERROR";
	case AMQP_COMMAND_INVALID: return "COMMAND_INVALID";
	case AMQP_CHANNEL_ERROR: return "CHANNEL_ERROR";
	case AMQP_UNEXPECTED_FRAME: return "UNEXPECTED_FRAME";
	case AMQP_RESOURCE_ERROR: return "RESOURCE_ERROR";
	case AMQP_NOT_ALLOWED: return "NOT_ALLOWED";
	case AMQP_NOT_IMPLEMENTED: return "NOT_IMPLEMENTED";
	default: return "INTERNAL_ERROR";
	}
}

void
amqp_conn_error(struct amqp_conn *c, uint16_t code, uint32_t method, const char *fmt, ...)
{
	char msg[200], text[256];
	va_list ap;

	if (c->state == CS_CLOSING || c->state == CS_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* RabbitMQ's form, which clients show as is: "CODE_NAME - what" */
	snprintf(text, sizeof(text), "%s - %s", code_name(code), msg);
	write_close(&c->out, 0, AMQP_CONNECTION_CLOSE, code, text, method);
	c->srv->cnt.connection_errors++;
	/* before the handshake is done the peer may not answer: just close */
	c->state = c->state == CS_RUNNING ? CS_CLOSING : CS_DEAD;
	c->closing_since_ms = c->srv->now_ms;
}


void
amqp_channel_error(struct amqp_channel *ch, struct amqp_conn *c, uint16_t code, uint32_t method,
		   const char *fmt, ...)
{
	char msg[200], text[256];
	va_list ap;

	if (ch->closing)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(text, sizeof(text), "%s - %s", code_name(code), msg);
	write_close(&c->out, ch->num, AMQP_CHANNEL_CLOSE, code, text, method);
	c->srv->cnt.channel_errors++;
	ch->closing = true;
	/* its consumers stop now: nothing more is delivered on a closing channel */
	amqp_consume_channel_gone(c->srv, ch);
	amqp_incoming_clear(&ch->in);
}

/* --- connection lifetime --- */

void
amqp_conn_accept(struct amqp_server *s)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage a;
		socklen_t alen = sizeof(a);
		int fd = accept4(s->lfd, (struct sockaddr *)&a, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct amqp_conn *c;
		struct epoll_event e;
		int one = 1;

		if (fd < 0)
			return;
		if (s->n_conns >= s->max_connections) {
			s->cnt.connections_refused++;
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->kind = EV_CONN;
		c->srv = s;
		c->fd = fd;
		c->id = ++s->next_conn_id;
		c->state = CS_HEADER;
		c->frame_max = AMQP_FRAME_MIN;
		c->channel_max = AMQP_CHANNEL_MAX;
		c->last_recv_ms = c->last_send_ms = c->opened_ms = s->now_ms;
		if (a.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&a;
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
			snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(in->sin_port));
			c->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
		} else if (a.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a;
			char ip[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
			snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, ntohs(in6->sin6_port));
			c->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
				      (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
				       in6->sin6_addr.s6_addr[12] == 127);
		}
		e.events = EPOLLIN;
		e.data.ptr = c;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) != 0 ||
		    tw_idmap_put(&s->conn_by_id, c->id, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->events = EPOLLIN;
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
		s->n_conns++;
		s->cnt.connections_accepted++;
	}
}

/* Release everything the connection holds; the memory itself goes at the
 * end of the loop pass (amqp_bury), as epoll may still report it. */
static void
conn_free(struct amqp_conn *c)
{
	struct amqp_server *s = c->srv;

	if (c->dead)
		return;
	c->dead = true;

	if (c->ch != NULL) {
		for (uint32_t i = 1; i <= c->ch_hi; i++)
			if (c->ch[i] != NULL)
				channel_free(c, c->ch[i]);
		free(c->ch);
	}
	amqp_model_conn_gone(s, c->id);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	tw_idmap_del(&s->conn_by_id, c->id);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	amqp_wr_free(&c->out);
	free(c->in);
	c->in = NULL;
	amqp_bury(s, c);
}

/* --- the connection class --- */

static void
send_start(struct amqp_conn *c)
{
	struct amqp_wr *w = &c->out;
	size_t f = amqp_wr_method_begin(w, 0, AMQP_CONNECTION_START), t, caps;

	amqp_wr_u8(w, 0);
	amqp_wr_u8(w, 9);
	t = w->len;
	amqp_wr_u32(w, 0);
	amqp_wr_field_str(w, "product", "taskwire");
	amqp_wr_field_str(w, "platform", "tw-amqp (C)");
	amqp_wr_field_str(w, "information", "AMQP 0-9-1 front door of a taskwire engine");
	amqp_wr_shortstr(w, "capabilities");
	amqp_wr_u8(w, 'F');
	caps = w->len;
	amqp_wr_u32(w, 0);
	amqp_wr_field_bool(w, "publisher_confirms", true);
	amqp_wr_field_bool(w, "exchange_exchange_bindings", true);
	amqp_wr_field_bool(w, "basic.nack", true);
	amqp_wr_field_bool(w, "consumer_cancel_notify", true);
	amqp_wr_field_bool(w, "authentication_failure_close", true);
	amqp_wr_field_bool(w, "per_consumer_qos", true);
	amqp_wr_field_bool(w, "connection.blocked", true);
	amqp_wr_patch_u32(w, caps, (uint32_t)(w->len - caps - 4));
	amqp_wr_patch_u32(w, t, (uint32_t)(w->len - t - 4));
	amqp_wr_longstr(w, "PLAIN AMQPLAIN", 14);
	amqp_wr_longstr(w, "en_US", 5);
	amqp_wr_frame_end(w, f);
}

static bool
user_ok(const struct amqp_conn *c, const char *user, const char *pass)
{
	const struct amqp_server *s = c->srv;

	/* as RabbitMQ's loopback_users: guest may log in from this machine only */
	if (strcmp(user, "guest") == 0 && !c->loopback && !s->guest_anywhere)
		return false;
	for (size_t i = 0; i < s->n_users; i++)
		if (strcmp(s->users[i].name, user) == 0)
			return strcmp(s->users[i].password, pass) == 0;
	return false;
}

/* PLAIN: [authzid] NUL authcid NUL passwd; AMQPLAIN: table entries LOGIN, PASSWORD. */
static bool
parse_login(const char *mech, const uint8_t *p, uint32_t len, char user[128], char pass[128])
{
	user[0] = pass[0] = '\0';
	if (p == NULL)
		return false;
	if (strcmp(mech, "PLAIN") == 0) {
		const uint8_t *a = memchr(p, 0, len), *b;
		size_t ul, pl;

		if (a == NULL)
			return false;
		b = memchr(a + 1, 0, len - (size_t)(a + 1 - p));
		if (b == NULL)
			return false;
		ul = (size_t)(b - a - 1);
		pl = len - (size_t)(b + 1 - p);
		if (ul >= 128 || pl >= 128 || memchr(b + 1, 0, pl) != NULL)
			return false;
		memcpy(user, a + 1, ul);
		user[ul] = '\0';
		memcpy(pass, b + 1, pl);
		pass[pl] = '\0';
		return true;
	}
	if (strcmp(mech, "AMQPLAIN") == 0) {
		struct amqp_value u, w;

		if (!amqp_table_get(p, len, "LOGIN", &u) || !amqp_table_get(p, len, "PASSWORD", &w) ||
		    !u.is_str || !w.is_str || u.slen >= 128 || w.slen >= 128)
			return false;
		memcpy(user, u.s, u.slen);
		user[u.slen] = '\0';
		memcpy(pass, w.s, w.slen);
		pass[w.slen] = '\0';
		return strlen(user) == u.slen && strlen(pass) == w.slen;
	}
	return false;
}

static void
connection_method(struct amqp_conn *c, uint32_t m, struct amqp_rd *r)
{
	struct amqp_server *s = c->srv;
	char mech[256], locale[256], vhost[256], tmp[256];
	const uint8_t *tbl, *resp;
	uint32_t tlen, rlen;
	size_t f;

	switch (c->state) {
	case CS_START_OK:
		if (m != AMQP_CONNECTION_START_OK)
			break;
		amqp_rd_table(r, &tbl, &tlen);
		amqp_rd_shortstr(r, mech);
		amqp_rd_longstr(r, &resp, &rlen);
		amqp_rd_shortstr(r, locale);
		if (r->bad) {
			amqp_conn_error(c, AMQP_SYNTAX_ERROR, m, "malformed connection.start-ok");
			return;
		}
		{
			struct amqp_value caps, v;

			/* a client that says it takes connection.blocked (pika, py-amqp) */
			if (amqp_table_get(tbl, tlen, "capabilities", &caps) && caps.is_table &&
			    amqp_table_get(caps.s, caps.slen, "connection.blocked", &v) &&
			    v.type == 't')
				c->blocked_cap = v.i != 0;
		}
		{
			char pass[128];

			if (!parse_login(mech, resp, rlen, c->user, pass) ||
			    !user_ok(c, c->user, pass)) {
				s->cnt.auth_refused++;
				/* authentication_failure_close: the reason, then the socket closes */
				amqp_conn_error(c, AMQP_ACCESS_REFUSED, m,
						"Login was refused using authentication mechanism %s",
						mech);
				return;
			}
		}
		f = amqp_wr_method_begin(&c->out, 0, AMQP_CONNECTION_TUNE);
		amqp_wr_u16(&c->out, AMQP_CHANNEL_MAX);
		amqp_wr_u32(&c->out, AMQP_FRAME_MAX);
		amqp_wr_u16(&c->out, s->heartbeat_s);
		amqp_wr_frame_end(&c->out, f);
		c->state = CS_TUNE_OK;
		return;
	case CS_TUNE_OK:
		if (m != AMQP_CONNECTION_TUNE_OK)
			break;
		{
			uint16_t chmax = amqp_rd_u16(r);
			uint32_t fmax = amqp_rd_u32(r);
			uint16_t hb = amqp_rd_u16(r);

			if (r->bad) {
				amqp_conn_error(c, AMQP_SYNTAX_ERROR, m, "malformed connection.tune-ok");
				return;
			}
			if (fmax != 0 && (fmax < AMQP_FRAME_MIN || fmax > AMQP_FRAME_MAX)) {
				amqp_conn_error(c, AMQP_NOT_ALLOWED, m,
						"frame_max %u outside %u..%u", fmax, AMQP_FRAME_MIN,
						AMQP_FRAME_MAX);
				return;
			}
			c->frame_max = fmax != 0 ? fmax : AMQP_FRAME_MAX;
			c->channel_max = chmax != 0 && chmax < AMQP_CHANNEL_MAX ? chmax : AMQP_CHANNEL_MAX;
			c->heartbeat_s = hb;
			c->ch = calloc((size_t)c->channel_max + 1, sizeof(*c->ch));
			if (c->ch == NULL) {
				amqp_conn_error(c, AMQP_RESOURCE_ERROR, m, "out of memory");
				return;
			}
			c->state = CS_OPEN;
		}
		return;
	case CS_OPEN:
		if (m != AMQP_CONNECTION_OPEN)
			break;
		amqp_rd_shortstr(r, vhost);
		amqp_rd_shortstr(r, tmp);
		if (r->bad) {
			amqp_conn_error(c, AMQP_SYNTAX_ERROR, m, "malformed connection.open");
			return;
		}
		/* one virtual host: the engine has one model */
		if (strcmp(vhost, "/") != 0 && vhost[0] != '\0') {
			c->state = CS_RUNNING; /* a close-ok may be waited for */
			amqp_conn_error(c, AMQP_NOT_ALLOWED, m, "vhost '%s' not found (only '/')", vhost);
			return;
		}
		f = amqp_wr_method_begin(&c->out, 0, AMQP_CONNECTION_OPEN_OK);
		amqp_wr_shortstr(&c->out, "");
		amqp_wr_frame_end(&c->out, f);
		c->state = CS_RUNNING;
		amqp_blocked_greet(c);
		return;
	case CS_RUNNING:
		if (m == AMQP_CONNECTION_CLOSE) {
			f = amqp_wr_method_begin(&c->out, 0, AMQP_CONNECTION_CLOSE_OK);
			amqp_wr_frame_end(&c->out, f);
			c->state = CS_DEAD;
			c->closing_since_ms = s->now_ms;
			return;
		}
		if (m == AMQP_CONNECTION_BLOCKED || m == AMQP_CONNECTION_UNBLOCKED)
			return;
		amqp_conn_error(c, m == AMQP_CONNECTION_CLOSE_OK ? AMQP_CHANNEL_ERROR
								: AMQP_COMMAND_INVALID,
				m, "unexpected method %u.%u on channel 0", m >> 16, m & 0xffff);
		return;
	default:
		return;
	}
	amqp_conn_error(c, AMQP_COMMAND_INVALID, m, "unexpected method %u.%u during the handshake",
			m >> 16, m & 0xffff);
}

/* --- the channel class --- */

static void
parked_free(struct amqp_conn *c, struct amqp_channel *ch)
{
	while (ch->parked != NULL) {
		struct amqp_parked *f = ch->parked;

		ch->parked = f->next;
		c->parked_bytes -= f->len;
		free(f);
	}
	ch->parked_tail = NULL;
}

static void
channel_free(struct amqp_conn *c, struct amqp_channel *ch)
{
	parked_free(c, ch);
	amqp_consume_channel_gone(c->srv, ch);
	amqp_incoming_clear(&ch->in);
	free(ch->unacked);
	c->ch[ch->num] = NULL;
	free(ch);
}

static void
channel_method(struct amqp_conn *c, uint16_t num, uint32_t m, struct amqp_rd *r)
{
	struct amqp_channel *ch = c->ch[num];
	size_t f;

	if (ch == NULL) {
		if (m != AMQP_CHANNEL_OPEN) {
			amqp_conn_error(c, AMQP_CHANNEL_ERROR, m, "channel %u is not open", num);
			return;
		}
		ch = calloc(1, sizeof(*ch));
		if (ch == NULL) {
			amqp_conn_error(c, AMQP_RESOURCE_ERROR, m, "out of memory");
			return;
		}
		ch->num = num;
		ch->conn = c;
		if (num > c->ch_hi)
			c->ch_hi = num;
		ch->epoch = ++c->srv->next_conn_id; /* any counter unique in this process */
		ch->next_tag = 1;
		c->ch[num] = ch;
		f = amqp_wr_method_begin(&c->out, num, AMQP_CHANNEL_OPEN_OK);
		amqp_wr_u32(&c->out, 0);
		amqp_wr_frame_end(&c->out, f);
		return;
	}
	if (ch->closing) {
		/* after our channel.close only its answer (or the peer's own close) counts */
		if (m == AMQP_CHANNEL_CLOSE_OK) {
			channel_free(c, ch);
		} else if (m == AMQP_CHANNEL_CLOSE) {
			f = amqp_wr_method_begin(&c->out, num, AMQP_CHANNEL_CLOSE_OK);
			amqp_wr_frame_end(&c->out, f);
			channel_free(c, ch);
		}
		return;
	}
	if (ch->in.active && m != AMQP_CHANNEL_CLOSE) {
		amqp_conn_error(c, AMQP_UNEXPECTED_FRAME, m,
				"method %u.%u on channel %u while a message's content was expected",
				m >> 16, m & 0xffff, num);
		return;
	}
	switch (m) {
	case AMQP_CHANNEL_OPEN:
		amqp_conn_error(c, AMQP_CHANNEL_ERROR, m, "channel %u is already open", num);
		return;
	case AMQP_CHANNEL_CLOSE:
		f = amqp_wr_method_begin(&c->out, num, AMQP_CHANNEL_CLOSE_OK);
		amqp_wr_frame_end(&c->out, f);
		channel_free(c, ch);
		return;
	case AMQP_CHANNEL_CLOSE_OK:
		return; /* a close we did not send: nothing to do */
	case AMQP_CHANNEL_FLOW: {
		bool active = amqp_rd_u8(r) & 1;

		ch->flow_stopped = !active;
		for (struct amqp_consumer *k = ch->consumers; k != NULL; k = k->next)
			amqp_consumer_set_paused(c->srv, k, c->throttled || ch->flow_stopped);
		if (active)
			amqp_consume_release_held(c->srv, ch);
		f = amqp_wr_method_begin(&c->out, num, AMQP_CHANNEL_FLOW_OK);
		amqp_wr_u8(&c->out, active);
		amqp_wr_frame_end(&c->out, f);
		return;
	}
	case AMQP_CHANNEL_FLOW_OK:
		return;
	case AMQP_CONFIRM_SELECT: {
		bool nowait = amqp_rd_u8(r) & 1;

		ch->confirm = true;
		if (!nowait) {
			f = amqp_wr_method_begin(&c->out, num, AMQP_CONFIRM_SELECT_OK);
			amqp_wr_frame_end(&c->out, f);
		}
		return;
	}
	case AMQP_TX_SELECT:
	case AMQP_M(90, 20):
	case AMQP_M(90, 30):
		/* a publish reaches the engine at once and cannot be held back for a
		 * commit; publisher confirms give the same guarantee */
		amqp_conn_error(c, AMQP_NOT_IMPLEMENTED, m,
				"transactions (tx.*) are not supported by taskwire; use "
				"publisher confirms (confirm.select)");
		return;
	case AMQP_BASIC_PUBLISH:
		amqp_publish_method(c, ch, r);
		return;
	default:
		break;
	}
	switch (m >> 16) {
	case 40:
	case 50:
		if (amqp_publish_barrier(c, ch, r))
			amqp_model_method(c, ch, m, r);
		return;
	case 60:
		if (m != AMQP_BASIC_GET || amqp_publish_barrier(c, ch, r))
			amqp_consume_method(c, ch, m, r);
		return;
	default:
		amqp_conn_error(c, AMQP_NOT_IMPLEMENTED, m, "method %u.%u is not implemented",
				m >> 16, m & 0xffff);
	}
}

/*
 * A frame for a channel that waits for tw-control (or has frames parked
 * before it) is kept, copied, to run after them: AMQP orders a channel's
 * methods, as RabbitMQ's channel process does. @return true when parked.
 */
static bool
parks(struct amqp_conn *c, uint16_t num, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct amqp_channel *ch = c->ch[num];
	struct amqp_parked *f;

	if (ch == NULL || (ch->waiting == 0 && (ch->parked == NULL || ch->replaying)))
		return false;
	f = malloc(sizeof(*f) + len);
	if (f == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, 0, "out of memory");
		return true;
	}
	f->next = NULL;
	f->type = type;
	f->len = len;
	memcpy(f->data, p, len);
	if (ch->parked_tail != NULL)
		ch->parked_tail->next = f;
	else
		ch->parked = f;
	ch->parked_tail = f;
	c->parked_bytes += len;
	c->srv->cnt.parked_frames++;
	return true;
}

bool
amqp_channel_park_first(struct amqp_channel *ch, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct amqp_parked *f = malloc(sizeof(*f) + len);

	if (f == NULL)
		return false;
	f->type = type;
	f->len = len;
	memcpy(f->data, p, len);
	f->next = ch->parked;
	ch->parked = f;
	if (ch->parked_tail == NULL)
		ch->parked_tail = f;
	ch->conn->parked_bytes += len;
	return true;
}

static void frame(struct amqp_conn *c, uint8_t type, uint16_t num, const uint8_t *p,
		  uint32_t len);

struct amqp_channel *
amqp_channel_find(struct amqp_server *s, uint64_t conn_id, uint16_t num, uint64_t epoch)
{
	struct amqp_conn *c = tw_idmap_get(&s->conn_by_id, conn_id);
	struct amqp_channel *ch;

	if (c == NULL || c->dead || c->ch == NULL || num > c->channel_max)
		return NULL;
	ch = c->ch[num];
	return ch != NULL && ch->epoch == epoch ? ch : NULL;
}

void
amqp_channel_wait(struct amqp_channel *ch)
{
	ch->waiting++;
}

void
amqp_channel_resume(struct amqp_channel *ch)
{
	struct amqp_conn *c = ch->conn;
	uint16_t num = ch->num;

	if (ch->waiting > 0)
		ch->waiting--;
	/* each frame may park the channel again, or close it (then it is gone) */
	while (ch->waiting == 0 && ch->parked != NULL && c->state != CS_DEAD && !c->dead) {
		struct amqp_parked *f = ch->parked;

		ch->parked = f->next;
		if (ch->parked == NULL)
			ch->parked_tail = NULL;
		c->parked_bytes -= f->len;
		ch->replaying = true;
		frame(c, f->type, num, f->data, f->len);
		free(f);
		if (c->ch == NULL || c->ch[num] != ch)
			break; /* freed by a channel.close it just ran */
		ch->replaying = false;
	}
	amqp_conn_mark(c);
}

/* One complete frame. */
static void
frame(struct amqp_conn *c, uint8_t type, uint16_t num, const uint8_t *p, uint32_t len)
{
	struct amqp_rd r = { .p = p, .len = len };
	uint32_t m;

	if (c->state == CS_DEAD)
		return;
	if (type == AMQP_FRAME_HEARTBEAT)
		return;
	if (type == AMQP_FRAME_METHOD) {
		m = (uint32_t)amqp_rd_u16(&r) << 16;
		m |= amqp_rd_u16(&r);
		if (r.bad) {
			amqp_conn_error(c, AMQP_FRAME_ERROR, 0, "method frame too short");
			return;
		}
		if (c->state == CS_CLOSING) {
			if (m == AMQP_CONNECTION_CLOSE_OK) {
				c->state = CS_DEAD;
			} else if (m == AMQP_CONNECTION_CLOSE) {
				size_t f = amqp_wr_method_begin(&c->out, 0, AMQP_CONNECTION_CLOSE_OK);

				amqp_wr_frame_end(&c->out, f);
				c->state = CS_DEAD;
			}
			return;
		}
		if (num == 0) {
			connection_method(c, m, &r);
			return;
		}
		if (c->state != CS_RUNNING) {
			amqp_conn_error(c, AMQP_COMMAND_INVALID, m, "channel method before connection.open");
			return;
		}
		if (num > c->channel_max) {
			amqp_conn_error(c, AMQP_CHANNEL_ERROR, m, "channel %u above channel_max %u", num,
					c->channel_max);
			return;
		}
		if (parks(c, num, type, p, len))
			return;
		channel_method(c, num, m, &r);
		return;
	}
	if (c->state == CS_CLOSING)
		return;
	if ((type != AMQP_FRAME_HEADER && type != AMQP_FRAME_BODY) || c->state != CS_RUNNING ||
	    num == 0) {
		amqp_conn_error(c, AMQP_FRAME_ERROR, 0, "unexpected frame type %u on channel %u", type,
				num);
		return;
	}
	if (num > c->channel_max || c->ch[num] == NULL) {
		amqp_conn_error(c, AMQP_CHANNEL_ERROR, 0, "content frame on channel %u, not open", num);
		return;
	}
	if (parks(c, num, type, p, len))
		return;
	if (c->ch[num]->closing)
		return;
	if (type == AMQP_FRAME_HEADER)
		amqp_publish_header(c, c->ch[num], &r);
	else
		amqp_publish_body(c, c->ch[num], p, len);
}

/* Split the input into frames. @return bytes consumed. */
static size_t
parse(struct amqp_conn *c)
{
	size_t off = 0;

	while (c->state != CS_DEAD) {
		const uint8_t *p = c->in + off;
		size_t avail = c->in_len - off;
		uint32_t size;

		if (c->state == CS_HEADER) {
			if (avail < 8)
				break;
			if (memcmp(p, PROTOCOL_HEADER, 8) != 0) {
				/* not AMQP 0-9-1: the version we speak, then close (spec 4.2.2) */
				amqp_wr_bytes(&c->out, PROTOCOL_HEADER, 8);
				c->srv->cnt.bad_header++;
				c->state = CS_DEAD;
				c->closing_since_ms = c->srv->now_ms;
				return c->in_len;
			}
			off += 8;
			send_start(c);
			c->state = CS_START_OK;
			continue;
		}
		if (c->skip != 0) {
			size_t n = avail < c->skip ? avail : (size_t)c->skip;

			c->skip -= n;
			off += n;
			if (c->skip != 0)
				break;
			continue;
		}
		if (avail < 7)
			break;
		size = (uint32_t)p[3] << 24 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];
		if ((uint64_t)size + 8 > c->frame_max) {
			amqp_conn_error(c, AMQP_FRAME_ERROR, 0, "frame of %u bytes over frame_max %u",
					size + 8, c->frame_max);
			/* its length is known: skip it unread, and the peer's close-ok
			 * after it can still be read */
			c->skip = (uint64_t)size + 8;
			continue;
		}
		if (avail < (size_t)size + 8)
			break;
		if (p[7 + size] != AMQP_FRAME_END) {
			amqp_conn_error(c, AMQP_FRAME_ERROR, 0, "frame without its end octet");
			c->state = CS_DEAD;
			return c->in_len;
		}
		frame(c, p[0], (uint16_t)(p[1] << 8 | p[2]), p + 7, size);
		off += (size_t)size + 8;
	}
	return c->state == CS_DEAD ? c->in_len : off;
}

static void
on_readable(struct amqp_conn *c)
{
	for (int rounds = 0; rounds < 16 && !c->throttled && c->parked_bytes < AMQP_PARKED_HIGH &&
			     c->state != CS_DEAD;
	     rounds++) {
		size_t want = c->state == CS_HEADER ? 8 : (size_t)c->frame_max + 8;
		ssize_t n;
		size_t used;

		if (want < READ_CHUNK)
			want = READ_CHUNK;
		if (c->in_cap - c->in_len < want) {
			uint8_t *b = realloc(c->in, c->in_len + want);

			if (b == NULL) {
				c->state = CS_DEAD;
				return;
			}
			c->in = b;
			c->in_cap = c->in_len + want;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			c->state = CS_DEAD;
			c->out.len = c->out_off = 0;
			return;
		}
		if (n < 0)
			return;
		c->in_len += (size_t)n;
		c->last_recv_ms = c->srv->now_ms;
		used = parse(c);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if (c->out.len - c->out_off > AMQP_OUT_HIGH)
			amqp_conn_update_interest(c);
	}
}

void
amqp_conn_on_event(struct amqp_conn *c, uint32_t events)
{
	if (c->dead)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(c);
	amqp_conn_flush(c);
	if (c->state == CS_DEAD && c->out_off == c->out.len)
		conn_free(c);
}

void
amqp_conn_timers(struct amqp_server *s)
{
	struct amqp_conn *c, *next;

	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state < CS_RUNNING && s->now_ms - c->opened_ms > HANDSHAKE_MS) {
			/* a client that never finishes the handshake holds no slot for long */
			s->cnt.connections_refused++;
			conn_free(c);
			continue;
		}
		if (c->state == CS_RUNNING && c->heartbeat_s != 0) {
			uint64_t hb = (uint64_t)c->heartbeat_s * 1000;

			if (s->now_ms - c->last_recv_ms > 2 * hb) {
				/* the spec: a peer silent for two intervals is gone, close without a word */
				s->cnt.heartbeat_timeouts++;
				conn_free(c);
				continue;
			}
			if (s->now_ms - c->last_send_ms >= hb / 2 && c->out.len == c->out_off) {
				size_t f = amqp_wr_frame_begin(&c->out, AMQP_FRAME_HEARTBEAT, 0);

				amqp_wr_frame_end(&c->out, f);
			}
		}
		if ((c->state == CS_CLOSING || c->state == CS_DEAD) &&
		    s->now_ms - c->closing_since_ms > CLOSING_MS) {
			conn_free(c);
			continue;
		}
		amqp_conn_flush(c);
		if (c->state == CS_DEAD && c->out_off == c->out.len)
			conn_free(c);
	}
}
