/*
 * audit_cc.c - the Clang compilation database from a recording (audit.h).
 *
 * Every recorded image whose program is a C/C++ compiler driver and that compiles
 * gives one entry per source file, in the form Bear 3 writes (observed with bear
 * 3.1.1 on Debian 12, the reference of the e2e tests):
 *
 *   arguments  [compiler, flags..., "-c" (or "-S"), "-o", OUTPUT, SOURCE]: the flags
 *              in their order, without -c/-S, -o, the sources and the dependency-file
 *              options (-M, -MM, -MD, -MMD, -MP, -MG, -MF F, -MT T, -MQ Q); "-o
 *              OUTPUT" only when the run named an output
 *   file       the source, absolute
 *   directory  the compiler's working directory
 *   output     the output, absolute (omitted when none was named)
 *
 * Runs that compile nothing get no entry: linking only (no source among the
 * arguments), preprocessing only (-E, or -M/-MM without -MD/-MMD), -fsyntax-only.
 * compiler is the path the build executed (AT_EXECFN: /usr/bin/gcc for `gcc`), made
 * absolute against the working directory when relative.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inferer/audit/audit.h"

bool audit_cc_is_compiler(const char *name)
{
	static const char *const names[] = { "clang++", "clang", "g++", "gcc", "c++", "cc",
					     NULL };
	size_t nl = strlen(name);
	for (size_t i = 0; names[i]; i++) {
		size_t cl = strlen(names[i]);
		/* "[PREFIX-]NAME[-VERSION]" with VERSION digits and dots */
		for (size_t pos = 0; pos + cl <= nl; pos++) {
			const char *rest;
			if (memcmp(name + pos, names[i], cl) || (pos && name[pos - 1] != '-'))
				continue;
			rest = name + pos + cl;
			if (!*rest)
				return true;
			if (rest[0] == '-' && rest[1] && strspn(rest + 1, "0123456789.") == strlen(rest + 1))
				return true;
		}
	}
	return false;
}

static bool is_source(const char *a)
{
	static const char *const ext[] = { ".c", ".i", ".ii", ".cc", ".cp", ".cxx", ".cpp",
					   ".CPP", ".c++", ".C", ".m", ".mi", ".mm", ".M",
					   ".mii", ".s", ".S", ".sx", ".cu", NULL };
	const char *dot = strrchr(a, '.');
	if (!dot || strchr(dot, '/'))
		return false;
	for (size_t i = 0; ext[i]; i++)
		if (!strcmp(dot, ext[i]))
			return true;
	return false;
}

/* Options whose value is the next argument when written alone. */
static bool takes_arg(const char *a)
{
	static const char *const with[] = { "-I", "-D", "-U", "-include", "-imacros",
					    "-isystem", "-iquote", "-idirafter", "-iprefix",
					    "-iwithprefix", "-iwithprefixbefore", "-isysroot",
					    "-imultilib", "-x", "-L", "-l", "-T", "-u", "-z", "-e",
					    "-Xlinker", "-Xassembler", "-Xpreprocessor", "-Xclang",
					    "--param", "-aux-info", "-dumpbase", "-dumpdir", "-B",
					    "-A", "-arch", "-target", "--sysroot", "-MF", "-MT",
					    "-MQ", "-o", NULL };
	for (size_t i = 0; with[i]; i++)
		if (!strcmp(a, with[i]))
			return true;
	return false;
}

