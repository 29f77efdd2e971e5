/*
 * The broker model: see tw_broker.h. Each call validates, changes the
 * model (queue slots in shared memory, exchanges and bindings here) and
 * then publishes it (tw_broker_publish.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "tw_broker_counters.h"
#include "tw_broker_journal.h"
#include "tw_broker_priv.h"
#include "tw_consumers_shm.h"
#include "tw_names.h"

#define ERR(...) tw_broker_fail(err, -EINVAL, __VA_ARGS__)

int
tw_broker_fail(char *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, TW_BROKER_ERR_MAX, fmt, ap);
	va_end(ap);
	return code;
}

static uint32_t exchange_free_slot(struct tw_broker *b);
static int exchanges_room(struct tw_broker *b);
static void exchange_remove(struct tw_broker *b, uint32_t i);

static uint32_t
name_hash(const char *name)
{
	return tw_routes_hash(name, (uint32_t)strnlen(name, TW_NAME_MAX), 0);
}

/* A binding's identity but its arguments (compared by binding_eq). */
static uint32_t
binding_hash(const struct tw_def_binding *x)
{
	uint32_t h = tw_routes_hash(x->source, (uint32_t)strnlen(x->source, TW_NAME_MAX), x->dest_type);

	h = tw_routes_hash(x->destination, (uint32_t)strnlen(x->destination, TW_NAME_MAX), h);
	return tw_routes_hash(x->key, (uint32_t)strnlen(x->key, TW_NAME_MAX), h);
}

static bool
queue_eq(uint32_t v, const void *key, const void *ctx)
{
	const struct tw_broker *b = ctx;

	return b->sh->queues[v] != NULL && strcmp(b->sh->queues[v]->name, key) == 0;
}

static bool
exchange_eq(uint32_t v, const void *key, const void *ctx)
{
	const struct tw_broker *b = ctx;

	return strcmp(b->exchanges[v].name, key) == 0;
}

uint32_t
tw_broker_exchange_list(const struct tw_broker *b, struct tw_broker_exchange_ref *out, uint32_t max)
{
	uint32_t n = 0;

	if (max > 0) {
		out[0].name[0] = '\0';
		out[0].slot = 0;
		n = 1;
	}
	for (uint32_t i = 0; i < b->n_exchanges && n < max; i++, n++) {
		snprintf(out[n].name, sizeof(out[n].name), "%s", b->exchanges[i].name);
		out[n].slot = b->exchanges[i].slot;
	}
	return n;
}

static int
check_name(const char *what, const char *name, char *err)
{
	return tw_name_check_str(what, name, false, err, TW_BROKER_ERR_MAX);
}

uint64_t
tw_broker_queue_ready(const struct tw_queue_slot *qs)
{
	uint64_t n = tw_qring_count(qs->ring);

	for (unsigned p = 0; p < qs->max_priority; p++)
		n += tw_qring_count(qs->levels[p]);
	return n;
}

uint64_t
tw_broker_queue_free(struct tw_broker *b, struct tw_queue_slot *qs)
{
	uint64_t n = 0;

	if (qs == NULL)
		return 0;
	n += tw_broker_drain_ring(b, qs->ring);
	tw_qring_destroy(qs->ring);
	for (unsigned p = 0; p < TW_MAX_PRIORITY; p++) {
		n += tw_broker_drain_ring(b, qs->levels[p]);
		tw_qring_destroy(qs->levels[p]);
	}
	rte_free(qs);
	return n;
}

int
tw_broker_queue_find(const struct tw_broker *b, const char *name)
{
	return (int)tw_broker_ix_find(&b->queue_ix, name_hash(name), queue_eq, name, b);
}

int
tw_broker_exchange_find(const struct tw_broker *b, const char *name)
{
	return (int)tw_broker_ix_find(&b->exchange_ix, name_hash(name), exchange_eq, name, b);
}

static bool
same_args(const struct tw_def_binding *x, const struct tw_def_binding *y)
{
	if (x->n_args != y->n_args || x->x_match != y->x_match)
		return false;
	for (uint32_t i = 0; i < x->n_args; i++)
		if (strcmp(x->args[i].key, y->args[i].key) != 0 ||
		    strcmp(x->args[i].value, y->args[i].value) != 0)
			return false;
	return true;
}

