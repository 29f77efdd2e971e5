/*
 * basic.consume and what follows it: each AMQP consumer is one remote
 * consumer of the engine (libtaskwire's worker API: a subscription in
 * tw-amqp's one worker set, which carries every consumer on one UDP
 * socket and beats for them from this loop) on its queue, with the credit window
 * set from basic.qos prefetch (0, unlimited in AMQP, is the engine's
 * largest window). The subscription holds the queue (Subscribe.hold): the
 * engine's own lcores never take AMQP messages.
 *
 * A delivery gets the channel's next delivery tag; basic.ack is the
 * engine's Ack SUCCESS, basic.reject / basic.nack with requeue an Ack
 * REJECT with requeue (back to the head of the queue, delivery_count + 1),
 * without requeue an Ack REJECT that dead-letters. `redelivered` is
 * delivery_count > 1. The lease is an hour: tw-amqp holds the AMQP
 * connection, and when the connection (or tw-amqp) goes, the subscription
 * is cancelled (or its heartbeats stop) and the engine puts unacked
 * deliveries back, as RabbitMQ does when a channel closes.
 *
 * basic.get is a subscription with a window of one, opened for the call
 * and ended by the ack of its message, in the same datagram (the engine
 * delivers nothing to it in between).
 *
 * Nothing here waits in the loop: a subscription is opened without
 * waiting (tw_worker_open_async), its channel waits for the engine's
 * answer as it does for tw-control's (later frames parked, in order),
 * and the answer, a resend or the deadline come through the set's poll
 * and amqp_consume_timers. A subscription is closed without waiting too
 * (tw_worker_close_async): the set sends the cancel, resends it, and
 * finishes or gives up on it (counted) while the loop goes on. Acks of
 * one pass leave in one datagram per consumer (tw_worker_ack_batched),
 * not one each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "amqp_server.h"
#include "control.pb-c.h"

#define ENGINE_MAX_PREFETCH 65535u  /* the engine clamps a larger window; basic.qos's own maximum */
#define NO_LIMIT_WINDOW 256u        /* basic.qos 0 ("no limit"): a window the engine's table can
				     * give every consumer, not all of it to one */
#define LEASE_MS 3600000u
#define WORKER_HEARTBEAT_MS 1000u
#define SUBSCRIBE_TIMEOUT_MS 2000 /* the engine silent this long: 541 (its channel waited, not the loop) */
#define GET_WAIT_MS 100        /* basic.get: how long a ready message may take to arrive */
#define POLL_BATCH 32

void
amqp_consumer_set_paused(struct amqp_server *s, struct amqp_consumer *k, bool paused)
{
	(void)s;
	if (k->paused == paused || k->is_get || k->dead || k->subscribing)
		return;
	k->paused = paused;
	/* what came meanwhile waits in its worker: the set will not list it again */
	if (!k->paused)
		amqp_consumer_on_event(k);
}

/* The engine credit a consumer of ch gets: its own limit (basic.qos
 * global=false; 0 is unlimited, the engine's largest window), never above
 * the channel's (global=true), which tw-amqp enforces exactly on top. */
static uint32_t
window_of(const struct amqp_channel *ch)
{
	uint32_t w = ch->prefetch == 0 ? NO_LIMIT_WINDOW
		     : ch->prefetch < ENGINE_MAX_PREFETCH ? ch->prefetch : ENGINE_MAX_PREFETCH;

	if (ch->global_prefetch != 0 && ch->global_prefetch < w)
		w = ch->global_prefetch;
	return w;
}

/* Deliveries of the channel's consumers the client has not settled yet
 * (what a global basic.qos limits; basic.get's are not counted, as in RabbitMQ). */
static uint32_t
channel_unacked(const struct amqp_channel *ch)
{
	uint32_t n = 0;

	for (const struct amqp_consumer *k = ch->consumers; k != NULL; k = k->next)
		if (!k->is_get && !k->no_ack)
			n += k->unacked;
	return n;
}

static void engine_ack(struct amqp_server *s, struct amqp_consumer *k, uint64_t engine_tag,
		       bool ok, bool requeue, bool counted);
static void get_delivered(struct amqp_server *s, struct amqp_consumer *k, struct tw_delivery *d);
static void subscribe_step(struct amqp_server *s, struct amqp_consumer *k);

/* Forget the held deliveries of k (or of every consumer: NULL); with
 * requeue they go back to the engine now, else with the subscription. */
