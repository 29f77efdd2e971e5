/*
 * tw-control's result store: the Celery-like result backend (task state,
 * value or error, workflow links), periodic schedules and group
 * membership, kept in an embedded LMDB environment in one directory so
 * that they survive a restart of tw-control.
 *
 * Records expire (default TTL at open, per record settable); a sweep
 * removes expired records through an index ordered by expiry time, so it
 * costs O(removed). Reads treat an expired but not yet swept record as
 * gone.
 *
 * Durability: commits are not fsync'ed one by one (LMDB MDB_NOSYNC). The
 * store forces a sync when a write finds the last one older than
 * sync_ms, and tw_store_sync() lets the owner's timer cover idle
 * periods. A crash of tw-control loses nothing committed (the pages are
 * in the kernel's page cache); a crash of the machine may lose the last
 * sync_ms of commits. See ctl_store.c for the full argument.
 *
 * Threads: every call may come from any thread, concurrently, except
 * tw_store_close(). LMDB serialises writers; readers never block and see
 * a snapshot. Nothing here runs on a data-plane lcore.
 */
#ifndef CTL_STORE_H
#define CTL_STORE_H

#include <stddef.h>
#include <stdint.h>

struct tw_store;

/* Longest task or schedule name, in bytes, without the terminating NUL. */
#define TW_STORE_NAME_MAX 127
/* Default TTL of a record whose expires_ms is 0 (Celery's result_expires). */
#define TW_STORE_DEFAULT_TTL_MS (24ull * 3600 * 1000)
/* Default bound on what a crash of the machine may lose (tw_store_open). */
#define TW_STORE_DEFAULT_SYNC_MS 1000

struct tw_store_record {
	uint64_t task_id;        /* key; 0 is refused */
	uint32_t state;          /* TW_ST_* */
	uint32_t retries;
	uint64_t runtime_ns;
	uint64_t date_done_ms;   /* unix ms of this state; 0 on put: now */
	uint64_t expires_ms;     /* unix ms after which it is removed; 0 on put: see put_batch */
	uint64_t parent_id, root_id, group_id;   /* workflow tree, 0 none */
	uint32_t group_index;    /* put: with group_id, also records membership (group_add) */
	char name[128];          /* task name, NUL-terminated, at most TW_STORE_NAME_MAX bytes */
	const uint8_t *value; uint32_t value_len;   /* result value, or PROGRESS meta */
	const char *error; uint32_t error_len;      /* FAILURE/EXPIRED/REVOKED message */
};

struct tw_store_opts {
	uint64_t map_size;       /* bytes of address space, the store's size limit */
	uint64_t default_ttl_ms; /* for records put with expires_ms 0; 0: TW_STORE_DEFAULT_TTL_MS */
	/* > 0: commits are fsync'ed at least every sync_ms (MDB_NOSYNC plus a
	 * forced sync); 0: every commit is fsync'ed before it returns. */
	uint32_t sync_ms;
};

/**
 * Open or create the store in directory dir (created with mode 0700 if
 * missing; data.mdb and lock.mdb inside). Reader slots left by a crashed
 * process are reclaimed. Syncs at least every TW_STORE_DEFAULT_SYNC_MS.
 * @param dir directory of the environment.
 * @param map_size bytes of address space (e.g. 1 GiB): the most the store
 *   may hold; writes beyond it fail with -ENOSPC. If the data already
 *   stored needs more, that size is used.
 * @param default_ttl_ms lifetime of records put with expires_ms 0
 *   (0: TW_STORE_DEFAULT_TTL_MS).
 * @param err,errlen receives a message naming dir and the cause on failure.
 * @return the store, or NULL with errno set (EINVAL bad argument, ENOTDIR,
 *   EACCES, ENOMEM, EIO for a damaged or foreign file, ...).
 * Ownership: the caller owns the store and ends it with tw_store_close().
 * Threads: any; once per directory and process (LMDB forbids opening an
 *   environment twice in one process).
 */
