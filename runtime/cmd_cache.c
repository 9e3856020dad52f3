/*
 * cmd_cache.c - `gg cache stats|verify|gc`: the local store (store.h), the results
 * cache (cache.h) and the stat cache (statcache.h) of a .gg directory.  Main-level
 * code: prints, and dies on errors.
 *
 *   stats    what the directory holds: blobs, temporaries, results-cache entries,
 *            stat-cache entries (--json for tools);
 *   verify   re-hash every blob (store_verify_all) and name every bad one; exit 1 if
 *            any; --remove deletes them, so that the next build stores them again
 *            (a thunk whose cached output is gone simply runs again);
 *   gc       remove what dead processes left behind: store temporaries nobody holds
 *            (store_gc_tmp), staging directories of builds that no longer run,
 *            results-cache and stat-cache temporaries; with --blobs also every blob
 *            that nothing references (see gc_blobs for what "referenced" means).
 *
 * A leftover belongs to a dead process when the pid in its name no longer exists:
 * kill(pid, 0) fails with ESRCH.  Names are those the writers use: run-<pid>-<n>
 * (build.c's job scratch directories, in /dev/shm/gg-<euid> or <ggdir>/tmp),
 * tmp/mat-<pid>-<n>.tmp (materialize.c), cache/ab/<key>.<pid>.tmp (cache.c),
 * statcache.<pid>.tmp (statcache.c), graph.<pid>.tmp (graph.c).  Everything younger
 * than --min-age is left alone whatever its pid says.  A pid reused by an unrelated
 * process keeps its leftovers until that process is gone too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "cmds.h"
#include "ggdir.h"
#include "graph.h"
#include "json.h"
#include "statcache.h"
#include "store.h"
#include "thunk.h"
#include "util.h"

#define GC_MIN_AGE 60          /* s: store writers lock their temporaries right after creating them */
#define GC_BLOB_MIN_AGE 86400  /* s: blobs younger than this are never collected */

static const char cache_help[] =
	"usage: gg cache stats [--json]\n"
	"   or: gg cache verify [--remove]\n"
	"   or: gg cache gc [--min-age S] [--blobs] [--blob-min-age S] [--dry-run] [--json]\n"
	"\n"
	"The local store of the .gg directory ($GG_DIR, else the nearest .gg upwards).\n"
	"\n"
	"  stats     blobs and their size, temporaries, results-cache and stat-cache\n"
	"            entries\n"
	"  verify    re-hash every blob and name each one that is corrupt, truncated,\n"
	"            unreadable or not a blob at all; exits 1 if any is.  --remove\n"
	"            deletes the bad ones: the next build stores them again (a thunk\n"
	"            whose cached output is gone runs again)\n"
	"  gc        remove temporaries and staging directories that dead gg processes\n"
	"            left (older than --min-age S, default 60).  --blobs also removes\n"
	"            blobs that neither the graph, nor a thunk it reaches, nor a\n"
	"            results-cache entry references, once older than --blob-min-age S\n"
	"            (default 86400); run it while no other gg uses this directory.\n"
	"            --dry-run lists what would go and removes nothing\n";

/* ---- small helpers ------------------------------------------------------------ */

__attribute__((noreturn)) static void usage_fail(const char *arg)
{
	fprintf(stderr, "gg: unknown option '%s'\n%s", arg, cache_help);
	exit(2);
}

static char *need_ggdir(void)
{
	char *dir = NULL;
	int ret = ggdir_find(NULL, &dir);
	if (ret < 0)
		die("no .gg directory here or above (run 'gg record -- make' first)");
	return dir;
}

static void open_store(struct store *st, const char *ggdir)
{
	int ret = store_init(st, ggdir, 0);
	if (ret == -ENOENT)
		die("no store in '%s' (run 'gg infer' first)", ggdir);
	if (ret < 0)
		die("cannot open the store in '%s': %s", ggdir, strerror(-ret));
}

/* "1.5 MiB" into buf. */
static const char *human(uint64_t n, char buf[32])
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(unit)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, 32, "%.1f %s", v, unit[u]);
	return buf;
}

