/* SPDX-License-Identifier: MIT */
/*
 * Loading a model: reads the INI text with inih, applies the --set
 * overrides in order, runs the whole-model checks and keeps the text with
 * the overrides appended, so a trace database can record what was run.
 *
 * inih's handler receives no line number, so the module feeds inih through
 * its own line reader, which counts lines. The reader also removes
 * indentation, because inih reads an indented line after a key as the
 * continuation of that key's value. It opens each [section] itself before
 * passing the header line on, so a section without keys, such as an empty
 * [layer x], still exists.
 */
#include "model_internal.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Larger files are rejected: model files are a few kilobytes of text. */
#define MODEL_FILE_MAX (1L << 20)

#define MODEL_OVERRIDES_HEADER "# --set overrides:\n"


void model_format_location(const model_parser *parser, const model_location *at, char *buf,
			   size_t size)
{
	if (at->override != NULL)
		snprintf(buf, size, "--set \"%s\": ", at->override);
	else if (at->line > 0)
		snprintf(buf, size, "%s:%d: ", parser->origin, at->line);
	else
		snprintf(buf, size, "%s: ", parser->origin);
}


int model_fail(model_parser *parser, const model_location *at, const char *fmt, ...)
{
	char prefix[PCS_PATH_MAX + 64], message[1024];
	va_list ap;

	if (parser->failed != 0)
		return parser->failed;

	model_format_location(parser, at, prefix, sizeof prefix);
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);

	parser->failed = PCS_EMODEL;
	return pcs_error_set(parser->err, PCS_EMODEL, "%s%s", prefix, message);
}


/* Opens the section of a line that starts with '[', finding ']' as inih does. */
static int model_read_header(model_parser *parser, const char *line)
{
	model_location at = { .line = parser->line, .override = NULL };
	const char *close = line + 1, *rest;
	char name[256];
	bool after_space = false;

	/* inih ends the header at ']' or at an inline comment (';' after whitespace). */
	while (*close != '\0' && *close != ']' && !(after_space && *close == ';')) {
		after_space = isspace((unsigned char)*close);
		close++;
	}
	if (*close != ']')
		return model_fail(parser, &at, "section header has no closing ']'");

	rest = close + 1;
	while (isspace((unsigned char)*rest))
		rest++;
	if (*rest != '\0' && *rest != ';' && *rest != '#')
		return model_fail(parser, &at, "unexpected text \"%s\" after the section header; "
				  "start a comment with ; or #", rest);

	if (!model_copy_trimmed(line + 1, close, name, sizeof name))
		return model_fail(parser, &at, "section name is longer than %zu characters",
				  sizeof name - 1);
	return model_open_section(parser, name, parser->line);
}


