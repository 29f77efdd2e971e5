/*
 * Unit tests for the topic trie (common/tw_topic.c, tw_topic_build.c),
 * called directly so that each pattern reports its own value: a wide
 * vocabulary (big nodes, hashed word edges, words longer than 8, 16 and
 * 24 bytes), keys that keep more nodes alive than a frontier holds (the
 * depth-first fallback), values that do not fit a leaf reference, the
 * empty cases and keys of nothing but dots. Every answer is checked against a brute-force matcher.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tw_routes.h"
#include "tw_topic.h"
#include "../topic_reference.h"

#define MAX_PATTERNS 4000

static void *
plain_zalloc(size_t size, void *arg)
{
	(void)arg;
	return calloc(1, size);
}

static void
plain_free(void *p, void *arg)
{
	(void)arg;
	free(p);
}

static const struct tw_alloc_ops ops = { plain_zalloc, plain_free, NULL };

static char patterns[MAX_PATTERNS][TW_NAME_MAX];
static uint32_t counts[MAX_PATTERNS];

static void
count_hit(uint32_t value, void *arg)
{
	(void)arg;
	assert_true(value < MAX_PATTERNS);
	counts[value]++;
}

static struct tw_topic *
build(uint32_t n)
{
	static struct tw_topic_pattern p[MAX_PATTERNS];
	struct tw_topic *t;

	for (uint32_t i = 0; i < n; i++)
		p[i] = (struct tw_topic_pattern){ i, 0, patterns[i], (uint32_t)strlen(patterns[i]) };
	t = tw_topic_build(p, n, 1, &ops);
	assert_non_null(t);
	return t;
}

/* once: each matching pattern reported exactly once, else at least once. */
static void
check_key(const struct tw_topic *t, uint32_t n, const char *key, bool once)
{
	memset(counts, 0, sizeof(counts));
	tw_topic_match(t, 0, key, (uint32_t)strlen(key), count_hit, NULL);
	for (uint32_t i = 0; i < n; i++) {
		bool want = tw_topic_reference_match(patterns[i], key);

		if (want != (counts[i] != 0) || (once && counts[i] > 1))
			fail_msg("pattern '%s' key '%s': expected %d, reported %u times", patterns[i], key,
				 want, counts[i]);
	}
}

/* Up to n words joined by '.', each drawn by pick(); stops before TW_NAME_MAX. */
static void
random_words(char *out, int n, const char *(*pick)(unsigned *), unsigned *seed)
{
	size_t off = 0;

	out[0] = '\0';
	for (int w = 0; w < n; w++) {
		const char *word = pick(seed);

		if (off + 1 + strlen(word) >= TW_NAME_MAX)
			break;
		off += (size_t)snprintf(out + off, TW_NAME_MAX - off, w ? ".%s" : "%s", word);
	}
}

static const char *const vocabulary[] = {
	"", "a", "bb", "ccc", "dddd", "eeeee", "ffffff", "ggggggg", "hhhhhhhh", "iiiiiiiii",
	"svc12345", "svc123456", "error", "warn", "info", "debug", "crit", "eu", "us", "ap",
	"same-prefix-16b-1", "same-prefix-16b-2", "same-prefix-sixteen-24b-1",
	"same-prefix-sixteen-24b-2", "a-word-well-past-the-24-byte-inline-text",
	"a-word-well-past-the-24-byte-inline-tex", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7",
	"k8", "k9", "k10", "k11", "k12", "k13",
};
#define N_VOCAB (sizeof(vocabulary) / sizeof(vocabulary[0]))

static const char *
pattern_word(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed) % 10;

	return r == 0 ? "*" : r == 1 ? "#" : vocabulary[(unsigned)rand_r(seed) % N_VOCAB];
}

static const char *
key_word(unsigned *seed)
{
	static const char *const strangers[] = { "zz", "same-prefix-16b-3", "svc1234", "*", "#" };
	unsigned r = (unsigned)rand_r(seed) % 12;

	return r == 0 ? strangers[(unsigned)rand_r(seed) % 5] : vocabulary[(unsigned)rand_r(seed) % N_VOCAB];
}

/*
 * Many distinct words: nodes with more literal children than fit inline,
 * words leading out of more big nodes than are scanned in order (the grid
 * "k<i>.k<j>" guarantees both) and out of fewer (the smaller table), long
 * and prefix-sharing words.
 */
