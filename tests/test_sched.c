/* SPDX-License-Identifier: MIT */
/* The event queue's ordering invariant: (tick, sequence number), FIFO ties. */
#include <check.h>
#include <stdlib.h>

#include "pcsim/common.h"
#include "runtime/sched.h"


START_TEST(sched_orders_by_tick_then_fifo)
{
	pcs_sched *s = pcs_sched_create();
	pcs_event ev = {0};
	int64_t ticks[] = {30, 10, 20, 10, 30, 0, 10};
	uint32_t expected[] = {5, 1, 3, 6, 2, 0, 4};
	int n = (int)(sizeof ticks / sizeof ticks[0]);

	for (int i = 0; i < n; i++) {
		ev.target = (uint32_t)i;
		ck_assert_int_eq(pcs_sched_push(s, ticks[i], &ev), 0);
	}
	for (int i = 0; i < n; i++) {
		ck_assert(pcs_sched_pop(s, &ev));
		ck_assert_uint_eq(ev.target, expected[i]);
	}
	ck_assert(!pcs_sched_pop(s, &ev));
	pcs_sched_destroy(s);
}
END_TEST


START_TEST(sched_same_tick_push_runs_last)
{
	pcs_sched *s = pcs_sched_create();
	pcs_event ev = {0};

	ev.target = 1;
	pcs_sched_push(s, 5, &ev);
	ev.target = 2;
	pcs_sched_push(s, 5, &ev);
	ck_assert(pcs_sched_pop(s, &ev));
	ck_assert_uint_eq(ev.target, 1);

	/* Pushed for the current tick while it is being processed. */
	ev.target = 3;
	pcs_sched_push(s, 5, &ev);
	ck_assert(pcs_sched_pop(s, &ev));
	ck_assert_uint_eq(ev.target, 2);
	ck_assert(pcs_sched_pop(s, &ev));
	ck_assert_uint_eq(ev.target, 3);
	ck_assert_int_eq(pcs_sched_now(s), 5);
	pcs_sched_destroy(s);
}
END_TEST


/* Many distinct ticks in random order come out sorted and stable. */
START_TEST(sched_random_matches_sort)
{
	enum { N = 200000 };
	pcs_sched *s = pcs_sched_create();
	pcs_rng rng;
	pcs_event ev = {0};
	int64_t *tick = malloc(N * sizeof *tick);
	int64_t last_tick = -1;
	uint32_t last_target = 0;

	pcs_rng_seed(&rng, 42, 0);
	for (uint32_t i = 0; i < N; i++) {
		tick[i] = (int64_t)pcs_rng_below(&rng, 5000);
		ev.target = i;
		ck_assert_int_eq(pcs_sched_push(s, tick[i], &ev), 0);
	}
	for (int i = 0; i < N; i++) {
		ck_assert(pcs_sched_pop(s, &ev));
		ck_assert_int_eq(pcs_sched_now(s), tick[ev.target]);
		ck_assert_int_ge(tick[ev.target], last_tick);
		if (tick[ev.target] == last_tick)
			ck_assert_uint_gt(ev.target, last_target);
		last_tick = tick[ev.target];
		last_target = ev.target;
	}
	ck_assert(!pcs_sched_pop(s, &ev));
	ck_assert_int_eq(pcs_sched_next_tick(s), INT64_MAX);
	free(tick);
	pcs_sched_destroy(s);
}
END_TEST


START_TEST(sched_ticks_round_exactly)
{
	ck_assert_int_eq(pcs_ticks(0.1), 100000000LL);
	ck_assert_int_eq(pcs_ticks(5.0), 5000000000LL);
	ck_assert_int_eq(50 * pcs_ticks(0.1), pcs_ticks(5.0));
	ck_assert_double_eq(pcs_time(pcs_ticks(0.25)), 0.25);
}
END_TEST


static Suite *sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("order");

	tcase_add_test(tc, sched_orders_by_tick_then_fifo);
	tcase_add_test(tc, sched_same_tick_push_runs_last);
	tcase_add_test(tc, sched_random_matches_sort);
	tcase_add_test(tc, sched_ticks_round_exactly);
	suite_add_tcase(s, tc);
	return s;
}


int main(void)
{
	SRunner *sr = srunner_create(sched_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
