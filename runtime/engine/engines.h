/*
 * engines.h - the engines there are, by name (`gg build --engine NAME`): a plain
 * table of engine.h ops.  "local" (the sandbox, local.c) is the default; "host"
 * (host.c, the tree itself, no isolation) runs the thunks marked local-only in
 * every build.  A new engine adds one line to the table in engines.c.
 */
#ifndef GG_ENGINE_ENGINES_H
#define GG_ENGINE_ENGINES_H

#include <stddef.h>

#include "runtime/engine/engine.h"

extern const struct engine_ops engine_local;
extern const struct engine_ops engine_host;

/* The engine called `name` (the part before any ':'), or NULL. */
const struct engine_ops *engines_find(const char *name);

/* The names, separated by ", ", into buf (for messages). */
void engines_names(char *buf, size_t size);

#endif
