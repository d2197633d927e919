/* Values the config's sections share; see confvalue.h. */
#include "confvalue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
confvalue_set_string(char **dst, const char *value, char *err, size_t errlen)
{
	char *copy = NULL;

	if (value[0] != '\0' && (copy = strdup(value)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}
