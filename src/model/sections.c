/* SPDX-License-Identifier: MIT */
/*
 * Section names of a model file: [model], [data], [dynamics], [runtime],
 * [protocol], [trace], [layer NAME] and [edge A -> B]. A header of the model
 * text opens a section and creates its layer or edge with defaults. A --set
 * override must name a layer or edge that the text defines, while the
 * singleton sections always exist.
 */
#include "model_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const sections_singleton_names[MODEL_SINGLETONS] = {
	"model", "data", "dynamics", "runtime", "protocol", "trace",
};

#define SECTIONS_ACCEPTED \
	"[model], [data], [layer NAME], [edge A -> B], [dynamics], [runtime], [protocol], [trace]"


bool model_copy_trimmed(const char *start, const char *end, char *buf, size_t size)
{
	size_t length;

	while (start < end && isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;

	length = (size_t)(end - start);
	if (length >= size)
		return false;
	memcpy(buf, start, length);
	buf[length] = '\0';
	return true;
}


bool model_is_layer_name(const char *name)
{
	size_t length = strlen(name);

	if (length == 0 || length >= PCS_NAME_MAX)
		return false;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '_' && c != '-')
			return false;
	}
	return true;
}


void model_section_label(const model_section *section, char *buf, size_t size)
{
	switch (section->kind) {
	case MODEL_KIND_LAYER:
		snprintf(buf, size, "layer %s", section->from);
		break;
	case MODEL_KIND_EDGE:
		snprintf(buf, size, "edge %s -> %s", section->from, section->to);
		break;
	default:
		snprintf(buf, size, "%s", sections_singleton_names[section->kind]);
		break;
	}
}


static int sections_parse_edge(model_parser *parser, const char *name, const char *rest,
			       const model_location *at, model_section *section)
{
	const char *arrow = strstr(rest, "->");

	if (arrow == NULL || !model_copy_trimmed(rest, arrow, section->from, PCS_NAME_MAX) ||
	    !model_copy_trimmed(arrow + 2, rest + strlen(rest), section->to, PCS_NAME_MAX) ||
	    !model_is_layer_name(section->from) || !model_is_layer_name(section->to))
		return model_fail(parser, at,
				  "invalid edge section [%s]: expected [edge A -> B], where A and "
				  "B are layer names of 1 to %d letters, digits, '_' or '-'",
				  name, PCS_NAME_MAX - 1);

	if (strcmp(section->from, section->to) == 0)
		return model_fail(parser, at,
				  "invalid edge section [%s]: layer %s cannot predict itself; an "
				  "edge connects two different layers",
				  name, section->from);
	section->kind = MODEL_KIND_EDGE;
	return 0;
}


int model_parse_section_name(model_parser *parser, const char *name, const model_location *at,
			     model_section *section)
{
	size_t word = strcspn(name, " \t");
	const char *rest = name + word;

	memset(section, 0, sizeof *section);
	section->index = -1;

	for (int kind = 0; kind < MODEL_SINGLETONS; kind++) {
		if (strcmp(name, sections_singleton_names[kind]) == 0) {
			section->kind = (model_kind)kind;
			return 0;
		}
	}

	if (word == 4 && strncmp(name, "edge", 4) == 0)
		return sections_parse_edge(parser, name, rest, at, section);

	if (word == 5 && strncmp(name, "layer", 5) == 0) {
		if (!model_copy_trimmed(rest, rest + strlen(rest), section->from, PCS_NAME_MAX) ||
		    !model_is_layer_name(section->from))
			return model_fail(parser, at,
					  "invalid layer section [%s]: a layer name has 1 to %d "
					  "letters, digits, '_' or '-'",
					  name, PCS_NAME_MAX - 1);
		section->kind = MODEL_KIND_LAYER;
		return 0;
	}

	return model_fail(parser, at, "unknown section [%s]; accepted sections: " SECTIONS_ACCEPTED,
			  name);
}


static int sections_open_layer(model_parser *parser, model_section *section,
			       const model_location *at)
{
	pcs_model *model = parser->model;
	int existing = pcs_model_find_layer(model, section->from);
	pcs_layer_spec *layer;

	if (existing >= 0)
		return model_fail(parser, at, "duplicate section [layer %s]: the layer is already "
				  "defined at line %d; give each layer a unique name",
				  section->from, model->layers[existing].line);
	if (model->n_layers == PCS_MAX_LAYERS)
		return model_fail(parser, at, "too many layers at [layer %s]: at most %d are "
				  "supported", section->from, PCS_MAX_LAYERS);

	section->index = model->n_layers++;
	layer = &model->layers[section->index];
	model_layer_defaults(layer);
	snprintf(layer->name, sizeof layer->name, "%s", section->from);
	layer->line = at->line;
	return 0;
}


static int sections_find_edge(const model_parser *parser, const model_section *section)
{
	for (int i = 0; i < parser->model->n_edges; i++) {
		if (strcmp(parser->edge_from[i], section->from) == 0 &&
		    strcmp(parser->edge_to[i], section->to) == 0)
			return i;
	}
	return -1;
}


static int sections_open_edge(model_parser *parser, model_section *section,
			      const model_location *at)
{
	pcs_model *model = parser->model;
	int existing = sections_find_edge(parser, section);
	pcs_edge_spec *edge;

	if (existing >= 0)
		return model_fail(parser, at, "duplicate section [edge %s -> %s]: this edge is "
				  "already defined at line %d; one edge per ordered pair of layers",
				  section->from, section->to, model->edges[existing].line);
	if (model->n_edges == PCS_MAX_EDGES)
		return model_fail(parser, at, "too many edges at [edge %s -> %s]: at most %d are "
				  "supported", section->from, section->to, PCS_MAX_EDGES);

	section->index = model->n_edges++;
	edge = &model->edges[section->index];
	model_edge_defaults(edge);
	edge->from = -1;
	edge->to = -1;
	edge->line = at->line;
	memcpy(parser->edge_from[section->index], section->from, PCS_NAME_MAX);
	memcpy(parser->edge_to[section->index], section->to, PCS_NAME_MAX);
	return 0;
}


int model_open_section(model_parser *parser, const char *name, int line)
{
	model_location at = { .line = line, .override = NULL };
	model_section *section = &parser->current;
	int rc = model_parse_section_name(parser, name, &at, section);

	if (rc < 0)
		return rc;

	parser->in_section = true;
	if (section->kind == MODEL_KIND_LAYER)
		return sections_open_layer(parser, section, &at);
	if (section->kind == MODEL_KIND_EDGE)
		return sections_open_edge(parser, section, &at);

	if (parser->singleton_line[section->kind] != 0)
		return model_fail(parser, &at, "duplicate section [%s]: it already starts at line "
				  "%d; merge the two sections",
				  name, parser->singleton_line[section->kind]);
	parser->singleton_line[section->kind] = line;
	return 0;
}


int model_resolve_section(model_parser *parser, model_section *section,
			  const model_location *at)
{
	char label[2 * PCS_NAME_MAX + 16];

	if (section->kind == MODEL_KIND_LAYER)
		section->index = pcs_model_find_layer(parser->model, section->from);
	else if (section->kind == MODEL_KIND_EDGE)
		section->index = sections_find_edge(parser, section);
	else
		return 0;

	if (section->index >= 0)
		return 0;
	model_section_label(section, label, sizeof label);
	return model_fail(parser, at, "the model has no section [%s]; --set changes keys of the "
			  "layers and edges that the model file defines", label);
}
