/*
 * The monotonic clock in milliseconds, for deadlines and timeouts in
 * ordinary threads (control socket, HTTP guard, clients, twctl). Not for
 * polling lcores, which keep time in TSC cycles.
 */
#ifndef TW_CLOCK_H
#define TW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
tw_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