static bool
binding_eq(uint32_t v, const void *key, const void *ctx)
{
	const struct tw_def_binding *x = &((const struct tw_broker *)ctx)->bindings[v], *spec = key;

	return strcmp(x->source, spec->source) == 0 && x->dest_type == spec->dest_type &&
	       strcmp(x->destination, spec->destination) == 0 && strcmp(x->key, spec->key) == 0 &&
	       same_args(x, spec);
}

static int
binding_find(const struct tw_broker *b, const struct tw_def_binding *spec)
{
	return (int)tw_broker_ix_find(&b->binding_ix, binding_hash(spec), binding_eq, spec, b);
}

/*
 * Remove binding i (its argument copy too): the last one takes its place,
 * so a removal costs the same however many bindings there are (the
 * table's order does not depend on this one's).
 */
static void
binding_remove(struct tw_broker *b, uint32_t i)
{
	uint32_t last = b->n_bindings - 1;

	tw_broker_ix_del(&b->binding_ix, binding_hash(&b->bindings[i]), i);
	free((void *)b->bindings[i].args);
	if (i != last) {
		b->bindings[i] = b->bindings[last];
		tw_broker_ix_move(&b->binding_ix, binding_hash(&b->bindings[i]), last, i);
	}
	b->n_bindings--;
}

const char *
tw_broker_overflow_name(uint8_t overflow)
{
	return overflow == TW_OVERFLOW_DROP_HEAD		? "drop-head"
	       : overflow == TW_OVERFLOW_REJECT_PUBLISH_DLX ? "reject-publish-dlx"
							    : "reject-publish";
}

int
tw_broker_overflow_parse(const char *name)
{
	if (name[0] == '\0' || strcmp(name, "reject-publish") == 0)
		return TW_OVERFLOW_REJECT_PUBLISH;
	if (strcmp(name, "drop-head") == 0)
		return TW_OVERFLOW_DROP_HEAD;
	if (strcmp(name, "reject-publish-dlx") == 0)
		return TW_OVERFLOW_REJECT_PUBLISH_DLX;
	return -1;
}

const char *
tw_broker_consumers_name(uint8_t consumers)
{
	return consumers == TW_QC_ENGINE   ? "engine"
	       : consumers == TW_QC_REMOTE ? "remote"
	       : consumers == TW_QC_BOTH   ? "both"
					   : "auto";
}

int
tw_broker_consumers_parse(const char *name)
{
	if (name[0] == '\0' || strcmp(name, "auto") == 0)
		return TW_QC_AUTO;
	if (strcmp(name, "engine") == 0)
		return TW_QC_ENGINE;
	if (strcmp(name, "remote") == 0)
		return TW_QC_REMOTE;
	if (strcmp(name, "both") == 0)
		return TW_QC_BOTH;
	return -1;
}