static void
test_topic_wide_vocabulary(void **state)
{
	static const uint32_t sizes[] = { 250, 3000 };
	unsigned seed = 777;

	(void)state;
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		uint32_t n = 0;
		struct tw_topic *t;

		for (int i = 0; i < 14; i++)
			for (int j = 0; j < 14; j++)
				snprintf(patterns[n++], TW_NAME_MAX, "k%d.k%d", i, j);
		for (int i = 0; i < 14; i++)
			snprintf(patterns[n++], TW_NAME_MAX, "#.k%d.*", i);
		while (n < sizes[z]) {
			random_words(patterns[n], 1 + rand_r(&seed) % 5, pattern_word, &seed);
			n++;
		}
		t = build(n);
		for (int k = 0; k < 1500; k++) {
			char key[TW_NAME_MAX];

			if (k < 196)
				snprintf(key, sizeof(key), "k%d.k%d", k / 14, k % 14);
			else
				random_words(key, rand_r(&seed) % 7, key_word, &seed);
			check_key(t, n, key, true);
		}
		tw_topic_free(t, &ops);
	}
}

static const char *
narrow_pattern_word(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed) % 10;

	return r < 4 ? "a" : r < 7 ? "*" : r < 9 ? "#" : "b";
}

/*
 * Few words and many wildcards: a key of a dozen "a"s keeps hundreds of
 * trie nodes alive at once, more than a frontier holds, so part of the walk
 * goes depth-first. A value may then be reported twice, never missed.
 */
static void
test_topic_many_alive_nodes(void **state)
{
	unsigned seed = 4242;
	uint32_t n = 0;
	struct tw_topic *t;

	(void)state;
	while (n < 3000) {
		random_words(patterns[n], 1 + rand_r(&seed) % 10, narrow_pattern_word, &seed);
		n++;
	}
	t = build(n);
	for (int len = 0; len <= 14; len++) {
		char key[TW_NAME_MAX] = "";

		for (int w = 0; w < len; w++)
			strcat(key, w ? ".a" : "a");
		check_key(t, n, key, false);
		if (len > 0) {
			key[2 * (rand_r(&seed) % len)] = 'b';
			check_key(t, n, key, false);
		}
	}
	tw_topic_free(t, &ops);
}

struct seen {
	uint32_t v[8];
	int n;
};

static void
record(uint32_t value, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
	s->v[s->n++] = value;
}

static bool
saw(const struct seen *s, uint32_t v)
{
	for (int i = 0; i < s->n; i++)
		if (s->v[i] == v)
			return true;
	return false;
}

/* Values too big for a leaf reference get a record and still come back intact. */
static void
test_topic_values(void **state)
{
	static const struct tw_topic_pattern p[] = {
		{ 0, 0, "x", 1 },
		{ TW_TOPIC_LEAF_MAX, 0, "y", 1 },
		{ TW_TOPIC_LEAF_MAX + 1, 0, "z", 1 },
		{ UINT32_MAX, 0, "z.#", 3 },
		{ 7, 0, "#", 1 },
	};
	struct tw_topic *t = tw_topic_build(p, 5, 1, &ops);
	struct seen s;

	(void)state;
	assert_non_null(t);
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 0, "y", 1, record, &s);
	assert_int_equal(s.n, 2);
	assert_true(saw(&s, TW_TOPIC_LEAF_MAX) && saw(&s, 7));
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 0, "z", 1, record, &s);
	assert_int_equal(s.n, 3);
	assert_true(saw(&s, TW_TOPIC_LEAF_MAX + 1) && saw(&s, UINT32_MAX) && saw(&s, 7));
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 0, "x.q", 3, record, &s);
	assert_int_equal(s.n, 1);
	assert_true(saw(&s, 7));
	tw_topic_free(t, &ops);
}

