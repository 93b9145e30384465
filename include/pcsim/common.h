/* SPDX-License-Identifier: MIT */
/*
 * Error codes, the error record that carries a message up to the command
 * line, and the seeded random number generator shared by every module.
 *
 * Library code never prints. A function that can fail returns 0 or a
 * negative PCS_E* code and, when given a pcs_error, fills it with a message
 * that names the file, line, key or value at fault and what to do.
 */
#ifndef PCSIM_COMMON_H
#define PCSIM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define PCS_VERSION "0.1.0"

/* X-macro table: name, value, text. Values are negative like libuv's. */
#define PCS_ERRNO_MAP(X)                                               \
	X(EINVAL, -1, "invalid argument")                              \
	X(ENOMEM, -2, "out of memory")                                 \
	X(EMODEL, -3, "invalid model file")                            \
	X(EDATA, -4, "invalid or unreadable data file")                \
	X(ETRACE, -5, "trace database error")                          \
	X(EIO, -6, "input/output error")                               \
	X(EDIVERGED, -7, "simulation diverged")                        \
	X(EINTR, -8, "run interrupted")                                \
	X(EUSAGE, -9, "invalid command line")                          \
	X(ERUNTIME, -10, "runtime failure")

enum {
#define PCS_ERRNO_ENUM(name, value, text) PCS_##name = value,
	PCS_ERRNO_MAP(PCS_ERRNO_ENUM)
#undef PCS_ERRNO_ENUM
};

/* Returns the fixed text for a PCS_E* code, or "unknown error". */
const char *pcs_strerror(int code);

/* A failure's code and its full message, filled by the failing function. */
typedef struct pcs_error {
	int code;
	char msg[1024];
} pcs_error;

/*
 * Records code and a printf-style message in err (which may be NULL) and
 * returns code, so callers can write `return pcs_error_set(err, ...)`.
 */
int pcs_error_set(pcs_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * xoshiro256** generator. Every random draw of a run comes from a stream
 * derived from the run seed and a stream number, so adding a new consumer
 * never shifts the draws of an existing one.
 */
typedef struct pcs_rng {
	uint64_t s[4];
} pcs_rng;

/* Seeds rng from seed and stream through splitmix64. */
void pcs_rng_seed(pcs_rng *rng, uint64_t seed, uint64_t stream);
uint64_t pcs_rng_next(pcs_rng *rng);
/* Returns a double uniform on [0, 1). */
double pcs_rng_uniform(pcs_rng *rng);
/* Returns a standard normal draw (Marsaglia polar method). */
double pcs_rng_normal(pcs_rng *rng);
/* Returns an integer uniform on [0, n), without modulo bias; n > 0. */
uint64_t pcs_rng_below(pcs_rng *rng, uint64_t n);
/* Shuffles order[0..n) in place (Fisher-Yates). */
void pcs_rng_shuffle(pcs_rng *rng, uint32_t *order, size_t n);

/* Stream numbers, fixed so that traces stay comparable across versions. */
enum {
	PCS_STREAM_WEIGHTS = 1,   /* weight initialisation, one draw per synapse in edge order */
	PCS_STREAM_SHUFFLE = 2,   /* sample order of each epoch */
	PCS_STREAM_DATA = 3,      /* data set subsets */
	PCS_STREAM_PARAMS = 4,    /* per-neuron tau and dt; sub-stream per layer and quantity */
	PCS_STREAM_DELAYS = 5,    /* per-neuron delays; sub-stream per edge and direction */
	PCS_STREAM_NOISE = 6,     /* additive activity noise, in event order */
	PCS_STREAM_LOSS = 7,      /* lost messages, in delivery order */
	PCS_STREAM_JITTER = 8,    /* step jitter, in event order */
	PCS_STREAM_FEEDBACK = 9,  /* B of learned and random feedback; sub-stream per edge */
};

/* Seeds a sub-stream `index` of a stream, for per-layer or per-edge draws. */
void pcs_rng_seed_sub(pcs_rng *rng, uint64_t seed, uint64_t stream, uint64_t index);

#endif
