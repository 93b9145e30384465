/* SPDX-License-Identifier: MIT */
/*
 * The asynchronous scheduler: one worker thread per shard, each with its own
 * libuv loop, event queue and virtual clock. There is no barrier anywhere.
 *
 * Messages between shards go through per-shard inboxes: a sender batches
 * them per destination and hands each batch over under the destination's
 * inbox lock, then wakes it with uv_async_send. A receiver drains its inbox
 * between slices of events:
 *   - a message due at or before the receiver's clock is late: the
 *     receiver applies it at its current time, as if it had just arrived;
 *   - a message due later is early: it is queued and applied when the
 *     receiver's clock reaches the due time.
 *
 * Clock skew: a shard publishes the tick of its next event. With
 * runtime.max_skew = S, a shard does not run an event at tick T while
 * another shard that owns neurons it exchanges messages with (every other
 * shard, since layers are dense and split across all shards) publishes a
 * clock below T - S. The shard with the smallest clock always passes this
 * check, because every other clock is at least its own, and it wakes the
 * waiting shards after each slice. So the bound cannot deadlock. A blocked shard sleeps until another shard
 * publishes a new clock and wakes it.
 *
 * Shard 0 runs the protocol actor and the monitor. It reads the other
 * shards' energies and target-layer values from snapshots that each shard
 * publishes under its own lock after every slice, so what it reads may be
 * one slice old: part of the asynchrony, not a race.
 *
 * States of a shard:
 *     running --next tick beyond skew--> waiting --woken--> running
 *     running|waiting --stop flag--> closing --handles closed--> done
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "runtime/async.h"

#define ASYNC_SLICE_EVENTS 256

typedef struct async_outbox {
	pcs_remote *items;
	size_t len, cap;
} async_outbox;

struct pcs_async_shard {
	pcs_shard *shard;
	uv_loop_t loop;
	uv_idle_t idle;
	uv_async_t wake;
	uv_thread_t thread;
	bool closing;
	bool idle_active;

	uv_mutex_t inbox_lock;         /* guards inbox */
	async_outbox inbox;
	async_outbox drained;          /* owned by the shard thread */
	async_outbox out[PCS_MAX_WORKERS];

	_Atomic int64_t clock;         /* tick of the next event; INT64_MAX when none */
	atomic_bool waiting;

	uv_mutex_t snap_lock;          /* guards the snapshot below */
	double snap_energy[PCS_MAX_LAYERS];
	double *snap_x, *snap_mu;      /* target layer, this shard's block */
	uint32_t *snap_tag;
};


static bool async_append(async_outbox *box, const pcs_remote *items, size_t n)
{
	if (box->len + n > box->cap) {
		size_t cap = box->cap ? box->cap : 256;
		pcs_remote *grown;

		while (cap < box->len + n)
			cap *= 2;
		grown = realloc(box->items, cap * sizeof *grown);
		if (grown == NULL)
			return false;
		box->items = grown;
		box->cap = cap;
	}
	memcpy(box->items + box->len, items, n * sizeof *items);
	box->len += n;
	return true;
}


void pcs_send_to_layer(pcs_network *net, int layer, int64_t tick, const pcs_event *ev)
{
	pcs_shard *sh = pcs_tls_shard;
	pcs_remote r = {.tick = tick, .ev = *ev};

	for (int s = 0; s < net->n_shards; s++) {
		if (s == sh->index || net->shards[s].hi[layer] == net->shards[s].lo[layer])
			continue;
		if (!async_append(&sh->async->out[s], &r, 1))
			sh->failed = true;
	}
}


void pcs_send_to_owner(pcs_network *net, int layer, int idx, int64_t tick, const pcs_event *ev)
{
	pcs_shard *sh = pcs_tls_shard;
	int s = pcs_owner(net, layer, idx);
	pcs_remote r = {.tick = tick, .ev = *ev};

	if (s == sh->index) {
		pcs_net_push(net, tick, ev);
		return;
	}
	if (!async_append(&sh->async->out[s], &r, 1))
		sh->failed = true;
}


