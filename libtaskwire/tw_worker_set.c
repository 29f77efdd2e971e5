/*
 * Many workers on one socket (include/taskwire/worker.h, "many workers on
 * one socket"): a process carrying thousands of consumers (an AMQP front
 * door) would otherwise hold a socket and a heartbeat thread for each.
 *
 * The engine keys a consumer by its id and checks that its frames come
 * from the address and port it subscribed from, so any number of
 * consumers may share one: the set reads the shared socket and hands each
 * member what is its own (consumer replies by consumer id, deliveries by
 * the consumer id the engine writes in each, ack answers by the delivery
 * tag of the ack awaiting them). One cookie serves them all (the engine's
 * cookie is per address and port), and one reassembler.
 *
 * No thread: the caller's event loop calls tw_worker_set_poll() when the
 * socket is readable and at tw_worker_set_next_ms(); each pass past the
 * tick sends the heartbeats that are due, resends unanswered acks, and
 * moves closes on. A close never waits in the caller's loop: the member
 * goes onto the closing list, its acks' answers and then its cancel's
 * answer are awaited there (bounded), and it is freed when they come or
 * when the bound passes (counted).
 *
 * Owns: the socket, the cookie, the reassembler, the members (closing
 * ones too), the maps from consumer id and from delivery tag to member.
 * Threads: one (the caller's loop); members are used by that thread only.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "tw_clock.h"
#include "tw_frag_client.h"
#include "tw_worker_priv.h"

#define TICK_MIN_MS 10         /* the timer's finest step */
#define TICK_MAX_MS 100        /* heartbeats and resends are due to this precision */
#define CLOSE_STEP_MS 20       /* closes under way are looked at this often */
#define CLOSE_MAX_MS 1000      /* a close waits this long for its cancel's and acks' answers */
/* an unanswered cancel goes again this often until the bound: a storm of
 * closes sends a burst the engine's port may not take whole */
#define CANCEL_RESEND_MS 100
#define CLOSE_WAIT_MS 2000     /* tw_worker_close() of a member: the most it waits */

struct tw_worker_set *
tw_worker_set_new(const char *engine, char *err, size_t errlen)
{
	struct tw_worker_set *s;
	struct sockaddr_in a;
	int saved;

	if (err != NULL && errlen != 0)
		err[0] = '\0';
	if (tw_client_parse_engine(engine, &a) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "bad engine address");
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	tw_cookie_jar_init(&s->jar);
	s->frx = tw_frag_rx_new(TW_FRAG_LIMIT, 5000);
	if (s->frx == NULL || tw_idmap_init(&s->by_id, 1024) != 0 ||
	    tw_idmap_init(&s->by_tag, 1024) != 0) {
		saved = ENOMEM;
		goto fail;
	}
	s->fd = tw_wk_socket(&a);
	if (s->fd < 0) {
		saved = -s->fd;
		goto fail;
	}
	s->next_tick_ms = tw_monotonic_ms() + TICK_MAX_MS;
	s->next_close_ms = UINT64_MAX;
	return s;

fail:
	if (err != NULL)
		snprintf(err, errlen, "%s", strerror(saved));
	tw_frag_rx_free(s->frx);
	tw_idmap_free(&s->by_id);
	tw_idmap_free(&s->by_tag);
	tw_cookie_jar_destroy(&s->jar);
	free(s);
	errno = saved;
	return NULL;
}

int
tw_worker_set_fd(const struct tw_worker_set *s)
{
	return s->fd;
}

/* --- the lists: members or closing (set_prev/set_next), ready (ready_prev/ready_next) --- */

static void
list_add(struct tw_worker **head, struct tw_worker *w)
{
	w->set_prev = NULL;
	w->set_next = *head;
	if (*head != NULL)
		(*head)->set_prev = w;
	*head = w;
}

static void
list_del(struct tw_worker **head, struct tw_worker *w)
{
	if (w->set_prev != NULL)
		w->set_prev->set_next = w->set_next;
	else
		*head = w->set_next;
	if (w->set_next != NULL)
		w->set_next->set_prev = w->set_prev;
	w->set_prev = w->set_next = NULL;
}

