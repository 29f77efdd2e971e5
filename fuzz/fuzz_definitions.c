/*
 * libFuzzer harness for definitions files (what `twctl definitions
 * import` and `--definitions` read): any bytes through jansson and
 * tw_definitions_from_json; accepted documents must pack as control
 * messages; nothing may leak or crash (ASan, LeakSanitizer).
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "tw_definitions.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Taskwire__Control__Definitions *d;
	struct tw_defs_errors errs;
	json_error_t je;
	json_t *doc = json_loadb((const char *)data, size, 0, &je);

	if (doc == NULL)
		return 0;
	if (tw_definitions_from_json(doc, &d, &errs) == 0) {
		size_t n = taskwire__control__definitions__get_packed_size(d);
		uint8_t *buf = malloc(n ? n : 1);

		if (buf == NULL)
			abort();
		taskwire__control__definitions__pack(d, buf);
		free(buf);
		tw_definitions_free(d);
	} else if (errs.n == 0) {
		abort(); /* refused without saying why */
	}
	json_decref(doc);
	return 0;
}
