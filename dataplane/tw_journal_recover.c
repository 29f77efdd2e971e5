/*
 * Recovery at start (see tw_journal_priv.h): the data directory's
 * segments are read in order; a TASK record is outstanding until a DONE
 * record names its jid (the last DELIVERED copy of it, if any, stands for
 * it: its delivery count). What is outstanding is written to one new
 * segment (synced) before the old ones are removed, so a crash during
 * recovery leaves either the old segments or both (the same jid twice is
 * one task); then each task is made a descriptor again, in journal order,
 * and waits in a ring until an io lcore puts it back into its queue once
 * tw-control is attached: a task run before that would have its result
 * dropped (no store to take it), and its publisher could never learn it ran.
 *
 * A record that does not check (length, CRC) in the last segment is a
 * torn tail when nothing valid follows it: the file is cut there,
 * counted and logged. Anything else that does not check (in an older
 * segment, or with valid records after it) stops the start: a journal is
 * never silently skipped over in the middle.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "tw_broker.h"
#include "tw_route.h"
#include "tw_engine.h"
#include "tw_journal_priv.h"
#include "tw_reasm.h"
#include "tw_log.h"
#include "tw_tasks.h"
#include "tw_wf_group.h"
#include "tw_workflow.h"

/* One segment read into memory. */
struct seg_data {
	uint64_t segno;
	uint8_t *buf;
	size_t len;
};

/* A TASK record found, in journal order. */
struct found {
	const struct tw_jrec *r;
	bool dead;         /* a DONE named it, or a later copy replaced it */
};

/* An open group found (a GROUP record no DONE named). */
struct rgroup {
	uint64_t fi;       /* its record in found */
	struct tw_task_view tv;
	uint8_t *covered;  /* members with a record outstanding (a task, a nested group) */
	bool closed;       /* its callback (or a link) was routed: it finished */
	bool ok;           /* its node decodes */
};

