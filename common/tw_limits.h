/*
 * Sizes and counts shared by tw-dataplane, tw-control and the tests.
 * Every value read from the wire or from a file is checked against one of
 * these; raising one changes the shared-memory layout (bump
 * TW_SHARED_LAYOUT_VERSION in tw_shared.h).
 */
#ifndef TW_LIMITS_H
#define TW_LIMITS_H

#define TW_NAME_MAX 128          /* exchange, queue, task name and routing key, incl. NUL */
#define TW_MAX_QUEUES 65536      /* live queues (a queue slot is 16 bits on a task) */
#define TW_MAX_EXCHANGES 65537   /* live exchanges: 65,536 and the default one */
#define TW_MAX_BINDINGS (1 << 18) /* live bindings */
#define TW_MAX_LCORES 16         /* polling lcores the engine plans and counts */
#define TW_MAX_ROUTE_DESTS TW_MAX_QUEUES /* queues one task may reach: all of them */
#define TW_FRAME_MAX_TASKS 256   /* tasks in one frame */
#define TW_DATAGRAM_MAX 1472u    /* UDP payload of a frame: one 1500-byte MTU (replies are no larger) */
#define TW_MAX_TASK_HEADERS 16   /* headers on one task */
#define TW_QUEUE_DEFAULT_LEN 65536
#define TW_QUEUE_MAX_LEN (1u << 24)
#define TW_MAX_PRIORITY 10       /* x-max-priority: levels 0..10, higher served first */
#define TW_PRIORITY_LEVEL_LEN 65536u/* ring of one priority level 1..10 (at most the queue's max-length) */
#define TW_QUEUE_MAX_TTL_MS (24u * 3600 * 1000) /* x-message-ttl: one day */
/* x-delivery-limit: returns (deliveries ended without an ack) a task may have before it ends */
#define TW_QUEUE_DEFAULT_DELIVERY_LIMIT 16
#define TW_QUEUE_MAX_DELIVERY_LIMIT 254 /* a task counts its deliveries in 8 bits */

#define TW_FRAME_MAGIC 0x31465754u  /* "TWF1" as little-endian bytes */
#define TW_FRAME_VERSION 1u
#define TW_DEFAULT_UDP_PORT 5555
#define TW_MAX_TASK_NAMES 256    /* registered tasks (built-in and plugins) */
#define TW_RUNTIME_BUCKETS 16    /* task runtime histogram: <= 1 us, 2 us, 4 us ... 16 ms, more */
#define TW_BURST_BUCKETS 7       /* RX burst sizes: 1, 2-3, 4-7, 8-15, 16-31, 32, and 0 (idle) */
#define TW_RATE_WAIT_RING 1024   /* rate-limited tasks waiting on one worker lcore */
#define TW_SCHED_RING 16384     /* tasks on their way to tw-control's scheduler, per lcore */
#define TW_RECORDS_RING 1024     /* mbufs of result-store records waiting for tw-control, per lcore */
#define TW_INJECT_RING 4096      /* due tasks from tw-control waiting for an io lcore, per lcore */
#define TW_WF_MAX_DEPTH 32       /* nesting of workflow signatures (a chain of n steps nests n deep) */
#define TW_WF_MAX_GROUPS 4096    /* groups and chords open at once in one engine */
#define TW_WF_MAX_MEMBERS (1u << 20) /* members of one group */
#define TW_WF_DEFAULT_CELL 256   /* bytes kept per member result when the group does not say */
#define TW_WF_MAX_CELL 4096
#define TW_MAX_DEAD_LETTERS 8    /* dead-letter hops of one task; more is a loop: the task is dropped */

#endif
