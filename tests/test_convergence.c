/* SPDX-License-Identifier: MIT */
/*
 * Convergence tests of the simulator against mathematics. A single leaky
 * neuron must follow the Euler recursion and approach the exact
 * exponential at first order in dt. A linear chain must settle at its
 * closed-form equilibrium, also with per-layer steps and with transmission
 * delays, while its energy F never rises. XOR must be learned for several
 * seeds.
 *
 * Expected values come from closed forms that the tests compute
 * themselves (a Gaussian elimination for the chain's equilibrium), never
 * from values the simulator printed.
 */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcsim/data.h"
#include "pcsim/model.h"
#include "pcsim/network.h"
#include "pcsim/trace.h"

/* Free variables of the chain's equilibrium system, at most. */
#define CONV_MAX_FREE 64

/* A model, its data sets and the network built from them, after one run. */
struct conv_run {
	pcs_model model;
	pcs_dataset train, test;
	pcs_network *net;
	pcs_run_result result;
	int rc;
	pcs_error err;
};

/* A temporary directory holding one trace database, t.db. */
struct conv_dir {
	char dir[64];
	char db[96];
};


static void conv_dir_make(struct conv_dir *cd)
{
	snprintf(cd->dir, sizeof cd->dir, "/tmp/pcs-conv-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(cd->dir));
	snprintf(cd->db, sizeof cd->db, "%s/t.db", cd->dir);
}


static void conv_dir_remove(const struct conv_dir *cd)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char path[128];

	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		snprintf(path, sizeof path, "%s%s", cd->db, suffixes[i]);
		unlink(path);
	}
	rmdir(cd->dir);
}


/* Loads models/NAME from the source tree with the given overrides. */
static void conv_model_load(pcs_model *model, const char *name, const char *const *overrides,
			    int n_overrides)
{
	const char *root = getenv("PCS_SOURCE_ROOT");
	char path[PCS_PATH_MAX];
	pcs_error err = {0};
	int rc;

	ck_assert_msg(root != NULL, "PCS_SOURCE_ROOT is not set; run the tests through meson");
	snprintf(path, sizeof path, "%s/models/%s", root, name);
	rc = pcs_model_load(model, path, overrides, n_overrides, &err);
	ck_assert_msg(rc == 0, "loading %s: %s", path, err.msg);
}


static void conv_model_parse(pcs_model *model, const char *text)
{
	pcs_error err = {0};
	int rc = pcs_model_parse(model, text, "test", NULL, 0, &err);

	ck_assert_msg(rc == 0, "parsing the test model: %s", err.msg);
}


/*
 * Loads the data of run->model, builds the network and runs it, tracing
 * into db_path when it is not NULL. Leaves the return code in run->rc so
 * that a test can check it.
 */
static void conv_run_model(struct conv_run *run, const char *db_path)
{
	pcs_trace *trace = NULL;
	pcs_error err = {0};
	int rc;

	rc = pcs_data_load(&run->model.data, &run->train, &run->test, &err);
	ck_assert_msg(rc == 0, "loading the data: %s", err.msg);
	rc = pcs_network_create(&run->net, &run->model, &run->train, &run->test, &err);
	ck_assert_msg(rc == 0, "building the network: %s", err.msg);
	if (db_path != NULL) {
		rc = pcs_trace_open(&trace, db_path, &err);
		ck_assert_msg(rc == 0, "opening the trace %s: %s", db_path, err.msg);
	}

	run->rc = pcs_network_run(run->net, trace, "{}", NULL, &run->result, &run->err);

	if (trace != NULL) {
		rc = pcs_trace_close(trace, &err);
		ck_assert_msg(rc == 0, "closing the trace: %s", err.msg);
	}
}


static void conv_run_free(struct conv_run *run)
{
	pcs_network_destroy(run->net);
	pcs_dataset_free(&run->train);
	pcs_dataset_free(&run->test);
	pcs_model_free(&run->model);
}


static sqlite3 *conv_db_open(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);

	ck_assert_msg(rc == SQLITE_OK, "opening %s: %s", path, sqlite3_errmsg(db));
	return db;
}


static sqlite3_stmt *conv_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

	ck_assert_msg(rc == SQLITE_OK, "preparing %s: %s", sql, sqlite3_errmsg(db));
	return stmt;
}


/* Reads t_on and t_off of presentation seq. */
static void conv_sample_window(sqlite3 *db, int seq, double *t_on, double *t_off)
{
	sqlite3_stmt *stmt = conv_prepare(db, "SELECT t_on, t_off FROM samples WHERE seq = ?1");

	sqlite3_bind_int(stmt, 1, seq);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	*t_on = sqlite3_column_double(stmt, 0);
	*t_off = sqlite3_column_double(stmt, 1);
	sqlite3_finalize(stmt);
}


