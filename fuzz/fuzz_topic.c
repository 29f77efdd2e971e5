/*
 * libFuzzer harness for topic matching: the input is split into lines;
 * the first half are binding patterns of a topic exchange, the rest
 * routing keys. Each key is routed through the routing table (trie) and
 * through an obviously correct matcher; any difference aborts.
 * Built twice: fuzz_topic as shipped, fuzz_topic_tiny with the trie's size
 * thresholds at their minimum (see the Makefile).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tw_routes.h"
#include "../tests/topic_reference.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tw_def_binding b[16];
	static char keys[16][TW_NAME_MAX];
	struct tw_def_queue q[16];
	struct tw_def_exchange ex = { .name = "t", .type = TW_EX_TOPIC };
	struct tw_defs d = { .n_queues = 16, .queues = q, .n_exchanges = 1, .exchanges = &ex,
			     .bindings = b };
	char line[TW_NAME_MAX];
	int n_lines = 0, n_keys = 0;
	size_t pos = 0;
	struct tw_routes *rt;

	memset(q, 0, sizeof(q));
	for (int i = 0; i < 16; i++) {
		q[i].name[0] = (char)('a' + i);
		q[i].slot = (uint16_t)i;
	}
	/* lines: pattern, pattern, ..., "" separator, key, key ...; bounded by 32 lines */
	while (pos < size && n_lines < 32) {
		size_t l = 0;

		while (pos < size && data[pos] != '\n' && l < TW_NAME_MAX / 2) {
			/* keep words small and patterns meaningful: no NUL inside */
			line[l++] = data[pos] == 0 ? '.' : (char)data[pos];
			pos++;
		}
		while (pos < size && data[pos] != '\n')
			pos++;
		pos++;
		line[l] = '\0';
		if (n_lines % 2 == 0 && d.n_bindings < 16) {
			memset(&b[d.n_bindings], 0, sizeof(b[0]));
			strcpy(b[d.n_bindings].source, "t");
			b[d.n_bindings].destination[0] = (char)('a' + d.n_bindings);
			strcpy(b[d.n_bindings].key, line);
			d.n_bindings++;
		} else if (n_keys < 16) {
			strcpy(keys[n_keys++], line);
		}
		n_lines++;
	}
	rt = tw_routes_build(&d, NULL);
	if (rt == NULL)
		return 0;
	for (int k = 0; k < n_keys; k++) {
		uint32_t dest[TW_MAX_ROUTE_DESTS];
		bool want[16] = { 0 }, got[16] = { 0 };
		int n = tw_routes_match(rt, "t", 1, keys[k], (uint32_t)strlen(keys[k]), NULL, dest);

		for (uint32_t i = 0; i < d.n_bindings; i++)
			if (tw_topic_reference_match(b[i].key, keys[k]))
				want[i] = true;
		for (int i = 0; i < n; i++) {
			int slot = rt->queues[dest[i]].slot;

			if (got[slot])
				abort(); /* a queue reported twice */
			got[slot] = true;
		}
		for (int i = 0; i < 16; i++)
			if (want[i] != got[i])
				abort();
	}
	tw_routes_free(rt, NULL);
	return 0;
}
