/*
 * libtaskwire internals shared by tw_client.c (publishing, receiving) and
 * tw_client_retx.c (retransmission). Not installed.
 */
#ifndef TW_CLIENT_PRIV_H
#define TW_CLIENT_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "taskwire.pb-c.h"
#include "taskwire/client.h"
#include "tw_cookie_jar.h"
#include "tw_keys.h"
#include "tw_frag_client.h"
#include "tw_client_outq.h"
#include "tw_limits.h"

#define MAX_TASKS_PER_FRAME TW_FRAME_MAX_TASKS
#define HISTORY 16384           /* sent frames remembered: frame-level NACKs, retransmission */
/* copies of the pending frame's strings and bytes: room for one task as
 * large as a fragmented frame may be (malloc'd, touched only as used) */
#define ARENA_BYTES (TW_FRAG_LIMIT + 65536)
#define RECV_BYTES 65536
/* replies read per recvmmsg(2): each at most TW_DATAGRAM_MAX, in RECV_SLOT */
#define RECV_BATCH 32
#define RECV_SLOT 2048
#define SEND_BYTES (ARENA_BYTES * 2) /* a frame never holds more than its arena */
#define CLIENT_RX_TIMEOUT_MS 5000 /* a fragmented reply not whole by then is given up */

struct sent_frame {
	uint64_t frame_id;
	uint64_t first_task;    /* task ids of a frame are consecutive */
	uint32_t n_tasks;
	/* at-least-once (tw_client_retx.c): the frame's bytes until every task
	 * is confirmed and has its final result */
	uint8_t *bytes;         /* NULL: nothing left to retransmit */
	uint32_t len;
	uint32_t attempts;
	uint64_t sent_ms;
	uint32_t rto_ms;
	uint32_t unconfirmed, unresolved;
	uint32_t cookie_retries;   /* sent again for a retry-with-cookie */
	bool delayed;           /* eta/countdown tasks: results are not waited for */
	uint64_t confirmed[MAX_TASKS_PER_FRAME / 64], resolved[MAX_TASKS_PER_FRAME / 64];
	/* resolved by a re-sent result that overtook the original (another
	 * lcore sent it): that original, when it comes, is its echo */
	uint64_t resent_first[MAX_TASKS_PER_FRAME / 64];
};

struct tw_client {
	int fd;
	unsigned max_tasks;
	size_t max_bytes;
	uint64_t next_task_id;
	uint64_t next_frame_id;

	/* the pending frame */
	Taskwire__Frame frame;
	Taskwire__Task tasks[MAX_TASKS_PER_FRAME];
	Taskwire__RetryPolicy retry[MAX_TASKS_PER_FRAME];
	Taskwire__Task *task_ptrs[MAX_TASKS_PER_FRAME];
	Taskwire__Header *header_ptrs[MAX_TASKS_PER_FRAME][TW_MAX_TASK_HEADERS];
	Taskwire__Header headers[MAX_TASKS_PER_FRAME][TW_MAX_TASK_HEADERS];
	size_t frame_bytes;     /* packed size of the pending frame */
	uint8_t *arena;
	size_t arena_used;

	struct sent_frame history[HISTORY];
	uint8_t *sendbuf;
	uint8_t *recvbuf;
	struct tw_client_stats stats;
	/* retransmission */
	uint32_t retransmit_ms;    /* first timeout, 0: off */
	uint32_t max_attempts;
	uint64_t next_check_ms;
	uint64_t oldest_frame;     /* no frame before it has bytes left */
	bool pending_delayed;      /* the pending frame holds an eta/countdown task */
	struct tw_key *key;        /* frames are signed with it, NULL: not */
	struct tw_cookie_jar cookie; /* the engine's source cookie for us */
	uint8_t probebuf[128];     /* the probe at open (tw_client.c) */
	struct tw_frag_rx *frx;    /* the engine's fragmented replies (large results) */
	struct tw_outq *outq;      /* datagrams to send together (tw_client_outq.h) */
};


