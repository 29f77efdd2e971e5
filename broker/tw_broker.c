/*
 * tw-control's broker model and RCU publication: see ctl_broker.h.
 *
 * Publication order (the contract of tw_shared.h):
 *  1. build a complete new table in shared memory (rte_zmalloc);
 *  2. store its pointer with release order (pairs with the acquire load
 *     at the top of every lcore pass, tw_lcore_loop.c);
 *  3. wait for a grace period: every polling lcore has passed a quiescent
 *     state (or is offline) after the store, so none still reads the old
 *     table;
 *  4. free the old table, and only then drain and free rings of deleted
 *     queues (no lcore can reach them any more).
 * The wait is bounded (grace_timeout_ms) and also stops when the primary
 * is gone: a table whose grace period never completed is leaked, counted,
 * never freed under a reader.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "ctl_broker.h"
#include "tw_task.h"

#define ERR(...) fail(err, -EINVAL, __VA_ARGS__)

/* Write the reply message and return code (a negative errno). */
static int __attribute__((format(printf, 3, 4)))
fail(char *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, CTL_ERR_MAX, fmt, ap);
	va_end(ap);
	return code;
}

static void *
shm_zalloc(size_t size, void *arg)
{
	(void)arg;
	return rte_zmalloc("tw_routes", size, RTE_CACHE_LINE_SIZE);
}

static void
shm_free(void *p, void *arg)
{
	(void)arg;
	rte_free(p);
}

static const struct tw_alloc_ops shm_ops = { shm_zalloc, shm_free, NULL };

static uint16_t exchange_free_slot(const struct ctl_broker *b);

uint32_t
ctl_exchange_list(const struct ctl_broker *b, struct ctl_exchange_ref *out, uint32_t max)
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

void
ctl_exchange_sums(const struct tw_shared *sh, uint16_t slot, uint64_t *published,
		  uint64_t *routed, uint64_t *unroutable)
{
	*published = *routed = *unroutable = 0;
	for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++) {
		const struct tw_lcore_stats *st = &sh->stats[i];

		*published += __atomic_load_n(&st->x_published[slot], __ATOMIC_RELAXED);
		*routed += __atomic_load_n(&st->x_routed[slot], __ATOMIC_RELAXED);
		*unroutable += __atomic_load_n(&st->x_unroutable[slot], __ATOMIC_RELAXED);
	}
}

void
ctl_queue_sums(const struct tw_shared *sh, uint32_t slot, struct ctl_queue_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++) {
		const struct tw_lcore_stats *st = &sh->stats[i];

		c->published += __atomic_load_n(&st->q_published[slot], __ATOMIC_RELAXED);
		c->delivered += __atomic_load_n(&st->q_delivered[slot], __ATOMIC_RELAXED);
		c->rejected += __atomic_load_n(&st->q_rejected[slot], __ATOMIC_RELAXED);
		c->completed += __atomic_load_n(&st->q_completed[slot], __ATOMIC_RELAXED);
		c->dropped += __atomic_load_n(&st->q_dropped[slot], __ATOMIC_RELAXED);
		c->expired += __atomic_load_n(&st->q_expired[slot], __ATOMIC_RELAXED);
		c->dead_lettered += __atomic_load_n(&st->q_dead_lettered[slot], __ATOMIC_RELAXED);
		c->nack_no_resources +=
			__atomic_load_n(&st->q_nack_no_resources[slot], __ATOMIC_RELAXED);
	}
}

void
ctl_queue_counts(const struct tw_shared *sh, uint32_t slot, struct ctl_queue_counts *c)
{
	const struct tw_queue_slot *qs = &sh->queues[slot];

	ctl_queue_sums(sh, slot, c);
	c->published -= qs->base_published;
	c->delivered -= qs->base_delivered;
	c->rejected -= qs->base_rejected;
	c->completed -= qs->base_completed;
	c->dropped -= qs->base_dropped;
	c->expired -= qs->base_expired;
	c->dead_lettered -= qs->base_dead_lettered;
	c->nack_no_resources -= qs->base_nack_no_resources;
}

