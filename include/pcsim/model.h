/* SPDX-License-Identifier: MIT */
/*
 * The validated model description: what an INI model file (plus --set
 * overrides) turns into. Every field has passed range checks by the time a
 * pcs_model exists, so the simulator never re-validates user input.
 *
 * Times (dt, tau, presentation, delay) are in model time units; rates are
 * per model time unit. docs/model-files.md documents every key.
 */
#ifndef PCSIM_MODEL_H
#define PCSIM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "pcsim/common.h"

#define PCS_MAX_LAYERS 16
#define PCS_MAX_EDGES 32
#define PCS_NAME_MAX 64
#define PCS_PATH_MAX 1024
#define PCS_MAX_OVERRIDES 64

typedef enum pcs_activation {
	PCS_ACT_LINEAR,
	PCS_ACT_TANH,
	PCS_ACT_SIGMOID,
	PCS_ACT_RELU,
	PCS_ACT_LEAKY_RELU,
} pcs_activation;

typedef enum pcs_clamp {
	PCS_CLAMP_NONE,   /* always free */
	PCS_CLAMP_INPUT,  /* clamped to the sample's features in every phase */
	PCS_CLAMP_TARGET, /* clamped to the one-hot label in training, free at test */
} pcs_clamp;

/* Value a free representational neuron takes when a new sample reaches it. */
typedef enum pcs_start {
	PCS_START_PREDICTION, /* its prediction mu, carried by its error neuron's message */
	PCS_START_ZERO,
	PCS_START_KEEP,       /* keep the settled value of the previous sample */
} pcs_start;

typedef enum pcs_weight_init {
	PCS_WINIT_NORMAL,   /* N(0, gain^2 / fan_in) */
	PCS_WINIT_UNIFORM,  /* U(-gain * sqrt(3 / fan_in), +gain * sqrt(3 / fan_in)), same variance */
	PCS_WINIT_CONSTANT, /* every weight = value */
	PCS_WINIT_IDENTITY, /* value on the diagonal, 0 elsewhere (any shape) */
} pcs_weight_init;

typedef enum pcs_feedback {
	PCS_FEEDBACK_MIRRORED, /* B starts as W^T and follows the same local rule */
	PCS_FEEDBACK_LEARNED,  /* B starts independent and follows the same rule (Kolen-Pollack) */
	PCS_FEEDBACK_RANDOM,   /* B is drawn independently and stays fixed (feedback alignment) */
} pcs_feedback;

/*
 * How a per-neuron parameter is drawn around its mean m with spread s,
 * once per neuron from the run seed:
 *   fixed: m;  uniform: m (1 + s U(-1, 1)), s < 1;
 *   normal: m (1 + s N(0, 1)), redrawn until positive;
 *   lognormal: m exp(s N(0, 1) - s^2 / 2), whose mean is m.
 */
typedef enum pcs_distribution {
	PCS_DIST_FIXED,
	PCS_DIST_UNIFORM,
	PCS_DIST_NORMAL,
	PCS_DIST_LOGNORMAL,
	PCS_DIST_INHERIT,   /* layer keys only: use the [dynamics] setting */
} pcs_distribution;

typedef enum pcs_plasticity {
	PCS_PLASTICITY_CONTINUOUS, /* synapses change whenever learning is on */
	PCS_PLASTICITY_SETTLED,    /* only while the owner's own value has stopped changing */
} pcs_plasticity;

typedef enum pcs_data_source {
	PCS_DATA_IDX,
	PCS_DATA_CSV,
	PCS_DATA_XOR,
} pcs_data_source;

typedef enum pcs_mode {
	PCS_MODE_DETERMINISTIC, /* one loop, virtual time, each neuron on its own clock */
	PCS_MODE_LOCKSTEP,      /* the control: one global step, a barrier after each */
	PCS_MODE_ASYNC,         /* worker threads, one loop and one clock each, no barrier */
} pcs_mode;

typedef enum pcs_learning {
	PCS_LEARNING_CONTINUOUS, /* plasticity runs while the network infers */
	PCS_LEARNING_PHASED,     /* one global weight update at the end of each sample */
} pcs_learning;

typedef struct pcs_layer_spec {
	char name[PCS_NAME_MAX];
	int size;                  /* neurons, >= 1 */
	pcs_activation activation;
	double leak;               /* slope of leaky relu for x < 0, in [0, 1) */
	pcs_clamp clamp;
	double sigma2;             /* error variance, > 0 */
	pcs_start start;
	double dt;                 /* local step of this layer's neurons, time units; 0 = dynamics.dt */
	double tau_x;              /* time constant of this layer's x neurons, time units; 0 = dynamics.tau_x */
	pcs_distribution tau_x_distribution, tau_e_distribution, dt_distribution;
	double tau_x_spread, tau_e_spread, dt_spread; /* NAN = the [dynamics] value */
	double jitter;             /* NAN = dynamics.jitter */
	double noise;              /* NAN = dynamics.noise */
	char lesion[128];          /* neurons silenced: "none", "all" or indexes "I", "I-J", comma-separated */
	double lesion_time;        /* time units from which the lesion applies */
	double start_value;        /* an unpredicted target layer's value at each test sample's start */
	int line;                  /* line of the [layer NAME] header, for messages */
} pcs_layer_spec;

typedef struct pcs_edge_spec {
	int from, to;              /* layer indexes: layer `from` predicts layer `to` */
	pcs_weight_init weight_init;
	double gain;               /* scale of normal/uniform initialisation, >= 0 */
	double value;              /* constant and identity initialisation value */
	double learning_rate;      /* 1 / tau_w, per time unit, >= 0 */
	double decay;              /* lambda, >= 0 */
	double delay;              /* transmission delay of this edge's messages, time units, >= 0 */
	pcs_distribution delay_distribution; /* drawn per sending neuron */
	double delay_spread;
	double loss;               /* probability that a message is lost at one synapse, [0, 1) */
	bool bias;                 /* whether the predicted neurons have a learned bias */
	pcs_feedback feedback;
	int line;
} pcs_edge_spec;

