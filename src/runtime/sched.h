/* SPDX-License-Identifier: MIT */
/*
 * The virtual-time event queue of the deterministic scheduler.
 *
 * Time is an int64 count of ticks, PCS_TICKS_PER_UNIT per model time unit,
 * so that steps of equal size land on exactly equal times and ties are
 * real ties, not rounding accidents.
 *
 * Ordering invariant: events run in (tick, sequence number) order, where
 * the sequence number is the order of sched_push calls. Events of equal
 * tick therefore run first in, first out, including events pushed for the
 * current tick while it is being processed (they run after every event
 * already queued for it).
 *
 * Structure: one bucket per distinct pending tick, each a FIFO array. A
 * binary min-heap orders the buckets, and a hash table finds the bucket of
 * a tick. When most neurons share a step size there are few buckets, so a
 * push is O(1) and the heap cost is paid once per distinct time, not once
 * per event.
 */
#ifndef PCS_SCHED_H
#define PCS_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#define PCS_TICKS_PER_UNIT 1000000000LL

typedef enum pcs_event_kind {
	PCS_EV_STEP_X,      /* representational neuron `target` takes a local step */
	PCS_EV_STEP_E,      /* error neuron `target` takes a local step (tau_e > 0) */
	PCS_EV_RECOMPUTE_E, /* instantaneous error neuron `target` recomputes e */
	PCS_EV_DELIVER_UP,  /* delayed f(x) of x neuron `target` on edge `edge` */
	PCS_EV_DELIVER_DOWN,/* delayed e of error neuron `target` on edge `edge` */
	PCS_EV_PROTOCOL,    /* the stimulus/protocol actor's next action */
	PCS_EV_MONITOR,     /* the energy monitor's tick */
	PCS_EV_LOCKSTEP,    /* lockstep mode: one global step of every neuron */
	PCS_EV_LESION,      /* layer `edge` silences its lesioned neurons */
	PCS_EV_CLAMP,       /* clamp neuron `target` of layer `edge` to value (tag) */
	PCS_EV_UNCLAMP,     /* free neuron `target` of layer `edge` */
	PCS_EV_LEARNING_OFF,/* the receiving shard turns plasticity off */
	PCS_EV_EPOCH_END,   /* the receiving shard writes its weights for epoch `target` */
	PCS_EV_START,       /* neuron `target` of layer `edge` starts a sample at value (tag) */
} pcs_event_kind;

typedef struct pcs_event {
	uint8_t kind;
	uint16_t edge;
	uint32_t target;
	uint32_t tag;       /* sample tag carried by a message */
	double value;
	double aux;
} pcs_event;

typedef struct pcs_sched pcs_sched;

pcs_sched *pcs_sched_create(void);
void pcs_sched_destroy(pcs_sched *s);

/* Queues ev at tick (>= the current time). Returns 0 or PCS_ENOMEM. */
int pcs_sched_push(pcs_sched *s, int64_t tick, const pcs_event *ev);

/* Takes the next event into *ev and advances the current time; false when empty. */
bool pcs_sched_pop(pcs_sched *s, pcs_event *ev);

int64_t pcs_sched_now(const pcs_sched *s);
/* Tick of the next pending event, or INT64_MAX when empty. */
int64_t pcs_sched_next_tick(pcs_sched *s);

static inline int64_t pcs_ticks(double t)
{
	return (int64_t)(t * (double)PCS_TICKS_PER_UNIT + (t >= 0 ? 0.5 : -0.5));
}

static inline double pcs_time(int64_t tick)
{
	return (double)tick / (double)PCS_TICKS_PER_UNIT;
}

#endif
