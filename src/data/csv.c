/* SPDX-License-Identifier: MIT */
/*
 * CSV reader for data sets of numeric feature columns followed by one
 * integer label column.
 *
 * Accepted format: fields separated by commas, with optional spaces or tabs
 * around each field; no quoting. Lines end in \n or \r\n, and the last line
 * may lack its line end. A UTF-8 byte order mark at the start is skipped.
 * Every data row has the same number of columns, at least 2. Each feature
 * is a finite number in float range (anything strtod reads, such as 0.5, -3
 * or 1e-3). The last column is an integer label in [0, 255]. Blank lines are
 * allowed only at the end of the file. With skip_header the first line is
 * skipped whatever it contains. There is no header detection, so a header
 * read as data is reported as an invalid number on line 1.
 *
 * Errors name the path, the 1-based line and column, and the rejected text.
 * With max_count > 0, reading stops after that many rows and the rest of the
 * file is not checked. The result has rows = cols = 0.
 */
#include "data/data_internal.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum length of field text quoted in an error message, in bytes. */
#define CSV_QUOTE_MAX 40

/* A field of a line, as the bytes in [start, end) left after trimming blanks. */
typedef struct csv_span {
	const char *start, *end;
} csv_span;

typedef struct csv_reader {
	const char *path;
	int line;              /* 1-based number of the line being parsed */
	int n_columns;         /* columns per row; 0 until the first data row */
	int columns_line;      /* line of the first data row, for messages */
	csv_span *spans;       /* fields of the current line */
	int span_cap;
	float *features;       /* count * (n_columns - 1) values */
	size_t feature_cap;
	uint8_t *labels;
	size_t label_cap;
	int count;             /* data rows stored */
} csv_reader;

static int csv_read_file(const char *path, char **text, size_t *len, pcs_error *err)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, used = 0;
	char *buf = NULL;

	if (f == NULL)
		return pcs_error_set(err, PCS_EDATA,
				     "%s: cannot open CSV file: %s; check the path and permissions",
				     path, strerror(errno));

	for (;;) {
		char *grown = realloc(buf, cap + 1);

		if (grown == NULL) {
			free(buf);
			fclose(f);
			return pcs_error_set(err, PCS_ENOMEM, "%s: out of memory reading %zu bytes",
					     path, cap);
		}
		buf = grown;
		used += fread(buf + used, 1, cap - used, f);
		if (used < cap)
			break;
		cap *= 2;
	}

	if (ferror(f)) {
		int saved = errno;

		free(buf);
		fclose(f);
		return pcs_error_set(err, PCS_EDATA, "%s: read error: %s", path, strerror(saved));
	}
	fclose(f);
	buf[used] = '\0';
	*text = buf;
	*len = used;
	return 0;
}


static int csv_is_blank_char(char c)
{
	return c == ' ' || c == '\t';
}


/* Splits [start, end) at commas into r->spans, trimming blanks from each field. */
static int csv_split(csv_reader *r, const char *start, const char *end, int *n_fields,
		     pcs_error *err)
{
	int n = 0;

	for (const char *p = start;; p++) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *field_end = comma != NULL ? comma : end;

		if (n == r->span_cap) {
			int cap = r->span_cap > 0 ? 2 * r->span_cap : 64;
			csv_span *grown = realloc(r->spans, (size_t)cap * sizeof *grown);

			if (grown == NULL)
				return pcs_error_set(err, PCS_ENOMEM, "%s:%d: out of memory for %d fields",
						     r->path, r->line, cap);
			r->spans = grown;
			r->span_cap = cap;
		}
		while (p < field_end && csv_is_blank_char(*p))
			p++;
		r->spans[n].start = p;
		while (field_end > p && csv_is_blank_char(field_end[-1]))
			field_end--;
		r->spans[n++].end = field_end;

		if (comma == NULL)
			break;
		p = comma;
	}
	*n_fields = n;
	return 0;
}


/* Length of a field's text as quoted in messages. */
static int csv_quote_len(const csv_span *span)
{
	ptrdiff_t len = span->end - span->start;

	return len > CSV_QUOTE_MAX ? CSV_QUOTE_MAX : (int)len;
}


static int csv_parse_feature(const csv_reader *r, const csv_span *span, int column, float *out,
			     pcs_error *err)
{
	char *parse_end;
	double value;

	/* An empty field must not reach strtod, which would skip the line end
	 * as white space and read the next line's number. */
	if (span->start == span->end)
		return pcs_error_set(err, PCS_EDATA,
				     "%s:%d: column %d: empty field; every feature column needs a number",
				     r->path, r->line, column);

	value = strtod(span->start, &parse_end);
	if (parse_end != span->end || !isfinite(value) || fabs(value) > FLT_MAX)
		return pcs_error_set(err, PCS_EDATA,
				     "%s:%d: column %d: invalid number '%.*s'; features must be finite "
				     "numbers within float range",
				     r->path, r->line, column, csv_quote_len(span), span->start);
	*out = (float)value;
	return 0;
}


static int csv_parse_label(const csv_reader *r, const csv_span *span, int column, uint8_t *out,
			   pcs_error *err)
{
	char *parse_end;
	long value;

	errno = 0;
	value = span->start == span->end ? -1 : strtol(span->start, &parse_end, 10);
	if (span->start == span->end || parse_end != span->end || errno == ERANGE ||
	    value < 0 || value > 255)
		return pcs_error_set(err, PCS_EDATA,
				     "%s:%d: column %d: invalid label '%.*s'; the last column must be "
				     "an integer class label in [0, 255]",
				     r->path, r->line, column, csv_quote_len(span), span->start);
	*out = (uint8_t)value;
	return 0;
}


