/*
 * What a worker (tw_worker.c) and a set of workers sharing one socket
 * (tw_worker_set.c) know of each other: the worker's state, and the few
 * steps the set drives for its members in place of their own socket and
 * heartbeat thread.
 *
 * A member of a set is used by one thread, the one that polls the set:
 * the set reads the shared socket and hands each member what the engine
 * sent it (by consumer id, and acks' answers by delivery tag), and its
 * timer sends the members' heartbeats, resends their acks and finishes
 * their closes.
 */
#ifndef TW_WORKER_PRIV_H
#define TW_WORKER_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "taskwire.pb-c.h"
#include "taskwire/worker.h"
#include "tw_client_priv.h"
#include "tw_cookie_jar.h"
#include "tw_idmap.h"
#include "tw_tag_table.h"

#define TW_WK_LATER_MAX 256     /* acks held for tw_worker_flush_acks() before they go anyway */

/* Where a member of a set is in its asynchronous close. */
enum tw_wk_close {
	TW_WK_OPEN = 0,
	TW_WK_CLOSE_CANCEL,      /* the cancel sent (with the acks awaiting answers): its
				  * answer, and theirs, awaited */
};

struct tw_worker {
	int fd;                  /* its own socket, or its set's */
	struct tw_worker_set *set; /* NULL: alone */
	void *user;
	uint64_t id;
	uint64_t next_frame_id;
	char **queues;
	size_t n_queues;
	char name[64];
	char host[64];
	uint32_t prefetch, lease_ms, heartbeat_ms;     /* asked */
	uint32_t g_prefetch, g_lease_ms, g_heartbeat_ms; /* granted */
	bool hold;               /* Subscribe.hold */
	bool cancelling;         /* Cancel sent: the next answer for us is its answer */
	bool cancel_answered;
	bool subscribed;         /* the engine's answer arrived (ok) */
	bool refused;
	bool resubscribe;        /* the engine forgot us: subscribe again */
	/* a window change not answered yet: the heartbeat sends the
	 * subscription (atomic: set by the poller, cleared by either) */
	uint32_t change_left;
	bool cookie_retry;       /* a frame was refused for want of a cookie, which came */
	/* the engine's source cookie for our address and port (tw_cookie_jar.h):
	 * own_jar alone, the set's in a set (one socket, one cookie) */
	struct tw_cookie_jar own_jar, *jar;
	char refusal[160];
	struct tw_key *key;      /* frames are signed with it, NULL: not */

	pthread_t hb;
	bool hb_started;
	bool stop;               /* heartbeat thread: atomic, pairs with the store in close */

	/* tw_worker_open_async: when the subscribe goes again, when to give up */
	bool opening;
	uint64_t open_resend_ms, open_deadline_ms;

	/* acks for tw_worker_flush_acks: each an encoded Frame.acks field,
	 * later_off[i]..later_off[i + 1] (the polling thread's alone) */
	uint8_t *later;
	uint32_t later_off[TW_WK_LATER_MAX + 1];
	uint32_t n_later, later_cap;
	bool later_untracked;    /* one of them is not in the pending table (no memory) */

	pthread_mutex_t mu;
	/* the final acks awaiting their answer, as many as are out (the table
	 * grows, and shrinks back: a worker of a set costs little while it
	 * acks little); due_ms: when one goes again, bytes: its frame (the
	 * header, then from body_off its ack field, 0: a frame sent whole) */
	struct tw_tag_table pend;
	uint64_t pend_next_ms;   /* the earliest due_ms in pend (a lower bound) */
	/* acks sent but not kept in pend (progress, a second ack of one tag,
	 * no memory): their answers match no entry, and are told from
	 * repeated answers by this */
	uint64_t n_untracked;
	/* extend_leases: the deliveries handed to the caller and not acked
	 * yet; due_ms: when the lease is next refreshed (UINT64_MAX: no more,
	 * the engine refused a refresh), period_ms: a third of the lease */
	bool extend;
	struct tw_tag_table run;
	uint64_t run_next_ms;    /* the earliest due_ms in run (a lower bound) */
	struct tw_worker_stats stats;
	char last_refusal[160];

	/* deliveries received, not yet returned by poll */
	struct tw_delivery **backlog;
	size_t n_backlog, cap_backlog;
	uint8_t *recvbuf;        /* alone: RECV_BATCH * RECV_SLOT (a set reads into its own) */
	struct tw_frag_rx *frx;  /* large deliveries in fragments: its own, or its set's */

	/* in a set */
	struct tw_worker *set_prev, *set_next; /* the set's members, or its closing ones */
	bool ready;              /* on the set's ready list */
	struct tw_worker *ready_prev, *ready_next;
	uint64_t next_hb_ms;
	enum tw_wk_close close;
	void *close_told;        /* reported by tw_worker_set_closed() when the close ends */
	uint64_t close_deadline_ms, cancel_resend_ms;
	int cancel_sends;
};