/* True when no process has this pid any more. */
static bool pid_dead(long pid)
{
	return pid > 0 && pid <= 0x7fffffff && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/*
 * The pid in a temporary's name: "<anything>.<pid>.tmp" (prefix NULL), or
 * "<prefix><pid>-<anything>" ("run-": a build's staging directory, "mat-": a file
 * being materialized).  0 when the name has neither form.
 */
static long temp_pid(const char *name, const char *prefix)
{
	const char *p, *end;
	char *e;
	size_t pl;
	long pid;

	if (prefix) {
		pl = strlen(prefix);
		if (strncmp(name, prefix, pl))
			return 0;
		pid = strtol(name + pl, &e, 10);
		return e != name + pl && *e == '-' ? pid : 0;
	}
	end = name + strlen(name);
	if (end - name < 6 || strcmp(end - 4, ".tmp"))
		return 0;
	end -= 4;
	for (p = end; p > name && p[-1] >= '0' && p[-1] <= '9'; p--)
		;
	if (p == end || p == name || p[-1] != '.' || end - p > 10)
		return 0;
	return strtol(p, NULL, 10);
}

static bool old_enough(const struct stat *sb, unsigned min_age)
{
	return time(NULL) - sb->st_mtime >= (time_t)min_age;
}

/*
 * Where builds put their jobs' scratch directories (build.c, pick_staging):
 * /dev/shm/gg-<euid> when /dev/shm is a tmpfs, shared by every .gg directory of the
 * user, else <ggdir>/tmp.  Materialization temporaries are in <ggdir>/tmp.
 */
#define NSCRATCH 2
static void scratch_dirs(const char *ggdir, char dirs[NSCRATCH][PATH_MAX])
{
	snprintf(dirs[0], PATH_MAX, "%s/tmp", ggdir);
	snprintf(dirs[1], PATH_MAX, "/dev/shm/gg-%d", (int)geteuid());
}

/* ---- the results cache and the stat cache ---------------------------------------- */

/* Called for each results-cache entry file (name = key) or temporary (key NULL). */
typedef void cache_file_fn(void *ctx, int shardfd, const char *name, const struct gg_hash *key,
			   const struct stat *sb);

/* Walk <ggdir>/cache/ab/...; a missing cache directory is empty. */
static void walk_cache(const char *ggdir, cache_file_fn *fn, void *ctx)
{
	char dir[PATH_MAX];
	DIR *top, *shard;
	struct dirent *de, *fe;

	snprintf(dir, sizeof(dir), "%s/cache", ggdir);
	if (!(top = opendir(dir)))
		return;
	while ((de = readdir(top))) {
		int fd;
		if (strlen(de->d_name) != 2 || !strchr("0123456789abcdef", de->d_name[0]) ||
		    !strchr("0123456789abcdef", de->d_name[1]))
			continue;
		fd = openat(dirfd(top), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || !(shard = fdopendir(fd))) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((fe = readdir(shard))) {
			char hex[GG_HASH_HEX_SIZE];
			struct gg_hash key, *k = NULL;
			struct stat sb;
			if (fe->d_name[0] == '.' ||
			    fstatat(dirfd(shard), fe->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(sb.st_mode))
				continue;
			if (strlen(fe->d_name) == 2 * GG_HASH_LEN - 2) {
				snprintf(hex, sizeof(hex), "T%.2s%.30s", de->d_name, fe->d_name);
				if (hash_from_hex_str(hex, &key) == 0)
					k = &key;
			}
			fn(ctx, dirfd(shard), fe->d_name, k, &sb);
		}
		closedir(shard);
	}
	closedir(top);
}

struct cache_count {
	uint64_t entries, tmp;
};

static void count_one(void *ctx, int shardfd, const char *name, const struct gg_hash *key,
		      const struct stat *sb)
{
	struct cache_count *c = ctx;
	(void)shardfd;
	(void)name;
	(void)sb;
	if (key)
		c->entries++;
	else
		c->tmp++;
}

/*
 * Entries of <ggdir>/statcache, from its header (statcache.h: magic, u32 version,
 * u32 count, little endian).  0 when there is none, -1 when it does not parse.
 */
static long long statcache_entries(const char *ggdir)
{
	char path[PATH_MAX];
	unsigned char h[16];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/statcache", ggdir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, h, sizeof(h));
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, "GGSTATC\n", 8) ||
	    (h[8] | h[9] << 8 | h[10] << 16 | (uint32_t)h[11] << 24) != STATCACHE_VERSION)
		return -1;
	return h[12] | h[13] << 8 | h[14] << 16 | (long long)h[15] << 24;
}

