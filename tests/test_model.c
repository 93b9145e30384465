/* SPDX-License-Identifier: MIT */
/*
 * Model file parsing: every key and its default, each class of error and
 * what its message names, --set overrides, path resolution of a model file
 * loaded from a temporary directory, and neuron selections.
 *
 * Expected line numbers are counted in the test's own text by line_of, never
 * taken from the parser's output.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcsim/model.h"

#define ORIGIN "test.ini"

/* A valid model with the fewest keys: every other key keeps its default. */
#define BASE                  \
	"[model]\n"           \
	"name = tiny\n"       \
	"\n"                  \
	"[data]\n"            \
	"source = xor\n"      \
	"\n"                  \
	"[layer in]\n"        \
	"size = 2\n"          \
	"clamp = input\n"     \
	"\n"                  \
	"[layer out]\n"       \
	"size = 1\n"          \
	"\n"                  \
	"[edge out -> in]\n"

static const char full_text[] =
	"; every key, none at its default\n"
	"[model]\n"
	"name = full-model\n"
	"seed = 18446744073709551615\n"
	"[data]\n"
	"source = idx\n"
	"train_images = train-img.gz\n"
	"train_labels = /abs/train-lab.gz\n"
	"test_images = ti.gz\n"
	"test_labels = tl.gz\n"
	"train_csv = a.csv\n"
	"test_csv = b.csv\n"
	"csv_header = yes\n"
	"pool = 2\n"
	"train_count = 100\n"
	"test_count = 50\n"
	"xor_repeat = 7\n"
	"scale = 0.5\n"
	"[layer image]\n"
	"size = 784\n"
	"activation = tanh\n"
	"leak = 0.2\n"
	"clamp = input\n"
	"sigma2 = 2.5\n"
	"start = zero\n"
	"[ layer hidden ]\n"
	"  size = 64\n"
	"  activation = leaky_relu\n"
	"  start = keep\n"
	"  dt = 0.02\n"
	"  tau_x = 0.5\n"
	"[layer label]\n"
	"size = 10\n"
	"activation = sigmoid\n"
	"clamp = target\n"
	"[edge image->hidden]\n"
	"weight_init = uniform\n"
	"gain = 0.5\n"
	"value = -0.25\n"
	"learning_rate = 0.002\n"
	"decay = 0.001\n"
	"delay = 1.5\n"
	"bias = off\n"
	"feedback = mirrored\n"
	"[edge   hidden   ->   label]\n"
	"weight_init = identity\n"
	"value = 1\n"
	"[dynamics]\n"
	"dt = 0.05\n"
	"tau_x = 2\n"
	"tau_e = 0.5\n"
	"presentation = 10\n"
	"send_threshold = 0.001\n"
	"divergence_limit = 1e4\n"
	"[runtime]\n"
	"mode = deterministic\n"
	"[protocol]\n"
	"epochs = 3\n"
	"test = false\n"
	"shuffle = no\n"
	"[trace]\n"
	"db = out/run.db\n"
	"activity_every = 5\n"
	"neurons = hidden:0-3, label ; inline comment\n"
	"events = true\n"
	"weights = never\n"
	"energy = on\n";


/* Returns the 1-based line of the first occurrence of needle in text, or 0. */
static int line_of(const char *text, const char *needle)
{
	const char *hit = strstr(text, needle);
	int line = 1;

	if (hit == NULL)
		return 0;
	for (const char *p = text; p < hit; p++) {
		if (*p == '\n')
			line++;
	}
	return line;
}


static int parse(pcs_model *model, const char *text, const char *const *overrides,
		 int n_overrides, pcs_error *err)
{
	memset(err, 0, sizeof *err);
	return pcs_model_parse(model, text, ORIGIN, overrides, n_overrides, err);
}


#define ck_assert_msg_contains(err, needle) \
	ck_assert_msg(strstr((err)->msg, (needle)) != NULL, "message \"%s\" lacks \"%s\"", \
		      (err)->msg, (needle))

/* Asserts a PCS_EMODEL failure whose message names ORIGIN:line and needle. */
static void expect_line_error(const char *text, const char *line_needle, const char *needle)
{
	pcs_model model;
	pcs_error err;
	char location[64];
	int line = line_of(text, line_needle);
	int rc;

	ck_assert_int_gt(line, 0);
	rc = parse(&model, text, NULL, 0, &err);
	ck_assert_int_eq(rc, PCS_EMODEL);
	ck_assert_int_eq(err.code, PCS_EMODEL);
	ck_assert_ptr_null(model.text);
	snprintf(location, sizeof location, ORIGIN ":%d:", line);
	ck_assert_msg_contains(&err, location);
	ck_assert_msg_contains(&err, needle);
}


