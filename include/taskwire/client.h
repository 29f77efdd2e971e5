/*
 * libtaskwire: the publisher/client library for ordinary processes.
 *
 * A client owns one kernel UDP socket connected to an engine address. It
 * appends published tasks to a pending Frame (protobuf-c, proto/taskwire
 * .proto) and sends the frame when it is full (task count or byte size) or
 * on tw_client_flush(). Confirms (ACK/NACK) and results come back on the
 * same socket and are delivered through tw_client_poll() or waited for with
 * tw_client_wait().
 *
 * Threads: a client is used by one thread at a time; open one per thread.
 */
#ifndef TASKWIRE_CLIENT_H
#define TASKWIRE_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <taskwire/retry.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tw_client;

struct tw_client_opts {
	unsigned max_tasks_per_frame; /* 0: 32 */
	size_t max_frame_bytes;       /* 0: 1400 (fits a 1500-byte MTU unfragmented) */
	int rcvbuf_bytes;             /* 0: 8 MiB */
	/* At-least-once: a frame without confirms after retransmit_ms (doubling
	 * per attempt, up to 2 s), or confirmed but missing results after 1 s,
	 * is sent again with the same ids; the engine never runs a task twice
	 * and re-sends finished results. Echoes are dropped here, so each task
	 * yields one confirm and one final result. */
	int retransmit_ms;            /* 0: 200; -1: never retransmit */
	unsigned max_attempts;        /* sends of one frame, 0: 8 */
	/* Authenticated publishing (an engine started with --keys): every frame
	 * carries key_id and a MAC under that key, read from key_file (the
	 * engine's keys file format, mode 600; never the key itself here).
	 * NULL: frames are not authenticated. */
	const char *key_file;
	uint32_t key_id;
};

struct tw_header {
	const char *key;
	const char *value;
};


struct tw_publish {
	const char *exchange;         /* NULL or "": the default exchange */
	const char *routing_key;      /* the queue name on the default exchange */
	const char *task;             /* registered task name */
	const void *args;
	size_t args_len;
	uint32_t priority;
	const struct tw_header *headers;
	size_t n_headers;
	/* Celery's apply_async options; 0 / NULL: not set. */
	uint64_t eta_ms;              /* run not before this unix time (ms) */
	uint64_t countdown_ms;        /* ... or this long after publishing (if eta_ms is 0) */
	uint64_t expires_ms;          /* not run after this unix time (ms): EXPIRED */
	uint64_t expires_in_ms;       /* ... or this long after publishing (if expires_ms is 0) */
	const struct tw_retry_policy *retry; /* overrides the registered policy (taskwire/retry.h) */
	bool ignore_result;           /* not kept in the result store */
	uint32_t result_expires_s;    /* how long the store keeps the result; 0: its default */
	/* An AMQP message (tw-amqp): its content-header property flags and
	 * list, carried byte for byte to its consumer; args is the body. */
	const void *amqp_properties;
	size_t amqp_properties_len;
};

/* Mirrors proto/taskwire.proto enums. */
enum tw_state {
	TW_STATE_PENDING = 0, TW_STATE_RECEIVED, TW_STATE_STARTED, TW_STATE_PROGRESS,
	TW_STATE_RETRY, TW_STATE_SUCCESS, TW_STATE_FAILURE, TW_STATE_REVOKED,
	TW_STATE_EXPIRED, TW_STATE_REJECTED
};

enum tw_event_kind { TW_EV_CONFIRM = 1, TW_EV_RESULT = 2 };

/* One confirm or result, valid only during the callback. */
struct tw_event {
	enum tw_event_kind kind;
	uint64_t task_id;        /* 0 on a frame-level confirm */
	uint64_t frame_id;       /* frame the engine answered */
	/* TW_EV_CONFIRM */
	bool ack;
	int nack_reason;         /* Taskwire__NackReason value */
	const char *detail;      /* NUL-terminated, maybe "" */
	/* TW_EV_RESULT */
	enum tw_state state;
	const uint8_t *value;
	size_t value_len;
	const char *error;       /* NUL-terminated, maybe "" */
	uint64_t runtime_ns;
};

typedef void (*tw_event_fn)(const struct tw_event *ev, void *arg);

