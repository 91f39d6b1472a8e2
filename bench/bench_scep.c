/*
 * bench_scep: SCEP (RFC 8894) PKCSReq load driver, for enrolld and for
 * any other SCEP server.
 *
 *   bench_scep --url http://127.0.0.1:PORT/scep --challenge S -n N -c C
 *       [--label NAME] [--cipher aes|3des] [--keys FILE]
 *
 * Before the clock starts: GetCACert, then N requests, each with its own
 * RSA-2048 key, CSR and pkiMessage, made on all cores.  With --keys the
 * keys are written to FILE, or read from it when it exists, so that a
 * second server gets the same enrollments (and the set-up time is not
 * paid twice); each key still serves one request per run.  The timed part
 * POSTs the N messages with C in flight over C keep-alive HTTP/1.1
 * connections on libcurl's multi interface and keeps the replies; after
 * the clock stops every reply is checked as a client would (signature,
 * status, nonce, envelope, certificate for our key, signed by the CA),
 * so the driver's own RSA decryptions do not compete with the server for
 * the CPU.  See bench/README.md for the method.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "bench/opts.h"
#include "bench/scep_client.h"
#include "bench/stats.h"

/* A CertRep with one certificate is a few kB; GetCACert a few more. */
#define BENCH_MAX_REPLY (64 * 1024)
#define BENCH_SHOW_ERRORS 5
#define BENCH_MAX_THREADS 16

struct opts {
	const char *url;
	const char *challenge;
	const char *label;
	const char *cipher; /* aes or 3des: the request envelope */
	const char *keys;   /* PEM file of request keys, or NULL */
	long n;
	long c;
};

/* One enrollment: the request made before the clock, the reply kept
 * during it. */
struct item {
	struct bscep_req req;
	unsigned char *body;
	size_t len;
	size_t cap;
	int overflow;
	CURLcode result;
	long status;
	char ctype[64];
	double lat_ms;
};

/* One transfer slot; C of them run at once and are reused. */
struct slot {
	CURL *easy;
	long index; /* which item, -1 when idle */
	double start;
};

struct run {
	const struct opts *o;
	struct bscep_peer peer;
	struct item *items;
	long next;
	struct curl_slist *headers;
	char *op_url;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench_scep --url URL --challenge S -n N -c C "
	    "[--label NAME] [--cipher aes|3des] [--keys FILE]\n");
	exit(2);
}

static long
parse_count(const char *s)
{
	long v = bopt_count(s, 1000000);

	if (v == -1)
		usage();
	return v;
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"challenge", required_argument, NULL, 'p'},
	    {"label", required_argument, NULL, 'l'},
	    {"cipher", required_argument, NULL, 'e'},
	    {"keys", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->label = "server";
	o->cipher = "aes";
	o->n = 100;
	o->c = 1;
	while ((ch = getopt_long(argc, argv, "n:c:", lopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			o->url = optarg;
			break;
		case 'p':
			o->challenge = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'e':
			o->cipher = optarg;
			break;
		case 'k':
			o->keys = optarg;
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
	if (optind != argc || o->url == NULL || o->challenge == NULL ||
	    (strcmp(o->cipher, "aes") != 0 && strcmp(o->cipher, "3des") != 0))
		usage();
	if (o->c > o->n)
		o->c = o->n;
}

/* libcurl write callback: append to the item's body, at most
 * BENCH_MAX_REPLY bytes. */
static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct item *it = arg;
	size_t n = size * nmemb, cap;
	unsigned char *p;

	if (n > BENCH_MAX_REPLY - it->len) {
		it->overflow = 1;
		return 0; /* aborts the transfer: counted as a failure */
	}
	if (it->len + n > it->cap) {
		cap = it->cap == 0 ? 4096 : it->cap;
		while (cap < it->len + n)
			cap *= 2;
		if (cap > BENCH_MAX_REPLY)
			cap = BENCH_MAX_REPLY;
		if ((p = realloc(it->body, cap)) == NULL)
			return 0;
		it->body = p;
		it->cap = cap;
	}
	memcpy(it->body + it->len, data, n);
	it->len += n;
	return n;
}

/* Copy the reply's Content-Type of `easy` into it->ctype ("" if none). */
static void
keep_ctype(CURL *easy, struct item *it)
{
	char *ct = NULL;

	curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(it->ctype, sizeof(it->ctype), "%s", ct != NULL ? ct : "");
}

/* §4.2 GetCACert into r->peer, before anything else.  0 / -1. */
static int
get_ca_cert(struct run *r)
{
	struct item it;
	char url[2048], why[256];
	CURL *easy = NULL;
	CURLcode res;
	int rc = -1;

	memset(&it, 0, sizeof(it));
	if (snprintf(url, sizeof(url), "%s?operation=GetCACert", r->o->url) >=
	        (int)sizeof(url) ||
	    (easy = curl_easy_init()) == NULL)
		goto out;
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &it);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	res = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &it.status);
	keep_ctype(easy, &it);
	if (res != CURLE_OK || it.status != 200) {
		fprintf(stderr, "bench_scep: GetCACert: %s, status %ld\n",
		    curl_easy_strerror(res), it.status);
		goto out;
	}
	if (bscep_peer_parse(
	        &r->peer, it.ctype, it.body, it.len, why, sizeof(why)) == -1) {
		fprintf(stderr, "bench_scep: %s\n", why);
		goto out;
	}
	rc = 0;
out:
	curl_easy_cleanup(easy);
	free(it.body);
	return rc;
}

