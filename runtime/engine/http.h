/*
 * http.h - one libcurl multi handle driven through ONE pollable descriptor: the
 * glue an asynchronous engine (engine.h) needs to keep thousands of HTTP transfers
 * moving from the builder's thread, with no thread per transfer.
 *
 * The descriptor (http_loop_fd) is an epoll set holding:
 *   - every socket libcurl wants watched (CURLMOPT_SOCKETFUNCTION adds, changes and
 *     removes them);
 *   - a timerfd armed (absolute, CLOCK_MONOTONIC) for the earlier of libcurl's
 *     next timeout (CURLMOPT_TIMERFUNCTION) and the caller's own deadline
 *     (http_loop_wake_at: backoffs, straggler checks);
 *   - an eventfd the caller raises (http_loop_signal) while it holds work that is
 *     due now (completions to hand out), so the descriptor stays readable,
 *     level-triggered, until the caller lowers it (http_loop_run lowers it first);
 *   - descriptors of the caller's (http_loop_watch: another client's own epoll
 *     set, e.g. the S3 client's), which make the descriptor readable too.
 * So the builder polls one fd per engine and never needs a timeout.
 *
 * http_loop_run() does the work that is ready without blocking: epoll_wait(0),
 * curl_multi_socket_action() for each ready socket, libcurl's timeout if due, then
 * hands every finished transfer to the caller's callback (curl_multi_info_read),
 * which may add or remove transfers.
 *
 * Ownership: the loop owns the multi handle, the epoll set, the timerfd and the
 * eventfd; easy handles stay the caller's (added with http_loop_add, removed with
 * http_loop_remove or by the caller's cleanup after the callback).  One thread.
 * Errors: 0 or -errno; nothing prints.  libcurl appears in the engine's client
 * files only (style.md): this header is for runtime/engine/.
 */
#ifndef GG_ENGINE_HTTP_H
#define GG_ENGINE_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct http_loop;

/* A finished transfer: its easy handle and libcurl's result code. */
typedef void http_done_fn(void *ctx, CURL *easy, CURLcode rc);

/* max_conns: connections at most (total and per host; also the pool's size). */
int http_loop_new(unsigned max_conns, struct http_loop **out);
/* Every easy handle must have been removed before. */
void http_loop_free(struct http_loop *l);

int http_loop_fd(const struct http_loop *l);
CURLM *http_loop_multi(struct http_loop *l);

int http_loop_add(struct http_loop *l, CURL *easy);
void http_loop_remove(struct http_loop *l, CURL *easy);

/* Watch another descriptor (POLLIN) in the set; it stays the caller's. */
int http_loop_watch(struct http_loop *l, int fd);

/* Make the descriptor readable at at_ms (clock_now_ms) at the latest; 0: no
 * deadline of the caller's.  Replaces the previous caller's deadline. */
int http_loop_wake_at(struct http_loop *l, uint64_t at_ms);

/* Keep the descriptor readable until the next http_loop_run. */
void http_loop_signal(struct http_loop *l);

/* Do what is ready, call done() for each finished transfer.  0 or -EIO. */
int http_loop_run(struct http_loop *l, http_done_fn *done, void *ctx);

/* libcurl's global initialisation, once per process.  0 or -EIO. */
int http_global_init(void);

/*
 * One header line as curl hands it to a CURLOPT_HEADERFUNCTION (p, len: not
 * NUL-terminated): when its name is `name` (lowercase, with the colon, e.g.
 * "x-amzn-errortype:"; compared without case), its value, trimmed, into out and
 * true; else false.
 */
bool http_header_value(const char *p, size_t len, const char *name, char *out, size_t cap);

#endif /* GG_ENGINE_HTTP_H */
