/*
 * Durations and rate limits: see tw_units.h. Runs in tw-control and
 * twctl; owns nothing.
 *
 * Both parsers read a decimal number as an integer part and a fraction
 * (digits and their count) and do the unit conversion in integers, so
 * "0.1s" is exactly 100 ms and nothing depends on float rounding.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tw_units.h"

/* Integer parts above this are out of range for both parsers in any unit. */
#define INT_CAP 1000000000000ull /* 1e12 */
/* More significant decimals than this never give whole milliseconds (see frac_ms). */
#define FRAC_DIGITS_MAX 10
#define RATE_DECIMALS_MAX 6

/* A decimal number as read: int_part + frac / 10^frac_digits. */
struct decimal {
	uint64_t int_part;   /* saturates at INT_CAP + 1 */
	uint64_t frac;       /* without trailing zeros */
	unsigned frac_digits;
	bool frac_too_long;  /* more than FRAC_DIGITS_MAX significant decimals */
};

static int __attribute__((format(printf, 4, 5)))
fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* The whole input for a message, non-printing bytes as '?' (it may reach a terminal). */
static const char *
quote(char out[TW_UNITS_MAX_LEN + 1], const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < TW_UNITS_MAX_LEN; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[i] = '\0';
	return out;
}

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/*
 * Read digits ["." digits] from *p and advance it. @return 0, or -1 if
 * there are no digits before the point or none after it.
 */
static int
read_decimal(const char **p, struct decimal *d)
{
	const char *s = *p;
	unsigned zeros = 0;

	memset(d, 0, sizeof(*d));
	if (!is_digit(*s))
		return -1;
	for (; is_digit(*s); s++)
		if (d->int_part <= INT_CAP)
			d->int_part = d->int_part * 10 + (uint64_t)(*s - '0');
	if (*s == '.') {
		s++;
		if (!is_digit(*s))
			return -1;
		/*
		 * Trailing zeros are counted and only applied before the next
		 * non-zero digit, so "1.500000000000s" is just 1.5.
		 */
		for (; is_digit(*s); s++) {
			if (*s == '0') {
				zeros++;
				continue;
			}
			if (d->frac_digits + zeros + 1 > FRAC_DIGITS_MAX) {
				d->frac_too_long = true;
				continue;
			}
			for (; zeros > 0; zeros--, d->frac_digits++)
				d->frac *= 10;
			d->frac = d->frac * 10 + (uint64_t)(*s - '0');
			d->frac_digits++;
		}
	}
	*p = s;
	return 0;
}

static uint64_t
pow10u(unsigned n)
{
	uint64_t x = 1;

	while (n--)
		x *= 10;
	return x;
}

static const struct {
	const char *name;
	uint64_t ms;
} duration_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	{ "", 1000 }, /* no unit: seconds */
};

