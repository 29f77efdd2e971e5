/*
 * tw-amqp: an AMQP 0-9-1 server in front of a taskwire engine.
 *
 * One event-loop thread (epoll, level-triggered) owns every connection,
 * channel and consumer, and nothing else runs: every consumer is a worker
 * of one libtaskwire worker set (one UDP socket, its heartbeats and
 * closes timed from this loop), however many there are. The model is the engine's: exchanges, queues and
 * bindings are declared through tw-control's socket, a basic.publish is a
 * Task published on the native wire (tw_client), a basic.consume is a
 * remote consumer subscription (tw_worker) whose credit window is the
 * channel's basic.qos prefetch. tw-amqp itself keeps only what AMQP ties
 * to a connection: channels, delivery tags, unconfirmed publishes, and
 * which queues are exclusive or auto-delete.
 */
#ifndef AMQP_SERVER_H
#define AMQP_SERVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <taskwire/client.h>
#include <taskwire/worker.h>

#include "amqp_codec.h"
#include "tw_idmap.h"

#define AMQP_CHANNEL_MAX 2047      /* channels a connection may open (offered in tune) */
#define AMQP_FRAME_MAX 131072      /* largest frame accepted (offered in tune) */
#define AMQP_FRAME_MIN 4096        /* the spec's minimum frame_max */
/* Output a connection may have queued before tw-amqp stops reading from
 * it and stops delivering to it: a client that does not read cannot make
 * the server buffer without bound, and others are not slowed. */
#define AMQP_OUT_HIGH (4u << 20)
#define AMQP_OUT_LOW (1u << 20)

/* What an epoll registration points to. */
enum amqp_ev_kind { EV_LISTEN = 1, EV_CONN, EV_PUBLISHER, EV_CONSUMERS, EV_CONTROL };

/* Input a connection may hold for channels parked on tw-control's answer
 * before tw-amqp stops reading it (its other channels wait in TCP). */
#define AMQP_PARKED_HIGH (4u << 20)

struct amqp_server;
struct amqp_conn;
struct amqp_channel;
struct Taskwire__Control__Request;
struct Taskwire__Control__Response;
struct amqp_ctl_call;

/**
 * What to do with tw-control's answer to one request: resp on success
 * (borrowed), else NULL with err (tw-control's refusal, a timeout, a lost
 * connection). ch: the channel parked on it, still open (maybe closing),
 * or NULL (gone, or none). The call's fields are the method's own state.
 */
typedef void (*amqp_ctl_done_fn)(struct amqp_server *s, struct amqp_ctl_call *call,
				 struct amqp_channel *ch,
				 const struct Taskwire__Control__Response *resp, const char *err);

/* One request to tw-control and what its continuation needs. */
struct amqp_ctl_call {
	struct amqp_ctl_call *next;
	uint8_t *req;                     /* framed: 4-byte length, packed Request */
	size_t req_len;
	bool idempotent;                  /* may be sent again on a new connection */
	bool resent;                      /* it was, once */
	bool unanswered;                  /* err is tw-control's silence, not its refusal */
	uint64_t deadline_ms;
	amqp_ctl_done_fn done;
	/* the channel parked on it (conn_id 0: none) */
	uint64_t conn_id;
	uint16_t channel;
	uint64_t epoch;
	uint32_t method;
	/* the method's state for its continuation */
	int stage;
	uint8_t bits;
	uint32_t u32;
	uint64_t u64;
	char name[256];
	char name2[256];
};

/* The persistent connection to tw-control (amqp_ctl.c). */
struct amqp_ctl {
	enum amqp_ev_kind kind;           /* EV_CONTROL: first, for epoll */
	int fd;                           /* -1: not connected */
	uint32_t events;
	struct amqp_ctl_call *head, *tail; /* in order; answers come for head first */
	struct amqp_ctl_call *wr;         /* the first not written whole (NULL: all written) */
	size_t wr_off;
	uint32_t n_calls;
	int depth;                        /* inside a continuation: no writing */
	uint8_t *in;
	size_t in_len, in_cap;
	uint64_t retry_ms;                /* next connection attempt */
	uint64_t last_use_ms;
	char last_err[160];               /* why the last connection attempt failed */
};

