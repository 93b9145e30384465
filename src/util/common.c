/* SPDX-License-Identifier: MIT */
/* Error text table, error records and the xoshiro256** generator. */
#include "pcsim/common.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

const char *pcs_strerror(int code)
{
	switch (code) {
#define PCS_STRERROR_CASE(name, value, text) \
	case PCS_##name:                     \
		return text;
		PCS_ERRNO_MAP(PCS_STRERROR_CASE)
#undef PCS_STRERROR_CASE
	case 0:
		return "success";
	default:
		return "unknown error";
	}
}


int pcs_error_set(pcs_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return code;
}


static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}


void pcs_rng_seed(pcs_rng *rng, uint64_t seed, uint64_t stream)
{
	uint64_t state = seed ^ (stream * 0xd1b54a32d192ed03ULL);

	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&state);
}


static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}


void pcs_rng_seed_sub(pcs_rng *rng, uint64_t seed, uint64_t stream, uint64_t index)
{
	pcs_rng_seed(rng, seed, stream * 0x100000000ULL + index + 1);
}


uint64_t pcs_rng_next(pcs_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}


double pcs_rng_uniform(pcs_rng *rng)
{
	return (double)(pcs_rng_next(rng) >> 11) * 0x1.0p-53;
}


double pcs_rng_normal(pcs_rng *rng)
{
	double u, v, s;

	do {
		u = 2.0 * pcs_rng_uniform(rng) - 1.0;
		v = 2.0 * pcs_rng_uniform(rng) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	/* The second draw of the pair is discarded so each call uses a fixed
	 * amount of state regardless of history. */
	return u * sqrt(-2.0 * log(s) / s);
}


uint64_t pcs_rng_below(pcs_rng *rng, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t r;

	do
		r = pcs_rng_next(rng);
	while (r >= limit);
	return r % n;
}


void pcs_rng_shuffle(pcs_rng *rng, uint32_t *order, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)pcs_rng_below(rng, i);
		uint32_t tmp = order[i - 1];

		order[i - 1] = order[j];
		order[j] = tmp;
	}
}