/* Asserts a PCS_EMODEL failure of one override whose message names it and needle. */
static void expect_set_error(const char *override, const char *needle)
{
	const char *overrides[] = { override };
	char location[256];
	pcs_model model;
	pcs_error err;

	ck_assert_int_eq(parse(&model, BASE, overrides, 1, &err), PCS_EMODEL);
	snprintf(location, sizeof location, "--set \"%s\"", override);
	ck_assert_msg_contains(&err, location);
	ck_assert_msg_contains(&err, needle);
}


START_TEST(model_full_keys)
{
	pcs_model m;
	pcs_error err;

	ck_assert_int_eq(parse(&m, full_text, NULL, 0, &err), 0);
	ck_assert_str_eq(m.name, "full-model");
	ck_assert(m.seed == UINT64_MAX);
	ck_assert_str_eq(m.path, "");

	ck_assert_int_eq(m.data.source, PCS_DATA_IDX);
	ck_assert_str_eq(m.data.train_images, "train-img.gz");
	ck_assert_str_eq(m.data.train_labels, "/abs/train-lab.gz");
	ck_assert_str_eq(m.data.test_images, "ti.gz");
	ck_assert_str_eq(m.data.test_labels, "tl.gz");
	ck_assert_str_eq(m.data.train_csv, "a.csv");
	ck_assert_str_eq(m.data.test_csv, "b.csv");
	ck_assert(m.data.csv_header);
	ck_assert_int_eq(m.data.pool, 2);
	ck_assert_int_eq(m.data.train_count, 100);
	ck_assert_int_eq(m.data.test_count, 50);
	ck_assert_int_eq(m.data.xor_repeat, 7);
	ck_assert_double_eq(m.data.scale, 0.5);

	ck_assert_double_eq(m.dynamics.dt, 0.05);
	ck_assert_double_eq(m.dynamics.tau_x, 2.0);
	ck_assert_double_eq(m.dynamics.tau_e, 0.5);
	ck_assert_double_eq(m.dynamics.presentation, 10.0);
	ck_assert_double_eq(m.dynamics.send_threshold, 0.001);
	ck_assert_double_eq(m.dynamics.divergence_limit, 1e4);
	ck_assert_int_eq(m.runtime.mode, PCS_MODE_DETERMINISTIC);
	ck_assert_int_eq(m.protocol.epochs, 3);
	ck_assert(!m.protocol.test);
	ck_assert(!m.protocol.shuffle);

	ck_assert_str_eq(m.trace.db, "out/run.db");
	ck_assert_int_eq(m.trace.activity_every, 5);
	ck_assert_str_eq(m.trace.neurons, "hidden:0-3, label");
	ck_assert(m.trace.events);
	ck_assert_int_eq(m.trace.weights, PCS_WEIGHTS_NEVER);
	ck_assert(m.trace.energy);
	pcs_model_free(&m);
	ck_assert_ptr_null(m.text);
}
END_TEST


START_TEST(model_full_layers_and_edges)
{
	pcs_model m;
	pcs_error err;

	ck_assert_int_eq(parse(&m, full_text, NULL, 0, &err), 0);
	ck_assert_int_eq(m.n_layers, 3);
	ck_assert_str_eq(m.layers[0].name, "image");
	ck_assert_int_eq(m.layers[0].size, 784);
	ck_assert_int_eq(m.layers[0].activation, PCS_ACT_TANH);
	ck_assert_double_eq(m.layers[0].leak, 0.2);
	ck_assert_int_eq(m.layers[0].clamp, PCS_CLAMP_INPUT);
	ck_assert_double_eq(m.layers[0].sigma2, 2.5);
	ck_assert_int_eq(m.layers[0].start, PCS_START_ZERO);
	ck_assert_int_eq(m.layers[0].line, line_of(full_text, "[layer image]"));
	ck_assert_str_eq(m.layers[1].name, "hidden");
	ck_assert_int_eq(m.layers[1].size, 64);
	ck_assert_int_eq(m.layers[1].activation, PCS_ACT_LEAKY_RELU);
	ck_assert_int_eq(m.layers[1].start, PCS_START_KEEP);
	ck_assert_double_eq(m.layers[1].dt, 0.02);
	ck_assert_double_eq(m.layers[1].tau_x, 0.5);
	ck_assert_int_eq(m.layers[1].line, line_of(full_text, "[ layer hidden ]"));
	ck_assert_int_eq(m.layers[2].activation, PCS_ACT_SIGMOID);
	ck_assert_int_eq(m.layers[2].clamp, PCS_CLAMP_TARGET);

	ck_assert_int_eq(m.n_edges, 2);
	ck_assert_int_eq(m.edges[0].from, 0);
	ck_assert_int_eq(m.edges[0].to, 1);
	ck_assert_int_eq(m.edges[0].weight_init, PCS_WINIT_UNIFORM);
	ck_assert_double_eq(m.edges[0].gain, 0.5);
	ck_assert_double_eq(m.edges[0].value, -0.25);
	ck_assert_double_eq(m.edges[0].learning_rate, 0.002);
	ck_assert_double_eq(m.edges[0].decay, 0.001);
	ck_assert_double_eq(m.edges[0].delay, 1.5);
	ck_assert(!m.edges[0].bias);
	ck_assert_int_eq(m.edges[0].feedback, PCS_FEEDBACK_MIRRORED);
	ck_assert_int_eq(m.edges[0].line, line_of(full_text, "[edge image->hidden]"));
	ck_assert_int_eq(m.edges[1].from, 1);
	ck_assert_int_eq(m.edges[1].to, 2);
	ck_assert_int_eq(m.edges[1].weight_init, PCS_WINIT_IDENTITY);
	ck_assert_double_eq(m.edges[1].value, 1.0);
	pcs_model_free(&m);
}
END_TEST