static void
held_drop(struct amqp_server *s, struct amqp_channel *ch, struct amqp_consumer *k, bool requeue)
{
	struct amqp_held **ph = &ch->held, *h, *mine = NULL, **pm = &mine;

	/* taken off the channel first: a requeue may end k, which comes here again */
	ch->held_tail = NULL;
	while ((h = *ph) != NULL) {
		if (k != NULL && h->c != k) {
			ch->held_tail = h;
			ph = &h->next;
			continue;
		}
		*ph = h->next;
		h->next = NULL;
		*pm = h;
		pm = &h->next;
	}
	while ((h = mine) != NULL) {
		mine = h->next;
		if (requeue)
			engine_ack(s, h->c, h->d->tag, false, true, false);
		tw_delivery_free(h->d);
		free(h);
	}
}

/* Onto the server's list of consumers whose subscribe or message is awaited. */
static void
waiting_add(struct amqp_server *s, struct amqp_consumer *k)
{
	k->wait_next = s->waiting_consumers;
	s->waiting_consumers = k;
}

/* Off that list (short: the opens and gets under way). */
static void
waiting_remove(struct amqp_server *s, struct amqp_consumer *k)
{
	for (struct amqp_consumer **pk = &s->waiting_consumers; *pk != NULL; pk = &(*pk)->wait_next)
		if (*pk == k) {
			*pk = k->wait_next;
			break;
		}
	k->wait_next = NULL;
	k->subscribing = false;
	k->get_waiting = false;
}

/* A basic.cancel whose cancel-ok waits for the engine to take the cancel. */
struct cancel_wait {
	uint64_t conn_id, epoch;
	uint16_t channel;
	bool nowait;
	char tag[256];
};

/* Its close ended (the engine answered the cancel, or the bound passed):
 * cancel-ok, and the channel goes on. */
static void
cancel_done(struct amqp_server *s, struct cancel_wait *cw)
{
	struct amqp_channel *ch = amqp_channel_find(s, cw->conn_id, cw->channel, cw->epoch);

	if (ch != NULL) {
		struct amqp_conn *c = ch->conn;

		if (!cw->nowait && !ch->closing && c->state == CS_RUNNING) {
			size_t f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_CANCEL_OK);

			amqp_wr_shortstr(&c->out, cw->tag);
			amqp_wr_frame_end(&c->out, f);
			amqp_conn_mark(c);
		}
		amqp_channel_resume(ch);
	}
	free(cw);
}

/*
 * Close the subscription (the engine requeues what it still has out) and
 * unlink. With a: that last ack and the cancel go in one datagram, so the
 * engine delivers nothing more in between.
 */
static void
consumer_close_acking(struct amqp_server *s, struct amqp_consumer *k, uint64_t tag,
		      const struct tw_ack *a, void *told)
{
	struct amqp_channel *ch = k->ch;
	/* one of its queue's consumers (not a get's, not one still opening) */
	bool counted = !k->cancelled && !k->is_get && !k->subscribing;

	if (k->dead)
		return;
	k->dead = true;
	if (k->subscribing || k->get_waiting)
		waiting_remove(s, k);
	/* held ones are unacked in the engine: the cancel gives them back */
	if (ch->held != NULL)
		held_drop(s, ch, k, false);
	for (struct amqp_consumer **pk = &ch->consumers; *pk != NULL; pk = &(*pk)->next)
		if (*pk == k) {
			*pk = k->next;
			break;
		}
	/* the set finishes the close (acks answered, cancel answered or given up) */
	if (a != NULL)
		tw_worker_close_acking_async(k->w, tag, a);
	else if (told != NULL && tw_worker_close_async_told(k->w, told) != 0)
		cancel_done(s, told); /* cannot be told when it ends: answered now */
	else if (told == NULL)
		tw_worker_close_async(k->w);
	k->w = NULL;
	if (counted)
		amqp_model_consumer(s, k->queue, -1);
	amqp_bury(s, k);
}

static void
consumer_close(struct amqp_server *s, struct amqp_consumer *k)
{
	consumer_close_acking(s, k, 0, NULL, NULL);
}


void
amqp_consume_channel_gone(struct amqp_server *s, struct amqp_channel *ch)
{
	held_drop(s, ch, NULL, false);
	while (ch->consumers != NULL)
		consumer_close(s, ch->consumers);
	ch->n_unacked = 0;
}

static struct amqp_consumer *
find(struct amqp_channel *ch, const char *tag)
{
	for (struct amqp_consumer *k = ch->consumers; k != NULL; k = k->next)
		if (!k->is_get && !k->cancelled && strcmp(k->tag, tag) == 0)
			return k;
	return NULL;
}

