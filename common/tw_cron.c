/*
 * Cron expressions: see tw_cron.h. Runs in tw-control (scheduler) and
 * twctl (validation); owns nothing.
 *
 * Parsing reads one field at a time into a bitmask, element by element,
 * and stops at the first error with a message that names the field and
 * quotes the bad text. tw_cron_next() walks the calendar a month, a day or
 * an hour at a time with its own proleptic Gregorian arithmetic (no
 * gmtime/timegm: those read the TZ state and take a lock), so any thread
 * may call it and TZ does not matter.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tw_cron.h"

/* ---- parsing ---- */

struct field {
	const char *name;
	unsigned lo, hi;
	const char *const *names;  /* names[i] is value lo + i; NULL: numbers only */
	unsigned n_names;
	const char *name_span;     /* for messages: "jan..dec" */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
					   "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, N_FIELDS };

static const struct field fields[N_FIELDS] = {
	[F_MIN] = { "minute", 0, 59, NULL, 0, NULL },
	[F_HOUR] = { "hour", 0, 23, NULL, 0, NULL },
	[F_DOM] = { "day-of-month", 1, 31, NULL, 0, NULL },
	[F_MON] = { "month", 1, 12, month_names, 12, "jan..dec" },
	/* 0-7: both 0 and 7 are Sunday; bit 7 is folded into bit 0 after parsing */
	[F_DOW] = { "day-of-week", 0, 7, day_names, 7, "sun..sat" },
};

static const struct {
	const char *name;
	const char *expr;
} shortcuts[] = {
	{ "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },  { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* A number longer than this many digits is out of range in every field. */
#define MAX_DIGITS 6
/* Bad text quoted in a message is cut to this many characters. */
#define QUOTE_MAX 40

/* One field being parsed: its text (not NUL-terminated) and a cursor. */
struct parser {
	const struct field *f;
	const char *s;
	size_t len, pos;
	char *err;
	size_t errlen;
};

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static char
lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool
is_alpha(char ch)
{
	return lower(ch) >= 'a' && lower(ch) <= 'z';
}

/*
 * Copy s[0, n) into out for a message: non-printing bytes become '?' (the
 * message may reach a terminal or a log), long text ends in "...".
 */
static const char *
quote(char out[QUOTE_MAX + 4], const char *s, size_t n)
{
	size_t i, k = n > QUOTE_MAX ? QUOTE_MAX : n;

	for (i = 0; i < k; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (k < n) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* fail() with "<field> field: " in front. */
static int __attribute__((format(printf, 2, 3)))
field_fail(const struct parser *p, const char *fmt, ...)
{
	char msg[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(p->err, p->errlen, "%s field: %s", p->f->name, msg);
}

static char
peek(const struct parser *p)
{
	return p->pos < p->len ? p->s[p->pos] : '\0';
}

/* The error for an unexpected byte at the cursor. */
static int
junk(const struct parser *p)
{
	char q[QUOTE_MAX + 4];
	char ch = peek(p);

	quote(q, p->s, p->len);
	if (ch >= 0x20 && ch < 0x7f)
		return field_fail(p, "unexpected '%c' in \"%s\"", ch, q);
	return field_fail(p, "unexpected byte 0x%02x in \"%s\"", (unsigned char)ch, q);
}

/*
 * Digits at the cursor into *v; past MAX_DIGITS significant digits they
 * only set *big, so no value can overflow however long the run (leading
 * zeros are not counted: "007" is 7). Leaves the cursor after them.
 */
static void
digits(struct parser *p, unsigned *v, bool *big)
{
	unsigned x = 0, n = 0;

	for (; is_digit(peek(p)); p->pos++) {
		if (n == 0 && peek(p) == '0')
			continue;
		if (++n <= MAX_DIGITS)
			x = x * 10 + (unsigned)(peek(p) - '0');
	}
	*v = x;
	*big = n > MAX_DIGITS;
}

/*
 * A number or, in fields that have them, a three-letter name, checked
 * against the field's range. `missing` says what was expected if the
 * cursor is at the end of the element.
 */
static int
value(struct parser *p, unsigned *v, const char *missing)
{
	const struct field *f = p->f;
	size_t start = p->pos;
	char q[QUOTE_MAX + 4], all[QUOTE_MAX + 4];
	bool big;

	if (is_digit(peek(p))) {
		digits(p, v, &big);
		if (big || *v < f->lo || *v > f->hi)
			return field_fail(p, "%s is out of range %u-%u",
					  quote(q, p->s + start, p->pos - start), f->lo, f->hi);
		return 0;
	}
	if (is_alpha(peek(p))) {
		while (is_alpha(peek(p)))
			p->pos++;
		quote(q, p->s + start, p->pos - start);
		if (f->names == NULL)
			return field_fail(p, "\"%s\" is not a number (in \"%s\")", q,
					  quote(all, p->s, p->len));
		if (p->pos - start == 3)
			for (unsigned i = 0; i < f->n_names; i++)
				if (lower(p->s[start]) == f->names[i][0] &&
				    lower(p->s[start + 1]) == f->names[i][1] &&
				    lower(p->s[start + 2]) == f->names[i][2]) {
					*v = f->lo + i;
					return 0;
				}
		return field_fail(p, "unknown name \"%s\" (expected a number or %s)", q,
				  f->name_span);
	}
	if (peek(p) == '\0' || peek(p) == ',')
		return field_fail(p, "%s in \"%s\"", missing, quote(q, p->s, p->len));
	return junk(p);
}

/* One list element: `*`, `a` or `a-b`, then an optional `/step`; sets its bits in *mask. */
static int
element(struct parser *p, uint64_t *mask)
{
	const struct field *f = p->f;
	char q[QUOTE_MAX + 4];
	unsigned a, b, step = 1;
	bool single = false, big;
	int rc;

	if (peek(p) == '*') {
		p->pos++;
		a = f->lo;
		b = f->hi;
	} else {
		if ((rc = value(p, &a, "empty list element")) != 0)
			return rc;
		if (peek(p) == '-') {
			p->pos++;
			if ((rc = value(p, &b, "missing range end")) != 0)
				return rc;
			if (a > b)
				return field_fail(p, "range %u-%u is reversed (in \"%s\")", a, b,
						  quote(q, p->s, p->len));
		} else {
			b = a;
			single = true;
		}
	}
	if (peek(p) == '/') {
		size_t start;

		/* Vixie cron refuses "5/10" too; cronie reads it as 5-max/10. Say so. */
		if (single)
			return field_fail(p, "a step needs `*` or a range before it: write %u-%u/... "
					  "(in \"%s\")", a, f->hi, quote(q, p->s, p->len));
		p->pos++;
		start = p->pos;
		if (!is_digit(peek(p))) {
			if (peek(p) == '\0' || peek(p) == ',')
				return field_fail(p, "missing step in \"%s\"", quote(q, p->s, p->len));
			return junk(p);
		}
		digits(p, &step, &big);
		if (step == 0 && !big)
			return field_fail(p, "step 0 in \"%s\" must be at least 1",
					  quote(q, p->s, p->len));
		if (big || step > f->hi - f->lo + 1)
			return field_fail(p, "step %s is out of range 1-%u",
					  quote(q, p->s + start, p->pos - start), f->hi - f->lo + 1);
	}
	if (peek(p) != '\0' && peek(p) != ',')
		return junk(p);
	/* bound: hi - lo + 1 <= 60 passes */
	for (unsigned v = a; v <= b; v += step)
		*mask |= 1ull << v;
	return 0;
}

/* A whole field: elements separated by commas. */
static int
field(struct parser *p, uint64_t *mask)
{
	char q[QUOTE_MAX + 4];
	int rc;

	*mask = 0;
	for (;;) {
		if ((rc = element(p, mask)) != 0)
			return rc;
		if (peek(p) != ',')
			return 0;
		p->pos++;
		if (peek(p) == '\0')
			return field_fail(p, "empty list element at the end of \"%s\"",
					  quote(q, p->s, p->len));
	}
}

static bool
same_ci(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n && lit[i] != '\0'; i++)
		if (lower(s[i]) != lit[i])
			return false;
	return i == n && lit[i] == '\0';
}

int
tw_cron_parse(const char *expr, struct tw_cron *c, char *err, size_t errlen)
{
	const char *tok[N_FIELDS];
	size_t tok_len[N_FIELDS], n, i;
	unsigned n_tok = 0;
	uint64_t mask[N_FIELDS];
	char q[QUOTE_MAX + 4];
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (expr == NULL)
		return fail(err, errlen, "no expression");
	n = strnlen(expr, TW_CRON_MAX_LEN + 1);
	if (n > TW_CRON_MAX_LEN)
		return fail(err, errlen, "expression is longer than %d characters",
			    TW_CRON_MAX_LEN);
	/* split on blanks; only the first N_FIELDS are kept, the rest only counted */
	for (i = 0; i < n;) {
		size_t start;

		while (i < n && is_blank(expr[i]))
			i++;
		if (i == n)
			break;
		start = i;
		while (i < n && !is_blank(expr[i]))
			i++;
		if (n_tok < N_FIELDS) {
			tok[n_tok] = expr + start;
			tok_len[n_tok] = i - start;
		}
		n_tok++;
	}
	if (n_tok == 0)
		return fail(err, errlen, "empty expression");
	if (tok[0][0] == '@') {
		if (n_tok != 1)
			return fail(err, errlen, "%s must be the whole expression",
				    quote(q, tok[0], tok_len[0]));
		for (i = 0; i < sizeof(shortcuts) / sizeof(shortcuts[0]); i++)
			if (same_ci(tok[0], tok_len[0], shortcuts[i].name))
				return tw_cron_parse(shortcuts[i].expr, c, err, errlen);
		return fail(err, errlen, "unknown shortcut \"%s\" (expected @yearly, @annually, "
			    "@monthly, @weekly, @daily, @midnight or @hourly)",
			    quote(q, tok[0], tok_len[0]));
	}
	if (n_tok != N_FIELDS)
		return fail(err, errlen, "expected 5 fields (minute hour day-of-month month "
			    "day-of-week), got %u", n_tok);
	for (i = 0; i < N_FIELDS; i++) {
		struct parser p = { &fields[i], tok[i], tok_len[i], 0, err, errlen };

		if ((rc = field(&p, &mask[i])) != 0)
			return rc;
	}
	c->minutes = mask[F_MIN];
	c->hours = (uint32_t)mask[F_HOUR];
	c->days = (uint32_t)mask[F_DOM];
	c->months = (uint16_t)mask[F_MON];
	c->weekdays = (uint8_t)((mask[F_DOW] | mask[F_DOW] >> 7) & 0x7f);
	c->dom_any = tok[F_DOM][0] == '*';
	c->dow_any = tok[F_DOW][0] == '*';
	return 0;
}

/* ---- calendar ---- */

#define DAY_SECS 86400
/* days from 0001-01-01 to 1970-01-01 */
#define EPOCH_DAYS 719162

/* Days before the first of month m (1-12) in a common year. */
static const uint16_t before_month[13] = { 0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };

/* Floor division (C rounds towards zero); b > 0. */
static int64_t
fdiv(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
month_days(int64_t y, unsigned m)
{
	static const uint8_t len[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return len[m] + (m == 2 && is_leap(y));
}

/* Days from 0001-01-01 to January 1st of year y: 365 a year plus the leap days before it. */
static int64_t
days_before_year(int64_t y)
{
	int64_t p = y - 1;

	return p * 365 + fdiv(p, 4) - fdiv(p, 100) + fdiv(p, 400);
}

static unsigned
days_before_month(int64_t y, unsigned m)
{
	return before_month[m] + (m > 2 && is_leap(y));
}

/* Day number (days since 1970-01-01) -> year, month 1-12, day 1-31. */
static void
civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t n = days + EPOCH_DAYS; /* days since 0001-01-01 */
	/* 146097 days in 400 years: an estimate off by at most one year either way */
	int64_t year = fdiv(n * 400, 146097) + 1;
	unsigned doy, mo = 1;

	while (days_before_year(year) > n)
		year--;
	while (days_before_year(year + 1) <= n)
		year++;
	doy = (unsigned)(n - days_before_year(year));
	while (mo < 12 && doy >= days_before_month(year, mo + 1))
		mo++;
	*y = year;
	*m = mo;
	*d = doy - days_before_month(year, mo) + 1;
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static unsigned
weekday(int64_t days)
{
	return (unsigned)(days + 4 - fdiv(days + 4, 7) * 7);
}

static void
next_day(int64_t *y, unsigned *m, unsigned *d)
{
	if (++*d <= month_days(*y, *m))
		return;
	*d = 1;
	if (++*m > 12) {
		*m = 1;
		++*y;
	}
}

/* The lowest set bit >= from in mask, or -1. */
static int
next_bit(uint64_t mask, unsigned from)
{
	mask = from < 64 ? mask & (~0ull << from) : 0;
	return mask ? __builtin_ctzll(mask) : -1;
}

#define MINUTE_MASK ((1ull << 60) - 1)
#define HOUR_MASK ((1ull << 24) - 1)

static bool
day_matches(const struct tw_cron *c, unsigned d, unsigned wd)
{
	bool dom = c->days >> d & 1, dow = c->weekdays >> wd & 1;

	/* Vixie: with both fields restricted, either may select the day */
	if (c->dom_any || c->dow_any)
		return dom && dow;
	return dom || dow;
}

int64_t
tw_cron_next(const struct tw_cron *c, int64_t after)
{
	int64_t t, day, limit, y;
	unsigned m, d, h, min;

	if (c == NULL || after < TW_CRON_TIME_MIN || after > TW_CRON_TIME_MAX)
		return -1;
	t = fdiv(after, 60) * 60 + 60;
	limit = after + (int64_t)TW_CRON_HORIZON_DAYS * DAY_SECS;
	day = fdiv(t, DAY_SECS);
	h = (unsigned)(t - day * DAY_SECS) / 3600;
	min = (unsigned)(t - day * DAY_SECS) % 3600 / 60;
	civil_from_days(day, &y, &m, &d);
	/*
	 * Each pass moves to the next month, the next day or a later hour of
	 * the same day, and the day may not pass the horizon. A later hour is
	 * taken only when this hour has no minute left, which for a parsed
	 * (non-empty) minute mask happens at most once: so at most about
	 * TW_CRON_HORIZON_DAYS + 62 passes (24 times that for a hand-made
	 * struct with no minutes).
	 */
	while (day * DAY_SECS <= limit) {
		int hh, mm;

		if (!(c->months >> m & 1)) {
			day += month_days(y, m) - d + 1;
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
			h = min = 0;
			continue;
		}
		if (!day_matches(c, d, weekday(day)) ||
		    (hh = next_bit(c->hours & HOUR_MASK, h)) < 0) {
			day++;
			next_day(&y, &m, &d);
			h = min = 0;
			continue;
		}
		if ((unsigned)hh != h)
			min = 0;
		mm = next_bit(c->minutes & MINUTE_MASK, min);
		if (mm < 0) {
			/* hour hh is over: try the hours after it (hh + 1 may be 24: next day) */
			h = (unsigned)hh + 1;
			min = 0;
			continue;
		}
		t = day * DAY_SECS + hh * 3600 + mm * 60;
		return t <= limit ? t : -1;
	}
	return -1;
}

bool
tw_cron_matches(const struct tw_cron *c, int64_t t)
{
	int64_t day, y;
	unsigned m, d, sod;

	if (c == NULL || t < TW_CRON_TIME_MIN || t > TW_CRON_TIME_MAX)
		return false;
	day = fdiv(t, DAY_SECS);
	sod = (unsigned)(t - day * DAY_SECS);
	civil_from_days(day, &y, &m, &d);
	return (c->months >> m & 1) && day_matches(c, d, weekday(day)) &&
	       (c->hours >> (sod / 3600) & 1) && (c->minutes >> (sod % 3600 / 60) & 1);
}
