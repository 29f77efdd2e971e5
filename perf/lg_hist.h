/*
 * Latency histogram for tw-loadgen, in the manner of HDR histograms:
 * log-linear buckets (each power of two split into 16 linear steps), so
 * any value is kept within 1/16 (6.25%) of itself from 1 ns to hours, in
 * 1,024 counters and with O(1) recording and no allocation.
 * Threads: one writer; read after it stops.
 */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#define LG_SUB_BITS 4
#define LG_BUCKETS (64 << LG_SUB_BITS)

struct lg_hist {
	uint64_t count;
	uint64_t max;
	uint64_t n[LG_BUCKETS];
};

static inline uint32_t
lg_bucket(uint64_t v)
{
	uint32_t msb;

	if (v < (1u << LG_SUB_BITS))
		return (uint32_t)v;
	msb = 63u - (uint32_t)__builtin_clzll(v);
	return ((msb - LG_SUB_BITS + 1) << LG_SUB_BITS) |
	       (uint32_t)((v >> (msb - LG_SUB_BITS)) & ((1u << LG_SUB_BITS) - 1));
}

static inline void
lg_hist_add(struct lg_hist *h, uint64_t v)
{
	h->n[lg_bucket(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

/** Value at quantile q (0..1): the upper edge of the bucket holding it; 0 when empty. */
uint64_t lg_hist_quantile(const struct lg_hist *h, double q);

#endif
