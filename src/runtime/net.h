/* SPDX-License-Identifier: MIT */
/*
 * Internal layout of a network: layers of representational (x) and error
 * (e) neuron actors, the synapse rows they own, and the scheduler they run
 * on. Per-neuron structs are plain hot data; what does not change during a
 * run lives in the layer and edge structs.
 *
 * Ownership: an error neuron owns one W row per incoming edge (over the
 * predicting layer's neurons) and its bias. A representational neuron owns
 * one B row per outgoing edge (over the predicted layer's error neurons).
 * Neurons of a clamp=input layer are never free, so they hold no B rows and
 * error neurons send them nothing.
 *
 * Neuron ids (trace rows): the x neurons of every layer in layer order,
 * then the e neurons of every predicted layer in layer order.
 */
#ifndef PCS_NET_H
#define PCS_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "neuron/row.h"
#include "pcsim/network.h"
#include "runtime/sched.h"

typedef struct pcs_xneuron {
	double x, fx, dfx;
	double tau_inv;       /* 1 / tau_x of this neuron, per time unit */
	int64_t dt;           /* ticks, this neuron's mean step */
	int64_t h;            /* ticks, length of the step now pending (dt with jitter) */
	int64_t lesion_tick;  /* silenced from this tick on; INT64_MAX = never */
	double settle_ref;    /* settled-plasticity detector: value at settle_tick */
	int64_t settle_tick;
	double e_own;         /* last error received from its own error neuron */
	double sent;          /* x at the last message sent, for send-on-delta */
	int64_t t_learn;      /* ticks: plasticity integrated up to this time */
	uint32_t start_tag;   /* tag of the sample it last took a start value (or clamp) for */
	uint32_t out_tag;     /* tag its predictions carry: the last clamp or complete start */
	uint32_t steps;
	bool clamped;
	bool step_pending;
	bool traced;
	bool lesioned;
	bool settled;         /* |dx/dt| below dynamics.settle_threshold at the last step */
	pcs_row *rows;        /* B rows, one per outgoing edge; NULL for input layers */
} pcs_xneuron;

typedef struct pcs_eneuron {
	double e, x_in, mu, bias;
	double tau_inv;       /* 1 / tau_e of this neuron; 0 when instantaneous */
	int64_t dt, h;        /* ticks, as for pcs_xneuron; used when tau_e > 0 */
	double settle_ref;
	int64_t settle_tick;
	double sent;          /* e at the last message sent */
	int64_t t_learn;
	uint32_t tag;         /* newest sample tag among the predictions received */
	uint32_t first_tag;   /* tag of mu_first */
	int fresh;            /* predicting neurons that reported `tag` */
	int fan_in;           /* predicting neurons, over all incoming edges */
	double mu_first;      /* mu at the first recompute after a prediction with a new tag */
	uint32_t steps;
	bool recompute_pending;
	bool traced;
	bool lesioned;
	bool settled;
	pcs_row *rows;        /* W rows, one per incoming edge */
} pcs_eneuron;

typedef struct pcs_layer_rt {
	const pcs_layer_spec *spec;
	int size;
	int index;
	int x_id0, e_id0;     /* first neuron id of each kind; e_id0 = -1 if not predicted */
	pcs_xneuron *x;
	pcs_eneuron *e;       /* NULL when no edge predicts this layer */
	int n_out, n_in;
	int out_edges[PCS_MAX_EDGES], in_edges[PCS_MAX_EDGES];
	int64_t dt;           /* ticks, mean local step of its neurons */
	double tau_x_inv;     /* 1 / tau_x of the layer's mean, per time unit */
	double tau_e_inv;     /* 1 / tau_e; 0 when errors are instantaneous */
	double jitter;        /* relative step jitter, [0, 1) */
	double noise;         /* sd of additive noise on x per sqrt(time unit) */
	int64_t lesion_tick;  /* INT64_MAX when the layer has no lesion */
	double sigma2, sigma2_inv;
	double bias_rate;     /* learning rate of the error neurons' bias; 0 if none */
} pcs_layer_rt;

typedef struct pcs_edge_rt {
	const pcs_edge_spec *spec;
	int from, to;
	int w_row;            /* index of this edge's row in the error neurons' rows */
	int b_row;            /* index in the x neurons' rows; -1 without feedback */
	int64_t delay;        /* ticks, the edge's mean delay */
	int64_t *delay_up;    /* ticks, per predicting neuron: its predictions' delay */
	int64_t *delay_down;  /* ticks, per predicted error neuron: its errors' delay */
	double loss;          /* probability a message is lost at one synapse */
	double *w_store;      /* base and last of every W row: 2 * to_size * from_size */
	uint32_t *w_tag;      /* newest sample tag seen on each W synapse */
	double *b_store;
} pcs_edge_rt;

typedef struct pcs_sample_state {
	int64_t seq;
	int64_t data_index;
	int label;
	int epoch;
	pcs_phase phase;
	int64_t t_on;
	int64_t *history_t;            /* monitor ticks of the current sample */
	double *history_f;             /* total energy F at each of those ticks */
	int history_len, history_cap;
} pcs_sample_state;

#define PCS_MAX_WORKERS 64

/* A message between shards: an event and the tick it is due at. */
typedef struct pcs_remote {
	int64_t tick;
	pcs_event ev;
} pcs_remote;

/*
 * A shard owns a contiguous block [lo, hi) of every layer's neurons (x and
 * e neurons of one index stay together) and everything that changes while
 * they run: the event queue, the counters, the random streams and the
 * partial energies. One thread runs one shard, so nothing here is shared;
 * in async mode shards talk only through their inboxes.
 */
