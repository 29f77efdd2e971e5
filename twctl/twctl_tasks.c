/*
 * twctl's task verbs: `result TASK_ID [--wait S]`, `revoke TASK_ID`,
 * `forget TASK_ID`, and the printer of `list tasks` (active, scheduled,
 * reserved, revoked: what `celery inspect` shows).
 *
 * result --wait polls tw-control (every 50 ms) until the state is final:
 * the control socket serves one request at a time, so a waiting client
 * must not hold it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "taskwire/client.h"
#include "twctl.h"
#include "twctl_table.h"
#include "tw_clock.h"

#define POLL_MS 50

/* Task ids are printed as 16 hex digits; accept them with or without 0x. */
static bool
parse_id(const char *s, uint64_t *id)
{
	char *end;

	if (s[0] == '\0' || s[0] == '-')
		return false;
	errno = 0;
	*id = strtoull(s, &end, 16);
	return errno == 0 && *end == '\0' && *id != 0;
}

static bool
final_state(uint32_t st)
{
	return st >= TW_STATE_SUCCESS;
}

static int
task_request(const struct twctl_opts *o, Taskwire__Control__Request__BodyCase body, uint64_t id,
	     Taskwire__Control__Response **resp)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__TaskRef ref = TASKWIRE__CONTROL__TASK_REF__INIT;

	ref.task_id = id;
	req.body_case = body;
	/* the three task requests share one message type */
	req.result = &ref;
	return twctl_roundtrip(o, &req, resp);
}

static json_t *
hex_id(uint64_t id)
{
	char buf[32];

	if (id == 0)
		return json_null();
	snprintf(buf, sizeof(buf), "%016" PRIx64, id);
	return json_string(buf);
}

static json_t *
result_json(const Taskwire__Control__TaskResult *r)
{
	json_t *j = json_pack("{s:o, s:s, s:s, s:s, s:s%, s:s, s:i, s:I, s:I, s:I, s:o, s:o, s:o}",
			      "task_id", hex_id(r->task_id), "state",
			      tw_state_name((enum tw_state)r->state), "name", r->name,
			      "where", r->where[0] != '\0' ? r->where : "store",
			      "result", r->value.data ? (const char *)r->value.data : "",
			      (size_t)r->value.len, "error", r->error, "retries", (int)r->retries,
			      "runtime_ns", (json_int_t)r->runtime_ns, "date_done_ms",
			      (json_int_t)r->date_done_ms, "eta_ms", (json_int_t)r->eta_ms,
			      "root_id", hex_id(r->root_id), "parent_id", hex_id(r->parent_id),
			      "group_id", hex_id(r->group_id));

	if (j != NULL && r->n_members != 0) {
		json_t *m = json_array();

		for (size_t i = 0; i < r->n_members; i++)
			json_array_append_new(m, result_json(r->members[i]));
		json_object_set_new(j, "members", m);
		json_object_set_new(j, "group_size", json_integer(r->group_size));
	}
	return j;
}

static void
print_result(const struct twctl_opts *o, const Taskwire__Control__TaskResult *r)
{
	const char *state = tw_state_name((enum tw_state)r->state);

	if (o->json) {
		twctl_print_json(result_json(r));
		return;
	}
	printf("task %016" PRIx64 " %s", r->task_id, state);
	if (r->name[0] != '\0')
		printf(" %s", r->name);
	if (r->state == TW_STATE_SUCCESS || r->state == TW_STATE_PROGRESS)
		printf(" %.*s", (int)r->value.len, (const char *)r->value.data);
	else if (r->error[0] != '\0')
		printf(" %s", r->error);
	if (r->retries != 0)
		printf(" (retries %u)", r->retries);
	if (strcmp(r->where, "store") != 0)
		printf(" [%s]", r->where);
	if (r->parent_id != 0)
		printf(" parent %016" PRIx64, r->parent_id);
	printf("\n");
	/* a group or chord header: its members, in order */
	if (r->n_members != 0)
		printf("  %u members\n", r->group_size);
	for (size_t i = 0; i < r->n_members; i++) {
		const Taskwire__Control__TaskResult *m = r->members[i];

		printf("  [%zu] %016" PRIx64 " %s %s", i, m->task_id,
		       tw_state_name((enum tw_state)m->state), m->name);
		if (m->state == TW_STATE_SUCCESS)
			printf(" %.*s", (int)m->value.len, (const char *)m->value.data);
		else if (m->error != NULL && m->error[0] != '\0')
			printf(" %s", m->error);
		printf("\n");
	}
}

