/* SPDX-License-Identifier: MIT */
/*
 * A plastic synapse row: the incoming synapses of one neuron from one edge,
 * with the last value received on each, kept so that a message and a
 * plasticity step both cost O(1) instead of O(fan-in).
 *
 * Both plastic rows of the network follow one rule,
 *     dw_k/dt = rate * (s * v_k - decay * w_k),
 * where v_k is the last value received on synapse k and s is a scalar the
 * owner holds: at an error neuron (W row) s = e_i and v_k = f(x_k); at a
 * representational neuron (B row) s = f(x_j) and v_k = e_k. An Euler step
 * of length h with a = 1 - rate * h * decay and c = rate * h * s maps every
 * weight to a * w_k + c * v_k, so the row stores
 *     w_k = scale * base_k + drive * v_k
 * and a step only updates the two scalars scale and drive. A message that
 * changes v_k rewrites base_k so that w_k is unchanged. The row also keeps
 *     base_dot = sum_k base_k * v_k,   sq = sum_k v_k^2,
 * so the input sum  sum_k w_k v_k = scale * base_dot + drive * sq  is O(1).
 *
 * Invariant: after every operation, weight(k) equals the eagerly updated
 * weight to rounding. base_dot and sq drift by rounding, so the row is
 * rebuilt exactly after 2n + 16 messages, and whenever scale falls below
 * 1/4 (decay), which keeps the division by scale well conditioned.
 */
#ifndef PCS_ROW_H
#define PCS_ROW_H

typedef struct pcs_row {
	int n;            /* synapses */
	double *base;     /* n, see the file comment */
	double *last;     /* n, last value received per synapse */
	double scale;
	double drive;
	double base_dot;
	double sq;
	int messages;     /* since the last rebuild */
} pcs_row;

/* Sets the row over caller-owned arrays; weights[k] initial, inputs 0. */
void pcs_row_init(pcs_row *row, int n, double *base, double *last, const double *weights);

/* Folds scale and drive into base and recomputes the sums exactly. */
void pcs_row_rebuild(pcs_row *row);

static inline double pcs_row_weight(const pcs_row *row, int k)
{
	return row->scale * row->base[k] + row->drive * row->last[k];
}

static inline double pcs_row_sum(const pcs_row *row)
{
	return row->scale * row->base_dot + row->drive * row->sq;
}

/* Records value v on synapse k, keeping every weight unchanged. */
static inline void pcs_row_receive(pcs_row *row, int k, double v)
{
	double old = row->last[k];
	double w, nb;

	if (v == old)
		return;
	w = row->scale * row->base[k] + row->drive * old;
	nb = (w - row->drive * v) / row->scale;
	row->base_dot += nb * v - row->base[k] * old;
	row->sq += v * v - old * old;
	row->base[k] = nb;
	row->last[k] = v;
	if (++row->messages > 2 * row->n + 16)
		pcs_row_rebuild(row);
}

/*
 * Applies one Euler step of the plasticity rule: w_k <- a * w_k + c * v_k
 * with a = 1 - rate * h * decay and c = rate * h * s.
 */
static inline void pcs_row_learn(pcs_row *row, double a, double c)
{
	row->scale *= a;
	row->drive = a * row->drive + c;
	if (row->scale < 0.25)
		pcs_row_rebuild(row);
}

#endif
