/*
 * libtaskwire: see include/taskwire/client.h.
 *
 * Publishing appends a copy of each task to the pending frame (a
 * protobuf-c Taskwire__Frame whose strings and bytes live in one
 * per-client arena) and sends the frame when the next task would push it
 * past the task or byte limit. The packed size is tracked incrementally
 * from each task's own packed size, so appending is O(1).
 *
 * Frame-level NACKs (task_id 0: the engine could not read the frame) are
 * fanned out to each task of that frame from a bounded history of sent
 * frames; a frame that has left the history is reported once with
 * task_id 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "taskwire.pb-c.h"
#include "taskwire/client.h"
#include "tw_client_priv.h"
#include "tw_limits.h"
#include "tw_wire_priv.h"
#include "tw_clock.h"

#define DEFAULT_TASKS 32
#define DEFAULT_BYTES 1400
#define DEFAULT_RTO_MS 200      /* first retransmit of an unconfirmed frame */
#define DEFAULT_ATTEMPTS 8

static size_t
field_len(size_t len)
{
	return 1 + varint_size(len) + len; /* tag (one byte for fields < 16) + length + bytes */
}

static int
parse_engine(const char *engine, struct sockaddr_in *a)
{
	char host[64];
	const char *colon;
	char *end;
	unsigned long port;

	if (engine == NULL)
		return -EINVAL;
	colon = strrchr(engine, ':');
	if (colon == NULL || (size_t)(colon - engine) >= sizeof(host) || colon == engine)
		return -EINVAL;
	memcpy(host, engine, (size_t)(colon - engine));
	host[colon - engine] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || colon[1] == '\0' || port == 0 || port > 65535)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static int frame_send(struct tw_client *c);

static void
frame_reset(struct tw_client *c)
{
	taskwire__frame__init(&c->frame);
	c->frame.magic = TW_FRAME_MAGIC;
	c->frame.version = TW_FRAME_VERSION;
	c->frame.tasks = c->task_ptrs;
	c->frame.n_tasks = 0;
	/* magic (5) + version (2) + frame_id (9) */
	c->frame_bytes = 5 + 1 + varint_size(TW_FRAME_VERSION) + 9 + 2; /* + retransmits */
	c->arena_used = 0;
	c->pending_delayed = false;
}

/*
 * Ask the engine for its source cookie before the first publish: a frame
 * with nothing to do, answered with one (or, from a source the engine
 * does not know yet, refused with one). Then even a caller that publishes
 * and never polls has its first frame taken. Bounded: PROBE_TRIES sends,
 * PROBE_WAIT_MS each; no answer (an engine not up yet) is no error, the
 * first frames then do the round trip. A late answer is dropped by
 * deliver_frame (PROBE_FRAME_ID).
 */
static uint64_t unix_us(void);

#define PROBE_FRAME_ID UINT64_MAX
#define PROBE_TRIES 3
#define PROBE_WAIT_MS 100

static void
probe(struct tw_client *c)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	size_t len;

	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = PROBE_FRAME_ID;
	if (c->key != NULL) {
		f.key_id = c->key->id;
		f.sent_us = unix_us();
	}
	len = taskwire__frame__pack(&f, c->probebuf);
	for (int t = 0; t < PROBE_TRIES; t++) {
		uint64_t until = tw_client_now_ms() + PROBE_WAIT_MS;

		if (tw_client_send_packed(c, c->probebuf, len) != 0 || tw_outq_send(c->outq) != 0)
			return;
		for (uint64_t now = tw_client_now_ms(); now < until; now = tw_client_now_ms()) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			ssize_t n;
			Taskwire__Frame *r;

			if (poll(&pfd, 1, (int)(until - now)) <= 0)
				continue;
			n = recv(c->fd, c->recvbuf, RECV_BYTES, 0);
			if (n <= 0)
				continue;
			r = taskwire__frame__unpack(NULL, (size_t)n, c->recvbuf);
			if (r != NULL && r->magic == TW_FRAME_MAGIC && r->frame_id == PROBE_FRAME_ID) {
				tw_cookie_jar_take(&c->cookie, r);
				taskwire__frame__free_unpacked(r, NULL);
				return;
			}
			/* nothing else can come before our first frame */
			if (r != NULL)
				taskwire__frame__free_unpacked(r, NULL);
		}
	}
}