/* A channel frame that came while its channel waited for tw-control. */
struct amqp_parked {
	struct amqp_parked *next;
	uint8_t type;
	uint32_t len;
	uint8_t data[];
};

/* A basic.consume (or a basic.get's short-lived subscription). */
struct amqp_consumer {
	bool dead;                        /* closed, buried until the pass ends */
	struct amqp_consumer *next;       /* in its channel */
	struct amqp_channel *ch;
	char tag[256];
	char queue[256];
	struct tw_worker *w;
	bool no_ack;
	bool cancelled;                   /* basic.cancel: waits for its unacked to be settled */
	bool is_get;                      /* a basic.get's subscription */
	bool paused;                      /* not polled (flow, slow client): deliveries wait in its
					   * worker, no more than its engine credit */
	uint32_t unacked;
	uint32_t window;                  /* the engine credit asked for it last */
	/* opening: the engine's answer to its subscribe is awaited (the loop
	 * goes on, its channel waits); for a basic.get, then its message, until
	 * get_deadline_ms (then get-empty) */
	bool subscribing;
	bool get_waiting;
	bool nowait;                      /* basic.consume no-wait: no consume-ok */
	uint32_t method;                  /* basic.consume or basic.get: named in errors */
	uint32_t get_count;               /* basic.get-ok's message count */
	uint64_t get_deadline_ms;
	struct amqp_consumer *wait_next;  /* on the server's list of those opening or getting */
	bool acks_waiting;                /* acks held in its worker until the pass ends */
	struct amqp_consumer *flush_next; /* on the server's list of those */
};

/* A delivery the engine made that waits for room under its consumer's or
 * its channel's basic.qos limit (already unacked in the engine, not yet sent). */
struct amqp_held {
	struct amqp_held *next;
	struct amqp_consumer *c;
	struct tw_delivery *d;
};

/* A delivery the client has not settled yet. */
struct amqp_unacked {
	uint64_t tag;                     /* the channel's delivery tag */
	uint64_t engine_tag;
	struct amqp_consumer *c;
};

/* A message being received (method, header, body frames). */
struct amqp_incoming {
	bool active;
	bool have_header;
	char exchange[256];
	char routing_key[256];
	bool mandatory;
	bool too_large;                   /* refused already: its frames are skipped */
	uint64_t body_size;
	uint8_t *props;
	uint32_t props_len;
	uint8_t *body;
	uint64_t body_len;
};

struct amqp_channel {
	struct amqp_conn *conn;
	uint16_t num;
	uint64_t epoch;                   /* tells a reopened channel from the one a confirm was for */
	bool closing;                     /* channel.close sent, waiting for close-ok */
	bool confirm;                     /* confirm.select */
	bool flow_stopped;                /* channel.flow active=false */
	uint64_t publish_seq;             /* confirm mode: the last publish's number */
	uint32_t unconfirmed;             /* publishes the engine has not answered yet */
	uint16_t prefetch;                /* basic.qos global=false: each consumer's limit */
	uint16_t global_prefetch;         /* basic.qos global=true: the channel's limit, 0 none */
	struct amqp_held *held, *held_tail; /* deliveries waiting for room under the limits */
	char last_queue[256];             /* "" in queue methods means this one */
	uint64_t next_tag;
	struct amqp_incoming in;
	struct amqp_consumer *consumers;
	struct amqp_unacked *unacked;     /* ordered by tag */
	uint32_t n_unacked, cap_unacked;
	uint32_t next_ctag;
	/* parked: a method of this channel waits for tw-control's answer
	 * (AMQP orders a channel's methods); what comes meanwhile waits here */
	uint32_t waiting;                 /* answers still awaited */
	bool barrier;                     /* one of them: the engine's to its publishes */
	bool replaying;
	struct amqp_parked *parked, *parked_tail;
};

