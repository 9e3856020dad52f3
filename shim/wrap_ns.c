/*
 * wrap_ns.c - namespace changes (rename, link, symlink, unlink, mkdir, rmdir,
 * truncate, chmod) and working-directory changes (chdir, fchdir).
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/shim.h"

#define RAW INT_MIN /* path2 is a symlink target, recorded as written */

SHIM_WRAP(int, rename, (const char *a, const char *b), (a, b),
	  rec_ns(GG_FN_rename, AT_FDCWD, a, AT_FDCWD, b, 0, ret, c_.err))
SHIM_WRAP(int, renameat, (int da, const char *a, int db, const char *b), (da, a, db, b),
	  rec_ns(GG_FN_renameat, da, a, db, b, 0, ret, c_.err))
SHIM_WRAP(int, renameat2, (int da, const char *a, int db, const char *b, unsigned fl),
	  (da, a, db, b, fl), rec_ns(GG_FN_renameat2, da, a, db, b, fl, ret, c_.err))
SHIM_WRAP(int, link, (const char *a, const char *b), (a, b),
	  rec_ns(GG_FN_link, AT_FDCWD, a, AT_FDCWD, b, 0, ret, c_.err))
SHIM_WRAP(int, linkat, (int da, const char *a, int db, const char *b, int fl),
	  (da, a, db, b, fl), rec_ns(GG_FN_linkat, da, a, db, b, fl, ret, c_.err))
SHIM_WRAP(int, symlink, (const char *target, const char *lp), (target, lp),
	  rec_ns(GG_FN_symlink, AT_FDCWD, lp, RAW, target, 0, ret, c_.err))
SHIM_WRAP(int, symlinkat, (const char *target, int d, const char *lp), (target, d, lp),
	  rec_ns(GG_FN_symlinkat, d, lp, RAW, target, 0, ret, c_.err))
SHIM_WRAP(int, unlink, (const char *p), (p),
	  rec_ns(GG_FN_unlink, AT_FDCWD, p, AT_FDCWD, NULL, 0, ret, c_.err))
SHIM_WRAP(int, unlinkat, (int d, const char *p, int fl), (d, p, fl),
	  rec_ns(GG_FN_unlinkat, d, p, AT_FDCWD, NULL, fl, ret, c_.err))
SHIM_WRAP(int, remove, (const char *p), (p),
	  rec_ns(GG_FN_remove, AT_FDCWD, p, AT_FDCWD, NULL, 0, ret, c_.err))
SHIM_WRAP(int, mkdir, (const char *p, mode_t m), (p, m),
	  rec_ns(GG_FN_mkdir, AT_FDCWD, p, AT_FDCWD, NULL, m, ret, c_.err))
SHIM_WRAP(int, mkdirat, (int d, const char *p, mode_t m), (d, p, m),
	  rec_ns(GG_FN_mkdirat, d, p, AT_FDCWD, NULL, m, ret, c_.err))
SHIM_WRAP(int, rmdir, (const char *p), (p),
	  rec_ns(GG_FN_rmdir, AT_FDCWD, p, AT_FDCWD, NULL, 0, ret, c_.err))
SHIM_WRAP(int, truncate, (const char *p, off_t len), (p, len),
	  rec_ns(GG_FN_truncate, AT_FDCWD, p, AT_FDCWD, NULL, len, ret, c_.err))
SHIM_WRAP(int, truncate64, (const char *p, off64_t len), (p, len),
	  rec_ns(GG_FN_truncate64, AT_FDCWD, p, AT_FDCWD, NULL, len, ret, c_.err))
SHIM_WRAP(int, chmod, (const char *p, mode_t m), (p, m),
	  rec_ns(GG_FN_chmod, AT_FDCWD, p, AT_FDCWD, NULL, m, ret, c_.err))
SHIM_WRAP(int, fchmodat, (int d, const char *p, mode_t m, int fl), (d, p, m, fl),
	  rec_ns(GG_FN_fchmodat, d, p, AT_FDCWD, NULL, m, ret, c_.err))

SHIM_WRAP(int, chdir, (const char *p), (p), rec_chdir(GG_FN_chdir, p, -1, ret, c_.err))
SHIM_WRAP(int, fchdir, (int fd), (fd), rec_chdir(GG_FN_fchdir, NULL, fd, ret, c_.err))
