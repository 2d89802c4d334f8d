/* tmpstore.c: where /tmp lives: its nodes, open file descriptions and file pages in the shared window, under one spinlock, so every process of a capsule sees one file system (docs/PROCESSES.md, section 5). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include "runtime/rt_internal.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_tmpstore.h"

#define PAGE 4096u
#define POOL_PAGES 16u          /* a pool slot: a header page, then 16 pages of file bytes */
#define ENTRIES_PER_PAGE (PAGE / 4)
#define MAX_PAGES ((uint64_t)RT_TMP_DIRECT + ENTRIES_PER_PAGE + (uint64_t)ENTRIES_PER_PAGE * ENTRIES_PER_PAGE)
#define NODE_CHUNKS 64          /* slots of nodes beyond the head's */
#define DESC_CHUNKS 32          /* slots of descriptions beyond the head's */
#define HEAD_NODES 96           /* nodes in the head's own slot */
#define FIRST_INO 6             /* "/", "/dev", "/etc", "/tmp" are 2..5 (tmpfs.c) */

/* Every slot of the file system starts so (rt_shared_each_ring tells kinds apart by it). */
struct slot_tag {
	int lock;                   /* unused: the head's lock guards everything */
	int kind;                   /* RT_SHARED_KIND_TMPFS */
	uint32_t pages_used;        /* a pool: bit k, its page k holds bytes */
	uint32_t pad;
};

/*
 * The head: one slot, found through the window's first page.  After it in
 * the same slot, the first HEAD_NODES nodes and as many descriptions as fit;
 * more come in slots of their own (chunks), and file bytes in pool slots.
 */
struct rt_tmphead {
	struct slot_tag tag;        /* tag.lock is the file system's one lock */
	uint64_t next_ino;
	uint32_t node_chunks, desc_chunks, pools, pool_hint;
	uint64_t node_chunk[NODE_CHUNKS];
	uint64_t desc_chunk[DESC_CHUNKS];
	uint32_t pool[RT_SHARED_SLOTS];   /* first page number of each pool slot */
};

#define HEAD_BYTES ((sizeof(struct rt_tmphead) + 63) & ~(size_t)63)
#define HEAD_DESCS ((RT_SHARED_SLOT - HEAD_BYTES - HEAD_NODES * sizeof(struct rt_tnode)) / sizeof(struct rt_tdesc))
#define CHUNK_NODES ((RT_SHARED_SLOT - sizeof(struct slot_tag)) / sizeof(struct rt_tnode))
#define CHUNK_DESCS ((RT_SHARED_SLOT - sizeof(struct slot_tag)) / sizeof(struct rt_tdesc))
_Static_assert(HEAD_BYTES + HEAD_NODES * sizeof(struct rt_tnode) + 64 * sizeof(struct rt_tdesc) <= RT_SHARED_SLOT,
               "the head, its nodes and some descriptions fit one slot");

static void *page_addr(uint32_t page)
{
	return (unsigned char *)CAP_SHARED_ADDR + (size_t)page * PAGE;
}

static uint32_t page_of(const void *addr)
{
	return (uint32_t)(((uintptr_t)addr - CAP_SHARED_ADDR) / PAGE);
}

int64_t rt_tmpstore_now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct rt_tmphead *rt_tmpstore_lock(int make)
{
	struct rt_tmphead *h = rt_shared_tmpfs_head(make ? RT_SHARED_SLOT : 0);
	if (!h)
		return 0;
	rt_spin_lock(&h->tag.lock);
	if (!h->tag.kind) {   /* made zeroed just now: the first to lock it sets it up */
		h->tag.kind = RT_SHARED_KIND_TMPFS;
		h->next_ino = FIRST_INO;
	}
	return h;
}

void rt_tmpstore_unlock(struct rt_tmphead *h)
{
	rt_spin_unlock(&h->tag.lock);
}

/* A zeroed slot of this file system with its tag, or 0 (the window is full). */
static void *new_slot(void)
{
	struct slot_tag *t = rt_shared_alloc();
	if (t)
		t->kind = RT_SHARED_KIND_TMPFS;
	return t;
}