int
tw_broker_queue_declare(struct tw_broker *b, const struct tw_broker_queue_spec *spec, char *err)
{
	const char *name = spec->name, *dlx = spec->dlx != NULL ? spec->dlx : "";
	uint32_t max_length = spec->max_length;
	uint32_t delivery_limit = spec->delivery_limit != 0 ? spec->delivery_limit
							    : TW_QUEUE_DEFAULT_DELIVERY_LIMIT;
	struct tw_queue_slot *qs;
	bool journal, durable;
	int s, ret;

	ret = check_name("queue", name, err);
	if (ret != 0)
		return ret;
	if (max_length > TW_QUEUE_MAX_LEN)
		return ERR("max-length %u above the limit %u", max_length, TW_QUEUE_MAX_LEN);
	if (spec->overflow > TW_OVERFLOW_REJECT_PUBLISH_DLX)
		return ERR("unknown overflow mode %u", spec->overflow);
	if (spec->max_priority > TW_MAX_PRIORITY)
		return ERR("max-priority %u above the limit %u", spec->max_priority, TW_MAX_PRIORITY);
	if (spec->message_ttl_ms > TW_QUEUE_MAX_TTL_MS)
		return ERR("message TTL %u ms above the limit %u ms", spec->message_ttl_ms,
			   TW_QUEUE_MAX_TTL_MS);
	if (delivery_limit > TW_QUEUE_MAX_DELIVERY_LIMIT)
		return ERR("delivery limit %u above the limit %u", delivery_limit,
			   TW_QUEUE_MAX_DELIVERY_LIMIT);
	if (spec->consumers >= TW_QC__MAX)
		return ERR("unknown consumers mode %u", spec->consumers);
	if (strlen(dlx) >= TW_NAME_MAX || (spec->dl_key != NULL && strlen(spec->dl_key) >= TW_NAME_MAX))
		return ERR("dead-letter exchange or routing key longer than %d bytes", TW_NAME_MAX - 1);
	/* a durable queue promises its tasks survive the engine: only with a
	 * journal (or, asked so, in memory without one) */
	journal = __atomic_load_n(&b->sh->journal.enabled, __ATOMIC_RELAXED);
	durable = spec->durable && (journal || !spec->durable_if_journal);
	if (durable && !journal)
		return ERR("queue '%s' is durable, but tw-dataplane keeps no journal "
			   "(start it with --data-dir)", name);
	s = tw_broker_queue_find(b, name);
	if (s >= 0) {
		const struct tw_queue_slot *e = b->sh->queues[s];

		/* Re-declaring with the same arguments is a no-op, as in AMQP; other arguments are refused. */
		if ((max_length != 0 && max_length != e->max_length) || spec->overflow != e->overflow ||
		    spec->message_ttl_ms != e->message_ttl_ms || strcmp(dlx, e->dlx) != 0 ||
		    spec->max_priority != e->max_priority || spec->max_bytes != e->max_bytes ||
		    durable != (e->durable != 0) ||
		    (spec->dl_key != NULL) != e->has_dl_key ||
		    (spec->dl_key != NULL && strcmp(spec->dl_key, e->dl_key) != 0) ||
		    delivery_limit != e->delivery_limit || spec->consumers != e->consumers)
			return ERR("queue '%s' exists with other arguments (max-length %u, overflow %s, "
				   "message-ttl %u ms, dead-letter exchange '%s', max-priority %u, %s, "
				   "delivery-limit %u, consumers %s)",
				   name, e->max_length, tw_broker_overflow_name(e->overflow), e->message_ttl_ms,
				   e->dlx, e->max_priority, e->durable ? "durable" : "not durable",
				   e->delivery_limit, tw_broker_consumers_name(e->consumers));
		return 0;
	}
	for (s = (int)b->queue_slot_low; s < TW_MAX_QUEUES && b->sh->queues[s] != NULL; s++)
		;
	if (s == TW_MAX_QUEUES)
		return ERR("too many queues (limit %d)", TW_MAX_QUEUES);
	if (max_length == 0)
		max_length = TW_QUEUE_DEFAULT_LEN;
	ret = tw_broker_counters_reserve_queue(b->sh, (uint32_t)s);
	if (ret != 0)
		return tw_broker_fail(err, ret, "cannot allocate counters for queue '%s': out of shared memory",
				      name);
	qs = rte_zmalloc("tw_queue_slot", sizeof(*qs), RTE_CACHE_LINE_SIZE);
	if (qs == NULL)
		return tw_broker_fail(err, -ENOMEM, "cannot allocate queue '%s': out of shared memory", name);
	/*
	 * MP/MC: io lcores produce, every worker consuming the queue competes.
	 * Rings grow as they fill (tw_qring.h): a queue takes memory for what
	 * it holds, not for its max-length. A priority queue's limit is a
	 * count over its rings (tw_enqueue.c); its levels hold at most
	 * TW_PRIORITY_LEVEL_LEN each and spill into lower ones when full.
	 */
	qs->ring = tw_qring_create(max_length);
	for (unsigned p = 0; p < spec->max_priority && qs->ring != NULL; p++) {
		qs->levels[p] = tw_qring_create(RTE_MIN(max_length, TW_PRIORITY_LEVEL_LEN));
		if (qs->levels[p] == NULL)
			break;
	}
	if (qs->ring == NULL || (spec->max_priority != 0 && qs->levels[spec->max_priority - 1] == NULL)) {
		tw_broker_queue_free(b, qs);
		return tw_broker_fail(err, -ENOMEM, "cannot create the rings of queue '%s': out of shared memory",
				      name);
	}
	qs->max_priority = spec->max_priority;
	qs->max_bytes = spec->max_bytes;
	qs->durable = durable;
	qs->delivery_limit = (uint8_t)delivery_limit;
	qs->consumers = spec->consumers;
	__atomic_store_n(tw_qbytes(b->sh, (uint32_t)s), 0, __ATOMIC_RELAXED);
	qs->gen = 1;
	snprintf(qs->name, sizeof(qs->name), "%s", name);
	qs->max_length = max_length;
	qs->overflow = spec->overflow;
	qs->message_ttl_ms = spec->message_ttl_ms;
	snprintf(qs->dlx, sizeof(qs->dlx), "%s", dlx);
	qs->has_dl_key = spec->dl_key != NULL;
	snprintf(qs->dl_key, sizeof(qs->dl_key), "%s", spec->dl_key != NULL ? spec->dl_key : "");
	{
		struct tw_broker_queue_counts c;

		tw_broker_queue_sums(b->sh, (uint32_t)s, &c);
		qs->base_published = c.published;
		qs->base_delivered = c.delivered;
		qs->base_rejected = c.rejected;
		qs->base_completed = c.completed;
		qs->base_dropped = c.dropped;
		qs->base_expired = c.expired;
		qs->base_dead_lettered = c.dead_lettered;
		qs->base_nack_no_resources = c.nack_no_resources;
		qs->base_redelivered = c.redelivered;
		b->publish_rate[s] = b->deliver_rate[s] = 0;
	}
	if (tw_broker_ix_add(&b->queue_ix, name_hash(name), (uint32_t)s) != 0) {
		ret = tw_broker_fail(err, -ENOMEM, "out of memory");
		goto undo;
	}
	/* release: readers of the slot (telemetry, status) see its fields complete */
	__atomic_store_n(&b->sh->queues[s], qs, __ATOMIC_RELEASE);
	b->queue_slot_low = (uint32_t)s + 1;
	ret = tw_broker_publish_or_defer(b, NULL, NULL, err);
	if (ret != 0) {
		tw_broker_ix_del(&b->queue_ix, name_hash(name), (uint32_t)s);
		b->queue_slot_low = (uint32_t)s;
		/* no table names it: nothing reaches its rings */
		b->sh->queues[s] = NULL;
undo:
		tw_broker_queue_free(b, qs);
	}
	return ret;
}

