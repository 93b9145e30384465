/* SPDX-License-Identifier: MIT */
/*
 * Neuron selections, the syntax of trace.neurons: "all", "none" (or an empty
 * string), or a comma-separated list of items LAYER (every neuron of the
 * layer), LAYER:I (one neuron) and LAYER:I-J (neurons I to J inclusive).
 * Neuron indexes start at 0 within their layer.
 */
#include "model_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Maximum item length: room for a layer name, a colon and two indexes, with spaces. */
#define SELECT_ITEM_MAX 128

typedef struct select_item {
	int layer;
	int first, last;           /* inclusive neuron range */
} select_item;


/* Parses a neuron index: decimal digits only, the whole string. */
static bool select_parse_index(const char *text, int *out)
{
	char *end;
	long value;

	if (!isdigit((unsigned char)text[0]))
		return false;
	errno = 0;
	value = strtol(text, &end, 10);
	if (*end != '\0' || errno != 0 || value > 1000000000L)
		return false;
	*out = (int)value;
	return true;
}


static int select_parse_range(const pcs_model *model, const char *item, const char *range,
			      select_item *out, const char *prefix, pcs_error *err)
{
	const pcs_layer_spec *layer = &model->layers[out->layer];
	const char *dash = strchr(range, '-');
	char first[32], last[32];
	bool valid;

	if (dash == NULL)
		valid = model_copy_trimmed(range, range + strlen(range), first, sizeof first) &&
			select_parse_index(first, &out->first);
	else
		valid = model_copy_trimmed(range, dash, first, sizeof first) &&
			model_copy_trimmed(dash + 1, dash + strlen(dash), last, sizeof last) &&
			select_parse_index(first, &out->first) &&
			select_parse_index(last, &out->last);
	if (dash == NULL)
		out->last = out->first;

	if (!valid || out->first > out->last)
		return pcs_error_set(err, PCS_EMODEL, "%sinvalid neuron range in item \"%s\": "
				     "expected LAYER:I or LAYER:I-J with 0 <= I <= J", prefix, item);
	if (out->last >= layer->size)
		return pcs_error_set(err, PCS_EMODEL, "%sneuron index %d in item \"%s\" is out of "
				     "range: layer %s has neurons 0 to %d",
				     prefix, out->last, item, layer->name, layer->size - 1);
	return 0;
}


static void select_list_layers(const pcs_model *model, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < model->n_layers && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s (0 to %d)", i > 0 ? ", " : "",
				 model->layers[i].name, model->layers[i].size - 1);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}


static int select_parse_item(const pcs_model *model, const char *item, select_item *out,
			     const char *prefix, pcs_error *err)
{
	const char *colon = strchr(item, ':');
	char name[PCS_NAME_MAX], layers[PCS_MAX_LAYERS * (PCS_NAME_MAX + 20)];
	const char *end = colon != NULL ? colon : item + strlen(item);

	out->layer = -1;
	if (model_copy_trimmed(item, end, name, sizeof name))
		out->layer = pcs_model_find_layer(model, name);
	if (out->layer < 0) {
		select_list_layers(model, layers, sizeof layers);
		return pcs_error_set(err, PCS_EMODEL, "%sunknown layer in item \"%s\"; layers: %s",
				     prefix, item, layers[0] != '\0' ? layers : "none");
	}

	if (colon == NULL) {
		out->first = 0;
		out->last = model->layers[out->layer].size - 1;
		return 0;
	}
	return select_parse_range(model, item, colon + 1, out, prefix, err);
}


static void select_mark(bool **selected, const select_item *item)
{
	if (selected == NULL || selected[item->layer] == NULL)
		return;
	for (int i = item->first; i <= item->last; i++)
		selected[item->layer][i] = true;
}


static void select_all(const pcs_model *model, bool **selected)
{
	for (int layer = 0; layer < model->n_layers; layer++) {
		select_item item = { layer, 0, model->layers[layer].size - 1 };

		select_mark(selected, &item);
	}
}


int model_select(const pcs_model *model, const char *selection, bool **selected,
		 const char *prefix, pcs_error *err)
{
	char whole[8], item_text[SELECT_ITEM_MAX];
	const char *start = selection;

	if (model_copy_trimmed(selection, selection + strlen(selection), whole, sizeof whole)) {
		if (whole[0] == '\0' || strcasecmp(whole, "none") == 0)
			return 0;
		if (strcasecmp(whole, "all") == 0) {
			select_all(model, selected);
			return 0;
		}
	}

	for (;;) {
		const char *comma = strchr(start, ',');
		const char *end = comma != NULL ? comma : start + strlen(start);
		select_item item = { -1, 0, -1 };

		if (!model_copy_trimmed(start, end, item_text, sizeof item_text) ||
		    item_text[0] == '\0')
			return pcs_error_set(err, PCS_EMODEL, "%sinvalid neuron selection \"%s\": "
					     "expected all, none, or a comma-separated list of "
					     "LAYER, LAYER:I or LAYER:I-J items, none of them empty "
					     "or longer than %d characters",
					     prefix, selection, SELECT_ITEM_MAX - 1);
		if (select_parse_item(model, item_text, &item, prefix, err) < 0)
			return PCS_EMODEL;
		select_mark(selected, &item);

		if (comma == NULL)
			return 0;
		start = comma + 1;
	}
}


int pcs_model_select_neurons(const pcs_model *model, const char *selection, bool **selected,
			     pcs_error *err)
{
	if (model == NULL || selection == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_model_select_neurons: model and "
				     "selection must not be NULL");
	/* Validate first so that a rejected selection marks nothing. */
	int rc = model_select(model, selection, NULL, "", err);

	if (rc < 0 || selected == NULL)
		return rc;
	return model_select(model, selection, selected, "", err);
}


int model_select_in_layer(const pcs_model *model, int layer, const char *indexes,
			  bool *selected, const char *prefix, pcs_error *err)
{
	char composed[2048];
	char copy[256];
	bool *rows[PCS_MAX_LAYERS] = {0};
	size_t used = 0;

	if (strcasecmp(indexes, "none") == 0 || indexes[0] == '\0')
		return 0;
	if (strcasecmp(indexes, "all") == 0) {
		for (int i = 0; selected != NULL && i < model->layers[layer].size; i++)
			selected[i] = true;
		return 0;
	}

	/* Each index item becomes LAYER:item, so one parser serves both syntaxes. */
	snprintf(copy, sizeof copy, "%s", indexes);
	for (char *save = NULL, *item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		int n = snprintf(composed + used, sizeof composed - used, "%s%s:%s",
				 used ? "," : "", model->layers[layer].name, item);

		if (n < 0 || (size_t)n >= sizeof composed - used)
			return pcs_error_set(err, PCS_EMODEL, "%sthe index list is too long", prefix);
		used += (size_t)n;
	}
	rows[layer] = selected;
	return model_select(model, composed, selected ? rows : NULL, prefix, err);
}


int pcs_model_select_lesion(const pcs_model *model, int layer, bool *selected, pcs_error *err)
{
	char prefix[PCS_NAME_MAX + 32];

	snprintf(prefix, sizeof prefix, "invalid layer %s.lesion: ", model->layers[layer].name);
	return model_select_in_layer(model, layer, model->layers[layer].lesion, selected, prefix, err);
}