/* w has something for its caller: listed once until tw_worker_set_poll() hands it out. */
static void
ready_mark(struct tw_worker_set *s, struct tw_worker *w)
{
	if (w->ready || w->close != TW_WK_OPEN)
		return;
	w->ready = true;
	w->ready_next = NULL;
	w->ready_prev = s->ready_tail;
	if (s->ready_tail != NULL)
		s->ready_tail->ready_next = w;
	else
		s->ready_head = w;
	s->ready_tail = w;
}

static void
ready_unlink(struct tw_worker_set *s, struct tw_worker *w)
{
	if (!w->ready)
		return;
	if (w->ready_prev != NULL)
		w->ready_prev->ready_next = w->ready_next;
	else
		s->ready_head = w->ready_next;
	if (w->ready_next != NULL)
		w->ready_next->ready_prev = w->ready_prev;
	else
		s->ready_tail = w->ready_prev;
	w->ready = false;
	w->ready_prev = w->ready_next = NULL;
}

int
tw_wk_set_join(struct tw_worker_set *s, struct tw_worker *w)
{
	if (tw_idmap_get(&s->by_id, w->id) != NULL)
		return -EEXIST;
	if (tw_idmap_put(&s->by_id, w->id, w) != 0)
		return -ENOMEM;
	w->set = s;
	w->fd = s->fd;
	w->jar = &s->jar;
	w->frx = s->frx;
	list_add(&s->members, w);
	s->n_members++;
	return 0;
}

void
tw_wk_set_leave(struct tw_worker_set *s, struct tw_worker *w)
{
	if (tw_idmap_get(&s->by_id, w->id) == w)
		tw_idmap_del(&s->by_id, w->id);
	for (uint32_t i = 0; i < w->pend.cap; i++)
		if (w->pend.slot[i].tag != 0 && tw_idmap_get(&s->by_tag, w->pend.slot[i].tag) == w)
			tw_idmap_del(&s->by_tag, w->pend.slot[i].tag);
	ready_unlink(s, w);
	if (w->close != TW_WK_OPEN) {
		list_del(&s->closing, w);
		s->n_closing--;
	} else {
		list_del(&s->members, w);
		s->n_members--;
	}
}

void
tw_wk_set_tag(struct tw_worker_set *s, uint64_t tag, struct tw_worker *w, bool add)
{
	if (add) {
		/* without memory its answer goes unrouted: resent, then given up (the lease decides) */
		tw_idmap_put(&s->by_tag, tag, w);
		/* resent if unanswered: the timer looks again by then */
		if (s->next_tick_ms > tw_monotonic_ms() + TICK_MAX_MS)
			s->next_tick_ms = tw_monotonic_ms() + TICK_MAX_MS;
	} else if (tw_idmap_get(&s->by_tag, tag) == w) {
		tw_idmap_del(&s->by_tag, tag);
	}
}

/* --- reading --- */

/* The member consuming queue q: only for an engine that names no consumer in its deliveries. */
static struct tw_worker *
member_of_queue(struct tw_worker_set *s, const char *q)
{
	for (struct tw_worker *w = s->members; w != NULL && q != NULL; w = w->set_next)
		for (size_t i = 0; i < w->n_queues; i++)
			if (strcmp(w->queues[i], q) == 0)
				return w;
	return NULL;
}

