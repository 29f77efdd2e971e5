/*
 * Workflow builder and publisher (taskwire/workflow.h). Signatures are
 * protobuf-c Task messages linked into a tree; publishing assigns ids,
 * marks the step whose result ends the workflow (notify) and packs the
 * tree into one frame, or a top-level group's node and its members into
 * several.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "taskwire/workflow.h"
#include "tw_client_priv.h"

enum sig_kind { SIG_TASK, SIG_GROUP };

struct tw_sig {
	enum sig_kind kind;
	bool used;                    /* placed inside another signature */
	Taskwire__Task t;             /* scalar fields; nested ones set when encoding */
	Taskwire__RetryPolicy retry;
	Taskwire__Header hdrs[TW_MAX_TASK_HEADERS];
	Taskwire__Header *hdr_ptrs[TW_MAX_TASK_HEADERS];
	struct tw_sig *next;          /* chain continuation, a group's chord callback */
	struct tw_sig **members;      /* group */
	size_t n_members;
	struct tw_sig **links, **errbacks;
	size_t n_links, n_errbacks;
	/* nested pointer arrays of t, rebuilt by each encode */
	Taskwire__Task **enc_members, **enc_links, **enc_errbacks;
	struct tw_sig *all_next;      /* every signature of the workflow, for freeing */
};

struct tw_wf {
	struct tw_sig *all;
};

struct tw_wf *
tw_wf_new(void)
{
	return calloc(1, sizeof(struct tw_wf));
}

static void
sig_free(struct tw_sig *s)
{
	/* a group's strings are protobuf-c's static empty string */
	if (s->kind == SIG_TASK) {
		free(s->t.name);
		free(s->t.exchange);
		free(s->t.routing_key);
		free(s->t.args.data);
	}
	for (size_t h = 0; h < s->t.n_headers; h++) {
		free(s->hdrs[h].key);
		free(s->hdrs[h].value);
	}
	free(s->members);
	free(s->links);
	free(s->errbacks);
	free(s->enc_members);
	free(s->enc_links);
	free(s->enc_errbacks);
	free(s);
}

void
tw_wf_free(struct tw_wf *wf)
{
	if (wf == NULL)
		return;
	for (struct tw_sig *s = wf->all, *n; s != NULL; s = n) {
		n = s->all_next;
		sig_free(s);
	}
	free(wf);
}

static struct tw_sig *
sig_new(struct tw_wf *wf, enum sig_kind kind)
{
	struct tw_sig *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->kind = kind;
	taskwire__task__init(&s->t);
	s->all_next = wf->all;
	wf->all = s;
	return s;
}

static char *
dup_str(const char *p)
{
	return strdup(p != NULL ? p : "");
}

