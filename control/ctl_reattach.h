/*
 * tw-control outliving tw-dataplane: with --reattach-wait S, when the
 * primary exits tw-control stops as usual (keeping what its scheduler
 * holds in the store) and then re-executes itself. The new image waits,
 * holding no hugepage of the old primary, until a tw-dataplane with the
 * same --file-prefix runs again, and attaches to it; attach attempts that
 * come too early (the primary still starting) are retried the same way.
 * The whole wait is bounded by S seconds from the old primary's exit,
 * carried across the re-executions in CTL_REATTACH_ENV.
 *
 * EAL cannot be initialised twice in one process, hence the exec.
 * Threads: main only.
 */
#ifndef CTL_REATTACH_H
#define CTL_REATTACH_H

#include <stdbool.h>

#define CTL_REATTACH_ENV "TW_CONTROL_REATTACH_UNTIL_MS"

/**
 * First thing in main: if this image was started to re-attach, wait for
 * a live primary of the --file-prefix in argv (up to the deadline).
 * @return 0 to go on (also when not re-attaching), -ETIMEDOUT.
 */
int ctl_reattach_wait(int argc, char **argv);

/** This image was started to re-attach and its deadline has not passed. */
bool ctl_reattach_pending(void);

/** Attached: the next primary exit starts a new deadline. */
void ctl_reattach_done(void);

/**
 * Execute this program again with argv, to wait and attach: the deadline
 * is kept if one runs, else set to now + wait_s. Returns only if exec
 * failed (with a message on stderr).
 */
void ctl_reattach_exec(char **argv, unsigned wait_s);

#endif
