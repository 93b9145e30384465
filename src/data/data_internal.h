/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the IDX, CSV and XOR loaders of the data module. They
 * are not part of the public API.
 */
#ifndef PCSIM_DATA_INTERNAL_H
#define PCSIM_DATA_INTERNAL_H

#include "pcsim/data.h"

/*
 * Allocates features (count * dim floats) and labels (count bytes) in set,
 * after zeroing it, and fills in count and dim. When allocation fails,
 * returns PCS_ENOMEM with a message naming `source`, the file or set loaded.
 */
int data_alloc(pcs_dataset *set, int count, int dim, const char *source, pcs_error *err);

/* Sets set->n_classes to 1 + the largest label, and at least 2. */
void data_count_classes(pcs_dataset *set);

#endif
