/* SPDX-License-Identifier: MIT */
/*
 * Hooks of the trace writer for tests only; the simulator never calls them.
 */
#ifndef PCSIM_TRACE_TESTING_H
#define PCSIM_TRACE_TESTING_H

#include <stdint.h>

#include "pcsim/trace.h"

/*
 * Sets PRAGMA max_page_count on the writer's connection, so that a test can
 * make the database full. SQLite never lowers the limit below the current
 * page count. Stores the resulting limit in *limit (may be NULL). Returns 0
 * or the writer's sticky error.
 */
int pcs_trace_set_max_pages(pcs_trace *tr, int64_t pages, int64_t *limit, pcs_error *err);

#endif
