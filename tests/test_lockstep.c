/* SPDX-License-Identifier: MIT */
/*
 * Lockstep mode against a dense synchronous reference: plain arrays and
 * loops over a chain of layers L0 -> L1 -> ... -> Ln-1, no actors, no
 * messages, no lazy rows. Both run the same schedule:
 *
 *   at every tick t = k dt:
 *     learning over [t - dt, t] with the values that held during it
 *       (continuous), or one update with h = presentation at the end of
 *       each training sample (phased);
 *     at a sample boundary: clamp the input, and the target in training;
 *     every free x computes x + dt / tau_x (-e + f'(x) B e_next) from the
 *       previous values, then all commit;
 *     errors e_l = (x_l - W_l f(x_(l-1)) - b_l) / sigma2_l in layer order;
 *       at a sample's first tick a free layer takes its prediction when its
 *       error is computed, and the errors are computed again.
 *
 * Activities, W, b and B must agree to rounding after several samples.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcsim/data.h"
#include "pcsim/model.h"
#include "pcsim/network.h"

#define REF_MAX_LAYERS 4
#define REF_MAX_WIDTH 16

static const char lockstep_model[] =
	"[model]\nname = lockstep-ref\nseed = 3\n"
	"[data]\nsource = xor\nxor_repeat = 2\n"
	"[layer input]\nsize = 2\nactivation = tanh\nclamp = input\n"
	"[layer hidden]\nsize = 6\nactivation = tanh\nsigma2 = 0.7\n"
	"[layer top]\nsize = 5\nactivation = sigmoid\nsigma2 = 1.5\n"
	"[layer label]\nsize = 2\nactivation = tanh\nclamp = target\nsigma2 = 2.0\n"
	"[edge input -> hidden]\nlearning_rate = 0.3\n"
	"[edge hidden -> top]\nlearning_rate = 0.2\n"
	"[edge top -> label]\nlearning_rate = 0.25\n"
	"[dynamics]\ndt = 0.1\ntau_x = 0.8\ntau_e = 0\npresentation = 2.0\n"
	"[runtime]\nmode = lockstep\n"
	"[protocol]\nepochs = 2\ntest = true\nshuffle = false\n"
	"[trace]\nweights = never\n";

typedef struct ref_net {
	int n;                                   /* layers */
	int size[REF_MAX_LAYERS];
	pcs_activation act[REF_MAX_LAYERS];
	double sigma2[REF_MAX_LAYERS], rate[REF_MAX_LAYERS];
	bool clamped[REF_MAX_LAYERS];
	double x[REF_MAX_LAYERS][REF_MAX_WIDTH], e[REF_MAX_LAYERS][REF_MAX_WIDTH];
	double mu[REF_MAX_LAYERS][REF_MAX_WIDTH], b[REF_MAX_LAYERS][REF_MAX_WIDTH];
	/* W[l][i][j]: layer l-1 neuron j predicts layer l neuron i; B[l][j][i] its feedback. */
	double W[REF_MAX_LAYERS][REF_MAX_WIDTH][REF_MAX_WIDTH];
	double B[REF_MAX_LAYERS][REF_MAX_WIDTH][REF_MAX_WIDTH];
} ref_net;


static double ref_f(pcs_activation a, double x)
{
	switch (a) {
	case PCS_ACT_TANH:
		return tanh(x);
	case PCS_ACT_SIGMOID:
		return 1.0 / (1.0 + exp(-x));
	default:
		return x;
	}
}


static double ref_df(pcs_activation a, double x)
{
	double s;

	switch (a) {
	case PCS_ACT_TANH:
		return 1.0 - tanh(x) * tanh(x);
	case PCS_ACT_SIGMOID:
		s = 1.0 / (1.0 + exp(-x));
		return s * (1.0 - s);
	default:
		return 1.0;
	}
}


/* Hebbian step of length h on W, b and B with the current values. */
static void ref_learn(ref_net *r, double h)
{
	for (int l = 1; l < r->n; l++) {
		for (int i = 0; i < r->size[l]; i++) {
			for (int j = 0; j < r->size[l - 1]; j++) {
				double dw = r->rate[l] * h * r->e[l][i] * ref_f(r->act[l - 1], r->x[l - 1][j]);

				r->W[l][i][j] += dw;
				if (l - 1 > 0)
					r->B[l][j][i] += dw;
			}
			/* The bias follows the rate of the layer's only incoming edge. */
			r->b[l][i] += r->rate[l] * h * r->e[l][i];
		}
	}
}


/* Errors in layer order; at a sample start, free layers take their prediction. */
static void ref_errors(ref_net *r, bool sample_start)
{
	for (int l = 1; l < r->n; l++) {
		for (int i = 0; i < r->size[l]; i++) {
			double mu = r->b[l][i];

			for (int j = 0; j < r->size[l - 1]; j++)
				mu += r->W[l][i][j] * ref_f(r->act[l - 1], r->x[l - 1][j]);
			r->mu[l][i] = mu;
			r->e[l][i] = (r->x[l][i] - mu) / r->sigma2[l];
			if (sample_start && !r->clamped[l])
				r->x[l][i] = mu;
		}
	}
}


static void ref_step(ref_net *r, double dt, double tau)
{
	double next[REF_MAX_LAYERS][REF_MAX_WIDTH];

	for (int l = 1; l < r->n; l++) {
		for (int j = 0; j < r->size[l] && !r->clamped[l]; j++) {
			double fb = 0.0;

			for (int i = 0; l + 1 < r->n && i < r->size[l + 1]; i++)
				fb += r->B[l + 1][j][i] * r->e[l + 1][i];
			next[l][j] = r->x[l][j]
				+ dt / tau * (-r->e[l][j] + ref_df(r->act[l], r->x[l][j]) * fb);
		}
	}
	for (int l = 1; l < r->n; l++)
		for (int j = 0; j < r->size[l] && !r->clamped[l]; j++)
			r->x[l][j] = next[l][j];
}


