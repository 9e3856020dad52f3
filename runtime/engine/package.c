/*
 * package.c - the worker package's files, and its zip (package.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/engine/package.h"
#include "runtime/lib/util.h"
#include "runtime/lib/zip.h"

/* This machine's loader: the one that resolves (and will run) the package's objects. */
#define HOST_LOADER "/lib64/ld-linux-x86-64.so.2"

static int add_file(struct package *p, const char *name, const char *src, mode_t mode)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].name, name))
			return 0; /* the first resolution wins, as the loader's does */
	if (p->n == p->alloc) {
		size_t na = p->alloc ? p->alloc * 2 : 64;
		struct package_file *nv = realloc(p->v, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->alloc = na;
	}
	p->v[p->n] = (struct package_file){ .name = strdup(name), .src = strdup(src), .mode = mode };
	if (!p->v[p->n].name || !p->v[p->n].src) {
		free(p->v[p->n].name);
		free(p->v[p->n].src);
		return -ENOMEM;
	}
	p->n++;
	return 0;
}

/*
 * `ld.so --list FILE` in an empty environment (no LD_LIBRARY_PATH or LD_PRELOAD of
 * ours steers it): lines "\tSONAME => /path (0x...)"; each becomes lib/SONAME.
 */
static int list_deps(const char *file, struct package *p, char *err, size_t errlen)
{
	char *argv[] = { (char *)HOST_LOADER, (char *)"--list", (char *)file, NULL };
	char *envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	struct sbuf out = SBUF_INIT;
	char buf[4096], *line, *save = NULL;
	int fds[2], status, ret = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	ret = -posix_spawn(&pid, HOST_LOADER, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (ret < 0) {
		close(fds[0]);
		errbuf_set(err, errlen, "cannot run '%s': %s", HOST_LOADER, strerror(-ret));
		return ret;
	}
	while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		sbuf_add(&out, buf, (size_t)n);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if ((ret = sbuf_error(&out)) < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !out.buf) {
		errbuf_set(err, errlen, "'%s --list %s' failed: not a dynamic executable?", HOST_LOADER,
			   file);
		ret = -ENOEXEC;
		goto out;
	}
	for (line = strtok_r(out.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[NAME_MAX + 1], path[PATH_MAX], lib[NAME_MAX + 8];
		if (sscanf(line, " %255s => %4095s (", name, path) != 2)
			continue; /* the vDSO, the loader itself */
		if (strchr(name, '/'))
			continue; /* the loader by its PT_INTERP path: lib/ld-linux-x86-64.so.2 */
		if (path[0] != '/') {
			errbuf_set(err, errlen, "'%s' needs '%s', which this host does not have", file,
				   name);
			ret = -ENOENT;
			goto out;
		}
		snprintf(lib, sizeof(lib), "lib/%s", name);
		if ((ret = add_file(p, lib, path, 0755)) < 0)
			goto out;
	}
out:
	sbuf_release(&out);
	return ret;
}

int package_collect(const char *bootstrap, const char *shim, struct package *p, char *err,
		    size_t errlen)
{
	char loader[PATH_MAX];
	int ret;

	*p = (struct package)PACKAGE_INIT;
	if (access(bootstrap, X_OK) < 0 || access(shim, R_OK) < 0) {
		ret = -errno;
		errbuf_set(err, errlen, "cannot find '%s': %s",
			   access(bootstrap, X_OK) < 0 ? bootstrap : shim, strerror(errno));
		return ret;
	}
	if (!realpath(HOST_LOADER, loader)) {
		ret = -errno;
		errbuf_set(err, errlen, "cannot find the loader '%s': %s", HOST_LOADER, strerror(errno));
		return ret;
	}
	if ((ret = add_file(p, "bootstrap", bootstrap, 0755)) < 0 ||
	    (ret = add_file(p, PACKAGE_LOADER, loader, 0755)) < 0 ||
	    (ret = add_file(p, "lib/libggshim.so", shim, 0755)) < 0 ||
	    (ret = list_deps(bootstrap, p, err, errlen)) < 0 || (ret = list_deps(shim, p, err, errlen)) < 0)
		package_release(p);
	return ret;
}

void package_release(struct package *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].src);
	}
	free(p->v);
	*p = (struct package)PACKAGE_INIT;
}

int package_zip(const struct package *p, const char *zip, uint64_t *bytes, char *err,
		size_t errlen)
{
	struct zip_writer z;
	struct stat sb;
	int ret;

	if ((ret = zip_open(&z, zip)) < 0) {
		errbuf_set(err, errlen, "cannot create '%s': %s", zip, strerror(-ret));
		return ret;
	}
	for (size_t i = 0; i < p->n; i++) {
		if ((ret = zip_add_file(&z, p->v[i].name, p->v[i].src, p->v[i].mode)) < 0) {
			errbuf_set(err, errlen, "cannot add '%s' ('%s') to '%s': %s", p->v[i].name,
				   p->v[i].src, zip, strerror(-ret));
			zip_abort(&z);
			return ret;
		}
	}
	if ((ret = zip_finish(&z)) < 0) {
		errbuf_set(err, errlen, "cannot write '%s': %s", zip, strerror(-ret));
		return ret;
	}
	if (bytes)
		*bytes = stat(zip, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	return 0;
}

int package_default_bootstrap(char **out)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return -errno;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	/* the build tree's $(BUILD)/lambda/bootstrap, else make install's lib/gg/bootstrap */
	if (asprintf(out, "%s/../lambda/bootstrap", exe) < 0)
		return -ENOMEM;
	if (access(*out, X_OK) == 0)
		return 0;
	free(*out);
	return asprintf(out, "%s/../lib/gg/bootstrap", exe) < 0 ? (*out = NULL, -ENOMEM) : 0;
}

int package_default_shim(char **out)
{
	const char *env = getenv("GG_SHIM_LIB");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && env[0])
		return (*out = realpath(env, NULL)) ? 0 : -errno;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
		return -errno;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	return asprintf(out, "%s/../lib/libggshim.so", exe) < 0 ? -ENOMEM : 0;
}
