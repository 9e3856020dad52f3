/*
 * isolated.h - the isolated engine (`gg build --engine isolated`): every thunk runs
 * through the worker code path (worker.h), each in a fresh root that holds only the
 * worker package (package.h) and that thunk's blobs, so a local build answers "will
 * this build run remotely?" before any cloud is involved.
 *
 * One job, in a pool thread (pool.h):
 *   1. the job's thunk made portable (worker_portable: references become the
 *      contents the tree holds now, symbolic links followed on this host) and
 *      stored, as T';
 *   2. the blobs T' names adopted into the engine's input cache (wcache_adopt: hard
 *      links from the store, which verified them when it wrote them; the executables,
 *      0555 in the cache, copied once), as a warm Lambda environment keeps its /tmp;
 *      then a sandbox (sbx.h, level 1, required) whose root holds nothing but
 *        /var/task/...    the package's files, read-only (bootstrap, lib/)
 *        /tmp             <staging>/tmp, writable
 *        /tmp/gg          <ggdir>/isolated/gg, writable, shared by every job: the
 *                         worker's input cache (cache/) and the job's roots (r/<pid>-<n>,
 *                         removed by the engine after the job),
 *                         one file system, so R's inputs are hard links
 *        /tmp/blobs/...   T', the targets of its symbolic links and any blob that
 *                         could not be adopted, read-only, bound one by one from
 *                         the store (nothing is copied)
 *        /tmp/out         where the worker stores the outputs
 *        /dev, /proc      minimal
 *      no /usr, /lib, /etc of the host; new namespaces and seccomp filters are
 *      refused inside (SBX_NO_SECCOMP), so the worker falls back to level 3: path
 *      virtualization through the shim, the recorded loader and libraries from R;
 *   3. `/var/task/bootstrap worker exec T' --blobs /tmp/blobs --out /tmp/out
 *      --msgpack` with an empty environment; its report (worker.h) gives ran,
 *      status, level (3), the error, the stderr tail (into <staging>/stderr);
 *   4. each output named by the report read from <staging>/tmp/out into the store,
 *      checked against its hash.
 * The result's level is the worker's (3), never the sandbox's around it.
 *
 * Parameters (--engine isolated:KEY=VALUE,...): bootstrap=FILE (default
 * ../lambda/bootstrap next to gg, else ../lib/gg/bootstrap), shim=FILE (default: the shim gg records with).
 * Errors as engine.h; create() fails (-EPERM) where namespaces are not available.
 */
#ifndef GG_ENGINE_ISOLATED_H
#define GG_ENGINE_ISOLATED_H

#include "runtime/engine/engine.h"

extern const struct engine_ops engine_isolated;

#endif
