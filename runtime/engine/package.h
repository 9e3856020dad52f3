/*
 * package.h - the worker package: what a host with nothing but a Linux kernel needs
 * to run `bootstrap worker exec` (the AWS Lambda function of `gg lambda package`,
 * and the root of every job of the isolated engine).
 *
 * Contents (names relative to the package root, /var/task on Lambda):
 *   bootstrap                  gg itself, linked a second time (Makefile:
 *                              $(BUILD)/lambda/bootstrap) with PT_INTERP
 *                              /var/task/lib/ld-linux-x86-64.so.2 and DT_RPATH
 *                              /var/task/lib (RPATH, not RUNPATH: it is searched
 *                              before LD_LIBRARY_PATH, which Lambda sets to its own
 *                              /lib64 first, and it applies to every dependency)
 *   lib/ld-linux-x86-64.so.2   the dynamic loader of this machine
 *   lib/<soname>               every shared object bootstrap and libggshim.so load
 *                              (libc, libcurl and its TLS and IDN libraries,
 *                              libseccomp, msgpack-c, xxHash, libcrypto, ...), as the
 *                              loader resolves them here at package time
 *                              (`ld.so --list`), under the name they are asked by
 *   lib/libggshim.so           the shim: level 3's path virtualization, preloaded
 *                              into every process of a thunk
 * Nothing of the host is assumed: the loader, libc and every library come from the
 * package, so the function runs on Amazon Linux's glibc 2.34 as on Debian's 2.36.
 *
 * Errors: 0 or -errno with err filled; nothing prints.
 */
#ifndef GG_ENGINE_PACKAGE_H
#define GG_ENGINE_PACKAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PACKAGE_ROOT "/var/task"
#define PACKAGE_LOADER "lib/ld-linux-x86-64.so.2"

struct package_file {
	char *name;  /* relative to the package root (owned) */
	char *src;   /* the file on this host (owned) */
	mode_t mode; /* permission bits in the package */
};

/* Owner: the caller; package_release frees every file. */
struct package {
	struct package_file *v;
	size_t n, alloc;
};

#define PACKAGE_INIT { .v = NULL, .n = 0, .alloc = 0 }

/*
 * The files of the package around `bootstrap` (gg linked for /var/task) and `shim`
 * (libggshim.so): their shared objects as this host's loader resolves them.
 * -ENOENT (err names the file) if one is missing, -ENOEXEC if the loader cannot
 * list a binary's dependencies.
 */
int package_collect(const char *bootstrap, const char *shim, struct package *p, char *err,
		    size_t errlen);
void package_release(struct package *p);

/* Write the package as a stored zip at `zip` (runtime/lib/zip.h); *bytes: its size. */
int package_zip(const struct package *p, const char *zip, uint64_t *bytes, char *err,
		size_t errlen);

/* The default bootstrap next to a gg binary (malloc'd): <dir of exe>/../lambda/bootstrap
 * (the build tree) if it is there, else <dir of exe>/../lib/gg/bootstrap (make install). */
int package_default_bootstrap(char **out);
/* The default shim: $GG_SHIM_LIB, else <dir of exe>/../lib/libggshim.so (malloc'd). */
int package_default_shim(char **out);

#endif
