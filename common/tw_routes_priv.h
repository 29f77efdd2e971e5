/*
 * Private to the routing table: what its builder (tw_routes_build.c) and
 * its lookups (tw_routes.c) must compute alike.
 */
#ifndef TW_ROUTES_PRIV_H
#define TW_ROUTES_PRIV_H

#include <stdint.h>

#include "tw_routes.h"

/*
 * A topic pattern's value in the trie: its binding's destination index and
 * type (tw_topic keeps values below TW_TOPIC_LEAF_MAX without a record).
 */
#define TW_ROUTE_TOPIC_TYPE_SHIFT 28
#define TW_ROUTE_TOPIC_DEST_MASK ((1u << TW_ROUTE_TOPIC_TYPE_SHIFT) - 1)
_Static_assert(TW_MAX_QUEUES <= TW_ROUTE_TOPIC_DEST_MASK && TW_MAX_EXCHANGES <= TW_ROUTE_TOPIC_DEST_MASK,
	       "topic values hold any destination index");

/* Hash of a direct binding's (exchange, routing key): the index key both sides use. */
static inline uint32_t
tw_routes_binding_hash(uint32_t exchange, const char *key, uint32_t key_len)
{
	return tw_routes_hash(key, key_len, exchange * 0x9e3779b9u);
}

#endif