/* Open a subscription for k (its queue, window). @return 0, or an AMQP reply code with why. */
static uint16_t
subscribe(struct amqp_conn *c, struct amqp_consumer *k, uint32_t prefetch, char *err,
	  size_t errlen)
{
	const char *queues[1] = { k->queue };
	char name[64];
	struct tw_worker_opts o = {
		.queues = queues, .n_queues = 1, .prefetch = prefetch, .lease_ms = LEASE_MS,
		.heartbeat_ms = WORKER_HEARTBEAT_MS, .name = name,
		.subscribe_timeout_ms = SUBSCRIBE_TIMEOUT_MS, .hold = true,
		.set = c->srv->consumers, .user = k,
	};

	snprintf(name, sizeof(name), "tw-amqp %.24s@%.30s", c->user, c->peer);
	/* the subscribe is sent; its answer comes through the set (subscribe_step) */
	k->w = tw_worker_open_async(c->srv->engine, &o, err, errlen);
	if (k->w == NULL)
		return errno == EPERM ? AMQP_NOT_FOUND : AMQP_INTERNAL_ERROR;
	k->subscribing = true;
	/* the channel's later frames wait for the answer, in order */
	k->next = k->ch->consumers;
	k->ch->consumers = k;
	waiting_add(c->srv, k);
	amqp_channel_wait(k->ch);
	return 0;
}

static void
basic_consume(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	struct amqp_server *s = c->srv;
	struct amqp_consumer *k;
	char queue[256], tag[256], err[256];
	const uint8_t *args;
	uint32_t alen, prefetch;
	uint8_t bits;
	uint16_t code;

	amqp_rd_u16(r);
	amqp_rd_shortstr(r, queue);
	amqp_rd_shortstr(r, tag);
	bits = amqp_rd_u8(r);
	amqp_rd_table(r, &args, &alen);
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_BASIC_CONSUME, "malformed basic.consume");
		return;
	}
	if (queue[0] == '\0')
		snprintf(queue, sizeof(queue), "%s", ch->last_queue);
	if (queue[0] == '\0') {
		amqp_channel_error(ch, c, AMQP_NOT_FOUND, AMQP_BASIC_CONSUME,
				   "no previously declared queue");
		return;
	}
	if (amqp_model_locked(s, queue, c->id)) {
		amqp_channel_error(ch, c, AMQP_RESOURCE_LOCKED, AMQP_BASIC_CONSUME,
				   "cannot obtain exclusive access to locked queue '%s' in vhost '/'",
				   queue);
		return;
	}
	if (tag[0] == '\0')
		snprintf(tag, sizeof(tag), "amq.ctag-%llu.%u", (unsigned long long)c->id,
			 ++ch->next_ctag);
	else if (find(ch, tag) != NULL) {
		amqp_conn_error(c, AMQP_NOT_ALLOWED, AMQP_BASIC_CONSUME,
				"attempt to reuse consumer tag '%s'", tag);
		return;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, AMQP_BASIC_CONSUME, "out of memory");
		return;
	}
	k->ch = ch;
	k->no_ack = bits & 2;
	k->nowait = bits & 8;
	k->method = AMQP_BASIC_CONSUME;
	snprintf(k->tag, sizeof(k->tag), "%s", tag);
	snprintf(k->queue, sizeof(k->queue), "%s", queue);
	prefetch = window_of(ch);
	k->window = prefetch;
	code = subscribe(c, k, prefetch, err, sizeof(err));
	if (code != 0) {
		free(k);
		if (code == AMQP_NOT_FOUND)
			amqp_channel_error(ch, c, code, AMQP_BASIC_CONSUME,
					   "no queue '%s' in vhost '/' (%s)", queue, err);
		else
			amqp_conn_error(c, code, AMQP_BASIC_CONSUME, "subscribing to '%s': %s",
					queue, err);
	}
	/* consume-ok when the engine answers (consume_ready) */
}

/* The engine took a basic.consume's subscription. */
static void
consume_ready(struct amqp_server *s, struct amqp_consumer *k)
{
	struct amqp_channel *ch = k->ch;
	struct amqp_conn *c = ch->conn;
	size_t f;

	amqp_model_consumer(s, k->queue, 1);
	if (!k->nowait) {
		f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_CONSUME_OK);
		amqp_wr_shortstr(&c->out, k->tag);
		amqp_wr_frame_end(&c->out, f);
		amqp_conn_mark(c);
	}
	/* deliveries that came with the subscription's answer wait in the backlog */
	if (c->throttled || ch->flow_stopped)
		amqp_consumer_set_paused(s, k, true);
	else
		amqp_consumer_on_event(k);
}

/*
 * Settle one delivery with the engine. counted: it was one of k's unacked.
 * The last one of a consumer that is going (a basic.get's, a cancelled
 * one) ends its subscription in the same datagram.
 */