void
ctl_broker_sample_rates(struct ctl_broker *b, uint64_t now_ms)
{
	uint64_t dt = now_ms - b->rate_sample_ms;

	if (b->rate_sample_ms != 0 && dt < 1000)
		return;
	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++) {
		struct ctl_queue_counts c;

		if (b->sh->queues[s].ring == NULL)
			continue;
		ctl_queue_sums(b->sh, s, &c);
		/* A first sample, or a slot reused since: no rate yet. */
		if (b->rate_sample_ms != 0 && c.published >= b->last_published[s] &&
		    c.delivered >= b->last_delivered[s]) {
			b->publish_rate[s] = (double)(c.published - b->last_published[s]) * 1000.0 / (double)dt;
			b->deliver_rate[s] = (double)(c.delivered - b->last_delivered[s]) * 1000.0 / (double)dt;
		}
		b->last_published[s] = c.published;
		b->last_delivered[s] = c.delivered;
	}
	b->rate_sample_ms = now_ms;
}

static bool
primary_alive(const struct tw_shared *sh)
{
	return kill(sh->primary_pid, 0) == 0 || errno == EPERM;
}

/* Wait until every lcore has been quiescent since now. @return 0 or -ETIMEDOUT. */
static int
grace_period(struct ctl_broker *b)
{
	uint64_t token = rte_rcu_qsbr_start(b->sh->qsbr);
	uint64_t deadline = rte_get_timer_cycles() + rte_get_timer_hz() * b->grace_timeout_ms / 1000;

	while (rte_rcu_qsbr_check(b->sh->qsbr, token, false) != 1) {
		if (rte_get_timer_cycles() > deadline || !primary_alive(b->sh))
			return -ETIMEDOUT;
		usleep(50);
	}
	return 0;
}

/* Release every task still in a ring (the ring is unreachable or being purged). */
static uint64_t
drain_ring(struct ctl_broker *b, struct rte_ring *r)
{
	void *v[64];
	uint64_t n = 0;
	unsigned got;

	while ((got = rte_ring_dequeue_burst(r, v, RTE_DIM(v), NULL)) != 0) {
		for (unsigned i = 0; i < got; i++) {
			struct tw_task *t = v[i];

			if (t->counts_bytes)
				__atomic_fetch_sub(&b->sh->queue_bytes[t->queue_slot].bytes, t->args_len,
						   __ATOMIC_RELAXED);
			tw_task_release(t, b->sh->task_pool);
		}
		n += got;
	}
	return n;
}

/* The rings of a deleted queue: every priority level. */
struct dead_rings {
	unsigned n;
	struct rte_ring *r[TW_MAX_PRIORITY + 1];
};

/*
 * Make the model live. @param dead  rings to drain and free once no lcore
 * can see them (queue delete), or NULL.
 */