struct tw_client *
tw_client_open(const char *engine, const struct tw_client_opts *opts)
{
	struct sockaddr_in a;
	struct tw_client *c;
	int rcvbuf;

	if (parse_engine(engine, &a) != 0) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	tw_cookie_jar_init(&c->cookie);
	c->max_tasks = opts != NULL && opts->max_tasks_per_frame ? opts->max_tasks_per_frame
								: DEFAULT_TASKS;
	c->max_bytes = opts != NULL && opts->max_frame_bytes ? opts->max_frame_bytes : DEFAULT_BYTES;
	rcvbuf = opts != NULL && opts->rcvbuf_bytes ? opts->rcvbuf_bytes : 8 << 20;
	c->retransmit_ms = opts == NULL || opts->retransmit_ms == 0 ? DEFAULT_RTO_MS
			   : opts->retransmit_ms < 0 ? 0 : (uint32_t)opts->retransmit_ms;
	c->max_attempts = opts != NULL && opts->max_attempts ? opts->max_attempts
							     : DEFAULT_ATTEMPTS;
	if (c->max_tasks > MAX_TASKS_PER_FRAME || c->max_bytes > 65000 || c->max_bytes < 64) {
		free(c);
		errno = EINVAL;
		return NULL;
	}
	if (opts != NULL && opts->key_file != NULL) {
		c->key = tw_client_key_load(opts->key_file, opts->key_id, NULL, 0);
		if (c->key == NULL) {
			free(c);
			return NULL;
		}
	}
	c->arena = malloc(ARENA_BYTES);
	c->sendbuf = malloc(SEND_BYTES);
	c->recvbuf = malloc(RECV_BYTES);
	c->frx = tw_frag_rx_new(TW_FRAG_LIMIT, CLIENT_RX_TIMEOUT_MS);
	c->outq = malloc(sizeof(*c->outq));
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->outq != NULL)
		tw_outq_init(c->outq, c->fd);
	if (c->arena == NULL || c->sendbuf == NULL || c->recvbuf == NULL || c->frx == NULL ||
	    c->outq == NULL || c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;

		tw_client_close(c);
		errno = e;
		return NULL;
	}
	/* Best effort: a small buffer only costs drops under bursts of replies. */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	/* Task ids: random 64-bit base so restarts of a publisher do not collide. */
	if (getrandom(&c->next_task_id, sizeof(c->next_task_id), 0) != sizeof(c->next_task_id))
		c->next_task_id = (uint64_t)time(NULL) << 32;
	c->next_task_id = (c->next_task_id >> 1) | 1;
	c->next_frame_id = 1;
	c->oldest_frame = 1;
	frame_reset(c);
	probe(c);
	return c;
}

void
tw_client_close(struct tw_client *c)
{
	if (c == NULL)
		return;
	if (c->outq != NULL && c->fd >= 0)
		tw_outq_send(c->outq); /* what was published goes out, as before queueing */
	free(c->outq);
	if (c->fd >= 0)
		close(c->fd);
	tw_retx_free(c);
	free(c->arena);
	free(c->sendbuf);
	tw_cookie_jar_destroy(&c->cookie);
	free(c->recvbuf);
	tw_frag_rx_free(c->frx);
	if (c->key != NULL)
		explicit_bzero(c->key, sizeof(*c->key));
	free(c->key);
	free(c);
}

int
tw_client_fd(const struct tw_client *c)
{
	return c->fd;
}

static char *
arena_copy(struct tw_client *c, const void *p, size_t len)
{
	char *dst = (char *)c->arena + c->arena_used;

	memcpy(dst, p, len);
	dst[len] = '\0';
	c->arena_used += len + 1;
	return dst;
}

