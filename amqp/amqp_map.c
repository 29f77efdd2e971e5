/*
 * u64 -> pointer hash map: see amqp_map.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "amqp_map.h"

static size_t
slot_of(const struct amqp_map *m, uint64_t key)
{
	/* task ids are sequential: mix them so they spread */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & m->mask;
}

int
amqp_map_init(struct amqp_map *m, size_t cap)
{
	m->keys = calloc(cap, sizeof(*m->keys));
	m->vals = calloc(cap, sizeof(*m->vals));
	m->mask = cap - 1;
	m->n = 0;
	if (m->keys == NULL || m->vals == NULL) {
		amqp_map_free(m);
		return -ENOMEM;
	}
	return 0;
}

void
amqp_map_free(struct amqp_map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->n = 0;
}

static int
grow(struct amqp_map *m)
{
	struct amqp_map g;

	if (amqp_map_init(&g, (m->mask + 1) * 2) != 0)
		return -ENOMEM;
	for (size_t i = 0; i <= m->mask; i++)
		if (m->keys[i] != 0)
			amqp_map_put(&g, m->keys[i], m->vals[i]);
	amqp_map_free(m);
	*m = g;
	return 0;
}

int
amqp_map_put(struct amqp_map *m, uint64_t key, void *val)
{
	size_t i;

	/* at most half full: probes stay short */
	if ((m->n + 1) * 2 > m->mask + 1 && grow(m) != 0)
		return -ENOMEM;
	for (i = slot_of(m, key); m->keys[i] != 0 && m->keys[i] != key; i = (i + 1) & m->mask)
		;
	if (m->keys[i] == 0)
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

void *
amqp_map_get(const struct amqp_map *m, uint64_t key)
{
	for (size_t i = slot_of(m, key); m->keys[i] != 0; i = (i + 1) & m->mask)
		if (m->keys[i] == key)
			return m->vals[i];
	return NULL;
}

void *
amqp_map_del(struct amqp_map *m, uint64_t key)
{
	size_t i, j;
	void *v;

	for (i = slot_of(m, key); m->keys[i] != key; i = (i + 1) & m->mask)
		if (m->keys[i] == 0)
			return NULL;
	v = m->vals[i];
	m->n--;
	/* backward shift: move later entries of the run into the hole */
	for (j = (i + 1) & m->mask; m->keys[j] != 0; j = (j + 1) & m->mask) {
		size_t home = slot_of(m, m->keys[j]);

		/* j may move to i if its home is not in (i, j] (cyclically) */
		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	return v;
}