enum amqp_conn_state {
	CS_HEADER,        /* waiting for "AMQP" 0 0 9 1 */
	CS_START_OK,      /* connection.start sent */
	CS_TUNE_OK,       /* connection.tune sent */
	CS_OPEN,          /* waiting for connection.open */
	CS_RUNNING,
	CS_CLOSING,       /* connection.close sent: only close-ok (or close) is read */
	CS_DEAD,          /* flush what is queued, then close the socket */
};

struct amqp_conn {
	enum amqp_ev_kind kind;           /* EV_CONN: first, for epoll */
	bool dead;                        /* released, buried until the pass ends */
	struct amqp_conn *prev, *next;
	struct amqp_server *srv;
	int fd;
	uint64_t id;
	enum amqp_conn_state state;
	bool loopback;
	char peer[64];
	char user[128];
	uint32_t frame_max;
	uint16_t channel_max;
	uint16_t heartbeat_s;
	bool blocked_cap;                 /* its client takes connection.blocked/unblocked */
	bool told_blocked;                /* connection.blocked sent, unblocked not yet */
	uint64_t last_recv_ms, last_send_ms, opened_ms, closing_since_ms;
	uint8_t *in;
	size_t in_len, in_cap;
	uint64_t skip;                    /* input bytes to drop: the rest of an oversized frame */
	struct amqp_wr out;
	size_t out_off;                   /* bytes of out already written */
	bool throttled;                   /* output above AMQP_OUT_HIGH */
	bool marked;                      /* on the server's marked list */
	struct amqp_conn *mark_next;
	uint32_t events;                  /* what epoll watches now */
	struct amqp_channel **ch;         /* [channel_max + 1], NULL: not open */
	uint16_t ch_hi;                   /* the highest channel number opened so far */
	size_t parked_bytes;              /* of its channels' parked frames */
};

/* A publish waiting for the engine's confirm. */
struct amqp_pending {
	uint64_t conn_id;
	uint16_t channel;
	uint64_t epoch;
	uint64_t seq;                     /* 0: the channel is not in confirm mode */
	uint64_t deadline_ms;
	/* mandatory: what basic.return needs */
	bool mandatory;
	char *exchange, *routing_key;
	uint8_t *props, *body;
	uint32_t props_len, body_len;
};

/* A queue whose life AMQP ties to a connection or its consumers. */
struct amqp_qmeta {
	struct amqp_qmeta *next;
	char name[256];
	uint64_t owner;                   /* exclusive: the owning connection, 0: none */
	bool auto_delete;
	bool had_consumer;
	uint32_t consumers;               /* tw-amqp's consumers on it */
	uint32_t expires_ms;              /* x-expires: deleted after this long unused, 0: never */
	bool checking;                    /* x-expires: its consumers asked of the engine */
	uint64_t last_used_ms;            /* declared, consumed from, got from */
};

struct amqp_user {
	char name[128];
	char password[128];
};

