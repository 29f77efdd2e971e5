/*
 * libtaskwire worker API (include/taskwire/worker.h): a remote consumer
 * over a kernel UDP socket. Frames are built and read with protobuf-c
 * (proto/taskwire.proto), as the rest of libtaskwire does.
 *
 * Owns: the socket, the heartbeat thread, the acks not yet answered (kept
 * encoded and resent until the engine's AckReply, as many as are out: the
 * table grows), the deliveries received but not yet handed to the caller,
 * and with extend_leases those handed and not acked yet (their leases
 * refreshed by the heartbeat thread, or a set's timer). A worker in a set
 * (tw_worker_set.c) has neither socket nor thread: its set reads and
 * times for it, calling the tw_wk_* steps below (tw_worker_priv.h).
 *
 * Threads: one thread polls; ack and progress may come from the thread
 * running the task; the heartbeat thread only sends. The mutex covers
 * the pending-ack and running tables and the counters.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "taskwire.pb-c.h"
#include "taskwire/worker.h"
#include "tw_client_priv.h"
#include "tw_clock.h"
#include "tw_cookie_jar.h"
#include "tw_wire_priv.h"
#include "tw_worker_priv.h"

#define SEND_MAX 2048           /* one datagram: what the engine takes unfragmented */
/* a signed frame's own fields: key_id (5 bytes), sent_us (10), mac (18) */
#define SIGN_EXTRA (5 + 10 + 2 + TW_MAC_LEN)
#define ACK_RESEND_MS 300
#define ACK_ATTEMPTS 10
#define DEFAULT_HEARTBEAT_MS 1000
#define DEFAULT_SUBSCRIBE_MS 3000
#define SUBSCRIBE_RESEND_MS 500
/* a frame of batched acks: one datagram with room for the cookie and a signature */
#define BATCH_BYTES (TW_DATAGRAM_MAX - TW_COOKIE_JAR_EXTRA - SIGN_EXTRA)
#define HEADER_MAX 32           /* magic, version, frame_id packed */

/* One datagram: a whole frame as it is; a fragment with our cookie after it,
 * since the engine checks each fragment's before it keeps any of them. */
static int
send_one(void *arg, const uint8_t *buf, size_t len, bool piece)
{
	struct tw_worker *w = arg;
	uint8_t dgram[TW_DATAGRAM_MAX + TW_COOKIE_JAR_EXTRA];

	if (piece) {
		memcpy(dgram, buf, len);
		len = tw_cookie_jar_append(w->jar, dgram, len);
		buf = dgram;
	}
	if (send(w->fd, buf, len, 0) < 0 && errno != ECONNREFUSED)
		return -errno;
	return 0;
}

/*
 * Send a packed frame (as kept: without cookie or signature) with the
 * current cookie appended: one datagram, or fragments (an ack with a large
 * value) under its frame id, so that a resend fills in what the engine is
 * missing. With a key it is stamped (key_id, sent_us) and signed whole at
 * each send, before any split (the engine checks the MAC of the whole
 * frame): a resent ack is a new frame to the replay check, not a replay.
 */
static int
send_packed(struct tw_worker *w, const uint8_t *frame, size_t len)
{
	uint8_t small[SEND_MAX + TW_COOKIE_JAR_EXTRA + SIGN_EXTRA], *buf = small;
	int ret;

	if (len + TW_COOKIE_JAR_EXTRA + SIGN_EXTRA > sizeof(small) &&
	    (buf = malloc(len + TW_COOKIE_JAR_EXTRA + SIGN_EXTRA)) == NULL)
		return -ENOMEM;
	memcpy(buf, frame, len);
	if (w->key != NULL) {
		uint64_t us = tw_client_unix_us();

		buf[len++] = (F_FRAME_KEY_ID << 3) | WT_FIXED32;
		memcpy(buf + len, &w->key->id, 4); /* little-endian, as the wire */
		len += 4;
		buf[len++] = ((F_FRAME_SENT_US << 3) | WT_FIXED64) | 0x80; /* two-byte tag */
		buf[len++] = (F_FRAME_SENT_US << 3) >> 7;
		memcpy(buf + len, &us, 8);
		len += 8;
	}
	len = tw_cookie_jar_append(w->jar, buf, len);
	if (w->key != NULL) {
		/* the mac field last: it covers every byte before it */
		buf[len] = (F_FRAME_MAC << 3) | WT_LEN;
		buf[len + 1] = TW_MAC_LEN;
		tw_mac(w->key, buf, len, buf + len + 2);
		len += 2 + TW_MAC_LEN;
	}
	if (len > TW_DATAGRAM_MAX)
		__atomic_add_fetch(&w->stats.frames_fragmented, 1, __ATOMIC_RELAXED);
	ret = tw_frag_send_frame(buf, len, tw_frag_frame_id_of(buf, len),
				 tw_frag_frame_id_of(buf, len), send_one, w);
	if (buf != small)
		free(buf);
	return ret;
}

/* Pack f (header fields set here) and send it. @return 0 or -errno; copy: the bytes kept, if asked. */
static int
send_frame(struct tw_worker *w, Taskwire__Frame *f, uint8_t **copy, uint32_t *copy_len)
{
	uint8_t small[SEND_MAX], *buf = small;
	size_t len;
	int ret;

	f->magic = TW_FRAME_MAGIC;
	f->version = TW_FRAME_VERSION;
	f->frame_id = __atomic_add_fetch(&w->next_frame_id, 1, __ATOMIC_RELAXED);
	len = taskwire__frame__get_packed_size(f);
	if (len + TW_COOKIE_JAR_EXTRA > TW_FRAG_LIMIT)
		return -EMSGSIZE;
	if (len > sizeof(small) && (buf = malloc(len)) == NULL)
		return -ENOMEM;
	taskwire__frame__pack(f, buf);
	if (copy != NULL) {
		*copy = malloc(len);
		if (*copy == NULL) {
			if (buf != small)
				free(buf);
			return -ENOMEM;
		}
		memcpy(*copy, buf, len);
		*copy_len = (uint32_t)len;
	}
	ret = send_packed(w, buf, len);
	if (buf != small)
		free(buf);
	return ret;
}

static int
send_subscribe(struct tw_worker *w)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Subscribe s = TASKWIRE__SUBSCRIBE__INIT;

	s.consumer_id = w->id;
	s.name = w->name;
	s.host = w->host;
	s.n_queues = w->n_queues;
	s.queues = w->queues;
	s.prefetch = __atomic_load_n(&w->prefetch, __ATOMIC_RELAXED);
	s.lease_ms = w->lease_ms;
	s.heartbeat_ms = w->heartbeat_ms;
	s.hold = w->hold;
	f.subscribe = &s;
	return send_frame(w, &f, NULL, NULL);
}

