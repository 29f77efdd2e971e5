/*
 * The exchange and queue classes: each method is one or two requests to
 * tw-control (the engine's broker model) over tw-amqp's persistent control
 * connection (amqp_ctl.c). The loop never waits for them: the method's
 * channel is parked until the answer runs its continuation (the -ok, or
 * the exception), and its later frames wait in order behind it, while
 * other channels and connections go on. A method that tw-control leaves
 * unanswered past --control-timeout-ms closes its connection with 541.
 *
 * What AMQP ties to a connection and that the engine does not know
 * (exclusive and auto-delete queues) is kept here, in tw-amqp: such a
 * queue is deleted in the engine when its connection or its last consumer
 * goes, as RabbitMQ does. Queues are declared "remote" (the engine's own
 * lcores never take their tasks), so messages wait for an AMQP consumer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "amqp_server.h"
#include "control.pb-c.h"
#include "tw_ctl_socket.h"

/* The standard exchanges at start, before the loop runs (nothing waits then). */
#define SETUP_TIMEOUT_MS 5000

/* The engine's refusal as an AMQP reply code. */
static uint16_t
code_of(const char *err)
{
	if (strstr(err, "no queue") != NULL || strstr(err, "no exchange") != NULL ||
	    strstr(err, "not found") != NULL || strstr(err, "unknown") != NULL ||
	    strstr(err, "does not exist") != NULL)
		return AMQP_NOT_FOUND;
	return AMQP_PRECONDITION_FAILED;
}

/*
 * Refuse the method of a call: a channel exception with the engine's
 * reason, or a connection exception (541) when tw-control did not answer
 * (unreachable, too slow, connection lost): the client learns why rather
 * than waiting, and reconnects when it wants.
 */
static void
refuse(struct amqp_channel *ch, const struct amqp_ctl_call *call, const char *err)
{
	struct amqp_conn *c = ch->conn;

	if (call->unanswered)
		amqp_conn_error(c, AMQP_INTERNAL_ERROR, call->method, "%s", err);
	else
		amqp_channel_error(ch, c, code_of(err), call->method, "%s", err);
}

/* The method's reply is written only to a channel that still wants it. */
static struct amqp_conn *
answerable(struct amqp_channel *ch)
{
	if (ch == NULL || ch->closing || ch->conn->state != CS_RUNNING)
		return NULL;
	return ch->conn;
}

/* Queue req for ch's method m (ch parks until done). @return false: the connection was closed. */
static bool
ask(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, Taskwire__Control__Request *req,
    struct amqp_ctl_call *call)
{
	int ret;

	if (call == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, m, "out of memory");
		return false;
	}
	ret = amqp_ctl_submit(c->srv, req, call, ch, m);
	if (ret != 0) {
		amqp_conn_error(c, AMQP_INTERNAL_ERROR, m, "request to tw-control: %s",
				strerror(-ret));
		return false;
	}
	return true;
}

int
amqp_model_ask_queue(struct amqp_server *s, const char *name, struct amqp_ctl_call *call,
		     struct amqp_channel *ch, uint32_t m)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueueRef q = TASKWIRE__CONTROL__QUEUE_REF__INIT;

	/* one queue, not the list of all: a Celery client declares often, and
	 * the engine may hold tens of thousands of queues */
	q.name = (char *)name;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_INFO;
	req.queue_info = &q;
	return amqp_ctl_submit(s, &req, call, ch, m);
}

bool
amqp_model_counts_of(const Taskwire__Control__Response *resp, uint64_t *ready,
		     uint32_t *consumers)
{
	if (resp == NULL || resp->n_queues != 1)
		return false;
	if (ready != NULL)
		*ready = resp->queues[0]->ready;
	if (consumers != NULL)
		*consumers = resp->queues[0]->remote_consumers;
	return true;
}

static struct amqp_qmeta *
qmeta_find(struct amqp_server *s, const char *name)
{
	for (struct amqp_qmeta *q = s->qmeta; q != NULL; q = q->next)
		if (strcmp(q->name, name) == 0)
			return q;
	return NULL;
}

static void
qmeta_drop(struct amqp_server *s, const char *name)
{
	for (struct amqp_qmeta **pq = &s->qmeta; *pq != NULL; pq = &(*pq)->next)
		if (strcmp((*pq)->name, name) == 0) {
			struct amqp_qmeta *q = *pq;

			*pq = q->next;
			free(q);
			return;
		}
}

static void
deleted_bg(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
	   const Taskwire__Control__Response *resp, const char *err)
{
	(void)ch;
	if (resp != NULL) {
		if (call->stage == 1)
			s->cnt.queues_expired++;
		return;
	}
	if (code_of(err) != AMQP_NOT_FOUND)
		fprintf(stderr, "tw-amqp: %s queue %s not deleted: %s\n", call->name2, call->name,
			err);
}

