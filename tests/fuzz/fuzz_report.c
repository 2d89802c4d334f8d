/* fuzz_report.c: libFuzzer target for the freeze-report checks and printers behind `capctl inspect` (hosts/capctl/capctl_report.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capsule-abi/cap_abi.h"
#include "hosts/capctl/capctl_report.h"
#include "tests/fuzz/fuzz_seed.h"

static FILE *sink;
static uint8_t area[CAP_REPORT_SIZE];   /* the report area as a snapshot holds it */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sink = fopen("/dev/null", "w");
	if (!sink)
		abort();
	/* Seed: a sound report; its first 4 bytes are the control page's report_size. */
	static uint8_t seed[4 + 4096];
	size_t n = fuzz_sample_report(seed + 4, sizeof seed - 4);
	uint32_t size = (uint32_t)n;
	memcpy(seed, &size, 4);
	fuzz_seed(fuzz_corpus_dir(*argc, *argv), "report", seed, 4 + n);
	return 0;
}

/*
 * Input: report_size u32 (little-endian, as in the control page), then the
 * report area's first bytes (the rest is zero).  Whatever the capsule (or
 * an editor of the file) wrote, checking and printing must stay inside
 * report_size bytes: ASan sees any read past it, because the area is
 * copied into a buffer of exactly report_size bytes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t report_size;
	memcpy(&report_size, data, 4);
	size_t len = size - 4 < sizeof area ? size - 4 : sizeof area;
	memset(area, 0, sizeof area);
	memcpy(area, data + 4, len);
	const char *why = NULL;
	const struct cap_report_header *rep = capctl_report_check(area, report_size, &why);
	if (!rep) {
		if (!why)
			__builtin_trap();   /* a refusal must say why */
		return 0;
	}
	/* Accepted: report_size fits the area; print from an exact-size copy. */
	if (report_size > sizeof area)
		__builtin_trap();
	uint8_t *exact = malloc(report_size);
	if (!exact)
		return 0;
	memcpy(exact, area, report_size);
	rep = (const void *)exact;
	capctl_report_text(sink, rep);
	capctl_report_json(sink, rep);
	fflush(sink);
	free(exact);
	return 0;
}