#define AMQP_COUNTERS(X) \
	X(connections_accepted, "connections accepted") \
	X(connections_refused, "connections refused (limit, handshake)") \
	X(auth_refused, "logins refused (ACCESS_REFUSED)") \
	X(bad_header, "connections that did not start with the AMQP 0-9-1 header") \
	X(connection_errors, "connections closed with an error") \
	X(channel_errors, "channels closed with an error") \
	X(heartbeat_timeouts, "connections silent past two heartbeat intervals") \
	X(published, "messages published to the engine") \
	X(publish_refused, "messages refused before the engine (too large, no exchange)") \
	X(confirmed, "publishes the engine confirmed") \
	X(nacked, "publishes the engine refused (basic.nack)") \
	X(returned, "mandatory publishes returned (no route)") \
	X(confirm_timeouts, "publishes without the engine's answer in time (basic.nack)") \
	X(delivered, "messages delivered to AMQP consumers") \
	X(redelivered, "of those, redeliveries") \
	X(acked, "deliveries acked") \
	X(rejected, "deliveries rejected or nacked") \
	X(throttled, "times a connection's output passed the high mark") \
	X(queues_expired, "queues deleted after x-expires unused") \
	X(blocked, "times publishers were told connection.blocked") \
	X(qos_changes, "consumer credit windows changed while consuming") \
	X(held, "deliveries held for room under basic.qos limits") \
	X(ctl_requests, "requests to tw-control") \
	X(ctl_timeouts, "requests tw-control did not answer in time") \
	X(ctl_connects, "connections made to tw-control") \
	X(ctl_resent, "requests sent again after a lost tw-control connection") \
	X(parked_frames, "channel frames that waited for tw-control's answer") \
	X(subscribe_timeouts, "consumes and gets the engine did not answer in time (541)") \
	X(consumers_closed, "consumer subscriptions closed in the engine (basic.cancel, channel or connection gone)") \
	X(cancels_answered, "of those, cancels the engine answered") \
	X(cancel_timeouts, "of those, cancels the engine did not answer in time (closed anyway)")

struct amqp_counters {
#define X(n, d) uint64_t n;
	AMQP_COUNTERS(X)
#undef X
};

struct amqp_server {
	int epfd;
	int lfd;
	enum amqp_ev_kind listen_kind;    /* EV_LISTEN, registered for lfd */
	enum amqp_ev_kind pub_kind;       /* EV_PUBLISHER, registered for the client's fd */
	enum amqp_ev_kind consumers_kind; /* EV_CONSUMERS, registered for the worker set's fd */
	struct tw_worker_set *consumers;  /* every consumer's subscription: one socket */
	const char *engine;               /* "IP:PORT" of the engine's UDP wire */
	const char *control_socket;
	struct amqp_ctl ctl;
	uint32_t ctl_timeout_ms;          /* --control-timeout-ms */
	struct tw_client *pub;
	struct amqp_user *users;
	size_t n_users;
	bool guest_anywhere;
	uint32_t max_connections;
	uint32_t n_conns;
	uint16_t heartbeat_s;             /* offered in tune */
	uint32_t confirm_timeout_ms;
	uint64_t next_conn_id;
	struct amqp_conn *conns;
	struct tw_idmap conn_by_id;       /* id -> struct amqp_conn * */
	struct tw_idmap pending;          /* engine task id -> struct amqp_pending * */
	struct amqp_qmeta *qmeta;
	struct amqp_counters cnt;
	uint64_t now_ms;
	uint64_t next_sweep_ms;
	uint64_t next_expiry_ms;          /* the earliest x-expires to check, UINT64_MAX: none */
	/* connection.blocked: why publishers are told to stop ("" not blocked) */
	char blocked_reason[128];
	bool room_asked;                  /* the engine's status asked, not answered yet */
	uint32_t pending_high;            /* unconfirmed publishes that block (tw-amqp's own) */
	bool publish_dirty;               /* tasks appended, not flushed yet */
	struct amqp_conn *marked;         /* output queued by other events, to flush */
	/* channels whose publishes are all answered now, to resume after the poll */
	struct amqp_unbarred { uint64_t conn_id, epoch; uint16_t num; } *unbarred;
	size_t n_unbarred, cap_unbarred;
	/* consumers whose subscribe (or basic.get message) is awaited */
	struct amqp_consumer *waiting_consumers;
	/* consumers with acks held in their worker: one datagram each as the pass ends */
	struct amqp_consumer *ack_dirty;
	void **grave;                     /* freed at the end of the loop pass */
	size_t n_grave, cap_grave;
};

uint64_t amqp_now_ms(void);

