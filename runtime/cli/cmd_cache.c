/*
 * cmd_cache.c - `gg cache stats|verify|gc|put|push|pull`: the local store (store.h),
 * the results cache (cache.h) and the stat cache (statcache.h) of a .gg directory,
 * and the remote store in S3 (runtime/engine/s3_store.h).  Main-level code: prints,
 * and dies on errors.
 *
 *   stats    what the directory holds: blobs, temporaries, results-cache entries,
 *            stat-cache entries (--json for tools);
 *   verify   re-hash every blob (store_verify_all) and name every bad one; exit 1 if
 *            any; --remove deletes them, so that the next build stores them again
 *            (a thunk whose cached output is gone simply runs again);
 *   gc       remove what dead processes left behind: store temporaries nobody holds
 *            (store_gc_tmp), staging directories of builds that no longer run,
 *            results-cache and stat-cache temporaries; with --blobs also every blob
 *            that nothing references (see gc_blobs for what "referenced" means);
 *   put      add files to the store, print their hashes;
 *   push     upload every blob the bucket lacks;
 *   pull     download the blobs the graph and the results cache reference (and
 *            the thunks they reach), or every blob of the bucket (--all).
 *
 * A leftover belongs to a dead process when the pid in its name no longer exists:
 * kill(pid, 0) fails with ESRCH.  Names are those the writers use: run-<pid>-<n>
 * (build.c's job scratch directories, in /dev/shm/gg-<euid>/<ggdir hash> or <ggdir>/tmp),
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "runtime/store/cache.h"
#include "runtime/cli/cmds.h"
#include "runtime/engine/s3.h"
#include "runtime/engine/s3_results.h"
#include "runtime/engine/s3_store.h"
#include "runtime/store/ggdir.h"
#include "runtime/ir/graph.h"
#include "runtime/lib/json.h"
#include "runtime/store/statcache.h"
#include "runtime/store/blobpack.h"
#include "runtime/store/store.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"

#define GC_MIN_AGE 60          /* s: store writers lock their temporaries right after creating them */
#define GC_BLOB_MIN_AGE 86400  /* s: blobs younger than this are never collected */

static const char cache_help[] =
	"usage: gg cache stats [--json]\n"
	"   or: gg cache verify [--remove]\n"
	"   or: gg cache gc [--min-age S] [--blobs] [--blob-min-age S] [--dry-run] [--json]\n"
	"   or: gg cache put [--json] FILE...\n"
	"   or: gg cache push [--remote s3://BUCKET[/PREFIX]] [-j N] [--json]\n"
	"   or: gg cache pull [--remote s3://BUCKET[/PREFIX]] [--all] [-j N] [--json]\n"
	"\n"
	"The local store of the .gg directory ($GG_DIR, else the nearest .gg upwards),\n"
	"and its copy in S3.\n"
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
	"            --dry-run lists what would go and removes nothing\n"
	"  put       add files to the store and print each one's hash\n"
	"  push      upload every blob of the store that the bucket lacks, to\n"
	"            s3://BUCKET/PREFIX/<hash> (--remote, else $GG_REMOTE); a blob\n"
	"            already there is not sent again\n"
	"  pull      download the blobs that the graph, the thunks it reaches and the\n"
	"            results cache reference and the store lacks; --all: every blob\n"
	"            in the bucket.  Every download is checked against its hash\n"
	"\n"
	"push and pull use up to N connections at once (-j, default 64), show\n"
	"[done/total] MB/s on a terminal and end with one summary line (--json: an\n"
	"object).  Credentials, region and endpoint come from the environment and\n"
	"~/.aws as for the AWS CLI (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_REGION,\n"
	"AWS_ENDPOINT_URL_S3, ...).  Ctrl-C stops starting transfers and lets running\n"
	"uploads end (a second one drops them); unfinished multipart uploads are\n"
	"aborted, so no partial object appears under a blob's name.\n";

/* ---- small helpers ------------------------------------------------------------ */

__attribute__((noreturn)) static void usage_fail(const char *arg)
{
	fprintf(stderr, "gg: unknown option '%s'\n%s", arg, cache_help);
	exit(2);
}

/* A verb whose one option is the flag `name`: set *flag, or fail on anything else. */
static void only_flag(int argc, char **argv, const char *name, bool *flag)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], name))
			*flag = true;
		else
			usage_fail(argv[i]);
	}
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
 * ggdir_ram_scratch() (/dev/shm/gg-<euid>/<hash of the .gg path>, one per .gg
 * directory) when /dev/shm is a tmpfs, else <ggdir>/tmp.  Materialization temporaries are in <ggdir>/tmp.
 */
#define NSCRATCH 2
static void scratch_dirs(const char *ggdir, char dirs[NSCRATCH][PATH_MAX])
{
	snprintf(dirs[0], PATH_MAX, "%s/tmp", ggdir);
	if (ggdir_ram_scratch(ggdir, dirs[1], PATH_MAX) < 0)
		dirs[1][0] = '\0';
}

/* Called for each entry of scratch directory k (dirs[k] of scratch_dirs). */
typedef int scratch_fn(void *ctx, int k, const char *dir, int dirfd, const char *name);

struct scratch_walk {
	scratch_fn *fn;
	void *ctx;
	int k;
	const char *dir;
};

static int scratch_entry(void *ctx, int dirfd, const char *name)
{
	struct scratch_walk *w = ctx;
	return w->fn(w->ctx, w->k, w->dir, dirfd, name);
}

/* fn for every entry of the scratch directories (one that cannot be read is empty);
 * a positive return stops the walk and is returned. */
static int walk_scratch(const char *ggdir, scratch_fn *fn, void *ctx)
{
	char dirs[NSCRATCH][PATH_MAX];
	struct scratch_walk w = { fn, ctx, 0, NULL };
	int ret;

	scratch_dirs(ggdir, dirs);
	for (w.k = 0; w.k < NSCRATCH; w.k++) {
		w.dir = dirs[w.k];
		if ((ret = dir_walk(AT_FDCWD, dirs[w.k], 0, scratch_entry, &w)) > 0)
			return ret;
	}
	return 0;
}