/*
 * Delete a queue whose life tw-amqp ends (exclusive, auto-delete,
 * expired; why names which), without waiting: what tw-amqp tracked of it
 * goes now, and a later request (a declare of the same name) is answered
 * after this one, as tw-control's connection is ordered.
 */
static void
delete_bg(struct amqp_server *s, const char *name, const char *why)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueueDelete d = TASKWIRE__CONTROL__QUEUE_DELETE__INIT;
	struct amqp_ctl_call *call = amqp_ctl_call_new(deleted_bg, true);
	char own[256];
	int ret;

	/* name may be the tracked entry's own, dropped here */
	snprintf(own, sizeof(own), "%s", name);
	qmeta_drop(s, own);
	if (call == NULL) {
		fprintf(stderr, "tw-amqp: %s queue %s not deleted: out of memory\n", why, own);
		return;
	}
	snprintf(call->name, sizeof(call->name), "%s", own);
	snprintf(call->name2, sizeof(call->name2), "%s", why);
	call->stage = strcmp(why, "expired") == 0;
	d.name = call->name;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DELETE;
	req.queue_delete = &d;
	ret = amqp_ctl_submit(s, &req, call, NULL, 0);
	if (ret != 0)
		fprintf(stderr, "tw-amqp: %s queue %s not deleted: %s\n", why, own, strerror(-ret));
}

/* The earliest x-expires to look at again is at most at: the loop's wait follows it. */
static void
expiry_at(struct amqp_server *s, uint64_t at)
{
	if (at < s->next_expiry_ms)
		s->next_expiry_ms = at;
}

void
amqp_model_touch(struct amqp_server *s, const char *queue)
{
	struct amqp_qmeta *q = qmeta_find(s, queue);

	if (q == NULL || q->expires_ms == 0)
		return;
	q->last_used_ms = s->now_ms;
	expiry_at(s, s->now_ms + q->expires_ms);
}

/* x-expires: the engine's remote consumers of a queue whose period passed. */
static void
expire_checked(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
	       const Taskwire__Control__Response *resp, const char *err)
{
	struct amqp_qmeta *q = qmeta_find(s, call->name);
	uint32_t others = 0;

	(void)ch;
	(void)err;
	if (q == NULL)
		return; /* deleted meanwhile */
	q->checking = false;
	if (call->unanswered) {
		/* tw-control unreachable: try again in a second */
		expiry_at(s, s->now_ms + 1000);
		return;
	}
	if (resp == NULL) {
		qmeta_drop(s, q->name); /* deleted by someone else */
		return;
	}
	amqp_model_counts_of(resp, NULL, &others);
	if (q->consumers != 0)
		return; /* looked at again when the last one goes */
	if (others != 0 || q->last_used_ms + q->expires_ms > s->now_ms) {
		/* a tw-worker on it keeps it too; or used while asked */
		if (others != 0)
			q->last_used_ms = s->now_ms;
		expiry_at(s, q->last_used_ms + q->expires_ms);
		return;
	}
	delete_bg(s, q->name, "expired");
}

/*
 * x-expires as RabbitMQ: a queue with no consumer, not declared again and
 * not read by basic.get for its expiry period is deleted. Consumers are
 * tw-amqp's and, asked of the engine when the period has passed, any
 * other remote consumer's (a tw-worker on it keeps it too).
 */
void
amqp_model_expire(struct amqp_server *s)
{
	uint64_t soonest = UINT64_MAX;

	for (struct amqp_qmeta *q = s->qmeta; q != NULL; q = q->next) {
		uint64_t due = q->last_used_ms + q->expires_ms;
		struct amqp_ctl_call *call;

		if (q->expires_ms == 0 || q->checking || q->consumers != 0)
			continue; /* with consumers: looked at again when the last one goes */
		if (due > s->now_ms) {
			if (due < soonest)
				soonest = due;
			continue;
		}
		call = amqp_ctl_call_new(expire_checked, true);
		if (call == NULL || (snprintf(call->name, sizeof(call->name), "%s", q->name),
				     amqp_model_ask_queue(s, q->name, call, NULL, 0)) != 0) {
			if (s->now_ms + 1000 < soonest)
				soonest = s->now_ms + 1000;
			continue;
		}
		q->checking = true; /* its answer sets the next time */
	}
	s->next_expiry_ms = soonest;
}

void
amqp_model_free(struct amqp_server *s)
{
	while (s->qmeta != NULL) {
		struct amqp_qmeta *q = s->qmeta;

		s->qmeta = q->next;
		free(q);
	}
}