struct tw_store *tw_store_open(const char *dir, uint64_t map_size, uint64_t default_ttl_ms,
			       char *err, size_t errlen);

/** tw_store_open() with every option; same contract. */
struct tw_store *tw_store_open_opts(const char *dir, const struct tw_store_opts *opts,
				    char *err, size_t errlen);

/**
 * Sync outstanding commits to disk and close. NULL is ignored.
 * Ownership: takes s.
 * Threads: the owner, after every other call on s has returned.
 */
void tw_store_close(struct tw_store *s);

/**
 * Write n records in one transaction: all of them or none.
 *
 * Precedence, per task id, against what is stored (including earlier
 * records of the same batch): a final state (SUCCESS, FAILURE, REVOKED,
 * EXPIRED) is never replaced by a non-final one, which is ignored (a late
 * PROGRESS after SUCCESS). Otherwise, between two finals or two
 * non-finals, the record with the later date_done_ms wins, and on a tie
 * the one written last; a final always replaces a non-final.
 *
 * A replacing record inherits from the stored one what it leaves unset:
 * an empty name, zero parent/root/group ids, and expires_ms 0 when the
 * stored expiry was explicit (so a per-task expiry set at publish
 * survives the worker's result). Otherwise expires_ms 0 means now plus
 * the default TTL; date_done_ms 0 means now.
 *
 * @param recs n records; value and error are copied.
 * @return 0, or -EINVAL (NULL s or recs with n > 0, task_id 0, unknown
 *   state, name without a NUL within 128 bytes, NULL value or error with
 *   a non-zero length, a record over 4 GiB), -ENOSPC (the map is full),
 *   -E2BIG (the batch dirties more pages than one LMDB transaction holds:
 *   split it), -EBADMSG (a stored record is damaged) or another -errno;
 *   on error nothing is written.
 * Ownership: borrows recs.
 * Threads: any; writers are serialised by LMDB.
 */
int tw_store_put_batch(struct tw_store *s, const struct tw_store_record *recs, uint32_t n);

/**
 * Copy record id into *out. value and error point into buf: the value's
 * value_len bytes first, then, if error_len > 0, the error and a NUL, so
 * buf needs value_len + error_len + 1 bytes (value_len alone without an
 * error). A record without them needs no buffer (buf may be NULL).
 * @return 0; -ENOENT if unknown or expired (expires_ms <= now, even if not
 *   swept yet); -ENOBUFS if buflen is too small: *out then holds every
 *   field, value_len and error_len are the full lengths and value and
 *   error are NULL, so the caller can grow buf and retry; -EINVAL;
 *   -EBADMSG if the stored record is damaged.
 * Ownership: borrows buf; out->value/error point into it.
 * Threads: any.
 */
int tw_store_get(struct tw_store *s, uint64_t id, struct tw_store_record *out, uint8_t *buf,
		 size_t buflen);

/**
 * Remove record id, its expiry entry and, if id is a group, its members.
 * @return 0, -ENOENT if unknown (an expired, unswept record is still
 *   removed and returns 0), -EINVAL or another -errno.
 * Threads: any.
 */
int tw_store_forget(struct tw_store *s, uint64_t id);

/**
 * Remove up to max records whose expires_ms <= now_ms in one transaction,
 * oldest expiry first, walking the (expires_ms, id) index: the cost is
 * O(removed * log n), whatever the size of the store. Members of a removed
 * group go with it.
 * @return records removed; 0 with errno set on failure, when nothing is
 *   removed (clear errno first to tell failure from an empty sweep).
 * Threads: any; typically the owner's housekeeping timer.
 */
uint32_t tw_store_expire(struct tw_store *s, uint64_t now_ms, uint32_t max);

/**
 * Records stored, including expired ones not yet swept (O(1)).
 * Threads: any.
 */
uint64_t tw_store_count(struct tw_store *s);

/**
 * How much of its map the store uses: *used the bytes of pages in use
 * (LMDB's last page used; it never shrinks, freed pages are reused first),
 * *size the map (the most it may ever use). Threads: any.
 * @return 0 or -errno.
 */
