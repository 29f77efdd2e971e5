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
#include "tw_broker_priv.h"
#include "tw_broker_spec.h"
#include "tw_definitions.h"

/* Binding i of m as a spec (its arguments in args). */
static int
binding_at(const Taskwire__Control__Definitions *m, uint32_t i, struct tw_def_binding *spec,
	   struct tw_def_arg *args, char *err)
{
	char why[TW_BROKER_ERR_MAX];
	int ret = tw_broker_binding_spec_from_pb(m->bindings[i], spec, args, why);

	if (ret != 0)
		snprintf(err, TW_BROKER_ERR_MAX, "bindings[%u]: %.200s", i, why);
	return ret;
}

/* Remove what the import created, newest first (inside a batch). */
static void
undo(struct tw_broker *b, const struct tw_broker_import *u)
{
	char ignored[TW_BROKER_ERR_MAX];
	struct tw_def_arg args[TW_MAX_BINDING_ARGS];
	struct tw_def_binding spec;
	uint64_t discarded;

	for (uint32_t i = u->n_b; i-- > 0;)
		if (binding_at(u->m, u->made_b[i], &spec, args, ignored) == 0)
			tw_broker_unbind(b, &spec, ignored);
	for (uint32_t i = u->n_q; i-- > 0;)
		tw_broker_queue_delete(b, u->q[u->made_q[i]].name, &discarded, ignored);
	for (uint32_t i = u->n_x; i-- > 0;)
		tw_broker_exchange_delete(b, u->x[u->made_x[i]].name, ignored);
}

static void
import_free(struct tw_broker_import *imp)
{
	free(imp->made_x);
	free(imp->made_q);
	free(imp->made_b);
	free(imp->x);
	free(imp->q);
	memset(imp, 0, sizeof(*imp));
}

/* Make room for n more bindings at once (no doubling copies of a big model). */
static int
reserve_bindings(struct tw_broker *b, size_t n)
{
	size_t want = b->n_bindings + n;
	void *p;

	if (want <= b->cap_bindings)
		return 0;
	if (want > TW_MAX_BINDINGS)
		want = TW_MAX_BINDINGS;
	p = realloc(b->bindings, sizeof(*b->bindings) * (want ? want : 1));
	if (p == NULL)
		return -ENOMEM;
	b->bindings = p;
	b->cap_bindings = (uint32_t)want;
	return 0;
}

int
tw_broker_import_begin(struct tw_broker *b, const Taskwire__Control__Definitions *m,
		       struct tw_broker_import *imp, char *err)
{
	char why[TW_BROKER_ERR_MAX];
	int ret;