/* Bytes the task adds to the frame (its field 4 record included). */
static size_t
task_cost(const struct tw_publish *p, size_t name_len, size_t ex_len, size_t key_len,
	  size_t *arena_bytes)
{
	size_t body = 9 /* id */ + field_len(name_len);
	size_t arena = name_len + ex_len + key_len + p->args_len + 4;

	if (ex_len)
		body += field_len(ex_len);
	if (key_len)
		body += field_len(key_len);
	if (p->args_len)
		body += field_len(p->args_len);
	if (p->priority)
		body += 1 + varint_size(p->priority);
	/* Celery options, at their largest encoding */
	if (p->eta_ms || p->countdown_ms)
		body += 9;
	if (p->expires_ms || p->expires_in_ms)
		body += 9;
	if (p->retry != NULL)
		body += 2 + 6 * 6;
	if (p->ignore_result)
		body += 2;
	if (p->result_expires_s)
		body += 1 + varint_size(p->result_expires_s);
	if (p->amqp_properties_len) {
		body += 1 + field_len(p->amqp_properties_len); /* field 27: a 2-byte tag */
		arena += p->amqp_properties_len + 1;
	}
	for (size_t h = 0; h < p->n_headers; h++) {
		size_t kl = strlen(p->headers[h].key), vl = strlen(p->headers[h].value);
		size_t hb = (kl ? field_len(kl) : 0) + (vl ? field_len(vl) : 0);

		body += field_len(hb);
		arena += kl + vl + 2;
	}
	*arena_bytes = arena;
	return field_len(body);
}

struct tw_key *
tw_client_key_load(const char *path, uint32_t key_id, char *err, size_t errlen)
{
	/* only the one key is kept; the file's copy is wiped */
	struct tw_keys *all = calloc(1, sizeof(*all));
	const struct tw_key *k;
	struct tw_key *key;
	char why[256] = "";
	int ret = all != NULL ? tw_keys_load(all, path, why, sizeof(why)) : -ENOMEM;

	k = ret == 0 ? tw_keys_find(all, key_id) : NULL;
	key = k != NULL ? malloc(sizeof(*key)) : NULL;
	if (key != NULL)
		*key = *k;
	if (all != NULL)
		explicit_bzero(all, sizeof(*all));
	free(all);
	if (key == NULL) {
		if (err != NULL && errlen != 0)
			snprintf(err, errlen, "%s", ret != 0 ? why : "no key with that id in the file");
		errno = ret == 0 ? (k == NULL ? ENOENT : ENOMEM) : -ret;
	}
	return key;
}

uint64_t
tw_client_unix_us(void)
{
	return unix_us();
}

static uint64_t
unix_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* eta/countdown and expires become absolute unix ms here, as Celery does. */
void
tw_client_set_options(Taskwire__Task *t, const struct tw_publish *p, Taskwire__RetryPolicy *rp)
{
	uint64_t now = (p->countdown_ms || p->expires_in_ms) ? unix_ms() : 0;

	t->eta_ms = p->eta_ms ? p->eta_ms : p->countdown_ms ? now + p->countdown_ms : 0;
	t->expires_ms = p->expires_ms ? p->expires_ms : p->expires_in_ms ? now + p->expires_in_ms : 0;
	t->ignore_result = p->ignore_result;
	t->result_expires_s = p->result_expires_s;
	if (p->retry != NULL) {
		taskwire__retry_policy__init(rp);
		rp->max_retries = p->retry->max_retries;
		rp->countdown_ms = p->retry->countdown_ms;
		rp->backoff = p->retry->backoff;
		rp->backoff_max_ms = p->retry->backoff_max_ms;
		rp->jitter = p->retry->jitter;
		rp->autoretry = p->retry->autoretry;
		t->retry = rp;
	}
}