/* amqp_conn.c: connections, frames, the connection and channel classes */
void amqp_conn_accept(struct amqp_server *s);
void amqp_conn_on_event(struct amqp_conn *c, uint32_t events);
void amqp_conn_timers(struct amqp_server *s);
void amqp_conn_flush(struct amqp_conn *c);
/** Output was queued for c outside its own event: flushed at the end of the pass. */
void amqp_conn_mark(struct amqp_conn *c);
void amqp_conn_flush_marked(struct amqp_server *s);
/** A connection exception: connection.close with code and text, then only close-ok. */
void amqp_conn_error(struct amqp_conn *c, uint16_t code, uint32_t method, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** A channel exception: channel.close with code and text. */
void amqp_channel_error(struct amqp_channel *ch, struct amqp_conn *c, uint16_t code,
			uint32_t method, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void amqp_conn_update_interest(struct amqp_conn *c);
/** Free p at the end of this loop pass (epoll may still hold it in this batch). */
void amqp_bury(struct amqp_server *s, void *p);
/** The open channel num of connection conn_id, opened as epoch, or NULL. */
struct amqp_channel *amqp_channel_find(struct amqp_server *s, uint64_t conn_id, uint16_t num,
				       uint64_t epoch);
/** The channel waits for one more answer: its frames are parked until then. */
void amqp_channel_wait(struct amqp_channel *ch);
/** One answer came: with none left, the parked frames run, in order. */
void amqp_channel_resume(struct amqp_channel *ch);
/** Park one frame in front of those already parked (it ran, and must run again first). */
bool amqp_channel_park_first(struct amqp_channel *ch, uint8_t type, const uint8_t *p,
			     uint32_t len);

/* amqp_ctl.c: requests to tw-control over one persistent connection */
void amqp_ctl_init(struct amqp_server *s);
/** A new call (zeroed state) with its continuation. @return NULL without memory. */
struct amqp_ctl_call *amqp_ctl_call_new(amqp_ctl_done_fn done, bool idempotent);
/**
 * Queue req (packed now); its answer goes to call->done. With ch, the
 * channel is parked on it (method: the AMQP method, for errors).
 * Takes call (freed on failure too). @return 0 or -errno.
 */
int amqp_ctl_submit(struct amqp_server *s, const struct Taskwire__Control__Request *req,
		    struct amqp_ctl_call *call, struct amqp_channel *ch, uint32_t method);
void amqp_ctl_on_event(struct amqp_server *s, uint32_t events);
/** Deadlines, reconnection, idle close: every loop pass. */
void amqp_ctl_timers(struct amqp_server *s);
/** When amqp_ctl_timers next has something to do (UINT64_MAX: nothing). */
uint64_t amqp_ctl_next_ms(const struct amqp_server *s);
void amqp_ctl_close(struct amqp_server *s);

/* amqp_model.c: exchange and queue classes through tw-control */
void amqp_model_method(struct amqp_conn *c, struct amqp_channel *ch, uint32_t method,
		       struct amqp_rd *r);
void amqp_model_setup(struct amqp_server *s);
/** At exit: forget what tw-amqp tracked (the engine keeps its queues). */
void amqp_model_free(struct amqp_server *s);
/** The connection goes: its exclusive queues go with it. */
void amqp_model_conn_gone(struct amqp_server *s, uint64_t conn_id);
/** One consumer more (+1) or fewer (-1) on queue (auto-delete). */
void amqp_model_consumer(struct amqp_server *s, const char *queue, int d);
/** Exclusive to another connection? */
bool amqp_model_locked(struct amqp_server *s, const char *queue, uint64_t conn_id);
/** The queue was used (basic.get): its x-expires starts again. */
void amqp_model_touch(struct amqp_server *s, const char *queue);
/** Delete the queues unused past their x-expires (when s->next_expiry_ms passed). */
void amqp_model_expire(struct amqp_server *s);
/**
 * Ask the engine's figures of one queue (QueueRef); call->done reads them
 * with amqp_model_counts_of (a refusal: no such queue). Takes call.
 * @return 0 or -errno.
 */
int amqp_model_ask_queue(struct amqp_server *s, const char *name, struct amqp_ctl_call *call,
			 struct amqp_channel *ch, uint32_t m);
/** Messages ready and remote consumers from a QueueRef answer. @return false: none. */
bool amqp_model_counts_of(const struct Taskwire__Control__Response *resp, uint64_t *ready,
			  uint32_t *consumers);

/* amqp_publish.c: basic.publish to the engine, confirms back */
void amqp_publish_method(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r);
void amqp_publish_header(struct amqp_conn *c, struct amqp_channel *ch, struct amqp_rd *r);
void amqp_publish_body(struct amqp_conn *c, struct amqp_channel *ch, const uint8_t *p, size_t n);
void amqp_publish_poll(struct amqp_server *s);
void amqp_publish_flush(struct amqp_server *s);
void amqp_publish_sweep(struct amqp_server *s);
/** At exit: forget every unanswered publish. */
void amqp_publish_drop_all(struct amqp_server *s);
/**
 * A queue method or basic.get must see the channel's earlier publishes:
 * @return true when the engine has answered them all (go on), false when
 * the channel now waits for the answers with this method frame (r, whole)
 * parked first; it runs when the last answer (or its timeout) comes.
 */
bool amqp_publish_barrier(struct amqp_conn *c, struct amqp_channel *ch, const struct amqp_rd *r);
/** Resume the channels whose publishes were all answered (after the engine's poll). */
void amqp_publish_unbar(struct amqp_server *s);
void amqp_incoming_clear(struct amqp_incoming *in);
/** A content header and body frames (props < 2 bytes: none) on channel ch. */
void amqp_write_content(struct amqp_conn *c, uint16_t ch, const uint8_t *props, uint32_t plen,
			const uint8_t *body, uint64_t blen);

/* amqp_consume.c: consumers, deliveries, acks */
void amqp_consume_method(struct amqp_conn *c, struct amqp_channel *ch, uint32_t method,
			 struct amqp_rd *r);
void amqp_consumer_on_event(struct amqp_consumer *k);
/** The worker set's socket or timer: each consumer with something new goes on. */
void amqp_consume_poll(struct amqp_server *s);
/** When amqp_consume_poll must run even if the socket stays quiet. */
uint64_t amqp_consume_poll_next_ms(const struct amqp_server *s);
/** basic.cancels whose close ended: cancel-ok, their channels go on. */
void amqp_consume_cancels_done(struct amqp_server *s);
/** Copy the worker set's figures into the counters. */
void amqp_consume_counters(struct amqp_server *s);
/** Close every consumer of the channel (unacked go back to their queues). */
void amqp_consume_channel_gone(struct amqp_server *s, struct amqp_channel *ch);
void amqp_consumer_set_paused(struct amqp_server *s, struct amqp_consumer *k, bool paused);
/** Send what waits under the qos limits, as room allows (channel.flow on again). */
void amqp_consume_release_held(struct amqp_server *s, struct amqp_channel *ch);
/** The channel's basic.qos changed: every consumer's engine credit follows it. */
void amqp_consume_qos_changed(struct amqp_server *s, struct amqp_channel *ch);
/** Subscribes and basic.gets whose time came (resend, deadline): every loop pass. */
void amqp_consume_timers(struct amqp_server *s);
/** When amqp_consume_timers next has something to do (UINT64_MAX: nothing). */
uint64_t amqp_consume_next_ms(const struct amqp_server *s);
/** Send the acks of this pass (each consumer's in as few datagrams as fit): before the grave is emptied. */
void amqp_consume_flush_acks(struct amqp_server *s);

/* amqp_blocked.c: connection.blocked / unblocked (RabbitMQ's extension) */
/** Publishers are told to stop: the engine refused for want of resources, or tw-amqp's own. */
void amqp_blocked_set(struct amqp_server *s, const char *why);
/** Once a timer tick: lift the block when the engine has room again. */
void amqp_blocked_check(struct amqp_server *s);
/** A connection just opened: told at once if publishers are blocked now. */
void amqp_blocked_greet(struct amqp_conn *c);

#endif