	memset(imp, 0, sizeof(*imp));
	imp->m = m;
	imp->x = calloc(m->n_exchanges + 1, sizeof(*imp->x));
	imp->q = calloc(m->n_queues + 1, sizeof(*imp->q));
	imp->made_x = calloc(m->n_exchanges + 1, sizeof(*imp->made_x));
	imp->made_q = calloc(m->n_queues + 1, sizeof(*imp->made_q));
	imp->made_b = calloc(m->n_bindings + 1, sizeof(*imp->made_b));
	if (imp->x == NULL || imp->q == NULL || imp->made_x == NULL || imp->made_q == NULL ||
	    imp->made_b == NULL || reserve_bindings(b, m->n_bindings) != 0) {
		import_free(imp);
		return tw_broker_fail(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_exchanges; i++)
		tw_broker_exchange_spec_from_pb(m->exchanges[i], &imp->x[i]);
	for (size_t i = 0; i < m->n_queues; i++) {
		ret = tw_broker_queue_spec_from_pb(m->queues[i], &imp->q[i], why);
		if (ret != 0) {
			import_free(imp);
			return tw_broker_fail(err, ret, "queues[%zu]: %.200s", i, why);
		}
	}
	tw_broker_batch_begin(b);
	return 0;
}

/* Apply item k (exchanges, then queues, then bindings). @return 0 or -errno with err. */
static int
apply_one(struct tw_broker *b, struct tw_broker_import *u, uint32_t k, char *err)
{
	const Taskwire__Control__Definitions *m = u->m;
	char why[TW_BROKER_ERR_MAX];
	int ret;

	if (k < m->n_exchanges) {
		bool existed = tw_broker_exchange_find(b, u->x[k].name) >= 0;

		ret = tw_broker_exchange_declare(b, &u->x[k], why);
		if (ret != 0)
			return tw_broker_fail(err, ret, "exchanges[%u] '%.100s': %.120s", k, u->x[k].name, why);
		if (!existed)
			u->made_x[u->n_x++] = k;
		return 0;
	}
	k -= (uint32_t)m->n_exchanges;
	if (k < m->n_queues) {
		bool existed = tw_broker_queue_find(b, u->q[k].name) >= 0;

		ret = tw_broker_queue_declare(b, &u->q[k], why);
		if (ret != 0)
			return tw_broker_fail(err, ret, "queues[%u] '%.100s': %.120s", k, u->q[k].name, why);
		if (!existed)
			u->made_q[u->n_q++] = k;
		return 0;
	}
	k -= (uint32_t)m->n_queues;
	{
		struct tw_def_arg args[TW_MAX_BINDING_ARGS];
		struct tw_def_binding spec;
		uint32_t before = b->n_bindings;

		ret = binding_at(m, k, &spec, args, err);
		if (ret != 0)
			return ret;
		ret = tw_broker_bind(b, &spec, why);
		if (ret != 0)
			return tw_broker_fail(err, ret, "bindings[%u] %.50s -> %.50s: %.120s", k,
					      spec.source, spec.destination, why);
		if (b->n_bindings != before)
			u->made_b[u->n_b++] = k;
	}
	return 0;
}

/*
 * Queues marked held (Definitions' QueueDeclare.remote: a saved queue
 * that remote consumers held, or a declare asking for it) are remote
 * consumers' from now on, as a declare with remote makes them.
 */
static int
apply_holds(struct tw_broker *b, struct tw_broker_import *u, char *err)
{
	const Taskwire__Control__Definitions *m = u->m;
	char why[TW_BROKER_ERR_MAX];

	for (size_t k = 0; k < m->n_queues; k++) {
		int ret;

		if (!m->queues[k]->remote)
			continue;
		ret = tw_broker_queue_hold(b, u->q[k].name, why);
		if (ret != 0)
			return tw_broker_fail(err, ret, "queues[%zu] '%.100s': held: %.120s", k,
					      u->q[k].name, why);
	}
	u->held = true;
	return 0;
}

int
tw_broker_import_step(struct tw_broker *b, struct tw_broker_import *imp, uint32_t budget, char *err)
{
	const Taskwire__Control__Definitions *m = imp->m;
	uint32_t total = (uint32_t)(m->n_exchanges + m->n_queues + m->n_bindings);

	int ret = 0;

	for (; imp->next < total && budget > 0; imp->next++, budget--) {
		ret = apply_one(b, imp, imp->next, err);
		if (ret != 0)
			break;
	}
	/* holds last, once every item is in: a refused import holds nothing */
	if (ret == 0 && imp->next == total && !imp->held)
		ret = apply_holds(b, imp, err);
	if (ret != 0) {
		undo(b, imp);
		tw_broker_batch_end(b, NULL, (char[TW_BROKER_ERR_MAX]){ 0 });
		import_free(imp);
		return ret;
	}
	return imp->next == total;
}

int
tw_broker_import_finish(struct tw_broker *b, struct tw_broker_import *imp, int ret)
{
	if (ret != 0) {
		char ignored[TW_BROKER_ERR_MAX];

		tw_broker_batch_begin(b);
		undo(b, imp);
		tw_broker_batch_end(b, NULL, ignored);
	}
	import_free(imp);
	return ret;
}

int
tw_broker_definitions_import_pb(struct tw_broker *b, const Taskwire__Control__Definitions *m,
				char *err)
{
	struct tw_broker_import imp;
	int ret = tw_broker_import_begin(b, m, &imp, err);

	if (ret != 0)
		return ret;
	ret = tw_broker_import_step(b, &imp, UINT32_MAX, err);
	if (ret < 0)
		return ret;
	/* one table for the whole import */
	ret = tw_broker_batch_end(b, NULL, err);
	return tw_broker_import_finish(b, &imp, ret);
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