struct scan {
	struct seg_data *segs;
	uint32_t n_segs;
	struct found *f;
	uint64_t n_f, cap_f;
	const struct tw_jrec **members; /* GROUP_MEMBER records, in journal order */
	uint64_t n_members, cap_members;
	struct rgroup *g;
	uint64_t n_g;
	struct tw_jmap idx;  /* jid -> index in f + 1 */
	uint64_t max_epoch;
	uint64_t completed;
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Segment numbers in the directory, ascending. @return how many, or -1. */
static int
list_segments(int dir_fd, uint64_t **out)
{
	int fd = dup(dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	uint64_t *v = NULL;
	int n = 0, cap = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char *end;
		uint64_t segno;

		if (strlen(de->d_name) != 16 + strlen(TW_JSEG_SUFFIX) ||
		    strcmp(de->d_name + 16, TW_JSEG_SUFFIX) != 0)
			continue;
		segno = strtoull(de->d_name, &end, 16);
		if (end != de->d_name + 16)
			continue;
		if (n == cap) {
			uint64_t *nv = realloc(v, (size_t)(cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (nv == NULL) {
				free(v);
				closedir(d);
				return -1;
			}
			v = nv;
		}
		v[n++] = segno;
	}
	closedir(d);
	if (n > 1)
		qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	*out = v;
	return n;
}

static int
read_segment(int dir_fd, uint64_t segno, struct seg_data *sd)
{
	char name[64];
	struct stat st;
	int fd;

	tw_jseg_name(name, sizeof(name), segno);
	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		TW_LOG(ERR, "journal: cannot read segment %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	sd->segno = segno;
	sd->len = (size_t)st.st_size;
	sd->buf = malloc(sd->len ? sd->len : 1);
	if (sd->buf == NULL || pread(fd, sd->buf, sd->len, 0) != (ssize_t)sd->len) {
		TW_LOG(ERR, "journal: cannot read segment %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static bool
record_ok(const uint8_t *p, size_t room)
{
	const struct tw_jrec *r = (const struct tw_jrec *)p;

	return tw_jrec_plausible(r, room) && tw_jrec_crc(r) == r->crc;
}

/* Cut segment segno's file at off (a torn tail). */
static int
cut_tail(struct tw_journal *j, struct seg_data *sd, size_t off)
{
	char name[64];
	int fd;

	tw_jseg_name(name, sizeof(name), sd->segno);
	fd = openat(j->dir_fd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)off) != 0 || fdatasync(fd) != 0) {
		TW_LOG(ERR, "journal: cannot cut the torn tail of %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	TW_LOG(WARNING, "journal: torn or corrupt tail of segment %s cut at byte %zu (%zu bytes)",
	       name, off, sd->len - off);
	__atomic_fetch_add(&j->js->c[TW_JC_torn_cut], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&j->js->c[TW_JC_torn_bytes], sd->len - off, __ATOMIC_RELAXED);
	sd->len = off;
	return 0;
}

static int
found_add(struct scan *s, const struct tw_jrec *r)
{
	uint64_t prev;

	if (s->n_f == s->cap_f) {
		uint64_t cap = s->cap_f ? s->cap_f * 2 : 1024;
		struct found *v = realloc(s->f, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		s->f = v;
		s->cap_f = cap;
	}
	/*
	 * The same jid again: a recovery that was cut short copied it, or a
	 * DELIVERED copy with its count. The later copy takes the first
	 * one's place: the task keeps its spot in its queue's order.
	 */
	if (tw_jmap_take(&s->idx, r->jid, &prev)) {
		s->f[prev - 1].r = r;
		return tw_jmap_put(&s->idx, r->jid, prev);
	}
	s->f[s->n_f] = (struct found){ r, false };
	s->n_f++;
	return tw_jmap_put(&s->idx, r->jid, s->n_f);
}

/* Walk one segment's records. @return 0, or -1 (refuse to start). */
static int
scan_segment(struct tw_journal *j, struct scan *s, struct seg_data *sd, bool last)
{
	const struct tw_jseg_header *h = (const struct tw_jseg_header *)sd->buf;
	size_t off = sizeof(*h);
	char name[64];

	tw_jseg_name(name, sizeof(name), sd->segno);
	if (sd->len < sizeof(*h) || h->magic != TW_JSEG_MAGIC || h->version < TW_JSEG_VERSION_MIN ||
	    h->version > TW_JSEG_VERSION ||
	    h->segno != sd->segno) {
		if (last && sd->len < sizeof(*h)) {
			/* created, header not yet on disk: nothing in it */
			return cut_tail(j, sd, 0);
		}
		TW_LOG(ERR, "journal: %s is not a journal segment of this version (bad header); "
		       "refusing to start", name);
		return -1;
	}
	while (off < sd->len) {
		const struct tw_jrec *r = (const struct tw_jrec *)(sd->buf + off);
		uint64_t idx;

		if (!record_ok(sd->buf + off, sd->len - off)) {
			if (!last) {
				TW_LOG(ERR, "journal: corrupt record in %s at byte %zu, in a segment "
				       "that was complete; refusing to start (tasks after it would be "
				       "lost silently)", name, off);
				return -1;
			}
			for (size_t k = off + 8; k + TW_JREC_HDR <= sd->len; k += 8)
				if (record_ok(sd->buf + k, sd->len - k)) {
					TW_LOG(ERR, "journal: corrupt record in %s at byte %zu with valid "
					       "records after it (byte %zu): not a torn tail; refusing to "
					       "start", name, off, k);
					return -1;
				}
			return cut_tail(j, sd, off);
		}
		switch (r->type) {
		case TW_JREC_TASK:
		case TW_JREC_DELIVERED: /* a later copy: it replaces what was read of its jid */
			if (tw_jid_epoch(r->jid) > s->max_epoch)
				s->max_epoch = tw_jid_epoch(r->jid);
			if (found_add(s, r) != 0)
				return -1;
			break;
		case TW_JREC_GROUP: /* outstanding as a task is, until a DONE of its jid */
			if (tw_jid_epoch(r->jid) > s->max_epoch)
				s->max_epoch = tw_jid_epoch(r->jid);
			if (found_add(s, r) != 0)
				return -1;
			break;
		case TW_JREC_GROUP_MEMBER:
			if (s->n_members == s->cap_members) {
				uint64_t cap = s->cap_members ? s->cap_members * 2 : 256;
				const struct tw_jrec **v = realloc(s->members, cap * sizeof(*v));

				if (v == NULL)
					return -1;
				s->members = v;
				s->cap_members = cap;
			}
			s->members[s->n_members++] = r;
			break;
		case TW_JREC_DONE:
			if (tw_jmap_take(&s->idx, r->jid, &idx)) {
				s->f[idx - 1].dead = true;
				s->completed += !(r->flags & TW_JREC_F_GROUP);
			}
			break;
		default:
			break;
		}
		off += r->len;
	}
	return 0;
}

/* The Task message a TASK, DELIVERED or GROUP record holds. */
static struct tw_str
record_task(const struct tw_jrec *r)
{
	return (struct tw_str){ (const uint8_t *)r + TW_JREC_HDR + r->qname_len, r->raw_len };
}

static bool
member_ok(const struct tw_jrec *r, const struct rgroup *rg, struct tw_jgroup_meta *meta)
{
	if (r->qname_len != sizeof(*meta))
		return false;
	memcpy(meta, (const uint8_t *)r + TW_JREC_HDR, sizeof(*meta));
	return meta->index < rg->tv.group_size;
}

/*
 * The open groups: which of their members have a record outstanding, and
 * which finished already although no DONE of theirs was synced (a task
 * whose parent is the group: its callback or a link, routed). Those are
 * dead from now on. @return 0, or -1 (no memory).
 */
static int
find_groups(struct scan *s)
{
	struct tw_jmap gidx = { 0 }; /* group id -> index in s->g + 1 */
	int ret = -1;

	for (uint64_t i = 0; i < s->n_f; i++)
		if (s->f[i].r->type == TW_JREC_GROUP && !s->f[i].dead)
			s->n_g++;
	if (s->n_g == 0)
		return 0;
	s->g = calloc(s->n_g, sizeof(*s->g));
	if (s->g == NULL)
		return -1;
	s->n_g = 0;
	for (uint64_t i = 0; i < s->n_f; i++) {
		const struct tw_jrec *r = s->f[i].r;
		struct rgroup *rg;

		if (r->type != TW_JREC_GROUP || s->f[i].dead)
			continue;
		rg = &s->g[s->n_g++];
		rg->fi = i;
		rg->ok = r->qname_len == sizeof(struct tw_jgroup_meta) &&
			 tw_wire_decode_task_trusted(record_task(r), &rg->tv) == NULL &&
			 rg->tv.group_size != 0 && rg->tv.group_size <= TW_WF_MAX_MEMBERS &&
			 tw_wf_group_id_ok(r->task_id);
		if (!rg->ok)
			continue;
		rg->covered = calloc((rg->tv.group_size + 7) / 8, 1);
		if (rg->covered == NULL || tw_jmap_put(&gidx, r->task_id, s->n_g) != 0)
			goto out;
	}
	for (uint64_t i = 0; i < s->n_f; i++) {
		const struct tw_jrec *r = s->f[i].r;
		struct tw_task_view tv;
		uint64_t gi;

		if (r->type == TW_JREC_GROUP && r->qname_len != sizeof(struct tw_jgroup_meta))
			continue;
		if (tw_wire_decode_task_trusted(record_task(r), &tv) != NULL)
			continue;
		/* the group's callback or link was made: finished before the crash */
		if (tv.parent_id != 0 && tw_jmap_get(&gidx, tv.parent_id, &gi) &&
		    tv.group_id != tv.parent_id)
			s->g[gi - 1].closed = true;
		if (!s->f[i].dead && tv.group_id != 0 && tw_jmap_get(&gidx, tv.group_id, &gi) &&
		    tv.group_index < s->g[gi - 1].tv.group_size)
			s->g[gi - 1].covered[tv.group_index >> 3] |= (uint8_t)(1u << (tv.group_index & 7));
	}
	for (uint64_t i = 0; i < s->n_g; i++)
		if (s->g[i].closed || !s->g[i].ok) {
			if (!s->g[i].ok)
				TW_LOG(ERR, "journal: the node of group %016" PRIx64 " does not decode; "
				       "the group is dropped", s->f[s->g[i].fi].r->task_id);
			s->f[s->g[i].fi].dead = true;
		}
	ret = 0;
out:
	tw_jmap_free(&gidx);
	return ret;
}

/* The open group a GROUP_MEMBER record is of (NULL: none, or it ended). */
static struct rgroup *
group_of(struct scan *s, const struct tw_jmap *gj, const struct tw_jrec *r)
{
	uint64_t gi;

	if (!tw_jmap_get(gj, r->jid, &gi))
		return NULL;
	return s->f[s->g[gi - 1].fi].dead ? NULL : &s->g[gi - 1];
}

/* Write the outstanding records to a new segment and sync it. */
static int
compact(struct tw_journal *j, struct scan *s, const struct tw_jmap *gj, uint64_t segno,
	uint64_t *n_out)
{
	size_t len = 0;
	uint64_t n_groups = 0;
	int ret = tw_jseg_open_next(j, segno);

	if (ret != 0) {
		TW_LOG(ERR, "journal: cannot create segment %016" PRIx64 ": %s", segno,
		       strerror(-ret));
		return -1;
	}
	*n_out = 0;
	/* the outstanding records, then the results of the open groups' members */
	for (uint64_t i = 0; i <= s->n_f + s->n_members; i++) {
		const struct tw_jrec *r = i < s->n_f ? s->f[i].r
				    : i < s->n_f + s->n_members ? s->members[i - s->n_f] : NULL;
		bool member = i >= s->n_f;

		if (r != NULL && !member && s->f[i].dead)
			continue;
		if (r != NULL && member && group_of(s, gj, r) == NULL)
			continue;
		if (r == NULL || len + r->len > j->buf_cap) {
			if (len != 0 && write(j->fd, j->buf, len) != (ssize_t)len) {
				TW_LOG(ERR, "journal: cannot write the compacted segment: %s",
				       strerror(errno));
				return -1;
			}
			j->seg_off += len;
			len = 0;
			if (r == NULL)
				break;
		}
		/* a record of a larger task than this run's --max-frame allows */
		if (r->len > j->buf_cap) {
			uint8_t *nb = realloc(j->buf, r->len);

			if (nb == NULL) {
				TW_LOG(ERR, "journal: no memory for a record of %u bytes", r->len);
				return -1;
			}
			j->buf = nb;
			j->buf_cap = r->len;
		}
		memcpy(j->buf + len, r, r->len);
		len += r->len;
		if (member)
			continue;
		if (tw_jmap_put(&j->map, r->jid, segno) != 0)
			return -1;
		n_groups += r->type == TW_JREC_GROUP;
		(*n_out)++;
	}
	if (fdatasync(j->fd) != 0) {
		TW_LOG(ERR, "journal: cannot sync the compacted segment: %s", strerror(errno));
		return -1;
	}
	j->segs[j->n_segs - 1].live = *n_out;
	j->segs[j->n_segs - 1].groups = n_groups;
	return 0;
}

/*
 * Open group rg back into the group table, with the results of the
 * members done before the crash. What it still needs an lcore for (all
 * members done: its callback; members lost before their records were
 * written: made again) goes to the resume list. @return true if restored.
 */
static bool
restore_group(struct tw_journal *j, struct scan *s, const struct tw_jmap *gj,
	      struct tw_lcore_ctx *ctx, struct rgroup *rg)
{
	const struct tw_jrec *r = s->f[rg->fi].r;
	struct tw_jgroup_meta meta;
	struct tw_peer peer;
	struct tw_wf_group *g;
	const char *why;
	uint8_t *emit = NULL;
	bool lost = false;

	memcpy(&meta, (const uint8_t *)r + TW_JREC_HDR, sizeof(meta));
	memcpy(peer.mac.addr_bytes, r->peer_mac, 6);
	peer.ip = r->peer_ip;
	peer.port = r->peer_port;
	if (meta.cell > TW_WF_MAX_CELL) {
		TW_LOG(ERR, "journal: group %016" PRIx64 " has a result cell of %u bytes; not "
		       "restored", r->task_id, meta.cell);
		return false;
	}
	why = tw_wf_group_new(ctx, &rg->tv, &peer, meta.key_id, meta.cell, &g);
	if (why != NULL) {
		TW_LOG(ERR, "journal: group %016" PRIx64 " not restored: %s", r->task_id, why);
		return false;
	}
	/* its own expiry, in wall time: one that passed while down fails at the first sweep */
	g->expires_ms = r->expire_unix_ms;
	g->jid = r->jid;
	for (uint64_t i = 0; i < s->n_members; i++) {
		const struct tw_jrec *m = s->members[i];
		uint32_t len = m->raw_len;
		uint8_t bit;

		if (m->jid != r->jid || group_of(s, gj, m) != rg || !member_ok(m, rg, &meta))
			continue;
		bit = (uint8_t)(1u << (meta.index & 7));
		if ((*tw_wf_group_bits(g, meta.index) & bit) || len > g->cell)
			continue; /* a member that ran twice (its DONE was not synced) */
		*tw_wf_group_bits(g, meta.index) |= bit;
		memcpy(tw_wf_group_cell(g, meta.index), &len, 4);
		memcpy(tw_wf_group_cell(g, meta.index) + 4,
		       (const uint8_t *)m + TW_JREC_HDR + sizeof(meta), len);
		g->remaining--;
	}
	if (g->remaining != 0 && rg->tv.n_members != 0) {
		/* inline members neither done nor outstanding: lost with the crash
		 * before their records were written */
		emit = calloc((g->size + 7) / 8, 1);
		if (emit == NULL)
			return true;
		for (uint32_t i = 0; i < g->size; i++)
			if (!(*tw_wf_group_bits(g, i) & (1u << (i & 7))) &&
			    !(rg->covered[i >> 3] & (1u << (i & 7)))) {
				emit[i >> 3] |= (uint8_t)(1u << (i & 7));
				lost = true;
			}
		if (!lost) {
			free(emit);
			return true;
		}
	} else if (g->remaining != 0) {
		return true;
	}
	if (j->n_resume % 64 == 0) {
		struct tw_jresume *v = realloc(j->resume, (j->n_resume + 64) * sizeof(*v));

		if (v == NULL) {
			free(emit);
			return true;
		}
		j->resume = v;
	}
	j->resume[j->n_resume++] = (struct tw_jresume){ r->task_id, emit };
	return true;
}

/* The queue a recovered task goes back to; declared (durable, defaults) if it is missing. */
static const struct tw_route_queue *
queue_of(struct tw_engine *e, const struct tw_jrec *r)
{
	const char *name = (const char *)r + TW_JREC_HDR;
	const struct tw_routes *rt = e->shared->routes;
	int qi = rt != NULL ? tw_routes_find_queue(rt, name, r->qname_len) : -1;

	if (qi < 0) {
		static struct tw_broker b;
		struct tw_broker_queue_spec spec = { 0 };
		char err[TW_BROKER_ERR_MAX], qname[TW_NAME_MAX];

		if (r->qname_len >= TW_NAME_MAX)
			return NULL;
		memcpy(qname, name, r->qname_len);
		qname[r->qname_len] = '\0';
		spec.name = qname;
		spec.durable = true;
		/* the journal is not open for tw-control yet, but recovery may */
		__atomic_store_n(&e->shared->journal.enabled, 1, __ATOMIC_RELAXED);
		if (tw_broker_attach(&b, e->shared, err) != 0 ||
		    tw_broker_queue_declare(&b, &spec, err) != 0) {
			TW_LOG(ERR, "journal: cannot declare queue '%s' for its recovered tasks: %s",
			       qname, err);
			tw_broker_detach(&b);
			return NULL;
		}
		tw_broker_detach(&b);
		TW_LOG(NOTICE, "journal: queue '%s' declared (durable, default arguments) for its "
		       "recovered tasks", qname);
		rt = e->shared->routes;
		qi = tw_routes_find_queue(rt, name, r->qname_len);
		if (qi < 0)
			return NULL;
	}
	return rt->queues[qi].durable ? &rt->queues[qi] : NULL;
}

/*
 * One recovered task, its descriptor filled, into the ring of tasks that
 * go back into their queues once tw-control is attached (an io lcore does
 * it: see tw_journal_lcore.recovered). @return true if it is there.
 */
static bool
place(struct tw_journal *j, struct tw_engine *e, struct tw_lcore_ctx *ctx, const struct tw_jrec *r)
{
	const struct tw_route_queue *q = queue_of(e, r);
	const uint8_t *raw = (const uint8_t *)r + TW_JREC_HDR + r->qname_len;
	/* a frame header and the task's field: a few bytes over the raw task */
	uint32_t need = r->raw_len + 64, charge;
	struct tw_frame_view fv;
	struct tw_peer peer;
	struct tw_task *t;
	struct rte_mbuf *m;
	struct tw_wbuf w;
	uint8_t *p;

	if (q == NULL)
		return false;
	if (need <= (uint32_t)(rte_pktmbuf_data_room_size(e->shared->pktmbuf_pool) -
			       RTE_PKTMBUF_HEADROOM))
		m = rte_pktmbuf_alloc(e->shared->pktmbuf_pool);
	else /* a task that came in fragments: a large buffer, read by pkt_len */
		m = e->big != NULL ? tw_bigbuf_alloc(e->big, need, &charge) : NULL;
	if (m == NULL)
		return false;
	p = rte_pktmbuf_mtod(m, uint8_t *);
	tw_wbuf_init(&w, p, RTE_MAX((uint32_t)rte_pktmbuf_tailroom(m), need));
	tw_wire_put_header(&w, 0);
	tw_wire_put_task_raw(&w, raw, r->raw_len);
	if (w.overflow || tw_wire_decode_frame_trusted(p, w.len, &fv, ctx->views, 1) != TW_WIRE_OK ||
	    fv.n_tasks != 1 || rte_mempool_get(e->shared->task_pool, (void **)&t) != 0) {
		rte_pktmbuf_free(m);
		return false;
	}
	m->data_len = (uint16_t)RTE_MIN(w.len, (uint32_t)UINT16_MAX);
	m->pkt_len = w.len;
	memcpy(peer.mac.addr_bytes, r->peer_mac, 6);
	peer.ip = r->peer_ip;
	peer.port = r->peer_port;
	tw_route_fill_task(ctx, t, m, &ctx->views[0], &peer,
			   tw_tasks_lookup(&e->tasks, ctx->views[0].name.p, ctx->views[0].name.len),
			   rte_rdtsc());
	t->jid = r->jid;
	t->deliveries = r->deliveries;
	t->queue_slot = q->slot;
	/* the deadline it had: one passed while the engine was down expires
	 * at its first look (dead-lettered or an EXPIRED result), as it
	 * would have in the queue */
	t->expire_tsc = r->expire_unix_ms != 0 ? tw_tsc_of_unix_ms(ctx, r->expire_unix_ms) : 0;
	t->expiry_is_task = (r->flags & TW_JREC_F_EXPIRY_IS_TASK) != 0;
	t->counts_bytes = 0;
	if (rte_ring_sp_enqueue(j->recovered, t) != 0) {
		tw_task_release(t, e->shared->task_pool);
		return false;
	}
	return true;
}

int
tw_journal_recover(struct tw_journal *j, struct tw_engine *e)
{
	static struct tw_lcore_ctx ctx; /* what filling a descriptor reads of an lcore */
	static struct tw_lcore_stats stats;
	struct scan s = { 0 };
	struct tw_jmap gj = { 0 }; /* GROUP record jid -> index in s.g + 1 */
	uint64_t *segnos = NULL, n_out = 0, placed = 0, unplaced = 0, groups = 0, next;
	int n = list_segments(j->dir_fd, &segnos), ret = -1;

	if (n < 0) {
		TW_LOG(ERR, "journal: cannot list the data directory: %s", strerror(errno));
		return -1;
	}
	s.segs = calloc((size_t)n + 1, sizeof(*s.segs));
	if (s.segs == NULL)
		goto out;
	for (int i = 0; i < n; i++) {
		if (read_segment(j->dir_fd, segnos[i], &s.segs[i]) != 0)
			goto out;
		s.n_segs++;
		if (scan_segment(j, &s, &s.segs[i], i == n - 1) != 0)
			goto out;
	}
	/* epochs keep jids apart across runs; 0 never names one */
	j->epoch = (s.max_epoch + 1) & 0xffff;
	if (j->epoch == 0)
		j->epoch = 1;
	next = n > 0 ? segnos[n - 1] + 1 : 1;
	if (find_groups(&s) != 0)
		goto out;
	for (uint64_t i = 0; i < s.n_g; i++)
		if (!s.f[s.g[i].fi].dead && tw_jmap_put(&gj, s.f[s.g[i].fi].r->jid, i + 1) != 0)
			goto out;
	if (compact(j, &s, &gj, next, &n_out) != 0)
		goto out;
	/* the compacted copy is on disk: the old segments may go */
	for (int i = 0; i < n; i++) {
		char name[64];

		tw_jseg_name(name, sizeof(name), segnos[i]);
		if (unlinkat(j->dir_fd, name, 0) != 0 && errno != ENOENT) {
			TW_LOG(ERR, "journal: cannot remove segment %s: %s", name, strerror(errno));
			goto out;
		}
	}
	if (fsync(j->dir_fd) != 0)
		goto out;
	if (n_out != 0) {
		/* room for every outstanding task: rings hold one less than their size */
		j->recovered = rte_ring_create("tw_jrecovered", rte_align32pow2((uint32_t)n_out + 1),
					       SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (j->recovered == NULL) {
			TW_LOG(ERR, "journal: no memory to hold %" PRIu64 " recovered tasks: %s", n_out,
			       rte_strerror(rte_errno));
			goto out;
		}
	}
	ctx.shared = e->shared;
	ctx.port_id = e->shared->port_id;
	ctx.tasks = &e->tasks;
	ctx.task_pool = e->shared->task_pool;
	ctx.mbuf_pool = e->shared->pktmbuf_pool;
	/* wall time of the recovered tasks' deadlines, on this run's TSC */
	ctx.clock_unix_ms = e->shared->clock_unix_ms;
	ctx.clock_tsc = e->shared->clock_tsc;
	ctx.tsc_per_ms = rte_get_tsc_hz() / 1000;
	ctx.stats = &stats; /* what restoring a group counts: nowhere */
	ctx.big = e->big;   /* a group node too large for its slot is kept in a large buffer */
	/* the groups first: a recovered member that runs finds its group */
	for (uint64_t i = 0; i < s.n_g; i++) {
		if (s.f[s.g[i].fi].dead)
			continue;
		if (restore_group(j, &s, &gj, &ctx, &s.g[i]))
			groups++;
		else
			unplaced++;
	}
	for (uint64_t i = 0; i < s.n_f; i++) {
		if (s.f[i].dead || s.f[i].r->type == TW_JREC_GROUP)
			continue;
		if (place(j, e, &ctx, s.f[i].r)) {
			placed++;
		} else {
			/* kept in the journal: a start with room for it recovers it */
			unplaced++;
		}
	}
	if (unplaced != 0)
		TW_LOG(ERR, "journal: %" PRIu64 " recovered tasks could not be queued (queue "
		       "missing, not durable, or full); they stay in the journal", unplaced);
	__atomic_store_n(&j->js->c[TW_JC_recovered], placed, __ATOMIC_RELAXED);
	__atomic_store_n(&j->js->c[TW_JC_groups_recovered], groups, __ATOMIC_RELAXED);
	__atomic_store_n(&j->js->c[TW_JC_recovered_completed], s.completed, __ATOMIC_RELAXED);
	__atomic_store_n(&j->js->c[TW_JC_recovery_unplaced], unplaced, __ATOMIC_RELAXED);
	__atomic_store_n(&j->js->c[TW_JC_outstanding], n_out, __ATOMIC_RELAXED);
	TW_LOG(INFO, "journal: recovered %" PRIu64 " durable tasks and %" PRIu64 " open groups "
	       "(%u to finish or complete) from %d segments (%" PRIu64 " finished, %" PRIu64
	       " torn tail records cut, %" PRIu64 " not queued)", placed, groups, j->n_resume, n,
	       s.completed, j->js->c[TW_JC_torn_cut], unplaced);
	ret = 0;
out:
	for (uint32_t i = 0; i < s.n_segs; i++)
		free(s.segs[i].buf);
	free(s.segs);
	free(s.f);
	free(s.members);
	for (uint64_t i = 0; i < s.n_g; i++)
		free(s.g[i].covered);
	free(s.g);
	tw_jmap_free(&gj);
	tw_jmap_free(&s.idx);
	free(segnos);
	return ret;
}