static void say_full(void)
{
	static int said;
	if (!said++)
		rt_console_write(2, "capsule: /tmp is full: its files share the 64 MiB shared window with pipes "
		                    "and shared memory (ENOSPC)\n");
}

/* ---- nodes and descriptions: a table in the head's slot, then in chunks ---- */

/* One of the two tables: where its entries lie.  An entry whose first 8 bytes are zero is free. */
struct table {
	size_t size;                /* bytes of an entry */
	size_t in_head, per_chunk;  /* entries in the head's slot, in a chunk of its own */
	size_t head_offset;         /* where the head's entries start in its slot */
	size_t chunks_field, chunk_field;   /* offsetof the count of chunks, of their addresses */
	uint32_t max_chunks;
};

static const struct table nodes = {
	sizeof(struct rt_tnode), HEAD_NODES, CHUNK_NODES, HEAD_BYTES,
	offsetof(struct rt_tmphead, node_chunks), offsetof(struct rt_tmphead, node_chunk), NODE_CHUNKS,
};
static const struct table descs = {
	sizeof(struct rt_tdesc), HEAD_DESCS, CHUNK_DESCS, HEAD_BYTES + HEAD_NODES * sizeof(struct rt_tnode),
	offsetof(struct rt_tmphead, desc_chunks), offsetof(struct rt_tmphead, desc_chunk), DESC_CHUNKS,
};

static uint32_t *chunk_count(struct rt_tmphead *h, const struct table *t)
{
	return (uint32_t *)((unsigned char *)h + t->chunks_field);
}

static uint64_t *chunk_addr(struct rt_tmphead *h, const struct table *t)
{
	return (uint64_t *)((unsigned char *)h + t->chunk_field);
}

/* Entry i of t, or 0 beyond the chunks made so far. */
static void *entry(struct rt_tmphead *h, const struct table *t, uint32_t i)
{
	if (i < t->in_head)
		return (unsigned char *)h + t->head_offset + i * t->size;
	i -= (uint32_t)t->in_head;
	if (i / t->per_chunk >= *chunk_count(h, t))
		return 0;
	struct slot_tag *chunk = (void *)(uintptr_t)chunk_addr(h, t)[i / t->per_chunk];
	return (unsigned char *)(chunk + 1) + i % t->per_chunk * t->size;
}

/* A free entry of t, zeroed (its number in *at), a chunk added if none is; or 0: full. */
static void *entry_new(struct rt_tmphead *h, const struct table *t, uint32_t *at)
{
	unsigned char *e;
	uint32_t i = 0;
	while ((e = entry(h, t, i)) && (e[0] | e[1] | e[2] | e[3] | e[4] | e[5] | e[6] | e[7]))
		i++;
	if (!e && *chunk_count(h, t) < t->max_chunks) {
		void *chunk = new_slot();
		if (chunk) {
			chunk_addr(h, t)[(*chunk_count(h, t))++] = (uint64_t)(uintptr_t)chunk;
			e = entry(h, t, i);
		}
	}
	if (e) {
		memset(e, 0, t->size);
		*at = i;
	}
	return e;
}

struct rt_tnode *rt_tmpstore_node(struct rt_tmphead *h, uint32_t i)
{
	return entry(h, &nodes, i);
}

struct rt_tnode *rt_tmpstore_node_new(struct rt_tmphead *h)
{
	uint32_t i;
	struct rt_tnode *n = entry_new(h, &nodes, &i);
	if (!n) {
		say_full();
		return 0;
	}
	n->used = 1;
	n->ino = h->next_ino++;
	return n;
}

struct rt_tdesc *rt_tmpstore_desc(struct rt_tmphead *h, uint32_t i)
{
	return entry(h, &descs, i);
}