/* What tw_client_wait() collects for one task. Strings are owned by the
 * caller afterwards: release with tw_outcome_clear(). */
struct tw_outcome {
	bool confirmed;          /* a confirm arrived */
	bool ack;
	int nack_reason;
	char *detail;
	bool has_result;
	enum tw_state state;
	uint8_t *value;
	size_t value_len;
	char *error;
	uint64_t runtime_ns;
};

/**
 * Open a client to "IP:PORT".
 * @return the client, or NULL with errno set (EINVAL for a bad address,
 *   EPERM for a key file others may read, ENOENT for a key id not in it).
 * Ownership: the caller owns the client; close it with tw_client_close().
 */
struct tw_client *tw_client_open(const char *engine, const struct tw_client_opts *opts);
void tw_client_close(struct tw_client *c);

/** Socket fd, for callers that multiplex with poll(2). */
int tw_client_fd(const struct tw_client *c);

/**
 * Append one task to the pending frame; sends the frame first when the
 * task would not fit. The task id is chosen by the library (non-zero,
 * unique per client) and returned in *task_id.
 * @return 0, or -errno (-EINVAL: missing task name or a field too long,
 *   -EMSGSIZE: the task alone does not fit in one frame).
 * Ownership: borrows p; everything is copied before return.
 */
int tw_client_publish(struct tw_client *c, const struct tw_publish *p, uint64_t *task_id);

/** Send the pending frame, if any. @return 0 or -errno. */
int tw_client_flush(struct tw_client *c);

/**
 * Receive what has arrived, waiting up to timeout_ms for the first
 * datagram (0: do not wait, -1: wait for ever), and call fn for each
 * confirm and result.
 * @return number of events delivered, or -errno.
 */
int tw_client_poll(struct tw_client *c, int timeout_ms, tw_event_fn fn, void *arg);

/**
 * Flush, then wait until task_id is NACKed or its result arrives, or
 * timeout_ms passes. Events for other tasks seen meanwhile are passed to
 * fn (may be NULL: dropped).
 * @return 0 when out is complete (NACK or result), -ETIMEDOUT, or -errno.
 */
int tw_client_wait(struct tw_client *c, uint64_t task_id, int timeout_ms, struct tw_outcome *out,
		   tw_event_fn fn, void *arg);
void tw_outcome_clear(struct tw_outcome *out);

/**
 * Read a task's final state and result from tw-control's result store
 * (its control socket, e.g. "/run/taskwire/control.sock"), waiting up to
 * timeout_ms for a state that is final. For a result whose reply was lost,
 * or a task published by another process.
 * @return 0 with out filled (free with tw_outcome_clear), -ETIMEDOUT when
 *   not final in time, -EINVAL, or -errno reaching tw-control.
 * Threads: any (one socket per call).
 */
int tw_result_fetch(const char *control_socket, uint64_t task_id, int timeout_ms,
		    struct tw_outcome *out);

/** Frame-level send/receive counters of this client. */
struct tw_client_stats {
	uint64_t frames_sent, tasks_sent, datagrams_received, confirms, results, bad_datagrams;
	uint64_t retransmits;         /* frames sent again */
	uint64_t retransmit_gave_up;  /* frames given up after max_attempts (or window overflow) */
	uint64_t duplicates_dropped;  /* confirms/results already delivered once */
	uint64_t cookie_retries;      /* frames sent again with the engine's new source cookie */
	uint64_t frames_fragmented;   /* frames (and retransmits) sent in fragments: over a datagram */
	uint64_t replies_reassembled; /* the engine's fragmented replies put together */
	uint64_t fragments_refused;   /* fragments that broke the rules or were over the size */
	uint64_t reassembly_timeouts; /* fragmented replies given up, pieces missing */
	uint64_t datagrams_sent;      /* frames and fragments handed to the kernel */
	uint64_t send_calls;          /* system calls that sent them (sendmmsg: several each) */
	uint64_t receive_calls;       /* system calls that read replies (recvmmsg: several each) */
};
void tw_client_get_stats(const struct tw_client *c, struct tw_client_stats *s);

const char *tw_state_name(enum tw_state s);
const char *tw_nack_reason_name(int reason);

#ifdef __cplusplus
}
#endif

#endif
