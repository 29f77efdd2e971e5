/*
 * libFuzzer harness for the wire decoders that read bytes from outside:
 * tw_wire_decode_frame (engine side), tw_wire_header_next (header walk
 * for headers exchanges) and tw_wire_decode_replies (publisher side).
 * Checks, besides memory safety (ASan/UBSan): every view lies inside the
 * input, and whatever our decoder accepts, protobuf-c accepts too with
 * the same task count and the same remote-consumer messages
 * (differential against the generated code).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "taskwire.pb-c.h"
#include "tw_fragment.h"
#include "tw_wire.h"
#include "tw_wire_consumer.h"

static void
inside(const uint8_t *buf, size_t len, const struct tw_str *s)
{
	if (s->len != 0 && (s->p < buf || s->p + s->len > buf + len))
		abort();
}

/*
 * A string view against protobuf-c's copy: protobuf-c keeps a string with
 * a NUL inside it (found by the fuzzer), and its C string ends there; the
 * view holds every byte.
 */
static int
same_str(struct tw_str v, const char *c)
{
	size_t n = strlen(c);

	return n <= v.len && (n == 0 || memcmp(v.p, c, n) == 0) &&
	       (n == v.len || memchr(v.p, 0, v.len) != NULL);
}

/* Remote-consumer messages: the same fields as protobuf-c read. */
static void
check_consumer(const uint8_t *data, size_t size, const struct tw_frame_view *fv,
	       const Taskwire__Frame *f)
{
	struct tw_subscribe_view sv;
	struct tw_ack_view a;
	struct tw_str rest, q;
	uint32_t n = 0;

	if (fv->has_subscribe != (f->subscribe != NULL) || fv->has_cancel != (f->cancel != NULL) ||
	    fv->has_heartbeat != (f->heartbeat != NULL) || fv->n_acks != f->n_acks)
		abort();
	if (fv->has_cancel && fv->cancel_id != f->cancel->consumer_id)
		abort();
	if (fv->has_heartbeat && fv->heartbeat_id != f->heartbeat->consumer_id)
		abort();
	if (fv->has_subscribe) {
		const Taskwire__Subscribe *s = f->subscribe;

		if (tw_wire_decode_subscribe(fv->subscribe, &sv) != NULL)
			abort(); /* validated by the frame decoder: must decode */
		inside(data, size, &sv.name);
		inside(data, size, &sv.host);
		if (sv.consumer_id != s->consumer_id || sv.prefetch != s->prefetch ||
		    sv.lease_ms != s->lease_ms || sv.heartbeat_ms != s->heartbeat_ms ||
		    sv.hold != s->hold ||
		    sv.n_queues != s->n_queues || !same_str(sv.name, s->name) ||
		    !same_str(sv.host, s->host))
			abort();
		rest = sv.queues;
		while (tw_wire_subscribe_queue_next(&rest, &q)) {
			inside(data, size, &q);
			if (n >= s->n_queues || !same_str(q, s->queues[n]))
				abort();
			n++;
		}
		if (n != s->n_queues)
			abort();
	}
	rest = fv->acks;
	n = 0;
	while (tw_wire_ack_next(&rest, &a)) {
		const Taskwire__Ack *m;

		if (n >= f->n_acks)
			abort();
		m = f->acks[n++];
		inside(data, size, &a.value);
		inside(data, size, &a.error);
		if (a.tag != m->delivery_tag || a.outcome != (uint32_t)m->outcome ||
		    a.countdown_ms != m->countdown_ms || a.runtime_ns != m->runtime_ns ||
		    a.requeue != m->requeue || a.max_retries != m->max_retries ||
		    a.value.len != m->value.len || !same_str(a.error, m->error))
			abort();
	}
	if (n != f->n_acks)
		abort();
}

/*
 * The fragment decoder against protobuf-c on the same bytes: a fragment
 * we take must be a Frame protobuf-c takes, with the same fields, and
 * within the slicing rule (its piece inside the message, the message's
 * pieces covering it exactly).
 */
