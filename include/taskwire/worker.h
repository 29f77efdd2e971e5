/*
 * libtaskwire worker API: consume tasks from an engine's queues as a
 * remote consumer (proto/taskwire.proto, "Remote consumers"), from any
 * ordinary process; no DPDK.
 *
 * A worker owns one kernel UDP socket connected to the engine and one
 * subscription (consumer id, queues, credit window, lease, heartbeat).
 * tw_worker_poll() receives deliveries; the caller runs each task and
 * acks it with its outcome. The library sends heartbeats from a thread of
 * its own (so a long task does not look like a dead worker), resends an
 * ack until the engine answers it, and subscribes again if the engine has
 * forgotten the consumer. The engine holds the in-flight table: if this
 * process dies, its unacked tasks are delivered to another consumer.
 *
 * Threads: a worker is polled and acked by one thread at a time (open one
 * per thread); tw_worker_ack() and tw_worker_progress() may also be called
 * from the thread running the task while another polls.
 *
 * Many workers in one process (an AMQP front door carrying thousands of
 * consumers) share one socket through a worker set (tw_worker_set_new,
 * tw_worker_opts.set): no socket and no thread per worker; the set reads
 * the engine's frames and hands each worker its own (the engine names the
 * consumer in each delivery), and the caller's event loop drives the
 * set's timer (heartbeats, resends, closes) through tw_worker_set_poll().
 */
#ifndef TASKWIRE_WORKER_H
#define TASKWIRE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <taskwire/client.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tw_worker;

struct tw_worker_opts {
	const char *const *queues;    /* queue names (1..16) */
	size_t n_queues;
	uint32_t prefetch;            /* credit window: deliveries unacked at once; 0: 1 */
	uint32_t lease_ms;            /* visibility timeout; 0: the engine's (30 s) */
	uint32_t heartbeat_ms;        /* 0: 1000; the engine drops a consumer silent for 3 */
	const char *name;             /* shown by the engine; NULL: "tw-worker" */
	uint64_t consumer_id;         /* 0: a random one */
	int subscribe_timeout_ms;     /* waiting for the engine's answer; 0: 3000 */
	bool hold;                    /* the queues stay remote consumers' (Subscribe.hold):
				       * the engine's lcores never take their tasks */
	/* Keep the lease of every delivery tw_worker_poll() returned until it
	 * is acked: the heartbeat thread refreshes it (Ack EXTEND, batched,
	 * nothing reported) a third of a lease after it last started, so a
	 * task that runs longer than its lease is not delivered again while
	 * this process lives (a visibility timeout that never fires on a long
	 * task, as Celery users expect). The lease then guards against a
	 * worker whose heartbeats go on while it runs nothing: a delivery the
	 * caller drops without an ack is kept until close, and a task that
	 * hangs is the caller's to end (tw-worker --time-limit). */
	bool extend_leases;
	/* An engine started with --keys: every frame (subscribe, heartbeat,
	 * acks, cancel) is signed with this key, as tw_client_opts' key_file
	 * and key_id (the engine's keys file format, mode 600). The engine
	 * then takes this consumer's frames only under the same key. */
	const char *key_file;
	uint32_t key_id;
	/* Join this set: its socket and its timer, no socket or heartbeat
	 * thread of the worker's own (NULL: alone). A member is used by the
	 * thread that polls its set only. */
	struct tw_worker_set *set;
	void *user;                   /* returned by tw_worker_user() and tw_worker_set_poll() */
};

/* One task to run. Owned by the caller until tw_delivery_free(). */
struct tw_delivery {
	uint64_t tag;                 /* names this delivery in the ack */
	uint32_t delivery_count;      /* 1 the first time; more after a lost worker or lease */
	char *queue;
	uint64_t task_id;
	char *task_name;
	uint8_t *args;                /* args_len bytes (NUL-terminated for convenience) */
	size_t args_len;
	uint32_t retries;
	uint64_t root_id;
	uint64_t parent_id;
	uint32_t lease_ms;
	uint64_t received_ms;         /* CLOCK_MONOTONIC ms when it arrived (its lease runs from then) */
	struct tw_header *headers;    /* n_headers key/value pairs */
	size_t n_headers;
	const struct tw_retry_policy *retry; /* the message's own policy, NULL: none */
	struct tw_retry_policy retry_storage;
	char *exchange;               /* where it was published */
	char *routing_key;
	uint8_t *amqp_properties;     /* an AMQP message's property bytes (NULL: none) */
	size_t amqp_properties_len;
};

