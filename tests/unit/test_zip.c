/*
 * test_zip.c - the stored zip writer: CRC-32 check values, archives that Info-ZIP's
 * `unzip -t` accepts and `unzip` extracts byte for byte with their permissions,
 * reproducible bytes, refused names, no partial archive on abort.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/lib/util.h"
#include "runtime/lib/zip.h"

static char tmpdir[PATH_MAX / 2];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_zip.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	rm_rf(tmpdir);
	return 0;
}

static int sh(const char *fmt, ...)
{
	char cmd[PATH_MAX * 4];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void test_zip__crc32_check_values(void **state)
{
	/* the CRC-32/ISO-HDLC check value, and zlib's crc32("") == 0 */
	assert_int_equal(zip_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(zip_crc32(0, "", 0), 0);
	/* continued in pieces == at once */
	assert_int_equal(zip_crc32(zip_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}

static void test_zip__unzip_accepts_and_extracts(void **state)
{
	char zip[PATH_MAX], src[PATH_MAX], path[PATH_MAX];
	struct zip_writer z;
	struct stat sb;
	struct sbuf got;
	char *big = malloc(300000);

	assert_non_null(big);
	for (size_t i = 0; i < 300000; i++)
		big[i] = (char)(i * 7 + i / 251);
	snprintf(src, sizeof(src), "%s/big.bin", tmpdir);
	assert_int_equal(file_write_atomic(src, big, 300000, false), 0);
	snprintf(zip, sizeof(zip), "%s/a.zip", tmpdir);

	assert_int_equal(zip_open(&z, zip), 0);
	assert_int_equal(zip_add_buf(&z, "bootstrap", "#!/bin/sh\necho hi\n", 18, 0755), 0);
	assert_int_equal(zip_add_file(&z, "lib/big.bin", src, 0644), 0);
	assert_int_equal(zip_add_buf(&z, "lib/empty", "", 0, 0600), 0);
	assert_int_equal(zip_finish(&z), 0);

	assert_int_equal(sh("unzip -tq '%s' >/dev/null", zip), 0);
	assert_int_equal(sh("cd '%s' && mkdir x && cd x && unzip -q ../a.zip", tmpdir), 0);
	snprintf(path, sizeof(path), "%s/x/lib/big.bin", tmpdir);
	assert_int_equal(file_read_all(path, &got, 1 << 20), 0);
	assert_int_equal(got.len, 300000);
	assert_memory_equal(got.buf, big, 300000);
	sbuf_release(&got);
	snprintf(path, sizeof(path), "%s/x/bootstrap", tmpdir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0755);
	snprintf(path, sizeof(path), "%s/x/lib/empty", tmpdir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(big);
}

static void test_zip__same_files_same_bytes(void **state)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct zip_writer z;

	snprintf(a, sizeof(a), "%s/1.zip", tmpdir);
	snprintf(b, sizeof(b), "%s/2.zip", tmpdir);
	assert_int_equal(zip_open(&z, a), 0);
	assert_int_equal(zip_add_buf(&z, "f", "abc", 3, 0644), 0);
	assert_int_equal(zip_finish(&z), 0);
	sleep(1); /* a writer stamping the clock would differ now */
	assert_int_equal(zip_open(&z, b), 0);
	assert_int_equal(zip_add_buf(&z, "f", "abc", 3, 0644), 0);
	assert_int_equal(zip_finish(&z), 0);
	assert_int_equal(sh("cmp -s '%s' '%s'", a, b), 0);
}

static void test_zip__refuses_bad_names_and_leaves_nothing_on_abort(void **state)
{
	char zip[PATH_MAX], tmp[PATH_MAX + 8];
	struct zip_writer z;

	snprintf(zip, sizeof(zip), "%s/bad.zip", tmpdir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", zip);
	assert_int_equal(zip_open(&z, zip), 0);
	assert_int_equal(zip_add_buf(&z, "/etc/passwd", "x", 1, 0644), -EINVAL);
	assert_int_equal(zip_add_buf(&z, "a/../../x", "x", 1, 0644), -EINVAL);
	assert_int_equal(zip_add_buf(&z, "..", "x", 1, 0644), -EINVAL);
	assert_int_equal(zip_add_buf(&z, "", "x", 1, 0644), -EINVAL);
	assert_int_equal(zip_add_buf(&z, "lib//x", "x", 1, 0644), -EINVAL);
	assert_int_equal(zip_add_buf(&z, "a..b/c", "x", 1, 0644), 0); /* not a ".." component */
	assert_int_equal(zip_add_file(&z, "d", tmpdir, 0644), -EINVAL); /* a directory */
	assert_int_equal(zip_add_file(&z, "m", "/nonexistent/x", 0644), -ENOENT);
	assert_int_equal(access(tmp, F_OK), 0);
	zip_abort(&z);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(access(zip, F_OK), -1);
	zip_abort(&z); /* idempotent */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zip__crc32_check_values),
		cmocka_unit_test_setup_teardown(test_zip__unzip_accepts_and_extracts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zip__same_files_same_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zip__refuses_bad_names_and_leaves_nothing_on_abort,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