int
tw_client_publish(struct tw_client *c, const struct tw_publish *p, uint64_t *task_id)
{
	const char *ex = p->exchange != NULL ? p->exchange : "";
	const char *key = p->routing_key != NULL ? p->routing_key : "";
	size_t name_len, ex_len = strlen(ex), key_len = strlen(key), cost, arena_bytes;
	Taskwire__Task *t;
	int ret;

	if (p->task == NULL || p->task[0] == '\0' || (p->args_len != 0 && p->args == NULL) ||
	    (p->amqp_properties_len != 0 && p->amqp_properties == NULL))
		return -EINVAL;
	name_len = strlen(p->task);
	if (name_len >= TW_NAME_MAX || ex_len >= TW_NAME_MAX || key_len >= TW_NAME_MAX ||
	    p->n_headers > TW_MAX_TASK_HEADERS || (p->n_headers != 0 && p->headers == NULL))
		return -EINVAL;
	for (size_t h = 0; h < p->n_headers; h++)
		if (p->headers[h].key == NULL || p->headers[h].value == NULL)
			return -EINVAL;
	cost = task_cost(p, name_len, ex_len, key_len, &arena_bytes);
	/* +16: the frame header is counted in frame_bytes already; be conservative.
	 * A task larger than a frame travels alone in one, sent in fragments
	 * (flushed at the next publish, flush or wait: frame_bytes is over
	 * max_bytes then). */
	if (cost + 5 + 2 + 9 + 2 + TW_MAC_LEN + TW_COOKIE_JAR_EXTRA > TW_FRAG_LIMIT ||
	    arena_bytes > ARENA_BYTES)
		return -EMSGSIZE;
	if (c->frame.n_tasks == c->max_tasks || c->frame_bytes + cost > c->max_bytes ||
	    c->arena_used + arena_bytes > ARENA_BYTES) {
		ret = frame_send(c);
		if (ret != 0)
			return ret;
	}

	t = &c->tasks[c->frame.n_tasks];
	taskwire__task__init(t);
	t->id = c->next_task_id++;
	if (c->next_task_id == 0)
		c->next_task_id = 1;
	t->name = arena_copy(c, p->task, name_len);
	t->exchange = arena_copy(c, ex, ex_len);
	t->routing_key = arena_copy(c, key, key_len);
	t->args.data = (uint8_t *)arena_copy(c, p->args != NULL ? p->args : "", p->args_len);
	t->args.len = p->args_len;
	t->priority = p->priority;
	if (p->amqp_properties_len != 0) {
		t->amqp_properties.data = (uint8_t *)arena_copy(c, p->amqp_properties,
								p->amqp_properties_len);
		t->amqp_properties.len = p->amqp_properties_len;
	}
	tw_client_set_options(t, p, &c->retry[c->frame.n_tasks]);
	/* its result may come much later (eta), or never (ignore_result): its
	 * frame is retransmitted until confirmed, not until resolved */
	if (t->eta_ms != 0 || t->ignore_result)
		c->pending_delayed = true;
	t->n_headers = p->n_headers;
	t->headers = c->header_ptrs[c->frame.n_tasks];
	for (size_t h = 0; h < p->n_headers; h++) {
		Taskwire__Header *hd = &c->headers[c->frame.n_tasks][h];

		taskwire__header__init(hd);
		hd->key = arena_copy(c, p->headers[h].key, strlen(p->headers[h].key));
		hd->value = arena_copy(c, p->headers[h].value, strlen(p->headers[h].value));
		t->headers[h] = hd;
	}
	c->task_ptrs[c->frame.n_tasks++] = t;
	c->frame_bytes += cost;
	*task_id = t->id;
	return 0;
}

/* Queue a datagram to send (tw_client_outq.h: it goes out with others). */
int
tw_client_send_datagram(struct tw_client *c, const uint8_t *buf, size_t len)
{
	return tw_outq_add(c->outq, buf, len);
}

/* One datagram: a whole frame as it is; a fragment with our cookie after it,
 * since the engine checks each fragment's before it keeps any of them. */
static int
send_one(void *arg, const uint8_t *buf, size_t len, bool piece)
{
	struct tw_client *c = arg;
	uint8_t dgram[TW_DATAGRAM_MAX + TW_COOKIE_JAR_EXTRA];

	if (!piece)
		return tw_client_send_datagram(c, buf, len);
	memcpy(dgram, buf, len);
	len = tw_cookie_jar_append(&c->cookie, dgram, len);
	return tw_client_send_datagram(c, dgram, len);
}

