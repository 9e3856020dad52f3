/*
 * wrap_ns.c - namespace changes (rename, link, symlink, unlink, mkdir, rmdir,
 * truncate, chmod) and working-directory changes (chdir, fchdir).  Under GG_VROOT
 * their paths are mapped (shim.h SHIM_WRAP_P): a name being replaced, removed or
 * created is not followed if it is a symlink, as the kernel does; a symlink's target
 * is stored as written (it is a virtual path, resolved under R when it is used).
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/shim.h"
#include "shim/vpath.h"

#define RAW INT_MIN /* path2 is a symlink target, recorded as written */
#define VNF VPATH_NOFOLLOW
#define AT_VFL(fl) (((fl) & AT_SYMLINK_NOFOLLOW) ? VPATH_NOFOLLOW : 0)

SHIM_WRAP_P2(int, rename, (const char *a, const char *b), (a, b), -1, AT_FDCWD, a, VNF,
	     AT_FDCWD, b, VNF, rec_ns(GG_FN_rename, AT_FDCWD, a, AT_FDCWD, b, 0, ret, c_.err))
SHIM_WRAP_P2(int, renameat, (int da, const char *a, int db, const char *b), (da, a, db, b), -1,
	     da, a, VNF, db, b, VNF, rec_ns(GG_FN_renameat, da, a, db, b, 0, ret, c_.err))
SHIM_WRAP_P2(int, renameat2, (int da, const char *a, int db, const char *b, unsigned fl),
	     (da, a, db, b, fl), -1, da, a, VNF, db, b, VNF,
	     rec_ns(GG_FN_renameat2, da, a, db, b, fl, ret, c_.err))
/* link(2) does not follow a symlink given as the existing name; linkat only with
 * AT_SYMLINK_FOLLOW */
SHIM_WRAP_P2(int, link, (const char *a, const char *b), (a, b), -1, AT_FDCWD, a, VNF, AT_FDCWD,
	     b, VNF, rec_ns(GG_FN_link, AT_FDCWD, a, AT_FDCWD, b, 0, ret, c_.err))
SHIM_WRAP_P2(int, linkat, (int da, const char *a, int db, const char *b, int fl),
	     (da, a, db, b, fl), -1, da, a, (fl & AT_SYMLINK_FOLLOW) ? 0 : VNF, db, b, VNF,
	     rec_ns(GG_FN_linkat, da, a, db, b, fl, ret, c_.err))
SHIM_WRAP_P(int, symlink, (const char *target, const char *lp), (target, lp), -1, AT_FDCWD, lp,
	    VNF, rec_ns(GG_FN_symlink, AT_FDCWD, lp, RAW, target, 0, ret, c_.err))
SHIM_WRAP_P(int, symlinkat, (const char *target, int d, const char *lp), (target, d, lp), -1, d,
	    lp, VNF, rec_ns(GG_FN_symlinkat, d, lp, RAW, target, 0, ret, c_.err))
SHIM_WRAP_P(int, unlink, (const char *p), (p), -1, AT_FDCWD, p, VNF,
	    rec_ns(GG_FN_unlink, AT_FDCWD, p, AT_FDCWD, NULL, 0, ret, c_.err))
SHIM_WRAP_P(int, unlinkat, (int d, const char *p, int fl), (d, p, fl), -1, d, p, VNF,
	    rec_ns(GG_FN_unlinkat, d, p, AT_FDCWD, NULL, fl, ret, c_.err))
SHIM_WRAP_P(int, remove, (const char *p), (p), -1, AT_FDCWD, p, VNF,
	    rec_ns(GG_FN_remove, AT_FDCWD, p, AT_FDCWD, NULL, 0, ret, c_.err))
SHIM_WRAP_P(int, mkdir, (const char *p, mode_t m), (p, m), -1, AT_FDCWD, p, VNF,
	    rec_ns(GG_FN_mkdir, AT_FDCWD, p, AT_FDCWD, NULL, m, ret, c_.err))
SHIM_WRAP_P(int, mkdirat, (int d, const char *p, mode_t m), (d, p, m), -1, d, p, VNF,
	    rec_ns(GG_FN_mkdirat, d, p, AT_FDCWD, NULL, m, ret, c_.err))
SHIM_WRAP_P(int, rmdir, (const char *p), (p), -1, AT_FDCWD, p, VNF,
	    rec_ns(GG_FN_rmdir, AT_FDCWD, p, AT_FDCWD, NULL, 0, ret, c_.err))
SHIM_WRAP_P(int, truncate, (const char *p, off_t len), (p, len), -1, AT_FDCWD, p, 0,
	    rec_ns(GG_FN_truncate, AT_FDCWD, p, AT_FDCWD, NULL, len, ret, c_.err))
SHIM_WRAP_P(int, truncate64, (const char *p, off64_t len), (p, len), -1, AT_FDCWD, p, 0,
	    rec_ns(GG_FN_truncate64, AT_FDCWD, p, AT_FDCWD, NULL, len, ret, c_.err))
SHIM_WRAP_P(int, chmod, (const char *p, mode_t m), (p, m), -1, AT_FDCWD, p, 0,
	    rec_ns(GG_FN_chmod, AT_FDCWD, p, AT_FDCWD, NULL, m, ret, c_.err))
SHIM_WRAP_P(int, fchmodat, (int d, const char *p, mode_t m, int fl), (d, p, m, fl), -1, d, p,
	    AT_VFL(fl), rec_ns(GG_FN_fchmodat, d, p, AT_FDCWD, NULL, m, ret, c_.err))

/*
 * The cwd changes.  rec_chdir refreshes the recorded cwd; under GG_VROOT, recorded
 * or not, the virtual cwd follows the host one (shim_cwd_changed).
 */
static void cwd_changed(const struct shim_call *c, int ret)
{
	if (ret == 0 && c->map && !c->active)
		shim_cwd_changed();
}

DECL_REAL(chdir);
GG_EXPORT int chdir(const char *p)
{
	struct shim_call c;
	const char *m = p;
	int ret;
	if (!shim_enter_v(&c))
		return REAL(chdir)(p);
	if (c.map) {
		char *h = shim_vbuf();
		int e = h ? shim_vmap(AT_FDCWD, p, 0, h, &m) : -ENOMEM;
		if (e < 0) {
			c.err = -e;
			shim_leave(&c);
			return -1;
		}
	}
	ret = REAL(chdir)(m);
	c.err = errno;
	if (c.active)
		rec_chdir(GG_FN_chdir, p, -1, ret, c.err);
	cwd_changed(&c, ret);
	shim_leave(&c);
	return ret;
}

DECL_REAL(fchdir);
GG_EXPORT int fchdir(int fd)
{
	struct shim_call c;
	int ret;
	if (!shim_enter_v(&c))
		return REAL(fchdir)(fd);
	ret = REAL(fchdir)(fd);
	c.err = errno;
	if (c.active)
		rec_chdir(GG_FN_fchdir, NULL, fd, ret, c.err);
	cwd_changed(&c, ret);
	shim_leave(&c);
	return ret;
}