/* ---- gg cache stats ------------------------------------------------------------------ */

/* Staging directories (run-<pid>-<n>), and how many belong to dead builds. */
static void count_staging(const char *ggdir, uint64_t *all, uint64_t *dead)
{
	char dirs[NSCRATCH][PATH_MAX];
	DIR *d;
	struct dirent *de;

	*all = *dead = 0;
	scratch_dirs(ggdir, dirs);
	for (int k = 0; k < NSCRATCH; k++) {
		if (!(d = opendir(dirs[k])))
			continue;
		while ((de = readdir(d))) {
			long pid = temp_pid(de->d_name, "run-");
			if (!pid)
				continue;
			(*all)++;
			if (pid_dead(pid))
				(*dead)++;
		}
		closedir(d);
	}
}

static int cache_stats(int argc, char **argv)
{
	struct store st = STORE_INIT;
	struct store_stats s;
	struct cache_count cc = { 0 };
	uint64_t staging, staging_dead;
	bool json = false;
	char *ggdir, a[32], b[32];
	long long sc;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			usage_fail(argv[i]);
	}
	ggdir = need_ggdir();
	open_store(&st, ggdir);
	if ((ret = store_stats(&st, &s)) < 0)
		die("cannot read the store in '%s': %s", ggdir, strerror(-ret));
	walk_cache(ggdir, count_one, &cc);
	sc = statcache_entries(ggdir);
	count_staging(ggdir, &staging, &staging_dead);
	if (json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_str(&j, "dir", ggdir);
		json_kv_uint(&j, "blobs", s.count);
		json_kv_uint(&j, "bytes", s.bytes);
		json_kv_uint(&j, "tmp", s.tmp_count);
		json_kv_uint(&j, "tmp_bytes", s.tmp_bytes);
		json_kv_uint(&j, "staging", staging);
		json_kv_uint(&j, "staging_dead", staging_dead);
		json_kv_uint(&j, "cache_entries", cc.entries);
		json_kv_uint(&j, "cache_tmp", cc.tmp);
		json_key(&j, "statcache_entries");
		if (sc >= 0)
			json_int(&j, sc);
		else
			json_null(&j);
		json_obj_end(&j);
		if (json_error(&j))
			die("out of memory");
		puts(j.sb.buf);
		json_release(&j);
	} else {
		printf("store:          %s\n", ggdir);
		printf("blobs:          %llu (%s)\n", (unsigned long long)s.count, human(s.bytes, a));
		printf("temporaries:    %llu (%s)\n", (unsigned long long)s.tmp_count,
		       human(s.tmp_bytes, b));
		printf("staging:        %llu job directories", (unsigned long long)staging);
		if (staging_dead)
			printf(" (%llu of dead builds: 'gg cache gc' removes them)",
			       (unsigned long long)staging_dead);
		putchar('\n');
		printf("results cache:  %llu entries\n", (unsigned long long)cc.entries);
		if (sc >= 0)
			printf("stat cache:     %lld entries\n", sc);
		else
			printf("stat cache:     unreadable (the next build rebuilds it)\n");
	}
	store_release(&st);
	free(ggdir);
	return 0;
}

/* ---- gg cache verify ------------------------------------------------------------------- */

struct bad_list {
	struct strlist rel; /* relative to the .gg directory */
	const char *ggdir;
};

static void on_bad(void *ctx, const char *relpath, int err)
{
	struct bad_list *bl = ctx;
	if (err == -EBADMSG)
		printf("corrupt blob '%s/%s': its contents do not match its name\n", bl->ggdir, relpath);
	else if (err == -EINVAL)
		printf("stray entry '%s/%s': not a blob name\n", bl->ggdir, relpath);
	else
		printf("unreadable blob '%s/%s': %s\n", bl->ggdir, relpath, strerror(-err));
	if (strlist_push(&bl->rel, relpath) < 0)
		die("out of memory");
}

/* Results-cache entries that name a blob the store does not have. */
struct dangling {
	const struct store *st;
	const char *ggdir;
	uint64_t n;
};

