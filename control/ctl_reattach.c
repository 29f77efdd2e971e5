/*
 * Re-attaching to a restarted tw-dataplane: see ctl_reattach.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "ctl_reattach.h"

#define POLL_MS 200

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts); /* across exec: one clock both images read */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
deadline(void)
{
	const char *v = getenv(CTL_REATTACH_ENV);

	return v != NULL ? strtoull(v, NULL, 10) : 0;
}

bool
ctl_reattach_pending(void)
{
	uint64_t d = deadline();

	return d != 0 && now_ms() < d;
}

void
ctl_reattach_done(void)
{
	unsetenv(CTL_REATTACH_ENV);
}

/* The primary's runtime config file: where EAL puts it for root. */
static void
config_path(int argc, char **argv, char *buf, size_t len)
{
	const char *prefix = "rte";

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--file-prefix") == 0 && i + 1 < argc)
			prefix = argv[i + 1];
		else if (strncmp(argv[i], "--file-prefix=", 14) == 0)
			prefix = argv[i] + 14;
	}
	snprintf(buf, len, "/var/run/dpdk/%s/config", prefix);
}

int
ctl_reattach_wait(int argc, char **argv)
{
	char path[256];

	if (deadline() == 0)
		return 0;
	config_path(argc, argv, path, sizeof(path));
	/* bounded by the deadline; the primary holds a lock on its config file */
	while (now_ms() < deadline()) {
		if (access(path, R_OK) == 0 && rte_eal_primary_proc_alive(path))
			return 0;
		usleep(POLL_MS * 1000);
	}
	fprintf(stderr, "tw-control: no tw-dataplane came back (%s); stopping\n", path);
	return -ETIMEDOUT;
}

void
ctl_reattach_exec(char **argv, unsigned wait_s)
{
	char v[32];

	if (deadline() == 0) {
		snprintf(v, sizeof(v), "%" PRIu64, now_ms() + (uint64_t)wait_s * 1000);
		setenv(CTL_REATTACH_ENV, v, 1);
	}
	fflush(stdout);
	fflush(stderr);
	/* EAL's files (memory segment lists, the runtime config) are open
	 * without close-on-exec and locked: the new primary could not take
	 * them while the waiting image kept them open */
	close_range(3, ~0u, 0);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "tw-control: cannot re-execute itself: %s\n", strerror(errno));
}
