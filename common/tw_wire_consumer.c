/*
 * Remote-consumer messages in the zero-allocation codec (see
 * tw_wire_consumer.h). Decoding runs on the io lcore for each consumer
 * frame; encoding on the lcore that serves the consumer. Touches only
 * the caller's buffers.
 */
#include <string.h>

#include "tw_wire.h"
#include "tw_wire_consumer.h"
#include "tw_wire_priv.h"

/* The consumer id of a validated Cancel or Heartbeat (last occurrence wins, as in protobuf). */
static uint64_t
consumer_id_of(struct tw_str body)
{
	struct cursor c = { body.p, body.p + body.len };
	uint64_t id = 0, v;
	uint32_t field;
	unsigned wt;

	while (c.p < c.end && get_tag(&c, &field, &wt)) {
		if (field == 1 && wt == WT_FIXED64) {
			if (!get_fixed64(&c, &v))
				break;
			id = v;
		} else if (!skip_field(&c, wt)) {
			break;
		}
	}
	return id;
}

bool
tw_wire_consumer_field(struct tw_frame_view *fv, uint32_t field, const uint8_t *field_start,
		       const uint8_t *end, struct tw_str body)
{
	switch (field) {
	case F_FRAME_SUBSCRIBE:
		if (fv->has_subscribe || !valid_message(body, subscribe_wt, 8))
			return false;
		fv->has_subscribe = true;
		fv->subscribe = body;
		return true;
	case F_FRAME_CANCEL:
	case F_FRAME_HEARTBEAT: {
		bool *has = field == F_FRAME_CANCEL ? &fv->has_cancel : &fv->has_heartbeat;

		if (*has || !valid_message(body, consumer_id_wt, 1))
			return false;
		*has = true;
		*(field == F_FRAME_CANCEL ? &fv->cancel_id : &fv->heartbeat_id) = consumer_id_of(body);
		return true;
	}
	case F_FRAME_ACKS:
		if (!valid_message(body, ack_wt, 8))
			return false;
		if (fv->n_acks == 0)
			fv->acks.p = field_start;
		fv->acks.len = (uint32_t)(end - fv->acks.p);
		fv->n_acks++;
		return true;
	case F_FRAME_DELIVERIES:
		/* the engine's own messages: nothing to act on, but well formed */
		return valid_message(body, deliver_wt, 10);
	case F_FRAME_CONSUMER:
		return valid_message(body, consumer_reply_wt, 6);
	default:
		return valid_message(body, ack_reply_wt, 3);
	}
}

const char *
tw_wire_decode_subscribe(struct tw_str span, struct tw_subscribe_view *s)
{
	struct cursor c = { span.p, span.p + span.len };
	uint32_t field;
	unsigned wt;
	uint64_t v;

	memset(s, 0, sizeof(*s));
	while (c.p < c.end) {
		const uint8_t *field_start = c.p;
		struct tw_str str;

		if (!get_tag(&c, &field, &wt))
			return "bad tag in subscribe";
		switch (field) {
		case F_SUB_CONSUMER_ID:
			if (wt != WT_FIXED64 || !get_fixed64(&c, &s->consumer_id))
				return "bad consumer id";
			break;
		case F_SUB_NAME:
		case F_SUB_HOST:
		case F_SUB_QUEUES:
			if (wt != WT_LEN || !get_len(&c, &str))
				return "bad string in subscribe";
			if (field == F_SUB_NAME) {
				s->name = str;
			} else if (field == F_SUB_HOST) {
				s->host = str;
			} else {
				if (s->n_queues == 0)
					s->queues.p = field_start;
				s->queues.len = (uint32_t)(c.p - s->queues.p);
				s->n_queues++;
			}
			break;
		case F_SUB_PREFETCH:
		case F_SUB_LEASE:
		case F_SUB_HEARTBEAT:
			if (wt != WT_VARINT || !get_varint(&c, &v))
				return "bad number in subscribe";
			/* proto3 uint32: high bits dropped, as protobuf-c does */
			*(field == F_SUB_PREFETCH ? &s->prefetch
			  : field == F_SUB_LEASE  ? &s->lease_ms
						  : &s->heartbeat_ms) = (uint32_t)v;
			break;
		case F_SUB_HOLD:
			if (wt != WT_VARINT || !get_varint(&c, &v))
				return "bad hold in subscribe";
			s->hold = v != 0;
			break;
		default:
			if (!skip_field(&c, wt))
				return "bad unknown field in subscribe";
		}
	}
	return NULL;
}

