/*
 * A scriptable fake ACME upstream (RFC 8555) for the unit tests of the
 * upstream engine (backends/acme/upacme*.c), and the few helpers that
 * drive one order against it.  Included by each test program that needs
 * it, so everything here is static (include it once, after cmocka.h).
 *
 * It serves https://127.0.0.1:<port> (evhttp over TLS; a throw-away CA,
 * written to fake.ca for the engine's ca_bundle) and by default issues:
 * directory, newNonce, newAccount, newOrder (one pending http-01
 * authorization), the challenge, the order, finalize (a leaf for the
 * CSR's key, signed by the fake CA) and the certificate.  A test scripts
 * the next answers of any endpoint (status, headers, body, delay) with
 * fake_script() and reads what arrived in fake.hits and fake.n_bad.
 */
#ifndef ENROLLD_TEST_FAKE_ACME_H
#define ENROLLD_TEST_FAKE_ACME_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "backends/acme/upacme.h"
#include "core/encoding.h"
#include "tests/unit/cert_fixture.h"

#define FAKE_ERR "urn:ietf:params:acme:error:"
#define FAKE_WAIT_S 15      /* bound on one order against the fake */
#define FAKE_MAX_REQ 65536  /* request body the fake reads */
#define FAKE_MAX_STEPS 8    /* scripted answers per endpoint */
#define FAKE_MAX_HITS 32    /* requests recorded per endpoint */
#define FAKE_MAX_NONCE 4096 /* nonces told apart */
#define FAKE_TOKEN "tok_1"

enum fake_ep {
	FAKE_DIR,
	FAKE_NONCE,
	FAKE_ACCOUNT,
	FAKE_NEW_ORDER,
	FAKE_ORDER,
	FAKE_AUTHZ,
	FAKE_CHALL,
	FAKE_FINALIZE,
	FAKE_CERT,
	FAKE_N_EP
};

/*
 * One scripted answer.  With `status` the answer is this one alone (no
 * side effect of the endpoint); without, the usual answer, changed by
 * the other members.  In `body`, "$B" stands for the base URL.
 */
struct fake_step {
	int status;
	const char *type;    /* Content-Type; NULL: problem+json with body */
	const char *body;    /* NULL: none */
	const char *headers; /* extra "Name: value" lines, '\n' apart */
	size_t pad;          /* a JSON body of this many bytes instead */
	long delay_ms;       /* answer this late; -1: never */
	int no_location;     /* leave the usual Location out */
	int again;           /* this answer stays for every later request */
};

/* One request as it arrived. */
struct fake_hit {
	double at;               /* fake_now() */
	unsigned long nonce_in;  /* the JWS's nonce, 0 when none */
	unsigned long nonce_out; /* the Replay-Nonce answered, 0 when none */
};

/* One answer being made: body and loc are owned. */
struct fake_ans {
	int code;
	const char *type, *headers;
	char *body, *loc;
	size_t len;
	struct fake_hit *hit; /* learns the nonce sent */
};

/* A delayed answer, dropped if its connection goes first. */
struct fake_pending {
	struct fake_pending *next;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct event *ev;
	struct fake_ans a;
};

static struct {
	char dir[64], ca[96], base_url[64];
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *tls;
	EVP_PKEY *acct, *ca_key;
	X509 *ca_cert;
	struct fake_pending *pending;

	/* Per test (fake_reset). */
	int ari; /* the directory lists renewalInfo */
	struct fake_step steps[FAKE_N_EP][FAKE_MAX_STEPS];
	size_t n_steps[FAKE_N_EP], next_step[FAKE_N_EP];
	struct fake_hit hits[FAKE_N_EP][FAKE_MAX_HITS];
	size_t n_hits[FAKE_N_EP];
	json_t *payload[FAKE_N_EP], *prot[FAKE_N_EP]; /* of the last JWS */
	int n_bad;       /* requests the fake found wrong */
	int posted;      /* the challenge was answered */
	char *chain_pem; /* issued at finalize */
	char ident[256]; /* newOrder's first identifier */

	/* Across tests: nonces are never reused by a good client. */
	unsigned long nonce;
	unsigned char used[FAKE_MAX_NONCE];
} fake;

static double
fake_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- certificates ----------------------------------------------------- */

