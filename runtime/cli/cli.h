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

/*
 * The process's heap on huge pages (call first thing in main).  A large build
 * touches a few hundred megabytes of small allocations, and in a virtual machine a
 * fresh 4 KB page costs 5 to 60 us to fault in (a 100,000-thunk cached build took
 * 36,000 faults): the heap grows in 256 MB steps of address space, which are asked
 * for transparent huge pages, as glibc's tunable glibc.malloc.hugetlb=1 does.  Only
 * address space is reserved; best effort, silent.  Children are spawned with
 * CLONE_VM (sandbox/), so no huge page is ever copied on write.
 */
void cli_heap_policy(void);

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
