/* SPDX-License-Identifier: MIT */
/*
 * The keys of every section: their types, defaults, accepted ranges and
 * where they are stored in pcs_model, as one table per section kind. One
 * code path parses and range-checks a value for the model text and for
 * --set overrides alike, so both reject the same values with the same
 * message: the location, section.key, the value and what is accepted.
 */
#include "model_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum keys_type {
	KEYS_STRING,    /* stored as given; min and max bound its length */
	KEYS_PATH,      /* a path kept as given, relative to the current directory */
	KEYS_DATA_PATH, /* a path relative to the model file's directory when set in the file */
	KEYS_BOOL,
	KEYS_INT,
	KEYS_UINT64,
	KEYS_DOUBLE,
	KEYS_ENUM,      /* stored as the index of the word in words */
} keys_type;

typedef struct keys_spec {
	const char *name;
	keys_type type;
	size_t offset;                  /* of the field in the section's struct */
	size_t size;                    /* bytes of a string or path field */
	double min, max;                /* accepted numbers, or string lengths */
	bool min_open, max_open;        /* whether the bound itself is rejected */
	const char *const *words;       /* enum words in enum order, NULL-terminated */
	const char *const *unavailable; /* words reserved for a later version, NULL-terminated */
	bool required;
} keys_spec;

typedef struct keys_table {
	const keys_spec *specs;
	int count;
} keys_table;

/* Enum fields are written as int, so these enums must have the size of int. */
_Static_assert(sizeof(pcs_activation) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_clamp) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_start) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_weight_init) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_feedback) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_data_source) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_learning) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_distribution) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_plasticity) == sizeof(int), "enum size");
_Static_assert(sizeof(pcs_weights_every) == sizeof(int), "enum size");

static const char *const keys_activation_words[] = {
	"linear", "tanh", "sigmoid", "relu", "leaky_relu", NULL,
};
static const char *const keys_clamp_words[] = { "none", "input", "target", NULL };
static const char *const keys_start_words[] = { "prediction", "zero", "keep", NULL };
static const char *const keys_winit_words[] = {
	"normal", "uniform", "constant", "identity", NULL,
};
static const char *const keys_feedback_words[] = { "mirrored", "learned", "random", NULL };
static const char *const keys_source_words[] = { "idx", "csv", "xor", NULL };
static const char *const keys_mode_words[] = { "deterministic", "lockstep", "async", NULL };
static const char *const keys_learning_words[] = { "continuous", "phased", NULL };
static const char *const keys_weights_words[] = { "never", "epoch", NULL };
static const char *const keys_dist_words[] = { "fixed", "uniform", "normal", "lognormal", NULL };
static const char *const keys_layer_dist_words[] = {
	"fixed", "uniform", "normal", "lognormal", "inherit", NULL,
};
static const char *const keys_plasticity_words[] = { "continuous", "settled", NULL };

/* Boolean words: even positions mean true, odd positions false. */
static const char *const keys_bool_words[] = { "true", "false", "yes", "no", "on", "off",
					       "1", "0", NULL };

#define KEY_STRING(owner, field, min_length, need) \
	{ .name = #field, .type = KEYS_STRING, .offset = offsetof(owner, field), \
	  .size = sizeof(((owner *)0)->field), .min = (min_length), \
	  .max = sizeof(((owner *)0)->field) - 1, .required = (need) }
#define KEY_PATH(owner, field, kind) \
	{ .name = #field, .type = (kind), .offset = offsetof(owner, field), \
	  .size = sizeof(((owner *)0)->field), .min = 1, .max = sizeof(((owner *)0)->field) - 1 }
