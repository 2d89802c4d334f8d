/* bytes.h: big-endian (network order) integers in byte buffers, for every wire format the hosts speak. */
#ifndef HOST_BYTES_H
#define HOST_BYTES_H

#include <stdint.h>

static inline void host_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void host_put32(uint8_t *p, uint32_t v)
{
	host_put16(p, (uint16_t)(v >> 16));
	host_put16(p + 2, (uint16_t)v);
}
static inline void host_put64(uint8_t *p, uint64_t v)
{
	host_put32(p, (uint32_t)(v >> 32));
	host_put32(p + 4, (uint32_t)v);
}
static inline uint16_t host_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t host_get32(const uint8_t *p)
{
	return (uint32_t)host_get16(p) << 16 | host_get16(p + 2);
}
static inline uint64_t host_get64(const uint8_t *p)
{
	return (uint64_t)host_get32(p) << 32 | host_get32(p + 4);
}

#endif
