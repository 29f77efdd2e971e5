/*
 * Every name a control request would create or route by, checked by the
 * one rule (tw_names.h) before the request reaches the broker: queue and
 * exchange declarations, bindings, definitions imports and schedules.
 * Deleting, purging and unbinding are not checked, so that a name an older
 * version accepted can still be removed.
 *
 * Ownership: borrows req. Threads: tw-control's main thread.
 */
#ifndef CTL_NAMES_H
#define CTL_NAMES_H

#include <stddef.h>

#include "control.pb-c.h"

/** @return 0, or -EINVAL with err naming the item and the problem. */
int ctl_names_check(const Taskwire__Control__Request *req, char *err, size_t err_len);

#endif
