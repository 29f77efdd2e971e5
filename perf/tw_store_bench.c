/*
 * tw-store-bench: what the result store (control/ctl_store*.c) sustains,
 * on this machine's disk. Writes N records through tw_store_put_batch()
 * with batches of 1, 64 and 1024 records of 16-byte values, and 64 at a
 * time with 1 KiB values, each into a fresh store; then random gets and
 * an expiry sweep over the 16-byte store, and, for the durability
 * trade-off, batches of 1 and 64 with every commit fsync'ed (sync_ms 0)
 * on a smaller count, since those rows are bound by the disk's fsync
 * latency.
 *
 * Records look like SUCCESS results: sequential task ids (a publisher's
 * counter), a 13-byte task name, workflow ids set. Write rows use the
 * store's default sync (MDB_NOSYNC, a forced sync every second), so
 * their rate includes those syncs. "disk B/rec" is data.mdb's size over
 * the records in it (LMDB grows the file as it uses pages).
 *
 *   tw-store-bench [--records N] [--fsync-records N] [--dir D] [--markdown]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_store.h"
#include "tw_wire.h"

#define MAP_SIZE (16ull << 30)   /* address space only; the file grows as used */

struct row {
	const char *what;
	uint64_t records;
	double secs;
	double disk_per_rec;         /* < 0: not measured */
};

static bool markdown;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
print_row(const struct row *r)
{
	char disk[32] = "";

	if (r->disk_per_rec >= 0)
		snprintf(disk, sizeof(disk), "%.0f", r->disk_per_rec);
	printf(markdown ? "| %s | %llu | %.0f | %.2f | %s |\n" : "%-48s %10llu %12.0f %10.2f %10s\n",
	       r->what, (unsigned long long)r->records, (double)r->records / r->secs,
	       r->secs * 1e9 / (double)r->records, disk);
	fflush(stdout);
}

static void
remove_store(const char *dir)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
}

static struct tw_store *
open_fresh(const char *dir, uint32_t sync_ms)
{
	struct tw_store_opts o = { .map_size = MAP_SIZE, .sync_ms = sync_ms };
	char err[256];
	struct tw_store *s;

	remove_store(dir);
	s = tw_store_open_opts(dir, &o, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "tw-store-bench: %s\n", err);
		exit(1);
	}
	return s;
}

static double
disk_per_record(const char *dir, uint64_t records)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	return stat(path, &st) == 0 ? (double)st.st_size / (double)records : -1;
}

/* Write n records, batch at a time, values of value_len bytes. */
static struct row
write_rows(struct tw_store *s, const char *what, uint64_t n, uint32_t batch, uint32_t value_len)
{
	static uint8_t value[1024];
	struct tw_store_record *b = calloc(batch, sizeof(*b));
	uint64_t t0, id = 1;
	struct row r = { .what = what, .records = n, .disk_per_rec = -1 };

	if (b == NULL)
		exit(1);
	memset(value, 0x5a, sizeof(value));
	for (uint32_t i = 0; i < batch; i++) {
		b[i].state = TW_ST_SUCCESS;
		b[i].retries = 0;
		b[i].runtime_ns = 12345;
		b[i].root_id = 7;
		b[i].value = value;
		b[i].value_len = value_len;
		strcpy(b[i].name, "tasks.process");
	}
	t0 = now_ns();
	/* Bounded by n / batch transactions. */
	while (id <= n) {
		uint32_t k = n - id + 1 < batch ? (uint32_t)(n - id + 1) : batch;
		int rc;

		for (uint32_t i = 0; i < k; i++) {
			b[i].task_id = id + i;
			b[i].parent_id = id + i - 1;
		}
		rc = tw_store_put_batch(s, b, k);
		if (rc != 0) {
			fprintf(stderr, "tw-store-bench: put_batch at id %llu: %s\n",
				(unsigned long long)id, strerror(-rc));
			exit(1);
		}
		id += k;
	}
	r.secs = (double)(now_ns() - t0) / 1e9;
	free(b);
	return r;
}

