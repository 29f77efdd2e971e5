/*
 * The control reply's arena: see ctl_reply.h. Each allocation is its own
 * zeroed heap block on a list: a reply's size is not known in advance
 * (a list of 100,000 bindings, or one status), and control requests are
 * not a hot path.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_reply.h"

struct ctl_arena_block {
	struct ctl_arena_block *next;
	max_align_t data[];
};

void
ctl_reply_init(struct ctl_reply *r)
{
	memset(r, 0, sizeof(*r));
	taskwire__control__response__init(&r->resp);
}

void
ctl_reply_free(struct ctl_reply *r)
{
	while (r->blocks != NULL) {
		struct ctl_arena_block *b = r->blocks;

		r->blocks = b->next;
		free(b);
	}
}

void *
ctl_reply_alloc(struct ctl_reply *r, size_t size)
{
	struct ctl_arena_block *b = calloc(1, sizeof(*b) + size);

	if (b == NULL)
		return NULL;
	b->next = r->blocks;
	r->blocks = b;
	return b->data;
}

char *
ctl_reply_strdup(struct ctl_reply *r, const char *s)
{
	size_t n = strlen(s);
	char *p = ctl_reply_alloc(r, n + 1);

	if (p == NULL)
		return (char *)"";
	memcpy(p, s, n + 1);
	return p;
}
