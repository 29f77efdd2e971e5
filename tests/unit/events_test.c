/*
 * Unit tests for tw-control's event stream (control/ctl_events.c): order
 * and positions of a read, "from now on", a ring that wrapped, the bounded
 * wait, and whether events are wanted: always, while a follower asks within
 * the keep-alive, and when a follower asked after the caller read its clock
 * (the collector samples the time, then asks: that follower is recent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ctl_events.h"
#include "tw_wire.h"

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
setup(void **state)
{
	struct ctl_events *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return -1;
	ctl_events_init(e, false);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	ctl_events_fini(*state);
	free(*state);
	return 0;
}

static void
push(struct ctl_events *e, uint64_t task_id, uint32_t st)
{
	struct ctl_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.task_id = task_id;
	ev.state = st;
	snprintf(ev.type, sizeof(ev.type), "%s", ctl_event_type(st));
	ctl_events_push(e, &ev);
}

static void
test_read_in_order(void **state)
{
	struct ctl_events *e = *state;
	static struct ctl_event out[8];
	uint64_t next;
	uint32_t n;

	for (uint64_t i = 1; i <= 5; i++)
		push(e, i, TW_ST_RETRY);
	n = ctl_events_read(e, 0, out, 8, 0, &next);
	assert_int_equal(n, 5);
	assert_int_equal(next, 5);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(out[i].task_id, i + 1);
		assert_int_equal(out[i].seq, i + 1);
		assert_string_equal(out[i].type, "task-retried");
		assert_true(out[i].timestamp_ms != 0);
	}
	/* a position in the middle, a short read */
	n = ctl_events_read(e, 3, out, 1, 0, &next);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].task_id, 4);
	assert_int_equal(next, 4);
	/* beyond the stream: "from now on", nothing yet */
	n = ctl_events_read(e, UINT64_MAX - 1, out, 8, 0, &next);
	assert_int_equal(n, 0);
	assert_int_equal(next, 5);
	/* an unknown state has a name too */
	assert_string_equal(ctl_event_type(1000), "task-unknown");
}

static void
test_wrapped_ring_oldest_kept(void **state)
{
	struct ctl_events *e = *state;
	static struct ctl_event out[4];
	uint64_t next;
	uint32_t n;

	for (uint64_t i = 1; i <= CTL_EVENTS_RING + 10; i++)
		push(e, i, TW_ST_SUCCESS);
	/* from the start: the overwritten ones are skipped, not read as stale */
	n = ctl_events_read(e, 0, out, 4, 0, &next);
	assert_int_equal(n, 4);
	assert_int_equal(out[0].task_id, 11);
	assert_int_equal(out[3].task_id, 14);
	assert_int_equal(next, 14);
}

static void
test_wait_bounded(void **state)
{
	struct ctl_events *e = *state;
	static struct ctl_event out[1];
	struct timespec a, b;
	uint64_t next;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(ctl_events_read(e, 0, out, 1, 150, &next), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 140);
	assert_true(ms < 5000);
}

static void
test_wanted(void **state)
{
	struct ctl_events *e = *state;
	static struct ctl_event out[1];
	uint64_t next, t0 = now_ms();
	struct ctl_events *always = calloc(1, sizeof(*always));

	/* nobody ever followed: off */
	assert_false(ctl_events_wanted(e, t0));
	/* a follower asks: on for the keep-alive, then off */
	ctl_events_read(e, 0, out, 1, 0, &next);
	assert_true(ctl_events_wanted(e, now_ms()));
	assert_true(ctl_events_wanted(e, now_ms() + 4000));
	assert_false(ctl_events_wanted(e, now_ms() + 60000));
	/* the caller's clock read before the follower asked: recent, on */
	assert_true(ctl_events_wanted(e, t0 > 50 ? t0 - 50 : 0));
	ctl_events_follow(e);
	assert_true(ctl_events_wanted(e, t0 > 1000 ? t0 - 1000 : 0));

	assert_non_null(always);
	ctl_events_init(always, true);
	assert_true(ctl_events_wanted(always, now_ms() + 3600000));
	ctl_events_fini(always);
	free(always);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrapped_ring_oldest_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wanted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
