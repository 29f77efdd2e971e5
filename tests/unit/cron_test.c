/*
 * Unit tests for cron expressions (common/tw_cron.c): every parse error
 * with its message, accepted forms and their bitmasks, next-fire times
 * across month and year ends, leap days, the day-of-month/day-of-week OR
 * rule, steps, names and shortcuts, and a randomised check of
 * tw_cron_next() against a minute-by-minute reference built on libc's
 * gmtime_r (which tw_cron.c itself does not use).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tw_cron.h"

#define ALL_MINUTES ((1ull << 60) - 1)
#define ALL_HOURS ((1u << 24) - 1)
#define ALL_DAYS (((1u << 31) - 1) << 1)
#define ALL_MONTHS (((1u << 12) - 1) << 1)
#define ALL_WEEKDAYS 0x7fu

/* "YYYY-MM-DD HH:MM[:SS]" (UTC) -> unix seconds; a NULL string is -1 (no next time). */
static int64_t
at(const char *iso)
{
	struct tm tm = { 0 };
	int n;

	if (iso == NULL)
		return -1;
	n = sscanf(iso, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec);
	assert_true(n >= 5);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static const char *
iso(int64_t t, char buf[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == -1)
		return "(none)";
	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%d %H:%M:%S %a", &tm);
	return buf;
}

static void
test_cron_parse_errors(void **state)
{
	static const struct {
		const char *expr;
		const char *msg;  /* substring of the message */
	} cases[] = {
		{ "", "empty expression" },
		{ " \t ", "empty expression" },
		{ "* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4" },
		{ "* * * * * *", "got 6" },
		{ "*", "got 1" },
		{ "60 * * * *", "minute field: 60 is out of range 0-59" },
		{ "* 24 * * *", "hour field: 24 is out of range 0-23" },
		{ "* * 0 * *", "day-of-month field: 0 is out of range 1-31" },
		{ "* * 32 * *", "day-of-month field: 32 is out of range 1-31" },
		{ "* * * 0 *", "month field: 0 is out of range 1-12" },
		{ "* * * 13 *", "month field: 13 is out of range 1-12" },
		{ "* * * * 8", "day-of-week field: 8 is out of range 0-7" },
		{ "1-60 * * * *", "minute field: 60 is out of range 0-59" },
		{ "99999999999999999999 * * * *",
		  "minute field: 99999999999999999999 is out of range 0-59" },
		{ "* 00000024 * * *", "hour field: 00000024 is out of range 0-23" },
		{ "* 0001000000 * * *", "hour field: 0001000000 is out of range 0-23" },
		{ "5-3 * * * *", "minute field: range 5-3 is reversed (in \"5-3\")" },
		{ "* * * dec-jan *", "month field: range 12-1 is reversed (in \"dec-jan\")" },
		{ "* * * * fri-mon", "day-of-week field: range 5-1 is reversed" },
		{ "*/0 * * * *", "minute field: step 0 in \"*/0\" must be at least 1" },
		{ "* 1-5/0 * * *", "hour field: step 0 in \"1-5/0\"" },
		{ "*/61 * * * *", "minute field: step 61 is out of range 1-60" },
		{ "*/99999999999 * * * *", "step 99999999999 is out of range 1-60" },
		{ "* * */32 * *", "day-of-month field: step 32 is out of range 1-31" },
		{ "* * * * */9", "day-of-week field: step 9 is out of range 1-8" },
		{ "*/ * * * *", "minute field: missing step in \"*/\"" },
		{ "*/x * * * *", "minute field: unexpected 'x' in \"*/x\"" },
		{ "5/10 * * * *", "minute field: a step needs `*` or a range before it: write 5-59/..." },
		{ "1x * * * *", "minute field: unexpected 'x' in \"1x\"" },
		{ "* 1;2 * * *", "hour field: unexpected ';' in \"1;2\"" },
		{ "1,,2 * * * *", "minute field: empty list element in \"1,,2\"" },
		{ ",1 * * * *", "minute field: empty list element in \",1\"" },
		{ "1, * * * *", "minute field: empty list element at the end of \"1,\"" },
		{ "1- * * * *", "minute field: missing range end in \"1-\"" },
		{ "1-2-3 * * * *", "minute field: unexpected '-' in \"1-2-3\"" },
		{ "-1 * * * *", "minute field: unexpected '-' in \"-1\"" },
		{ "*-5 * * * *", "minute field: unexpected '-' in \"*-5\"" },
		{ "** * * * *", "minute field: unexpected '*' in \"**\"" },
		{ "\x01 * * * *", "minute field: unexpected byte 0x01 in \"?\"" },
		{ "* * * * \xff", "day-of-week field: unexpected byte 0xff" },
		{ "jan * * * *", "minute field: \"jan\" is not a number (in \"jan\")" },
		{ "* * * foo *", "month field: unknown name \"foo\" (expected a number or jan..dec)" },
		{ "* * * * monday", "day-of-week field: unknown name \"monday\" (expected a number "
				    "or sun..sat)" },
		{ "* * * ja *", "month field: unknown name \"ja\"" },
		{ "* * * * 1/2", "day-of-week field: a step needs `*` or a range before it: write "
				 "1-7/..." },
		{ "* * * * mon/2", "day-of-week field: a step needs" },
		{ "* * * jan-mar/x *", "month field: unexpected 'x'" },
		{ "@foo", "unknown shortcut \"@foo\" (expected @yearly, @annually, @monthly, "
			  "@weekly, @daily, @midnight or @hourly)" },
		{ "@reboot", "unknown shortcut \"@reboot\"" },
		{ "@", "unknown shortcut \"@\"" },
		{ "@daily *", "@daily must be the whole expression" },
		{ "* @daily * * *", "hour field: unexpected '@'" },
	};
	struct tw_cron c, untouched;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&c, 0xa5, sizeof(c));
		untouched = c;
		int rc = tw_cron_parse(cases[i].expr, &c, err, sizeof(err));

		if (rc != -EINVAL || strstr(err, cases[i].msg) == NULL)
			fail_msg("\"%s\": rc %d, message \"%s\", expected \"%s\"", cases[i].expr, rc,
				 err, cases[i].msg);
		/* on failure the output is left alone */
		assert_memory_equal(&c, &untouched, sizeof(c));
	}
}