/* A frame over one datagram goes in fragments under its frame id as message id:
 * a retransmit of it fills in what the engine may still be missing. */
int
tw_client_send_bytes(struct tw_client *c, const uint8_t *buf, size_t len, uint64_t frame_id)
{
	if (len > TW_DATAGRAM_MAX)
		c->stats.frames_fragmented++;
	return tw_frag_send_frame(buf, len, frame_id, frame_id, send_one, c);
}

int
tw_client_send_packed(struct tw_client *c, const uint8_t *frame, size_t len)
{
	if (frame != c->sendbuf)
		memcpy(c->sendbuf, frame, len);
	len = tw_cookie_jar_append(&c->cookie, c->sendbuf, len);
	if (c->key != NULL) {
		/* the mac field last: tag (field 9, bytes), length, HMAC of all before it */
		c->sendbuf[len] = (9 << 3) | 2;
		c->sendbuf[len + 1] = TW_MAC_LEN;
		tw_mac(c->key, c->sendbuf, len, c->sendbuf + len + 2);
		len += 2 + TW_MAC_LEN;
	}
	return tw_client_send_bytes(c, c->sendbuf, len, tw_frag_frame_id_of(c->sendbuf, len));
}

int
tw_client_send_frame(struct tw_client *c, Taskwire__Frame *f, bool delayed)
{
	struct sent_frame *h;
	size_t len;
	int ret;

	f->frame_id = c->next_frame_id++;
	/* at-least-once: the engine must suppress duplicates of our retransmits */
	f->retransmits = c->retransmit_ms != 0;
	if (c->key != NULL) {
		f->key_id = c->key->id;
		/* under the MAC: the engine takes a signed frame once, and only
		 * within its replay window of this time */
		f->sent_us = unix_us();
	}
	len = taskwire__frame__get_packed_size(f);
	if (len + TW_COOKIE_JAR_EXTRA + 2 + TW_MAC_LEN > SEND_BYTES)
		return -EMSGSIZE;
	len = taskwire__frame__pack(f, c->sendbuf);
	ret = tw_client_send_packed(c, c->sendbuf, len);
	if (ret != 0)
		return ret; /* the caller may retry */
	h = &c->history[f->frame_id % HISTORY];
	h->frame_id = f->frame_id;
	h->first_task = f->tasks[0]->id;
	h->n_tasks = (uint32_t)f->n_tasks;
	h->delayed = delayed;
	/* sendbuf still starts with the frame as packed */
	tw_retx_sent(c, h, c->sendbuf, len);
	c->stats.frames_sent++;
	c->stats.tasks_sent += f->n_tasks;
	return 0;
}

/*
 * The engine refused frame f_id whole until we prove we receive at our
 * address: its reply brought the cookie (kept already); the frame goes
 * again at once with it. @return true if it was sent again (the NACK is
 * then not the caller's business), false if it cannot be (retransmission
 * off: its bytes were not kept; or refused thrice: the NACK is delivered).
 */
static bool
cookie_retry(struct tw_client *c, uint64_t f_id)
{
	struct sent_frame *h = &c->history[f_id % HISTORY];

	if (h->frame_id != f_id || h->bytes == NULL || h->cookie_retries >= 3)
		return false;
	if (tw_client_send_packed(c, h->bytes, h->len) != 0)
		return false;
	h->cookie_retries++;
	h->sent_ms = tw_client_now_ms();
	c->stats.cookie_retries++;
	return true;
}

/* The pending frame, queued to send. */
static int
frame_send(struct tw_client *c)
{
	int ret;

	if (c->frame.n_tasks == 0)
		return 0;
	ret = tw_client_send_frame(c, &c->frame, c->pending_delayed);
	if (ret != 0)
		return ret; /* the pending frame stays; the caller may retry */
	frame_reset(c);
	return 0;
}

int
tw_client_flush(struct tw_client *c)
{
	int ret = frame_send(c);

	return ret != 0 ? ret : tw_outq_send(c->outq);
}

/*
 * A confirm is delivered once per task; a NACK also ends the task (no
 * result will come), so it counts as its result for retransmission.
 */
