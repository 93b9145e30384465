/* SPDX-License-Identifier: MIT */
/*
 * `pcsim generate`: loads the weights of a finished run from its trace
 * database, clamps the label layer, frees the sensory layer, keeps the
 * weights fixed and relaxes. The settled sensory layers go to a PNG grid
 * (one row per label, one column per sample) and to the `generated` table.
 */
#include <math.h>
#include <png.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pcsim/data.h"
#include "pcsim/network.h"

#define GENERATE_ZOOM 4  /* each pixel becomes a ZOOM x ZOOM block in the PNG */
#define GENERATE_GAP 2   /* pixels between cells */

static const char generate_usage[] =
	"usage: pcsim generate MODEL --from DB [--run ID] --label K|all [--count N]\n"
	"                      [--png FILE] [--duration T] [--set SECTION.KEY=VALUE]...\n"
	"\n"
	"Loads the weights of a finished run of MODEL from the trace database DB,\n"
	"clamps the label (target) layer to the one-hot of each requested label,\n"
	"frees the sensory (input) layer, keeps the weights fixed and relaxes for T\n"
	"time units. The settled sensory layers are written to the `generated`\n"
	"table of DB and, with --png, as a PNG grid: one row per label, one column\n"
	"per sample, each pixel shown as a 4 x 4 block.\n"
	"\n"
	"  --from DB        trace database with the run (required)\n"
	"  --run ID         run to load (default: the last finished run of DB)\n"
	"  --label K|all    class to generate, or all classes (required)\n"
	"  --count N        samples per label (default 1); they differ only when\n"
	"                   the model has activity noise (dynamics.noise > 0)\n"
	"  --png FILE       write the PNG grid to FILE\n"
	"  --duration T     relaxation time per sample (default 4 x presentation)\n"
	"\n"
	"Exit codes: 0 success, 2 usage or model error (also a label out of range\n"
	"or a model that does not match the run), 4 trace database error (also no\n"
	"finished run or an unknown run id), 5 diverged.\n";

typedef struct generate_args {
	cli_model_args model;
	const char *db, *png, *label;
	long long run_id;
	int count;
	double duration;
} generate_args;


static int generate_usage_error(const char *problem, const char *what)
{
	fprintf(stderr, "pcsim generate: %s '%s'\n%s", problem, what, generate_usage);
	return -1;
}


/* Parses the options this command adds; leaves the rest for the model parser. */
static int generate_parse(int argc, char **argv, generate_args *g)
{
	char *rest[128];
	int n = 0;

	memset(g, 0, sizeof *g);
	g->count = 1;
	g->duration = -1.0;
	for (int i = 0; i < argc && n < 126; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;

		if (strcmp(a, "--from") == 0 || strcmp(a, "--run") == 0 || strcmp(a, "--label") == 0
		    || strcmp(a, "--count") == 0 || strcmp(a, "--png") == 0
		    || strcmp(a, "--duration") == 0) {
			if (v == NULL || v[0] == '\0')
				return generate_usage_error("missing a value after", a);
			i++;
			if (strcmp(a, "--from") == 0) {
				g->db = v;
			} else if (strcmp(a, "--png") == 0) {
				g->png = v;
			} else if (strcmp(a, "--label") == 0) {
				g->label = v;
			} else if (strcmp(a, "--run") == 0) {
				g->run_id = strtoll(v, &end, 10);
				if (*end != '\0' || g->run_id < 1)
					return generate_usage_error("invalid --run: expected a run id >= 1, got", v);
			} else if (strcmp(a, "--count") == 0) {
				long c = strtol(v, &end, 10);

				if (*end != '\0' || c < 1 || c > 1000)
					return generate_usage_error("invalid --count: expected 1 to 1000, got", v);
				g->count = (int)c;
			} else {
				g->duration = strtod(v, &end);
				if (*end != '\0' || !(g->duration > 0.0) || g->duration > 1e6)
					return generate_usage_error("invalid --duration: expected a time in "
								    "(0, 1e6], got", v);
			}
			continue;
		}
		rest[n++] = argv[i];
	}
	rest[n] = NULL;
	n = pcs_cli_parse_model_args(n, rest, generate_usage, false, &g->model);
	if (n != 0)
		return n;
	if (g->db == NULL)
		return generate_usage_error("missing the trace database:", "--from DB");
	if (g->label == NULL)
		return generate_usage_error("missing the class:", "--label K|all");
	return 0;
}