bool
amqp_model_locked(struct amqp_server *s, const char *queue, uint64_t conn_id)
{
	const struct amqp_qmeta *q = qmeta_find(s, queue);

	return q != NULL && q->owner != 0 && q->owner != conn_id;
}

void
amqp_model_conn_gone(struct amqp_server *s, uint64_t conn_id)
{
	struct amqp_qmeta *q = s->qmeta, *next;

	for (; q != NULL; q = next) {
		next = q->next;
		if (q->owner == conn_id)
			delete_bg(s, q->name, "exclusive");
	}
}

void
amqp_model_consumer(struct amqp_server *s, const char *queue, int d)
{
	struct amqp_qmeta *q = qmeta_find(s, queue);

	if (q == NULL)
		return;
	if (d > 0) {
		q->consumers++;
		q->had_consumer = true;
		return;
	}
	if (q->consumers > 0)
		q->consumers--;
	if (q->consumers == 0 && q->expires_ms != 0) {
		/* unused from now on: its expiry period starts */
		q->last_used_ms = s->now_ms;
		expiry_at(s, s->now_ms + q->expires_ms);
	}
	/* auto-delete: when its last consumer goes (not before it ever had one) */
	if (q->consumers == 0 && q->auto_delete && q->had_consumer)
		delete_bg(s, queue, "auto-delete");
}

/* x-* queue arguments onto the engine's QueueDeclare. @return NULL or what is wrong. */
static const char *
queue_args(const uint8_t *t, uint32_t len, Taskwire__Control__QueueDeclare *q, char *dlx,
	   char *dlk, char *overflow, uint32_t *expires)
{
	uint32_t off = 0;
	struct amqp_value v;
	char key[256];

	while (amqp_table_next(t, len, &off, key, &v)) {
		bool s_ok = v.is_str && v.slen < 256;

		if (strcmp(key, "x-message-ttl") == 0 && v.is_int && v.i >= 0 && v.i <= UINT32_MAX)
			q->message_ttl = (uint32_t)v.i;
		else if (strcmp(key, "x-max-length") == 0 && v.is_int && v.i >= 0 && v.i <= UINT32_MAX)
			q->max_length = (uint32_t)v.i;
		else if (strcmp(key, "x-max-length-bytes") == 0 && v.is_int && v.i >= 0)
			q->max_length_bytes = (uint64_t)v.i;
		else if (strcmp(key, "x-max-priority") == 0 && v.is_int && v.i >= 0 && v.i <= 255)
			q->max_priority = (uint32_t)v.i;
		else if (strcmp(key, "x-dead-letter-exchange") == 0 && s_ok) {
			memcpy(dlx, v.s, v.slen);
			dlx[v.slen] = '\0';
			q->dead_letter_exchange = dlx;
		} else if (strcmp(key, "x-dead-letter-routing-key") == 0 && s_ok) {
			memcpy(dlk, v.s, v.slen);
			dlk[v.slen] = '\0';
			q->has_dead_letter_routing_key = true;
			q->dead_letter_routing_key = dlk;
		} else if (strcmp(key, "x-overflow") == 0 && s_ok) {
			memcpy(overflow, v.s, v.slen);
			overflow[v.slen] = '\0';
			q->overflow = overflow;
		} else if (strcmp(key, "x-expires") == 0) {
			/* as RabbitMQ: a positive number of milliseconds */
			if (!v.is_int || v.i <= 0 || v.i > UINT32_MAX)
				return "invalid x-expires (a positive integer of milliseconds)";
			*expires = (uint32_t)v.i;
		} else if (strcmp(key, "x-queue-type") == 0 || strcmp(key, "x-queue-mode") == 0 ||
			   strcmp(key, "x-ha-policy") == 0) {
			/* accepted: the engine has one queue type */
		} else if (strncmp(key, "x-", 2) == 0) {
			return "unsupported or malformed queue argument";
		}
	}
	return NULL;
}

/* queue.declare's counts: declare-ok (or 404 for a queue that is not there). */
static void
declare_counted(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
		const Taskwire__Control__Response *resp, const char *err)
{
	struct amqp_conn *c = answerable(ch);
	uint64_t ready = 0;
	uint32_t consumers = 0;
	size_t f;

	if (c == NULL)
		return;
	if (call->unanswered) {
		refuse(ch, call, err);
		return;
	}
	if (!amqp_model_counts_of(resp, &ready, &consumers)) {
		amqp_channel_error(ch, c, AMQP_NOT_FOUND, AMQP_QUEUE_DECLARE,
				   "no queue '%s' in vhost '/'", call->name);
		return;
	}
	/* declared again (passive too): its x-expires starts again from the
	 * declare-ok the client sees */
	amqp_model_touch(s, call->name);
	snprintf(ch->last_queue, sizeof(ch->last_queue), "%s", call->name);
	if (call->bits & 16) /* no-wait */
		return;
	f = amqp_wr_method_begin(&c->out, ch->num, AMQP_QUEUE_DECLARE_OK);
	amqp_wr_shortstr(&c->out, call->name);
	amqp_wr_u32(&c->out, (uint32_t)(ready > UINT32_MAX ? UINT32_MAX : ready));
	amqp_wr_u32(&c->out, consumers);
	amqp_wr_frame_end(&c->out, f);
}

