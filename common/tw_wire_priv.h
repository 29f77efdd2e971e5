/*
 * Private to the wire codec files (tw_wire.c, tw_wire_publisher.c),
 * libtaskwire (its frame-size accounting) and tw-loadgen (replies counted
 * without a decode): field
 * numbers of proto/taskwire.proto and the varint/fixed/length readers and
 * writers both sides share. Static inline; no state.
 */
#ifndef TW_WIRE_PRIV_H
#define TW_WIRE_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tw_wire.h"

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

/* Field numbers from proto/taskwire.proto. */
enum { F_FRAME_MAGIC = 1, F_FRAME_VERSION = 2, F_FRAME_ID = 3, F_FRAME_TASKS = 4 };
enum { F_TASK_ID = 1, F_TASK_NAME, F_TASK_EXCHANGE, F_TASK_KEY, F_TASK_ARGS,
       F_TASK_PRIORITY, F_TASK_HEADERS, F_TASK_ETA, F_TASK_EXPIRES, F_TASK_RETRIES,
       F_TASK_RETRY, F_TASK_IGNORE_RESULT, F_TASK_RESULT_EXPIRES, F_TASK_ROOT_ID,
       F_TASK_PARENT_ID, F_TASK_GROUP_ID, F_TASK_GROUP_INDEX, F_TASK_GROUP_SIZE, F_TASK_NEXT,
       F_TASK_LINK, F_TASK_LINK_ERROR, F_TASK_MEMBERS, F_TASK_IMMUTABLE, F_TASK_NOTIFY,
       F_TASK_ARGS_GROUP, F_TASK_RESULT_CELL, F_TASK_AMQP_PROPERTIES };
enum { F_RETRY_MAX = 1, F_RETRY_COUNTDOWN, F_RETRY_BACKOFF, F_RETRY_BACKOFF_MAX,
       F_RETRY_JITTER, F_RETRY_AUTORETRY };
enum { F_HDR_KEY = 1, F_HDR_VALUE = 2 };
enum { F_FRAME_CONFIRMS = 5, F_FRAME_RESULTS = 6, F_FRAME_RETRANSMITS = 7, F_FRAME_KEY_ID = 8,
       F_FRAME_MAC = 9, F_FRAME_SENT_US = 17, F_FRAME_COOKIE = 20,
       F_FRAME_PADDING = 21 };
/* Frames larger than a datagram: Frame field 18 and its Fragment message. */
enum { F_FRAME_FRAGMENT = 18 };
enum { F_FRAG_MSG_ID = 1, F_FRAG_INDEX, F_FRAG_COUNT, F_FRAG_TOTAL, F_FRAG_DATA };
enum { F_CONFIRM_TASK_ID = 1, F_CONFIRM_ACK, F_CONFIRM_REASON, F_CONFIRM_DETAIL };
enum { F_RESULT_TASK_ID = 1, F_RESULT_STATE, F_RESULT_VALUE, F_RESULT_ERROR,
       F_RESULT_RUNTIME, F_RESULT_NAME, F_RESULT_RETRIES, F_RESULT_EXPIRES, F_RESULT_ETA,
       F_RESULT_RESENT, F_RESULT_EVENT_ONLY, F_RESULT_QUEUE, F_RESULT_ROOT_ID,
       F_RESULT_PARENT_ID, F_RESULT_GROUP_ID, F_RESULT_GROUP_INDEX, F_RESULT_GROUP_SIZE,
       F_RESULT_WORKER };

/* Remote consumers: Frame fields 10..16 and their messages. */
enum { F_FRAME_SUBSCRIBE = 10, F_FRAME_CANCEL, F_FRAME_HEARTBEAT, F_FRAME_ACKS,
       F_FRAME_DELIVERIES, F_FRAME_CONSUMER, F_FRAME_ACK_REPLIES };
enum { F_SUB_CONSUMER_ID = 1, F_SUB_NAME, F_SUB_HOST, F_SUB_QUEUES, F_SUB_PREFETCH,
       F_SUB_LEASE, F_SUB_HEARTBEAT, F_SUB_HOLD };