/* No patterns, empty keys and words, several roots, a root out of range. */
static void
test_topic_empty_cases(void **state)
{
	static const struct tw_topic_pattern p[] = {
		{ 0, 0, "", 0 },     { 1, 0, ".", 1 },   { 2, 0, "*", 1 },
		{ 3, 0, "*.*", 3 },  { 4, 1, "#", 1 },   { 5, 1, "a..#", 4 },
	};
	struct tw_topic *t = tw_topic_build(p, 6, 2, &ops);
	struct seen s;

	(void)state;
	assert_non_null(t);
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 0, "", 0, record, &s);
	assert_int_equal(s.n, 1);
	assert_true(saw(&s, 0));
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 0, ".", 1, record, &s);
	assert_int_equal(s.n, 2);
	assert_true(saw(&s, 1) && saw(&s, 3));
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 1, "a.", 2, record, &s);
	assert_int_equal(s.n, 2);
	assert_true(saw(&s, 4) && saw(&s, 5));
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 2, "a", 1, record, &s);
	assert_int_equal(s.n, 0);
	tw_topic_free(t, &ops);

	t = tw_topic_build(NULL, 0, 1, &ops);
	assert_non_null(t);
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 0, "", 0, record, &s);
	tw_topic_match(t, 0, "a.b", 3, record, &s);
	assert_int_equal(s.n, 0);
	tw_topic_free(t, &ops);
}

/*
 * A routing key of TW_NAME_MAX - 1 dots has TW_NAME_MAX empty words, about
 * twice what a key of real words can have; splitting it used to overflow
 * the word arrays (sized TW_NAME_MAX / 2 + 1).
 */
static void
test_topic_most_words(void **state)
{
	static char dots[TW_NAME_MAX], dots_a[TW_NAME_MAX];
	struct tw_topic_pattern p[] = {
		{ 0, 0, dots, TW_NAME_MAX - 1 },
		{ 1, 0, "#", 1 },
		{ 2, 0, dots_a, TW_NAME_MAX - 1 },
		{ 3, 0, "*.#", 3 },
	};
	struct tw_topic *t;
	struct seen s;

	(void)state;
	memset(dots, '.', TW_NAME_MAX - 1);
	memset(dots_a, '.', TW_NAME_MAX - 1);
	dots_a[TW_NAME_MAX - 2] = 'a';
	t = tw_topic_build(p, 4, 1, &ops);
	assert_non_null(t);
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 0, dots, TW_NAME_MAX - 1, record, &s);
	assert_int_equal(s.n, 3);
	assert_true(saw(&s, 0) && saw(&s, 1) && saw(&s, 3));
	memset(&s, 0, sizeof(s));
	tw_topic_match(t, 0, dots_a, TW_NAME_MAX - 1, record, &s);
	assert_int_equal(s.n, 3);
	assert_true(saw(&s, 1) && saw(&s, 2) && saw(&s, 3));
	tw_topic_free(t, &ops);
}

/*
 * More '#' nodes alive at once than the lists hold (one after each of the
 * 254 prefixes of up to 7 words over {x, *}), so that the '#' nodes of the
 * chain "x x x x x x x x # x # x ... # x c", activated later, go down the
 * depth-first fallback. A naive depth-first walk splits the 40 words of the
 * key among the chain's ten '#' every possible way, tens of millions of
 * paths (seconds); remembering which '#' nodes it walked makes it a few
 * hundred.
 */
static void
test_topic_hash_heavy_fallback(void **state)
{
	uint32_t n = 0;
	struct tw_topic *t;
	char key[TW_NAME_MAX] = "";

	(void)state;
	for (int len = 1; len <= 7; len++)
		for (int bits = 0; bits < 1 << len; bits++) {
			size_t off = 0;

			for (int w = 0; w < len; w++)
				off += (size_t)snprintf(patterns[n] + off, TW_NAME_MAX - off, "%s.",
							(bits >> w) & 1 ? "*" : "x");
			snprintf(patterns[n] + off, TW_NAME_MAX - off, "#");
			n++;
		}
	strcpy(patterns[n++], "x.x.x.x.x.x.x.x.#.x.#.x.#.x.#.x.#.x.#.x.#.x.#.x.#.x.#.x.c");
	strcpy(patterns[n++], "x.x.x.x.x.x.x.x.#.x.#.x.#.x.#.x.#.x.#.x.#.x.#.x.#.x.#.x");
	t = build(n);
	for (int w = 0; w < 40; w++)
		strcat(key, w ? ".x" : "x");
	check_key(t, n, key, false);
	strcat(key, ".c");
	check_key(t, n, key, false);
	tw_topic_free(t, &ops);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topic_wide_vocabulary),
		cmocka_unit_test(test_topic_many_alive_nodes),
		cmocka_unit_test(test_topic_hash_heavy_fallback),
		cmocka_unit_test(test_topic_values),
		cmocka_unit_test(test_topic_empty_cases),
		cmocka_unit_test(test_topic_most_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
