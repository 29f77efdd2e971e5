/*
 * Id map (see tw_idmap.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "tw_idmap.h"

static inline uint64_t
slot_of(const struct tw_idmap *m, uint64_t id)
{
	id ^= id >> 31;
	id *= 0x9e3779b97f4a7c15ull;
	id ^= id >> 29;
	return id & m->mask;
}

int
tw_idmap_init(struct tw_idmap *m, uint64_t cap)
{
	if (cap < 16 || (cap & (cap - 1)) != 0)
		cap = 16;
	m->keys = calloc(cap, sizeof(*m->keys));
	m->vals = calloc(cap, sizeof(*m->vals));
	if (m->keys == NULL || m->vals == NULL) {
		free(m->keys);
		free(m->vals);
		return -ENOMEM;
	}
	m->mask = cap - 1;
	m->n = 0;
	return 0;
}

void
tw_idmap_free(struct tw_idmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->n = 0;
}

void *
tw_idmap_get(const struct tw_idmap *m, uint64_t id)
{
	/* bounded: the table is at most half full, the probe meets an empty slot */
	for (uint64_t i = slot_of(m, id);; i = (i + 1) & m->mask) {
		if (m->keys[i] == id)
			return m->vals[i];
		if (m->keys[i] == 0)
			return NULL;
	}
}

static int
grow(struct tw_idmap *m)
{
	struct tw_idmap bigger;

	if (tw_idmap_init(&bigger, (m->mask + 1) * 2) != 0)
		return -ENOMEM;
	for (uint64_t i = 0; i <= m->mask; i++)
		if (m->keys[i] != 0)
			tw_idmap_put(&bigger, m->keys[i], m->vals[i]);
	tw_idmap_free(m);
	*m = bigger;
	return 0;
}

int
tw_idmap_put(struct tw_idmap *m, uint64_t id, void *val)
{
	uint64_t i;

	if ((m->n + 1) * 2 > m->mask + 1 && grow(m) != 0)
		return -ENOMEM;
	for (i = slot_of(m, id); m->keys[i] != 0 && m->keys[i] != id; i = (i + 1) & m->mask)
		;
	if (m->keys[i] == 0)
		m->n++;
	m->keys[i] = id;
	m->vals[i] = val;
	return 0;
}

void *
tw_idmap_del(struct tw_idmap *m, uint64_t id)
{
	uint64_t i, j;
	void *val;

	for (i = slot_of(m, id); m->keys[i] != id; i = (i + 1) & m->mask)
		if (m->keys[i] == 0)
			return NULL;
	val = m->vals[i];
	/* backward shift: move later members of the cluster into the hole when
	 * their home slot is not between the hole and where they sit */
	for (j = (i + 1) & m->mask; m->keys[j] != 0; j = (j + 1) & m->mask) {
		uint64_t home = slot_of(m, m->keys[j]);

		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->n--;
	return val;
}
