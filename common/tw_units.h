/*
 * Numbers with units, as an operator types them: durations ("250ms",
 * "1.5s", "2d") for timeouts and intervals, and Celery-style rate limits
 * ("100/s", "10/m") for task types. Used by tw-control's scheduler and by
 * twctl; the values are exact (decimal arithmetic, no floating point), so
 * what is printed back equals what was typed.
 *
 * Ownership: both functions borrow their arguments and allocate nothing.
 * Threads: any; no shared state.
 */
#ifndef TW_UNITS_H
#define TW_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define TW_UNITS_MAX_LEN 64                     /* characters in a value, excluding NUL */
#define TW_DURATION_MAX_MS 315576000000ull      /* 10 years of 365.25 days */
#define TW_RATE_MAX_COUNT 1000000000ull         /* tasks per unit, before decimals */

/**
 * Parse a duration: a number, optionally with a decimal part, then a unit
 * "ms", "s", "m", "h" or "d" (lower case; no unit = seconds, so "90" is
 * 90 s). No blanks, signs or compound forms ("1h30m").
 * @param s NUL-terminated text, at most TW_UNITS_MAX_LEN characters.
 * @param ms receives the duration in milliseconds; written only on success.
 * @param err receives a NUL-terminated message on failure (truncated to
 *   errlen - 1 characters); may be NULL when errlen is 0.
 * @param errlen size of err.
 * @return 0; -EINVAL for bad syntax, an unknown unit or a value that is
 *   not a whole number of milliseconds ("1.0005s"); -ERANGE for a negative
 *   value ("negative duration") or one above TW_DURATION_MAX_MS.
 * Ownership: borrows all. Threads: any.
 */
int tw_duration_parse(const char *s, uint64_t *ms, char *err, size_t errlen);

/**
 * Parse a Celery-style rate limit: "N/s", "N/m", "N/h", or a bare N
 * (per second). N may have up to 6 decimals ("0.5/s").
 *
 * The result is a whole count per period, not a float, so a token bucket
 * can refill exactly: count tasks every period_ms milliseconds. An integer
 * N keeps the written unit ("100/s" is 100 per 1000 ms, not 1 per 10 ms,
 * so the burst the operator wrote survives); decimals scale the period and
 * are then reduced ("1.5/s" is 3 per 2000 ms, "0.5/m" 1 per 120000 ms).
 * "0" (or "0/m", "0.0") means no limit: count and period_ms are both 0.
 * @param s NUL-terminated text, at most TW_UNITS_MAX_LEN characters.
 * @param count receives the task count; written only on success.
 * @param period_ms receives the period; written only on success.
 * @param err receives a NUL-terminated message on failure (truncated to
 *   errlen - 1 characters); may be NULL when errlen is 0.
 * @param errlen size of err.
 * @return 0; -EINVAL for bad syntax, an unknown unit or more than 6
 *   decimals; -ERANGE for a negative rate or N above TW_RATE_MAX_COUNT.
 * Ownership: borrows all. Threads: any.
 */
int tw_rate_parse(const char *s, uint64_t *count, uint64_t *period_ms, char *err, size_t errlen);

#endif
