/*
 * Unit tests for durations and rate limits (common/tw_units.c): accepted
 * forms with their exact values, every refusal with its errno and
 * message, error-buffer handling, and a round trip of every millisecond
 * count printed in each unit it divides.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tw_units.h"

static void
test_units_duration_values(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} cases[] = {
		{ "250ms", 250 },
		{ "10s", 10000 },
		{ "5m", 300000 },
		{ "1h", 3600000 },
		{ "2d", 172800000 },
		{ "1.5s", 1500 },
		{ "90", 90000 },
		{ "0", 0 },
		{ "0ms", 0 },
		{ "0.0s", 0 },
		{ "0.25s", 250 },
		{ "0.001s", 1 },
		{ "1.5m", 90000 },
		{ "0.5h", 1800000 },
		{ "0.1d", 8640000 },
		{ "1.25", 1250 },
		{ "007s", 7000 },
		{ "1.500000000000000000000s", 1500 },  /* trailing zeros cost nothing */
		{ "0.0000003125d", 27 },               /* ten decimals, still whole ms */
		{ "315576000s", 315576000000ull },    /* the maximum, 10 years */
		{ "3652.5d", 315576000000ull },
		{ "315575999999ms", 315575999999ull },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		int rc = tw_duration_parse(cases[i].s, &ms, err, sizeof(err));

		if (rc != 0 || ms != cases[i].ms)
			fail_msg("\"%s\": rc %d (%s), %llu ms, want %llu", cases[i].s, rc, err,
				 (unsigned long long)ms, (unsigned long long)cases[i].ms);
		assert_string_equal(err, "");
	}
}

static void
test_units_duration_errors(void **state)
{
	static const struct {
		const char *s;
		int rc;
		const char *msg;  /* substring of the message */
	} cases[] = {
		{ "", -EINVAL, "empty duration" },
		{ "-5s", -ERANGE, "negative duration \"-5s\"" },
		{ "-0", -ERANGE, "negative duration" },
		{ "5x", -EINVAL, "unknown unit \"x\" in \"5x\" (expected ms, s, m, h or d)" },
		{ "5S", -EINVAL, "unknown unit \"S\"" },
		{ "5sec", -EINVAL, "unknown unit \"sec\"" },
		{ "5 s", -EINVAL, "unknown unit \" s\"" },
		{ "5s ", -EINVAL, "unknown unit \"s \"" },
		{ "1h30m", -EINVAL, "unknown unit \"h30m\"" },
		{ "1.2.3s", -EINVAL, "unknown unit \".3s\"" },
		{ "5\x01", -EINVAL, "unknown unit \"?\" in \"5?\"" },
		{ "s", -EINVAL, "\"s\" is not a duration (expected a number and a unit" },
		{ " 5s", -EINVAL, "\" 5s\" is not a duration" },
		{ "+5s", -EINVAL, "is not a duration" },
		{ ".5s", -EINVAL, "is not a duration" },
		{ "1.s", -EINVAL, "\"1.s\" is not a duration" },
		{ "1.", -EINVAL, "is not a duration" },
		{ "1.5ms", -EINVAL, "\"1.5ms\" is not a whole number of milliseconds" },
		{ "1.0005s", -EINVAL, "not a whole number of milliseconds" },
		{ "0.00000000001d", -EINVAL, "not a whole number of milliseconds" },
		{ "0.0000000000000000000000001s", -EINVAL, "not a whole number of milliseconds" },
		{ "315576000.001s", -ERANGE, "duration \"315576000.001s\" exceeds the maximum of "
					    "10 years (315576000000ms)" },
		{ "3653d", -ERANGE, "exceeds the maximum" },
		{ "5259601m", -ERANGE, "exceeds the maximum" },
		{ "18446744073709551616ms", -ERANGE, "exceeds the maximum" },
		{ "99999999999999999999999999999999d", -ERANGE, "exceeds the maximum" },
		{ "0000000000000000000000000000000000000000000000000000000000000001s", -EINVAL,
		  "duration is longer than 64 characters" },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		int rc = tw_duration_parse(cases[i].s, &ms, err, sizeof(err));

		if (rc != cases[i].rc || strstr(err, cases[i].msg) == NULL)
			fail_msg("\"%s\": rc %d, message \"%s\"; want %d, \"%s\"", cases[i].s, rc,
				 err, cases[i].rc, cases[i].msg);
		assert_int_equal(ms, 12345); /* left alone on failure */
	}
}

