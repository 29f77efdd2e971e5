/*
 * Routing table: one immutable snapshot of exchanges, queues and bindings.
 *
 * The broker library (tw_broker_publish(): in tw-control, and in
 * tw-dataplane for --definitions before its lcores start) builds a whole
 * new table for every change (tw_routes_build), stores its pointer in
 * tw_shared.routes with release order and frees the previous table only
 * after a grace period (rte_rcu_qsbr_start/check) has seen every polling
 * lcore pass a quiescent state. Data-plane lcores load the pointer with
 * acquire order once per burst and never write to a table.
 *
 * Layout: one allocation holding the header, the arrays and three
 * open-addressing hash indexes (power-of-two slots, linear probing).
 * Pointers inside the block are absolute: the block lives in DPDK shared
 * memory, which the primary and the secondary map at the same address.
 *
 * Ownership: the table is owned by the broker that published it (it
 * allocates and frees it); lcores borrow it between two quiescent states.
 * Threads: lookups are safe from any number of threads at once.
 */
#ifndef TW_ROUTES_H
#define TW_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "tw_cidr.h"
#include "tw_limits.h"

struct tw_qring;
struct tw_topic;

enum tw_exchange_type {
	TW_EX_DIRECT = 0,
	TW_EX_FANOUT,
	TW_EX_TOPIC,
	TW_EX_HEADERS,
	TW_EX__MAX
};

#define TW_EX_F_INTERNAL 0x1    /* publishers cannot target it; only exchange-to-exchange bindings */

enum tw_dest_type { TW_DEST_QUEUE = 0, TW_DEST_EXCHANGE = 1 };

/* What a full queue does with one more task (x-overflow). */
enum tw_overflow {
	TW_OVERFLOW_REJECT_PUBLISH = 0, /* NACK queue-full to the publisher */
	TW_OVERFLOW_DROP_HEAD,          /* drop the oldest task, take the new one */
	TW_OVERFLOW_REJECT_PUBLISH_DLX, /* NACK queue-full, and dead-letter the refused task */
};

/*
 * Who takes a queue's tasks (x-consumers): the engine's worker lcores,
 * remote consumers (workers subscribed over the wire), or both.
 */
enum tw_queue_consumers {
	TW_QC_AUTO = 0, /* remote consumers while any is subscribed (or one held it), else the lcores */
	TW_QC_ENGINE,   /* worker lcores only: a subscription to it is refused */
	TW_QC_REMOTE,   /* remote consumers only, also before the first one subscribes */
	TW_QC_BOTH,     /* worker lcores and remote consumers compete for its tasks */
	TW_QC__MAX
};

/* Headers-exchange matching mode (the binding's x-match argument). */
enum tw_x_match { TW_XM_ALL = 0, TW_XM_ANY, TW_XM_ALL_WITH_X, TW_XM_ANY_WITH_X };

#define TW_MAX_BINDING_ARGS 16

/* No index (tw_routes.slot_queue of a slot without a queue). */
#define TW_ROUTE_NONE UINT32_MAX

/* A queue slot is 16 bits where it travels with a task (tw_task.queue_slot). */
_Static_assert(TW_MAX_QUEUES <= 65536, "queue slots must fit in 16 bits");

struct tw_route_queue {
	char name[TW_NAME_MAX];
	uint32_t name_len;
	uint16_t slot;          /* index in tw_shared.queues[] and the per-queue counters (< TW_MAX_QUEUES <= 65,536) */
	uint8_t overflow;       /* enum tw_overflow */
	uint8_t has_dl_key;     /* dead-letter with dl_key instead of the task's own key */
	struct tw_qring *ring;  /* MP/MC growing ring of struct tw_task *: a queue has competing consumers */
	uint64_t ttl_ticks;     /* message TTL in TSC ticks (tw_defs.tsc_hz), 0: none */
	uint8_t max_priority;   /* 0: one ring; else levels[p - 1] holds priority p */
	uint32_t max_length;    /* tasks over all levels */
	uint64_t max_bytes;     /* args bytes over all levels, 0: no limit */
	struct tw_qring *levels[TW_MAX_PRIORITY];
	int32_t dlx;            /* dead-letter exchange index, -1: none (or not declared) */
	uint8_t consumers;      /* enum tw_queue_consumers */
	uint8_t delivery_limit; /* returns without an ack before a task ends (x-delivery-limit) */
	uint32_t dl_key_len;
	char dl_key[TW_NAME_MAX];
	uint8_t durable;        /* journaled: the confirm waits for the disk */
};