void pcs_send_to_shard(pcs_network *net, int s, int64_t tick, const pcs_event *ev)
{
	pcs_shard *sh = pcs_tls_shard;
	pcs_remote r = {.tick = tick, .ev = *ev};

	(void)net;
	if (!async_append(&sh->async->out[s], &r, 1))
		sh->failed = true;
}


/* Hands every batch to its destination's inbox and wakes the destination. */
static void async_flush(pcs_shard *sh)
{
	pcs_network *net = sh->net;

	for (int s = 0; s < net->n_shards; s++) {
		async_outbox *box = &sh->async->out[s];
		pcs_async_shard *dest;
		bool ok;

		if (box->len == 0)
			continue;
		dest = net->shards[s].async;
		uv_mutex_lock(&dest->inbox_lock);
		ok = async_append(&dest->inbox, box->items, box->len);
		uv_mutex_unlock(&dest->inbox_lock);
		if (!ok)
			sh->failed = true;
		box->len = 0;
		uv_async_send(&dest->wake);
	}
}


/* Applies late messages now and queues early ones at their due tick. */
static void async_drain(pcs_shard *sh, pcs_dispatch_fn dispatch, void *ctx)
{
	pcs_async_shard *as = sh->async;
	async_outbox swap;
	int64_t now = pcs_sched_now(sh->sched);

	uv_mutex_lock(&as->inbox_lock);
	swap = as->inbox;
	as->inbox = as->drained;
	uv_mutex_unlock(&as->inbox_lock);
	as->drained = swap;

	for (size_t k = 0; k < as->drained.len; k++) {
		const pcs_remote *r = &as->drained.items[k];

		if (r->tick <= now)
			dispatch(ctx, &r->ev, now);
		else
			pcs_net_push(sh->net, r->tick, &r->ev);
	}
	as->drained.len = 0;
}


static int64_t async_min_other_clock(const pcs_shard *sh)
{
	const pcs_network *net = sh->net;
	int64_t low = INT64_MAX;

	for (int s = 0; s < net->n_shards; s++) {
		int64_t c;

		if (s == sh->index)
			continue;
		c = atomic_load(&net->shards[s].async->clock);
		if (c < low)
			low = c;
	}
	return low;
}


/* Whether the shard may run an event at tick without exceeding the skew bound. */
static bool async_may_run(const pcs_shard *sh, int64_t tick)
{
	int64_t low = async_min_other_clock(sh);

	return low == INT64_MAX || tick <= low + sh->net->async->max_skew;
}


/* Wakes every shard that sleeps on the skew bound, after a new clock. */
static void async_wake_waiters(const pcs_shard *sh)
{
	const pcs_network *net = sh->net;

	for (int s = 0; s < net->n_shards; s++)
		if (s != sh->index && atomic_load(&net->shards[s].async->waiting))
			uv_async_send(&net->shards[s].async->wake);
}


static void async_publish_snapshot(pcs_shard *sh)
{
	pcs_network *net = sh->net;
	pcs_async_shard *as = sh->async;

	uv_mutex_lock(&as->snap_lock);
	memcpy(as->snap_energy, sh->energy, sizeof as->snap_energy);
	if (net->target_layer >= 0) {
		pcs_layer_rt *t = &net->layers[net->target_layer];

		for (int i = sh->lo[t->index]; i < sh->hi[t->index]; i++) {
			as->snap_x[i] = t->x[i].x;
			as->snap_mu[i] = t->e != NULL ? t->e[i].mu_first : 0.0;
			as->snap_tag[i] = t->e != NULL ? t->e[i].first_tag : 0;
		}
	}
	uv_mutex_unlock(&as->snap_lock);
}


static void async_close_cb(uv_handle_t *handle)
{
	(void)handle;
}