/* Makes room for one more row of n_features values and its label. */
static int csv_reserve_row(csv_reader *r, int n_features, pcs_error *err)
{
	size_t need = ((size_t)r->count + 1) * (size_t)n_features;

	if (r->count == INT_MAX)
		return pcs_error_set(err, PCS_EDATA, "%s:%d: more than %d data rows", r->path,
				     r->line, INT_MAX);
	if (need > r->feature_cap) {
		size_t cap = r->feature_cap > 0 ? 2 * r->feature_cap : 1024;
		float *grown;

		while (cap < need)
			cap *= 2;
		grown = realloc(r->features, cap * sizeof *grown);
		if (grown == NULL)
			return pcs_error_set(err, PCS_ENOMEM, "%s:%d: out of memory for %zu features",
					     r->path, r->line, cap);
		r->features = grown;
		r->feature_cap = cap;
	}
	if ((size_t)r->count + 1 > r->label_cap) {
		size_t cap = r->label_cap > 0 ? 2 * r->label_cap : 256;
		uint8_t *grown = realloc(r->labels, cap);

		if (grown == NULL)
			return pcs_error_set(err, PCS_ENOMEM, "%s:%d: out of memory for %zu labels",
					     r->path, r->line, cap);
		r->labels = grown;
		r->label_cap = cap;
	}
	return 0;
}


/* Checks the column count of the current line against the first data row. */
static int csv_check_columns(csv_reader *r, int n_fields, pcs_error *err)
{
	if (r->n_columns == 0) {
		if (n_fields < 2)
			return pcs_error_set(err, PCS_EDATA,
					     "%s:%d: only 1 column; a row needs at least one feature "
					     "column followed by the label column",
					     r->path, r->line);
		r->n_columns = n_fields;
		r->columns_line = r->line;
		return 0;
	}
	if (n_fields != r->n_columns)
		return pcs_error_set(err, PCS_EDATA,
				     "%s:%d: %d columns, expected %d as on line %d; every row needs the "
				     "same columns",
				     r->path, r->line, n_fields, r->n_columns, r->columns_line);
	return 0;
}


/* Parses the data row in [start, end) and appends it. */
static int csv_parse_row(csv_reader *r, const char *start, const char *end, pcs_error *err)
{
	int n_fields = 0, n_features, rc;
	float *row;

	rc = csv_split(r, start, end, &n_fields, err);
	if (rc == 0)
		rc = csv_check_columns(r, n_fields, err);
	if (rc == 0)
		rc = csv_reserve_row(r, n_fields - 1, err);
	if (rc < 0)
		return rc;

	n_features = n_fields - 1;
	row = r->features + (size_t)r->count * (size_t)n_features;
	for (int i = 0; i < n_features; i++) {
		rc = csv_parse_feature(r, &r->spans[i], i + 1, &row[i], err);
		if (rc < 0)
			return rc;
	}
	rc = csv_parse_label(r, &r->spans[n_features], n_fields, &r->labels[r->count], err);
	if (rc < 0)
		return rc;

	r->count++;
	return 0;
}


static int csv_is_blank(const char *start, const char *end)
{
	for (const char *p = start; p < end; p++)
		if (!csv_is_blank_char(*p) && *p != '\r')
			return 0;
	return 1;
}


/* Finds the end of the line at p, before any \r\n or \n, and where the next line starts. */
static const char *csv_line_end(const char *p, const char *end, const char **next)
{
	const char *newline = memchr(p, '\n', (size_t)(end - p));
	const char *line_end = newline != NULL ? newline : end;

	*next = newline != NULL ? newline + 1 : end;
	if (line_end > p && line_end[-1] == '\r')
		line_end--;
	return line_end;
}


/* Rejects a blank line at r->line unless only blank lines follow it. */
static int csv_check_blank_tail(csv_reader *r, const char *next, const char *end,
				pcs_error *err)
{
	if (csv_is_blank(next, end))
		return 0;
	return pcs_error_set(err, PCS_EDATA,
			     "%s:%d: blank line before more data rows; remove it (blank lines are "
			     "allowed only at the end of the file)",
			     r->path, r->line);
}


static int csv_parse_text(csv_reader *r, const char *text, size_t len, int skip_header,
			  int max_count, pcs_error *err)
{
	const char *p = text, *end = text + len, *next;

	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;

	for (r->line = 1; p < end; r->line++, p = next) {
		const char *line_end = csv_line_end(p, end, &next);
		int rc;

		if (r->line == 1 && skip_header)
			continue;
		if (max_count > 0 && r->count == max_count)
			break;
		if (csv_is_blank(p, line_end))
			return csv_check_blank_tail(r, next, end, err);

		rc = csv_parse_row(r, p, line_end, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}


int pcs_csv_load(const char *path, int skip_header, int max_count, pcs_dataset *out,
		 pcs_error *err)
{
	csv_reader r = {.path = path};
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (path == NULL || out == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_csv_load: NULL argument");
	memset(out, 0, sizeof *out);
	if (max_count < 0)
		return pcs_error_set(err, PCS_EINVAL,
				     "%s: invalid sample count %d; use 0 for all rows or a positive "
				     "count",
				     path, max_count);

	rc = csv_read_file(path, &text, &len, err);
	if (rc == 0)
		rc = csv_parse_text(&r, text, len, skip_header, max_count, err);
	if (rc == 0 && r.count == 0)
		rc = pcs_error_set(err, PCS_EDATA, "%s: no data rows; the file needs at least one "
				   "row of features and a label", path);
	free(text);
	free(r.spans);
	if (rc < 0) {
		free(r.features);
		free(r.labels);
		return rc;
	}

	out->count = r.count;
	out->dim = r.n_columns - 1;
	out->features = r.features;
	out->labels = r.labels;
	data_count_classes(out);
	return 0;
}