struct tw_route_exchange {
	char name[TW_NAME_MAX]; /* "" is the default exchange */
	uint32_t name_len;
	uint8_t type;           /* enum tw_exchange_type */
	uint8_t flags;          /* TW_EX_F_* */
	uint8_t uses_headers;   /* a headers exchange is reachable from here: results depend on headers */
	uint8_t worth_caching;  /* topic, or routes on through other exchanges: a lookup costs more than a cache probe */
	int32_t alternate;      /* exchange index for unroutable tasks, -1: none */
	uint32_t slot;          /* stable across tables: per-exchange counters (0: default) */
	uint8_t n_allow;        /* source ranges allowed to publish here, 0: any source */
	struct tw_cidr allow[TW_MAX_ALLOW];
	uint32_t topic_root;    /* topic exchanges: root node in rt->topic */
	uint32_t first_binding; /* bindings are sorted by exchange: this one's range */
	uint32_t n_bindings;
};

/* A headers-binding criterion: key and value live in rt->strings. */
struct tw_route_arg {
	uint32_t key_off, key_len, val_off, val_len;
};

struct tw_route_binding {
	uint32_t exchange;      /* source: index in tw_routes.exchanges */
	uint32_t dest;          /* index in tw_routes.queues or tw_routes.exchanges */
	uint8_t dest_type;      /* enum tw_dest_type */
	uint8_t x_match;        /* enum tw_x_match (headers exchanges) */
	uint16_t n_args;
	uint32_t first_arg;     /* rt->args[first_arg .. + n_args) */
	uint32_t key_len;
	char key[TW_NAME_MAX];
};

/* One hash index slot; idx_plus1 == 0 marks an empty slot. */
struct tw_route_slot {
	uint32_t hash;
	uint32_t idx_plus1;
};

struct tw_routes {
	uint64_t version;       /* strictly increasing across publishes */
	uint32_t n_queues;
	uint32_t n_exchanges;
	uint32_t n_bindings;
	uint32_t n_args;
	struct tw_route_queue *queues;
	struct tw_route_exchange *exchanges;
	struct tw_route_binding *bindings;
	struct tw_route_arg *args;
	char *strings;          /* header-argument keys and values */
	struct tw_topic *topic; /* trie of all topic bindings, NULL if none */
	uint32_t slot_queue[TW_MAX_QUEUES]; /* tw_shared queue slot -> index in queues, TW_ROUTE_NONE none */
	uint32_t slot_end;      /* the highest queue slot in use + 1 (0: no queue) */
	/* Indexes: queue by name, exchange by name, binding by (exchange, key). */
	uint32_t queue_mask, exchange_mask, binding_mask;
	struct tw_route_slot *queue_index;
	struct tw_route_slot *exchange_index;
	struct tw_route_slot *binding_index;
	size_t total_size;      /* bytes of the whole block */
};

/* Definitions the builder works from (tw-control's model of the broker). */
struct tw_def_queue {
	char name[TW_NAME_MAX];
	uint16_t slot;
	uint8_t overflow;               /* enum tw_overflow */
	uint32_t message_ttl_ms;        /* 0: none */
	struct tw_qring *ring;
	uint8_t max_priority;
	uint32_t max_length;
	uint64_t max_bytes;             /* x-max-length-bytes, 0: none */
	uint8_t durable;                /* journaled before the confirm */
	struct tw_qring *levels[TW_MAX_PRIORITY];
	uint8_t consumers;              /* enum tw_queue_consumers */
	uint8_t delivery_limit;         /* x-delivery-limit, 1..TW_QUEUE_MAX_DELIVERY_LIMIT */
	char dlx[TW_NAME_MAX];          /* dead-letter exchange, "" none; a missing one is ignored */
	uint8_t has_dl_key;
	char dl_key[TW_NAME_MAX];
};

struct tw_def_exchange {
	char name[TW_NAME_MAX];
	uint32_t slot;                  /* stable counter slot, 1..TW_MAX_EXCHANGES-1 (0: default) */
	uint8_t n_allow;                /* publishers' source ranges, 0: any */
	struct tw_cidr allow[TW_MAX_ALLOW];
	uint8_t type;
	uint8_t flags;                  /* TW_EX_F_* */
	char alternate[TW_NAME_MAX];    /* "" none; a missing exchange is ignored, as in RabbitMQ */
};

struct tw_def_arg {
	char key[TW_NAME_MAX];
	char value[TW_NAME_MAX];
};

