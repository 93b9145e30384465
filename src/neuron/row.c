/* SPDX-License-Identifier: MIT */
/* Exact rebuild of a plastic synapse row; see row.h for the representation. */
#include "neuron/row.h"

#include <string.h>


void pcs_row_init(pcs_row *row, int n, double *base, double *last, const double *weights)
{
	row->n = n;
	row->base = base;
	row->last = last;
	memcpy(base, weights, (size_t)n * sizeof *base);
	memset(last, 0, (size_t)n * sizeof *last);
	row->scale = 1.0;
	row->drive = 0.0;
	row->base_dot = 0.0;
	row->sq = 0.0;
	row->messages = 0;
}


void pcs_row_rebuild(pcs_row *row)
{
	double dot = 0.0, sq = 0.0;

	for (int k = 0; k < row->n; k++) {
		double v = row->last[k];
		double w = row->scale * row->base[k] + row->drive * v;

		row->base[k] = w;
		dot += w * v;
		sq += v * v;
	}
	row->scale = 1.0;
	row->drive = 0.0;
	row->base_dot = dot;
	row->sq = sq;
	row->messages = 0;
}