int tw_store_usage(struct tw_store *s, uint64_t *used, uint64_t *size);

/*
 * Tasks the scheduler held when tw-control stopped (opaque blobs, see
 * ctl_sched_save), kept so that a restarted tw-control runs them when due.
 */

/**
 * Replace every kept blob with those next() yields, in one transaction.
 * next returns 1 with *blob and *len set, 0 at the end. @return blobs
 * written, or -errno (nothing changed then).
 */
int64_t tw_store_held_replace(struct tw_store *s,
			      int (*next)(void *arg, const void **blob, uint32_t *len), void *arg);

/**
 * Hand every kept blob to fn, then remove them all, in one transaction
 * (fn's copies are all there is afterwards). @return blobs handed, or -errno.
 */
int64_t tw_store_held_take(struct tw_store *s, void (*fn)(void *arg, const void *blob, uint32_t len),
			   void *arg);

/**
 * Call fn for each unexpired record in task id order, at most max of them
 * (UINT32_MAX: all), in one read snapshot; stop when fn returns non-zero.
 * The record passed to fn, with value and error (NUL-terminated), is valid
 * during the call only.
 * @return records passed to fn, or -EINVAL, -EBADMSG or another -errno.
 * Ownership: borrows arg.
 * Threads: any; fn runs on the caller's thread inside a read snapshot, so
 *   it should be short (old pages stay reserved while it runs) and must
 *   not write to the store.
 */
int tw_store_each(struct tw_store *s, int (*fn)(void *arg, const struct tw_store_record *r),
		  void *arg, uint32_t max);

/**
 * Create or replace the periodic schedule name (1..TW_STORE_NAME_MAX
 * bytes) with an opaque blob (len bytes; blob may be NULL if len is 0).
 * Schedules do not expire.
 * @return 0, -EINVAL, -ENOSPC or another -errno.
 * Ownership: borrows name and blob (copied).
 * Threads: any.
 */
int tw_store_schedule_put(struct tw_store *s, const char *name, const void *blob, uint32_t len);

/** Delete schedule name. @return 0, -ENOENT if unknown, -EINVAL. Threads: any. */
int tw_store_schedule_del(struct tw_store *s, const char *name);

/**
 * Call fn for each schedule in name (byte) order, in one read snapshot;
 * stop when fn returns non-zero. name is NUL-terminated; name and blob
 * are valid during the call only.
 * @return schedules passed to fn, or -errno.
 * Ownership: borrows arg.
 * Threads: any; fn must not write to the store.
 */
int tw_store_schedule_each(struct tw_store *s,
			   int (*fn)(void *arg, const char *name, const void *blob, uint32_t len),
			   void *arg);

/**
 * Record that member_id is at position idx of group group_id (replacing
 * whatever was at idx). Members live until the group's own record
 * (task id group_id) is forgotten or expires; a group without a record of
 * its own keeps them until tw_store_forget(group_id).
 * @return 0, -EINVAL (a zero id), -ENOSPC or another -errno.
 * Threads: any.
 */
int tw_store_group_add(struct tw_store *s, uint64_t group_id, uint32_t idx, uint64_t member_id);

/**
 * The members of group_id ordered by idx. Like snprintf, writes the first
 * max into ids and returns the total, so a return above max means ids was
 * too short (ids may be NULL when max is 0).
 * @return members in the group (0 for an unknown group), or -errno.
 * Ownership: borrows ids.
 * Threads: any.
 */
int tw_store_group_members(struct tw_store *s, uint64_t group_id, uint64_t *ids, uint32_t max);

/**
 * fsync commits made since the last sync, if any (cheap otherwise). The
 * owner calls it from a timer every sync_ms or so, so that a burst of
 * writes followed by silence is not left to the kernel's writeback.
 * @return 0 or -errno.
 * Threads: any.
 */
int tw_store_sync(struct tw_store *s);

#endif