/* ---- the blobs ------------------------------------------------------------------- */

/* ---- the results cache and the stat cache ---------------------------------------- */

/* Called for each results-cache entry file (name = key) or temporary (key NULL). */
typedef void cache_file_fn(void *ctx, int shardfd, const char *name, const struct gg_hash *key,
			   const struct stat *sb);

struct cache_walk {
	cache_file_fn *fn;
	void *ctx;
	const char *shard;
};

static int cache_entry(void *ctx, int shardfd, const char *name)
{
	struct cache_walk *w = ctx;
	char hex[GG_HASH_HEX_SIZE];
	struct gg_hash key, *k = NULL;
	struct stat sb;

	if (name[0] == '.' || fstatat(shardfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode))
		return 0;
	if (strlen(name) == 2 * GG_HASH_LEN - 2) {
		snprintf(hex, sizeof(hex), "T%.2s%.30s", w->shard, name);
		if (hash_from_hex_str(hex, &key) == 0)
			k = &key;
	}
	w->fn(w->ctx, shardfd, name, k, &sb);
	return 0;
}

static int cache_shard(void *ctx, int topfd, const char *name)
{
	struct cache_walk *w = ctx;

	if (strlen(name) != 2 || !strchr("0123456789abcdef", name[0]) ||
	    !strchr("0123456789abcdef", name[1]))
		return 0;
	w->shard = name;
	dir_walk(topfd, name, 0, cache_entry, w); /* an unreadable shard is passed over */
	return 0;
}

/* Walk <ggdir>/cache/ab/...; a missing cache directory is empty. */
static void walk_cache(const char *ggdir, cache_file_fn *fn, void *ctx)
{
	char dir[PATH_MAX];
	struct cache_walk w = { fn, ctx, NULL };

	snprintf(dir, sizeof(dir), "%s/cache", ggdir);
	dir_walk(AT_FDCWD, dir, 0, cache_shard, &w);
}

/* Called with each results-cache entry that parses (cache.h). */
typedef void cache_entry_fn(void *ctx, const struct cache_entry *e);

struct entry_walk {
	const char *ggdir;
	cache_entry_fn *fn;
	void *ctx;
};

static int entry_one(void *ctx, const struct gg_hash *key, const struct cache_entry *e)
{
	struct entry_walk *w = ctx;
	(void)key;
	w->fn(w->ctx, e);
	return 0;
}

/* fn for every results-cache entry of ggdir (the log, cache.h). */
static void walk_cache_entries(const char *ggdir, cache_entry_fn *fn, void *ctx)
{
	struct entry_walk w = { ggdir, fn, ctx };

	cache_foreach(ggdir, entry_one, &w);
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
	if (!key)
		c->tmp++; /* (old per-file entries are ignored: cache.h) */
}

static int count_entry(void *ctx, const struct gg_hash *key, const struct cache_entry *e)
{
	(void)key;
	(void)e;
	((struct cache_count *)ctx)->entries++;
	return 0;
}

/*
 * Entries of <ggdir>/statcache (statcache.h: an append-only log, so the paths of
 * its live records, which takes reading it).  0 when there is none, -1 when it
 * does not parse.
 */
static long long statcache_entries(const char *ggdir)
{
	struct statcache *sc;
	long long n;
	int ret = statcache_open(&sc, ggdir);

	if (ret < 0 || ret == STATCACHE_IGNORED) {
		statcache_free(sc);
		return -1;
	}
	n = (long long)statcache_count(sc);
	statcache_free(sc);
	return n;
}

/* ---- gg cache stats ------------------------------------------------------------------ */

/* Staging directories (run-<pid>-<n>), and how many belong to dead builds. */
struct staging_count {
	uint64_t all, dead;
};

static int count_one_staging(void *ctx, int k, const char *dir, int dirfd, const char *name)
{
	struct staging_count *c = ctx;
	long pid = temp_pid(name, "run-");

	if (pid) {
		c->all++;
		c->dead += pid_dead(pid);
	}
	return 0;
}