/* Remove the bindings from or to an object that goes away. */
static void
drop_bindings(struct tw_broker *b, const char *source, const char *dest, uint8_t dest_type)
{
	for (uint32_t i = b->n_bindings; i-- > 0;) {
		const struct tw_def_binding *x = &b->bindings[i];

		if ((source != NULL && strcmp(x->source, source) == 0) ||
		    (dest != NULL && x->dest_type == dest_type && strcmp(x->destination, dest) == 0))
			binding_remove(b, i);
	}
}

/*
 * A deleted queue is no longer held for remote consumers (Subscribe.hold):
 * a queue declared later in its slot starts with worker lcores serving it.
 * Called once the routing table without the queue is published, so no
 * subscription can hold it again. No table: an engine without consumers.
 */
static void
release_hold(int slot)
{
	const struct rte_memzone *mz = rte_memzone_lookup(TW_RC_QUEUES_MZ);

	if (mz != NULL)
		__atomic_store_n(&((struct tw_rc_queues *)mz->addr)->held[slot], NULL,
				 __ATOMIC_RELAXED);
}

uint32_t
tw_broker_queue_remote_consumers(const struct tw_rc_queues *rq, uint32_t slot)
{
	if (rq == NULL || slot >= TW_MAX_QUEUES)
		return 0;
	return __atomic_load_n(&rq->consumers[slot], __ATOMIC_RELAXED);
}

const struct tw_rc_queues *
tw_broker_rc_queues(void)
{
	const struct rte_memzone *mz = rte_memzone_lookup(TW_RC_QUEUES_MZ);

	return mz != NULL ? mz->addr : NULL;
}

int
tw_broker_queue_hold(struct tw_broker *b, const char *name, char *err)
{
	int s = tw_broker_queue_find(b, name);
	const struct rte_memzone *mz = rte_memzone_lookup(TW_RC_QUEUES_MZ);

	if (s < 0)
		return tw_broker_fail(err, -ENOENT, "no queue '%s'", name);
	/* no table: an engine without remote consumers could never serve it */
	if (mz == NULL)
		return tw_broker_fail(err, -ENOTSUP, "the engine takes no remote consumers");
	__atomic_store_n(&((struct tw_rc_queues *)mz->addr)->held[s], b->sh->queues[s]->ring,
			 __ATOMIC_RELAXED);
	return 0;
}

