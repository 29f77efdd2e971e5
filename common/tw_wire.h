/*
 * Zero-allocation codec for the frames of proto/taskwire.proto, used on the
 * data-plane hot path instead of protobuf-c's unpack (which mallocs every
 * message and string). The decoder returns views that point into the
 * caller's buffer; the encoder writes into a caller-provided buffer.
 * tests/unit/wire_test.c checks both against protobuf-c's generated code on
 * the same bytes.
 *
 * Decoding is all-or-nothing per frame: tw_wire_decode_frame() validates
 * the whole frame before the caller acts on any task, so a malformed frame
 * is refused as a whole and never half-delivered.
 *
 * Threads: pure functions over caller memory; any thread.
 */
#ifndef TW_WIRE_H
#define TW_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include <taskwire/retry.h>

#include "tw_limits.h"

/* Length of the magic prefix: tag byte (field 1, fixed32) + 4 bytes. */
#define TW_WIRE_MAGIC_LEN 5

struct tw_str {
	const uint8_t *p;
	uint32_t len;
};


struct tw_task_view {
	uint64_t id;
	struct tw_str name;
	struct tw_str exchange;
	struct tw_str routing_key;
	struct tw_str args;
	uint32_t priority;
	uint32_t n_headers;
	struct tw_str headers;   /* raw span of the first..last header field, for later matching */
	uint64_t eta_ms;         /* unix ms, 0: now */
	uint64_t expires_ms;     /* unix ms, 0: never */
	uint32_t retries;
	uint32_t result_expires_s;
	bool ignore_result;
	bool has_retry;          /* retry policy present: it overrides the registered one */
	struct tw_retry_policy retry;
	struct tw_str raw;       /* the whole Task message */
	/* Workflows (proto Task fields 14..26). Spans of repeated fields run
	 * from the first occurrence to the end of the last one; walk them with
	 * tw_wire_task_field_next(). */
	bool workflow;           /* any workflow field is set */
	bool immutable;
	bool notify;
	uint64_t root_id;
	uint64_t parent_id;
	uint64_t group_id;
	uint32_t group_index;
	uint32_t group_size;     /* non-zero: a group node */
	uint32_t result_cell;
	uint64_t args_group;
	struct tw_str next;      /* the Task message of the next step (len 0: none) */
	struct tw_str links;
	uint32_t n_links;
	struct tw_str link_errors;
	uint32_t n_link_errors;
	struct tw_str members;
	uint32_t n_members;
};

/* Field numbers of Task's repeated signature fields, for tw_wire_task_field_next(). */
enum { TW_TASK_F_LINK = 20, TW_TASK_F_LINK_ERROR = 21, TW_TASK_F_MEMBERS = 22 };

/**
 * Walk a span of a task view (links, link_errors, members): each call
 * yields the next occurrence of field (a nested Task message) and
 * advances rest. Spans come from a validated task, so damage ends the walk.
 * @return false when none is left.
 */
bool tw_wire_task_field_next(struct tw_str *rest, uint32_t field, struct tw_str *task);

/**
 * Decode one Task message (as nested in next/link/members) into tv,
 * validating it and its own nested signatures.
 * @return NULL, or a static string naming the problem.
 */
const char *tw_wire_decode_task(struct tw_str span, struct tw_task_view *tv);

/*
 * The same for bytes the engine made itself from validated ones (steps it
 * composed, frames it injects): nested signatures were validated when
 * their publisher's frame came in, so they are not walked again (a chain
 * step would otherwise re-validate everything after it, at every step).
 */
const char *tw_wire_decode_task_trusted(struct tw_str span, struct tw_task_view *tv);

enum tw_wire_status {
	TW_WIRE_OK = 0,
	TW_WIRE_NOT_TASKWIRE,    /* no magic: not ours, drop without a reply */
	TW_WIRE_MALFORMED,       /* truncated, bad varint, wrong wire type, too many tasks */
	TW_WIRE_BAD_VERSION,
};

