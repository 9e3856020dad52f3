/*
 * http.c - a curl multi handle behind one epoll descriptor (http.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <stdio.h>
#include <strings.h>
#include "runtime/engine/http.h"
#include "runtime/lib/util.h"

struct http_loop {
	CURLM *multi;
	int epfd, tfd, efd;
	uint64_t curl_at;   /* when libcurl wants CURL_SOCKET_TIMEOUT (ms), or UINT64_MAX */
	uint64_t user_at;   /* the caller's deadline, or UINT64_MAX */
	uint64_t armed_at;  /* what the timerfd is set to, or UINT64_MAX (disarmed) */
	int raised;         /* efd holds a count */
	int watched[4];     /* the caller's descriptors in the set (not libcurl's) */
	unsigned nwatched;
};

int http_global_init(void)
{
	static int done;
	if (!done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		done = 1;
	}
	return 0;
}

/* Arm the timerfd for min(curl_at, user_at) if that changed. */
static int arm(struct http_loop *l)
{
	uint64_t at = l->curl_at < l->user_at ? l->curl_at : l->user_at;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (at == l->armed_at)
		return 0;
	if (at != UINT64_MAX) {
		/* absolute on CLOCK_MONOTONIC, the clock of clock_now_ms(); 0 would
		 * disarm, so a deadline already past fires in one nanosecond */
		its.it_value.tv_sec = (time_t)(at / 1000);
		its.it_value.tv_nsec = (long)(at % 1000) * 1000000L;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	l->armed_at = at;
	return 0;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http_loop *l = userp;
	struct epoll_event ev = { .data.fd = s };
	int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	(void)e;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, s, NULL); /* may be closed already */
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
	/* socketp is set while the socket is in the set; a closed fd leaves the set by
	 * itself, so either operation may miss and the other is tried */
	if (epoll_ctl(l->epfd, op, s, &ev) < 0) {
		op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
		if (epoll_ctl(l->epfd, op, s, &ev) < 0)
			return -1;
	}
	if (!socketp)
		curl_multi_assign(l->multi, s, l);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct http_loop *l = userp;
	(void)m;
	l->curl_at = timeout_ms < 0 ? UINT64_MAX : clock_now_ms() + (uint64_t)timeout_ms;
	return arm(l) < 0 ? -1 : 0;
}

int http_loop_new(unsigned max_conns, struct http_loop **out)
{
	struct http_loop *l;
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	if ((ret = http_global_init()) < 0)
		return ret;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = l->tfd = l->efd = -1;
	l->curl_at = l->user_at = l->armed_at = UINT64_MAX;
	ret = -errno;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    (l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto out_free;
	ev.data.fd = l->tfd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev) < 0)
		goto out_free;
	ev.data.fd = l->efd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->efd, &ev) < 0)
		goto out_free;
	ret = -EIO;
	if (!(l->multi = curl_multi_init()))
		goto out_free;
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_conns);
	curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_conns);
	curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)max_conns);
	*out = l;
	return 0;
out_free:
	if (ret == 0)
		ret = -EIO;
	http_loop_free(l);
	return ret;
}

void http_loop_free(struct http_loop *l)
{
	if (!l)
		return;
	if (l->multi)
		curl_multi_cleanup(l->multi);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->efd >= 0)
		close(l->efd);
	free(l);
}

int http_loop_fd(const struct http_loop *l) { return l->epfd; }
CURLM *http_loop_multi(struct http_loop *l) { return l->multi; }

int http_loop_add(struct http_loop *l, CURL *easy)
{
	return curl_multi_add_handle(l->multi, easy) == CURLM_OK ? 0 : -EIO;
}

void http_loop_remove(struct http_loop *l, CURL *easy)
{
	curl_multi_remove_handle(l->multi, easy);
}

int http_loop_watch(struct http_loop *l, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (l->nwatched == ARRAY_SIZE(l->watched))
		return -ENOSPC;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->watched[l->nwatched++] = fd;
	return 0;
}

int http_loop_wake_at(struct http_loop *l, uint64_t at_ms)
{
	l->user_at = at_ms ? at_ms : UINT64_MAX;
	return arm(l);
}

void http_loop_signal(struct http_loop *l)
{
	uint64_t one = 1;
	if (!l->raised && write(l->efd, &one, sizeof(one)) == sizeof(one))
		l->raised = 1;
}

/* A descriptor of the caller's: its own work after http_loop_run handles it. */
static int watched(const struct http_loop *l, int fd)
{
	for (unsigned i = 0; i < l->nwatched; i++)
		if (l->watched[i] == fd)
			return 1;
	return 0;
}

int http_loop_run(struct http_loop *l, http_done_fn *done, void *ctx)
{
	struct epoll_event ev[256];
	uint64_t cnt;
	CURLMsg *m;
	int n, running, left;

	if (l->raised) {
		if (read(l->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			return -errno;
		l->raised = 0;
	}
	do
		n = epoll_wait(l->epfd, ev, (int)ARRAY_SIZE(ev), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd, what;
		if (fd == l->tfd) {
			if (read(l->tfd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
				return -errno;
			l->armed_at = UINT64_MAX; /* fired: re-armed below if still wanted */
			continue;
		}
		if (fd == l->efd || watched(l, fd))
			continue;
		what = ((ev[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
		       ((ev[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
		       ((ev[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
		if (curl_multi_socket_action(l->multi, fd, what, &running) != CURLM_OK)
			return -EIO;
	}
	if (l->curl_at <= clock_now_ms()) {
		l->curl_at = UINT64_MAX;
		if (curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
			return -EIO;
	}
	while ((m = curl_multi_info_read(l->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		done(ctx, m->easy_handle, m->data.result);
	}
	if (l->user_at <= clock_now_ms())
		l->user_at = UINT64_MAX; /* passed: the caller sets its next one */
	return arm(l);
}

bool http_header_value(const char *p, size_t len, const char *name, char *out, size_t cap)
{
	size_t skip = strlen(name);
	const char *v = p + skip, *end = p + len;

	if (len <= skip || strncasecmp(p, name, skip))
		return false;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	snprintf(out, cap, "%.*s", (int)(end - v), v);
	return true;
}
