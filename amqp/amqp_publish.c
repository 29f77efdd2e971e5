/*
 * basic.publish: a message (method, content header, body frames) becomes
 * one Task on the engine's native wire, published to the same exchange and
 * routing key. The Task carries the body as its args and the content
 * header's property bytes, exactly as received, in amqp_properties, so an
 * AMQP consumer gets both byte for byte (Celery's protocol-2 headers ride
 * in the headers table). Its name is the Celery "task" header when there
 * is one (what `twctl list tasks` shows), else "amqp"; the engine never
 * runs it (its queues are remote consumers'), and it asks for no result
 * in the result store.
 *
 * Every publish waits for the engine's confirm (one map entry by task id):
 * in confirm mode it becomes basic.ack / basic.nack with the channel's
 * sequence number; unroutable mandatory messages come back as basic.return;
 * a missing exchange closes the channel (404) as RabbitMQ does. libtaskwire
 * resends a publish until the engine confirms it (the engine keeps one copy
 * and confirms again): a datagram lost between tw-amqp and the engine does
 * not lose the message, confirms or not. A confirm that still has not come
 * after confirm_timeout_ms becomes basic.nack: the AMQP publisher retries.
 *
 * Size: a message larger than one engine datagram goes to the engine in
 * fragments (libtaskwire sends them, the engine reassembles; deliveries
 * come back the same way). Bodies of up to BODY_MAX are taken, what the
 * engine's default --max-frame holds with room for properties and names;
 * a larger one is refused with CONTENT_TOO_LARGE (311) naming the limit,
 * before its body is buffered. An engine configured for less NACKs it
 * too-large: basic.nack.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_server.h"

#define TASK_NAME_MAX 127
/* The largest body taken: 1 MiB, as the engine takes 1 MiB of args by default. */
#define BODY_MAX (1u << 20)

void
amqp_incoming_clear(struct amqp_incoming *in)
{
	free(in->props);
	free(in->body);
	memset(in, 0, sizeof(*in));
}

void
amqp_write_content(struct amqp_conn *c, uint16_t ch, const uint8_t *props, uint32_t plen,
		   const uint8_t *body, uint64_t blen)
{
	static const uint8_t no_props[2] = { 0, 0 };
	size_t f = amqp_wr_frame_begin(&c->out, AMQP_FRAME_HEADER, ch);
	uint64_t off = 0, chunk = c->frame_max - 8;

	amqp_wr_u16(&c->out, 60);
	amqp_wr_u16(&c->out, 0);
	amqp_wr_u64(&c->out, blen);
	if (plen < 2) { /* a native task: no properties */
		props = no_props;
		plen = 2;
	}
	amqp_wr_bytes(&c->out, props, plen);
	amqp_wr_frame_end(&c->out, f);
	while (off < blen) {
		uint64_t n = blen - off < chunk ? blen - off : chunk;

		f = amqp_wr_frame_begin(&c->out, AMQP_FRAME_BODY, ch);
		amqp_wr_bytes(&c->out, body + off, n);
		amqp_wr_frame_end(&c->out, f);
		off += n;
	}
}

void
amqp_publish_method(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	struct amqp_incoming *in = &ch->in;
	uint8_t bits;

	amqp_rd_u16(r);
	amqp_rd_shortstr(r, in->exchange);
	amqp_rd_shortstr(r, in->routing_key);
	bits = amqp_rd_u8(r);
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_BASIC_PUBLISH, "malformed basic.publish");
		return;
	}
	if (bits & 2) {
		/* as RabbitMQ 3: immediate delivery is not a thing a queue can promise */
		amqp_conn_error(c, AMQP_NOT_IMPLEMENTED, AMQP_BASIC_PUBLISH, "immediate=true");
		return;
	}
	in->active = true;
	in->mandatory = bits & 1;
}

static void pending_free(struct amqp_pending *p);
static void unbar_later(struct amqp_server *s, struct amqp_conn *c, struct amqp_channel *ch);

