/*
 * vexec.c - plan an exec through the recorded loader (see vexec.h).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/vexec.h"

/* pread(2) of a host file without the shim's wrappers; -errno on failure. */
static long raw_pread(int fd, void *buf, size_t n, long off)
{
	long r = syscall(SYS_pread64, fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static int raw_open(const char *p)
{
	long fd = syscall(SYS_openat, AT_FDCWD, p, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

/* File offset of virtual address va, from the PT_LOAD segments read so far; -1 if none. */
static long va_to_off(const Elf64_Phdr *loads, unsigned nload, Elf64_Addr va)
{
	for (unsigned i = 0; i < nload; i++)
		if (va >= loads[i].p_vaddr && va < loads[i].p_vaddr + loads[i].p_filesz)
			return (long)(va - loads[i].p_vaddr + loads[i].p_offset);
	return -1;
}

/*
 * The DT_RUNPATH (or, without one, DT_RPATH) string of the dynamic section `dyn` into
 * rpath[cap]; "" when there is none or it cannot be read (the loader then reads the
 * same bytes and fails or does without: not an exec error).
 */
static void elf_rpath(int fd, const Elf64_Phdr *dyn, const Elf64_Phdr *loads,
		      unsigned nload, char *rpath, size_t cap)
{
	Elf64_Addr strtab = 0;
	Elf64_Xword runpath = (Elf64_Xword)-1, rp = (Elf64_Xword)-1;
	long off, n;

	rpath[0] = '\0';
	for (Elf64_Xword i = 0; i < dyn->p_filesz / sizeof(Elf64_Dyn) && i < 4096; i++) {
		Elf64_Dyn d;
		if (raw_pread(fd, &d, sizeof(d), (long)(dyn->p_offset + i * sizeof(d))) !=
		    (long)sizeof(d) || d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_STRTAB)
			strtab = d.d_un.d_ptr;
		else if (d.d_tag == DT_RUNPATH)
			runpath = d.d_un.d_val;
		else if (d.d_tag == DT_RPATH)
			rp = d.d_un.d_val;
	}
	if (runpath == (Elf64_Xword)-1)
		runpath = rp;
	if (runpath == (Elf64_Xword)-1 || !strtab || (off = va_to_off(loads, nload, strtab)) < 0)
		return;
	n = raw_pread(fd, rpath, cap - 1, off + (long)runpath);
	rpath[n > 0 ? n : 0] = '\0';
	if (strlen(rpath) == (size_t)(cap - 1))
		rpath[0] = '\0';	/* unterminated within cap: ignore rather than truncate */
}

/*
 * Read the PT_INTERP of the 64-bit ELF open on fd into interp[cap] ("" for a static
 * executable) and its run path into rpath[cap].  Returns 0 or -ENOEXEC (malformed,
 * 32-bit, or interp too long).
 */
static int elf_interp(int fd, const Elf64_Ehdr *eh, char *interp, char *rpath, size_t cap)
{
	Elf64_Phdr loads[16], dyn = { .p_type = PT_NULL };
	unsigned nload = 0;

	interp[0] = rpath[0] = '\0';
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum > 4096)
		return -ENOEXEC;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		if (raw_pread(fd, &ph, sizeof(ph), (long)(eh->e_phoff + i * sizeof(ph))) !=
		    (long)sizeof(ph))
			return -ENOEXEC;
		if (ph.p_type == PT_LOAD && nload < sizeof(loads) / sizeof(loads[0]))
			loads[nload++] = ph;
		if (ph.p_type == PT_DYNAMIC)
			dyn = ph;
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz < 2 || ph.p_filesz > cap)
			return -ENOEXEC;
		if (raw_pread(fd, interp, ph.p_filesz, (long)ph.p_offset) != (long)ph.p_filesz ||
		    interp[ph.p_filesz - 1] != '\0')
			return -ENOEXEC;
	}
	if (interp[0] && dyn.p_type == PT_DYNAMIC)
		elf_rpath(fd, &dyn, loads, nload, rpath, cap);
	return 0;
}

/* Split a "#!" line in place: interpreter and optional single argument (Linux rules). */
static int parse_shebang(char *line, long n, char **interp, char **arg)
{
	char *p, *end;

	line[n < VEXEC_SHEBANG_MAX ? n : VEXEC_SHEBANG_MAX - 1] = '\0';
	end = strchr(line, '\n');
	if (end)
		*end = '\0';
	p = line + 2;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return -ENOEXEC;
	*interp = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	*arg = NULL;
	if (*p) {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p) {
			end = p + strlen(p);
			while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
				*--end = '\0';
			*arg = p;
		}
	}
	return 0;
}