/* The counts declare-ok reports (and, passive, whether the queue exists). */
static void
declare_count(struct amqp_server *s, struct amqp_channel *ch, struct amqp_ctl_call *call)
{
	struct amqp_ctl_call *next = amqp_ctl_call_new(declare_counted, true);
	int ret;

	if (next == NULL) {
		amqp_conn_error(ch->conn, AMQP_RESOURCE_ERROR, AMQP_QUEUE_DECLARE, "out of memory");
		return;
	}
	next->bits = call->bits;
	snprintf(next->name, sizeof(next->name), "%s", call->name);
	ret = amqp_model_ask_queue(s, call->name, next, ch, AMQP_QUEUE_DECLARE);
	if (ret != 0)
		amqp_conn_error(ch->conn, AMQP_INTERNAL_ERROR, AMQP_QUEUE_DECLARE,
				"request to tw-control: %s", strerror(-ret));
}

/* The engine declared the queue (or refused): what AMQP ties to the connection is kept. */
static void
declared(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
	 const Taskwire__Control__Response *resp, const char *err)
{
	bool exclusive = call->bits & 4, auto_delete = call->bits & 8;
	struct amqp_conn *owner = tw_idmap_get(&s->conn_by_id, call->conn_id);

	if (resp != NULL && (exclusive || auto_delete || call->u32 != 0) &&
	    qmeta_find(s, call->name) == NULL) {
		struct amqp_qmeta *m;

		if (exclusive && (owner == NULL || owner->dead)) {
			/* its connection went while the engine declared it */
			delete_bg(s, call->name, "exclusive");
			return;
		}
		m = calloc(1, sizeof(*m));
		if (m == NULL) {
			if (answerable(ch) != NULL)
				amqp_conn_error(ch->conn, AMQP_RESOURCE_ERROR, AMQP_QUEUE_DECLARE,
						"out of memory");
			return;
		}
		snprintf(m->name, sizeof(m->name), "%s", call->name);
		m->owner = exclusive ? call->conn_id : 0;
		m->auto_delete = auto_delete;
		m->expires_ms = call->u32;
		m->last_used_ms = s->now_ms;
		m->next = s->qmeta;
		s->qmeta = m;
	}
	if (answerable(ch) == NULL)
		return;
	if (resp == NULL) {
		refuse(ch, call, err);
		return;
	}
	declare_count(s, ch, call);
}

static void
queue_declare(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	struct amqp_server *s = c->srv;
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueueDeclare q = TASKWIRE__CONTROL__QUEUE_DECLARE__INIT;
	struct amqp_ctl_call *call;
	char name[256], dlx[256], dlk[256], overflow[256];
	const uint8_t *args;
	uint32_t alen;
	uint8_t bits;
	bool passive;
	uint32_t expires = 0;
	struct amqp_qmeta *meta = NULL;
	const char *bad;

	amqp_rd_u16(r);
	amqp_rd_shortstr(r, name);
	bits = amqp_rd_u8(r);
	amqp_rd_table(r, &args, &alen);
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_QUEUE_DECLARE, "malformed queue.declare");
		return;
	}
	passive = bits & 1;
	if (name[0] == '\0' && passive) {
		snprintf(name, sizeof(name), "%s", ch->last_queue);
	} else if (name[0] == '\0') {
		/* server-named, as RabbitMQ names them */
		static const char b64[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		uint8_t rnd[22];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			amqp_conn_error(c, AMQP_INTERNAL_ERROR, AMQP_QUEUE_DECLARE, "no randomness");
			return;
		}
		memcpy(name, "amq.gen-", 8);
		for (size_t i = 0; i < sizeof(rnd); i++)
			name[8 + i] = b64[rnd[i] & 63];
		name[8 + sizeof(rnd)] = '\0';
	}
	if (amqp_model_locked(s, name, c->id)) {
		amqp_channel_error(ch, c, AMQP_RESOURCE_LOCKED, AMQP_QUEUE_DECLARE,
				   "cannot obtain exclusive access to locked queue '%s' in vhost '/'",
				   name);
		return;
	}
	call = amqp_ctl_call_new(declared, true);
	if (call == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, AMQP_QUEUE_DECLARE, "out of memory");
		return;
	}
	snprintf(call->name, sizeof(call->name), "%s", name);
	call->bits = bits;
	if (passive) {
		/* only the counts, which also say whether it exists */
		declare_count(s, ch, call);
		free(call);
		return;
	}
	if (strncmp(name, "amq.", 4) == 0 && strncmp(name, "amq.gen-", 8) != 0) {
		free(call);
		amqp_channel_error(ch, c, AMQP_ACCESS_REFUSED, AMQP_QUEUE_DECLARE,
				   "queue name '%s' contains reserved prefix 'amq.*'", name);
		return;
	}
	bad = queue_args(args, alen, &q, dlx, dlk, overflow, &expires);
	if (bad != NULL) {
		free(call);
		amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_DECLARE,
				   "%s for queue '%s'", bad, name);
		return;
	}
	/* the engine checks its own arguments; x-expires is kept here */
	meta = qmeta_find(s, name);
	if (meta != NULL && meta->expires_ms != expires) {
		free(call);
		amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_DECLARE,
				   "inequivalent arg 'x-expires' for queue '%s' in vhost '/': "
				   "received %u but current is %u",
				   name, expires, meta->expires_ms);
		return;
	}
	call->u32 = expires;
	q.name = name;
	q.remote = true;
	/* durable: journaled when the engine keeps a journal (--data-dir), as a
	 * RabbitMQ durable queue survives a restart; an engine without one
	 * keeps it in memory rather than refuse every Celery declare */
	q.durable = (bits & 2) != 0;
	q.durable_if_journal = true;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DECLARE;
	req.queue_declare = &q;
	ask(c, ch, AMQP_QUEUE_DECLARE, &req, call);
}