enum tw_ack_outcome {
	TW_OUTCOME_SUCCESS = 1,       /* value: the result */
	TW_OUTCOME_FAILURE = 2,       /* error: the message */
	TW_OUTCOME_RETRY = 3,         /* run again after countdown_ms, retries + 1 */
	TW_OUTCOME_PROGRESS = 4,      /* value: meta; extends the lease */
	TW_OUTCOME_REJECT = 5,        /* not run: requeue, or dead-letter / FAILURE */
};

struct tw_ack {
	enum tw_ack_outcome outcome;
	const void *value;
	size_t value_len;
	const char *error;            /* NULL: none */
	int64_t countdown_ms;         /* RETRY: < 0 the task's policy decides */
	uint32_t max_retries;         /* RETRY: budget when the engine knows no policy; 0: none */
	uint64_t runtime_ns;
	bool requeue;                 /* REJECT */
};

/**
 * Open a worker on "IP:PORT" and subscribe.
 * @param err  on failure, why (the engine's refusal, e.g. "no such queue: q9").
 * @return the worker, or NULL with errno set (EINVAL: bad options or
 *   address, EPERM: the engine refused the subscription, ETIMEDOUT: no
 *   answer).
 * Ownership: the caller closes it with tw_worker_close().
 */
struct tw_worker *tw_worker_open(const char *engine, const struct tw_worker_opts *opts, char *err,
				 size_t errlen);

/**
 * Open without waiting: the worker and its socket are made and the
 * subscribe is sent; tw_worker_open_poll() reads the engine's answer, for
 * a caller that multiplexes many workers in one event loop (the socket
 * is tw_worker_fd()). Same arguments, errors and ownership as
 * tw_worker_open() for what fails at once; deliveries that come with the
 * answer wait for tw_worker_poll().
 */
struct tw_worker *tw_worker_open_async(const char *engine, const struct tw_worker_opts *opts,
				       char *err, size_t errlen);

/**
 * Drive an open begun by tw_worker_open_async(): read what came (never
 * waits), send the subscribe again when due. Call it when the socket is
 * readable and at tw_worker_open_next_ms().
 * @return 1 subscribed (the heartbeat thread runs: use the worker as any
 *   other), 0 still waiting, -EPERM refused, -ETIMEDOUT no answer within
 *   subscribe_timeout_ms, other -errno; err says why. After a failure the
 *   caller closes the worker (tw_worker_close: a subscription the engine
 *   may have taken without its answer arriving is cancelled, unawaited).
 */
int tw_worker_open_poll(struct tw_worker *w, char *err, size_t errlen);

/** The monotonic time (ms, CLOCK_MONOTONIC) tw_worker_open_poll() must run
 * by even if nothing is read: UINT64_MAX once the open has ended. */
uint64_t tw_worker_open_next_ms(const struct tw_worker *w);

/**
 * Cancel the subscription (unacked deliveries go back to their queues),
 * stop the heartbeat thread and close the socket. Returns once the engine
 * has answered the cancel (its deliveries are back in their queues), or
 * after about 300 ms without an answer.
 */
void tw_worker_close(struct tw_worker *w);

/** The worker's socket, for callers that multiplex with poll(2)/epoll: readable
 * means tw_worker_poll(w, 0, ...) has something to read. */
int tw_worker_fd(const struct tw_worker *w);

/** What the engine granted. */
void tw_worker_granted(const struct tw_worker *w, uint32_t *prefetch, uint32_t *lease_ms,
		       uint32_t *heartbeat_ms);

/**
 * Change the credit window of the live subscription: the engine replaces
 * the subscription's window (deliveries in flight stay valid; a smaller
 * window only stops new deliveries until enough are acked). Returns at
 * once: the engine's answer is read by tw_worker_poll(), and until it
 * comes the heartbeat thread sends the subscription again in place of
 * its heartbeat (bounded), so a lost datagram delays the change only.
 * @return 0, -EINVAL (0), or -errno from sending.
 */
int tw_worker_set_prefetch(struct tw_worker *w, uint32_t prefetch);

/**
 * Receive deliveries (and the engine's answers to acks), waiting up to
 * timeout_ms for the first datagram (0: do not wait, -1: for ever).
 * @return deliveries written to out (at most max), or -errno.
 * Ownership: the caller owns each delivery written (tw_delivery_free()).
 */
