/*
 * Definitions import, all or nothing: see ctl_broker.h. Each item goes
 * through the same broker call as its twctl verb (so the same checks
 * apply); what this import created is remembered and removed again if a
 * later item is refused. Pre-existing objects are never touched by a
 * rollback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_broker.h"
#include "ctl_handlers.h"
#include "tw_definitions.h"

struct undo {
	uint32_t n_x, n_q, n_b;
	const char **x;                        /* exchanges created */
	const char **q;                        /* queues created */
	const struct tw_def_binding **bind;    /* bindings created */
};

static bool
exchange_exists(const struct ctl_broker *b, const char *name)
{
	for (uint32_t i = 0; i < b->n_exchanges; i++)
		if (strcmp(b->exchanges[i].name, name) == 0)
			return true;
	return false;
}

static void
rollback(struct ctl_broker *b, const struct undo *u)
{
	char ignored[CTL_ERR_MAX];
	uint64_t discarded;

	for (uint32_t i = u->n_b; i-- > 0;)
		ctl_unbind(b, u->bind[i], ignored);
	for (uint32_t i = u->n_q; i-- > 0;)
		ctl_queue_delete(b, u->q[i], &discarded, ignored);
	for (uint32_t i = u->n_x; i-- > 0;)
		ctl_exchange_delete(b, u->x[i], ignored);
}

int
ctl_definitions_import(struct ctl_broker *b, const struct ctl_definitions *d, char *err)
{
	struct undo u = { 0 };
	char why[CTL_ERR_MAX];
	int ret = 0;

	u.x = calloc(d->n_exchanges + 1, sizeof(*u.x));
	u.q = calloc(d->n_queues + 1, sizeof(*u.q));
	u.bind = calloc(d->n_bindings + 1, sizeof(*u.bind));
	if (u.x == NULL || u.q == NULL || u.bind == NULL) {
		snprintf(err, CTL_ERR_MAX, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < d->n_exchanges && ret == 0; i++) {
		bool existed = exchange_exists(b, d->exchanges[i].name);

		ret = ctl_exchange_declare(b, &d->exchanges[i], why);
		if (ret != 0)
			snprintf(err, CTL_ERR_MAX, "exchanges[%u] '%.100s': %.120s", i,
				 d->exchanges[i].name, why);
		else if (!existed)
			u.x[u.n_x++] = d->exchanges[i].name;
	}
	for (uint32_t i = 0; i < d->n_queues && ret == 0; i++) {
		bool existed = ctl_queue_find(b, d->queues[i].name) >= 0;

		ret = ctl_queue_declare(b, &d->queues[i], why);
		if (ret != 0)
			snprintf(err, CTL_ERR_MAX, "queues[%u] '%.100s': %.120s", i, d->queues[i].name, why);
		else if (!existed)
			u.q[u.n_q++] = d->queues[i].name;
	}
	for (uint32_t i = 0; i < d->n_bindings && ret == 0; i++) {
		uint32_t before = b->n_bindings;

		ret = ctl_bind(b, &d->bindings[i], why);
		if (ret != 0)
			snprintf(err, CTL_ERR_MAX, "bindings[%u] %.50s -> %.50s: %.120s", i,
				 d->bindings[i].source, d->bindings[i].destination, why);
		else if (b->n_bindings != before)
			u.bind[u.n_b++] = &d->bindings[i];
	}
	if (ret != 0)
		rollback(b, &u);
out:
	free(u.x);
	free(u.q);
	free(u.bind);
	return ret;
}

int
ctl_definitions_load_file(struct ctl_broker *b, const char *file, const char *who)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__Definitions *d;
	struct tw_defs_errors errs;
	struct ctl_reply r;
	json_error_t je;
	json_t *doc = json_load_file(file, 0, &je);
	int ret;

	if (doc == NULL) {
		fprintf(stderr, "%s: %s:%d:%d: %s\n", who, file, je.line, je.column, je.text);
		return -EINVAL;
	}
	ret = tw_definitions_from_json(doc, &d, &errs);
	json_decref(doc);
	if (ret != 0) {
		for (size_t i = 0; i < errs.n && i < TW_DEFS_MAX_ERRORS; i++)
			fprintf(stderr, "%s: %s: %s\n", who, file, errs.msg[i]);
		return ret;
	}
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_IMPORT_DEFINITIONS;
	req.import_definitions = d;
	ctl_reply_init(&r);
	ctl_handle(b, &req, &r);
	if (!r.resp.ok)
		fprintf(stderr, "%s: %s: %s; nothing imported\n", who, file, r.resp.error);
	else
		printf("%s: imported %zu exchanges, %zu queues, %zu bindings from %s\n", who,
		       d->n_exchanges, d->n_queues, d->n_bindings, file);
	ret = r.resp.ok ? 0 : -EINVAL;
	ctl_reply_free(&r);
	tw_definitions_free(d);
	return ret;
}

