/*
 * s3sign - one S3 request signed by gg's SigV4 signer (runtime/engine/sigv4.h), sent
 * with a libcurl easy handle: proof, independent of gg's S3 client, that a
 * SigV4-checking server (s3rver, AWS) accepts the signatures.
 *
 *     s3sign [--unsigned-payload] PUT BUCKET KEY FILE
 *     s3sign GET BUCKET KEY OUTFILE
 *     s3sign HEAD BUCKET KEY
 *     s3sign LIST BUCKET [PREFIX]          (ListObjectsV2; the answer on stdout)
 *
 * Credentials, region and endpoint come from the environment and ~/.aws as every
 * AWS tool finds them (runtime/engine/aws_config.h).  Prints "status N" and, for
 * an S3 error, "error CODE" (the <Code> of the answer); exits 0 on a 2xx answer,
 * 1 on another, 2 on a local error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "runtime/engine/aws_config.h"
#include "runtime/engine/sigv4.h"
#include "runtime/lib/util.h"

static size_t to_sbuf(char *p, size_t size, size_t n, void *arg)
{
	struct sbuf *sb = arg;
	return sbuf_add(sb, p, size * n) ? 0 : size * n;
}

static int usage(void)
{
	fprintf(stderr, "usage: s3sign [--unsigned-payload] PUT BUCKET KEY FILE | GET BUCKET KEY OUTFILE |"
			" HEAD BUCKET KEY | LIST BUCKET [PREFIX]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct aws_config cfg;
	struct aws_endpoint ep;
	struct sbuf path = SBUF_INIT, url = SBUF_INIT, query = SBUF_INIT, body = SBUF_INIT;
	struct sigv4_result sig;
	struct curl_slist *hdrs = NULL;
	char err[AWS_ERR_SIZE], hash[SIGV4_SHA256_HEX_SIZE], hosthdr[512], desc[256];
	bool unsigned_payload = false;
	FILE *in = NULL, *out = NULL;
	long status = 0;
	int ret = 2;

	if (argc > 1 && !strcmp(argv[1], "--unsigned-payload")) {
		unsigned_payload = true;
		argv++;
		argc--;
	}
	if (argc < 3)
		return usage();
	const char *op = argv[1], *bucket = argv[2];
	bool put = !strcmp(op, "PUT"), get = !strcmp(op, "GET"), head = !strcmp(op, "HEAD");
	bool list = !strcmp(op, "LIST");
	if ((put || get) ? argc != 5 : head ? argc != 4 : list ? (argc != 3 && argc != 4) : true)
		return usage();

	if (aws_config_load(&cfg, AWS_CONFIG_NEED_CREDENTIALS, err, sizeof(err)) < 0) {
		fprintf(stderr, "s3sign: %s\n", err);
		return 2;
	}
	if (aws_s3_endpoint(&cfg, bucket, &ep, err, sizeof(err)) < 0) {
		fprintf(stderr, "s3sign: %s\n", err);
		goto out_config;
	}
	fprintf(stderr, "s3sign: %s %s with %s\n", op, ep.url_base,
		aws_credentials_describe(&cfg.cred, desc, sizeof(desc)));

	/* the wire path (what is signed) and the URL */
	sbuf_addstr(&path, ep.path_base);
	if (!list) {
		sbuf_addch(&path, '/');
		sigv4_uri_encode(&path, argv[3], strlen(argv[3]), true);
	} else if (!path.len) {
		/* the bucket itself: "/BUCKET" path-style (no trailing slash), "/" virtual-hosted */
		sbuf_addch(&path, '/');
	}
	if (list) {
		sbuf_addstr(&query, "list-type=2");
		if (argc == 4) {
			sbuf_addstr(&query, "&prefix=");
			sigv4_uri_encode(&query, argv[3], strlen(argv[3]), false);
		}
	}
	sbuf_addf(&url, "%s%s%s%s", ep.url_base, path.buf, query.len ? "?" : "", query.len ? query.buf : "");
	if (sbuf_error(&path) || sbuf_error(&url) || sbuf_error(&query)) {
		fprintf(stderr, "s3sign: out of memory\n");
		goto out_endpoint;
	}

	/* the payload hash */
	snprintf(hash, sizeof(hash), "%s", SIGV4_EMPTY_SHA256);
	if (put) {
		int r = unsigned_payload ? 0 : sigv4_sha256_hex_file(argv[4], hash);
		if (r < 0) {
			fprintf(stderr, "s3sign: cannot read '%s': %s\n", argv[4], strerror(-r));
			goto out_endpoint;
		}
		in = fopen(argv[4], "rb");
		if (!in) {
			fprintf(stderr, "s3sign: cannot open '%s': %s\n", argv[4], strerror(errno));
			goto out_endpoint;
		}
	}

	struct sigv4_header h[] = { { "Host", ep.host } };
	struct sigv4_request req = {
		.method = list ? "GET" : op,
		.path = path.buf,
		.query = query.buf,
		.headers = h,
		.nheaders = ARRAY_SIZE(h),
		.payload_hash = unsigned_payload ? SIGV4_UNSIGNED_PAYLOAD : hash,
		.region = cfg.region,
		.service = "s3",
		.when = time(NULL),
		.flags = SIGV4_RULES_S3,
	};
	struct sigv4_credentials cred = aws_credentials_sigv4(&cfg.cred);
	int r = sigv4_sign(&req, &cred, &sig);
	if (r < 0) {
		fprintf(stderr, "s3sign: cannot sign: %s\n", strerror(-r));
		goto out_file;
	}

	CURL *c = curl_easy_init();
	if (!c)
		goto out_sig;
	snprintf(hosthdr, sizeof(hosthdr), "Host: %s", ep.host);
	hdrs = curl_slist_append(hdrs, hosthdr);
	for (size_t i = 0; i < sig.headers.n; i++)
		hdrs = curl_slist_append(hdrs, sig.headers.v[i]);
	curl_easy_setopt(c, CURLOPT_URL, url.buf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_sbuf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	if (put) {
		struct stat st;
		if (fstat(fileno(in), &st) < 0)
			goto out_curl;
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, in);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	} else if (head) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	}
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		fprintf(stderr, "s3sign: %s: %s\n", url.buf, curl_easy_strerror(cc));
		goto out_curl;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	printf("status %ld\n", status);
	if (status / 100 != 2) {
		const char *b = body.buf ? strstr(body.buf, "<Code>") : NULL;
		if (b)
			printf("error %.*s\n", (int)strcspn(b + 6, "<"), b + 6);
		ret = 1;
		goto out_curl;
	}
	if (get) {
		out = fopen(argv[4], "wb");
		if (!out || fwrite(body.buf ? body.buf : "", 1, body.len, out) != body.len ||
		    fclose(out) != 0) {
			fprintf(stderr, "s3sign: cannot write '%s'\n", argv[4]);
			goto out_curl;
		}
	} else if (list && body.len) {
		fwrite(body.buf, 1, body.len, stdout);
		putchar('\n');
	}
	ret = 0;
out_curl:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
out_sig:
	sigv4_result_release(&sig);
out_file:
	if (in)
		fclose(in);
out_endpoint:
	aws_endpoint_release(&ep);
out_config:
	aws_config_release(&cfg);
	sbuf_release(&path);
	sbuf_release(&url);
	sbuf_release(&query);
	sbuf_release(&body);
	return ret;
}
