/*
 * The broker model: queues, exchanges and bindings, and the one function
 * that makes a change visible to the data plane (build a new routing
 * table, publish it with RCU, free the old one). libtw_broker holds it;
 * both processes use it: tw-control for every change a client asks for,
 * tw-dataplane for --definitions before its lcores start.
 *
 * Queues live in tw_shared.queues[] (slot, ring, name), so they survive a
 * restart of tw-control; exchanges and bindings are rebuilt from the
 * routing table in shared memory when a broker attaches.
 *
 * Every mutating call validates first and changes nothing on error; on
 * success the change is live (the data plane routes with it) on return.
 * Errors are -errno with a human message in err (TW_BROKER_ERR_MAX bytes,
 * meant for a control reply or stderr).
 *
 * Threads: one caller at a time per broker (the caller serialises; the
 * library takes no lock), and one broker per process.
 */
#ifndef TW_BROKER_H
#define TW_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tw_broker_index.h"
#include "tw_broker_qring.h"
#include "tw_routes.h"
#include "tw_shared.h"

#define TW_BROKER_ERR_MAX 256

struct tw_broker {
	struct tw_shared *sh;
	uint32_t n_exchanges, cap_exchanges;
	struct tw_def_exchange *exchanges;                       /* malloc'd, grows; the default one is implicit */
	uint32_t n_bindings, cap_bindings;
	struct tw_def_binding *bindings;                         /* malloc'd, grows */
	uint32_t grace_timeout_ms;                               /* RCU wait bound */
	/* Name indexes: queue name -> slot, exchange name -> position in
	 * exchanges[], binding identity -> position in bindings[]. */
	struct tw_broker_index queue_ix, exchange_ix, binding_ix;
	uint32_t queue_slot_low;                                 /* no free queue slot below */
	uint32_t exchange_slot_low;                              /* no free exchange slot below */
	uint8_t exchange_slot_used[TW_MAX_EXCHANGES];
	/* A batch (tw_broker_batch_begin) defers publication: changes are
	 * made to the model only, rings of deleted queues wait here. */
	uint32_t batch;
	uint32_t n_dead, cap_dead;
	struct tw_queue_slot **dead;
	uint64_t leaked_tables;                                  /* grace period timed out */
	/* queues' rings: segments retired from grown chains, waiting for a
	 * grace period (tw_broker_tick) */
	struct tw_qlimbo limbo;
	uint32_t tick_slot;                                      /* where the last tick's scan stopped */
	uint64_t journal_drops_lost;                             /* durable drops not handed (tw_broker_journal.h) */
	/* rates, sampled by tw_broker_sample_rates() */
	uint64_t rate_sample_ms;
	uint64_t last_published[TW_MAX_QUEUES], last_delivered[TW_MAX_QUEUES];
	double publish_rate[TW_MAX_QUEUES], deliver_rate[TW_MAX_QUEUES];
};

/**
 * Housekeeping of queues' growing rings, from the broker's caller every
 * few milliseconds: stock the pool of spare segments, retire the drained
 * oldest segments of grown chains (at most a bounded number of queues per
 * call), release retired segments whose grace period has passed.
 */
void tw_broker_tick(struct tw_broker *b);

/**
 * Shared memory a queue takes now: its slot, its rings' segments, its
 * share of its counter block. Broker's caller.
 */
uint64_t tw_broker_queue_memory(const struct tw_broker *b, uint32_t slot);

/** The same over all queues, and the counter blocks and spare segments. */
uint64_t tw_broker_queues_memory(const struct tw_broker *b);

/** Attach to shared memory and rebuild exchanges/bindings from its routes. */
int tw_broker_attach(struct tw_broker *b, struct tw_shared *sh, char *err);
void tw_broker_detach(struct tw_broker *b);

struct tw_broker_queue_spec {
	const char *name;
	uint32_t max_length;       /* 0: TW_QUEUE_DEFAULT_LEN */
	uint8_t overflow;          /* enum tw_overflow */
	uint32_t message_ttl_ms;   /* 0: none */
	const char *dlx;           /* NULL or "": none */
	const char *dl_key;        /* NULL: the task's own routing key */
	uint8_t max_priority;      /* 0: no priorities; 1..TW_MAX_PRIORITY */
	uint64_t max_bytes;        /* x-max-length-bytes (args bytes), 0: none */
	bool durable;              /* journaled before the ACK, recovered at start */
	bool durable_if_journal;   /* durable only when the engine keeps a journal, else in memory */
	uint32_t delivery_limit;   /* x-delivery-limit: 0 the default, 1..TW_QUEUE_MAX_DELIVERY_LIMIT */
	uint8_t consumers;         /* enum tw_queue_consumers (x-consumers) */
};

/**
 * Create the queue's rings (MP/MC, one per priority level) in a free slot
 * and publish. Re-declaring with the same arguments is a no-op.
 */
int tw_broker_queue_declare(struct tw_broker *b, const struct tw_broker_queue_spec *q, char *err);

