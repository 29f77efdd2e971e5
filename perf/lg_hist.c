/*
 * Latency histogram: see lg_hist.h.
 */
#include "lg_hist.h"

/* The largest value that lands in bucket b. */
static uint64_t
bucket_top(uint32_t b)
{
	uint32_t exp = b >> LG_SUB_BITS, sub = b & ((1u << LG_SUB_BITS) - 1);
	uint32_t msb;

	if (exp == 0)
		return sub;
	msb = exp + LG_SUB_BITS - 1;
	return (((uint64_t)(sub | (1u << LG_SUB_BITS)) + 1) << (msb - LG_SUB_BITS)) - 1;
}

uint64_t
lg_hist_quantile(const struct lg_hist *h, double q)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	for (uint32_t b = 0; b < LG_BUCKETS; b++) {
		seen += h->n[b];
		if (seen > want) {
			uint64_t top = bucket_top(b);

			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
