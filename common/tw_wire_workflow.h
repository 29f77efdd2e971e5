/*
 * Encoding of workflow steps (proto Task fields 14..26): the next task of
 * a chain, a callback, a group member, each written as its signature's
 * bytes followed by the fields the engine sets (ids, group membership,
 * composed args). Protobuf keeps the last occurrence of a scalar field,
 * so appending overrides what the signature carried without re-encoding
 * it (wire_test checks protobuf-c reads it the same way).
 *
 * Threads: pure functions over caller memory; any thread.
 */
#ifndef TW_WIRE_WORKFLOW_H
#define TW_WIRE_WORKFLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_wire.h"

/* What the engine appends to a signature. */
struct tw_wf_fields {
	uint64_t id;            /* written when the signature has none */
	uint64_t root_id;
	uint64_t parent_id;
	uint64_t group_id;      /* with group_index, when set_group */
	uint32_t group_index;
	bool set_group;
	uint64_t args_group;    /* chord callback reading its args from the group's slot */
	/* The parent's result to pass (has_result): prepended to the args of
	 * a task, or, for a group node, carried as its args for its members. */
	bool has_result;
	const uint8_t *result;
	uint32_t result_len;
	/* Args replacing the signature's as they are (has_args; e.g. a chord
	 * callback's composed list). */
	bool has_args;
	const uint8_t *args;
	uint32_t args_len;
};

/**
 * Append Task field 4 of a frame: sig (a validated Task message, decoded
 * in sv) plus f. @return false if w overflowed.
 */
bool tw_wf_put_step(struct tw_wbuf *w, struct tw_str sig, const struct tw_task_view *sv,
		    const struct tw_wf_fields *f);

/**
 * Compose args: result R before the signature's args (see the proto):
 * [a, b] -> [R, a, b], empty -> [R], other -> [R, other]; an empty R is
 * null. r may be out + 1 (R written in place first: nothing is copied for
 * it). @return bytes written to out, or UINT32_MAX if cap is too small.
 */
uint32_t tw_wf_compose_args(uint8_t *out, uint32_t cap, const uint8_t *r, uint32_t r_len,
			    const uint8_t *args, uint32_t args_len);

/**
 * The argument a link_error callback receives:
 * {"id":"<16 hex digits>","error":"<escaped error>"}.
 * @return bytes written, or UINT32_MAX if cap is too small.
 */
uint32_t tw_wf_error_arg(uint8_t *out, uint32_t cap, uint64_t id, const char *error,
			 uint32_t error_len);

#endif
