/*
 * engines.c - the table of engines (engines.h), and what all engines share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine/engines.h"
#include "runtime/engine/isolated.h"
#include "runtime/engine/lambda.h"

static const struct engine_ops *const table[] = {
	&engine_local,
	&engine_host,
	&engine_isolated,
	&engine_lambda,
};

const struct engine_ops *engines_find(const char *name)
{
	size_t len = strcspn(name, ":");
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strlen(table[i]->name) == len && !strncmp(table[i]->name, name, len))
			return table[i];
	return NULL;
}

void engines_names(char *buf, size_t size)
{
	size_t used = 0;
	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]) && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", table[i]->name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

void engine_result_errf(struct engine_result *res, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(res->err);
	res->err = s;
}