/*
 * One input layer of 2 clamped neurons predicts one free linear neuron y
 * through a constant weight of 0.5, so mu = 0.5 (a + b). Learning and bias
 * are off. With tau_e = 0 and sigma2 = 1, tau dy/dt = -(y - mu).
 */
static void conv_single_neuron_text(char *text, size_t size, double dt, double tau,
				    double presentation)
{
	snprintf(text, size,
		 "[model]\nname = single\nseed = 1\n"
		 "[data]\nsource = xor\n"
		 "[layer input]\nsize = 2\nactivation = linear\nclamp = input\n"
		 "[layer y]\nsize = 1\nactivation = linear\nstart = zero\ntau_x = %.17g\n"
		 "[edge input -> y]\nweight_init = constant\nvalue = 0.5\nlearning_rate = 0\n"
		 "bias = false\n"
		 "[dynamics]\ndt = %.17g\ntau_e = 0\npresentation = %.17g\n"
		 "[protocol]\nepochs = 1\ntest = false\nshuffle = false\n"
		 "[trace]\nactivity_every = 1\nneurons = y\nevents = false\nweights = never\n"
		 "energy = false\n",
		 tau, dt, presentation);
}


/*
 * Runs the single neuron with step dt and checks every activity row of
 * the last presentation, pattern (1, 1) with mu = 1, against the Euler
 * recursion. Returns the maximum distance to the exact exponential.
 *
 * Alignment: every free neuron steps on the global grid k * dt, and
 * P / dt is an integer, so the grid contains t_on. At t_on the protocol
 * event runs first (it was queued a whole presentation earlier), but the
 * error neuron recomputes e only after the step that was already queued
 * for t_on. That step still belongs to the previous sample; then the new
 * tag reaches y, which resets to 0. The first step of the new sample is
 * therefore at t_on + dt and gives y_1, so the row at t_on + k dt contains
 * y_k = mu (1 - (1 - dt / tau)^k). The run ends at t_off before the step
 * queued for t_off, so the rows are k = 1 .. P / dt - 1.
 */
static double conv_single_neuron_max_error(double dt)
{
	const double tau = 2.0, presentation = 20.0, mu = 1.0;
	const double a = dt / tau;
	const int steps = (int)lround(presentation / dt);
	struct conv_dir cd;
	struct conv_run run = {0};
	char text[1024];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	double t_on, t_off, max_error = 0.0;
	int rows = 0;

	conv_dir_make(&cd);
	conv_single_neuron_text(text, sizeof text, dt, tau, presentation);
	conv_model_parse(&run.model, text);
	conv_run_model(&run, cd.db);
	ck_assert_msg(run.rc == 0, "run failed: %s", run.err.msg);
	ck_assert_double_eq(pcs_network_x(run.net, 0, 0), 1.0);
	ck_assert_double_eq(pcs_network_x(run.net, 0, 1), 1.0);

	db = conv_db_open(cd.db);
	conv_sample_window(db, 3, &t_on, &t_off);
	ck_assert_double_eq_tol(t_on, 3.0 * presentation, 1e-9);
	stmt = conv_prepare(db, "SELECT t, value FROM neuron_activity WHERE layer = 'y' AND kind = 'x'"
			   " AND t > ?1 AND t < ?2 ORDER BY t");
	sqlite3_bind_double(stmt, 1, t_on + 0.5 * dt);
	sqlite3_bind_double(stmt, 2, t_off - 0.5 * dt);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		double t = sqlite3_column_double(stmt, 0);
		double y = sqlite3_column_double(stmt, 1);
		long k = lround((t - t_on) / dt);
		double euler = mu * (1.0 - pow(1.0 - a, (double)k));
		double exact = mu * (1.0 - exp(-(t - t_on) / tau));

		rows++;
		ck_assert_msg(k == rows, "dt %g: row %d is at t - t_on = %.9g, expected step %d",
			      dt, rows, t - t_on, rows);
		ck_assert_msg(fabs(y - euler) <= 1e-12,
			      "dt %g, step %ld: y = %.17g but the Euler recursion gives %.17g", dt,
			      k, y, euler);
		if (fabs(y - exact) > max_error)
			max_error = fabs(y - exact);
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	ck_assert_int_eq(rows, steps - 1);

	conv_run_free(&run);
	conv_dir_remove(&cd);
	return max_error;
}


/*
 * Error bound. With a = dt / tau, Euler gives y_k = mu (1 - (1 - a)^k)
 * and the exact solution is mu (1 - q^k) with q = exp(-a). Because
 * 0 <= q - (1 - a) <= a^2 / 2 and q >= 1 - a,
 *     q^k - (1 - a)^k <= k (q - (1 - a)) q^(k - 1) <= k a^2 / 2 exp(-(k - 1) a).
 * With s = k a this is (a / 2) s exp(-s) exp(a) <= (a / 2) exp(a - 1),
 * so max_k |y_k - y(t_k)| <= mu (a / 2) exp(a - 1): first order in dt.
 */
