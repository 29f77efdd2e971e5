/*
 * Workflow fields of the wire (proto Task fields 14..26) checked against
 * protobuf-c's generated code on the same bytes: a tree packed by
 * protobuf-c decodes to the same fields and spans; a step the engine
 * composes (signature bytes + appended fields) unpacks in protobuf-c to
 * the fields we meant (the last occurrence of a scalar wins); args
 * composition and the errback argument, table-driven. Bad input: nesting
 * deeper than TW_WF_MAX_DEPTH and a second `next` are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskwire.pb-c.h"
#include "tw_wire.h"
#include "tw_wire_workflow.h"

static uint8_t buf[65536];
static struct tw_task_view views[TW_FRAME_MAX_TASKS];

static void
task_init(Taskwire__Task *t, uint64_t id, const char *name, const char *args)
{
	taskwire__task__init(t);
	t->id = id;
	t->name = (char *)name;
	t->routing_key = "jobs";
	t->args.data = (uint8_t *)args;
	t->args.len = strlen(args);
}

static size_t
pack_one(Taskwire__Task *t)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Task *tp[1] = { t };

	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.n_tasks = 1;
	f.tasks = tp;
	return taskwire__frame__pack(&f, buf);
}

static void
test_tree_decodes_like_protobuf_c(void **state)
{
	Taskwire__Task root, next, l1, l2, eb, g, m0, m1;
	Taskwire__Task *links[2] = { &l1, &l2 }, *errs[1] = { &eb }, *members[2] = { &m0, &m1 };
	struct tw_frame_view fv;
	struct tw_str rest, sig;
	struct tw_task_view sub;
	size_t len;
	uint8_t nested[512];

	(void)state;
	task_init(&root, 1, "add", "[1,2]");
	task_init(&next, 2, "add", "[10]");
	task_init(&l1, 3, "echo", "");
	task_init(&l2, 4, "echo", "[\"x\"]");
	task_init(&eb, 5, "echo", "");
	task_init(&g, 6, "", "");
	task_init(&m0, 7, "add", "[1,1]");
	task_init(&m1, 8, "add", "[2,2]");
	g.group_size = 2;
	g.n_members = 2;
	g.members = members;
	g.result_cell = 64;
	next.next = &g;
	next.immutable = true;
	root.next = &next;
	root.n_link = 2;
	root.link = links;
	root.n_link_error = 1;
	root.link_error = errs;
	root.root_id = 0x1111;
	root.parent_id = 0x2222;
	root.group_id = 0x3333;
	root.group_index = 7;
	root.notify = true;
	root.args_group = 0x4444;
	len = pack_one(&root);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 4), TW_WIRE_OK);
	assert_true(views[0].workflow);
	assert_true(views[0].root_id == 0x1111 && views[0].parent_id == 0x2222);
	assert_true(views[0].group_id == 0x3333 && views[0].group_index == 7);
	assert_true(views[0].notify && !views[0].immutable);
	assert_true(views[0].args_group == 0x4444);
	assert_int_equal(views[0].n_links, 2);
	assert_int_equal(views[0].n_link_errors, 1);
	/* next: exactly the bytes protobuf-c packs for the nested message */
	assert_int_equal(views[0].next.len, taskwire__task__get_packed_size(&next));
	taskwire__task__pack(&next, nested);
	assert_memory_equal(views[0].next.p, nested, views[0].next.len);
	assert_null(tw_wire_decode_task(views[0].next, &sub));
	assert_true(sub.immutable && sub.id == 2);
	assert_null(tw_wire_decode_task(sub.next, &sub));
	assert_int_equal(sub.group_size, 2);
	assert_int_equal(sub.n_members, 2);
	assert_int_equal(sub.result_cell, 64);
	assert_int_equal(sub.name.len, 0);
	rest = sub.members;
	for (uint64_t want = 7; want <= 8; want++) {
		struct tw_task_view m;

		assert_true(tw_wire_task_field_next(&rest, TW_TASK_F_MEMBERS, &sig));
		assert_null(tw_wire_decode_task(sig, &m));
		assert_true(m.id == want);
	}
	assert_false(tw_wire_task_field_next(&rest, TW_TASK_F_MEMBERS, &sig));
	rest = views[0].links;
	assert_true(tw_wire_task_field_next(&rest, TW_TASK_F_LINK, &sig));
	assert_null(tw_wire_decode_task(sig, &sub));
	assert_true(sub.id == 3);
	assert_true(tw_wire_task_field_next(&rest, TW_TASK_F_LINK, &sig));
	assert_null(tw_wire_decode_task(sig, &sub));
	assert_true(sub.id == 4);
	assert_false(tw_wire_task_field_next(&rest, TW_TASK_F_LINK, &sig));
	/* a plain task is not a workflow */
	task_init(&root, 9, "noop", "");
	len = pack_one(&root);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 4), TW_WIRE_OK);
	assert_false(views[0].workflow);
}