static int
send_id_message(struct tw_worker *w, bool cancel)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Cancel c = TASKWIRE__CANCEL__INIT;
	Taskwire__Heartbeat h = TASKWIRE__HEARTBEAT__INIT;

	if (cancel) {
		c.consumer_id = w->id;
		f.cancel = &c;
	} else {
		h.consumer_id = w->id;
		f.heartbeat = &h;
	}
	return send_frame(w, &f, NULL, NULL);
}

/* The heartbeat thread: one small datagram per interval, while the worker
 * lives; with extend_leases, the lease refreshes of running tasks. */
static void *
heartbeat_main(void *arg)
{
	struct tw_worker *w = arg;
	uint64_t next = tw_monotonic_ms() + w->g_heartbeat_ms;

	/* wakes every 20 ms at most to notice close() */
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct timespec nap = { 0, 20 * 1000000L };
		uint64_t now = tw_monotonic_ms();

		if (now >= next) {
			uint32_t left = __atomic_load_n(&w->change_left, __ATOMIC_RELAXED);

			/* a subscribe counts as a heartbeat for the engine */
			if (left != 0 &&
			    __atomic_compare_exchange_n(&w->change_left, &left, left - 1, false,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
				send_subscribe(w);
			else
				send_id_message(w, false);
			pthread_mutex_lock(&w->mu);
			w->stats.heartbeats++;
			pthread_mutex_unlock(&w->mu);
			next = now + w->g_heartbeat_ms;
		}
		if (w->extend)
			tw_wk_extend_leases(w, now);
		nanosleep(&nap, NULL);
	}
	return NULL;
}

static char *
dup_str(const char *s)
{
	return tw_client_dup_bytes(s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

void
tw_delivery_free(struct tw_delivery *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_headers; i++) {
		free((char *)d->headers[i].key);
		free((char *)d->headers[i].value);
	}
	free(d->headers);
	free(d->queue);
	free(d->task_name);
	free(d->exchange);
	free(d->routing_key);
	free(d->amqp_properties);
	free(d->args);
	free(d);
}

static struct tw_delivery *
delivery_of(const Taskwire__Deliver *m)
{
	struct tw_delivery *d = calloc(1, sizeof(*d));
	const Taskwire__Task *t = m->task;
	const ProtobufCBinaryData *args;

	if (d == NULL || t == NULL) {
		free(d);
		return NULL;
	}
	args = m->has_args ? &m->args : &t->args;
	d->tag = m->delivery_tag;
	d->delivery_count = m->delivery_count;
	d->task_id = t->id;
	d->retries = m->retries;
	d->root_id = m->root_id;
	d->parent_id = m->parent_id;
	d->lease_ms = m->lease_ms;
	d->queue = dup_str(m->queue);
	d->task_name = dup_str(t->name);
	d->exchange = dup_str(t->exchange);
	d->routing_key = dup_str(t->routing_key);
	if (t->amqp_properties.len != 0) {
		d->amqp_properties = (uint8_t *)tw_client_dup_bytes(t->amqp_properties.data,
								    t->amqp_properties.len);
		d->amqp_properties_len = t->amqp_properties.len;
	}
	d->args = (uint8_t *)tw_client_dup_bytes(args->data, args->len);
	d->args_len = args->len;
	if (t->retry != NULL) {
		d->retry_storage = (struct tw_retry_policy){
			.max_retries = t->retry->max_retries, .countdown_ms = t->retry->countdown_ms,
			.backoff = t->retry->backoff, .backoff_max_ms = t->retry->backoff_max_ms,
			.jitter = t->retry->jitter, .autoretry = t->retry->autoretry,
		};
		d->retry = &d->retry_storage;
	}
	if (t->n_headers != 0) {
		d->headers = calloc(t->n_headers, sizeof(*d->headers));
		if (d->headers != NULL) {
			d->n_headers = t->n_headers;
			for (size_t i = 0; i < t->n_headers; i++) {
				d->headers[i].key = dup_str(t->headers[i]->key);
				d->headers[i].value = dup_str(t->headers[i]->value);
			}
		}
	}
	if (d->queue == NULL || d->task_name == NULL || d->args == NULL || d->exchange == NULL ||
	    d->routing_key == NULL || (t->amqp_properties.len != 0 && d->amqp_properties == NULL)) {
		tw_delivery_free(d);
		return NULL;
	}
	return d;
}

static void
backlog_push(struct tw_worker *w, struct tw_delivery *d)
{
	if (w->n_backlog == w->cap_backlog) {
		size_t cap = w->cap_backlog != 0 ? w->cap_backlog * 2 : 64;
		struct tw_delivery **b = realloc(w->backlog, cap * sizeof(*b));

		if (b == NULL) {
			/* dropped here: its lease brings it back to the queue */
			tw_delivery_free(d);
			return;
		}
		w->backlog = b;
		w->cap_backlog = cap;
	}
	w->backlog[w->n_backlog++] = d;
}

/* Slot i of the pending table is free again (the lock held).
 * @return whether another entry moved into slot i (tw_tag_remove_at). */
static bool
pend_clear(struct tw_worker *w, uint32_t i)
{
	struct tw_tag_entry *p = &w->pend.slot[i];

	if (w->set != NULL)
		tw_wk_set_tag(w->set, p->tag, w, false);
	free(p->bytes);
	p->bytes = NULL;
	return tw_tag_remove_at(&w->pend, i);
}

void
tw_wk_ack_answered(struct tw_worker *w, const Taskwire__AckReply *r)
{
	struct tw_tag_entry *p, *run;
	bool matched = false, resent = false;

	pthread_mutex_lock(&w->mu);
	p = tw_tag_find(&w->pend, r->delivery_tag);
	if (p != NULL) {
		resent = p->attempts > 1;
		pend_clear(w, (uint32_t)(p - w->pend.slot));
		matched = true;
	} else if (!r->ok && (run = tw_tag_find(&w->run, r->delivery_tag)) != NULL &&
		   run->attempts != 0) {
		/* a lease refresh refused (only refusals are answered): the engine
		 * took the delivery back (its lease ran out first), so refreshing
		 * it is over; its ack will be refused too */
		run->due_ms = UINT64_MAX;
		run->attempts = 0;
		w->stats.extends_refused++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	/* the first answer lost and the resend's says the tag is spent: the
	 * ack was taken (a tag never given is "unknown", not "stale") */
	if (matched && resent && !r->ok && r->detail != NULL &&
	    strncmp(r->detail, "stale delivery tag", 18) == 0) {
		w->stats.acks_answered_again++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	if (!matched) {
		if (w->n_untracked == 0) {
			/* a resent ack's second answer (the first was late, not lost):
			 * that ack is settled already, this says nothing new */
			w->stats.acks_answered_again++;
			pthread_mutex_unlock(&w->mu);
			return;
		}
		w->n_untracked--;
	}
	if (r->ok) {
		w->stats.acks_confirmed++;
	} else {
		w->stats.acks_refused++;
		snprintf(w->last_refusal, sizeof(w->last_refusal), "%s",
			 r->detail != NULL ? r->detail : "");
	}
	pthread_mutex_unlock(&w->mu);
}

void
tw_wk_consumer_reply(struct tw_worker *w, const Taskwire__ConsumerReply *r)
{
	if (w->cancelling) {
		w->cancel_answered = true;
		return;
	}
	if (r->ok) {
		w->subscribed = true;
		w->refused = false;
		w->g_prefetch = r->prefetch;
		/* the window asked for last (not an earlier answer): the change is done */
		if (r->prefetch == __atomic_load_n(&w->prefetch, __ATOMIC_RELAXED))
			__atomic_store_n(&w->change_left, 0, __ATOMIC_RELAXED);
		w->g_lease_ms = r->lease_ms;
		w->g_heartbeat_ms = r->heartbeat_ms != 0 ? r->heartbeat_ms : w->heartbeat_ms;
	} else if (w->subscribed) {
		/* it forgot us (silent too long, or restarted): take the queues again */
		w->resubscribe = true;
	} else {
		w->refused = true;
		snprintf(w->refusal, sizeof(w->refusal), "%s", r->detail != NULL ? r->detail : "refused");
	}
}

void
tw_wk_delivered(struct tw_worker *w, const Taskwire__Deliver *m)
{
	struct tw_delivery *d = delivery_of(m);

	if (d != NULL) {
		d->received_ms = tw_monotonic_ms();
		backlog_push(w, d);
		w->stats.deliveries++;
	}
}

static void
handle_frame(struct tw_worker *w, const Taskwire__Frame *f)
{
	/* refused whole, nothing of it taken: what it carried goes again with
	 * the cookie (the subscribe at once, acks by resend_acks, heartbeats
	 * at the next beat) */
	tw_cookie_jar_take(w->jar, f);
	if (tw_cookie_jar_asked(f)) {
		w->cookie_retry = true;
		w->stats.cookie_retries++;
	}
	/* a whole frame refused before it was read (an engine with --keys and
	 * a missing or wrong MAC): a subscription waiting for its answer ends */
	for (size_t i = 0; i < f->n_confirms && !w->subscribed; i++) {
		const Taskwire__Confirm *c = f->confirms[i];

		if (c->task_id == 0 && !c->ack && c->reason == TASKWIRE__NACK_REASON__NACK_ACCESS_REFUSED) {
			w->refused = true;
			snprintf(w->refusal, sizeof(w->refusal), "%s",
				 c->detail != NULL ? c->detail : "access refused");
		}
	}
	for (size_t i = 0; i < f->n_consumers; i++)
		if (f->consumers[i]->consumer_id == w->id)
			tw_wk_consumer_reply(w, f->consumers[i]);
	for (size_t i = 0; i < f->n_deliveries; i++)
		tw_wk_delivered(w, f->deliveries[i]);
	for (size_t i = 0; i < f->n_ack_replies; i++)
		tw_wk_ack_answered(w, f->ack_replies[i]);
}

/* One datagram from the engine: a frame, or a piece of a large one. */
static void
receive_one(const uint8_t *buf, size_t n, struct tw_frag_rx *frx,
	    void (*on_frame)(void *arg, const Taskwire__Frame *f), void *arg, uint64_t *bad)
{
	const uint8_t *whole = buf;
	size_t whole_len = n;
	Taskwire__Frame *f;

	/* a piece of a large delivery: kept until the whole is in */
	if (tw_frag_rx_take(frx, buf, n, &whole, &whole_len) == TW_FRAG_RX_TAKEN)
		return;
	f = taskwire__frame__unpack(NULL, whole_len, whole);
	if (f == NULL || f->magic != TW_FRAME_MAGIC) {
		(*bad)++;
		if (f != NULL)
			taskwire__frame__free_unpacked(f, NULL);
		return;
	}
	on_frame(arg, f);
	taskwire__frame__free_unpacked(f, NULL);
}

int
tw_wk_receive_frames(int fd, uint8_t *buf, struct tw_frag_rx *frx, int timeout_ms,
		     void (*on_frame)(void *arg, const Taskwire__Frame *f), void *arg,
		     uint64_t *bad)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct mmsghdr v[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	/* not waiting: the reads below say whether anything is there */
	int ret = timeout_ms == 0 ? 0 : poll(&pfd, 1, timeout_ms);

	_Static_assert(RECV_SLOT >= TW_DATAGRAM_MAX, "a slot holds a datagram of the engine's");
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	/* bounded by what the socket holds */
	for (;;) {
		int got;

		memset(v, 0, sizeof(v));
		for (int i = 0; i < RECV_BATCH; i++) {
			iov[i].iov_base = buf + (size_t)i * RECV_SLOT;
			iov[i].iov_len = RECV_SLOT;
			v[i].msg_hdr.msg_iov = &iov[i];
			v[i].msg_hdr.msg_iovlen = 1;
		}
		got = recvmmsg(fd, v, RECV_BATCH, MSG_DONTWAIT, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED ? 0
											  : -errno;
		}
		for (int i = 0; i < got; i++) {
			if (v[i].msg_hdr.msg_flags & MSG_TRUNC)
				(*bad)++;
			else
				receive_one(iov[i].iov_base, v[i].msg_len, frx, on_frame, arg, bad);
		}
		/* fewer than asked for: the socket is empty now (no call to learn it) */
		if (got < RECV_BATCH)
			return 0;
	}
}

static void
worker_frame(void *arg, const Taskwire__Frame *f)
{
	handle_frame(arg, f);
}

/*
 * Read every datagram waiting (tw_wk_receive_frames), waiting up to
 * timeout_ms for the first (the engine's datagrams are at most
 * TW_DATAGRAM_MAX: one larger is cut short, and counted bad).
 * @return 0 or -errno.
 */
static int
receive(struct tw_worker *w, int timeout_ms)
{
	/* in a set: the set reads the shared socket and hands out what is ours */
	if (w->set != NULL)
		return tw_wk_set_receive(w->set, timeout_ms);
	return tw_wk_receive_frames(w->fd, w->recvbuf, w->frx, timeout_ms, worker_frame, w,
				    &w->stats.bad_datagrams);
}

/* The cookie came with a refusal: send again what the refused frame may have held. */
void
tw_wk_cookie_retry(struct tw_worker *w)
{
	w->cookie_retry = false;
	if (!w->subscribed && w->opening)
		send_subscribe(w);
	pthread_mutex_lock(&w->mu);
	for (uint32_t i = 0; i < w->pend.cap; i++)
		if (w->pend.slot[i].tag != 0)
			w->pend.slot[i].due_ms = 0; /* due now (resend_acks) */
	w->pend_next_ms = 0;
	pthread_mutex_unlock(&w->mu);
}

/* The frame header (magic, version, a new frame_id) packed into buf[HEADER_MAX]. */
static size_t
pack_header(struct tw_worker *w, uint8_t *buf)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;

	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = __atomic_add_fetch(&w->next_frame_id, 1, __ATOMIC_RELAXED);
	return taskwire__frame__pack(&f, buf);
}

/*
 * Acks that share datagrams: each a Frame.acks field appended to one
 * frame until the next would not fit, then sent (the heartbeat thread's
 * lease refreshes, resends of overdue acks). Lives on the stack.
 */
struct ack_batch {
	uint8_t frame[BATCH_BYTES];
	size_t len;              /* 0: no frame begun */
	uint32_t n;              /* acks in it */
};

/* Send what b holds. @return the acks it carried if sent, else 0. */
static uint32_t
batch_send(struct tw_worker *w, struct ack_batch *b)
{
	uint32_t n = b->n;
	size_t len = b->len;

	if (len == 0)
		return 0;
	b->len = 0;
	b->n = 0;
	return send_packed(w, b->frame, len) == 0 ? n : 0;
}

/* Append an encoded Frame.acks field. @return acks sent on the way (a full frame went first). */
static uint32_t
batch_add(struct tw_worker *w, struct ack_batch *b, const uint8_t *field, size_t len)
{
	uint32_t sent = 0;

	if (b->len != 0 && b->len + len > sizeof(b->frame))
		sent = batch_send(w, b);
	if (b->len == 0)
		b->len = pack_header(w, b->frame);
	memcpy(b->frame + b->len, field, len);
	b->len += len;
	b->n++;
	return sent;
}

/*
 * Resend the acks whose answer is overdue, as many to a datagram as fit
 * (a thousand unanswered acks are a few dozen datagrams, not a thousand
 * into a receiver that may just have dropped the first ones); an ack
 * resent ACK_ATTEMPTS times is given up (the engine is gone: the lease
 * decides what happens to the task).
 * @return the ms until the next is due (bounded).
 */
int
tw_wk_resend_acks(struct tw_worker *w)
{
	uint64_t now = tw_monotonic_ms(), next = UINT64_MAX;
	struct ack_batch b;
	uint32_t resent = 0;
	bool due;

	pthread_mutex_lock(&w->mu);
	due = w->pend.n != 0 && now >= w->pend_next_ms;
	next = w->pend_next_ms;
	pthread_mutex_unlock(&w->mu);
	if (!due)
		return next - now < ACK_RESEND_MS ? (int)(next - now) : ACK_RESEND_MS;
	next = UINT64_MAX;
	/* answers may wait in the socket (a caller that did not poll for a
	 * while): take them first, so that only acks really unanswered go again
	 * (a resend of a settled ack is refused as stale) */
	if (w->set == NULL && receive(w, 0) < 0)
		return 0;
	b.len = 0;
	b.n = 0;
	pthread_mutex_lock(&w->mu);
	/* a removal may move an entry into slot i, or one seen already forward
	 * (seen again: its due_ms is in the future by then), never skip one */
	for (uint32_t i = 0; i < w->pend.cap && w->pend.n != 0; i++) {
		struct tw_tag_entry *p = &w->pend.slot[i];

		if (p->tag == 0)
			continue;
		if (p->due_ms > now) {
			next = p->due_ms < next ? p->due_ms : next;
			continue;
		}
		if (p->attempts >= ACK_ATTEMPTS) {
			/* the engine is gone: the lease decides what happens to the task */
			if (pend_clear(w, i))
				i--; /* wraps at 0: the loop's i++ brings it back */
			continue;
		}
		if (p->body_off != 0 && HEADER_MAX + (p->len - p->body_off) <= BATCH_BYTES)
			resent += batch_add(w, &b, p->bytes + p->body_off, p->len - p->body_off);
		else if (send_packed(w, p->bytes, p->len) == 0)
			resent++;
		p->attempts++;
		p->due_ms = now + ACK_RESEND_MS;
		next = p->due_ms < next ? p->due_ms : next;
	}
	resent += batch_send(w, &b);
	w->stats.acks_resent += resent;
	w->pend_next_ms = next;
	tw_tag_table_compact(&w->pend);
	pthread_mutex_unlock(&w->mu);
	return next - now < ACK_RESEND_MS ? (int)(next - now) : ACK_RESEND_MS;
}

/*
 * extend_leases, on the heartbeat thread (a set's timer for its members):
 * the deliveries the caller runs whose lease is a third gone since it
 * last started get an EXTEND ack each (batched), so a task longer than
 * its lease is not delivered again while this process lives and beats.
 * Not resent: a lost one is followed by the next a third of a lease
 * later, in time. Only refusals are answered (tw_wk_ack_answered).
 */
void
tw_wk_extend_leases(struct tw_worker *w, uint64_t now)
{
	struct ack_batch b;
	uint64_t next = UINT64_MAX;

	pthread_mutex_lock(&w->mu);
	if (w->run.n == 0 || now < w->run_next_ms) {
		pthread_mutex_unlock(&w->mu);
		return;
	}
	b.len = 0;
	b.n = 0;
	for (uint32_t i = 0; i < w->run.cap; i++) {
		struct tw_tag_entry *e = &w->run.slot[i];
		Taskwire__Ack m = TASKWIRE__ACK__INIT;
		uint8_t field[40], *dst = field;
		size_t body;

		if (e->tag == 0)
			continue;
		if (e->due_ms > now) {
			next = e->due_ms < next ? e->due_ms : next;
			continue;
		}
		m.delivery_tag = e->tag;
		m.outcome = TASKWIRE__ACK_OUTCOME__ACK_EXTEND;
		body = taskwire__ack__get_packed_size(&m);
		*dst++ = (F_FRAME_ACKS << 3) | WT_LEN;
		*dst++ = (uint8_t)body; /* a tag and an outcome: under 128 bytes */
		dst += taskwire__ack__pack(&m, dst);
		batch_add(w, &b, field, (size_t)(dst - field));
		e->attempts++;
		e->due_ms = now + e->period_ms;
		next = e->due_ms < next ? e->due_ms : next;
		w->stats.leases_extended++;
	}
	batch_send(w, &b);
	w->run_next_ms = next;
	pthread_mutex_unlock(&w->mu);
}

/* A delivery handed to the caller: its lease is kept from now on (extend_leases). */
static void
run_add(struct tw_worker *w, const struct tw_delivery *d)
{
	uint32_t lease = d->lease_ms != 0 ? d->lease_ms : w->g_lease_ms;
	struct tw_tag_entry *e;

	if (lease == 0)
		return;
	pthread_mutex_lock(&w->mu);
	/* no memory: not kept, its lease decides */
	if (tw_tag_find(&w->run, d->tag) == NULL && (e = tw_tag_add(&w->run, d->tag)) != NULL) {
		e->period_ms = lease / 3;
		/* the lease began about when it arrived, not when the caller took it */
		e->due_ms = d->received_ms + e->period_ms;
		if (e->due_ms < w->run_next_ms)
			w->run_next_ms = e->due_ms;
	}
	pthread_mutex_unlock(&w->mu);
}

/* An ack of tag went (mu held): a final one ends its lease keeping, PROGRESS restarted the lease. */
static void
run_acked(struct tw_worker *w, uint64_t tag, bool final)
{
	struct tw_tag_entry *e = tw_tag_find(&w->run, tag);

	if (e == NULL)
		return;
	if (!final) {
		if (e->due_ms != UINT64_MAX)
			e->due_ms = tw_monotonic_ms() + e->period_ms;
		return;
	}
	tw_tag_remove_at(&w->run, (uint32_t)(e - w->run.slot));
	tw_tag_table_compact(&w->run);
}

int
tw_wk_socket(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rcv = 4 << 20, e;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) != 0) {
		e = errno;
		close(fd);
		return -e;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	/* root may go past rmem_max: a large delivery is hundreds of datagrams */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	return fd;
}

struct tw_worker *
tw_worker_open_async(const char *engine, const struct tw_worker_opts *o, char *err, size_t errlen)
{
	struct sockaddr_in a;
	struct tw_worker *w;
	uint64_t now;
	int saved, ret;

	if (err != NULL && errlen != 0)
		err[0] = '\0';
	if (o == NULL || o->n_queues == 0 || o->n_queues > 16 || o->queues == NULL ||
	    tw_client_parse_engine(engine, &a) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "bad engine address or queue list");
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	tw_cookie_jar_init(&w->own_jar);
	w->jar = &w->own_jar;
	w->fd = -1;
	w->user = o->user;
	w->pend_next_ms = UINT64_MAX;
	w->run_next_ms = UINT64_MAX;
	w->extend = o->extend_leases;
	w->queues = calloc(o->n_queues, sizeof(char *));
	if (w->queues == NULL)
		goto fail_errno;
	for (size_t i = 0; i < o->n_queues; i++) {
		w->queues[i] = dup_str(o->queues[i]);
		if (w->queues[i] == NULL)
			goto fail_errno;
		w->n_queues++;
	}
	w->prefetch = o->prefetch != 0 ? o->prefetch : 1;
	w->lease_ms = o->lease_ms;
	w->hold = o->hold;
	w->heartbeat_ms = o->heartbeat_ms != 0 ? o->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
	w->g_heartbeat_ms = w->heartbeat_ms;
	snprintf(w->name, sizeof(w->name), "%s", o->name != NULL ? o->name : "tw-worker");
	if (gethostname(w->host, sizeof(w->host)) != 0)
		snprintf(w->host, sizeof(w->host), "?");
	w->host[sizeof(w->host) - 1] = '\0';
	if (o->key_file != NULL) {
		w->key = tw_client_key_load(o->key_file, o->key_id, err, errlen);
		if (w->key == NULL) {
			saved = errno;
			goto fail;
		}
	}
	w->id = o->consumer_id;
	while (w->id == 0)
		if (getrandom(&w->id, sizeof(w->id), 0) != sizeof(w->id))
			goto fail_errno;
	if (o->set != NULL) {
		/* its set's socket, cookie and reassembly; the engine named by the set */
		ret = tw_wk_set_join(o->set, w);
		if (ret != 0) {
			errno = -ret;
			if (ret == -EEXIST && err != NULL)
				snprintf(err, errlen, "consumer id in use in this set");
			goto fail_errno;
		}
	} else {
		w->frx = tw_frag_rx_new(TW_FRAG_LIMIT, 5000);
		w->recvbuf = malloc(RECV_BATCH * RECV_SLOT);
		if (w->frx == NULL || w->recvbuf == NULL)
			goto fail_errno;
		w->fd = tw_wk_socket(&a);
		if (w->fd < 0) {
			errno = -w->fd;
			goto fail_errno;
		}
	}
	/* the subscribe goes now and every 500 ms until answered (tw_worker_open_poll) */
	now = tw_monotonic_ms();
	w->opening = true;
	w->open_deadline_ms = now + (uint64_t)(o->subscribe_timeout_ms > 0 ? o->subscribe_timeout_ms
									 : DEFAULT_SUBSCRIBE_MS);
	w->open_resend_ms = now + SUBSCRIBE_RESEND_MS;
	ret = send_subscribe(w);
	if (ret < 0) {
		errno = -ret;
		goto fail_errno;
	}
	return w;

fail_errno:
	saved = errno;
	if (err != NULL && err[0] == '\0')
		snprintf(err, errlen, "%s", strerror(saved));
fail:
	w->opening = false; /* nothing to cancel */
	tw_wk_free(w);
	errno = saved;
	return NULL;
}

int
tw_worker_open_poll(struct tw_worker *w, char *err, size_t errlen)
{
	uint64_t now;
	int ret;

	if (!w->opening)
		return w->subscribed ? 1 : -EINVAL;
	/* in a set: what came is read by the set's poll, never here */
	ret = w->set != NULL ? 0 : receive(w, 0);
	if (ret < 0)
		return ret;
	if (w->subscribed && w->set != NULL) {
		/* the set's timer beats for it: spread over the interval, so that
		 * members opened together do not all beat in the same pass */
		w->next_hb_ms = tw_monotonic_ms() + 1 + w->id % w->g_heartbeat_ms;
		w->opening = false;
		return 1;
	}
	if (w->subscribed) {
		if (pthread_create(&w->hb, NULL, heartbeat_main, w) != 0) {
			if (err != NULL)
				snprintf(err, errlen, "heartbeat thread: %s", strerror(errno));
			return -EAGAIN;
		}
		w->hb_started = true;
		w->opening = false;
		return 1;
	}
	if (w->refused) {
		if (err != NULL)
			snprintf(err, errlen, "%s", w->refusal);
		return -EPERM;
	}
	now = tw_monotonic_ms();
	if (now >= w->open_deadline_ms) {
		if (err != NULL)
			snprintf(err, errlen, "no answer from the engine");
		return -ETIMEDOUT;
	}
	/* refused for want of the cookie, which came: again at once, with it */
	if (w->cookie_retry || now >= w->open_resend_ms) {
		w->cookie_retry = false;
		w->open_resend_ms = now + SUBSCRIBE_RESEND_MS;
		ret = send_subscribe(w);
		if (ret < 0)
			return ret;
	}
	return 0;
}

uint64_t
tw_worker_open_next_ms(const struct tw_worker *w)
{
	if (!w->opening)
		return UINT64_MAX;
	return w->open_resend_ms < w->open_deadline_ms ? w->open_resend_ms : w->open_deadline_ms;
}

struct tw_worker *
tw_worker_open(const char *engine, const struct tw_worker_opts *o, char *err, size_t errlen)
{
	struct tw_worker *w = tw_worker_open_async(engine, o, err, errlen);
	int ret = 0;

	while (w != NULL && (ret = tw_worker_open_poll(w, err, errlen)) == 0) {
		struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
		uint64_t now = tw_monotonic_ms(), next = tw_worker_open_next_ms(w);
		int wait = next > now ? (int)(next - now < 50 ? next - now : 50) : 0;

		/* bounded: the deadline ends it (in a set, the set reads for it) */
		if (w->set != NULL) {
			ret = tw_wk_set_receive(w->set, wait);
			if (ret < 0)
				break;
		} else if (poll(&pfd, 1, wait) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
	}
	if (w == NULL || ret == 1)
		return w;
	if (err != NULL && err[0] == '\0')
		snprintf(err, errlen, "%s", strerror(-ret));
	tw_worker_close(w);
	errno = -ret;
	return NULL;
}

void
tw_worker_close(struct tw_worker *w)
{
	if (w == NULL)
		return;
	if (w->set != NULL) {
		/* the set's close, waited for here (bounded as the set bounds it) */
		tw_wk_set_close_wait(w->set, w);
		return;
	}
	if (w->hb_started) {
		/* release: pairs with the acquire load in heartbeat_main */
		__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
		pthread_join(w->hb, NULL);
	}
	/* acks held for a flush go before the cancel puts their tasks back */
	if (w->n_later != 0)
		tw_worker_flush_acks(w);
	/* given up while the subscribe had no answer: the engine may have taken
	 * it (the answer lost or late), and would otherwise keep what it
	 * delivered until the consumer's silence; one cancel, not awaited */
	if (w->opening && !w->subscribed && !w->refused && w->fd >= 0)
		send_id_message(w, true);
	if (w->subscribed && w->fd >= 0) {
		/* answers to acks still pending first (bounded: 1 s), then cancel */
		uint64_t until = tw_monotonic_ms() + 1000;
		bool pending = true;

		while (pending && tw_monotonic_ms() < until) {
			pthread_mutex_lock(&w->mu);
			pending = w->pend.n != 0;
			pthread_mutex_unlock(&w->mu);
			if (pending) {
				tw_wk_resend_acks(w);
				receive(w, 20);
			}
		}
		/* the answer says the engine has put back what this consumer had
		 * unacked: once close returns, those tasks are in their queues
		 * again (bounded: three sends, 100 ms apart) */
		w->cancelling = true;
		for (int attempt = 0; attempt < 3 && !w->cancel_answered; attempt++) {
			uint64_t until_c = tw_monotonic_ms() + 100;

			send_id_message(w, true);
			while (!w->cancel_answered && tw_monotonic_ms() < until_c)
				receive(w, 10);
		}
	}
	tw_wk_free(w);
}

void
tw_wk_free(struct tw_worker *w)
{
	if (w->set != NULL)
		tw_wk_set_leave(w->set, w);
	for (uint32_t i = 0; i < w->pend.cap; i++)
		free(w->pend.slot[i].bytes);
	tw_tag_table_free(&w->pend);
	tw_tag_table_free(&w->run);
	free(w->later);
	for (size_t i = 0; i < w->n_backlog; i++)
		tw_delivery_free(w->backlog[i]);
	free(w->backlog);
	for (size_t i = 0; i < w->n_queues; i++)
		free(w->queues[i]);
	free(w->queues);
	if (w->set == NULL) {
		if (w->fd >= 0)
			close(w->fd);
		tw_frag_rx_free(w->frx);
		free(w->recvbuf);
	}
	pthread_mutex_destroy(&w->mu);
	tw_cookie_jar_destroy(&w->own_jar);
	if (w->key != NULL)
		explicit_bzero(w->key, sizeof(*w->key));
	free(w->key);
	free(w);
}

int
tw_worker_fd(const struct tw_worker *w)
{
	return w->fd;
}

void
tw_worker_granted(const struct tw_worker *w, uint32_t *prefetch, uint32_t *lease_ms,
		  uint32_t *heartbeat_ms)
{
	*prefetch = w->g_prefetch;
	*lease_ms = w->g_lease_ms;
	*heartbeat_ms = w->g_heartbeat_ms;
}

int
tw_worker_set_prefetch(struct tw_worker *w, uint32_t prefetch)
{
	if (prefetch == 0)
		return -EINVAL;
	__atomic_store_n(&w->prefetch, prefetch, __ATOMIC_RELAXED);
	/* resent (by the heartbeat thread) up to this many beats while unanswered */
	__atomic_store_n(&w->change_left, 5, __ATOMIC_RELAXED);
	return send_subscribe(w);
}

int
tw_worker_poll(struct tw_worker *w, int timeout_ms, struct tw_delivery **out, size_t max)
{
	uint64_t start = tw_monotonic_ms();
	size_t n = 0;
	int ret;

	if (w->set != NULL) {
		/* the set reads and resends for it: hand out what it received */
		if (w->n_backlog == 0 && timeout_ms != 0) {
			ret = tw_wk_set_receive(w->set, timeout_ms < 0 ? 1000 : timeout_ms);
			if (ret < 0)
				return ret;
		}
		n = w->n_backlog < max ? w->n_backlog : max;
		if (n == 0)
			return 0; /* backlog may be NULL yet */
		for (size_t i = 0; w->extend && i < n; i++)
			run_add(w, w->backlog[i]);
		memcpy(out, w->backlog, n * sizeof(*out));
		memmove(w->backlog, w->backlog + n, (w->n_backlog - n) * sizeof(*w->backlog));
		w->n_backlog -= n;
		return (int)n;
	}
	for (;;) {
		int wait;

		if (w->cookie_retry)
			tw_wk_cookie_retry(w);
		wait = tw_wk_resend_acks(w);
		if (w->resubscribe) {
			w->resubscribe = false;
			w->stats.resubscribes++;
			send_subscribe(w);
		}
		if (w->n_backlog != 0 || timeout_ms == 0) {
			wait = 0;
		} else if (timeout_ms > 0) {
			uint64_t spent = tw_monotonic_ms() - start;

			if (spent >= (uint64_t)timeout_ms)
				wait = 0;
			else if ((uint64_t)wait > (uint64_t)timeout_ms - spent)
				wait = (int)((uint64_t)timeout_ms - spent);
		}
		ret = receive(w, wait);
		if (ret < 0)
			return ret;
		while (n < max && w->n_backlog != 0) {
			if (w->extend)
				run_add(w, w->backlog[0]);
			out[n++] = w->backlog[0];
			memmove(w->backlog, w->backlog + 1, (w->n_backlog - 1) * sizeof(*w->backlog));
			w->n_backlog--;
		}
		if (n != 0 || timeout_ms == 0 ||
		    (timeout_ms > 0 && tw_monotonic_ms() - start >= (uint64_t)timeout_ms))
			return (int)n;
	}
}

/* The Ack message of a (borrowed: points into a). @return 0 or -EINVAL. */
static int
ack_message(uint64_t tag, const struct tw_ack *a, Taskwire__Ack *m)
{
	if (a->outcome < TW_OUTCOME_SUCCESS || a->outcome > TW_OUTCOME_REJECT || tag == 0)
		return -EINVAL;
	m->delivery_tag = tag;
	m->outcome = (Taskwire__AckOutcome)a->outcome;
	m->value.data = (uint8_t *)a->value;
	m->value.len = a->value != NULL ? a->value_len : 0;
	m->error = (char *)(a->error != NULL ? a->error : "");
	m->countdown_ms = a->countdown_ms;
	m->runtime_ns = a->runtime_ns;
	m->requeue = a->requeue;
	m->max_retries = a->max_retries;
	return 0;
}

/* An ack of tag went. A final one's frame (copy, len: taken; its ack field
 * from body_off, 0: none to share a datagram) is kept to resend until the
 * engine answers; without memory, or a second ack of one tag, it is sent
 * once, not kept (the lease still guards the task). @return whether it is kept. */
static bool
pend_add(struct tw_worker *w, uint64_t tag, bool final, uint8_t *copy, uint32_t len,
	 uint32_t body_off)
{
	struct tw_tag_entry *p;
	bool kept = false;

	pthread_mutex_lock(&w->mu);
	w->stats.acks_sent++;
	run_acked(w, tag, final);
	if (final && copy != NULL && tw_tag_find(&w->pend, tag) == NULL &&
	    (p = tw_tag_add(&w->pend, tag)) != NULL) {
		if (w->set != NULL)
			tw_wk_set_tag(w->set, tag, w, true);
		p->due_ms = tw_monotonic_ms() + ACK_RESEND_MS;
		p->attempts = 1;
		p->len = len;
		p->body_off = body_off;
		p->bytes = copy;
		if (p->due_ms < w->pend_next_ms)
			w->pend_next_ms = p->due_ms;
		copy = NULL;
		kept = true;
	} else {
		w->n_untracked++;
	}
	pthread_mutex_unlock(&w->mu);
	free(copy);
	return kept;
}

/* An ack, and with cancel the subscription's end in the same datagram. */
static int
send_ack(struct tw_worker *w, uint64_t tag, const struct tw_ack *a, bool cancel)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Cancel cm = TASKWIRE__CANCEL__INIT;
	Taskwire__Ack m = TASKWIRE__ACK__INIT;
	Taskwire__Ack *list[1] = { &m };
	bool final = a->outcome != TW_OUTCOME_PROGRESS;
	uint8_t *copy = NULL;
	uint32_t len = 0, body_off = 0;
	int ret;

	if (ack_message(tag, a, &m) != 0)
		return -EINVAL;
	/* acks held for a flush go first: the engine takes a consumer's frames in order */
	if (w->n_later != 0)
		tw_worker_flush_acks(w);
	f.n_acks = 1;
	f.acks = list;
	if (cancel) {
		cm.consumer_id = w->id;
		f.cancel = &cm;
	}
	ret = send_frame(w, &f, final ? &copy : NULL, &len);
	if (ret == -EMSGSIZE)
		return -EINVAL;
	if (copy != NULL && !cancel) {
		/* the frame is its header and then this ack's field: resent in a
		 * datagram shared with others */
		size_t body = taskwire__ack__get_packed_size(&m);
		size_t field = 1 + varint_size(body) + body;

		if (field < len)
			body_off = len - (uint32_t)field;
	}
	pend_add(w, tag, final, copy, len, body_off);
	return ret;
}

int
tw_worker_ack_batched(struct tw_worker *w, uint64_t tag, const struct tw_ack *a)
{
	Taskwire__Ack m = TASKWIRE__ACK__INIT;
	uint8_t hdr[HEADER_MAX], *copy, *dst;
	size_t body, field, hlen;
	uint32_t need;

	if (ack_message(tag, a, &m) != 0)
		return -EINVAL;
	body = taskwire__ack__get_packed_size(&m);
	/* the Frame.acks field: its tag, its length (varint), the message */
	field = 1 + 1 + (body >= 128) + (body >= 16384) + body;
	/* progress (never resent) and what needs a datagram of its own go now */
	if (a->outcome == TW_OUTCOME_PROGRESS || body >= (1u << 21) ||
	    HEADER_MAX + field > BATCH_BYTES)
		return send_ack(w, tag, a, false);
	if (w->n_later == TW_WK_LATER_MAX)
		tw_worker_flush_acks(w);
	need = w->later_off[w->n_later] + (uint32_t)field;
	if (need > w->later_cap) {
		uint32_t cap = w->later_cap != 0 ? w->later_cap : 4096;
		uint8_t *b;

		while (cap < need)
			cap *= 2;
		b = realloc(w->later, cap);
		if (b == NULL)
			return send_ack(w, tag, a, false);
		w->later = b;
		w->later_cap = cap;
	}
	dst = w->later + w->later_off[w->n_later];
	*dst++ = (F_FRAME_ACKS << 3) | WT_LEN;
	for (size_t v = body; ; v >>= 7) {
		*dst++ = (uint8_t)(v < 128 ? v : (v & 0x7f) | 0x80);
		if (v < 128)
			break;
	}
	taskwire__ack__pack(&m, dst);
	/* what is resent until answered: a frame of this ack alone */
	hlen = pack_header(w, hdr);
	copy = malloc(hlen + field);
	if (copy != NULL) {
		memcpy(copy, hdr, hlen);
		memcpy(copy + hlen, w->later + w->later_off[w->n_later], field);
	}
	w->later_off[++w->n_later] = need;
	if (!pend_add(w, tag, true, copy, (uint32_t)(hlen + field), (uint32_t)hlen))
		w->later_untracked = true; /* only the flush will send it */
	return 0;
}

int
tw_worker_flush_acks(struct tw_worker *w)
{
	uint8_t frame[BATCH_BYTES];
	uint32_t i = 0;
	int ret = 0;

	/* as many acks per datagram as fit, in order */
	while (i < w->n_later) {
		size_t len = pack_header(w, frame);
		int r;

		while (i < w->n_later &&
		       len + (w->later_off[i + 1] - w->later_off[i]) <= sizeof(frame)) {
			memcpy(frame + len, w->later + w->later_off[i],
			       w->later_off[i + 1] - w->later_off[i]);
			len += w->later_off[i + 1] - w->later_off[i];
			i++;
		}
		r = send_packed(w, frame, len);
		if (r < 0 && ret == 0)
			ret = r; /* resent from the table like a lost datagram */
	}
	w->n_later = 0;
	w->later_off[0] = 0;
	w->later_untracked = false;
	return ret;
}

int
tw_worker_ack(struct tw_worker *w, uint64_t tag, const struct tw_ack *a)
{
	return send_ack(w, tag, a, false);
}

/*
 * A final ack and the subscription's end in one datagram, then the
 * engine's answers to both (bounded: 1 s). @return what send_ack() did;
 * *answered: both were answered.
 */
static int
ack_and_cancel(struct tw_worker *w, uint64_t tag, const struct tw_ack *a, bool *answered)
{
	uint64_t until;
	bool pending = true;
	int ret;

	if (w->hb_started) {
		/* release: pairs with the acquire load in heartbeat_main */
		__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
		pthread_join(w->hb, NULL);
		w->hb_started = false;
	}
	/* the engine takes the ack, then the cancel, from one frame: nothing
	 * is delivered in between */
	w->cancelling = true;
	ret = send_ack(w, tag, a, true);
	until = tw_monotonic_ms() + 1000;
	while ((pending || !w->cancel_answered) && tw_monotonic_ms() < until) {
		tw_wk_resend_acks(w);
		receive(w, 10);
		pthread_mutex_lock(&w->mu);
		pending = w->pend.n != 0;
		pthread_mutex_unlock(&w->mu);
	}
	*answered = !pending && w->cancel_answered;
	return ret;
}

static bool
final_outcome(uint64_t tag, const struct tw_ack *a)
{
	return a->outcome >= TW_OUTCOME_SUCCESS && a->outcome <= TW_OUTCOME_REJECT &&
	       a->outcome != TW_OUTCOME_PROGRESS && tag != 0;
}

int
tw_worker_close_acking(struct tw_worker *w, uint64_t tag, const struct tw_ack *a)
{
	bool answered;
	int ret;

	if (!final_outcome(tag, a)) {
		tw_worker_close(w);
		return -EINVAL;
	}
	if (w->set != NULL) {
		tw_wk_set_close(w->set, w, tag, a, NULL);
		tw_wk_set_close_wait(w->set, w);
		return 0;
	}
	ret = ack_and_cancel(w, tag, a, &answered);
	tw_worker_close(w);
	return ret;
}

int
tw_worker_ack_cancel(struct tw_worker *w, uint64_t tag, const struct tw_ack *a)
{
	bool answered;
	int ret;

	if (!final_outcome(tag, a))
		return -EINVAL;
	ret = ack_and_cancel(w, tag, a, &answered);
	return ret != 0 ? ret : answered ? 0 : -ETIMEDOUT;
}

void
tw_worker_get_stats(const struct tw_worker *w, struct tw_worker_stats *s)
{
	pthread_mutex_lock((pthread_mutex_t *)&w->mu);
	*s = w->stats;
	s->acks_pending = w->pend.n;
	pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
}

const char *
tw_worker_last_refusal(const struct tw_worker *w)
{
	return w->last_refusal;
}

void *
tw_worker_user(const struct tw_worker *w)
{
	return w->user;
}

void
tw_worker_close_async(struct tw_worker *w)
{
	if (w == NULL)
		return;
	if (w->set == NULL)
		tw_worker_close(w);
	else
		tw_wk_set_close(w->set, w, 0, NULL, NULL);
}

int
tw_worker_close_async_told(struct tw_worker *w, void *told)
{
	if (w->set != NULL)
		return tw_wk_set_close(w->set, w, 0, NULL, told);
	tw_worker_close(w);
	return -EINVAL;
}

void
tw_worker_close_acking_async(struct tw_worker *w, uint64_t tag, const struct tw_ack *a)
{
	if (w->set == NULL || !final_outcome(tag, a))
		tw_worker_close_acking(w, tag, a);
	else
		tw_wk_set_close(w->set, w, tag, a, NULL);
}

int
tw_wk_send_subscribe(struct tw_worker *w)
{
	return send_subscribe(w);
}

int
tw_wk_send_id_message(struct tw_worker *w, bool cancel)
{
	return send_id_message(w, cancel);
}

int
tw_wk_send_ack(struct tw_worker *w, uint64_t tag, const struct tw_ack *a, bool cancel)
{
	return send_ack(w, tag, a, cancel);
}

int
tw_wk_send_acks_cancel(struct tw_worker *w)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Cancel c = TASKWIRE__CANCEL__INIT;
	Taskwire__Frame **kept = NULL;
	Taskwire__Ack **acks = NULL;
	size_t n_kept = 0, n_acks = 0;
	int ret;

	/* acks held for a flush are in the table too, unless it was full */
	if (w->n_later != 0 && w->later_untracked)
		tw_worker_flush_acks(w);
	w->n_later = 0;
	w->later_off[0] = 0;
	pthread_mutex_lock(&w->mu);
	if (w->pend.n != 0) {
		kept = calloc(w->pend.n, sizeof(*kept));
		acks = calloc(w->pend.n, sizeof(*acks));
	}
	for (uint32_t i = 0; kept != NULL && acks != NULL && i < w->pend.cap; i++) {
		struct tw_tag_entry *p = &w->pend.slot[i];
		Taskwire__Frame *u;

		if (p->tag == 0 || n_kept == w->pend.n)
			continue;
		u = taskwire__frame__unpack(NULL, p->len, p->bytes);
		if (u == NULL)
			continue;
		kept[n_kept++] = u;
		if (u->n_acks == 1)
			acks[n_acks++] = u->acks[0];
		/* sent again: a stale answer to it now means it was taken */
		p->due_ms = tw_monotonic_ms() + ACK_RESEND_MS;
		p->attempts++;
		if (p->due_ms < w->pend_next_ms)
			w->pend_next_ms = p->due_ms;
	}
	pthread_mutex_unlock(&w->mu);
	c.consumer_id = w->id;
	f.cancel = &c;
	f.n_acks = n_acks;
	f.acks = acks;
	w->cancelling = true;
	ret = send_frame(w, &f, NULL, NULL);
	/* too many for one frame: the cancel alone, the acks resent one by one */
	if (ret == -EMSGSIZE)
		ret = send_id_message(w, true);
	for (size_t i = 0; i < n_kept; i++)
		taskwire__frame__free_unpacked(kept[i], NULL);
	free(kept);
	free(acks);
	return ret;
}
