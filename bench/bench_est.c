/*
 * bench_est: EST simpleenroll load driver and crypto-bound meter.
 *
 *   bench_est --url https://127.0.0.1:PORT --cacert ca.pem --user u:p
 *       -n N -c C [--key p256|rsa2048] [--ca-key p256|p384|rsa2048|...]
 *
 * N CSRs are made in memory before the clock starts (one key each, so the
 * server verifies N different signatures), then N POSTs to
 * /.well-known/est/simpleenroll run over C keep-alive TLS connections
 * on libcurl's multi interface.  Every reply must be 200 and decode
 * (base64 -> PKCS#7 certs-only -> exactly one certificate); anything else
 * is a failure.  The driver then times, in this process and on one core,
 * what one enrollment costs in pure crypto (verify the CSR, sign a
 * certificate with a key of the CA's type) and prints how close the
 * server came to that bound.  See bench/README.md for the method.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bench/csr.h"
#include "bench/opts.h"
#include "bench/stats.h"

/* A reply bigger than this is not a one-certificate PKCS#7. */
#define BENCH_MAX_REPLY (256 * 1024)
/* RSA keys are slow to make; that many are made and reused round-robin. */
#define BENCH_RSA_POOL 32
#define BENCH_CRYPTO_SECONDS 2.0

struct opts {
	const char *url;
	const char *cacert;
	const char *user;
	const char *key;    /* CSR key type: p256 or rsa2048 */
	const char *ca_key; /* the server's CA key type */
	long n;
	long c;
};

/* One CSR ready to send: base64 of its DER, one line. */
struct csr_b64 {
	char *b64;
	size_t len;
};

/* One transfer slot; C of them run at once and are reused. */
struct slot {
	CURL *easy;
	long index; /* which CSR, -1 when idle */
	double start;
	unsigned char *buf;
	size_t len;
	int overflow;
};

struct run {
	const struct opts *o;
	struct csr_b64 *csrs;
	double *lat_ms;
	long nlat;
	long next;
	long failures;
	struct curl_slist *headers;
	char *enroll_url;
	/* Replies kept during the timed part and checked after it, so the
	 * driver's own parsing does not take CPU from the server. */
	unsigned char **replies;
	size_t *reply_len;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench_est --url BASE --cacert FILE --user U:P -n N -c C\n"
	    "                 [--key p256|rsa2048] "
	    "[--ca-key p256|p384|rsa2048|rsa3072|ed25519]\n");
	exit(2);
}