static struct row
get_rows(struct tw_store *s, uint64_t stored, uint64_t gets)
{
	static uint8_t buf[4096];
	struct tw_store_record out;
	struct row r = { .what = "get, random ids, 16 B values", .records = gets, .disk_per_rec = -1 };
	uint64_t x = 88172645463325252ull, t0;

	t0 = now_ns();
	for (uint64_t i = 0; i < gets; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;   /* xorshift64 */
		if (tw_store_get(s, x % stored + 1, &out, buf, sizeof(buf)) != 0) {
			fprintf(stderr, "tw-store-bench: get failed\n");
			exit(1);
		}
	}
	r.secs = (double)(now_ns() - t0) / 1e9;
	return r;
}

/* write_rows leaves expires_ms 0, so every record carries now + 24 h:
 * sweep everything with a clock 25 h ahead. */
static struct row
expire_rows(struct tw_store *s, uint64_t stored, uint32_t per_txn)
{
	static char what[64];
	struct timespec ts;
	uint64_t later, removed = 0, t0;
	uint32_t got;
	struct row r = { .what = what, .disk_per_rec = -1 };

	snprintf(what, sizeof(what), "expire sweep, %u per transaction", per_txn);
	clock_gettime(CLOCK_REALTIME, &ts);
	later = (uint64_t)ts.tv_sec * 1000 + 25ull * 3600 * 1000;
	t0 = now_ns();
	while ((got = tw_store_expire(s, later, per_txn)) > 0)  /* bounded by stored / per_txn */
		removed += got;
	r.secs = (double)(now_ns() - t0) / 1e9;
	r.records = removed;
	if (removed != stored)
		fprintf(stderr, "tw-store-bench: swept %llu of %llu\n", (unsigned long long)removed,
			(unsigned long long)stored);
	return r;
}

int
main(int argc, char **argv)
{
	static const uint32_t batches[] = { 1, 64, 1024 };
	uint64_t n = 1000000, n_fsync = 10000;
	const char *base = "/tmp";
	char dir[512];
	struct tw_store *s;
	struct row r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--fsync-records") == 0 && i + 1 < argc)
			n_fsync = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			base = argv[++i];
		else if (strcmp(argv[i], "--markdown") == 0)
			markdown = true;
		else {
			fprintf(stderr, "usage: tw-store-bench [--records N] [--fsync-records N] "
					"[--dir D] [--markdown]\n");
			return 2;
		}
	}
	if (n == 0 || n_fsync == 0)
		return 2;
	snprintf(dir, sizeof(dir), "%s/tw-store-bench.%d", base, (int)getpid());
	printf(markdown ? "| workload | records | records/s | ns/record | disk B/record |\n"
			  "| --- | ---: | ---: | ---: | ---: |\n"
			: "%-48s %10s %12s %10s %10s\n",
	       "workload", "records", "records/s", "ns/record", "disk B/rec");

	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		static char what[3][64];

		snprintf(what[i], sizeof(what[i]), "put, batch %u, 16 B values", batches[i]);
		s = open_fresh(dir, TW_STORE_DEFAULT_SYNC_MS);
		r = write_rows(s, what[i], n, batches[i], 16);
		r.disk_per_rec = disk_per_record(dir, n);
		print_row(&r);
		if (i + 1 < sizeof(batches) / sizeof(batches[0])) {
			tw_store_close(s);
			continue;
		}
		/* the last (batch 1024) store serves the read and sweep rows */
		r = get_rows(s, n, n);
		print_row(&r);
		r = expire_rows(s, n, 10000);
		print_row(&r);
		tw_store_close(s);
	}

	s = open_fresh(dir, TW_STORE_DEFAULT_SYNC_MS);
	r = write_rows(s, "put, batch 64, 1 KiB values", n, 64, 1024);
	r.disk_per_rec = disk_per_record(dir, n);
	print_row(&r);
	tw_store_close(s);

	for (int i = 0; i < 2; i++) {
		static const char *const what[2] = { "put, batch 1, 16 B values, fsync every commit",
						     "put, batch 64, 16 B values, fsync every commit" };

		s = open_fresh(dir, 0);
		r = write_rows(s, what[i], n_fsync, i == 0 ? 1 : 64, 16);
		print_row(&r);
		tw_store_close(s);
	}
	remove_store(dir);
	return 0;
}
