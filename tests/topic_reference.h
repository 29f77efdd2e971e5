/*
 * The AMQP topic rule written the slow, obvious way, for the unit test and
 * the fuzz harness to check the trie against: dynamic programming over
 * (pattern words, key words), so `#`-heavy patterns cannot make it
 * exponential. row[j]: the pattern's first i words match the key's first
 * j words. Words are split by the caller; nk <= TW_NAME_MAX.
 */
#ifndef TW_TOPIC_REFERENCE_H
#define TW_TOPIC_REFERENCE_H

#include <stdbool.h>
#include <string.h>

#include "tw_limits.h"

static inline bool
tw_topic_reference(const char *const *p, int np, const char *const *k, int nk)
{
	bool row[TW_NAME_MAX + 1], prev[TW_NAME_MAX + 1];

	for (int j = 0; j <= nk; j++)
		row[j] = j == 0;
	for (int i = 0; i < np; i++) {
		memcpy(prev, row, sizeof(bool) * (size_t)(nk + 1));
		for (int j = 0; j <= nk; j++) {
			if (strcmp(p[i], "#") == 0)
				row[j] = prev[j] || (j > 0 && row[j - 1]);
			else
				row[j] = j > 0 && prev[j - 1] &&
					 (strcmp(p[i], "*") == 0 || strcmp(p[i], k[j - 1]) == 0);
		}
	}
	return row[nk];
}

#endif
