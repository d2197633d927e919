/* Values the config's sections share; see confvalue.h. */
#include "confvalue.h"

#include <errno.h>
#include <grp.h>
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

int
confvalue_set_group(char **dst, const char *value, char *err, size_t errlen)
{
	struct group *gr;

	if (value[0] != '\0') {
		errno = 0;
		gr = getgrnam(value);
		if (gr == NULL && errno != 0 && errno != ENOENT && errno != ESRCH) {
			snprintf(err, errlen, "cannot look up group '%s': %s", value,
			         strerror(errno));
			return -1;
		}
		if (gr == NULL) {
			snprintf(err, errlen, "no group named '%s'", value);
			return -1;
		}
	}
	return confvalue_set_string(dst, value, err, errlen);
}

void
confvalue_print_size(FILE *out, const char *name, size_t v)
{
	if (v != 0 && v % (1024 * 1024) == 0)
		fprintf(out, "%s = %zuM\n", name, v / (1024 * 1024));
	else if (v != 0 && v % 1024 == 0)
		fprintf(out, "%s = %zuK\n", name, v / 1024);
	else
		fprintf(out, "%s = %zu\n", name, v);
}