/*
 * A certificate for `key` named `cn` with serial `serial` (hex), signed
 * by `ikey` as `issuer` (self-signed CA when issuer is NULL).  `aki`:
 * give an issued certificate an authorityKeyIdentifier.  Caller frees.
 */
static X509 *
fake_make_cert(EVP_PKEY *key, const char *cn, const char *serial, X509 *issuer,
    EVP_PKEY *ikey, int aki)
{
	X509 *x = X509_new();
	BIGNUM *bn = NULL;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_true(BN_hex2bn(&bn, serial) > 0);
	assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
	BN_free(bn);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	        MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
	    1);
	assert_int_equal(
	    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)),
	    1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	if (issuer == NULL) {
		fixture_add_ext(
		    x, x, NID_basic_constraints, "critical,CA:TRUE");
		fixture_add_ext(
		    x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
		fixture_add_ext(x, x, NID_subject_key_identifier, "hash");
	} else {
		fixture_add_ext(x, issuer, NID_subject_alt_name,
		    "IP:127.0.0.1,DNS:localhost");
		if (aki)
			fixture_add_ext(x, issuer, NID_authority_key_identifier,
			    "keyid:always");
	}
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
	return x;
}

/* `x` as PEM appended to `s` (malloc'd or NULL).  Caller frees. */
static char *
fake_pem_cat(char *s, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	size_t have = s != NULL ? strlen(s) : 0;
	char *data, *ret;
	long n;

	assert_non_null(b);
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &data);
	assert_true(n > 0);
	assert_non_null(ret = realloc(s, have + (size_t)n + 1));
	memcpy(ret + have, data, (size_t)n);
	ret[have + (size_t)n] = '\0';
	BIO_free(b);
	return ret;
}

/* The fake's TLS: a throw-away CA (kept for issuing, its PEM in fake.ca
 * for the engine) and a 127.0.0.1 certificate.  0 / -1. */
static int
fake_make_tls(void)
{
	EVP_PKEY *srvk;
	X509 *srv;
	char *pem;
	FILE *f;
	int rc = -1;

	fake.ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	srvk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(fake.ca_key);
	assert_non_null(srvk);
	fake.ca_cert =
	    fake_make_cert(fake.ca_key, "fake ACME CA", "01", NULL, NULL, 0);
	srv = fake_make_cert(
	    srvk, "127.0.0.1", "02", fake.ca_cert, fake.ca_key, 1);
	pem = fake_pem_cat(NULL, fake.ca_cert);
	assert_non_null(f = fopen(fake.ca, "w"));
	assert_int_equal(fputs(pem, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(pem);
	if ((fake.tls = SSL_CTX_new(TLS_server_method())) != NULL &&
	    SSL_CTX_use_certificate(fake.tls, srv) == 1 &&
	    SSL_CTX_use_PrivateKey(fake.tls, srvk) == 1)
		rc = 0;
	X509_free(srv);
	EVP_PKEY_free(srvk);
	return rc;
}

/* ---- answers ---------------------------------------------------------- */

/* `s` with every "$B" replaced by the base URL.  Caller frees. */
static char *
fake_expand(const char *s)
{
	size_t n = 0, bl = strlen(fake.base_url);
	const char *p;
	char *ret, *q;

	for (p = s; *p != '\0'; p++)
		n += (p[0] == '$' && p[1] == 'B') ? bl : 1;
	assert_non_null(ret = malloc(n + 1));
	for (p = s, q = ret; *p != '\0'; p++)
		if (p[0] == '$' && p[1] == 'B') {
			memcpy(q, fake.base_url, bl);
			q += bl;
			p++;
		} else
			*q++ = *p;
	*q = '\0';
	return ret;
}

/* Send `a` (its body and loc freed) with a fresh Replay-Nonce (RFC 8555
 * §6.5). */
static void
fake_send(struct evhttp_request *req, struct fake_ans *a)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	char nonce[32], line[256], *colon;
	const char *p, *e;

	assert_non_null(out);
	snprintf(nonce, sizeof(nonce), "bm9uY2U%lu", ++fake.nonce);
	a->hit->nonce_out = fake.nonce;
	evhttp_add_header(h, "Replay-Nonce", nonce);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (a->loc != NULL)
		evhttp_add_header(h, "Location", a->loc);
	for (p = a->headers; p != NULL && *p != '\0'; p = *e ? e + 1 : e) {
		e = p + strcspn(p, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)(e - p), p);
		assert_non_null(colon = strchr(line, ':'));
		*colon = '\0';
		evhttp_add_header(h, line, colon + 1 + strspn(colon + 1, " "));
	}
	if (a->body != NULL) {
		evhttp_add_header(h, "Content-Type",
		    a->type != NULL ? a->type : "application/problem+json");
		assert_int_equal(evbuffer_add(out, a->body, a->len), 0);
	}
	evhttp_send_reply(req, a->code, "fake", out);
	evbuffer_free(out);
	free(a->body);
	free(a->loc);
	a->body = a->loc = NULL;
}