START_TEST(model_defaults_applied)
{
	pcs_model m;
	pcs_error err;

	ck_assert_int_eq(parse(&m, BASE, NULL, 0, &err), 0);
	ck_assert(m.seed == 1);
	ck_assert_int_eq(m.data.source, PCS_DATA_XOR);
	ck_assert(!m.data.csv_header);
	ck_assert_int_eq(m.data.pool, 1);
	ck_assert_int_eq(m.data.train_count, 0);
	ck_assert_int_eq(m.data.test_count, 0);
	ck_assert_int_eq(m.data.xor_repeat, 1);
	ck_assert_double_eq(m.data.scale, 1.0);

	ck_assert_int_eq(m.layers[1].activation, PCS_ACT_LINEAR);
	ck_assert_double_eq(m.layers[1].leak, 0.01);
	ck_assert_int_eq(m.layers[1].clamp, PCS_CLAMP_NONE);
	ck_assert_double_eq(m.layers[1].sigma2, 1.0);
	ck_assert_int_eq(m.layers[1].start, PCS_START_PREDICTION);
	ck_assert_double_eq(m.layers[1].dt, 0.0);
	ck_assert_double_eq(m.layers[1].tau_x, 0.0);

	ck_assert_int_eq(m.edges[0].from, 1);
	ck_assert_int_eq(m.edges[0].to, 0);
	ck_assert_int_eq(m.edges[0].weight_init, PCS_WINIT_NORMAL);
	ck_assert_double_eq(m.edges[0].gain, 1.0);
	ck_assert_double_eq(m.edges[0].value, 0.0);
	ck_assert_double_eq(m.edges[0].learning_rate, 0.01);
	ck_assert_double_eq(m.edges[0].decay, 0.0);
	ck_assert_double_eq(m.edges[0].delay, 0.0);
	ck_assert(m.edges[0].bias);
	ck_assert_int_eq(m.edges[0].feedback, PCS_FEEDBACK_MIRRORED);
	pcs_model_free(&m);
}
END_TEST


START_TEST(model_defaults_singletons)
{
	pcs_model m;
	pcs_error err;

	ck_assert_int_eq(parse(&m, BASE, NULL, 0, &err), 0);
	ck_assert_double_eq(m.dynamics.dt, 0.1);
	ck_assert_double_eq(m.dynamics.tau_x, 1.0);
	ck_assert_double_eq(m.dynamics.tau_e, 0.0);
	ck_assert_double_eq(m.dynamics.presentation, 5.0);
	ck_assert_double_eq(m.dynamics.send_threshold, 0.0);
	ck_assert_double_eq(m.dynamics.divergence_limit, 1e6);
	ck_assert_int_eq(m.runtime.mode, PCS_MODE_DETERMINISTIC);
	ck_assert_int_eq(m.protocol.epochs, 1);
	ck_assert(m.protocol.test);
	ck_assert(m.protocol.shuffle);
	ck_assert_str_eq(m.trace.db, "pcsim-traces.db");
	ck_assert_int_eq(m.trace.activity_every, 0);
	ck_assert_str_eq(m.trace.neurons, "none");
	ck_assert(!m.trace.events);
	ck_assert_int_eq(m.trace.weights, PCS_WEIGHTS_EPOCH);
	ck_assert(!m.trace.energy);
	ck_assert_str_eq(m.text, BASE);
	pcs_model_free(&m);
}
END_TEST


START_TEST(model_booleans_and_words)
{
	static const char *const truths[] = { "true", "yes", "on", "1", "TRUE", "Yes" };
	static const char *const lies[] = { "false", "no", "off", "0", "Off" };
	char text[512];
	pcs_model m;
	pcs_error err;

	for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
		snprintf(text, sizeof text, BASE "[trace]\nevents = %s\n", truths[i]);
		ck_assert_int_eq(parse(&m, text, NULL, 0, &err), 0);
		ck_assert_msg(m.trace.events, "%s should be true", truths[i]);
		pcs_model_free(&m);
	}
	for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
		snprintf(text, sizeof text, BASE "[protocol]\ntest = %s\n", lies[i]);
		ck_assert_int_eq(parse(&m, text, NULL, 0, &err), 0);
		ck_assert_msg(!m.protocol.test, "%s should be false", lies[i]);
		pcs_model_free(&m);
	}

	ck_assert_str_eq(pcs_activation_name(PCS_ACT_LEAKY_RELU), "leaky_relu");
	ck_assert_str_eq(pcs_activation_name(PCS_ACT_TANH), "tanh");
	ck_assert_str_eq(pcs_clamp_name(PCS_CLAMP_TARGET), "target");
	ck_assert_str_eq(pcs_clamp_name(PCS_CLAMP_NONE), "none");
}
END_TEST