long rt_tmpstore_desc_new(struct rt_tmphead *h, struct rt_tnode *n)
{
	uint32_t i;
	struct rt_tdesc *d = entry_new(h, &descs, &i);
	if (!d)
		return -1;
	d->node = (uint64_t)(uintptr_t)n;   /* the caller's hold on n is the description's now */
	d->held_by[rt_proc_slot()] = 1;
	return i;
}

void rt_tmpstore_desc_drop_if_unheld(struct rt_tmphead *h, struct rt_tdesc *d)
{
	int held = 0;
	for (int s = 0; s < CAP_PROC_MAX; s++)
		held += d->held_by[s];
	if (held > 0)
		return;
	struct rt_tnode *n = (void *)(uintptr_t)d->node;
	memset(d, 0, sizeof *d);
	if (--n->opens <= 0 && !n->path[0])
		rt_tmpstore_node_free(h, n);
}

void rt_tmpstore_lost(unsigned slot)
{
	struct rt_tmphead *h = slot < CAP_PROC_MAX ? rt_tmpstore_lock(0) : 0;
	if (!h)
		return;   /* /tmp never had a file */
	struct rt_tdesc *d;
	for (uint32_t i = 0; (d = rt_tmpstore_desc(h, i)); i++) {
		if (d->node && d->held_by[slot]) {
			d->held_by[slot] = 0;
			rt_tmpstore_desc_drop_if_unheld(h, d);
		}
	}
	rt_tmpstore_unlock(h);
}

/* ---- pages of file bytes: 16 to a pool slot ---- */

/* A zeroed page, or 0 (the window is full). */
static uint32_t page_new(struct rt_tmphead *h)
{
	for (uint32_t k = 0; k < h->pools; k++) {
		uint32_t p = (h->pool_hint + k) % h->pools;
		struct slot_tag *pool = page_addr(h->pool[p]);
		if (pool->pages_used != (1u << POOL_PAGES) - 1) {
			uint32_t bit = (uint32_t)__builtin_ctz(~pool->pages_used);
			pool->pages_used |= 1u << bit;
			h->pool_hint = p;
			memset(page_addr(h->pool[p] + 1 + bit), 0, PAGE);   /* a freed page keeps its old bytes */
			return h->pool[p] + 1 + bit;
		}
	}
	struct slot_tag *pool = h->pools < RT_SHARED_SLOTS ? new_slot() : 0;
	if (!pool) {
		say_full();
		return 0;
	}
	pool->pages_used = 1;
	h->pool_hint = h->pools;
	h->pool[h->pools++] = page_of(pool);
	return page_of(pool) + 1;   /* zeroed with its slot */
}

static void page_free(struct rt_tmphead *h, uint32_t page)
{
	uint32_t first = 1 + (page - 1) / (RT_SHARED_SLOT / PAGE) * (RT_SHARED_SLOT / PAGE);   /* its pool's header */
	struct slot_tag *pool = page_addr(first);
	pool->pages_used &= ~(1u << (page - first - 1));
	if (pool->pages_used)
		return;
	for (uint32_t p = 0; p < h->pools; p++) {
		if (h->pool[p] == first) {
			h->pool[p] = h->pool[--h->pools];
			h->pool_hint = 0;
			break;
		}
	}
	rt_shared_free(pool);
}

/* Where the number of the file's page idx is kept (made when make), or 0: none, or no room. */
static uint32_t *page_entry(struct rt_tmphead *h, struct rt_tnode *n, uint64_t idx, int make)
{
	if (idx < RT_TMP_DIRECT)
		return &n->direct[idx];
	idx -= RT_TMP_DIRECT;
	uint32_t *table = &n->indirect;
	if (idx >= ENTRIES_PER_PAGE) {
		idx -= ENTRIES_PER_PAGE;
		if (idx >= (uint64_t)ENTRIES_PER_PAGE * ENTRIES_PER_PAGE)
			return 0;
		if (!n->dindirect && (!make || !(n->dindirect = page_new(h))))
			return 0;
		table = (uint32_t *)page_addr(n->dindirect) + idx / ENTRIES_PER_PAGE;
		idx %= ENTRIES_PER_PAGE;
	}
	if (!*table && (!make || !(*table = page_new(h))))
		return 0;
	return (uint32_t *)page_addr(*table) + idx;
}

