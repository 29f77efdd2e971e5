/*
 * Helpers for the integration tests. The tests run inside the engine's
 * network namespace (tests/integration/run.sh starts the engine with
 * deploy/lib.sh) and find it through the environment: TW_ENGINE (IP:PORT),
 * TW_SOCKET (control socket) and TW_TWCTL (the twctl binary).
 */
#ifndef IT_COMMON_H
#define IT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "taskwire/client.h"
#include "taskwire.pb-c.h"

/** Run twctl with a printf-formatted argument string (shell words). @return its exit code. */
int it_twctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Run twctl and capture stdout into out (NUL-terminated). @return its exit code. */
int it_twctl_out(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** A summed counter or drop reason from `twctl status --json` (section "counters" or "drops"). */
uint64_t it_counter(const char *section, const char *name);

/** A queue's field ("published", "ready", "rejected"...) from `twctl list queues --json`. */
uint64_t it_queue(const char *queue, const char *field);

/** A field of queues summed over those whose name starts with prefix (one twctl call). */
uint64_t it_queues_sum(const char *prefix, const char *field);

/** Free pool entries from status: mbufs and task descriptors. */
void it_pools(uint32_t *mbufs_free, uint32_t *tasks_free);

/** Wait (up to timeout_ms) until the pools are back to the given free counts. @return 0 or -1. */
int it_pools_settle(uint32_t mbufs_free, uint32_t tasks_free, int timeout_ms);

/** Remember the free pool counts (call at the end of a group setup). */
void it_pools_snapshot(void);

/** cmocka teardown: wait until the pools are back to the snapshot. @return 0 or -1. */
int it_pools_back(void **state);

/** Engine address from TW_ENGINE. */
const char *it_engine(void);

/** A connected client to the engine (asserts). */
struct tw_client *it_client(void);

/** Publish one task and wait for its outcome (asserts on local errors). */
int it_call(struct tw_client *c, const char *exchange, const char *key, const char *task,
	    const char *args, int timeout_ms, struct tw_outcome *out);

/* Confirms and results counted by it_tally_event (a tw_event_fn). */
struct it_tally {
	uint64_t sent;                 /* kept by the caller */
	uint64_t acks, nacks, results, succeeded;
	uint64_t nacks_by_reason[16];
};
void it_tally_event(const struct tw_event *ev, void *arg);

/**
 * One round trip to the engine before a burst: until the kernel has the
 * engine's MAC (ARP), it holds only a few packets and drops the rest of a
 * burst, which no engine can confirm.
 */
void it_warm_up(void);

/** Monotonic milliseconds. */
uint64_t it_now_ms(void);

/*
 * Raw sockets, for tests that write frames themselves: a kernel UDP socket
 * connected to the engine, from source_ip (NULL: the kernel's choice),
 * replies waited for up to timeout_ms (0: blocking). A source proves it
 * receives at its address before its frames are taken: it_prove_source()
 * sends a bare frame, padded so the refusal fits, and keeps the cookie the
 * engine answers with; it_frame_cookie() puts it in a frame.
 */
int it_udp_socket_unproven(const char *source_ip, int timeout_ms);
void it_prove_source(int fd);
/** it_udp_socket_unproven() then it_prove_source(). */
int it_udp_socket(const char *source_ip, int timeout_ms);
void it_frame_cookie(int fd, Taskwire__Frame *f);

#endif
