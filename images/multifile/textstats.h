/* textstats.h: counting words and characters in a line of text. */
#ifndef TEXTSTATS_H
#define TEXTSTATS_H

#include <stddef.h>

struct textstats {
	size_t words;
	size_t chars;   /* without the line's newline */
};

struct textstats textstats_of(const char *line, size_t len);

/* "N words, M chars\n" into buf; returns its length. */
int textstats_format(const struct textstats *st, char *buf, size_t buflen);

#endif