/* Binding arguments (headers exchanges) as the engine's string pairs. */
static size_t
bind_args(const uint8_t *t, uint32_t len, Taskwire__Control__Argument *a,
	  Taskwire__Control__Argument **ap, char (*buf)[2][256], size_t max)
{
	uint32_t off = 0;
	struct amqp_value v;
	char key[256];
	size_t n = 0;

	while (n < max && amqp_table_next(t, len, &off, key, &v)) {
		taskwire__control__argument__init(&a[n]);
		snprintf(buf[n][0], 256, "%s", key);
		if (v.is_str)
			snprintf(buf[n][1], 256, "%.*s", (int)(v.slen > 255 ? 255 : v.slen), v.s);
		else if (v.type == 't')
			snprintf(buf[n][1], 256, "%s", v.i ? "true" : "false");
		else if (v.is_int)
			snprintf(buf[n][1], 256, "%" PRId64, v.i);
		else
			continue;
		a[n].key = buf[n][0];
		a[n].value = buf[n][1];
		ap[n] = &a[n];
		n++;
	}
	return n;
}

#define MAX_BIND_ARGS 16

/* The reply of a method whose answer carries nothing: its -ok (unless no-wait). */
static void
simple_ok(struct amqp_channel *ch, const struct amqp_ctl_call *call, uint32_t ok)
{
	struct amqp_conn *c = ch->conn;
	size_t f;

	if (call->bits & 1) /* no-wait, as the method's parser recorded it */
		return;
	f = amqp_wr_method_begin(&c->out, ch->num, ok);
	amqp_wr_frame_end(&c->out, f);
}

static void
bound(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
      const Taskwire__Control__Response *resp, const char *err)
{
	uint32_t m = call->method;

	(void)s;
	if (answerable(ch) == NULL)
		return;
	/* unbinding what is not bound is not an error in AMQP */
	if (resp == NULL && (call->unanswered || m == AMQP_QUEUE_BIND || m == AMQP_EXCHANGE_BIND ||
			     code_of(err) != AMQP_NOT_FOUND)) {
		refuse(ch, call, err);
		return;
	}
	simple_ok(ch, call,
		  m == AMQP_QUEUE_BIND     ? AMQP_QUEUE_BIND_OK
		  : m == AMQP_QUEUE_UNBIND ? AMQP_QUEUE_UNBIND_OK
		  : m == AMQP_EXCHANGE_BIND ? AMQP_EXCHANGE_BIND_OK
					    : AMQP_EXCHANGE_UNBIND_OK);
}

#define MAX_BIND_ARGS 16

