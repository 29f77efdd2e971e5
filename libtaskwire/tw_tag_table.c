/*
 * Delivery tags and the worker's bookkeeping for each (tw_tag_table.h).
 */
#include <stdlib.h>
#include <string.h>

#include "tw_tag_table.h"

#define MIN_CAP 16u           /* an idle worker of a set costs little */

/* Tags are an index, a table id and a generation packed: mixed, so that
 * consecutive ones do not fill one run of slots. */
static uint32_t
home_of(uint64_t tag, uint32_t cap)
{
	tag ^= tag >> 33;
	tag *= 0xff51afd7ed558ccdull;
	tag ^= tag >> 33;
	return (uint32_t)tag & (cap - 1);
}

struct tw_tag_entry *
tw_tag_find(const struct tw_tag_table *t, uint64_t tag)
{
	if (t->n == 0 || tag == 0)
		return NULL;
	/* bounded: the table is at most half full, so a free slot ends the probe */
	for (uint32_t i = home_of(tag, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (t->slot[i].tag == tag)
			return &t->slot[i];
		if (t->slot[i].tag == 0)
			return NULL;
	}
}

/* Move every entry to a table of cap slots. @return 0 or -1 (no memory, unchanged). */
static int
rehash(struct tw_tag_table *t, uint32_t cap)
{
	struct tw_tag_entry *s = calloc(cap, sizeof(*s));

	if (s == NULL)
		return -1;
	for (uint32_t k = 0; k < t->cap; k++) {
		uint32_t i;

		if (t->slot[k].tag == 0)
			continue;
		for (i = home_of(t->slot[k].tag, cap); s[i].tag != 0; i = (i + 1) & (cap - 1))
			;
		s[i] = t->slot[k];
	}
	free(t->slot);
	t->slot = s;
	t->cap = cap;
	return 0;
}

struct tw_tag_entry *
tw_tag_add(struct tw_tag_table *t, uint64_t tag)
{
	uint32_t i;

	if (tag == 0)
		return NULL;
	if ((t->n + 1) * 2 > t->cap) {
		if (t->cap >= (1u << 30) || rehash(t, t->cap != 0 ? t->cap * 2 : MIN_CAP) != 0)
			return NULL;
	}
	for (i = home_of(tag, t->cap); t->slot[i].tag != 0; i = (i + 1) & (t->cap - 1))
		;
	memset(&t->slot[i], 0, sizeof(t->slot[i]));
	t->slot[i].tag = tag;
	t->n++;
	return &t->slot[i];
}

bool
tw_tag_remove_at(struct tw_tag_table *t, uint32_t i)
{
	uint32_t hole = i, mask = t->cap - 1;

	memset(&t->slot[hole], 0, sizeof(t->slot[hole]));
	t->n--;
	/* shift back the entries of the run after the hole that may live there:
	 * those whose home is not cyclically within (hole, j] */
	for (uint32_t j = (hole + 1) & mask; t->slot[j].tag != 0; j = (j + 1) & mask) {
		uint32_t home = home_of(t->slot[j].tag, t->cap);
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);

		if (stays)
			continue;
		t->slot[hole] = t->slot[j];
		/* a free slot holds nothing (its bytes are the moved entry's now) */
		memset(&t->slot[j], 0, sizeof(t->slot[j]));
		hole = j;
	}
	return t->slot[i].tag != 0;
}

void
tw_tag_table_compact(struct tw_tag_table *t)
{
	if (t->n == 0 && t->cap > MIN_CAP) {
		tw_tag_table_free(t);
		return;
	}
	/* a quarter of the threshold to grow: no back and forth at one size */
	if (t->cap > MIN_CAP && t->n * 8 < t->cap)
		rehash(t, t->cap / 2); /* no memory: stays as it is */
}

void
tw_tag_table_free(struct tw_tag_table *t)
{
	free(t->slot);
	t->slot = NULL;
	t->cap = 0;
	t->n = 0;
}
