/*
 * Bad input through the real binaries, each with its expected outcome:
 *  - a UDP payload that is not taskwire: no reply, counted not_taskwire;
 *  - a truncated frame: frame-level NACK malformed, counted;
 *  - a frame with a wrong version: frame-level NACK bad-version;
 *  - a datagram larger than the MTU (IP fragments): NACK too-large;
 *  - a task with id 0: NACK invalid-task for that task only;
 *  - a burst larger than the queue: the overflow NACKed queue-full, every
 *    task either ACKed and run or NACKed, the counters agree;
 * and after each test the mempools hold as many free entries as before.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "it_common.h"
#include "taskwire.pb-c.h"
#include "tw_limits.h"

static int
setup(void **state)
{
	(void)state;
	if (it_twctl("queue declare bad") != 0 || it_twctl("queue declare small --max-length 64") != 0)
		return -1;
	it_pools_snapshot();
	return 0;
}

/* The last raw socket made: pack_frame() puts its source cookie in. */
static int last_fd = -1;

/* A plain kernel UDP socket connected to the engine, its cookie in hand. */
static int
raw_socket(void)
{
	last_fd = it_udp_socket(NULL, 500);
	return last_fd;
}

/* Pack a frame with one task (args of args_len bytes) into a malloc'd buffer. */
static uint8_t *
pack_frame(uint32_t version, uint64_t frame_id, uint64_t task_id, size_t args_len, size_t *len)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Task t = TASKWIRE__TASK__INIT;
	Taskwire__Task *tasks[1] = { &t };
	uint8_t *args = calloc(1, args_len + 1), *buf;

	f.magic = TW_FRAME_MAGIC;
	f.version = version;
	f.frame_id = frame_id;
	f.n_tasks = 1;
	f.tasks = tasks;
	t.id = task_id;
	t.name = (char *)"noop";
	t.routing_key = (char *)"bad";
	t.args.data = args;
	t.args.len = args_len;
	it_frame_cookie(last_fd, &f);
	*len = taskwire__frame__get_packed_size(&f);
	buf = malloc(*len);
	taskwire__frame__pack(&f, buf);
	free(args);
	return buf;
}

/* Receive one reply frame (asserts it arrives and decodes). */
static Taskwire__Frame *
recv_frame(int fd)
{
	uint8_t buf[2048];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	Taskwire__Frame *f;

	if (n < 0)
		fail_msg("no reply from the engine: %s", strerror(errno));
	f = taskwire__frame__unpack(NULL, (size_t)n, buf);
	assert_non_null(f);
	assert_int_equal(f->magic, TW_FRAME_MAGIC);
	return f;
}

static void
expect_frame_nack(int fd, uint64_t frame_id, Taskwire__NackReason reason)
{
	Taskwire__Frame *f = recv_frame(fd);

	assert_int_equal(f->frame_id, frame_id);
	assert_int_equal(f->n_confirms, 1);
	assert_int_equal(f->confirms[0]->task_id, 0);
	assert_false(f->confirms[0]->ack);
	assert_int_equal(f->confirms[0]->reason, reason);
	taskwire__frame__free_unpacked(f, NULL);
}

static void
test_not_taskwire_is_dropped_silently(void **state)
{
	int fd = raw_socket();
	uint64_t before = it_counter("drops", "not_taskwire");
	char buf[64];

	(void)state;
	assert_int_equal(send(fd, "hello, world", 12, 0), 12);
	assert_true(recv(fd, buf, sizeof(buf), 0) < 0); /* no reply to strangers */
	assert_int_equal(it_counter("drops", "not_taskwire"), before + 1);
	close(fd);
}

static void
test_truncated_frame_nacked_malformed(void **state)
{
	int fd = raw_socket();
	uint64_t before = it_counter("drops", "malformed");
	size_t len;
	uint8_t *buf = pack_frame(TW_FRAME_VERSION, 77, 5, 100, &len);

	(void)state;
	/* cut inside the task: magic, version and frame id are intact */
	assert_int_equal(send(fd, buf, len - 40, 0), (ssize_t)(len - 40));
	expect_frame_nack(fd, 77, TASKWIRE__NACK_REASON__NACK_MALFORMED);
	assert_int_equal(it_counter("drops", "malformed"), before + 1);
	free(buf);
	close(fd);
}

