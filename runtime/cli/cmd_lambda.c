/*
 * cmd_lambda.c - `gg lambda package -o FILE.zip`: the self-contained function
 * package (runtime/engine/package.h).  Deploying it is issue 12.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cli/cmds.h"
#include "runtime/engine/package.h"
#include "runtime/lib/util.h"

#define LAMBDA_USAGE "usage: gg lambda package -o FILE.zip [--bootstrap FILE] [--shim FILE] [--list]\n"

static const char lambda_help[] =
	LAMBDA_USAGE
	"\n"
	"Build the AWS Lambda function package: a zip whose root holds `bootstrap` (gg\n"
	"linked to run from /var/task: its loader and libraries are in the package),\n"
	"lib/ld-linux-x86-64.so.2, every shared object bootstrap and libggshim.so load\n"
	"(found on this host now), and lib/libggshim.so.  Members are stored, not\n"
	"compressed.  --list prints the members and where each comes from.\n"
	"\n"
	"  --bootstrap FILE   default: ../lambda/bootstrap next to gg (make builds it), else\n"
	"                     ../lib/gg/bootstrap (make install)\n"
	"  --shim FILE        default: the shim gg records with\n";

static int lambda_package(int argc, char **argv)
{
	const char *out = NULL, *bootstrap_opt = NULL, *shim_opt = NULL;
	char *bootstrap = NULL, *shim = NULL, err[PATH_MAX * 2] = "";
	struct package p;
	bool list = false;
	uint64_t bytes = 0;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(lambda_help, stdout);
			return 0;
		} else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--bootstrap") ||
			    !strcmp(argv[i], "--shim")) && i + 1 < argc) {
			const char **dst = argv[i][1] == 'o' ? &out : argv[i][2] == 'b' ? &bootstrap_opt
											 : &shim_opt;
			*dst = argv[++i];
		} else if (!strcmp(argv[i], "--list")) {
			list = true;
		} else {
			fprintf(stderr, "gg: unexpected argument '%s'\n" LAMBDA_USAGE, argv[i]);
			return 2;
		}
	}
	if (!out) {
		fputs(LAMBDA_USAGE, stderr);
		return 2;
	}
	if (bootstrap_opt)
		bootstrap = xstrdup(bootstrap_opt);
	else if ((ret = package_default_bootstrap(&bootstrap)) < 0)
		die("cannot find the bootstrap: %s", strerror(-ret));
	if (shim_opt)
		shim = xstrdup(shim_opt);
	else if ((ret = cmd_shim_path(&shim)) < 0)
		die("cannot find the shim library: %s", strerror(-ret));
	if ((ret = package_collect(bootstrap, shim, &p, err, sizeof(err))) < 0)
		die("%s", err[0] ? err : strerror(-ret));
	if ((ret = package_zip(&p, out, &bytes, err, sizeof(err))) < 0)
		die("%s", err);
	if (list)
		for (size_t i = 0; i < p.n; i++)
			printf("%-32s %s\n", p.v[i].name, p.v[i].src);
	printf("%s: %zu files, %.1f MB\n", out, p.n, (double)bytes / 1e6);
	if (bytes > 50ull * 1000 * 1000)
		warning("'%s' is over Lambda's 50 MB limit for a zip upload", out);
	package_release(&p);
	free(bootstrap);
	free(shim);
	return 0;
}

int cmd_lambda(int argc, char **argv)
{
	if (argc < 2) {
		fputs(LAMBDA_USAGE, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(lambda_help, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "package"))
		return lambda_package(argc - 1, argv + 1);
	fprintf(stderr, "gg: unknown lambda command '%s'\n" LAMBDA_USAGE, argv[1]);
	return 2;
}