/* A preparation thread makes items t, t + nt, t + 2 nt, ... */
struct prep {
	pthread_t tid;
	struct run *r;
	const char *tag;
	long t, nt;
	int rc;
};

static void *
prep_main(void *arg)
{
	struct prep *p = arg;
	const struct opts *o = p->r->o;
	struct bscep_req_opts ro;
	char cn[128];
	long i;

	ro.peer = &p->r->peer;
	ro.challenge = o->challenge;
	ro.cipher = strcmp(o->cipher, "3des") == 0 ? EVP_des_ede3_cbc()
	                                           : EVP_aes_128_cbc();
	p->rc = 0;
	for (i = p->t; i < o->n; i += p->nt) {
		/* A name of its own per run and request: a server may refuse
		 * a second certificate for a name it has issued. */
		snprintf(cn, sizeof(cn), "scep-%s-%ld.example.com", p->tag, i);
		if (bscep_req_make(&p->r->items[i].req, &ro, cn) == -1) {
			ERR_print_errors_fp(stderr);
			p->rc = -1;
			break;
		}
	}
	return NULL;
}

/*
 * The first N keys of the PEM file o->keys into the items.  1 loaded,
 * 0 no such file, -1 error (fewer keys, not PEM).
 */
static int
load_keys(struct run *r)
{
	FILE *f;
	long i;
	int rc = -1;

	if ((f = fopen(r->o->keys, "r")) == NULL)
		return errno == ENOENT ? 0 : -1;
	for (i = 0; i < r->o->n; i++) {
		r->items[i].req.key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		if (r->items[i].req.key == NULL ||
		    !EVP_PKEY_is_a(r->items[i].req.key, "RSA")) {
			fprintf(stderr,
			    "bench_scep: %s: %ld RSA keys, want %ld\n",
			    r->o->keys, i, r->o->n);
			goto out;
		}
	}
	rc = 1;
out:
	ERR_clear_error();
	fclose(f);
	return rc;
}

