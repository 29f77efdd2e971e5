/*
 * Queue policies through the real binaries:
 *  - x-overflow drop-head: a burst into a short queue is ACKed in full;
 *    the oldest tasks are dropped (counted per queue and per engine) and
 *    every task is either run or counted as dropped;
 *  - x-message-ttl: tasks that waited longer than the TTL are not run
 *    and come back as EXPIRED results, counted;
 *  - dead-lettering: expired and dropped tasks are routed again through
 *    the queue's dead-letter exchange (with its routing key, or the
 *    task's own) and run from there, so every task still gets its result;
 *  - re-declaring a queue with other policies is refused.
 * Blockers busy-wait their lcore up to 300 ms:
 * engine options: --solo-max-us 300000
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "it_common.h"

struct states {
	uint64_t acks, nacks, success, expired, other;
	char last_error[256];
};

static void
tally(const struct tw_event *ev, void *arg)
{
	struct states *s = arg;

	if (ev->kind == TW_EV_CONFIRM) {
		s->acks += ev->ack;
		s->nacks += !ev->ack;
	} else if (ev->state == TW_STATE_SUCCESS) {
		s->success++;
	} else if (ev->state == TW_STATE_EXPIRED) {
		s->expired++;
		snprintf(s->last_error, sizeof(s->last_error), "%s", ev->error);
	} else {
		s->other++;
	}
}

/*
 * Publish n tasks at once, then collect until every task is answered
 * (with count_dropped: or dropped from the queue without dead-lettering).
 */
static void
burst(const char *queue, const char *task, const char *args, int n, struct states *s,
      bool count_dropped)
{
	uint64_t dropped_before = count_dropped ? it_queue(queue, "dropped") : 0;
	struct tw_client *c = it_client();
	struct tw_publish p = { .routing_key = queue, .task = task, .args = args,
				.args_len = strlen(args) };
	uint64_t id, deadline = it_now_ms() + 20000;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < n; i++)
		assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	while (it_now_ms() < deadline) {
		uint64_t answered = s->success + s->expired + s->other +
				    (count_dropped ? it_queue(queue, "dropped") - dropped_before : 0);

		if (s->acks + s->nacks == (uint64_t)n && answered == s->acks)
			break;
		assert_true(tw_client_poll(c, 100, tally, s) >= 0);
	}
	tw_client_close(c);
}

static void
test_drop_head(void **state)
{
	uint64_t before = it_counter("counters", "tasks_dropped_head"), dropped;
	struct states s;

	(void)state;
	assert_int_equal(it_twctl("queue declare dh --max-length 16 --overflow drop-head"), 0);
	burst("dh", "sleep_us", "[20]", 3000, &s, true);
	dropped = it_queue("dh", "dropped");
	print_message("drop-head: %lu acked, %lu nacked, %lu ran, %lu dropped\n",
		      (unsigned long)s.acks, (unsigned long)s.nacks, (unsigned long)s.success,
		      (unsigned long)dropped);
	assert_int_equal(s.acks, 3000);         /* drop-head never refuses the publisher */
	assert_int_equal(s.nacks, 0);
	assert_true(dropped > 0);
	assert_int_equal(s.success + dropped, 3000); /* each task ran or was dropped, once */
	assert_int_equal(it_counter("counters", "tasks_dropped_head"), before + dropped);
	assert_int_equal(it_queue("dh", "rejected"), 0);
}

static void
test_message_ttl(void **state)
{
	uint64_t before = it_counter("counters", "tasks_expired");
	struct states s;

	(void)state;
	assert_int_equal(it_twctl("queue declare short --message-ttl 5"), 0);
	/* 1 ms each, 300 at once: the tail waits far longer than 5 ms */
	burst("short", "sleep_us", "[1000]", 300, &s, false);
	print_message("ttl: %lu acked, %lu ran, %lu expired\n", (unsigned long)s.acks,
		      (unsigned long)s.success, (unsigned long)s.expired);
	assert_int_equal(s.acks, 300);
	assert_true(s.success > 0);
	assert_true(s.expired > 0);
	assert_int_equal(s.success + s.expired, 300);
	assert_int_equal(s.other, 0);
	assert_non_null(strstr(s.last_error, "TTL"));
	assert_int_equal(it_queue("short", "expired"), s.expired);
	assert_int_equal(it_counter("counters", "tasks_expired"), before + s.expired);
	/* quick tasks within the TTL all run */
	burst("short", "noop", "", 20, &s, false);
	assert_int_equal(s.success, 20);
}

