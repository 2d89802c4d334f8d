/* textstats.c: counts words and characters of one line. */
#include "textstats.h"

#include <ctype.h>

struct textstats textstats_of(const char *line, size_t len)
{
	struct textstats st = { 0, 0 };
	int in_word = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == '\n' || c == '\r')
			continue;
		st.chars++;
		if (isspace(c))
			in_word = 0;
		else if (!in_word) {
			in_word = 1;
			st.words++;
		}
	}
	return st;
}