int
twctl_result(const struct twctl_opts *o, int argc, char **argv)
{
	Taskwire__Control__Response *resp = NULL;
	double wait_s = 0;
	uint64_t id, deadline;
	int ret;

	if (argc < 2 || !parse_id(argv[1], &id))
		return twctl_usage_error("usage: result TASK_ID [--wait S]   (TASK_ID: 16 hex digits)");
	for (int i = 2; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--wait") != 0 || i + 1 == argc)
			return twctl_usage_error("usage: result TASK_ID [--wait S]");
		wait_s = strtod(argv[++i], &end);
		if (*end != '\0' || wait_s <= 0 || wait_s > 86400)
			return twctl_usage_error("twctl: result --wait: 0 < S <= 86400");
	}
	deadline = tw_monotonic_ms() + (uint64_t)(wait_s * 1000);
	for (;;) {
		ret = task_request(o, TASKWIRE__CONTROL__REQUEST__BODY_RESULT, id, &resp);
		if (ret != TWCTL_OK)
			return ret;
		if (resp->result == NULL) {
			fprintf(stderr, "twctl: tw-control sent no result\n");
			taskwire__control__response__free_unpacked(resp, NULL);
			return TWCTL_FAILED;
		}
		if (final_state(resp->result->state) || tw_monotonic_ms() >= deadline)
			break;
		taskwire__control__response__free_unpacked(resp, NULL);
		usleep(POLL_MS * 1000);
	}
	print_result(o, resp->result);
	/* like `publish --wait`: 0 only for a task that succeeded */
	ret = resp->result->state == TW_STATE_SUCCESS ? TWCTL_OK : TWCTL_FAILED;
	if (wait_s > 0 && !final_state(resp->result->state))
		fprintf(stderr, "twctl: task %016" PRIx64 " not finished within %.3g s\n", id, wait_s);
	taskwire__control__response__free_unpacked(resp, NULL);
	return ret;
}

static int
simple_task_verb(const struct twctl_opts *o, int argc, char **argv,
		 Taskwire__Control__Request__BodyCase body, const char *done)
{
	Taskwire__Control__Response *resp;
	char msg[64];
	uint64_t id;
	int ret;

	snprintf(msg, sizeof(msg), "usage: %s TASK_ID   (16 hex digits)", argv[0]);
	if (argc != 2 || !parse_id(argv[1], &id))
		return twctl_usage_error(msg);
	ret = task_request(o, body, id, &resp);
	if (ret != TWCTL_OK)
		return ret;
	taskwire__control__response__free_unpacked(resp, NULL);
	if (o->json) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%016" PRIx64, id);
		return twctl_print_json(json_pack("{s:s, s:b}", "task_id", buf, done, 1));
	}
	printf("task %016" PRIx64 " %s\n", id, done);
	return TWCTL_OK;
}

int
twctl_revoke(const struct twctl_opts *o, int argc, char **argv)
{
	return simple_task_verb(o, argc, argv, TASKWIRE__CONTROL__REQUEST__BODY_REVOKE, "revoked");
}

int
twctl_forget(const struct twctl_opts *o, int argc, char **argv)
{
	return simple_task_verb(o, argc, argv, TASKWIRE__CONTROL__REQUEST__BODY_FORGET, "forgotten");
}

void
twctl_print_tasks(const struct twctl_opts *o, const Taskwire__Control__Response *r)
{
	struct twctl_table t;

	if (o->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < r->n_tasks; i++) {
			const Taskwire__Control__TaskInfo *ti = r->tasks[i];
			char id[32];

			snprintf(id, sizeof(id), "%016" PRIx64, ti->task_id);
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:i, s:i, s:I, s:s}",
							     "task_id", id, "status", ti->status,
							     "name", ti->name, "eta_ms",
							     (json_int_t)ti->eta_ms, "retries",
							     (int)ti->retries, "lcore", (int)ti->lcore,
							     "running_ms", (json_int_t)ti->running_ms,
							     "queue", ti->queue));
		}
		twctl_print_json(arr);
		return;
	}
	twctl_table_init(&t, 6);
	twctl_table_row(&t, "task_id\tstatus\tname\tqueue\tretries\tdetail");
	for (size_t i = 0; i < r->n_tasks; i++) {
		const Taskwire__Control__TaskInfo *ti = r->tasks[i];
		char detail[64] = "";

		if (strcmp(ti->status, "active") == 0)
			snprintf(detail, sizeof(detail), "lcore %u, %" PRIu64 " ms", ti->lcore,
				 ti->running_ms);
		else if (strcmp(ti->status, "scheduled") == 0)
			snprintf(detail, sizeof(detail), "eta %" PRIu64 " ms from now",
				 ti->eta_ms > (uint64_t)time(NULL) * 1000
					 ? ti->eta_ms - (uint64_t)time(NULL) * 1000 : 0);
		twctl_table_row(&t, "%016" PRIx64 "\t%s\t%s\t%s\t%u\t%s", ti->task_id, ti->status,
				ti->name, ti->queue, ti->retries, detail);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
}