int
tw_broker_queue_release(struct tw_broker *b, const char *name, bool *was_held, char *err)
{
	int s = tw_broker_queue_find(b, name);
	const struct rte_memzone *mz = rte_memzone_lookup(TW_RC_QUEUES_MZ);

	*was_held = false;
	if (s < 0)
		return tw_broker_fail(err, -ENOENT, "no queue '%s'", name);
	if (mz == NULL)
		return 0; /* an engine without remote consumers holds nothing */
	*was_held = tw_broker_queue_held(b, s);
	/* a consumer subscribed with hold from now on holds it again */
	release_hold(s);
	return 0;
}

bool
tw_broker_queue_held(const struct tw_broker *b, int slot)
{
	const struct tw_rc_queues *rq = tw_broker_rc_queues();
	const struct tw_queue_slot *qs;

	if (rq == NULL || slot < 0 || slot >= TW_MAX_QUEUES)
		return false;
	qs = b->sh->queues[slot];
	return qs != NULL && __atomic_load_n(&rq->held[slot], __ATOMIC_RELAXED) == qs->ring;
}

int
tw_broker_queue_delete(struct tw_broker *b, const char *name, uint64_t *discarded, char *err)
{
	int s = tw_broker_queue_find(b, name), ret;
	struct tw_queue_slot *dead;
	uint64_t failed, handed;

	*discarded = 0;
	if (s < 0)
		return tw_broker_fail(err, -ENOENT, "no queue '%s'", name);
	/* Its bindings go with it (AMQP); tasks still queued are released after the grace period. */
	drop_bindings(b, NULL, name, TW_DEST_QUEUE);
	dead = b->sh->queues[s];
	tw_broker_ix_del(&b->queue_ix, name_hash(name), (uint32_t)s);
	/* the slot is free for the model now; its memory goes after the grace period */
	__atomic_store_n(&b->sh->queues[s], NULL, __ATOMIC_RELEASE);
	if ((uint32_t)s < b->queue_slot_low)
		b->queue_slot_low = (uint32_t)s;
	failed = __atomic_load_n(&b->sh->journal.done_failed, __ATOMIC_ACQUIRE);
	handed = b->sh->journal.done_handed;
	ret = tw_broker_publish_or_defer(b, dead, discarded, err);
	if (ret == 0)
		release_hold(s);
	/* its durable tasks ended in the journal (those drained now, not in a batch) */
	if (ret == 0 && (b->sh->journal.done_handed != handed || b->journal_drops_lost != 0))
		ret = tw_broker_journal_settle(b, failed, err);
	return ret;
}

int
tw_broker_queue_purge(struct tw_broker *b, const char *name, uint64_t *purged, char *err)
{
	int s = tw_broker_queue_find(b, name);
	uint64_t failed, handed;

	*purged = 0;
	if (s < 0)
		return tw_broker_fail(err, -ENOENT, "no queue '%s'", name);
	failed = __atomic_load_n(&b->sh->journal.done_failed, __ATOMIC_ACQUIRE);
	handed = b->sh->journal.done_handed;
	/* The rings are multi-consumer: dequeuing here competes safely with workers. */
	*purged = tw_broker_drain_ring(b, b->sh->queues[s]->ring);
	for (unsigned p = 0; p < b->sh->queues[s]->max_priority; p++)
		*purged += tw_broker_drain_ring(b, b->sh->queues[s]->levels[p]);
	/* answered once its durable tasks ended in the journal: a crash does not bring them back */
	if (b->sh->journal.done_handed != handed || b->journal_drops_lost != 0)
		return tw_broker_journal_settle(b, failed, err);
	return 0;
}