static void count_staging(const char *ggdir, uint64_t *all, uint64_t *dead)
{
	struct staging_count c = { 0, 0 };

	walk_scratch(ggdir, count_one_staging, &c);
	*all = c.all;
	*dead = c.dead;
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

	only_flag(argc, argv, "--json", &json);
	ggdir = cli_need_ggdir();
	cli_open_store(&st, ggdir, 0);
	if ((ret = store_stats(&st, &s)) < 0)
		die("cannot read the store in '%s': %s", ggdir, strerror(-ret));
	walk_cache(ggdir, count_one, &cc);
	cache_foreach(ggdir, count_entry, &cc);
	sc = statcache_entries(ggdir);
	count_staging(ggdir, &staging, &staging_dead);
	if (json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_str(&j, "dir", ggdir);
		json_kv_uint(&j, "blobs", s.count);
		json_kv_uint(&j, "bytes", s.bytes);
		json_kv_uint(&j, "packed", s.packed);
		json_kv_uint(&j, "packed_bytes", s.packed_bytes);
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
		printf("packed blobs:   %llu (%s)\n", (unsigned long long)s.packed,
		       human(s.packed_bytes, b));
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
	uint64_t n;
};

static void dangling_one(void *ctx, const struct cache_entry *e)
{
	struct dangling *d = ctx;

	for (size_t i = 0; i < e->n; i++) {
		if (hash_is_set(&e->v[i].value) && !store_has(d->st, &e->v[i].value)) {
			d->n++;
			break;
		}
	}
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

	only_flag(argc, argv, "--remove", &remove);
	ggdir = cli_need_ggdir();
	bl.ggdir = ggdir;
	cli_open_store(&st, ggdir, 0);
	ret = store_verify_all(&st, remove ? STORE_VERIFY_REMOVE : 0, on_bad, &bl, &s);
	if (ret < 0)
		die("cannot walk the store in '%s': %s", ggdir, strerror(-ret));
	if (remove) {
		/* the store removes corrupt blobs and stray files, never what it failed to read */
		for (size_t i = 0; i < bl.rel.n; i++) {
			struct stat sb;
			if (!strncmp(bl.rel.v[i], "thunks.pack", 11) || /* (the packs, written again) */
			    !strncmp(bl.rel.v[i], BLOBPACK_DIR "/", sizeof(BLOBPACK_DIR)) ||
			    (fstatat(st.dirfd, bl.rel.v[i], &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT))
				removed++;
			else
				printf("kept '%s/%s'\n", ggdir, bl.rel.v[i]);
		}
	}
	d.st = &st;
	walk_cache_entries(ggdir, dangling_one, &d);
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
struct gc_staging_ctx {
	const struct gc_opts *o;
	struct gc_report *r;
};

static int gc_one_staging(void *ctx, int k, const char *dir, int dirfd, const char *name)
{
	struct gc_staging_ctx *c = ctx;
	char path[PATH_MAX + 300];
	struct stat sb;
	long pid = temp_pid(name, "run-"), mat = temp_pid(name, "mat-");

	if ((!pid && !mat) || fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (pid && !S_ISDIR(sb.st_mode)) || !old_enough(&sb, c->o->min_age) ||
	    !pid_dead(pid ? pid : mat))
		return 0;
	snprintf(path, sizeof(path), "%.*s/%.255s", PATH_MAX, dir, name);
	if (c->o->dry_run)
		printf("would remove '%s'\n", path);
	else if (pid)
		rm_rf(path);
	else if (unlink(path) < 0)
		return 0;
	if (pid)
		c->r->staging++;
	else
		c->r->tmp++;
	return 0;
}

static void gc_staging(const char *ggdir, const struct gc_opts *o, struct gc_report *r)
{
	struct gc_staging_ctx c = { o, r };

	walk_scratch(ggdir, gc_one_staging, &c);
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

/*
 * A set of hashes, in the order they were added (v), with an index beside it.
 * Owner: the caller (hset_release).
 */
struct hset {
	struct htab ix; /* hash_key64 -> index into v */
	struct gg_hash *v;
	size_t n, alloc;
};

static bool hset_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct hset *s = ctx;
	return hash_equal(&s->v[val], key);
}

static bool hset_has(const struct hset *s, const struct gg_hash *h)
{
	return htab_find(&s->ix, hash_key64(h), hset_eq, s, h) != HTAB_NONE;
}

/* 1 if added, 0 if present or unset; dies when out of memory. */
static int hset_add(struct hset *s, const struct gg_hash *h)
{
	uint64_t k = hash_key64(h);

	if (!hash_is_set(h) || htab_find(&s->ix, k, hset_eq, s, h) != HTAB_NONE)
		return 0;
	if (s->n == s->alloc)
		s->v = xrealloc(s->v, (s->alloc = s->alloc ? s->alloc * 2 : 1024) * sizeof(*s->v));
	if (htab_add(&s->ix, k, (uint32_t)s->n) < 0)
		die("out of memory");
	s->v[s->n++] = *h;
	return 1;
}

static void hset_release(struct hset *s)
{
	htab_release(&s->ix);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/*
 * Every blob something references: the graph's thunks, recorded outputs and driver
 * inputs; everything those thunks name (executable, inputs, shared objects) and the
 * thunks they reference, transitively; every results-cache entry's outputs.  A
 * thunk that cannot be read leaves its references unknown: then nothing is safe to
 * collect, and this dies.
 */
struct values_ctx {
	struct hset *set;
	bool blobs_only; /* only VALUE and THUNK hashes (hlist_add) */
};

/* Add the output values of a results-cache entry to a set (walk_cache_entries). */
static void add_cache_values(void *ctx, const struct cache_entry *e)
{
	struct values_ctx *l = ctx;

	for (size_t i = 0; i < e->n; i++)
		if (!l->blobs_only || e->v[i].value.kind == GG_HASH_VALUE ||
		    e->v[i].value.kind == GG_HASH_THUNK)
			hset_add(l->set, &e->v[i].value);
}

static void mark_live(const char *ggdir, struct store *st, struct hset *live)
{
	struct graph g;
	struct gg_hash *queue = NULL;
	size_t nq = 0, aq = 0;
	struct values_ctx lc = { .set = live, .blobs_only = false };
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

		if ((ret = store_load_thunk(st, &h, &th)) < 0)
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
	walk_cache_entries(ggdir, add_cache_values, &lc);
}

/*
 * Another gg at work on this directory: a live build's staging directory, or a
 * store temporary whose writer holds its lock.  True (and why) if so.
 */
struct busy_ctx {
	char *why;
	size_t len;
};

static int busy_one(void *ctx, int k, const char *dir, int dirfd, const char *name)
{
	struct busy_ctx *c = ctx;
	long pid = temp_pid(name, "run-") ?: temp_pid(name, "mat-");
	int fd, busy = 0;

	if (pid && !pid_dead(pid)) {
		snprintf(c->why, c->len, "a build (pid %ld) is running", pid);
		return 1;
	}
	if (k != 0) /* store temporaries live in <ggdir>/tmp only */
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		snprintf(c->why, c->len, "a blob is being written ('%.*s/%.64s')", PATH_MAX / 2,
			 dir, name);
		busy = 1;
	}
	close(fd);
	return busy;
}

static bool store_busy(const char *ggdir, char *why, size_t len)
{
	struct busy_ctx c = { why, len };

	return walk_scratch(ggdir, busy_one, &c) > 0;
}

struct gc_blobs_ctx {
	const struct hset *live;
	const struct gc_opts *o;
	struct gc_report *r;
	const char *dir;
};

static int gc_blob_one(void *ctx, int shardfd, const char *shard, const char *name,
		       const struct gg_hash *h)
{
	struct gc_blobs_ctx *c = ctx;
	struct stat sb;

	if (!h || hset_has(c->live, h) || fstatat(shardfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode) || !old_enough(&sb, c->o->blob_min_age))
		return 0;
	if (c->o->dry_run)
		printf("would remove unreferenced blob '%s/%s/%s'\n", c->dir, shard, name);
	else if (unlinkat(shardfd, name, 0) < 0)
		return 0;
	c->r->blobs++;
	c->r->blob_bytes += (uint64_t)sb.st_size;
	return 0;
}

/* A packed blob the graph still names stays (packs are not aged: gc_blobs runs
 * only while no other gg uses the store). */
static bool gc_keep_packed(void *ctx, const struct gg_hash *h)
{
	return hset_has(ctx, h);
}

static void gc_blobs(const char *ggdir, struct store *st, const struct gc_opts *o,
		     struct gc_report *r)
{
	struct hset live = { 0 };
	char dir[PATH_MAX], why[PATH_MAX + 64];
	struct gc_blobs_ctx c = { .live = &live, .o = o, .r = r, .dir = dir };
	uint64_t packed, packed_bytes;
	int ret;

	if (store_busy(ggdir, why, sizeof(why)))
		die("not collecting blobs while another gg uses '%s': %s", ggdir, why);
	mark_live(ggdir, st, &live);
	r->live = live.n;
	snprintf(dir, sizeof(dir), "%s/blobs", ggdir);
	if ((ret = store_walk_blobs(st, gc_blob_one, &c)) < 0)
		die("cannot open '%s': %s", dir, strerror(-ret));
	if ((ret = store_repack_values(st, gc_keep_packed, &live, o->dry_run, &packed,
				       &packed_bytes)) < 0)
		die("cannot write the value packs in '%s/%s': %s", ggdir, BLOBPACK_DIR,
		    strerror(-ret));
	if (o->dry_run && packed)
		printf("would drop %llu unreferenced blobs from the value packs\n",
		       (unsigned long long)packed);
	r->blobs += packed;
	r->blob_bytes += packed_bytes;
	hset_release(&live);
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
	ggdir = cli_need_ggdir();
	cli_open_store(&st, ggdir, 0);
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


/* ---- gg cache put / push / pull -------------------------------------------------- */

/*
 * The files of one `gg cache put`, stored by PUT_THREADS threads (store.h: a struct
 * store may be used by several threads): the work is mostly waiting on the
 * filesystem, so a few in flight hide its latency.  Results print in argument order.
 */
#define PUT_THREADS 4

struct put_job {
	struct store *st;
	const char **files;
	struct put_result {
		struct gg_hash h;
		uint64_t size;
		int err;
	} *res;
	size_t n;
	size_t next; /* atomic */
};

static void *put_worker(void *arg)
{
	struct put_job *pj = arg;
	size_t i;
	while ((i = __atomic_fetch_add(&pj->next, 1, __ATOMIC_RELAXED)) < pj->n)
		pj->res[i].err = store_put_file(pj->st, pj->files[i], &pj->res[i].h, &pj->res[i].size);
	return NULL;
}

static int cache_put_files(int argc, char **argv)
{
	struct store st = STORE_INIT;
	struct put_job pj = { 0 };
	pthread_t tid[PUT_THREADS];
	size_t nt = 0;
	struct json j;
	bool json = false, opts = true;
	char *ggdir = NULL;
	int status = 0;

	pj.files = xcalloc((size_t)argc, sizeof(*pj.files));
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--json"))
			json = true;
		else if (opts && !strcmp(argv[i], "--"))
			opts = false;
		else if (opts && argv[i][0] == '-' && argv[i][1])
			usage_fail(argv[i]);
		else
			pj.files[pj.n++] = argv[i];
	}
	if (!pj.n)
		die("'gg cache put' wants at least one FILE");
	ggdir = cli_make_ggdir();
	cli_open_store(&st, ggdir, STORE_CREATE);
	pj.st = &st;
	pj.res = xcalloc(pj.n, sizeof(*pj.res));
	for (; nt < PUT_THREADS && nt < pj.n; nt++)
		if (pthread_create(&tid[nt], NULL, put_worker, &pj))
			break;
	put_worker(&pj); /* this thread too (all of it if none could start) */
	for (size_t t = 0; t < nt; t++)
		pthread_join(tid[t], NULL);
	if (json) {
		json_init(&j, 0);
		json_arr_begin(&j);
	}
	for (size_t i = 0; i < pj.n; i++) {
		char hex[GG_HASH_HEX_SIZE];
		if (pj.res[i].err < 0) {
			fprintf(stderr, "gg: cannot add '%s' to the store: %s\n", pj.files[i],
				strerror(-pj.res[i].err));
			status = 1;
			continue;
		}
		hash_to_hex(&pj.res[i].h, hex);
		if (json) {
			json_obj_begin(&j);
			json_kv_str(&j, "path", pj.files[i]);
			json_kv_str(&j, "hash", hex);
			json_kv_uint(&j, "size", pj.res[i].size);
			json_obj_end(&j);
		} else {
			printf("%s  %s\n", hex, pj.files[i]);
		}
	}
	if (json) {
		json_arr_end(&j);
		if (json_error(&j))
			die("out of memory");
		puts(j.sb.buf);
		json_release(&j);
	}
	free(pj.res);
	free(pj.files);
	store_release(&st);
	free(ggdir);
	return status;
}

/* Ctrl-C: each SIGINT raises the level (s3.h, Cancellation). */
static volatile sig_atomic_t remote_cancel;

static void on_sigint(int sig)
{
	(void)sig;
	if (remote_cancel < 100)
		remote_cancel++;
}

struct remote_opts {
	const char *url;
	unsigned conns;
	bool json, all;
};

/* --remote URL, -j N, --json, --all (pull only). */
static void remote_parse(int argc, char **argv, bool pull, struct remote_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *x = argv[i];
		if (!strcmp(x, "--remote") && i + 1 < argc)
			o->url = argv[++i];
		else if (!strncmp(x, "--remote=", 9))
			o->url = x + 9;
		else if ((!strcmp(x, "-j") || !strcmp(x, "--jobs")) && i + 1 < argc)
			o->conns = (unsigned)parse_age(x, argv[++i]);
		else if (!strncmp(x, "-j", 2) && x[2])
			o->conns = (unsigned)parse_age("-j", x + 2);
		else if (!strcmp(x, "--json"))
			o->json = true;
		else if (pull && !strcmp(x, "--all"))
			o->all = true;
		else
			usage_fail(x);
	}
	if (!o->url || !*o->url)
		o->url = getenv("GG_REMOTE");
	if (!o->url || !*o->url)
		die("no remote: give --remote s3://BUCKET[/PREFIX] or set GG_REMOTE");
	if (o->conns > S3_MAX_CONNS)
		die("-j wants at most %d connections", S3_MAX_CONNS);
}

/* Connect and check the bucket and credentials with one request; dies with S3's word. */
static struct s3_client *remote_open(const struct remote_opts *o)
{
	struct s3_opts so = { .url = o->url, .max_conns = o->conns, .cancel = &remote_cancel };
	struct s3_client *c;
	char err[S3_ERR_SIZE + 2048];
	struct sigaction sa;
	int ret;

	if ((ret = s3_client_new(&so, &c, err, sizeof(err))) < 0)
		die("%s", ret == -ENOMEM ? "out of memory" : err);
	if ((ret = s3_client_check(c, err, sizeof(err))) < 0)
		die("%s", err);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return c;
}

struct remote_ui {
	bool tty;
	double start, last;
	size_t nfail;
	bool drawn;
};

#define MAX_FAIL_LINES 20

static void ui_clear(struct remote_ui *u)
{
	if (u->drawn) {
		fputs("\r\033[K", stderr);
		u->drawn = false;
	}
}

static void ui_fail(void *ctx, const struct gg_hash *h, int err, const char *msg)
{
	struct remote_ui *u = ctx;
	(void)h;
	(void)err;
	ui_clear(u);
	if (++u->nfail <= MAX_FAIL_LINES)
		fprintf(stderr, "gg: %s\n", msg);
}

static void ui_progress(void *ctx, const char *phase, const struct s3_progress *p)
{
	struct remote_ui *u = ctx;
	double now = clock_now_s(), el;
	if (!u->tty || now - u->last < 0.2)
		return;
	u->last = now;
	el = now - u->start;
	fprintf(stderr, "\r\033[K[%zu/%zu] %.1f MB/s %s", p->done, p->total,
		el > 0 ? (double)p->bytes_done / 1e6 / el : 0.0, phase);
	u->drawn = true;
}

struct blob_list {
	struct gg_hash *v;
	size_t n, alloc;
};

static int list_blob_one(void *ctx, int shardfd, const char *shard, const char *name,
			 const struct gg_hash *h)
{
	struct blob_list *l = ctx;
	if (!h)
		return 0;
	if (l->n == l->alloc)
		l->v = xrealloc(l->v, (l->alloc = l->alloc ? l->alloc * 2 : 1024) * sizeof(*l->v));
	l->v[l->n++] = *h;
	return 0;
}

struct packed_list {
	struct blob_list *l;
	struct hset seen;
};

static int list_packed_one(void *ctx, const struct gg_hash *h)
{
	struct packed_list *p = ctx;
	if (hset_has(&p->seen, h))
		return 0;
	if (hset_add(&p->seen, h) < 0)
		die("out of memory");
	return list_blob_one(p->l, -1, NULL, NULL, h);
}

/* Every blob name under <ggdir>/blobs and every packed blob, once (not verified). */
static void local_blobs(const struct store *st, struct gg_hash **out, size_t *n)
{
	struct blob_list l = { 0 };
	struct packed_list p = { .l = &l };
	size_t nloose;

	store_walk_blobs(st, list_blob_one, &l);
	nloose = l.n;
	for (size_t i = 0; i < nloose; i++)
		if (hset_add(&p.seen, &l.v[i]) < 0)
			die("out of memory");
	store_walk_packed(st, list_packed_one, &p);
	hset_release(&p.seen);
	*out = l.v;
	*n = l.n;
}

/* The blob counts of a push or pull, then the object's end: the --json summaries. */
static void json_store_stats(struct json *j, const char *verb, const struct s3store_stats *s,
			     int ret, double secs)
{
	json_kv_uint(j, "blobs", s->total);
	json_kv_uint(j, "present", s->present);
	json_kv_uint(j, !strcmp(verb, "push") ? "uploaded" : "downloaded", s->moved);
	json_kv_uint(j, "bytes", s->bytes);
	json_kv_uint(j, "missing", s->missing);
	json_kv_uint(j, "failed", s->failed);
	json_kv_uint(j, "cancelled", s->cancelled);
	json_kv_bool(j, "listed", s->listed);
	json_kv_bool(j, "interrupted", ret == -ECANCELED);
	json_key(j, "milliseconds");
	json_uint(j, (uint64_t)(secs * 1000));
	json_obj_end(j);
}

static void remote_summary(const struct remote_opts *o, struct s3_client *c, const char *verb,
			   const struct s3store_stats *s, double secs, int ret)
{
	char a[32];
	double mbs = secs > 0 ? (double)s->bytes / 1e6 / secs : 0;
	if (o->json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_str(&j, "remote", s3_client_url(c));
		json_kv_str(&j, "verb", verb);
		json_store_stats(&j, verb, s, ret, secs);
		if (json_error(&j))
			die("out of memory");
		puts(j.sb.buf);
		json_release(&j);
		return;
	}
	printf("gg: %s %zu of %zu blobs (%s) %s %s in %.2f s (%.1f MB/s); %zu already there",
	       !strcmp(verb, "push") ? "uploaded" : "downloaded", s->moved, s->total,
	       human(s->bytes, a), !strcmp(verb, "push") ? "to" : "from", s3_client_url(c), secs,
	       mbs, s->present);
	if (s->missing)
		printf(", %zu not in the bucket", s->missing);
	if (s->failed)
		printf(", %zu failed", s->failed);
	if (ret == -ECANCELED)
		printf(", interrupted (%zu not %s)", s->cancelled,
		       !strcmp(verb, "push") ? "sent" : "fetched");
	putchar('\n');
}

static int remote_status(int ret)
{
	if (ret == -ECANCELED)
		return 130;
	return ret < 0 ? 1 : 0;
}

static int cache_push(int argc, char **argv)
{
	struct remote_opts o;
	struct store st = STORE_INIT;
	struct s3_client *c;
	struct gg_hash *hs;
	struct s3store_stats s;
	struct remote_ui u = { .tty = isatty(2) };
	struct s3store_cb cb = { ui_fail, ui_progress, &u };
	size_t n;
	char *ggdir;
	int ret;

	remote_parse(argc, argv, false, &o);
	ggdir = cli_need_ggdir();
	cli_open_store(&st, ggdir, 0);
	c = remote_open(&o);
	local_blobs(&st, &hs, &n);
	u.start = clock_now_s();
	ret = s3store_push(c, &st, hs, n, &cb, &s);
	ui_clear(&u);
	if (u.nfail > MAX_FAIL_LINES)
		fprintf(stderr, "gg: ... and %zu more failures\n", u.nfail - MAX_FAIL_LINES);
	if (ret < 0 && !u.nfail && ret != -ECANCELED)
		fprintf(stderr, "gg: cannot push to %s: %s\n", s3_client_url(c), strerror(-ret));
	remote_summary(&o, c, "push", &s, clock_now_s() - u.start, ret);
	free(hs);
	s3_client_free(c);
	store_release(&st);
	free(ggdir);
	return remote_status(ret);
}

/* Add a blob or thunk hash to a list without duplicates (other kinds are not blobs). */
static void hlist_add(struct hset *l, const struct gg_hash *h)
{
	if (h->kind == GG_HASH_VALUE || h->kind == GG_HASH_THUNK)
		hset_add(l, h);
}

/*
 * What a pull fetches without --all: the graph's thunks, recorded outputs and
 * driver inputs, the results cache's outputs; then, round after round, what the
 * thunks fetched so far reference.
 */
static int pull_referenced(const char *ggdir, struct store *st, struct s3_client *c,
			   const struct s3store_cb *cb, struct s3store_stats *total)
{
	struct hset want = { 0 };
	struct graph g;
	struct values_ctx lc = { .set = &want, .blobs_only = true };
	char path[PATH_MAX];
	size_t from = 0;
	int ret, first = 0;

	graph_init(&g);
	snprintf(path, sizeof(path), "%s/graph", ggdir);
	if ((ret = graph_load(&g, path)) < 0 && ret != -ENOENT)
		die("cannot read the graph '%s': %s", path, strerror(-ret));
	for (size_t i = 0; i < g.n; i++) {
		hlist_add(&want, &g.nodes[i].hash);
		for (size_t k = 0; k < g.nodes[i].noutputs; k++)
			hlist_add(&want, &g.nodes[i].outputs[k].value);
	}
	for (size_t i = 0; i < g.ndriver_inputs; i++)
		hlist_add(&want, &g.driver_inputs[i].value);
	graph_release(&g);
	walk_cache_entries(ggdir, add_cache_values, &lc);
	if (!want.n)
		die("nothing here references blobs (no graph, no results cache in '%s'): "
		    "'gg cache pull --all' fetches every blob of the bucket", ggdir);
	memset(total, 0, sizeof(*total));
	while (from < want.n) {
		struct s3store_stats s;
		size_t to = want.n;
		ret = s3store_pull(c, st, want.v + from, to - from, cb, &s);
		total->total += s.total;
		total->present += s.present;
		total->moved += s.moved;
		total->missing += s.missing;
		total->failed += s.failed;
		total->cancelled += s.cancelled;
		total->bytes += s.bytes;
		if (ret == -ECANCELED) {
			first = ret;
			break;
		}
		first = first ?: ret;
		/* the thunks among them name more blobs */
		for (size_t i = from; i < to; i++) {
			struct thunk th;
			if (want.v[i].kind != GG_HASH_THUNK || store_load_thunk(st, &want.v[i], &th) < 0)
				continue;
			hlist_add(&want, &th.exe.hash);
			for (size_t k = 0; k < th.inputs.n; k++)
				hlist_add(&want, &th.inputs.v[k].hash);
			for (size_t k = 0; k < th.objects.n; k++)
				hlist_add(&want, &th.objects.v[k].hash);
			thunk_release(&th);
		}
		from = to;
	}
	hset_release(&want);
	return first;
}

static int cache_pull(int argc, char **argv)
{
	struct remote_opts o;
	struct store st = STORE_INIT;
	struct s3_client *c;
	struct s3store_stats s;
	struct remote_ui u = { .tty = isatty(2) };
	struct s3store_cb cb = { ui_fail, ui_progress, &u };
	char *ggdir = NULL;
	int ret;

	remote_parse(argc, argv, true, &o);
	ggdir = cli_make_ggdir();
	cli_open_store(&st, ggdir, STORE_CREATE);
	c = remote_open(&o);
	u.start = clock_now_s();
	if (o.all) {
		struct gg_hash *hs;
		size_t n;
		char err[S3_ERR_SIZE];
		if ((ret = s3store_list(c, &hs, &n, err, sizeof(err))) < 0)
			die("%s", err);
		ret = s3store_pull(c, &st, hs, n, &cb, &s);
		free(hs);
	} else {
		ret = pull_referenced(ggdir, &st, c, &cb, &s);
	}
	ui_clear(&u);
	if (u.nfail > MAX_FAIL_LINES)
		fprintf(stderr, "gg: ... and %zu more failures\n", u.nfail - MAX_FAIL_LINES);
	if (ret < 0 && !u.nfail && ret != -ECANCELED)
		fprintf(stderr, "gg: cannot pull from %s: %s\n", s3_client_url(c), strerror(-ret));
	remote_summary(&o, c, "pull", &s, clock_now_s() - u.start, ret);
	s3_client_free(c);
	store_release(&st);
	free(ggdir);
	return remote_status(ret);
}

/* ---- gg push / gg pull: a project's graph and results index --------------------------- */

static const char project_help[] =
	"usage: gg push [--remote s3://BUCKET[/PREFIX]] [-j N] [--json]\n"
	"   or: gg pull [--remote s3://BUCKET[/PREFIX]] [-j N] [--json]\n"
	"\n"
	"Move a project's build knowledge through a bucket (--remote, else $GG_REMOTE), so\n"
	"that a fresh clone of the same tree at the same path builds with zero local runs\n"
	"('gg pull', then 'gg build [--remote URL]').\n"
	"\n"
	"push  uploads every local blob the bucket lacks (thunks, outputs, driver inputs),\n"
	"      every results-cache entry (PREFIX/results/<key>, after the blobs it names)\n"
	"      and, last, the graph (PREFIX/graphs/<16 hex digits of XXH64 of the .gg path>)\n"
	"pull  downloads the graph of this .gg path (checked before it replaces the local\n"
	"      one), every results entry of the bucket with the blobs it names (verified)\n"
	"      and every blob the graph's thunks reference\n"
	"\n"
	"  -j N     concurrent connections (default 64)\n"
	"  --json   a JSON summary\n";

/* gg push / gg pull -h: the help, and exit. */
static void project_help_asked(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(project_help, stdout);
			exit(0);
		}
	}
}

