/* SPDX-License-Identifier: MIT */
/* Activation functions f and their derivatives f', evaluated together. */
#ifndef PCS_ACTIVATION_H
#define PCS_ACTIVATION_H

#include <math.h>

#include "pcsim/model.h"

/* Sets *f = f(x) and *df = f'(x) for activation a (leak: leaky relu slope). */
static inline void pcs_activate(pcs_activation a, double leak, double x, double *f, double *df)
{
	switch (a) {
	case PCS_ACT_TANH: {
		double t = tanh(x);

		*f = t;
		*df = 1.0 - t * t;
		return;
	}
	case PCS_ACT_SIGMOID: {
		double s = 1.0 / (1.0 + exp(-x));

		*f = s;
		*df = s * (1.0 - s);
		return;
	}
	case PCS_ACT_RELU:
		*f = x > 0.0 ? x : 0.0;
		*df = x > 0.0 ? 1.0 : 0.0;
		return;
	case PCS_ACT_LEAKY_RELU:
		*f = x > 0.0 ? x : leak * x;
		*df = x > 0.0 ? 1.0 : leak;
		return;
	case PCS_ACT_LINEAR:
	default:
		*f = x;
		*df = 1.0;
		return;
	}
}

#endif