/*
 * Append each ':'-separated absolute directory of lp, mapped under R, to out[cap]
 * (w bytes used so far).  With `origin` (the host directory of the executable), a
 * "$ORIGIN" or "${ORIGIN}" entry is expanded against it (the executable's run path
 * is passed this way because the loader is told to ignore it: --inhibit-rpath);
 * without, such entries and relative ones are left out.
 */
static int map_libpath(const struct vpath *vp, const char *lp, const char *origin, char *out,
		       size_t cap, size_t *w)
{
	while (*lp) {
		const char *e = strchr(lp, ':');
		size_t n = e ? (size_t)(e - lp) : strlen(lp);
		size_t on = !origin ? 0 : !strncmp(lp, "$ORIGIN", 7) ? 7
				      : !strncmp(lp, "${ORIGIN}", 9) ? 9 : 0;
		if (on && n >= on && (n == on || lp[on] == '/')) {
			size_t ol = strlen(origin);
			if (*w + 1 + ol + n - on >= cap)
				return -ENAMETOOLONG;
			if (*w)
				out[(*w)++] = ':';
			memcpy(out + *w, origin, ol);
			*w += ol;
			memcpy(out + *w, lp + on, n - on);
			*w += n - on;
		} else if (n && lp[0] == '/') {
			if (*w + 1 + vp->root_len + n >= cap)
				return -ENAMETOOLONG;
			if (*w)
				out[(*w)++] = ':';
			memcpy(out + *w, vp->root, vp->root_len);
			*w += vp->root_len;
			memcpy(out + *w, lp, n);
			*w += n;
		}
		lp += n + (e ? 1 : 0);
	}
	out[*w] = '\0';
	return 0;
}