static void
engine_ack(struct amqp_server *s, struct amqp_consumer *k, uint64_t engine_tag, bool ok,
	   bool requeue, bool counted)
{
	struct tw_ack a = { .outcome = ok ? TW_OUTCOME_SUCCESS : TW_OUTCOME_REJECT,
			    .requeue = requeue,
			    .error = ok ? NULL : "rejected by the AMQP consumer" };

	if (k->dead)
		return;
	if (ok)
		s->cnt.acked++;
	else
		s->cnt.rejected++;
	if (counted && k->unacked > 0)
		k->unacked--;
	if ((k->is_get || k->cancelled) && k->unacked == 0) {
		consumer_close_acking(s, k, engine_tag, &a, NULL);
		return;
	}
	/* held in the worker: the pass's acks leave together (amqp_consume_flush_acks) */
	tw_worker_ack_batched(k->w, engine_tag, &a);
	if (!k->acks_waiting) {
		k->acks_waiting = true;
		k->flush_next = s->ack_dirty;
		s->ack_dirty = k;
	}
}

void
amqp_consume_flush_acks(struct amqp_server *s)
{
	struct amqp_consumer *k;

	/* a consumer closed in this pass flushed its own (it is freed only after this) */
	while ((k = s->ack_dirty) != NULL) {
		s->ack_dirty = k->flush_next;
		k->acks_waiting = false;
		if (!k->dead && k->w != NULL)
			tw_worker_flush_acks(k->w);
	}
}

static void
remember(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_consumer *k, uint64_t tag,
	 uint64_t engine_tag)
{
	if (ch->n_unacked == ch->cap_unacked) {
		uint32_t cap = ch->cap_unacked != 0 ? ch->cap_unacked * 2 : 64;
		struct amqp_unacked *u = realloc(ch->unacked, cap * sizeof(*u));

		if (u == NULL) {
			/* cannot track it: give it back rather than lose it */
			engine_ack(c->srv, k, engine_tag, false, true, false);
			return;
		}
		ch->unacked = u;
		ch->cap_unacked = cap;
	}
	ch->unacked[ch->n_unacked++] = (struct amqp_unacked){ tag, engine_tag, k };
	k->unacked++;
}

static void held_release(struct amqp_server *s, struct amqp_channel *ch);

/* Settle delivery tags: one, all up to tag (multiple), or all (multiple, tag 0). */
static void
settle(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, uint64_t tag, bool multiple,
       bool ok, bool requeue)
{
	struct amqp_server *s = c->srv;
	uint32_t keep = 0, done = 0;

	for (uint32_t i = 0; i < ch->n_unacked; i++) {
		struct amqp_unacked u = ch->unacked[i];
		bool hit = multiple ? (tag == 0 || u.tag <= tag) : u.tag == tag;

		if (!hit) {
			ch->unacked[keep++] = u;
			continue;
		}
		done++;
		engine_ack(s, u.c, u.engine_tag, ok, requeue, true);
	}
	ch->n_unacked = keep;
	if (done == 0 && !(multiple && tag == 0))
		amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, m, "unknown delivery tag %llu",
				   (unsigned long long)tag);
	else if (ch->held != NULL && !ch->closing)
		held_release(s, ch); /* room under the global limit */
}

static void
write_deliver_head(struct amqp_conn *c, struct amqp_channel *ch, const struct amqp_consumer *k,
		   uint64_t tag, const struct tw_delivery *d, uint32_t message_count)
{
	size_t f;

	if (k->is_get) {
		f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_GET_OK);
		amqp_wr_u64(&c->out, tag);
		amqp_wr_u8(&c->out, d->delivery_count > 1);
		amqp_wr_shortstr(&c->out, d->exchange);
		amqp_wr_shortstr(&c->out, d->routing_key);
		amqp_wr_u32(&c->out, message_count);
	} else {
		f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_DELIVER);
		amqp_wr_shortstr(&c->out, k->tag);
		amqp_wr_u64(&c->out, tag);
		amqp_wr_u8(&c->out, d->delivery_count > 1);
		amqp_wr_shortstr(&c->out, d->exchange);
		amqp_wr_shortstr(&c->out, d->routing_key);
	}
	amqp_wr_frame_end(&c->out, f);
}

/* Hand one delivery to the client (deliver or get-ok), or back to the
 * engine. d stays the caller's. */
static void
send_delivery(struct amqp_server *s, struct amqp_consumer *k, struct tw_delivery *d,
	      uint32_t message_count)
{
	struct amqp_channel *ch = k->ch;
	struct amqp_conn *c = ch->conn;
	uint64_t tag;

	if (k->cancelled || ch->closing || c->dead || c->state != CS_RUNNING) {
		engine_ack(s, k, d->tag, false, true, false);
		return;
	}
	tag = ch->next_tag++;
	write_deliver_head(c, ch, k, tag, d, message_count);
	amqp_write_content(c, ch->num, d->amqp_properties, (uint32_t)d->amqp_properties_len,
			   d->args, d->args_len);
	s->cnt.delivered++;
	if (d->delivery_count > 1)
		s->cnt.redelivered++;
	if (k->no_ack)
		engine_ack(s, k, d->tag, true, false, false);
	else
		remember(c, ch, k, tag, d->tag);
	amqp_conn_mark(c);
}

