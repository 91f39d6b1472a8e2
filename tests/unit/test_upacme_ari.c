/*
 * ACME Renewal Information (RFC 9773) in the upstream engine
 * (backends/acme/upacme*.c): the certificate id of §4.1 and `replaces`
 * in newOrder (§5), sent only when the directory lists renewalInfo.
 * Pebble has no ARI, so the upstream here is a small fake on
 * 127.0.0.1 (evhttp over TLS, the engine wanting https): directory,
 * newNonce, newAccount, and a newOrder that keeps the JWS payload and
 * refuses with rejectedIdentifier so that the order ends at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
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

#define ERR "urn:ietf:params:acme:error:"
#define WAIT_S 15 /* bound on one order against the fake */
#define MAX_BODY 65536

/* The fake upstream and what it saw. */
static struct {
	char dir[64], ca[96], base_url[64];
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *tls;
	EVP_PKEY *acct;
	int ari;             /* the directory lists renewalInfo */
	unsigned long nonce; /* the last nonce handed out */
	int n_accounts, n_orders, n_bad;
	json_t *order_payload;   /* the last newOrder's JWS payload */
	json_t *order_protected; /* and its protected header */
} g;

/* One order as the test sees it. */
struct tc {
	int done, hooks;
	enum upacme_outcome outcome;
	char *problem;
};

/* ---- certificates ----------------------------------------------------- */

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/*
 * A certificate for `key` named `cn` with serial `serial` (hex), signed
 * by `ikey` as `issuer` (self-signed CA when issuer is NULL).  `aki`:
 * give an issued certificate an authorityKeyIdentifier.  Caller frees.
 */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *serial, X509 *issuer,
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
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
		add_ext(x, x, NID_subject_key_identifier, "hash");
	} else {
		add_ext(x, issuer, NID_subject_alt_name,
		    "IP:127.0.0.1,DNS:localhost");
		if (aki)
			add_ext(x, issuer, NID_authority_key_identifier,
			    "keyid:always");
	}
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
	return x;
}

/* A self-signed certificate with serial `serial` (hex) and an AKI of
 * exactly `keyid` (NULL: an AKI naming only issuer and serial).  Caller
 * frees. */
static X509 *
make_aki_cert(const unsigned char *keyid, size_t len, const char *serial)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	GENERAL_NAME *gn;
	X509_NAME *name;
	X509 *x;

	assert_non_null(key);
	assert_non_null(akid);
	x = make_cert(key, "ari", serial, NULL, NULL, 0);
	if (keyid != NULL) {
		assert_non_null(akid->keyid = ASN1_OCTET_STRING_new());
		assert_int_equal(
		    ASN1_OCTET_STRING_set(akid->keyid, keyid, (int)len), 1);
	} else {
		assert_non_null(akid->issuer = GENERAL_NAMES_new());
		assert_non_null(gn = GENERAL_NAME_new());
		assert_non_null(name = X509_NAME_dup(X509_get_subject_name(x)));
		GENERAL_NAME_set0_value(gn, GEN_DIRNAME, name);
		assert_true(sk_GENERAL_NAME_push(akid->issuer, gn) > 0);
		assert_non_null(
		    akid->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(x)));
	}
	assert_int_equal(X509_add1_ext_i2d(x, NID_authority_key_identifier,
	                     akid, 0, X509V3_ADD_REPLACE),
	    1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	AUTHORITY_KEYID_free(akid);
	EVP_PKEY_free(key);
	return x;
}

/* base64url without padding (RFC 4648 §5), by way of EVP_EncodeBlock
 * rather than the library's encoder.  Caller frees. */
static char *
ref_b64url(const unsigned char *in, size_t len)
{
	char *s = malloc(4 * ((len + 2) / 3) + 1);
	size_t i, n;

	assert_non_null(s);
	n = (size_t)EVP_EncodeBlock((unsigned char *)s, in, (int)len);
	while (n > 0 && s[n - 1] == '=')
		n--;
	s[n] = '\0';
	for (i = 0; i < n; i++)
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	return s;
}

/*
 * The ARI certificate id of `x` as RFC 9773 §4.1 builds it: the AKI
 * extension's keyIdentifier, ".", the serial's DER INTEGER without tag
 * and length (serials are at most 20 octets, RFC 5280 §4.1.2.2: a
 * one-octet length).  Caller frees.
 */
