/* SPDX-License-Identifier: MIT */
/*
 * Parser state shared by the files of the model module: the section being
 * read, where each value came from (a line of the model text or a --set
 * override), which keys each section has set, and the first error.
 *
 * Only the first error is kept. Every step checks parser->failed and stops,
 * so the message always describes the earliest problem in the file.
 */
#ifndef PCS_MODEL_INTERNAL_H
#define PCS_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcsim/model.h"

/* Section kinds. The singleton kinds come first so they index arrays. */
typedef enum model_kind {
	MODEL_KIND_MODEL,
	MODEL_KIND_DATA,
	MODEL_KIND_DYNAMICS,
	MODEL_KIND_RUNTIME,
	MODEL_KIND_PROTOCOL,
	MODEL_KIND_TRACE,
	MODEL_KIND_LAYER,
	MODEL_KIND_EDGE,
} model_kind;

#define MODEL_SINGLETONS (MODEL_KIND_TRACE + 1)

/* A parsed section name, plus the layer or edge index once it is opened. */
typedef struct model_section {
	model_kind kind;
	int index;                 /* layer or edge index, -1 for singletons */
	char from[PCS_NAME_MAX];   /* layer name, or the predicting layer of an edge */
	char to[PCS_NAME_MAX];     /* the predicted layer of an edge */
} model_section;

/* Where a value or section came from: a line of the text or a --set string. */
typedef struct model_location {
	int line;                  /* 1-based line of the model text, 0 if none */
	const char *override;      /* the --set string, or NULL */
} model_location;

typedef struct model_parser {
	pcs_model *model;
	pcs_error *err;
	const char *origin;        /* file path or caller's name for the text, for messages */
	const char *base_dir;      /* directory for relative data paths, NULL = keep as given */
	int failed;                /* 0, or the PCS_E* code of the first error */

	const char *next;          /* reader: first unread character of the text */
	int line;                  /* reader: number of the line last handed to inih */
	bool in_section;           /* reader: a section header has been read */
	model_section current;     /* the section the next key belongs to */

	int singleton_line[MODEL_SINGLETONS];  /* header line, 0 if absent from the file */
	uint32_t singleton_keys[MODEL_SINGLETONS]; /* bit k: key k of the section's table is set */
	uint32_t layer_keys[PCS_MAX_LAYERS];
	uint32_t edge_keys[PCS_MAX_EDGES];
	char edge_from[PCS_MAX_EDGES][PCS_NAME_MAX]; /* resolved to indexes at the end */
	char edge_to[PCS_MAX_EDGES][PCS_NAME_MAX];

	model_location neurons_at; /* where trace.neurons was last set */
	model_location presentation_at; /* where dynamics.presentation was last set */
} model_parser;

/* Records the first error, prefixed by the location, and returns its code. */
int model_fail(model_parser *parser, const model_location *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes the "file:line: " or "--set "...": " prefix for a location. */
void model_format_location(const model_parser *parser, const model_location *at, char *buf,
			   size_t size);

/* Writes the section as it reads in messages: "layer hidden", "edge a -> b", "data". */
void model_section_label(const model_section *section, char *buf, size_t size);

/* Parses the text between [ and ] (or before the last '.' of a --set). */
int model_parse_section_name(model_parser *parser, const char *name, const model_location *at,
			     model_section *section);

/* Registers a section header of the model text and makes it current. */
int model_open_section(model_parser *parser, const char *name, int line);

/* Finds the existing section a --set override names. */
int model_resolve_section(model_parser *parser, model_section *section,
			  const model_location *at);

/* Fills the defaults of a new layer or edge, and of the singleton sections. */
void model_layer_defaults(pcs_layer_spec *layer);
void model_edge_defaults(pcs_edge_spec *edge);
void model_defaults(pcs_model *model);

/*
 * Validates value for key in section and stores it. from_file marks a line of
 * the model text: a key set twice there is an error, and relative data paths
 * are resolved against parser->base_dir.
 */
int model_set_key(model_parser *parser, const model_section *section, const char *key,
		  const char *value, const model_location *at, bool from_file);

/* Returns whether the named key of the section's table has been set. */
bool model_key_is_set(const model_parser *parser, const model_section *section,
		      const char *key);

/*
 * Returns the first required key of the section that is not set, or NULL.
 * expected receives what that key accepts.
 */
const char *model_missing_key(const model_parser *parser, const model_section *section,
			      char *expected, size_t size);

/* Runs the checks that need the whole model: required keys, edges, clamps. */
int model_check(model_parser *parser);

/* Neuron selection with a message prefix, selected may be NULL to validate only. */
int model_select(const pcs_model *model, const char *selection, bool **selected,
		 const char *prefix, pcs_error *err);

/*
 * Lesion syntax: "none", "all", or comma-separated indexes I or I-J of one
 * layer. selected (layer size bools) may be NULL to validate only.
 */
int model_select_in_layer(const pcs_model *model, int layer, const char *indexes,
			  bool *selected, const char *prefix, pcs_error *err);

/* Validates layer l's lesion key, failing at the layer's header line. */
int model_check_lesion(model_parser *parser, int l);

/*
 * Copies [start, end) without surrounding whitespace into buf. Returns false
 * if it does not fit.
 */
bool model_copy_trimmed(const char *start, const char *end, char *buf, size_t size);

/* Returns whether name is a valid layer name: 1 to 63 letters, digits, '_' or '-'. */
bool model_is_layer_name(const char *name);

#endif
