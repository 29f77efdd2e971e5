/*
 * Live routing changes under sustained load (the RCU path end to end).
 * runs alone: it bounds the lcores' longest pass, which a second engine on the
 * same CPUs would stretch (run.sh)
 *
 * A child process publishes noop tasks to exchange "live" with key "k",
 * keeping a window of tasks outstanding, until the changes are done (at
 * least CHANGE_S and MIN_WINDOWS unbound windows). Queue "always" is
 * bound for the whole run; queue "sometimes" is bound and unbound in
 * a loop, and other changes (a queue declared, bound, deleted; exchanges
 * redeclared) are published in between. Asserted:
 *  - nothing lost: every task ACKed (it was always routable), and the
 *    results equal the deliveries the queues counted;
 *  - nothing delivered through an absent binding: while "sometimes" is
 *    unbound (after the unbind returned, i.e. after its grace period),
 *    its published counter does not move although publishing goes on;
 *  - the lcores' longest pass (max_stall_ns, measured by the lcores)
 *    stays bounded. On TAP the data plane makes syscalls, and the kernel
 *    delivers the replies inside them: under this load a pass takes up
 *    to about 4 ms here with or without routing changes (measured with
 *    tw-publish-bench alone), so this test bounds it at STALL_LIMIT_NS,
 *    which a lock or a wait for tw-control on the lcores would exceed;
 *    the 1 ms bound is for kernel-free links (memif).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "it_common.h"

#define CHANGE_S 10       /* changes go on at least this long... */
#define MIN_WINDOWS 5     /* ...and until this many unbound windows were checked */
#define MAX_S 60          /* however slow the build: then the test fails */
#define WINDOW 256
#define STALL_LIMIT_NS 20000000ull

/*
 * Set by the parent when its changes are done: the publisher stops then,
 * so a slow (sanitized) build gets as many change windows as a fast one
 * instead of running out of load. Shared memory: no syscall per publish;
 * atomic loads and stores (see tw_pause_probe.c on volatile flags).
 */
static int *stop_load;

/* The child: publish until told to stop (or MAX_S), drain, report through fd. */
static void
publish_load(int fd)
{
	struct tw_client *c = it_client();
	/* millions of noops: results to the publisher only, not the store */
	struct tw_publish p = { .exchange = "live", .routing_key = "k", .task = "noop",
				.ignore_result = true };
	struct it_tally r = { 0 };
	uint64_t id, end = it_now_ms() + MAX_S * 1000, drain;

	while (!__atomic_load_n(stop_load, __ATOMIC_RELAXED) && it_now_ms() < end) {
		/* a task delivered to both queues gives two results: count outstanding confirms */
		if (r.sent - (r.acks + r.nacks) >= WINDOW) {
			tw_client_flush(c);
			tw_client_poll(c, 10, it_tally_event, &r);
			continue;
		}
		if (tw_client_publish(c, &p, &id) != 0)
			break;
		r.sent++;
		if ((r.sent & 31) == 0)
			tw_client_poll(c, 0, it_tally_event, &r);
	}
	tw_client_flush(c);
	drain = it_now_ms() + 3000;
	while (it_now_ms() < drain)
		tw_client_poll(c, 50, it_tally_event, &r);
	tw_client_close(c);
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(2);
	_exit(0);
}

static void
test_live_changes_under_load(void **state)
{
	uint64_t always0, some0, changes = 0, windows = 0, violations = 0, start, stall;
	struct it_tally r;
	int pipefd[2], status;
	pid_t child;

	(void)state;
	assert_int_equal(it_twctl("queue declare always"), 0);
	assert_int_equal(it_twctl("queue declare sometimes"), 0);
	assert_int_equal(it_twctl("exchange declare live direct"), 0);
	assert_int_equal(it_twctl("bind live always k"), 0);
	it_warm_up();
	always0 = it_queue("always", "published");
	some0 = it_queue("sometimes", "published");
	stop_load = mmap(NULL, sizeof(*stop_load), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			 -1, 0);
	assert_true(stop_load != MAP_FAILED);
	__atomic_store_n(stop_load, 0, __ATOMIC_RELAXED);
	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* a failed assertion ends the parent early: do not publish on without it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(2);
		close(pipefd[0]);
		publish_load(pipefd[1]);
	}
	close(pipefd[1]);
	usleep(300000); /* load running; start measuring stalls from here */
	assert_int_equal(it_twctl("status --reset-max-stall"), 0);

	start = it_now_ms();
	/* bounded: MAX_S */
	while ((it_now_ms() - start < CHANGE_S * 1000 || windows < MIN_WINDOWS) &&
	       it_now_ms() - start < (MAX_S - 5) * 1000) {
		uint64_t a, b;

		assert_int_equal(it_twctl("bind live sometimes k"), 0);
		usleep(20000);
		assert_int_equal(it_twctl("unbind live sometimes k"), 0);
		changes += 2;
		/* unbind returned: no lcore routes with the old table any more */
		a = it_queue("sometimes", "published");
		assert_int_equal(it_twctl("queue declare scratch"), 0);
		assert_int_equal(it_twctl("bind live scratch other"), 0);
		assert_int_equal(it_twctl("exchange declare live direct"), 0); /* redeclare: no-op */
		assert_int_equal(it_twctl("queue delete scratch"), 0);
		changes += 3; /* declare, bind, delete (the redeclare publishes nothing) */
		usleep(20000);
		b = it_queue("sometimes", "published");
		windows++;
		if (b != a)
			violations++;
	}
	/* tw-control samples rates every second: under load they are not zero */
	assert_true(it_queue("always", "publish_rate") > 1000);
	assert_true(it_queue("always", "deliver_rate") > 1000);
	assert_true(it_queue("always", "workers") >= 1);
	stall = it_counter("counters", "max_stall_ns");
	__atomic_store_n(stop_load, 1, __ATOMIC_RELAXED);
	assert_int_equal(read(pipefd[0], &r, sizeof(r)), sizeof(r));
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		uint64_t always = it_queue("always", "published") - always0;
		uint64_t some = it_queue("sometimes", "published") - some0;

		print_message("live change: %lu tasks sent, %lu acked, %lu nacked, %lu results; "
			      "%lu routing changes; 'sometimes' got %lu; %lu unbound windows, %lu "
			      "violations; longest lcore pass %lu ns\n",
			      (unsigned long)r.sent, (unsigned long)r.acks, (unsigned long)r.nacks,
			      (unsigned long)r.results, (unsigned long)changes, (unsigned long)some,
			      (unsigned long)windows, (unsigned long)violations, (unsigned long)stall);
		assert_true(r.sent > 10000);
		assert_int_equal(r.acks, r.sent);           /* lost = 0, nothing NACKed */
		assert_int_equal(r.nacks, 0);
		assert_int_equal(always, r.sent);           /* every task reached "always" */
		assert_int_equal(r.results, always + some); /* and ran once per queue reached */
		assert_true(some > 0);                      /* the toggled binding did route */
		assert_int_equal(violations, 0);
		assert_true(windows >= MIN_WINDOWS);
		assert_true(stall < STALL_LIMIT_NS);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_changes_under_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
