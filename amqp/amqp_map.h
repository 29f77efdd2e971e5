/*
 * A hash map from a non-zero 64-bit key to a pointer (open addressing,
 * linear probing, backward-shift deletion so no tombstones build up).
 * tw-amqp keys connections by id and unconfirmed publishes by task id,
 * both looked up once per confirm from the engine.
 */
#ifndef AMQP_MAP_H
#define AMQP_MAP_H

#include <stddef.h>
#include <stdint.h>

struct amqp_map {
	uint64_t *keys;           /* 0: empty slot */
	void **vals;
	size_t mask;
	size_t n;
};

/** @return 0 or -ENOMEM. */
int amqp_map_init(struct amqp_map *m, size_t capacity_pow2);
void amqp_map_free(struct amqp_map *m);
/** @return 0, or -ENOMEM (growing failed). key must be non-zero. */
int amqp_map_put(struct amqp_map *m, uint64_t key, void *val);
void *amqp_map_get(const struct amqp_map *m, uint64_t key);
/** Remove and return the value (NULL: absent). */
void *amqp_map_del(struct amqp_map *m, uint64_t key);

#endif