static void
fake_pending_free(struct fake_pending *p)
{
	struct fake_pending **pp;

	for (pp = &fake.pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	event_free(p->ev);
	free(p->a.body);
	free(p->a.loc);
	free(p);
}

static void
fake_on_delay(evutil_socket_t fd, short what, void *arg)
{
	struct fake_pending *p = arg;

	fake_send(p->req, &p->a);
	fake_pending_free(p);
}

/* A connection went away: its delayed answer has nobody to go to. */
static void
fake_on_close(struct evhttp_connection *evcon, void *arg)
{
	struct fake_pending *p, *next;

	for (p = fake.pending; p != NULL; p = next) {
		next = p->next;
		if (p->evcon == evcon)
			fake_pending_free(p);
	}
}

/* Send `a` (taken) after `ms`. */
static void
fake_defer(struct evhttp_request *req, struct fake_ans *a, long ms)
{
	struct fake_pending *p = calloc(1, sizeof(*p));
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	assert_non_null(p);
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	p->a = *a;
	a->body = a->loc = NULL;
	assert_non_null(p->ev = evtimer_new(fake.base, fake_on_delay, p));
	assert_int_equal(evtimer_add(p->ev, &tv), 0);
	evhttp_connection_set_closecb(p->evcon, fake_on_close, NULL);
	p->next = fake.pending;
	fake.pending = p;
}

/* ---- the endpoints' usual answers ------------------------------------- */

static void
fake_json(struct fake_ans *a, int code, json_t *j, const char *loc)
{
	assert_non_null(j);
	a->code = code;
	a->type = "application/json";
	assert_non_null(a->body = json_dumps(j, JSON_COMPACT));
	a->loc = loc != NULL ? fake_expand(loc) : NULL;
	json_decref(j);
}

static json_t *
fake_directory(void)
{
	json_t *d;

	d = json_pack("{s:s, s:s, s:s, s:s, s:s}", "newNonce", "$B/nonce",
	    "newAccount", "$B/account", "newOrder", "$B/order", "revokeCert",
	    "$B/revoke", "keyChange", "$B/key-change");
	assert_non_null(d);
	if (fake.ari)
		assert_int_equal(json_object_set_new(
		                     d, "renewalInfo", json_string("$B/ari")),
		    0);
	return d;
}

/* The order object (RFC 8555 §7.1.3) as it stands. */
static json_t *
fake_order_obj(void)
{
	const char *st = fake.chain_pem != NULL ? "valid"
	    : fake.posted                       ? "ready"
	                                        : "pending";
	json_t *o;

	o = json_pack("{s:s, s:[s], s:s}", "status", st, "authorizations",
	    "$B/authz/1", "finalize", "$B/finalize/1");
	assert_non_null(o);
	if (fake.chain_pem != NULL)
		assert_int_equal(json_object_set_new(o, "certificate",
		                     json_string("$B/cert/1")),
		    0);
	return o;
}

/* finalize: a leaf for the CSR's key, signed by the fake CA. */
static void
fake_issue(void)
{
	const char *csr = json_string_value(
	    json_object_get(fake.payload[FAKE_FINALIZE], "csr"));
	const unsigned char *p;
	unsigned char *der;
	X509_REQ *req;
	EVP_PKEY *key;
	X509 *leaf;
	size_t len;

	assert_non_null(csr);
	assert_non_null(der = encoding_b64url_decode(csr, strlen(csr), &len));
	p = der;
	assert_non_null(req = d2i_X509_REQ(NULL, &p, (long)len));
	assert_non_null(key = X509_REQ_get_pubkey(req));
	leaf = fake_make_cert(key, "leaf", "0A", fake.ca_cert, fake.ca_key, 1);
	free(fake.chain_pem);
	fake.chain_pem = fake_pem_cat(fake_pem_cat(NULL, leaf), fake.ca_cert);
	X509_free(leaf);
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	free(der);
}

static void
fake_usual(enum fake_ep ep, struct fake_ans *a)
{
	const char *v;

	switch (ep) {
	case FAKE_DIR:
		fake_json(a, 200, fake_directory(), NULL);
		break;
	case FAKE_NONCE:
		a->code = 200;
		break;
	case FAKE_ACCOUNT:
		fake_json(
		    a, 201, json_pack("{s:s}", "status", "valid"), "$B/acct/1");
		break;
	case FAKE_NEW_ORDER:
		v = json_string_value(json_object_get(
		    json_array_get(
		        json_object_get(fake.payload[ep], "identifiers"), 0),
		    "value"));
		snprintf(fake.ident, sizeof(fake.ident), "%s",
		    v != NULL ? v : "a.example.com");
		fake_json(a, 201, fake_order_obj(), "$B/order/1");
		break;
	case FAKE_ORDER:
		fake_json(a, 200, fake_order_obj(), NULL);
		break;
	case FAKE_AUTHZ:
		fake_json(a, 200,
		    json_pack("{s:s, s:{s:s, s:s}, s:[{s:s, s:s, s:s, s:s}]}",
		        "status", fake.posted ? "valid" : "pending",
		        "identifier", "type", "dns", "value", fake.ident,
		        "challenges", "type", "http-01", "url", "$B/chall/1",
		        "token", FAKE_TOKEN, "status",
		        fake.posted ? "valid" : "pending"),
		    NULL);
		break;
	case FAKE_CHALL:
		fake.posted = 1;
		fake_json(a, 200,
		    json_pack("{s:s, s:s, s:s, s:s}", "type", "http-01", "url",
		        "$B/chall/1", "token", FAKE_TOKEN, "status",
		        "processing"),
		    NULL);
		break;
	case FAKE_FINALIZE:
		fake_issue();
		fake_json(a, 200, fake_order_obj(), NULL);
		break;
	case FAKE_CERT:
		a->code = fake.chain_pem != NULL ? 200 : 404;
		a->type = "application/pem-certificate-chain";
		if (fake.chain_pem != NULL)
			assert_non_null(a->body = strdup(fake.chain_pem));
		break;
	default:
		fail();
	}
	/* The usual JSON bodies name URLs as "$B/...". */
	if (a->body != NULL && strstr(a->body, "$B") != NULL) {
		char *x = fake_expand(a->body);

		free(a->body);
		a->body = x;
	}
}

/* ---- requests --------------------------------------------------------- */

static const struct {
	const char *path;
	enum fake_ep ep;
} fake_routes[] = {
    {"/dir", FAKE_DIR},
    {"/nonce", FAKE_NONCE},
    {"/account", FAKE_ACCOUNT},
    {"/order", FAKE_NEW_ORDER},
    {"/order/1", FAKE_ORDER},
    {"/authz/1", FAKE_AUTHZ},
    {"/chall/1", FAKE_CHALL},
    {"/finalize/1", FAKE_FINALIZE},
    {"/cert/1", FAKE_CERT},
};

/* One base64url member of the flattened JWS `jws` (RFC 7515 §7.2.2),
 * decoded and parsed as JSON.  NULL when absent or not JSON. */
static json_t *
fake_jws_part(json_t *jws, const char *name)
{
	const char *v = json_string_value(json_object_get(jws, name));
	unsigned char *raw;
	size_t len;
	json_t *j;

	if (v == NULL ||
	    (raw = encoding_b64url_decode(v, strlen(v), &len)) == NULL)
		return NULL;
	j = json_loadb((const char *)raw, len, 0, NULL);
	free(raw);
	return j;
}

/*
 * A POSTed JWS to endpoint `ep` at `path`: keep its payload and
 * protected header; count it bad unless it names this URL, is signed
 * with the JWK for newAccount and the account's kid otherwise (RFC 8555
 * §6.2), and carries a nonce handed out and not yet used (§6.5).
 */
static void
fake_jws_check(struct evhttp_request *req, enum fake_ep ep, const char *path,
    struct fake_hit *hit)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *kid, *nonce, *url;
	char want[128];
	unsigned char *p;
	json_t *jws = NULL;
	unsigned long n = 0;

	json_decref(fake.payload[ep]);
	json_decref(fake.prot[ep]);
	fake.payload[ep] = fake.prot[ep] = NULL;
	if (len > 0 && (p = evbuffer_pullup(in, (ev_ssize_t)len)) != NULL)
		jws = json_loadb((const char *)p, len, 0, NULL);
	fake.payload[ep] = fake_jws_part(jws, "payload");
	fake.prot[ep] = fake_jws_part(jws, "protected");
	json_decref(jws);
	kid = json_string_value(json_object_get(fake.prot[ep], "kid"));
	nonce = json_string_value(json_object_get(fake.prot[ep], "nonce"));
	url = json_string_value(json_object_get(fake.prot[ep], "url"));
	snprintf(want, sizeof(want), "%s%s", fake.base_url, path);
	if (nonce != NULL && strncmp(nonce, "bm9uY2U", 7) == 0)
		n = strtoul(nonce + 7, NULL, 10);
	hit->nonce_in = n;
	if (n == 0 || n > fake.nonce || n >= FAKE_MAX_NONCE || fake.used[n] ||
	    url == NULL || strcmp(url, want) != 0)
		fake.n_bad++;
	else
		fake.used[n] = 1;
	snprintf(want, sizeof(want), "%s/acct/1", fake.base_url);
	if (ep == FAKE_ACCOUNT
	        ? (json_object_get(fake.prot[ep], "jwk") == NULL || kid != NULL)
	        : (kid == NULL || strcmp(kid, want) != 0 ||
	              json_object_get(fake.prot[ep], "jwk") != NULL))
		fake.n_bad++;
}