static int generate_db_error(sqlite3 *db, const char *path, const char *what, pcs_error *err)
{
	return pcs_error_set(err, PCS_ETRACE, "%s: %s failed: %s", path, what, sqlite3_errmsg(db));
}


/* Finds the run to load and checks that it finished; sets *epoch to its last checkpoint. */
static int generate_find_run(sqlite3 *db, const char *path, long long *run_id, int *epoch,
			     pcs_error *err)
{
	sqlite3_stmt *st = NULL;
	const char *sql = *run_id > 0
		? "SELECT run_id, status FROM runs WHERE run_id = ?1"
		: "SELECT run_id, status FROM runs WHERE status = 'finished' ORDER BY run_id DESC LIMIT 1";
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return generate_db_error(db, path, "reading the runs table", err);
	if (*run_id > 0)
		sqlite3_bind_int64(st, 1, *run_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = *run_id > 0
			? pcs_error_set(err, PCS_ETRACE, "%s has no run %lld; list its runs with: "
					"sqlite3 %s \"SELECT run_id, model_name, status FROM runs\"",
					path, *run_id, path)
			: pcs_error_set(err, PCS_ETRACE, "%s has no finished run; train the model first "
					"with: pcsim run MODEL --db %s", path, path);
		sqlite3_finalize(st);
		return rc;
	}
	*run_id = sqlite3_column_int64(st, 0);
	if (strcmp((const char *)sqlite3_column_text(st, 1), "finished") != 0) {
		rc = pcs_error_set(err, PCS_ETRACE, "run %lld in %s has status %s; generate from a "
				   "finished run", *run_id, path, sqlite3_column_text(st, 1));
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);

	if (sqlite3_prepare_v2(db, "SELECT max(epoch) FROM weights WHERE run_id = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return generate_db_error(db, path, "reading the weights table", err);
	sqlite3_bind_int64(st, 1, *run_id);
	rc = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	*epoch = rc ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (!rc)
		return pcs_error_set(err, PCS_ETRACE, "run %lld in %s has no weights; it was run "
				     "with trace.weights = never", *run_id, path);
	return 0;
}


/* Checks that the run's layers have the model's names and sizes, in order. */
static int generate_check_layers(sqlite3 *db, const pcs_model *m, long long run_id,
				 const char *path, pcs_error *err)
{
	sqlite3_stmt *st = NULL;
	int n = 0, rc = 0;

	if (sqlite3_prepare_v2(db, "SELECT layer_id, name, size FROM layers WHERE run_id = ?1"
			       " ORDER BY layer_id", -1, &st, NULL) != SQLITE_OK)
		return generate_db_error(db, path, "reading the layers table", err);
	sqlite3_bind_int64(st, 1, run_id);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		int size = sqlite3_column_int(st, 2);

		if (n >= m->n_layers || strcmp(name, m->layers[n].name) != 0 || size != m->layers[n].size)
			rc = pcs_error_set(err, PCS_EMODEL, "%s does not match run %lld of %s: the run's "
					   "layer %d is %s of size %d; generate with the model file "
					   "and --set options the run used", m->path, run_id, path,
					   n, name, size);
		n++;
	}
	sqlite3_finalize(st);
	if (rc == 0 && n != m->n_layers)
		rc = pcs_error_set(err, PCS_EMODEL, "%s does not match run %lld of %s: %d layers in "
				   "the model, %d in the run", m->path, run_id, path, m->n_layers, n);
	return rc;
}


/* Copies the run's weights and biases of one epoch into the network. */
static int generate_load_weights(sqlite3 *db, pcs_network *net, const pcs_model *m,
				 long long run_id, int epoch, const char *path, pcs_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t loaded = 0, expected = 0;

	for (int k = 0; k < m->n_edges; k++)
		expected += (int64_t)m->layers[m->edges[k].from].size * m->layers[m->edges[k].to].size;
	if (sqlite3_prepare_v2(db, "SELECT edge, post, pre, w FROM weights WHERE run_id = ?1"
			       " AND epoch = ?2", -1, &st, NULL) != SQLITE_OK)
		return generate_db_error(db, path, "reading the weights table", err);
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int(st, 2, epoch);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int k = sqlite3_column_int(st, 0), post = sqlite3_column_int(st, 1);
		int pre = sqlite3_column_int(st, 2);
		int to, from;

		if (k < 0 || k >= m->n_edges)
			continue;
		to = m->edges[k].to;
		from = m->edges[k].from;
		if (post < 0 || post >= m->layers[to].size || pre >= m->layers[from].size)
			continue;
		if (pre < 0) {
			pcs_network_set_bias(net, to, post, sqlite3_column_double(st, 3));
		} else {
			pcs_network_set_weight(net, k, post, pre, sqlite3_column_double(st, 3));
			loaded++;
		}
	}
	sqlite3_finalize(st);
	if (loaded != expected)
		return pcs_error_set(err, PCS_EMODEL, "%s does not match run %lld of %s: epoch %d "
				     "holds %lld of the model's %lld weights", m->path, run_id, path,
				     epoch, (long long)loaded, (long long)expected);
	pcs_network_mirror_feedback(net);
	return 0;
}


