/* SPDX-License-Identifier: MIT */
/*
 * Data sets: IDX (the MNIST and Fashion-MNIST format, gzip or raw), CSV
 * (feature columns then one integer label column) and the built-in XOR set,
 * all loaded into one dense in-memory form.
 */
#ifndef PCSIM_DATA_H
#define PCSIM_DATA_H

#include <stdint.h>

#include "pcsim/common.h"
#include "pcsim/model.h"

typedef struct pcs_dataset {
	int count;          /* samples */
	int dim;            /* features per sample */
	int n_classes;      /* 1 + the largest label (at least 2) */
	int rows, cols;     /* image shape after pooling; 0, 0 when not an image */
	float *features;    /* count * dim, row-major; IDX pixels are scaled to [0, scale] */
	uint8_t *labels;    /* count, each < n_classes */
} pcs_dataset;

/*
 * Reads an IDX image file (magic 0x00000803, u8 pixels) and its label file
 * (magic 0x00000801), each gzip-compressed or raw (zlib's gzread reads both).
 * Keeps the first max_count samples (0 = all), average-pools non-overlapping
 * pool x pool blocks (pool must divide both image sides) and scales pixels to
 * value / 255 * scale. Returns PCS_EDATA with the path and the reason for a
 * missing, truncated or corrupt file, a wrong magic number, or counts that
 * do not match between images and labels.
 */
int pcs_idx_load(const char *images_path, const char *labels_path, int pool, int max_count,
		 double scale, pcs_dataset *out, pcs_error *err);

/*
 * Reads a CSV file of numeric feature columns followed by an integer label
 * column in [0, 255]. Every row must have the same column count. skip_header
 * skips the first line. Returns PCS_EDATA naming the path, line and column
 * of the first bad field.
 */
int pcs_csv_load(const char *path, int skip_header, int max_count, pcs_dataset *out,
		 pcs_error *err);

/* Fills out with the 4 XOR patterns, each repeated `repeat` times; label = a xor b. */
int pcs_xor_make(int repeat, pcs_dataset *out, pcs_error *err);

/*
 * Loads the training and test sets the model's [data] section names.
 * For XOR, the test set is the 4 patterns once each.
 */
int pcs_data_load(const pcs_data_spec *spec, pcs_dataset *train, pcs_dataset *test,
		  pcs_error *err);

void pcs_dataset_free(pcs_dataset *set);

#endif
