/*
 * End to end through the real binaries: libtaskwire publishes over UDP to
 * tw-dataplane on a TAP device, tasks are routed by the default and a
 * direct exchange into queue rings, the worker lcore runs the built-in
 * tasks and the results come back. Admin changes go through twctl.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "it_common.h"

#define TIMEOUT_MS 5000

static int
setup(void **state)
{
	(void)state;
	if (it_twctl("queue declare e2e") != 0)
		return -1;
	it_pools_snapshot();
	return 0;
}

static void
expect_success(struct tw_client *c, const char *ex, const char *key, const char *task,
	       const char *args, const char *value)
{
	struct tw_outcome o;

	assert_int_equal(it_call(c, ex, key, task, args, TIMEOUT_MS, &o), 0);
	assert_true(o.confirmed);
	assert_true(o.ack);
	assert_true(o.has_result);
	if (o.state != TW_STATE_SUCCESS)
		fail_msg("%s(%s): state %s error '%s'", task, args ? args : "", tw_state_name(o.state),
			 o.error ? o.error : "");
	assert_int_equal(o.value_len, strlen(value));
	assert_memory_equal(o.value, value, o.value_len);
	assert_true(o.runtime_ns > 0 || strcmp(task, "noop") == 0);
	tw_outcome_clear(&o);
}

static void
test_builtin_tasks(void **state)
{
	struct tw_client *c = it_client();
	struct tw_outcome o;

	(void)state;
	expect_success(c, "", "e2e", "noop", NULL, "");
	expect_success(c, "", "e2e", "echo", "hello, taskwire", "hello, taskwire");
	expect_success(c, "", "e2e", "add", "[2,3]", "5");
	expect_success(c, "", "e2e", "add", "[-7, 4000000000]", "3999999993");
	expect_success(c, "", "e2e", "sleep_us", "[200]", "");

	/* fail: confirmed, then a FAILURE result with a message */
	assert_int_equal(it_call(c, "", "e2e", "fail", NULL, TIMEOUT_MS, &o), 0);
	assert_true(o.ack);
	assert_int_equal(o.state, TW_STATE_FAILURE);
	assert_true(o.error != NULL && o.error[0] != '\0');
	tw_outcome_clear(&o);

	/* bad args for add: FAILURE naming the problem, no crash */
	assert_int_equal(it_call(c, "", "e2e", "add", "[2,", TIMEOUT_MS, &o), 0);
	assert_int_equal(o.state, TW_STATE_FAILURE);
	tw_outcome_clear(&o);
	tw_client_close(c);
}

static void
test_unknown_task_fails_with_message(void **state)
{
	struct tw_client *c = it_client();
	struct tw_outcome o;

	(void)state;
	assert_int_equal(it_call(c, "", "e2e", "no_such_task", "[]", TIMEOUT_MS, &o), 0);
	assert_true(o.ack); /* routed: the queue took it */
	assert_int_equal(o.state, TW_STATE_FAILURE);
	assert_non_null(strstr(o.error, "no_such_task"));
	tw_outcome_clear(&o);
	tw_client_close(c);
}

static void
test_unknown_queue_is_nacked_unroutable(void **state)
{
	struct tw_client *c = it_client();
	uint64_t before = it_counter("counters", "nack_unroutable");
	struct tw_outcome o;

	(void)state;
	assert_int_equal(it_call(c, "", "no-such-queue", "noop", NULL, TIMEOUT_MS, &o), 0);
	assert_true(o.confirmed);
	assert_false(o.ack);
	assert_string_equal(tw_nack_reason_name(o.nack_reason), "unroutable");
	assert_false(o.has_result);
	tw_outcome_clear(&o);
	assert_int_equal(it_counter("counters", "nack_unroutable"), before + 1);
	tw_client_close(c);
}

static void
test_direct_exchange(void **state)
{
	struct tw_client *c = it_client();
	struct tw_outcome o;

	(void)state;
	assert_int_equal(it_twctl("exchange declare jobs direct"), 0);
	assert_int_equal(it_twctl("bind jobs e2e red"), 0);
	expect_success(c, "jobs", "red", "add", "[40,2]", "42");

	assert_int_equal(it_call(c, "jobs", "blue", "noop", NULL, TIMEOUT_MS, &o), 0);
	assert_false(o.ack);
	assert_string_equal(tw_nack_reason_name(o.nack_reason), "unroutable");
	tw_outcome_clear(&o);

	assert_int_equal(it_call(c, "no-such-exchange", "red", "noop", NULL, TIMEOUT_MS, &o), 0);
	assert_false(o.ack);
	assert_string_equal(tw_nack_reason_name(o.nack_reason), "unknown-exchange");
	tw_outcome_clear(&o);

	/* live unbind: the same publish becomes unroutable */
	assert_int_equal(it_twctl("unbind jobs e2e red"), 0);
	assert_int_equal(it_call(c, "jobs", "red", "noop", NULL, TIMEOUT_MS, &o), 0);
	assert_false(o.ack);
	tw_outcome_clear(&o);
	tw_client_close(c);
}