static void ref_present(ref_net *r, const pcs_dataset *set, int index, bool train)
{
	int top = r->n - 1;

	for (int j = 0; j < r->size[0]; j++)
		r->x[0][j] = set->features[index * set->dim + j];
	r->clamped[top] = train;
	for (int i = 0; train && i < r->size[top]; i++)
		r->x[top][i] = i == set->labels[index] ? 1.0 : 0.0;
}


/* Runs the schedule of the file comment over every sample of the protocol. */
static void ref_run(ref_net *r, const pcs_model *m, const pcs_dataset *train,
		    const pcs_dataset *test)
{
	int ticks = (int)llround(m->dynamics.presentation / m->dynamics.dt);
	int n_train = m->protocol.epochs * train->count;
	int total = n_train + test->count;
	bool phased = m->protocol.learning == PCS_LEARNING_PHASED;

	for (int s = 0; s <= total; s++) {
		bool was_training = s > 0 && s - 1 < n_train;

		if (was_training && !phased)
			ref_learn(r, m->dynamics.dt);
		if (was_training && phased)
			ref_learn(r, m->dynamics.presentation);
		if (s == total)
			break;
		if (s < n_train)
			ref_present(r, train, s % train->count, true);
		else
			ref_present(r, test, s - n_train, false);

		for (int k = 0; k < ticks; k++) {
			if (k > 0 && s < n_train && !phased)
				ref_learn(r, m->dynamics.dt);
			ref_step(r, m->dynamics.dt, m->dynamics.tau_x);
			ref_errors(r, k == 0);
			if (k == 0)
				ref_errors(r, false);
		}
	}
}


static void ref_init(ref_net *r, const pcs_model *m, const pcs_network *net)
{
	memset(r, 0, sizeof *r);
	r->n = m->n_layers;
	for (int l = 0; l < r->n; l++) {
		r->size[l] = m->layers[l].size;
		r->act[l] = m->layers[l].activation;
		r->sigma2[l] = m->layers[l].sigma2;
		r->clamped[l] = m->layers[l].clamp != PCS_CLAMP_NONE;
	}
	for (int k = 0; k < m->n_edges; k++) {
		int l = m->edges[k].to;

		ck_assert_int_eq(m->edges[k].from, l - 1);
		r->rate[l] = m->edges[k].learning_rate;
		for (int i = 0; i < r->size[l]; i++)
			for (int j = 0; j < r->size[l - 1]; j++) {
				r->W[l][i][j] = pcs_network_weight(net, k, i, j);
				r->B[l][j][i] = r->W[l][i][j];
			}
	}
}


static double rel_diff(double a, double b)
{
	return fabs(a - b) / fmax(1.0, fabs(b));
}


/* Runs the model through pcsim and the reference; returns the max deviation. */
static double lockstep_max_deviation(const char *learning)
{
	char override[64];
	const char *overrides[1] = {override};
	pcs_model model;
	pcs_dataset train, test;
	pcs_network *net;
	pcs_run_result result;
	pcs_error err = {0};
	ref_net *ref = malloc(sizeof *ref);
	double worst = 0.0;

	snprintf(override, sizeof override, "protocol.learning=%s", learning);
	ck_assert_msg(pcs_model_parse(&model, lockstep_model, "lockstep-ref", overrides, 1, &err) == 0,
		      "%s", err.msg);
	ck_assert_int_eq(pcs_data_load(&model.data, &train, &test, &err), 0);
	ck_assert_int_eq(pcs_network_create(&net, &model, &train, &test, &err), 0);
	ref_init(ref, &model, net);
	ck_assert_msg(pcs_network_run(net, NULL, "{}", NULL, &result, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(result.samples, 2 * 8 + 4);
	ref_run(ref, &model, &train, &test);

	for (int l = 0; l < model.n_layers; l++)
		for (int i = 0; i < ref->size[l]; i++)
			worst = fmax(worst, rel_diff(pcs_network_x(net, l, i), ref->x[l][i]));
	for (int k = 0; k < model.n_edges; k++) {
		int l = model.edges[k].to;

		for (int i = 0; i < ref->size[l]; i++) {
			worst = fmax(worst, rel_diff(pcs_network_bias(net, l, i), ref->b[l][i]));
			for (int j = 0; j < ref->size[l - 1]; j++) {
				worst = fmax(worst, rel_diff(pcs_network_weight(net, k, i, j), ref->W[l][i][j]));
				if (l - 1 > 0)
					worst = fmax(worst, rel_diff(pcs_network_feedback(net, k, i, j),
								     ref->B[l][j][i]));
			}
		}
	}
	free(ref);
	pcs_network_destroy(net);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
	pcs_model_free(&model);
	return worst;
}


START_TEST(lockstep_matches_dense_continuous)
{
	ck_assert_double_lt(lockstep_max_deviation("continuous"), 1e-10);
}
END_TEST


START_TEST(lockstep_matches_dense_phased)
{
	ck_assert_double_lt(lockstep_max_deviation("phased"), 1e-10);
}
END_TEST


static Suite *lockstep_suite(void)
{
	Suite *s = suite_create("lockstep");
	TCase *tc = tcase_create("reference");

	tcase_add_test(tc, lockstep_matches_dense_continuous);
	tcase_add_test(tc, lockstep_matches_dense_phased);
	suite_add_tcase(s, tc);
	return s;
}


int main(void)
{
	SRunner *sr = srunner_create(lockstep_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