static void
test_dead_letter_expired(void **state)
{
	uint64_t before = it_counter("counters", "tasks_dead_lettered");
	struct states s;

	(void)state;
	assert_int_equal(it_twctl("exchange declare dlx fanout"), 0);
	assert_int_equal(it_twctl("queue declare retry"), 0);
	assert_int_equal(it_twctl("bind dlx retry"), 0);
	assert_int_equal(it_twctl("queue declare impatient --message-ttl 5 --dead-letter-exchange dlx"), 0);
	burst("impatient", "sleep_us", "[1000]", 300, &s, false);
	print_message("ttl + dlx: %lu acked, %lu ran, %lu expired results, %lu dead-lettered\n",
		      (unsigned long)s.acks, (unsigned long)s.success, (unsigned long)s.expired,
		      (unsigned long)it_queue("impatient", "expired"));
	assert_int_equal(s.acks, 300);
	assert_int_equal(s.success, 300);                 /* every task ran, some from "retry" */
	assert_int_equal(s.expired, 0);                   /* none reported EXPIRED: they moved on */
	assert_true(it_queue("impatient", "expired") > 0);
	assert_int_equal(it_queue("retry", "published"), it_queue("impatient", "expired"));
	assert_int_equal(it_counter("counters", "tasks_dead_lettered"),
			 before + it_queue("impatient", "expired"));
}

static void
test_dead_letter_dropped_with_key(void **state)
{
	struct states s;

	(void)state;
	assert_int_equal(it_twctl("exchange declare parking direct"), 0);
	assert_int_equal(it_twctl("queue declare parked"), 0);
	assert_int_equal(it_twctl("bind parking parked spill"), 0);
	assert_int_equal(it_twctl("queue declare narrow --max-length 16 --overflow drop-head "
				  "--dead-letter-exchange parking --dead-letter-routing-key spill"), 0);
	burst("narrow", "sleep_us", "[20]", 2000, &s, false);
	assert_int_equal(s.acks, 2000);
	assert_int_equal(s.success, 2000);                /* dropped from "narrow", run from "parked" */
	assert_true(it_queue("narrow", "dropped") > 0);
	assert_int_equal(it_queue("parked", "published"), it_queue("narrow", "dropped"));
	/* a dead-letter exchange that routes nowhere: the task is dropped, counted */
	assert_int_equal(it_twctl("queue declare nowhere --max-length 4 --overflow drop-head "
				  "--dead-letter-exchange parking --dead-letter-routing-key void"), 0);
	burst("nowhere", "sleep_us", "[20]", 500, &s, true);
	assert_int_equal(s.acks, 500);
	assert_true(it_queue("nowhere", "dropped") > 0);
	assert_int_equal(s.success + it_queue("nowhere", "dropped"), 500);
}

/*
 * x-overflow reject-publish-dlx: a full queue NACKs the publisher (queue
 * full) and the refused task is dead-lettered, so it still runs, from
 * the queue behind the dead-letter exchange: every task runs exactly once.
 */
