/*
 * The remote-consumer messages of proto/taskwire.proto (Frame fields
 * 10..16) in the zero-allocation codec: the engine decodes Subscribe,
 * Cancel, Heartbeat and Ack into views over the datagram, and encodes
 * Deliver, ConsumerReply and AckReply into its reply packets. Consumers
 * (libtaskwire) use protobuf-c's generated code for their side;
 * tests/unit/wire_test.c checks both ends against it on the same bytes.
 *
 * Threads: pure functions over caller memory; any thread.
 */
#ifndef TW_WIRE_CONSUMER_H
#define TW_WIRE_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_wire.h"

/* Values mirrored from proto AckOutcome (wire_test checks they agree). */
enum {
	TW_ACK_NONE = 0, TW_ACK_SUCCESS, TW_ACK_FAILURE, TW_ACK_RETRY, TW_ACK_PROGRESS,
	TW_ACK_REJECT, TW_ACK_EXTEND,
};

struct tw_subscribe_view {
	uint64_t consumer_id;
	struct tw_str name;
	struct tw_str host;
	struct tw_str queues;    /* span of the queue fields: walk with tw_wire_subscribe_queue_next */
	uint32_t n_queues;
	uint32_t prefetch;
	uint32_t lease_ms;
	uint32_t heartbeat_ms;
	bool hold;               /* the queues stay remote consumers' (tw_consumers.h) */
};

struct tw_ack_view {
	uint64_t tag;
	uint32_t outcome;        /* TW_ACK_* (other values: refused by the engine) */
	struct tw_str value;
	struct tw_str error;
	int64_t countdown_ms;
	uint64_t runtime_ns;
	bool requeue;
	uint32_t max_retries;
};

/**
 * Called by the frame decoder for Frame fields 10..16: validates the
 * message body as protobuf-c would (known fields with their wire types, a
 * Deliver's Task in full) and records fields 10..13 in fv. A second
 * Subscribe, Cancel or Heartbeat in one frame is refused (protobuf would
 * merge them; we accept a subset of what it accepts).
 * @param field_start  where the field's tag starts; end: where the field ends.
 * @return false if the frame must be refused.
 */
bool tw_wire_consumer_field(struct tw_frame_view *fv, uint32_t field, const uint8_t *field_start,
			    const uint8_t *end, struct tw_str body);

/** Decode a validated Subscribe (fv->subscribe). @return NULL or what is wrong. */
const char *tw_wire_decode_subscribe(struct tw_str span, struct tw_subscribe_view *s);

/** Walk a subscription's queue names. @return false when none is left. */
bool tw_wire_subscribe_queue_next(struct tw_str *rest, struct tw_str *queue);

/** Walk a frame's acks (fv->acks): the next one into a. @return false when none is left. */
bool tw_wire_ack_next(struct tw_str *rest, struct tw_ack_view *a);

/* A delivery as the engine writes it (Frame field 14). */
struct tw_wire_deliver {
	uint64_t tag;
	uint32_t delivery_count;
	const char *queue;
	uint32_t queue_len;
	const uint8_t *task;     /* a Task message, as published */
	uint32_t task_len;
	uint32_t retries;
	uint64_t root_id;
	uint64_t parent_id;
	uint32_t lease_ms;
	bool has_args;           /* args replace the task's */
	const uint8_t *args;
	uint32_t args_len;
	uint64_t consumer_id;    /* whose delivery (0: not written) */
};

/** Bytes tw_wire_put_deliver() appends. */
uint32_t tw_wire_deliver_size(const struct tw_wire_deliver *d);
void tw_wire_put_deliver(struct tw_wbuf *w, const struct tw_wire_deliver *d);

struct tw_wire_consumer_reply {
	uint64_t consumer_id;
	bool ok;
	const char *detail;      /* NULL: none */
	uint32_t prefetch;
	uint32_t lease_ms;
	uint32_t heartbeat_ms;
};

/** Bytes tw_wire_put_consumer_reply() appends. */
uint32_t tw_wire_consumer_reply_size(const struct tw_wire_consumer_reply *r);
void tw_wire_put_consumer_reply(struct tw_wbuf *w, const struct tw_wire_consumer_reply *r);

/** Bytes tw_wire_put_ack_reply() appends (detail may be NULL). */
uint32_t tw_wire_ack_reply_size(const char *detail);
void tw_wire_put_ack_reply(struct tw_wbuf *w, uint64_t tag, bool ok, const char *detail);

#endif