/* The file's pages from first on go back, with the tables that named only them. */
static void drop_pages(struct rt_tmphead *h, struct rt_tnode *n, uint64_t first)
{
	uint64_t end = (n->size + PAGE - 1) / PAGE;
	for (uint64_t idx = first; idx < end; idx++) {
		uint32_t *e = page_entry(h, n, idx, 0);
		if (e && *e) {
			page_free(h, *e);
			*e = 0;
		}
	}
	if (first <= RT_TMP_DIRECT && n->indirect) {
		page_free(h, n->indirect);
		n->indirect = 0;
	}
	if (!n->dindirect)
		return;
	uint64_t base = RT_TMP_DIRECT + ENTRIES_PER_PAGE;
	uint64_t from = first > base ? (first - base + ENTRIES_PER_PAGE - 1) / ENTRIES_PER_PAGE : 0;
	uint32_t *tables = page_addr(n->dindirect);
	for (uint64_t t = from; t < ENTRIES_PER_PAGE; t++) {
		if (tables[t]) {
			page_free(h, tables[t]);
			tables[t] = 0;
		}
	}
	if (!from) {
		page_free(h, n->dindirect);
		n->dindirect = 0;
	}
}

void rt_tmpstore_node_free(struct rt_tmphead *h, struct rt_tnode *n)
{
	drop_pages(h, n, 0);
	memset(n, 0, sizeof *n);
}

long rt_tmpstore_read(struct rt_tmphead *h, struct rt_tnode *n, void *buf, size_t len, uint64_t off)
{
	if (off >= n->size)
		return 0;
	if (len > n->size - off)
		len = (size_t)(n->size - off);
	for (size_t done = 0; done < len;) {
		uint64_t at = off + done;
		size_t in_page = PAGE - (size_t)(at % PAGE), part = len - done < in_page ? len - done : in_page;
		uint32_t *e = page_entry(h, n, at / PAGE, 0);
		if (e && *e)
			memcpy((char *)buf + done, (char *)page_addr(*e) + at % PAGE, part);
		else
			memset((char *)buf + done, 0, part);   /* a hole */
		done += part;
	}
	return (long)len;
}

long rt_tmpstore_write(struct rt_tmphead *h, struct rt_tnode *n, const void *buf, size_t len, uint64_t off)
{
	if (off > MAX_PAGES * PAGE || len > MAX_PAGES * PAGE - off)
		return -EFBIG;
	size_t done = 0;
	while (done < len) {
		uint64_t at = off + done;
		size_t in_page = PAGE - (size_t)(at % PAGE), part = len - done < in_page ? len - done : in_page;
		uint32_t *e = page_entry(h, n, at / PAGE, 1);
		if (e && !*e)
			*e = page_new(h);
		if (!e || !*e)
			break;
		memcpy((char *)page_addr(*e) + at % PAGE, (const char *)buf + done, part);
		done += part;
	}
	if (len && !done)
		return -ENOSPC;
	if (off + done > n->size)
		n->size = off + done;
	n->mtime_ns = rt_tmpstore_now_ns();
	return (long)done;
}

long rt_tmpstore_truncate(struct rt_tmphead *h, struct rt_tnode *n, uint64_t size)
{
	if (size > MAX_PAGES * PAGE)
		return -EFBIG;
	if (size < n->size) {
		drop_pages(h, n, (size + PAGE - 1) / PAGE);
		uint32_t *e = size % PAGE ? page_entry(h, n, size / PAGE, 0) : 0;
		if (e && *e)   /* bytes past the end read as zeros when it grows again */
			memset((char *)page_addr(*e) + size % PAGE, 0, PAGE - size % PAGE);
	}
	n->size = size;   /* growing makes a hole: no page until written */
	n->mtime_ns = rt_tmpstore_now_ns();
	return 0;
}
