/*
 * wrapcache.c - tool cache directories: known from wrappers' settings, or tagged
 * with CACHEDIR.TAG (see wrapcache.h).  Nothing here prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inferer/wrapcache.h"

/* a configuration file larger than this is not ccache's */
#define CONF_CAP (1u << 20)

static bool under(const char *path, const char *dir, size_t dlen)
{
	if (dlen == 1 && dir[0] == '/')
		return true;
	return !strncmp(path, dir, dlen) && (path[dlen] == '/' || path[dlen] == '\0');
}

int wrapcache_init(struct wrapcache *w, const char *tree)
{
	*w = (struct wrapcache)WRAPCACHE_INIT;
	if (!tree)
		return 0;
	if (!(w->tree = strdup(tree)))
		return -ENOMEM;
	w->tree_len = strlen(tree);
	return 0;
}

void wrapcache_release(struct wrapcache *w)
{
	free(w->tree);
	strlist_release(&w->dirs);
	strset_release(&w->tagged);
	strset_release(&w->untagged);
	for (size_t i = 0; i < w->nowned; i++)
		free(w->owned[i]);
	free(w->owned);
	*w = (struct wrapcache)WRAPCACHE_INIT;
}

bool wrapcache_is_wrapper(const char *exe)
{
	const char *b = path_base(exe ? exe : "");
	return !strcmp(b, "ccache") || !strcmp(b, "sccache");
}

int wrapcache_add_dir(struct wrapcache *w, const char *dir)
{
	size_t dl = strlen(dir);

	if (dir[0] != '/' || dl == 1)
		return 0;
	/* the tree itself, or a directory holding it: never scratch */
	if (w->tree && under(w->tree, dir, dl))
		return 0;
	for (size_t i = 0; i < w->dirs.n; i++)
		if (!strcmp(w->dirs.v[i], dir))
			return 0;
	if (w->dirs.n >= STRLIST_MAX)
		return 0;
	return strlist_push(&w->dirs, dir) < 0 ? -ENOMEM : 0;
}

/* Add `path` made absolute against `base` and normal ("" and NULL: nothing). */
static int add_dir_at(struct wrapcache *w, const char *path, const char *base)
{
	char *abs = NULL;
	int ret;

	if (!path || !*path)
		return 0;
	ret = path_abs(path, base ? base : "/", &abs);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0)
		return 0;
	ret = wrapcache_add_dir(w, abs);
	free(abs);
	return ret;
}

/* Add "<dir>/<name>" when dir is set. */
static int add_dir_join(struct wrapcache *w, const char *dir, const char *name)
{
	char buf[PATH_MAX];

	if (!dir || !*dir || dir[0] != '/')
		return 0;
	if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", dir, name) >= sizeof(buf))
		return 0;
	return add_dir_at(w, buf, "/");
}

static const char *env_get(const char *const *env, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n; i++)
		if (env[i] && !strncmp(env[i], name, nl) && env[i][nl] == '=')
			return env[i] + nl + 1;
	return NULL;
}

/* ccache expands $NAME and ${NAME} in configuration values (ccache(1), "Configuration"). */
static void expand_value(const char *in, const char *const *env, size_t n, char *out, size_t cap)
{
	size_t len = 0;

	while (*in && len + 1 < cap) {
		char name[256];
		size_t nl = 0;
		const char *v;
		bool brace;

		if (*in != '$') {
			out[len++] = *in++;
			continue;
		}
		in++;
		brace = *in == '{';
		if (brace)
			in++;
		while ((*in == '_' || (*in >= 'A' && *in <= 'Z') || (*in >= 'a' && *in <= 'z') ||
			(*in >= '0' && *in <= '9')) && nl + 1 < sizeof(name))
			name[nl++] = *in++;
		name[nl] = '\0';
		if (brace && *in == '}')
			in++;
		v = env_get(env, n, name);
		for (; v && *v && len + 1 < cap; v++)
			out[len++] = *v;
	}
	out[len] = '\0';
}

/* The cache_dir and temporary_dir of one ccache configuration file, if it exists. */
static int add_conf_dirs(struct wrapcache *w, const char *conf, const char *const *env, size_t n)
{
	struct sbuf sb;
	char *line, *save = NULL;
	int ret = 0;

	if (!conf || conf[0] != '/')
		return 0;
	if (file_read_all(conf, &sb, CONF_CAP) < 0 || !sb.buf) { /* unreadable, or empty */
		sbuf_release(&sb);
		return 0;
	}
	for (line = strtok_r(sb.buf, "\n", &save); line && ret == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char key[32], val[PATH_MAX], exp[PATH_MAX];
		if (sscanf(line, " %31[a-z_] = %4095[^\n]", key, val) != 2)
			continue;
		if (strcmp(key, "cache_dir") && strcmp(key, "temporary_dir"))
			continue;
		for (size_t l = strlen(val); l && (val[l - 1] == ' ' || val[l - 1] == '\t');)
			val[--l] = '\0';
		expand_value(val, env, n, exp, sizeof(exp));
		ret = add_dir_at(w, exp, "/");
	}
	sbuf_release(&sb);
	return ret;
}