/* The whole message is here: publish it. */
static void
publish(struct amqp_conn *c, struct amqp_channel *ch)
{
	struct amqp_server *s = c->srv;
	struct amqp_incoming *in = &ch->in;
	struct amqp_props_view pv;
	struct amqp_value task;
	char name[TASK_NAME_MAX + 1] = "amqp";
	struct tw_publish p = { 0 };
	struct amqp_pending *pd;
	uint64_t id = 0;
	int ret;

	amqp_props_parse(in->props, in->props_len, &pv); /* checked with the header */
	if (pv.headers != NULL && amqp_table_get(pv.headers, pv.headers_len, "task", &task) &&
	    task.is_str && task.slen > 0 && task.slen <= TASK_NAME_MAX &&
	    memchr(task.s, 0, task.slen) == NULL) {
		memcpy(name, task.s, task.slen);
		name[task.slen] = '\0';
	}
	p.exchange = in->exchange;
	p.routing_key = in->routing_key;
	p.task = name;
	p.args = in->body;
	p.args_len = in->body_len;
	p.priority = pv.has_priority ? pv.priority : 0;
	p.amqp_properties = in->props;
	p.amqp_properties_len = in->props_len;
	p.ignore_result = true;
	/* a per-message TTL: the engine's task expiry (checked when the message
	 * leaves the queue, beside the queue's x-message-ttl; the sooner wins).
	 * "0" expires unless a consumer takes it at once: within a millisecond */
	if (pv.has_expiration)
		p.expires_in_ms = pv.expiration_ms != 0 ? pv.expiration_ms : 1;
	if (ch->confirm)
		ch->publish_seq++;
	ret = tw_client_publish(s->pub, &p, &id);
	if (ret == -EMSGSIZE) {
		s->cnt.publish_refused++;
		amqp_channel_error(ch, c, AMQP_CONTENT_TOO_LARGE, AMQP_BASIC_PUBLISH,
				   "message of %u property and %llu body bytes is over the largest "
				   "frame the engine's wire takes",
				   in->props_len, (unsigned long long)in->body_len);
		return;
	}
	s->publish_dirty = true;
	pd = calloc(1, sizeof(*pd));
	if (ret != 0 || pd == NULL) {
		s->cnt.publish_refused++;
		free(pd);
		if (ret == 0)
			return; /* published; its confirm will find no entry */
		amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH,
				   "message refused: %s", strerror(-ret));
		return;
	}
	s->cnt.published++;
	pd->conn_id = c->id;
	pd->channel = ch->num;
	pd->epoch = ch->epoch;
	pd->seq = ch->confirm ? ch->publish_seq : 0;
	pd->deadline_ms = s->now_ms + s->confirm_timeout_ms;
	if (in->mandatory) {
		/* kept for basic.return: the message goes back whole */
		pd->mandatory = true;
		pd->exchange = strdup(in->exchange);
		pd->routing_key = strdup(in->routing_key);
		pd->props = in->props;
		pd->props_len = in->props_len;
		pd->body = in->body;
		pd->body_len = (uint32_t)in->body_len;
		in->props = NULL;
		in->body = NULL;
	}
	if (tw_idmap_put(&s->pending, id, pd) != 0)
		pending_free(pd);
	else
		ch->unconfirmed++;
	/* tw-amqp's own memory: publishes the engine has not answered yet */
	if (s->pending.n > s->pending_high)
		amqp_blocked_set(s, "tw-amqp holds too many unconfirmed publishes");
}

void
amqp_publish_header(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	struct amqp_incoming *in = &ch->in;
	struct amqp_props_view pv;
	uint16_t cls;

	if (!in->active || in->have_header) {
		amqp_conn_error(c, AMQP_UNEXPECTED_FRAME, 0, "content header without basic.publish");
		return;
	}
	cls = amqp_rd_u16(r);
	amqp_rd_u16(r);
	in->body_size = amqp_rd_u64(r);
	if (r->bad || cls != 60) {
		amqp_conn_error(c, AMQP_FRAME_ERROR, 0, "malformed content header");
		return;
	}
	in->props_len = (uint32_t)(r->len - r->off);
	if (!amqp_props_parse(r->p + r->off, in->props_len, &pv)) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_BASIC_PUBLISH,
				"malformed message properties");
		return;
	}
	in->have_header = true;
	if (pv.has_expiration && pv.expiration_bad) {
		amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH,
				   "invalid expiration (a number of milliseconds, as a string)");
		return;
	}
	if (in->body_size > BODY_MAX) {
		c->srv->cnt.publish_refused++;
		amqp_channel_error(ch, c, AMQP_CONTENT_TOO_LARGE, AMQP_BASIC_PUBLISH,
				   "message body of %llu bytes is over tw-amqp's limit of %u bytes",
				   (unsigned long long)in->body_size, BODY_MAX);
		return;
	}
	in->props = malloc(in->props_len);
	in->body = malloc(in->body_size != 0 ? in->body_size : 1);
	if (in->props == NULL || in->body == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, AMQP_BASIC_PUBLISH, "out of memory");
		return;
	}
	memcpy(in->props, r->p + r->off, in->props_len);
	if (in->body_size == 0) {
		publish(c, ch);
		amqp_incoming_clear(in);
	}
}

