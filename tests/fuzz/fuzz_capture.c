/* fuzz_capture.c: libFuzzer target: arbitrary datagrams and packets into the capture filter (which reads wire datagrams before they are checked) and the outer-header builder. */
#include "hosts/formats/capture.h"
#include "hosts/common/ipv4.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t ip = 0;
	if (size >= 4)
		memcpy(&ip, data, 4);   /* the capsule: often one the datagram names */
	int w = capture_wire_match(data, size, ip);
	int i = capture_inner_match(data, size, ip);
	if ((w != 0 && w != 1) || (i != 0 && i != 1))
		abort();
	/* The outer headers of a record of this size: a valid IPv4 header, or refused. */
	uint8_t o[CAPTURE_OUTER_LEN];
	if (capture_outer_build(o, size, ip, 7471, ~ip, 7471) == 0 && ipv4_sum(0, o, 20) != 0xffff)
		abort();
	return 0;
}
