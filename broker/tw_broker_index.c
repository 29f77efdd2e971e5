/*
 * The broker's name indexes: see tw_broker_index.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "tw_broker_index.h"

int64_t
tw_broker_ix_find(const struct tw_broker_index *ix, uint32_t hash, tw_broker_ix_eq eq,
		  const void *key, const void *ctx)
{
	if (ix->s == NULL)
		return -1;
	/* bounded: at most half the slots are used, so an empty one ends the probe */
	for (uint32_t i = hash & ix->mask; ix->s[i].v1 != 0; i = (i + 1) & ix->mask)
		if (ix->s[i].hash == hash && eq(ix->s[i].v1 - 1, key, ctx))
			return ix->s[i].v1 - 1;
	return -1;
}

static void
put(struct tw_broker_ix_slot *s, uint32_t mask, uint32_t hash, uint32_t v1)
{
	uint32_t i = hash & mask;

	while (s[i].v1 != 0)
		i = (i + 1) & mask;
	s[i].hash = hash;
	s[i].v1 = v1;
}

int
tw_broker_ix_add(struct tw_broker_index *ix, uint32_t hash, uint32_t v)
{
	if (ix->s == NULL || 2 * (ix->n + 1) > ix->mask + 1) {
		uint32_t slots = ix->s == NULL ? 64 : (ix->mask + 1) * 2;
		struct tw_broker_ix_slot *s = calloc(slots, sizeof(*s));

		if (s == NULL)
			return -ENOMEM;
		for (uint32_t i = 0; ix->s != NULL && i <= ix->mask; i++)
			if (ix->s[i].v1 != 0)
				put(s, slots - 1, ix->s[i].hash, ix->s[i].v1);
		free(ix->s);
		ix->s = s;
		ix->mask = slots - 1;
	}
	put(ix->s, ix->mask, hash, v + 1);
	ix->n++;
	return 0;
}

static int64_t
slot_of(const struct tw_broker_index *ix, uint32_t hash, uint32_t v)
{
	if (ix->s == NULL)
		return -1;
	for (uint32_t i = hash & ix->mask; ix->s[i].v1 != 0; i = (i + 1) & ix->mask)
		if (ix->s[i].v1 == v + 1)
			return i;
	return -1;
}

void
tw_broker_ix_del(struct tw_broker_index *ix, uint32_t hash, uint32_t v)
{
	int64_t at = slot_of(ix, hash, v);
	uint32_t hole, i;

	if (at < 0)
		return;
	hole = (uint32_t)at;
	ix->s[hole].v1 = 0;
	ix->n--;
	/* Backward shift: move up every later entry of the run whose home is
	 * not between the hole and it, so no probe meets a false end. */
	for (i = (hole + 1) & ix->mask; ix->s[i].v1 != 0; i = (i + 1) & ix->mask) {
		uint32_t home = ix->s[i].hash & ix->mask;

		if (((i - home) & ix->mask) >= ((i - hole) & ix->mask)) {
			ix->s[hole] = ix->s[i];
			ix->s[i].v1 = 0;
			hole = i;
		}
	}
}

void
tw_broker_ix_move(struct tw_broker_index *ix, uint32_t hash, uint32_t from, uint32_t to)
{
	int64_t at = slot_of(ix, hash, from);

	if (at >= 0)
		ix->s[at].v1 = to + 1;
}

void
tw_broker_ix_free(struct tw_broker_index *ix)
{
	free(ix->s);
	ix->s = NULL;
	ix->mask = ix->n = 0;
}