static long
parse_count(const char *s)
{
	long v = bopt_count(s, 10000000);

	if (v == -1)
		usage();
	return v;
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"cacert", required_argument, NULL, 'a'},
	    {"user", required_argument, NULL, 'p'},
	    {"key", required_argument, NULL, 'k'},
	    {"ca-key", required_argument, NULL, 'K'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->key = "p256";
	o->ca_key = "p256";
	o->n = 1000;
	o->c = 4;
	while ((ch = getopt_long(argc, argv, "n:c:", lopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			o->url = optarg;
			break;
		case 'a':
			o->cacert = optarg;
			break;
		case 'p':
			o->user = optarg;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 'K':
			o->ca_key = optarg;
			break;
		case 'n':
			o->n = parse_count(optarg);
			break;
		case 'c':
			o->c = parse_count(optarg);
			break;
		default:
			usage();
		}
	}
	if (o->url == NULL || o->cacert == NULL || o->user == NULL ||
	    (strcmp(o->key, "p256") != 0 && strcmp(o->key, "rsa2048") != 0))
		usage();
	if (o->c > o->n)
		o->c = o->n;
}

/*
 * A new key of type `type` (p256, p384, rsa2048, rsa3072, ed25519), or
 * NULL.  The caller frees it.
 */
static EVP_PKEY *
keygen(const char *type)
{
	if (strcmp(type, "p256") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (strcmp(type, "p384") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (strcmp(type, "rsa2048") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (strcmp(type, "rsa3072") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	if (strcmp(type, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return NULL;
}

/* The digest to sign with for `key`: none for EdDSA, else SHA-256. */
static const EVP_MD *
sign_md(EVP_PKEY *key)
{
	if (EVP_PKEY_is_a(key, "ED25519"))
		return NULL;
	return EVP_sha256();
}

/* `csr` as one line of base64 DER into *out.  0 / -1. */
static int
csr_to_b64(X509_REQ *csr, struct csr_b64 *out)
{
	unsigned char *der = NULL;
	int len, rc = -1;

	if ((len = i2d_X509_REQ(csr, &der)) <= 0)
		goto out;
	out->b64 = malloc(((size_t)len + 2) / 3 * 4 + 1);
	if (out->b64 == NULL)
		goto out;
	out->len = (size_t)EVP_EncodeBlock((unsigned char *)out->b64, der, len);
	rc = 0;
out:
	OPENSSL_free(der);
	return rc;
}

/*
 * Fill csrs[0..n) before the clock starts.  Each CSR gets its own P-256
 * key; RSA keys come from a pool of BENCH_RSA_POOL (see README).  The
 * first CSR is also returned in *first for the crypto bound (the caller
 * frees it).  0 / -1.
 */
static int
make_csrs(const struct opts *o, struct csr_b64 *csrs, X509_REQ **first)
{
	EVP_PKEY *pool[BENCH_RSA_POOL] = {NULL};
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	char host[64];
	long i;
	int rc = -1, rsa = strcmp(o->key, "rsa2048") == 0;

	for (i = 0; i < o->n; i++) {
		if (rsa) {
			EVP_PKEY **p = &pool[i % BENCH_RSA_POOL];

			if (*p == NULL && (*p = keygen(o->key)) == NULL)
				goto out;
			key = *p;
		} else if ((key = keygen(o->key)) == NULL)
			goto out;
		snprintf(host, sizeof(host), "bench-%ld.example.com", i);
		req = bcsr_new(key, host, NULL, sign_md(key));
		if (!rsa)
			EVP_PKEY_free(key);
		key = NULL;
		if (req == NULL || csr_to_b64(req, &csrs[i]) == -1)
			goto out;
		if (i == 0)
			*first = req;
		else
			X509_REQ_free(req);
		req = NULL;
	}
	rc = 0;
out:
	X509_REQ_free(req);
	for (i = 0; i < BENCH_RSA_POOL; i++)
		EVP_PKEY_free(pool[i]);
	return rc;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	size_t n = size * nmemb;

	if (n > BENCH_MAX_REPLY - s->len) {
		s->overflow = 1;
		return 0; /* aborts the transfer: counted as a failure */
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return n;
}

/*
 * 1 when `body` is base64 of a certs-only PKCS#7 holding exactly one
 * certificate, else 0.  CR/LF between base64 lines is allowed.
 */
static int
reply_ok(const unsigned char *body, size_t len)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	PKCS7 *p7 = NULL;
	int n, tail, ok = 0;
	size_t dlen;

	if (len == 0 || len > INT32_MAX || (der = malloc(len)) == NULL ||
	    (ctx = EVP_ENCODE_CTX_new()) == NULL)
		goto out;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, der, &n, body, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, der + n, &tail) != 1)
		goto out;
	dlen = (size_t)n + (size_t)tail;
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)dlen)) == NULL ||
	    (size_t)(p - der) != dlen)
		goto out;
	if (OBJ_obj2nid(p7->type) != NID_pkcs7_signed || p7->d.sign == NULL ||
	    p7->d.sign->cert == NULL)
		goto out;
	ok = sk_X509_num(p7->d.sign->cert) == 1;
out:
	PKCS7_free(p7);
	EVP_ENCODE_CTX_free(ctx);
	free(der);
	ERR_clear_error();
	return ok;
}

/* Point slot `s` at the next CSR and add it to the multi.  0 / -1. */
static int
slot_start(struct run *r, CURLM *multi, struct slot *s)
{
	const struct csr_b64 *csr = &r->csrs[r->next];

	s->index = r->next++;
	s->len = 0;
	s->overflow = 0;
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, csr->b64);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)csr->len);
	s->start = bstat_now();
	return curl_multi_add_handle(multi, s->easy) == CURLM_OK ? 0 : -1;
}

/* The options every request shares; a handle is reused so its
 * connection stays alive.  0 / -1. */