/* The next scripted answer of `ep`, or NULL. */
static const struct fake_step *
fake_next_step(enum fake_ep ep)
{
	size_t i = fake.next_step[ep];

	if (i >= fake.n_steps[ep])
		return NULL;
	if (!fake.steps[ep][i].again)
		fake.next_step[ep]++;
	return &fake.steps[ep][i];
}

/* Answer a request to `ep`: the script's next step, or the usual. */
static void
fake_answer(struct evhttp_request *req, enum fake_ep ep, struct fake_hit *hit)
{
	const struct fake_step *s = fake_next_step(ep);
	struct fake_ans a;

	memset(&a, 0, sizeof(a));
	a.hit = hit;
	if (s != NULL && s->status != 0) {
		a.code = s->status;
		a.type = s->type;
		a.body = s->body != NULL ? fake_expand(s->body) : NULL;
	} else
		fake_usual(ep, &a);
	a.len = a.body != NULL ? strlen(a.body) : 0;
	if (s == NULL) {
		fake_send(req, &a);
		return;
	}
	a.headers = s->headers;
	if (s->pad > 0) {
		free(a.body);
		assert_non_null(a.body = malloc(s->pad));
		memset(a.body, ' ', s->pad);
		a.body[0] = '[';
		a.body[s->pad - 1] = ']';
		a.len = s->pad;
		a.type = "application/json";
	}
	if (s->no_location) {
		free(a.loc);
		a.loc = NULL;
	}
	if (s->delay_ms < 0) {
		free(a.body); /* never answered: evhttp frees req on close */
		free(a.loc);
	} else if (s->delay_ms > 0)
		fake_defer(req, &a, s->delay_ms);
	else
		fake_send(req, &a);
}

