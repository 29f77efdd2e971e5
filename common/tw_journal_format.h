/*
 * The journal's on-disk format: segment files of checksummed records in
 * the data directory (tw-dataplane --data-dir).
 *
 * A segment is "<16 hex digits>.twj": a header, then records back to
 * back, each a multiple of 8 bytes long. A record's crc is CRC-32C over
 * the record from the byte after the crc to its end (padding included),
 * so a torn write (a prefix of a record, or zeroes) never passes.
 *
 * Records:
 *  - TASK: a task routed to a durable queue (the queue's name, the Task
 *    message as it came, the publisher's address for its result);
 *  - DONE: the task of journal id jid finished (result, ack, expiry,
 *    dead-letter, drop): recovery does not bring it back;
 *  - NOOP: written to probe a disk that failed; ignored;
 *  - DELIVERED: a remote consumer was handed the task of jid: a whole
 *    copy of its TASK record (segment version 2 on), deliveries counting
 *    this delivery as returned, so a crash before its ack brings it back
 *    with delivery_count + 1. The latest copy of a jid stands for it: the
 *    writer counts it in its own segment from then on (an older segment
 *    may go), and recovery takes the last one it reads.
 *  - GROUP (segment version 3 on): a workflow group or chord whose inline
 *    members go to a durable queue opened: its node's Task message (members,
 *    callback) after a struct tw_jgroup_meta in the queue name's place,
 *    task_id its group id, jid its own (a lane seq: the publisher's
 *    confirm waits for it), expire_unix_ms its expiry. Outstanding until a
 *    DONE of its jid (flag TW_JREC_F_GROUP) says the group finished: its
 *    callback was routed, or it failed or expired;
 *  - GROUP_MEMBER: member meta.index of the group of jid succeeded with
 *    the result after the meta (a chord's results list is made of them).
 *    Written before the member's own DONE, on the same lane.
 *
 * A journal id (jid) names one TASK record for good: the engine's run
 * (epoch, from the journal found at start) in the top bits, the polling
 * lcore that wrote it and that lcore's sequence number below.
 *
 * Threads: plain data; any.
 */
#ifndef TW_JOURNAL_FORMAT_H
#define TW_JOURNAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <rte_atomic.h>
#include <rte_hash_crc.h>

#define TW_JSEG_MAGIC 0x314a5754u /* "TWJ1" as little-endian bytes */
#define TW_JSEG_VERSION 3u     /* written; 2 (no GROUP records), 1 (no DELIVERED) are read too */
#define TW_JSEG_VERSION_MIN 1u
#define TW_JSEG_SUFFIX ".twj"

struct tw_jseg_header {
	uint32_t magic;
	uint32_t version;
	uint64_t segno;
};

enum tw_jrec_type {
	TW_JREC_TASK = 1,
	TW_JREC_DONE = 2,
	TW_JREC_NOOP = 3,
	TW_JREC_DELIVERED = 4,
	TW_JREC_GROUP = 5,
	TW_JREC_GROUP_MEMBER = 6,
};

struct tw_jrec {
	uint32_t crc;         /* CRC-32C of the record after this field */
	uint32_t len;         /* whole record, header and padding included; multiple of 8 */
	uint8_t type;         /* enum tw_jrec_type */
	uint8_t priority;
	uint8_t deliveries;   /* TASK: times it was delivered before; DELIVERED: with this one */
	uint8_t flags;        /* TW_JREC_F_* */
	uint16_t qname_len;   /* queue name bytes after the header */
	uint16_t peer_port;   /* network order: where its result goes */
	uint32_t raw_len;     /* Task message bytes after the queue name */
	uint32_t peer_ip;     /* network order */
	uint64_t jid;         /* TASK: its own; DONE: the task's */
	uint64_t task_id;
	uint8_t peer_mac[6];
	uint8_t pad1[2];
	/* TASK: when it expires (its own expires or its queue's TTL, the
	 * sooner), Unix ms, 0: never; kept as wall time so that a recovered
	 * task expires when it would have, not a TTL later (journals written
	 * before held 0 here) */
	uint64_t expire_unix_ms;
};

/* flags: expire_unix_ms is the task's own expires, not its queue's TTL */
#define TW_JREC_F_EXPIRY_IS_TASK 0x01
/* flags of a DONE: jid is a GROUP record's (the group finished) */
#define TW_JREC_F_GROUP 0x02

/* GROUP and GROUP_MEMBER records: this in the queue name's place (qname_len) */
struct tw_jgroup_meta {
	uint32_t key_id;      /* GROUP: the publisher's key (0: bound by address) */
	uint32_t cell;        /* GROUP: bytes of one member's result */
	uint32_t index;       /* GROUP_MEMBER: the member */
	uint32_t pad;
};

#define TW_JREC_HDR ((uint32_t)sizeof(struct tw_jrec))
/* a record in one mbuf of the packet pool; larger ones (tasks sent in
 * fragments) travel to the writer in a large buffer, up to the largest
 * frame any engine may be configured for */
#define TW_JREC_MAX 2048u
#define TW_JREC_LARGE_MAX ((8u << 20) + 4096u)
#define TW_NAME_MAX_JREC 128u /* TW_NAME_MAX: a queue name, NUL included */

/* jid = epoch (16 bits) | lcore (8 bits) | sequence (40 bits) */
#define TW_JID_SEQ_BITS 40
#define TW_JID_SEQ_MASK ((UINT64_C(1) << TW_JID_SEQ_BITS) - 1)

static inline uint64_t
tw_jid_make(uint64_t epoch, uint32_t lcore, uint64_t seq)
{
	return (epoch << 48) | ((uint64_t)(lcore & 0xff) << TW_JID_SEQ_BITS) | (seq & TW_JID_SEQ_MASK);
}

static inline uint32_t
tw_jid_lcore(uint64_t jid)
{
	return (uint32_t)(jid >> TW_JID_SEQ_BITS) & 0xff;
}

static inline uint64_t
tw_jid_epoch(uint64_t jid)
{
	return jid >> 48;
}

static inline uint32_t
tw_jrec_len(uint32_t qname_len, uint32_t raw_len)
{
	return (TW_JREC_HDR + qname_len + raw_len + 7u) & ~7u;
}

static inline uint32_t
tw_jrec_crc(const struct tw_jrec *r)
{
	/*
	 * The barrier: rte_hash_crc() reads 64-bit words, and a record just
	 * filled in through its fields (a NOOP on the stack) was checksummed
	 * before those stores with -O3. The len word first, then from byte
	 * 8: records are 8-byte aligned, and 64-bit loads from byte 4 were
	 * misaligned (the same CRC-32C of bytes 4 to len either way).
	 */
	rte_compiler_barrier();
	return rte_hash_crc((const uint8_t *)r + 8, r->len - 8, rte_hash_crc_4byte(r->len, 0xffffffffu));
}

/* Header fields that must hold before the crc is worth computing. */
static inline int
tw_jrec_plausible(const struct tw_jrec *r, size_t room)
{
	if (room < TW_JREC_HDR || r->len < TW_JREC_HDR || r->len > TW_JREC_LARGE_MAX || (r->len & 7) != 0 ||
	    r->len > room)
		return 0;
	if (r->type < TW_JREC_TASK || r->type > TW_JREC_GROUP_MEMBER || r->qname_len >= TW_NAME_MAX_JREC ||
	    r->raw_len > TW_JREC_LARGE_MAX)
		return 0;
	return tw_jrec_len(r->qname_len, r->raw_len) == r->len;
}

#endif