static void
test_cron_parse_length_and_err_buffer(void **state)
{
	char expr[TW_CRON_MAX_LEN + 2], err[128], small[8];
	struct tw_cron c;
	size_t n;

	(void)state;
	/* exactly TW_CRON_MAX_LEN characters: a long minute list, padded with blanks */
	memset(expr, ' ', TW_CRON_MAX_LEN);
	expr[TW_CRON_MAX_LEN] = '\0';
	n = (size_t)snprintf(expr, sizeof(expr), "0");
	while (n + 2 < TW_CRON_MAX_LEN - 9)
		n += (size_t)snprintf(expr + n, sizeof(expr) - n, ",7");
	memcpy(expr + n, " * * * *", 8);
	assert_int_equal(strlen(expr), TW_CRON_MAX_LEN);
	assert_int_equal(tw_cron_parse(expr, &c, err, sizeof(err)), 0);
	assert_true(c.minutes == ((1ull << 0) | (1ull << 7)));

	/* one more character is refused before anything else is looked at */
	strcat(expr, "x");
	assert_int_equal(tw_cron_parse(expr, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "expression is longer than 256 characters");

	/* messages are truncated, NUL-terminated, and optional */
	assert_int_equal(tw_cron_parse("* 24 * * *", &c, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "hour fi");
	assert_int_equal(tw_cron_parse("* 24 * * *", &c, NULL, 0), -EINVAL);
	assert_int_equal(tw_cron_parse(NULL, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no expression");
	/* success clears a stale message */
	assert_int_equal(tw_cron_parse("* * * * *", &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void
test_cron_parse_forms(void **state)
{
	static const struct {
		const char *expr;
		uint64_t minutes;
		uint32_t hours, days;
		uint16_t months;
		uint8_t weekdays;
		bool dom_any, dow_any;
	} cases[] = {
		{ "* * * * *", ALL_MINUTES, ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS, true, true },
		{ " \t0   0\t1 1 *  ", 1, 1, 1u << 1, 1u << 1, ALL_WEEKDAYS, false, true },
		{ "59 23 31 12 6", 1ull << 59, 1u << 23, 1u << 31, 1u << 12, 1u << 6, false, false },
		/* 7 and 0 are both Sunday */
		{ "0 0 * * 7", 1, 1, ALL_DAYS, ALL_MONTHS, 1u << 0, true, false },
		{ "0 0 * * 0-7", 1, 1, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS, true, false },
		{ "0 0 * * 5-7", 1, 1, ALL_DAYS, ALL_MONTHS, 0x61, true, false },
		{ "0 0 * * */7", 1, 1, ALL_DAYS, ALL_MONTHS, 1u << 0, true, true },
		{ "*/15 */6 1-31/10 */4 */2", 0x0000000000008000ull | (1ull << 0) | (1ull << 30) |
		  (1ull << 45), (1u << 0) | (1u << 6) | (1u << 12) | (1u << 18),
		  (1u << 1) | (1u << 11) | (1u << 21) | (1u << 31),
		  (1u << 1) | (1u << 5) | (1u << 9), 0x55 & 0x7f, false, true },
		{ "5-50/20,59 0-3,22-23 1,15 jan-MAR,Dec SUN,fri", (1ull << 5) | (1ull << 25) |
		  (1ull << 45) | (1ull << 59), 0xf | (3u << 22), (1u << 1) | (1u << 15),
		  0xe | (1u << 12), (1u << 0) | (1u << 5), false, false },
		{ "0 0 * FeB-aPr/2 Mon-Fri", 1, 1, ALL_DAYS, (1u << 2) | (1u << 4), 0x3e, true,
		  false },
		{ "1-1 0 1 1 0", 1ull << 1, 1, 1u << 1, 1u << 1, 1, false, false },
		/* leading zeros do not count towards a number's length */
		{ "00 0000001 01 000000000012 00", 1, 1u << 1, 1u << 1, 1u << 12, 1, false, false },
		/* a step larger than the range keeps the first value */
		{ "10-12/5 0 1 1 0", 1ull << 10, 1, 1u << 1, 1u << 1, 1, false, false },
		{ "0 0 * * *", 1, 1, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS, true, true },
		{ "@yearly", 1, 1, 1u << 1, 1u << 1, ALL_WEEKDAYS, false, true },
		{ "@annually", 1, 1, 1u << 1, 1u << 1, ALL_WEEKDAYS, false, true },
		{ "@monthly", 1, 1, 1u << 1, ALL_MONTHS, ALL_WEEKDAYS, false, true },
		{ "@weekly", 1, 1, ALL_DAYS, ALL_MONTHS, 1, true, false },
		{ "@daily", 1, 1, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS, true, true },
		{ " @MIDNIGHT ", 1, 1, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS, true, true },
		{ "@Hourly", 1, ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS, true, true },
		/* the Vixie star rule: a field starting with '*' counts as unrestricted */
		{ "0 0 */2 * mon", 1, 1, 0xaaaaaaaau, ALL_MONTHS, 1u << 1, true, false },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tw_cron c;

		if (tw_cron_parse(cases[i].expr, &c, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", cases[i].expr, err);
		if (c.minutes != cases[i].minutes || c.hours != cases[i].hours ||
		    c.days != cases[i].days || c.months != cases[i].months ||
		    c.weekdays != cases[i].weekdays || c.dom_any != cases[i].dom_any ||
		    c.dow_any != cases[i].dow_any)
			fail_msg("\"%s\": got %llx %x %x %x %x %d %d", cases[i].expr,
				 (unsigned long long)c.minutes, c.hours, c.days, c.months,
				 c.weekdays, c.dom_any, c.dow_any);
	}
}

static void
test_cron_next_cases(void **state)
{
	static const struct {
		const char *expr;
		const char *after;
		const char *want;  /* NULL: none within the horizon */
	} cases[] = {
		/* strictly after, to the next whole minute */
		{ "* * * * *", "2024-01-01 00:00:00", "2024-01-01 00:01" },
		{ "* * * * *", "2024-01-01 00:00:59", "2024-01-01 00:01" },
		{ "* * * * *", "2024-12-31 23:59:00", "2025-01-01 00:00" },
		{ "59 * * * *", "2024-03-10 10:59:00", "2024-03-10 11:59" },
		{ "30 8,17 * * *", "2024-03-10 08:45", "2024-03-10 17:30" },
		{ "30 8,17 * * *", "2024-03-10 17:30", "2024-03-11 08:30" },
		/* month ends */
		{ "0 0 1 * *", "2024-01-31 12:00", "2024-02-01 00:00" },
		{ "0 0 31 * *", "2024-04-01 00:00", "2024-05-31 00:00" },
		{ "0 0 31 * *", "2024-01-31 00:00", "2024-03-31 00:00" },
		{ "0 0 30 * *", "2023-01-30 00:00", "2023-03-30 00:00" },
		{ "0 0 28-31 * *", "2023-02-28 00:00", "2023-03-28 00:00" },
		/* leap days */
		{ "0 12 29 2 *", "2025-03-01 00:00", "2028-02-29 12:00" },
		{ "0 0 29 2 *", "2028-02-29 00:00", "2032-02-29 00:00" },
		{ "0 0 29 2 *", "1999-01-01 00:00", "2000-02-29 00:00" },
		{ "0 0 * 3 *", "2028-02-28 23:59", "2028-03-01 00:00" },
		{ "0 0 29 2 *", "2096-03-01 00:00", NULL }, /* 2100 is not a leap year: 2104 is too far */
		{ "0 0 1 3 *", "2100-02-28 00:00", "2100-03-01 00:00" },
		/* year ends */
		{ "59 23 31 12 *", "2024-12-31 23:58", "2024-12-31 23:59" },
		{ "59 23 31 12 *", "2024-12-31 23:59", "2025-12-31 23:59" },
		{ "0 0 1 1 *", "2024-12-31 23:59:59", "2025-01-01 00:00" },
		{ "0 0 1 1 *", "2099-06-01 00:00", "2100-01-01 00:00" },
		/* never */
		{ "0 0 30 2 *", "2024-01-01 00:00", NULL },
		{ "0 0 31 4,6,9,11 *", "2024-01-01 00:00", NULL },
		/* day-of-month OR day-of-week when both are restricted (2024-01-01 is a Monday) */
		{ "0 0 13 * fri", "2024-01-01 00:00", "2024-01-05 00:00" },
		{ "0 0 13 * fri", "2024-01-12 00:00", "2024-01-13 00:00" },
		{ "0 0 13 * fri", "2024-01-13 00:00", "2024-01-19 00:00" },
		{ "0 0 1 * 0", "2024-01-29 00:00", "2024-02-01 00:00" },
		/* AND when one is '*' */
		{ "0 0 13 * *", "2024-01-01 00:00", "2024-01-13 00:00" },
		{ "0 0 * * fri", "2024-01-06 00:00", "2024-01-12 00:00" },
		/* Vixie: '*' then a step counts as '*', so AND: odd days that are Mondays */
		{ "0 0 */2 * mon", "2024-01-01 00:00", "2024-01-15 00:00" },
		{ "0 0 13 */1 fri", "2024-01-01 00:00", "2024-01-05 00:00" }, /* month '*' irrelevant */
		/* steps */
		{ "*/15 * * * *", "2024-05-05 10:07", "2024-05-05 10:15" },
		{ "*/15 * * * *", "2024-05-05 10:45", "2024-05-05 11:00" },
		{ "5-50/20 * * * *", "2024-05-05 10:45", "2024-05-05 11:05" },
		{ "0 */5 * * *", "2024-05-05 20:00", "2024-05-06 00:00" },
		{ "0 0 */10 * *", "2024-05-21 00:00", "2024-05-31 00:00" },
		{ "0 0 1 */5 *", "2024-06-01 00:00", "2024-11-01 00:00" },
		/* names */
		{ "30 9 * * mon-fri", "2024-01-05 10:00", "2024-01-08 09:30" },
		{ "0 0 1 feb,aug *", "2024-03-01 00:00", "2024-08-01 00:00" },
		{ "0 0 * * SUN", "2024-01-01 00:00", "2024-01-07 00:00" },
		{ "0 0 * * 7", "2024-01-01 00:00", "2024-01-07 00:00" },
		/* shortcuts */
		{ "@hourly", "2024-01-03 10:30", "2024-01-03 11:00" },
		{ "@daily", "2024-01-03 10:30", "2024-01-04 00:00" },
		{ "@midnight", "2024-01-03 00:00", "2024-01-04 00:00" },
		{ "@weekly", "2024-01-03 10:30", "2024-01-07 00:00" },
		{ "@monthly", "2024-01-15 00:00", "2024-02-01 00:00" },
		{ "@yearly", "2024-01-01 00:00", "2025-01-01 00:00" },
		{ "@annually", "2023-07-01 00:00", "2024-01-01 00:00" },
		/* before 1970 and across the epoch */
		{ "0 0 1 1 *", "1969-06-01 00:00", "1970-01-01 00:00" },
		{ "* * * * *", "1969-12-31 23:59:59", "1970-01-01 00:00" },
		{ "0 0 29 2 *", "1903-01-01 00:00", "1904-02-29 00:00" },
		{ "0 12 * * *", "0001-01-01 00:00", "0001-01-01 12:00" },
		{ "0 0 1 1 *", "9999-12-31 23:59:59", "10000-01-01 00:00" },
	};
	char err[128], b1[32], b2[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tw_cron c;
		int64_t after = at(cases[i].after), want, got;

		if (tw_cron_parse(cases[i].expr, &c, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", cases[i].expr, err);
		want = cases[i].want == NULL ? -1 : at(cases[i].want);
		got = tw_cron_next(&c, after);
		if (got != want)
			fail_msg("\"%s\" after %s: got %s, want %s", cases[i].expr, cases[i].after,
				 iso(got, b1), iso(want, b2));
		/* (tw_cron_matches stops at TW_CRON_TIME_MAX; tw_cron_next may answer past it) */
		if (got != -1 && got <= TW_CRON_TIME_MAX)
			assert_true(tw_cron_matches(&c, got));
	}
}

static void
test_cron_next_limits(void **state)
{
	struct tw_cron c;

	(void)state;
	assert_int_equal(tw_cron_parse("* * * * *", &c, NULL, 0), 0);
	assert_int_equal(tw_cron_next(&c, TW_CRON_TIME_MAX + 1), -1);
	assert_int_equal(tw_cron_next(&c, TW_CRON_TIME_MIN - 1), -1);
	assert_int_equal(tw_cron_next(&c, INT64_MAX), -1);
	assert_int_equal(tw_cron_next(&c, INT64_MIN), -1);
	assert_int_equal(tw_cron_next(NULL, 0), -1);
	assert_int_equal(tw_cron_next(&c, TW_CRON_TIME_MIN), TW_CRON_TIME_MIN + 60);
	assert_int_equal(tw_cron_next(&c, TW_CRON_TIME_MAX), TW_CRON_TIME_MAX + 1);
	assert_false(tw_cron_matches(&c, TW_CRON_TIME_MAX + 1));
	assert_false(tw_cron_matches(NULL, 0));

	/*
	 * The horizon is exact: a match at after + horizon counts, one a
	 * minute later does not (no Feb 29 from 2097 to 2103: 2100 is common).
	 */
	assert_int_equal(tw_cron_parse("0 0 29 2 *", &c, NULL, 0), 0);
	int64_t fire = at("2104-02-29 00:00");

	assert_int_equal(tw_cron_next(&c, fire - (int64_t)TW_CRON_HORIZON_DAYS * 86400), fire);
	assert_int_equal(tw_cron_next(&c, fire - (int64_t)TW_CRON_HORIZON_DAYS * 86400 - 1), -1);

	/* a hand-made struct with no minutes ends at the horizon too */
	memset(&c, 0, sizeof(c));
	c.hours = ALL_HOURS;
	c.days = ALL_DAYS;
	c.months = ALL_MONTHS;
	c.weekdays = ALL_WEEKDAYS;
	assert_int_equal(tw_cron_next(&c, 0), -1);
}

static void
test_cron_matches(void **state)
{
	struct tw_cron c;

	(void)state;
	assert_int_equal(tw_cron_parse("30 9 13 * fri", &c, NULL, 0), 0);
	assert_true(tw_cron_matches(&c, at("2024-01-05 09:30:59")));   /* a Friday */
	assert_true(tw_cron_matches(&c, at("2024-01-13 09:30")));      /* the 13th, a Saturday */
	assert_false(tw_cron_matches(&c, at("2024-01-06 09:30")));
	assert_false(tw_cron_matches(&c, at("2024-01-05 09:31")));
	assert_false(tw_cron_matches(&c, at("2024-01-05 10:30")));
}

/* ---- randomised check against a reference ---- */

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64*: reproducible from the seed printed on failure */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static unsigned
below(uint64_t *s, unsigned n)
{
	return (unsigned)(rnd(s) >> 33) % n;
}

/* What a generated expression must mean, computed alongside its text. */
struct expect {
	uint64_t mask[5];
	bool star[5];
};

static const struct {
	unsigned lo, hi;
	const char *const *names;
	unsigned n_names;
} spec[5] = {
	{ 0, 59, NULL, 0 },
	{ 0, 23, NULL, 0 },
	{ 1, 31, NULL, 0 },
	{ 1, 12, (const char *const[]){ "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
					"sep", "oct", "nov", "dec" }, 12 },
	{ 0, 7, (const char *const[]){ "sun", "mon", "tue", "wed", "thu", "fri", "sat" }, 7 },
};

static size_t
put_value(uint64_t *s, unsigned f, unsigned v, char *out)
{
	unsigned i = v - spec[f].lo;

	if (spec[f].names != NULL && i < spec[f].n_names && below(s, 3) == 0) {
		const char *n = spec[f].names[i];

		/* random case: names are case-insensitive */
		for (int k = 0; k < 3; k++)
			out[k] = below(s, 2) ? (char)(n[k] - 'a' + 'A') : n[k];
		return 3;
	}
	return (size_t)sprintf(out, "%u", v);
}

/* A random field: 1-3 elements of every form; returns its length. */
static size_t
gen_field(uint64_t *s, unsigned f, char *out, struct expect *e)
{
	unsigned lo = spec[f].lo, hi = spec[f].hi, span = hi - lo + 1;
	unsigned n_el = below(s, 4) == 0 ? 2 + below(s, 2) : 1;
	size_t n = 0;

	e->mask[f] = 0;
	for (unsigned el = 0; el < n_el; el++) {
		unsigned kind = below(s, 6), a = lo, b = hi, step = 1;

		if (el > 0)
			out[n++] = ',';
		if (kind <= 1) {
			/* '*' (twice as likely: real expressions are mostly stars) */
			out[n++] = '*';
		} else if (kind == 2) {
			step = 1 + below(s, below(s, 2) ? 6 : span);
			n += (size_t)sprintf(out + n, "*/%u", step);
		} else {
			a = lo + below(s, span);
			b = kind == 3 ? a : a + below(s, hi - a + 1);
			n += put_value(s, f, a, out + n);
			if (kind != 3) {
				out[n++] = '-';
				n += put_value(s, f, b, out + n);
			}
			if (kind == 5) {
				step = 1 + below(s, span);
				n += (size_t)sprintf(out + n, "/%u", step);
			}
		}
		if (el == 0)
			e->star[f] = kind <= 2;
		for (unsigned v = a; v <= b; v += step)
			e->mask[f] |= 1ull << v;
	}
	if (f == 4 && (e->mask[4] & 0x80))
		e->mask[4] = (e->mask[4] | 1) & 0x7f;
	out[n] = '\0';
	return n;
}

static bool
ref_match(const struct expect *e, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	bool dom, dow, day;

	gmtime_r(&tt, &tm);
	dom = e->mask[2] >> tm.tm_mday & 1;
	dow = e->mask[4] >> tm.tm_wday & 1;
	day = (e->star[2] || e->star[4]) ? dom && dow : dom || dow;
	return day && (e->mask[3] >> (tm.tm_mon + 1) & 1) && (e->mask[1] >> tm.tm_hour & 1) &&
	       (e->mask[0] >> tm.tm_min & 1);
}

/*
 * Every minute from after to the horizon, in order, through gmtime_r. To
 * keep thousands of runs quick it steps a whole day when that day's date
 * cannot match (every minute of it would fail ref_match alike).
 */
static int64_t
ref_next(const struct expect *e, int64_t after)
{
	int64_t t = after - ((after % 60) + 60) % 60 + 60;
	int64_t limit = after + (int64_t)TW_CRON_HORIZON_DAYS * 86400;

	while (t <= limit) {
		struct tm tm;
		time_t tt = (time_t)t;
		bool dom, dow;

		gmtime_r(&tt, &tm);
		dom = e->mask[2] >> tm.tm_mday & 1;
		dow = e->mask[4] >> tm.tm_wday & 1;
		if (!(e->mask[3] >> (tm.tm_mon + 1) & 1) ||
		    !((e->star[2] || e->star[4]) ? dom && dow : dom || dow)) {
			t += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
			continue;
		}
		if (ref_match(e, t))
			return t;
		t += 60;
	}
	return -1;
}

static void
test_cron_next_against_reference(void **state)
{
	const uint64_t seed = 0x7477637275ull; /* "twcru" */
	const char *env = getenv("TW_CRON_TEST_RUNS");
	unsigned runs = env != NULL ? (unsigned)atoi(env) : 10000, nones = 0;
	uint64_t s = seed;
	char err[128], b1[32], b2[32];

	(void)state;
	for (unsigned r = 0; r < runs; r++) {
		char expr[TW_CRON_MAX_LEN + 1];
		struct expect e;
		struct tw_cron c;
		size_t n = 0;
		int64_t after, got, want;

		for (unsigned f = 0; f < 5; f++) {
			if (f > 0)
				expr[n++] = ' ';
			n += gen_field(&s, f, expr + n, &e);
		}
		if (tw_cron_parse(expr, &c, err, sizeof(err)) != 0)
			fail_msg("run %u (seed %llx) \"%s\": %s", r, (unsigned long long)seed, expr,
				 err);
		if (c.minutes != e.mask[0] || c.hours != e.mask[1] || c.days != e.mask[2] ||
		    c.months != e.mask[3] || c.weekdays != e.mask[4] || c.dom_any != e.star[2] ||
		    c.dow_any != e.star[4])
			fail_msg("run %u \"%s\": masks differ from the generator's", r, expr);
		/*
		 * Start anywhere in 1900-2200, or just before a month end
		 * (where the calendar code has its edges).
		 */
		after = -2208988800ll + (int64_t)(rnd(&s) % 9467280000ull);
		if (below(&s, 3) == 0) {
			int64_t day = after / 86400 * 86400;
			struct tm tm;
			time_t tt = (time_t)day;

			gmtime_r(&tt, &tm);
			after = day - (int64_t)tm.tm_mday * 86400 + 86400 - below(&s, 120) * 60 -
				below(&s, 60);
		}
		got = tw_cron_next(&c, after);
		want = ref_next(&e, after);
		if (got != want)
			fail_msg("run %u \"%s\" after %lld (%s): got %s, want %s", r, expr,
				 (long long)after, iso(after, err), iso(got, b1), iso(want, b2));
		nones += want == -1;
	}
	print_message("%u runs, %u with no time within the horizon\n", runs, nones);
	/* the generator must exercise both outcomes */
	assert_true(nones > 0 && nones < runs / 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_parse_errors),
		cmocka_unit_test(test_cron_parse_length_and_err_buffer),
		cmocka_unit_test(test_cron_parse_forms),
		cmocka_unit_test(test_cron_next_cases),
		cmocka_unit_test(test_cron_next_limits),
		cmocka_unit_test(test_cron_matches),
		cmocka_unit_test(test_cron_next_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