static void
fake_on_request(struct evhttp_request *req, void *arg)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct fake_hit dummy, *hit = &dummy;
	const char *path;
	size_t i;
	enum fake_ep ep;

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	for (i = 0;
	     path != NULL && i < sizeof(fake_routes) / sizeof(fake_routes[0]);
	     i++)
		if (strcmp(path, fake_routes[i].path) == 0)
			break;
	if (path == NULL || i == sizeof(fake_routes) / sizeof(fake_routes[0]) ||
	    (fake_routes[i].ep == FAKE_DIR) != (cmd == EVHTTP_REQ_GET) ||
	    (fake_routes[i].ep == FAKE_NONCE) != (cmd == EVHTTP_REQ_HEAD)) {
		fake.n_bad++;
		evhttp_send_error(req, 404, NULL);
		return;
	}
	ep = fake_routes[i].ep;
	memset(&dummy, 0, sizeof(dummy));
	if (fake.n_hits[ep] < FAKE_MAX_HITS)
		hit = &fake.hits[ep][fake.n_hits[ep]];
	fake.n_hits[ep]++;
	hit->at = fake_now();
	if (cmd == EVHTTP_REQ_POST)
		fake_jws_check(req, ep, path, hit);
	fake_answer(req, ep, hit);
}

static struct bufferevent *
fake_tls_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(fake.tls)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* ---- set-up ----------------------------------------------------------- */