static void dangling_one(void *ctx, int shardfd, const char *name, const struct gg_hash *key,
			 const struct stat *sb)
{
	struct dangling *d = ctx;
	struct cache_entry e;
	(void)shardfd;
	(void)name;
	(void)sb;
	if (!key || cache_get(d->ggdir, key, &e) < 0)
		return;
	for (size_t i = 0; i < e.n; i++) {
		if (!store_has(d->st, &e.v[i].value)) {
			d->n++;
			break;
		}
	}
	cache_entry_release(&e);
}

static int cache_verify(int argc, char **argv)
{
	struct store st = STORE_INIT;
	struct store_stats s;
	struct bad_list bl = { .rel = STRLIST_INIT };
	struct dangling d = { 0 };
	bool remove = false;
	size_t removed = 0;
	char *ggdir, a[32];
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--remove"))
			remove = true;
		else
			usage_fail(argv[i]);
	}
	ggdir = need_ggdir();
	bl.ggdir = ggdir;
	open_store(&st, ggdir);
	ret = store_verify_all(&st, remove ? STORE_VERIFY_REMOVE : 0, on_bad, &bl, &s);
	if (ret < 0)
		die("cannot walk the store in '%s': %s", ggdir, strerror(-ret));
	if (remove) {
		/* the store removes corrupt blobs and stray files, never what it failed to read */
		for (size_t i = 0; i < bl.rel.n; i++) {
			struct stat sb;
			if (fstatat(st.dirfd, bl.rel.v[i], &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
				removed++;
			else
				printf("kept '%s/%s'\n", ggdir, bl.rel.v[i]);
		}
	}
	d.st = &st;
	d.ggdir = ggdir;
	walk_cache(ggdir, dangling_one, &d);
	printf("gg: checked %llu good blobs (%s): %llu bad", (unsigned long long)s.count,
	       human(s.bytes, a), (unsigned long long)s.bad);
	if (remove)
		printf(", %zu removed", removed);
	putchar('\n');
	if (d.n)
		printf("gg: %llu results-cache entries name blobs the store does not have: "
		       "their thunks run again on the next build\n", (unsigned long long)d.n);
	strlist_release(&bl.rel);
	store_release(&st);
	free(ggdir);
	return s.bad ? 1 : 0;
}

/* ---- gg cache gc ---------------------------------------------------------------------- */

struct gc_opts {
	unsigned min_age, blob_min_age;
	bool blobs, dry_run, json;
};

struct gc_report {
	uint64_t tmp, staging, cache_tmp, other_tmp;  /* leftovers removed */
	uint64_t blobs, blob_bytes, live;             /* --blobs */
};

/*
 * Staging directories of builds that no longer run (run-<pid>-<n> in the scratch
 * directories), and files they were materializing (<ggdir>/tmp/mat-<pid>-<n>.tmp:
 * store_gc_tmp takes the regular ones too, but not symbolic links).
 */
static void gc_staging(const char *ggdir, const struct gc_opts *o, struct gc_report *r)
{
	char dirs[NSCRATCH][PATH_MAX];
	DIR *d;
	struct dirent *de;

	scratch_dirs(ggdir, dirs);
	for (int k = 0; k < NSCRATCH; k++) {
		if (!(d = opendir(dirs[k])))
			continue;
		while ((de = readdir(d))) {
			char path[PATH_MAX + 300];
			struct stat sb;
			long pid = temp_pid(de->d_name, "run-"), mat = temp_pid(de->d_name, "mat-");
			if ((!pid && !mat) ||
			    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
			    (pid && !S_ISDIR(sb.st_mode)) || !old_enough(&sb, o->min_age) ||
			    !pid_dead(pid ? pid : mat))
				continue;
			snprintf(path, sizeof(path), "%.*s/%.255s", PATH_MAX, dirs[k], de->d_name);
			if (o->dry_run)
				printf("would remove '%s'\n", path);
			else if (pid)
				rm_rf(path);
			else if (unlink(path) < 0)
				continue;
			if (pid)
				r->staging++;
			else
				r->tmp++;
		}
		closedir(d);
	}
}

struct gc_cache_ctx {
	const struct gc_opts *o;
	struct gc_report *r;
	const char *ggdir;
};

static void gc_cache_tmp(void *ctx, int shardfd, const char *name, const struct gg_hash *key,
			 const struct stat *sb)
{
	struct gc_cache_ctx *c = ctx;
	long pid = key ? 0 : temp_pid(name, NULL);
	if (!pid || !old_enough(sb, c->o->min_age) || !pid_dead(pid))
		return;
	if (c->o->dry_run)
		printf("would remove a results-cache temporary '%s'\n", name);
	else if (unlinkat(shardfd, name, 0) < 0)
		return;
	c->r->cache_tmp++;
}

/* statcache.<pid>.tmp and graph.<pid>.tmp at the top of the .gg directory. */
static void gc_top_tmp(const char *ggdir, const struct gc_opts *o, struct gc_report *r)
{
	DIR *d = opendir(ggdir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat sb;
		long pid;
		if (strncmp(de->d_name, "statcache.", 10) && strncmp(de->d_name, "graph.", 6))
			continue;
		pid = temp_pid(de->d_name, NULL);
		if (!pid || fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode) || !old_enough(&sb, o->min_age) || !pid_dead(pid))
			continue;
		if (o->dry_run)
			printf("would remove '%s/%s'\n", ggdir, de->d_name);
		else if (unlinkat(dirfd(d), de->d_name, 0) < 0)
			continue;
		r->other_tmp++;
	}
	closedir(d);
}

