/* SPDX-License-Identifier: MIT */
/*
 * Checks that need the whole model, run after the file and every --set
 * override: required keys, edge endpoints (layers may be defined after the
 * edges that name them), the clamped layers, presentation >= dt and the
 * trace neuron selection. Messages point at the header line of the section
 * concerned, or at the line or --set override of the key when one is known.
 */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const check_data_idx_keys[] = {
	"train_images", "train_labels", "test_images", "test_labels", NULL,
};
static const char *const check_data_csv_keys[] = { "train_csv", "test_csv", NULL };


static int check_singleton_keys(model_parser *parser)
{
	static const char *const names[MODEL_SINGLETONS] = {
		"model", "data", "dynamics", "runtime", "protocol", "trace",
	};
	char expected[512];

	for (int kind = 0; kind < MODEL_SINGLETONS; kind++) {
		model_section section = { .kind = (model_kind)kind, .index = -1 };
		model_location at = { .line = parser->singleton_line[kind], .override = NULL };
		const char *key = model_missing_key(parser, &section, expected, sizeof expected);

		if (key == NULL)
			continue;
		if (at.line == 0)
			return model_fail(parser, &at, "the model has no [%s] section; add one with "
					  "the required key %s (%s)", names[kind], key, expected);
		return model_fail(parser, &at, "[%s] is missing the required key %s (%s)",
				  names[kind], key, expected);
	}
	return 0;
}


static int check_layer_keys(model_parser *parser)
{
	char expected[512];

	for (int i = 0; i < parser->model->n_layers; i++) {
		const pcs_layer_spec *layer = &parser->model->layers[i];
		model_section section = { .kind = MODEL_KIND_LAYER, .index = i };
		model_location at = { .line = layer->line, .override = NULL };
		const char *key = model_missing_key(parser, &section, expected, sizeof expected);

		if (key != NULL)
			return model_fail(parser, &at, "[layer %s] is missing the required key %s (%s)",
					  layer->name, key, expected);
	}
	return 0;
}


/* The data paths that the chosen source reads. */
static int check_data_paths(model_parser *parser)
{
	const pcs_data_spec *data = &parser->model->data;
	model_section section = { .kind = MODEL_KIND_DATA, .index = -1 };
	model_location at = { .line = parser->singleton_line[MODEL_KIND_DATA], .override = NULL };
	const char *const *keys = NULL;

	if (data->source == PCS_DATA_IDX)
		keys = check_data_idx_keys;
	else if (data->source == PCS_DATA_CSV)
		keys = check_data_csv_keys;

	for (int i = 0; keys != NULL && keys[i] != NULL; i++) {
		if (!model_key_is_set(parser, &section, keys[i]))
			return model_fail(parser, &at, "[data] is missing the key %s (a path), which "
					  "source = %s requires",
					  keys[i], data->source == PCS_DATA_IDX ? "idx" : "csv");
	}
	return 0;
}


static void check_list_layers(const pcs_model *model, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < model->n_layers && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "",
				 model->layers[i].name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}