START_TEST(convergence_single_neuron_exponential)
{
	const double tau = 2.0, mu = 1.0;
	const double dts[3] = {0.1, 0.05, 0.025};
	double errors[3];

	for (int i = 0; i < 3; i++)
		errors[i] = conv_single_neuron_max_error(dts[i]);

	for (int i = 0; i < 3; i++) {
		double a = dts[i] / tau;
		double bound = mu * 0.5 * a * exp(a - 1.0);

		ck_assert_msg(errors[i] <= bound, "dt %g: max error %.6g exceeds the Euler bound %.6g",
			      dts[i], errors[i], bound);
		ck_assert_msg(errors[i] > 0.0, "dt %g: zero error is impossible for Euler", dts[i]);
	}
	for (int i = 0; i + 1 < 3; i++) {
		double ratio = errors[i] / errors[i + 1];

		ck_assert_msg(ratio >= 1.8 && ratio <= 2.2,
			      "halving dt from %g to %g divided the max error by %.4f, expected 2 +- 10%%",
			      dts[i], dts[i + 1], ratio);
	}
}
END_TEST


/*
 * Value of a clamped neuron during the last presentation of the linear
 * chain: the input is XOR pattern 3, (1, 1), and the target is the
 * one-hot code of its label 0, (1, 0).
 */
static double conv_chain_clamped_value(const pcs_layer_spec *layer, int i)
{
	static const double input[2] = {1.0, 1.0};
	static const double target[2] = {1.0, 0.0};

	ck_assert_int_lt(i, 2);
	return layer->clamp == PCS_CLAMP_INPUT ? input[i] : target[i];
}


/* Solves a x = b in place by Gaussian elimination with partial pivoting. */
static void conv_solve(int n, double a[CONV_MAX_FREE][CONV_MAX_FREE], double *b, double *x)
{
	for (int col = 0; col < n; col++) {
		int pivot = col;

		for (int r = col + 1; r < n; r++)
			if (fabs(a[r][col]) > fabs(a[pivot][col]))
				pivot = r;
		ck_assert_msg(fabs(a[pivot][col]) > 1e-300, "the equilibrium system is singular");
		if (pivot != col) {
			double tmp = b[col];

			b[col] = b[pivot];
			b[pivot] = tmp;
			for (int c = 0; c < n; c++) {
				tmp = a[col][c];
				a[col][c] = a[pivot][c];
				a[pivot][c] = tmp;
			}
		}
		for (int r = col + 1; r < n; r++) {
			double factor = a[r][col] / a[col][col];

			for (int c = col; c < n; c++)
				a[r][c] -= factor * a[col][c];
			b[r] -= factor * b[col];
		}
	}
	for (int r = n - 1; r >= 0; r--) {
		double sum = b[r];

		for (int c = r + 1; c < n; c++)
			sum -= a[r][c] * x[c];
		x[r] = sum / a[r][r];
	}
}


/*
 * Residual of error neuron i of predicted layer l as an affine function
 * of the free neurons z: r = row . z + constant, where
 * r = x_l,i - sum over incoming edges of (W x_from)_i - b_i.
 */
static double conv_residual_row(const struct conv_run *run, const int *offset, int l, int i,
				double *row, int n_free)
{
	const pcs_model *m = &run->model;
	double constant = -pcs_network_bias(run->net, l, i);

	memset(row, 0, (size_t)n_free * sizeof *row);
	if (offset[l] >= 0)
		row[offset[l] + i] += 1.0;
	else
		constant += conv_chain_clamped_value(&m->layers[l], i);
	for (int k = 0; k < m->n_edges; k++) {
		int from = m->edges[k].from;

		if (m->edges[k].to != l)
			continue;
		for (int j = 0; j < m->layers[from].size; j++) {
			double w = pcs_network_weight(run->net, k, i, j);

			if (offset[from] >= 0)
				row[offset[from] + j] -= w;
			else
				constant -= w * conv_chain_clamped_value(&m->layers[from], j);
		}
	}
	return constant;
}


/* The quadratic energy of a linear model in its free neurons z. */
struct conv_quadratic {
	int n_free;
	int offset[PCS_MAX_LAYERS];        /* first index of layer l in z; -1 if clamped */
	double h[CONV_MAX_FREE][CONV_MAX_FREE]; /* the Hessian of F */
	double g[CONV_MAX_FREE];           /* -dF/dz at z = 0 */
};


