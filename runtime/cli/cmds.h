/*
 * cmds.h - verbs of the gg command that live outside main.c (runtime/cmd_*.c).
 * Each takes (argc, argv) with argv[0] the verb and returns the exit status; they
 * are main-level code: they print, and die() on errors.
 */
#ifndef GG_CMDS_H
#define GG_CMDS_H

struct graph;

int cmd_infer(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_force(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_cache(int argc, char **argv);
/* gg push / gg pull: a project's graph and results index through S3 (cmd_cache.c) */
int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);

/*
 * The shim library (main.c), as an absolute path in *out (malloc'd): $GG_SHIM_LIB
 * (a relative one is taken from the cwd), else <dir of gg>/../lib/libggshim.so.
 * Whether it exists is not checked.  0 or -errno.
 */
int cmd_shim_path(char **out);

/* Load <ggdir>/graph or die with a hint. */
void cmd_load_graph(const char *ggdir, struct graph *g);

/* gg audit (runtime/cmd_audit.c) */
int cmd_audit(int argc, char **argv);

#endif
