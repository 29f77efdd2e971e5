/*
 * tw-control's HTTP API and dashboard (see ctl_http.h). JSON documents are
 * built from the same protobuf answers the control socket gives, so the
 * two never disagree.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_events.h"
#include "ctl_handlers.h"
#include "ctl_http.h"
#include "ctl_json_text.h"
#include "ctl_stream.h"
#include "tw_wire.h"

/* the dashboard page, linked in from control/dashboard/index.html (Makefile) */
extern const char _binary_control_dashboard_index_html_start[];
extern const char _binary_control_dashboard_index_html_end[];

static enum MHD_Result
send_text(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
	  enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Takes j. */
static enum MHD_Result
send_json(struct MHD_Connection *conn, unsigned status, json_t *j)
{
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL)
		return MHD_NO;
	return send_text(conn, status, "application/json", text, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result
send_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return send_json(conn, status, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

/* One control request through the same handlers as the socket, under the control lock. */
static void
call(struct ctl_ctx *ctx, Taskwire__Control__Request *req, struct ctl_reply *r)
{
	ctl_reply_init(r);
	pthread_mutex_lock(&ctx->lock);
	ctl_handle(ctx, req, r);
	pthread_mutex_unlock(&ctx->lock);
}

static void
list(struct ctl_ctx *ctx, Taskwire__Control__ListRequest__What what, struct ctl_reply *r)
{
	ctl_reply_init(r);
	pthread_mutex_lock(&ctx->lock);
	ctl_handle_list(ctx, what, r);
	pthread_mutex_unlock(&ctx->lock);
}

static enum MHD_Result
overview(struct ctl_ctx *ctx, struct MHD_Connection *conn)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__StatusRequest sr = TASKWIRE__CONTROL__STATUS_REQUEST__INIT;
	struct ctl_reply st, qs, ws;
	json_t *root = json_object(), *counters = json_object(), *lcores = json_array();
	json_t *queues = json_array();

	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_STATUS;
	req.status = &sr;
	call(ctx, &req, &st);
	list(ctx, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__QUEUES, &qs);
	list(ctx, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__WORKERS, &ws);
	if (st.resp.status != NULL) {
		const Taskwire__Control__Status *s = st.resp.status;

		json_object_set_new(root, "uptime_ms", json_integer((json_int_t)s->uptime_ms));
		json_object_set_new(root, "remote",
				    json_pack("{s:i, s:I}", "consumers", (int)s->remote_consumers,
					      "unacked", (json_int_t)s->remote_unacked));
		for (size_t i = 0; i < s->n_counters; i++)
			json_object_set_new(counters, s->counters[i]->name,
					    json_integer((json_int_t)s->counters[i]->value));
		for (size_t i = 0; i < s->n_control; i++) {
			if (strcmp(s->control[i]->name, "store_results") == 0)
				json_object_set_new(root, "store_results",
						    json_integer((json_int_t)s->control[i]->value));
			if (strcmp(s->control[i]->name, "sched_held") == 0)
				json_object_set_new(root, "scheduled",
						    json_integer((json_int_t)s->control[i]->value));
		}
	}
	for (size_t i = 0; i < ws.resp.n_workers; i++) {
		const Taskwire__Control__WorkerInfo *w = ws.resp.workers[i];

		json_array_append_new(lcores, json_pack("{s:i, s:i, s:s, s:f, s:I}", "lcore",
							(int)w->lcore_id, "cpu", (int)w->cpu, "role",
							w->role, "busy_ratio", w->busy_ratio,
							"tasks_executed",
							(json_int_t)w->tasks_executed));
	}
	for (size_t i = 0; i < qs.resp.n_queues; i++) {
		const Taskwire__Control__QueueInfo *q = qs.resp.queues[i];

		json_t *j = json_pack("{s:s, s:I, s:I, s:i, s:I, s:I, s:f, s:f}", "name", q->name,
				      "ready", (json_int_t)q->ready, "in_flight",
				      (json_int_t)q->in_flight, "workers", (int)q->workers,
				      "published", (json_int_t)q->published, "delivered",
				      (json_int_t)q->delivered, "publish_rate", q->publish_rate,
				      "deliver_rate", q->deliver_rate);

		/* remote consumers taking it now, and its deliveries they let go back */
		json_object_set_new(j, "remote_consumers", json_integer(q->remote_consumers));
		json_object_set_new(j, "redelivered", json_integer((json_int_t)q->redelivered));
		json_array_append_new(queues, j);
	}
	json_object_set_new(root, "counters", counters);
	json_object_set_new(root, "lcores", lcores);
	json_object_set_new(root, "queues", queues);
	json_object_set_new(root, "threads",
			    json_pack("{s:i, s:i, s:I}", "busy", (int)ws.resp.threads_busy, "idle",
				      (int)ws.resp.threads_idle, "abandoned",
				      (json_int_t)ws.resp.threads_abandoned));
	ctl_reply_free(&st);
	ctl_reply_free(&qs);
	ctl_reply_free(&ws);
	return send_json(conn, MHD_HTTP_OK, root);
}

static enum MHD_Result
task_list(struct ctl_ctx *ctx, struct MHD_Connection *conn)
{
	const char *status = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status");
	json_t *arr = json_array();
	struct ctl_reply r;

	list(ctx, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__TASKS, &r);
	for (size_t i = 0; i < r.resp.n_tasks; i++) {
		const Taskwire__Control__TaskInfo *t = r.resp.tasks[i];
		char id[32];

		if (status != NULL && status[0] != '\0' && strcmp(status, t->status) != 0)
			continue;
		snprintf(id, sizeof(id), "%016" PRIx64, t->task_id);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o, s:i, s:I, s:I}", "task_id",
						     id, "status", t->status, "name", ctl_json_str(t->name),
						     "queue", ctl_json_str(t->queue), "retries", (int)t->retries,
						     "eta_ms", (json_int_t)t->eta_ms, "running_ms",
						     (json_int_t)t->running_ms));
	}
	ctl_reply_free(&r);
	return send_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "tasks", arr));
}

