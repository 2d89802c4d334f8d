/* format.c: turns a line's statistics into the reply text. */
#include "textstats.h"

#include <stdio.h>

int textstats_format(const struct textstats *st, char *buf, size_t buflen)
{
	return snprintf(buf, buflen, "%zu words, %zu chars\n", st->words, st->chars);
}