static void
bind_method(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, struct amqp_rd *r)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__Bind b = TASKWIRE__CONTROL__BIND__INIT;
	Taskwire__Control__Argument a[MAX_BIND_ARGS], *ap[MAX_BIND_ARGS];
	static char abuf[MAX_BIND_ARGS][2][256];
	char dest[256], src[256], key[256];
	const uint8_t *args;
	uint32_t alen;
	bool nowait = false, is_queue = (m >> 16) == 50, unbind;
	struct amqp_ctl_call *call;

	unbind = m == AMQP_QUEUE_UNBIND || m == AMQP_EXCHANGE_UNBIND;
	amqp_rd_u16(r);
	amqp_rd_shortstr(r, dest);
	amqp_rd_shortstr(r, src);
	amqp_rd_shortstr(r, key);
	if (m != AMQP_QUEUE_UNBIND) /* queue.unbind has no no-wait */
		nowait = amqp_rd_u8(r) & 1;
	amqp_rd_table(r, &args, &alen);
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, m, "malformed binding method");
		return;
	}
	if (is_queue && dest[0] == '\0')
		snprintf(dest, sizeof(dest), "%s", ch->last_queue);
	if (is_queue && amqp_model_locked(c->srv, dest, c->id)) {
		amqp_channel_error(ch, c, AMQP_RESOURCE_LOCKED, m,
				   "cannot obtain exclusive access to locked queue '%s'", dest);
		return;
	}
	if (src[0] == '\0') {
		amqp_channel_error(ch, c, AMQP_ACCESS_REFUSED, m,
				   "operation not permitted on the default exchange");
		return;
	}
	b.source = src;
	b.destination = dest;
	b.routing_key = key;
	b.destination_type = is_queue ? "queue" : "exchange";
	b.n_arguments = bind_args(args, alen, a, ap, abuf, MAX_BIND_ARGS);
	b.arguments = ap;
	req.body_case = unbind ? TASKWIRE__CONTROL__REQUEST__BODY_UNBIND
			       : TASKWIRE__CONTROL__REQUEST__BODY_BIND;
	if (unbind)
		req.unbind = &b;
	else
		req.bind = &b;
	call = amqp_ctl_call_new(bound, true);
	if (call != NULL)
		call->bits = nowait;
	ask(c, ch, m, &req, call);
}

static void
purged(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
       const Taskwire__Control__Response *resp, const char *err)
{
	struct amqp_conn *c = answerable(ch);
	size_t f;

	(void)s;
	if (c == NULL)
		return;
	if (resp == NULL) {
		refuse(ch, call, err);
		return;
	}
	if (call->bits & 1) /* no-wait */
		return;
	f = amqp_wr_method_begin(&c->out, ch->num, AMQP_QUEUE_PURGE_OK);
	amqp_wr_u32(&c->out, (uint32_t)(resp->affected > UINT32_MAX ? UINT32_MAX : resp->affected));
	amqp_wr_frame_end(&c->out, f);
}

static void
queue_deleted(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
	      const Taskwire__Control__Response *resp, const char *err)
{
	struct amqp_conn *c;
	uint64_t n = resp != NULL ? resp->affected : 0;
	size_t f;

	/* deleting a queue that does not exist succeeds (RabbitMQ 3.x) */
	if (resp != NULL || (!call->unanswered && code_of(err) == AMQP_NOT_FOUND))
		qmeta_drop(s, call->name);
	c = answerable(ch);
	if (c == NULL)
		return;
	if (resp == NULL && (call->unanswered || code_of(err) != AMQP_NOT_FOUND)) {
		refuse(ch, call, err);
		return;
	}
	if (call->bits & 4) /* no-wait */
		return;
	f = amqp_wr_method_begin(&c->out, ch->num, AMQP_QUEUE_DELETE_OK);
	amqp_wr_u32(&c->out, (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n));
	amqp_wr_frame_end(&c->out, f);
}

static void
delete_now(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_ctl_call *call)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueueDelete d = TASKWIRE__CONTROL__QUEUE_DELETE__INIT;

	call->done = queue_deleted;
	call->idempotent = true; /* a second one finds nothing: delete-ok, as RabbitMQ */
	d.name = call->name;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DELETE;
	req.queue_delete = &d;
	ask(c, ch, AMQP_QUEUE_DELETE, &req, call);
}

/* queue.delete if-unused / if-empty: the engine's figures first. */
static void
delete_checked(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
	       const Taskwire__Control__Response *resp, const char *err)
{
	struct amqp_conn *c = answerable(ch);
	uint64_t ready = 0;
	uint32_t consumers = 0;
	bool found;
	struct amqp_ctl_call *next;

	(void)s;
	if (c == NULL)
		return;
	if (call->unanswered) {
		refuse(ch, call, err);
		return;
	}
	found = amqp_model_counts_of(resp, &ready, &consumers);
	if (found && (call->bits & 1) && consumers != 0) {
		amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_DELETE,
				   "queue '%s' in use", call->name);
		return;
	}
	if (found && (call->bits & 2) && ready != 0) {
		amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_DELETE,
				   "queue '%s' not empty", call->name);
		return;
	}
	next = amqp_ctl_call_new(queue_deleted, true);
	if (next == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, AMQP_QUEUE_DELETE, "out of memory");
		return;
	}
	next->bits = call->bits;
	snprintf(next->name, sizeof(next->name), "%s", call->name);
	delete_now(c, ch, next);
}