START_TEST(model_error_unknown_section)
{
	const char *text = BASE "[optimizer]\nrate = 1\n";

	expect_line_error(text, "[optimizer]", "unknown section [optimizer]");
	expect_line_error(text, "[optimizer]", "[edge A -> B]");
}
END_TEST


START_TEST(model_error_unknown_key)
{
	const char *text = BASE "[layer extra]\nsize = 3\ncolour = red\n";

	expect_line_error(text, "colour", "\"colour\"");
	expect_line_error(text, "colour", "[layer extra]");
	expect_line_error(text, "colour", "size, activation, leak, clamp, sigma2, start");
}
END_TEST


START_TEST(model_error_missing_required)
{
	const char *no_size = BASE "[layer extra]\nactivation = tanh\n";
	const char *no_name = "[model]\nseed = 3\n[data]\nsource = xor\n"
			      "[layer in]\nsize = 2\nclamp = input\n[edge in -> x]\n[layer x]\nsize=1\n";
	const char *no_source = "[model]\nname = a\n[data]\npool = 2\n"
				"[layer in]\nsize = 2\nclamp = input\n[layer x]\nsize=1\n"
				"[edge x -> in]\n";
	pcs_model m;
	pcs_error err;

	expect_line_error(no_size, "[layer extra]", "required key size");
	expect_line_error(no_name, "[model]", "required key name");
	expect_line_error(no_source, "[data]", "required key source");

	ck_assert_int_eq(parse(&m, "[data]\nsource = xor\n", NULL, 0, &err), PCS_EMODEL);
	ck_assert_msg_contains(&err, ORIGIN ": the model has no [model] section");
	ck_assert_msg_contains(&err, "name");
}
END_TEST


START_TEST(model_error_bad_number)
{
	expect_line_error(BASE "[layer x]\nsize = 3x\n", "size = 3x", "layer x.size");
	expect_line_error(BASE "[layer x]\nsize = 3x\n", "size = 3x", "\"3x\"");
	expect_line_error(BASE "[layer x]\nsize = 3x\n", "size = 3x", "an integer from 1 to 1000000");
	expect_line_error(BASE "[dynamics]\ndt = fast\n", "dt = fast", "dynamics.dt");
	expect_line_error(BASE "[dynamics]\ndt = \n", "dt = ", "\"\"");
	expect_line_error(BASE "[edge in -> out]\ngain = nan\n", "gain = nan", "edge in -> out.gain");
	expect_line_error(BASE "[edge in -> out]\ngain = inf\n", "gain = inf", "\"inf\"");
	expect_line_error(BASE "[dynamics]\ntau_x = 1e999\n", "tau_x", "dynamics.tau_x");
	expect_line_error(BASE "[layer x]\nsize = 2.5\n", "size = 2.5", "layer x.size");
	expect_line_error("[model]\nname = a\nseed = -1\n", "seed", "model.seed");
	expect_line_error("[model]\nname = a\nseed = 18446744073709551616\n", "seed",
			  "an integer from 0 to 18446744073709551615");
}
END_TEST


START_TEST(model_error_out_of_range)
{
	expect_line_error(BASE "[layer x]\nsize = 0\n", "size = 0", "layer x.size");
	expect_line_error(BASE "[layer x]\nsize = 1000001\n", "size = 1000001", "\"1000001\"");
	expect_line_error(BASE "[layer x]\nsize = 1\nleak = 1\n", "leak", "a number in [0, 1)");
	expect_line_error(BASE "[layer x]\nsize = 1\nsigma2 = 0\n", "sigma2", "a number > 0");
	expect_line_error(BASE "[dynamics]\ndt = 0\n", "dt = 0", "dynamics.dt");
	expect_line_error(BASE "[dynamics]\ntau_e = -0.5\n", "tau_e", "a number in [0, 1e+09]");
	expect_line_error(BASE "[layer x]\nsize = 1\ndt = -0.1\n", "dt = -0.1", "layer x.dt");
	expect_line_error(BASE "[layer x]\nsize = 1\ntau_x = -1\n", "tau_x", "layer x.tau_x");
	expect_line_error(BASE "[protocol]\nepochs = -1\n", "epochs", "protocol.epochs");
	expect_line_error(BASE "[protocol]\nepochs = 100001\n", "epochs", "0 to 100000");
	expect_line_error(BASE "[edge in -> out]\ndelay = -1\n", "delay", "edge in -> out.delay");
	expect_line_error(BASE "[trace]\nactivity_every = -2\n", "activity_every",
			  "trace.activity_every");
	expect_line_error("[model]\nname = a\n[data]\nsource = xor\npool = 29\n", "pool",
			  "an integer from 1 to 28");
	expect_line_error("[model]\nname = a\n[data]\nsource = xor\nxor_repeat = 0\n", "xor_repeat",
			  "data.xor_repeat");
	expect_line_error("[model]\nname = a\n[data]\nsource = xor\nscale = 0\n", "scale",
			  "data.scale");
}
END_TEST