int audit_cc_entries(const char *compiler, const char *const *argv, size_t argc,
		     const char *cwd, struct audit_cc **v, size_t *n, size_t *alloc)
{
	struct strlist flags = STRLIST_INIT, srcs = STRLIST_INIT;
	const char *output = NULL;
	bool has_S = false, has_E = false, dep_only = false, dep_compile = false, syntax = false;
	int ret = 0;

	for (size_t i = 1; i < argc && ret == 0; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-o")) {
			if (i + 1 < argc)
				output = argv[++i];
		} else if (!strncmp(a, "-o", 2) && a[2]) {
			output = a + 2;
		} else if (!strcmp(a, "-c")) {
			/* the kind flag is written back after the flags */
		} else if (!strcmp(a, "-S")) {
			has_S = true;
		} else if (!strcmp(a, "-E")) {
			has_E = true;
		} else if (!strcmp(a, "-M") || !strcmp(a, "-MM")) {
			dep_only = true;
		} else if (!strcmp(a, "-MD") || !strcmp(a, "-MMD")) {
			dep_compile = true;
		} else if (!strcmp(a, "-MP") || !strcmp(a, "-MG")) {
			/* dependency-file options: dropped */
		} else if (!strcmp(a, "-MF") || !strcmp(a, "-MT") || !strcmp(a, "-MQ")) {
			i++;
		} else if (!strncmp(a, "-MF", 3) || !strncmp(a, "-MT", 3) || !strncmp(a, "-MQ", 3)) {
			/* joined form */
		} else if (!strcmp(a, "-fsyntax-only")) {
			syntax = true;
		} else if (a[0] == '-' && a[1]) {
			ret = strlist_push(&flags, a);
			if (!ret && takes_arg(a) && i + 1 < argc)
				ret = strlist_push(&flags, argv[++i]);
		} else if (is_source(a)) {
			ret = strlist_push(&srcs, a);
		}
		/* other operands (objects, libraries) are link inputs */
	}
	if (ret < 0 || has_E || (dep_only && !dep_compile) || syntax || !srcs.n)
		goto out;
	for (size_t s = 0; s < srcs.n && ret == 0; s++) {
		struct audit_cc *e;
		if (*n == *alloc) {
			size_t na = *alloc ? *alloc * 2 : 64;
			struct audit_cc *nv = realloc(*v, na * sizeof(*nv));
			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			*v = nv;
			*alloc = na;
		}
		e = &(*v)[*n];
		memset(e, 0, sizeof(*e));
		(*n)++;
		if (!(e->directory = strdup(cwd)) ||
		    path_abs(srcs.v[s], cwd, &e->file) < 0 ||
		    (output && path_abs(output, cwd, &e->output) < 0)) {
			ret = -ENOMEM;
			break;
		}
		ret = strlist_push(&e->args, compiler);
		for (size_t f = 0; f < flags.n && ret == 0; f++)
			ret = strlist_push(&e->args, flags.v[f]);
		if (!ret)
			ret = strlist_push(&e->args, has_S ? "-S" : "-c");
		if (!ret && output) {
			ret = strlist_push(&e->args, "-o");
			if (!ret)
				ret = strlist_push(&e->args, output);
		}
		if (!ret)
			ret = strlist_push(&e->args, srcs.v[s]);
	}
out:
	strlist_release(&flags);
	strlist_release(&srcs);
	return ret;
}

int audit_compile_commands(const struct trace *t, struct audit_cc **v, size_t *n)
{
	size_t alloc = 0;
	int ret = 0;

	*v = NULL;
	*n = 0;
	for (size_t i = 0; i < t->nimages && ret == 0; i++) {
		const struct trace_image *im = t->images[i];
		const char *fn = im->execfn && im->execfn[0] ? im->execfn : im->exe;
		char *compiler = NULL;
		if (!im->argv.n || !fn || !im->cwd)
			continue;
		if (!audit_cc_is_compiler(path_base(fn)) &&
		    !audit_cc_is_compiler(path_base(im->argv.v[0])))
			continue;
		/* a fork of a compiler (same image, no exec) is not another compile */
		if (im->origin == GG_ORIGIN_FORK)
			continue;
		if ((ret = path_abs(fn, im->cwd, &compiler)) < 0)
			break;
		ret = audit_cc_entries(compiler, im->argv.v, im->argv.n, im->cwd, v, n, &alloc);
		free(compiler);
	}
	if (ret < 0) {
		audit_cc_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return ret;
}

void audit_cc_free(struct audit_cc *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].file);
		free(v[i].directory);
		free(v[i].output);
		strlist_release(&v[i].args);
	}
	free(v);
}
