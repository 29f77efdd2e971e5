/*
 * tw-control's scheduler (see ctl_sched.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "ctl_sched.h"
#include "ctl_store.h"
#include "taskwire.pb-c.h"
#include "tw_inject.h"
#include "tw_task.h"
#include "tw_wheel.h"
#include "tw_wire.h"

#define ADVANCE_MAX 4096           /* fires per call: a backlog cannot stall the collector */
#define INJECT_RETRY_US 1000       /* inject ring full: try again this much later */

struct ctl_held {
	struct tw_wheel_node node;     /* first: the wheel hands back this pointer */
	uint64_t id;
	uint64_t due_ms;
	struct tw_inject_peer peer;
	uint32_t retries;
	char name[TW_NAME_MAX];
	uint32_t len;
	uint8_t task[];                /* the Task message to inject */
};

int
ctl_sched_init(struct ctl_sched *s, struct tw_shared *sh)
{
	struct timespec ts;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_REALTIME, &ts);
	s->sh = sh;
	s->wheel = tw_wheel_create(CTL_SCHED_TICK_US,
				   (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
	if (s->wheel == NULL || tw_idmap_init(&s->held, 1024) != 0) {
		tw_wheel_free(s->wheel);
		return -ENOMEM;
	}
	if (tw_idmap_init(&s->pubs, 64) != 0) {
		tw_idmap_free(&s->held);
		tw_wheel_free(s->wheel);
		return -ENOMEM;
	}
	s->max = CTL_SCHED_MAX_DEFAULT;
	s->max_per_publisher = CTL_SCHED_MAX_PER_PUBLISHER_DEFAULT;
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

void
ctl_sched_fini(struct ctl_sched *s)
{
	if (s->wheel == NULL)
		return;
	/* every held task is in the map; the wheel only links them */
	for (uint64_t i = 0; i <= s->held.mask; i++)
		free(s->held.vals[i]);
	tw_wheel_free(s->wheel);
	tw_idmap_free(&s->held);
	tw_idmap_free(&s->pubs);
	__atomic_store_n(&s->sh->sched_full, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->sh->n_sched_over, 0, __ATOMIC_RELAXED);
	pthread_mutex_destroy(&s->lock);
	s->wheel = NULL;
}

/*
 * Re-encode the task for its next delivery: eta cleared (it is due; the
 * io stage must not schedule it again) and the retry count it has now.
 */
static struct ctl_held *
held_from(const struct tw_task *t)
{
	Taskwire__Task *msg = taskwire__task__unpack(NULL, t->raw_len, t->raw);
	struct ctl_held *h = NULL;
	size_t len;

	if (msg == NULL)
		return NULL;
	msg->eta_ms = 0;
	msg->retries = t->retries;
	len = taskwire__task__get_packed_size(msg);
	h = malloc(sizeof(*h) + len);
	if (h != NULL) {
		memset(h, 0, sizeof(*h));
		h->len = (uint32_t)taskwire__task__pack(msg, h->task);
		h->id = t->id;
		h->due_ms = t->eta_ms;
		h->retries = t->retries;
		h->peer.mac = t->peer_mac;
		h->peer.ip = t->peer_ip;
		h->peer.port = t->peer_port;
		snprintf(h->name, sizeof(h->name), "%.*s", (int)t->name_len, t->name);
	}
	taskwire__task__free_unpacked(msg, NULL);
	return h;
}

static uint64_t
pub_key(uint32_t ip)
{
	return (uint64_t)ip | 1ull << 32; /* never 0, the map's empty key */
}

/* Publish what the lcores need to refuse new delayed tasks (tw_shared). */
static void
admission_publish(struct ctl_sched *s)
{
	__atomic_store_n(&s->sh->sched_full, s->n_held >= s->max, __ATOMIC_RELAXED);
}

/* Add ip to, or remove it from, the lcores' list of publishers at their cap. */
static void
over_list_set(struct ctl_sched *s, uint32_t ip, bool over)
{
	struct tw_shared *sh = s->sh;
	uint32_t n = sh->n_sched_over, i;

	for (i = 0; i < n && sh->sched_over_ip[i] != ip; i++)
		;
	if (over && i == n && n < TW_SCHED_OVER_MAX) {
		/* the entry first, then the count that makes lcores look at it
		 * (release: pairs with the acquire in tw_dispatch.c's sched_refuses()) */
		__atomic_store_n(&sh->sched_over_ip[n], ip, __ATOMIC_RELAXED);
		__atomic_store_n(&sh->n_sched_over, n + 1, __ATOMIC_RELEASE);
		s->publishers_at_cap = n + 1;
	} else if (!over && i < n) {
		/* the last entry moves into the hole: an lcore reading meanwhile
		 * may miss or see it twice for one look, which the caps allow */
		__atomic_store_n(&sh->sched_over_ip[i], sh->sched_over_ip[n - 1], __ATOMIC_RELAXED);
		__atomic_store_n(&sh->n_sched_over, n - 1, __ATOMIC_RELEASE);
		s->publishers_at_cap = n - 1;
	}
}

/* One more (+1) or one fewer (-1) held task from ip. Under lock. */
static void
pub_count(struct ctl_sched *s, uint32_t ip, int d)
{
	uint64_t k = pub_key(ip);
	uintptr_t c = (uintptr_t)tw_idmap_get(&s->pubs, k);

	if (d > 0) {
		c++;
		if (tw_idmap_put(&s->pubs, k, (void *)c) != 0)
			return; /* no memory for the count: the total cap still holds */
		if (c > s->max_per_publisher)
			s->over_cap++;
		if (c >= s->max_per_publisher)
			over_list_set(s, ip, true);
	} else if (c != 0) {
		c--;
		if (c == 0)
			tw_idmap_del(&s->pubs, k);
		else
			tw_idmap_put(&s->pubs, k, (void *)c);
		if (c + 1 == s->max_per_publisher)
			over_list_set(s, ip, false);
	}
}

/* A task enters (+1) or leaves (-1) the wheel. Under lock. */
static void
held_count(struct ctl_sched *s, const struct ctl_held *h, int d)
{
	if (d > 0) {
		if (s->n_held >= s->max)
			s->over_cap++;
		s->n_held++;
	} else {
		s->n_held--;
	}
	pub_count(s, h->peer.ip, d);
	admission_publish(s);
}

void
ctl_sched_caps(struct ctl_sched *s, struct ctl_sched_caps *out)
{
	pthread_mutex_lock(&s->lock);
	out->held = s->n_held;
	out->max = s->max;
	out->max_per_publisher = s->max_per_publisher;
	out->full = s->n_held >= s->max;
	out->publishers_at_cap = s->publishers_at_cap;
	out->over_cap = s->over_cap;
	pthread_mutex_unlock(&s->lock);
}

void
ctl_sched_take(struct ctl_sched *s, struct tw_task *t)
{
	struct ctl_held *h = held_from(t);

	tw_task_release(t, s->sh->task_pool);
	pthread_mutex_lock(&s->lock);
	s->taken++;
	if (h != NULL && tw_idmap_get(&s->held, h->id) != NULL) {
		/* a publisher reused an id: both run; only the first is listed */
		tw_wheel_add(s->wheel, &h->node, h->due_ms * 1000);
		held_count(s, h, +1);
	} else if (h == NULL || tw_idmap_put(&s->held, h->id, h) != 0) {
		/* the publisher was confirmed; losing it silently is not allowed */
		s->dropped_nomem++;
		free(h);
	} else {
		tw_wheel_add(s->wheel, &h->node, h->due_ms * 1000);
		held_count(s, h, +1);
	}
	pthread_mutex_unlock(&s->lock);
}

bool
ctl_sched_inject(struct ctl_sched *s, const uint8_t *task, uint32_t len,
		 const struct tw_inject_peer *peer)
{
	struct tw_shared *sh = s->sh;
	struct rte_ether_addr our_mac;
	struct rte_mbuf *m;
	struct tw_wbuf w;

	m = rte_pktmbuf_alloc(sh->pktmbuf_pool);
	if (m == NULL)
		return false;
	tw_wbuf_init(&w, tw_inject_payload(m), tw_inject_room(m));
	tw_wire_put_header(&w, 0);
	tw_wire_put_task_raw(&w, task, len);
	if (w.overflow) {
		rte_pktmbuf_free(m);
		return false;
	}
	memcpy(our_mac.addr_bytes, sh->mac, sizeof(sh->mac));
	tw_inject_finish(m, peer, &our_mac, sh->ip_be, rte_cpu_to_be_16(sh->udp_port), w.len);
	/* to the next lcore that routes (io or run-to-completion) */
	for (uint32_t k = 0; k < sh->n_pollers; k++) {
		uint32_t i = (s->next_io + k) % sh->n_pollers;
		uint32_t role = sh->plan[i + 1].role;

		if (role != TW_ROLE_IO && role != TW_ROLE_RTC)
			continue;
		s->next_io = i + 1;
		/* Hand-off: after the enqueue the io lcore owns m. */
		if (rte_ring_sp_enqueue(sh->inject[i], m) == 0)
			return true;
		break;
	}
	rte_pktmbuf_free(m);
	return false;
}

struct fire_ctx {
	struct ctl_sched *s;
	uint64_t now_us;
	uint32_t injected;
};

static void
fire(void *arg, struct tw_wheel_node *n)
{
	struct fire_ctx *f = arg;
	struct ctl_held *h = (struct ctl_held *)n;
	uint64_t due_us = h->due_ms * 1000;

	if (!ctl_sched_inject(f->s, h->task, h->len, &h->peer)) {
		/* ring full or no mbuf: the data plane is busy; try again shortly */
		f->s->inject_retries++;
		tw_wheel_add(f->s->wheel, &h->node, f->now_us + INJECT_RETRY_US);
		return;
	}
	{
		uint64_t late = f->now_us > due_us ? f->now_us - due_us : 0;
		unsigned b = 0;

		while (late > 1 && b < 31) {
			late >>= 1;
			b++;
		}
		f->s->late_hist[b]++;
	}
	if (tw_idmap_get(&f->s->held, h->id) == h)
		tw_idmap_del(&f->s->held, h->id);
	held_count(f->s, h, -1);
	f->s->injected++;
	f->injected++;
	free(h);
}

uint32_t
ctl_sched_advance(struct ctl_sched *s, uint64_t now_us)
{
	struct fire_ctx f = { .s = s, .now_us = now_us };

	pthread_mutex_lock(&s->lock);
	tw_wheel_advance(s->wheel, now_us, fire, &f, ADVANCE_MAX);
	pthread_mutex_unlock(&s->lock);
	return f.injected;
}

bool
ctl_sched_expedite(struct ctl_sched *s, uint64_t id)
{
	struct ctl_held *h;

	pthread_mutex_lock(&s->lock);
	h = tw_idmap_get(&s->held, id);
	if (h != NULL) {
		tw_wheel_cancel(s->wheel, &h->node);
		h->due_ms = 0;
		tw_wheel_add(s->wheel, &h->node, 0);
	}
	pthread_mutex_unlock(&s->lock);
	return h != NULL;
}

static void
entry_of(const struct ctl_held *h, struct ctl_sched_entry *e)
{
	e->id = h->id;
	e->due_ms = h->due_ms;
	e->retries = h->retries;
	memcpy(e->name, h->name, sizeof(e->name));
}

bool
ctl_sched_find(struct ctl_sched *s, uint64_t id, struct ctl_sched_entry *out)
{
	const struct ctl_held *h;

	pthread_mutex_lock(&s->lock);
	h = tw_idmap_get(&s->held, id);
	if (h != NULL && out != NULL)
		entry_of(h, out);
	pthread_mutex_unlock(&s->lock);
	return h != NULL;
}

uint32_t
ctl_sched_list(struct ctl_sched *s, struct ctl_sched_entry *out, uint32_t max)
{
	uint32_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (uint64_t i = 0; i <= s->held.mask && n < max; i++) {
		const struct ctl_held *h = s->held.vals[i];

		if (s->held.keys[i] == 0)
			continue;
		entry_of(h, &out[n++]);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint64_t
ctl_sched_count(struct ctl_sched *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->held.n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint64_t
ctl_sched_lateness_us(struct ctl_sched *s, double pct)
{
	uint64_t total = 0, seen = 0, want;
	unsigned b;

	pthread_mutex_lock(&s->lock);
	for (b = 0; b < 32; b++)
		total += s->late_hist[b];
	want = (uint64_t)((double)total * pct / 100.0);
	for (b = 0; b < 32; b++) {
		seen += s->late_hist[b];
		if (total != 0 && seen >= want && seen != 0)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	return total == 0 ? 0 : (2ull << (b < 32 ? b : 31)) - 1;
}

/*
 * A held task as kept in the store, in this machine's byte order (the
 * store is local to it):
 *   id u64, due_ms u64, retries u32, peer mac[6] ip u32 port u16,
 *   name_len u16, name, task_len u32, task
 */
#define BLOB_FIXED (8u + 8 + 4 + 6 + 4 + 2 + 2 + 4)

struct save_iter {
	struct ctl_sched *s;
	uint64_t i;             /* next slot of the held map */
	uint8_t *buf;
	size_t cap;
	bool nomem;
};

static int
save_next(void *arg, const void **blob, uint32_t *len)
{
	struct save_iter *it = arg;
	struct tw_idmap *m = &it->s->held;

	/* bounded: one pass over the map's slots */
	for (; it->i <= m->mask; it->i++) {
		const struct ctl_held *h = m->vals[it->i];
		uint16_t nl;
		size_t need;
		uint8_t *p;

		if (m->keys[it->i] == 0)
			continue;
		nl = (uint16_t)strnlen(h->name, sizeof(h->name));
		need = BLOB_FIXED + nl + h->len;
		if (need > it->cap) {
			uint8_t *b = realloc(it->buf, need);

			if (b == NULL) {
				it->nomem = true;
				return 0;
			}
			it->buf = b;
			it->cap = need;
		}
		p = it->buf;
		memcpy(p, &h->id, 8), p += 8;
		memcpy(p, &h->due_ms, 8), p += 8;
		memcpy(p, &h->retries, 4), p += 4;
		memcpy(p, h->peer.mac.addr_bytes, 6), p += 6;
		memcpy(p, &h->peer.ip, 4), p += 4;
		memcpy(p, &h->peer.port, 2), p += 2;
		memcpy(p, &nl, 2), p += 2;
		memcpy(p, h->name, nl), p += nl;
		memcpy(p, &h->len, 4), p += 4;
		memcpy(p, h->task, h->len);
		*blob = it->buf;
		*len = (uint32_t)need;
		it->i++;
		return 1;
	}
	return 0;
}

int64_t
ctl_sched_save(struct ctl_sched *s, struct tw_store *st)
{
	struct save_iter it = { .s = s };
	int64_t n;

	if (st == NULL || s->wheel == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	n = tw_store_held_replace(st, save_next, &it);
	pthread_mutex_unlock(&s->lock);
	free(it.buf);
	return it.nomem ? -ENOMEM : n;
}

static void
restore_one(void *arg, const void *blob, uint32_t len)
{
	struct ctl_sched *s = arg;
	const uint8_t *p = blob;
	struct ctl_held *h;
	uint16_t nl;
	uint32_t tl;

	/* a blob this version cannot read is skipped, never trusted */
	if (len < BLOB_FIXED)
		return;
	memcpy(&nl, p + 32, 2);
	if (nl >= TW_NAME_MAX || len < BLOB_FIXED + nl)
		return;
	memcpy(&tl, p + 34 + nl, 4);
	if (len != BLOB_FIXED + nl + tl)
		return;
	h = calloc(1, sizeof(*h) + tl);
	if (h == NULL) {
		s->dropped_nomem++;
		return;
	}
	memcpy(&h->id, p, 8);
	memcpy(&h->due_ms, p + 8, 8);
	memcpy(&h->retries, p + 16, 4);
	memcpy(h->peer.mac.addr_bytes, p + 20, 6);
	memcpy(&h->peer.ip, p + 26, 4);
	memcpy(&h->peer.port, p + 30, 2);
	memcpy(h->name, p + 34, nl);
	h->len = tl;
	memcpy(h->task, p + 38 + nl, tl);
	if (tw_idmap_get(&s->held, h->id) == NULL && tw_idmap_put(&s->held, h->id, h) != 0) {
		s->dropped_nomem++;
		free(h);
		return;
	}
	tw_wheel_add(s->wheel, &h->node, h->due_ms * 1000);
	held_count(s, h, +1);
	s->restored++;
}

int64_t
ctl_sched_restore(struct ctl_sched *s, struct tw_store *st)
{
	int64_t n;

	if (st == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	n = tw_store_held_take(st, restore_one, s);
	pthread_mutex_unlock(&s->lock);
	return n;
}