START_TEST(model_error_bad_word)
{
	expect_line_error(BASE "[layer x]\nsize = 1\nactivation = softmax\n", "softmax",
			  "one of linear, tanh, sigmoid, relu, leaky_relu");
	expect_line_error(BASE "[layer x]\nsize = 1\nclamp = output\n", "output", "layer x.clamp");
	expect_line_error(BASE "[edge in -> out]\nbias = maybe\n", "maybe", "edge in -> out.bias");
	expect_line_error(BASE "[edge in -> out]\nweight_init = xavier\n", "xavier",
			  "normal, uniform, constant, identity");
	expect_line_error(BASE "[trace]\nweights = sample\n", "sample", "trace.weights");
	expect_line_error("[model]\nname = a\n[data]\nsource = hdf5\n", "hdf5", "idx, csv, xor");
}
END_TEST


START_TEST(model_error_new_keys)
{
	expect_line_error(BASE "[edge in -> out]\nfeedback = symmetric\n", "symmetric",
			  "mirrored, learned, random");
	expect_line_error(BASE "[edge in -> out]\nfeedback = symmetric\n", "symmetric",
			  "edge in -> out.feedback");
	expect_line_error(BASE "[runtime]\nmode = async\n[protocol]\nlearning = phased\n", "[protocol]",
			  "protocol.learning = phased");
	expect_line_error(BASE "[runtime]\nworkers = 0\n", "workers", "runtime.workers");
	expect_line_error(BASE "[runtime]\nmode = async\nmax_skew = 6\n", "[runtime]",
			  "exceeds dynamics.presentation");
	expect_line_error(BASE "[dynamics]\nplasticity = settled\n[protocol]\nlearning = phased\n",
			  "[protocol]", "no effect");
	expect_line_error(BASE "[runtime]\nmax_skew = 0\n", "max_skew", "runtime.max_skew");
	expect_line_error(BASE "[dynamics]\njitter = 1\n", "jitter", "dynamics.jitter");
	expect_line_error(BASE "[dynamics]\ntau_x_distribution = gamma\n", "gamma",
			  "dynamics.tau_x_distribution");
	expect_line_error(BASE "[dynamics]\nplasticity = sometimes\n", "sometimes",
			  "dynamics.plasticity");
	expect_line_error(BASE "[edge in -> out]\nloss = 1\n", "loss", "edge in -> out.loss");
	expect_line_error(BASE "[layer extra]\nsize = 2\nlesion = 5\n[edge in -> extra]\n",
			  "[layer extra]", "extra.lesion");
	expect_line_error(BASE "[dynamics]\ndt_distribution = uniform\ndt_spread = 1.5\n",
			  "[dynamics]", "dt_spread");
}
END_TEST


START_TEST(model_error_duplicate_layer)
{
	const char *text = BASE "[layer in]\nsize = 4\n";
	char first[64];

	snprintf(first, sizeof first, "already defined at line %d", line_of(text, "[layer in]"));
	expect_line_error(text, "[layer in]\nsize = 4", first);
	expect_line_error(BASE "[edge out->in]\n", "[edge out->in]", "duplicate section");
	expect_line_error(BASE "[layer dup]\nsize = 2\nsize = 3\n", "size = 3",
			  "key size is set twice");
	expect_line_error(BASE "[data ]\n", "[data ]", "duplicate section [data]");
}
END_TEST


START_TEST(model_error_edge_layers)
{
	const char *unknown = BASE "[edge out -> ghost]\n";

	expect_line_error(unknown, "[edge out -> ghost]", "ghost");
	expect_line_error(unknown, "[edge out -> ghost]", "defined layers: in, out");
	expect_line_error(BASE "[edge in -> in]\n", "[edge in -> in]", "cannot predict itself");
	expect_line_error(BASE "[edge in]\n", "[edge in]", "expected [edge A -> B]");
	expect_line_error(BASE "[edge a -> b c]\n", "[edge a -> b c]", "expected [edge A -> B]");
	expect_line_error(BASE "[layer a.b]\n", "[layer a.b]", "invalid layer section");
}
END_TEST