static void
test_composed_step_unpacks_in_protobuf_c(void **state)
{
	Taskwire__Task sig;
	uint8_t sigbytes[256], out[1024];
	struct tw_task_view sv, dv;
	struct tw_frame_view fv;
	struct tw_wbuf w;
	Taskwire__Frame *f;
	size_t siglen;
	struct tw_wf_fields fields = {
		.id = 0xabcdef, .root_id = 0x10, .parent_id = 0x20, .set_group = true,
		.group_id = 0x30, .group_index = 300, .has_result = true,
		.result = (const uint8_t *)"{\"a\":1}", .result_len = 7,
	};

	(void)state;
	task_init(&sig, 0, "add", "[5, 6]");
	siglen = taskwire__task__pack(&sig, sigbytes);
	assert_null(tw_wire_decode_task((struct tw_str){ sigbytes, (uint32_t)siglen }, &sv));
	tw_wbuf_init(&w, out, sizeof(out));
	tw_wire_put_header(&w, 0);
	assert_true(tw_wf_put_step(&w, (struct tw_str){ sigbytes, (uint32_t)siglen }, &sv, &fields));
	f = taskwire__frame__unpack(NULL, w.len, out);
	assert_non_null(f);
	assert_int_equal(f->n_tasks, 1);
	assert_true(f->tasks[0]->id == 0xabcdef);
	assert_true(f->tasks[0]->root_id == 0x10 && f->tasks[0]->parent_id == 0x20);
	assert_true(f->tasks[0]->group_id == 0x30 && f->tasks[0]->group_index == 300);
	assert_string_equal(f->tasks[0]->name, "add");
	assert_string_equal(f->tasks[0]->routing_key, "jobs");
	assert_int_equal(f->tasks[0]->args.len, strlen("[{\"a\":1},5, 6]"));
	assert_memory_equal(f->tasks[0]->args.data, "[{\"a\":1},5, 6]", f->tasks[0]->args.len);
	/* our decoder reads the same (last occurrence wins) */
	assert_int_equal(tw_wire_decode_frame(out, w.len, &fv, views, 4), TW_WIRE_OK);
	dv = views[0];
	assert_true(dv.id == 0xabcdef && dv.group_index == 300);
	assert_memory_equal(dv.args.p, "[{\"a\":1},5, 6]", dv.args.len);
	taskwire__frame__free_unpacked(f, NULL);

	/* an immutable signature keeps its args; a signature's own id is kept */
	sig.immutable = true;
	sig.id = 77;
	siglen = taskwire__task__pack(&sig, sigbytes);
	assert_null(tw_wire_decode_task((struct tw_str){ sigbytes, (uint32_t)siglen }, &sv));
	tw_wbuf_init(&w, out, sizeof(out));
	tw_wire_put_header(&w, 0);
	assert_true(tw_wf_put_step(&w, (struct tw_str){ sigbytes, (uint32_t)siglen }, &sv, &fields));
	f = taskwire__frame__unpack(NULL, w.len, out);
	assert_non_null(f);
	assert_true(f->tasks[0]->id == 77);
	assert_memory_equal(f->tasks[0]->args.data, "[5, 6]", 6);
	taskwire__frame__free_unpacked(f, NULL);

	/* too small a buffer: refused, sticky overflow */
	tw_wbuf_init(&w, out, 20);
	assert_false(tw_wf_put_step(&w, (struct tw_str){ sigbytes, (uint32_t)siglen }, &sv, &fields));
	assert_true(w.overflow);
}