int
tw_broker_exchange_declare(struct tw_broker *b, const struct tw_broker_exchange_spec *spec, char *err)
{
	const char *name = spec->name, *alt = spec->alternate != NULL ? spec->alternate : "";
	int t = tw_exchange_type_parse(spec->type), i, ret;
	struct tw_cidr allow[TW_MAX_ALLOW];
	struct tw_def_exchange *e;

	ret = check_name("exchange", name, err);
	if (ret != 0)
		return name[0] == '\0' ? ERR("the default exchange \"\" always exists") : ret;
	if (t < 0)
		return ERR("unknown exchange type '%s' (direct, fanout, topic, headers)", spec->type);
	if (alt[0] != '\0' && (ret = check_name("alternate exchange", alt, err)) != 0)
		return ret;
	if (spec->n_allow > TW_MAX_ALLOW)
		return ERR("more than %d source ranges for exchange '%s'", TW_MAX_ALLOW, name);
	for (size_t k = 0; k < spec->n_allow; k++)
		if (tw_cidr_parse(spec->allow[k], &allow[k]) != 0)
			return ERR("source range '%.40s' is not A.B.C.D/N (host bits zero)",
				   spec->allow[k]);
	i = tw_broker_exchange_find(b, name);
	if (i >= 0) {
		e = &b->exchanges[i];
		/* AMQP: re-declaring with other properties is refused, not applied */
		if (e->type != t || strcmp(e->alternate, alt) != 0 ||
		    !!(e->flags & TW_EX_F_INTERNAL) != spec->internal || e->n_allow != spec->n_allow ||
		    memcmp(e->allow, allow, sizeof(allow[0]) * spec->n_allow) != 0)
			return ERR("exchange '%s' exists as %s%s%s%s; delete it first to change it", name,
				   tw_exchange_type_name(e->type),
				   e->flags & TW_EX_F_INTERNAL ? " internal" : "",
				   e->alternate[0] ? " with alternate " : "", e->alternate);
		return 0;
	}
	if (b->n_exchanges == TW_MAX_EXCHANGES - 1)
		return ERR("too many exchanges (limit %d)", TW_MAX_EXCHANGES - 1);
	if (exchanges_room(b) != 0)
		return tw_broker_fail(err, -ENOMEM, "out of memory");
	e = &b->exchanges[b->n_exchanges];
	memset(e, 0, sizeof(*e));
	e->slot = exchange_free_slot(b);
	ret = tw_broker_counters_reserve_exchange(b->sh, e->slot);
	if (ret != 0) {
		b->exchange_slot_low = e->slot;
		return tw_broker_fail(err, ret, "cannot allocate counters for exchange '%s': out of shared memory",
				      name);
	}
	{
		/* its counters start at zero: from the slot's sums now */
		struct tw_exchange_base *base = tw_broker_exchange_base(b->sh, e->slot);

		tw_broker_exchange_sums(b->sh, e->slot, &base->published, &base->routed, &base->unroutable);
	}
	snprintf(e->name, TW_NAME_MAX, "%s", name);
	snprintf(e->alternate, TW_NAME_MAX, "%s", alt);
	e->type = (uint8_t)t;
	e->flags = spec->internal ? TW_EX_F_INTERNAL : 0;
	e->n_allow = (uint8_t)spec->n_allow;
	memcpy(e->allow, allow, sizeof(allow[0]) * spec->n_allow);
	if (tw_broker_ix_add(&b->exchange_ix, name_hash(name), b->n_exchanges) != 0) {
		b->exchange_slot_low = e->slot;
		return tw_broker_fail(err, -ENOMEM, "out of memory");
	}
	b->exchange_slot_used[e->slot] = 1;
	b->n_exchanges++;
	ret = tw_broker_publish_or_defer(b, NULL, NULL, err);
	if (ret != 0)
		exchange_remove(b, b->n_exchanges - 1);
	return ret;
}

/* Room for one more exchange in b->exchanges. @return 0 or -ENOMEM. */
static int
exchanges_room(struct tw_broker *b)
{
	uint32_t cap;
	void *p;

	if (b->n_exchanges < b->cap_exchanges)
		return 0;
	cap = b->cap_exchanges ? b->cap_exchanges * 2 : 64;
	p = realloc(b->exchanges, sizeof(*b->exchanges) * cap);
	if (p == NULL)
		return -ENOMEM;
	b->exchanges = p;
	b->cap_exchanges = cap;
	return 0;
}

/* The lowest counter slot no live exchange holds (slot 0 is the default exchange's). */
static uint32_t
exchange_free_slot(struct tw_broker *b)
{
	for (uint32_t s = b->exchange_slot_low > 1 ? b->exchange_slot_low : 1; s < TW_MAX_EXCHANGES; s++)
		if (!b->exchange_slot_used[s]) {
			b->exchange_slot_low = s + 1;
			return s;
		}
	return 0; /* cannot happen: there are fewer exchanges than slots */
}

