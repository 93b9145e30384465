/* SPDX-License-Identifier: MIT */
/* `pcsim check`: validates a model file and prints its size. */
#include <stdio.h>

#include "cli/cli.h"
#include "pcsim/network.h"

static const char check_usage[] =
	"usage: pcsim check MODEL [--set SECTION.KEY=VALUE]...\n"
	"\n"
	"Validates MODEL (and the overrides) without loading data or running, then\n"
	"prints the layers, edges, neuron and synapse counts and a memory estimate.\n"
	"Exit code 0 when the model is valid, 2 with a message naming the file,\n"
	"line and key when it is not.\n";


int pcs_cmd_check(int argc, char **argv)
{
	cli_model_args args;
	pcs_model model;
	pcs_model_counts counts;
	pcs_error err = {0};
	int rc = pcs_cli_parse_model_args(argc, argv, check_usage, false, &args);

	if (rc != 0)
		return rc > 0 ? PCS_EXIT_OK : PCS_EXIT_USAGE;
	rc = pcs_model_load(&model, args.model_path, args.overrides, args.n_overrides, &err);
	if (rc != 0) {
		pcs_cli_report("check", &err, rc);
		return pcs_cli_exit_code(rc);
	}

	pcs_model_count(&model, &counts);
	printf("model %s (%s): valid\n", model.name, model.path);
	printf("layers:\n");
	for (int l = 0; l < model.n_layers; l++) {
		const pcs_layer_spec *s = &model.layers[l];

		printf("  %-12s size %-7d activation %-10s clamp %-6s sigma2 %g\n", s->name, s->size,
		       pcs_activation_name(s->activation), pcs_clamp_name(s->clamp), s->sigma2);
	}
	printf("edges (predictions):\n");
	for (int k = 0; k < model.n_edges; k++) {
		const pcs_edge_spec *e = &model.edges[k];

		printf("  %d: %s -> %s  %d x %d synapses, learning_rate %g, delay %g\n", k,
		       model.layers[e->from].name, model.layers[e->to].name,
		       model.layers[e->to].size, model.layers[e->from].size, e->learning_rate,
		       e->delay);
	}
	printf("neurons: %lld representational, %lld error\n", (long long)counts.representational,
	       (long long)counts.error);
	printf("synapses: %lld prediction (W), %lld feedback (B)\n", (long long)counts.synapses_w,
	       (long long)counts.synapses_b);
	printf("memory estimate: %.1f MiB for the network (data sets not included)\n",
	       (double)counts.bytes / (1024.0 * 1024.0));
	pcs_model_free(&model);
	return PCS_EXIT_OK;
}