void
amqp_publish_body(struct amqp_conn *c, struct amqp_channel *ch, const uint8_t *p, size_t n)
{
	struct amqp_incoming *in = &ch->in;

	if (!in->have_header) {
		amqp_conn_error(c, AMQP_UNEXPECTED_FRAME, 0, "body frame without a content header");
		return;
	}
	if (n > in->body_size - in->body_len) {
		amqp_conn_error(c, AMQP_FRAME_ERROR, 0, "body longer than its header said");
		return;
	}
	memcpy(in->body + in->body_len, p, n);
	in->body_len += n;
	if (in->body_len == in->body_size) {
		publish(c, ch);
		amqp_incoming_clear(in);
	}
}

static void
pending_free(struct amqp_pending *p)
{
	free(p->exchange);
	free(p->routing_key);
	free(p->props);
	free(p->body);
	free(p);
}

static void
write_confirm(struct amqp_conn *c, struct amqp_channel *ch, uint64_t seq, bool ack)
{
	size_t f = amqp_wr_method_begin(&c->out, ch->num, ack ? AMQP_BASIC_ACK : AMQP_BASIC_NACK);

	amqp_wr_u64(&c->out, seq);
	amqp_wr_u8(&c->out, 0); /* not multiple (nack: not requeue) */
	amqp_wr_frame_end(&c->out, f);
}

/* The engine's answer (or its absence: timeout) for one publish. */
static void
settle(struct amqp_server *s, struct amqp_pending *p, bool ack, int reason, const char *detail)
{
	struct amqp_conn *c = tw_idmap_get(&s->conn_by_id, p->conn_id);
	struct amqp_channel *ch = NULL;

	if (ack)
		s->cnt.confirmed++;
	/* the engine is out of task descriptors: publishers are told to stop
	 * (connection.blocked) until it has room again */
	if (!ack && reason == 7 /* NACK_NO_RESOURCES */)
		amqp_blocked_set(s, "the engine is out of task descriptors");
	if (c != NULL && !c->dead && c->state == CS_RUNNING && c->ch != NULL)
		ch = c->ch[p->channel];
	if (ch == NULL || ch->epoch != p->epoch) {
		pending_free(p); /* its channel is gone: nobody to tell */
		return;
	}
	ch->unconfirmed--;
	if (ch->unconfirmed == 0 && ch->barrier)
		unbar_later(s, c, ch);
	if (ch->closing) {
		pending_free(p);
		return;
	}
	if (!ack && reason == 4 /* NACK_UNROUTABLE */) {
		/* AMQP: an unroutable message is not an error; mandatory ones come back */
		if (p->mandatory) {
			size_t f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_RETURN);

			amqp_wr_u16(&c->out, AMQP_NO_ROUTE);
			amqp_wr_shortstr(&c->out, "NO_ROUTE");
			amqp_wr_shortstr(&c->out, p->exchange != NULL ? p->exchange : "");
			amqp_wr_shortstr(&c->out, p->routing_key != NULL ? p->routing_key : "");
			amqp_wr_frame_end(&c->out, f);
			amqp_write_content(c, ch->num, p->props, p->props_len, p->body, p->body_len);
			s->cnt.returned++;
		}
		ack = true;
	} else if (!ack && reason == 6 /* NACK_UNKNOWN_EXCHANGE */) {
		s->cnt.nacked++;
		amqp_channel_error(ch, c, AMQP_NOT_FOUND, AMQP_BASIC_PUBLISH,
				   "no exchange in vhost '/' (%s)", detail);
		pending_free(p);
		amqp_conn_mark(c);
		return;
	} else if (!ack && reason == 9 /* NACK_ACCESS_REFUSED */) {
		s->cnt.nacked++;
		amqp_channel_error(ch, c, AMQP_ACCESS_REFUSED, AMQP_BASIC_PUBLISH, "%s", detail);
		pending_free(p);
		amqp_conn_mark(c);
		return;
	} else if (!ack) {
		s->cnt.nacked++;
	}
	if (p->seq != 0)
		write_confirm(c, ch, p->seq, ack);
	amqp_conn_mark(c);
	pending_free(p);
}