struct tw_worker_set {
	int fd;
	struct tw_cookie_jar jar;
	struct tw_frag_rx *frx;
	uint8_t recvbuf[RECV_BATCH * RECV_SLOT];
	struct tw_idmap by_id;   /* consumer id -> member (closing ones too) */
	struct tw_idmap by_tag;  /* delivery tag of an ack awaiting its answer -> member */
	struct tw_worker *members, *closing; /* doubly linked through set_prev/set_next */
	uint32_t n_members, n_closing;
	struct tw_worker *ready_head, *ready_tail;
	/* what a frame of the batch said for every member, acted on after it */
	bool cookie_asked;
	bool frame_refused;
	char refusal[160];
	uint64_t next_tick_ms;   /* heartbeats and resends */
	uint64_t next_close_ms;  /* closes under way (UINT64_MAX: none) */
	/* closes ended whose caller wants to be told (tw_worker_set_closed) */
	struct tw_wk_told { void *told; bool answered; } *told;
	size_t n_told, cap_told;
	size_t told_kept;        /* closes under way that will be told: room kept for each */
	struct tw_worker_set_stats stats;
};

/* tw_worker.c, for the set */
struct sockaddr_in;
/** A UDP socket connected to a, with a large receive buffer. @return it or -errno. */
int tw_wk_socket(const struct sockaddr_in *a);
/*
 * Read every datagram fd holds, waiting up to timeout_ms for the first,
 * RECV_BATCH per recvmmsg(2) into buf (RECV_BATCH slots of RECV_SLOT):
 * each whole frame (pieces of a large one kept in frx until it is whole)
 * goes to on_frame, then is freed; a datagram cut short or that is no
 * frame of ours is counted in *bad. @return 0 or -errno.
 */
int tw_wk_receive_frames(int fd, uint8_t *buf, struct tw_frag_rx *frx, int timeout_ms,
			 void (*on_frame)(void *arg, const Taskwire__Frame *f), void *arg,
			 uint64_t *bad);
int tw_wk_send_subscribe(struct tw_worker *w);
int tw_wk_send_id_message(struct tw_worker *w, bool cancel);
int tw_wk_send_ack(struct tw_worker *w, uint64_t tag, const struct tw_ack *a, bool cancel);
/**
 * The cancel, in one frame with every ack still awaiting its answer (held
 * ones too): the engine takes the acks, then the cancel, so that a lost ack
 * cannot put an acked task back, and nothing is delivered in between.
 */
int tw_wk_send_acks_cancel(struct tw_worker *w);
/** A consumer reply meant for w (its id). */
void tw_wk_consumer_reply(struct tw_worker *w, const Taskwire__ConsumerReply *r);
/** An answer to one of w's acks. */
void tw_wk_ack_answered(struct tw_worker *w, const Taskwire__AckReply *r);
/** A delivery for w: into its backlog. */
void tw_wk_delivered(struct tw_worker *w, const Taskwire__Deliver *m);
/** Resend w's overdue acks. @return the ms until the next is due (bounded). */
int tw_wk_resend_acks(struct tw_worker *w);
/** extend_leases: refresh the leases of w's running deliveries that are due (now: monotonic ms). */
void tw_wk_extend_leases(struct tw_worker *w, uint64_t now);
/** The cookie came with a refusal: send again what the refused frame may have held. */
void tw_wk_cookie_retry(struct tw_worker *w);
/** Free w's memory (its socket only when alone). */
void tw_wk_free(struct tw_worker *w);

/* tw_worker_set.c, for the worker */
/** Join w (made, not subscribed yet) to s. @return 0 or -ENOMEM. */
int tw_wk_set_join(struct tw_worker_set *s, struct tw_worker *w);
/** An ack of w's awaits its answer under tag (0 or -ENOMEM: its answer then goes unrouted). */
void tw_wk_set_tag(struct tw_worker_set *s, uint64_t tag, struct tw_worker *w, bool add);
/** Read what waits on the set's socket (waiting up to timeout_ms) and hand it out. */
int tw_wk_set_receive(struct tw_worker_set *s, int timeout_ms);
/** Leave the set at once (freed by the caller). */
void tw_wk_set_leave(struct tw_worker_set *s, struct tw_worker *w);
/** Begin w's asynchronous close (w is the set's from now on); a: its last ack goes with the
 * cancel (a final outcome), NULL: none; told: for tw_worker_set_closed() when it ends.
 * @return 0, or -ENOMEM (no room to keep told: closed all the same, not told). */
int tw_wk_set_close(struct tw_worker_set *s, struct tw_worker *w, uint64_t tag,
		    const struct tw_ack *a, void *told);
/** Drive the set until w's close is done (bounded by the close's own bounds). */
void tw_wk_set_close_wait(struct tw_worker_set *s, struct tw_worker *w);

#endif
