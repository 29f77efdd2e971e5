/*
 * Unit tests for tw-loadgen's latency histogram (perf/lg_hist.c): bucket
 * bounds, quantiles within the 1/16 resolution, edge values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lg_hist.h"

static void
test_quantiles_within_resolution(void **state)
{
	static struct lg_hist h;
	static const double qs[] = { 0.5, 0.9, 0.99, 0.999 };

	(void)state;
	memset(&h, 0, sizeof(h));
	for (uint64_t v = 1; v <= 1000000; v++)
		lg_hist_add(&h, v);
	assert_int_equal(h.count, 1000000);
	assert_int_equal(h.max, 1000000);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double want = qs[i] * 1000000.0, got = (double)lg_hist_quantile(&h, qs[i]);

		if (got < want || got > want * (1.0 + 1.0 / 16) + 1)
			fail_msg("q%.3f: %.0f, expected within 1/16 above %.0f", qs[i], got, want);
	}
	assert_int_equal(lg_hist_quantile(&h, 1.0), 1000000);
}

static void
test_edges(void **state)
{
	static struct lg_hist h;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(lg_hist_quantile(&h, 0.5), 0); /* empty */
	lg_hist_add(&h, 0);
	assert_int_equal(lg_hist_quantile(&h, 0.99), 0);
	lg_hist_add(&h, UINT64_MAX);
	assert_int_equal(h.max, UINT64_MAX);
	assert_true(lg_bucket(UINT64_MAX) < LG_BUCKETS);
	for (uint64_t v = 1; v < 64; v++)
		assert_true(lg_bucket(v) <= lg_bucket(v + 1)); /* monotonic */
	assert_int_equal(lg_bucket(15), 15);           /* exact below 16 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantiles_within_resolution),
		cmocka_unit_test(test_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