/* PREFIX-relative name of the graph of a .gg directory: graphs/<XXH64 of its path>. */
static void graph_object(const char *ggdir, char buf[64])
{
	snprintf(buf, 64, "graphs/%016llx", (unsigned long long)XXH64(ggdir, strlen(ggdir), 0));
}

static int key_add_entry(void *ctx, const struct gg_hash *key, const struct cache_entry *e)
{
	(void)e;
	hlist_add(ctx, key);
	return 0;
}

static void stats_add(struct s3store_stats *to, const struct s3store_stats *s)
{
	to->total += s->total;
	to->present += s->present;
	to->moved += s->moved;
	to->missing += s->missing;
	to->failed += s->failed;
	to->cancelled += s->cancelled;
	to->bytes += s->bytes;
}

static void project_summary(const struct remote_opts *o, struct s3_client *c, const char *verb,
			    const char *graph, size_t entries, size_t moved_entries,
			    const struct s3store_stats *s, double secs, int ret)
{
	char a[32];
	if (o->json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_str(&j, "remote", s3_client_url(c));
		json_kv_str(&j, "verb", verb);
		json_kv_str(&j, "graph", graph);
		json_kv_uint(&j, "entries", entries);
		json_kv_uint(&j, !strcmp(verb, "push") ? "entries_uploaded" : "entries_fetched",
			     moved_entries);
		json_store_stats(&j, verb, s, ret, secs);
		if (json_error(&j))
			die("out of memory");
		puts(j.sb.buf);
		json_release(&j);
		return;
	}
	printf("gg: %s %s: graph %s, %zu of %zu results entries, %zu of %zu blobs (%s) in %.2f s",
	       verb, s3_client_url(c), graph, moved_entries, entries, s->moved, s->total,
	       human(s->bytes, a), secs);
	if (s->missing)
		printf(", %zu not in the bucket", s->missing);
	if (s->failed)
		printf(", %zu failed", s->failed);
	if (ret == -ECANCELED)
		printf(", interrupted");
	putchar('\n');
}

