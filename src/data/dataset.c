/* SPDX-License-Identifier: MIT */
/*
 * The dense in-memory data set shared by all sources: allocation, the class
 * count and the built-in XOR set. pcs_data_load calls the reader that the
 * model's [data] section names, then checks that the training and test sets
 * agree on the feature count.
 *
 * XOR layout: sample i has pattern i % 4, where patterns 0..3 are (0, 0),
 * (0, 1), (1, 0), (1, 1) with labels 0, 1, 1, 0. A set of `repeat` copies is
 * therefore pattern 0, 1, 2, 3, 0, 1, 2, 3, ... and has 4 * repeat samples.
 */
#include "data/data_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int data_alloc(pcs_dataset *set, int count, int dim, const char *source, pcs_error *err)
{
	size_t n_features = (size_t)count * (size_t)dim;

	memset(set, 0, sizeof *set);
	set->features = malloc((n_features > 0 ? n_features : 1) * sizeof *set->features);
	set->labels = malloc(count > 0 ? (size_t)count : 1);
	if (set->features == NULL || set->labels == NULL) {
		pcs_dataset_free(set);
		return pcs_error_set(err, PCS_ENOMEM,
				     "%s: out of memory allocating %d samples of %d features (%zu bytes)",
				     source, count, dim, n_features * sizeof(float) + (size_t)count);
	}

	set->count = count;
	set->dim = dim;
	return 0;
}


void data_count_classes(pcs_dataset *set)
{
	int max_label = 0;

	for (int i = 0; i < set->count; i++)
		if (set->labels[i] > max_label)
			max_label = set->labels[i];
	set->n_classes = max_label + 1 < 2 ? 2 : max_label + 1;
}


int pcs_xor_make(int repeat, pcs_dataset *out, pcs_error *err)
{
	static const float inputs[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
	static const uint8_t targets[4] = {0, 1, 1, 0};
	int rc;

	if (out == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_xor_make: out is NULL");
	memset(out, 0, sizeof *out);
	if (repeat < 1 || repeat > INT_MAX / 4)
		return pcs_error_set(err, PCS_EINVAL,
				     "XOR data set: invalid repeat count %d; use an integer in [1, %d]",
				     repeat, INT_MAX / 4);

	rc = data_alloc(out, 4 * repeat, 2, "XOR data set", err);
	if (rc < 0)
		return rc;

	for (int i = 0; i < out->count; i++) {
		out->features[2 * i] = inputs[i % 4][0];
		out->features[2 * i + 1] = inputs[i % 4][1];
		out->labels[i] = targets[i % 4];
	}
	out->n_classes = 2;
	return 0;
}


/* Loads one of the two sets named by the spec; `test` selects which. */
static int data_load_one(const pcs_data_spec *spec, int test, pcs_dataset *set, pcs_error *err)
{
	switch (spec->source) {
	case PCS_DATA_IDX:
		if (test)
			return pcs_idx_load(spec->test_images, spec->test_labels, spec->pool,
					    spec->test_count, spec->scale, set, err);
		return pcs_idx_load(spec->train_images, spec->train_labels, spec->pool,
				    spec->train_count, spec->scale, set, err);
	case PCS_DATA_CSV:
		if (test)
			return pcs_csv_load(spec->test_csv, spec->csv_header, spec->test_count, set,
					    err);
		return pcs_csv_load(spec->train_csv, spec->csv_header, spec->train_count, set,
				    err);
	case PCS_DATA_XOR:
		return pcs_xor_make(test ? 1 : spec->xor_repeat, set, err);
	}
	return pcs_error_set(err, PCS_EINVAL, "[data] source: unknown source value %d",
			     (int)spec->source);
}


/* Returns a name for the file behind one of the two sets, for messages. */
static const char *data_set_name(const pcs_data_spec *spec, int test)
{
	switch (spec->source) {
	case PCS_DATA_IDX:
		return test ? spec->test_images : spec->train_images;
	case PCS_DATA_CSV:
		return test ? spec->test_csv : spec->train_csv;
	case PCS_DATA_XOR:
		break;
	}
	return test ? "XOR test set" : "XOR training set";
}


/*
 * Subtracts each feature's mean over the training set from both sets, so
 * the test set is shifted by statistics of the training set only.
 */
static void data_center(pcs_dataset *train, pcs_dataset *test)
{
	for (int d = 0; d < train->dim; d++) {
		double sum = 0.0;
		float mean;

		for (int i = 0; i < train->count; i++)
			sum += train->features[(size_t)i * train->dim + d];
		mean = (float)(sum / (train->count > 0 ? train->count : 1));
		for (int i = 0; i < train->count; i++)
			train->features[(size_t)i * train->dim + d] -= mean;
		for (int i = 0; i < test->count; i++)
			test->features[(size_t)i * test->dim + d] -= mean;
	}
}


int pcs_data_load(const pcs_data_spec *spec, pcs_dataset *train, pcs_dataset *test,
		  pcs_error *err)
{
	int rc;

	if (spec == NULL || train == NULL || test == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_data_load: NULL argument");
	memset(train, 0, sizeof *train);
	memset(test, 0, sizeof *test);

	rc = data_load_one(spec, 0, train, err);
	if (rc < 0)
		return rc;
	rc = data_load_one(spec, 1, test, err);
	if (rc < 0) {
		pcs_dataset_free(train);
		return rc;
	}

	if (train->dim != test->dim) {
		rc = pcs_error_set(err, PCS_EDATA,
				   "%s: training samples have %d features but the test samples in %s "
				   "have %d; use training and test files of the same shape",
				   data_set_name(spec, 0), train->dim, data_set_name(spec, 1),
				   test->dim);
		pcs_dataset_free(train);
		pcs_dataset_free(test);
		return rc;
	}

	if (spec->center)
		data_center(train, test);

	/* A label seen only in one set still needs an output class in both. */
	if (train->n_classes < test->n_classes)
		train->n_classes = test->n_classes;
	else
		test->n_classes = train->n_classes;
	return 0;
}


void pcs_dataset_free(pcs_dataset *set)
{
	if (set == NULL)
		return;
	free(set->features);
	free(set->labels);
	memset(set, 0, sizeof *set);
}
