/*
 * libFuzzer target for the stat cache log (runtime/store/statcache.h): any bytes
 * given as <ggdir>/statcache must load without a crash, a leak or an out-of-bounds
 * access; lookups, a forget and a hash must work on whatever loaded, and a save
 * after it must leave a log that loads whole (0) and holds what was saved, the
 * bad tail cut off or the foreign file replaced.  Built and run briefly by
 * `make check`; seeds in tests/fuzz/corpus/statcache/.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/store/statcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char ggdir[96];
static char logpath[128];
static char real[96]; /* a file to hash */

static void init(void)
{
	int fd;

	strcpy(dir, "/tmp/gg-fuzz-statcache-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(ggdir, sizeof(ggdir), "%s/.gg", dir);
	snprintf(logpath, sizeof(logpath), "%s/statcache", ggdir);
	snprintf(real, sizeof(real), "%s/f", dir);
	if (mkdir(ggdir, 0755) < 0 || (fd = open(real, O_WRONLY | O_CREAT, 0644)) < 0)
		abort();
	if (write(fd, "contents", 8) != 8)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct statcache *sc;
	struct gg_hash h, h2;
	uint32_t mode;
	int64_t ns;
	int fd, ret;

	if (!dir[0])
		init();
	if ((fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);

	if ((ret = statcache_open(&sc, ggdir)) < 0)
		return 0;
	if (ret > STATCACHE_TORN)
		abort();
	(void)statcache_count(sc);
	(void)statcache_last_mtime(sc, real, &h, &ns);
	(void)statcache_last_mtime(sc, "/t/a", &h, &ns);
	(void)statcache_seen(sc, "/t/a", &mode, &ns);
	statcache_forget(sc, "/t/a");
	if (statcache_hash(sc, NULL, real, 0, &h, &mode) != 0)
		abort();
	statcache_forget(sc, real); /* (always written: a hit would not be) */
	if (statcache_hash(sc, NULL, real, 0, &h, &mode) != 0)
		abort();
	if (statcache_save(sc) != 0)
		abort();
	statcache_free(sc);

	/* the saved log loads whole and holds the hash saved last */
	if (statcache_open(&sc, ggdir) != 0)
		abort();
	if (!statcache_last_mtime(sc, real, &h, &ns) || statcache_count(sc) < 1)
		abort();
	if (statcache_hash(sc, NULL, real, 0, &h2, &mode) != 0 || !hash_equal(&h, &h2))
		abort();
	statcache_free(sc);
	return 0;
}