/*
 * Builds F = sum over error neurons of r^2 / (2 sigma2) as a quadratic in
 * the free neurons z of a linear model. With r = A z + c, the Hessian is
 * sum A^T A / sigma2 and -dF/dz at 0 is -(sum A^T c / sigma2).
 */
static void conv_chain_quadratic(const struct conv_run *run, struct conv_quadratic *qf)
{
	const pcs_model *m = &run->model;
	double row[CONV_MAX_FREE];

	memset(qf, 0, sizeof *qf);
	for (int l = 0; l < m->n_layers; l++) {
		ck_assert_int_eq(m->layers[l].activation, PCS_ACT_LINEAR);
		qf->offset[l] = m->layers[l].clamp == PCS_CLAMP_NONE ? qf->n_free : -1;
		if (qf->offset[l] >= 0)
			qf->n_free += m->layers[l].size;
	}
	ck_assert_int_le(qf->n_free, CONV_MAX_FREE);

	for (int l = 0; l < m->n_layers; l++) {
		bool predicted = false;

		for (int k = 0; k < m->n_edges; k++)
			predicted |= m->edges[k].to == l;
		for (int i = 0; predicted && i < m->layers[l].size; i++) {
			double c = conv_residual_row(run, qf->offset, l, i, row, qf->n_free);
			double inv = 1.0 / m->layers[l].sigma2;

			for (int p = 0; p < qf->n_free; p++) {
				qf->g[p] -= row[p] * c * inv;
				for (int q = 0; q < qf->n_free; q++)
					qf->h[p][q] += row[p] * row[q] * inv;
			}
		}
	}
}


/*
 * Runs models/linear-chain.ini with the overrides (after the ones that
 * pin its protocol) and checks every free neuron against the equilibrium
 * of the last presentation, relative to the largest |x*|.
 */
static void conv_check_chain(const char *const *extra, int n_extra, double tolerance)
{
	const char *overrides[32] = {"protocol.epochs=1", "protocol.test=false",
				     "protocol.shuffle=false"};
	int n = 3;
	struct conv_run run = {0};
	static struct conv_quadratic qf;
	double z[CONV_MAX_FREE], scale = 0.0;

	for (int i = 0; i < n_extra; i++)
		overrides[n++] = extra[i];
	conv_model_load(&run.model, "linear-chain.ini", overrides, n);
	conv_run_model(&run, NULL);
	ck_assert_msg(run.rc == 0, "run failed: %s", run.err.msg);
	ck_assert_int_eq(run.result.samples, 4);

	/* The equilibrium solves dF/dz = 0, that is h z = g. */
	conv_chain_quadratic(&run, &qf);
	ck_assert_int_gt(qf.n_free, 0);
	conv_solve(qf.n_free, qf.h, qf.g, z);
	for (int p = 0; p < qf.n_free; p++)
		scale = fmax(scale, fabs(z[p]));
	ck_assert_double_gt(scale, 1e-3);

	for (int l = 0; l < run.model.n_layers; l++) {
		for (int i = 0; qf.offset[l] >= 0 && i < run.model.layers[l].size; i++) {
			double x = pcs_network_x(run.net, l, i);
			double expected = z[qf.offset[l] + i];
			double rel = fabs(x - expected) / scale;

			ck_assert_msg(rel < tolerance,
				      "layer %s neuron %d: x = %.12g, equilibrium %.12g, relative error %.3g",
				      run.model.layers[l].name, i, x, expected, rel);
		}
	}
	conv_run_free(&run);
}


START_TEST(convergence_chain_closed_form)
{
	conv_check_chain(NULL, 0, 1e-6);
}
END_TEST


/* Steps of 0.02 and 0.05 in the two hidden layers: the fixed point of
 * every neuron's Euler step is still dF/dx = 0, so the equilibrium is the
 * same. */
START_TEST(convergence_chain_per_layer_dt)
{
	static const char *const extra[] = {"layer h1.dt=0.02", "layer h2.dt=0.05"};

	conv_check_chain(extra, 2, 1e-6);
}
END_TEST


/*
 * Delays only shift when messages arrive, so a settled state is still
 * dF/dx = 0. The model's 60 time units already cover the slower, delayed
 * transient: the new sample's tag reaches h2 only after 0.3 + 0.2 time
 * units and each feedback loop lags by twice its edge's delay.
 */
START_TEST(convergence_chain_delays)
{
	static const char *const extra[] = {"edge input -> h1.delay=0.3", "edge h1 -> h2.delay=0.2",
					    "edge h2 -> out.delay=0.1"};

	conv_check_chain(extra, 3, 1e-6);
}
END_TEST


/*
 * Heterogeneous time constants and steps, jittered steps and a delay per
 * sending neuron change the path but not the fixed point dF/dx = 0. The
 * spreads keep every dt / tau below 0.2, inside Euler's stable range for
 * this chain.
 */