struct tw_sig *
tw_wf_task(struct tw_wf *wf, const struct tw_publish *p)
{
	struct tw_sig *s;

	if (wf == NULL || p == NULL || p->task == NULL || p->task[0] == '\0' ||
	    strlen(p->task) >= TW_NAME_MAX ||
	    (p->exchange != NULL && strlen(p->exchange) >= TW_NAME_MAX) ||
	    (p->routing_key != NULL && strlen(p->routing_key) >= TW_NAME_MAX) ||
	    p->n_headers > TW_MAX_TASK_HEADERS || (p->args_len != 0 && p->args == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	s = sig_new(wf, SIG_TASK);
	if (s == NULL)
		return NULL;
	s->t.name = dup_str(p->task);
	s->t.exchange = dup_str(p->exchange);
	s->t.routing_key = dup_str(p->routing_key);
	s->t.args.data = malloc(p->args_len + 1);
	if (s->t.name == NULL || s->t.exchange == NULL || s->t.routing_key == NULL ||
	    s->t.args.data == NULL) {
		errno = ENOMEM;
		return NULL; /* freed with the workflow */
	}
	if (p->args_len != 0)
		memcpy(s->t.args.data, p->args, p->args_len);
	s->t.args.len = p->args_len;
	s->t.priority = p->priority;
	tw_client_set_options(&s->t, p, &s->retry);
	for (size_t h = 0; h < p->n_headers; h++) {
		if (p->headers[h].key == NULL || p->headers[h].value == NULL) {
			errno = EINVAL;
			return NULL;
		}
		taskwire__header__init(&s->hdrs[h]);
		s->hdrs[h].key = dup_str(p->headers[h].key);
		s->hdrs[h].value = dup_str(p->headers[h].value);
		s->hdr_ptrs[h] = &s->hdrs[h];
		s->t.n_headers = h + 1;
	}
	s->t.headers = s->hdr_ptrs;
	return s;
}

/* The last step of the chain s heads (s itself if nothing follows). */
static struct tw_sig *
last_of(struct tw_sig *s)
{
	while (s->next != NULL)
		s = s->next;
	return s;
}

struct tw_sig *
tw_wf_chain(struct tw_wf *wf, struct tw_sig *const *steps, size_t n)
{
	if (wf == NULL || steps == NULL || n == 0)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (steps[i] == NULL || steps[i]->used)
			goto bad;
	for (size_t i = 1; i < n; i++) {
		struct tw_sig *tail = last_of(steps[i - 1]);

		if (tail == steps[i])
			goto bad;
		tail->next = steps[i];
		steps[i]->used = true;
	}
	return steps[0];
bad:
	errno = EINVAL;
	return NULL;
}

static int
push(struct tw_sig ***arr, size_t *n, struct tw_sig *s)
{
	struct tw_sig **a = realloc(*arr, (*n + 1) * sizeof(*a));

	if (a == NULL)
		return -ENOMEM;
	a[(*n)++] = s;
	*arr = a;
	return 0;
}

struct tw_sig *
tw_wf_group(struct tw_wf *wf, struct tw_sig *const *members, size_t n, uint32_t result_cell)
{
	struct tw_sig *g;

	if (wf == NULL || members == NULL || n == 0 || n > TW_WF_MAX_MEMBERS ||
	    result_cell > TW_WF_MAX_CELL) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (members[i] == NULL || members[i]->used) {
			errno = EINVAL;
			return NULL;
		}
	}
	g = sig_new(wf, SIG_GROUP);
	if (g == NULL)
		return NULL;
	g->members = malloc(n * sizeof(*g->members));
	if (g->members == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		g->members[i] = members[i];
		members[i]->used = true;
	}
	g->n_members = n;
	g->t.group_size = (uint32_t)n;
	g->t.result_cell = result_cell;
	return g;
}

struct tw_sig *
tw_wf_chord(struct tw_wf *wf, struct tw_sig *header, struct tw_sig *callback)
{
	if (wf == NULL || header == NULL || callback == NULL || header->kind != SIG_GROUP ||
	    header->next != NULL || callback->used || callback == header) {
		errno = EINVAL;
		return NULL;
	}
	header->next = callback;
	callback->used = true;
	return header;
}

/*
 * Attach cb to the last step of the chain s heads: its success callbacks,
 * or its errbacks (the engine fires the errbacks of every step a failure
 * leaves unrun, so there they fire for a failure at any step).
 */
static int
attach(struct tw_sig *s, struct tw_sig *cb, bool on_error)
{
	struct tw_sig *tail;

	if (s == NULL || cb == NULL || cb->used || cb == s)
		return -EINVAL;
	tail = last_of(s);
	if (on_error ? push(&tail->errbacks, &tail->n_errbacks, cb)
		     : push(&tail->links, &tail->n_links, cb))
		return -ENOMEM;
	cb->used = true;
	return 0;
}

int
tw_sig_link(struct tw_sig *s, struct tw_sig *cb)
{
	return attach(s, cb, false);
}

int
tw_sig_link_error(struct tw_sig *s, struct tw_sig *cb)
{
	return attach(s, cb, true);
}

void
tw_sig_immutable(struct tw_sig *s)
{
	if (s != NULL)
		s->t.immutable = true;
}

uint64_t
tw_sig_id(const struct tw_sig *s)
{
	return s != NULL ? s->t.id : 0;
}

/* Ids for every signature under s, depth first. */
static void
assign_ids(struct tw_client *c, struct tw_sig *s, uint32_t depth)
{
	if (s == NULL || depth > TW_WF_MAX_DEPTH)
		return;
	if (s->t.id == 0) {
		s->t.id = c->next_task_id++;
		if (c->next_task_id == 0)
			c->next_task_id = 1;
	}
	for (size_t i = 0; i < s->n_members; i++)
		assign_ids(c, s->members[i], depth + 1);
	for (size_t i = 0; i < s->n_links; i++)
		assign_ids(c, s->links[i], depth + 1);
	for (size_t i = 0; i < s->n_errbacks; i++)
		assign_ids(c, s->errbacks[i], depth + 1);
	assign_ids(c, s->next, depth + 1);
}

static void
clear_ids(struct tw_sig *s, uint32_t depth)
{
	if (s == NULL || depth > TW_WF_MAX_DEPTH)
		return;
	s->t.id = 0;
	s->t.notify = false;
	s->t.group_id = 0;
	s->t.group_index = 0;
	for (size_t i = 0; i < s->n_members; i++)
		clear_ids(s->members[i], depth + 1);
	for (size_t i = 0; i < s->n_links; i++)
		clear_ids(s->links[i], depth + 1);
	for (size_t i = 0; i < s->n_errbacks; i++)
		clear_ids(s->errbacks[i], depth + 1);
	clear_ids(s->next, depth + 1);
}

static Taskwire__Task **
encode_list(struct tw_sig **sigs, size_t n, Taskwire__Task ***store, uint32_t depth, int *err);

/* Point s->t's nested fields at its children's messages. */
static int
encode(struct tw_sig *s, uint32_t depth)
{
	int err = 0;

	if (depth >= TW_WF_MAX_DEPTH)
		return -EMSGSIZE; /* the engine refuses deeper nesting */
	s->t.next = NULL;
	if (s->next != NULL) {
		err = encode(s->next, depth + 1);
		s->t.next = &s->next->t;
	}
	s->t.members = encode_list(s->members, s->n_members, &s->enc_members, depth, &err);
	s->t.n_members = s->n_members;
	s->t.link = encode_list(s->links, s->n_links, &s->enc_links, depth, &err);
	s->t.n_link = s->n_links;
	s->t.link_error = encode_list(s->errbacks, s->n_errbacks, &s->enc_errbacks, depth, &err);
	s->t.n_link_error = s->n_errbacks;
	return err;
}

static Taskwire__Task **
encode_list(struct tw_sig **sigs, size_t n, Taskwire__Task ***store, uint32_t depth, int *err)
{
	Taskwire__Task **a;

	free(*store);
	*store = NULL;
	if (n == 0)
		return NULL;
	a = malloc(n * sizeof(*a));
	if (a == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int e = encode(sigs[i], depth + 1);

		if (e != 0)
			*err = e;
		a[i] = &sigs[i]->t;
	}
	*store = a;
	return a;
}

/* A frame of these tasks, as it will be sent. */
static Taskwire__Frame
frame_of(Taskwire__Task **tasks, size_t n)
{
	Taskwire__Frame f;

	taskwire__frame__init(&f);
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.tasks = tasks;
	f.n_tasks = n;
	return f;
}

static size_t
frame_size(Taskwire__Task **tasks, size_t n)
{
	Taskwire__Frame f = frame_of(tasks, n);

	/* the largest frame_id and the retransmits flag: the worst case */
	f.frame_id = UINT64_MAX;
	f.retransmits = true;
	return taskwire__frame__get_packed_size(&f);
}

static int
send_tasks(struct tw_client *c, Taskwire__Task **tasks, size_t n)
{
	Taskwire__Frame f = frame_of(tasks, n);

	/* confirmed is done: the results come from later steps, under other ids */
	return tw_client_send_frame(c, &f, true);
}

/* A top-level group too large for one datagram: its node, then its members. */
static int
publish_split(struct tw_client *c, struct tw_sig *g)
{
	Taskwire__Task *batch[TW_FRAME_MAX_TASKS];
	size_t n = 0, bytes = 0, base = frame_size(NULL, 0);
	int ret;

	for (size_t i = 0; i < g->n_members; i++) {
		Taskwire__Task *one[1] = { &g->members[i]->t };

		g->members[i]->t.group_id = g->t.id;
		g->members[i]->t.group_index = (uint32_t)i;
		if (frame_size(one, 1) > c->max_bytes)
			return -EMSGSIZE; /* checked before anything is sent */
	}
	g->t.members = NULL;
	g->t.n_members = 0;
	{
		Taskwire__Task *node[1] = { &g->t };

		if (frame_size(node, 1) > c->max_bytes)
			return -EMSGSIZE;
		ret = send_tasks(c, node, 1);
		if (ret != 0)
			return ret;
	}
	for (size_t i = 0; i < g->n_members; i++) {
		Taskwire__Task *one[1] = { &g->members[i]->t };
		size_t cost = frame_size(one, 1) - base;

		if (n != 0 && (n == c->max_tasks || base + bytes + cost > c->max_bytes)) {
			ret = send_tasks(c, batch, n);
			if (ret != 0)
				return ret;
			n = 0;
			bytes = 0;
		}
		batch[n++] = one[0];
		bytes += cost;
	}
	return n != 0 ? send_tasks(c, batch, n) : 0;
}

int
tw_client_publish_workflow(struct tw_client *c, struct tw_wf *wf, struct tw_sig *root,
			   uint64_t *result_id)
{
	struct tw_sig *fin;
	Taskwire__Task *one[1];
	int ret;

	if (c == NULL || wf == NULL || root == NULL || root->used || result_id == NULL)
		return -EINVAL;
	ret = tw_client_flush(c);
	if (ret != 0)
		return ret;
	clear_ids(root, 0);
	/* the root (and a top-level group's members) first: each frame's ids
	 * must be consecutive for retransmission */
	root->t.id = c->next_task_id++;
	for (size_t i = 0; i < root->n_members; i++)
		root->members[i]->t.id = c->next_task_id++;
	if (c->next_task_id < root->n_members + 2)
		c->next_task_id = root->n_members + 2; /* wrapped: keep ids non-zero */
	assign_ids(c, root, 0);
	fin = last_of(root);
	fin->t.notify = true;
	ret = encode(root, 0);
	if (ret != 0)
		return ret;
	*result_id = fin->t.id;
	one[0] = &root->t;
	if (frame_size(one, 1) <= c->max_bytes)
		return send_tasks(c, one, 1);
	if (root->kind != SIG_GROUP)
		return -EMSGSIZE;
	return publish_split(c, root);
}

int
tw_client_wait_workflow(struct tw_client *c, const struct tw_sig *root, uint64_t result_id,
			int timeout_ms, struct tw_outcome *out)
{
	if (c == NULL || root == NULL || out == NULL)
		return -EINVAL;
	/* a refusal of the root or of a top-level member ends it as well */
	return tw_client_wait_range(c, result_id, root->t.id, 1 + root->n_members, timeout_ms, out,
				    NULL, NULL);
}
