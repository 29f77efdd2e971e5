/*
 * Aligned text tables: see twctl_table.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "twctl_table.h"

void
twctl_table_init(struct twctl_table *t, int n_cols)
{
	memset(t, 0, sizeof(*t));
	t->n_cols = n_cols;
}

int
twctl_table_row(struct twctl_table *t, const char *fmt, ...)
{
	char *line, *tok, *p;
	va_list ap;
	int ret, c = 0;

	va_start(ap, fmt);
	ret = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (ret < 0)
		return -ENOMEM;
	if (t->n_rows == t->cap_rows) {
		int cap = t->cap_rows ? t->cap_rows * 2 : 16;
		char **cells = realloc(t->cells, sizeof(char *) * (size_t)(cap * t->n_cols));

		if (cells == NULL) {
			free(line);
			return -ENOMEM;
		}
		t->cells = cells;
		t->cap_rows = cap;
	}
	p = line;
	for (c = 0; c < t->n_cols; c++) {
		/* strsep keeps empty cells (an empty exchange name is a value) */
		tok = p != NULL ? strsep(&p, "\t") : NULL;
		t->cells[t->n_rows * t->n_cols + c] = strdup(tok != NULL ? tok : "");
	}
	free(line);
	t->n_rows++;
	return 0;
}

void
twctl_table_print(const struct twctl_table *t, FILE *f)
{
	size_t width[TWCTL_TABLE_MAX_COLS] = { 0 };

	for (int r = 0; r < t->n_rows; r++)
		for (int c = 0; c < t->n_cols && c < TWCTL_TABLE_MAX_COLS; c++) {
			const char *s = t->cells[r * t->n_cols + c];
			size_t n = s != NULL ? strlen(s) : 0;

			if (n > width[c])
				width[c] = n;
		}
	for (int r = 0; r < t->n_rows; r++) {
		for (int c = 0; c < t->n_cols && c < TWCTL_TABLE_MAX_COLS; c++) {
			const char *s = t->cells[r * t->n_cols + c];

			if (c + 1 == t->n_cols)
				fprintf(f, "%s\n", s ? s : "");
			else
				fprintf(f, "%-*s  ", (int)width[c], s ? s : "");
		}
	}
}

void
twctl_table_free(struct twctl_table *t)
{
	for (int i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