static void
set_frame(struct tw_worker_set *s, const Taskwire__Frame *f)
{
	/* refused whole for want of a cookie: every member sends again what it may have
	 * carried (after the batch: once, not once per refused frame) */
	tw_cookie_jar_take(&s->jar, f);
	if (tw_cookie_jar_asked(f)) {
		s->cookie_asked = true;
		s->stats.cookie_retries++;
	}
	/* a whole frame refused before it was read (--keys, a bad MAC): the
	 * subscriptions waiting for their answer end */
	for (size_t i = 0; i < f->n_confirms; i++) {
		const Taskwire__Confirm *c = f->confirms[i];

		if (c->task_id == 0 && !c->ack && c->reason == TASKWIRE__NACK_REASON__NACK_ACCESS_REFUSED) {
			s->frame_refused = true;
			snprintf(s->refusal, sizeof(s->refusal), "%s",
				 c->detail != NULL ? c->detail : "access refused");
		}
	}
	for (size_t i = 0; i < f->n_consumers; i++) {
		const Taskwire__ConsumerReply *r = f->consumers[i];
		struct tw_worker *w = tw_idmap_get(&s->by_id, r->consumer_id);

		if (w == NULL) {
			s->stats.answers_unowned++;
			continue;
		}
		/* closing: only its cancel's answer matters */
		if (w->close != TW_WK_OPEN && !w->cancelling)
			continue;
		tw_wk_consumer_reply(w, r);
		if (w->opening && (w->subscribed || w->refused))
			ready_mark(s, w);
		if (w->resubscribe && w->close == TW_WK_OPEN) {
			w->resubscribe = false;
			w->stats.resubscribes++;
			tw_wk_send_subscribe(w);
		}
	}
	for (size_t i = 0; i < f->n_deliveries; i++) {
		const Taskwire__Deliver *d = f->deliveries[i];
		struct tw_worker *w = d->consumer_id != 0 ? tw_idmap_get(&s->by_id, d->consumer_id)
							  : member_of_queue(s, d->queue);

		if (w == NULL) {
			s->stats.deliveries_unowned++;
			continue;
		}
		/* a closing member's: its cancel gives it back to the queue */
		if (w->close != TW_WK_OPEN)
			continue;
		tw_wk_delivered(w, d);
		ready_mark(s, w);
	}
	for (size_t i = 0; i < f->n_ack_replies; i++) {
		struct tw_worker *w = tw_idmap_get(&s->by_tag, f->ack_replies[i]->delivery_tag);

		if (w != NULL)
			tw_wk_ack_answered(w, f->ack_replies[i]);
		else
			s->stats.answers_unowned++; /* answered already, or an untracked ack's */
	}
}

static void
set_frame_of(void *arg, const Taskwire__Frame *f)
{
	set_frame(arg, f);
}

/* What the batch's frames said for every member. */
static void
after_batch(struct tw_worker_set *s)
{
	if (s->cookie_asked) {
		s->cookie_asked = false;
		for (struct tw_worker *w = s->members; w != NULL; w = w->set_next)
			tw_wk_cookie_retry(w);
		for (struct tw_worker *w = s->closing; w != NULL; w = w->set_next) {
			tw_wk_cookie_retry(w);
			w->cancel_resend_ms = 0; /* its cancel may have been refused: again now */
		}
		s->next_tick_ms = 0;
	}
	if (s->frame_refused) {
		s->frame_refused = false;
		for (struct tw_worker *w = s->members; w != NULL; w = w->set_next) {
			if (!w->opening || w->subscribed)
				continue;
			w->refused = true;
			snprintf(w->refusal, sizeof(w->refusal), "%s", s->refusal);
			ready_mark(s, w);
		}
	}
}

int
tw_wk_set_receive(struct tw_worker_set *s, int timeout_ms)
{
	int ret = tw_wk_receive_frames(s->fd, s->recvbuf, s->frx, timeout_ms, set_frame_of, s,
				       &s->stats.bad_datagrams);

	after_batch(s);
	return ret;
}

/* --- the timer --- */

