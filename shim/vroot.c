/*
 * vroot.c - level 3 in the shim: GG_VROOT=<R> maps every path the program uses under
 * R (vpath.h holds the mapping and the contract, vexec.h the exec plan).
 *
 * State: shim_vr and shim_vp are written once, by shim_vroot_init in the constructor
 * (before the program runs, single-threaded), except shim_vp.cwd, which follows the
 * program's chdir/fchdir (shim_cwd_changed in shim.c).  With GG_VROOT unset every
 * wrapper costs one well-predicted branch on shim_vr more than without this file.
 *
 * Same rules as the wrappers: no malloc, no stdio, errno preserved, raw syscalls.
 */
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/path.h"
#include "shim/shim.h"
#include "shim/vpath.h"

/* read by every wrapper and at start-up: in .data, by the shim's other small
 * variables (shim.c's g), not in a page of .bss of its own */
bool shim_vr __attribute__((section(".data")));
struct vpath shim_vp;
static char vlibpath[VPATH_MAX];
/* GG_VROOT as given, when it is not canonical: the loader names objects by the paths
 * the plan gave it, the kernel (getcwd, /proc) by the canonical one (shim_vp.root). */
static char alias[VPATH_MAX];
static size_t alias_len;
/* The mapped paths of the call in progress on this thread (shim_vbuf). */
#define VBUF_SIZE (2 * SHIM_VPATH_CAP)
static __thread char *t_vbuf;
static pthread_key_t vbuf_key;
static bool vbuf_have_key;

static size_t fmt_dec(char *out, unsigned long v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

static void say(const char *a, const char *b, const char *c, const char *d)
{
	const char *parts[] = { a, b, c, d };
	for (size_t i = 0; i < 4; i++) {
		size_t n = parts[i] ? strlen(parts[i]) : 0;
		const char *s = parts[i];
		while (n) {
			long w = syscall(SYS_write, 2, s, n);
			if (w <= 0)
				break;
			s += w;
			n -= (size_t)w;
		}
	}
}

/* Level 3 must not fall back to the host's files: say why and stop. */
static __attribute__((noreturn)) void vroot_die(const char *what, const char *path)
{
	say("gg: level 3 (GG_VROOT): ", what, path ? path : "", "\n");
	syscall(SYS_exit_group, 127);
	__builtin_unreachable();
}

static void vbuf_free(void *p)
{
	if (p)
		munmap(p, VBUF_SIZE);
	t_vbuf = NULL;
}

char *shim_vbuf(void)
{
	void *p;

	if (t_vbuf)
		return t_vbuf;
	p = mmap(NULL, VBUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	t_vbuf = p;
	if (vbuf_have_key)
		pthread_setspecific(vbuf_key, p);
	return t_vbuf;
}

void shim_vunmap(char *p)
{
	vpath_unmap(&shim_vp, p, p, strlen(p) + 1);
}

/* shim_vr first: without GG_VROOT no page of shim_vp is touched */
SHIM_HOT const char *shim_vname(const char *name)
{
	if (!shim_vr || !name)
		return name;
	if (strncmp(name, shim_vp.root, shim_vp.root_len) == 0 && name[shim_vp.root_len] == '/')
		return name + shim_vp.root_len;
	if (alias_len && strncmp(name, alias, alias_len) == 0 && name[alias_len] == '/')
		return name + alias_len;
	return name;
}

const char *shim_vlibpath(void)
{
	return vlibpath[0] ? vlibpath : NULL;
}

/* The virtual path of descriptor fd into out[VPATH_MAX]; false if it names no path. */
static bool fd_vpath(int fd, char *out)
{
	char link[40];
	long n;

	memcpy(link, "/proc/self/fd/", 14);
	fmt_dec(link + 14, (unsigned long)fd);
	n = syscall(SYS_readlinkat, AT_FDCWD, link, out, VPATH_MAX - 1);
	if (n <= 0 || out[0] != '/')
		return false;
	out[n] = '\0';
	shim_vunmap(out);
	return true;
}

int shim_vmap(int dirfd, const char *path, int vflags, char *buf, const char **out)
{
	char base[VPATH_MAX];
	const char *b = NULL;
	long n;

	*out = path;
	if (!path || !path[0])
		return 0;
	if (path[0] != '/') {
		if (dirfd == AT_FDCWD) {
			shim_cwd_copy(base);
			if (base[0] != '/')
				return 0; /* cwd unknown (removed): the kernel answers */
		} else if (!fd_vpath(dirfd, base)) {
			return 0; /* not a directory (pipe, socket) or EBADF: the kernel's */
		}
		b = base;
	}
	n = vpath_map(&shim_vp, b, path, vflags, buf, SHIM_VPATH_CAP);
	if (n < 0)
		return (int)n;
	*out = buf;
	return 0;
}

/* The object that holds this function: the shim itself, a host file by design. */
static int is_shim(const struct dl_phdr_info *info)
{
	uintptr_t me = (uintptr_t)&shim_vcheck_objects;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && me >= lo && me < lo + ph->p_memsz)
			return 1;
	}
	return 0;
}

static int check_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *name = info->dlpi_name;

	(void)size;
	(void)data;
	if (!name || name[0] != '/' || is_shim(info))
		return 0; /* the main program ("" when the kernel started it), the vDSO */
	if (shim_vname(name) == name)
		vroot_die("shared object loaded from outside the root: ", name);
	return 0;
}

void shim_vcheck_objects(void)
{
	if (shim_vr)
		dl_iterate_phdr(check_cb, NULL);
}

/* The root R (GG_VROOT) set up: the buffers of this one on the stack only when
 * there is a root (shim_vroot_init runs in every image). */
static __attribute__((noinline)) void vroot_setup(const char *r)
{
	const char *exe, *lp;
	char root[VPATH_MAX], cwd[VPATH_MAX];
	long n;
	int rc;

	/* R canonical: the kernel answers (getcwd, /proc/self/fd) name it so */
	if (!realpath(r, root))
		vroot_die("root does not exist: ", r);
	n = syscall(SYS_getcwd, cwd, sizeof(cwd));
	if (n <= 0 || cwd[0] != '/')
		cwd[0] = '\0';
	exe = shim_getenv(GG_ENV_VEXE);
	rc = vpath_init(&shim_vp, root, "/", exe);
	if (rc < 0)
		vroot_die("unusable root: ", r);
	shim_vr = true; /* shim_vname maps from here on (the wrappers are still guarded) */
	if (shim_vname(cwd) != cwd || !strcmp(cwd, shim_vp.root)) {
		shim_vunmap(cwd);
		vpath_init(&shim_vp, root, cwd, exe);
	} else if (syscall(SYS_chdir, shim_vp.root) != 0) {
		/* a cwd outside R is "/": the host cwd follows, so that the kernel's
		 * answers (getcwd, /proc/self/cwd) stay inside R */
		vroot_die("cannot enter the root: ", shim_vp.root);
	}
	if (path_join(NULL, r, alias, sizeof(alias)) > 0 && strcmp(alias, shim_vp.root) != 0)
		alias_len = strlen(alias);
	lp = shim_getenv(GG_ENV_VLIBPATH);
	if (lp && strlen(lp) < sizeof(vlibpath))
		memcpy(vlibpath, lp, strlen(lp) + 1);
	vbuf_have_key = pthread_key_create(&vbuf_key, vbuf_free) == 0;
	shim_vcheck_objects();
}

SHIM_HOT void shim_vroot_init(void)
{
	const char *r = shim_getenv(GG_ENV_VROOT);

	if (r && r[0])
		vroot_setup(r);
}
