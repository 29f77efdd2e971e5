/*
 * Routing through the real binaries: exchanges declared and bound with
 * twctl, tasks published with libtaskwire, and where each task went read
 * back from the queues' published counters.
 *   fanout, topic, headers (all/any), exchange-to-exchange, alternate
 *   exchange, internal exchange (NACK access-refused), deleting an
 *   exchange in use (its bindings go; publishing to it is NACKed).
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

static const char *const queues[] = { "r1", "r2", "r3" };

static int
setup(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		if (it_twctl("queue declare %s", queues[i]) != 0)
			return -1;
	it_pools_snapshot();
	return 0;
}

/*
 * Publish one noop with optional headers ("k=v,k=v") and return where it
 * went as "r1,r3" (queues whose published counter moved), or the NACK
 * reason prefixed with '!'.
 */
static const char *
route(const char *exchange, const char *key, const char *headers)
{
	static char out[64];
	struct tw_header h[8];
	char hbuf[256], *save = NULL, *tok;
	struct tw_publish p = { .exchange = exchange, .routing_key = key, .task = "noop", .headers = h };
	uint64_t before[3], id;
	struct tw_client *c = it_client();
	struct tw_outcome o;

	for (int i = 0; i < 3; i++)
		before[i] = it_queue(queues[i], "published");
	if (headers != NULL) {
		snprintf(hbuf, sizeof(hbuf), "%s", headers);
		for (tok = strtok_r(hbuf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(tok, '=');

			*eq = '\0';
			h[p.n_headers].key = tok;
			h[p.n_headers].value = eq + 1;
			p.n_headers++;
		}
	}
	assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_wait(c, id, 5000, &o, NULL, NULL), 0);
	assert_true(o.confirmed);
	out[0] = '\0';
	if (!o.ack) {
		snprintf(out, sizeof(out), "!%s", tw_nack_reason_name(o.nack_reason));
	} else {
		for (int i = 0; i < 3; i++)
			if (it_queue(queues[i], "published") != before[i])
				snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
					 out[0] ? "," : "", queues[i]);
	}
	tw_outcome_clear(&o);
	tw_client_close(c);
	return out;
}

static void
test_fanout_and_topic(void **state)
{
	(void)state;
	assert_int_equal(it_twctl("exchange declare fan fanout"), 0);
	assert_int_equal(it_twctl("bind fan r1"), 0);
	assert_int_equal(it_twctl("bind fan r2 ignored-key"), 0);
	assert_string_equal(route("fan", "anything", NULL), "r1,r2");

	assert_int_equal(it_twctl("exchange declare logs topic"), 0);
	assert_int_equal(it_twctl("bind logs r1 'kern.*'"), 0);
	assert_int_equal(it_twctl("bind logs r2 '#.crit'"), 0);
	assert_int_equal(it_twctl("bind logs r3 '#'"), 0);
	assert_string_equal(route("logs", "kern.crit", NULL), "r1,r2,r3");
	assert_string_equal(route("logs", "kern", NULL), "r3");
	assert_string_equal(route("logs", "a.b.crit", NULL), "r2,r3");
	assert_int_equal(it_twctl("unbind logs r3 '#'"), 0);
	assert_string_equal(route("logs", "user.info", NULL), "!unroutable");
}

static void
test_headers_exchange(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(it_twctl("exchange declare hdr headers"), 0);
	assert_int_equal(it_twctl("bind hdr r1 --arg format=pdf --arg type=report --match all"), 0);
	assert_int_equal(it_twctl("bind hdr r2 --arg format=zip --arg type=log --match any"), 0);
	assert_string_equal(route("hdr", "", "format=pdf,type=report"), "r1");
	assert_string_equal(route("hdr", "", "type=log"), "r2");
	assert_string_equal(route("hdr", "", "format=pdf"), "!unroutable");
	assert_string_equal(route("hdr", "", NULL), "!unroutable");
	/* the binding shows its arguments; unbind needs the same arguments */
	assert_int_equal(it_twctl_out(out, sizeof(out), "list bindings --json"), 0);
	assert_non_null(strstr(out, "\"x-match\": \"all\""));
	assert_non_null(strstr(out, "\"format\": \"pdf\""));
	assert_int_equal(it_twctl("unbind hdr r1 --arg format=pdf --match all"), 1);
	assert_int_equal(it_twctl("bind hdr r1 --match sometimes"), 1);
}

static void
test_exchange_to_exchange_and_delete(void **state)
{
	(void)state;
	assert_int_equal(it_twctl("exchange declare front direct"), 0);
	assert_int_equal(it_twctl("exchange declare back fanout"), 0);
	assert_int_equal(it_twctl("bind front back k --dest-type exchange"), 0);
	assert_int_equal(it_twctl("bind front r1 k"), 0);
	assert_int_equal(it_twctl("bind back r1"), 0);  /* diamond: r1 twice, once delivered */
	assert_int_equal(it_twctl("bind back r3"), 0);
	assert_int_equal(it_twctl("bind back front --dest-type exchange"), 0); /* cycle */
	assert_string_equal(route("front", "k", NULL), "r1,r3");
	assert_int_equal(it_twctl("bind front nowhere k --dest-type exchange"), 1);
	assert_int_equal(it_twctl("bind front back k --dest-type tunnel"), 1);

	/* deleting an exchange in use: its bindings go, both ways */
	assert_int_equal(it_twctl("exchange delete back"), 0);
	assert_string_equal(route("front", "k", NULL), "r1");
	assert_string_equal(route("back", "k", NULL), "!unknown-exchange");
}

static void
test_alternate_and_internal(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(it_twctl("exchange declare ae fanout --internal"), 0);
	assert_int_equal(it_twctl("exchange declare main direct --alternate ae"), 0);
	assert_int_equal(it_twctl("bind ae r3"), 0);
	assert_int_equal(it_twctl("bind main r2 known"), 0);
	assert_string_equal(route("main", "known", NULL), "r2");
	assert_string_equal(route("main", "unknown", NULL), "r3");
	assert_string_equal(route("ae", "x", NULL), "!access-refused");
	assert_int_equal(it_twctl_out(out, sizeof(out), "list exchanges"), 0);
	assert_non_null(strstr(out, "main"));
	assert_non_null(strstr(out, "yes"));
	/* re-declaring with other properties is refused */
	assert_int_equal(it_twctl("exchange declare main direct"), 1);
	assert_int_equal(it_twctl("exchange declare main direct --alternate ae"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fanout_and_topic, it_pools_back),
		cmocka_unit_test_teardown(test_headers_exchange, it_pools_back),
		cmocka_unit_test_teardown(test_exchange_to_exchange_and_delete, it_pools_back),
		cmocka_unit_test_teardown(test_alternate_and_internal, it_pools_back),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
