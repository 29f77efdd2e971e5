/*
 * libtaskwire against the result store (tw_result_fetch) and its Celery
 * options, through a real engine: a result read back from the store after
 * the reply; an ignore_result task not kept; a countdown task read from
 * the store once due; unknown ids and bad socket paths give their errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "it_common.h"
#include "taskwire/client.h"

static const char *
sock(void)
{
	const char *s = getenv("TW_SOCKET");

	if (s == NULL)
		fail_msg("TW_SOCKET is not set");
	return s;
}

static uint64_t
publish(struct tw_client *c, struct tw_publish *p)
{
	uint64_t id;

	assert_int_equal(tw_client_publish(c, p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	return id;
}

static void
test_results_fetch_from_store(void **state)
{
	struct tw_client *c = it_client();
	struct tw_publish p = { .routing_key = "res", .task = "add", .args = "[20,22]", .args_len = 7 };
	struct tw_outcome o;
	uint64_t id;

	(void)state;
	assert_int_equal(it_twctl("queue declare res"), 0);
	id = publish(c, &p);
	assert_int_equal(tw_client_wait(c, id, 5000, &o, NULL, NULL), 0);
	assert_int_equal(o.state, TW_STATE_SUCCESS);
	tw_outcome_clear(&o);
	/* the same result, from the store */
	assert_int_equal(tw_result_fetch(sock(), id, 5000, &o), 0);
	assert_true(o.has_result);
	assert_int_equal(o.state, TW_STATE_SUCCESS);
	assert_int_equal(o.value_len, 2);
	assert_memory_equal(o.value, "42", 2);
	tw_outcome_clear(&o);

	/* a failure keeps its error */
	p.task = "fail";
	id = publish(c, &p);
	assert_int_equal(tw_result_fetch(sock(), id, 5000, &o), 0);
	assert_int_equal(o.state, TW_STATE_FAILURE);
	assert_non_null(strstr(o.error, "always fails"));
	tw_outcome_clear(&o);
	tw_client_close(c);
}

static void
test_results_countdown_and_ignore(void **state)
{
	struct tw_client *c = it_client();
	struct tw_publish p = { .routing_key = "res", .task = "echo", .args = "\"later\"",
				.args_len = 7, .countdown_ms = 300 };
	struct tw_outcome o;
	uint64_t id, t0 = it_now_ms();

	(void)state;
	/* not due yet: still pending when asked with a short wait */
	id = publish(c, &p);
	assert_int_equal(tw_result_fetch(sock(), id, 50, &o), -ETIMEDOUT);
	assert_int_equal(tw_result_fetch(sock(), id, 5000, &o), 0);
	assert_true(it_now_ms() - t0 >= 300);
	assert_int_equal(o.state, TW_STATE_SUCCESS);
	assert_memory_equal(o.value, "\"later\"", 7);
	tw_outcome_clear(&o);

	/* ignore_result: the publisher gets it, the store does not keep it */
	p.countdown_ms = 0;
	p.ignore_result = true;
	id = publish(c, &p);
	assert_int_equal(tw_client_wait(c, id, 5000, &o, NULL, NULL), 0);
	assert_int_equal(o.state, TW_STATE_SUCCESS);
	tw_outcome_clear(&o);
	assert_int_equal(tw_result_fetch(sock(), id, 300, &o), -ETIMEDOUT);
	tw_client_close(c);
}

static void
test_results_bad_input(void **state)
{
	struct tw_outcome o;

	(void)state;
	/* an id nobody published: pending until the timeout */
	assert_int_equal(tw_result_fetch(sock(), 0x1234, 100, &o), -ETIMEDOUT);
	assert_int_equal(tw_result_fetch(sock(), 0, 100, &o), -EINVAL);
	assert_int_equal(tw_result_fetch("/nonexistent/control.sock", 1, 100, &o), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results_fetch_from_store),
		cmocka_unit_test(test_results_countdown_and_ignore),
		cmocka_unit_test(test_results_bad_input),
	};

	it_warm_up();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