static void async_close(pcs_async_shard *as)
{
	if (as->closing)
		return;
	as->closing = true;
	atomic_store(&as->clock, INT64_MAX);
	uv_close((uv_handle_t *)&as->idle, async_close_cb);
	uv_close((uv_handle_t *)&as->wake, async_close_cb);
}


static void async_idle_cb(uv_idle_t *handle)
{
	pcs_async_shard *as = handle->data;
	pcs_shard *sh = as->shard;
	pcs_async *a = sh->net->async;
	pcs_event ev;
	bool blocked = false;

	if (atomic_load(&a->stop)) {
		async_close(as);
		return;
	}
	async_drain(sh, a->dispatch, a->dispatch_ctx);

	/* The other clocks only grow, so a bound read once stays valid until
	 * the queue passes it. Re-reading it per event would bounce the clocks'
	 * cache lines between cores. This shard publishes every 64 events. */
	int64_t limit = INT64_MIN;

	for (int n = 0; n < ASYNC_SLICE_EVENTS; n++) {
		int64_t next = pcs_sched_next_tick(sh->sched);

		if ((n & 63) == 0)
			atomic_store_explicit(&as->clock, next, memory_order_release);
		if (next == INT64_MAX)
			break;
		if (next > limit) {
			int64_t low = async_min_other_clock(sh);

			limit = low == INT64_MAX ? INT64_MAX : low + a->max_skew;
			if (next > limit) {
				blocked = true;
				break;
			}
		}
		pcs_sched_pop(sh->sched, &ev);
		sh->events++;
		a->dispatch(a->dispatch_ctx, &ev, pcs_sched_now(sh->sched));
		if (sh->diverged || sh->failed || atomic_load(&a->stop))
			break;
	}
	async_flush(sh);
	async_publish_snapshot(sh);
	atomic_store(&as->clock, pcs_sched_next_tick(sh->sched));
	async_wake_waiters(sh);
	if (sh->diverged || sh->failed)
		pcs_async_stop(sh->net);

	/* Sleep on the skew bound (or an empty queue) until woken. The bound is
	 * checked once more after the flag is raised, so that a wake-up sent
	 * in between is not lost. */
	if (blocked || pcs_sched_next_tick(sh->sched) == INT64_MAX) {
		atomic_store(&as->waiting, true);
		if (!blocked || !async_may_run(sh, pcs_sched_next_tick(sh->sched))) {
			uv_idle_stop(&as->idle);
			as->idle_active = false;
		} else {
			atomic_store(&as->waiting, false);
		}
	}
}


static void async_wake_cb(uv_async_t *handle)
{
	pcs_async_shard *as = handle->data;

	if (atomic_load(&as->shard->net->async->stop)) {
		async_close(as);
		return;
	}
	atomic_store(&as->waiting, false);
	if (!as->idle_active) {
		as->idle_active = true;
		uv_idle_start(&as->idle, async_idle_cb);
	}
}


static void async_thread(void *arg)
{
	pcs_async_shard *as = arg;

	pcs_tls_shard = as->shard;
	uv_run(&as->loop, UV_RUN_DEFAULT);
}


void pcs_async_stop(pcs_network *net)
{
	pcs_async *a = net->async;

	atomic_store(&a->stop, true);
	for (int s = 0; s < net->n_shards; s++)
		uv_async_send(&net->shards[s].async->wake);
	uv_async_send(&a->main_wake);
}