static int
publish(struct ctl_broker *b, const struct dead_rings *dead, uint64_t *discarded, char *err)
{
	static struct tw_def_queue queues[TW_MAX_QUEUES];
	struct tw_defs d = { 0 };
	struct tw_routes *rt, *old;

	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++) {
		const struct tw_queue_slot *qs = &b->sh->queues[s];

		if (qs->ring == NULL)
			continue;
		snprintf(queues[d.n_queues].name, TW_NAME_MAX, "%s", qs->name);
		queues[d.n_queues].slot = (uint16_t)s;
		queues[d.n_queues].ring = qs->ring;
		queues[d.n_queues].max_length = qs->max_length;
		queues[d.n_queues].max_bytes = qs->max_bytes;
		queues[d.n_queues].max_priority = qs->max_priority;
		memcpy(queues[d.n_queues].levels, qs->levels, sizeof(qs->levels));
		queues[d.n_queues].overflow = qs->overflow;
		queues[d.n_queues].message_ttl_ms = qs->message_ttl_ms;
		snprintf(queues[d.n_queues].dlx, TW_NAME_MAX, "%s", qs->dlx);
		queues[d.n_queues].has_dl_key = qs->has_dl_key;
		snprintf(queues[d.n_queues].dl_key, TW_NAME_MAX, "%s", qs->dl_key);
		d.n_queues++;
	}
	d.queues = queues;
	d.n_exchanges = b->n_exchanges;
	d.exchanges = b->exchanges;
	d.n_bindings = b->n_bindings;
	d.bindings = b->bindings;
	d.version = b->sh->routes_version + 1;
	d.tsc_hz = rte_get_tsc_hz();

	rt = tw_routes_build(&d, &shm_ops);
	if (rt == NULL)
		return fail(err, -errno, "cannot build routing table: %s", strerror(errno));
	old = b->sh->routes;
	/* release: pairs with the acquire load in tw_lcore_loop.c loop_body() */
	__atomic_store_n(&b->sh->routes, rt, __ATOMIC_RELEASE);
	__atomic_store_n(&b->sh->routes_version, d.version, __ATOMIC_RELEASE);
	if (grace_period(b) != 0) {
		/* Some lcore may still read old (or the dead rings): never free them. */
		b->leaked_tables++;
		fprintf(stderr, "tw-control: grace period timed out; old routing table kept\n");
		return 0;
	}
	tw_routes_free(old, &shm_ops);
	for (unsigned i = 0; dead != NULL && i < dead->n; i++) {
		uint64_t n = drain_ring(b, dead->r[i]);

		if (discarded != NULL)
			*discarded += n;
		rte_ring_free(dead->r[i]);
	}
	return 0;
}