#define KEY_BOOL(owner, field) \
	{ .name = #field, .type = KEYS_BOOL, .offset = offsetof(owner, field) }
#define KEY_INT(owner, field, low, high, need) \
	{ .name = #field, .type = KEYS_INT, .offset = offsetof(owner, field), .min = (low), \
	  .max = (high), .required = (need) }
#define KEY_DOUBLE(owner, field, low, open) \
	{ .name = #field, .type = KEYS_DOUBLE, .offset = offsetof(owner, field), .min = (low), \
	  .max = INFINITY, .min_open = (open) }
/* Times are counted in int64 ticks of 1e-9 time units, so a single time
 * value is kept within [0, 1e9] time units and a step at or above 1e-9. */
#define KEY_TIME(owner, field, low, open) \
	{ .name = #field, .type = KEYS_DOUBLE, .offset = offsetof(owner, field), .min = (low), \
	  .max = 1e9, .min_open = (open) }
#define KEY_ENUM(owner, field, list, later, need) \
	{ .name = #field, .type = KEYS_ENUM, .offset = offsetof(owner, field), .words = (list), \
	  .unavailable = (later), .required = (need) }

static const keys_spec keys_model[] = {
	KEY_STRING(pcs_model, name, 1, true),
	{ .name = "seed", .type = KEYS_UINT64, .offset = offsetof(pcs_model, seed) },
};

static const keys_spec keys_data[] = {
	KEY_ENUM(pcs_data_spec, source, keys_source_words, NULL, true),
	KEY_PATH(pcs_data_spec, train_images, KEYS_DATA_PATH),
	KEY_PATH(pcs_data_spec, train_labels, KEYS_DATA_PATH),
	KEY_PATH(pcs_data_spec, test_images, KEYS_DATA_PATH),
	KEY_PATH(pcs_data_spec, test_labels, KEYS_DATA_PATH),
	KEY_PATH(pcs_data_spec, train_csv, KEYS_DATA_PATH),
	KEY_PATH(pcs_data_spec, test_csv, KEYS_DATA_PATH),
	KEY_BOOL(pcs_data_spec, csv_header),
	KEY_INT(pcs_data_spec, pool, 1, 28, false),
	KEY_INT(pcs_data_spec, train_count, 0, INT_MAX, false),
	KEY_INT(pcs_data_spec, test_count, 0, INT_MAX, false),
	KEY_INT(pcs_data_spec, xor_repeat, 1, 100000, false),
	KEY_DOUBLE(pcs_data_spec, scale, 0.0, true),
	KEY_BOOL(pcs_data_spec, center),
};

static const keys_spec keys_layer[] = {
	KEY_INT(pcs_layer_spec, size, 1, 1000000, true),
	KEY_ENUM(pcs_layer_spec, activation, keys_activation_words, NULL, false),
	{ .name = "leak", .type = KEYS_DOUBLE, .offset = offsetof(pcs_layer_spec, leak),
	  .min = 0.0, .max = 1.0, .max_open = true },
	KEY_ENUM(pcs_layer_spec, clamp, keys_clamp_words, NULL, false),
	KEY_DOUBLE(pcs_layer_spec, sigma2, 0.0, true),
	KEY_ENUM(pcs_layer_spec, start, keys_start_words, NULL, false),
	/* 0 means the [dynamics] value */
	KEY_TIME(pcs_layer_spec, dt, 0.0, false),
	KEY_TIME(pcs_layer_spec, tau_x, 0.0, false),
	KEY_ENUM(pcs_layer_spec, tau_x_distribution, keys_layer_dist_words, NULL, false),
	KEY_DOUBLE(pcs_layer_spec, tau_x_spread, 0.0, false),
	KEY_ENUM(pcs_layer_spec, tau_e_distribution, keys_layer_dist_words, NULL, false),
	KEY_DOUBLE(pcs_layer_spec, tau_e_spread, 0.0, false),
	KEY_ENUM(pcs_layer_spec, dt_distribution, keys_layer_dist_words, NULL, false),
	KEY_DOUBLE(pcs_layer_spec, dt_spread, 0.0, false),
	{ .name = "jitter", .type = KEYS_DOUBLE, .offset = offsetof(pcs_layer_spec, jitter),
	  .min = 0.0, .max = 1.0, .max_open = true },
	KEY_DOUBLE(pcs_layer_spec, noise, 0.0, false),
	KEY_STRING(pcs_layer_spec, lesion, 1, false),
	KEY_TIME(pcs_layer_spec, lesion_time, 0.0, false),
	KEY_DOUBLE(pcs_layer_spec, start_value, -INFINITY, false),
};

static const keys_spec keys_edge[] = {
	KEY_ENUM(pcs_edge_spec, weight_init, keys_winit_words, NULL, false),
	KEY_DOUBLE(pcs_edge_spec, gain, 0.0, false),
	KEY_DOUBLE(pcs_edge_spec, value, -INFINITY, false),
	KEY_DOUBLE(pcs_edge_spec, learning_rate, 0.0, false),
	KEY_DOUBLE(pcs_edge_spec, decay, 0.0, false),
	KEY_TIME(pcs_edge_spec, delay, 0.0, false),
	KEY_ENUM(pcs_edge_spec, delay_distribution, keys_dist_words, NULL, false),
	KEY_DOUBLE(pcs_edge_spec, delay_spread, 0.0, false),
	{ .name = "loss", .type = KEYS_DOUBLE, .offset = offsetof(pcs_edge_spec, loss),
	  .min = 0.0, .max = 1.0, .max_open = true },
	KEY_BOOL(pcs_edge_spec, bias),
	KEY_ENUM(pcs_edge_spec, feedback, keys_feedback_words, NULL, false),
};

static const keys_spec keys_dynamics[] = {
	KEY_TIME(pcs_dynamics_spec, dt, 1e-9, false),
	KEY_TIME(pcs_dynamics_spec, tau_x, 0.0, true),
	KEY_TIME(pcs_dynamics_spec, tau_e, 0.0, false),
	/* presentation >= dt is checked once both are known */
	KEY_TIME(pcs_dynamics_spec, presentation, 0.0, true),
	KEY_DOUBLE(pcs_dynamics_spec, send_threshold, 0.0, false),
	KEY_DOUBLE(pcs_dynamics_spec, divergence_limit, 0.0, true),
	KEY_ENUM(pcs_dynamics_spec, tau_x_distribution, keys_dist_words, NULL, false),
	KEY_DOUBLE(pcs_dynamics_spec, tau_x_spread, 0.0, false),
	KEY_ENUM(pcs_dynamics_spec, tau_e_distribution, keys_dist_words, NULL, false),
	KEY_DOUBLE(pcs_dynamics_spec, tau_e_spread, 0.0, false),
	KEY_ENUM(pcs_dynamics_spec, dt_distribution, keys_dist_words, NULL, false),
	KEY_DOUBLE(pcs_dynamics_spec, dt_spread, 0.0, false),
	{ .name = "jitter", .type = KEYS_DOUBLE, .offset = offsetof(pcs_dynamics_spec, jitter),
	  .min = 0.0, .max = 1.0, .max_open = true },
	KEY_DOUBLE(pcs_dynamics_spec, noise, 0.0, false),
	KEY_ENUM(pcs_dynamics_spec, plasticity, keys_plasticity_words, NULL, false),
	KEY_DOUBLE(pcs_dynamics_spec, settle_threshold, 0.0, true),
};

static const keys_spec keys_runtime[] = {
	KEY_ENUM(pcs_runtime_spec, mode, keys_mode_words, NULL, false),
	KEY_INT(pcs_runtime_spec, workers, 1, 64, false),
	KEY_TIME(pcs_runtime_spec, max_skew, 0.0, true),
};

static const keys_spec keys_protocol[] = {
	KEY_INT(pcs_protocol_spec, epochs, 0, 100000, false),
	KEY_BOOL(pcs_protocol_spec, test),
	KEY_BOOL(pcs_protocol_spec, shuffle),
	KEY_ENUM(pcs_protocol_spec, learning, keys_learning_words, NULL, false),
};

static const keys_spec keys_trace[] = {
	KEY_PATH(pcs_trace_spec, db, KEYS_PATH),
	KEY_INT(pcs_trace_spec, activity_every, 0, INT_MAX, false),
	/* the selection is checked against the layers once they are all known */
	KEY_STRING(pcs_trace_spec, neurons, 0, false),
	KEY_BOOL(pcs_trace_spec, events),
	KEY_ENUM(pcs_trace_spec, weights, keys_weights_words, NULL, false),
	KEY_BOOL(pcs_trace_spec, energy),
};

#define KEYS_TABLE(specs) { specs, (int)(sizeof specs / sizeof specs[0]) }

/* Indexed by model_kind. */
static const keys_table keys_tables[] = {
	KEYS_TABLE(keys_model),    KEYS_TABLE(keys_data),     KEYS_TABLE(keys_dynamics),
	KEYS_TABLE(keys_runtime),  KEYS_TABLE(keys_protocol), KEYS_TABLE(keys_trace),
	KEYS_TABLE(keys_layer),    KEYS_TABLE(keys_edge),
};


void model_layer_defaults(pcs_layer_spec *layer)
{
	memset(layer, 0, sizeof *layer);
	layer->activation = PCS_ACT_LINEAR;
	layer->leak = 0.01;
	layer->clamp = PCS_CLAMP_NONE;
	layer->sigma2 = 1.0;
	layer->start = PCS_START_PREDICTION;
	layer->tau_x_distribution = PCS_DIST_INHERIT;
	layer->tau_e_distribution = PCS_DIST_INHERIT;
	layer->dt_distribution = PCS_DIST_INHERIT;
	layer->tau_x_spread = NAN;
	layer->tau_e_spread = NAN;
	layer->dt_spread = NAN;
	layer->jitter = NAN;
	layer->noise = NAN;
	snprintf(layer->lesion, sizeof layer->lesion, "none");
}


void model_edge_defaults(pcs_edge_spec *edge)
{
	memset(edge, 0, sizeof *edge);
	edge->weight_init = PCS_WINIT_NORMAL;
	edge->gain = 1.0;
	edge->value = 0.0;
	edge->learning_rate = 0.01;
	edge->decay = 0.0;
	edge->delay = 0.0;
	edge->bias = true;
	edge->feedback = PCS_FEEDBACK_MIRRORED;
}


void model_defaults(pcs_model *model)
{
	model->seed = 1;

	model->data.source = PCS_DATA_IDX;
	model->data.csv_header = false;
	model->data.pool = 1;
	model->data.train_count = 0;
	model->data.test_count = 0;
	model->data.xor_repeat = 1;
	model->data.scale = 1.0;

	model->dynamics = (pcs_dynamics_spec){
		.dt = 0.1, .tau_x = 1.0, .tau_e = 0.0, .presentation = 5.0,
		.send_threshold = 0.0, .divergence_limit = 1e6,
		.plasticity = PCS_PLASTICITY_CONTINUOUS, .settle_threshold = 0.01,
	};
	model->runtime.mode = PCS_MODE_DETERMINISTIC;
	model->runtime.workers = 2;
	model->runtime.max_skew = 0.5;
	model->protocol = (pcs_protocol_spec){ .epochs = 1, .test = true, .shuffle = true };

	snprintf(model->trace.db, sizeof model->trace.db, "pcsim-traces.db");
	model->trace.activity_every = 0;
	snprintf(model->trace.neurons, sizeof model->trace.neurons, "none");
	model->trace.events = false;
	model->trace.weights = PCS_WEIGHTS_EPOCH;
	model->trace.energy = false;
}


static void keys_join_words(const char *const *words, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; words[i] != NULL && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", words[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}


static void keys_describe_number(const keys_spec *spec, char *buf, size_t size)
{
	const char *low = spec->min_open ? ">" : ">=";

	if (isinf(spec->min) && isinf(spec->max))
		snprintf(buf, size, "a finite number");
	else if (isinf(spec->max))
		snprintf(buf, size, "a number %s %g", low, spec->min);
	else
		snprintf(buf, size, "a number in %c%g, %g%c", spec->min_open ? '(' : '[',
			 spec->min, spec->max, spec->max_open ? ')' : ']');
}


/* Writes what the key accepts, as the end of "expected ...". */
static void keys_describe(const keys_spec *spec, char *buf, size_t size)
{
	char words[256];

	switch (spec->type) {
	case KEYS_STRING:
	case KEYS_PATH:
	case KEYS_DATA_PATH:
		snprintf(buf, size, "%s of %.0f to %.0f characters",
			 spec->type == KEYS_STRING ? "a string" : "a path", spec->min, spec->max);
		break;
	case KEYS_BOOL:
		keys_join_words(keys_bool_words, words, sizeof words);
		snprintf(buf, size, "one of %s", words);
		break;
	case KEYS_INT:
		if (spec->max == INT_MAX)
			snprintf(buf, size, "an integer >= %.0f", spec->min);
		else
			snprintf(buf, size, "an integer from %.0f to %.0f", spec->min, spec->max);
		break;
	case KEYS_UINT64:
		snprintf(buf, size, "an integer from 0 to %llu", (unsigned long long)UINT64_MAX);
		break;
	case KEYS_DOUBLE:
		keys_describe_number(spec, buf, size);
		break;
	case KEYS_ENUM:
		keys_join_words(spec->words, words, sizeof words);
		snprintf(buf, size, "one of %s", words);
		break;
	}
}


static int keys_find_word(const char *const *words, const char *value)
{
	for (int i = 0; words != NULL && words[i] != NULL; i++) {
		if (strcasecmp(words[i], value) == 0)
			return i;
	}
	return -1;
}


static bool keys_in_range(const keys_spec *spec, double x)
{
	if (x < spec->min || (spec->min_open && x == spec->min))
		return false;
	if (x > spec->max || (spec->max_open && x == spec->max))
		return false;
	return true;
}


/* Parses a finite decimal or hexadecimal floating-point number, the whole string. */
static bool keys_parse_double(const char *value, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(value, &end);
	return value[0] != '\0' && *end == '\0' && errno == 0 && isfinite(*out);
}


/* Parses a base-10 integer, the whole string. */
static bool keys_parse_integer(const char *value, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(value, &end, 10);
	return value[0] != '\0' && *end == '\0' && errno == 0;
}


/*
 * Parses a base-10 unsigned 64-bit integer. A leading digit is required
 * because strtoull accepts a minus sign.
 */
static bool keys_parse_uint64(const char *value, uint64_t *out)
{
	unsigned long long parsed;
	char *end;

	if (value[0] < '0' || value[0] > '9')
		return false;
	errno = 0;
	parsed = strtoull(value, &end, 10);
	*out = (uint64_t)parsed;
	return *end == '\0' && errno == 0;
}


/* Joins base_dir and a relative path into out. Absolute paths stay as given. */
static bool keys_resolve_path(const char *base_dir, const char *value, char *out, size_t size)
{
	size_t dir_length = base_dir != NULL ? strlen(base_dir) : 0;
	int n;

	if (value[0] == '/' || dir_length == 0 || strcmp(base_dir, ".") == 0)
		n = snprintf(out, size, "%s", value);
	else
		n = snprintf(out, size, "%s%s%s", base_dir,
			     base_dir[dir_length - 1] == '/' ? "" : "/", value);
	return n >= 0 && (size_t)n < size;
}


/* Stores a string or path value. Returns false if its length is out of range. */
static bool keys_store_text(const model_parser *parser, const keys_spec *spec, char *field,
			    const char *value, bool from_file)
{
	char resolved[PCS_PATH_MAX];
	size_t length = strlen(value);

	if ((double)length < spec->min || (double)length > spec->max)
		return false;
	if (spec->type != KEYS_DATA_PATH || !from_file) {
		memcpy(field, value, length + 1);
		return true;
	}

	if (!keys_resolve_path(parser->base_dir, value, resolved, sizeof resolved) ||
	    strlen(resolved) >= spec->size)
		return false;
	memcpy(field, resolved, strlen(resolved) + 1);
	return true;
}


static bool keys_store_number(const keys_spec *spec, void *field, const char *value)
{
	long long integer;
	double real;

	if (spec->type == KEYS_UINT64)
		return keys_parse_uint64(value, (uint64_t *)field);

	if (spec->type == KEYS_INT) {
		if (!keys_parse_integer(value, &integer) || !keys_in_range(spec, (double)integer))
			return false;
		*(int *)field = (int)integer;
		return true;
	}

	if (!keys_parse_double(value, &real) || !keys_in_range(spec, real))
		return false;
	*(double *)field = real;
	return true;
}


static int keys_store_word(model_parser *parser, const keys_spec *spec, void *field,
			   const char *value, const char *label, const model_location *at)
{
	char words[256];
	int index;

	if (spec->type == KEYS_BOOL) {
		index = keys_find_word(keys_bool_words, value);
		if (index >= 0)
			*(bool *)field = index % 2 == 0;
		return index >= 0 ? 0 : 1;
	}

	index = keys_find_word(spec->words, value);
	if (index >= 0) {
		memcpy(field, &index, sizeof index);
		return 0;
	}
	if (keys_find_word(spec->unavailable, value) < 0)
		return 1;

	keys_join_words(spec->words, words, sizeof words);
	return model_fail(parser, at, "%s.%s = %s is not available in this version; accepted: %s",
			  label, spec->name, value, words);
}


/*
 * Parses and stores value. Returns 0 on success, 1 for an invalid value, or a
 * negative code after recording the error.
 */
static int keys_store(model_parser *parser, const keys_spec *spec, void *base,
		      const char *value, const char *label, const model_location *at,
		      bool from_file)
{
	void *field = (char *)base + spec->offset;

	switch (spec->type) {
	case KEYS_STRING:
	case KEYS_PATH:
	case KEYS_DATA_PATH:
		return keys_store_text(parser, spec, field, value, from_file) ? 0 : 1;
	case KEYS_BOOL:
	case KEYS_ENUM:
		return keys_store_word(parser, spec, field, value, label, at);
	default:
		return keys_store_number(spec, field, value) ? 0 : 1;
	}
}


static void *keys_section_base(pcs_model *model, const model_section *section)
{
	switch (section->kind) {
	case MODEL_KIND_MODEL:
		return model;
	case MODEL_KIND_DATA:
		return &model->data;
	case MODEL_KIND_DYNAMICS:
		return &model->dynamics;
	case MODEL_KIND_RUNTIME:
		return &model->runtime;
	case MODEL_KIND_PROTOCOL:
		return &model->protocol;
	case MODEL_KIND_TRACE:
		return &model->trace;
	case MODEL_KIND_LAYER:
		return &model->layers[section->index];
	case MODEL_KIND_EDGE:
		return &model->edges[section->index];
	}
	return NULL;
}


static uint32_t *keys_section_mask(model_parser *parser, const model_section *section)
{
	if (section->kind == MODEL_KIND_LAYER)
		return &parser->layer_keys[section->index];
	if (section->kind == MODEL_KIND_EDGE)
		return &parser->edge_keys[section->index];
	return &parser->singleton_keys[section->kind];
}


static int keys_find(const keys_table *table, const char *key)
{
	for (int i = 0; i < table->count; i++) {
		if (strcmp(table->specs[i].name, key) == 0)
			return i;
	}
	return -1;
}


static int keys_fail_unknown(model_parser *parser, const keys_table *table, const char *key,
			     const char *label, const model_location *at)
{
	char accepted[512];
	size_t used = 0;

	accepted[0] = '\0';
	for (int i = 0; i < table->count && used < sizeof accepted; i++) {
		int n = snprintf(accepted + used, sizeof accepted - used, "%s%s", i > 0 ? ", " : "",
				 table->specs[i].name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	return model_fail(parser, at, "unknown key \"%s\" in [%s]; accepted keys: %s", key, label,
			  accepted);
}


/* Remembers where the keys checked only at the end were set, for their messages. */
static void keys_note_location(model_parser *parser, const model_section *section,
			       const char *key, const model_location *at)
{
	if (section->kind == MODEL_KIND_TRACE && strcmp(key, "neurons") == 0)
		parser->neurons_at = *at;
	if (section->kind == MODEL_KIND_DYNAMICS && strcmp(key, "presentation") == 0)
		parser->presentation_at = *at;
}


int model_set_key(model_parser *parser, const model_section *section, const char *key,
		  const char *value, const model_location *at, bool from_file)
{
	const keys_table *table = &keys_tables[section->kind];
	uint32_t *mask = keys_section_mask(parser, section);
	char label[2 * PCS_NAME_MAX + 16], expected[512];
	int index = keys_find(table, key), rc;

	model_section_label(section, label, sizeof label);
	if (index < 0)
		return keys_fail_unknown(parser, table, key, label, at);
	if (from_file && (*mask & (UINT32_C(1) << index)) != 0)
		return model_fail(parser, at, "key %s is set twice in [%s]; keep one of the lines",
				  key, label);

	rc = keys_store(parser, &table->specs[index], keys_section_base(parser->model, section),
			value, label, at, from_file);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		keys_describe(&table->specs[index], expected, sizeof expected);
		return model_fail(parser, at, "invalid value \"%s\" for %s.%s: expected %s", value,
				  label, key, expected);
	}

	*mask |= UINT32_C(1) << index;
	keys_note_location(parser, section, key, at);
	return 0;
}


bool model_key_is_set(const model_parser *parser, const model_section *section, const char *key)
{
	int index = keys_find(&keys_tables[section->kind], key);
	uint32_t mask;

	if (section->kind == MODEL_KIND_LAYER)
		mask = parser->layer_keys[section->index];
	else if (section->kind == MODEL_KIND_EDGE)
		mask = parser->edge_keys[section->index];
	else
		mask = parser->singleton_keys[section->kind];
	return index >= 0 && (mask & (UINT32_C(1) << index)) != 0;
}


/* Returns the name of the first required key of the section that is not set, or NULL. */
const char *model_missing_key(const model_parser *parser, const model_section *section,
			      char *expected, size_t size)
{
	const keys_table *table = &keys_tables[section->kind];

	for (int i = 0; i < table->count; i++) {
		if (table->specs[i].required &&
		    !model_key_is_set(parser, section, table->specs[i].name)) {
			keys_describe(&table->specs[i], expected, size);
			return table->specs[i].name;
		}
	}
	return NULL;
}


const char *pcs_activation_name(pcs_activation a)
{
	if ((int)a < 0 || (int)a >= (int)(sizeof keys_activation_words /
					  sizeof keys_activation_words[0]) - 1)
		return "unknown";
	return keys_activation_words[a];
}


const char *pcs_clamp_name(pcs_clamp c)
{
	if ((int)c < 0 || (int)c >= (int)(sizeof keys_clamp_words / sizeof keys_clamp_words[0]) - 1)
		return "unknown";
	return keys_clamp_words[c];
}
