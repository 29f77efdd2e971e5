/*
 * The one rule for every name an operator or a publisher gives taskwire:
 * queue, exchange, routing key, task name. Like RabbitMQ's (names are
 * UTF-8 short strings), with what makes a name safe to print, export and
 * scrape everywhere it appears (twctl tables, JSON, definitions,
 * Prometheus labels):
 *   - valid UTF-8: no stray continuation byte, no overlong form, no
 *     surrogate (U+D800..U+DFFF), nothing above U+10FFFF;
 *   - no control character: C0 (U+0000..U+001F), DEL (U+007F) and C1
 *     (U+0080..U+009F);
 *   - at most TW_NAME_MAX - 1 bytes (RabbitMQ allows 255; ours are kept in
 *     fixed slots of TW_NAME_MAX bytes in shared memory);
 *   - empty only where the caller allows it (a routing key, the default
 *     exchange).
 *
 * Ownership: borrows everything. Threads: any (no state).
 */
#ifndef TW_NAMES_H
#define TW_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/**
 * Check a name of len bytes (it need not be NUL-terminated; a NUL inside
 * is a control character).
 * @param what         what the name is, for the message ("queue name")
 * @param allow_empty  true where "" has a meaning
 * @param err          receives "<what> <problem>" when refused (may be NULL)
 * @return 0, or -EINVAL with err set.
 */
int tw_name_check(const char *what, const char *name, size_t len, bool allow_empty, char *err,
		  size_t err_len);

/** tw_name_check of a NUL-terminated string. */
int tw_name_check_str(const char *what, const char *name, bool allow_empty, char *err,
		      size_t err_len);

/**
 * Copy len bytes of in to out as valid UTF-8 with no NUL: each byte that
 * does not begin a valid sequence, and each NUL, becomes U+FFFD. out needs
 * 3 * len + 1 bytes; it is NUL-terminated. For text that is shown, not
 * validated (task names, errors and results in JSON answers and events).
 * @return bytes written (without the NUL).
 */
size_t tw_utf8_sanitize(const char *in, size_t len, char *out);

#endif
