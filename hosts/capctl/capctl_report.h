/* capctl_report.h: checking and printing a frozen capsule's freeze report (capsule-abi/cap_report.h) for `capctl inspect`. */
#ifndef HOST_CAPCTL_REPORT_H
#define HOST_CAPCTL_REPORT_H

#include "capsule-abi/cap_report.h"

#include <stdint.h>
#include <stdio.h>

/*
 * buf holds the CAP_REPORT_SIZE bytes at CAP_REPORT_ADDR of a snapshot and
 * report_size is what the control page says the capsule wrote.  The report
 * comes from the capsule, so nothing in it is trusted: the header's magic,
 * version and counts must fit inside report_size, which must fit inside
 * the report area.  Returns the header, or NULL with *why set.
 */
const struct cap_report_header *capctl_report_check(const uint8_t *buf, uint32_t report_size,
                                                    const char **why);

/* A checked report for people: arena use, threads, descriptors (with TCP state). */
void capctl_report_text(FILE *out, const struct cap_report_header *rep);

/*
 * The same as JSON members, `"threads": [...], "fds": [...],
 * "report_truncated": BOOL` (each on its own line, comma-separated, no
 * braces); rep may be NULL (empty arrays).
 */
void capctl_report_json(FILE *out, const struct cap_report_header *rep);

/*
 * Text from a snapshot (the capsule wrote it, or whoever edited the file),
 * at most max bytes of in, made printable (anything else becomes '?') into
 * out (max + 1 bytes): data, never terminal control sequences.
 */
void capctl_report_printable(char *out, const char *in, size_t max);

/* What the report's threads wait for, "accept fd 3; wait" (printable, at most len - 1 bytes):
 * one line per process in `capctl inspect`'s process tree.  rep may be NULL ("?"). */
void capctl_report_blocked(const struct cap_report_header *rep, char *out, size_t len);

/* s as a JSON string literal, quoted and escaped. */
void capctl_report_json_fput(FILE *out, const char *s);

#endif