static void
test_compose_args_table(void **state)
{
	static const struct {
		const char *r, *args, *want;
	} cases[] = {
		{ "3", "", "[3]" },
		{ "3", "[]", "[3]" },
		{ "3", " [ ] ", "[3]" },
		{ "3", "[1,2]", "[3,1,2]" },
		{ "3", " [ 1]", "[3,1]" },
		{ "3", "\"x\"", "[3,\"x\"]" },
		{ "3", "{\"k\":1}", "[3,{\"k\":1}]" },
		{ "", "[1]", "[null,1]" },
		{ "[1,2]", "", "[[1,2]]" },
	};
	uint8_t out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t n = tw_wf_compose_args(out, sizeof(out), (const uint8_t *)cases[i].r,
						(uint32_t)strlen(cases[i].r),
						(const uint8_t *)cases[i].args,
						(uint32_t)strlen(cases[i].args));

		assert_int_equal(n, strlen(cases[i].want));
		assert_memory_equal(out, cases[i].want, n);
		/* in place: R written at out + 1 first (a results list in the list buffer) */
		memset(out, '#', sizeof(out));
		memcpy(out + 1, cases[i].r, strlen(cases[i].r));
		n = tw_wf_compose_args(out, sizeof(out), out + 1, (uint32_t)strlen(cases[i].r),
				       (const uint8_t *)cases[i].args,
				       (uint32_t)strlen(cases[i].args));
		assert_int_equal(n, strlen(cases[i].want));
		assert_memory_equal(out, cases[i].want, n);
	}
	assert_int_equal(tw_wf_compose_args(out, 4, (const uint8_t *)"12345", 5, NULL, 0),
			 UINT32_MAX);
	assert_int_equal(tw_wf_compose_args(out, 6, (const uint8_t *)"12345", 5, NULL, 0),
			 UINT32_MAX);
}

static void
test_error_arg_escapes(void **state)
{
	uint8_t out[256];
	const char err[] = "bad \"x\" \\ \n";
	uint32_t n = tw_wf_error_arg(out, sizeof(out), 0x0123456789abcdefull, err, sizeof(err) - 1);
	const char want[] = "{\"id\":\"0123456789abcdef\",\"error\":\"bad \\\"x\\\" \\\\ \\u000a\"}";

	(void)state;
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);
	assert_int_equal(tw_wf_error_arg(out, 10, 1, "e", 1), UINT32_MAX);
}

/* A chain of depth steps, each the next of the one before, packed by protobuf-c. */
static size_t
pack_chain(unsigned depth)
{
	Taskwire__Task *t = calloc(depth, sizeof(*t));
	size_t len;

	for (unsigned i = 0; i < depth; i++) {
		task_init(&t[i], i + 1, "noop", "");
		if (i > 0)
			t[i - 1].next = &t[i];
	}
	len = pack_one(&t[0]);
	free(t);
	return len;
}

static void
test_depth_and_duplicate_next_refused(void **state)
{
	struct tw_frame_view fv;
	size_t len;
	Taskwire__Frame *f;

	(void)state;
	/* TW_WF_MAX_DEPTH nested levels below the root are accepted */
	len = pack_chain(TW_WF_MAX_DEPTH + 1);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 4), TW_WIRE_OK);
	/* deeper: refused with a reason (protobuf-c takes it: we accept a subset) */
	len = pack_chain(TW_WF_MAX_DEPTH + 2);
	f = taskwire__frame__unpack(NULL, len, buf);
	assert_non_null(f);
	taskwire__frame__free_unpacked(f, NULL);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 4),
			 TW_WIRE_MALFORMED);
	assert_string_equal(fv.error, "workflow nested too deep");
	{
		/* two `next` fields: protobuf-c would merge them; refused */
		Taskwire__Task a, b;
		uint8_t raw[256];
		size_t n;
		struct tw_task_view v;

		task_init(&a, 1, "add", "");
		task_init(&b, 2, "add", "");
		a.next = &b;
		n = taskwire__task__pack(&a, raw);
		/* append the next field once more: tag (19 << 3 | 2) = 154, 0x01 */
		memcpy(raw + n, raw + n - taskwire__task__get_packed_size(&b) - 3,
		       taskwire__task__get_packed_size(&b) + 3);
		n += taskwire__task__get_packed_size(&b) + 3;
		assert_string_equal(tw_wire_decode_task((struct tw_str){ raw, (uint32_t)n }, &v),
				    "more than one next step");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_decodes_like_protobuf_c),
		cmocka_unit_test(test_composed_step_unpacks_in_protobuf_c),
		cmocka_unit_test(test_compose_args_table),
		cmocka_unit_test(test_error_arg_escapes),
		cmocka_unit_test(test_depth_and_duplicate_next_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
