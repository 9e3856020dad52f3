/*
 * cli.h - what every verb of the gg command needs before it starts: the .gg
 * directory, the store, the shim library.  Main-level code: these print and die()
 * with a hint on failure, so a verb reads as its plan.
 */
#ifndef GG_CLI_H
#define GG_CLI_H

#include <stddef.h>
#include <stdint.h>

struct json;
struct store;

/* The .gg directory found like .git (GG_DIR, else upwards; ggdir.h), or die. */
char *cli_need_ggdir(void);

/* The same, created here when there is none, or die. */
char *cli_make_ggdir(void);

/*
 * Open the store of ggdir with store_init's flags (store.h), or die; without
 * STORE_CREATE a missing store says to run 'gg infer' first.
 */
void cli_open_store(struct store *st, const char *ggdir, unsigned flags);

/*
 * The shim library as an absolute path in *out (malloc'd): $GG_SHIM_LIB (a
 * relative one is taken from the cwd), else <dir of gg>/../lib/libggshim.so.
 * Whether it exists is not checked.  0 or -errno.
 */
int cmd_shim_path(char **out);

/* The local-only reasons of a thunk (enum thunk_local bits): "a, b" into out[cap]. */
void cli_local_str(uint32_t local, char *out, size_t cap);

/* The same as a JSON array of reason names. */
void cli_local_json(struct json *j, uint32_t local);

#endif