static int check_edges(model_parser *parser)
{
	pcs_model *model = parser->model;
	char layers[PCS_MAX_LAYERS * (PCS_NAME_MAX + 2)];

	check_list_layers(model, layers, sizeof layers);
	for (int i = 0; i < model->n_edges; i++) {
		pcs_edge_spec *edge = &model->edges[i];
		model_location at = { .line = edge->line, .override = NULL };
		const char *from = parser->edge_from[i], *to = parser->edge_to[i];

		edge->from = pcs_model_find_layer(model, from);
		edge->to = pcs_model_find_layer(model, to);
		if (edge->from < 0 || edge->to < 0)
			return model_fail(parser, &at, "[edge %s -> %s] names layer %s, which the "
					  "model does not define; defined layers: %s",
					  from, to, edge->from < 0 ? from : to,
					  layers[0] != '\0' ? layers : "none");
	}

	if (model->n_edges == 0) {
		model_location file = { 0 };

		return model_fail(parser, &file, "the model has no edges; add an [edge A -> B] "
				  "section for each layer A that predicts a layer B");
	}

	/* A layer on no edge neither predicts nor is predicted: it would sit
	 * unchanged, and a target layer there would be read at chance. */
	for (int l = 0; l < model->n_layers; l++) {
		model_location at = { .line = model->layers[l].line, .override = NULL };
		bool connected = false;

		for (int i = 0; i < model->n_edges; i++)
			connected |= model->edges[i].from == l || model->edges[i].to == l;
		if (!connected)
			return model_fail(parser, &at, "layer %s is on no edge, so it neither predicts "
					  "nor is predicted; add an [edge] section that names it or "
					  "remove the layer", model->layers[l].name);
	}
	return 0;
}


/* Returns the index of the second layer with this clamp, or -1. *first receives the first. */
static int check_find_clamp(const pcs_model *model, pcs_clamp clamp, int *first)
{
	*first = -1;
	for (int i = 0; i < model->n_layers; i++) {
		if (model->layers[i].clamp != clamp)
			continue;
		if (*first >= 0)
			return i;
		*first = i;
	}
	return -1;
}


static int check_clamps(model_parser *parser)
{
	const pcs_model *model = parser->model;
	model_location file = { 0 };
	int first, second;

	if (model->n_layers == 0)
		return model_fail(parser, &file, "the model has no layers; add a [layer NAME] "
				  "section for each population of neurons");

	second = check_find_clamp(model, PCS_CLAMP_INPUT, &first);
	if (first < 0)
		return model_fail(parser, &file, "no layer has clamp = input; set it on the one "
				  "layer that receives the samples' features");
	if (second >= 0) {
		model_location at = { .line = model->layers[second].line, .override = NULL };

		return model_fail(parser, &at, "layers %s and %s both have clamp = input; exactly "
				  "one layer receives the samples' features",
				  model->layers[first].name, model->layers[second].name);
	}

	second = check_find_clamp(model, PCS_CLAMP_TARGET, &first);
	if (second >= 0) {
		model_location at = { .line = model->layers[second].line, .override = NULL };

		return model_fail(parser, &at, "layers %s and %s both have clamp = target; at most "
				  "one layer receives the one-hot label",
				  model->layers[first].name, model->layers[second].name);
	}
	return 0;
}


/* A sample must last at least one step of every layer, whatever its own dt. */
static int check_presentation(model_parser *parser)
{
	const pcs_model *model = parser->model;
	model_location at = parser->presentation_at;
	double presentation = model->dynamics.presentation;

	if (at.line == 0 && at.override == NULL)
		at.line = parser->singleton_line[MODEL_KIND_DYNAMICS];
	if (presentation < model->dynamics.dt)
		return model_fail(parser, &at, "dynamics.presentation = %g is shorter than "
				  "dynamics.dt = %g; a sample must be presented for at least one "
				  "step", presentation, model->dynamics.dt);

	for (int i = 0; i < model->n_layers; i++) {
		const pcs_layer_spec *layer = &model->layers[i];

		model_location layer_at = { .line = layer->line, .override = NULL };

		if (model->runtime.mode == PCS_MODE_LOCKSTEP && layer->dt > 0
		    && layer->dt != model->dynamics.dt)
			return model_fail(parser, &layer_at, "layer %s.dt = %.10g differs from dynamics.dt = %.10g, "
					  "but runtime.mode = lockstep steps every neuron with one dt; "
					  "remove the layer's dt or use runtime.mode = deterministic",
					  layer->name, layer->dt, model->dynamics.dt);
		if (layer->dt > 0.0 && layer->dt < 1e-9)
			return model_fail(parser, &at, "layer %s.dt = %g is below the time resolution "
					  "of 1e-9 time units; use 0 (dynamics.dt) or a step >= 1e-9",
					  layer->name, layer->dt);
		if (presentation < layer->dt)
			return model_fail(parser, &at, "dynamics.presentation = %g is shorter than "
					  "layer %s.dt = %g; a sample must be presented for at "
					  "least one step of every layer",
					  presentation, layer->name, layer->dt);
	}
	for (int k = 0; model->runtime.mode == PCS_MODE_LOCKSTEP && k < model->n_edges; k++) {
		double steps = model->edges[k].delay / model->dynamics.dt;

		model_location edge_at = { .line = model->edges[k].line, .override = NULL };

		if (fabs(steps - round(steps)) > 1e-9 * fmax(1.0, steps))
			return model_fail(parser, &edge_at, "edge %s -> %s has delay = %.10g, which is not a "
					  "whole number of steps of dynamics.dt = %g as runtime.mode = "
					  "lockstep needs",
					  model->layers[model->edges[k].from].name,
					  model->layers[model->edges[k].to].name,
					  model->edges[k].delay, model->dynamics.dt);
	}
	return 0;
}


