/*
 * Aligned text tables for twctl's human output (like rabbitmqctl): add a
 * header row and data rows of strings, then print with each column as
 * wide as its widest cell. Threads: one table per thread.
 */
#ifndef TWCTL_TABLE_H
#define TWCTL_TABLE_H

#include <stdio.h>

#define TWCTL_TABLE_MAX_COLS 12

struct twctl_table {
	int n_cols;
	int n_rows, cap_rows;
	char **cells;   /* n_rows x n_cols, malloc'd strings */
};

void twctl_table_init(struct twctl_table *t, int n_cols);
/** Append a row of n_cols printf-formatted cells; fmt holds one conversion per cell
 * separated by '\t'. @return 0 or -ENOMEM. */
int twctl_table_row(struct twctl_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void twctl_table_print(const struct twctl_table *t, FILE *f);
void twctl_table_free(struct twctl_table *t);

#endif
