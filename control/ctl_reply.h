/*
 * A control reply and the arena it is built in: every nested protobuf-c
 * structure of the Response (lists, strings, arguments) is allocated from
 * the reply, so none needs its own free. The server packs the reply,
 * sends it and calls ctl_reply_free(), which releases everything at once.
 *
 * Threads: one reply belongs to one request, on one thread.
 */
#ifndef CTL_REPLY_H
#define CTL_REPLY_H

#include <stddef.h>

#include "control.pb-c.h"
#include "tw_broker.h"

struct ctl_arena_block;

struct ctl_reply {
	Taskwire__Control__Response resp;
	char err[TW_BROKER_ERR_MAX];
	struct ctl_arena_block *blocks;
};

void ctl_reply_init(struct ctl_reply *r);
void ctl_reply_free(struct ctl_reply *r);
/** Zeroed memory owned by the reply; NULL only when out of memory. */
void *ctl_reply_alloc(struct ctl_reply *r, size_t size);
/** Copy of s owned by the reply (never NULL: "" when out of memory). */
char *ctl_reply_strdup(struct ctl_reply *r, const char *s);

/* Array of n pointers to zeroed, init'ed messages of one type. */
#define REPLY_ARRAY(r, type, init, n, out)                                        \
	do {                                                                      \
		type **arr_ = ctl_reply_alloc((r), sizeof(type *) * ((n) ? (n) : 1)); \
		type *items_ = ctl_reply_alloc((r), sizeof(type) * ((n) ? (n) : 1));  \
		if (arr_ == NULL || items_ == NULL) {                             \
			(out) = NULL;                                             \
			break;                                                    \
		}                                                                 \
		for (size_t i_ = 0; i_ < (n); i_++) {                             \
			init(&items_[i_]);                                        \
			arr_[i_] = &items_[i_];                                   \
		}                                                                 \
		(out) = arr_;                                                     \
	} while (0)

#endif
