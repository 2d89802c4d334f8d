/* stackbuild.c: builds the SysV initial stack (strings, AT_RANDOM, auxv, envp, argv, argc) in a buffer. */
#include "hosts/caprun/stackbuild.h"
#include "capsule-abi/cap_auxv.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#define AUXV_PAIRS 15   /* room for all, including CAP_AT_DNS and AT_NULL */

struct stack_cursor {
	uint8_t *window;
	size_t len;
	uint64_t top_va, va;   /* va: lowest address used so far */
};

static int push_bytes(struct stack_cursor *c, const void *p, size_t n, uint64_t *at)
{
	uint64_t low = c->top_va - c->len;
	if (c->va - low < n)
		return -1;
	c->va -= n;
	memcpy(c->window + (c->va - low), p, n);
	*at = c->va;
	return 0;
}

static void put_word(struct stack_cursor *c, uint64_t va, uint64_t v)
{
	memcpy(c->window + (va - (c->top_va - c->len)), &v, sizeof v);
}

int stackbuild_write(uint8_t *window, size_t len, uint64_t top_va,
                     const struct stackbuild_args *a, uint64_t *sp, char *err, size_t errlen)
{
	struct stack_cursor c = { window, len, top_va, top_va };
	uint64_t argv_va[a->argc > 0 ? a->argc : 1], envp_va[a->envc > 0 ? a->envc : 1];
	uint64_t random_va, zero_va, zero = 0, dns_va = 0;

	if (a->argc < 1 || a->envc < 0 || len < 4096 || len % 16 || top_va % 16) {
		snprintf(err, errlen, "bad stack arguments");
		return -1;
	}
	int bad = push_bytes(&c, &zero, sizeof zero, &zero_va);   /* end marker */
	for (int i = a->envc - 1; i >= 0; i--)
		bad |= push_bytes(&c, a->envp[i], strlen(a->envp[i]) + 1, &envp_va[i]);
	for (int i = a->argc - 1; i >= 0; i--)
		bad |= push_bytes(&c, a->argv[i], strlen(a->argv[i]) + 1, &argv_va[i]);
	bad |= push_bytes(&c, a->random, sizeof a->random, &random_va);
	if (a->dns)
		bad |= push_bytes(&c, a->dns, strlen(a->dns) + 1, &dns_va);
	if (bad)
		goto too_big;

	uint64_t auxv[AUXV_PAIRS][2] = {
		{ AT_PHDR, a->phdr },     { AT_PHENT, a->phent },   { AT_PHNUM, a->phnum },
		{ AT_PAGESZ, 4096 },      { AT_ENTRY, a->entry },   { AT_UID, a->uid },
		{ AT_EUID, a->euid },     { AT_GID, a->gid },       { AT_EGID, a->egid },
		{ AT_SECURE, 0 },         { AT_RANDOM, random_va }, { AT_HWCAP, a->hwcap },
		{ AT_HWCAP2, a->hwcap2 }, { a->dns ? CAP_AT_DNS : AT_NULL, dns_va }, { AT_NULL, 0 },
	};
	int pairs = a->dns ? AUXV_PAIRS : AUXV_PAIRS - 1;
	uint64_t words = 1 + (uint64_t)a->argc + 1 + (uint64_t)a->envc + 1 + 2 * (uint64_t)pairs;
	uint64_t low = top_va - len;
	uint64_t start = (c.va & ~15ULL) - words * 8;
	start &= ~15ULL;   /* rsp must be 16-byte aligned at _start */
	if (start < low + 256)   /* keep room below for the loader's scratch frame */
		goto too_big;

	uint64_t w = start;
	put_word(&c, w, (uint64_t)a->argc), w += 8;
	for (int i = 0; i < a->argc; i++)
		put_word(&c, w, argv_va[i]), w += 8;
	put_word(&c, w, 0), w += 8;
	for (int i = 0; i < a->envc; i++)
		put_word(&c, w, envp_va[i]), w += 8;
	put_word(&c, w, 0), w += 8;
	for (int i = 0; i < pairs; i++) {
		put_word(&c, w, auxv[i][0]), w += 8;
		put_word(&c, w, auxv[i][1]), w += 8;
	}
	/* Zero any alignment gap between the vectors and the strings. */
	memset(window + (w - low), 0, c.va - w);
	*sp = start;
	return 0;
too_big:
	snprintf(err, errlen, "arguments and environment too large for the initial stack");
	return -1;
}