/* Maps a value to a gray level: data units [0, scale], or the image's own range if centered. */
static png_byte generate_gray(double v, double lo, double hi)
{
	double g = hi > lo ? (v - lo) / (hi - lo) : 0.0;

	return (png_byte)lround(255.0 * fmin(fmax(g, 0.0), 1.0));
}


static int generate_write_png(const char *path, const double *images, int n_rows, int n_cols,
			      int rows, int cols, const pcs_model *m, pcs_error *err)
{
	int dim = rows * cols;
	int width = n_cols * (cols * GENERATE_ZOOM + GENERATE_GAP) + GENERATE_GAP;
	int height = n_rows * (rows * GENERATE_ZOOM + GENERATE_GAP) + GENERATE_GAP;
	png_byte *pixels = calloc((size_t)width * (size_t)height, 1);
	FILE *f = fopen(path, "wb");
	png_structp png = NULL;
	png_infop info = NULL;

	if (pixels == NULL || f == NULL) {
		free(pixels);
		if (f != NULL)
			fclose(f);
		return pcs_error_set(err, PCS_EIO, "cannot write %s: %s", path,
				     f == NULL ? "the file cannot be created" : "out of memory");
	}
	for (int r = 0; r < n_rows; r++) {
		for (int c = 0; c < n_cols; c++) {
			const double *img = images + (size_t)(r * n_cols + c) * dim;
			double lo = 0.0, hi = m->data.scale;

			if (m->data.center || m->data.source != PCS_DATA_IDX) {
				lo = INFINITY;
				hi = -INFINITY;
				for (int p = 0; p < dim; p++) {
					lo = fmin(lo, img[p]);
					hi = fmax(hi, img[p]);
				}
			}
			for (int p = 0; p < dim; p++) {
				png_byte g = generate_gray(img[p], lo, hi);
				int y0 = GENERATE_GAP + r * (rows * GENERATE_ZOOM + GENERATE_GAP)
					+ (p / cols) * GENERATE_ZOOM;
				int x0 = GENERATE_GAP + c * (cols * GENERATE_ZOOM + GENERATE_GAP)
					+ (p % cols) * GENERATE_ZOOM;

				for (int dy = 0; dy < GENERATE_ZOOM; dy++)
					memset(pixels + (size_t)(y0 + dy) * width + x0, g, GENERATE_ZOOM);
			}
		}
	}

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png != NULL ? png_create_info_struct(png) : NULL;
	if (png == NULL || info == NULL || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		fclose(f);
		free(pixels);
		return pcs_error_set(err, PCS_EIO, "writing the PNG %s failed", path);
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_GRAY,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < height; y++)
		png_write_row(png, pixels + (size_t)y * width);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(pixels);
	if (fclose(f) != 0)
		return pcs_error_set(err, PCS_EIO, "writing the PNG %s failed", path);
	return 0;
}