struct tw_frame_view {
	uint32_t version;
	uint64_t frame_id;
	uint32_t n_tasks;
	bool retransmits;        /* the publisher retransmits: suppress duplicates */
	uint32_t key_id;         /* authenticated frames: the publisher's key, 0: none */
	struct tw_str mac;       /* its MAC (len 0: none) */
	uint64_t sent_us;        /* authenticated frames: when signed, unix us (0: not said) */
	uint32_t mac_off;        /* bytes of the frame the MAC covers (up to the mac field) */
	struct tw_str cookie;    /* the source cookie it carries (len 0: none) */
	const char *error;       /* static string naming the first problem, for NACK details */
	/* Remote consumer messages (fields 10..13), validated as protobuf-c
	 * would; read them with tw_wire_consumer.h. */
	bool has_subscribe, has_cancel, has_heartbeat;
	struct tw_str subscribe; /* the Subscribe message */
	uint64_t cancel_id;      /* consumer ids of Cancel and Heartbeat */
	uint64_t heartbeat_id;
	struct tw_str acks;      /* span of the Ack fields (walk with tw_wire_ack_next) */
	uint32_t n_acks;
};

/**
 * Walk a task's headers (tw_task_view.headers): each call yields the next
 * header's key and value (empty when absent) and advances rest.
 * @return false when no header is left (or the span is damaged).
 */
bool tw_wire_header_next(struct tw_str *rest, struct tw_str *key, struct tw_str *value);

/** @return true if buf starts with the taskwire magic. Cheap: 5 byte compare. */
bool tw_wire_has_magic(const uint8_t *buf, uint32_t len);

/**
 * Decode a whole frame into fv and tasks[0 .. fv->n_tasks).
 * frame_id and version are filled as far as decoding got, so a refusal can
 * still name the frame. Confirms and results in a publisher's frame are
 * skipped; unknown fields are skipped (forward compatibility).
 * Ownership: borrows buf; the views point into it.
 */
enum tw_wire_status tw_wire_decode_frame(const uint8_t *buf, uint32_t len,
					 struct tw_frame_view *fv,
					 struct tw_task_view *tasks, uint32_t max_tasks);

/** tw_wire_decode_frame() for frames the engine made (tw_wire_decode_task_trusted()). */
enum tw_wire_status tw_wire_decode_frame_trusted(const uint8_t *buf, uint32_t len,
						 struct tw_frame_view *fv,
						 struct tw_task_view *tasks, uint32_t max_tasks);

/* --- encoder --- */

struct tw_wbuf {
	uint8_t *p;
	uint32_t len;
	uint32_t cap;
	bool overflow;           /* sticky: set when a write did not fit */
};

static inline void
tw_wbuf_init(struct tw_wbuf *w, uint8_t *p, uint32_t cap)
{
	w->p = p;
	w->len = 0;
	w->cap = cap;
	w->overflow = false;
}

/** Write magic, version and frame_id: the start of every reply frame. */
void tw_wire_put_header(struct tw_wbuf *w, uint64_t frame_id);

/** Append one Confirm (field 5). detail may be NULL. */
void tw_wire_put_confirm(struct tw_wbuf *w, uint64_t task_id, bool ack, uint32_t reason,
			 const char *detail);

/** Append one Result (field 6). value/error may be NULL with length 0. */
void tw_wire_put_result(struct tw_wbuf *w, uint64_t task_id, uint32_t state,
			const uint8_t *value, uint32_t value_len,
			const char *error, uint32_t error_len, uint64_t runtime_ns);

/* A Result with every field (the records for tw-control's result store). */
struct tw_wire_result {
	uint64_t task_id;
	uint32_t state;
	uint32_t value_len;
	const uint8_t *value;
	const char *error;
	uint32_t error_len;
	uint32_t name_len;
	const char *name;
	uint64_t runtime_ns;
	uint32_t retries;
	uint32_t result_expires_s;
	uint64_t eta_ms;
	bool resent;
	bool event_only;
	const char *queue;
	uint32_t queue_len;
	uint64_t root_id;        /* workflow tree (records only) */
	uint64_t parent_id;
	uint64_t group_id;
	uint32_t group_index;
	uint32_t group_size;
	const char *worker;      /* records: the remote consumer's "name@host" (events) */
	uint32_t worker_len;
};

