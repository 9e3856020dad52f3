/*
 * aws_config.c - AWS credentials, region and endpoints (see aws_config.h).
 *
 * The shared files are INI as botocore reads them (Python configparser, raw): "[section]"
 * headers, "key = value" (or "key: value") with keys compared case-insensitively,
 * whole-line comments starting with '#' or ';', no inline comments, and indented
 * lines continuing the previous key (nested "s3 =" blocks), which are skipped.
 * Reference: "Configuration and credential file settings" and "Sourcing credentials
 * with an external process" in the AWS CLI User Guide.
 */
#include "runtime/engine/aws_config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/lib/util.h"

#define AWS_FILE_CAP ((size_t)1 << 20)    /* a shared config file: 1 MiB at most */
#define AWS_PROCESS_CAP ((size_t)64 << 10) /* credential_process output: 64 KiB */


static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void aws_credentials_release(struct aws_credentials *c)
{
	free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	free(c->source);
	*c = (struct aws_credentials)AWS_CREDENTIALS_INIT;
}

const char *aws_credentials_describe(const struct aws_credentials *c, char *buf, size_t n)
{
	if (!n)
		return buf;
	if (!c || !c->access_key_id)
		snprintf(buf, n, "no credentials");
	else
		snprintf(buf, n, "key id '%s'%s from %s", c->access_key_id,
			 c->session_token ? " (with a session token)" : "",
			 c->source ? c->source : "an unknown source");
	return buf;
}

void aws_config_release(struct aws_config *cfg)
{
	free(cfg->profile);
	free(cfg->region);
	free(cfg->endpoint_s3);
	free(cfg->endpoint_lambda);
	aws_credentials_release(&cfg->cred);
	*cfg = (struct aws_config)AWS_CONFIG_INIT;
}

/* ---- INI ------------------------------------------------------------------- */

struct ini {
	char *text; /* the file, NULL when absent */
	char *path;
	bool exists;
};

static void ini_release(struct ini *f)
{
	if (f->text) {
		explicit_bzero(f->text, strlen(f->text));
		free(f->text);
	}
	free(f->path);
	f->text = f->path = NULL;
}

/* Load `path`; a missing file is not an error (exists = false). */
static int ini_load(struct ini *f, char *path, char *err, size_t errlen)
{
	struct sbuf sb;
	int ret;
	f->path = path;
	f->text = NULL;
	f->exists = false;
	ret = file_read_all(path, &sb, AWS_FILE_CAP);
	if (ret == -ENOENT || ret == -ENOTDIR) {
		sbuf_release(&sb);
		return 0;
	}
	if (ret < 0) {
		sbuf_release(&sb);
		errbuf_set(err, errlen, "cannot read '%s': %s", path, strerror(-ret));
		return ret == -E2BIG ? -EINVAL : ret;
	}
	f->text = sbuf_detach(&sb, NULL);
	sbuf_release(&sb);
	if (!f->text)
		return -ENOMEM;
	f->exists = true;
	return 0;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

static const char *trim_end(const char *b, const char *e)
{
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	return e;
}

/*
 * Find `key` in section `section` (exact name).  1 and a malloc'd value in *out
 * (unless out is NULL), 0 when the key is absent, -ENOENT when the section is,
 * -ENOMEM.  The last occurrence wins, as in configparser's non-strict mode.
 */
static int ini_get(const struct ini *f, const char *section, const char *key, char **out)
{
	const char *p = f->text;
	bool in = false, seen = false;
	const char *vb = NULL, *ve = NULL;
	size_t klen = strlen(key);
	if (!p)
		return -ENOENT;
	while (*p) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);
		const char *s = skip_ws(p, end);
		bool indented = s != p;
		if (s == end || *s == '#' || *s == ';') {
			/* blank or comment */
		} else if (*s == '[' && !indented) {
			const char *close = memchr(s, ']', (size_t)(end - s));
			in = false;
			if (close) {
				const char *nb = skip_ws(s + 1, close);
				const char *ne = trim_end(nb, close);
				if ((size_t)(ne - nb) == strlen(section) &&
				    !strncmp(nb, section, (size_t)(ne - nb)))
					in = seen = true;
			}
		} else if (in && !indented) {
			const char *sep = s;
			while (sep < end && *sep != '=' && *sep != ':')
				sep++;
			if (sep < end) {
				const char *ke = trim_end(s, sep);
				if ((size_t)(ke - s) == klen && !strncasecmp(s, key, klen)) {
					vb = skip_ws(sep + 1, end);
					ve = trim_end(vb, end);
				}
			}
		}
		p = eol ? eol + 1 : end;
	}
	if (!seen)
		return -ENOENT;
	if (!vb)
		return 0;
	if (out) {
		*out = strndup(vb, (size_t)(ve - vb));
		if (!*out)
			return -ENOMEM;
	}
	return 1;
}