static char *
ref_ari_id(X509 *x)
{
	AUTHORITY_KEYID *akid;
	unsigned char *der = NULL;
	char *a, *s, *ret;
	size_t n;
	int len;

	akid = X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	assert_non_null(akid->keyid);
	a = ref_b64url(ASN1_STRING_get0_data(akid->keyid),
	    (size_t)ASN1_STRING_length(akid->keyid));
	len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
	assert_true(len > 2);
	assert_int_equal(der[0], V_ASN1_INTEGER);
	assert_int_equal(der[1], len - 2);
	s = ref_b64url(der + 2, (size_t)len - 2);
	n = strlen(a) + strlen(s) + 2;
	assert_non_null(ret = malloc(n));
	snprintf(ret, n, "%s.%s", a, s);
	OPENSSL_free(der);
	AUTHORITY_KEYID_free(akid);
	free(a);
	free(s);
	return ret;
}

static void
write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

/* The fake's TLS: a throw-away CA (kept in g.ca for the engine) and a
 * 127.0.0.1 certificate.  0 / -1. */
static int
make_tls(void)
{
	EVP_PKEY *cak, *srvk;
	X509 *ca, *srv;
	int rc = -1;

	cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	srvk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(cak);
	assert_non_null(srvk);
	ca = make_cert(cak, "ari test CA", "01", NULL, NULL, 0);
	srv = make_cert(srvk, "127.0.0.1", "02", ca, cak, 1);
	write_pem(g.ca, ca);
	if ((g.tls = SSL_CTX_new(TLS_server_method())) != NULL &&
	    SSL_CTX_use_certificate(g.tls, srv) == 1 &&
	    SSL_CTX_use_PrivateKey(g.tls, srvk) == 1)
		rc = 0;
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(srvk);
	return rc;
}

/* ---- the fake upstream ------------------------------------------------ */

static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(g.tls)) == NULL)
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

/* Answer `code` with a fresh Replay-Nonce (RFC 8555 §6.5), `body` of
 * media type `type` (or none) and `location` (or none). */
static void
reply(struct evhttp_request *req, int code, const char *type, const char *body,
    const char *location)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	char nonce[32];

	assert_non_null(out);
	snprintf(nonce, sizeof(nonce), "bm9uY2U%lu", ++g.nonce);
	evhttp_add_header(h, "Replay-Nonce", nonce);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (location != NULL)
		evhttp_add_header(h, "Location", location);
	if (body != NULL) {
		evhttp_add_header(h, "Content-Type", type);
		evbuffer_add(out, body, strlen(body));
	}
	evhttp_send_reply(req, code, "x", out);
	evbuffer_free(out);
}

static void
reply_json(struct evhttp_request *req, int code, const char *type, json_t *j,
    const char *location)
{
	char *s = json_dumps(j, JSON_COMPACT);

	assert_non_null(s);
	reply(req, code, type, s, location);
	free(s);
	json_decref(j);
}

/* One base64url member of the flattened JWS `jws` (RFC 7515 §7.2.2),
 * decoded and parsed as JSON.  NULL when absent or not JSON. */
static json_t *
jws_part(json_t *jws, const char *name)
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

/* The POSTed JWS of `req`, or NULL. */
static json_t *
jws_read(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	unsigned char *p;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || len == 0 ||
	    (p = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL)
		return NULL;
	return json_loadb((const char *)p, len, 0, NULL);
}

static void
on_directory(struct evhttp_request *req)
{
	char u[4][96];
	json_t *d;

	snprintf(u[0], sizeof(u[0]), "%s/nonce", g.base_url);
	snprintf(u[1], sizeof(u[1]), "%s/account", g.base_url);
	snprintf(u[2], sizeof(u[2]), "%s/order", g.base_url);
	snprintf(u[3], sizeof(u[3]), "%s/renewal-info", g.base_url);
	d = json_pack("{s:s, s:s, s:s, s:s, s:s}", "newNonce", u[0],
	    "newAccount", u[1], "newOrder", u[2], "revokeCert", u[2],
	    "keyChange", u[2]);
	assert_non_null(d);
	if (g.ari)
		assert_int_equal(
		    json_object_set_new(d, "renewalInfo", json_string(u[3])),
		    0);
	reply_json(req, 200, "application/json", d, NULL);
}