int tw_worker_poll(struct tw_worker *w, int timeout_ms, struct tw_delivery **out, size_t max);

/**
 * Ack a delivery with its outcome. Final outcomes are resent until the
 * engine answers (from tw_worker_poll(); every one, however many are
 * unanswered at once, up to 10 sends 300 ms apart); PROGRESS is sent once.
 * @return 0, -EINVAL (no outcome, or too large for one datagram), -errno.
 * Ownership: borrows a; everything is copied.
 */
int tw_worker_ack(struct tw_worker *w, uint64_t tag, const struct tw_ack *a);

/**
 * Ack as tw_worker_ack(), but the ack waits in the worker until
 * tw_worker_flush_acks(), which sends every waiting ack in as few
 * datagrams as they fit (one per about 80 plain acks): a caller settling
 * many deliveries at once (an AMQP front door reading a burst of
 * basic.ack) pays one send, not one per ack. Resends and answers are as
 * tw_worker_ack()'s; tw_worker_ack(), tw_worker_close() and
 * tw_worker_close_acking() send the waiting acks first, so acks keep
 * their order and a cancel comes after them. PROGRESS, and an ack too
 * large for a shared datagram, are sent at once. Polling thread only.
 * @return 0 or -EINVAL.
 */
int tw_worker_ack_batched(struct tw_worker *w, uint64_t tag, const struct tw_ack *a);

/** Send the acks tw_worker_ack_batched() holds. @return 0 or the first -errno from sending
 * (those acks are resent as lost ones are). */
int tw_worker_flush_acks(struct tw_worker *w);

/**
 * Ack a delivery (a final outcome) and end the subscription in the same
 * datagram, so that the engine delivers nothing more after this ack (a
 * consumer done after one task, e.g. an AMQP basic.get); then close as
 * tw_worker_close(). @return what tw_worker_ack() would; w is closed in
 * any case.
 */
int tw_worker_close_acking(struct tw_worker *w, uint64_t tag, const struct tw_ack *a);

/**
 * Ack a delivery (a final outcome) and end the subscription in the same
 * datagram, as tw_worker_close_acking(), but leave w open (closed later
 * with tw_worker_close()): for a process about to end while a task of
 * w's still runs on another thread, which must not find w freed (a task
 * past a hard time limit, its process killed next: the engine records
 * its outcome rather than deliver it to another worker). The engine puts
 * w's other unacked deliveries back and delivers nothing more to it.
 * Waits up to about 1 s for the engine's answers.
 * Threads: no other thread may poll w meanwhile.
 * @return 0 when the engine answered the ack and the cancel, -ETIMEDOUT
 *   when it did not, -EINVAL (not a final outcome), or -errno from sending.
 */
int tw_worker_ack_cancel(struct tw_worker *w, uint64_t tag, const struct tw_ack *a);

/** Release a delivery (after its ack). NULL is ignored. */
void tw_delivery_free(struct tw_delivery *d);

/** Counters of this worker. */
struct tw_worker_stats {
	uint64_t deliveries, acks_sent, acks_resent, acks_confirmed, acks_refused;
	uint64_t heartbeats, resubscribes, bad_datagrams;
	uint64_t cookie_retries;  /* frames refused for want of the engine's source cookie */
	uint64_t frames_fragmented;   /* frames sent in fragments (acks with large values) */
	/* answers that say nothing new about an ack: the second answer to an
	 * ack resent while its first answer was on the way, or a resent ack
	 * found spent ("stale") because its first answer was lost; neither is
	 * counted as confirmed or refused */
	uint64_t acks_answered_again;
	/* extend_leases: lease refreshes sent, and refused (the engine had
	 * taken the delivery back: its lease ran out first) */
	uint64_t leases_extended, extends_refused;
	uint64_t acks_pending;    /* final acks awaiting the engine's answer now */
};
void tw_worker_get_stats(const struct tw_worker *w, struct tw_worker_stats *s);

/** The refusal detail of the last refused ack (for tests and logs), "" if none. */
const char *tw_worker_last_refusal(const struct tw_worker *w);

/** opts.user of w. */
void *tw_worker_user(const struct tw_worker *w);

/* --- many workers on one socket --- */

struct tw_worker_set;