enum { F_ACK_TAG = 1, F_ACK_OUTCOME, F_ACK_VALUE, F_ACK_ERROR, F_ACK_COUNTDOWN,
       F_ACK_RUNTIME, F_ACK_REQUEUE, F_ACK_MAX_RETRIES };
enum { F_DLV_TAG = 1, F_DLV_COUNT, F_DLV_QUEUE, F_DLV_TASK, F_DLV_RETRIES, F_DLV_ROOT_ID,
       F_DLV_PARENT_ID, F_DLV_LEASE, F_DLV_ARGS, F_DLV_HAS_ARGS };
enum { F_DLV_CONSUMER_ID = 50 };
enum { F_CREP_CONSUMER_ID = 1, F_CREP_OK, F_CREP_DETAIL, F_CREP_PREFETCH, F_CREP_LEASE,
       F_CREP_HEARTBEAT };
enum { F_AREP_TAG = 1, F_AREP_OK, F_AREP_DETAIL };

static const uint8_t magic_prefix[TW_WIRE_MAGIC_LEN] = {
	(F_FRAME_MAGIC << 3) | WT_FIXED32,
	TW_FRAME_MAGIC & 0xff, (TW_FRAME_MAGIC >> 8) & 0xff,
	(TW_FRAME_MAGIC >> 16) & 0xff, (TW_FRAME_MAGIC >> 24) & 0xff,
};

struct cursor {
	const uint8_t *p;
	const uint8_t *end;
};