/* newAccount (RFC 8555 §7.3): 201 and the account URL. */
static void
on_account(struct evhttp_request *req, json_t *jws)
{
	char loc[96];
	json_t *prot = jws_part(jws, "protected");

	/* A new account is signed with the JWK, never a kid (§6.2). */
	if (prot == NULL || json_object_get(prot, "jwk") == NULL ||
	    json_object_get(prot, "kid") != NULL)
		g.n_bad++;
	json_decref(prot);
	g.n_accounts++;
	snprintf(loc, sizeof(loc), "%s/acct/1", g.base_url);
	reply_json(req, 201, "application/json",
	    json_pack("{s:s}", "status", "valid"), loc);
}

/* newOrder: keep what was asked, refuse it for good. */
static void
on_order(struct evhttp_request *req, json_t *jws)
{
	g.n_orders++;
	json_decref(g.order_payload);
	json_decref(g.order_protected);
	g.order_payload = jws_part(jws, "payload");
	g.order_protected = jws_part(jws, "protected");
	reply_json(req, 400, "application/problem+json",
	    json_pack("{s:s, s:s, s:i}", "type", ERR "rejectedIdentifier",
	        "detail", "fake upstream refuses every order", "status", 400),
	    NULL);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char *path;
	json_t *jws = NULL;

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL) {
		evhttp_send_error(req, 404, NULL);
		return;
	}
	if (strcmp(path, "/dir") == 0 &&
	    evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
		on_directory(req);
		return;
	}
	if (strcmp(path, "/nonce") == 0) {
		reply(req,
		    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ? 200
		                                                       : 204,
		    NULL, NULL, NULL);
		return;
	}
	if ((jws = jws_read(req)) == NULL) {
		g.n_bad++;
		evhttp_send_error(req, 400, NULL);
		return;
	}
	if (strcmp(path, "/account") == 0)
		on_account(req, jws);
	else if (strcmp(path, "/order") == 0)
		on_order(req, jws);
	else {
		g.n_bad++;
		evhttp_send_error(req, 404, NULL);
	}
	json_decref(jws);
}