static bool
accept_confirm(struct tw_client *c, uint64_t id, bool ack)
{
	if (!tw_retx_confirmed(c, id)) {
		c->stats.duplicates_dropped++;
		return false;
	}
	if (!ack)
		tw_retx_resolved(c, id);
	return true;
}

static int
deliver_frame(struct tw_client *c, const Taskwire__Frame *f, tw_event_fn fn, void *arg)
{
	int n = 0;

	tw_cookie_jar_take(&c->cookie, f);
	if (f->frame_id == PROBE_FRAME_ID)
		return 0; /* a late answer to the probe at open */
	if (tw_cookie_jar_asked(f) && f->frame_id != 0 && cookie_retry(c, f->frame_id))
		return 0;
	for (size_t i = 0; i < f->n_confirms; i++) {
		const Taskwire__Confirm *cf = f->confirms[i];
		struct tw_event ev = {
			.kind = TW_EV_CONFIRM,
			.task_id = cf->task_id,
			.frame_id = f->frame_id,
			.ack = cf->ack,
			.nack_reason = (int)cf->reason,
			.detail = cf->detail != NULL ? cf->detail : "",
		};
		const struct sent_frame *h = &c->history[f->frame_id % HISTORY];

		c->stats.confirms++;
		if (cf->task_id == 0 && h->frame_id == f->frame_id && f->frame_id != 0) {
			/* frame-level: one confirm per task of the frame */
			for (uint32_t k = 0; k < h->n_tasks; k++) {
				ev.task_id = h->first_task + k;
				if (!accept_confirm(c, ev.task_id, false))
					continue;
				if (fn != NULL)
					fn(&ev, arg);
				n++;
			}
			continue;
		}
		if (!accept_confirm(c, cf->task_id, cf->ack))
			continue;
		if (fn != NULL)
			fn(&ev, arg);
		n++;
	}
	for (size_t i = 0; i < f->n_results; i++) {
		const Taskwire__Result *r = f->results[i];
		struct tw_event ev = {
			.kind = TW_EV_RESULT,
			.task_id = r->task_id,
			.frame_id = f->frame_id,
			.state = (enum tw_state)r->state,
			.value = r->value.data,
			.value_len = r->value.len,
			.error = r->error != NULL ? r->error : "",
			.runtime_ns = r->runtime_ns,
		};

		c->stats.results++;
		/* its confirm was lost: the result proves the task was taken, so the
		 * caller still sees one ACK first (then the echo of it is dropped) */
		if (tw_retx_confirm_implied(c, r->task_id)) {
			struct tw_event ack = { .kind = TW_EV_CONFIRM, .task_id = r->task_id,
						.frame_id = f->frame_id, .ack = true, .detail = "" };

			if (fn != NULL)
				fn(&ack, arg);
			n++;
		}
		/* one final result per task (a fanout task: one per queue), whichever
		 * of the original and a re-sent copy comes first */
		if (r->state >= TASKWIRE__TASK_STATE__SUCCESS &&
		    !tw_retx_result(c, r->task_id, r->resent)) {
			c->stats.duplicates_dropped++;
			continue;
		}
		if (fn != NULL)
			fn(&ev, arg);
		n++;
	}
	return n;
}

/* One datagram the engine sent: a whole reply frame, or a piece of one. @return events. */
static int
receive_one(struct tw_client *c, const uint8_t *buf, size_t len, tw_event_fn fn, void *arg)
{
	const uint8_t *whole = buf;
	size_t whole_len = len;
	Taskwire__Frame *f;
	int n;

	c->stats.datagrams_received++;
	if (tw_frag_rx_take(c->frx, buf, len, &whole, &whole_len) == TW_FRAG_RX_TAKEN)
		return 0; /* a piece of a larger reply */
	f = taskwire__frame__unpack(NULL, whole_len, whole);
	if (f == NULL || f->magic != TW_FRAME_MAGIC) {
		c->stats.bad_datagrams++;
		if (f != NULL)
			taskwire__frame__free_unpacked(f, NULL);
		return 0;
	}
	n = deliver_frame(c, f, fn, arg);
	taskwire__frame__free_unpacked(f, NULL);
	return n;
}