/* Forget the script and what arrived, for the next test. */
static void
fake_reset(void)
{
	size_t i;

	for (i = 0; i < FAKE_N_EP; i++) {
		json_decref(fake.payload[i]);
		json_decref(fake.prot[i]);
		fake.payload[i] = fake.prot[i] = NULL;
	}
	memset(fake.steps, 0, sizeof(fake.steps));
	memset(fake.n_steps, 0, sizeof(fake.n_steps));
	memset(fake.next_step, 0, sizeof(fake.next_step));
	memset(fake.hits, 0, sizeof(fake.hits));
	memset(fake.n_hits, 0, sizeof(fake.n_hits));
	free(fake.chain_pem);
	fake.chain_pem = NULL;
	fake.ari = fake.n_bad = fake.posted = 0;
	fake.ident[0] = '\0';
}

/* The next `n` answers of `ep` (the steps are copied). */
static void
fake_script(enum fake_ep ep, const struct fake_step *steps, size_t n)
{
	assert_true(fake.n_steps[ep] + n <= FAKE_MAX_STEPS);
	memcpy(&fake.steps[ep][fake.n_steps[ep]], steps, n * sizeof(*steps));
	fake.n_steps[ep] += n;
}

/* group_setup: the fake on 127.0.0.1, its files under /tmp/`name`.XXXXXX;
 * also fake.acct, an account key.  0 / -1. */