/* Forget exchange i (its bindings are gone): the last one takes its place. */
static void
exchange_remove(struct tw_broker *b, uint32_t i)
{
	uint32_t last = b->n_exchanges - 1;
	uint32_t slot = b->exchanges[i].slot;

	tw_broker_ix_del(&b->exchange_ix, name_hash(b->exchanges[i].name), i);
	b->exchange_slot_used[slot] = 0;
	if (slot < b->exchange_slot_low)
		b->exchange_slot_low = slot;
	if (i != last) {
		b->exchanges[i] = b->exchanges[last];
		tw_broker_ix_move(&b->exchange_ix, name_hash(b->exchanges[i].name), last, i);
	}
	b->n_exchanges--;
}

int
tw_broker_exchange_delete(struct tw_broker *b, const char *name, char *err)
{
	int i = tw_broker_exchange_find(b, name);

	if (name[0] == '\0')
		return ERR("the default exchange cannot be deleted");
	if (i < 0)
		return tw_broker_fail(err, -ENOENT, "no exchange '%s'", name);
	/* Its bindings, both ways, go with it; alternates naming it stay (and are ignored). */
	drop_bindings(b, name, name, TW_DEST_EXCHANGE);
	exchange_remove(b, (uint32_t)i);
	return tw_broker_publish_or_defer(b, NULL, NULL, err);
}

int
tw_broker_bind(struct tw_broker *b, const struct tw_def_binding *spec, char *err)
{
	struct tw_def_binding *x;
	struct tw_def_arg *args = NULL;
	int ret;

	if (spec->source[0] == '\0')
		return ERR("the default exchange's bindings are implicit (routing key = queue name)");
	if (tw_broker_exchange_find(b, spec->source) < 0)
		return tw_broker_fail(err, -ENOENT, "no exchange '%s'", spec->source);
	if (spec->dest_type == TW_DEST_EXCHANGE) {
		if (tw_broker_exchange_find(b, spec->destination) < 0)
			return tw_broker_fail(err, -ENOENT, "no exchange '%s'", spec->destination);
	} else if (tw_broker_queue_find(b, spec->destination) < 0) {
		return tw_broker_fail(err, -ENOENT, "no queue '%s'", spec->destination);
	}
	if (strnlen(spec->key, TW_NAME_MAX) >= TW_NAME_MAX)
		return ERR("routing key longer than %d bytes", TW_NAME_MAX - 1);
	if (spec->n_args > TW_MAX_BINDING_ARGS)
		return ERR("more than %d binding arguments", TW_MAX_BINDING_ARGS);
	if (binding_find(b, spec) >= 0)
		return 0;
	if (b->n_bindings == TW_MAX_BINDINGS)
		return ERR("too many bindings (limit %d)", TW_MAX_BINDINGS);
	if (b->n_bindings == b->cap_bindings) {
		uint32_t cap = b->cap_bindings ? b->cap_bindings * 2 : 64;
		void *p = realloc(b->bindings, sizeof(*b->bindings) * cap);

		if (p == NULL)
			return ERR("out of memory");
		b->bindings = p;
		b->cap_bindings = cap;
	}
	if (spec->n_args != 0) {
		args = malloc(sizeof(*args) * spec->n_args);
		if (args == NULL)
			return ERR("out of memory");
		memcpy(args, spec->args, sizeof(*args) * spec->n_args);
	}
	x = &b->bindings[b->n_bindings];
	*x = *spec;
	x->args = args;
	if (tw_broker_ix_add(&b->binding_ix, binding_hash(x), b->n_bindings) != 0) {
		free(args);
		return ERR("out of memory");
	}
	b->n_bindings++;
	ret = tw_broker_publish_or_defer(b, NULL, NULL, err);
	if (ret != 0)
		binding_remove(b, b->n_bindings - 1);
	return ret;
}

int
tw_broker_unbind(struct tw_broker *b, const struct tw_def_binding *spec, char *err)
{
	int i = binding_find(b, spec);

	if (i < 0)
		return tw_broker_fail(err, -ENOENT, "no binding %s -> %s %s with key '%s'%s", spec->source,
			    spec->dest_type == TW_DEST_EXCHANGE ? "exchange" : "queue",
			    spec->destination, spec->key, spec->n_args ? " and these arguments" : "");
	binding_remove(b, (uint32_t)i);
	return tw_broker_publish_or_defer(b, NULL, NULL, err);
}