int vexec_plan(const struct vpath *vp, const char *path, char *const argv[],
	       const char *libpath, struct vexec *x, const char **out_argv, size_t cap)
{
	const char *pre[2 * VEXEC_MAX_SCRIPTS + 1];	/* inserted after argv[0], in order */
	const char *argv0 = argv && argv[0] ? argv[0] : path;
	const char *cur = path;
	size_t npre = 0, w = 0, nargs = 0;
	int saved = errno, rc, fd = -1;
	char interp[VPATH_MAX], rpath[VPATH_MAX];
	size_t lw = 0;

	x->scripts = 0;
	interp[0] = rpath[0] = '\0';
	for (;;) {
		union { Elf64_Ehdr eh; char line[VEXEC_SHEBANG_MAX]; } hd;
		long n = vpath_map(vp, NULL, cur, 0, x->exe, sizeof(x->exe));
		if (n < 0) {
			rc = (int)n;
			goto out_restore_errno;
		}
		if (syscall(SYS_faccessat, AT_FDCWD, x->exe, X_OK) != 0) {
			rc = -errno;
			goto out_restore_errno;
		}
		fd = raw_open(x->exe);
		if (fd < 0) {
			rc = fd;
			goto out_restore_errno;
		}
		memset(&hd, 0, sizeof(hd));
		n = raw_pread(fd, &hd, sizeof(hd), 0);
		if (n >= 4 && memcmp(hd.line, ELFMAG, SELFMAG) == 0) {
			if ((size_t)n < sizeof(Elf64_Ehdr)) {
				rc = -ENOEXEC;
				goto out_close_fd;
			}
			rc = elf_interp(fd, &hd.eh, interp, rpath, sizeof(interp));
			goto out_close_fd;	/* the ELF ends the walk: plan below */
		}
		if (n < 3 || hd.line[0] != '#' || hd.line[1] != '!') {
			/* a directory is EACCES for execve(2), as the kernel answers */
			rc = n == -EISDIR ? -EACCES : n < 0 ? (int)n : -ENOEXEC;
			goto out_close_fd;
		}
		syscall(SYS_close, fd);
		fd = -1;
		if (x->scripts == VEXEC_MAX_SCRIPTS) {
			rc = -ELOOP;
			goto out_restore_errno;
		}
		char *line = x->interp[x->scripts++], *si, *sa;
		memcpy(line, hd.line, sizeof(hd.line));
		rc = parse_shebang(line, n, &si, &sa);
		if (rc)
			goto out_restore_errno;
		/* [si, sa?, cur] go in front of what was inserted so far */
		size_t k = sa ? 2 : 1;
		memmove(pre + k, pre, npre * sizeof(pre[0]));
		if (sa)
			pre[0] = sa;
		pre[k - 1] = cur;
		npre += k;
		argv0 = si;
		cur = si;
	}

out_close_fd:
	syscall(SYS_close, fd);
	if (rc)
		goto out_restore_errno;
	{
		long n = vpath_unmap(vp, x->exe, x->vexe, sizeof(x->vexe));
		if (n < 0) {
			rc = (int)n;
			goto out_restore_errno;
		}
	}
	while (argv && argv[0] && argv[1 + nargs])
		nargs++;
	if (interp[0]) {
		long n;
		x->kind = VEXEC_LOADER;
		n = vpath_map(vp, NULL, interp, 0, x->file, sizeof(x->file));
		if (n < 0) {
			rc = (int)n;
			goto out_restore_errno;
		}
		if (syscall(SYS_faccessat, AT_FDCWD, x->file, R_OK) != 0) {
			rc = -ENOEXEC;	/* no recorded loader: never fall back to the host's */
			goto out_restore_errno;
		}
		char origin[VPATH_MAX];
		size_t ol = strlen(x->exe);
		while (ol > 0 && x->exe[ol - 1] != '/')
			ol--;
		memcpy(origin, x->exe, ol > 1 ? ol - 1 : 1);
		origin[ol > 1 ? ol - 1 : 1] = '\0';
		x->libpath[0] = '\0';
		rc = map_libpath(vp, rpath, origin, x->libpath, sizeof(x->libpath), &lw);
		if (!rc)
			rc = map_libpath(vp, libpath ? libpath : VEXEC_DEFAULT_LIBPATH, NULL,
					 x->libpath, sizeof(x->libpath), &lw);
		if (rc)
			goto out_restore_errno;
		if (9 + npre + nargs + 1 > cap) {
			rc = -E2BIG;
			goto out_restore_errno;
		}
		out_argv[w++] = x->file;
		out_argv[w++] = "--inhibit-cache";
		out_argv[w++] = "--library-path";
		out_argv[w++] = x->libpath;
		if (rpath[0]) {
			/* DT_RPATH is searched before --library-path, as host paths: the
			 * executable's run path is in LP instead (glibc elf/dl-load.c
			 * decompose_rpath matches the main map's name, x->exe) */
			out_argv[w++] = "--inhibit-rpath";
			out_argv[w++] = x->exe;
		}
		out_argv[w++] = "--argv0";
		out_argv[w++] = argv0;
		out_argv[w++] = x->exe;
	} else {
		x->kind = VEXEC_STATIC;
		memcpy(x->file, x->exe, strlen(x->exe) + 1);
		if (1 + npre + nargs + 1 > cap) {
			rc = -E2BIG;
			goto out_restore_errno;
		}
		out_argv[w++] = argv0;
	}
	for (size_t i = 0; i < npre; i++)
		out_argv[w++] = pre[i];
	for (size_t i = 0; i < nargs; i++)
		out_argv[w++] = argv[1 + i];
	out_argv[w] = NULL;
	rc = 0;

out_restore_errno:
	errno = saved;
	return rc;
}