int pcs_async_init(pcs_network *net, pcs_async *a)
{
	int target = net->target_layer >= 0 ? net->layers[net->target_layer].size : 1;

	net->async = a;
	atomic_store(&a->stop, false);
	for (int s = 0; s < net->n_shards; s++) {
		pcs_async_shard *as = calloc(1, sizeof *as);

		if (as == NULL)
			return PCS_ENOMEM;
		net->shards[s].async = as;
		as->shard = &net->shards[s];
		as->snap_x = calloc((size_t)target, sizeof *as->snap_x);
		as->snap_mu = calloc((size_t)target, sizeof *as->snap_mu);
		as->snap_tag = calloc((size_t)target, sizeof *as->snap_tag);
		if (as->snap_x == NULL || as->snap_mu == NULL || as->snap_tag == NULL)
			return PCS_ENOMEM;
		if (uv_loop_init(&as->loop) != 0 || uv_mutex_init(&as->inbox_lock) != 0
		    || uv_mutex_init(&as->snap_lock) != 0)
			return PCS_ERUNTIME;
		uv_idle_init(&as->loop, &as->idle);
		uv_async_init(&as->loop, &as->wake, async_wake_cb);
		as->idle.data = as;
		as->wake.data = as;
		atomic_store(&as->clock, 0);
		atomic_store(&as->waiting, false);
	}
	return 0;
}


int pcs_async_start(pcs_network *net)
{
	for (int s = 0; s < net->n_shards; s++) {
		pcs_async_shard *as = net->shards[s].async;

		as->idle_active = true;
		uv_idle_start(&as->idle, async_idle_cb);
		if (uv_thread_create(&as->thread, async_thread, as) != 0)
			return PCS_ERUNTIME;
	}
	return 0;
}


void pcs_async_join(pcs_network *net)
{
	/* Every thread first: a running shard may still wake a stopped one,
	 * which writes to that loop's descriptor until the loop is closed. */
	for (int s = 0; s < net->n_shards; s++)
		uv_thread_join(&net->shards[s].async->thread);
	for (int s = 0; s < net->n_shards; s++)
		uv_loop_close(&net->shards[s].async->loop);
}


void pcs_async_free(pcs_network *net)
{
	for (int s = 0; net->shards != NULL && s < net->n_shards; s++) {
		pcs_async_shard *as = net->shards[s].async;

		if (as == NULL)
			continue;
		uv_mutex_destroy(&as->inbox_lock);
		uv_mutex_destroy(&as->snap_lock);
		free(as->inbox.items);
		free(as->drained.items);
		for (int d = 0; d < PCS_MAX_WORKERS; d++)
			free(as->out[d].items);
		free(as->snap_x);
		free(as->snap_mu);
		free(as->snap_tag);
		free(as);
		net->shards[s].async = NULL;
	}
	net->async = NULL;
}


double pcs_async_read_energy(pcs_network *net, int layer)
{
	pcs_shard *self = pcs_tls_shard;
	double sum = self->energy[layer];

	for (int s = 0; s < net->n_shards; s++) {
		pcs_async_shard *as = net->shards[s].async;

		if (s == self->index)
			continue;
		uv_mutex_lock(&as->snap_lock);
		sum += as->snap_energy[layer];
		uv_mutex_unlock(&as->snap_lock);
	}
	return sum;
}


void pcs_async_read_target(pcs_network *net, double *x, double *mu, uint32_t *tag)
{
	pcs_shard *self = pcs_tls_shard;
	pcs_layer_rt *t = &net->layers[net->target_layer];

	for (int s = 0; s < net->n_shards; s++) {
		pcs_async_shard *as = net->shards[s].async;

		if (s == self->index) {
			for (int i = self->lo[t->index]; i < self->hi[t->index]; i++) {
				x[i] = t->x[i].x;
				mu[i] = t->e != NULL ? t->e[i].mu_first : 0.0;
				tag[i] = t->e != NULL ? t->e[i].first_tag : 0;
			}
			continue;
		}
		uv_mutex_lock(&as->snap_lock);
		for (int i = net->shards[s].lo[t->index]; i < net->shards[s].hi[t->index]; i++) {
			x[i] = as->snap_x[i];
			mu[i] = as->snap_mu[i];
			tag[i] = as->snap_tag[i];
		}
		uv_mutex_unlock(&as->snap_lock);
	}
}