typedef struct pcs_shard {
	pcs_network *net;
	int index;
	int lo[PCS_MAX_LAYERS], hi[PCS_MAX_LAYERS];
	pcs_sched *sched;
	bool learning;                  /* plasticity on; false at test and between phased updates */
	bool diverged;
	bool failed;                    /* an allocation failed mid-run */
	pcs_rng noise_rng, loss_rng, jitter_rng;
	double energy[PCS_MAX_LAYERS];  /* sum of sigma2 e^2 / 2 over the shard's error neurons */
	uint64_t neuron_steps, messages, synaptic_events, events;
	uint64_t messages_lost;         /* synaptic transmissions dropped by edge loss */
	uint64_t starts;                /* start values taken for new samples */
	struct pcs_async_shard *async;  /* NULL unless runtime.mode = async */
} pcs_shard;

/* The shard the calling thread runs; set by the scheduler before any event. */
extern _Thread_local pcs_shard *pcs_tls_shard;

struct pcs_network {
	const pcs_model *model;
	const pcs_dataset *train, *test;
	int n_layers, n_edges;
	pcs_layer_rt layers[PCS_MAX_LAYERS];
	pcs_edge_rt edges[PCS_MAX_EDGES];
	int input_layer, target_layer;  /* target_layer = -1 if none */
	pcs_shard *shards;
	int n_shards;
	pcs_trace *trace;
	bool lockstep;                  /* runtime.mode = lockstep: see lockstep.c */
	double *next_value;             /* lockstep: one slot per neuron id */
	bool trace_events;
	int activity_every;
	double send_threshold;
	double divergence_limit;
	int64_t monitor_dt;
	int trace_error;
	bool settled_plasticity;        /* dynamics.plasticity = settled */
	double settle_threshold;        /* per time unit */
	pcs_row *row_pool;
	struct pcs_async *async;        /* NULL unless runtime.mode = async */
};

/* neuron.c: the actors' behaviour. Each takes the current tick `now`. */
void pcs_x_step(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now);
/* The two halves of a step, for the lockstep scheduler: compute from the
 * current inputs, then (after a barrier) apply and send. */
double pcs_x_next(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now);
void pcs_x_commit(pcs_network *net, pcs_layer_rt *layer, int j, double x, int64_t now);
double pcs_e_next(pcs_network *net, pcs_layer_rt *layer, int i, int64_t now, bool step);
void pcs_e_commit(pcs_network *net, pcs_layer_rt *layer, int i, double e, int64_t now);
void pcs_x_clamp(pcs_network *net, pcs_layer_rt *layer, int j, double value, uint32_t tag,
		 int64_t now);
void pcs_x_unclamp(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now);
/* Sets a free neuron's start value for the sample with this tag, and sends it. */
void pcs_x_start(pcs_network *net, pcs_layer_rt *layer, int j, double value, uint32_t tag,
		 int64_t now);
void pcs_e_update(pcs_network *net, pcs_layer_rt *layer, int i, int64_t now, bool step);
void pcs_deliver_up(pcs_network *net, int edge, int j, double v, uint32_t tag, int64_t now);
void pcs_deliver_down(pcs_network *net, int edge, int i, double e, uint32_t tag, int64_t now);
void pcs_x_advance_learning(pcs_network *net, pcs_layer_rt *layer, pcs_xneuron *xn, int64_t now);
void pcs_e_advance_learning(pcs_network *net, pcs_layer_rt *layer, pcs_eneuron *en, int64_t now);
void pcs_net_push(pcs_network *net, int64_t tick, const pcs_event *ev);

/* lockstep.c: one global step, and the global learning phase. */
void pcs_lockstep_tick(pcs_network *net, int64_t now);
/* neuron.c: silences the layer's neurons whose lesion time is now. */
void pcs_lesion(pcs_network *net, pcs_layer_rt *layer, int64_t now);
void pcs_learning_phase(pcs_network *net, double h);

/*
 * Recomputes the shard's partial energies exactly from its error neurons
 * and returns their total.
 */
double pcs_shard_energy(pcs_shard *sh);

/* Sends ev, due at tick, to the shard that owns neuron idx of layer. */
void pcs_send_to_owner(pcs_network *net, int layer, int idx, int64_t tick, const pcs_event *ev);

/* Sends ev, due at tick, to shard s (not the calling one). */
void pcs_send_to_shard(pcs_network *net, int s, int64_t tick, const pcs_event *ev);

/* Sends ev, due at tick, to every other shard that owns neurons of layer. */
void pcs_send_to_layer(pcs_network *net, int layer, int64_t tick, const pcs_event *ev);

/* Trace calls from shard threads; they serialise on a lock in async mode. */
void pcs_net_trace_event(pcs_network *net, int neuron_id, double t, double value);
void pcs_net_trace_activity(pcs_network *net, int neuron_id, double t, double value);
int pcs_net_trace_sample(pcs_network *net, const pcs_sample_row *row);
void pcs_net_trace_energy(pcs_network *net, int64_t seq, double t, int layer, double value);
int pcs_net_trace_weight(pcs_network *net, int epoch, int edge, int post, int pre, double w);
int pcs_net_trace_angle(pcs_network *net, int epoch, int edge, double degrees);

/* Returns the shard that owns neuron idx of layer. */
int pcs_owner(const pcs_network *net, int layer, int idx);

#endif