/* Whether k may have one more delivery out to the client now: under its
 * own limit (global=false) and the channel under its limit (global=true). */
static bool
has_room(const struct amqp_channel *ch, const struct amqp_consumer *k, uint32_t channel_used)
{
	return (ch->prefetch == 0 || k->unacked < ch->prefetch) &&
	       (ch->global_prefetch == 0 || channel_used < ch->global_prefetch);
}

/*
 * Send what waits, in arrival order, each as soon as its consumer and the
 * channel have room. After each send the walk starts again: sending may
 * end a consumer (a cancelled one's delivery goes back), which unlinks
 * its held ones.
 */
static void
held_release(struct amqp_server *s, struct amqp_channel *ch)
{
	bool sent = true;

	/* channel.flow active=false: no content to the client until it is on again */
	while (sent && ch->held != NULL && !ch->closing && !ch->flow_stopped) {
		uint32_t used = channel_unacked(ch);
		struct amqp_held **ph, *h;

		sent = false;
		if (ch->global_prefetch != 0 && used >= ch->global_prefetch)
			break;
		for (ph = &ch->held; (h = *ph) != NULL; ph = &h->next) {
			if (!has_room(ch, h->c, used))
				continue;
			*ph = h->next;
			send_delivery(s, h->c, h->d, 0);
			tw_delivery_free(h->d);
			free(h);
			sent = true;
			break;
		}
		ch->held_tail = NULL;
		for (h = ch->held; h != NULL; h = h->next)
			ch->held_tail = h;
	}
}

/*
 * A consumer's delivery: sent, or held while its consumer or the channel
 * is at its basic.qos limit. The engine credits each consumer up to those
 * limits, but with several consumers on a channel under one global limit
 * (or a limit lowered while deliveries were on their way) more can arrive
 * than the client may have: they wait here, already unacked in the
 * engine, until acks make room. Takes d.
 */
static void
deliver(struct amqp_server *s, struct amqp_consumer *k, struct tw_delivery *d)
{
	struct amqp_channel *ch = k->ch;
	struct amqp_held *h;

	if (k->is_get) {
		get_delivered(s, k, d);
		return;
	}
	if (k->no_ack || k->cancelled ||
	    (ch->held == NULL && !ch->flow_stopped && has_room(ch, k, channel_unacked(ch)))) {
		send_delivery(s, k, d, 0);
		tw_delivery_free(d);
		return;
	}
	h = malloc(sizeof(*h));
	if (h == NULL) {
		/* no memory to hold it: back to the engine rather than over the limit */
		engine_ack(s, k, d->tag, false, true, false);
		tw_delivery_free(d);
		return;
	}
	*h = (struct amqp_held){ .c = k, .d = d };
	if (ch->held_tail != NULL)
		ch->held_tail->next = h;
	else
		ch->held = h;
	ch->held_tail = h;
	s->cnt.held++;
	/* behind others of the channel only: it goes now if its own room allows */
	held_release(s, ch);
}

void
amqp_consume_release_held(struct amqp_server *s, struct amqp_channel *ch)
{
	held_release(s, ch);
}

void
amqp_consume_qos_changed(struct amqp_server *s, struct amqp_channel *ch)
{
	uint32_t w = window_of(ch);

	for (struct amqp_consumer *k = ch->consumers; k != NULL; k = k->next) {
		if (k->is_get || k->cancelled || k->dead || k->window == w)
			continue;
		/* the engine replaces the subscription's window; what is in flight stays */
		if (tw_worker_set_prefetch(k->w, w) == 0) {
			k->window = w;
			s->cnt.qos_changes++;
		}
	}
	held_release(s, ch);
}

void
amqp_consumer_on_event(struct amqp_consumer *k)
{
	struct amqp_server *s;
	struct tw_delivery *ds[POLL_BATCH];
	int n;

	if (k->dead)
		return;
	s = k->ch->conn->srv;
	if (k->subscribing) {
		subscribe_step(s, k);
		return;
	}
	/* the library reads every datagram waiting into its backlog: drain that
	 * too, as the socket will not be readable for it again */
	do {
		n = tw_worker_poll(k->w, 0, ds, POLL_BATCH);
		for (int i = 0; i < n; i++) {
			if (!k->dead)
				deliver(s, k, ds[i]);
			else
				tw_delivery_free(ds[i]);
		}
		if (!k->dead && k->ch->conn->out.len - k->ch->conn->out_off > AMQP_OUT_HIGH)
			amqp_conn_update_interest(k->ch->conn);
	} while (n == POLL_BATCH && !k->dead && !k->paused);
}

