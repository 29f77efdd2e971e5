/*
 * Routing through the real binaries: exchanges declared and bound with
 * twctl, tasks published with libtaskwire, and where each task went read
 * back from the queues' published counters.
 *   fanout, topic, headers (all/any), exchange-to-exchange, alternate
 *   exchange, internal exchange (NACK access-refused), deleting an
 *   exchange in use (its bindings go; publishing to it is NACKed), a
 *   fanout wider than the dispatch stage into full queues.
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

/*
 * A fanout wider than the dispatch stage (tw_enqueue.h: TW_STAGE_MAX
 * descriptors, so the stage is flushed while one task is still being
 * delivered) into small reject-publish queues: each offer of a task
 * reaches every queue (published + rejected), a task refused by any queue is
 * NACKed queue-full, every descriptor a queue took is run, and the teardown
 * checks that no descriptor or frame reference was lost on the refusals.
 */
#define WIDE 80

static void
test_fanout_wider_than_stage(void **state)
{
	struct tw_client *c = it_client();
	struct tw_publish p = { .exchange = "wide", .task = "sleep_us", .args = "[100]", .args_len = 5 };
	struct it_tally t = { 0 };
	char path[512];
	uint64_t id, taken = 0, rejected = 0, delivered = 0, deadline;
	const int n = 24;
	FILE *f;

	(void)state;
	/* one definitions file: 80 queues and bindings in one call */
	snprintf(path, sizeof(path), "%s/wide.json", getenv("TW_DIR"));
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"exchanges\": [{\"name\": \"wide\", \"type\": \"fanout\"}],\n\"queues\": [");
	for (int i = 0; i < WIDE; i++)
		fprintf(f, "%s{\"name\": \"w%d\", \"arguments\": {\"x-max-length\": 4, "
			   "\"x-overflow\": \"reject-publish\"}}", i ? "," : "", i);
	fprintf(f, "],\n\"bindings\": [");
	for (int i = 0; i < WIDE; i++)
		fprintf(f, "%s{\"source\": \"wide\", \"destination\": \"w%d\", "
			   "\"destination_type\": \"queue\", \"routing_key\": \"\"}", i ? "," : "", i);
	fprintf(f, "]}\n");
	fclose(f);
	assert_int_equal(it_twctl("definitions import %s", path), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	deadline = it_now_ms() + 20000;
	/* bounded: until every task is confirmed and the queues ran what they took, or 20 s */
	for (;;) {
		/* three twctl calls (one per field: a sanitized twctl takes 0.1 s to start) */
		taken = it_queues_sum("w", "published");
		rejected = it_queues_sum("w", "rejected");
		delivered = it_queues_sum("w", "delivered");
		if ((t.acks + t.nacks >= (uint64_t)n && delivered == taken) || it_now_ms() > deadline)
			break;
		assert_true(tw_client_poll(c, 200, it_tally_event, &t) >= 0);
	}
	tw_client_close(c);
	print_message("fanout to %d queues: %d tasks, %lu acked, %lu nacked, %lu taken, %lu rejected, "
		      "%lu run by workers\n", WIDE, n, (unsigned long)t.acks, (unsigned long)t.nacks,
		      (unsigned long)taken, (unsigned long)rejected, (unsigned long)delivered);
	assert_int_equal(t.acks + t.nacks, n);
	/* each offer reaches every queue (a NACKed task's retransmit is offered again) */
	assert_true(taken + rejected >= (uint64_t)n * WIDE);
	assert_int_equal((taken + rejected) % WIDE, 0);
	assert_true(rejected > 0);                               /* 4 slots cannot hold 24 */
	for (int r = 0; r < 16; r++) /* every NACK says queue-full */
		if (strcmp(tw_nack_reason_name(r), "queue-full") == 0)
			assert_int_equal(t.nacks_by_reason[r], t.nacks);
	assert_true(t.nacks > 0);
	/* every descriptor a queue took was run (results travel by UDP: counted by the engine) */
	assert_int_equal(delivered, taken);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fanout_and_topic, it_pools_back),
		cmocka_unit_test_teardown(test_headers_exchange, it_pools_back),
		cmocka_unit_test_teardown(test_exchange_to_exchange_and_delete, it_pools_back),
		cmocka_unit_test_teardown(test_alternate_and_internal, it_pools_back),
		cmocka_unit_test_teardown(test_fanout_wider_than_stage, it_pools_back),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