static int
slot_init(struct run *r, struct slot *s)
{
	const struct opts *o = r->o;

	if ((s->easy = curl_easy_init()) == NULL ||
	    (s->buf = malloc(BENCH_MAX_REPLY)) == NULL)
		return -1;
	s->index = -1;
	curl_easy_setopt(s->easy, CURLOPT_URL, r->enroll_url);
	curl_easy_setopt(s->easy, CURLOPT_CAINFO, o->cacert);
	curl_easy_setopt(s->easy, CURLOPT_USERPWD, o->user);
	curl_easy_setopt(s->easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	return 0;
}

/* Account for the transfer that just ended on `s`. */
static void
slot_done(struct run *r, struct slot *s, CURLcode result)
{
	long code = 0;

	r->lat_ms[r->nlat++] = (bstat_now() - s->start) * 1000.0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	if (result == CURLE_OK && code == 200 && !s->overflow &&
	    (r->replies[s->index] = malloc(s->len + 1)) != NULL) {
		memcpy(r->replies[s->index], s->buf, s->len);
		r->reply_len[s->index] = s->len;
	} else {
		if (r->failures < 5)
			fprintf(stderr, "request %ld: %s, status %ld: %.*s\n",
			    s->index, curl_easy_strerror(result), code,
			    (int)(s->len < 120 ? s->len : 120), s->buf);
		r->failures++;
	}
	s->index = -1;
}

static struct slot *
slot_of(struct slot *slots, long c, CURL *easy)
{
	long i;

	for (i = 0; i < c; i++)
		if (slots[i].easy == easy)
			return &slots[i];
	return NULL;
}

/*
 * One enrollment before the clock starts: the server verifies a Basic
 * password once and caches it, so without this the first C requests
 * would all pay a password hash and the figure would mix a cold start
 * into the steady state.  0 / -1.
 */
static int
warm_up(struct run *r)
{
	struct slot w;
	long code = 0;
	int rc = -1;

	memset(&w, 0, sizeof(w));
	if (slot_init(r, &w) == -1)
		goto out;
	curl_easy_setopt(w.easy, CURLOPT_POSTFIELDS, r->csrs[0].b64);
	curl_easy_setopt(w.easy, CURLOPT_POSTFIELDSIZE, (long)r->csrs[0].len);
	if (curl_easy_perform(w.easy) == CURLE_OK &&
	    curl_easy_getinfo(w.easy, CURLINFO_RESPONSE_CODE, &code) ==
	        CURLE_OK &&
	    code == 200)
		rc = 0;
	else
		fprintf(
		    stderr, "bench_est: warm-up enrollment got %ld\n", code);
out:
	curl_easy_cleanup(w.easy);
	free(w.buf);
	return rc;
}

/*
 * Run all N enrollments over C connections; fills r->lat_ms and
 * r->failures and returns the elapsed seconds, or -1 on a local error.
 */
static double
drive(struct run *r)
{
	const struct opts *o = r->o;
	struct slot *slots = NULL;
	CURLM *multi = NULL;
	CURLMsg *msg;
	struct slot *s;
	double t0, elapsed = -1;
	int running = 0, left;
	long i, done = 0;

	if ((slots = calloc((size_t)o->c, sizeof(*slots))) == NULL ||
	    (multi = curl_multi_init()) == NULL)
		goto out;
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, o->c);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, o->c);
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
	for (i = 0; i < o->c; i++)
		if (slot_init(r, &slots[i]) == -1)
			goto out;
	t0 = bstat_now();
	for (i = 0; i < o->c; i++)
		if (slot_start(r, multi, &slots[i]) == -1)
			goto out;
	while (done < o->n) {
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			goto out;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			s = slot_of(slots, o->c, msg->easy_handle);
			curl_multi_remove_handle(multi, msg->easy_handle);
			if (s == NULL)
				goto out;
			slot_done(r, s, msg->data.result);
			done++;
			if (r->next < o->n && slot_start(r, multi, s) == -1)
				goto out;
		}
		/* Read completions before waiting, or an idle c=1 run would
		 * sleep the whole poll timeout after every reply. */
		if (done < o->n &&
		    curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			goto out;
	}
	elapsed = bstat_now() - t0;
out:
	for (i = 0; slots != NULL && i < o->c; i++) {
		if (slots[i].easy != NULL && slots[i].index != -1)
			curl_multi_remove_handle(multi, slots[i].easy);
		curl_easy_cleanup(slots[i].easy);
		free(slots[i].buf);
	}
	free(slots);
	curl_multi_cleanup(multi);
	return elapsed;
}

/*
 * A certificate template for the crypto bound: subject and key from
 * `csr`, issuer `ca`'s name (here the same), one year, the CSR's SAN.
 * The caller frees it; NULL on error.
 */
static X509 *
cert_template(X509_REQ *csr)
{
	X509 *x = NULL, *ret = NULL;
	EVP_PKEY *pub;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int i;

	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234567) ||
	    !X509_set_subject_name(x, X509_REQ_get_subject_name(csr)) ||
	    !X509_set_issuer_name(x, X509_REQ_get_subject_name(csr)) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) == NULL)
		goto out;
	if ((pub = X509_REQ_get0_pubkey(csr)) == NULL ||
	    !X509_set_pubkey(x, pub))
		goto out;
	exts = X509_REQ_get_extensions(csr);
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++)
		if (!X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1))
			goto out;
	ret = x;
	x = NULL;
