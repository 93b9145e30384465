/* SPDX-License-Identifier: MIT */
/*
 * Bucketed virtual-time event queue; sched.h states the ordering invariant.
 * Buckets live in a min-heap by tick and in an open-addressing hash table
 * (linear probing, backward-shift deletion) keyed by tick.
 */
#include "runtime/sched.h"

#include <stdlib.h>

#include "pcsim/common.h"

typedef struct sched_bucket {
	int64_t tick;
	pcs_event *events;
	uint32_t len, cap, head;
	struct sched_bucket *next_free;
} sched_bucket;

struct pcs_sched {
	int64_t now;
	sched_bucket **heap;
	uint32_t heap_len, heap_cap;
	sched_bucket **table;   /* power-of-two sized, NULL = empty slot */
	uint32_t table_mask, table_len;
	sched_bucket *free_buckets;
};


static uint32_t sched_hash(int64_t tick, uint32_t mask)
{
	uint64_t h = (uint64_t)tick * 0x9e3779b97f4a7c15ULL;

	return (uint32_t)(h >> 32) & mask;
}


pcs_sched *pcs_sched_create(void)
{
	pcs_sched *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->table_mask = 255;
	s->table = calloc(256, sizeof *s->table);
	if (s->table == NULL) {
		free(s);
		return NULL;
	}
	return s;
}


static void sched_free_bucket(sched_bucket *b)
{
	free(b->events);
	free(b);
}


void pcs_sched_destroy(pcs_sched *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->heap_len; i++)
		sched_free_bucket(s->heap[i]);
	while (s->free_buckets != NULL) {
		sched_bucket *b = s->free_buckets;

		s->free_buckets = b->next_free;
		sched_free_bucket(b);
	}
	free(s->heap);
	free(s->table);
	free(s);
}


static sched_bucket *sched_table_find(const pcs_sched *s, int64_t tick)
{
	uint32_t i = sched_hash(tick, s->table_mask);

	while (s->table[i] != NULL) {
		if (s->table[i]->tick == tick)
			return s->table[i];
		i = (i + 1) & s->table_mask;
	}
	return NULL;
}


static void sched_table_put(pcs_sched *s, sched_bucket *b)
{
	uint32_t i = sched_hash(b->tick, s->table_mask);

	while (s->table[i] != NULL)
		i = (i + 1) & s->table_mask;
	s->table[i] = b;
	s->table_len++;
}


static int sched_table_grow(pcs_sched *s)
{
	uint32_t old_cap = s->table_mask + 1;
	sched_bucket **old = s->table;

	s->table = calloc((size_t)old_cap * 2, sizeof *s->table);
	if (s->table == NULL) {
		s->table = old;
		return PCS_ENOMEM;
	}
	s->table_mask = old_cap * 2 - 1;
	s->table_len = 0;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i] != NULL)
			sched_table_put(s, old[i]);
	free(old);
	return 0;
}


static void sched_table_remove(pcs_sched *s, int64_t tick)
{
	uint32_t i = sched_hash(tick, s->table_mask);
	uint32_t j;

	while (s->table[i]->tick != tick)
		i = (i + 1) & s->table_mask;
	s->table[i] = NULL;
	s->table_len--;

	/* Backward-shift deletion keeps every probe sequence unbroken. */
	j = i;
	for (;;) {
		uint32_t home;

		j = (j + 1) & s->table_mask;
		if (s->table[j] == NULL)
			return;
		home = sched_hash(s->table[j]->tick, s->table_mask);
		if (((j - home) & s->table_mask) >= ((j - i) & s->table_mask)) {
			s->table[i] = s->table[j];
			s->table[j] = NULL;
			i = j;
		}
	}
}


static void sched_heap_up(pcs_sched *s, uint32_t i)
{
	sched_bucket *b = s->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (s->heap[parent]->tick <= b->tick)
			break;
		s->heap[i] = s->heap[parent];
		i = parent;
	}
	s->heap[i] = b;
}


static void sched_heap_down(pcs_sched *s, uint32_t i)
{
	sched_bucket *b = s->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= s->heap_len)
			break;
		if (child + 1 < s->heap_len && s->heap[child + 1]->tick < s->heap[child]->tick)
			child++;
		if (s->heap[child]->tick >= b->tick)
			break;
		s->heap[i] = s->heap[child];
		i = child;
	}
	s->heap[i] = b;
}


static sched_bucket *sched_new_bucket(pcs_sched *s, int64_t tick)
{
	sched_bucket *b = s->free_buckets;

	if ((s->table_len + 1) * 2 > s->table_mask + 1 && sched_table_grow(s) != 0)
		return NULL;
	if (s->heap_len == s->heap_cap) {
		uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
		sched_bucket **heap = realloc(s->heap, cap * sizeof *heap);

		if (heap == NULL)
			return NULL;
		s->heap = heap;
		s->heap_cap = cap;
	}
	if (b != NULL)
		s->free_buckets = b->next_free;
	else if ((b = calloc(1, sizeof *b)) == NULL)
		return NULL;
	b->tick = tick;
	b->len = 0;
	b->head = 0;
	sched_table_put(s, b);
	s->heap[s->heap_len] = b;
	sched_heap_up(s, s->heap_len++);
	return b;
}


int pcs_sched_push(pcs_sched *s, int64_t tick, const pcs_event *ev)
{
	sched_bucket *b = sched_table_find(s, tick);

	if (b == NULL && (b = sched_new_bucket(s, tick)) == NULL)
		return PCS_ENOMEM;
	if (b->len == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 64;
		pcs_event *events = realloc(b->events, cap * sizeof *events);

		if (events == NULL)
			return PCS_ENOMEM;
		b->events = events;
		b->cap = cap;
	}
	b->events[b->len++] = *ev;
	return 0;
}


/* Retires the drained bucket at the top of the heap and recycles it. */
static void sched_retire_top(pcs_sched *s)
{
	sched_bucket *b = s->heap[0];

	sched_table_remove(s, b->tick);
	s->heap[0] = s->heap[--s->heap_len];
	if (s->heap_len > 0)
		sched_heap_down(s, 0);
	b->next_free = s->free_buckets;
	s->free_buckets = b;
}


bool pcs_sched_pop(pcs_sched *s, pcs_event *ev)
{
	while (s->heap_len > 0) {
		sched_bucket *b = s->heap[0];

		if (b->head < b->len) {
			s->now = b->tick;
			*ev = b->events[b->head++];
			return true;
		}

		sched_retire_top(s);
	}
	return false;
}


int64_t pcs_sched_now(const pcs_sched *s)
{
	return s->now;
}


int64_t pcs_sched_next_tick(pcs_sched *s)
{
	while (s->heap_len > 0) {
		sched_bucket *b = s->heap[0];

		if (b->head < b->len)
			return b->tick;
		sched_retire_top(s);
	}
	return INT64_MAX;
}
