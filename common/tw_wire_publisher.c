/*
 * The publisher side of the wire codec, for DPDK publishers (tw-loadgen):
 * encode tasks into a frame, decode the engine's confirms and results.
 * Zero allocation, like the engine side; tests/unit/wire_test.c checks
 * both against protobuf-c on the same bytes.
 */
#include "tw_wire.h"
#include "tw_wire_consumer.h"
#include "tw_wire_priv.h"

static void
put_string(struct tw_wbuf *w, uint32_t field, const char *s)
{
	uint32_t n = s != NULL ? (uint32_t)strlen(s) : 0;

	if (n != 0)
		put_bytes(w, field, s, n);
}

static uint32_t
task_body_size(uint32_t name, uint32_t ex, uint32_t key, uint32_t args,
	       const struct tw_wire_task_opts *o)
{
	uint32_t n = 9; /* id: tag + fixed64 */
	uint32_t priority = o != NULL ? o->priority : 0;

	if (name)
		n += 1 + varint_size(name) + name;
	if (ex)
		n += 1 + varint_size(ex) + ex;
	if (key)
		n += 1 + varint_size(key) + key;
	if (args)
		n += 1 + varint_size(args) + args;
	if (priority)
		n += 1 + varint_size(priority);
	if (o != NULL) {
		n += (o->eta_ms ? 9 : 0) + (o->expires_ms ? 9 : 0) + (o->ignore_result ? 2 : 0);
	}
	return n;
}

uint32_t
tw_wire_put_task(struct tw_wbuf *w, uint64_t id, const char *name, const char *exchange,
		 const char *key, const void *args, uint32_t args_len,
		 const struct tw_wire_task_opts *o)
{
	uint32_t body = task_body_size(name ? (uint32_t)strlen(name) : 0,
				       exchange ? (uint32_t)strlen(exchange) : 0,
				       key ? (uint32_t)strlen(key) : 0, args_len, o);
	uint32_t priority = o != NULL ? o->priority : 0;
	uint32_t id_off;

	put_tag(w, F_FRAME_TASKS, WT_LEN);
	put_varint(w, body);
	id_off = w->len + 1;
	put_fixed64(w, F_TASK_ID, id);
	put_string(w, F_TASK_NAME, name);
	put_string(w, F_TASK_EXCHANGE, exchange);
	put_string(w, F_TASK_KEY, key);
	if (args_len != 0)
		put_bytes(w, F_TASK_ARGS, args, args_len);
	if (priority != 0) {
		put_tag(w, F_TASK_PRIORITY, WT_VARINT);
		put_varint(w, priority);
	}
	if (o != NULL && o->eta_ms != 0)
		put_fixed64(w, F_TASK_ETA, o->eta_ms);
	if (o != NULL && o->expires_ms != 0)
		put_fixed64(w, F_TASK_EXPIRES, o->expires_ms);
	if (o != NULL && o->ignore_result) {
		put_tag(w, F_TASK_IGNORE_RESULT, WT_VARINT);
		put_varint(w, 1);
	}
	return w->overflow ? UINT32_MAX : id_off;
}

void
tw_wire_put_task_raw(struct tw_wbuf *w, const uint8_t *task, uint32_t len)
{
	put_bytes(w, F_FRAME_TASKS, task, len);
}

/* Fields 1..3 of a Confirm or a Result that the publisher needs. */
static bool
decode_item(struct tw_str span, uint32_t kind, struct tw_reply_item *it)
{
	struct cursor c = { span.p, span.p + span.len };
	uint32_t field;
	unsigned wt;
	uint64_t v;

	memset(it, 0, sizeof(*it));
	it->kind = (uint8_t)kind;
	while (c.p < c.end) {
		if (!get_tag(&c, &field, &wt))
			return false;
		if (field == 1 && wt == WT_FIXED64) {
			if (!get_fixed64(&c, &it->task_id))
				return false;
		} else if ((field == 2 || field == 3) && wt == WT_VARINT) {
			if (!get_varint(&c, &v))
				return false;
			if (kind == TW_ITEM_CONFIRM && field == 2)
				it->ack = v != 0;
			else if (kind == TW_ITEM_CONFIRM)
				it->reason = (uint32_t)v;
			else if (field == 2)
				it->state = (uint32_t)v;
		} else if (!skip_field(&c, wt)) {
			return false;
		}
	}
	return true;
}

/* Wire types of Frame's fields 1..21, as declared: protobuf-c refuses others
 * (fuzz_wire found key_id and mac missing here when they were added, then
 * sent_us, then cookie and padding). 10..16 are the remote consumers'
 * messages; -1: not declared (any wire type, skipped as unknown). */
static const int8_t frame_wt[] = { -1, WT_FIXED32, WT_VARINT, WT_FIXED64, WT_LEN, WT_LEN, WT_LEN,
				   WT_VARINT, WT_FIXED32, WT_LEN, WT_LEN, WT_LEN, WT_LEN, WT_LEN,
				   WT_LEN, WT_LEN, WT_LEN, WT_FIXED64, -1, -1, WT_LEN, WT_LEN };
#define FRAME_KNOWN_FIELDS 21

int
tw_wire_decode_replies(const uint8_t *buf, uint32_t len, uint64_t *frame_id,
		       struct tw_reply_item *items, uint32_t max)
{
	uint32_t field, n = 0;
	struct tw_frame_view consumer = { 0 };  /* consumer messages: validated, not read */
	struct cursor c;
	unsigned wt;

	*frame_id = 0;
	if (!tw_wire_has_magic(buf, len))
		return -1;
	c = (struct cursor){ buf, buf + len };
	/* Bounded by len: every field consumes at least one byte. */
	while (c.p < c.end) {
		struct tw_str s;

		if (!get_tag(&c, &field, &wt) ||
		    (field <= FRAME_KNOWN_FIELDS && frame_wt[field] >= 0 && (int)wt != frame_wt[field]))
			return -1;
		if (field == F_FRAME_ID && wt == WT_FIXED64) {
			if (!get_fixed64(&c, frame_id))
				return -1;
		} else if (field == F_FRAME_TASKS) {
			/* not ours to read, but protobuf-c would refuse a broken one */
			if (wt != WT_LEN || !get_len(&c, &s) || !valid_task(s))
				return -1;
		} else if (field >= F_FRAME_SUBSCRIBE && field <= F_FRAME_ACK_REPLIES) {
			const uint8_t *start = c.p;

			/* remote-consumer messages: protobuf-c would refuse broken ones */
			if (wt != WT_LEN || !get_len(&c, &s) ||
			    !tw_wire_consumer_field(&consumer, field, start, c.p, s))
				return -1;
		} else if ((field == F_FRAME_CONFIRMS || field == F_FRAME_RESULTS) && wt == WT_LEN) {
			if (!get_len(&c, &s) || !valid_reply_item(s, field == F_FRAME_RESULTS))
				return -1;
			if (n < max && !decode_item(s, field == F_FRAME_CONFIRMS ? TW_ITEM_CONFIRM
										   : TW_ITEM_RESULT,
						    &items[n++]))
				return -1;
		} else if (field == F_FRAME_FRAGMENT) {
			/* a piece of a larger reply: the caller reassembles, we validate */
			if (wt != WT_LEN || !get_len(&c, &s) || !valid_fragment(s))
				return -1;
		} else if (!skip_field(&c, wt)) {
			return -1;
		}
	}
	return (int)n;
}