out:
	X509_free(x);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ret;
}

/*
 * Operations per second of (verify `csr` + sign one certificate with a
 * fresh `ca_type` key), run for about BENCH_CRYPTO_SECONDS on this
 * thread.  -1 on error.
 */
static double
crypto_bound(X509_REQ *csr, const char *ca_type)
{
	EVP_PKEY *ca = NULL;
	X509 *x = NULL;
	double t0, el, rate = -1;
	long k = 0;

	if ((ca = keygen(ca_type)) == NULL || (x = cert_template(csr)) == NULL)
		goto out;
	t0 = bstat_now();
	do {
		/* Like a CA, re-sign every time: X509_sign re-encodes the
		 * TBS, so the cost includes the DER work too. */
		if (X509_REQ_verify(csr, X509_REQ_get0_pubkey(csr)) != 1 ||
		    X509_sign(x, ca, sign_md(ca)) <= 0)
			goto out;
		k++;
		el = bstat_now() - t0;
	} while (el < BENCH_CRYPTO_SECONDS);
	rate = k / el;
out:
	ERR_print_errors_fp(stderr);
	EVP_PKEY_free(ca);
	X509_free(x);
	return rate;
}

static int
run_all(const struct opts *o)
{
	struct run r;
	X509_REQ *first = NULL;
	struct curl_slist *h;
	double el, rate, bound;
	size_t ulen;
	long i;
	int rc = 1;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.csrs = calloc((size_t)o->n, sizeof(*r.csrs));
	r.lat_ms = calloc((size_t)o->n, sizeof(*r.lat_ms));
	r.replies = calloc((size_t)o->n, sizeof(*r.replies));
	r.reply_len = calloc((size_t)o->n, sizeof(*r.reply_len));
	if (r.replies == NULL || r.reply_len == NULL)
		goto out;
	ulen = strlen(o->url) + sizeof("/.well-known/est/simpleenroll");
	r.enroll_url = malloc(ulen);
	if (r.csrs == NULL || r.lat_ms == NULL || r.enroll_url == NULL)
		goto out;
	snprintf(r.enroll_url, ulen, "%s/.well-known/est/simpleenroll", o->url);
	/* No "Expect: 100-continue": a CSR is small, waiting costs an RTT. */
	if ((r.headers = curl_slist_append(
	         NULL, "Content-Type: application/pkcs10")) == NULL ||
	    (h = curl_slist_append(r.headers, "Expect:")) == NULL)
		goto out;
	if (make_csrs(o, r.csrs, &first) == -1) {
		ERR_print_errors_fp(stderr);
		goto out;
	}
	if (warm_up(&r) == -1)
		goto out;
	if ((el = drive(&r)) < 0) {
		fprintf(stderr, "bench_est: driver error\n");
		goto out;
	}
	/* After the clock: every reply must be one certificate. */
	for (i = 0; i < o->n; i++)
		if (r.replies[i] != NULL &&
		    !reply_ok(r.replies[i], r.reply_len[i])) {
			if (r.failures < 5)
				fprintf(stderr,
				    "request %ld: not one "
				    "certificate in PKCS#7\n",
				    i);
			r.failures++;
		}
	bstat_sort(r.lat_ms, r.nlat);
	rate = (o->n - r.failures) / el;
	printf("est simpleenroll c=%ld n=%ld: %.1f enroll/s p50=%.1fms "
	       "p99=%.1fms failures=%ld\n",
	    o->c, o->n, rate, bstat_percentile(r.lat_ms, r.nlat, 50),
	    bstat_percentile(r.lat_ms, r.nlat, 99), r.failures);
	fflush(stdout);
	if ((bound = crypto_bound(first, o->ca_key)) <= 0) {
		fprintf(stderr, "bench_est: crypto bound failed\n");
		goto out;
	}
	printf("crypto bound (%s CSR verify + %s cert sign): %.1f /s; "
	       "enrolld reaches %.1f %%\n",
	    o->key, o->ca_key, bound, 100.0 * rate / bound);
	rc = r.failures == 0 ? 0 : 1;
out:
	for (i = 0; r.csrs != NULL && i < o->n; i++)
		free(r.csrs[i].b64);
	for (i = 0; r.replies != NULL && i < o->n; i++)
		free(r.replies[i]);
	free(r.replies);
	free(r.reply_len);
	free(r.csrs);
	free(r.lat_ms);
	free(r.enroll_url);
	curl_slist_free_all(r.headers);
	X509_REQ_free(first);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o;
	int rc;

	parse_opts(argc, argv, &o);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = run_all(&o);
	curl_global_cleanup();
	return rc;
}