/*
 * The next length-delimited field numbered `want` in the span *rest (the
 * fields after it stay in *rest): the walk shared by a subscription's
 * queues and a frame's acks. @return false, *rest emptied, when none is left.
 */
static bool
next_len_field(struct tw_str *rest, uint32_t want, struct tw_str *out)
{
	struct cursor c;

	if (rest->len == 0)
		return false;
	c = (struct cursor){ rest->p, rest->p + rest->len };
	/* bounded by the span: every step consumes at least one byte */
	while (c.p < c.end) {
		uint32_t field;
		unsigned wt;

		if (!get_tag(&c, &field, &wt))
			break;
		if (field == want && wt == WT_LEN) {
			if (!get_len(&c, out))
				break;
			rest->len -= (uint32_t)(c.p - rest->p);
			rest->p = c.p;
			return true;
		}
		if (!skip_field(&c, wt))
			break;
	}
	rest->len = 0;
	return false;
}

bool
tw_wire_subscribe_queue_next(struct tw_str *rest, struct tw_str *queue)
{
	return next_len_field(rest, F_SUB_QUEUES, queue);
}

/* One validated Ack message into a. */
static void
decode_ack(struct tw_str body, struct tw_ack_view *a)
{
	struct cursor c = { body.p, body.p + body.len };
	uint32_t field;
	unsigned wt;
	uint64_t v;

	memset(a, 0, sizeof(*a));
	while (c.p < c.end && get_tag(&c, &field, &wt)) {
		switch (field) {
		case F_ACK_TAG:
			if (!get_fixed64(&c, &a->tag))
				return;
			break;
		case F_ACK_VALUE:
		case F_ACK_ERROR:
			if (!get_len(&c, field == F_ACK_VALUE ? &a->value : &a->error))
				return;
			break;
		case F_ACK_OUTCOME:
		case F_ACK_COUNTDOWN:
		case F_ACK_RUNTIME:
		case F_ACK_REQUEUE:
		case F_ACK_MAX_RETRIES:
			if (!get_varint(&c, &v))
				return;
			if (field == F_ACK_OUTCOME)
				a->outcome = (uint32_t)v;
			else if (field == F_ACK_COUNTDOWN) /* sint64: zigzag */
				a->countdown_ms = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
			else if (field == F_ACK_RUNTIME)
				a->runtime_ns = v;
			else if (field == F_ACK_REQUEUE)
				a->requeue = v != 0;
			else
				a->max_retries = (uint32_t)v;
			break;
		default:
			if (!skip_field(&c, wt))
				return;
		}
	}
}

bool
tw_wire_ack_next(struct tw_str *rest, struct tw_ack_view *a)
{
	struct tw_str s;

	if (!next_len_field(rest, F_FRAME_ACKS, &s))
		return false;
	decode_ack(s, a);
	return true;
}

/* --- encoder: proto3 defaults left off the wire, fields in number order, as protobuf-c --- */

static uint32_t
len_size(uint32_t len)
{
	return len != 0 ? 1 + varint_size(len) + len : 0;
}

static uint32_t
uint_size(uint64_t v)
{
	return v != 0 ? 1 + varint_size(v) : 0;
}

static void
put_uint(struct tw_wbuf *w, uint32_t field, uint64_t v)
{
	if (v == 0)
		return;
	put_tag(w, field, WT_VARINT);
	put_varint(w, v);
}

static void
put_str(struct tw_wbuf *w, uint32_t field, const void *p, uint32_t len)
{
	if (len != 0)
		put_bytes(w, field, p, len);
}

