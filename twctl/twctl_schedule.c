/*
 * `twctl schedule add NAME (--every DURATION | --cron EXPR) EXCHANGE
 * ROUTING_KEY TASK [ARGS]`, `schedule remove NAME`, and the printer of
 * `list schedules`. The cron expression is checked by tw-control, which
 * names the bad field (exit 1).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "twctl.h"
#include "twctl_table.h"
#include "tw_units.h"

#define USAGE "usage: schedule add NAME (--every DURATION | --cron \"m h dom mon dow\") " \
	      "EXCHANGE ROUTING_KEY TASK [ARGS] | schedule remove NAME"

static int
schedule_add(const struct twctl_opts *o, int argc, char **argv)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__Schedule s = TASKWIRE__CONTROL__SCHEDULE__INIT;
	Taskwire__Control__Response *resp;
	const char *pos[5] = { 0 }, *cron = NULL;
	int n = 0, ret;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--every") == 0 && i + 1 < argc) {
			char err[128];

			if (tw_duration_parse(argv[++i], &s.every_ms, err, sizeof(err)) != 0) {
				fprintf(stderr, "twctl: --every '%s': %s\n", argv[i], err);
				return TWCTL_USAGE;
			}
			if (s.every_ms == 0) {
				fprintf(stderr, "twctl: --every: must be more than 0\n");
				return TWCTL_USAGE;
			}
		} else if (strcmp(argv[i], "--cron") == 0 && i + 1 < argc) {
			cron = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return twctl_usage_error(USAGE);
		} else if (n < 5) {
			pos[n++] = argv[i];
		} else {
			return twctl_usage_error(USAGE);
		}
	}
	if (n < 4 || (s.every_ms != 0) == (cron != NULL))
		return twctl_usage_error(USAGE);
	if (cron != NULL)
		s.cron = (char *)cron;
	s.name = (char *)pos[0];
	s.exchange = (char *)pos[1];
	s.routing_key = (char *)pos[2];
	s.task = (char *)pos[3];
	if (pos[4] != NULL) {
		s.args.data = (uint8_t *)pos[4];
		s.args.len = strlen(pos[4]);
	}
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_SCHEDULE_ADD;
	req.schedule_add = &s;
	ret = twctl_roundtrip(o, &req, &resp);
	if (ret != TWCTL_OK)
		return ret;
	taskwire__control__response__free_unpacked(resp, NULL);
	if (o->json)
		return twctl_print_json(json_pack("{s:s, s:b}", "schedule", s.name, "added", 1));
	printf("schedule '%s' added\n", s.name);
	return TWCTL_OK;
}

int
twctl_schedule(const struct twctl_opts *o, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return schedule_add(o, argc, argv);
	if (argc == 3 && strcmp(argv[1], "remove") == 0) {
		Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
		Taskwire__Control__ScheduleRef ref = TASKWIRE__CONTROL__SCHEDULE_REF__INIT;
		Taskwire__Control__Response *resp;
		int ret;

		ref.name = argv[2];
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_SCHEDULE_REMOVE;
		req.schedule_remove = &ref;
		ret = twctl_roundtrip(o, &req, &resp);
		if (ret != TWCTL_OK)
			return ret;
		taskwire__control__response__free_unpacked(resp, NULL);
		if (o->json)
			return twctl_print_json(json_pack("{s:s, s:b}", "schedule", argv[2],
							  "removed", 1));
		printf("schedule '%s' removed\n", argv[2]);
		return TWCTL_OK;
	}
	return twctl_usage_error(USAGE);
}

void
twctl_print_schedules(const struct twctl_opts *o, const Taskwire__Control__Response *r)
{
	struct twctl_table t;
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

	if (o->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < r->n_schedules; i++) {
			const Taskwire__Control__Schedule *s = r->schedules[i];
			char last[32];

			snprintf(last, sizeof(last), "%016" PRIx64, s->last_task_id);
			json_array_append_new(
				arr, json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s%, s:I, s:I, s:I, s:s}",
					       "name", s->name, "every_ms", (json_int_t)s->every_ms,
					       "cron", s->cron, "exchange", s->exchange, "routing_key",
					       s->routing_key, "task", s->task, "args",
					       s->args.data ? (const char *)s->args.data : "",
					       s->args.len, "last_run_ms", (json_int_t)s->last_run_ms,
					       "next_run_ms", (json_int_t)s->next_run_ms, "runs",
					       (json_int_t)s->runs, "last_task_id", last));
		}
		twctl_print_json(arr);
		return;
	}
	twctl_table_init(&t, 7);
	twctl_table_row(&t, "name\tschedule\texchange\trouting_key\ttask\truns\tnext_in");
	for (size_t i = 0; i < r->n_schedules; i++) {
		const Taskwire__Control__Schedule *s = r->schedules[i];
		char when[300];

		if (s->every_ms != 0)
			snprintf(when, sizeof(when), "every %" PRIu64 " ms", s->every_ms);
		else
			snprintf(when, sizeof(when), "cron %s", s->cron);
		twctl_table_row(&t, "%s\t%s\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 " ms", s->name, when,
				s->exchange[0] ? s->exchange : "(default)", s->routing_key, s->task,
				s->runs, s->next_run_ms > now ? s->next_run_ms - now : 0);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
}