static int
fake_setup(const char *name)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	signal(SIGPIPE, SIG_IGN);
	snprintf(fake.dir, sizeof(fake.dir), "/tmp/%s.XXXXXX", name);
	if (mkdtemp(fake.dir) == NULL)
		return -1;
	snprintf(fake.ca, sizeof(fake.ca), "%s/ca.pem", fake.dir);
	if (fake_make_tls() == -1 || (fake.base = event_base_new()) == NULL ||
	    (fake.http = evhttp_new(fake.base)) == NULL ||
	    (bs = evhttp_bind_socket_with_handle(fake.http, "127.0.0.1", 0)) ==
	        NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa,
	        &len) != 0 ||
	    (fake.acct = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		return -1;
	snprintf(fake.base_url, sizeof(fake.base_url), "https://127.0.0.1:%u",
	    (unsigned)ntohs(sa.sin_port));
	evhttp_set_bevcb(fake.http, fake_tls_bev, NULL);
	evhttp_set_max_body_size(fake.http, FAKE_MAX_REQ);
	evhttp_set_allowed_methods(
	    fake.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(fake.http, fake_on_request, NULL);
	return 0;
}

static int
fake_teardown(void)
{
	while (fake.pending != NULL)
		fake_pending_free(fake.pending);
	if (fake.http != NULL)
		evhttp_free(fake.http);
	if (fake.base != NULL)
		event_base_free(fake.base);
	SSL_CTX_free(fake.tls);
	EVP_PKEY_free(fake.acct);
	EVP_PKEY_free(fake.ca_key);
	X509_free(fake.ca_cert);
	fake_reset();
	if (fake.ca[0] != '\0')
		unlink(fake.ca);
	if (fake.dir[0] != '\0')
		rmdir(fake.dir);
	return 0;
}

/* ---- driving the engine ----------------------------------------------- */

/* One order as the test sees it. */
struct fake_tc {
	int done, persists, publishes, unpublishes;
	enum upacme_outcome outcome;
	char *problem, *detail;
	int n_chain;
	double started, ended;
};

static void
fake_on_persist(
    void *order_arg, const char *state, upacme_cont_fn *cont, void *cont_arg)
{
	((struct fake_tc *)order_arg)->persists++;
	cont(cont_arg, 0);
}

/* The fake's http-01 challenge: name is its token (RFC 8555 §8.3). */
static void
fake_on_publish(void *order_arg, const char *type, const char *name,
    const char *value, upacme_cont_fn *cont, void *cont_arg)
{
	assert_string_equal(type, "http-01");
	assert_string_equal(name, FAKE_TOKEN);
	assert_int_equal(strncmp(value, FAKE_TOKEN ".", 6), 0);
	((struct fake_tc *)order_arg)->publishes++;
	cont(cont_arg, 0);
}

static void
fake_on_unpublish(void *order_arg, const char *type, const char *name,
    const char *value, upacme_cont_fn *cont, void *cont_arg)
{
	((struct fake_tc *)order_arg)->unpublishes++;
	cont(cont_arg, 0);
}

static const struct upacme_hooks fake_hooks = {
    .persist = fake_on_persist,
    .publish = fake_on_publish,
    .unpublish = fake_on_unpublish,
};

static void
fake_on_done(void *order_arg, enum upacme_outcome outcome, const char *problem,
    const char *detail, STACK_OF(X509) *chain)
{
	struct fake_tc *t = order_arg;

	t->done++;
	t->ended = fake_now();
	t->outcome = outcome;
	free(t->problem);
	free(t->detail);
	t->problem = problem != NULL ? strdup(problem) : NULL;
	t->detail = detail != NULL ? strdup(detail) : NULL;
	t->n_chain = chain != NULL ? sk_X509_num(chain) : 0;
	sk_X509_pop_free(chain, X509_free);
	event_base_loopbreak(fake.base);
}

static void
fake_on_guard(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
	event_base_loopbreak(fake.base);
}

/* An engine on the fake's loop for `dir_url` (NULL: the fake's). */
static struct upacme *
fake_engine(const char *dir_url, int order_timeout, int request_timeout)
{
	struct upacme_conf conf;
	char url[96];
	struct upacme *u;

	snprintf(url, sizeof(url), "%s/dir", fake.base_url);
	memset(&conf, 0, sizeof(conf));
	conf.directory_url = dir_url != NULL ? dir_url : url;
	conf.ca_bundle = fake.ca;
	conf.account_key = fake.acct;
	conf.challenge = "http-01";
	conf.order_timeout = order_timeout;
	conf.request_timeout = request_timeout;
	assert_non_null(u = upacme_new(fake.base, &conf, &fake_hooks));
	return u;
}

/* A DER CSR of a fresh key for DNS:`name`.  Caller frees. */
static unsigned char *
fake_make_csr(const char *name, size_t *len)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL, *ret;
	int dlen;

	assert_non_null(key);
	assert_non_null(req);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_int_equal(
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	        MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0),
	    1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	assert_true((dlen = i2d_X509_REQ(req, &der)) > 0);
	assert_non_null(ret = malloc((size_t)dlen));
	memcpy(ret, der, (size_t)dlen);
	*len = (size_t)dlen;
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return ret;
}

/* Run `spec` (csr_der NULL: a fresh CSR for its first DNS name) on `u`
 * until done, at most FAKE_WAIT_S; then free `u`. */
static void
fake_run(struct upacme *u, struct upacme_order_spec *spec, struct fake_tc *t)
{
	struct timeval tv = {FAKE_WAIT_S, 0};
	struct event *guard;
	unsigned char *csr = NULL;
	int expired = 0;

	memset(t, 0, sizeof(*t));
	if (spec->csr_der == NULL) {
		csr = fake_make_csr(spec->dns[0], &spec->csr_len);
		spec->csr_der = csr;
	}
	t->started = fake_now();
	assert_non_null(upacme_order_start(u, spec, fake_on_done, t));
	free(csr);
	spec->csr_der = NULL;
	assert_non_null(
	    guard = evtimer_new(fake.base, fake_on_guard, &expired));
	assert_int_equal(evtimer_add(guard, &tv), 0);
	while (t->done == 0 && !expired)
		assert_int_not_equal(event_base_dispatch(fake.base), -1);
	event_free(guard);
	upacme_free(u);
	assert_false(expired);
	assert_int_equal(t->done, 1);
}

static void
fake_tc_free(struct fake_tc *t)
{
	free(t->problem);
	free(t->detail);
	t->problem = t->detail = NULL;
}

#endif