int
tw_duration_parse(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	char q[TW_UNITS_MAX_LEN + 1];
	const char *p = s;
	struct decimal d;
	uint64_t unit = 0, total, frac_ms;
	size_t i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (s == NULL || s[0] == '\0')
		return fail(-EINVAL, err, errlen, "empty duration");
	if (strnlen(s, TW_UNITS_MAX_LEN + 1) > TW_UNITS_MAX_LEN)
		return fail(-EINVAL, err, errlen, "duration is longer than %d characters",
			    TW_UNITS_MAX_LEN);
	quote(q, s);
	if (s[0] == '-')
		return fail(-ERANGE, err, errlen, "negative duration \"%s\"", q);
	if (read_decimal(&p, &d) != 0)
		return fail(-EINVAL, err, errlen,
			    "\"%s\" is not a duration (expected a number and a unit, e.g. 250ms, "
			    "1.5s, 5m)", q);
	for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
		if (strcmp(p, duration_units[i].name) == 0)
			unit = duration_units[i].ms;
	if (unit == 0) {
		char uq[TW_UNITS_MAX_LEN + 1];

		return fail(-EINVAL, err, errlen,
			    "unknown unit \"%s\" in \"%s\" (expected ms, s, m, h or d)", quote(uq, p),
			    q);
	}
	/*
	 * frac * unit / 10^k is whole only if 10^k divides frac * unit; unit
	 * is at most 2^10 * 3^3 * 5^5 and frac has no trailing zero, so k <=
	 * FRAC_DIGITS_MAX whenever it can be, and frac * unit < 10^10 * 8.64e7
	 * fits in 64 bits.
	 */
	if (d.frac_too_long || (d.frac * unit) % pow10u(d.frac_digits) != 0)
		return fail(-EINVAL, err, errlen, "\"%s\" is not a whole number of milliseconds",
			    q);
	frac_ms = d.frac * unit / pow10u(d.frac_digits);
	if (d.int_part > TW_DURATION_MAX_MS / unit ||
	    (total = d.int_part * unit + frac_ms) > TW_DURATION_MAX_MS)
		return fail(-ERANGE, err, errlen,
			    "duration \"%s\" exceeds the maximum of 10 years (%llums)", q,
			    (unsigned long long)TW_DURATION_MAX_MS);
	*ms = total;
	return 0;
}

static uint64_t
gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static const struct {
	const char *name;
	uint64_t ms;
} rate_units[] = {
	{ "/s", 1000 }, { "/m", 60000 }, { "/h", 3600000 },
	{ "", 1000 }, /* no unit: per second, as Celery */
};

int
tw_rate_parse(const char *s, uint64_t *count, uint64_t *period_ms, char *err, size_t errlen)
{
	char q[TW_UNITS_MAX_LEN + 1];
	const char *p = s;
	struct decimal d;
	uint64_t unit = 0, scale, n, g;
	size_t i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (s == NULL || s[0] == '\0')
		return fail(-EINVAL, err, errlen, "empty rate");
	if (strnlen(s, TW_UNITS_MAX_LEN + 1) > TW_UNITS_MAX_LEN)
		return fail(-EINVAL, err, errlen, "rate is longer than %d characters",
			    TW_UNITS_MAX_LEN);
	quote(q, s);
	if (s[0] == '-')
		return fail(-ERANGE, err, errlen, "negative rate \"%s\"", q);
	if (read_decimal(&p, &d) != 0)
		return fail(-EINVAL, err, errlen,
			    "\"%s\" is not a rate (expected a count per unit, e.g. 100/s, 10/m, "
			    "1000/h)", q);
	for (i = 0; i < sizeof(rate_units) / sizeof(rate_units[0]); i++)
		if (strcmp(p, rate_units[i].name) == 0)
			unit = rate_units[i].ms;
	if (unit == 0) {
		char uq[TW_UNITS_MAX_LEN + 1];

		return fail(-EINVAL, err, errlen,
			    "unknown unit \"%s\" in \"%s\" (expected /s, /m or /h)", quote(uq, p), q);
	}
	if (d.frac_too_long || d.frac_digits > RATE_DECIMALS_MAX)
		return fail(-EINVAL, err, errlen, "\"%s\" has more than %d decimals", q,
			    RATE_DECIMALS_MAX);
	if (d.int_part > TW_RATE_MAX_COUNT)
		return fail(-ERANGE, err, errlen, "rate \"%s\" exceeds %llu per unit", q,
			    (unsigned long long)TW_RATE_MAX_COUNT);
	/* n / 10^k tasks per unit = n tasks per unit * 10^k; <= 1e15 tasks, 3.6e12 ms */
	scale = pow10u(d.frac_digits);
	n = d.int_part * scale + d.frac;
	if (n == 0) {
		*count = 0;
		*period_ms = 0;
		return 0;
	}
	/* undo only the scaling the decimals added; an integer keeps its unit */
	g = gcd(n, scale);
	*count = n / g;
	*period_ms = unit * scale / g;
	return 0;
}