static int check_neurons(model_parser *parser)
{
	model_location at = parser->neurons_at;
	char prefix[PCS_PATH_MAX + 64];
	int rc;

	if (at.line == 0 && at.override == NULL)
		at.line = parser->singleton_line[MODEL_KIND_TRACE];
	model_format_location(parser, &at, prefix, sizeof prefix);
	strncat(prefix, "invalid trace.neurons: ", sizeof prefix - strlen(prefix) - 1);

	rc = model_select(parser->model, parser->model->trace.neurons, NULL, prefix, parser->err);
	if (rc < 0)
		parser->failed = rc;
	return rc;
}


int model_check_lesion(model_parser *parser, int l)
{
	const pcs_layer_spec *s = &parser->model->layers[l];
	model_location at = { .line = s->line, .override = NULL };
	char prefix[PCS_PATH_MAX + 128];
	int rc;

	model_format_location(parser, &at, prefix, sizeof prefix);
	snprintf(prefix + strlen(prefix), sizeof prefix - strlen(prefix),
		 "invalid layer %s.lesion: ", s->name);
	rc = model_select_in_layer(parser->model, l, s->lesion, NULL, prefix, parser->err);
	if (rc < 0)
		parser->failed = rc;
	return rc;
}


/* A uniform draw m (1 + s U(-1, 1)) stays positive only for s < 1. */
static int check_spread(model_parser *parser, int line, const char *what,
			pcs_distribution distribution, double spread)
{
	model_location at = { .line = line, .override = NULL };

	if (distribution == PCS_DIST_UNIFORM && spread >= 1.0)
		return model_fail(parser, &at, "%s_spread = %g with a uniform distribution can draw "
				  "values <= 0; use a spread below 1 or a lognormal distribution",
				  what, spread);
	return 0;
}