static void
test_units_rate_values(void **state)
{
	static const struct {
		const char *s;
		uint64_t count, period_ms;
	} cases[] = {
		{ "100/s", 100, 1000 },
		{ "10/m", 10, 60000 },
		{ "1000/h", 1000, 3600000 },
		{ "100", 100, 1000 },
		{ "1", 1, 1000 },
		{ "0", 0, 0 },
		{ "0/m", 0, 0 },
		{ "0.0", 0, 0 },
		{ "0.000/h", 0, 0 },
		{ "0.5/s", 1, 2000 },
		{ "1.5/s", 3, 2000 },
		{ "1.50/s", 3, 2000 },
		{ "2.25/m", 9, 240000 },
		{ "0.1", 1, 10000 },
		{ "0.000001/h", 1, 3600000000000ull },
		{ "1000000000/s", 1000000000, 1000 },
		{ "1000000000.999999/h", 1000000000999999ull, 3600000000000ull },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t count = 7, period = 7;
		int rc = tw_rate_parse(cases[i].s, &count, &period, err, sizeof(err));

		if (rc != 0 || count != cases[i].count || period != cases[i].period_ms)
			fail_msg("\"%s\": rc %d (%s), %llu per %llu ms, want %llu per %llu",
				 cases[i].s, rc, err, (unsigned long long)count,
				 (unsigned long long)period, (unsigned long long)cases[i].count,
				 (unsigned long long)cases[i].period_ms);
	}
}

static void
test_units_rate_errors(void **state)
{
	static const struct {
		const char *s;
		int rc;
		const char *msg;
	} cases[] = {
		{ "", -EINVAL, "empty rate" },
		{ "-1/s", -ERANGE, "negative rate \"-1/s\"" },
		{ "10/d", -EINVAL, "unknown unit \"/d\" in \"10/d\" (expected /s, /m or /h)" },
		{ "10/", -EINVAL, "unknown unit \"/\"" },
		{ "10/S", -EINVAL, "unknown unit \"/S\"" },
		{ "10 /s", -EINVAL, "unknown unit \" /s\"" },
		{ "10/s/s", -EINVAL, "unknown unit \"/s/s\"" },
		{ "10s", -EINVAL, "unknown unit \"s\"" },
		{ "/s", -EINVAL, "\"/s\" is not a rate (expected a count per unit, e.g. 100/s" },
		{ "abc", -EINVAL, "is not a rate" },
		{ "1./s", -EINVAL, "is not a rate" },
		{ "1.1234567/s", -EINVAL, "\"1.1234567/s\" has more than 6 decimals" },
		{ "0.000000000000001/s", -EINVAL, "has more than 6 decimals" },
		{ "1000000001/s", -ERANGE, "rate \"1000000001/s\" exceeds 1000000000 per unit" },
		{ "99999999999999999999999999", -ERANGE, "exceeds" },
		{ "10000000000000000000000000000000000000000000000000000000000000000/s", -EINVAL,
		  "rate is longer than 64 characters" },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t count = 7, period = 7;
		int rc = tw_rate_parse(cases[i].s, &count, &period, err, sizeof(err));

		if (rc != cases[i].rc || strstr(err, cases[i].msg) == NULL)
			fail_msg("\"%s\": rc %d, message \"%s\"; want %d, \"%s\"", cases[i].s, rc,
				 err, cases[i].rc, cases[i].msg);
		assert_int_equal(count, 7);
		assert_int_equal(period, 7);
	}
}

static void
test_units_err_buffer(void **state)
{
	char small[6];
	uint64_t v, p;

	(void)state;
	assert_int_equal(tw_duration_parse("x", &v, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "\"x\" i");
	assert_int_equal(tw_duration_parse("x", &v, NULL, 0), -EINVAL);
	assert_int_equal(tw_duration_parse(NULL, &v, small, sizeof(small)), -EINVAL);
	assert_int_equal(tw_rate_parse("x", &v, &p, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "\"x\" i");
	assert_int_equal(tw_rate_parse(NULL, &v, &p, NULL, 0), -EINVAL);
}

/*
 * Any whole number of milliseconds, printed in every unit that divides it
 * exactly (with decimals where needed), reads back as the same number.
 */
static void
test_units_duration_round_trip(void **state)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 } };
	uint64_t x = 88172645463325252ull;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t ms, got;
		char s[80];

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = x % (TW_DURATION_MAX_MS + 1) >> (x % 37);
		for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			uint64_t whole = ms / units[u].ms, rest = ms % units[u].ms;

			/* rest / unit as a decimal: unit divides 10^8 * 2^k, so 10 digits suffice */
			snprintf(s, sizeof(s), "%llu.%010llu%s", (unsigned long long)whole,
				 (unsigned long long)(rest * 10000000000ull / units[u].ms), units[u].unit);
			if (rest * 10000000000ull % units[u].ms != 0)
				continue; /* not exact in ten decimals (e.g. thirds of an hour) */
			if (tw_duration_parse(s, &got, NULL, 0) != 0 || got != ms)
				fail_msg("\"%s\": %llu, want %llu", s, (unsigned long long)got,
					 (unsigned long long)ms);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units_duration_values),
		cmocka_unit_test(test_units_duration_errors),
		cmocka_unit_test(test_units_rate_values),
		cmocka_unit_test(test_units_rate_errors),
		cmocka_unit_test(test_units_err_buffer),
		cmocka_unit_test(test_units_duration_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