/* An fgets-style reader over parser->next for ini_parse_stream. */
static char *model_read_line(char *buffer, int size, void *stream)
{
	model_parser *parser = stream;
	const char *start = parser->next, *end;
	model_location at;
	size_t length;

	if (parser->failed != 0 || *start == '\0')
		return NULL;
	end = strchr(start, '\n');
	end = end != NULL ? end + 1 : start + strlen(start);
	parser->next = end;
	at = (model_location){ .line = ++parser->line, .override = NULL };

	if (parser->line == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;

	length = (size_t)(end - start);
	if (size < 2 || length > (size_t)size - 1) {
		model_fail(parser, &at, "line is longer than the %d characters that inih accepts; "
			   "shorten it", size - 2);
		return NULL;
	}
	memcpy(buffer, start, length);
	buffer[length] = '\0';

	if (buffer[0] == '[' && model_read_header(parser, buffer) < 0)
		return NULL;
	return buffer;
}


/*
 * inih's handler. The section argument is ignored because libinih 55 truncates
 * section names to 49 characters. The reader has already opened the section.
 */
static int model_handle_key(void *user, const char *section, const char *name,
			    const char *value)
{
	model_parser *parser = user;
	model_location at = { .line = parser->line, .override = NULL };

	if (parser->failed != 0)
		return 0;
	if (!parser->in_section) {
		model_fail(parser, &at, "key %s is outside any section; put it under a [section] "
			   "header", name);
		return 0;
	}
	return model_set_key(parser, &parser->current, name, value, &at, true) == 0;
}


/* Applies one "section.key=value". The section ends at the last '.' before '='. */
static int model_apply_override(model_parser *parser, const char *override)
{
	model_location at = { .line = 0, .override = override };
	const char *equals = strchr(override, '='), *dot = NULL;
	char section_name[256], key[PCS_NAME_MAX], *value;
	model_section section;
	int rc;

	for (const char *p = override; equals != NULL && p < equals; p++) {
		if (*p == '.')
			dot = p;
	}
	if (dot == NULL || strpbrk(override, "\r\n") != NULL ||
	    !model_copy_trimmed(override, dot, section_name, sizeof section_name) ||
	    !model_copy_trimmed(dot + 1, equals, key, sizeof key) || section_name[0] == '\0' ||
	    key[0] == '\0')
		return model_fail(parser, &at, "invalid override: expected section.key=value, for "
				  "example \"layer hidden.size=32\" or \"edge image -> "
				  "hidden.delay=1\"");

	if (model_parse_section_name(parser, section_name, &at, &section) < 0 ||
	    model_resolve_section(parser, &section, &at) < 0)
		return parser->failed;

	value = malloc(strlen(equals) + 1);
	if (value == NULL) {
		parser->failed = PCS_ENOMEM;
		return pcs_error_set(parser->err, PCS_ENOMEM, "out of memory applying --set");
	}
	model_copy_trimmed(equals + 1, equals + strlen(equals), value, strlen(equals) + 1);
	rc = model_set_key(parser, &section, key, value, &at, false);
	free(value);
	return rc;
}


/* Stores the text with one "# section.key=value" comment line per override. */
static int model_keep_text(model_parser *parser, const char *text,
			   const char *const *overrides, int n_overrides)
{
	size_t length = strlen(text), total = length + 2, used;
	bool add_newline = length > 0 && text[length - 1] != '\n';
	char *copy;

	if (n_overrides > 0)
		total += strlen(MODEL_OVERRIDES_HEADER);
	for (int i = 0; i < n_overrides; i++)
		total += strlen(overrides[i]) + 3;

	copy = malloc(total);
	if (copy == NULL) {
		parser->failed = PCS_ENOMEM;
		return pcs_error_set(parser->err, PCS_ENOMEM, "out of memory copying the model text");
	}

	used = (size_t)snprintf(copy, total, "%s%s", text, add_newline ? "\n" : "");
	if (n_overrides > 0)
		used += (size_t)snprintf(copy + used, total - used, MODEL_OVERRIDES_HEADER);
	for (int i = 0; i < n_overrides; i++)
		used += (size_t)snprintf(copy + used, total - used, "# %s\n", overrides[i]);
	parser->model->text = copy;
	return 0;
}


static int model_check_overrides(model_parser *parser, const char *const *overrides,
				 int n_overrides)
{
	model_location file = { 0 };

	if (n_overrides < 0 || (n_overrides > 0 && overrides == NULL)) {
		parser->failed = PCS_EINVAL;
		return pcs_error_set(parser->err, PCS_EINVAL, "invalid override list: n_overrides "
				     "is %d and overrides is %s; pass n_overrides >= 0 and an array "
				     "of that many strings", n_overrides,
				     overrides == NULL ? "NULL" : "set");
	}
	if (n_overrides > PCS_MAX_OVERRIDES)
		return model_fail(parser, &file, "too many --set overrides: %d given, at most %d",
				  n_overrides, PCS_MAX_OVERRIDES);

	for (int i = 0; i < n_overrides; i++) {
		if (overrides[i] == NULL) {
			parser->failed = PCS_EINVAL;
			return pcs_error_set(parser->err, PCS_EINVAL, "override %d is NULL", i);
		}
	}
	return 0;
}


/* Reads the text with inih and reports a line that inih itself rejected. */
static int model_read_text(model_parser *parser)
{
	int rc = ini_parse_stream(model_read_line, parser, model_handle_key, parser);
	model_location at = { .line = rc, .override = NULL };

	if (parser->failed != 0)
		return parser->failed;
	if (rc > 0)
		return model_fail(parser, &at, "invalid line: expected a [section] header, "
				  "key = value, or a comment starting with ; or #");
	if (rc < 0) {
		parser->failed = PCS_ENOMEM;
		return pcs_error_set(parser->err, PCS_ENOMEM, "%s: inih failed with code %d while "
				     "reading the model", parser->origin, rc);
	}
	return 0;
}


static int model_parse_with_base(pcs_model *model, const char *text, const char *origin,
				 const char *base_dir, const char *const *overrides,
				 int n_overrides, pcs_error *err)
{
	model_parser parser;

	memset(model, 0, sizeof *model);
	model_defaults(model);
	memset(&parser, 0, sizeof parser);
	parser.model = model;
	parser.err = err;
	parser.origin = origin != NULL ? origin : "<string>";
	parser.base_dir = base_dir;
	parser.next = text;

	if (model_check_overrides(&parser, overrides, n_overrides) == 0 &&
	    model_read_text(&parser) == 0) {
		for (int i = 0; i < n_overrides && parser.failed == 0; i++)
			model_apply_override(&parser, overrides[i]);
	}
	if (parser.failed == 0)
		model_check(&parser);
	if (parser.failed == 0)
		model_keep_text(&parser, text, overrides, n_overrides);

	if (parser.failed != 0) {
		free(model->text);
		model->text = NULL;
	}
	return parser.failed;
}


int pcs_model_parse(pcs_model *model, const char *text, const char *origin,
		    const char *const *overrides, int n_overrides, pcs_error *err)
{
	if (model == NULL || text == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_model_parse: model and text must not be "
				     "NULL");
	return model_parse_with_base(model, text, origin, NULL, overrides, n_overrides, err);
}


/* Reads a whole model file into *text, NUL-terminated and owned by the caller. */
static int model_read_file(const char *path, char **text, pcs_error *err)
{
	FILE *file = fopen(path, "rb");
	char *buffer = NULL;
	size_t length = 0;
	int rc = 0;

	if (file == NULL)
		return pcs_error_set(err, PCS_EIO, "%s: cannot open the model file: %s", path,
				     strerror(errno));

	buffer = malloc(MODEL_FILE_MAX + 1);
	if (buffer == NULL) {
		fclose(file);
		return pcs_error_set(err, PCS_ENOMEM, "%s: out of memory reading the model file",
				     path);
	}
	length = fread(buffer, 1, MODEL_FILE_MAX + 1, file);
	if (ferror(file))
		rc = pcs_error_set(err, PCS_EIO, "%s: cannot read the model file: %s", path,
				   strerror(errno));
	else if (length > MODEL_FILE_MAX)
		rc = pcs_error_set(err, PCS_EMODEL, "%s: the file is larger than %ld bytes; a "
				   "model file is a short INI text", path, MODEL_FILE_MAX);
	else if (memchr(buffer, '\0', length) != NULL)
		rc = pcs_error_set(err, PCS_EMODEL, "%s: the file contains a NUL byte; a model "
				   "file is an INI text", path);
	fclose(file);

	if (rc < 0) {
		free(buffer);
		return rc;
	}
	buffer[length] = '\0';
	*text = buffer;
	return 0;
}


/* Writes the directory part of path: "." when it has none, "/" for the root. */
static void model_directory(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}


int pcs_model_load(pcs_model *model, const char *path, const char *const *overrides,
		   int n_overrides, pcs_error *err)
{
	char dir[PCS_PATH_MAX], *text = NULL;
	int rc;

	if (model == NULL || path == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_model_load: model and path must not be "
				     "NULL");
	memset(model, 0, sizeof *model);
	if (strlen(path) >= PCS_PATH_MAX)
		return pcs_error_set(err, PCS_EINVAL, "model file path is longer than %d "
				     "characters", PCS_PATH_MAX - 1);

	rc = model_read_file(path, &text, err);
	if (rc < 0)
		return rc;

	model_directory(path, dir, sizeof dir);
	rc = model_parse_with_base(model, text, path, dir, overrides, n_overrides, err);
	free(text);
	if (rc == 0)
		snprintf(model->path, sizeof model->path, "%s", path);
	return rc;
}


void pcs_model_free(pcs_model *model)
{
	if (model == NULL)
		return;
	free(model->text);
	model->text = NULL;
}


int pcs_model_find_layer(const pcs_model *model, const char *name)
{
	if (model == NULL || name == NULL)
		return -1;
	for (int i = 0; i < model->n_layers; i++) {
		if (strcmp(model->layers[i].name, name) == 0)
			return i;
	}
	return -1;
}