static bool
parse_id(const char *s, size_t len, uint64_t *id)
{
	char buf[17];
	char *end;

	if (len == 0 || len > 16)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*id = strtoull(buf, &end, 16);
	return *end == '\0' && *id != 0 && buf[0] != '-';
}

/* A task's state now, from the store (or where it is): the JSON of
 * GET /api/tasks/ID. @return a new object, or NULL with *error set. */
static json_t *
task_state_json(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r, const char **error)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__TaskRef ref = TASKWIRE__CONTROL__TASK_REF__INIT;
	const Taskwire__Control__TaskResult *t;
	char idtext[32];
	json_t *j;
	bool ok;

	ref.task_id = id;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_RESULT;
	req.result = &ref;
	call(ctx, &req, r);
	if (!r->resp.ok || r->resp.result == NULL) {
		*error = r->resp.error;
		return NULL;
	}
	t = r->resp.result;
	ok = t->state == TW_ST_SUCCESS || t->state == TW_ST_PROGRESS;
	snprintf(idtext, sizeof(idtext), "%016" PRIx64, id);
	j = json_pack("{s:s, s:s, s:o, s:o, s:i, s:I, s:I}", "task_id", idtext,
		      "state", tw_wire_state_name(t->state), "name",
		      ctl_json_str(t->name), "where", ctl_json_str(t->where),
		      "retries", (int)t->retries,
		      "runtime_ns", (json_int_t)t->runtime_ns, "date_done_ms",
		      (json_int_t)t->date_done_ms);
	if (j == NULL) {
		*error = "out of memory";
		return NULL;
	}
	json_object_set_new(j, "result", ok ? ctl_json_text((const char *)t->value.data,
							     t->value.len)
					   : json_string(""));
	json_object_set_new(j, "error", ctl_json_str(t->error));
	return j;
}

static enum MHD_Result
task_one(struct ctl_ctx *ctx, struct MHD_Connection *conn, uint64_t id, bool revoke)
{
	struct ctl_reply r;
	enum MHD_Result ret;
	const char *error = NULL;
	char idtext[32];

	if (revoke) {
		Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
		Taskwire__Control__TaskRef ref = TASKWIRE__CONTROL__TASK_REF__INIT;

		ref.task_id = id;
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_REVOKE;
		req.revoke = &ref;
		call(ctx, &req, &r);
		snprintf(idtext, sizeof(idtext), "%016" PRIx64, id);
		ret = r.resp.ok ? send_json(conn, MHD_HTTP_OK,
					    json_pack("{s:b, s:s}", "ok", 1, "task_id", idtext))
				: send_error(conn,
					     strstr(r.resp.error, "unknown") != NULL ? MHD_HTTP_NOT_FOUND
										   : MHD_HTTP_CONFLICT,
					     r.resp.error);
	} else {
		json_t *j = task_state_json(ctx, id, &r, &error);

		ret = j != NULL ? send_json(conn, MHD_HTTP_OK, j)
				: send_error(conn, MHD_HTTP_BAD_REQUEST, error);
	}
	ctl_reply_free(&r);
	return ret;
}

