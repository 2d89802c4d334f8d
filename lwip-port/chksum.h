/* chksum.h: the Internet checksum lwIP uses (lwipopts.h: LWIP_CHKSUM), chksum.c. */
#ifndef LP_CHKSUM_H
#define LP_CHKSUM_H

#include <stdint.h>

/* lwip_standard_chksum's result for the same bytes: the folded one's-complement sum of len
 * bytes at dataptr as native 16-bit words, in host order, not inverted. */
uint16_t lp_chksum(const void *dataptr, int len);

#endif
