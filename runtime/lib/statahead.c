/*
 * statahead.c - lstat on a thread of its own (see statahead.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/lib/statahead.h"

enum { SA_PENDING, SA_OK, SA_FAILED };

struct statahead {
	const char *const *paths;
	size_t n;
	struct stat *sb;     /* [n] */
	unsigned char *state; /* [n] SA_*, published with release order */
	int stop;            /* set by statahead_free */
	pthread_t thread;
};

static void *run(void *arg)
{
	struct statahead *sa = arg;

	for (size_t i = 0; i < sa->n; i++) {
		if (__atomic_load_n(&sa->stop, __ATOMIC_RELAXED))
			break;
		__atomic_store_n(&sa->state[i], lstat(sa->paths[i], &sa->sb[i]) == 0 ? SA_OK : SA_FAILED,
				 __ATOMIC_RELEASE);
	}
	return NULL;
}

int statahead_start(struct statahead **out, const char *const *paths, size_t n)
{
	struct statahead *sa = calloc(1, sizeof(*sa));
	sigset_t all, old;
	int ret = -ENOMEM;

	*out = NULL;
	if (!sa)
		return -ENOMEM;
	sa->paths = paths;
	sa->n = n;
	/* not calloc'd: the thread writes each answer before its state says so */
	sa->sb = malloc((n ? n : 1) * sizeof(*sa->sb));
	sa->state = calloc(n ? n : 1, 1);
	if (!sa->sb || !sa->state)
		goto out_free;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&sa->thread, NULL, run, sa);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0)
		goto out_free;
	*out = sa;
	return 0;

out_free:
	free(sa->sb);
	free(sa->state);
	free(sa);
	return ret;
}

bool statahead_get(struct statahead *sa, size_t i, struct stat *sb)
{
	if (!sa || i >= sa->n || __atomic_load_n(&sa->state[i], __ATOMIC_ACQUIRE) != SA_OK)
		return false;
	*sb = sa->sb[i];
	return true;
}

void statahead_free(struct statahead *sa)
{
	if (!sa)
		return;
	__atomic_store_n(&sa->stop, 1, __ATOMIC_RELAXED);
	pthread_join(sa->thread, NULL);
	free(sa->sb);
	free(sa->state);
	free(sa);
}