/** A NUL-terminated malloc'd copy of len bytes (p may be NULL when len is 0). */
char *tw_client_dup_bytes(const void *p, size_t len);

/** Fill t's Celery options from p (countdown and expires made absolute). */
void tw_client_set_options(Taskwire__Task *t, const struct tw_publish *p, Taskwire__RetryPolicy *rp);

/**
 * Send frame f (its tasks' ids consecutive, the first one f->tasks[0]->id)
 * and track it for retransmission; delayed: done once confirmed (results
 * are not waited for). Sets frame_id and retransmits. @return 0 or -errno.
 */
int tw_client_send_frame(struct tw_client *c, Taskwire__Frame *f, bool delayed);

/** Send a frame's encoded bytes: one datagram, or fragments when larger. @return 0 or -errno. */
int tw_client_send_bytes(struct tw_client *c, const uint8_t *buf, size_t len, uint64_t frame_id);

/** tw_client_wait(), also ended by a NACK of ids [nack_first, nack_first + nack_n). */
int tw_client_wait_range(struct tw_client *c, uint64_t task_id, uint64_t nack_first,
			 uint64_t nack_n, int timeout_ms, struct tw_outcome *out, tw_event_fn fn,
			 void *arg);

/* retransmission (tw_client_retx.c) */

/** A frame was sent: keep its bytes until it is confirmed and resolved. */
void tw_retx_sent(struct tw_client *c, struct sent_frame *h, const uint8_t *bytes, size_t len);

/**
 * Account one confirm or final result for task id. @return false if it
 * repeats one already delivered (a retransmit's echo): drop the event.
 */
bool tw_retx_confirmed(struct tw_client *c, uint64_t id);
bool tw_retx_resolved(struct tw_client *c, uint64_t id);

/**
 * A final result arrived (resent: the engine's answer to a retransmit).
 * @return true if the caller gets it: the first of a task, and every
 * further original (a fanout task has one per queue) except the one a
 * re-sent result stood in for.
 */
bool tw_retx_result(struct tw_client *c, uint64_t id, bool resent);

/** A result arrived: @return true if the task's confirm was never delivered (tracked tasks only). */
bool tw_retx_confirm_implied(struct tw_client *c, uint64_t id);

/** Resend what timed out. @return frames resent, or -errno. */
int tw_retx_run(struct tw_client *c, uint64_t now_ms);

/** @return the longest the caller may block before tw_retx_run is due. */
int tw_retx_timeout(const struct tw_client *c, int timeout_ms, uint64_t now_ms);

/** Release every kept frame. */
void tw_retx_free(struct tw_client *c);

/* tw_client.c */
struct sockaddr_in;
/** Parse "IP:PORT" into a. @return 0 or -EINVAL. (Also the worker API's.) */
int tw_client_parse_engine(const char *engine, struct sockaddr_in *a);
int tw_client_send_datagram(struct tw_client *c, const uint8_t *buf, size_t len);
/**
 * Send a packed frame (as kept for retransmission: without cookie or MAC)
 * with the current cookie (or padding) appended, then signed if the
 * client has a key. @return 0 or -errno.
 */
int tw_client_send_packed(struct tw_client *c, const uint8_t *frame, size_t len);
uint64_t tw_client_now_ms(void);

struct tw_key;
/**
 * The key key_id from the keys file at path (the engine's format and
 * checks), alone: the file's other keys are wiped. @return it (the caller
 * wipes and frees it), or NULL with errno set (EPERM: a file others may
 * read, ENOENT: no such id) and err saying why.
 */
struct tw_key *tw_client_key_load(const char *path, uint32_t key_id, char *err, size_t errlen);
/** Unix time in microseconds (a signed frame's sent_us). */
uint64_t tw_client_unix_us(void);

#endif