/* --- blob collection --- */

/* A set of hashes (open addressing; kind NONE marks a free slot).  Owner: the caller. */
struct hset {
	struct gg_hash *v;
	size_t n, cap;
};

static size_t hset_slot(const struct hset *s, const struct gg_hash *h)
{
	uint64_t x = 0;
	size_t i;
	memcpy(&x, h->bytes, sizeof(x));
	for (i = (size_t)(x ^ h->kind) & (s->cap - 1); s->v[i].kind && !hash_equal(&s->v[i], h);
	     i = (i + 1) & (s->cap - 1))
		;
	return i;
}

static bool hset_has(const struct hset *s, const struct gg_hash *h)
{
	return s->cap && s->v[hset_slot(s, h)].kind;
}

/* 1 if added, 0 if present; dies when out of memory. */
static int hset_add(struct hset *s, const struct gg_hash *h)
{
	size_t i;
	if (!hash_is_set(h))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		struct hset bigger = { .cap = s->cap ? s->cap * 2 : 1024 };
		bigger.v = xcalloc(bigger.cap, sizeof(*bigger.v));
		for (size_t k = 0; k < s->cap; k++)
			if (s->v[k].kind)
				bigger.v[hset_slot(&bigger, &s->v[k])] = s->v[k];
		bigger.n = s->n;
		free(s->v);
		*s = bigger;
	}
	i = hset_slot(s, h);
	if (s->v[i].kind)
		return 0;
	s->v[i] = *h;
	s->n++;
	return 1;
}

/*
 * Every blob something references: the graph's thunks, recorded outputs and driver
 * inputs; everything those thunks name (executable, inputs, shared objects) and the
 * thunks they reference, transitively; every results-cache entry's outputs.  A
 * thunk that cannot be read leaves its references unknown: then nothing is safe to
 * collect, and this dies.
 */
struct live_ctx {
	struct hset *live;
	const char *ggdir;
};

static void live_cache_one(void *ctx, int shardfd, const char *name, const struct gg_hash *key,
			   const struct stat *sb)
{
	struct live_ctx *l = ctx;
	struct cache_entry e;
	(void)shardfd;
	(void)name;
	(void)sb;
	if (!key || cache_get(l->ggdir, key, &e) < 0)
		return; /* a temporary, or an entry that does not parse: a miss for builds too */
	for (size_t i = 0; i < e.n; i++)
		hset_add(l->live, &e.v[i].value);
	cache_entry_release(&e);
}