/* Write the N request keys to o->keys, mode 0600.  0 / -1. */
static int
save_keys(struct run *r)
{
	FILE *f = NULL;
	long i;
	int fd, rc = -1;

	if ((fd = open(r->o->keys, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		goto out;
	}
	for (i = 0; i < r->o->n; i++)
		if (!PEM_write_PrivateKey(
		        f, r->items[i].req.key, NULL, NULL, 0, NULL, NULL))
			goto out;
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	if (rc == -1) {
		fprintf(stderr, "bench_scep: cannot write %s\n", r->o->keys);
		/* A short file would fail the next run that reads it. */
		if (fd != -1)
			unlink(r->o->keys);
	}
	return rc;
}

/*
 * Make all N requests on one thread per core (an RSA-2048 key takes
 * 0.1-0.3 s of CPU); items that have a key already keep it.  0 / -1.
 */
static int
prepare(struct run *r)
{
	struct prep p[BENCH_MAX_THREADS];
	unsigned char rnd[4];
	char tag[9];
	long nt, i, started = 0;
	int rc = 0;

	nt = sysconf(_SC_NPROCESSORS_ONLN);
	if (nt < 1)
		nt = 1;
	if (nt > BENCH_MAX_THREADS)
		nt = BENCH_MAX_THREADS;
	if (nt > r->o->n)
		nt = r->o->n;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	snprintf(tag, sizeof(tag), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
	    rnd[3]);
	for (i = 0; i < nt; i++) {
		p[i].r = r;
		p[i].tag = tag;
		p[i].t = i;
		p[i].nt = nt;
		if (pthread_create(&p[i].tid, NULL, prep_main, &p[i]) != 0) {
			rc = -1;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(p[i].tid, NULL);
		if (p[i].rc == -1)
			rc = -1;
	}
	return rc;
}

/* The options every PKIOperation shares; a handle is reused so its
 * connection stays alive.  0 / -1. */
static int
slot_init(struct run *r, struct slot *s)
{
	if ((s->easy = curl_easy_init()) == NULL)
		return -1;
	s->index = -1;
	curl_easy_setopt(s->easy, CURLOPT_URL, r->op_url);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	return 0;
}

/* Point slot `s` at the next item and add it to the multi.  0 / -1. */
static int
slot_start(struct run *r, CURLM *multi, struct slot *s)
{
	struct item *it = &r->items[r->next];

	s->index = r->next++;
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, it->req.der);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)it->req.len);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, it);
	s->start = bstat_now();
	return curl_multi_add_handle(multi, s->easy) == CURLM_OK ? 0 : -1;
}

/* Keep what the transfer that just ended on `s` brought; the checks
 * wait until the clock has stopped. */
static void
slot_done(struct run *r, struct slot *s, CURLcode result)
{
	struct item *it = &r->items[s->index];

	it->lat_ms = (bstat_now() - s->start) * 1000.0;
	it->result = result;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &it->status);
	keep_ctype(s->easy, it);
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

/* Run the C slots until all N transfers ended.  0 / -1. */
static int
pump(struct run *r, CURLM *multi, struct slot *slots)
{
	const struct opts *o = r->o;
	CURLMsg *msg;
	struct slot *s;
	int running = 0, left;
	long done = 0;

	while (done < o->n) {
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			return -1;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			s = slot_of(slots, o->c, msg->easy_handle);
			curl_multi_remove_handle(multi, msg->easy_handle);
			if (s == NULL)
				return -1;
			slot_done(r, s, msg->data.result);
			done++;
			if (r->next < o->n && slot_start(r, multi, s) == -1)
				return -1;
		}
		/* Read completions before waiting, or an idle c=1 run would
		 * sleep the whole poll timeout after every reply. */
		if (done < o->n &&
		    curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			return -1;
	}
	return 0;
}

/*
 * The timed part: all N PKIOperations over C connections.  Returns the
 * elapsed seconds, or -1 on a local error.
 */
static double
drive(struct run *r)
{
	const struct opts *o = r->o;
	struct slot *slots = NULL;
	CURLM *multi = NULL;
	double t0, elapsed = -1;
	long i;

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
	if (pump(r, multi, slots) == -1)
		goto out;
	elapsed = bstat_now() - t0;
out:
	for (i = 0; slots != NULL && i < o->c; i++) {
		if (slots[i].easy != NULL && slots[i].index != -1)
			curl_multi_remove_handle(multi, slots[i].easy);
		curl_easy_cleanup(slots[i].easy);
	}
	free(slots);
	curl_multi_cleanup(multi);
	return elapsed;
}

/* Check item `it` as a client would.  0 / -1 with the reason in why. */
static int
check_item(struct run *r, struct item *it, char *why, size_t whysz)
{
	if (it->result != CURLE_OK) {
		snprintf(why, whysz, "%s%s", curl_easy_strerror(it->result),
		    it->overflow ? " (reply too large)" : "");
		return -1;
	}
	if (it->status != 200) {
		snprintf(why, whysz, "HTTP %ld: %.*s", it->status,
		    (int)(it->len < 120 ? it->len : 120),
		    it->body != NULL ? (char *)it->body : "");
		return -1;
	}
	if (strcmp(it->ctype, "application/x-pki-message") != 0) {
		snprintf(why, whysz, "Content-Type \"%s\"", it->ctype);
		return -1;
	}
	return bscep_rep_check(
	    &it->req, &r->peer, it->body, it->len, why, whysz);
}

/* Check every reply; successful latencies go to lat[], their count is
 * returned.  The first few failures are printed to stderr. */
