/* fileshare.c: the offset of a volume file's open file description that several processes hold since a fork, kept in the shared window, so `{ a; b; } > /vol/out` writes a's bytes then b's, as on Linux (docs/PROCESSES.md section 5). */
#include <string.h>
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_fileshare.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"

/*
 * One cell per shared description: its offset, and how many open files
 * each process slot holds of it (one, unless a fork's copy is still counted
 * on the parent's slot, or an exec's on its own).  The last holder to let
 * go frees it; a process killed from outside is let go by CAP_MSG_LOST.
 * Why not the host's own offset (caprun's descriptors are dup'ed at a fork
 * and would share it)?  It would not survive a snapshot: each process opens
 * its files again by name after a resume, apart.
 */
struct rt_offcell {
	int lock;
	int32_t holders;                 /* the sum of by[] */
	int16_t by[CAP_PROC_MAX];
	uint64_t off;
};

#define CELLS 256
struct offtable {
	int lock;                        /* guards used[] and the cells' holders */
	uint64_t used[CELLS / 64];
	struct rt_offcell cell[CELLS];
};
_Static_assert(sizeof(struct offtable) <= RT_SHARED_SLOT, "the table fits one slot");

static struct offtable *table(int make)
{
	return rt_shared_offsets_table(make ? sizeof(struct offtable) : 0);
}

struct rt_offcell *rt_offcell_new(uint64_t off)
{
	struct offtable *t = table(1);
	if (!t)
		return 0;
	struct rt_offcell *c = 0;
	rt_spin_lock(&t->lock);
	for (int i = 0; i < CELLS && !c; i++)
		if (!(t->used[i / 64] & (1ULL << (i % 64)))) {
			t->used[i / 64] |= 1ULL << (i % 64);
			c = &t->cell[i];
			memset(c, 0, sizeof *c);
			c->off = off;
			c->by[rt_proc_slot()] = 1;
			c->holders = 1;
		}
	rt_spin_unlock(&t->lock);
	return c;
}

int rt_offcell_valid(const struct rt_offcell *c)
{
	struct offtable *t = table(0);
	if (!t || (const void *)c < (const void *)t->cell || (const void *)c >= (const void *)(t->cell + CELLS))
		return 0;
	size_t i = (size_t)(c - t->cell);
	return (const struct rt_offcell *)&t->cell[i] == c && (t->used[i / 64] & (1ULL << (i % 64)));
}

/* Under the table's lock: n more (or fewer) holders on slot; the last one frees the cell. */
static void count(struct offtable *t, struct rt_offcell *c, unsigned slot, int n)
{
	c->by[slot] = (int16_t)(c->by[slot] + n);
	c->holders += n;
	if (c->holders <= 0) {
		size_t i = (size_t)(c - t->cell);
		t->used[i / 64] &= ~(1ULL << (i % 64));
	}
}

void rt_offcell_hold(struct rt_offcell *c, int n)
{
	struct offtable *t = table(0);
	rt_spin_lock(&t->lock);
	count(t, c, rt_proc_slot(), n);
	rt_spin_unlock(&t->lock);
}

void rt_offcell_forked(struct rt_offcell *c, unsigned child_slot, int child_pid)
{
	struct offtable *t = table(0);
	if (!child_slot || child_slot >= CAP_PROC_MAX)
		return;   /* a host that did not say: the copy stays counted on our slot */
	rt_spin_lock(&t->lock);
	count(t, c, rt_proc_slot(), -1);
	if (!rt_shared_slot_lost(child_slot, child_pid))   /* ended before we got here: it holds nothing */
		count(t, c, child_slot, 1);
	rt_spin_unlock(&t->lock);
}

void rt_offcells_lost(unsigned slot)
{
	struct offtable *t = table(0);
	if (!t || slot >= CAP_PROC_MAX)
		return;
	rt_spin_lock(&t->lock);
	for (int i = 0; i < CELLS; i++)
		if ((t->used[i / 64] & (1ULL << (i % 64))) && t->cell[i].by[slot])
			count(t, &t->cell[i], slot, -t->cell[i].by[slot]);
	rt_spin_unlock(&t->lock);
}

uint64_t rt_offcell_get(struct rt_offcell *c)
{
	rt_spin_lock(&c->lock);
	uint64_t off = c->off;
	rt_spin_unlock(&c->lock);
	return off;
}

void rt_offcell_set(struct rt_offcell *c, uint64_t off)
{
	rt_spin_lock(&c->lock);
	c->off = off;
	rt_spin_unlock(&c->lock);
}

uint64_t rt_offcell_claim(struct rt_offcell *c, uint64_t len)
{
	rt_spin_lock(&c->lock);
	uint64_t at = c->off;
	c->off = at + len;
	rt_spin_unlock(&c->lock);
	return at;
}

void rt_offcell_settle(struct rt_offcell *c, uint64_t at, uint64_t claimed, uint64_t done)
{
	rt_spin_lock(&c->lock);
	if (c->off == at + claimed)   /* nobody moved it since: the offset goes where we stopped */
		c->off = at + done;
	rt_spin_unlock(&c->lock);
}