/* Heartbeats due, acks to resend, opens whose time came (their caller resends or gives up). */
static void
tick(struct tw_worker_set *s, uint64_t now)
{
	uint64_t due = now + TICK_MAX_MS;

	for (struct tw_worker *w = s->members; w != NULL; w = w->set_next) {
		if (w->opening) {
			uint64_t at = tw_worker_open_next_ms(w);

			if (at <= now || w->cookie_retry)
				ready_mark(s, w);
			else if (at < due)
				due = at;
			continue;
		}
		if (!w->subscribed)
			continue;
		if (w->pend.n != 0) {
			uint64_t at = now + (uint64_t)tw_wk_resend_acks(w);

			if (at < due)
				due = at;
		}
		if (w->extend) {
			tw_wk_extend_leases(w, now);
			if (w->run_next_ms < due)
				due = w->run_next_ms;
		}
		if (now >= w->next_hb_ms) {
			uint32_t left = __atomic_load_n(&w->change_left, __ATOMIC_RELAXED);

			/* a window change unanswered: the subscription goes in place of the beat */
			if (left != 0) {
				__atomic_store_n(&w->change_left, left - 1, __ATOMIC_RELAXED);
				tw_wk_send_subscribe(w);
			} else {
				tw_wk_send_id_message(w, false);
			}
			w->stats.heartbeats++;
			s->stats.heartbeats++;
			w->next_hb_ms = now + w->g_heartbeat_ms;
		}
		if (w->next_hb_ms < due)
			due = w->next_hb_ms;
	}
	s->next_tick_ms = due < now + TICK_MIN_MS ? now + TICK_MIN_MS : due;
}

/* Room for one more close to be told of, kept from now until it ends (a
 * caller waiting to be told must be, whatever memory there is then).
 * @return 0 or -ENOMEM. */
static int
told_keep(struct tw_worker_set *s)
{
	if (s->n_told + s->told_kept == s->cap_told) {
		size_t cap = s->cap_told != 0 ? s->cap_told * 2 : 64;
		struct tw_wk_told *t = realloc(s->told, cap * sizeof(*t));

		if (t == NULL)
			return -ENOMEM;
		s->told = t;
		s->cap_told = cap;
	}
	s->told_kept++;
	return 0;
}

/* A close to be told of has ended (its room was kept). */
static void
told_push(struct tw_worker_set *s, void *told, bool answered)
{
	if (told == NULL)
		return;
	s->told_kept--;
	s->told[s->n_told++] = (struct tw_wk_told){ told, answered };
}

/* A close ends: answered, or not (counted); w is freed. */
static void
close_done(struct tw_worker_set *s, struct tw_worker *w, bool answered)
{
	if (answered)
		s->stats.closes_answered++;
	else
		s->stats.close_timeouts++;
	told_push(s, w->close_told, answered);
	tw_wk_free(w);
}

/* Move every close under way on: the cancel sent again until answered, acks resent until
 * answered, up to the close's bound. */
static void
close_progress(struct tw_worker_set *s, uint64_t now)
{
	struct tw_worker *w, *next;

	for (w = s->closing; w != NULL; w = next) {
		next = w->set_next; /* w may be freed */
		if (w->cancel_answered && w->pend.n == 0) {
			close_done(s, w, true);
			continue;
		}
		if (now >= w->close_deadline_ms) {
			close_done(s, w, w->cancel_answered);
			continue;
		}
		if (w->pend.n != 0)
			tw_wk_resend_acks(w);
		if (!w->cancel_answered && now >= w->cancel_resend_ms) {
			tw_wk_send_id_message(w, true);
			w->cancel_sends++;
			w->cancel_resend_ms = now + CANCEL_RESEND_MS;
		}
	}
	s->next_close_ms = s->closing != NULL ? now + CLOSE_STEP_MS : UINT64_MAX;
}

int
tw_wk_set_close(struct tw_worker_set *s, struct tw_worker *w, uint64_t tag,
		const struct tw_ack *a, void *told)
{
	uint64_t now = tw_monotonic_ms();
	int ret = 0;

	if (told != NULL && told_keep(s) != 0) {
		told = NULL;
		ret = -ENOMEM;
	}

	ready_unlink(s, w);
	w->user = NULL;
	if (!w->subscribed) {
		if (w->n_later != 0)
			tw_worker_flush_acks(w);
		/* given up while the subscribe had no answer: the engine may have
		 * taken it (the answer lost or late); one cancel, not awaited */
		if (w->opening && !w->refused)
			tw_wk_send_id_message(w, true);
		told_push(s, told, false);
		tw_wk_free(w);
		return ret;
	}
	w->close_told = told;
	list_del(&s->members, w);
	s->n_members--;
	list_add(&s->closing, w);
	s->n_closing++;
	w->close = TW_WK_CLOSE_CANCEL;
	/* the last ack joins the others awaiting answers: all go with the cancel */
	if (a != NULL)
		tw_worker_ack_batched(w, tag, a);
	/* now, not after the acks' answers: what the caller does next (a publish
	 * to the same queue) must not reach the engine before the cancel */
	tw_wk_send_acks_cancel(w);
	w->cancel_sends = 1;
	w->cancel_resend_ms = now + CANCEL_RESEND_MS;
	w->close_deadline_ms = now + CLOSE_MAX_MS;
	s->next_close_ms = now + CLOSE_STEP_MS;
	return ret;
}

