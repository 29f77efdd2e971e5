/*
 * Cron expressions for tw-control's periodic scheduler and twctl: parse
 * the five fields "minute hour day-of-month month day-of-week" into
 * bitmasks, and compute the next matching minute. Times are UTC.
 *
 * The syntax is Vixie cron's (what Debian's cron and cronie accept), so a
 * line copied from a crontab means the same here:
 *   - each field is a comma list of elements; an element is `*`, a
 *     number, or a range `a-b`, optionally followed by a step `/n` (only
 *     after `*` or a range: `10-50/20`; `*` then `/15` is every 15th
 *     minute from 0; a step runs from 1 to the field's size, e.g. 60 for
 *     minutes);
 *   - months may be named jan..dec and weekdays sun..sat (three letters,
 *     any case), also as range ends (`mon-fri`); weekday 7 is Sunday;
 *   - @yearly @annually @monthly @weekly @daily @midnight @hourly stand
 *     for a whole expression.
 * Day rule: when both day-of-month and day-of-week are restricted, a day
 * matches if either matches ("0 0 1 * mon" fires on the 1st and on every
 * Monday);
 * otherwise both must. As in Vixie cron, a field counts as unrestricted
 * when its text starts with `*`, so a day-of-month of `*` then `/2` (odd
 * days) with "mon" means odd days that are Mondays, not odd days or
 * Mondays.
 *
 * Ownership: every function borrows its arguments and allocates nothing.
 * Threads: any; no global state (no libc time zone functions are used).
 */
#ifndef TW_CRON_H
#define TW_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_CRON_MAX_LEN 256              /* characters in an expression, excluding NUL */
#define TW_CRON_HORIZON_DAYS (5 * 366)   /* tw_cron_next() looks this far ahead, then gives up */

/* The earliest and latest `after` tw_cron_next() accepts: years 0001 to 9999. */
#define TW_CRON_TIME_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TW_CRON_TIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

/* A parsed expression: bit i of a mask set = value i matches. */
struct tw_cron {
	uint64_t minutes;   /* bits 0-59 */
	uint32_t hours;     /* bits 0-23 */
	uint32_t days;      /* days of the month, bits 1-31 */
	uint16_t months;    /* bits 1-12 */
	uint8_t weekdays;   /* bits 0-6, 0 = Sunday (7 is folded into 0) */
	bool dom_any, dow_any; /* field text began with `*` (see the day rule above) */
};

/**
 * Parse a cron expression.
 * @param expr NUL-terminated text, at most TW_CRON_MAX_LEN characters;
 *   fields are separated by spaces or tabs, leading and trailing blanks
 *   are ignored.
 * @param c receives the expression; written only on success.
 * @param err receives a NUL-terminated message on failure naming the field
 *   and the bad text, e.g. "hour field: 24 is out of range 0-23"
 *   (truncated to errlen - 1 characters); may be NULL when errlen is 0.
 * @param errlen size of err.
 * @return 0, or -EINVAL.
 * Ownership: borrows all. Threads: any.
 */
int tw_cron_parse(const char *expr, struct tw_cron *c, char *err, size_t errlen);

/**
 * The next minute matching c strictly after `after`.
 * Work is bounded by months, days and hours skipped, never by minutes:
 * at most about TW_CRON_HORIZON_DAYS small steps.
 * @param c a parsed expression.
 * @param after unix seconds (UTC), TW_CRON_TIME_MIN..TW_CRON_TIME_MAX.
 * @return unix seconds of that minute (a multiple of 60), or -1 if no
 *   minute matches within TW_CRON_HORIZON_DAYS days of `after` (e.g.
 *   "0 0 30 2 *") or `after` is out of range.
 * Ownership: borrows c. Threads: any.
 */
int64_t tw_cron_next(const struct tw_cron *c, int64_t after);

/**
 * Whether the minute containing `t` matches c (the check tw_cron_next()
 * applies; the scheduler uses it to tell a due run from a late one).
 * @param c a parsed expression.
 * @param t unix seconds (UTC), TW_CRON_TIME_MIN..TW_CRON_TIME_MAX.
 * @return true if it matches; false if not or t is out of range.
 * Ownership: borrows c. Threads: any.
 */
bool tw_cron_matches(const struct tw_cron *c, int64_t t);

#endif