START_TEST(convergence_chain_heterogeneous)
{
	static const char *const extra[] = {
		"dynamics.dt_distribution=uniform", "dynamics.dt_spread=0.4",
		"dynamics.tau_x_distribution=lognormal", "dynamics.tau_x_spread=0.3",
		"dynamics.jitter=0.3",
		"edge input -> h1.delay=0.3", "edge input -> h1.delay_distribution=uniform",
		"edge input -> h1.delay_spread=0.5",
		"edge h1 -> h2.delay=0.2", "edge h1 -> h2.delay_distribution=lognormal",
		"edge h1 -> h2.delay_spread=0.5",
	};

	conv_check_chain(extra, 11, 1e-6);
}
END_TEST


/* The lock-step control reaches the same equilibrium, with and without delays. */
START_TEST(convergence_chain_lockstep)
{
	static const char *const plain[] = {"runtime.mode=lockstep"};
	static const char *const delayed[] = {"runtime.mode=lockstep", "edge input -> h1.delay=0.3",
					      "edge h1 -> h2.delay=0.2", "edge h2 -> out.delay=0.1"};

	conv_check_chain(plain, 1, 1e-6);
	conv_check_chain(delayed, 4, 1e-6);
}
END_TEST


/*
 * Additive noise: y_(k+1) = y_k - a (y_k - mu) + s sqrt(h) N(0, 1) with
 * a = h / tau is an AR(1) process whose stationary variance is
 *     s^2 h / (1 - (1 - a)^2) = s^2 tau / (2 - a).
 * The samples are correlated over about 1 / a = 20 steps, so 40000 steps
 * give about 2000 independent ones and a relative standard error of the
 * variance near sqrt(2 / 2000) = 3%; the test allows 12%.
 */
START_TEST(convergence_noise_variance)
{
	const double dt = 0.1, tau = 2.0, sigma = 0.2, presentation = 4000.0;
	const double expected = sigma * sigma * tau / (2.0 - dt / tau);
	struct conv_dir cd;
	struct conv_run run = {0};
	char text[1200];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	double sum = 0.0, sum_sq = 0.0, t_on, t_off;
	long n = 0;

	conv_dir_make(&cd);
	conv_single_neuron_text(text, sizeof text, dt, tau, presentation);
	conv_model_parse(&run.model, text);
	run.model.layers[1].noise = sigma;
	conv_run_model(&run, cd.db);
	ck_assert_msg(run.rc == 0, "run failed: %s", run.err.msg);

	db = conv_db_open(cd.db);
	conv_sample_window(db, 3, &t_on, &t_off);
	stmt = conv_prepare(db, "SELECT value FROM neuron_activity WHERE layer = 'y' AND kind = 'x'"
			   " AND t > ?1 AND t < ?2");
	/* Skip the first 20 tau of the relaxation from 0. */
	sqlite3_bind_double(stmt, 1, t_on + 20.0 * tau);
	sqlite3_bind_double(stmt, 2, t_off);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		double y = sqlite3_column_double(stmt, 0);

		sum += y;
		sum_sq += y * y;
		n++;
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);

	ck_assert_int_gt(n, 30000);
	ck_assert_double_eq_tol(sum / n, 1.0, 0.05);
	ck_assert_double_eq_tol((sum_sq - sum * sum / n) / (n - 1), expected, 0.12 * expected);
	conv_run_free(&run);
	conv_dir_remove(&cd);
}
END_TEST


/* A lesioned layer is silenced: its neurons end at 0 with zero error. */
START_TEST(convergence_lesion_silences)
{
	static const char *const extra[] = {"protocol.epochs=1", "protocol.test=false",
					    "layer h1.lesion=1-2", "layer h1.lesion_time=30"};
	struct conv_run run = {0};

	conv_model_load(&run.model, "linear-chain.ini", extra, 4);
	conv_run_model(&run, NULL);
	ck_assert_msg(run.rc == 0, "run failed: %s", run.err.msg);
	ck_assert_double_eq(pcs_network_x(run.net, 1, 1), 0.0);
	ck_assert_double_eq(pcs_network_x(run.net, 1, 2), 0.0);
	ck_assert_double_eq(pcs_network_e(run.net, 1, 1), 0.0);
	ck_assert_double_eq(pcs_network_e(run.net, 1, 2), 0.0);
	ck_assert_double_ne(pcs_network_x(run.net, 1, 0), 0.0);
	ck_assert_double_ne(pcs_network_x(run.net, 1, 3), 0.0);
	conv_run_free(&run);
}
END_TEST