static void
check_fragment(const uint8_t *data, size_t size)
{
	struct tw_frag_view g;
	const char *why;
	Taskwire__Frame *f;

	if (tw_frag_decode(data, (uint32_t)size, &g, &why) != TW_FRAG_OK)
		return;
	f = taskwire__frame__unpack(NULL, size, data);
	if (f == NULL || f->fragment == NULL || f->fragment->message_id != g.msg_id ||
	    f->fragment->index != g.index || f->fragment->count != g.count ||
	    f->fragment->total_len != g.total || f->fragment->data.len != g.data.len ||
	    f->frame_id != g.frame_id || f->n_tasks != 0 || f->cookie.len != g.cookie.len ||
	    (g.cookie.len != 0 && memcmp(f->cookie.data, g.cookie.p, g.cookie.len) != 0))
		abort();
	inside(data, size, &g.data);
	if (g.cookie.len != 0)
		inside(data, size, &g.cookie);
	if (g.index >= g.count || (uint64_t)g.index * g.chunk + g.data.len > g.total ||
	    (uint64_t)(g.count - 1) * g.chunk >= g.total || (g.count > 1 && g.chunk < TW_FRAG_MIN_CHUNK))
		abort();
	taskwire__frame__free_unpacked(f, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tw_task_view views[TW_FRAME_MAX_TASKS];
	static struct tw_reply_item items[64];
	struct tw_frame_view fv;
	uint64_t fid;
	enum tw_wire_status st;

	if (size > 65535)
		return 0;
	check_fragment(data, size);
	st = tw_wire_decode_frame(data, (uint32_t)size, &fv, views, TW_FRAME_MAX_TASKS);
	if (st == TW_WIRE_OK) {
		Taskwire__Frame *f = taskwire__frame__unpack(NULL, size, data);

		if (f == NULL || f->n_tasks != fv.n_tasks)
			abort(); /* we accepted what protobuf-c refuses, or counted differently */
		for (uint32_t i = 0; i < fv.n_tasks; i++) {
			struct tw_str rest = views[i].headers, k, v;
			uint32_t n = 0;

			inside(data, size, &views[i].name);
			inside(data, size, &views[i].exchange);
			inside(data, size, &views[i].routing_key);
			inside(data, size, &views[i].args);
			if (views[i].id != f->tasks[i]->id || views[i].args.len != f->tasks[i]->args.len)
				abort();
			/* Celery's options, field by field */
			{
				const Taskwire__Task *t = f->tasks[i];
				const struct tw_retry_policy *r = &views[i].retry;

				inside(data, size, &views[i].raw);
				if (views[i].eta_ms != t->eta_ms || views[i].expires_ms != t->expires_ms ||
				    views[i].retries != t->retries ||
				    views[i].ignore_result != t->ignore_result ||
				    views[i].result_expires_s != t->result_expires_s ||
				    views[i].has_retry != (t->retry != NULL))
					abort();
				if (t->retry != NULL &&
				    (r->max_retries != t->retry->max_retries ||
				     r->countdown_ms != t->retry->countdown_ms ||
				     r->backoff != t->retry->backoff ||
				     r->backoff_max_ms != t->retry->backoff_max_ms ||
				     r->jitter != t->retry->jitter || r->autoretry != t->retry->autoretry))
					abort();
			}
			/* workflow fields and signature counts */
			{
				const Taskwire__Task *t = f->tasks[i];
				const struct tw_task_view *w = &views[i];

				inside(data, size, &w->next);
				inside(data, size, &w->links);
				inside(data, size, &w->link_errors);
				inside(data, size, &w->members);
				if (w->root_id != t->root_id || w->parent_id != t->parent_id ||
				    w->group_id != t->group_id || w->group_index != t->group_index ||
				    w->group_size != t->group_size || w->notify != t->notify ||
				    w->immutable != t->immutable || w->args_group != t->args_group ||
				    w->result_cell != t->result_cell || w->n_links != t->n_link ||
				    w->n_link_errors != t->n_link_error || w->n_members != t->n_members ||
				    (w->next.len != 0) != (t->next != NULL))
					abort();
			}
			while (tw_wire_header_next(&rest, &k, &v)) {
				inside(data, size, &k);
				inside(data, size, &v);
				n++;
			}
			if (n != views[i].n_headers || n != f->tasks[i]->n_headers)
				abort();
		}
		check_consumer(data, size, &fv, f);
		taskwire__frame__free_unpacked(f, NULL);
	}
	if (tw_wire_decode_replies(data, (uint32_t)size, &fid, items, 64) >= 0) {
		Taskwire__Frame *f = taskwire__frame__unpack(NULL, size, data);

		if (f == NULL)
			abort();
		taskwire__frame__free_unpacked(f, NULL);
	}
	return 0;
}
