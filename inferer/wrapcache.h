/*
 * wrapcache.h - the private caches of compiler wrappers (ccache, sccache): scratch,
 * never part of what a command reads or produces.
 *
 * The design (README, "Compiler caches").  A compiler cache that answers from its
 * cache never runs the compiler, so the headers the compiler would have read are not
 * in the recording, and a thunk recorded that way would miss inputs (an edited
 * header would not re-run it).  So gg never records through a cache: the shim puts
 * CCACHE_DISABLE=1 in the environment of every recorded process (shim.c,
 * shim_env_fixup; CCACHE_NODISABLE, which would override it, is dropped), ccache then
 * runs the real compiler, whose every read is recorded, and the variable stays in the
 * thunk's environment so that replays pass through too.  What a wrapper still does
 * in its own cache (ccache reads its configuration there; an sccache server, stats,
 * a cache told otherwise) is scratch: a path at or below a tool cache directory is no
 * input, output, missing probe or listing of a thunk, and no reason for local-only.
 *
 * A tool cache directory is recognised by what it is, not by a list of paths:
 *  - a directory holding a CACHEDIR.TAG file that starts with the signature of the
 *    Cache Directory Tagging Specification (https://bford.info/cachedir/; ccache
 *    tags each of its top-level subdirectories, sccache its cache), outside the build
 *    tree: a tagged directory inside the tree (cargo's target/) holds build outputs
 *    and is never scratch;
 *  - the directories a compiler cache process was configured with, wherever they
 *    are, the build tree excepted: a process is a compiler cache when its real
 *    executable (/proc/self/exe, so /usr/lib/ccache/gcc -> ccache counts) is named
 *    ccache or sccache; its directories are CCACHE_DIR / SCCACHE_DIR from its
 *    environment, cache_dir and temporary_dir from the ccache configuration files it
 *    would read (CCACHE_CONFIGPATH, $XDG_CONFIG_HOME/ccache/ccache.conf,
 *    $HOME/.config/ccache/ccache.conf, /etc/ccache.conf) and the defaults
 *    ($XDG_CACHE_HOME/ccache, $HOME/.cache/ccache, $HOME/.ccache; the same for
 *    sccache).  Neither "/" nor the tree nor one of its ancestors is ever a cache.
 *
 * Paths given to and kept by this module are absolute and lexically normal.  The
 * file system is consulted (CACHEDIR.TAG, configuration files) when asked, once per
 * directory: results are remembered for the life of the struct.
 *
 * Ownership: the struct owns copies of every string it keeps; wrapcache_release
 * frees them.  Cap: none beyond memory (one entry per distinct directory asked
 * about).  Errors: 0 or -ENOMEM; predicates return false when memory runs out.
 */
#ifndef GG_WRAPCACHE_H
#define GG_WRAPCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/lib/util.h"

/* The first line of a CACHEDIR.TAG file (the specification's signature). */
#define WRAPCACHE_TAG_SIGNATURE "Signature: 8a477f597d28d172789f06886806bc55"

struct wrapcache {
	char *tree;              /* the build tree (owned); NULL: none */
	size_t tree_len;
	struct strlist dirs;     /* known cache directories, from wrappers' settings */
	struct strset tagged;    /* directories found holding a CACHEDIR.TAG */
	struct strset untagged;  /* directories found without one */
	char **owned;            /* the strings of the two sets (owned) */
	size_t nowned, aowned;
};

#define WRAPCACHE_INIT { .tree = NULL, .tree_len = 0, .dirs = STRLIST_INIT, \
			 .tagged = STRSET_INIT, .untagged = STRSET_INIT, .owned = NULL, \
			 .nowned = 0, .aowned = 0 }

/* Start with no known directory; `tree` (may be NULL) is never scratch.  0 or -ENOMEM. */
int wrapcache_init(struct wrapcache *w, const char *tree);
void wrapcache_release(struct wrapcache *w);

/* true if `exe` (a real executable path) is a compiler cache: ccache or sccache. */
bool wrapcache_is_wrapper(const char *exe);

/*
 * Add a cache directory (absolute, normal).  "/", the tree and its ancestors are
 * ignored (0).  0 or -ENOMEM.
 */
int wrapcache_add_dir(struct wrapcache *w, const char *dir);

/*
 * A process of the recording: if its executable is a compiler cache, add the
 * directories it is configured with (see above).  `env` holds n "NAME=value"
 * entries; `cwd` makes a relative CCACHE_DIR absolute.  0 or -ENOMEM.
 */
int wrapcache_note_process(struct wrapcache *w, const char *exe, const char *const *env,
			   size_t n, const char *cwd);

/*
 * true if `path` (absolute, normal) is at or below a tool cache directory.
 * may_be_dir: the path itself may be a (tagged) directory; false for a file the
 * caller knows (one it wrote), whose own name is then not probed for a tag (a
 * `gg infer` of 10,000 compiles saves an open of "<each temporary>/CACHEDIR.TAG").
 */
bool wrapcache_is_scratch(struct wrapcache *w, const char *path, bool may_be_dir);

#endif
