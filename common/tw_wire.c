/*
 * Zero-allocation protobuf wire codec for taskwire frames (see tw_wire.h).
 * Runs on the io lcore per received frame and on workers per result; it
 * touches only the caller's buffers and a few locals.
 */
#include <string.h>

#include "tw_wire.h"
#include "tw_wire_consumer.h"
#include "tw_wire_priv.h"


static bool
decode_header_entry(struct tw_str span)
{
	struct cursor c = { span.p, span.p + span.len };
	uint32_t field;
	unsigned wt;
	struct tw_str s;

	while (c.p < c.end) {
		if (!get_tag(&c, &field, &wt))
			return false;
		if (field == F_HDR_KEY || field == F_HDR_VALUE) {
			if (wt != WT_LEN || !get_len(&c, &s))
				return false;
		} else if (!skip_field(&c, wt)) {
			return false;
		}
	}
	return true;
}

bool
tw_wire_header_next(struct tw_str *rest, struct tw_str *key, struct tw_str *value)
{
	struct cursor c;

	/* a task without headers has a NULL span (found by fuzz_wire: NULL + 0 is UB) */
	if (rest->len == 0)
		return false;
	c = (struct cursor){ rest->p, rest->p + rest->len };

	/* Bounded by the span: every step consumes at least one byte. */
	while (c.p < c.end) {
		uint32_t field;
		unsigned wt;
		struct tw_str entry;

		if (!get_tag(&c, &field, &wt))
			return false;
		if (field != F_TASK_HEADERS || wt != WT_LEN) {
			if (!skip_field(&c, wt))
				return false;
			continue;
		}
		if (!get_len(&c, &entry))
			return false;
		rest->len -= (uint32_t)(c.p - rest->p);
		rest->p = c.p;
		key->p = value->p = entry.p;
		key->len = value->len = 0;
		{
			struct cursor e = { entry.p, entry.p + entry.len };

			while (e.p < e.end) {
				struct tw_str s;

				if (!get_tag(&e, &field, &wt))
					return false;
				if ((field == F_HDR_KEY || field == F_HDR_VALUE) && wt == WT_LEN) {
					if (!get_len(&e, &s))
						return false;
					*(field == F_HDR_KEY ? key : value) = s;
				} else if (!skip_field(&e, wt)) {
					return false;
				}
			}
		}
		return true;
	}
	rest->len = 0;
	return false;
}

/* A RetryPolicy sub-message: known varint fields, unknown ones skipped. */
static bool
decode_retry(struct tw_str span, struct tw_retry_policy *r)
{
	struct cursor c = { span.p, span.p + span.len };
	uint32_t field;
	unsigned wt;
	uint64_t v;

	/* a repeated occurrence replaces the earlier one, as protobuf-c 1.4 does
	 * (wire_test checks it against protobuf-c on the same bytes) */
	memset(r, 0, sizeof(*r));
	while (c.p < c.end) {
		if (!get_tag(&c, &field, &wt))
			return false;
		if (field > F_RETRY_AUTORETRY) {
			if (!skip_field(&c, wt))
				return false;
			continue;
		}
		if (wt != WT_VARINT || !get_varint(&c, &v))
			return false;
		switch (field) {
		case F_RETRY_MAX: r->max_retries = (uint32_t)v; break;
		case F_RETRY_COUNTDOWN: r->countdown_ms = (uint32_t)v; break;
		case F_RETRY_BACKOFF: r->backoff = v != 0; break;
		case F_RETRY_BACKOFF_MAX: r->backoff_max_ms = (uint32_t)v; break;
		case F_RETRY_JITTER: r->jitter = v != 0; break;
		default: r->autoretry = v != 0; break;
		}
	}
	return true;
}

/* Extend a repeated field's span to cover [first occurrence, end of this one). */
static void
span_add(struct tw_str *span, uint32_t *n, const uint8_t *field_start, const uint8_t *end)
{
	if (*n == 0)
		span->p = field_start;
	span->len = (uint32_t)(end - span->p);
	(*n)++;
}

static const char *decode_task_at(struct tw_str span, struct tw_task_view *t, uint32_t depth,
				  bool deep);

/* A nested signature: decoded (so validated) one level deeper. */
static const char *
check_nested(struct tw_str s, uint32_t depth)
{
	struct tw_task_view sub;

	if (depth + 1 > TW_WF_MAX_DEPTH)
		return "workflow nested too deep";
	return decode_task_at(s, &sub, depth + 1, true);
}