/* ---- paths ------------------------------------------------------------------ */

static const char *home_dir(void)
{
	const char *h = env_nonempty("HOME");
	if (h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

/* The file named by `env` ("~/" expanded), else ~/.aws/<name>; malloc'd. */
static char *aws_file(const char *env, const char *name)
{
	const char *v = env_nonempty(env);
	char *r = NULL;
	if (v && v[0] == '~' && (v[1] == '/' || !v[1])) {
		if (asprintf(&r, "%s%s", home_dir(), v + 1) < 0)
			r = NULL;
	} else if (v) {
		r = strdup(v);
	} else if (asprintf(&r, "%s/.aws/%s", home_dir(), name) < 0) {
		r = NULL;
	}
	return r;
}

/* ---- credential_process ----------------------------------------------------- */

/* A JSON string value of a top-level key: enough for credential_process output
 * (escapes \" \\ \/ \b \f \n \r \t and \uXXXX below U+0080 are decoded). */
static int json_get_string(const char *js, const char *key, char **out)
{
	size_t klen = strlen(key);
	const char *p = js;
	*out = NULL;
	while ((p = strchr(p, '"'))) {
		if (!strncmp(p + 1, key, klen) && p[1 + klen] == '"') {
			const char *q = p + 2 + klen;
			q += strspn(q, " \t\r\n");
			if (*q != ':') {
				p++;
				continue;
			}
			q++;
			q += strspn(q, " \t\r\n");
			if (*q != '"')
				return -EINVAL;
			q++;
			struct sbuf sb;
			sbuf_init(&sb, AWS_PROCESS_CAP);
			while (*q && *q != '"') {
				if (*q == '\\' && q[1]) {
					q++;
					switch (*q) {
					case 'n': sbuf_addch(&sb, '\n'); break;
					case 't': sbuf_addch(&sb, '\t'); break;
					case 'r': sbuf_addch(&sb, '\r'); break;
					case 'b': sbuf_addch(&sb, '\b'); break;
					case 'f': sbuf_addch(&sb, '\f'); break;
					case 'u': {
						unsigned v = 0;
						if (sscanf(q + 1, "%4x", &v) != 1 || v >= 0x80 || v == 0) {
							sbuf_release(&sb);
							return -EINVAL;
						}
						sbuf_addch(&sb, (char)v);
						q += 4;
						break;
					}
					default: sbuf_addch(&sb, *q); break;
					}
					q++;
				} else {
					sbuf_addch(&sb, *q++);
				}
			}
			if (*q != '"' || sbuf_error(&sb)) {
				sbuf_release(&sb);
				return -EINVAL;
			}
			*out = sbuf_detach(&sb, NULL);
			sbuf_release(&sb);
			return *out ? 1 : -ENOMEM;
		}
		p++;
	}
	return 0;
}

/*
 * Run `cmd` with /bin/sh -c, stdout captured into `out` (initialised by the caller,
 * capped), stdin /dev/null, stderr inherited.  Exit status in *status.
 */
static int run_capture(const char *cmd, struct sbuf *out, int *status)
{
	int pfd[2], ret = 0;
	pid_t pid;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return ret;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pfd[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char buf[4096];
		ssize_t n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (sbuf_add(out, buf, (size_t)n) < 0)
			ret = sbuf_error(out); /* keep reading: do not block the child */
	}
	close(pfd[0]);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			ret = -errno;
			break;
		}
	}
	return ret;
}

