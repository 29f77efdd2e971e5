/*
 * The exchange and queue classes: each method is one request to
 * tw-control over its control socket (the engine's broker model), answered
 * synchronously. tw-control answers in well under a millisecond, and
 * declarations are rare next to messages, so the loop waits for it rather
 * than keeping per-request state (a bounded wait: CTL_TIMEOUT_MS).
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

#define CTL_TIMEOUT_MS 5000

/* One round trip. @return the response (caller frees) or NULL with why in err. */
static Taskwire__Control__Response *
call(struct amqp_server *s, Taskwire__Control__Request *req, char *err, size_t errlen)
{
	Taskwire__Control__Response *resp = NULL;
	const char *stage = "";
	int ret = tw_ctl_call(s->control_socket, req, &resp, CTL_TIMEOUT_MS, &stage);

	if (ret != 0) {
		snprintf(err, errlen, "engine control socket (%s): %s", stage, strerror(-ret));
		return NULL;
	}
	if (!resp->ok) {
		snprintf(err, errlen, "%s", resp->error != NULL ? resp->error : "refused");
		taskwire__control__response__free_unpacked(resp, NULL);
		return NULL;
	}
	return resp;
}

/* The engine's refusal as an AMQP reply code. */
static uint16_t
code_of(const char *err)
{
	if (strncmp(err, "engine control socket", 21) == 0)
		return AMQP_INTERNAL_ERROR;
	if (strstr(err, "no queue") != NULL || strstr(err, "no exchange") != NULL ||
	    strstr(err, "not found") != NULL || strstr(err, "unknown") != NULL ||
	    strstr(err, "does not exist") != NULL)
		return AMQP_NOT_FOUND;
	return AMQP_PRECONDITION_FAILED;
}

/* Refuse the method: a channel exception, or a connection one when tw-control is unreachable. */
static void
refuse(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, const char *err)
{
	uint16_t code = code_of(err);

	if (code == AMQP_INTERNAL_ERROR)
		amqp_conn_error(c, code, m, "%s", err);
	else
		amqp_channel_error(ch, c, code, m, "%s", err);
}

/* Find an exchange. @return 1 found, 0 not, -1 tw-control unreachable (err set). */
static int
exchange_exists(struct amqp_server *s, const char *name, char *err, size_t errlen)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ListRequest l = TASKWIRE__CONTROL__LIST_REQUEST__INIT;
	Taskwire__Control__Response *resp;
	int found = 0;

	l.what = TASKWIRE__CONTROL__LIST_REQUEST__WHAT__EXCHANGES;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_LIST;
	req.list = &l;
	resp = call(s, &req, err, errlen);
	if (resp == NULL)
		return -1;
	for (size_t i = 0; i < resp->n_exchanges && !found; i++)
		found = strcmp(resp->exchanges[i]->name, name) == 0;
	taskwire__control__response__free_unpacked(resp, NULL);
	return found;
}

int
amqp_model_queue_counts(struct amqp_server *s, const char *name, uint64_t *ready,
			uint32_t *consumers, char *err, size_t errlen)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueueRef q = TASKWIRE__CONTROL__QUEUE_REF__INIT;
	Taskwire__Control__Response *resp;

	/* one queue, not the list of all: a Celery client declares often, and
	 * the engine may hold tens of thousands of queues */
	q.name = (char *)name;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_INFO;
	req.queue_info = &q;
	resp = call(s, &req, err, errlen);
	if (resp == NULL)
		return code_of(err) == AMQP_INTERNAL_ERROR ? -1 : 0;
	if (resp->n_queues != 1) {
		taskwire__control__response__free_unpacked(resp, NULL);
		return 0;
	}
	if (ready != NULL)
		*ready = resp->queues[0]->ready;
	if (consumers != NULL)
		*consumers = resp->queues[0]->remote_consumers;
	taskwire__control__response__free_unpacked(resp, NULL);
	return 1;
}

int
amqp_model_engine_room(struct amqp_server *s, uint64_t *avail, uint64_t *total)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__StatusRequest st = TASKWIRE__CONTROL__STATUS_REQUEST__INIT;
	Taskwire__Control__Response *resp;
	char err[256];

	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_STATUS;
	req.status = &st;
	resp = call(s, &req, err, sizeof(err));
	if (resp == NULL)
		return -1;
	if (resp->status == NULL) {
		taskwire__control__response__free_unpacked(resp, NULL);
		return -1;
	}
	*avail = resp->status->tasks_free;
	*total = resp->status->tasks_total;
	taskwire__control__response__free_unpacked(resp, NULL);
	return 0;
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

