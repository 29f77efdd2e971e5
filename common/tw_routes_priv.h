/*
 * Private to the routing table: what its builder (tw_routes_build.c) and
 * its lookups (tw_routes.c) must compute alike.
 */
#ifndef TW_ROUTES_PRIV_H
#define TW_ROUTES_PRIV_H

#include <stdint.h>

#include "tw_routes.h"

/* Hash of a direct binding's (exchange, routing key): the index key both sides use. */
static inline uint32_t
tw_routes_binding_hash(uint32_t exchange, const char *key, uint32_t key_len)
{
	return tw_routes_hash(key, key_len, exchange * 0x9e3779b9u);
}

#endif
