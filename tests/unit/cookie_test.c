/*
 * Unit tests for SipHash-2-4 (common/tw_siphash.c) against the reference
 * implementation's test vectors, and for source cookies (common/tw_cookie.c):
 * taken for their own address and port during one to two lifetimes;
 * refused for another address or port, a forged or damaged tag, a later
 * or older epoch, another engine's secret. Also measures what a check
 * costs (the engine runs one per frame), printed in cycles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include <cmocka.h>

#include "tw_cookie.h"
#include "tw_siphash.h"

static void
test_siphash_reference_vectors(void **state)
{
	/* key 00..0f, message 00..(n-1): vectors 0, 1, 7, 8, 15 and 63 of the
	 * reference implementation's table, read as little-endian words */
	static const struct { size_t n; uint64_t h; } v[] = {
		{ 0, 0x726fdb47dd0e0e31ull }, { 1, 0x74f839c593dc67fdull },
		{ 7, 0xab0200f58b01d137ull }, { 8, 0x93f5f5799a932462ull },
		{ 15, 0xa129ca6149be45e5ull }, { 63, 0x958a324ceb064572ull },
	};
	uint8_t k[16], m[64];
	struct tw_siphash_key key;

	(void)state;
	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		m[i] = (uint8_t)i;
	key = tw_siphash_key_of(k);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_true(tw_siphash24(&key, m, v[i].n) == v[i].h);
}

static const uint8_t secret[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
#define IP 0x0a4d0002u
#define PORT 0x3930u
#define T0 1764950000000ull      /* unix ms */

static void
test_cookie_accepted_for_its_source_for_one_to_two_lifetimes(void **state)
{
	struct tw_cookie_keys ck;
	uint8_t c[TW_COOKIE_LEN];
	/* the start of an epoch of 60 s */
	uint64_t t = T0 / 60000 * 60000;

	(void)state;
	tw_cookie_init(&ck, secret, 60000);
	tw_cookie_make(&ck, IP, PORT, t, c);
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c), IP, PORT, t), TW_COOKIE_OK);
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c), IP, PORT, t + 119999), TW_COOKIE_OK);
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c), IP, PORT, t + 120000),
			 TW_COOKIE_EXPIRED);
	/* made at an epoch's end: still one lifetime and a millisecond */
	tw_cookie_make(&ck, IP, PORT, t + 59999, c);
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c), IP, PORT, t + 119999), TW_COOKIE_OK);
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c), IP, PORT, t + 120000),
			 TW_COOKIE_EXPIRED);
	/* a clock stepped back before the cookie's epoch */
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c), IP, PORT, t - 1), TW_COOKIE_BAD);
}

static void
test_cookie_refused_elsewhere_forged_or_damaged(void **state)
{
	struct tw_cookie_keys ck, other;
	uint8_t c[TW_COOKIE_LEN], f[TW_COOKIE_LEN];
	uint8_t other_secret[16];

	(void)state;
	tw_cookie_init(&ck, secret, 60000);
	tw_cookie_make(&ck, IP, PORT, T0, c);
	assert_int_equal(tw_cookie_check(&ck, NULL, 0, IP, PORT, T0), TW_COOKIE_MISSING);
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c), IP + 1, PORT, T0), TW_COOKIE_BAD);
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c), IP, PORT + 1, T0), TW_COOKIE_BAD);
	assert_int_equal(tw_cookie_check(&ck, c, sizeof(c) - 1, IP, PORT, T0), TW_COOKIE_BAD);
	/* every single bit of the tag matters */
	for (unsigned bit = 32; bit < 8 * TW_COOKIE_LEN; bit++) {
		memcpy(f, c, sizeof(c));
		f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(tw_cookie_check(&ck, f, sizeof(f), IP, PORT, T0), TW_COOKIE_BAD);
	}
	/* the epoch moved back a lifetime: the tag is for the other epoch */
	memcpy(f, c, sizeof(c));
	f[0]--;
	assert_int_equal(tw_cookie_check(&ck, f, sizeof(f), IP, PORT, T0), TW_COOKIE_BAD);
	/* another engine (or this one restarted) */
	memcpy(other_secret, secret, sizeof(secret));
	other_secret[0] ^= 1;
	tw_cookie_init(&other, other_secret, 60000);
	assert_int_equal(tw_cookie_check(&other, c, sizeof(c), IP, PORT, T0), TW_COOKIE_BAD);
	/* the keys of the epochs are not all one: same input, next epoch, other tag */
	{
		uint8_t c2[TW_COOKIE_LEN];

		tw_cookie_make(&ck, IP, PORT, T0 + 60000, c2);
		assert_memory_not_equal(c + 4, c2 + 4, 8);
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Batches of checks: the fastest and the median batch, so that a shared
 * machine's preemptions (in the TSC's wall time) do not count as cost. */
static void
test_cookie_check_cost(void **state)
{
	struct tw_cookie_keys ck;
	uint8_t c[TW_COOKIE_LEN];
	enum { BATCHES = 200, PER = 1000 };
	static uint64_t t[BATCHES];
	unsigned ok = 0;

	(void)state;
	tw_cookie_init(&ck, secret, 60000);
	tw_cookie_make(&ck, IP, PORT, T0, c);
	for (int b = 0; b < BATCHES; b++) {
		uint64_t t0 = __rdtsc();

		for (int i = 0; i < PER; i++)
			ok += tw_cookie_check(&ck, c, sizeof(c), IP, PORT,
					      T0 + (uint64_t)(i & 1023)) == TW_COOKIE_OK;
		t[b] = __rdtsc() - t0;
	}
	assert_int_equal(ok, BATCHES * PER);
	qsort(t, BATCHES, sizeof(t[0]), cmp_u64);
	printf("cookie check: %.1f cycles (TSC) each in the fastest batch, %.1f in the median "
	       "(%d batches of %d)\n", (double)t[0] / PER, (double)t[BATCHES / 2] / PER, BATCHES,
	       PER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_reference_vectors),
		cmocka_unit_test(test_cookie_accepted_for_its_source_for_one_to_two_lifetimes),
		cmocka_unit_test(test_cookie_refused_elsewhere_forged_or_damaged),
		cmocka_unit_test(test_cookie_check_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