static const char *
decode_task_at(struct tw_str span, struct tw_task_view *t, uint32_t depth, bool deep)
{
	struct cursor c = { span.p, span.p + span.len };
	const uint8_t *hdr_first = NULL, *hdr_end = NULL;
	const char *bad;
	uint32_t field;
	unsigned wt;
	uint64_t v;

	memset(t, 0, sizeof(*t));
	t->raw = span;
	while (c.p < c.end) {
		const uint8_t *field_start = c.p;
		struct tw_str s;

		if (!get_tag(&c, &field, &wt))
			return "bad tag in task";
		switch (field) {
		case F_TASK_ID:
			if (wt != WT_FIXED64 || !get_fixed64(&c, &t->id))
				return "bad task id";
			break;
		case F_TASK_NAME:
		case F_TASK_EXCHANGE:
		case F_TASK_KEY:
		case F_TASK_ARGS:
			if (wt != WT_LEN || !get_len(&c, &s))
				return "bad string in task";
			if (field == F_TASK_NAME)
				t->name = s;
			else if (field == F_TASK_EXCHANGE)
				t->exchange = s;
			else if (field == F_TASK_KEY)
				t->routing_key = s;
			else
				t->args = s;
			break;
		case F_TASK_PRIORITY:
			if (wt != WT_VARINT || !get_varint(&c, &v))
				return "bad priority";
			t->priority = (uint32_t)v; /* proto3 uint32: high bits dropped, as protobuf-c does */
			break;
		case F_TASK_HEADERS:
			if (wt != WT_LEN || !get_len(&c, &s) || !decode_header_entry(s))
				return "bad header";
			if (hdr_first == NULL)
				hdr_first = field_start;
			hdr_end = c.p;
			t->n_headers++;
			break;
		case F_TASK_ETA:
		case F_TASK_EXPIRES:
			if (wt != WT_FIXED64 ||
			    !get_fixed64(&c, field == F_TASK_ETA ? &t->eta_ms : &t->expires_ms))
				return "bad eta or expires";
			break;
		case F_TASK_RETRIES:
		case F_TASK_IGNORE_RESULT:
		case F_TASK_RESULT_EXPIRES:
			if (wt != WT_VARINT || !get_varint(&c, &v))
				return "bad retries, ignore_result or result_expires";
			if (field == F_TASK_RETRIES)
				t->retries = (uint32_t)v;
			else if (field == F_TASK_IGNORE_RESULT)
				t->ignore_result = v != 0;
			else
				t->result_expires_s = (uint32_t)v;
			break;
		case F_TASK_RETRY:
			if (wt != WT_LEN || !get_len(&c, &s) || !decode_retry(s, &t->retry))
				return "bad retry policy";
			t->has_retry = true;
			break;
		case F_TASK_ROOT_ID:
		case F_TASK_PARENT_ID:
		case F_TASK_GROUP_ID:
		case F_TASK_ARGS_GROUP:
			if (wt != WT_FIXED64 || !get_fixed64(&c, &v))
				return "bad workflow id";
			if (field == F_TASK_ROOT_ID)
				t->root_id = v;
			else if (field == F_TASK_PARENT_ID)
				t->parent_id = v;
			else if (field == F_TASK_GROUP_ID)
				t->group_id = v;
			else
				t->args_group = v;
			t->workflow = true;
			break;
		case F_TASK_GROUP_INDEX:
		case F_TASK_GROUP_SIZE:
		case F_TASK_IMMUTABLE:
		case F_TASK_NOTIFY:
		case F_TASK_RESULT_CELL:
			if (wt != WT_VARINT || !get_varint(&c, &v))
				return "bad workflow field";
			if (field == F_TASK_GROUP_INDEX)
				t->group_index = (uint32_t)v;
			else if (field == F_TASK_GROUP_SIZE)
				t->group_size = (uint32_t)v;
			else if (field == F_TASK_IMMUTABLE)
				t->immutable = v != 0;
			else if (field == F_TASK_NOTIFY)
				t->notify = v != 0;
			else
				t->result_cell = (uint32_t)v;
			t->workflow = true;
			break;
		case F_TASK_NEXT:
		case F_TASK_LINK:
		case F_TASK_LINK_ERROR:
		case F_TASK_MEMBERS:
			if (wt != WT_LEN || !get_len(&c, &s))
				return "bad workflow signature";
			bad = deep ? check_nested(s, depth) : NULL;
			if (bad != NULL)
				return bad;
			if (field == F_TASK_NEXT) {
				/* a repeated message field merges in protobuf; a second
				 * `next` is refused rather than merged */
				if (t->next.len != 0)
					return "more than one next step";
				t->next = s;
				if (s.len == 0)
					return "empty next step";
			} else if (field == F_TASK_LINK) {
				span_add(&t->links, &t->n_links, field_start, c.p);
			} else if (field == F_TASK_LINK_ERROR) {
				span_add(&t->link_errors, &t->n_link_errors, field_start, c.p);
			} else {
				span_add(&t->members, &t->n_members, field_start, c.p);
			}
			t->workflow = true;
			break;
		case F_TASK_AMQP_PROPERTIES:
			/* carried for tw-amqp's consumers inside the task's bytes, not read
			 * here; protobuf-c refuses it with another wire type (fuzz_wire) */
			if (wt != WT_LEN || !get_len(&c, &s))
				return "bad amqp_properties in task";
			break;
		default:
			if (!skip_field(&c, wt))
				return "bad unknown field in task";
		}
	}
	if (hdr_first != NULL) {
		t->headers.p = hdr_first;
		t->headers.len = (uint32_t)(hdr_end - hdr_first);
	}
	return NULL;
}

