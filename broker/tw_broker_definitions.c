/*
 * Definitions import, all or nothing: see tw_broker_definitions.h. Each item goes
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

#include "tw_broker_definitions.h"
#include "tw_broker_spec.h"
#include "tw_definitions.h"

struct undo {
	uint32_t n_x, n_q, n_b;
	const char **x;                        /* exchanges created */
	const char **q;                        /* queues created */
	const struct tw_def_binding **bind;    /* bindings created */
};

static bool
exchange_exists(const struct tw_broker *b, const char *name)
{
	for (uint32_t i = 0; i < b->n_exchanges; i++)
		if (strcmp(b->exchanges[i].name, name) == 0)
			return true;
	return false;
}

static void
rollback(struct tw_broker *b, const struct undo *u)
{
	char ignored[TW_BROKER_ERR_MAX];
	uint64_t discarded;

	for (uint32_t i = u->n_b; i-- > 0;)
		tw_broker_unbind(b, u->bind[i], ignored);
	for (uint32_t i = u->n_q; i-- > 0;)
		tw_broker_queue_delete(b, u->q[i], &discarded, ignored);
	for (uint32_t i = u->n_x; i-- > 0;)
		tw_broker_exchange_delete(b, u->x[i], ignored);
}

int
tw_broker_definitions_import(struct tw_broker *b, const struct tw_broker_definitions *d, char *err)
{
	struct undo u = { 0 };
	char why[TW_BROKER_ERR_MAX];
	int ret = 0;

	u.x = calloc(d->n_exchanges + 1, sizeof(*u.x));
	u.q = calloc(d->n_queues + 1, sizeof(*u.q));
	u.bind = calloc(d->n_bindings + 1, sizeof(*u.bind));
	if (u.x == NULL || u.q == NULL || u.bind == NULL) {
		snprintf(err, TW_BROKER_ERR_MAX, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < d->n_exchanges && ret == 0; i++) {
		bool existed = exchange_exists(b, d->exchanges[i].name);

		ret = tw_broker_exchange_declare(b, &d->exchanges[i], why);
		if (ret != 0)
			snprintf(err, TW_BROKER_ERR_MAX, "exchanges[%u] '%.100s': %.120s", i,
				 d->exchanges[i].name, why);
		else if (!existed)
			u.x[u.n_x++] = d->exchanges[i].name;
	}
	for (uint32_t i = 0; i < d->n_queues && ret == 0; i++) {
		bool existed = tw_broker_queue_find(b, d->queues[i].name) >= 0;

		ret = tw_broker_queue_declare(b, &d->queues[i], why);
		if (ret != 0)
			snprintf(err, TW_BROKER_ERR_MAX, "queues[%u] '%.100s': %.120s", i, d->queues[i].name, why);
		else if (!existed)
			u.q[u.n_q++] = d->queues[i].name;
	}
	for (uint32_t i = 0; i < d->n_bindings && ret == 0; i++) {
		uint32_t before = b->n_bindings;

		ret = tw_broker_bind(b, &d->bindings[i], why);
		if (ret != 0)
			snprintf(err, TW_BROKER_ERR_MAX, "bindings[%u] %.50s -> %.50s: %.120s", i,
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

/* The specs of one batch: heap arrays, released by specs_free(). */
struct batch_specs {
	struct tw_broker_exchange_spec *x;
	struct tw_broker_queue_spec *q;
	struct tw_def_binding *b;
	struct tw_def_arg *args;   /* TW_MAX_BINDING_ARGS per binding */
};

static void
specs_free(struct batch_specs *s)
{
	free(s->x);
	free(s->q);
	free(s->b);
	free(s->args);
}

/*
 * The batch as broker specs (they borrow m's strings). @return 0, or
 * -errno with err naming the item; release s either way.
 */
static int
specs_from_pb(const Taskwire__Control__Definitions *m, struct batch_specs *s,
	      struct tw_broker_definitions *d, char *err)
{
	char why[TW_BROKER_ERR_MAX];
	int ret;

	s->x = calloc(m->n_exchanges + 1, sizeof(*s->x));
	s->q = calloc(m->n_queues + 1, sizeof(*s->q));
	s->b = calloc(m->n_bindings + 1, sizeof(*s->b));
	s->args = calloc((m->n_bindings + 1) * TW_MAX_BINDING_ARGS, sizeof(*s->args));
	if (s->x == NULL || s->q == NULL || s->b == NULL || s->args == NULL) {
		snprintf(err, TW_BROKER_ERR_MAX, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_exchanges; i++)
		tw_broker_exchange_spec_from_pb(m->exchanges[i], &s->x[i]);
	for (size_t i = 0; i < m->n_queues; i++) {
		ret = tw_broker_queue_spec_from_pb(m->queues[i], &s->q[i], why);
		if (ret != 0) {
			snprintf(err, TW_BROKER_ERR_MAX, "queues[%zu]: %.200s", i, why);
			return ret;
		}
	}
	for (size_t i = 0; i < m->n_bindings; i++) {
		ret = tw_broker_binding_spec_from_pb(m->bindings[i], &s->b[i],
						     &s->args[i * TW_MAX_BINDING_ARGS], why);
		if (ret != 0) {
			snprintf(err, TW_BROKER_ERR_MAX, "bindings[%zu]: %.200s", i, why);
			return ret;
		}
	}
	d->n_exchanges = (uint32_t)m->n_exchanges;
	d->exchanges = s->x;
	d->n_queues = (uint32_t)m->n_queues;
	d->queues = s->q;
	d->n_bindings = (uint32_t)m->n_bindings;
	d->bindings = s->b;
	return 0;
}

int
tw_broker_definitions_import_pb(struct tw_broker *b, const Taskwire__Control__Definitions *m,
				char *err)
{
	struct tw_broker_definitions d = { 0 };
	struct batch_specs s = { 0 };
	int ret = specs_from_pb(m, &s, &d, err);

	if (ret == 0)
		ret = tw_broker_definitions_import(b, &d, err);
	specs_free(&s);
	return ret;
}

int
tw_broker_definitions_load_file(struct tw_broker *b, const char *file, const char *who)
{
	Taskwire__Control__Definitions *d;
	struct tw_defs_errors errs;
	char err[TW_BROKER_ERR_MAX];
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
	ret = tw_broker_definitions_import_pb(b, d, err);
	if (ret != 0)
		fprintf(stderr, "%s: %s: %s; nothing imported\n", who, file, err);
	else
		printf("%s: imported %zu exchanges, %zu queues, %zu bindings from %s\n", who,
		       d->n_exchanges, d->n_queues, d->n_bindings, file);
	tw_definitions_free(d);
	return ret != 0 ? -EINVAL : 0;
}