static void ui_done(struct remote_ui *u)
{
	ui_clear(u);
	if (u->nfail > MAX_FAIL_LINES)
		fprintf(stderr, "gg: ... and %zu more failures\n", u->nfail - MAX_FAIL_LINES);
}

int cmd_push(int argc, char **argv)
{
	struct remote_opts o;
	struct store st = STORE_INIT;
	struct s3_client *c;
	struct gg_hash *hs;
	struct s3store_stats s;
	struct s3results_stats rs = { 0 };
	struct remote_ui u = { .tty = isatty(2) };
	struct s3store_cb cb = { ui_fail, ui_progress, &u };
	struct hset keys = { 0 };
	struct s3_batch *b;
	char gpath[PATH_MAX], gname[64];
	size_t n;
	char *ggdir;
	int ret;

	project_help_asked(argc, argv);
	remote_parse(argc, argv, false, &o);
	ggdir = cli_need_ggdir();
	snprintf(gpath, sizeof(gpath), "%s/graph", ggdir);
	if (access(gpath, R_OK) < 0)
		die("nothing to push: no graph in '%s' (run 'gg infer' first)", ggdir);
	graph_object(ggdir, gname);
	cli_open_store(&st, ggdir, 0);
	c = remote_open(&o);
	u.start = clock_now_s();
	/* blobs, then the entries naming them, then the graph naming the thunks */
	local_blobs(&st, &hs, &n);
	ret = s3store_push(c, &st, hs, n, &cb, &s);
	free(hs);
	cache_foreach(ggdir, key_add_entry, &keys);
	if (ret == 0 && keys.n)
		ret = s3results_publish(c, ggdir, &st, keys.v, keys.n, &cb, &rs);
	if (ret == 0) {
		if (!(b = s3_batch_new(c)))
			die("out of memory");
		if ((ret = (int)s3_batch_put_file(b, gname, gpath)) >= 0)
			ret = s3_batch_run(b);
		if (ret < 0 && s3_batch_count(b) && s3_batch_result(b, 0)->msg)
			ui_fail(&u, NULL, ret, s3_batch_result(b, 0)->msg);
		s3_batch_free(b);
	}
	ui_done(&u);
	if (ret < 0 && !u.nfail && ret != -ECANCELED)
		fprintf(stderr, "gg: cannot push to %s: %s\n", s3_client_url(c), strerror(-ret));
	project_summary(&o, c, "push", ret == 0 ? gname : "not uploaded", keys.n, rs.published, &s,
			clock_now_s() - u.start, ret);
	hset_release(&keys);
	s3_client_free(c);
	store_release(&st);
	free(ggdir);
	return remote_status(ret);
}

