/*
 * Shared by the result store's files (ctl_store.c: environment,
 * transactions, schedules; ctl_store_results.c: result records and
 * expiry; ctl_store_groups.c: group membership). Not for other modules.
 */
#ifndef CTL_STORE_PRIV_H
#define CTL_STORE_PRIV_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include "ctl_store.h"

#define TW_STORE_EXPIRY_KEY 16   /* be64(expires_ms) be64(task_id) */
#define TW_STORE_GROUP_KEY 12    /* be64(group_id) be32(idx) */

struct tw_store {
	MDB_env *env;
	/* Opened once by tw_store_open() and never changed, so any thread
	 * may use them without a lock. */
	MDB_dbi results, expiry, groups, schedules, held;
	uint64_t default_ttl_ms;
	uint32_t sync_ms;                 /* 0: LMDB syncs every commit itself */
	/* Written by whichever thread commits (relaxed __atomic): a stale
	 * read only moves one sync by one write, never skips it for good. */
	uint64_t last_sync_ms;            /* CLOCK_MONOTONIC */
	uint32_t dirty;                   /* 1: something was committed since the last sync */
};

static inline uint64_t
tw_store_clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Keys are big-endian so that LMDB's byte order is numeric order; values
 * little-endian, the host's order on every target we build for. */
static inline void tw_store_put_be64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static inline void tw_store_put_be32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static inline void tw_store_put_le64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static inline void tw_store_put_le32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static inline uint64_t tw_store_get_be64(const void *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static inline uint64_t tw_store_get_le64(const void *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static inline uint32_t tw_store_get_le32(const void *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }

/** LMDB's codes, and the errno values it passes through, as -errno. */
int tw_store_map_err(int rc);

/** mdb_txn_begin. @return 0 or -errno. */
int tw_store_txn_begin(struct tw_store *s, unsigned flags, MDB_txn **txn);

/**
 * Commit, then sync if sync_ms has passed since the last sync.
 * @return 0 or -errno (the transaction is gone either way).
 */
int tw_store_txn_commit(struct tw_store *s, MDB_txn *txn);

/**
 * Delete group gid's members inside txn.
 * @return members deleted, or -errno.
 */
int tw_store_group_del_txn(struct tw_store *s, MDB_txn *txn, uint64_t gid);
/* Put member_id at idx of group gid inside txn. @return 0 or -errno. */
int tw_store_group_put_txn(struct tw_store *s, MDB_txn *txn, uint64_t gid, uint32_t idx,
			   uint64_t member_id);

#endif