static void mark_live(const char *ggdir, struct store *st, struct hset *live)
{
	struct graph g;
	struct gg_hash *queue = NULL;
	size_t nq = 0, aq = 0;
	struct live_ctx lc = { .live = live, .ggdir = ggdir };
	char path[PATH_MAX];
	int ret;

	graph_init(&g);
	snprintf(path, sizeof(path), "%s/graph", ggdir);
	if ((ret = graph_load(&g, path)) < 0)
		die("cannot read the graph '%s': %s; not collecting blobs", path, strerror(-ret));
#define PUSH_THUNK(h)                                                                      \
	do {                                                                               \
		if ((h)->kind == GG_HASH_THUNK && hset_add(live, (h))) {                   \
			if (nq == aq)                                                      \
				queue = xrealloc(queue, (aq = aq ? aq * 2 : 256) * sizeof(*queue)); \
			queue[nq++] = *(h);                                                \
		} else {                                                                   \
			hset_add(live, (h));                                               \
		}                                                                          \
	} while (0)
	for (size_t i = 0; i < g.n; i++) {
		PUSH_THUNK(&g.nodes[i].hash);
		for (size_t k = 0; k < g.nodes[i].noutputs; k++)
			hset_add(live, &g.nodes[i].outputs[k].value);
	}
	for (size_t i = 0; i < g.ndriver_inputs; i++)
		hset_add(live, &g.driver_inputs[i].value);
	while (nq) {
		struct gg_hash h = queue[--nq];
		struct thunk th;
		char hex[GG_HASH_HEX_SIZE];

		if ((ret = thunk_load(st, &h, &th)) < 0)
			die("cannot read thunk %s: %s; not collecting blobs (see 'gg cache verify')",
			    hash_to_hex(&h, hex), ret == -EBADMSG ? "corrupt blob" : strerror(-ret));
		PUSH_THUNK(&th.exe.hash);
		for (size_t k = 0; k < th.inputs.n; k++)
			PUSH_THUNK(&th.inputs.v[k].hash);
		for (size_t k = 0; k < th.objects.n; k++)
			PUSH_THUNK(&th.objects.v[k].hash);
		thunk_release(&th);
	}
#undef PUSH_THUNK
	free(queue);
	graph_release(&g);
	walk_cache(ggdir, live_cache_one, &lc);
}

/*
 * Another gg at work on this directory: a live build's staging directory, or a
 * store temporary whose writer holds its lock.  True (and why) if so.
 */
static bool store_busy(const char *ggdir, char *why, size_t len)
{
	char dirs[NSCRATCH][PATH_MAX];
	DIR *d;
	struct dirent *de;
	bool busy = false;

	scratch_dirs(ggdir, dirs);
	for (int k = 0; k < NSCRATCH && !busy; k++) {
		if (!(d = opendir(dirs[k])))
			continue;
		while (!busy && (de = readdir(d))) {
			long pid = temp_pid(de->d_name, "run-") ?: temp_pid(de->d_name, "mat-");
			int fd;
			if (pid && !pid_dead(pid)) {
				snprintf(why, len, "a build (pid %ld) is running", pid);
				busy = true;
				continue;
			}
			if (k != 0) /* store temporaries live in <ggdir>/tmp only */
				continue;
			fd = openat(dirfd(d), de->d_name,
				    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
			if (fd < 0)
				continue;
			if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
				snprintf(why, len, "a blob is being written ('%.*s/%.64s')",
					 PATH_MAX / 2, dirs[k], de->d_name);
				busy = true;
			}
			close(fd);
		}
		closedir(d);
	}
	return busy;
}

static void gc_blobs(const char *ggdir, struct store *st, const struct gc_opts *o,
		     struct gc_report *r)
{
	struct hset live = { 0 };
	char dir[PATH_MAX], why[PATH_MAX + 64];
	DIR *top, *shard;
	struct dirent *de, *fe;

	if (store_busy(ggdir, why, sizeof(why)))
		die("not collecting blobs while another gg uses '%s': %s", ggdir, why);
	mark_live(ggdir, st, &live);
	r->live = live.n;
	snprintf(dir, sizeof(dir), "%s/blobs", ggdir);
	if (!(top = opendir(dir)))
		die("cannot open '%s': %s", dir, strerror(errno));
	while ((de = readdir(top))) {
		int fd;
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(top), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || !(shard = fdopendir(fd))) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((fe = readdir(shard))) {
			char hex[GG_HASH_HEX_SIZE + 8];
			size_t len = strlen(fe->d_name);
			bool thunk = len == 32 && !strcmp(fe->d_name + 30, ".t");
			struct gg_hash h;
			struct stat sb;
			if (len != 30 && !thunk)
				continue; /* not a blob name: 'gg cache verify' reports those */
			snprintf(hex, sizeof(hex), "%c%s%.30s", thunk ? 'T' : 'V', de->d_name, fe->d_name);
			if (hash_from_hex_str(hex, &h) < 0 || hset_has(&live, &h) ||
			    fstatat(dirfd(shard), fe->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(sb.st_mode) || !old_enough(&sb, o->blob_min_age))
				continue;
			if (o->dry_run)
				printf("would remove unreferenced blob '%s/%s/%s'\n", dir, de->d_name,
				       fe->d_name);
			else if (unlinkat(dirfd(shard), fe->d_name, 0) < 0)
				continue;
			r->blobs++;
			r->blob_bytes += (uint64_t)sb.st_size;
		}
		closedir(shard);
	}
	closedir(top);
	free(live.v);
}