/**
 * A set of workers sharing one UDP socket connected to the engine at
 * "IP:PORT". Workers join it at open (tw_worker_opts.set); the engine
 * takes several consumers from one address and port, each known by its
 * consumer id.
 * @return the set, or NULL with errno set (EINVAL: bad address) and err.
 * Ownership: the caller frees it with tw_worker_set_free().
 */
struct tw_worker_set *tw_worker_set_new(const char *engine, char *err, size_t errlen);

/** The set's socket, for epoll: readable means tw_worker_set_poll() has work. */
int tw_worker_set_fd(const struct tw_worker_set *s);

/**
 * Read every datagram waiting (never waits) and hand each member what
 * the engine sent it; when due, send the members' heartbeats, resend
 * their unanswered acks and subscribes, and advance their closes. Call
 * it when the socket is readable and at tw_worker_set_next_ms().
 * @return how many members have something new (written to ready as their
 *   opts.user, at most max; the others wait for the next call): a
 *   delivery for tw_worker_poll(w, 0, ...), or an open to go on with
 *   tw_worker_open_poll(). A member is listed once until it is polled.
 */
size_t tw_worker_set_poll(struct tw_worker_set *s, void **ready, size_t max);

/** The monotonic time (ms) tw_worker_set_poll() must run by even if the socket stays quiet. */
uint64_t tw_worker_set_next_ms(const struct tw_worker_set *s);

/**
 * Close a member without waiting: the cancel goes at once, in one frame
 * with every ack of w's not answered yet (held ones too: the engine takes
 * the acks first, so none of them is put back), and again every 100 ms
 * while unanswered; the set's poll finishes the close
 * when the engine has answered the cancel and the acks, or after about
 * 1 s, and frees w. The engine puts back what the worker had unacked
 * when it takes the cancel. A cancel never answered ends the close all
 * the same, counted (tw_worker_set_stats.close_timeouts). w must not be
 * used again. A worker alone is closed as tw_worker_close() (waiting).
 */
void tw_worker_close_async(struct tw_worker *w);

/**
 * As tw_worker_close_async(), and when the close has ended (the engine
 * answered the cancel, or the bound passed) told is returned once by
 * tw_worker_set_closed(): for a caller that answers its own client only
 * then (an AMQP basic.cancel-ok, after which the queue no longer counts
 * the consumer).
 * @return 0, or -ENOMEM: closed as tw_worker_close_async(), told will not
 *   be returned (no room to keep it); -EINVAL: w is not in a set (closed
 *   as tw_worker_close()).
 */
int tw_worker_close_async_told(struct tw_worker *w, void *told);

/**
 * The closes begun by tw_worker_close_async_told() that have ended since
 * the last call: their told pointers (at most max), and whether the
 * engine answered each (answered[i]; NULL: not asked). tw_worker_set_next_ms()
 * is now while any waits. @return how many.
 */
size_t tw_worker_set_closed(struct tw_worker_set *s, void **told, bool *answered, size_t max);

/** As tw_worker_close_acking() (a final ack and the cancel in one datagram), without waiting,
 * as tw_worker_close_async(). A worker alone: as tw_worker_close_acking(). */
void tw_worker_close_acking_async(struct tw_worker *w, uint64_t tag, const struct tw_ack *a);

/** Counters of a set. */
struct tw_worker_set_stats {
	uint64_t members;             /* now (closing ones not counted) */
	uint64_t closing;             /* now: closes under way */
	uint64_t heartbeats;
	uint64_t closes_answered;     /* closes whose cancel the engine answered */
	uint64_t close_timeouts;      /* closes ended without the engine's answer */
	uint64_t deliveries_unowned;  /* for no member (a consumer already gone): dropped, the
				       * engine takes them back when that consumer falls silent */
	uint64_t answers_unowned;     /* answers to no member's ack or consumer */
	uint64_t bad_datagrams;
	uint64_t cookie_retries;
};
void tw_worker_set_get_stats(const struct tw_worker_set *s, struct tw_worker_set_stats *st);

/**
 * Free the set: closes under way are driven for up to drain_ms (their
 * cancels answered, or not), then every member left is freed without a
 * cancel (the engine drops them when they fall silent). Members' pointers
 * are invalid after.
 */
void tw_worker_set_free(struct tw_worker_set *s, int drain_ms);

#ifdef __cplusplus
}
#endif

#endif