int wrapcache_note_process(struct wrapcache *w, const char *exe, const char *const *env,
			   size_t n, const char *cwd)
{
	const char *home = env_get(env, n, "HOME");
	const char *xcache = env_get(env, n, "XDG_CACHE_HOME");
	const char *xconf = env_get(env, n, "XDG_CONFIG_HOME");
	bool sccache;
	char conf[PATH_MAX];
	int ret = 0;

	if (!wrapcache_is_wrapper(exe))
		return 0;
	sccache = !strcmp(path_base(exe), "sccache");
	if (sccache) {
		if ((ret = add_dir_at(w, env_get(env, n, "SCCACHE_DIR"), cwd)) < 0 ||
		    (ret = add_dir_join(w, xcache, "sccache")) < 0 ||
		    (ret = add_dir_join(w, home, ".cache/sccache")) < 0)
			return ret;
		return 0;
	}
	if ((ret = add_dir_at(w, env_get(env, n, "CCACHE_DIR"), cwd)) < 0 ||
	    (ret = add_dir_join(w, xcache, "ccache")) < 0 ||
	    (ret = add_dir_join(w, home, ".cache/ccache")) < 0)
		return ret;
	if (home && home[0] == '/') {
		char legacy[PATH_MAX];
		if ((size_t)snprintf(legacy, sizeof(legacy), "%s/.ccache", home) < sizeof(legacy) &&
		    access(legacy, F_OK) == 0 && (ret = add_dir_at(w, legacy, "/")) < 0)
			return ret;
	}
	/* the configuration files ccache reads, primary then secondary */
	if ((ret = add_conf_dirs(w, env_get(env, n, "CCACHE_CONFIGPATH"), env, n)) < 0)
		return ret;
	if (xconf && xconf[0] == '/' &&
	    (size_t)snprintf(conf, sizeof(conf), "%s/ccache/ccache.conf", xconf) < sizeof(conf) &&
	    (ret = add_conf_dirs(w, conf, env, n)) < 0)
		return ret;
	if (home && home[0] == '/' &&
	    (size_t)snprintf(conf, sizeof(conf), "%s/.config/ccache/ccache.conf", home) < sizeof(conf) &&
	    (ret = add_conf_dirs(w, conf, env, n)) < 0)
		return ret;
	return add_conf_dirs(w, "/etc/ccache.conf", env, n);
}

/* Keep a copy of s for the memo sets; NULL on ENOMEM. */
static const char *own(struct wrapcache *w, const char *s, size_t len)
{
	char *c;

	if (w->nowned == w->aowned) {
		size_t na = w->aowned ? w->aowned * 2 : 64;
		char **nv = realloc(w->owned, na * sizeof(*nv));
		if (!nv)
			return NULL;
		w->owned = nv;
		w->aowned = na;
	}
	if (!(c = strndup(s, len)))
		return NULL;
	w->owned[w->nowned++] = c;
	return c;
}

/* Does dir hold a CACHEDIR.TAG that starts with the signature? */
static bool dir_tagged(const char *dir)
{
	char p[PATH_MAX], head[sizeof(WRAPCACHE_TAG_SIGNATURE)];
	ssize_t got = 0;
	int fd;

	if ((size_t)snprintf(p, sizeof(p), "%s/CACHEDIR.TAG", dir) >= sizeof(p))
		return false;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	while ((size_t)got < sizeof(head) - 1) {
		ssize_t r = read(fd, head + got, sizeof(head) - 1 - (size_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	return (size_t)got == sizeof(head) - 1 &&
	       !memcmp(head, WRAPCACHE_TAG_SIGNATURE, sizeof(head) - 1);
}

/* Is the directory dir[0..len) tagged?  Remembered; false on ENOMEM. */
static bool tagged_memo(struct wrapcache *w, const char *dir, size_t len)
{
	char buf[PATH_MAX];
	const char *key;
	bool t;

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, dir, len);
	buf[len] = '\0';
	if (strset_has(&w->tagged, buf))
		return true;
	if (strset_has(&w->untagged, buf))
		return false;
	t = dir_tagged(buf);
	if ((key = own(w, buf, len)))
		strset_add(t ? &w->tagged : &w->untagged, key);
	return t;
}

bool wrapcache_is_scratch(struct wrapcache *w, const char *path, bool may_be_dir)
{
	size_t len;

	if (!path || path[0] != '/')
		return false;
	for (size_t i = 0; i < w->dirs.n; i++)
		if (under(path, w->dirs.v[i], strlen(w->dirs.v[i])))
			return true;
	if (w->tree && under(path, w->tree, w->tree_len))
		return false;
	/* the path itself (a listed directory) and each of its ancestors but "/" */
	for (len = strlen(path); len > 1;) {
		if (w->tree && under(w->tree, path, len))
			return false; /* an ancestor of the tree: so are the ones above */
		if ((may_be_dir || path[len] == '/') && tagged_memo(w, path, len))
			return true;
		while (len > 0 && path[len - 1] != '/')
			len--;
		if (len > 1)
			len--; /* drop the slash */
		else
			break;
	}
	return false;
}