typedef struct pcs_dynamics_spec {
	double dt;                 /* local Euler step of every neuron, time units, > 0 */
	double tau_x;              /* representational time constant, time units, > 0 */
	double tau_e;              /* error time constant, time units; 0 = instantaneous */
	double presentation;       /* time each sample is presented, time units, >= dt */
	double send_threshold;     /* send-on-delta threshold; 0 = send on every step */
	double divergence_limit;   /* |x| or |e| above this marks the run diverged */
	pcs_distribution tau_x_distribution, tau_e_distribution, dt_distribution;
	double tau_x_spread, tau_e_spread, dt_spread;
	double jitter;             /* relative jitter of each step: dt (1 + jitter U(-1, 1)), [0, 1) */
	double noise;              /* sd of additive noise on x, x units per sqrt(time unit) */
	pcs_plasticity plasticity;
	double settle_threshold;   /* settled when |d(value)/dt| is below this, per time unit */
} pcs_dynamics_spec;

typedef struct pcs_runtime_spec {
	pcs_mode mode;
	int workers;               /* async: worker threads, each with a share of every layer */
	double max_skew;           /* async: max clock lead over a worker it exchanges messages with, time units */
} pcs_runtime_spec;

typedef struct pcs_protocol_spec {
	int epochs;                /* training epochs, >= 0 */
	bool test;                 /* run a test pass after training */
	bool shuffle;              /* shuffle training order each epoch, by seed */
	pcs_learning learning;
} pcs_protocol_spec;

typedef struct pcs_data_spec {
	pcs_data_source source;
	char train_images[PCS_PATH_MAX]; /* idx */
	char train_labels[PCS_PATH_MAX];
	char test_images[PCS_PATH_MAX];
	char test_labels[PCS_PATH_MAX];
	char train_csv[PCS_PATH_MAX];    /* csv: feature columns, then the label column */
	char test_csv[PCS_PATH_MAX];
	bool csv_header;                 /* first CSV line contains column names */
	int pool;                        /* idx: average pooling factor, >= 1, divides rows and cols */
	int train_count;                 /* 0 = all */
	int test_count;                  /* 0 = all */
	int xor_repeat;                  /* xor: copies of the 4 patterns per epoch */
	double scale;                    /* idx: pixel value multiplier after /255 */
	bool center;                     /* subtract each feature's training-set mean from both sets */
} pcs_data_spec;

typedef enum pcs_weights_every {
	PCS_WEIGHTS_NEVER,
	PCS_WEIGHTS_EPOCH,  /* at the start of the run and the end of each epoch */
} pcs_weights_every;

typedef struct pcs_trace_spec {
	char db[PCS_PATH_MAX];
	int activity_every;         /* steps between activity rows per neuron; 0 = no activity rows */
	char neurons[512];          /* neuron selection for activity and events, see docs/model-files.md */
	bool events;                /* trace every message the selected neurons send */
	pcs_weights_every weights;
	bool energy;                /* per-layer energy rows at every monitor tick */
} pcs_trace_spec;

typedef struct pcs_model {
	char path[PCS_PATH_MAX];    /* model file path as given */
	char name[PCS_NAME_MAX];
	uint64_t seed;
	int n_layers, n_edges;
	pcs_layer_spec layers[PCS_MAX_LAYERS];
	pcs_edge_spec edges[PCS_MAX_EDGES];
	pcs_dynamics_spec dynamics;
	pcs_runtime_spec runtime;
	pcs_protocol_spec protocol;
	pcs_data_spec data;
	pcs_trace_spec trace;
	char *text;                 /* file text followed by the overrides applied, owned */
} pcs_model;

/*
 * Parses the INI file at path, applies the overrides ("section.key=value",
 * applied in order after the file) and validates the result. On failure
 * returns PCS_EMODEL (or PCS_EIO if the file cannot be read, PCS_ENOMEM)
 * with a message naming the file, line, section, key, the rejected value
 * and what is accepted. On success *model owns its text.
 */
int pcs_model_load(pcs_model *model, const char *path, const char *const *overrides,
		   int n_overrides, pcs_error *err);

/* Same as pcs_model_load, from a string; `origin` names it in messages. */
int pcs_model_parse(pcs_model *model, const char *text, const char *origin,
		    const char *const *overrides, int n_overrides, pcs_error *err);

void pcs_model_free(pcs_model *model);

/* Returns the layer index with this name, or -1. */
int pcs_model_find_layer(const pcs_model *model, const char *name);

/* Returns the lowercase key word ("tanh", "input", ...) for an enum value. */
const char *pcs_activation_name(pcs_activation a);
const char *pcs_clamp_name(pcs_clamp c);

/*
 * Neuron selection: parses a pcs_trace_spec.neurons string against the model
 * ("all", "none", or a comma list of LAYER or LAYER:I-J or LAYER:I items).
 * Sets selected[layer][i] for each neuron index. `selected` is an array of
 * n_layers pointers to arrays of layer size bools, allocated by the caller.
 */
int pcs_model_select_neurons(const pcs_model *model, const char *selection, bool **selected,
			     pcs_error *err);

/* Marks the neurons of layer's lesion key in selected (layer size bools, zeroed). */
int pcs_model_select_lesion(const pcs_model *model, int layer, bool *selected, pcs_error *err);

#endif
