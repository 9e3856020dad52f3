/*
 * cmd_lambda.c - `gg lambda package -o FILE.zip`: the self-contained function
 * package (runtime/engine/package.h); `gg lambda deploy --role ARN`: that package
 * as the AWS Lambda function the lambda engine invokes (runtime/engine/lambda_deploy.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/cli/cmds.h"
#include "runtime/engine/lambda_deploy.h"
#include "runtime/engine/package.h"
#include "runtime/lib/util.h"

#define LAMBDA_USAGE                                                                        \
	"usage: gg lambda package -o FILE.zip [--bootstrap FILE] [--shim FILE] [--list]\n"  \
	"       gg lambda deploy --role ARN [--name NAME] [--memory MB] [--timeout S]\n"    \
	"                        [--tmp MB] [--package FILE.zip] [--remote s3://B[/P]]\n"   \
	"                        [--via-bucket] [--wait S]\n"

#define DEFAULT_MEMORY_MB 3008
#define DEFAULT_TIMEOUT_S 900
#define DEFAULT_TMP_MB 2048

static const char lambda_help[] =
	LAMBDA_USAGE
	"\n"
	"package: build the AWS Lambda function package: a zip whose root holds `bootstrap`\n"
	"(gg linked to run from /var/task: its loader and libraries are in the package),\n"
	"lib/ld-linux-x86-64.so.2, every shared object bootstrap and libggshim.so load\n"
	"(found on this host now), and lib/libggshim.so.  Members are stored, not\n"
	"compressed.  --list prints the members and where each comes from.\n"
	"\n"
	"  --bootstrap FILE   default: ../lambda/bootstrap next to gg (make builds it), else\n"
	"                     ../lib/gg/bootstrap (make install)\n"
	"  --shim FILE        default: the shim gg records with\n"
	"\n"
	"deploy: create the function (runtime provided.al2023, x86_64, handler bootstrap)\n"
	"from that package, or update its code and configuration if it exists, and wait\n"
	"until it is ready.  Credentials, region and endpoint as the AWS CLI finds them\n"
	"(AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL for a stand-in).\n"
	"\n"
	"  --role ARN         the execution role (arn:aws:iam::ACCOUNT:role/NAME): S3 read\n"
	"                     and write on the bucket, CloudWatch logs (README.md)\n"
	"  --name NAME        the function (default $GG_LAMBDA_FUNCTION, else gg)\n"
	"  --memory MB        128-10240 (default 3008)\n"
	"  --timeout S        1-900 (default 900)\n"
	"  --tmp MB           /tmp, the worker's cache: 512-10240 (default 2048)\n"
	"  --package FILE     deploy this zip instead of building one (--bootstrap, --shim\n"
	"                     as for package)\n"
	"  --remote s3://B/P  the bucket (default $GG_REMOTE): a package over Lambda's 50 MB\n"
	"                     inline limit goes up there first (B/P/lambda/NAME-HASH.zip)\n"
	"  --via-bucket       through the bucket whatever the size\n"
	"  --wait S           how long to wait for the function to be ready (default 300)\n";

/* Collect and zip the package at out; its size in *bytes. */
static void make_package(const char *bootstrap_opt, const char *shim_opt, const char *out,
			 bool list, uint64_t *bytes, size_t *nfiles)
{
	char *bootstrap = NULL, *shim = NULL, err[PATH_MAX * 2] = "";
	struct package p;
	int ret;

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
	if ((ret = package_zip(&p, out, bytes, err, sizeof(err))) < 0)
		die("%s", err);
	if (list)
		for (size_t i = 0; i < p.n; i++)
			printf("%-32s %s\n", p.v[i].name, p.v[i].src);
	*nfiles = p.n;
	package_release(&p);
	free(bootstrap);
	free(shim);
}

static int lambda_package(int argc, char **argv)
{
	const char *out = NULL, *bootstrap_opt = NULL, *shim_opt = NULL;
	bool list = false;
	uint64_t bytes = 0;
	size_t nfiles = 0;

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
	make_package(bootstrap_opt, shim_opt, out, list, &bytes, &nfiles);
	printf("%s: %zu files, %.1f MB\n", out, nfiles, (double)bytes / 1e6);
	if (!lambda_deploy_inline(bytes))
		warning("'%s' is over Lambda's 50 MB limit for a zip upload: gg lambda deploy "
			"sends it through the bucket", out);
	return 0;
}

