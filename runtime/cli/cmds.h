/*
 * cmds.h - verbs of the gg command that live outside main.c (runtime/cmd_*.c).
 * Each takes (argc, argv) with argv[0] the verb and returns the exit status; they
 * are main-level code: they print, and die() on errors.
 */
#ifndef GG_CMDS_H
#define GG_CMDS_H

#include "runtime/cli/cli.h" /* the verbs' common start: ggdir, store, shim */

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

/* Load <ggdir>/graph or die with a hint. */
void cmd_load_graph(const char *ggdir, struct graph *g);

/* gg worker exec|prepare (cmd_worker.c), gg lambda package (cmd_lambda.c) */
int cmd_worker(int argc, char **argv);
int cmd_lambda(int argc, char **argv);

/* gg audit (runtime/cmd_audit.c) */
int cmd_audit(int argc, char **argv);

#endif
