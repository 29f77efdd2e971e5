/*
 * tw-control's model of the broker: queues, exchanges and bindings, and
 * the one function that makes a change visible to the data plane
 * (build a new routing table, publish it with RCU, free the old one).
 *
 * Queues live in tw_shared.queues[] (slot, ring, name), so they survive a
 * restart of tw-control; exchanges and bindings are rebuilt from the
 * routing table in shared memory when tw-control re-attaches.
 *
 * Every mutating call validates first and changes nothing on error; on
 * success the change is live (the data plane routes with it) on return.
 * Errors are -errno with a human message in err (for the control reply).
 *
 * Threads: tw-control's main thread only (one broker per process).
 */
#ifndef CTL_BROKER_H
#define CTL_BROKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tw_routes.h"
#include "tw_shared.h"

#define CTL_ERR_MAX 256

struct tw_store;
struct ctl_sched;
struct ctl_revoke;
struct ctl_collect;
struct ctl_beat;
struct ctl_events;

struct ctl_broker {
	struct tw_shared *sh;
	/* Held by the control socket while it changes the model and by the
	 * metrics thread while it reads it (queue slots come and go). */
	pthread_mutex_t lock;
	uint32_t n_exchanges;
	struct tw_def_exchange exchanges[TW_MAX_EXCHANGES - 1]; /* the default one is implicit */
	uint32_t n_bindings, cap_bindings;
	struct tw_def_binding *bindings;                         /* malloc'd, grows */
	uint32_t grace_timeout_ms;                               /* RCU wait bound */
	uint64_t leaked_tables;                                  /* grace period timed out */
	/* rates, sampled by ctl_broker_sample_rates() */
	uint64_t rate_sample_ms;
	uint64_t last_published[TW_MAX_QUEUES], last_delivered[TW_MAX_QUEUES];
	double publish_rate[TW_MAX_QUEUES], deliver_rate[TW_MAX_QUEUES];
	/* task state: set by tw-control's main before serving (NULL in tw-dataplane's
	 * own use of the broker for --definitions) */
	struct tw_store *store;
	struct ctl_sched *sched;
	struct ctl_revoke *revoke;
	struct ctl_collect *collect;
	struct ctl_beat *beat;
	struct ctl_events *events;
};

/** Attach to shared memory and rebuild exchanges/bindings from its routes. */
int ctl_broker_attach(struct ctl_broker *b, struct tw_shared *sh, char *err);
void ctl_broker_detach(struct ctl_broker *b);

struct ctl_queue_spec {
	const char *name;
	uint32_t max_length;       /* 0: TW_QUEUE_DEFAULT_LEN */
	uint8_t overflow;          /* enum tw_overflow */
	uint32_t message_ttl_ms;   /* 0: none */
	const char *dlx;           /* NULL or "": none */
	const char *dl_key;        /* NULL: the task's own routing key */
	uint8_t max_priority;      /* 0: no priorities; 1..TW_MAX_PRIORITY */
	uint64_t max_bytes;        /* x-max-length-bytes (args bytes), 0: none */
};

int ctl_queue_declare(struct ctl_broker *b, const struct ctl_queue_spec *q, char *err);

/** "reject-publish" / "drop-head" <-> enum tw_overflow; parse returns -1 if unknown ("" is reject-publish). */
const char *ctl_overflow_name(uint8_t overflow);
int ctl_overflow_parse(const char *name);
/** @param discarded  receives the number of tasks dropped with the queue. */
int ctl_queue_delete(struct ctl_broker *b, const char *name, uint64_t *discarded, char *err);
int ctl_queue_purge(struct ctl_broker *b, const char *name, uint64_t *purged, char *err);
struct ctl_exchange_spec {
	const char *name;
	const char *type;        /* direct, fanout, topic, headers */
	const char *alternate;   /* "" or NULL: none */
	bool internal;
	size_t n_allow;          /* publishers' source ranges ("A.B.C.D/N"), 0: any */
	char *const *allow;
};

int ctl_exchange_declare(struct ctl_broker *b, const struct ctl_exchange_spec *s, char *err);
int ctl_exchange_delete(struct ctl_broker *b, const char *name, char *err);
/*
 * A binding is identified, as in AMQP, by source, destination (and its
 * type), routing key and arguments; binding twice is a no-op. The spec's
 * args are borrowed and copied.
 */
int ctl_bind(struct ctl_broker *b, const struct tw_def_binding *spec, char *err);
int ctl_unbind(struct ctl_broker *b, const struct tw_def_binding *spec, char *err);

/**
 * Apply exchanges, then queues, then bindings, all or nothing: on the
 * first refusal everything this call created is removed again and err
 * names the item ("bindings[3]: no queue 'x'"). Items that already exist
 * with the same properties are left as they are.
 */
struct ctl_definitions {
	uint32_t n_exchanges, n_queues, n_bindings;
	const struct ctl_exchange_spec *exchanges;
	const struct ctl_queue_spec *queues;
	const struct tw_def_binding *bindings;
};
int ctl_definitions_import(struct ctl_broker *b, const struct ctl_definitions *d, char *err);

/** Tasks waiting in a queue slot, over all its priority levels. */
uint64_t ctl_queue_ready(const struct tw_queue_slot *qs);

/**
 * Read a RabbitMQ-shaped definitions file and import it (all or nothing),
 * as `twctl definitions import` does; problems go to stderr prefixed with
 * who. Used by tw-control and tw-dataplane's --definitions.
 * @return 0 or -EINVAL.
 */
int ctl_definitions_load_file(struct ctl_broker *b, const char *file, const char *who);

/** Slot index of a live queue, or -1. */
int ctl_queue_find(const struct ctl_broker *b, const char *name);



struct ctl_queue_counts {
	uint64_t published, delivered, rejected, completed, dropped, expired;
	uint64_t dead_lettered, nack_no_resources;
};

/* One exchange's name and counter slot (ctl_exchange_list). */
struct ctl_exchange_ref {
	char name[TW_NAME_MAX];
	uint16_t slot;
};

/**
 * Copy the exchanges (the default one first, as "") into out, at most
 * max. @return how many. Threads: any, holding the broker's lock.
 */
uint32_t ctl_exchange_list(const struct ctl_broker *b, struct ctl_exchange_ref *out, uint32_t max);

/** Per-exchange counters of a slot, summed over the polling lcores (absolute). */
void ctl_exchange_sums(const struct tw_shared *sh, uint16_t slot, uint64_t *published,
		       uint64_t *routed, uint64_t *unroutable);

/** Per-queue counters summed over the polling lcores (absolute, not relative to base). */
void ctl_queue_sums(const struct tw_shared *sh, uint32_t slot, struct ctl_queue_counts *c);

/** The same, since the queue was declared. */
void ctl_queue_counts(const struct tw_shared *sh, uint32_t slot, struct ctl_queue_counts *c);

/** Update per-queue publish/deliver rates (tasks/s) at most once a second. */
void ctl_broker_sample_rates(struct ctl_broker *b, uint64_t now_ms);
#endif