static void
on_engine_event(const struct tw_event *ev, void *arg)
{
	struct amqp_server *s = arg;
	struct amqp_pending *p;

	if (ev->kind != TW_EV_CONFIRM || ev->task_id == 0)
		return; /* results of consumed messages: nothing to do with them */
	p = tw_idmap_del(&s->pending, ev->task_id);
	if (p != NULL)
		settle(s, p, ev->ack, ev->nack_reason, ev->detail != NULL ? ev->detail : "");
}

void
amqp_publish_poll(struct amqp_server *s)
{
	/* bounded: what the socket holds now, in rounds */
	for (int i = 0; i < 64; i++)
		if (tw_client_poll(s->pub, 0, on_engine_event, s) <= 0)
			break;
}

/*
 * AMQP orders a channel's methods: a queue.declare or basic.get after
 * basic.publish sees the message in the queue. Publishes go to the engine
 * asynchronously, so such a method waits for their answers first: its
 * channel parks (it and what follows run once the last answer, or its
 * confirm timeout, came), the loop goes on with everything else.
 */
bool
amqp_publish_barrier(struct amqp_conn *c, struct amqp_channel *ch, const struct amqp_rd *r)
{
	if (ch->unconfirmed == 0)
		return true;
	if (!amqp_channel_park_first(ch, AMQP_FRAME_METHOD, r->p, (uint32_t)r->len)) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, 0, "out of memory");
		return false;
	}
	ch->barrier = true;
	amqp_channel_wait(ch);
	amqp_publish_flush(c->srv);
	return false;
}

/* Called while the engine's answers are read: the channel resumes after. */
static void
unbar_later(struct amqp_server *s, struct amqp_conn *c, struct amqp_channel *ch)
{
	if (s->n_unbarred == s->cap_unbarred) {
		size_t cap = s->cap_unbarred != 0 ? s->cap_unbarred * 2 : 16;
		struct amqp_unbarred *u = realloc(s->unbarred, cap * sizeof(*u));

		if (u == NULL) {
			/* cannot defer it: the channel closes rather than wait forever */
			amqp_conn_error(c, AMQP_RESOURCE_ERROR, 0, "out of memory");
			return;
		}
		s->unbarred = u;
		s->cap_unbarred = cap;
	}
	s->unbarred[s->n_unbarred++] = (struct amqp_unbarred){ c->id, ch->epoch, ch->num };
}

void
amqp_publish_unbar(struct amqp_server *s)
{
	/* by index: a resumed channel may publish, and those answers add more */
	for (size_t i = 0; i < s->n_unbarred; i++) {
		struct amqp_unbarred u = s->unbarred[i];
		struct amqp_channel *ch = amqp_channel_find(s, u.conn_id, u.num, u.epoch);

		if (ch == NULL || !ch->barrier || ch->unconfirmed != 0)
			continue;
		ch->barrier = false;
		amqp_channel_resume(ch);
	}
	s->n_unbarred = 0;
}

void
amqp_publish_flush(struct amqp_server *s)
{
	if (!s->publish_dirty)
		return;
	s->publish_dirty = false;
	if (tw_client_flush(s->pub) != 0)
		fprintf(stderr, "tw-amqp: sending to the engine failed\n");
}

void
amqp_publish_drop_all(struct amqp_server *s)
{
	for (size_t i = 0; i <= s->pending.mask; i++)
		if (s->pending.keys[i] != 0)
			pending_free(s->pending.vals[i]);
	tw_idmap_free(&s->pending);
}

void
amqp_publish_sweep(struct amqp_server *s)
{
	uint64_t expired[256];
	size_t n = 0;

	/* in batches: the map is not changed while it is walked */
	for (size_t i = 0; i <= s->pending.mask && n < 256; i++) {
		const struct amqp_pending *p = s->pending.vals[i];

		if (s->pending.keys[i] != 0 && p->deadline_ms <= s->now_ms)
			expired[n++] = s->pending.keys[i];
	}
	for (size_t i = 0; i < n; i++) {
		struct amqp_pending *p = tw_idmap_del(&s->pending, expired[i]);

		s->cnt.confirm_timeouts++;
		settle(s, p, false, 0, "no answer from the engine");
	}
}