static uint32_t
deliver_body(const struct tw_wire_deliver *d)
{
	/* the Task is written even when empty: protobuf-c writes a present sub-message */
	return (d->tag != 0 ? 9 : 0) + uint_size(d->delivery_count) + len_size(d->queue_len) + 1 +
	       varint_size(d->task_len) + d->task_len + uint_size(d->retries) +
	       (d->root_id != 0 ? 9 : 0) + (d->parent_id != 0 ? 9 : 0) + uint_size(d->lease_ms) +
	       (d->has_args ? len_size(d->args_len) + 2 : 0) +
	       (d->consumer_id != 0 ? 2 + 8 : 0); /* field 50: a two-byte tag */
}

uint32_t
tw_wire_deliver_size(const struct tw_wire_deliver *d)
{
	uint32_t body = deliver_body(d);

	return 1 + varint_size(body) + body;
}

void
tw_wire_put_deliver(struct tw_wbuf *w, const struct tw_wire_deliver *d)
{
	put_tag(w, F_FRAME_DELIVERIES, WT_LEN);
	put_varint(w, deliver_body(d));
	if (d->tag != 0)
		put_fixed64(w, F_DLV_TAG, d->tag);
	put_uint(w, F_DLV_COUNT, d->delivery_count);
	put_str(w, F_DLV_QUEUE, d->queue, d->queue_len);
	put_bytes(w, F_DLV_TASK, d->task, d->task_len);
	put_uint(w, F_DLV_RETRIES, d->retries);
	if (d->root_id != 0)
		put_fixed64(w, F_DLV_ROOT_ID, d->root_id);
	if (d->parent_id != 0)
		put_fixed64(w, F_DLV_PARENT_ID, d->parent_id);
	put_uint(w, F_DLV_LEASE, d->lease_ms);
	if (d->has_args) {
		put_str(w, F_DLV_ARGS, d->args, d->args_len);
		put_uint(w, F_DLV_HAS_ARGS, 1);
	}
	if (d->consumer_id != 0)
		put_fixed64(w, F_DLV_CONSUMER_ID, d->consumer_id);
}

static uint32_t
consumer_reply_body(const struct tw_wire_consumer_reply *r)
{
	return (r->consumer_id != 0 ? 9 : 0) + (r->ok ? 2 : 0) +
	       len_size(r->detail != NULL ? (uint32_t)strlen(r->detail) : 0) +
	       uint_size(r->prefetch) + uint_size(r->lease_ms) + uint_size(r->heartbeat_ms);
}

uint32_t
tw_wire_consumer_reply_size(const struct tw_wire_consumer_reply *r)
{
	uint32_t body = consumer_reply_body(r);

	return 1 + varint_size(body) + body;
}

void
tw_wire_put_consumer_reply(struct tw_wbuf *w, const struct tw_wire_consumer_reply *r)
{
	put_tag(w, F_FRAME_CONSUMER, WT_LEN);
	put_varint(w, consumer_reply_body(r));
	if (r->consumer_id != 0)
		put_fixed64(w, F_CREP_CONSUMER_ID, r->consumer_id);
	put_uint(w, F_CREP_OK, r->ok);
	if (r->detail != NULL)
		put_str(w, F_CREP_DETAIL, r->detail, (uint32_t)strlen(r->detail));
	put_uint(w, F_CREP_PREFETCH, r->prefetch);
	put_uint(w, F_CREP_LEASE, r->lease_ms);
	put_uint(w, F_CREP_HEARTBEAT, r->heartbeat_ms);
}

uint32_t
tw_wire_ack_reply_size(const char *detail)
{
	uint32_t body = 9 + 2 + len_size(detail != NULL ? (uint32_t)strlen(detail) : 0);

	return 1 + varint_size(body) + body;
}

void
tw_wire_put_ack_reply(struct tw_wbuf *w, uint64_t tag, bool ok, const char *detail)
{
	uint32_t dlen = detail != NULL ? (uint32_t)strlen(detail) : 0;
	uint32_t body = (tag != 0 ? 9 : 0) + (ok ? 2 : 0) + len_size(dlen);

	put_tag(w, F_FRAME_ACK_REPLIES, WT_LEN);
	put_varint(w, body);
	if (tag != 0)
		put_fixed64(w, F_AREP_TAG, tag);
	put_uint(w, F_AREP_OK, ok);
	put_str(w, F_AREP_DETAIL, detail, dlen);
}
