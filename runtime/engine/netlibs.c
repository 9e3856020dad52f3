/*
 * netlibs.c - libcurl and libcrypto, loaded when gg first needs them.
 *
 * Why: the gg command links 36 shared objects when it links libcurl and libcrypto
 * directly, and mapping and relocating them costs every invocation about 17 ms of
 * CPU (440 page faults, measured with `perf stat` on `gg --version`: 534 faults
 * against 48 for an empty program), which is most of a no-op `gg build`.  Only
 * remote work (S3, Lambda, a remote cache) uses them.
 *
 * How: this file defines every libcurl and libcrypto function gg calls, with the
 * library's own prototype.  Each definition resolves the real function once, with
 * dlopen(3) of the library's soname and dlsym(3) on its handle (which searches
 * that library, never this executable, so there is no recursion), and calls it.
 * It is linked into bin/gg only, which then carries no DT_NEEDED on either
 * library; the Lambda bootstrap, the unit tests and the tools link the libraries
 * as usual (the worker package copies what the bootstrap's DT_NEEDED lists).
 *
 * Failure: when a library cannot be loaded, the functions fail the way the
 * library reports failure (NULL handles, CURLE_FAILED_INIT, a 0 from EVP_*), and
 * curl_easy_strerror() says which library is missing and why (dlerror), so the
 * usual error paths print it.  Thread-safe: a resolved pointer is published with
 * release/acquire atomics; two threads racing resolve the same address.
 *
 * The variadic setters forward their one argument by its documented type, which
 * the option number encodes (curl.h: CURLOPTTYPE_LONG, _OBJECTPOINT,
 * _FUNCTIONPOINT, _OFF_T, _BLOB), as libcurl itself reads it.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#ifndef GG_LIBCURL_SONAME
#define GG_LIBCURL_SONAME "libcurl.so.4"
#endif
#ifndef GG_LIBCRYPTO_SONAME
#define GG_LIBCRYPTO_SONAME "libcrypto.so.3"
#endif

struct netlib {
	const char *soname;
	void *handle; /* atomically published */
	char why[256];
};

static struct netlib lib_curl = { .soname = GG_LIBCURL_SONAME };
static struct netlib lib_crypto = { .soname = GG_LIBCRYPTO_SONAME };

/* The address of `name` in `lib`, loading it first; NULL (lib->why says why). */
static void *netlib_sym(struct netlib *lib, const char *name)
{
	void *h = __atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE), *p;

	if (!h) {
		h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			const char *e = dlerror();
			snprintf(lib->why, sizeof(lib->why), "%s", e ? e : lib->soname);
			return NULL;
		}
		__atomic_store_n(&lib->handle, h, __ATOMIC_RELEASE); /* (a second dlopen only counts up) */
	}
	p = dlsym(h, name);
	if (!p)
		snprintf(lib->why, sizeof(lib->why), "%s: no symbol %s", lib->soname, name);
	return p;
}

/*
 * NETLIB_FN(lib, ret, name, (params), (args), fail): define `name` to call the
 * library's; `fail` is returned when it cannot be found.  NETLIB_VOID: no result.
 */