void
amqp_consume_poll(struct amqp_server *s)
{
	void *ready[POLL_BATCH];
	size_t n;

	/* bounded: each member is listed once until polled, and the socket is read once a call */
	for (int round = 0; round < 64; round++) {
		n = tw_worker_set_poll(s->consumers, ready, POLL_BATCH);
		for (size_t i = 0; i < n; i++) {
			struct amqp_consumer *k = ready[i];

			/* ended by an earlier one's event (buried until the pass ends), or paused:
			 * what it has waits in its worker */
			if (!k->dead && !k->paused)
				amqp_consumer_on_event(k);
		}
		if (n < POLL_BATCH)
			break;
	}
	amqp_consume_cancels_done(s);
	amqp_consume_counters(s);
}

void
amqp_consume_cancels_done(struct amqp_server *s)
{
	void *told[POLL_BATCH];
	size_t n;

	while ((n = tw_worker_set_closed(s->consumers, told, NULL, POLL_BATCH)) > 0)
		for (size_t i = 0; i < n; i++)
			cancel_done(s, told[i]);
}

uint64_t
amqp_consume_poll_next_ms(const struct amqp_server *s)
{
	return tw_worker_set_next_ms(s->consumers);
}

void
amqp_consume_counters(struct amqp_server *s)
{
	struct tw_worker_set_stats st;

	tw_worker_set_get_stats(s->consumers, &st);
	s->cnt.consumers_closed = st.closes_answered + st.close_timeouts;
	s->cnt.cancels_answered = st.closes_answered;
	s->cnt.cancel_timeouts = st.close_timeouts;
}

/* basic.get, once the engine said how many messages wait (the get-ok's
 * count is what is left behind the one taken): its subscription opens,
 * the channel waiting for it (get_ready, get_delivered, or get-empty). */
static void
get_counted(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
	    const Taskwire__Control__Response *resp, const char *err)
{
	struct amqp_conn *c;
	struct amqp_consumer *k;
	uint64_t ready = 0;
	char why[256];
	uint16_t code;

	if (ch == NULL || ch->closing || ch->conn->state != CS_RUNNING)
		return;
	c = ch->conn;
	if (call->unanswered) {
		amqp_conn_error(c, AMQP_INTERNAL_ERROR, AMQP_BASIC_GET, "%s", err);
		return;
	}
	if (!amqp_model_counts_of(resp, &ready, NULL)) {
		amqp_channel_error(ch, c, AMQP_NOT_FOUND, AMQP_BASIC_GET,
				   "no queue '%s' in vhost '/' (%s)", call->name, err);
		return;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, AMQP_BASIC_GET, "out of memory");
		return;
	}
	k->ch = ch;
	k->is_get = true;
	k->no_ack = call->bits & 1;
	k->method = AMQP_BASIC_GET;
	/* what is left ready behind the one taken (this subscription's window of
	 * one holds it, so nothing more leaves the queue for it; other consumers
	 * may take some meanwhile, as with any broker) */
	k->get_count = (uint32_t)(ready > UINT32_MAX ? UINT32_MAX : ready > 0 ? ready - 1 : 0);
	snprintf(k->queue, sizeof(k->queue), "%s", call->name);
	code = subscribe(c, k, 1, why, sizeof(why));
	if (code != 0) {
		free(k);
		if (code == AMQP_NOT_FOUND)
			amqp_channel_error(ch, c, code, AMQP_BASIC_GET,
					   "no queue '%s' in vhost '/' (%s)", call->name, why);
		else
			amqp_conn_error(c, code, AMQP_BASIC_GET, "subscribing to '%s': %s",
					call->name, why);
		return;
	}
	amqp_model_touch(s, call->name);
}

/* A basic.get's subscription is open: a ready message comes right after
 * the answer; a short bounded wait (the loop goes on) tells an empty queue. */
static void
get_ready(struct amqp_server *s, struct amqp_consumer *k)
{
	k->get_waiting = true;
	k->get_deadline_ms = s->now_ms + GET_WAIT_MS;
	waiting_add(s, k);
	amqp_channel_wait(k->ch);
	amqp_consumer_on_event(k); /* what came with the answer */
}

/* basic.get's message, or (d NULL) none in time: get-ok or get-empty, and
 * the channel goes on. Takes d. */
