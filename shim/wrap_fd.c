/*
 * wrap_fd.c - descriptor bookkeeping: dup*, fcntl(F_DUPFD*), close, close_range,
 * closefrom.  Two jobs: keep knowing which descriptors were opened for writing (so a
 * close ends a write), and keep the trace log's own descriptor out of the program's
 * way: the program never sees it (closing it fails with EBADF as for any descriptor
 * the program did not open) and can still dup2 onto its number.
 */
#include <stdarg.h>
#include <unistd.h>

#include "shim/shim.h"

static bool is_log(int fd)
{
	return fd >= 0 && fd == shim_log_fd();
}

SHIM_WRAP(int, dup, (int fd), (fd),
	  if (ret >= 0) shim_fd_dup(fd, ret); rec_fd(GG_FN_dup, fd, -1, ret, c_.err))

DECL_REAL(dup2);
DECL_REAL(close);
SHIM_HOT GG_EXPORT int dup2(int fd, int fd2)
{
	struct shim_call c;
	int ret;
	if (!shim_enter(&c))
		return REAL(dup2)(fd, fd2);
	if (is_log(fd2))
		shim_log_move_away(fd2);
	ret = REAL(dup2)(fd, fd2);
	c.err = errno;
	if (ret >= 0)
		shim_fd_dup(fd, ret);
	rec_fd(GG_FN_dup2, fd, fd2, ret, c.err);
	shim_leave(&c);
	return ret;
}

/* Before a fork, in the parent: what a fork child calls before its exec or exit
 * (bash: dup2 and close on the pipe ends), resolved once here (shim.h). */
SHIM_HOT void shim_fd_prepare(void)
{
	(void)REAL(dup2);
	(void)REAL(close);
}

DECL_REAL(dup3);
GG_EXPORT int dup3(int fd, int fd2, int flags)
{
	struct shim_call c;
	int ret;
	if (!shim_enter(&c))
		return REAL(dup3)(fd, fd2, flags);
	if (is_log(fd2))
		shim_log_move_away(fd2);
	ret = REAL(dup3)(fd, fd2, flags);
	c.err = errno;
	if (ret >= 0)
		shim_fd_dup(fd, ret);
	rec_fd(GG_FN_dup3, fd, fd2, ret, c.err);
	shim_leave(&c);
	return ret;
}

/*
 * fcntl's third argument is an int or a pointer depending on cmd; on the supported
 * ABIs (x86-64, aarch64) both travel in one register, so it is forwarded as a pointer.
 */
#define FCNTL_WRAP(name, fn)                                                       \
	DECL_REAL(name);                                                           \
	GG_EXPORT int name(int fd, int cmd, ...)                                   \
	{                                                                          \
		struct shim_call c;                                                \
		va_list ap;                                                        \
		void *arg;                                                         \
		int ret;                                                           \
		va_start(ap, cmd);                                                 \
		arg = va_arg(ap, void *);                                          \
		va_end(ap);                                                        \
		if ((cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) || !shim_enter(&c)) \
			return REAL(name)(fd, cmd, arg);                           \
		ret = REAL(name)(fd, cmd, arg);                                    \
		c.err = errno;                                                     \
		if (ret >= 0)                                                      \
			shim_fd_dup(fd, ret);                                      \
		rec_fd(fn, fd, (int)(intptr_t)arg, ret, c.err);                    \
		shim_leave(&c);                                                    \
		return ret;                                                        \
	}

int fcntl64(int fd, int cmd, ...);
FCNTL_WRAP(fcntl, GG_FN_fcntl)
FCNTL_WRAP(fcntl64, GG_FN_fcntl64)

SHIM_HOT GG_EXPORT int close(int fd)
{
	struct shim_call c;
	int ret;
	bool was_write;
	if (is_log(fd) && (!shim_in_detached_child() || shim_in_vchild())) {
		errno = EBADF;
		return -1;
	}
	if (!shim_enter(&c))
		return REAL(close)(fd);
	/* before the call: once closed, another thread may reuse the number */
	was_write = shim_fd_closed(fd);
	ret = REAL(close)(fd);
	c.err = errno;
	if (was_write)
		rec_fd(GG_FN_close, fd, -1, ret, c.err);
	shim_leave(&c);
	return ret;
}

/* close_range(first, last) around the log's descriptor. */
static int close_range_around(int (*real)(unsigned, unsigned, int), unsigned first,
			      unsigned last, int flags)
{
	int lfd = shim_log_fd();
	int r1 = 0, r2 = 0;
	if (lfd < 0 || (unsigned)lfd < first || (unsigned)lfd > last)
		return real(first, last, flags);
	if ((unsigned)lfd > first)
		r1 = real(first, (unsigned)lfd - 1, flags);
	if ((unsigned)lfd < last)
		r2 = real((unsigned)lfd + 1, last, flags);
	return r1 < 0 ? r1 : r2;
}

int close_range(unsigned first, unsigned last, int flags);
DECL_REAL(close_range);
GG_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	struct shim_call c;
	int ret;
	if (!shim_enter(&c))
		return shim_in_detached_child() ? REAL(close_range)(first, last, flags)
						: close_range_around(REAL(close_range), first,
								     last, flags);
	ret = close_range_around(REAL(close_range), first, last, flags);
	c.err = errno;
	shim_fd_closed_range(first, last);
	rec_fd(GG_FN_close_range, (int)first, (int)last, ret, c.err);
	shim_leave(&c);
	return ret;
}

void closefrom(int lowfd);
GG_EXPORT void closefrom(int lowfd)
{
	struct shim_call c;
	int saved = errno;
	bool rec = shim_enter(&c);
	close_range_around(REAL(close_range), lowfd < 0 ? 0 : (unsigned)lowfd, ~0u, 0);
	if (rec) {
		shim_fd_closed_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0u);
		rec_fd(GG_FN_closefrom, lowfd, -1, 0, 0);
		c.err = saved;
		shim_leave(&c);
	}
	errno = saved;
}