static void
queue_purge_delete(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, struct amqp_rd *r)
{
	struct amqp_server *s = c->srv;
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueuePurge p = TASKWIRE__CONTROL__QUEUE_PURGE__INIT;
	struct amqp_ctl_call *call;
	char name[256];
	uint8_t bits;
	int ret;

	amqp_rd_u16(r);
	amqp_rd_shortstr(r, name);
	bits = amqp_rd_u8(r);
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, m, "malformed queue method");
		return;
	}
	if (name[0] == '\0')
		snprintf(name, sizeof(name), "%s", ch->last_queue);
	if (amqp_model_locked(s, name, c->id)) {
		amqp_channel_error(ch, c, AMQP_RESOURCE_LOCKED, m,
				   "cannot obtain exclusive access to locked queue '%s'", name);
		return;
	}
	/* a purge sent twice would take what came between: not resent */
	call = amqp_ctl_call_new(m == AMQP_QUEUE_PURGE ? purged : delete_checked,
				 m != AMQP_QUEUE_PURGE);
	if (call == NULL) {
		amqp_conn_error(c, AMQP_RESOURCE_ERROR, m, "out of memory");
		return;
	}
	call->bits = bits;
	snprintf(call->name, sizeof(call->name), "%s", name);
	if (m == AMQP_QUEUE_PURGE) {
		p.name = call->name;
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_PURGE;
		req.queue_purge = &p;
		ask(c, ch, m, &req, call);
	} else if (bits & 3) { /* if-unused, if-empty */
		ret = amqp_model_ask_queue(s, call->name, call, ch, m);
		if (ret != 0)
			amqp_conn_error(c, AMQP_INTERNAL_ERROR, m, "request to tw-control: %s",
					strerror(-ret));
	} else {
		delete_now(c, ch, call);
	}
}

static const char *
exchange_type_ok(const char *t)
{
	static const char *const types[] = { "direct", "fanout", "topic", "headers" };

	for (size_t i = 0; i < 4; i++)
		if (strcmp(t, types[i]) == 0)
			return t;
	return NULL;
}

static void
exchange_declared(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
		  const Taskwire__Control__Response *resp, const char *err)
{
	(void)s;
	if (answerable(ch) == NULL)
		return;
	if (resp == NULL) {
		refuse(ch, call, err);
		return;
	}
	if (call->stage == 1) {
		/* passive: the engine's list of exchanges names it or not */
		bool found = false;

		for (size_t i = 0; i < resp->n_exchanges && !found; i++)
			found = strcmp(resp->exchanges[i]->name, call->name) == 0;
		if (!found) {
			amqp_channel_error(ch, ch->conn, AMQP_NOT_FOUND, AMQP_EXCHANGE_DECLARE,
					   "no exchange '%s' in vhost '/'", call->name);
			return;
		}
	}
	simple_ok(ch, call, AMQP_EXCHANGE_DECLARE_OK);
}

static void
exchange_declare(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ExchangeDeclare x = TASKWIRE__CONTROL__EXCHANGE_DECLARE__INIT;
	Taskwire__Control__ListRequest l = TASKWIRE__CONTROL__LIST_REQUEST__INIT;
	struct amqp_ctl_call *call;
	char name[256], type[256];
	const uint8_t *args;
	uint32_t alen;
	uint8_t bits;
	bool passive, nowait;
	struct amqp_value alt;
	char altname[256];

	amqp_rd_u16(r);
	amqp_rd_shortstr(r, name);
	amqp_rd_shortstr(r, type);
	bits = amqp_rd_u8(r);
	amqp_rd_table(r, &args, &alen);
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_EXCHANGE_DECLARE,
				"malformed exchange.declare");
		return;
	}
	passive = bits & 1;
	nowait = bits & 16;
	if (passive && name[0] == '\0') {
		/* the default exchange always exists */
		if (!nowait) {
			size_t f = amqp_wr_method_begin(&c->out, ch->num, AMQP_EXCHANGE_DECLARE_OK);

			amqp_wr_frame_end(&c->out, f);
		}
		return;
	}
	if (!passive) {
		if (name[0] == '\0' || strncmp(name, "amq.", 4) == 0) {
			amqp_channel_error(ch, c, AMQP_ACCESS_REFUSED, AMQP_EXCHANGE_DECLARE,
					   "exchange name '%s' contains reserved prefix 'amq.*'",
					   name);
			return;
		}
		if (exchange_type_ok(type) == NULL) {
			/* the spec: an unknown type is a connection exception */
			amqp_conn_error(c, AMQP_COMMAND_INVALID, AMQP_EXCHANGE_DECLARE,
					"unknown exchange type '%s'", type);
			return;
		}
	}
	call = amqp_ctl_call_new(exchange_declared, true);
	if (call != NULL) {
		call->bits = nowait;
		call->stage = passive;
		snprintf(call->name, sizeof(call->name), "%s", name);
	}
	if (passive) {
		/* ask the list: a declare would create it */
		l.what = TASKWIRE__CONTROL__LIST_REQUEST__WHAT__EXCHANGES;
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_LIST;
		req.list = &l;
	} else {
		x.name = name;
		x.type = type;
		x.internal = bits & 8;
		if (amqp_table_get(args, alen, "alternate-exchange", &alt) && alt.is_str &&
		    alt.slen < sizeof(altname)) {
			memcpy(altname, alt.s, alt.slen);
			altname[alt.slen] = '\0';
			x.alternate = altname;
		}
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DECLARE;
		req.exchange_declare = &x;
	}
	ask(c, ch, AMQP_EXCHANGE_DECLARE, &req, call);
}

