/*
 * libFuzzer harness for the schedule parsers (what `twctl` and the
 * scheduler read from operators): the input, as one NUL-terminated
 * string, goes through tw_cron_parse, tw_duration_parse and
 * tw_rate_parse. Refusals must carry a message that fits the buffer;
 * accepted values must be in range. When the cron expression parses,
 * tw_cron_next() runs from several start times and each answer must be a
 * later whole minute within the horizon that matches the expression, by
 * a check built on gmtime_r (which tw_cron.c does not use); from one of
 * them a day-skipping scan also proves no earlier minute matched.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tw_cron.h"
#include "tw_units.h"

#define HORIZON_SECS ((int64_t)TW_CRON_HORIZON_DAYS * 86400)

/* abort with the failed condition named, so a crash log says which property broke */
#define check(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz_cron.c:%d: %s\n", __LINE__, #cond);        \
			abort();                                                        \
		}                                                                       \
	} while (0)

static bool
day_ok(const struct tw_cron *c, const struct tm *tm)
{
	bool dom = c->days >> tm->tm_mday & 1, dow = c->weekdays >> tm->tm_wday & 1;

	if (!(c->months >> (tm->tm_mon + 1) & 1))
		return false;
	return (c->dom_any || c->dow_any) ? dom && dow : dom || dow;
}

static bool
ref_match(const struct tw_cron *c, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	return day_ok(c, &tm) && (c->hours >> tm.tm_hour & 1) && (c->minutes >> tm.tm_min & 1);
}

/* The first matching minute after `after`, one day at a time where the date cannot match. */
static int64_t
ref_next(const struct tw_cron *c, int64_t after)
{
	int64_t t = after - ((after % 60) + 60) % 60 + 60;

	while (t <= after + HORIZON_SECS) {
		struct tm tm;
		time_t tt = (time_t)t;

		gmtime_r(&tt, &tm);
		if (!day_ok(c, &tm))
			t += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
		else if ((c->hours >> tm.tm_hour & 1) && (c->minutes >> tm.tm_min & 1))
			return t;
		else
			t += 60;
	}
	return -1;
}

static void
check_err(int rc, const char *err, size_t errlen)
{
	if (rc == 0) {
		check(err[0] == '\0');
		return;
	}
	/* a refusal always says why, as far as the buffer allows */
	check(err[0] != '\0' || errlen == 1);
	check(strnlen(err, errlen) < errlen);
}

static void
fuzz_cron(const char *s, const uint8_t *data, size_t size)
{
	/* an exact-size heap buffer, so ASan sees any write past errlen */
	size_t errlen = 1 + (size > 0 ? data[0] % 24 : 0);
	char *small = malloc(errlen), err[256];
	struct tw_cron c, c2;
	uint64_t h = 1469598103934665603ull;
	int rc;

	check(small != NULL);
	rc = tw_cron_parse(s, &c, err, sizeof(err));
	check(rc == 0 || rc == -EINVAL);
	check_err(rc, err, sizeof(err));
	check(tw_cron_parse(s, &c2, small, errlen) == rc);
	check_err(rc, small, errlen);
	free(small);
	if (rc != 0)
		return;
	/* field by field: the struct has padding */
	check(c.minutes == c2.minutes && c.hours == c2.hours && c.days == c2.days &&
	      c.months == c2.months && c.weekdays == c2.weekdays && c.dom_any == c2.dom_any &&
	      c.dow_any == c2.dow_any);
	check(c.minutes != 0 && c.minutes >> 60 == 0);
	check(c.hours != 0 && c.hours >> 24 == 0);
	check(c.days != 0 && (c.days & 1) == 0);
	check(c.months != 0 && (c.months & 0xe001) == 0);
	check(c.weekdays != 0 && c.weekdays >> 7 == 0);

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ull;
	const int64_t starts[] = {
		0, -1, 1709164799 /* 2024-02-28 23:59:59 */, 4102444770 /* 2099-12-31 23:59:30 */,
		TW_CRON_TIME_MIN, TW_CRON_TIME_MAX - HORIZON_SECS,
		/* from the input: anywhere in 1900-2200 */
		-2208988800ll + (int64_t)(h % 9467280000ull),
	};
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		int64_t after = starts[i], r = tw_cron_next(&c, after);

		if (r != -1) {
			check(r > after && r <= after + HORIZON_SECS && r % 60 == 0);
			check(ref_match(&c, r));
			/* the minute before, if it is also after `after`, would have been the answer */
			check(r - 60 <= after || !ref_match(&c, r - 60));
			check(tw_cron_matches(&c, r) || r > TW_CRON_TIME_MAX);
		}
		/* the full scan only once per input: it costs up to 1830 gmtime_r calls */
		if (i == sizeof(starts) / sizeof(starts[0]) - 1)
			check(ref_next(&c, after) == r);
	}
}

static void
fuzz_duration(const char *s)
{
	char err[128], again[32];
	uint64_t ms = 0, ms2 = 0;
	int rc = tw_duration_parse(s, &ms, err, sizeof(err));

	check(rc == 0 || rc == -EINVAL || rc == -ERANGE);
	check_err(rc, err, sizeof(err));
	if (rc != 0)
		return;
	check(ms <= TW_DURATION_MAX_MS);
	/* what was accepted prints back as the same value */
	snprintf(again, sizeof(again), "%llums", (unsigned long long)ms);
	check(tw_duration_parse(again, &ms2, err, sizeof(err)) == 0 && ms2 == ms);
}

static void
fuzz_rate(const char *s)
{
	char err[128];
	uint64_t count = 0, period = 0;
	int rc = tw_rate_parse(s, &count, &period, err, sizeof(err));

	check(rc == 0 || rc == -EINVAL || rc == -ERANGE);
	check_err(rc, err, sizeof(err));
	if (rc != 0)
		return;
	check((count == 0) == (period == 0));
	/* periods are whole seconds times a power of ten, reduced by a divisor of it */
	check(period % 1000 == 0 && period <= 3600000000000ull);
	check(count <= TW_RATE_MAX_COUNT * 1000000 + 999999);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[1024];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	fuzz_cron(s, data, size);
	fuzz_duration(s);
	fuzz_rate(s);
	return 0;
}
