/* fuzz_execreq.c: libFuzzer target: arbitrary bytes as an execve's request read from a capsule's memory (execreq.h), both as a CHECK's and as a GO's. */
#include "hosts/formats/execreq.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int with_handoff = 0; with_handoff < 2; with_handoff++) {
		struct execreq x;
		if (execreq_parse(data, size, with_handoff, &x) == 0) {
			/* what the host then reads: every string, and the hand-off's bytes */
			size_t sum = strlen(x.path);
			for (uint32_t i = 0; i < x.req.argc; i++)
				sum += strlen(x.argv[i]);
			for (uint32_t i = 0; i < x.req.envc; i++)
				sum += strlen(x.envp[i]);
			for (uint32_t i = 0; x.handoff && i < x.req.handoff_len; i++)
				sum += x.handoff[i];
			(void)execreq_program("execs", x.path);
			(void)sum;
		}
		execreq_free(&x);
	}
	return 0;
}