static void
test_batch_of_noops(void **state)
{
	enum { N = 20000 };
	struct tw_client *c = it_client();
	struct tw_publish p = { .routing_key = "e2e", .task = "noop" };
	struct it_tally t = { 0 };
	uint64_t id, deadline;

	(void)state;
	/* windowed so the socket buffers never overflow */
	for (int i = 0; i < N; i++) {
		assert_int_equal(tw_client_publish(c, &p, &id), 0);
		while ((uint64_t)i + 1 - t.results > 2000)
			assert_true(tw_client_poll(c, 1000, it_tally_event, &t) >= 0);
	}
	assert_int_equal(tw_client_flush(c), 0);
	deadline = it_now_ms() + 10000;
	while (t.results < N && it_now_ms() < deadline)
		assert_true(tw_client_poll(c, 200, it_tally_event, &t) >= 0);
	assert_int_equal(t.acks, N);
	assert_int_equal(t.nacks, 0);
	assert_int_equal(t.results, N);
	assert_int_equal(t.succeeded, N);
	tw_client_close(c);
}

static void
test_twctl_publish(void **state)
{
	char out[512];

	(void)state;
	assert_int_equal(it_twctl_out(out, sizeof(out), "--engine %s publish '' e2e add '[2,3]' --wait 5",
				      it_engine()), 0);
	assert_non_null(strstr(out, "SUCCESS 5"));
	assert_int_equal(it_twctl_out(out, sizeof(out), "--engine %s publish '' e2e noop", it_engine()), 0);
	assert_non_null(strstr(out, " ACK"));
	/* the engine address can come from tw-control's status too */
	assert_int_equal(it_twctl_out(out, sizeof(out), "--json publish '' e2e echo hi --wait"), 0);
	assert_non_null(strstr(out, "\"state\": \"SUCCESS\""));
	assert_non_null(strstr(out, "\"result\": \"hi\""));
	/* NACK: exit code 1 and the reason */
	assert_int_equal(it_twctl_out(out, sizeof(out), "publish '' nowhere noop"), 1);
	assert_non_null(strstr(out, "NACK unroutable"));
	/* FAILURE with --wait: exit code 1 */
	assert_int_equal(it_twctl_out(out, sizeof(out), "publish '' e2e fail --wait 5"), 1);
	assert_non_null(strstr(out, "FAILURE"));
}

static void
test_twctl_errors(void **state)
{
	(void)state;
	assert_int_equal(it_twctl("bind jobs nope key"), 1);           /* no such queue */
	assert_int_equal(it_twctl("exchange declare x nosuchtype"), 1);
	assert_int_equal(it_twctl("exchange declare jobs fanout"), 1);  /* exists with another type */
	assert_int_equal(it_twctl("queue declare e2e --max-length 7"), 1);
	assert_int_equal(it_twctl("queue declare e2e"), 0);             /* idempotent */
	assert_int_equal(it_twctl("queue frobnicate e2e"), 2);
	assert_int_equal(it_twctl("nosuchverb"), 2);
	assert_int_equal(it_twctl("queue declare ''"), 1);
	assert_int_equal(it_twctl("unbind jobs e2e never-bound"), 1);
	assert_int_equal(it_twctl("--socket /nonexistent/sock status"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_builtin_tasks, it_pools_back),
		cmocka_unit_test_teardown(test_unknown_task_fails_with_message, it_pools_back),
		cmocka_unit_test_teardown(test_unknown_queue_is_nacked_unroutable, it_pools_back),
		cmocka_unit_test_teardown(test_direct_exchange, it_pools_back),
		cmocka_unit_test_teardown(test_batch_of_noops, it_pools_back),
		cmocka_unit_test_teardown(test_twctl_publish, it_pools_back),
		cmocka_unit_test_teardown(test_twctl_errors, it_pools_back),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