/* Lost messages are counted; without loss none are. */
START_TEST(convergence_loss_counted)
{
	static const char *const lossy[] = {"protocol.epochs=20", "edge hidden -> label.loss=0.2"};
	struct conv_run run = {0};

	conv_model_load(&run.model, "xor.ini", lossy, 2);
	conv_run_model(&run, NULL);
	ck_assert_msg(run.rc == 0, "run failed: %s", run.err.msg);
	ck_assert_uint_gt(run.result.messages_lost, 0);
	/* hidden -> label carries 8 x 2 synapses per step out of fewer than
	 * 8 x 2 + 2 x 8 + 20 edge and local deliveries, so at most about 20%
	 * of all synaptic events can be lost. */
	ck_assert_double_lt((double)run.result.messages_lost / (double)run.result.synaptic_events, 0.2);
	conv_run_free(&run);

	memset(&run, 0, sizeof run);
	conv_model_load(&run.model, "xor.ini", lossy, 1);
	conv_run_model(&run, NULL);
	ck_assert_uint_eq(run.result.messages_lost, 0);
	conv_run_free(&run);
}
END_TEST


/*
 * Worker threads with their own clocks change when messages arrive, never
 * the fixed point: 1, 2 and 4 workers, plain, with delays and with a step
 * drawn per neuron reach the closed-form equilibrium. A message between
 * workers can arrive up to runtime.max_skew late, which adds a random
 * delay to every feedback loop. With 4 workers on 2 cores and a skew of
 * 0.5, the chain was seen ringing at up to 5e-5 after 60 time units, so
 * these cases bound the skew to one step (0.05).
 */
START_TEST(convergence_chain_async)
{
	static const char *const counts[] = {"runtime.workers=1", "runtime.workers=2",
					     "runtime.workers=4"};

	for (int w = 0; w < 3; w++) {
		const char *plain[] = {"runtime.mode=async", counts[w], "runtime.max_skew=0.05"};
		const char *delayed[] = {"runtime.mode=async", counts[w], "runtime.max_skew=0.05",
					 "edge input -> h1.delay=0.3", "edge h1 -> h2.delay=0.2",
					 "edge h2 -> out.delay=0.1"};
		const char *varied[] = {"runtime.mode=async", counts[w], "runtime.max_skew=0.05",
					"dynamics.dt_distribution=uniform", "dynamics.dt_spread=0.4",
					"dynamics.jitter=0.3"};

		conv_check_chain(plain, 3, 1e-6);
		conv_check_chain(delayed, 6, 1e-6);
		conv_check_chain(varied, 6, 1e-6);
	}
}
END_TEST


/*
 * Learned feedback (Kolen-Pollack): B and W^T receive the same Hebbian term
 * and both decay, so their difference shrinks by 1 - rate h decay at every
 * step while the shared part grows. In lock-step mode both sides see the
 * same values, and the angle falls at every epoch: from near-orthogonal
 * random starts to below 15 degrees within 60 samples.
 */
START_TEST(convergence_feedback_learned_aligns)
{
	static const char *const overrides[] = {"runtime.mode=lockstep", "protocol.epochs=40",
		"edge hidden -> label.feedback=learned", "edge hidden -> label.decay=0.1",
		"trace.activity_every=0", "trace.events=false"};
	struct conv_dir cd;
	struct conv_run run = {0};
	sqlite3 *db;
	sqlite3_stmt *stmt;
	double previous = 180.0;
	int epochs = 0, aligned_at = -1;

	conv_dir_make(&cd);
	conv_model_load(&run.model, "xor.ini", overrides, 6);
	conv_run_model(&run, cd.db);
	ck_assert_msg(run.rc == 0, "run failed: %s", run.err.msg);

	db = conv_db_open(cd.db);
	stmt = conv_prepare(db, "SELECT epoch, degrees FROM feedback_angles ORDER BY epoch");
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		int epoch = sqlite3_column_int(stmt, 0);
		double degrees = sqlite3_column_double(stmt, 1);

		ck_assert_int_eq(epoch, epochs);
		if (epoch == 0)
			ck_assert_double_gt(degrees, 45.0);
		else
			ck_assert_msg(degrees < previous, "epoch %d: angle %.4f after %.4f", epoch,
				      degrees, previous);
		if (aligned_at < 0 && degrees < 15.0)
			aligned_at = epoch;
		previous = degrees;
		epochs++;
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	ck_assert_int_eq(epochs, 41);
	ck_assert_int_ge(aligned_at, 1);
	ck_assert_int_le(aligned_at * 4, 60);
	ck_assert_double_lt(run.result.feedback_angle[1], 1.0);
	conv_run_free(&run);
	conv_dir_remove(&cd);
}
END_TEST