int
tw_broker_attach(struct tw_broker *b, struct tw_shared *sh, char *err)
{
	const struct tw_routes *rt = sh->routes;

	memset(b, 0, sizeof(*b));
	b->sh = sh;
	b->grace_timeout_ms = 2000;
	b->exchange_slot_used[0] = 1; /* the default exchange's */
	/* the default exchange's counters: tw-dataplane counts into slot 0 before any declare */
	if (tw_broker_counters_reserve_exchange(sh, 0) != 0)
		return ERR("cannot allocate exchange counters: out of shared memory");
	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++)
		if (sh->queues[s] != NULL &&
		    tw_broker_ix_add(&b->queue_ix, name_hash(sh->queues[s]->name), s) != 0)
			return ERR("out of memory");
	if (rt == NULL)
		return 0;
	/* Re-attach after a restart: the live table is the truth. */
	for (uint32_t i = 1; i < rt->n_exchanges; i++) {
		const struct tw_route_exchange *re = &rt->exchanges[i];
		struct tw_def_exchange *e;

		if (exchanges_room(b) != 0)
			return ERR("out of memory");
		e = &b->exchanges[b->n_exchanges++];
		memset(e, 0, sizeof(*e));

		snprintf(e->name, TW_NAME_MAX, "%s", re->name);
		e->type = re->type;
		e->flags = re->flags;
		e->slot = re->slot;
		e->n_allow = re->n_allow;
		memcpy(e->allow, re->allow, sizeof(e->allow));
		if (re->alternate >= 0)
			snprintf(e->alternate, TW_NAME_MAX, "%s", rt->exchanges[re->alternate].name);
		b->exchange_slot_used[e->slot] = 1;
		if (tw_broker_ix_add(&b->exchange_ix, name_hash(e->name), b->n_exchanges - 1) != 0)
			return ERR("out of memory");
	}
	if (rt->n_bindings != 0) {
		b->bindings = calloc(rt->n_bindings, sizeof(*b->bindings));
		if (b->bindings == NULL)
			return ERR("out of memory");
		b->cap_bindings = rt->n_bindings;
	}
	for (uint32_t i = 0; i < rt->n_bindings; i++) {
		const struct tw_route_binding *rb = &rt->bindings[i];
		struct tw_def_binding *x = &b->bindings[i];
		struct tw_def_arg *args = NULL;

		snprintf(x->source, TW_NAME_MAX, "%s", rt->exchanges[rb->exchange].name);
		snprintf(x->destination, TW_NAME_MAX, "%s",
			 rb->dest_type == TW_DEST_EXCHANGE ? rt->exchanges[rb->dest].name
							   : rt->queues[rb->dest].name);
		snprintf(x->key, TW_NAME_MAX, "%s", rb->key);
		x->dest_type = rb->dest_type;
		x->x_match = rb->x_match;
		if (rb->n_args != 0) {
			args = calloc(rb->n_args, sizeof(*args));
			if (args == NULL)
				return ERR("out of memory");
			for (uint32_t a = 0; a < rb->n_args; a++) {
				const struct tw_route_arg *ra = &rt->args[rb->first_arg + a];

				memcpy(args[a].key, rt->strings + ra->key_off, ra->key_len);
				memcpy(args[a].value, rt->strings + ra->val_off, ra->val_len);
			}
		}
		x->n_args = rb->n_args;
		x->args = args;
		b->n_bindings = i + 1;
		if (tw_broker_ix_add(&b->binding_ix, binding_hash(x), i) != 0)
			return ERR("out of memory");
	}
	return 0;
}

void
tw_broker_detach(struct tw_broker *b)
{
	for (uint32_t i = 0; i < b->n_bindings; i++)
		free((void *)b->bindings[i].args);
	free(b->bindings);
	free(b->exchanges);
	free(b->dead);
	/* what the lcores may still read stays: the engine frees it when it exits */
	if (b->sh != NULL)
		tw_qlimbo_release(&b->limbo, &b->sh->qspares, b->sh->qsbr);
	free(b->limbo.v);
	tw_broker_ix_free(&b->queue_ix);
	tw_broker_ix_free(&b->exchange_ix);
	tw_broker_ix_free(&b->binding_ix);
	memset(b, 0, sizeof(*b));
}