START_TEST(model_error_clamps)
{
	const char *none = "[model]\nname = a\n[data]\nsource = xor\n"
			   "[layer in]\nsize = 2\n[layer out]\nsize = 1\n[edge out -> in]\n";
	const char *two_inputs = BASE "[layer in2]\nsize = 2\nclamp = input\n";
	const char *two_targets = BASE "[layer t1]\nsize = 2\nclamp = target\n"
				       "[layer t2]\nsize = 2\nclamp = target\n";
	pcs_model m;
	pcs_error err;

	ck_assert_int_eq(parse(&m, none, NULL, 0, &err), PCS_EMODEL);
	ck_assert_msg_contains(&err, ORIGIN ": ");
	ck_assert_msg_contains(&err, "no layer has clamp = input");

	expect_line_error(two_inputs, "[layer in2]", "layers in and in2 both have clamp = input");
	expect_line_error(two_targets, "[layer t2]", "layers t1 and t2 both have clamp = target");
}
END_TEST


START_TEST(model_error_structure)
{
	const char *no_edges = "[model]\nname = a\n[data]\nsource = xor\n"
			       "[layer in]\nsize = 2\nclamp = input\n";
	pcs_model m;
	pcs_error err;

	ck_assert_int_eq(parse(&m, no_edges, NULL, 0, &err), PCS_EMODEL);
	ck_assert_msg_contains(&err, "no edges");
	ck_assert_int_eq(parse(&m, "[model]\nname = a\n[data]\nsource = xor\n", NULL, 0, &err),
			 PCS_EMODEL);
	ck_assert_msg_contains(&err, "no layers");

	expect_line_error("name = a\n[model]\n", "name = a", "outside any section");
	expect_line_error(BASE "[dynamics]\ndt\n", "dt\n", "invalid line");
	expect_line_error(BASE "[dynamics\n", "[dynamics", "no closing ']'");
	expect_line_error(BASE "[dynamics] dt = 1\n", "[dynamics]", "after the section header");
	expect_line_error(BASE "[dynamics]\ndt = 0.5\npresentation = 0.25\n", "presentation",
			  "shorter than dynamics.dt");
	expect_line_error(BASE "[trace]\nneurons = out:1\n", "neurons", "trace.neurons");
	expect_line_error(BASE "[layer slow]\nsize = 1\ndt = 2\n[edge in -> slow]\n[dynamics]\npresentation = 1\n",
			  "presentation", "layer slow.dt = 2");
	expect_line_error(BASE "[trace]\nneurons = out:1\n", "neurons", "0 to 0");
}
END_TEST


START_TEST(model_error_data_paths)
{
	const char *idx = "[model]\nname = a\n[data]\nsource = idx\ntrain_images = a\n"
			  "train_labels = b\ntest_images = c\n"
			  "[layer in]\nsize = 2\nclamp = input\n[layer x]\nsize=1\n[edge x -> in]\n";
	const char *csv = "[model]\nname = a\n[data]\nsource = csv\ntest_csv = t.csv\n"
			  "[layer in]\nsize = 2\nclamp = input\n[layer x]\nsize=1\n[edge x -> in]\n";

	expect_line_error(idx, "[data]", "test_labels");
	expect_line_error(idx, "[data]", "source = idx");
	expect_line_error(csv, "[data]", "train_csv");
	expect_line_error(BASE "[trace]\ndb =\n", "db =", "trace.db");
}
END_TEST


START_TEST(model_error_long_line)
{
	char text[1024];
	char name[400];

	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	snprintf(text, sizeof text, BASE "[trace]\nneurons = %s\n", name);
	expect_line_error(text, "neurons", "line is longer than");
}
END_TEST


START_TEST(model_override_wins)
{
	const char *text = BASE "[dynamics]\ndt = 0.2\n[protocol]\nepochs = 9\n";
	const char *overrides[] = {
		"layer in.size=5", "dynamics.dt = 0.25", "edge out -> in.delay=2",
		"edge out->in.gain=0.5", "protocol.epochs=2", "protocol.epochs=3",
		"trace.neurons=in:4", "runtime.mode=deterministic",
	};
	pcs_model m;
	pcs_error err;

	ck_assert_int_eq(parse(&m, text, overrides, 8, &err), 0);
	ck_assert_int_eq(m.layers[0].size, 5);
	ck_assert_double_eq(m.dynamics.dt, 0.25);
	ck_assert_double_eq(m.edges[0].delay, 2.0);
	ck_assert_double_eq(m.edges[0].gain, 0.5);
	ck_assert_int_eq(m.protocol.epochs, 3);
	ck_assert_str_eq(m.trace.neurons, "in:4");
	pcs_model_free(&m);
}
END_TEST