/* Listing of PREFIX/ from results/ on: the keys of the entries (blob names, upper
 * case, sort before it; nothing of ours sorts after it). */
static int list_entry(void *ctx, const char *name, uint64_t size)
{
	struct hset *l = ctx;
	struct gg_hash h;
	(void)size;
	if (strncmp(name, S3RESULTS_DIR "/", sizeof(S3RESULTS_DIR)))
		return 0;
	if (hash_from_hex_str(name + sizeof(S3RESULTS_DIR), &h) == 0 && h.kind == GG_HASH_THUNK)
		hlist_add(l, &h);
	return 0;
}

/* Download the graph object into <ggdir>/graph, checked before it replaces it. */
static int pull_graph(struct s3_client *c, const char *ggdir, const char *gname,
		      struct remote_ui *u)
{
	struct s3_batch *b;
	const struct s3_result *r;
	struct graph g;
	char path[PATH_MAX], tmp[PATH_MAX + 32];
	int ret;

	snprintf(path, sizeof(path), "%s/graph", ggdir);
	snprintf(tmp, sizeof(tmp), "%s/graph.pull-%ld", ggdir, (long)getpid());
	if (!(b = s3_batch_new(c)))
		die("out of memory");
	if ((ret = (int)s3_batch_get_buf(b, gname, 1u << 30, NULL)) >= 0)
		ret = s3_batch_run(b);
	r = s3_batch_count(b) ? s3_batch_result(b, 0) : NULL;
	if (ret == -ENOENT) {
		ui_clear(u);
		fprintf(stderr, "gg: %s holds no graph for '%s' (%s): run 'gg push' from the tree "
			"at that path first\n", s3_client_url(c), ggdir, gname);
	} else if (ret < 0 && r && r->msg) {
		ui_fail(u, NULL, ret, r->msg);
	} else if (ret == 0) {
		if ((ret = file_write_atomic(tmp, r->body, r->len, false)) < 0)
			die("cannot write '%s': %s", tmp, strerror(-ret));
		graph_init(&g);
		if ((ret = graph_load(&g, tmp)) < 0) {
			unlink(tmp);
			ui_fail(u, NULL, ret, "the graph in the bucket does not parse");
		} else if (rename(tmp, path) < 0) {
			ret = -errno;
			unlink(tmp);
			die("cannot rename '%s' to '%s': %s", tmp, path, strerror(-ret));
		}
		graph_release(&g);
	}
	s3_batch_free(b);
	return ret;
}