#define NETLIB_RESOLVE(lib, name, type)                                                  \
	static type fn_;                                                                  \
	type f_ = __atomic_load_n(&fn_, __ATOMIC_ACQUIRE);                                \
	if (!f_ && (f_ = (type)netlib_sym(&(lib), #name)))                                \
		__atomic_store_n(&fn_, f_, __ATOMIC_RELEASE)

#define NETLIB_FN(lib, ret, name, params, args, fail)                                    \
	ret(name) params                                                                  \
	{                                                                                 \
		typedef ret(*fn_t) params;                                                \
		NETLIB_RESOLVE(lib, name, fn_t);                                          \
		return f_ ? f_ args : (fail);                                             \
	}

#define NETLIB_VOID(lib, name, params, args)                                             \
	void(name) params                                                                 \
	{                                                                                 \
		typedef void(*fn_t) params;                                               \
		NETLIB_RESOLVE(lib, name, fn_t);                                          \
		if (f_)                                                                   \
			f_ args;                                                          \
	}

/* ---- libcurl ------------------------------------------------------------------------- */

NETLIB_FN(lib_curl, CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT)
NETLIB_FN(lib_curl, CURL *, curl_easy_init, (void), (), NULL)
NETLIB_VOID(lib_curl, curl_easy_cleanup, (CURL *h), (h))
NETLIB_VOID(lib_curl, curl_easy_reset, (CURL *h), (h))
NETLIB_FN(lib_curl, CURLcode, curl_easy_perform, (CURL *h), (h), CURLE_FAILED_INIT)
NETLIB_FN(lib_curl, struct curl_slist *, curl_slist_append,
	  (struct curl_slist *l, const char *s), (l, s), NULL)
NETLIB_VOID(lib_curl, curl_slist_free_all, (struct curl_slist *l), (l))
NETLIB_FN(lib_curl, CURLM *, curl_multi_init, (void), (), NULL)
NETLIB_FN(lib_curl, CURLMcode, curl_multi_cleanup, (CURLM *m), (m), CURLM_INTERNAL_ERROR)
NETLIB_FN(lib_curl, CURLMcode, curl_multi_add_handle, (CURLM *m, CURL *h), (m, h),
	  CURLM_INTERNAL_ERROR)
NETLIB_FN(lib_curl, CURLMcode, curl_multi_remove_handle, (CURLM *m, CURL *h), (m, h),
	  CURLM_INTERNAL_ERROR)
NETLIB_FN(lib_curl, CURLMcode, curl_multi_assign, (CURLM *m, curl_socket_t s, void *p),
	  (m, s, p), CURLM_INTERNAL_ERROR)
NETLIB_FN(lib_curl, CURLMsg *, curl_multi_info_read, (CURLM *m, int *left), (m, left), NULL)
NETLIB_FN(lib_curl, CURLMcode, curl_multi_socket_action,
	  (CURLM *m, curl_socket_t s, int ev, int *running), (m, s, ev, running),
	  CURLM_INTERNAL_ERROR)

const char *(curl_easy_strerror)(CURLcode rc)
{
	typedef const char *(*fn_t)(CURLcode);
	static char why[320];
	NETLIB_RESOLVE(lib_curl, curl_easy_strerror, fn_t);
	if (f_)
		return f_(rc);
	snprintf(why, sizeof(why), "libcurl could not be loaded: %s", lib_curl.why);
	return why;
}

/* One setopt argument, by the type its option number says (see the top). */
union netlib_arg {
	long l;
	void *p;
	void (*f)(void);
	curl_off_t o;
};

static int netlib_arg_kind(int option)
{
	return option < CURLOPTTYPE_OBJECTPOINT     ? 'l'
	       : option < CURLOPTTYPE_FUNCTIONPOINT ? 'p'
	       : option < CURLOPTTYPE_OFF_T          ? 'f'
	       : option < CURLOPTTYPE_BLOB           ? 'o'
						     : 'p';
}

#define NETLIB_CALL_ARG(fn, a, b, kind, arg)                                             \
	((kind) == 'l'   ? (fn)((a), (b), (arg).l)                                        \
	 : (kind) == 'f' ? (fn)((a), (b), (arg).f)                                        \
	 : (kind) == 'o' ? (fn)((a), (b), (arg).o)                                        \
			 : (fn)((a), (b), (arg).p))

static union netlib_arg netlib_take(int kind, va_list ap)
{
	union netlib_arg a;
	if (kind == 'l')
		a.l = va_arg(ap, long);
	else if (kind == 'f')
		a.f = va_arg(ap, void (*)(void));
	else if (kind == 'o')
		a.o = va_arg(ap, curl_off_t);
	else
		a.p = va_arg(ap, void *);
	return a;
}

/* A setter (curl_easy_setopt, curl_multi_setopt): its one argument forwarded. */
#define NETLIB_SETOPT(ret, name, handle_t, option_t, fail)                               \
	ret(name)(handle_t *h, option_t option, ...)                                       \
	{                                                                                 \
		typedef ret (*fn_t)(handle_t *, option_t, ...);                           \
		int kind = netlib_arg_kind((int)option);                                  \
		union netlib_arg arg;                                                     \
		va_list ap;                                                               \
		NETLIB_RESOLVE(lib_curl, name, fn_t);                                     \
		va_start(ap, option);                                                     \
		arg = netlib_take(kind, ap);                                              \
		va_end(ap);                                                               \
		return f_ ? NETLIB_CALL_ARG(f_, h, option, kind, arg) : (fail);           \
	}

NETLIB_SETOPT(CURLcode, curl_easy_setopt, CURL, CURLoption, CURLE_FAILED_INIT)
NETLIB_SETOPT(CURLMcode, curl_multi_setopt, CURLM, CURLMoption, CURLM_INTERNAL_ERROR)

/* Every curl_easy_getinfo argument is a pointer to where the value goes. */
CURLcode(curl_easy_getinfo)(CURL *h, CURLINFO info, ...)
{
	typedef CURLcode (*fn_t)(CURL *, CURLINFO, ...);
	void *where;
	va_list ap;

	NETLIB_RESOLVE(lib_curl, curl_easy_getinfo, fn_t);
	va_start(ap, info);
	where = va_arg(ap, void *);
	va_end(ap);
	return f_ ? f_(h, info, where) : CURLE_FAILED_INIT;
}

/* ---- libcrypto ----------------------------------------------------------------------- */

NETLIB_FN(lib_crypto, const EVP_MD *, EVP_sha256, (void), (), NULL)
NETLIB_FN(lib_crypto, EVP_MD_CTX *, EVP_MD_CTX_new, (void), (), NULL)
NETLIB_VOID(lib_crypto, EVP_MD_CTX_free, (EVP_MD_CTX *c), (c))
NETLIB_FN(lib_crypto, int, EVP_DigestInit_ex, (EVP_MD_CTX *c, const EVP_MD *t, ENGINE *e),
	  (c, t, e), 0)
NETLIB_FN(lib_crypto, int, EVP_DigestUpdate, (EVP_MD_CTX *c, const void *d, size_t n),
	  (c, d, n), 0)
NETLIB_FN(lib_crypto, int, EVP_DigestFinal_ex, (EVP_MD_CTX *c, unsigned char *md, unsigned int *s),
	  (c, md, s), 0)
NETLIB_FN(lib_crypto, int, EVP_Digest,
	  (const void *d, size_t n, unsigned char *md, unsigned int *s, const EVP_MD *t, ENGINE *e),
	  (d, n, md, s, t, e), 0)
NETLIB_FN(lib_crypto, int, EVP_EncodeBlock, (unsigned char *t, const unsigned char *f, int n),
	  (t, f, n), -1)
NETLIB_FN(lib_crypto, unsigned char *, HMAC,
	  (const EVP_MD *md, const void *key, int keylen, const unsigned char *d, size_t n,
	   unsigned char *out, unsigned int *outlen),
	  (md, key, keylen, d, n, out, outlen), NULL)

/* Wiping must happen even without the library. */
void(OPENSSL_cleanse)(void *p, size_t n)
{
	typedef void (*fn_t)(void *, size_t);
	NETLIB_RESOLVE(lib_crypto, OPENSSL_cleanse, fn_t);
	if (f_)
		f_(p, n);
	else
		explicit_bzero(p, n);
}