/*
 * Deliver every datagram the socket holds now, RECV_BATCH per recvmmsg(2)
 * (a reply is at most TW_DATAGRAM_MAX: one larger is cut short, and
 * counted bad). @return events delivered, or -errno.
 */
static int
receive_all(struct tw_client *c, tw_event_fn fn, void *arg)
{
	struct mmsghdr v[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	int n = 0;

	_Static_assert(RECV_BATCH * RECV_SLOT <= RECV_BYTES, "recvbuf holds a batch");
	_Static_assert(RECV_SLOT >= TW_DATAGRAM_MAX, "a slot holds a reply");
	/* Bounded by what the socket holds now. */
	for (;;) {
		int got;

		memset(v, 0, sizeof(v));
		for (int i = 0; i < RECV_BATCH; i++) {
			iov[i].iov_base = c->recvbuf + (size_t)i * RECV_SLOT;
			iov[i].iov_len = RECV_SLOT;
			v[i].msg_hdr.msg_iov = &iov[i];
			v[i].msg_hdr.msg_iovlen = 1;
		}
		got = recvmmsg(c->fd, v, RECV_BATCH, MSG_DONTWAIT, NULL);
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			/* ECONNREFUSED: an ICMP port unreachable; nobody listens yet */
			return n > 0 ? n : -errno;
		}
		c->stats.receive_calls++;
		for (int i = 0; i < got; i++) {
			if (v[i].msg_hdr.msg_flags & MSG_TRUNC) {
				c->stats.datagrams_received++;
				c->stats.bad_datagrams++;
				continue;
			}
			n += receive_one(c, iov[i].iov_base, v[i].msg_len, fn, arg);
		}
		/* fewer than asked for: the socket is empty now (no call to learn it) */
		if (got < RECV_BATCH)
			break;
	}
	return n;
}

int
tw_client_poll(struct tw_client *c, int timeout_ms, tw_event_fn fn, void *arg)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	uint64_t now;
	int n, ret;

	/*
	 * What already arrived first: a confirm or result waiting unread in
	 * the socket (the caller was busy) is no loss, and sending its frame
	 * again would make a copy the engine may not recognise (an engine
	 * with several io lcores keeps one duplicate table per lcore, and a
	 * retransmit may reach another).
	 */
	/* what was published since the last call goes out first, together */
	ret = tw_outq_send(c->outq);
	if (ret < 0)
		return ret;
	n = receive_all(c, fn, arg);
	if (n < 0)
		return n;
	now = tw_client_now_ms();
	ret = tw_retx_run(c, now);
	if (ret < 0)
		return ret;
	ret = tw_outq_send(c->outq); /* the retransmits */
	if (ret < 0)
		return ret;
	if (n > 0)
		return n;
	ret = poll(&pfd, 1, tw_retx_timeout(c, timeout_ms, now));
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	if (ret == 0)
		return 0;
	return receive_all(c, fn, arg);
}

struct wait_ctx {
	uint64_t id;
	uint64_t nack_first;    /* a NACK of these ids ends the wait too (workflows) */
	uint64_t nack_n;
	struct tw_outcome *out;
	bool done;
	tw_event_fn fn;
	void *arg;
};

char *
tw_client_dup_bytes(const void *p, size_t len)
{
	char *d = malloc(len + 1);

	if (d != NULL) {
		if (len != 0) /* an empty value may come as NULL */
			memcpy(d, p, len);
		d[len] = '\0';
	}
	return d;
}