/** "reject-publish" / "drop-head" <-> enum tw_overflow; parse returns -1 if unknown ("" is reject-publish). */
const char *tw_broker_overflow_name(uint8_t overflow);
int tw_broker_overflow_parse(const char *name);
/** "auto" / "engine" / "remote" / "both" <-> enum tw_queue_consumers; parse returns -1 if unknown ("" is auto). */
const char *tw_broker_consumers_name(uint8_t consumers);
int tw_broker_consumers_parse(const char *name);
/**
 * Remove the queue and its bindings; its rings are drained and freed
 * after the grace period. @param discarded  receives the number of tasks
 * dropped with the queue.
 */
int tw_broker_queue_delete(struct tw_broker *b, const char *name, uint64_t *discarded, char *err);
/**
 * Make the queue remote consumers' now (as a Subscribe with hold would):
 * worker lcores never take its tasks. Undone when the queue is deleted.
 */
int tw_broker_queue_hold(struct tw_broker *b, const char *name, char *err);
/**
 * End the hold on queue name (tw_broker_queue_hold, Subscribe.hold): the
 * engine's lcores take it up again when no remote consumer is subscribed
 * (x-consumers auto). *was_held: whether it was held. @return 0 or -ENOENT.
 */
int tw_broker_queue_release(struct tw_broker *b, const char *name, bool *was_held, char *err);
/** Is the queue in slot held for remote consumers (tw_broker_queue_hold, Subscribe.hold)? */
bool tw_broker_queue_held(const struct tw_broker *b, int slot);
/** Drop every waiting task (the rings are MC: this competes safely with workers). */
int tw_broker_queue_purge(struct tw_broker *b, const char *name, uint64_t *purged, char *err);

struct tw_broker_exchange_spec {
	const char *name;
	const char *type;        /* direct, fanout, topic, headers */
	const char *alternate;   /* "" or NULL: none */
	bool internal;
	size_t n_allow;          /* publishers' source ranges ("A.B.C.D/N"), 0: any */
	char *const *allow;
};

int tw_broker_exchange_declare(struct tw_broker *b, const struct tw_broker_exchange_spec *s, char *err);
int tw_broker_exchange_delete(struct tw_broker *b, const char *name, char *err);
/*
 * A binding is identified, as in AMQP, by source, destination (and its
 * type), routing key and arguments; binding twice is a no-op. The spec's
 * args are borrowed and copied.
 */
int tw_broker_bind(struct tw_broker *b, const struct tw_def_binding *spec, char *err);
int tw_broker_unbind(struct tw_broker *b, const struct tw_def_binding *spec, char *err);

struct tw_rc_queues;
/** The engine's per-queue remote consumer counts, NULL: an engine without consumer tables. */
const struct tw_rc_queues *tw_broker_rc_queues(void);
/** Remote consumers subscribed to queue slot now, over every io lcore (rq NULL: 0). */
uint32_t tw_broker_queue_remote_consumers(const struct tw_rc_queues *rq, uint32_t slot);

/** Tasks waiting in a queue slot, over all its priority levels. */
uint64_t tw_broker_queue_ready(const struct tw_queue_slot *qs);

/**
 * Batches: between begin and end, every mutating call changes the model
 * and validates as usual but publishes nothing; end publishes once (one
 * table build, one grace period) and frees the rings of queues deleted
 * meanwhile. Many changes then cost one build instead of one each.
 * @param discarded  receives the tasks dropped with deleted queues (or NULL).
 * @return 0, or -errno if no table could be built: the model then holds
 *   changes the data plane does not see; undo them and end again.
 */
void tw_broker_batch_begin(struct tw_broker *b);
int tw_broker_batch_end(struct tw_broker *b, uint64_t *discarded, char *err);

/*
 * The same end of a batch in three steps, so a caller can run the table
 * build (the long part) on another thread: prepare and install on the
 * broker's thread, build anywhere, while nothing changes the model.
 */
struct tw_broker_build {
	struct tw_defs d;
	struct tw_def_queue *queues;   /* malloc'd snapshot of the queue slots */
	struct tw_routes *rt;          /* the built table, or NULL */
	int err;                       /* errno of a failed build */
};
int tw_broker_build_prepare(struct tw_broker *b, struct tw_broker_build *bb, char *err);
void tw_broker_build_run(struct tw_broker_build *bb);
/** Publish bb's table (or report its failure), end the batch, release bb. */
int tw_broker_build_install(struct tw_broker *b, struct tw_broker_build *bb, uint64_t *discarded,
			    char *err);

/** Slot index of a live queue, or -1. */
int tw_broker_queue_find(const struct tw_broker *b, const char *name);
/** Position of an exchange in b->exchanges, or -1 (the default one is not there). */
int tw_broker_exchange_find(const struct tw_broker *b, const char *name);

/* One exchange's name and counter slot (tw_broker_exchange_list). */
struct tw_broker_exchange_ref {
	char name[TW_NAME_MAX];
	uint32_t slot;
};

/**
 * Copy the exchanges (the default one first, as "") into out, at most
 * max. @return how many.
 */
uint32_t tw_broker_exchange_list(const struct tw_broker *b, struct tw_broker_exchange_ref *out,
				 uint32_t max);

#endif