static unsigned parse_age(const char *opt, const char *v)
{
	char *e;
	unsigned long n = strtoul(v, &e, 10);
	if (!*v || *e || n > 100UL * 365 * 86400)
		die("option '%s' wants a number of seconds, not '%s'", opt, v);
	return (unsigned)n;
}

static int cache_gc(int argc, char **argv)
{
	struct gc_opts o = { .min_age = GC_MIN_AGE, .blob_min_age = GC_BLOB_MIN_AGE };
	struct gc_report r = { 0 };
	struct store st = STORE_INIT;
	struct gc_cache_ctx cc;
	char *ggdir, a[32];
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *x = argv[i];
		if (!strcmp(x, "--min-age") && i + 1 < argc)
			o.min_age = parse_age(x, argv[++i]);
		else if (!strncmp(x, "--min-age=", 10))
			o.min_age = parse_age("--min-age", x + 10);
		else if (!strcmp(x, "--blob-min-age") && i + 1 < argc)
			o.blob_min_age = parse_age(x, argv[++i]);
		else if (!strncmp(x, "--blob-min-age=", 15))
			o.blob_min_age = parse_age("--blob-min-age", x + 15);
		else if (!strcmp(x, "--blobs"))
			o.blobs = true;
		else if (!strcmp(x, "--dry-run") || !strcmp(x, "-n"))
			o.dry_run = true;
		else if (!strcmp(x, "--json"))
			o.json = true;
		else
			usage_fail(x);
	}
	ggdir = need_ggdir();
	open_store(&st, ggdir);
	if (!o.dry_run) {
		if ((ret = store_gc_tmp(&st, o.min_age, &r.tmp)) < 0)
			die("cannot clean '%s/tmp': %s", ggdir, strerror(-ret));
	}
	gc_staging(ggdir, &o, &r);
	cc = (struct gc_cache_ctx){ .o = &o, .r = &r, .ggdir = ggdir };
	walk_cache(ggdir, gc_cache_tmp, &cc);
	gc_top_tmp(ggdir, &o, &r);
	if (o.blobs)
		gc_blobs(ggdir, &st, &o, &r);
	if (o.json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_bool(&j, "dry_run", o.dry_run);
		json_kv_uint(&j, "tmp", r.tmp);
		json_kv_uint(&j, "staging", r.staging);
		json_kv_uint(&j, "cache_tmp", r.cache_tmp);
		json_kv_uint(&j, "other_tmp", r.other_tmp);
		if (o.blobs) {
			json_kv_uint(&j, "live", r.live);
			json_kv_uint(&j, "blobs", r.blobs);
			json_kv_uint(&j, "blob_bytes", r.blob_bytes);
		}
		json_obj_end(&j);
		if (json_error(&j))
			die("out of memory");
		puts(j.sb.buf);
		json_release(&j);
	} else {
		printf("gg: %s %llu store temporaries, %llu staging directories of dead builds, "
		       "%llu other temporaries",
		       o.dry_run ? "would remove" : "removed", (unsigned long long)r.tmp,
		       (unsigned long long)r.staging, (unsigned long long)(r.cache_tmp + r.other_tmp));
		if (o.blobs)
			printf("; %llu unreferenced blobs (%s), %llu referenced",
			       (unsigned long long)r.blobs, human(r.blob_bytes, a),
			       (unsigned long long)r.live);
		putchar('\n');
	}
	store_release(&st);
	free(ggdir);
	return 0;
}

/* ---- the verb ---------------------------------------------------------------------- */

int cmd_cache(int argc, char **argv)
{
	if (argc < 2) {
		fputs(cache_help, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(cache_help, stdout);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(cache_help, stdout);
			return 0;
		}
	}
	if (!strcmp(argv[1], "stats"))
		return cache_stats(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return cache_verify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "gc"))
		return cache_gc(argc - 1, argv + 1);
	fprintf(stderr, "gg: unknown cache command '%s'\n", argv[1]);
	fputs(cache_help, stderr);
	return 2;
}