static void
get_delivered(struct amqp_server *s, struct amqp_consumer *k, struct tw_delivery *d)
{
	struct amqp_channel *ch = k->ch;
	struct amqp_conn *c = ch->conn;
	size_t f;

	if (!k->get_waiting) {
		/* one already went (cannot happen under a window of one): back to the queue */
		if (d != NULL) {
			engine_ack(s, k, d->tag, false, true, false);
			tw_delivery_free(d);
		}
		return;
	}
	waiting_remove(s, k);
	if (d != NULL) {
		/* no_ack: acked and closed at once, else when the client settles it */
		send_delivery(s, k, d, k->get_count);
		tw_delivery_free(d);
	} else {
		consumer_close(s, k);
		if (!ch->closing && c->state == CS_RUNNING) {
			f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_GET_EMPTY);
			amqp_wr_shortstr(&c->out, "");
			amqp_wr_frame_end(&c->out, f);
			amqp_conn_mark(c);
		}
	}
	amqp_channel_resume(ch);
}

/*
 * The engine's answer to a subscribe (or a resend, or the deadline): the
 * consume or get goes on, or fails with its reason (a refusal: 404 on the
 * channel; no answer in time: 541, counted, as tw-control's silence is),
 * and the channel runs what waited behind it.
 */
static void
subscribe_step(struct amqp_server *s, struct amqp_consumer *k)
{
	struct amqp_channel *ch = k->ch;
	struct amqp_conn *c = ch->conn;
	char err[256];
	int r = tw_worker_open_poll(k->w, err, sizeof(err));

	if (r == 0)
		return;
	waiting_remove(s, k);
	if (r == 1) {
		if (k->is_get)
			get_ready(s, k);
		else
			consume_ready(s, k);
	} else {
		k->subscribing = true; /* never counted a consumer of its queue */
		consumer_close(s, k);
		if (r == -EPERM && strncmp(err, "no such queue", 13) == 0) {
			amqp_channel_error(ch, c, AMQP_NOT_FOUND, k->method,
					   "no queue '%s' in vhost '/' (%s)", k->queue, err);
		} else if (r == -EPERM) {
			/* the queue is there, the engine refuses this consumer (its table
			 * full, a queue only its own lcores serve): this channel's error */
			amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, k->method,
					   "the engine refused a consumer of '%s': %s", k->queue, err);
		} else {
			if (r == -ETIMEDOUT)
				s->cnt.subscribe_timeouts++;
			amqp_conn_error(c, AMQP_INTERNAL_ERROR, k->method, "subscribing to '%s': %s",
					k->queue, err);
		}
		amqp_conn_mark(c);
	}
	amqp_channel_resume(ch);
}

uint64_t
amqp_consume_next_ms(const struct amqp_server *s)
{
	uint64_t at = UINT64_MAX;

	for (const struct amqp_consumer *k = s->waiting_consumers; k != NULL; k = k->wait_next) {
		uint64_t t = k->subscribing ? tw_worker_open_next_ms(k->w) : k->get_deadline_ms;

		if (t < at)
			at = t;
	}
	return at;
}

void
amqp_consume_timers(struct amqp_server *s)
{
	/* each step takes its consumer off the list, and what it resumes may
	 * change the list: start over after each (bounded) */
	for (int steps = 0; steps < 4096; steps++) {
		struct amqp_consumer *k;

		for (k = s->waiting_consumers; k != NULL; k = k->wait_next)
			if (k->subscribing ? tw_worker_open_next_ms(k->w) <= s->now_ms
					   : k->get_deadline_ms <= s->now_ms)
				break;
		if (k == NULL)
			return;
		if (k->subscribing) {
			uint64_t before = tw_worker_open_next_ms(k->w);

			subscribe_step(s, k);
			/* a resend moved its time on; still waiting with the same time: none due */
			if (!k->dead && k->subscribing && tw_worker_open_next_ms(k->w) == before)
				return;
		} else {
			get_delivered(s, k, NULL);
		}
	}
}

static void
basic_get(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	struct amqp_server *s = c->srv;
	struct amqp_ctl_call *call;
	char queue[256];
	bool no_ack;
	int ret;

	amqp_rd_u16(r);
	amqp_rd_shortstr(r, queue);
	no_ack = amqp_rd_u8(r) & 1;
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_BASIC_GET, "malformed basic.get");
		return;
	}
	if (queue[0] == '\0')
		snprintf(queue, sizeof(queue), "%s", ch->last_queue);
	if (amqp_model_locked(s, queue, c->id)) {
		amqp_channel_error(ch, c, AMQP_RESOURCE_LOCKED, AMQP_BASIC_GET,
				   "cannot obtain exclusive access to locked queue '%s'", queue);
		return;
	}
	/* the queue's figures first (the channel waits for them, the loop does not) */
	call = amqp_ctl_call_new(get_counted, true);
	if (call == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, AMQP_BASIC_GET, "out of memory");
		return;
	}
	call->bits = no_ack;
	snprintf(call->name, sizeof(call->name), "%s", queue);
	ret = amqp_model_ask_queue(s, queue, call, ch, AMQP_BASIC_GET);
	if (ret != 0)
		amqp_conn_error(c, AMQP_INTERNAL_ERROR, AMQP_BASIC_GET, "request to tw-control: %s",
				strerror(-ret));
}

