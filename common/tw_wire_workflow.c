/*
 * Workflow step encoding (tw_wire_workflow.h). Runs on worker lcores when
 * a step finishes; writes only into the caller's buffers.
 */
#include <string.h>

#include "tw_wire_priv.h"
#include "tw_wire_workflow.h"

static const uint8_t json_null[] = "null";

static bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

uint32_t
tw_wf_compose_args(uint8_t *out, uint32_t cap, const uint8_t *r, uint32_t r_len,
		   const uint8_t *args, uint32_t args_len)
{
	struct tw_wbuf w;
	uint32_t i = 0;

	if (r_len == 0) {
		r = json_null;
		r_len = 4;
	}
	tw_wbuf_init(&w, out, cap);
	while (i < args_len && is_space(args[i]))
		i++;
	if ((uint64_t)r_len + 1 > cap)
		return UINT32_MAX;
	/* memmove: r may already be in place, at out + 1 */
	memmove(out + 1, r, r_len);
	out[0] = '[';
	w.len = 1 + r_len;
	if (i < args_len && args[i] == '[') {
		/* [a, b] -> [R, a, b]; [] -> [R] */
		uint32_t j = i + 1;

		while (j < args_len && is_space(args[j]))
			j++;
		if (j < args_len && args[j] == ']') {
			put_raw(&w, "]", 1);
		} else {
			put_raw(&w, ",", 1);
			put_raw(&w, args + j, args_len - j);
		}
	} else if (i < args_len) {
		put_raw(&w, ",", 1);
		put_raw(&w, args + i, args_len - i);
		put_raw(&w, "]", 1);
	} else {
		put_raw(&w, "]", 1);
	}
	return w.overflow ? UINT32_MAX : w.len;
}

uint32_t
tw_wf_error_arg(uint8_t *out, uint32_t cap, uint64_t id, const char *error, uint32_t error_len)
{
	static const char hex[] = "0123456789abcdef";
	struct tw_wbuf w;
	char idhex[16];

	for (int i = 0; i < 16; i++)
		idhex[i] = hex[(id >> (60 - 4 * i)) & 0xf];
	tw_wbuf_init(&w, out, cap);
	put_raw(&w, "{\"id\":\"", 7);
	put_raw(&w, idhex, 16);
	put_raw(&w, "\",\"error\":\"", 11);
	for (uint32_t i = 0; i < error_len; i++) {
		uint8_t c = (uint8_t)error[i];

		if (c == '"' || c == '\\') {
			uint8_t e[2] = { '\\', c };

			put_raw(&w, e, 2);
		} else if (c < 0x20) {
			uint8_t e[6] = { '\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15] };

			put_raw(&w, e, 6);
		} else {
			put_raw(&w, &c, 1);
		}
	}
	put_raw(&w, "\"}", 2);
	return w.overflow ? UINT32_MAX : w.len;
}

/* Bytes of the composed args (they are written twice: sized, then put). */
static uint32_t
step_args(const struct tw_task_view *sv, const struct tw_wf_fields *f, uint8_t *buf,
	  uint32_t cap, const uint8_t **args)
{
	uint32_t n;

	if (f->has_args) {
		*args = f->args;
		return f->args_len;
	}
	if (!f->has_result || sv->immutable)
		return UINT32_MAX - 1; /* keep the signature's */
	if (sv->group_size != 0) {
		/* a group node carries the result itself, for its members */
		*args = f->result_len != 0 ? f->result : json_null;
		return f->result_len != 0 ? f->result_len : 4;
	}
	n = tw_wf_compose_args(buf, cap, f->result, f->result_len, sv->args.p, sv->args.len);
	*args = buf;
	return n;
}

bool
tw_wf_put_step(struct tw_wbuf *w, struct tw_str sig, const struct tw_task_view *sv,
	       const struct tw_wf_fields *f)
{
	/* composed args end up after the signature and the appended ids in w:
	 * compose them in the room left past that (tag, length, signature and
	 * at most 64 bytes of ids), then move them down into place */
	uint32_t head = 1 + 5 + sig.len + 64;
	uint8_t *scratch = w->len + head < w->cap ? w->p + w->len + head : NULL;
	uint32_t scratch_cap = scratch != NULL ? w->cap - w->len - head : 0;
	const uint8_t *args = NULL;
	uint32_t args_len = step_args(sv, f, scratch, scratch_cap, &args);
	uint32_t body = sig.len;

	if (args_len == UINT32_MAX) {
		w->overflow = true;
		return false;
	}
	if (f->id != 0 && sv->id == 0)
		body += 9;
	body += (f->root_id != 0 ? 9 : 0) + (f->parent_id != 0 ? 9 : 0);
	if (f->set_group)
		body += 10 + 2 + varint_size(f->group_index);
	if (f->args_group != 0)
		body += 10;
	if (args_len != UINT32_MAX - 1)
		body += 1 + varint_size(args_len) + args_len;
	put_tag(w, F_FRAME_TASKS, WT_LEN);
	put_varint(w, body);
	put_raw(w, sig.p, sig.len);
	if (f->id != 0 && sv->id == 0)
		put_fixed64(w, F_TASK_ID, f->id);
	if (f->root_id != 0)
		put_fixed64(w, F_TASK_ROOT_ID, f->root_id);
	if (f->parent_id != 0)
		put_fixed64(w, F_TASK_PARENT_ID, f->parent_id);
	if (f->set_group) {
		put_fixed64(w, F_TASK_GROUP_ID, f->group_id);
		put_tag(w, F_TASK_GROUP_INDEX, WT_VARINT);
		put_varint(w, f->group_index);
	}
	if (f->args_group != 0)
		put_fixed64(w, F_TASK_ARGS_GROUP, f->args_group);
	if (args_len != UINT32_MAX - 1) {
		/* memmove: composed args sit in w, past their destination */
		put_tag(w, F_TASK_ARGS, WT_LEN);
		put_varint(w, args_len);
		if (!w->overflow && w->cap - w->len >= args_len) {
			memmove(w->p + w->len, args, args_len);
			w->len += args_len;
		} else {
			w->overflow = true;
		}
	}
	return !w->overflow;
}