static long
check_all(struct run *r, double *lat)
{
	char why[512];
	long i, ok = 0, failed = 0;

	for (i = 0; i < r->o->n; i++) {
		if (check_item(r, &r->items[i], why, sizeof(why)) == 0) {
			lat[ok++] = r->items[i].lat_ms;
			continue;
		}
		if (failed++ < BENCH_SHOW_ERRORS)
			fprintf(stderr, "bench_scep %s: request %ld: %s\n",
			    r->o->label, i, why);
	}
	return ok;
}

/* Set up the request URL, headers and items of r.  0 / -1. */
static int
run_init(struct run *r, const struct opts *o)
{
	size_t ulen = strlen(o->url) + sizeof("?operation=PKIOperation");

	memset(r, 0, sizeof(*r));
	r->o = o;
	if ((r->items = calloc((size_t)o->n, sizeof(*r->items))) == NULL ||
	    (r->op_url = malloc(ulen)) == NULL)
		return -1;
	snprintf(r->op_url, ulen, "%s?operation=PKIOperation", o->url);
	/* No "Expect: 100-continue": a pkiMessage is over curl's 1 kB
	 * threshold, and waiting for a 100 costs a round trip or a
	 * second. */
	if ((r->headers = curl_slist_append(
	         NULL, "Content-Type: application/x-pki-message")) == NULL ||
	    curl_slist_append(r->headers, "Expect:") == NULL)
		return -1;
	return 0;
}

static void
run_clear(struct run *r)
{
	long i;

	for (i = 0; r->items != NULL && i < r->o->n; i++) {
		bscep_req_clear(&r->items[i].req);
		free(r->items[i].body);
	}
	free(r->items);
	free(r->op_url);
	curl_slist_free_all(r->headers);
	bscep_peer_clear(&r->peer);
}

/* Exit status: 0 all enrolled, 1 some failed or a local error. */
static int
run_all(const struct opts *o)
{
	struct run r;
	double *lat = NULL, el, t0;
	long ok;
	int rc = 1, loaded = 0;

	if (run_init(&r, o) == -1 ||
	    (lat = calloc((size_t)o->n, sizeof(*lat))) == NULL ||
	    get_ca_cert(&r) == -1)
		goto out;
	t0 = bstat_now();
	if (o->keys != NULL && (loaded = load_keys(&r)) == -1)
		goto out;
	if (prepare(&r) == -1) {
		fprintf(stderr, "bench_scep: cannot make the requests\n");
		goto out;
	}
	if (o->keys != NULL && !loaded && save_keys(&r) == -1)
		goto out;
	fprintf(stderr,
	    "bench_scep %s: %ld requests made in %.1f s (keys %s)\n", o->label,
	    o->n, bstat_now() - t0, loaded ? "read" : "made");
	if ((el = drive(&r)) < 0) {
		fprintf(stderr, "bench_scep: driver error\n");
		goto out;
	}
	ok = check_all(&r, lat);
	bstat_sort(lat, ok);
	printf("scep enroll %s c=%ld n=%ld: %.1f enroll/s p50=%.1f ms "
	       "p99=%.1f ms failed=%ld\n",
	    o->label, o->c, o->n, ok / el, bstat_percentile(lat, ok, 50),
	    bstat_percentile(lat, ok, 99), o->n - ok);
	fflush(stdout);
	rc = ok == o->n ? 0 : 1;
out:
	free(lat);
	run_clear(&r);
	return rc;
}

int
main(int argc, char **argv)
{
	OSSL_PROVIDER *def, *legacy;
	struct opts o;
	int rc;

	parse_opts(argc, argv, &o);
	/*
	 * Some servers (scepserver) encrypt their replies with single DES,
	 * which OpenSSL 3 keeps in the legacy provider.  Loading a provider
	 * disables the implicit default one, so load both.
	 */
	def = OSSL_PROVIDER_load(NULL, "default");
	legacy = OSSL_PROVIDER_load(NULL, "legacy");
	if (def == NULL || legacy == NULL) {
		fprintf(stderr,
		    "bench_scep: warning: no legacy provider, "
		    "DES replies will fail\n");
		ERR_clear_error();
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = run_all(&o);
	curl_global_cleanup();
	if (legacy != NULL)
		OSSL_PROVIDER_unload(legacy);
	if (def != NULL)
		OSSL_PROVIDER_unload(def);
	return rc;
}