int cmd_pull(int argc, char **argv)
{
	struct remote_opts o;
	struct store st = STORE_INIT;
	struct s3_client *c;
	struct s3store_stats s = { 0 }, ref;
	struct s3results_stats rs = { 0 };
	struct remote_ui u = { .tty = isatty(2) };
	struct s3store_cb cb = { ui_fail, ui_progress, &u };
	struct hset keys = { 0 };
	struct s3_batch *b;
	char gname[64];
	char *ggdir = NULL;
	int ret;

	project_help_asked(argc, argv);
	remote_parse(argc, argv, false, &o);
	ggdir = cli_make_ggdir();
	cli_open_store(&st, ggdir, STORE_CREATE);
	graph_object(ggdir, gname);
	c = remote_open(&o);
	u.start = clock_now_s();
	if ((ret = pull_graph(c, ggdir, gname, &u)) < 0)
		goto out;
	/* the results index: every entry of the bucket, with the blobs it names */
	if (!(b = s3_batch_new(c)))
		die("out of memory");
	if ((ret = (int)s3_batch_list(b, S3RESULTS_DIR "/", 0, list_entry, &keys)) >= 0)
		ret = s3_batch_run(b);
	if (ret < 0 && s3_batch_count(b) && s3_batch_result(b, 0)->msg)
		ui_fail(&u, NULL, ret, s3_batch_result(b, 0)->msg);
	s3_batch_free(b);
	if (ret < 0)
		goto out;
	if (keys.n && (ret = s3results_fetch(c, ggdir, &st, keys.v, keys.n, NULL, &cb, &rs)) < 0 &&
	    ret == -ECANCELED)
		goto out;
	stats_add(&s, &rs.blobs);
	/* the thunks of the graph and what they reference */
	{
		int r2 = pull_referenced(ggdir, &st, c, &cb, &ref);
		stats_add(&s, &ref);
		ret = ret ?: r2;
	}
out:
	ui_done(&u);
	if (ret < 0 && !u.nfail && ret != -ECANCELED && ret != -ENOENT)
		fprintf(stderr, "gg: cannot pull from %s: %s\n", s3_client_url(c), strerror(-ret));
	project_summary(&o, c, "pull", gname, keys.n, rs.hits, &s, clock_now_s() - u.start, ret);
	hset_release(&keys);
	s3_client_free(c);
	store_release(&st);
	free(ggdir);
	return remote_status(ret);
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
	if (!strcmp(argv[1], "put"))
		return cache_put_files(argc - 1, argv + 1);
	if (!strcmp(argv[1], "push"))
		return cache_push(argc - 1, argv + 1);
	if (!strcmp(argv[1], "pull"))
		return cache_pull(argc - 1, argv + 1);
	fprintf(stderr, "gg: unknown cache command '%s'\n", argv[1]);
	fputs(cache_help, stderr);
	return 2;
}
