/* SPDX-License-Identifier: MIT */
/*
 * The lazy plastic row against an eager reference: a plain array of
 * weights updated synapse by synapse with the same rule,
 *     w_k <- a * w_k + c * v_k   (learning step),
 *     v_k <- v                  (message),
 * and its input sum recomputed from scratch.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "neuron/row.h"
#include "pcsim/common.h"

#define ROW_N 37

typedef struct eager_row {
	double w[ROW_N], v[ROW_N];
} eager_row;


static double eager_sum(const eager_row *r)
{
	double s = 0.0;

	for (int k = 0; k < ROW_N; k++)
		s += r->w[k] * r->v[k];
	return s;
}


/* Runs n random operations on both rows; decay > 0 exercises the rescale. */
static double row_max_deviation(int n, double decay, uint64_t seed)
{
	double base[ROW_N], last[ROW_N], init[ROW_N];
	eager_row eager;
	pcs_row row;
	pcs_rng rng;
	double worst = 0.0;

	pcs_rng_seed(&rng, seed, 0);
	for (int k = 0; k < ROW_N; k++) {
		init[k] = pcs_rng_normal(&rng);
		eager.w[k] = init[k];
		eager.v[k] = 0.0;
	}
	pcs_row_init(&row, ROW_N, base, last, init);

	for (int step = 0; step < n; step++) {
		if (pcs_rng_uniform(&rng) < 0.7) {
			int k = (int)pcs_rng_below(&rng, ROW_N);
			double v = pcs_rng_normal(&rng);

			pcs_row_receive(&row, k, v);
			eager.v[k] = v;
		} else {
			double h = 0.01, rate = 0.5, s = pcs_rng_normal(&rng);
			double a = 1.0 - rate * h * decay, c = rate * h * s;

			pcs_row_learn(&row, a, c);
			for (int k = 0; k < ROW_N; k++)
				eager.w[k] = a * eager.w[k] + c * eager.v[k];
		}
		for (int k = 0; k < ROW_N; k++)
			worst = fmax(worst, fabs(pcs_row_weight(&row, k) - eager.w[k]));
		worst = fmax(worst, fabs(pcs_row_sum(&row) - eager_sum(&eager)));
	}
	return worst;
}


START_TEST(row_matches_eager_without_decay)
{
	ck_assert_double_lt(row_max_deviation(20000, 0.0, 1), 1e-10);
}
END_TEST


START_TEST(row_matches_eager_with_decay)
{
	/* decay 5 with rate 0.5 and h 0.01 shrinks scale by 2.5% a step, so
	 * the scale < 1/4 rebuild runs many times over the sequence. */
	ck_assert_double_lt(row_max_deviation(20000, 5.0, 2), 1e-10);
}
END_TEST


START_TEST(row_receive_keeps_weights)
{
	double base[3], last[3], init[3] = {0.5, -1.0, 2.0};
	pcs_row row;

	pcs_row_init(&row, 3, base, last, init);
	pcs_row_receive(&row, 0, 2.0);
	pcs_row_learn(&row, 1.0, 0.25);   /* w0 += 0.25 * 2 */
	pcs_row_receive(&row, 0, -3.0);   /* must not move w0 */
	pcs_row_receive(&row, 2, 1.0);

	ck_assert_double_eq_tol(pcs_row_weight(&row, 0), 1.0, 1e-15);
	ck_assert_double_eq_tol(pcs_row_weight(&row, 1), -1.0, 1e-15);
	ck_assert_double_eq_tol(pcs_row_weight(&row, 2), 2.0, 1e-15);
	ck_assert_double_eq_tol(pcs_row_sum(&row), 1.0 * -3.0 + 2.0 * 1.0, 1e-14);
}
END_TEST


START_TEST(row_rebuild_exact)
{
	double base[4], last[4], init[4] = {1, 2, 3, 4};
	pcs_row row;

	pcs_row_init(&row, 4, base, last, init);
	for (int k = 0; k < 4; k++)
		pcs_row_receive(&row, k, 1.0);
	pcs_row_learn(&row, 0.5, 1.0);    /* w = 0.5 w + 1 */
	pcs_row_rebuild(&row);

	ck_assert_double_eq(row.scale, 1.0);
	ck_assert_double_eq(row.drive, 0.0);
	for (int k = 0; k < 4; k++)
		ck_assert_double_eq_tol(row.base[k], 0.5 * (k + 1) + 1.0, 1e-15);
	ck_assert_double_eq_tol(row.base_dot, 0.5 * 10 + 4.0, 1e-14);
	ck_assert_double_eq_tol(row.sq, 4.0, 1e-15);
}
END_TEST


static Suite *row_suite(void)
{
	Suite *s = suite_create("row");
	TCase *tc = tcase_create("lazy");

	tcase_add_test(tc, row_matches_eager_without_decay);
	tcase_add_test(tc, row_matches_eager_with_decay);
	tcase_add_test(tc, row_receive_keeps_weights);
	tcase_add_test(tc, row_rebuild_exact);
	suite_add_tcase(s, tc);
	return s;
}


int main(void)
{
	SRunner *sr = srunner_create(row_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