/* A varint is at most 10 bytes; anything longer or running past the end is malformed. */
static inline bool
get_varint(struct cursor *c, uint64_t *v)
{
	uint64_t r = 0;
	unsigned shift;

	for (shift = 0; shift < 64 && c->p < c->end; shift += 7) {
		uint8_t b = *c->p++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

static inline bool
get_fixed64(struct cursor *c, uint64_t *v)
{
	if (c->end - c->p < 8)
		return false;
	memcpy(v, c->p, 8); /* wire is little-endian, as is every CPU DPDK 22.11 builds for here */
	c->p += 8;
	return true;
}

static inline bool
get_len(struct cursor *c, struct tw_str *s)
{
	const uint8_t *start = c->p;
	uint64_t n;

	/* a length is a uint32 varint: protobuf-c refuses one over 5 bytes, even
	 * an overlong encoding of a small value (found by fuzz_wire), and so do we */
	if (!get_varint(c, &n) || c->p - start > 5 || n > (uint64_t)(c->end - c->p))
		return false;
	s->p = c->p;
	s->len = (uint32_t)n;
	c->p += n;
	return true;
}

/* Skip one field of wire type wt; groups (3, 4) are not used by proto3 and refused. */
static inline bool
skip_field(struct cursor *c, unsigned wt)
{
	uint64_t v;
	struct tw_str s;

	switch (wt) {
	case WT_VARINT:
		return get_varint(c, &v);
	case WT_FIXED64:
		return get_fixed64(c, &v);
	case WT_LEN:
		return get_len(c, &s);
	case WT_FIXED32:
		if (c->end - c->p < 4)
			return false;
		c->p += 4;
		return true;
	default:
		return false;
	}
}

static inline bool
get_tag(struct cursor *c, uint32_t *field, unsigned *wt)
{
	const uint8_t *start = c->p;
	uint64_t t;

	/*
	 * A tag is a uint32 varint: at most 5 bytes, field numbers 1 .. 2^29 - 1.
	 * protobuf-c refuses longer (overlong) tags and other numbers, and so
	 * do we (both found by fuzz_wire).
	 */
	if (!get_varint(c, &t) || c->p - start > 5 || (t >> 3) == 0 || (t >> 3) > 536870911u)
		return false;
	*field = (uint32_t)(t >> 3);
	*wt = (unsigned)(t & 7);
	return true;
}

static inline uint32_t
varint_size(uint64_t v)
{
	uint32_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline void
put_raw(struct tw_wbuf *w, const void *p, uint32_t n)
{
	if (w->overflow || w->cap - w->len < n) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

static inline void
put_varint(struct tw_wbuf *w, uint64_t v)
{
	uint8_t b[10];
	uint32_t n = 0;

	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	put_raw(w, b, n);
}

static inline void
put_tag(struct tw_wbuf *w, uint32_t field, unsigned wt)
{
	put_varint(w, ((uint64_t)field << 3) | wt);
}

static inline void
put_fixed64(struct tw_wbuf *w, uint32_t field, uint64_t v)
{
	put_tag(w, field, WT_FIXED64);
	put_raw(w, &v, 8);
}

static inline void
put_bytes(struct tw_wbuf *w, uint32_t field, const void *p, uint32_t n)
{
	put_tag(w, field, WT_LEN);
	put_varint(w, n);
	put_raw(w, p, n);
}

/*
 * A Confirm or Result sub-message is well formed the way protobuf-c
 * requires: known fields with their declared wire type, unknown fields
 * skippable. (Found by fuzz_wire: a publisher frame carrying a garbage
 * Confirm was accepted by us and refused by protobuf-c.)
 */
static const int8_t task_wt[] = { -1, WT_FIXED64, WT_LEN, WT_LEN, WT_LEN, WT_LEN, WT_VARINT, WT_LEN,
				  WT_FIXED64, WT_FIXED64, WT_VARINT, WT_LEN, WT_VARINT, WT_VARINT,
				  WT_FIXED64, WT_FIXED64, WT_FIXED64, WT_VARINT, WT_VARINT, WT_LEN,
				  WT_LEN, WT_LEN, WT_LEN, WT_VARINT, WT_VARINT, WT_FIXED64,
				  WT_VARINT, WT_LEN /* amqp_properties (fuzz_wire found it missing) */ };
#define TASK_KNOWN_FIELDS 27
static const int8_t header_wt[] = { -1, WT_LEN, WT_LEN };
/* Remote consumer messages (tw_wire_consumer.c), declared wire type per field. */
static const int8_t subscribe_wt[] = { -1, WT_FIXED64, WT_LEN, WT_LEN, WT_LEN, WT_VARINT,
				       WT_VARINT, WT_VARINT, WT_VARINT };
static const int8_t consumer_id_wt[] = { -1, WT_FIXED64 };
static const int8_t ack_wt[] = { -1, WT_FIXED64, WT_VARINT, WT_LEN, WT_LEN, WT_VARINT,
				 WT_VARINT, WT_VARINT, WT_VARINT };
static const int8_t deliver_wt[] = { -1, WT_FIXED64, WT_VARINT, WT_LEN, WT_LEN, WT_VARINT,
				     WT_FIXED64, WT_FIXED64, WT_VARINT, WT_LEN, WT_VARINT };
static const int8_t consumer_reply_wt[] = { -1, WT_FIXED64, WT_VARINT, WT_LEN, WT_VARINT,
					    WT_VARINT, WT_VARINT };
static const int8_t ack_reply_wt[] = { -1, WT_FIXED64, WT_VARINT, WT_LEN };
static const int8_t retry_wt[] = { -1, WT_VARINT, WT_VARINT, WT_VARINT, WT_VARINT, WT_VARINT,
				   WT_VARINT };

static inline bool
valid_reply_item(struct tw_str span, bool result)
{
	static const int8_t confirm_wt[] = { -1, WT_FIXED64, WT_VARINT, WT_VARINT, WT_LEN };
	static const int8_t result_wt[] = { -1, WT_FIXED64, WT_VARINT, WT_LEN, WT_LEN, WT_VARINT,
					    WT_LEN, WT_VARINT, WT_VARINT, WT_FIXED64, WT_VARINT,
					    WT_VARINT, WT_LEN, WT_FIXED64, WT_FIXED64, WT_FIXED64,
					    WT_VARINT, WT_VARINT, WT_LEN /* worker */ };
	const int8_t *want = result ? result_wt : confirm_wt;
	uint32_t n_known = result ? 18 : 4, field;
	struct cursor c;
	unsigned wt;

	if (span.len == 0)
		return true;
	c = (struct cursor){ span.p, span.p + span.len };
	while (c.p < c.end) {
		if (!get_tag(&c, &field, &wt))
			return false;
		if (field <= n_known && (int)wt != want[field])
			return false;
		if (!skip_field(&c, wt))
			return false;
	}
	return true;
}

/*
 * Known fields with their declared wire types, unknown ones skippable.
 * Nested Tasks (workflow signatures) are checked too, at most
 * TW_WF_MAX_DEPTH deep: deeper nesting is refused here although
 * protobuf-c would take it (we accept a subset of what it accepts).
 */
static inline bool
valid_message_at(struct tw_str span, const int8_t *want, uint32_t n_known, uint32_t depth)
{
	struct cursor c;
	uint32_t field;
	unsigned wt;

	if (span.len == 0)
		return true;
	c = (struct cursor){ span.p, span.p + span.len };
	while (c.p < c.end) {
		const uint8_t *start;
		struct tw_str sub;

		if (!get_tag(&c, &field, &wt))
			return false;
		if (field <= n_known && (int)wt != want[field])
			return false;
		start = c.p;
		if (!skip_field(&c, wt))
			return false;
		/* a task's headers are messages too */
		if (want == task_wt && field == F_TASK_HEADERS) {
			struct cursor h = { start, c.p };

			if (!get_len(&h, &sub) || !valid_message_at(sub, header_wt, 2, depth))
				return false;
		}
		if (want == task_wt && field == F_TASK_RETRY) {
			struct cursor h = { start, c.p };

			if (!get_len(&h, &sub) || !valid_message_at(sub, retry_wt, 6, depth))
				return false;
		}
		/* a field past the table's known ones: its declared type all the same */
		if (want == deliver_wt && field == F_DLV_CONSUMER_ID && wt != WT_FIXED64)
			return false;
		/* a delivery carries a whole Task */
		if (want == deliver_wt && field == F_DLV_TASK) {
			struct cursor h = { start, c.p };

			if (!get_len(&h, &sub) || !valid_message_at(sub, task_wt, TASK_KNOWN_FIELDS, 0))
				return false;
		}
		if (want == task_wt && field >= F_TASK_NEXT && field <= F_TASK_MEMBERS) {
			struct cursor h = { start, c.p };

			if (depth >= TW_WF_MAX_DEPTH || !get_len(&h, &sub) ||
			    !valid_message_at(sub, task_wt, TASK_KNOWN_FIELDS, depth + 1))
				return false;
		}
	}
	return true;
}

static inline bool
valid_message(struct tw_str span, const int8_t *want, uint32_t n_known)
{
	return valid_message_at(span, want, n_known, 0);
}

/* A Task (field 4 of a frame), as protobuf-c would accept it. */
static inline bool
valid_task(struct tw_str span)
{
	return valid_message(span, task_wt, TASK_KNOWN_FIELDS);
}

/* A Fragment message with its known fields of their declared wire types, as protobuf-c takes it. */
static inline bool
valid_fragment(struct tw_str span)
{
	struct cursor c = { span.p, span.p + span.len };
	uint32_t field;
	unsigned wt;
	uint64_t v;
	struct tw_str s;

	while (c.p < c.end) {
		if (!get_tag(&c, &field, &wt))
			return false;
		if (field == F_FRAG_MSG_ID) {
			if (wt != WT_FIXED64 || !get_fixed64(&c, &v))
				return false;
		} else if (field >= F_FRAG_INDEX && field <= F_FRAG_TOTAL) {
			if (wt != WT_VARINT || !get_varint(&c, &v))
				return false;
		} else if (field == F_FRAG_DATA) {
			if (wt != WT_LEN || !get_len(&c, &s))
				return false;
		} else if (!skip_field(&c, wt)) {
			return false;
		}
	}
	return true;
}

#endif