START_TEST(model_override_text_and_required)
{
	const char *no_name = "[model]\nseed = 2\n[data]\nsource = xor\n[layer in]\nsize = 2\n"
			      "clamp = input\n[layer x]\nsize = 1\n[edge x -> in]";
	const char *overrides[] = { "model.name=from-set", "data.train_csv=rel/a.csv" };
	const char *expected = "[model]\nseed = 2\n[data]\nsource = xor\n[layer in]\nsize = 2\n"
			       "clamp = input\n[layer x]\nsize = 1\n[edge x -> in]\n"
			       "# --set overrides:\n# model.name=from-set\n"
			       "# data.train_csv=rel/a.csv\n";
	pcs_model m;
	pcs_error err;

	ck_assert_int_eq(parse(&m, no_name, overrides, 2, &err), 0);
	ck_assert_str_eq(m.name, "from-set");
	ck_assert_str_eq(m.data.train_csv, "rel/a.csv");
	ck_assert_str_eq(m.text, expected);
	pcs_model_free(&m);
}
END_TEST


START_TEST(model_set_errors)
{
	expect_set_error("nodot=1", "expected section.key=value");
	expect_set_error("layer in.size", "expected section.key=value");
	expect_set_error(".size=1", "expected section.key=value");
	expect_set_error("layer in.=3", "expected section.key=value");
	expect_set_error("layer in.colour=red", "\"colour\"");
	expect_set_error("layer in.colour=red", "accepted keys: size, activation");
	expect_set_error("layer nope.size=3", "[layer nope]");
	expect_set_error("edge in -> out.delay=1", "[edge in -> out]");
	expect_set_error("solver.steps=3", "unknown section [solver]");
	expect_set_error("dynamics.dt=-1", "dynamics.dt");
	expect_set_error("dynamics.dt=-1", "\"-1\"");
	expect_set_error("edge out -> in.feedback=symmetric", "mirrored, learned, random");
	expect_set_error("trace.neurons=bogus", "bogus");
	expect_set_error("dynamics.presentation=0.01", "shorter than dynamics.dt");
}
END_TEST