/** Append one Result (field 6) with all its fields; zero/empty ones are left out. */
void tw_wire_put_record(struct tw_wbuf *w, const struct tw_wire_result *r);

/** Bytes tw_wire_put_record would append. */
uint32_t tw_wire_record_size(const struct tw_wire_result *r);

/** Bytes tw_wire_put_result would append (to decide whether a frame has room). */
uint32_t tw_wire_result_size(uint32_t value_len, uint32_t error_len, uint64_t runtime_ns);

/* --- publisher side (DPDK publishers such as tw-loadgen; tw_wire_publisher.c) --- */

/* After tw_wire_put_header() with a non-zero frame id, its 8 bytes start here. */
#define TW_WIRE_FRAME_ID_OFFSET 8

/**
 * Append one Task (field 4), fields in proto order, defaults left out as
 * protobuf-c does. @return the offset in w of the task id's 8 bytes, so a
 * template frame can be re-sent with new ids, or UINT32_MAX if w overflowed.
 */
/* Optional Task fields of tw_wire_put_task (NULL: none). */
struct tw_wire_task_opts {
	uint32_t priority;
	uint64_t eta_ms;
	uint64_t expires_ms;
	bool ignore_result;
};

uint32_t tw_wire_put_task(struct tw_wbuf *w, uint64_t id, const char *name, const char *exchange,
			  const char *key, const void *args, uint32_t args_len,
			  const struct tw_wire_task_opts *opts);

/** Append one Task (field 4) already encoded as a Task message (len bytes). */
void tw_wire_put_task_raw(struct tw_wbuf *w, const uint8_t *task, uint32_t len);

/* One confirm or result of a reply frame. */
struct tw_reply_item {
	uint8_t kind;            /* TW_ITEM_CONFIRM or TW_ITEM_RESULT */
	bool ack;
	uint32_t reason;         /* TW_NACK_* */
	uint32_t state;          /* TW_ST_* */
	uint64_t task_id;
};
enum { TW_ITEM_CONFIRM = 1, TW_ITEM_RESULT = 2 };

/**
 * Decode the confirms and results of an engine's reply frame, in order,
 * without allocating. Strings (details, values, errors) are skipped.
 * @return items written (at most max; more are not reported), or -1 if the
 *   frame is not a well-formed taskwire frame. *frame_id is set.
 */
int tw_wire_decode_replies(const uint8_t *buf, uint32_t len, uint64_t *frame_id,
			   struct tw_reply_item *items, uint32_t max);

/** A TaskState's proto name ("SUCCESS", ...), "UNKNOWN" out of range. Threads: any. */
const char *tw_wire_state_name(uint32_t state);

/* Values mirrored from proto/taskwire.proto (the stage files do not include
 * the generated header; wire_test.c checks they agree). */
enum {
	TW_NACK_NONE = 0, TW_NACK_MALFORMED, TW_NACK_BAD_VERSION, TW_NACK_TOO_LARGE,
	TW_NACK_UNROUTABLE, TW_NACK_QUEUE_FULL, TW_NACK_UNKNOWN_EXCHANGE,
	TW_NACK_NO_RESOURCES, TW_NACK_INVALID_TASK, TW_NACK_ACCESS_REFUSED, TW_NACK_NO_SCHEDULER,
	TW_NACK_RETRY_WITH_COOKIE = 12,
};
enum {
	TW_ST_PENDING = 0, TW_ST_RECEIVED, TW_ST_STARTED, TW_ST_PROGRESS, TW_ST_RETRY,
	TW_ST_SUCCESS, TW_ST_FAILURE, TW_ST_REVOKED, TW_ST_EXPIRED, TW_ST_REJECTED,
};

#endif