static int credential_process(const char *cmd, const char *profile, struct aws_credentials *c,
			      char *err, size_t errlen)
{
	struct sbuf out;
	int status = 0, ret;
	sbuf_init(&out, AWS_PROCESS_CAP);
	ret = run_capture(cmd, &out, &status);
	if (ret < 0) {
		errbuf_set(err, errlen, "cannot run credential_process of profile '%s': %s", profile,
		       strerror(-ret));
		ret = ret == -E2BIG ? -EINVAL : ret;
		goto out_release;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errbuf_set(err, errlen, "credential_process of profile '%s' failed (%s %d)", profile,
		       WIFEXITED(status) ? "exit status" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		ret = -EINVAL;
		goto out_release;
	}
	const char *js = out.buf ? out.buf : "";
	/* "Version": 1 is a number */
	const char *v = strstr(js, "\"Version\"");
	if (!v || (v = strchr(v, ':'), !v) || strtol(v + 1, NULL, 10) != 1) {
		errbuf_set(err, errlen, "credential_process of profile '%s' printed no \"Version\": 1",
		       profile);
		ret = -EINVAL;
		goto out_release;
	}
	if (json_get_string(js, "AccessKeyId", &c->access_key_id) != 1 ||
	    json_get_string(js, "SecretAccessKey", &c->secret_access_key) != 1 ||
	    !*c->access_key_id || !*c->secret_access_key) {
		errbuf_set(err, errlen,
		       "credential_process of profile '%s' printed no AccessKeyId and SecretAccessKey",
		       profile);
		ret = -EINVAL;
		goto out_release;
	}
	ret = json_get_string(js, "SessionToken", &c->session_token);
	if (ret < 0) {
		errbuf_set(err, errlen, "credential_process of profile '%s': malformed SessionToken",
		       profile);
		goto out_release;
	}
	if (c->session_token && !*c->session_token) {
		free(c->session_token);
		c->session_token = NULL;
	}
	if (asprintf(&c->source, "credential_process (profile '%s')", profile) < 0) {
		c->source = NULL;
		ret = -ENOMEM;
		goto out_release;
	}
	ret = 0;
out_release:
	if (out.buf)
		explicit_bzero(out.buf, out.len);
	sbuf_release(&out);
	if (ret)
		aws_credentials_release(c);
	return ret;
}

/* ---- credentials ------------------------------------------------------------ */

/*
 * Keys from one profile section.  1 when found, 0 when the section has none (why in
 * `why`), -EINVAL for a key id without a secret (or the reverse), -ENOMEM.
 */
static int creds_from_section(const struct ini *f, const char *section, const char *kind,
			      const char *profile, struct aws_credentials *c, struct sbuf *why,
			      char *err, size_t errlen)
{
	int ra, rs, rt;
	char *ak = NULL, *sk = NULL, *tok = NULL;
	if (!f->exists) {
		sbuf_addf(why, "; %s '%s' (not found)", kind, f->path);
		return 0;
	}
	ra = ini_get(f, section, "aws_access_key_id", &ak);
	if (ra == -ENOENT) {
		sbuf_addf(why, "; %s '%s' (no section [%s])", kind, f->path, section);
		return 0;
	}
	rs = ini_get(f, section, "aws_secret_access_key", &sk);
	rt = ini_get(f, section, "aws_session_token", &tok);
	if (ra < 0 || rs < 0 || rt < 0) {
		free(ak);
		wipe_free(sk);
		wipe_free(tok);
		return -ENOMEM;
	}
	if ((ak && *ak) != (sk && *sk)) {
		errbuf_set(err, errlen, "%s '%s', profile '%s': %s without %s", kind, f->path, profile,
		       ak && *ak ? "aws_access_key_id" : "aws_secret_access_key",
		       ak && *ak ? "aws_secret_access_key" : "aws_access_key_id");
		free(ak);
		wipe_free(sk);
		wipe_free(tok);
		return -EINVAL;
	}
	if (!ak || !*ak) {
		sbuf_addf(why, "; %s '%s' (no aws_access_key_id in [%s])", kind, f->path, section);
		free(ak);
		wipe_free(sk);
		wipe_free(tok);
		return 0;
	}
	c->access_key_id = ak;
	c->secret_access_key = sk;
	if (tok && *tok) {
		c->session_token = tok;
	} else {
		wipe_free(tok);
	}
	if (asprintf(&c->source, "%s '%s' (profile '%s')", kind, f->path, profile) < 0) {
		c->source = NULL;
		aws_credentials_release(c);
		return -ENOMEM;
	}
	return 1;
}

static int load_credentials(struct aws_config *cfg, const struct ini *cred_file,
			    const struct ini *conf_file, const char *conf_section, char *err,
			    size_t errlen)
{
	struct aws_credentials *c = &cfg->cred;
	const char *ak = env_nonempty("AWS_ACCESS_KEY_ID");
	const char *sk = env_nonempty("AWS_SECRET_ACCESS_KEY");
	const char *tok = env_nonempty("AWS_SESSION_TOKEN");
	struct sbuf why = SBUF_INIT;
	char *proc = NULL;
	int ret;

	sbuf_init(&why, 16384);
	if (ak && sk) {
		c->access_key_id = strdup(ak);
		c->secret_access_key = strdup(sk);
		c->session_token = tok ? strdup(tok) : NULL;
		c->source = strdup("environment");
		ret = c->access_key_id && c->secret_access_key && c->source && (!tok || c->session_token)
			      ? 0 : -ENOMEM;
		goto out_why;
	}
	if (ak || sk) {
		errbuf_set(err, errlen, "%s is set but %s is not", ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		       ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		ret = -EINVAL;
		goto out_why;
	}
	sbuf_addstr(&why, "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: not set)");

	ret = creds_from_section(cred_file, cfg->profile, "shared credentials file", cfg->profile, c,
				 &why, err, errlen);
	if (ret)
		goto out_found;
	ret = creds_from_section(conf_file, conf_section, "config file", cfg->profile, c, &why,
				 err, errlen);
	if (ret)
		goto out_found;

	/* credential_process: the credentials file's profile first, then the config's */
	ret = ini_get(cred_file, cfg->profile, "credential_process", &proc);
	if (ret <= 0 && ret != -ENOMEM)
		ret = ini_get(conf_file, conf_section, "credential_process", &proc);
	if (ret == -ENOMEM)
		goto out_why;
	if (ret > 0 && proc && *proc) {
		ret = credential_process(proc, cfg->profile, c, err, errlen);
		goto out_why;
	}
	sbuf_addf(&why, "; credential_process (none in profile '%s')", cfg->profile);
	if (sbuf_error(&why)) {
		ret = sbuf_error(&why);
		goto out_why;
	}
	errbuf_set(err, errlen, "no AWS credentials found (profile '%s'); looked at: %s", cfg->profile,
	       why.buf);
	ret = -ENOENT;
	goto out_why;
out_found:
	if (ret > 0)
		ret = 0;
out_why:
	free(proc);
	sbuf_release(&why);
	if (ret)
		aws_credentials_release(c);
	return ret;
}

/* ---- endpoints -------------------------------------------------------------- */

/* A custom endpoint: "http[s]://HOST[:PORT][/PATH]", trailing slashes dropped. */
static int endpoint_check(const char *url, const char *what, char **out, char *err, size_t errlen)
{
	const char *rest;
	if (!strncasecmp(url, "http://", 7))
		rest = url + 7;
	else if (!strncasecmp(url, "https://", 8))
		rest = url + 8;
	else {
		errbuf_set(err, errlen, "%s '%s' is not an http:// or https:// URL", what, url);
		return -EINVAL;
	}
	size_t hl = strcspn(rest, "/?#");
	if (hl == 0 || memchr(rest, '@', hl) || rest[hl] == '?' || rest[hl] == '#') {
		errbuf_set(err, errlen, "%s '%s': a host (without user, query or fragment) is required",
		       what, url);
		return -EINVAL;
	}
	size_t n = strlen(url);
	while (n > (size_t)(rest - url) + hl && url[n - 1] == '/')
		n--;
	*out = strndup(url, n);
	return *out ? 0 : -ENOMEM;
}

static int load_endpoint(const char *specific, const char *generic, const char *profile_value,
			 const char *what, char **out, char *err, size_t errlen)
{
	const char *v = env_nonempty(specific);
	const char *src = specific;
	if (!v) {
		v = env_nonempty(generic);
		src = generic;
	}
	if (!v) {
		v = profile_value && *profile_value ? profile_value : NULL;
		src = "endpoint_url";
	}
	*out = NULL;
	if (!v)
		return 0;
	char label[96];
	snprintf(label, sizeof(label), "%s (%s)", what, src);
	return endpoint_check(v, label, out, err, errlen);
}

int aws_config_load(struct aws_config *cfg, unsigned flags, char *err, size_t errlen)
{
	struct ini cred_file = { 0 }, conf_file = { 0 };
	char *conf_section = NULL, *region = NULL, *endpoint = NULL;
	char *cred_path = NULL, *conf_path = NULL;
	int ret;

	*cfg = (struct aws_config)AWS_CONFIG_INIT;
	if (err && errlen)
		err[0] = '\0';
	const char *profile = env_nonempty("AWS_PROFILE");
	if (!profile)
		profile = env_nonempty("AWS_DEFAULT_PROFILE");
	cfg->profile = strdup(profile ? profile : "default");
	cred_path = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	conf_path = aws_file("AWS_CONFIG_FILE", "config");
	if (!cfg->profile || !cred_path || !conf_path) {
		free(cred_path);
		free(conf_path);
		ret = -ENOMEM;
		goto out_release;
	}
	ret = ini_load(&cred_file, cred_path, err, errlen);
	if (ret) {
		free(conf_path);
		goto out_release;
	}
	ret = ini_load(&conf_file, conf_path, err, errlen);
	if (ret)
		goto out_release;

	/* the config file names profiles "[profile x]"; "[default]" is also accepted */
	if (asprintf(&conf_section, "profile %s", cfg->profile) < 0) {
		conf_section = NULL;
		ret = -ENOMEM;
		goto out_release;
	}
	if (!strcmp(cfg->profile, "default") && ini_get(&conf_file, conf_section, "region", NULL) == -ENOENT) {
		free(conf_section);
		conf_section = strdup("default");
		if (!conf_section) {
			ret = -ENOMEM;
			goto out_release;
		}
	}

	/* region */
	const char *r = env_nonempty("AWS_REGION");
	if (!r)
		r = env_nonempty("AWS_DEFAULT_REGION");
	if (!r && ini_get(&conf_file, conf_section, "region", &region) == -ENOMEM) {
		ret = -ENOMEM;
		goto out_release;
	}
	if (!r && region && *region)
		r = region;
	cfg->region = strdup(r ? r : AWS_DEFAULT_REGION_NAME);
	if (!cfg->region) {
		ret = -ENOMEM;
		goto out_release;
	}

	/* endpoints */
	if (ini_get(&conf_file, conf_section, "endpoint_url", &endpoint) == -ENOMEM) {
		ret = -ENOMEM;
		goto out_release;
	}
	ret = load_endpoint("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", endpoint, "S3 endpoint",
			    &cfg->endpoint_s3, err, errlen);
	if (!ret)
		ret = load_endpoint("AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL", endpoint,
				    "Lambda endpoint", &cfg->endpoint_lambda, err, errlen);
	if (ret)
		goto out_release;

	if (flags & AWS_CONFIG_NEED_CREDENTIALS)
		ret = load_credentials(cfg, &cred_file, &conf_file, conf_section, err, errlen);

out_release:
	ini_release(&cred_file);
	ini_release(&conf_file);
	free(conf_section);
	free(region);
	free(endpoint);
	if (ret)
		aws_config_release(cfg);
	return ret;
}

/* ---- s3:// URLs ------------------------------------------------------------- */

void aws_s3_url_release(struct aws_s3_url *u)
{
	free(u->bucket);
	free(u->prefix);
	*u = (struct aws_s3_url)AWS_S3_URL_INIT;
}

static bool bucket_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int aws_s3_url_parse(const char *url, struct aws_s3_url *out, char *err, size_t errlen)
{
	struct sbuf pfx;
	*out = (struct aws_s3_url)AWS_S3_URL_INIT;
	if (!url || strncasecmp(url, "s3://", 5)) {
		errbuf_set(err, errlen, "'%s' is not an s3://BUCKET[/PREFIX] URL", url ? url : "");
		return -EINVAL;
	}
	const char *b = url + 5;
	size_t bl = strcspn(b, "/");
	for (size_t i = 0; i < bl; i++) {
		if (!bucket_char(b[i])) {
			errbuf_set(err, errlen, "invalid bucket name '%.*s' in '%s'", (int)bl, b, url);
			return -EINVAL;
		}
	}
	if (bl < 3 || bl > 63 || !alnum(b[0]) || !alnum(b[bl - 1])) {
		errbuf_set(err, errlen, "invalid bucket name '%.*s' in '%s' (3-63 letters, digits, '.', '-')",
		       (int)bl, b, url);
		return -EINVAL;
	}
	out->bucket = strndup(b, bl);
	sbuf_init(&pfx, 4096);
	for (const char *p = b + bl; *p;) {
		while (*p == '/')
			p++;
		size_t sl = strcspn(p, "/");
		if (!sl)
			break;
		if (pfx.len)
			sbuf_addch(&pfx, '/');
		sbuf_add(&pfx, p, sl);
		p += sl;
	}
	if (sbuf_error(&pfx) == -E2BIG) {
		errbuf_set(err, errlen, "prefix too long in '%s'", url);
		sbuf_release(&pfx);
		aws_s3_url_release(out);
		return -EINVAL;
	}
	out->prefix = sbuf_detach(&pfx, NULL);
	sbuf_release(&pfx);
	if (!out->bucket || !out->prefix) {
		aws_s3_url_release(out);
		return -ENOMEM;
	}
	return 0;
}

/* ---- endpoints for requests ------------------------------------------------- */

void aws_endpoint_release(struct aws_endpoint *e)
{
	free(e->url_base);
	free(e->host);
	free(e->path_base);
	*e = (struct aws_endpoint)AWS_ENDPOINT_INIT;
}

/* Split a checked custom endpoint URL into url_base, host and its path. */
static int endpoint_split(const char *url, struct aws_endpoint *e, char **path)
{
	bool tls = !strncasecmp(url, "https://", 8);
	const char *hp = url + (tls ? 8 : 7);
	size_t hl = strcspn(hp, "/");
	e->tls = tls;
	e->url_base = strndup(url, (size_t)(hp - url) + hl);
	/* libcurl leaves the scheme's default port out of the Host header */
	const char *rb = memrchr(hp, ']', hl);
	const char *colon = memrchr(rb ? rb : hp, ':', hl - (size_t)((rb ? rb : hp) - hp));
	size_t host_len = hl;
	if (colon) {
		const char *port = colon + 1;
		size_t pl = hl - (size_t)(port - hp);
		if ((tls && pl == 3 && !strncmp(port, "443", 3)) ||
		    (!tls && pl == 2 && !strncmp(port, "80", 2)) || pl == 0)
			host_len = (size_t)(colon - hp);
	}
	e->host = strndup(hp, host_len);
	*path = strdup(hp + hl);
	return e->url_base && e->host && *path ? 0 : -ENOMEM;
}

static const char *aws_domain(const char *region)
{
	return !strncmp(region, "cn-", 3) ? "amazonaws.com.cn" : "amazonaws.com";
}

/* A bucket that can be a DNS label under TLS: lower case, digits, '-', no dots. */
static bool bucket_virtual_ok(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63 || !alnum(b[0]) || !alnum(b[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-'))
			return false;
	return true;
}

static bool region_ok(const char *r)
{
	if (!r || !*r)
		return false;
	for (; *r; r++)
		if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
			return false;
	return true;
}

/* An AWS endpoint's url_base from its host: -ENOMEM if a part is missing. */
static int endpoint_url(struct aws_endpoint *out)
{
	if (out->host && asprintf(&out->url_base, "https://%s", out->host) < 0)
		out->url_base = NULL;
	return !out->host || !out->path_base || !out->url_base ? -ENOMEM : 0;
}

/* The end of aws_*_endpoint: free the scratch path; on error leave out empty. */
static int endpoint_done(struct aws_endpoint *out, char *path, int ret)
{
	free(path);
	if (ret)
		aws_endpoint_release(out);
	return ret;
}

int aws_s3_endpoint(const struct aws_config *cfg, const char *bucket, struct aws_endpoint *out,
		    char *err, size_t errlen)
{
	char *path = NULL;
	int ret = 0;
	*out = (struct aws_endpoint)AWS_ENDPOINT_INIT;
	if (!bucket || !*bucket || strchr(bucket, '/')) {
		errbuf_set(err, errlen, "invalid bucket name '%s'", bucket ? bucket : "");
		return -EINVAL;
	}
	if (cfg->endpoint_s3) {
		ret = endpoint_split(cfg->endpoint_s3, out, &path);
		if (ret)
			goto out_release;
		out->path_style = true;
		if (asprintf(&out->path_base, "%s/%s", path, bucket) < 0) {
			out->path_base = NULL;
			ret = -ENOMEM;
		}
		goto out_release;
	}
	if (!region_ok(cfg->region)) {
		errbuf_set(err, errlen, "invalid region '%s'", cfg->region ? cfg->region : "");
		return -EINVAL;
	}
	out->tls = true;
	if (bucket_virtual_ok(bucket)) {
		if (asprintf(&out->host, "%s.s3.%s.%s", bucket, cfg->region, aws_domain(cfg->region)) < 0)
			out->host = NULL;
		out->path_base = strdup("");
	} else {
		if (asprintf(&out->host, "s3.%s.%s", cfg->region, aws_domain(cfg->region)) < 0)
			out->host = NULL;
		if (asprintf(&out->path_base, "/%s", bucket) < 0)
			out->path_base = NULL;
		out->path_style = true;
	}
	ret = endpoint_url(out);
out_release:
	return endpoint_done(out, path, ret);
}

int aws_lambda_endpoint(const struct aws_config *cfg, struct aws_endpoint *out, char *err,
			size_t errlen)
{
	char *path = NULL;
	int ret = 0;
	*out = (struct aws_endpoint)AWS_ENDPOINT_INIT;
	if (cfg->endpoint_lambda) {
		ret = endpoint_split(cfg->endpoint_lambda, out, &path);
		if (!ret) {
			out->path_base = path;
			path = NULL;
			out->path_style = true;
		}
		goto out_release;
	}
	if (!region_ok(cfg->region)) {
		errbuf_set(err, errlen, "invalid region '%s'", cfg->region ? cfg->region : "");
		return -EINVAL;
	}
	out->tls = true;
	if (asprintf(&out->host, "lambda.%s.%s", cfg->region, aws_domain(cfg->region)) < 0)
		out->host = NULL;
	out->path_base = strdup("");
	ret = endpoint_url(out);
out_release:
	return endpoint_done(out, path, ret);
}