/*
 * The first object of a stream that follows one task: its state now, as
 * a "task-state" event. @return malloc'd text, or NULL (no task, or the
 * store could not say: the stream then starts with the events alone).
 */
static char *
stream_first(struct ctl_ctx *ctx, uint64_t id)
{
	struct ctl_reply r;
	const char *error;
	json_t *j;
	char *text = NULL;

	if (id == 0)
		return NULL;
	j = task_state_json(ctx, id, &r, &error);
	if (j != NULL) {
		json_object_set_new(j, "type", json_string("task-state"));
		text = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	ctl_reply_free(&r);
	return text;
}

/* The endpoints that show task data or change anything. */
static bool
needs_token(const char *url)
{
	return strncmp(url, "/api/tasks", 10) == 0 || strcmp(url, "/events") == 0 ||
	       strcmp(url, "/ws") == 0;
}

/*
 * The one task a request only reads, which a view token may open: ?task=ID
 * of GET /events and /ws, or the ID of GET /api/tasks/ID. 0: none.
 */
static uint64_t
viewed_task(struct MHD_Connection *conn, const char *url, bool get)
{
	static const char tasks[] = "/api/tasks/";
	const char *id;
	uint64_t v;

	if (!get)
		return 0;
	if (strcmp(url, "/events") == 0 || strcmp(url, "/ws") == 0) {
		id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "task");
		return id != NULL && parse_id(id, strlen(id), &v) ? v : 0;
	}
	if (strncmp(url, tasks, sizeof(tasks) - 1) == 0) {
		id = url + sizeof(tasks) - 1;
		return strchr(id, '/') == NULL && parse_id(id, strlen(id), &v) ? v : 0;
	}
	return 0;
}

bool
ctl_http_route(struct ctl_ctx *ctx, struct ctl_http_guard *g, struct MHD_Connection *conn,
	       const char *url, const char *method, enum MHD_Result *ret)
{
	static const char tasks[] = "/api/tasks/";
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	uint64_t followed = viewed_task(conn, url, get);

	if (strcmp(url, "/metrics") == 0)
		return false; /* open to any scraper: counters only */
	if (ctl_http_guard_check(g, conn, needs_token(url), followed, ret) != 0)
		return true;

	if (get && strcmp(url, "/") == 0) {
		size_t len = (size_t)(_binary_control_dashboard_index_html_end -
				      _binary_control_dashboard_index_html_start);
		struct MHD_Response *r = MHD_create_response_from_buffer(
			len, (void *)_binary_control_dashboard_index_html_start, MHD_RESPMEM_PERSISTENT);

		MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
		*ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return true;
	}
	if (get && strcmp(url, "/api/overview") == 0) {
		*ret = overview(ctx, conn);
		return true;
	}
	if (get && strcmp(url, "/api/tasks") == 0) {
		*ret = task_list(ctx, conn);
		return true;
	}
	if (strncmp(url, tasks, sizeof(tasks) - 1) == 0 && (get || post)) {
		const char *id = url + sizeof(tasks) - 1, *slash = strchr(id, '/');
		size_t len = slash != NULL ? (size_t)(slash - id) : strlen(id);
		bool revoke = slash != NULL && strcmp(slash, "/revoke") == 0;
		uint64_t v;

		if ((slash != NULL && !revoke) || revoke != post) {
			*ret = send_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint");
		} else if (!parse_id(id, len, &v)) {
			*ret = send_error(conn, MHD_HTTP_NOT_FOUND, "task id: 16 hex digits");
		} else {
			*ret = task_one(ctx, conn, v, revoke);
		}
		return true;
	}
	if (get && (strcmp(url, "/events") == 0 || strcmp(url, "/ws") == 0)) {
		char *first = stream_first(ctx, followed);

		*ret = url[1] == 'e' ? ctl_stream_sse(g, ctx->events, conn, first)
				     : ctl_stream_websocket(g, ctx->events, conn, first);
		free(first);
		return true;
	}
	return false;
}