static int
engine_queue_delete(struct amqp_server *s, const char *name, uint64_t *affected, char *err,
		    size_t errlen)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueueDelete d = TASKWIRE__CONTROL__QUEUE_DELETE__INIT;
	Taskwire__Control__Response *resp;

	d.name = (char *)name;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DELETE;
	req.queue_delete = &d;
	resp = call(s, &req, err, errlen);
	if (resp == NULL)
		return -1;
	if (affected != NULL)
		*affected = resp->affected;
	taskwire__control__response__free_unpacked(resp, NULL);
	qmeta_drop(s, name);
	return 0;
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

/*
 * x-expires as RabbitMQ: a queue with no consumer, not declared again and
 * not read by basic.get for its expiry period is deleted. Consumers are
 * tw-amqp's and, asked of the engine when the period has passed, any
 * other remote consumer's (a tw-worker on it keeps it too).
 */
void
amqp_model_expire(struct amqp_server *s)
{
	struct amqp_qmeta *q, *next;
	uint64_t soonest = UINT64_MAX;
	char err[256];

	for (q = s->qmeta; q != NULL; q = next) {
		uint64_t due = q->last_used_ms + q->expires_ms;
		uint32_t others = 0;
		int found;

		next = q->next;
		if (q->expires_ms == 0)
			continue;
		if (q->consumers != 0 || due > s->now_ms) {
			/* with consumers: looked at again when the last one goes */
			if (q->consumers == 0 && due < soonest)
				soonest = due;
			continue;
		}
		found = amqp_model_queue_counts(s, q->name, NULL, &others, err, sizeof(err));
		if (found > 0 && others != 0) {
			q->last_used_ms = s->now_ms;
			if (s->now_ms + q->expires_ms < soonest)
				soonest = s->now_ms + q->expires_ms;
			continue;
		}
		if (found < 0) {
			/* tw-control unreachable: try again in a second */
			if (s->now_ms + 1000 < soonest)
				soonest = s->now_ms + 1000;
			continue;
		}
		if (found > 0 && engine_queue_delete(s, q->name, NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "tw-amqp: expired queue %s not deleted: %s\n", q->name, err);
			if (s->now_ms + 1000 < soonest)
				soonest = s->now_ms + 1000;
			continue;
		}
		if (found > 0)
			s->cnt.queues_expired++;
		else
			qmeta_drop(s, q->name); /* deleted by someone else meanwhile */
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
	char err[256];

	for (; q != NULL; q = next) {
		next = q->next;
		if (q->owner == conn_id && engine_queue_delete(s, q->name, NULL, err, sizeof(err)) != 0)
			fprintf(stderr, "tw-amqp: exclusive queue %s not deleted: %s\n", q->name, err);
	}
}

void
amqp_model_consumer(struct amqp_server *s, const char *queue, int d)
{
	struct amqp_qmeta *q = qmeta_find(s, queue);
	char err[256];

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
	if (q->consumers == 0 && q->auto_delete && q->had_consumer &&
	    engine_queue_delete(s, queue, NULL, err, sizeof(err)) != 0)
		fprintf(stderr, "tw-amqp: auto-delete queue %s not deleted: %s\n", queue, err);
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

static void
queue_declare(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	struct amqp_server *s = c->srv;
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueueDeclare q = TASKWIRE__CONTROL__QUEUE_DECLARE__INIT;
	Taskwire__Control__Response *resp;
	char name[256], dlx[256], dlk[256], overflow[256], err[512];
	const uint8_t *args;
	uint32_t alen;
	uint8_t bits;
	bool passive, exclusive, auto_delete, nowait;
	uint32_t expires = 0, consumers = 0;
	struct amqp_qmeta *meta = NULL;
	uint64_t ready = 0;
	const char *bad;
	size_t f;
	int found;

	amqp_rd_u16(r);
	amqp_rd_shortstr(r, name);
	bits = amqp_rd_u8(r);
	amqp_rd_table(r, &args, &alen);
	if (r->bad) {
		amqp_conn_error(c, AMQP_SYNTAX_ERROR, AMQP_QUEUE_DECLARE, "malformed queue.declare");
		return;
	}
	passive = bits & 1;
	exclusive = bits & 4;
	auto_delete = bits & 8;
	nowait = bits & 16;
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
	if (!passive) {
		if (strncmp(name, "amq.", 4) == 0 && strncmp(name, "amq.gen-", 8) != 0) {
			amqp_channel_error(ch, c, AMQP_ACCESS_REFUSED, AMQP_QUEUE_DECLARE,
					   "queue name '%s' contains reserved prefix 'amq.*'", name);
			return;
		}
		bad = queue_args(args, alen, &q, dlx, dlk, overflow, &expires);
		if (bad != NULL) {
			amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_DECLARE,
					   "%s for queue '%s'", bad, name);
			return;
		}
		/* the engine checks its own arguments; x-expires is kept here */
		meta = qmeta_find(s, name);
		if (meta != NULL && meta->expires_ms != expires) {
			amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_DECLARE,
					   "inequivalent arg 'x-expires' for queue '%s' in vhost '/': "
					   "received %u but current is %u",
					   name, expires, meta->expires_ms);
			return;
		}
		q.name = name;
		q.remote = true;
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DECLARE;
		req.queue_declare = &q;
		resp = call(s, &req, err, sizeof(err));
		if (resp == NULL) {
			refuse(c, ch, AMQP_QUEUE_DECLARE, err);
			return;
		}
		taskwire__control__response__free_unpacked(resp, NULL);
		if ((exclusive || auto_delete || expires != 0) && meta == NULL) {
			struct amqp_qmeta *m = calloc(1, sizeof(*m));

			if (m == NULL) {
				amqp_conn_error(c, AMQP_RESOURCE_ERROR, AMQP_QUEUE_DECLARE,
						"out of memory");
				return;
			}
			snprintf(m->name, sizeof(m->name), "%s", name);
			m->owner = exclusive ? c->id : 0;
			m->auto_delete = auto_delete;
			m->expires_ms = expires;
			m->next = s->qmeta;
			s->qmeta = m;
		}
	}
	/* declared again (passive too): its x-expires starts again */
	amqp_model_touch(s, name);
	/* the counts declare-ok reports (and, passive, whether it exists) */
	found = amqp_model_queue_counts(s, name, &ready, &consumers, err, sizeof(err));
	if (found < 0) {
		refuse(c, ch, AMQP_QUEUE_DECLARE, err);
		return;
	}
	if (!found) {
		amqp_channel_error(ch, c, AMQP_NOT_FOUND, AMQP_QUEUE_DECLARE,
				   "no queue '%s' in vhost '/'", name);
		return;
	}
	snprintf(ch->last_queue, sizeof(ch->last_queue), "%s", name);
	if (nowait)
		return;
	f = amqp_wr_method_begin(&c->out, ch->num, AMQP_QUEUE_DECLARE_OK);
	amqp_wr_shortstr(&c->out, name);
	amqp_wr_u32(&c->out, (uint32_t)(ready > UINT32_MAX ? UINT32_MAX : ready));
	amqp_wr_u32(&c->out, consumers);
	amqp_wr_frame_end(&c->out, f);
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

static void
bind_method(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, struct amqp_rd *r)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__Bind b = TASKWIRE__CONTROL__BIND__INIT;
	Taskwire__Control__Argument a[MAX_BIND_ARGS], *ap[MAX_BIND_ARGS];
	Taskwire__Control__Response *resp;
	static char abuf[MAX_BIND_ARGS][2][256];
	char dest[256], src[256], key[256], err[512];
	const uint8_t *args;
	uint32_t alen;
	bool nowait = false, is_queue = (m >> 16) == 50, unbind;
	uint32_t ok;
	size_t f;

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
	resp = call(c->srv, &req, err, sizeof(err));
	if (resp == NULL) {
		/* unbinding what is not bound is not an error in AMQP */
		if (!unbind || code_of(err) != AMQP_NOT_FOUND) {
			refuse(c, ch, m, err);
			return;
		}
	} else {
		taskwire__control__response__free_unpacked(resp, NULL);
	}
	if (nowait)
		return;
	ok = m == AMQP_QUEUE_BIND ? AMQP_QUEUE_BIND_OK
	     : m == AMQP_QUEUE_UNBIND ? AMQP_QUEUE_UNBIND_OK
	     : m == AMQP_EXCHANGE_BIND ? AMQP_EXCHANGE_BIND_OK
				       : AMQP_EXCHANGE_UNBIND_OK;
	f = amqp_wr_method_begin(&c->out, ch->num, ok);
	amqp_wr_frame_end(&c->out, f);
}