struct tw_def_binding {
	char source[TW_NAME_MAX];       /* exchange name */
	char destination[TW_NAME_MAX];  /* queue or exchange name (dest_type) */
	char key[TW_NAME_MAX];
	uint8_t dest_type;              /* enum tw_dest_type */
	uint8_t x_match;                /* enum tw_x_match */
	uint16_t n_args;
	const struct tw_def_arg *args;  /* headers criteria (x-match excluded), borrowed */
};

struct tw_defs {
	uint64_t version;
	uint64_t tsc_hz;                /* converts TTLs to ticks; 0 means 1 GHz (tests) */
	uint32_t n_queues, n_exchanges, n_bindings;
	const struct tw_def_queue *queues;
	const struct tw_def_exchange *exchanges;
	const struct tw_def_binding *bindings;
};

/* Allocation hook so unit tests run without EAL and can inject failures. */
struct tw_alloc_ops {
	void *(*zalloc)(size_t size, void *arg);
	void (*free)(void *p, void *arg);
	void *arg;
};

/**
 * Build an immutable table from definitions.
 * The default exchange "" must not be in defs: every table has it
 * implicitly at index 0 (type direct, routing key = queue name).
 * @return the table, or NULL with errno set: EINVAL (duplicate name,
 *   binding naming a missing exchange or queue, name too long), ENOMEM.
 * Ownership: the caller owns the table; free it with tw_routes_free().
 * Threads: any; touches nothing shared.
 */
struct tw_routes *tw_routes_build(const struct tw_defs *defs, const struct tw_alloc_ops *ops);
void tw_routes_free(struct tw_routes *rt, const struct tw_alloc_ops *ops);

/** Hash of a name (32-bit, stable across processes). */
uint32_t tw_routes_hash(const void *data, uint32_t len, uint32_t seed);

/** @return exchange index, or -1. Threads: any reader. */
int tw_routes_find_exchange(const struct tw_routes *rt, const char *name, uint32_t len);

/** @return queue index, or -1. Threads: any reader. */
int tw_routes_find_queue(const struct tw_routes *rt, const char *name, uint32_t len);

/* The ring of a queue that takes a task of this priority. */
static inline struct tw_qring *
tw_queue_ring(const struct tw_route_queue *q, uint32_t priority)
{
	uint32_t p = priority < q->max_priority ? priority : q->max_priority;

	return p == 0 ? q->ring : q->levels[p - 1];
}

/* tw_routes_match() results below zero */
#define TW_ROUTE_NO_EXCHANGE (-1)  /* the exchange does not exist */
#define TW_ROUTE_INTERNAL (-2)     /* the exchange is internal: publishers cannot target it */
#define TW_ROUTE_SOURCE (-3)       /* the publisher's address is outside the exchange's ranges */

/* A task's headers as the wire decoder left them (tw_wire_header_next() walks them). */
struct tw_route_headers {
	const uint8_t *p;
	uint32_t len;
	uint32_t n;
};

/**
 * Resolve a published task to destination queue indexes: the exchange's
 * bindings (direct: key equality; fanout: all; topic: patterns; headers:
 * x-match over the task's headers), following exchange-to-exchange
 * bindings, then the alternate exchange chain when nothing matched. Each
 * exchange is visited at most once, so diamonds and cycles terminate and
 * each queue is reported once.
 * @param dest  receives up to TW_MAX_QUEUES queue indexes (into rt->queues);
 *   it must have room for TW_MAX_QUEUES entries.
 * @return number of destinations (0 = unroutable), TW_ROUTE_NO_EXCHANGE
 *   or TW_ROUTE_INTERNAL.
 * Ownership: borrows everything. Threads: any reader; allocates nothing.
 */
int tw_routes_match(const struct tw_routes *rt, const char *exchange, uint32_t ex_len,
		    const char *key, uint32_t key_len, const struct tw_route_headers *headers,
		    uint32_t *dest);

/**
 * Route from an exchange given by index (dead-lettering: the queue's
 * dead-letter exchange may be internal). Same results as tw_routes_match().
 */
int tw_routes_match_from(const struct tw_routes *rt, uint32_t exchange,
			 const char *key, uint32_t key_len, const struct tw_route_headers *headers,
			 uint32_t *dest);

/** Names of enum tw_x_match values ("all", "any", "all-with-x", "any-with-x"); parse returns -1 if unknown. */
const char *tw_x_match_name(enum tw_x_match m);
int tw_x_match_parse(const char *name);

const char *tw_exchange_type_name(enum tw_exchange_type t);
/** @return the type, or -1 for an unknown name. */
int tw_exchange_type_parse(const char *name);

#endif