START_TEST(model_load_resolves_paths)
{
	char dir[] = "/tmp/pcsim-model-test-XXXXXX";
	char path[256], expected[512], text[1024];
	const char *overrides[] = { "data.test_csv=given.csv" };
	pcs_model m;
	pcs_error err;
	FILE *file;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/m.ini", dir);
	snprintf(text, sizeof text, "[model]\nname = disk\n[data]\nsource = csv\n"
		 "train_csv = data/train.csv\ntest_csv = /abs/test.csv\n"
		 "[layer in]\nsize = 2\nclamp = input\n[layer x]\nsize = 1\n[edge x -> in]\n"
		 "[trace]\ndb = traces.db\n");
	file = fopen(path, "w");
	ck_assert_ptr_nonnull(file);
	ck_assert_int_eq(fputs(text, file) >= 0, 1);
	ck_assert_int_eq(fclose(file), 0);

	ck_assert_int_eq(pcs_model_load(&m, path, NULL, 0, &err), 0);
	snprintf(expected, sizeof expected, "%s/data/train.csv", dir);
	ck_assert_str_eq(m.data.train_csv, expected);
	ck_assert_str_eq(m.data.test_csv, "/abs/test.csv");
	ck_assert_str_eq(m.trace.db, "traces.db");
	ck_assert_str_eq(m.path, path);
	ck_assert_str_eq(m.text, text);
	pcs_model_free(&m);

	ck_assert_int_eq(pcs_model_load(&m, path, overrides, 1, &err), 0);
	ck_assert_str_eq(m.data.test_csv, "given.csv");
	pcs_model_free(&m);

	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(pcs_model_load(&m, path, NULL, 0, &err), PCS_EIO);
	ck_assert_msg_contains(&err, path);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST


/* Layers: in (4 neurons), hid (3), out (2). */
#define SELECT_MODEL \
	"[model]\nname = s\n[data]\nsource = xor\n[layer in]\nsize = 4\nclamp = input\n" \
	"[layer hid]\nsize = 3\n[layer out]\nsize = 2\n[edge hid -> in]\n[edge out -> hid]\n"

typedef struct selection {
	bool in[4], hid[3], out[2];
	bool *rows[3];
} selection;


static void selection_clear(selection *s)
{
	memset(s, 0, sizeof *s);
	s->rows[0] = s->in;
	s->rows[1] = s->hid;
	s->rows[2] = s->out;
}


static int selection_count(const selection *s)
{
	int n = 0;

	for (int i = 0; i < 4; i++)
		n += s->in[i];
	for (int i = 0; i < 3; i++)
		n += s->hid[i];
	for (int i = 0; i < 2; i++)
		n += s->out[i];
	return n;
}


START_TEST(model_select_items)
{
	pcs_model m;
	pcs_error err;
	selection s;

	ck_assert_int_eq(parse(&m, SELECT_MODEL, NULL, 0, &err), 0);

	selection_clear(&s);
	ck_assert_int_eq(pcs_model_select_neurons(&m, "all", s.rows, &err), 0);
	ck_assert_int_eq(selection_count(&s), 9);

	selection_clear(&s);
	ck_assert_int_eq(pcs_model_select_neurons(&m, "none", s.rows, &err), 0);
	ck_assert_int_eq(pcs_model_select_neurons(&m, "  ", s.rows, &err), 0);
	ck_assert_int_eq(selection_count(&s), 0);

	selection_clear(&s);
	ck_assert_int_eq(pcs_model_select_neurons(&m, " in:1-2 , out,hid:0 ", s.rows, &err), 0);
	ck_assert_int_eq(selection_count(&s), 5);
	ck_assert(!s.in[0] && s.in[1] && s.in[2] && !s.in[3]);
	ck_assert(s.hid[0] && !s.hid[1] && !s.hid[2]);
	ck_assert(s.out[0] && s.out[1]);

	selection_clear(&s);
	ck_assert_int_eq(pcs_model_select_neurons(&m, "in:3-3", s.rows, &err), 0);
	ck_assert_int_eq(selection_count(&s), 1);
	ck_assert(s.in[3]);
	pcs_model_free(&m);
}
END_TEST


START_TEST(model_select_errors)
{
	pcs_model m;
	pcs_error err;
	selection s;

	ck_assert_int_eq(parse(&m, SELECT_MODEL, NULL, 0, &err), 0);
	selection_clear(&s);

	ck_assert_int_eq(pcs_model_select_neurons(&m, "in:0, bogus:1", s.rows, &err), PCS_EMODEL);
	ck_assert_msg_contains(&err, "\"bogus:1\"");
	ck_assert_msg_contains(&err, "in (0 to 3), hid (0 to 2), out (0 to 1)");
	ck_assert_int_eq(selection_count(&s), 0);

	ck_assert_int_eq(pcs_model_select_neurons(&m, "hid:3", s.rows, &err), PCS_EMODEL);
	ck_assert_msg_contains(&err, "\"hid:3\"");
	ck_assert_msg_contains(&err, "0 to 2");

	ck_assert_int_eq(pcs_model_select_neurons(&m, "hid:1-5", s.rows, &err), PCS_EMODEL);
	ck_assert_msg_contains(&err, "\"hid:1-5\"");
	ck_assert_int_eq(pcs_model_select_neurons(&m, "hid:2-1", s.rows, &err), PCS_EMODEL);
	ck_assert_msg_contains(&err, "I <= J");
	ck_assert_int_eq(pcs_model_select_neurons(&m, "hid:x", s.rows, &err), PCS_EMODEL);
	ck_assert_int_eq(pcs_model_select_neurons(&m, "hid:-1", s.rows, &err), PCS_EMODEL);
	ck_assert_int_eq(pcs_model_select_neurons(&m, "in,,out", s.rows, &err), PCS_EMODEL);
	ck_assert_msg_contains(&err, "\"in,,out\"");
	ck_assert_int_eq(pcs_model_select_neurons(&m, "in,", s.rows, &err), PCS_EMODEL);
	ck_assert_int_eq(selection_count(&s), 0);
	pcs_model_free(&m);
}
END_TEST


static Suite *model_suite(void)
{
	Suite *suite = suite_create("model");
	TCase *parse_case = tcase_create("parse");
	TCase *errors = tcase_create("errors");
	TCase *overrides = tcase_create("overrides");
	TCase *selecting = tcase_create("selection");

	tcase_add_test(parse_case, model_full_keys);
	tcase_add_test(parse_case, model_full_layers_and_edges);
	tcase_add_test(parse_case, model_defaults_applied);
	tcase_add_test(parse_case, model_defaults_singletons);
	tcase_add_test(parse_case, model_booleans_and_words);
	tcase_add_test(parse_case, model_load_resolves_paths);
	suite_add_tcase(suite, parse_case);

	tcase_add_test(errors, model_error_unknown_section);
	tcase_add_test(errors, model_error_unknown_key);
	tcase_add_test(errors, model_error_missing_required);
	tcase_add_test(errors, model_error_bad_number);
	tcase_add_test(errors, model_error_out_of_range);
	tcase_add_test(errors, model_error_bad_word);
	tcase_add_test(errors, model_error_new_keys);
	tcase_add_test(errors, model_error_duplicate_layer);
	tcase_add_test(errors, model_error_edge_layers);
	tcase_add_test(errors, model_error_clamps);
	tcase_add_test(errors, model_error_structure);
	tcase_add_test(errors, model_error_data_paths);
	tcase_add_test(errors, model_error_long_line);
	suite_add_tcase(suite, errors);

	tcase_add_test(overrides, model_override_wins);
	tcase_add_test(overrides, model_override_text_and_required);
	tcase_add_test(overrides, model_set_errors);
	suite_add_tcase(suite, overrides);

	tcase_add_test(selecting, model_select_items);
	tcase_add_test(selecting, model_select_errors);
	suite_add_tcase(suite, selecting);
	return suite;
}


int main(void)
{
	SRunner *runner = srunner_create(model_suite());
	int failures;

	srunner_run_all(runner, CK_NORMAL);
	failures = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