/* Fixed random feedback (feedback alignment) still learns XOR. */
START_TEST(convergence_feedback_random_learns)
{
	for (int seed = 1; seed <= 3; seed++) {
		char seed_override[32];
		const char *overrides[2] = {seed_override, "edge hidden -> label.feedback=random"};
		struct conv_run run = {0};
		double b_start, b_end;

		snprintf(seed_override, sizeof seed_override, "model.seed=%d", seed);
		conv_model_load(&run.model, "xor.ini", overrides, 2);
		ck_assert_int_eq(pcs_network_create(&run.net, &run.model, NULL, NULL, NULL), 0);
		b_start = pcs_network_feedback(run.net, 1, 0, 0);
		pcs_network_destroy(run.net);
		run.net = NULL;
		conv_run_model(&run, NULL);
		ck_assert_msg(run.rc == 0, "seed %d: run failed: %s", seed, run.err.msg);
		ck_assert_msg(run.result.test_accuracy == 1.0, "seed %d: test accuracy %g", seed,
			      run.result.test_accuracy);
		b_end = pcs_network_feedback(run.net, 1, 0, 0);
		ck_assert_double_eq(b_start, b_end);
		ck_assert_double_gt(run.result.feedback_angle[1], 1.0);
		conv_run_free(&run);
	}
}
END_TEST


/*
 * Mirrored feedback in lock-step mode: B and W^T start equal and receive
 * the same updates from the same values, so they stay equal. Each is kept
 * as scale * base + drive * value in its own row, which rounds differently
 * from the other, so the check allows 1e-12 relative instead of bit
 * equality.
 */
START_TEST(convergence_feedback_mirrored_exact)
{
	static const char *const overrides[] = {"runtime.mode=lockstep", "protocol.epochs=50",
		"edge hidden -> label.decay=0.05"};
	struct conv_run run = {0};
	double worst = 0.0, largest = 0.0;

	conv_model_load(&run.model, "xor.ini", overrides, 3);
	conv_run_model(&run, NULL);
	ck_assert_msg(run.rc == 0, "run failed: %s", run.err.msg);
	for (int i = 0; i < 2; i++) {
		for (int j = 0; j < 8; j++) {
			double w = pcs_network_weight(run.net, 1, i, j);
			double b = pcs_network_feedback(run.net, 1, i, j);

			worst = fmax(worst, fabs(w - b));
			largest = fmax(largest, fabs(w));
		}
	}
	ck_assert_double_gt(largest, 0.1);
	ck_assert_double_lt(worst, 1e-12 * largest);
	conv_run_free(&run);
}
END_TEST


/* Learning that waits for local equilibrium still learns XOR. */
START_TEST(convergence_settled_plasticity_learns)
{
	for (int seed = 1; seed <= 3; seed++) {
		char seed_override[32];
		const char *overrides[2] = {seed_override, "dynamics.plasticity=settled"};
		struct conv_run run = {0};

		snprintf(seed_override, sizeof seed_override, "model.seed=%d", seed);
		conv_model_load(&run.model, "xor.ini", overrides, 2);
		conv_run_model(&run, NULL);
		ck_assert_msg(run.rc == 0, "seed %d: run failed: %s", seed, run.err.msg);
		ck_assert_msg(run.result.test_accuracy == 1.0, "seed %d: test accuracy %g", seed,
			      run.result.test_accuracy);
		conv_run_free(&run);
	}
}
END_TEST


/* Total energy F at one monitor tick of one presentation. */
struct conv_energy_tick {
	int64_t seq;
	double t, f;
};


/*
 * Reads F (the sum of the layers' rows) at every monitor tick after each
 * presentation's t_on, ordered by presentation and time. Returns the tick
 * count and sets *ticks to a malloc'ed array.
 */
static int conv_read_energy(const char *path, struct conv_energy_tick **ticks)
{
	sqlite3 *db = conv_db_open(path);
	sqlite3_stmt *stmt = conv_prepare(db, "SELECT e.seq, e.t, SUM(e.value) FROM energy e"
					  " JOIN samples s ON s.run_id = e.run_id AND s.seq = e.seq"
					  " WHERE e.t > s.t_on GROUP BY e.seq, e.t ORDER BY e.seq, e.t");
	int n = 0, cap = 1024;

	*ticks = malloc((size_t)cap * sizeof **ticks);
	ck_assert_ptr_nonnull(*ticks);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (n == cap) {
			cap *= 2;
			*ticks = realloc(*ticks, (size_t)cap * sizeof **ticks);
			ck_assert_ptr_nonnull(*ticks);
		}
		(*ticks)[n].seq = sqlite3_column_int64(stmt, 0);
		(*ticks)[n].t = sqlite3_column_double(stmt, 1);
		(*ticks)[n].f = sqlite3_column_double(stmt, 2);
		n++;
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return n;
}


/*
 * Checks F within every presentation: it must not rise by more than 1e-12
 * relative between consecutive monitor ticks after t_on, and must fall
 * overall. With tau_e = 0 and learning off (so B = W^T), every free neuron
 * follows -dF/dx, and an Euler step h = dt / tau_x of gradient descent on
 * a quadratic decreases F whenever h < 2 / (largest eigenvalue of the
 * Hessian). The test checks that condition with the Gershgorin bound.
 */