static void
exchange_deleted(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
		 const Taskwire__Control__Response *resp, const char *err)
{
	(void)s;
	if (answerable(ch) == NULL)
		return;
	if (resp == NULL && (call->unanswered || code_of(err) != AMQP_NOT_FOUND)) {
		refuse(ch, call, err);
		return;
	}
	simple_ok(ch, call, AMQP_EXCHANGE_DELETE_OK);
}

static void
exchange_delete(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ExchangeDelete d = TASKWIRE__CONTROL__EXCHANGE_DELETE__INIT;
	struct amqp_ctl_call *call;
	char name[256];
	uint8_t bits;

	amqp_rd_u16(r);
	amqp_rd_shortstr(r, name);
	bits = amqp_rd_u8(r);
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_EXCHANGE_DELETE, "malformed exchange.delete");
		return;
	}
	if (name[0] == '\0' || strncmp(name, "amq.", 4) == 0) {
		amqp_channel_error(ch, c, AMQP_ACCESS_REFUSED, AMQP_EXCHANGE_DELETE,
				   "exchange '%s' cannot be deleted", name);
		return;
	}
	d.name = name;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DELETE;
	req.exchange_delete = &d;
	call = amqp_ctl_call_new(exchange_deleted, true);
	if (call != NULL)
		call->bits = (bits & 2) != 0; /* no-wait */
	ask(c, ch, AMQP_EXCHANGE_DELETE, &req, call);
}

void
amqp_model_method(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, struct amqp_rd *r)
{
	switch (m) {
	case AMQP_EXCHANGE_DECLARE:
		exchange_declare(c, ch, r);
		return;
	case AMQP_EXCHANGE_DELETE:
		exchange_delete(c, ch, r);
		return;
	case AMQP_EXCHANGE_BIND:
	case AMQP_EXCHANGE_UNBIND:
	case AMQP_QUEUE_BIND:
	case AMQP_QUEUE_UNBIND:
		bind_method(c, ch, m, r);
		return;
	case AMQP_QUEUE_DECLARE:
		queue_declare(c, ch, r);
		return;
	case AMQP_QUEUE_PURGE:
	case AMQP_QUEUE_DELETE:
		queue_purge_delete(c, ch, m, r);
		return;
	default:
		amqp_conn_error(c, AMQP_NOT_IMPLEMENTED, m, "method %u.%u is not implemented",
				m >> 16, m & 0xffff);
	}
}

void
amqp_model_setup(struct amqp_server *s)
{
	/* the exchanges every AMQP broker has (amq.* cannot be declared by clients) */
	static const char *const std[][2] = {
		{ "amq.direct", "direct" }, { "amq.fanout", "fanout" },
		{ "amq.topic", "topic" },   { "amq.headers", "headers" },
		{ "amq.match", "headers" },
	};

	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
		Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
		Taskwire__Control__ExchangeDeclare x = TASKWIRE__CONTROL__EXCHANGE_DECLARE__INIT;
		Taskwire__Control__Response *resp;
		const char *stage = "";
		int ret;

		x.name = (char *)std[i][0];
		x.type = (char *)std[i][1];
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DECLARE;
		req.exchange_declare = &x;
		/* before the loop runs, nothing else waits: one synchronous call each */
		ret = tw_ctl_call(s->control_socket, &req, &resp, SETUP_TIMEOUT_MS, &stage);
		if (ret != 0)
			fprintf(stderr, "tw-amqp: %s not declared: %s: %s\n", std[i][0], stage,
				strerror(-ret));
		else if (!resp->ok)
			fprintf(stderr, "tw-amqp: %s not declared: %s\n", std[i][0],
				resp->error != NULL ? resp->error : "refused");
		if (resp != NULL)
			taskwire__control__response__free_unpacked(resp, NULL);
	}
}
