/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the pcsim commands: the JSON text of the overrides that
 * `pcsim run` and `pcsim sweep` store in runs.params.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* Bounded output buffer: appends stop at size - 1 and the text stays terminated. */
typedef struct json_out {
	char *buf;
	size_t size, used;
} json_out;


static void json_put(json_out *out, char c)
{
	if (out->used + 1 < out->size)
		out->buf[out->used++] = c;
	out->buf[out->used] = '\0';
}


/* Appends [start, end) without surrounding whitespace as a JSON string body. */
static void json_put_trimmed(json_out *out, const char *start, const char *end)
{
	while (start < end && isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	for (const char *c = start; c < end; c++) {
		if (*c == '"' || *c == '\\') {
			json_put(out, '\\');
			json_put(out, *c);
		} else if ((unsigned char)*c < 0x20) {
			char escaped[8];

			snprintf(escaped, sizeof escaped, "\\u%04x", (unsigned char)*c);
			for (char *e = escaped; *e; e++)
				json_put(out, *e);
		} else {
			json_put(out, *c);
		}
	}
}


/* Splits "section.key=value" at the '=' and at the last '.' before it. */
static bool json_split(const char *o, const char **dot, const char **eq)
{
	*eq = strchr(o, '=');
	if (*eq == NULL)
		return false;
	*dot = NULL;
	for (const char *c = o; c < *eq; c++)
		if (*c == '.')
			*dot = c;
	return *dot != NULL;
}


/* Whether two overrides name the same section and key, whitespace aside. */
static bool json_same_key(const char *a, const char *b)
{
	char ka[512] = "", kb[512] = "";
	json_out oa = {ka, sizeof ka, 0}, ob = {kb, sizeof kb, 0};
	const char *dot, *eq;

	if (!json_split(a, &dot, &eq))
		return false;
	json_put_trimmed(&oa, a, dot);
	json_put(&oa, '.');
	json_put_trimmed(&oa, dot + 1, eq);
	if (!json_split(b, &dot, &eq))
		return false;
	json_put_trimmed(&ob, b, dot);
	json_put(&ob, '.');
	json_put_trimmed(&ob, dot + 1, eq);
	return strcmp(ka, kb) == 0;
}


void pcs_cli_params_json(const char *const *overrides, int n_overrides, char *buf, size_t size)
{
	json_out out = {buf, size, 0};
	bool first = true;

	buf[0] = '\0';
	json_put(&out, '{');
	for (int i = 0; i < n_overrides; i++) {
		const char *o = overrides[i], *dot, *eq;
		bool overridden = false;

		/* Overrides apply in order, so only the last one of a key counts. */
		for (int j = i + 1; j < n_overrides && !overridden; j++)
			overridden = json_same_key(o, overrides[j]);
		if (overridden || !json_split(o, &dot, &eq))
			continue;
		if (!first) {
			json_put(&out, ',');
			json_put(&out, ' ');
		}
		first = false;
		json_put(&out, '"');
		json_put_trimmed(&out, o, dot);
		json_put(&out, '.');
		json_put_trimmed(&out, dot + 1, eq);
		json_put(&out, '"');
		json_put(&out, ':');
		json_put(&out, ' ');
		json_put(&out, '"');
		json_put_trimmed(&out, eq + 1, eq + strlen(eq));
		json_put(&out, '"');
	}
	json_put(&out, '}');
}
