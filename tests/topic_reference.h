/*
 * The AMQP topic rule written the slow, obvious way, for the unit test and
 * the fuzz harness to check the trie against: dynamic programming over
 * (pattern words, key words), so `#`-heavy patterns cannot make it
 * exponential. row[j]: the pattern's first i words match the key's first
 * j words. Used by routes_test, topic_test and fuzz_topic; nk <= TW_NAME_MAX.
 */
#ifndef TW_TOPIC_REFERENCE_H
#define TW_TOPIC_REFERENCE_H

#include <stdbool.h>
#include <stdio.h>
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

/*
 * Does pattern match key (strings of '.'-separated words, at most
 * TW_NAME_MAX - 1 bytes each)? Copies them, splits, and asks
 * tw_topic_reference(); "" has no words.
 */
static inline bool
tw_topic_reference_match(const char *pattern, const char *key)
{
	char buf[2][TW_NAME_MAX];
	const char *w[2][TW_NAME_MAX];
	int n[2] = { 0, 0 };

	for (int s = 0; s < 2; s++) {
		snprintf(buf[s], sizeof(buf[s]), "%s", s == 0 ? pattern : key);
		if (buf[s][0] == '\0')
			continue;
		w[s][n[s]++] = buf[s];
		for (char *c = buf[s]; *c; c++)
			if (*c == '.') {
				*c = '\0';
				w[s][n[s]++] = c + 1;
			}
	}
	return tw_topic_reference(w[0], n[0], w[1], n[1]);
}

#endif