static void
test_wrong_version_nacked(void **state)
{
	int fd = raw_socket();
	uint64_t before = it_counter("drops", "bad_version");
	size_t len;
	uint8_t *buf = pack_frame(99, 78, 5, 10, &len);

	(void)state;
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
	expect_frame_nack(fd, 78, TASKWIRE__NACK_REASON__NACK_BAD_VERSION);
	assert_int_equal(it_counter("drops", "bad_version"), before + 1);
	free(buf);
	close(fd);
}

static void
test_oversized_frame_nacked_too_large(void **state)
{
	int fd = raw_socket();
	uint64_t before = it_counter("drops", "too_large");
	size_t len;
	uint8_t *buf = pack_frame(TW_FRAME_VERSION, 79, 5, 4000, &len);

	(void)state;
	/* 4 kB over a 1500-byte MTU: the kernel fragments; the engine takes no fragments */
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
	expect_frame_nack(fd, 79, TASKWIRE__NACK_REASON__NACK_TOO_LARGE);
	assert_true(it_counter("drops", "too_large") >= before + 1);
	free(buf);
	close(fd);
}

static void
test_task_id_zero_nacked_invalid(void **state)
{
	int fd = raw_socket();
	size_t len;
	uint8_t *buf = pack_frame(TW_FRAME_VERSION, 80, 0, 0, &len);
	Taskwire__Frame *f;

	(void)state;
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
	f = recv_frame(fd);
	assert_int_equal(f->n_confirms, 1);
	assert_false(f->confirms[0]->ack);
	assert_int_equal(f->confirms[0]->reason, TASKWIRE__NACK_REASON__NACK_INVALID_TASK);
	taskwire__frame__free_unpacked(f, NULL);
	free(buf);
	close(fd);
}

static void
test_burst_larger_than_queue(void **state)
{
	enum { N = 4000 };
	struct tw_client *c = it_client();
	struct tw_publish p = { .routing_key = "small", .task = "sleep_us", .args = "[20]",
				.args_len = 4 };
	uint64_t before = it_counter("counters", "nack_queue_full"), id, deadline;
	struct it_tally t = { 0 };

	(void)state;
	it_warm_up();
	/* all at once: 125 frames of 32 tasks against a queue of 64 */
	for (int i = 0; i < N; i++)
		assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	deadline = it_now_ms() + 15000;
	while (t.acks + t.nacks < N || t.results < t.acks) {
		if (it_now_ms() > deadline)
			break;
		assert_true(tw_client_poll(c, 200, it_tally_event, &t) >= 0);
	}
	print_message("burst: %lu acked, %lu nacked queue-full, %lu results\n",
		      (unsigned long)t.acks, (unsigned long)t.nacks, (unsigned long)t.results);
	assert_int_equal(t.acks + t.nacks, N);       /* every task confirmed one way */
	assert_int_equal(t.nacks, t.nacks_by_reason[TASKWIRE__NACK_REASON__NACK_QUEUE_FULL]);
	assert_true(t.nacks > 0);                    /* the queue did overflow */
	assert_int_equal(t.results, t.acks);         /* every ACKed task ran */
	assert_int_equal(it_counter("counters", "nack_queue_full"), before + t.nacks);
	/* the queue's own counters agree */
	assert_int_equal(it_queue("small", "max_length"), 64);
	assert_int_equal(it_queue("small", "rejected"), t.nacks);
	assert_int_equal(it_queue("small", "published"), t.acks);
	assert_int_equal(it_queue("small", "delivered"), t.acks);
	assert_int_equal(it_queue("small", "ready"), 0);
	assert_int_equal(it_queue("small", "in_flight"), 0);
	assert_true(it_queue("small", "workers") >= 1);
	tw_client_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_not_taskwire_is_dropped_silently, it_pools_back),
		cmocka_unit_test_teardown(test_truncated_frame_nacked_malformed, it_pools_back),
		cmocka_unit_test_teardown(test_wrong_version_nacked, it_pools_back),
		cmocka_unit_test_teardown(test_oversized_frame_nacked_too_large, it_pools_back),
		cmocka_unit_test_teardown(test_task_id_zero_nacked_invalid, it_pools_back),
		cmocka_unit_test_teardown(test_burst_larger_than_queue, it_pools_back),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