const char *
tw_wire_decode_task(struct tw_str span, struct tw_task_view *tv)
{
	return decode_task_at(span, tv, 0, true);
}

const char *
tw_wire_decode_task_trusted(struct tw_str span, struct tw_task_view *tv)
{
	return decode_task_at(span, tv, 0, false);
}

bool
tw_wire_task_field_next(struct tw_str *rest, uint32_t field, struct tw_str *task)
{
	struct cursor c;

	if (rest->len == 0)
		return false;
	c = (struct cursor){ rest->p, rest->p + rest->len };
	while (c.p < c.end) {
		uint32_t f;
		unsigned wt;
		struct tw_str s;

		if (!get_tag(&c, &f, &wt))
			break;
		if (f == field && wt == WT_LEN) {
			if (!get_len(&c, &s))
				break;
			rest->len -= (uint32_t)(c.p - rest->p);
			rest->p = c.p;
			*task = s;
			return true;
		}
		if (!skip_field(&c, wt))
			break;
	}
	rest->len = 0;
	return false;
}

const char *
tw_wire_state_name(uint32_t state)
{
	static const char *const names[] = {
		"PENDING", "RECEIVED", "STARTED", "PROGRESS", "RETRY", "SUCCESS",
		"FAILURE", "REVOKED", "EXPIRED", "REJECTED",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "UNKNOWN";
}

bool
tw_wire_has_magic(const uint8_t *buf, uint32_t len)
{
	return len >= TW_WIRE_MAGIC_LEN && memcmp(buf, magic_prefix, TW_WIRE_MAGIC_LEN) == 0;
}

static enum tw_wire_status decode_frame(const uint8_t *buf, uint32_t len,
					 struct tw_frame_view *fv, struct tw_task_view *tasks,
					 uint32_t max_tasks, bool deep);

enum tw_wire_status
tw_wire_decode_frame(const uint8_t *buf, uint32_t len, struct tw_frame_view *fv,
		     struct tw_task_view *tasks, uint32_t max_tasks)
{
	return decode_frame(buf, len, fv, tasks, max_tasks, true);
}

enum tw_wire_status
tw_wire_decode_frame_trusted(const uint8_t *buf, uint32_t len, struct tw_frame_view *fv,
			     struct tw_task_view *tasks, uint32_t max_tasks)
{
	return decode_frame(buf, len, fv, tasks, max_tasks, false);
}

static enum tw_wire_status
decode_frame(const uint8_t *buf, uint32_t len, struct tw_frame_view *fv,
	     struct tw_task_view *tasks, uint32_t max_tasks, bool deep)
{
	struct cursor c = { buf + TW_WIRE_MAGIC_LEN, buf + len };
	uint32_t field;
	unsigned wt;
	uint64_t v;

	fv->version = 0;
	fv->frame_id = 0;
	fv->n_tasks = 0;
	fv->retransmits = false;
	fv->key_id = 0;
	fv->sent_us = 0;
	fv->mac.p = NULL;
	fv->mac.len = 0;
	fv->mac_off = 0;
	fv->cookie = (struct tw_str){ NULL, 0 };
	fv->error = NULL;
	fv->has_subscribe = fv->has_cancel = fv->has_heartbeat = false;
	fv->subscribe = (struct tw_str){ NULL, 0 };
	fv->cancel_id = fv->heartbeat_id = 0;
	fv->acks = (struct tw_str){ NULL, 0 };
	fv->n_acks = 0;
	if (!tw_wire_has_magic(buf, len))
		return TW_WIRE_NOT_TASKWIRE;

	while (c.p < c.end) {
		const uint8_t *field_start = c.p;
		struct tw_str s;

		if (fv->mac_off != 0) {
			fv->error = "fields after the mac (it must come last)";
			return TW_WIRE_MALFORMED;
		}
		if (!get_tag(&c, &field, &wt)) {
			fv->error = "bad tag";
			return TW_WIRE_MALFORMED;
		}
		switch (field) {
		case F_FRAME_KEY_ID:
			if (wt != WT_FIXED32 || c.end - c.p < 4) {
				fv->error = "bad key_id field";
				return TW_WIRE_MALFORMED;
			}
			memcpy(&fv->key_id, c.p, 4);
			c.p += 4;
			break;
		case F_FRAME_SENT_US:
			if (wt != WT_FIXED64 || !get_fixed64(&c, &fv->sent_us)) {
				fv->error = "bad sent_us field";
				return TW_WIRE_MALFORMED;
			}
			break;
		case F_FRAME_COOKIE:
		case F_FRAME_PADDING:
			if (wt != WT_LEN || !get_len(&c, &s)) {
				fv->error = "bad cookie or padding field";
				return TW_WIRE_MALFORMED;
			}
			if (field == F_FRAME_COOKIE)
				fv->cookie = s;
			break;
		case F_FRAME_MAC:
			if (wt != WT_LEN || !get_len(&c, &fv->mac)) {
				fv->error = "bad mac field";
				return TW_WIRE_MALFORMED;
			}
			fv->mac_off = (uint32_t)(field_start - buf);
			break;
		case F_FRAME_RETRANSMITS:
			if (wt != WT_VARINT || !get_varint(&c, &v)) {
				fv->error = "bad retransmits field";
				return TW_WIRE_MALFORMED;
			}
			fv->retransmits = v != 0;
			break;
		case F_FRAME_VERSION:
			if (wt != WT_VARINT || !get_varint(&c, &v)) {
				fv->error = "bad version field";
				return TW_WIRE_MALFORMED;
			}
			fv->version = (uint32_t)v;
			break;
		case F_FRAME_ID:
			if (wt != WT_FIXED64 || !get_fixed64(&c, &fv->frame_id)) {
				fv->error = "bad frame_id field";
				return TW_WIRE_MALFORMED;
			}
			break;
		case F_FRAME_TASKS:
			if (wt != WT_LEN || !get_len(&c, &s)) {
				fv->error = "truncated task";
				return TW_WIRE_MALFORMED;
			}
			if (fv->n_tasks >= max_tasks) {
				fv->error = "too many tasks in frame";
				return TW_WIRE_MALFORMED;
			}
			/* Decoded below, once the version is known to be ours. */
			tasks[fv->n_tasks].args = s;
			fv->n_tasks++;
			break;
		case F_FRAME_CONFIRMS:
		case F_FRAME_RESULTS:
			/* not a publisher's business, but they must still be well formed */
			if (wt != WT_LEN || !get_len(&c, &s) ||
			    !valid_reply_item(s, field == F_FRAME_RESULTS)) {
				fv->error = "bad confirm or result field";
				return TW_WIRE_MALFORMED;
			}
			break;
		case F_FRAME_SUBSCRIBE:
		case F_FRAME_CANCEL:
		case F_FRAME_HEARTBEAT:
		case F_FRAME_ACKS:
		case F_FRAME_DELIVERIES:
		case F_FRAME_CONSUMER:
		case F_FRAME_ACK_REPLIES:
			if (wt != WT_LEN || !get_len(&c, &s) ||
			    !tw_wire_consumer_field(fv, field, field_start, c.p, s)) {
				fv->error = "bad consumer message";
				return TW_WIRE_MALFORMED;
			}
			break;
		case F_FRAME_FRAGMENT:
			/* a fragment inside a whole frame means nothing (pieces are
			 * taken apart before decoding), but it must be well formed */
			if (wt != WT_LEN || !get_len(&c, &s) || !valid_fragment(s)) {
				fv->error = "bad fragment field";
				return TW_WIRE_MALFORMED;
			}
			break;
		case F_FRAME_MAGIC:
			/* A second magic is legal protobuf (last one wins); it must still be ours. */
			if (wt != WT_FIXED32 || c.end - c.p < 4 ||
			    memcmp(c.p, magic_prefix + 1, 4) != 0) {
				fv->error = "bad magic field";
				return TW_WIRE_MALFORMED;
			}
			c.p += 4;
			break;
		default:
			if (!skip_field(&c, wt)) {
				fv->error = "bad field";
				return TW_WIRE_MALFORMED;
			}
		}
	}
	if (fv->version != TW_FRAME_VERSION) {
		fv->error = "unsupported frame version";
		return TW_WIRE_BAD_VERSION;
	}
	for (uint32_t i = 0; i < fv->n_tasks; i++) {
		struct tw_str span = tasks[i].args;

		fv->error = decode_task_at(span, &tasks[i], 0, deep);
		if (fv->error != NULL)
			return TW_WIRE_MALFORMED;
	}
	return TW_WIRE_OK;
}

/* --- encoder --- */


/* proto3 leaves fields at their default value off the wire; so do we, to
 * produce the same bytes as protobuf-c. */

void
tw_wire_put_header(struct tw_wbuf *w, uint64_t frame_id)
{
	put_raw(w, magic_prefix, TW_WIRE_MAGIC_LEN);
	put_tag(w, F_FRAME_VERSION, WT_VARINT);
	put_varint(w, TW_FRAME_VERSION);
	if (frame_id != 0)
		put_fixed64(w, F_FRAME_ID, frame_id);
}

void
tw_wire_put_confirm(struct tw_wbuf *w, uint64_t task_id, bool ack, uint32_t reason,
		    const char *detail)
{
	uint32_t dlen = detail != NULL ? (uint32_t)strlen(detail) : 0;
	uint32_t body = 0;

	if (task_id != 0)
		body += 9;
	if (ack)
		body += 2;
	if (reason != 0)
		body += 1 + varint_size(reason);
	if (dlen != 0)
		body += 1 + varint_size(dlen) + dlen;

	put_tag(w, F_FRAME_CONFIRMS, WT_LEN);
	put_varint(w, body);
	if (task_id != 0)
		put_fixed64(w, F_CONFIRM_TASK_ID, task_id);
	if (ack) {
		put_tag(w, F_CONFIRM_ACK, WT_VARINT);
		put_varint(w, 1);
	}
	if (reason != 0) {
		put_tag(w, F_CONFIRM_REASON, WT_VARINT);
		put_varint(w, reason);
	}
	if (dlen != 0)
		put_bytes(w, F_CONFIRM_DETAIL, detail, dlen);
}

static uint32_t
len_field_size(uint32_t len)
{
	return len != 0 ? 1 + varint_size(len) + len : 0;
}

static uint32_t
varint_field_size(uint64_t v)
{
	return v != 0 ? 1 + varint_size(v) : 0;
}

static uint32_t
record_body_size(const struct tw_wire_result *r)
{
	return (r->task_id != 0 ? 9 : 0) + varint_field_size(r->state) +
	       len_field_size(r->value_len) + len_field_size(r->error_len) +
	       varint_field_size(r->runtime_ns) + len_field_size(r->name_len) +
	       varint_field_size(r->retries) + varint_field_size(r->result_expires_s) +
	       (r->eta_ms != 0 ? 9 : 0) + (r->resent ? 2 : 0) + (r->event_only ? 2 : 0) +
	       len_field_size(r->queue_len) + (r->root_id != 0 ? 9 : 0) +
	       (r->parent_id != 0 ? 9 : 0) + (r->group_id != 0 ? 9 : 0) +
	       (r->group_index != 0 ? 2 + varint_size(r->group_index) : 0) +
	       (r->group_size != 0 ? 2 + varint_size(r->group_size) : 0) +
	       (r->worker_len != 0 ? 1 + len_field_size(r->worker_len) : 0); /* two-byte tag */
}

uint32_t
tw_wire_result_size(uint32_t value_len, uint32_t error_len, uint64_t runtime_ns)
{
	/* Worst case for the small fields: a non-zero id and a one-byte state. */
	struct tw_wire_result r = { .task_id = 1, .state = TW_ST_EXPIRED, .value_len = value_len,
				    .error_len = error_len, .runtime_ns = runtime_ns };
	uint32_t body = record_body_size(&r);

	return 1 + varint_size(body) + body;
}

uint32_t
tw_wire_record_size(const struct tw_wire_result *r)
{
	uint32_t body = record_body_size(r);

	return 1 + varint_size(body) + body;
}

void
tw_wire_put_record(struct tw_wbuf *w, const struct tw_wire_result *r)
{
	uint32_t body = record_body_size(r);

	put_tag(w, F_FRAME_RESULTS, WT_LEN);
	put_varint(w, body);
	if (r->task_id != 0)
		put_fixed64(w, F_RESULT_TASK_ID, r->task_id);
	if (r->state != 0) {
		put_tag(w, F_RESULT_STATE, WT_VARINT);
		put_varint(w, r->state);
	}
	if (r->value_len != 0)
		put_bytes(w, F_RESULT_VALUE, r->value, r->value_len);
	if (r->error_len != 0)
		put_bytes(w, F_RESULT_ERROR, r->error, r->error_len);
	if (r->runtime_ns != 0) {
		put_tag(w, F_RESULT_RUNTIME, WT_VARINT);
		put_varint(w, r->runtime_ns);
	}
	if (r->name_len != 0)
		put_bytes(w, F_RESULT_NAME, r->name, r->name_len);
	if (r->retries != 0) {
		put_tag(w, F_RESULT_RETRIES, WT_VARINT);
		put_varint(w, r->retries);
	}
	if (r->result_expires_s != 0) {
		put_tag(w, F_RESULT_EXPIRES, WT_VARINT);
		put_varint(w, r->result_expires_s);
	}
	if (r->eta_ms != 0)
		put_fixed64(w, F_RESULT_ETA, r->eta_ms);
	if (r->resent) {
		put_tag(w, F_RESULT_RESENT, WT_VARINT);
		put_varint(w, 1);
	}
	if (r->event_only) {
		put_tag(w, F_RESULT_EVENT_ONLY, WT_VARINT);
		put_varint(w, 1);
	}
	if (r->queue_len != 0)
		put_bytes(w, F_RESULT_QUEUE, r->queue, r->queue_len);
	/* fields 16 and 17 take a two-byte tag (field number >= 16) */
	if (r->root_id != 0)
		put_fixed64(w, F_RESULT_ROOT_ID, r->root_id);
	if (r->parent_id != 0)
		put_fixed64(w, F_RESULT_PARENT_ID, r->parent_id);
	if (r->group_id != 0)
		put_fixed64(w, F_RESULT_GROUP_ID, r->group_id);
	if (r->group_index != 0) {
		put_tag(w, F_RESULT_GROUP_INDEX, WT_VARINT);
		put_varint(w, r->group_index);
	}
	if (r->group_size != 0) {
		put_tag(w, F_RESULT_GROUP_SIZE, WT_VARINT);
		put_varint(w, r->group_size);
	}
	if (r->worker_len != 0)
		put_bytes(w, F_RESULT_WORKER, r->worker, r->worker_len);
}

/*
 * The result every task sends its publisher: five fields only. Kept apart
 * from tw_wire_put_record(), whose twelve optional fields cost ~5% of the
 * engine's cycles on the noop path (perf record, make perf).
 */
void
tw_wire_put_result(struct tw_wbuf *w, uint64_t task_id, uint32_t state, const uint8_t *value,
		   uint32_t value_len, const char *error, uint32_t error_len, uint64_t runtime_ns)
{
	uint32_t body = (task_id != 0 ? 9 : 0) + varint_field_size(state) +
			len_field_size(value_len) + len_field_size(error_len) +
			varint_field_size(runtime_ns);

	put_tag(w, F_FRAME_RESULTS, WT_LEN);
	put_varint(w, body);
	if (task_id != 0)
		put_fixed64(w, F_RESULT_TASK_ID, task_id);
	if (state != 0) {
		put_tag(w, F_RESULT_STATE, WT_VARINT);
		put_varint(w, state);
	}
	if (value_len != 0)
		put_bytes(w, F_RESULT_VALUE, value, value_len);
	if (error_len != 0)
		put_bytes(w, F_RESULT_ERROR, error, error_len);
	if (runtime_ns != 0) {
		put_tag(w, F_RESULT_RUNTIME, WT_VARINT);
		put_varint(w, runtime_ns);
	}
}