static void
basic_cancel(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	struct amqp_consumer *k;
	char tag[256];
	bool nowait;
	size_t f;

	amqp_rd_shortstr(r, tag);
	nowait = amqp_rd_u8(r) & 1;
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_BASIC_CANCEL, "malformed basic.cancel");
		return;
	}
	k = find(ch, tag);
	if (k != NULL) {
		/* its unacked deliveries stay ackable on the channel: the subscription
		 * lives until they are settled, delivering nothing more */
		amqp_model_consumer(c->srv, k->queue, -1);
		k->cancelled = true;
		/* what waited under the global limit was never seen: back at once */
		if (ch->held != NULL)
			held_drop(c->srv, ch, k, true);
		if (k->unacked == 0 && !k->dead) {
			struct cancel_wait *cw = calloc(1, sizeof(*cw));

			if (cw != NULL) {
				*cw = (struct cancel_wait){ .conn_id = c->id, .epoch = ch->epoch,
							    .channel = ch->num, .nowait = nowait };
				snprintf(cw->tag, sizeof(cw->tag), "%s", tag);
				/* cancel-ok once the engine has taken the cancel (the queue
				 * no longer counts the consumer, as after RabbitMQ's): the
				 * channel waits, the loop does not */
				amqp_channel_wait(ch);
				consumer_close_acking(c->srv, k, 0, NULL, cw);
				return;
			}
		}
		/* (a requeue above may have ended it already: closing is idempotent) */
		if (k->unacked == 0)
			consumer_close(c->srv, k);
	}
	if (nowait)
		return;
	f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_CANCEL_OK);
	amqp_wr_shortstr(&c->out, tag);
	amqp_wr_frame_end(&c->out, f);
}

void
amqp_consume_method(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, struct amqp_rd *r)
{
	uint64_t tag;
	uint8_t bits;
	size_t f;

	switch (m) {
	case AMQP_BASIC_QOS: {
		uint32_t size = amqp_rd_u32(r);
		uint16_t count = amqp_rd_u16(r);
		bool global = amqp_rd_u8(r) & 1;

		if (r->bad) {
			amqp_conn_error(c, AMQP_SYNTAX_ERROR, m, "malformed basic.qos");
			return;
		}
		if (size != 0) {
			/* as RabbitMQ: a limit in bytes is not implemented */
			amqp_conn_error(c, AMQP_NOT_IMPLEMENTED, m, "prefetch_size!=0 (%u)", size);
			return;
		}
		/* RabbitMQ's meaning: global=false limits each consumer of the channel,
		 * global=true the channel as a whole; both apply to consumers running
		 * now (their engine credit changes at once) and to later ones */
		if (global)
			ch->global_prefetch = count;
		else
			ch->prefetch = count;
		amqp_consume_qos_changed(c->srv, ch);
		f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_QOS_OK);
		amqp_wr_frame_end(&c->out, f);
		return;
	}
	case AMQP_BASIC_CONSUME:
		basic_consume(c, ch, r);
		return;
	case AMQP_BASIC_CANCEL:
		basic_cancel(c, ch, r);
		return;
	case AMQP_BASIC_GET:
		basic_get(c, ch, r);
		return;
	case AMQP_BASIC_ACK:
	case AMQP_BASIC_REJECT:
	case AMQP_BASIC_NACK:
		tag = amqp_rd_u64(r);
		bits = amqp_rd_u8(r);
		if (r->bad) {
			amqp_conn_error(c, AMQP_SYNTAX_ERROR, m, "malformed acknowledgement");
			return;
		}
		if (m == AMQP_BASIC_ACK)
			settle(c, ch, m, tag, bits & 1, true, false);
		else if (m == AMQP_BASIC_REJECT)
			settle(c, ch, m, tag, false, false, bits & 1);
		else
			settle(c, ch, m, tag, bits & 1, false, bits & 2);
		return;
	case AMQP_BASIC_RECOVER:
	case AMQP_BASIC_RECOVER_ASYNC:
		amqp_rd_u8(r);
		/* everything unacked goes back to its queue, to be delivered again */
		settle(c, ch, m, 0, true, false, true);
		if (m == AMQP_BASIC_RECOVER) {
			f = amqp_wr_method_begin(&c->out, ch->num, AMQP_BASIC_RECOVER_OK);
			amqp_wr_frame_end(&c->out, f);
		}
		return;
	default:
		amqp_conn_error(c, AMQP_NOT_IMPLEMENTED, m, "method %u.%u is not implemented",
				m >> 16, m & 0xffff);
	}
}
