/*
 * connection.blocked / connection.unblocked, RabbitMQ's extension to AMQP
 * 0-9-1 (the server capability "connection.blocked"): publishers are told
 * that the broker cannot take their messages for now, and told again when
 * it can. Clients that announced the capability in their start-ok
 * (pika, py-amqp, so kombu and Celery) get them; others are not sent a
 * method they would not know.
 *
 * Blocked when the engine refuses a publish for want of resources (NACK
 * no-resources: its task descriptors are all held by waiting messages) or
 * when tw-amqp itself holds more unconfirmed publishes than its high mark
 * (--pending-high). Unblocked at a timer tick once the engine reports a
 * quarter of its descriptors free again and tw-amqp is under half its
 * mark: the gap keeps a publisher at the edge from flapping.
 *
 * What changes for a blocked connection is the notice only: tw-amqp keeps
 * reading every connection (a consumer's acks are what frees the engine,
 * and many connections both publish and consume), and the engine answers
 * publishes made meanwhile with basic.nack, as before.
 */
#include <stdio.h>
#include <string.h>

#include "amqp_server.h"
#include "control.pb-c.h"

static void
tell(struct amqp_conn *c, bool blocked)
{
	struct amqp_server *s = c->srv;
	size_t f;

	if (!c->blocked_cap || c->dead || c->state != CS_RUNNING || c->told_blocked == blocked)
		return;
	if (blocked) {
		f = amqp_wr_method_begin(&c->out, 0, AMQP_CONNECTION_BLOCKED);
		amqp_wr_shortstr(&c->out, s->blocked_reason);
	} else {
		f = amqp_wr_method_begin(&c->out, 0, AMQP_CONNECTION_UNBLOCKED);
	}
	amqp_wr_frame_end(&c->out, f);
	c->told_blocked = blocked;
	amqp_conn_mark(c);
}

void
amqp_blocked_set(struct amqp_server *s, const char *why)
{
	if (s->blocked_reason[0] != '\0')
		return;
	snprintf(s->blocked_reason, sizeof(s->blocked_reason), "%s", why);
	s->cnt.blocked++;
	fprintf(stderr, "tw-amqp: publishers blocked: %s\n", why);
	for (struct amqp_conn *c = s->conns; c != NULL; c = c->next)
		tell(c, true);
}

/* The engine's status came: lifted when it has room again. */
static void
room_known(struct amqp_server *s, struct amqp_ctl_call *call, struct amqp_channel *ch,
	   const Taskwire__Control__Response *resp, const char *err)
{
	uint64_t avail, total;

	(void)call;
	(void)ch;
	(void)err;
	s->room_asked = false;
	if (resp == NULL || resp->status == NULL || s->blocked_reason[0] == '\0' ||
	    s->pending.n > s->pending_high / 2)
		return;
	avail = resp->status->tasks_free;
	total = resp->status->tasks_total;
	if (avail * 4 < total)
		return;
	fprintf(stderr, "tw-amqp: publishers unblocked (%llu of %llu task descriptors free)\n",
		(unsigned long long)avail, (unsigned long long)total);
	s->blocked_reason[0] = '\0';
	for (struct amqp_conn *c = s->conns; c != NULL; c = c->next)
		tell(c, false);
}

void
amqp_blocked_check(struct amqp_server *s)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__StatusRequest st = TASKWIRE__CONTROL__STATUS_REQUEST__INIT;
	struct amqp_ctl_call *call;

	if (s->blocked_reason[0] == '\0' || s->pending.n > s->pending_high / 2 || s->room_asked)
		return;
	/* one status request at a time, only while blocked */
	call = amqp_ctl_call_new(room_known, true);
	if (call == NULL)
		return;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_STATUS;
	req.status = &st;
	if (amqp_ctl_submit(s, &req, call, NULL, 0) == 0)
		s->room_asked = true;
}

void
amqp_blocked_greet(struct amqp_conn *c)
{
	if (c->srv->blocked_reason[0] != '\0')
		tell(c, true);
}