/* Heterogeneity keys that only make sense together, and lesion selections. */
static int check_heterogeneity(model_parser *parser)
{
	const pcs_model *m = parser->model;
	const pcs_dynamics_spec *d = &m->dynamics;
	int line = parser->singleton_line[MODEL_KIND_DYNAMICS];
	int rc = check_spread(parser, line, "dynamics.tau_x", d->tau_x_distribution, d->tau_x_spread);

	if (rc == 0 && m->runtime.mode == PCS_MODE_ASYNC
	    && m->runtime.max_skew > m->dynamics.presentation) {
		model_location at = { .line = parser->singleton_line[MODEL_KIND_RUNTIME] };

		return model_fail(parser, &at, "runtime.max_skew = %g exceeds dynamics.presentation "
				  "= %g: a worker could run whole samples ahead and queue their "
				  "messages without bound; use at most one presentation",
				  m->runtime.max_skew, m->dynamics.presentation);
	}
	if (rc == 0 && m->protocol.learning == PCS_LEARNING_PHASED
	    && m->dynamics.plasticity == PCS_PLASTICITY_SETTLED) {
		model_location at = { .line = parser->singleton_line[MODEL_KIND_PROTOCOL] };

		return model_fail(parser, &at, "protocol.learning = phased applies one global update "
				  "per sample, so dynamics.plasticity = settled would have no effect; "
				  "use continuous learning with settled plasticity");
	}
	if (rc == 0 && m->runtime.mode == PCS_MODE_ASYNC
	    && m->protocol.learning == PCS_LEARNING_PHASED) {
		model_location at = { .line = parser->singleton_line[MODEL_KIND_PROTOCOL] };

		return model_fail(parser, &at, "protocol.learning = phased needs a global phase, "
				  "which runtime.mode = async does not have; use continuous learning "
				  "or runtime.mode = lockstep or deterministic");
	}
	if (rc == 0)
		rc = check_spread(parser, line, "dynamics.tau_e", d->tau_e_distribution, d->tau_e_spread);
	if (rc == 0)
		rc = check_spread(parser, line, "dynamics.dt", d->dt_distribution, d->dt_spread);
	for (int l = 0; rc == 0 && l < m->n_layers; l++) {
		const pcs_layer_spec *s = &m->layers[l];
		double tau_x = isnan(s->tau_x_spread) ? d->tau_x_spread : s->tau_x_spread;
		double dt = isnan(s->dt_spread) ? d->dt_spread : s->dt_spread;
		pcs_distribution dist_x = s->tau_x_distribution == PCS_DIST_INHERIT
						  ? d->tau_x_distribution : s->tau_x_distribution;
		pcs_distribution dist_dt = s->dt_distribution == PCS_DIST_INHERIT
						   ? d->dt_distribution : s->dt_distribution;

		rc = check_spread(parser, s->line, "tau_x", dist_x, tau_x);
		if (rc == 0)
			rc = check_spread(parser, s->line, "dt", dist_dt, dt);
		if (rc == 0 && m->runtime.mode == PCS_MODE_LOCKSTEP
		    && (dist_dt != PCS_DIST_FIXED || (isnan(s->jitter) ? d->jitter : s->jitter) > 0)) {
			model_location at = { .line = s->line, .override = NULL };

			rc = model_fail(parser, &at, "layer %s draws dt per neuron or jitters its steps, "
					"but runtime.mode = lockstep steps every neuron with one dt; use "
					"dt_distribution = fixed and jitter = 0, or another mode", s->name);
		}
		if (rc == 0)
			rc = model_check_lesion(parser, l);
	}
	for (int k = 0; rc == 0 && k < m->n_edges; k++) {
		const pcs_edge_spec *e = &m->edges[k];

		rc = check_spread(parser, e->line, "delay", e->delay_distribution, e->delay_spread);
		if (rc == 0 && m->runtime.mode == PCS_MODE_LOCKSTEP
		    && e->delay_distribution != PCS_DIST_FIXED) {
			model_location at = { .line = e->line, .override = NULL };

			rc = model_fail(parser, &at, "edge %s -> %s draws a delay per neuron, but "
					"runtime.mode = lockstep needs delays of whole steps; use "
					"delay_distribution = fixed", m->layers[e->from].name,
					m->layers[e->to].name);
		}
	}
	return rc;
}


int model_check(model_parser *parser)
{
	int rc = check_singleton_keys(parser);

	if (rc == 0)
		rc = check_layer_keys(parser);
	if (rc == 0)
		rc = check_data_paths(parser);
	if (rc == 0)
		rc = check_clamps(parser);
	if (rc == 0)
		rc = check_edges(parser);
	if (rc == 0)
		rc = check_presentation(parser);
	if (rc == 0)
		rc = check_neurons(parser);
	if (rc == 0)
		rc = check_heterogeneity(parser);
	return rc;
}