/* An option's unsigned value, or die. */
static unsigned uint_arg(const char *opt, const char *v)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || n > 1000000)
		die("%s wants a number, not '%s'", opt, v);
	return (unsigned)n;
}

static int lambda_deploy_cmd(int argc, char **argv)
{
	struct lambda_deploy_opts o = { .memory_mb = DEFAULT_MEMORY_MB, .timeout_s = DEFAULT_TIMEOUT_S,
					.tmp_mb = DEFAULT_TMP_MB };
	struct lambda_deploy_result res;
	const char *bootstrap_opt = NULL, *shim_opt = NULL, *v;
	char err[4096] = "", tmpzip[PATH_MAX] = "";
	int ret;

	o.function = (v = getenv("GG_LAMBDA_FUNCTION")) && *v ? v : "gg";
	o.remote = (v = getenv("GG_REMOTE")) && *v ? v : NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(lambda_help, stdout);
			return 0;
		} else if (!strcmp(a, "--via-bucket")) {
			o.via_bucket = true;
			continue;
		} else if (!val || a[0] != '-') {
			fprintf(stderr, "gg: unexpected argument '%s'\n" LAMBDA_USAGE, a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--role"))
			o.role = val;
		else if (!strcmp(a, "--name"))
			o.function = val;
		else if (!strcmp(a, "--memory"))
			o.memory_mb = uint_arg(a, val);
		else if (!strcmp(a, "--timeout"))
			o.timeout_s = uint_arg(a, val);
		else if (!strcmp(a, "--tmp"))
			o.tmp_mb = uint_arg(a, val);
		else if (!strcmp(a, "--package"))
			o.zip = val;
		else if (!strcmp(a, "--remote"))
			o.remote = val;
		else if (!strcmp(a, "--wait"))
			o.wait_ms = uint_arg(a, val) * 1000u;
		else if (!strcmp(a, "--bootstrap"))
			bootstrap_opt = val;
		else if (!strcmp(a, "--shim"))
			shim_opt = val;
		else {
			fprintf(stderr, "gg: unexpected argument '%s'\n" LAMBDA_USAGE, a);
			return 2;
		}
	}
	if (!o.role) {
		fputs("gg: lambda deploy wants the function's execution role: --role ARN\n" LAMBDA_USAGE,
		      stderr);
		return 2;
	}
	o.zip = o.zip ? o.zip : "(built)"; /* checked before anything is built */
	if (lambda_deploy_check(&o, err, sizeof(err)) < 0)
		die("%s", err);
	if (!strcmp(o.zip, "(built)")) {
		const char *tmp = (v = getenv("TMPDIR")) && *v ? v : "/tmp";
		uint64_t bytes;
		size_t nfiles;
		int fd;
		snprintf(tmpzip, sizeof(tmpzip), "%s/gg-lambda-XXXXXX.zip", tmp);
		if ((fd = mkstemps(tmpzip, 4)) < 0)
			die("cannot create a temporary file in '%s': %s", tmp, strerror(errno));
		close(fd);
		make_package(bootstrap_opt, shim_opt, tmpzip, false, &bytes, &nfiles);
		o.zip = tmpzip;
	}
	ret = lambda_deploy(&o, &res, err, sizeof(err));
	if (tmpzip[0])
		unlink(tmpzip);
	if (ret < 0)
		die("%s", err);
	printf("gg: %s lambda function '%s' (%s): %s, %s, handler %s, %u MB, %u s, /tmp %u MB; ",
	       res.created ? "created" : "updated", o.function, res.arn[0] ? res.arn : "no ARN given",
	       LAMBDA_DEPLOY_RUNTIME, LAMBDA_DEPLOY_ARCH, LAMBDA_DEPLOY_HANDLER, o.memory_mb,
	       o.timeout_s, o.tmp_mb);
	if (res.code_unchanged)
		printf("code unchanged (its CodeSha256 is the package's), not sent again\n");
	else
		printf("package %.1f MB %s%s\n", (double)res.zip_bytes / 1e6,
		       res.via_bucket ? "through s3, " : "inline", res.via_bucket ? res.s3_key : "");
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
	if (!strcmp(argv[1], "deploy"))
		return lambda_deploy_cmd(argc - 1, argv + 1);
	fprintf(stderr, "gg: unknown lambda command '%s'\n" LAMBDA_USAGE, argv[1]);
	return 2;
}