void
tw_wk_set_close_wait(struct tw_worker_set *s, struct tw_worker *w)
{
	uint64_t id = w->id, until = tw_monotonic_ms() + CLOSE_WAIT_MS;

	if (w->close == TW_WK_OPEN)
		tw_wk_set_close(s, w, 0, NULL, NULL);
	/* w is freed once it is no longer the set's under its id */
	while (tw_idmap_get(&s->by_id, id) == w && tw_monotonic_ms() < until) {
		tw_wk_set_receive(s, 10);
		close_progress(s, tw_monotonic_ms());
	}
	if (tw_idmap_get(&s->by_id, id) == w)
		close_done(s, w, false);
}

size_t
tw_worker_set_poll(struct tw_worker_set *s, void **ready, size_t max)
{
	uint64_t now;
	size_t n = 0;

	tw_wk_set_receive(s, 0);
	now = tw_monotonic_ms();
	if (now >= s->next_tick_ms)
		tick(s, now);
	if (s->closing != NULL && now >= s->next_close_ms)
		close_progress(s, now);
	while (n < max && s->ready_head != NULL) {
		struct tw_worker *w = s->ready_head;

		ready_unlink(s, w);
		ready[n++] = w->user != NULL ? w->user : w;
	}
	return n;
}

size_t
tw_worker_set_closed(struct tw_worker_set *s, void **told, bool *answered, size_t max)
{
	size_t n = s->n_told < max ? s->n_told : max;

	for (size_t i = 0; i < n; i++) {
		told[i] = s->told[i].told;
		if (answered != NULL)
			answered[i] = s->told[i].answered;
	}
	/* s->told is NULL until a first close was told */
	if (n != 0 && s->n_told > n)
		memmove(s->told, s->told + n, (s->n_told - n) * sizeof(*s->told));
	s->n_told -= n;
	return n;
}

uint64_t
tw_worker_set_next_ms(const struct tw_worker_set *s)
{
	uint64_t at = s->members != NULL ? s->next_tick_ms : UINT64_MAX;

	if (s->ready_head != NULL || s->n_told != 0)
		return 0;
	return s->next_close_ms < at ? s->next_close_ms : at;
}

void
tw_worker_set_get_stats(const struct tw_worker_set *s, struct tw_worker_set_stats *st)
{
	*st = s->stats;
	st->members = s->n_members;
	st->closing = s->n_closing;
}

void
tw_worker_set_free(struct tw_worker_set *s, int drain_ms)
{
	uint64_t until;

	if (s == NULL)
		return;
	until = tw_monotonic_ms() + (uint64_t)(drain_ms > 0 ? drain_ms : 0);
	while (s->closing != NULL && tw_monotonic_ms() < until) {
		tw_wk_set_receive(s, 10);
		close_progress(s, tw_monotonic_ms());
	}
	while (s->closing != NULL)
		close_done(s, s->closing, false);
	/* not cancelled: the engine drops them when they fall silent */
	while (s->members != NULL)
		tw_wk_free(s->members);
	close(s->fd);
	tw_frag_rx_free(s->frx);
	tw_idmap_free(&s->by_id);
	tw_idmap_free(&s->by_tag);
	tw_cookie_jar_destroy(&s->jar);
	free(s->told);
	free(s);
}