static void
queue_purge_delete(struct amqp_conn *c, struct amqp_channel *ch, uint32_t m, struct amqp_rd *r)
{
	struct amqp_server *s = c->srv;
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueuePurge p = TASKWIRE__CONTROL__QUEUE_PURGE__INIT;
	Taskwire__Control__Response *resp;
	char name[256], err[512];
	uint64_t n = 0, ready = 0;
	uint32_t consumers = 0;
	uint8_t bits;
	bool nowait;
	size_t f;

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
	if (m == AMQP_QUEUE_PURGE) {
		nowait = bits & 1;
		p.name = name;
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_PURGE;
		req.queue_purge = &p;
		resp = call(s, &req, err, sizeof(err));
		if (resp == NULL) {
			refuse(c, ch, m, err);
			return;
		}
		n = resp->affected;
		taskwire__control__response__free_unpacked(resp, NULL);
	} else {
		bool if_unused = bits & 1, if_empty = bits & 2;
		int found;

		nowait = bits & 4;
		if (if_unused || if_empty) {
			found = amqp_model_queue_counts(s, name, &ready, &consumers, err,
							sizeof(err));
			if (found < 0) {
				refuse(c, ch, m, err);
				return;
			}
			if (found && if_unused && consumers != 0) {
				amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, m,
						   "queue '%s' in use", name);
				return;
			}
			if (found && if_empty && ready != 0) {
				amqp_channel_error(ch, c, AMQP_PRECONDITION_FAILED, m,
						   "queue '%s' not empty", name);
				return;
			}
		}
		/* deleting a queue that does not exist succeeds (RabbitMQ 3.x) */
		if (engine_queue_delete(s, name, &n, err, sizeof(err)) != 0 &&
		    code_of(err) != AMQP_NOT_FOUND) {
			refuse(c, ch, m, err);
			return;
		}
	}
	if (nowait)
		return;
	f = amqp_wr_method_begin(&c->out, ch->num,
				 m == AMQP_QUEUE_PURGE ? AMQP_QUEUE_PURGE_OK : AMQP_QUEUE_DELETE_OK);
	amqp_wr_u32(&c->out, (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n));
	amqp_wr_frame_end(&c->out, f);
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
exchange_declare(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ExchangeDeclare x = TASKWIRE__CONTROL__EXCHANGE_DECLARE__INIT;
	Taskwire__Control__Response *resp;
	char name[256], type[256], err[512];
	const uint8_t *args;
	uint32_t alen;
	uint8_t bits;
	bool passive, nowait;
	size_t f;

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
	if (passive) {
		int found = name[0] == '\0' ? 1 : exchange_exists(c->srv, name, err, sizeof(err));

		if (found < 0) {
			refuse(c, ch, AMQP_EXCHANGE_DECLARE, err);
			return;
		}
		if (!found) {
			amqp_channel_error(ch, c, AMQP_NOT_FOUND, AMQP_EXCHANGE_DECLARE,
					   "no exchange '%s' in vhost '/'", name);
			return;
		}
	} else {
		struct amqp_value alt;
		char altname[256];

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
		resp = call(c->srv, &req, err, sizeof(err));
		if (resp == NULL) {
			refuse(c, ch, AMQP_EXCHANGE_DECLARE, err);
			return;
		}
		taskwire__control__response__free_unpacked(resp, NULL);
	}
	if (nowait)
		return;
	f = amqp_wr_method_begin(&c->out, ch->num, AMQP_EXCHANGE_DECLARE_OK);
	amqp_wr_frame_end(&c->out, f);
}

static void
exchange_delete(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ExchangeDelete d = TASKWIRE__CONTROL__EXCHANGE_DELETE__INIT;
	Taskwire__Control__Response *resp;
	char name[256], err[512];
	uint8_t bits;
	size_t f;

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
	resp = call(c->srv, &req, err, sizeof(err));
	if (resp == NULL && code_of(err) != AMQP_NOT_FOUND) {
		refuse(c, ch, AMQP_EXCHANGE_DELETE, err);
		return;
	}
	if (resp != NULL)
		taskwire__control__response__free_unpacked(resp, NULL);
	if (bits & 2) /* no-wait */
		return;
	f = amqp_wr_method_begin(&c->out, ch->num, AMQP_EXCHANGE_DELETE_OK);
	amqp_wr_frame_end(&c->out, f);
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
		char err[512];

		x.name = (char *)std[i][0];
		x.type = (char *)std[i][1];
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DECLARE;
		req.exchange_declare = &x;
		resp = call(s, &req, err, sizeof(err));
		if (resp == NULL)
			fprintf(stderr, "tw-amqp: %s not declared: %s\n", std[i][0], err);
		else
			taskwire__control__response__free_unpacked(resp, NULL);
	}
}