static int
check_name(const char *what, const char *name, char *err)
{
	size_t n = strlen(name);

	if (n == 0)
		return ERR("%s name is empty", what);
	if (n >= TW_NAME_MAX)
		return ERR("%s name longer than %d bytes", what, TW_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return ERR("%s name contains a control character", what);
	return 0;
}

uint64_t
ctl_queue_ready(const struct tw_queue_slot *qs)
{
	uint64_t n = rte_ring_count(qs->ring);

	for (unsigned p = 0; p < qs->max_priority; p++)
		n += rte_ring_count(qs->levels[p]);
	return n;
}

int
ctl_queue_find(const struct ctl_broker *b, const char *name)
{
	for (int s = 0; s < TW_MAX_QUEUES; s++)
		if (b->sh->queues[s].ring != NULL && strcmp(b->sh->queues[s].name, name) == 0)
			return s;
	return -1;
}

static int
exchange_find(const struct ctl_broker *b, const char *name)
{
	for (uint32_t i = 0; i < b->n_exchanges; i++)
		if (strcmp(b->exchanges[i].name, name) == 0)
			return (int)i;
	return -1;
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

static int
binding_find(const struct ctl_broker *b, const struct tw_def_binding *spec)
{
	for (uint32_t i = 0; i < b->n_bindings; i++) {
		const struct tw_def_binding *x = &b->bindings[i];

		if (strcmp(x->source, spec->source) == 0 && x->dest_type == spec->dest_type &&
		    strcmp(x->destination, spec->destination) == 0 &&
		    strcmp(x->key, spec->key) == 0 && same_args(x, spec))
			return (int)i;
	}
	return -1;
}

/* Remove binding i (its argument copy too), keeping the others' order. */
static void
binding_remove(struct ctl_broker *b, uint32_t i)
{
	free((void *)b->bindings[i].args);
	memmove(&b->bindings[i], &b->bindings[i + 1], sizeof(b->bindings[0]) * (b->n_bindings - i - 1));
	b->n_bindings--;
}

const char *
ctl_overflow_name(uint8_t overflow)
{
	return overflow == TW_OVERFLOW_DROP_HEAD		? "drop-head"
	       : overflow == TW_OVERFLOW_REJECT_PUBLISH_DLX ? "reject-publish-dlx"
							    : "reject-publish";
}

int
ctl_overflow_parse(const char *name)
{
	if (name[0] == '\0' || strcmp(name, "reject-publish") == 0)
		return TW_OVERFLOW_REJECT_PUBLISH;
	if (strcmp(name, "drop-head") == 0)
		return TW_OVERFLOW_DROP_HEAD;
	if (strcmp(name, "reject-publish-dlx") == 0)
		return TW_OVERFLOW_REJECT_PUBLISH_DLX;
	return -1;
}

int
ctl_queue_declare(struct ctl_broker *b, const struct ctl_queue_spec *spec, char *err)
{
	const char *name = spec->name, *dlx = spec->dlx != NULL ? spec->dlx : "";
	uint32_t max_length = spec->max_length;
	struct tw_queue_slot *qs = NULL;
	char ring_name[RTE_RING_NAMESIZE];
	struct rte_ring *r;
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
	if (strlen(dlx) >= TW_NAME_MAX || (spec->dl_key != NULL && strlen(spec->dl_key) >= TW_NAME_MAX))
		return ERR("dead-letter exchange or routing key longer than %d bytes", TW_NAME_MAX - 1);
	s = ctl_queue_find(b, name);
	if (s >= 0) {
		const struct tw_queue_slot *e = &b->sh->queues[s];

		/* Re-declaring with the same arguments is a no-op, as in AMQP; other arguments are refused. */
		if ((max_length != 0 && max_length != e->max_length) || spec->overflow != e->overflow ||
		    spec->message_ttl_ms != e->message_ttl_ms || strcmp(dlx, e->dlx) != 0 ||
		    spec->max_priority != e->max_priority || spec->max_bytes != e->max_bytes ||
		    (spec->dl_key != NULL) != e->has_dl_key ||
		    (spec->dl_key != NULL && strcmp(spec->dl_key, e->dl_key) != 0))
			return ERR("queue '%s' exists with other arguments (max-length %u, overflow %s, "
				   "message-ttl %u ms, dead-letter exchange '%s', max-priority %u)",
				   name, e->max_length, ctl_overflow_name(e->overflow), e->message_ttl_ms,
				   e->dlx, e->max_priority);
		return 0;
	}
	for (s = 0; s < TW_MAX_QUEUES; s++)
		if (b->sh->queues[s].ring == NULL) {
			qs = &b->sh->queues[s];
			break;
		}
	if (qs == NULL)
		return ERR("too many queues (limit %d)", TW_MAX_QUEUES);
	if (max_length == 0)
		max_length = TW_QUEUE_DEFAULT_LEN;
	snprintf(ring_name, sizeof(ring_name), "tw_q%d_%u", s, qs->gen + 1);
	/* MP/MC: io lcores produce, every worker consuming the queue competes. */
	r = rte_ring_create(ring_name, max_length, SOCKET_ID_ANY, RING_F_EXACT_SZ);
	if (r == NULL)
		return fail(err, -ENOMEM, "cannot create ring for queue '%s': %s", name,
			    rte_strerror(rte_errno));
	/* One more ring per priority level, each able to hold the whole queue. */
	memset(qs->levels, 0, sizeof(qs->levels));
	for (unsigned p = 0; p < spec->max_priority; p++) {
		snprintf(ring_name, sizeof(ring_name), "tw_q%d_%u_p%u", s, qs->gen + 1, p + 1);
		qs->levels[p] = rte_ring_create(ring_name, max_length, SOCKET_ID_ANY, RING_F_EXACT_SZ);
		if (qs->levels[p] == NULL) {
			ret = fail(err, -ENOMEM, "cannot create priority ring for queue '%s': %s",
				   name, rte_strerror(rte_errno));
			while (p-- > 0)
				rte_ring_free(qs->levels[p]);
			rte_ring_free(r);
			return ret;
		}
	}
	qs->max_priority = spec->max_priority;
	qs->max_bytes = spec->max_bytes;
	__atomic_store_n(&b->sh->queue_bytes[s].bytes, 0, __ATOMIC_RELAXED);
	qs->gen++;
	snprintf(qs->name, sizeof(qs->name), "%s", name);
	qs->max_length = max_length;
	qs->overflow = spec->overflow;
	qs->message_ttl_ms = spec->message_ttl_ms;
	snprintf(qs->dlx, sizeof(qs->dlx), "%s", dlx);
	qs->has_dl_key = spec->dl_key != NULL;
	snprintf(qs->dl_key, sizeof(qs->dl_key), "%s", spec->dl_key != NULL ? spec->dl_key : "");
	{
		struct ctl_queue_counts c;

		ctl_queue_sums(b->sh, (uint32_t)s, &c);
		qs->base_published = c.published;
		qs->base_delivered = c.delivered;
		qs->base_rejected = c.rejected;
		qs->base_completed = c.completed;
		qs->base_dropped = c.dropped;
		qs->base_expired = c.expired;
		qs->base_dead_lettered = c.dead_lettered;
		qs->base_nack_no_resources = c.nack_no_resources;
		b->publish_rate[s] = b->deliver_rate[s] = 0;
	}
	/* release: readers of the slot (telemetry, status) see its fields complete */
	__atomic_store_n(&qs->ring, r, __ATOMIC_RELEASE);
	ret = publish(b, NULL, NULL, err);
	if (ret != 0) {
		qs->ring = NULL;
		rte_ring_free(r);
		for (unsigned p = 0; p < qs->max_priority; p++)
			rte_ring_free(qs->levels[p]);
	}
	return ret;
}

/* Remove the bindings from or to an object that goes away. */
static void
drop_bindings(struct ctl_broker *b, const char *source, const char *dest, uint8_t dest_type)
{
	for (uint32_t i = b->n_bindings; i-- > 0;) {
		const struct tw_def_binding *x = &b->bindings[i];

		if ((source != NULL && strcmp(x->source, source) == 0) ||
		    (dest != NULL && x->dest_type == dest_type && strcmp(x->destination, dest) == 0))
			binding_remove(b, i);
	}
}

int
ctl_queue_delete(struct ctl_broker *b, const char *name, uint64_t *discarded, char *err)
{
	int s = ctl_queue_find(b, name);
	struct dead_rings dead = { 0 };

	*discarded = 0;
	if (s < 0)
		return fail(err, -ENOENT, "no queue '%s'", name);
	/* Its bindings go with it (AMQP); tasks still queued are released after the grace period. */
	drop_bindings(b, NULL, name, TW_DEST_QUEUE);
	dead.r[dead.n++] = b->sh->queues[s].ring;
	for (unsigned p = 0; p < b->sh->queues[s].max_priority; p++)
		dead.r[dead.n++] = b->sh->queues[s].levels[p];
	b->sh->queues[s].ring = NULL;
	return publish(b, &dead, discarded, err);
}

int
ctl_queue_purge(struct ctl_broker *b, const char *name, uint64_t *purged, char *err)
{
	int s = ctl_queue_find(b, name);

	*purged = 0;
	if (s < 0)
		return fail(err, -ENOENT, "no queue '%s'", name);
	/* The rings are multi-consumer: dequeuing here competes safely with workers. */
	*purged = drain_ring(b, b->sh->queues[s].ring);
	for (unsigned p = 0; p < b->sh->queues[s].max_priority; p++)
		*purged += drain_ring(b, b->sh->queues[s].levels[p]);
	return 0;
}

int
ctl_exchange_declare(struct ctl_broker *b, const struct ctl_exchange_spec *spec, char *err)
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
	i = exchange_find(b, name);
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
	if (b->n_exchanges == RTE_DIM(b->exchanges))
		return ERR("too many exchanges (limit %d)", TW_MAX_EXCHANGES - 1);
	e = &b->exchanges[b->n_exchanges];
	memset(e, 0, sizeof(*e));
	e->slot = exchange_free_slot(b);
	{
		/* its counters start at zero: from the slot's sums now */
		struct tw_exchange_base *base = &b->sh->exchange_base[e->slot];

		ctl_exchange_sums(b->sh, e->slot, &base->published, &base->routed, &base->unroutable);
	}
	snprintf(e->name, TW_NAME_MAX, "%s", name);
	snprintf(e->alternate, TW_NAME_MAX, "%s", alt);
	e->type = (uint8_t)t;
	e->flags = spec->internal ? TW_EX_F_INTERNAL : 0;
	e->n_allow = (uint8_t)spec->n_allow;
	memcpy(e->allow, allow, sizeof(allow[0]) * spec->n_allow);
	b->n_exchanges++;
	ret = publish(b, NULL, NULL, err);
	if (ret != 0)
		b->n_exchanges--;
	return ret;
}

/* The lowest counter slot no live exchange holds (slot 0 is the default exchange's). */
static uint16_t
exchange_free_slot(const struct ctl_broker *b)
{
	for (uint16_t s = 1; s < TW_MAX_EXCHANGES; s++) {
		bool used = false;

		for (uint32_t i = 0; i < b->n_exchanges && !used; i++)
			used = b->exchanges[i].slot == s;
		if (!used)
			return s;
	}
	return 0; /* cannot happen: there are fewer exchanges than slots */
}

int
ctl_exchange_delete(struct ctl_broker *b, const char *name, char *err)
{
	int i = exchange_find(b, name);

	if (name[0] == '\0')
		return ERR("the default exchange cannot be deleted");
	if (i < 0)
		return fail(err, -ENOENT, "no exchange '%s'", name);
	/* Its bindings, both ways, go with it; alternates naming it stay (and are ignored). */
	drop_bindings(b, name, name, TW_DEST_EXCHANGE);
	memmove(&b->exchanges[i], &b->exchanges[i + 1],
		sizeof(b->exchanges[0]) * (b->n_exchanges - (uint32_t)i - 1));
	b->n_exchanges--;
	return publish(b, NULL, NULL, err);
}

int
ctl_bind(struct ctl_broker *b, const struct tw_def_binding *spec, char *err)
{
	struct tw_def_binding *x;
	struct tw_def_arg *args = NULL;
	int ret;

	if (spec->source[0] == '\0')
		return ERR("the default exchange's bindings are implicit (routing key = queue name)");
	if (exchange_find(b, spec->source) < 0)
		return fail(err, -ENOENT, "no exchange '%s'", spec->source);
	if (spec->dest_type == TW_DEST_EXCHANGE) {
		if (exchange_find(b, spec->destination) < 0)
			return fail(err, -ENOENT, "no exchange '%s'", spec->destination);
	} else if (ctl_queue_find(b, spec->destination) < 0) {
		return fail(err, -ENOENT, "no queue '%s'", spec->destination);
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
	b->n_bindings++;
	ret = publish(b, NULL, NULL, err);
	if (ret != 0)
		binding_remove(b, b->n_bindings - 1);
	return ret;
}

int
ctl_unbind(struct ctl_broker *b, const struct tw_def_binding *spec, char *err)
{
	int i = binding_find(b, spec);

	if (i < 0)
		return fail(err, -ENOENT, "no binding %s -> %s %s with key '%s'%s", spec->source,
			    spec->dest_type == TW_DEST_EXCHANGE ? "exchange" : "queue",
			    spec->destination, spec->key, spec->n_args ? " and these arguments" : "");
	binding_remove(b, (uint32_t)i);
	return publish(b, NULL, NULL, err);
}

int
ctl_broker_attach(struct ctl_broker *b, struct tw_shared *sh, char *err)
{
	const struct tw_routes *rt = sh->routes;

	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->sh = sh;
	b->grace_timeout_ms = 2000;
	if (rt == NULL)
		return 0;
	/* Re-attach after a restart: the live table is the truth. */
	for (uint32_t i = 1; i < rt->n_exchanges; i++) {
		const struct tw_route_exchange *re = &rt->exchanges[i];
		struct tw_def_exchange *e = &b->exchanges[b->n_exchanges++];

		snprintf(e->name, TW_NAME_MAX, "%s", re->name);
		e->type = re->type;
		e->flags = re->flags;
		e->slot = re->slot;
		e->n_allow = re->n_allow;
		memcpy(e->allow, re->allow, sizeof(e->allow));
		if (re->alternate >= 0)
			snprintf(e->alternate, TW_NAME_MAX, "%s", rt->exchanges[re->alternate].name);
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
	}
	return 0;
}

void
ctl_broker_detach(struct ctl_broker *b)
{
	for (uint32_t i = 0; i < b->n_bindings; i++)
		free((void *)b->bindings[i].args);
	free(b->bindings);
	memset(b, 0, sizeof(*b));
}