static void
test_reject_publish_dlx(void **state)
{
	struct tw_client *c = it_client();
	struct tw_publish p = { .routing_key = "tight", .task = "sleep_us", .args = "[200]",
				.args_len = 5 };
	struct states s = { 0 };
	uint64_t id, deadline = it_now_ms() + 20000;
	const int n = 300;

	(void)state;
	assert_int_equal(it_twctl("exchange declare spill fanout"), 0);
	assert_int_equal(it_twctl("queue declare overflowq"), 0);
	assert_int_equal(it_twctl("bind spill overflowq"), 0);
	assert_int_equal(it_twctl("queue declare tight --max-length 8 --overflow reject-publish-dlx "
				  "--dead-letter-exchange spill"), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	while (it_now_ms() < deadline && (s.acks + s.nacks < (uint64_t)n || s.success < (uint64_t)n))
		assert_true(tw_client_poll(c, 100, tally, &s) >= 0);
	tw_client_close(c);
	print_message("reject-publish-dlx: %lu acked, %lu nacked, %lu ran; overflowq got %lu\n",
		      (unsigned long)s.acks, (unsigned long)s.nacks, (unsigned long)s.success,
		      (unsigned long)it_queue("overflowq", "published"));
	assert_int_equal(s.acks + s.nacks, n);
	assert_true(s.nacks > 0);                           /* the publisher saw the refusals */
	assert_int_equal(s.success, n);                     /* and every task still ran once */
	assert_int_equal(it_queue("tight", "rejected"), s.nacks);
	assert_int_equal(it_queue("overflowq", "published"), s.nacks);
	/* definitions export names the mode as RabbitMQ does */
	{
		char path[512], text[65536] = "";
		FILE *f;

		snprintf(path, sizeof(path), "%s/defs-rpdlx.json", getenv("TW_DIR"));
		assert_int_equal(it_twctl("definitions export %s", path), 0);
		f = fopen(path, "r");
		assert_non_null(f);
		fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		assert_non_null(strstr(text, "\"x-overflow\": \"reject-publish-dlx\""));
	}
}

struct order {
	uint64_t ids_low[64], ids_high[64];
	int n_low, n_high;
	int seen;                 /* results seen so far */
	int last_high, first_low; /* positions */
};

static void
record(const struct tw_event *ev, void *arg)
{
	struct order *o = arg;

	if (ev->kind != TW_EV_RESULT)
		return;
	for (int i = 0; i < o->n_high; i++)
		if (ev->task_id == o->ids_high[i])
			o->last_high = o->seen;
	for (int i = 0; i < o->n_low; i++)
		if (ev->task_id == o->ids_low[i] && o->first_low < 0)
			o->first_low = o->seen;
	o->seen++;
}

/*
 * A busy worker (one 300 ms task), then 40 low- and 40 high-priority
 * tasks interleaved: once the worker is free every high one runs before
 * any low one. The queue is declared with declare (a twctl command line).
 */
static void
priority_case(const char *queue, const char *declare)
{
	struct tw_client *c = it_client();
	struct tw_publish p = { .routing_key = queue, .task = "noop" };
	struct tw_publish blocker = { .routing_key = queue, .task = "sleep_us", .args = "[300000]",
				      .args_len = 8 };
	struct order o = { .first_low = -1, .last_high = -1 };
	uint64_t id, deadline;

	assert_int_equal(it_twctl(declare), 0);
	assert_int_equal(tw_client_publish(c, &blocker, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	usleep(50000); /* the worker is now inside the blocker */
	for (int i = 0; i < 40; i++) {
		p.priority = 0;
		assert_int_equal(tw_client_publish(c, &p, &o.ids_low[o.n_low++]), 0);
		p.priority = 9; /* above max-priority: served at level 5 */
		assert_int_equal(tw_client_publish(c, &p, &o.ids_high[o.n_high++]), 0);
	}
	assert_int_equal(tw_client_flush(c), 0);
	deadline = it_now_ms() + 10000;
	while (o.seen < 81 && it_now_ms() < deadline)
		assert_true(tw_client_poll(c, 100, record, &o) >= 0);
	print_message("priority: %d results, last high at %d, first low at %d\n", o.seen,
		      o.last_high, o.first_low);
	assert_int_equal(o.seen, 81);
	assert_true(o.last_high < o.first_low);
	tw_client_close(c);
}

static void
test_priority_queue(void **state)
{
	(void)state;
	priority_case("prio", "queue declare prio --max-priority 5");
	assert_int_equal(it_twctl("queue declare prio2 --max-priority 11"), 1);
}

/*
 * A priority queue of the largest max-length (16M) with every level:
 * declared, used in priority order, deleted. Its rings grow as they
 * fill, so declaring it takes kilobytes of shared memory, not its
 * max-length's worth (eleven 256 MB rings could not be allocated once;
 * one 16M ring and ten small ones took 133 MB after that).
 */
static void
test_priority_queue_16m(void **state)
{
	uint64_t before = it_counter("control", "queues_memory_bytes"), after;

	(void)state;
	assert_int_equal(it_twctl("queue declare prio16m --max-priority 10 --max-length 16777216"), 0);
	after = it_counter("control", "queues_memory_bytes");
	print_message("a 16M priority queue with 10 levels, declared: %" PRIu64 " bytes\n", after - before);
	assert_true(after - before < 64 * 1024);
	priority_case("prio16m", "queue declare prio16m --max-priority 10 --max-length 16777216");
	assert_int_equal(it_twctl("queue delete prio16m"), 0);
}

/*
 * x-max-length-bytes: while the worker is busy, 100-byte tasks fill a
 * 1000-byte queue; the rest are NACKed queue-full (reject-publish) or
 * push the oldest out (drop-head). Bytes go back to 0 when it drains.
 */
static void
bytes_case(const char *queue, const char *overflow, struct states *s)
{
	struct tw_client *c = it_client();
	char args[101];
	struct tw_publish p = { .routing_key = queue, .task = "echo", .args = args, .args_len = 100 };
	struct tw_publish blocker = { .routing_key = queue, .task = "sleep_us", .args = "[200000]",
				      .args_len = 8 };
	uint64_t id, deadline;

	memset(args, 'b', 100);
	assert_int_equal(it_twctl("queue declare %s --max-length-bytes 1000 --overflow %s", queue,
				  overflow), 0);
	memset(s, 0, sizeof(*s));
	assert_int_equal(tw_client_publish(c, &blocker, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	usleep(50000);
	for (int i = 0; i < 50; i++)
		assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	deadline = it_now_ms() + 10000;
	while (s->acks + s->nacks < 51 && it_now_ms() < deadline)
		assert_true(tw_client_poll(c, 100, tally, s) >= 0);
	deadline = it_now_ms() + 10000;
	while (s->success < s->acks - it_queue(queue, "dropped") && it_now_ms() < deadline)
		assert_true(tw_client_poll(c, 100, tally, s) >= 0);
	tw_client_close(c);
}

static void
test_max_length_bytes(void **state)
{
	struct states s;

	(void)state;
	bytes_case("kb", "reject-publish", &s);
	print_message("bytes reject-publish: %lu acked, %lu nacked, %lu ran\n", (unsigned long)s.acks,
		      (unsigned long)s.nacks, (unsigned long)s.success);
	assert_int_equal(s.acks + s.nacks, 51);
	assert_int_equal(s.acks, 11);                  /* the blocker + ten 100-byte tasks */
	assert_int_equal(it_queue("kb", "rejected"), 40);
	assert_int_equal(s.success, 11);
	assert_int_equal(it_queue("kb", "ready_bytes"), 0);

	bytes_case("kb2", "drop-head", &s);
	print_message("bytes drop-head: %lu acked, %lu ran, %lu dropped\n", (unsigned long)s.acks,
		      (unsigned long)s.success, (unsigned long)it_queue("kb2", "dropped"));
	assert_int_equal(s.acks, 51);
	assert_int_equal(it_queue("kb2", "dropped"), 40);
	assert_int_equal(s.success, 11);
	assert_int_equal(it_queue("kb2", "ready_bytes"), 0);
}

static void
test_redeclare_with_other_policy(void **state)
{
	(void)state;
	assert_int_equal(it_twctl("queue declare dh --max-length 16 --overflow drop-head"), 0);
	assert_int_equal(it_twctl("queue declare dh --max-length 16"), 1);
	assert_int_equal(it_twctl("queue declare short --message-ttl 6"), 1);
	assert_int_equal(it_twctl("queue declare x --overflow sideways"), 1);
	assert_int_equal(it_twctl("queue declare x --message-ttl 0"), 2);
	assert_int_equal(it_twctl("queue declare impatient --message-ttl 5"), 1); /* DLX differs */
}

static int
setup(void **state)
{
	(void)state;
	it_warm_up();
	it_pools_snapshot();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_drop_head, it_pools_back),
		cmocka_unit_test_teardown(test_message_ttl, it_pools_back),
		cmocka_unit_test_teardown(test_dead_letter_expired, it_pools_back),
		cmocka_unit_test_teardown(test_dead_letter_dropped_with_key, it_pools_back),
		cmocka_unit_test_teardown(test_reject_publish_dlx, it_pools_back),
		cmocka_unit_test_teardown(test_priority_queue, it_pools_back),
		cmocka_unit_test_teardown(test_priority_queue_16m, it_pools_back),
		cmocka_unit_test_teardown(test_max_length_bytes, it_pools_back),
		cmocka_unit_test_teardown(test_redeclare_with_other_policy, it_pools_back),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