START_TEST(convergence_energy_nonincreasing)
{
	static const char *const overrides[] = {"protocol.epochs=1", "protocol.test=false",
						"dynamics.dt=0.01", "dynamics.presentation=20",
						"trace.energy=true"};
	static struct conv_quadratic qf;
	struct conv_dir cd;
	struct conv_run run = {0};
	struct conv_energy_tick *ticks;
	double gershgorin = 0.0;
	int n, samples = 0;

	conv_dir_make(&cd);
	conv_model_load(&run.model, "linear-chain.ini", overrides, 5);
	conv_run_model(&run, cd.db);
	ck_assert_msg(run.rc == 0, "run failed: %s", run.err.msg);

	conv_chain_quadratic(&run, &qf);
	for (int p = 0; p < qf.n_free; p++) {
		double row_sum = 0.0;

		for (int q = 0; q < qf.n_free; q++)
			row_sum += fabs(qf.h[p][q]);
		gershgorin = fmax(gershgorin, row_sum);
	}
	ck_assert_msg(0.01 / run.model.dynamics.tau_x * gershgorin < 2.0,
		      "the step is too large for a guaranteed descent: Hessian bound %g", gershgorin);

	n = conv_read_energy(cd.db, &ticks);
	for (int start = 0, end; start < n; start = end) {
		for (end = start; end < n && ticks[end].seq == ticks[start].seq; end++)
			;
		ck_assert_int_gt(end - start, 100);
		for (int k = start + 1; k < end; k++)
			ck_assert_msg(ticks[k].f <= ticks[k - 1].f * (1.0 + 1e-12),
				      "seq %lld, t = %.6f: F rose from %.17g to %.17g",
				      (long long)ticks[k].seq, ticks[k].t, ticks[k - 1].f, ticks[k].f);
		ck_assert_msg(ticks[end - 1].f < 0.99 * ticks[start].f,
			      "seq %lld: F fell only from %.12g to %.12g", (long long)ticks[start].seq,
			      ticks[start].f, ticks[end - 1].f);
		samples++;
	}
	ck_assert_int_eq(samples, 4);

	free(ticks);
	conv_run_free(&run);
	conv_dir_remove(&cd);
}
END_TEST


START_TEST(convergence_xor_learned)
{
	for (int seed = 1; seed <= 5; seed++) {
		struct conv_run run = {0};
		char seed_override[32];
		const char *overrides[1] = {seed_override};

		snprintf(seed_override, sizeof seed_override, "model.seed=%d", seed);
		conv_model_load(&run.model, "xor.ini", overrides, 1);
		conv_run_model(&run, NULL);
		ck_assert_msg(run.rc == 0, "seed %d: run failed: %s", seed, run.err.msg);
		ck_assert_int_eq(run.result.test_count, 4);
		ck_assert_msg(run.result.test_accuracy == 1.0,
			      "seed %d: test accuracy %.2f, expected 1.0", seed,
			      run.result.test_accuracy);
		conv_run_free(&run);
	}
}
END_TEST


static Suite *convergence_suite(void)
{
	Suite *suite = suite_create("convergence");
	TCase *single = tcase_create("single");
	TCase *chain = tcase_create("chain");
	TCase *learning = tcase_create("learning");

	tcase_add_test(single, convergence_single_neuron_exponential);
	suite_add_tcase(suite, single);

	tcase_add_test(chain, convergence_chain_closed_form);
	tcase_add_test(chain, convergence_chain_per_layer_dt);
	tcase_add_test(chain, convergence_chain_delays);
	tcase_add_test(chain, convergence_energy_nonincreasing);
	tcase_add_test(chain, convergence_chain_heterogeneous);
	tcase_add_test(chain, convergence_chain_lockstep);
	tcase_add_test(chain, convergence_chain_async);
	tcase_add_test(chain, convergence_lesion_silences);
	suite_add_tcase(suite, chain);

	tcase_add_test(learning, convergence_xor_learned);
	tcase_add_test(learning, convergence_loss_counted);
	tcase_add_test(learning, convergence_settled_plasticity_learns);
	tcase_add_test(learning, convergence_feedback_learned_aligns);
	tcase_add_test(learning, convergence_feedback_random_learns);
	tcase_add_test(learning, convergence_feedback_mirrored_exact);
	tcase_add_test(single, convergence_noise_variance);
	suite_add_tcase(suite, learning);
	return suite;
}


int main(void)
{
	SRunner *runner = srunner_create(convergence_suite());
	int failures;

	srunner_run_all(runner, CK_NORMAL);
	failures = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