static void
wait_event(const struct tw_event *ev, void *arg)
{
	struct wait_ctx *w = arg;

	if (ev->kind == TW_EV_CONFIRM && !ev->ack && ev->task_id - w->nack_first < w->nack_n) {
		w->out->confirmed = true;
		w->out->nack_reason = ev->nack_reason;
		free(w->out->detail);
		w->out->detail = tw_client_dup_bytes(ev->detail, strlen(ev->detail));
		w->done = true;
		return;
	}
	if (ev->task_id != w->id) {
		if (w->fn != NULL)
			w->fn(ev, w->arg);
		return;
	}
	if (ev->kind == TW_EV_CONFIRM) {
		w->out->confirmed = true;
		w->out->ack = ev->ack;
		w->out->nack_reason = ev->nack_reason;
		free(w->out->detail);
		w->out->detail = tw_client_dup_bytes(ev->detail, strlen(ev->detail));
		if (!ev->ack)
			w->done = true;
		return;
	}
	/* PROGRESS, RETRY and other interim states: shown, not the end */
	if (ev->state < TW_STATE_SUCCESS) {
		if (w->fn != NULL)
			w->fn(ev, w->arg);
		return;
	}
	/* a fanout task answers once per queue: the last result is kept */
	free(w->out->value);
	free(w->out->error);
	w->out->has_result = true;
	w->out->state = ev->state;
	w->out->value = (uint8_t *)tw_client_dup_bytes(ev->value, ev->value_len);
	w->out->value_len = ev->value_len;
	w->out->error = tw_client_dup_bytes(ev->error, strlen(ev->error));
	w->out->runtime_ns = ev->runtime_ns;
	w->done = true;
}

uint64_t
tw_client_now_ms(void)
{
	return tw_monotonic_ms();
}

int
tw_client_wait(struct tw_client *c, uint64_t task_id, int timeout_ms, struct tw_outcome *out,
	       tw_event_fn fn, void *arg)
{
	return tw_client_wait_range(c, task_id, 0, 0, timeout_ms, out, fn, arg);
}

int
tw_client_wait_range(struct tw_client *c, uint64_t task_id, uint64_t nack_first, uint64_t nack_n,
		     int timeout_ms, struct tw_outcome *out, tw_event_fn fn, void *arg)
{
	struct wait_ctx w = { task_id, nack_first, nack_n, out, false, fn, arg };
	/* +1: the clock is read in whole ms; never return before timeout_ms has passed */
	uint64_t deadline = tw_client_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) + 1;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = tw_client_flush(c);
	if (ret != 0)
		return ret;
	while (!w.done) {
		uint64_t now = tw_client_now_ms();

		if (timeout_ms >= 0 && now >= deadline)
			return -ETIMEDOUT;
		ret = tw_client_poll(c, timeout_ms < 0 ? -1 : (int)(deadline - now), wait_event, &w);
		if (ret < 0 && ret != -ECONNREFUSED)
			return ret;
	}
	return 0;
}

void
tw_outcome_clear(struct tw_outcome *out)
{
	free(out->detail);
	free(out->value);
	free(out->error);
	memset(out, 0, sizeof(*out));
}

void
tw_client_get_stats(const struct tw_client *c, struct tw_client_stats *s)
{
	*s = c->stats;
	tw_frag_rx_counts(c->frx, &s->fragments_refused, &s->reassembly_timeouts,
			  &s->replies_reassembled);
	s->datagrams_sent = c->outq->datagrams;
	s->send_calls = c->outq->calls;
}

const char *
tw_state_name(enum tw_state s)
{
	static const char *const names[] = {
		"PENDING", "RECEIVED", "STARTED", "PROGRESS", "RETRY",
		"SUCCESS", "FAILURE", "REVOKED", "EXPIRED", "REJECTED",
	};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "UNKNOWN";
}

const char *
tw_nack_reason_name(int reason)
{
	static const char *const names[] = {
		"none", "malformed", "bad-version", "too-large", "unroutable",
		"queue-full", "unknown-exchange", "no-resources", "invalid-task",
		"access-refused", "no-scheduler", [TASKWIRE__NACK_REASON__NACK_RETRY_WITH_COOKIE] = "retry-with-cookie",
	};
	/* 11 is not a reason (the table has a hole there) */
	return reason >= 0 && (unsigned)reason < sizeof(names) / sizeof(names[0]) &&
			       names[reason] != NULL
		       ? names[reason]
		       : "unknown";
}

int
tw_client_parse_engine(const char *engine, struct sockaddr_in *a)
{
	return parse_engine(engine, a);
}