static int
group_setup(void **state)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	signal(SIGPIPE, SIG_IGN);
	snprintf(g.dir, sizeof(g.dir), "/tmp/test_upacme_ari.XXXXXX");
	if (mkdtemp(g.dir) == NULL)
		return -1;
	snprintf(g.ca, sizeof(g.ca), "%s/ca.pem", g.dir);
	if (make_tls() == -1 || (g.base = event_base_new()) == NULL ||
	    (g.http = evhttp_new(g.base)) == NULL ||
	    (bs = evhttp_bind_socket_with_handle(g.http, "127.0.0.1", 0)) ==
	        NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa,
	        &len) != 0 ||
	    (g.acct = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		return -1;
	snprintf(g.base_url, sizeof(g.base_url), "https://127.0.0.1:%u",
	    (unsigned)ntohs(sa.sin_port));
	evhttp_set_bevcb(g.http, tls_bev, NULL);
	evhttp_set_max_body_size(g.http, MAX_BODY);
	evhttp_set_allowed_methods(
	    g.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(g.http, on_request, NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	if (g.http != NULL)
		evhttp_free(g.http);
	if (g.base != NULL)
		event_base_free(g.base);
	SSL_CTX_free(g.tls);
	EVP_PKEY_free(g.acct);
	json_decref(g.order_payload);
	json_decref(g.order_protected);
	if (g.ca[0] != '\0')
		unlink(g.ca);
	if (g.dir[0] != '\0')
		rmdir(g.dir);
	return 0;
}

/* ---- the engine ------------------------------------------------------- */

/* No hook may run: the order ends at newOrder. */
static void
on_persist(
    void *order_arg, const char *state, upacme_cont_fn *cont, void *cont_arg)
{
	((struct tc *)order_arg)->hooks++;
	cont(cont_arg, 0);
}

static void
on_publish(void *order_arg, const char *type, const char *name,
    const char *value, upacme_cont_fn *cont, void *cont_arg)
{
	((struct tc *)order_arg)->hooks++;
	cont(cont_arg, 0);
}

static const struct upacme_hooks hooks = {
    .persist = on_persist,
    .publish = on_publish,
    .unpublish = on_publish,
};

static void
on_done(void *order_arg, enum upacme_outcome outcome, const char *problem,
    const char *detail, STACK_OF(X509) *chain)
{
	struct tc *t = order_arg;

	t->done++;
	t->outcome = outcome;
	free(t->problem);
	t->problem = problem != NULL ? strdup(problem) : NULL;
	sk_X509_pop_free(chain, X509_free);
	event_base_loopbreak(g.base);
}

static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
	event_base_loopbreak(g.base);
}

/* Run the loop until t is done (at most WAIT_S). */
static void
run_until_done(struct tc *t)
{
	struct timeval tv = {WAIT_S, 0};
	struct event *guard;
	int expired = 0;

	guard = evtimer_new(g.base, on_guard, &expired);
	assert_non_null(guard);
	assert_int_equal(evtimer_add(guard, &tv), 0);
	while (t->done == 0 && !expired)
		assert_int_not_equal(event_base_dispatch(g.base), -1);
	event_free(guard);
	assert_false(expired);
	assert_int_equal(t->done, 1);
}

/* A DER CSR of a fresh key for DNS:`name`.  Caller frees. */
static unsigned char *
make_csr(const char *name, size_t *len)
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

/*
 * One order against the fake (renewalInfo listed when `ari`) with
 * `replaces` (or NULL): it must end REJECTED with rejectedIdentifier
 * after exactly one newOrder; g.order_payload holds what was sent.
 */
static void
order_once(int ari, const char *replaces)
{
	static const char *const dns[] = {"a.example.com", "b.example.com"};
	static const char *const ips[] = {"192.0.2.7"};
	struct upacme_order_spec spec;
	struct upacme_conf conf;
	struct upacme *u;
	struct tc t;
	char url[96];
	size_t i, csr_len;
	unsigned char *csr;
	json_t *id;

	g.ari = ari;
	g.n_orders = g.n_accounts = g.n_bad = 0;
	json_decref(g.order_payload);
	g.order_payload = NULL;
	memset(&t, 0, sizeof(t));
	memset(&conf, 0, sizeof(conf));
	snprintf(url, sizeof(url), "%s/dir", g.base_url);
	conf.directory_url = url;
	conf.ca_bundle = g.ca;
	conf.account_key = g.acct;
	conf.challenge = "http-01";
	conf.order_timeout = WAIT_S - 5;
	conf.request_timeout = 5;
	assert_non_null(u = upacme_new(g.base, &conf, &hooks));
	csr = make_csr(dns[0], &csr_len);
	memset(&spec, 0, sizeof(spec));
	spec.csr_der = csr;
	spec.csr_len = csr_len;
	spec.dns = dns;
	spec.n_dns = 2;
	spec.ips = ips;
	spec.n_ips = 1;
	spec.replaces = replaces;
	assert_non_null(upacme_order_start(u, &spec, on_done, &t));
	free(csr);
	run_until_done(&t);
	upacme_free(u);

	assert_int_equal(t.outcome, UPACME_REJECTED);
	assert_non_null(t.problem);
	assert_string_equal(t.problem, ERR "rejectedIdentifier");
	free(t.problem);
	assert_int_equal(t.hooks, 0);
	assert_int_equal(g.n_bad, 0);
	assert_int_equal(g.n_accounts, 1);
	assert_int_equal(g.n_orders, 1);

	/* Signed with the account's kid, for the newOrder URL (§6.4). */
	assert_non_null(g.order_protected);
	snprintf(url, sizeof(url), "%s/acct/1", g.base_url);
	assert_string_equal(
	    json_string_value(json_object_get(g.order_protected, "kid")), url);
	assert_null(json_object_get(g.order_protected, "jwk"));
	snprintf(url, sizeof(url), "%s/order", g.base_url);
	assert_string_equal(
	    json_string_value(json_object_get(g.order_protected, "url")), url);

	/* The spec's identifiers, DNS names first (§7.1.4, RFC 8738). */
	assert_non_null(g.order_payload);
	assert_int_equal(
	    json_array_size(json_object_get(g.order_payload, "identifiers")),
	    3);
	for (i = 0; i < 3; i++) {
		id = json_array_get(
		    json_object_get(g.order_payload, "identifiers"), i);
		assert_string_equal(
		    json_string_value(json_object_get(id, "type")),
		    i < 2 ? "dns" : "ip");
		assert_string_equal(
		    json_string_value(json_object_get(id, "value")),
		    i < 2 ? dns[i] : ips[0]);
	}
}

/* A renewal of a certificate with an AKI, renewalInfo listed: replaces
 * is that certificate's ARI id (RFC 9773 §5). */
static void
test_replaces_sent(void **state)
{
	EVP_PKEY *cak, *key;
	X509 *ca, *old;
	char *id, *ref;

	cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(cak);
	assert_non_null(key);
	ca = make_cert(cak, "old CA", "7F", NULL, NULL, 0);
	old = make_cert(
	    key, "a.example.com", "00C0FFEE0123456789ABCDEF", ca, cak, 1);
	assert_non_null(id = upacme_ari_cert_id(old));
	ref = ref_ari_id(old);
	assert_string_equal(id, ref);

	order_once(1, id);
	assert_string_equal(
	    json_string_value(json_object_get(g.order_payload, "replaces")),
	    id);
	assert_int_equal(json_object_size(g.order_payload), 2);

	free(id);
	free(ref);
	X509_free(ca);
	X509_free(old);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(key);
}

/* No renewalInfo in the directory: a server without ARI would reject an
 * unknown field, so replaces is left out. */
static void
test_replaces_without_ari(void **state)
{
	order_once(0, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	assert_null(json_object_get(g.order_payload, "replaces"));
	assert_int_equal(json_object_size(g.order_payload), 1);
}

/* renewalInfo listed, but a first issuance: nothing to replace. */
static void
test_no_replaces_first_order(void **state)
{
	order_once(1, NULL);
	assert_null(json_object_get(g.order_payload, "replaces"));
	assert_int_equal(json_object_size(g.order_payload), 1);
}

/* The certificate id (RFC 9773 §4.1): the RFC's own example, then
 * serials of every shape against the construction done here, then
 * certificates that have no keyIdentifier to give. */
static void
test_cert_id(void **state)
{
	static const unsigned char rfc_keyid[] = {0x69, 0x88, 0x5B, 0x6B, 0x87,
	    0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C,
	    0xDE, 0x01, 0xC8, 0xD4};
	/* High bit set (a leading zero octet), small, 20 octets, 159 bits. */
	static const char *const serials[] = {"87654321", "01", "7F", "80",
	    "0100", "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	    "00FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "1234567890ABCDEF"};
	EVP_PKEY *cak, *key;
	X509 *x, *ca;
	char *id, *ref;
	size_t i;

	x = make_aki_cert(rfc_keyid, sizeof(rfc_keyid), "87654321");
	assert_non_null(id = upacme_ari_cert_id(x));
	assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	free(id);
	X509_free(x);

	for (i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
		x = make_aki_cert(rfc_keyid, 1 + i * 2, serials[i]);
		assert_non_null(id = upacme_ari_cert_id(x));
		ref = ref_ari_id(x);
		assert_string_equal(id, ref);
		assert_null(strpbrk(id, "+/="));
		free(id);
		free(ref);
		X509_free(x);
	}

	/* An AKI naming the issuer by name and serial only. */
	x = make_aki_cert(NULL, 0, "05");
	assert_null(upacme_ari_cert_id(x));
	X509_free(x);

	/* No AKI at all: a self-signed CA, and an issued certificate. */
	cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(cak);
	assert_non_null(key);
	ca = make_cert(cak, "no AKI CA", "03", NULL, NULL, 0);
	assert_null(upacme_ari_cert_id(ca));
	x = make_cert(key, "leaf", "04", ca, cak, 0);
	assert_null(
	    X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL));
	assert_null(upacme_ari_cert_id(x));
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cert_id),
	    cmocka_unit_test(test_replaces_sent),
	    cmocka_unit_test(test_replaces_without_ari),
	    cmocka_unit_test(test_no_replaces_first_order),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