/* Appends the generated samples to the `generated` table, in one transaction. */
static int generate_store(sqlite3 *db, const char *path, long long run_id, const int *labels,
			  int count, int n, const double *images, int dim, pcs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK
	    || sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS generated(run_id INTEGER NOT NULL,"
			    " label INTEGER, sample INTEGER, pixel INTEGER, value REAL)",
			    NULL, NULL, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db, "INSERT INTO generated(run_id, label, sample, pixel, value)"
				  " VALUES (?1, ?2, ?3, ?4, ?5)", -1, &st, NULL) != SQLITE_OK) {
		rc = generate_db_error(db, path, "writing the generated table", err);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	for (int s = 0; s < n && rc == 0; s++) {
		for (int p = 0; p < dim && rc == 0; p++) {
			sqlite3_bind_int64(st, 1, run_id);
			sqlite3_bind_int(st, 2, labels[s]);
			sqlite3_bind_int(st, 3, s % count);
			sqlite3_bind_int(st, 4, p);
			sqlite3_bind_double(st, 5, images[(size_t)s * dim + p]);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = generate_db_error(db, path, "writing the generated table", err);
			sqlite3_reset(st);
		}
	}
	sqlite3_finalize(st);
	if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = generate_db_error(db, path, "committing the generated samples", err);
	if (rc != 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}


/* Image shape of the sensory layer: from the IDX test file, else one row. */
static void generate_shape(const pcs_model *m, int dim, int *rows, int *cols)
{
	pcs_dataset one = {0};

	*rows = 1;
	*cols = dim;
	if (m->data.source == PCS_DATA_IDX
	    && pcs_idx_load(m->data.test_images, m->data.test_labels, m->data.pool, 1,
			    m->data.scale, &one, NULL) == 0
	    && one.rows * one.cols == dim) {
		*rows = one.rows;
		*cols = one.cols;
	}
	pcs_dataset_free(&one);
}


/* Builds the label list: K repeated count times, or every class count times. */
static int generate_labels(const generate_args *g, const pcs_model *m, int **labels, int *n,
			   pcs_error *err)
{
	int target = -1, classes, first, last;
	char *end = NULL;

	for (int l = 0; l < m->n_layers; l++)
		if (m->layers[l].clamp == PCS_CLAMP_TARGET)
			target = l;
	if (target < 0)
		return pcs_error_set(err, PCS_EMODEL, "%s has no layer with clamp = target to hold "
				     "the label", m->path);
	classes = m->layers[target].size;
	if (strcmp(g->label, "all") == 0) {
		first = 0;
		last = classes - 1;
	} else {
		long k = strtol(g->label, &end, 10);

		if (*end != '\0' || end == g->label || k < 0 || k >= classes)
			return pcs_error_set(err, PCS_EUSAGE, "invalid --label '%s': expected all or "
					     "a class from 0 to %d (layer %s has %d neurons)", g->label,
					     classes - 1, m->layers[target].name, classes);
		first = last = (int)k;
	}
	*n = (last - first + 1) * g->count;
	*labels = malloc((size_t)*n * sizeof **labels);
	if (*labels == NULL)
		return pcs_error_set(err, PCS_ENOMEM, "out of memory");
	for (int s = 0; s < *n; s++)
		(*labels)[s] = first + s / g->count;
	return 0;
}


static int generate_run(const generate_args *g, pcs_model *m, sqlite3 *db, pcs_error *err)
{
	long long run_id = g->run_id;
	int epoch, n = 0, rows, cols, dim = 0, rc;
	int *labels = NULL;
	double *images = NULL;
	pcs_network *net = NULL;

	for (int k = 0; k < m->n_edges; k++)
		if (m->edges[k].feedback != PCS_FEEDBACK_MIRRORED
		    && m->layers[m->edges[k].from].clamp != PCS_CLAMP_INPUT)
			return pcs_error_set(err, PCS_EMODEL, "edge %d of %s uses %s feedback, but the "
					     "trace database stores W only; generation needs "
					     "feedback = mirrored", k, m->path,
					     m->edges[k].feedback == PCS_FEEDBACK_LEARNED ? "learned" : "random");
	rc = generate_labels(g, m, &labels, &n, err);
	if (rc == 0)
		rc = generate_find_run(db, g->db, &run_id, &epoch, err);
	if (rc == 0)
		rc = generate_check_layers(db, m, run_id, g->db, err);
	/* Generation relaxes one sample at a time on one loop, whatever
	 * scheduler the model trained with. */
	m->runtime.mode = PCS_MODE_DETERMINISTIC;
	if (rc == 0)
		rc = pcs_network_create(&net, m, NULL, NULL, err);
	if (rc == 0)
		rc = generate_load_weights(db, net, m, run_id, epoch, g->db, err);
	for (int l = 0; rc == 0 && l < m->n_layers; l++)
		if (m->layers[l].clamp == PCS_CLAMP_INPUT)
			dim = m->layers[l].size;
	if (rc == 0 && (images = calloc((size_t)n * (size_t)dim, sizeof *images)) == NULL)
		rc = pcs_error_set(err, PCS_ENOMEM, "out of memory for %d images", n);
	if (rc == 0)
		rc = pcs_network_generate(net, labels, n, g->duration > 0 ? g->duration
					  : 4.0 * m->dynamics.presentation, images, err);
	if (rc == 0)
		rc = generate_store(db, g->db, run_id, labels, g->count, n, images, dim, err);
	if (rc == 0 && g->png != NULL) {
		generate_shape(m, dim, &rows, &cols);
		rc = generate_write_png(g->png, images, n / g->count, g->count, rows, cols, m, err);
	}
	if (rc == 0)
		printf("generated %d sample%s from run %lld (epoch %d) of %s into its generated "
		       "table%s%s\n", n, n == 1 ? "" : "s", run_id, epoch, g->db,
		       g->png != NULL ? " and " : "", g->png != NULL ? g->png : "");
	pcs_network_destroy(net);
	free(images);
	free(labels);
	return rc;
}


int pcs_cmd_generate(int argc, char **argv)
{
	generate_args g;
	pcs_model model;
	pcs_error err = {0};
	sqlite3 *db = NULL;
	int rc = generate_parse(argc, argv, &g);

	if (rc != 0)
		return rc > 0 ? PCS_EXIT_OK : PCS_EXIT_USAGE;
	rc = pcs_model_load(&model, g.model.model_path, g.model.overrides, g.model.n_overrides, &err);
	if (rc != 0) {
		pcs_cli_report("generate", &err, rc);
		return pcs_cli_exit_code(rc);
	}
	if (sqlite3_open_v2(g.db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = pcs_error_set(&err, PCS_ETRACE, "cannot open the trace database %s: %s", g.db,
				   sqlite3_errmsg(db));
	} else {
		sqlite3_busy_timeout(db, 5000);
		rc = generate_run(&g, &model, db, &err);
	}
	if (rc != 0)
		pcs_cli_report("generate", &err, rc);
	sqlite3_close(db);
	pcs_model_free(&model);
	return pcs_cli_exit_code(rc);
}
