/* SPDX-License-Identifier: MIT */
/* The asynchronous scheduler's interface to the run driver; see async.c. */
#ifndef PCS_ASYNC_H
#define PCS_ASYNC_H

#include <stdatomic.h>
#include <uv.h>

#include "runtime/net.h"

typedef void (*pcs_dispatch_fn)(void *ctx, const pcs_event *ev, int64_t now);
typedef struct pcs_async_shard pcs_async_shard;

typedef struct pcs_async {
	atomic_bool stop;              /* set once; every shard closes at its next check */
	int64_t max_skew;              /* ticks */
	pcs_dispatch_fn dispatch;
	void *dispatch_ctx;
	uv_async_t main_wake;          /* wakes the main loop when the shards stop */
	uv_mutex_t trace_lock;         /* pcs_trace has one producer at a time */
} pcs_async;

/* Creates each shard's loop, handles and inbox; a must outlive the run. */
int pcs_async_init(pcs_network *net, pcs_async *a);
/* Starts one thread per shard. */
int pcs_async_start(pcs_network *net);
/* Asks every shard to stop and wakes them and the main loop. */
void pcs_async_stop(pcs_network *net);
void pcs_async_join(pcs_network *net);
void pcs_async_free(pcs_network *net);

/* Shard 0's view of the whole network: its own values and the others' snapshots. */
double pcs_async_read_energy(pcs_network *net, int layer);
void pcs_async_read_target(pcs_network *net, double *x, double *mu, uint32_t *tag);

#endif
