/*
 * protocols/acme/validate.c and its probes against real peers on
 * 127.0.0.1: pebble-challtestsrv as the DNS server (A, TXT, CAA,
 * SERVFAIL through its management API), an in-test evhttp server for
 * http-01 and an in-test TLS server for tls-alpn-01.  The address policy
 * and the CAA decision, pure functions, are in test_acme_caa.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "protocols/acme/validate.h"
#include "protocols/acme/validate_int.h"

#define CHALLTESTSRV "pebble-challtestsrv"
#define KEYAUTH "tok123.thumbprintABC"
#define TOKEN "tok123"
#define OUR_CA "enrolld.example"

/* --- pebble-challtestsrv -------------------------------------------------- */

static pid_t srv_pid = -1;
static int dns_port, mgmt_port;

/* A port free for both TCP and UDP right now (racy, good enough). */
static int
free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int t, u, port = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t = socket(AF_INET, SOCK_STREAM, 0);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(t, (struct sockaddr *)&sin, &len) == 0 &&
	    bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		port = ntohs(sin.sin_port);
	close(t);
	close(u);
	return port;
}

static int
connect_local(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Blocking POST of a JSON body to the management API; 0 on HTTP 200. */
static int
mgmt_post(const char *path, const char *json)
{
	char req[1024], resp[512];
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = connect_local(mgmt_port)) == -1)
		return -1;
	snprintf(req, sizeof(req),
	    "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: "
	    "close\r\n\r\n%s",
	    path, strlen(json), json);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	while (got < sizeof(resp) - 1 &&
	    (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(fd);
	return strncmp(resp, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
}

static int
in_path(const char *prog)
{
	char buf[1024], *path, *dir, *save = NULL;
	int found = 0;

	if ((path = getenv("PATH")) == NULL)
		path = "/usr/bin:/bin";
	snprintf(buf, sizeof(buf), "%s", path);
	for (dir = strtok_r(buf, ":", &save); dir != NULL && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char full[1200];

		snprintf(full, sizeof(full), "%s/%s", dir, prog);
		found = access(full, X_OK) == 0;
	}
	return found;
}

/* Start challtestsrv; a missing binary fails the whole group. */
static int
group_setup(void **state)
{
	char dns[32], mgmt[32];
	struct timespec ts = {0, 50 * 1000 * 1000};
	int i, fd;

	(void)state;
	if (!in_path(CHALLTESTSRV)) {
		fprintf(stderr, "%s not found (apt-get install pebble)\n",
		    CHALLTESTSRV);
		return -1;
	}
	dns_port = free_port();
	do
		mgmt_port = free_port();
	while (mgmt_port == dns_port);
	snprintf(dns, sizeof(dns), "127.0.0.1:%d", dns_port);
	snprintf(mgmt, sizeof(mgmt), "127.0.0.1:%d", mgmt_port);
	if ((srv_pid = fork()) == -1)
		return -1;
	if (srv_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execlp(CHALLTESTSRV, CHALLTESTSRV, "-dns01", dns, "-http01", "",
		    "-https01", "", "-tlsalpn01", "", "-management", mgmt,
		    "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		if ((fd = connect_local(mgmt_port)) != -1) {
			close(fd);
			nanosleep(&ts, NULL); /* let the DNS side settle */
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "%s did not start\n", CHALLTESTSRV);
	return -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
		srv_pid = -1;
	}
	return 0;
}

/* --- in-test http-01 server ------------------------------------------------ */

struct route {
	const char *path;
	int status;
	const char *body;
	const char *location; /* "%d" replaced by the server's port */
};

#define MAX_ROUTES 4

struct fixture {
	struct event_base *base;
	struct acme_validator *v;
	struct acme_validate_cfg cfg;
	char resolver[32];
	struct evhttp *http;
	int http_port;
	struct route routes[MAX_ROUTES];
	struct evconnlistener *tls_lis;
	SSL_CTX *tls_ctx;
	int tls_port;
	int tls_no_alpn;
	const char *tls_http_reply; /* answer HTTP requests with this */
	struct bufferevent *tls_conns[16];
	size_t n_tls_conns;
	int silent_fd, silent_port;
	int http_hits; /* requests the http-01 server answered */
	/* outcome */
	int called, ok;
	char problem[64], detail[ACME_DETAIL_MAX];
};

static const char *const our_identities[] = {OUR_CA, NULL};

static void
http_cb(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	char loc[256];
	size_t i;

	f->http_hits++;
	for (i = 0; i < MAX_ROUTES && f->routes[i].path != NULL; i++) {
		if (strcmp(uri, f->routes[i].path) != 0)
			continue;
		if (f->routes[i].location != NULL) {
			snprintf(loc, sizeof(loc), f->routes[i].location,
			    f->http_port);
			evhttp_add_header(
			    evhttp_request_get_output_headers(req), "Location",
			    loc);
		}
		if (f->routes[i].body != NULL)
			evbuffer_add_printf(
			    evhttp_request_get_output_buffer(req), "%s",
			    f->routes[i].body);
		evhttp_send_reply(req, f->routes[i].status, "x", NULL);
		return;
	}
	evhttp_send_error(req, 404, NULL);
}

static int
sock_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	return ntohs(sin.sin_port);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct evhttp_bound_socket *bs;

	assert_non_null(f);
	f->silent_fd = -1;
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->http = evhttp_new(f->base));
	evhttp_set_gencb(f->http, http_cb, f);
	assert_non_null(
	    bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0));
	f->http_port = sock_port(evhttp_bound_socket_get_fd(bs));
	snprintf(f->resolver, sizeof(f->resolver), "127.0.0.1:%d", dns_port);
	f->cfg.resolver = f->resolver;
	f->cfg.http01_port = f->http_port;
	f->cfg.tlsalpn01_port = 1; /* set by the TLS tests */
	f->cfg.allow_private = 1;
	f->cfg.timeout_ms = 5000;
	f->cfg.caa_identities = our_identities;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	acme_validator_free(f->v);
	for (i = 0; i < f->n_tls_conns; i++)
		if (f->tls_conns[i] != NULL)
			bufferevent_free(f->tls_conns[i]);
	if (f->tls_lis != NULL)
		evconnlistener_free(f->tls_lis);
	SSL_CTX_free(f->tls_ctx);
	evhttp_free(f->http);
	if (f->silent_fd != -1)
		close(f->silent_fd);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* --- running a validation ---------------------------------------------------- */

static void
done_cb(void *arg, int ok, const char *problem, const char *detail)
{
	struct fixture *f = arg;

	f->called++;
	f->ok = ok;
	snprintf(f->problem, sizeof(f->problem), "%s",
	    problem != NULL ? problem : "");
	snprintf(f->detail, sizeof(f->detail), "%s", detail);
	event_base_loopbreak(f->base);
}

static void
start_validator(struct fixture *f)
{
	if (f->v == NULL)
		assert_non_null(f->v = acme_validator_new(f->base, &f->cfg));
}

/* Validate and wait (at most 15 s) for the single callback. */
static void
run(struct fixture *f, enum acme_chall_type type, const char *ident, int is_ip)
{
	struct acme_challenge_req req = {
	    type, is_ip, ident, TOKEN, KEYAUTH, 0, "https://ca.example/acct/1"};
	struct timeval guard = {15, 0};

	start_validator(f);
	f->called = 0;
	assert_non_null(acme_validate(f->v, &req, done_cb, f));
	assert_int_equal(f->called, 0); /* never synchronous */
	event_base_loopexit(f->base, &guard);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 1);
}

static void
expect_fail(struct fixture *f, const char *problem, const char *needle)
{
	if (f->ok || strcmp(f->problem, problem) != 0 ||
	    strstr(f->detail, needle) == NULL)
		fail_msg("wanted %s containing \"%s\", got ok=%d %s \"%s\"",
		    problem, needle, f->ok, f->problem, f->detail);
}

static void
expect_ok(struct fixture *f)
{
	if (!f->ok)
		fail_msg(
		    "wanted success, got %s \"%s\"", f->problem, f->detail);
}

/* --- http-01 ---------------------------------------------------------------- */

#define CHALL_PATH "/.well-known/acme-challenge/" TOKEN

static void
test_http01_ok(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH "\r\n\t ", NULL};
	run(f, ACME_HTTP_01, "http-ok.example.com", 0);
	expect_ok(f);
}

static void
test_http01_ip_ok(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	run(f, ACME_HTTP_01, "127.0.0.1", 1);
	expect_ok(f);
}

static void
test_http01_wrong_body(void **state)
{
	struct fixture *f = *state;

	f->routes[0] =
	    (struct route){CHALL_PATH, 200, "tok123.\"wrong\"\n", NULL};
	run(f, ACME_HTTP_01, "http-wrong.example.com", 0);
	expect_fail(f, "unauthorized", "did not match this challenge");
	assert_non_null(strstr(f->detail, "Expected \"" KEYAUTH "\""));
	assert_non_null(strstr(f->detail, "tok123.?wrong?")); /* sanitised */
}

static void
test_http01_404(void **state)
{
	struct fixture *f = *state;

	run(f, ACME_HTTP_01, "http-404.example.com", 0);
	expect_fail(f, "unauthorized", ": 404");
}

static void
test_http01_redirect(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){
	    CHALL_PATH, 302, NULL, "http://other-host.example.com:%d/moved"};
	f->routes[1] = (struct route){"/moved", 301, NULL, "/final?x=1"};
	f->routes[2] = (struct route){"/final?x=1", 200, KEYAUTH, NULL};
	run(f, ACME_HTTP_01, "http-redir.example.com", 0);
	expect_ok(f);
}

static void
test_http01_redirect_bad_port(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){
	    CHALL_PATH, 302, NULL, "http://127.0.0.1:1/elsewhere"};
	run(f, ACME_HTTP_01, "http-redir2.example.com", 0);
	expect_fail(f, "connection", "only port");
}

static void
test_http01_redirect_loop(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){CHALL_PATH, 302, NULL, CHALL_PATH};
	run(f, ACME_HTTP_01, "http-loop.example.com", 0);
	expect_fail(f, "connection", "Too many redirects");
}

static void
test_http01_refused(void **state)
{
	struct fixture *f = *state;

	f->cfg.http01_port = free_port(); /* nothing listens there */
	run(f, ACME_HTTP_01, "http-refused.example.com", 0);
	expect_fail(f, "connection", "127.0.0.1");
}

static void
test_private_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const ips[] = {"10.1.2.3", "192.168.0.1", "::1",
	    "fe80::1", "fd00::1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
	    "255.255.255.255", "224.0.0.1"};
	size_t i;

	f->cfg.allow_private = 0;
	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	/* challtestsrv answers 127.0.0.1 for every name. */
	run(f, ACME_HTTP_01, "private.example.com", 0);
	expect_fail(f, "connection",
	    "private.example.com: 127.0.0.1 is a reserved address (loopback)");
	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		run(f, ACME_HTTP_01, ips[i], 1);
		expect_fail(f, "connection", "reserved address");
	}
}

/* --- dns-01 ------------------------------------------------------------------ */

static char *
keyauth_digest(void)
{
	unsigned char md[32];
	unsigned int len = 0;
	static char out[64];
	int n;

	assert_int_equal(
	    EVP_Digest(KEYAUTH, strlen(KEYAUTH), md, &len, EVP_sha256(), NULL),
	    1);
	n = EVP_EncodeBlock((unsigned char *)out, md, (int)len);
	/* to base64url without padding */
	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (int i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

static void
set_txt(const char *name, const char *value)
{
	char json[512];

	snprintf(json, sizeof(json),
	    "{\"host\":\"_acme-challenge.%s.\",\"value\":\"%s\"}", name, value);
	assert_int_equal(mgmt_post("/set-txt", json), 0);
}

static void
test_dns01_ok(void **state)
{
	struct fixture *f = *state;

	set_txt("dns-ok.example.com", keyauth_digest());
	run(f, ACME_DNS_01, "dns-ok.example.com", 0);
	expect_ok(f);
}

static void
test_dns01_wrong(void **state)
{
	struct fixture *f = *state;

	set_txt("dns-wrong.example.com", "not-the-digest");
	run(f, ACME_DNS_01, "dns-wrong.example.com", 0);
	expect_fail(
	    f, "unauthorized", "Incorrect TXT record \"not-the-digest\"");
}

static void
test_dns01_missing(void **state)
{
	struct fixture *f = *state;

	run(f, ACME_DNS_01, "dns-missing.example.com", 0);
	if (strcmp(f->problem, "dns") != 0)
		expect_fail(f, "unauthorized", "No TXT record found");
	assert_false(f->ok);
}

static void
test_dns01_servfail(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    mgmt_post("/set-servfail",
	        "{\"host\":\"_acme-challenge.dns-sf.example.com.\"}"),
	    0);
	run(f, ACME_DNS_01, "dns-sf.example.com", 0);
	expect_fail(f, "dns", "DNS problem");
}

static void
test_dns01_ip_refused(void **state)
{
	struct fixture *f = *state;

	run(f, ACME_DNS_01, "127.0.0.1", 1);
	expect_fail(f, "malformed", "RFC 8738");
}

static void
test_bad_resolver(void **state)
{
	struct fixture *f = *state;

	f->cfg.resolver = "127.0.0.1:notaport";
	assert_null(acme_validator_new(f->base, &f->cfg));
	f->cfg.resolver = "[::1]:53";
	f->v = acme_validator_new(f->base, &f->cfg);
	assert_non_null(f->v);
}

/* --- tls-alpn-01 --------------------------------------------------------------- */

enum cert_kind { CERT_OK, CERT_BAD_DIGEST, CERT_NOT_CRITICAL, CERT_TWO_SANS };

/* A self-signed RFC 8737 validation certificate for `san`. */
static void
make_cert(const char *san, enum cert_kind kind, X509 **certp, EVP_PKEY **keyp)
{
	unsigned char md[32], *der = NULL;
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *inner, *outer;
	ASN1_OBJECT *obj;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	EVP_PKEY *key;
	X509 *x;
	char sanbuf[300];
	int len;

	assert_non_null(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"acme", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	snprintf(sanbuf, sizeof(sanbuf), "%s%s", san,
	    kind == CERT_TWO_SANS ? ",DNS:extra.example.com" : "");
	assert_non_null(ext = X509V3_EXT_conf_nid(
	                    NULL, &ctx, NID_subject_alt_name, sanbuf));
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);

	EVP_Digest(KEYAUTH, strlen(KEYAUTH), md, &mdlen, EVP_sha256(), NULL);
	if (kind == CERT_BAD_DIGEST)
		md[0] ^= 1;
	inner = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(inner, md, (int)mdlen);
	len = i2d_ASN1_OCTET_STRING(inner, &der);
	outer = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(outer, der, len);
	obj = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	assert_non_null(ext = X509_EXTENSION_create_by_OBJ(
	                    NULL, obj, kind != CERT_NOT_CRITICAL, outer));
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OBJECT_free(obj);
	ASN1_OCTET_STRING_free(inner);
	ASN1_OCTET_STRING_free(outer);
	OPENSSL_free(der);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	*certp = x;
	*keyp = key;
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct fixture *f = arg;
	static const unsigned char want[] = "\x0a"
	                                    "acme-tls/1";

	if (f->tls_no_alpn)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_select_next_proto((unsigned char **)out, outlen, want,
	        sizeof(want) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

static void tls_conn_event(struct bufferevent *, short, void *);

/* Reply written: close, so that an EOF-delimited body ends. */
static void
tls_conn_flushed(struct bufferevent *bev, void *arg)
{
	tls_conn_event(bev, BEV_EVENT_EOF, arg);
}

static void
tls_conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct fixture *f = arg;
	size_t i;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	for (i = 0; i < f->n_tls_conns; i++)
		if (f->tls_conns[i] == bev)
			f->tls_conns[i] = NULL;
	bufferevent_free(bev);
}

/* HTTP over the TLS server (https redirect targets). */
static void
tls_conn_read(struct bufferevent *bev, void *arg)
{
	struct fixture *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (evbuffer_search(in, "\r\n\r\n", 4, NULL).pos == -1)
		return;
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_write(bev, f->tls_http_reply, strlen(f->tls_http_reply));
	bufferevent_setcb(bev, NULL, tls_conn_flushed, tls_conn_event, f);
}

static void
tls_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct fixture *f = arg;
	struct bufferevent *bev;

	bev = bufferevent_openssl_socket_new(f->base, fd, SSL_new(f->tls_ctx),
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	bufferevent_setcb(bev, f->tls_http_reply != NULL ? tls_conn_read : NULL,
	    NULL, tls_conn_event, f);
	bufferevent_enable(bev, EV_READ);
	if (f->n_tls_conns < 16)
		f->tls_conns[f->n_tls_conns++] = bev;
}

/* Serve tls-alpn-01 with a certificate for `san` on an ephemeral port. */
static void
tls_server(struct fixture *f, const char *san, enum cert_kind kind)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	X509 *x;
	EVP_PKEY *key;

	make_cert(san, kind, &x, &key);
	assert_non_null(f->tls_ctx = SSL_CTX_new(TLS_server_method()));
	assert_int_equal(SSL_CTX_use_certificate(f->tls_ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(f->tls_ctx, key), 1);
	SSL_CTX_set_alpn_select_cb(f->tls_ctx, alpn_select, f);
	X509_free(x);
	EVP_PKEY_free(key);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_non_null(
	    f->tls_lis = evconnlistener_new_bind(f->base, tls_accept, f,
	        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	        (struct sockaddr *)&sin, sizeof(sin)));
	f->tls_port = sock_port(evconnlistener_get_fd(f->tls_lis));
	f->cfg.tlsalpn01_port = f->tls_port;
}

static void
test_tlsalpn_ok(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-ok.example.com", CERT_OK);
	run(f, ACME_TLS_ALPN_01, "tls-ok.example.com", 0);
	expect_ok(f);
}

static void
test_tlsalpn_ip_ok(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "IP:127.0.0.1", CERT_OK);
	run(f, ACME_TLS_ALPN_01, "127.0.0.1", 1);
	expect_ok(f);
}

static void
test_tlsalpn_wrong_digest(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-bad.example.com", CERT_BAD_DIGEST);
	run(f, ACME_TLS_ALPN_01, "tls-bad.example.com", 0);
	expect_fail(f, "unauthorized", "Invalid acmeValidationV1 extension");
}

static void
test_tlsalpn_not_critical(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-nc.example.com", CERT_NOT_CRITICAL);
	run(f, ACME_TLS_ALPN_01, "tls-nc.example.com", 0);
	expect_fail(f, "unauthorized", "not critical");
}

static void
test_tlsalpn_bad_san(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-san.example.com", CERT_TWO_SANS);
	run(f, ACME_TLS_ALPN_01, "tls-san.example.com", 0);
	expect_fail(f, "unauthorized", "exactly one subjectAltName");
}

static void
test_tlsalpn_no_alpn(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-noalpn.example.com", CERT_OK);
	f->tls_no_alpn = 1;
	run(f, ACME_TLS_ALPN_01, "tls-noalpn.example.com", 0);
	expect_fail(f, "tls", "acme-tls/1");
}

/* Redirect to https on the https port; chunked body over TLS. */
static void
test_http01_redirect_https_chunked(void **state)
{
	struct fixture *f = *state;
	char loc[128];

	tls_server(f, "DNS:https-target.example.com", CERT_OK);
	f->tls_no_alpn = 1;
	f->tls_http_reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	                    "\r\n6\r\ntok123\r\n"
	                    "e;ext=1\r\n.thumbprintABC\r\n0\r\n\r\n";
	snprintf(loc, sizeof(loc),
	    "https://https-target.example.com:%d/.well-known/x", f->tls_port);
	f->routes[0] = (struct route){CHALL_PATH, 307, NULL, loc};
	run(f, ACME_HTTP_01, "http-https.example.com", 0);
	expect_ok(f);
}

/* No Content-Length, no chunking: the body ends at EOF. */
static void
test_http01_eof_body(void **state)
{
	struct fixture *f = *state;
	char loc[128];

	tls_server(f, "DNS:https-eof.example.com", CERT_OK);
	f->tls_no_alpn = 1;
	f->tls_http_reply = "HTTP/1.0 200 OK\r\nServer: x\r\n\r\n" KEYAUTH "\n";
	snprintf(loc, sizeof(loc), "https://127.0.0.1:%d/y", f->tls_port);
	f->routes[0] = (struct route){CHALL_PATH, 308, NULL, loc};
	run(f, ACME_HTTP_01, "http-eof.example.com", 0);
	expect_ok(f);
}

/* AAAA ::1 is tried first (nothing listens on it), then A 127.0.0.1. */
static void
test_http01_fallback_v4(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mgmt_post("/add-aaaa",
	                     "{\"host\":\"dual.example.com.\","
	                     "\"addresses\":[\"::1\"]}"),
	    0);
	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	run(f, ACME_HTTP_01, "dual.example.com", 0);
	expect_ok(f);
	/* Both families dead: the last failure is reported. */
	f->cfg.http01_port = free_port();
	acme_validator_free(f->v);
	f->v = NULL;
	run(f, ACME_HTTP_01, "dual.example.com", 0);
	expect_fail(f, "connection", "127.0.0.1: Connection refused");
}

/* --- CAA ---------------------------------------------------------------------- */

static void
add_caa(const char *name, const char *tag, const char *value)
{
	char json[512];

	snprintf(json, sizeof(json),
	    "{\"host\":\"%s.\",\"policies\":[{\"tag\":\"%s\",\"value\":\"%s\"}]"
	    "}",
	    name, tag, value);
	assert_int_equal(mgmt_post("/add-caa", json), 0);
}

static void
caa_run(struct fixture *f, const char *ident, int wildcard)
{
	struct acme_challenge_req req = {ACME_HTTP_01, 0, ident, TOKEN, KEYAUTH,
	    wildcard, "https://ca.example/acct/1"};
	struct timeval guard = {15, 0};

	f->cfg.caa = 1;
	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	start_validator(f);
	f->called = 0;
	assert_non_null(acme_validate(f->v, &req, done_cb, f));
	event_base_loopexit(f->base, &guard);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 1);
}

static void
test_caa_live(void **state)
{
	struct fixture *f = *state;

	caa_run(f, "no-caa.example.com", 0);
	expect_ok(f);

	add_caa("caa-ok.example.com", "issue", OUR_CA);
	caa_run(f, "caa-ok.example.com", 0);
	expect_ok(f);

	add_caa("caa-deny.example.com", "issue", "other-ca.example");
	caa_run(f, "caa-deny.example.com", 0);
	expect_fail(f, "caa", "CAA record for caa-deny.example.com");

	/* RFC 8659 §3: the parent's RRset is relevant for a child. */
	add_caa("caa-parent.example.com", "issue", "other-ca.example");
	caa_run(f, "a.b.caa-parent.example.com", 0);
	expect_fail(f, "caa", "CAA record for caa-parent.example.com");

	/* RFC 8657 accounturi and validationmethods. */
	add_caa("caa-acct.example.com", "issue",
	    OUR_CA "; accounturi=https://ca.example/acct/2");
	caa_run(f, "caa-acct.example.com", 0);
	expect_fail(f, "caa", "prevents issuance");
	add_caa("caa-acct2.example.com", "issue",
	    OUR_CA "; accounturi=https://ca.example/acct/1");
	caa_run(f, "caa-acct2.example.com", 0);
	expect_ok(f);
	add_caa("caa-meth.example.com", "issue",
	    OUR_CA "; validationmethods=dns-01,tls-alpn-01");
	caa_run(f, "caa-meth.example.com", 0);
	expect_fail(f, "caa", "prevents issuance");

	/* issuewild governs wildcards only. */
	add_caa("caa-wild.example.com", "issuewild", ";");
	caa_run(f, "caa-wild.example.com", 1);
	expect_fail(f, "caa", "issuewild");
	caa_run(f, "caa-wild.example.com", 0);
	expect_ok(f);

	/* Fail closed: SERVFAIL on a parent while climbing. */
	assert_int_equal(
	    mgmt_post("/set-servfail", "{\"host\":\"caa-sf.example.com.\"}"),
	    0);
	caa_run(f, "x.caa-sf.example.com", 0);
	expect_fail(f, "dns", "SERVFAIL looking up CAA for caa-sf.example.com");

	/* All names are asked at once, but the closest RRset decides: a
	 * parent's SERVFAIL no longer matters (Boulder's parseResults). */
	assert_int_equal(
	    mgmt_post("/set-servfail", "{\"host\":\"caa-sfp.example.com.\"}"),
	    0);
	add_caa("x.caa-sfp.example.com", "issue", OUR_CA);
	caa_run(f, "x.caa-sfp.example.com", 0);
	expect_ok(f);
}

static void silent_server(struct fixture *f);

/* CAA runs beside the challenge: a forbidding record ends the validation
 * while the http-01 server is still silent, instead of a timeout. */
static void
test_caa_beside_challenge(void **state)
{
	struct fixture *f = *state;

	silent_server(f);
	f->cfg.http01_port = f->silent_port;
	add_caa("caa-first.example.com", "issue", "other-ca.example");
	caa_run(f, "caa-first.example.com", 0);
	expect_fail(f, "caa", "CAA record for caa-first.example.com");
}

/* Run the loop for ms milliseconds. */
static void
spin(struct fixture *f, int ms)
{
	struct timeval tv = {0, ms * 1000};

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

/* A held validation resolves names but neither connects nor answers
 * until released; a cancelled one never does either. */
static void
test_held(void **state)
{
	struct fixture *f = *state;
	struct acme_challenge_req req = {
	    ACME_HTTP_01, 0, "held.example.com", TOKEN, KEYAUTH, 0, NULL};
	struct acme_challenge_req missing = {ACME_DNS_01, 0,
	    "held-missing.example.com", TOKEN, KEYAUTH, 0, NULL};
	struct timeval guard = {15, 0};
	struct acme_validation *val;

	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	start_validator(f);
	assert_non_null(val = acme_validate_held(f->v, &req, done_cb, f));
	spin(f, 300);
	assert_int_equal(f->called, 0);
	assert_int_equal(f->http_hits, 0);
	acme_validation_release(val);
	event_base_loopexit(f->base, &guard);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 1);
	expect_ok(f);
	assert_int_equal(f->http_hits, 1);

	/* Decided while held (no TXT record): the answer waits. */
	f->called = 0;
	assert_non_null(val = acme_validate_held(f->v, &missing, done_cb, f));
	spin(f, 300);
	assert_int_equal(f->called, 0);
	acme_validation_release(val);
	event_base_loopexit(f->base, &guard);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 1);
	expect_fail(f, "unauthorized", "No TXT record");

	/* Cancelled while held: nothing is fetched, nothing answers. */
	f->called = 0;
	assert_non_null(val = acme_validate_held(f->v, &req, done_cb, f));
	spin(f, 300);
	acme_validation_cancel(val);
	spin(f, 100);
	assert_int_equal(f->called, 0);
	assert_int_equal(f->http_hits, 1);
}

/* --- timeout and cancel ----------------------------------------------------------- */

/* A socket that listens but never accepts: connects, then silence. */
static void
silent_server(struct fixture *f)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_not_equal(
	    f->silent_fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	assert_int_equal(
	    bind(f->silent_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->silent_fd, 8), 0);
	f->silent_port = sock_port(f->silent_fd);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_timeout(void **state)
{
	struct fixture *f = *state;
	double t0, dt;

	silent_server(f);
	f->cfg.http01_port = f->silent_port;
	f->cfg.tlsalpn01_port = f->silent_port;
	f->cfg.timeout_ms = 400;
	t0 = now();
	run(f, ACME_HTTP_01, "127.0.0.1", 1);
	dt = now() - t0;
	expect_fail(f, "connection", "Timed out after 400 ms");
	assert_true(dt >= 0.35 && dt < 3.0);
	run(f, ACME_TLS_ALPN_01, "127.0.0.1", 1);
	expect_fail(f, "connection", "Timed out");
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	struct acme_challenge_req req = {
	    ACME_HTTP_01, 0, "cancel.example.com", TOKEN, KEYAUTH, 0, NULL};
	struct acme_challenge_req req2 = {
	    ACME_DNS_01, 0, "cancel.example.com", TOKEN, KEYAUTH, 0, NULL};
	struct acme_validation *val, *val2;
	struct timeval tv = {0, 300 * 1000};

	silent_server(f);
	f->cfg.http01_port = f->silent_port;
	start_validator(f);
	f->called = 0;
	/* One cancelled while connected, one while its DNS query is out. */
	assert_non_null(val = acme_validate(f->v, &req, done_cb, f));
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 0);
	acme_validation_cancel(val);
	assert_non_null(val2 = acme_validate(f->v, &req2, done_cb, f));
	acme_validation_cancel(val2);
	/* One left in flight for acme_validator_free in teardown. */
	assert_non_null(acme_validate(f->v, &req, done_cb, f));
	tv.tv_usec = 300 * 1000;
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 0);
}

/* A finished-early validation (policy refusal) is cancellable too. */
static void
test_cancel_before_reply(void **state)
{
	struct fixture *f = *state;
	struct acme_challenge_req req = {
	    ACME_HTTP_01, 1, "10.0.0.1", TOKEN, KEYAUTH, 0, NULL};
	struct timeval tv = {0, 100 * 1000};

	f->cfg.allow_private = 0;
	start_validator(f);
	f->called = 0;
	acme_validation_cancel(acme_validate(f->v, &req, done_cb, f));
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_http01_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http01_ip_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_wrong_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http01_404, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_redirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_redirect_bad_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_redirect_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_redirect_https_chunked, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_eof_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_fallback_v4, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_private_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns01_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns01_wrong, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_dns01_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_dns01_servfail, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_dns01_ip_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_resolver, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tlsalpn_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_ip_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_wrong_digest, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_not_critical, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_bad_san, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_no_alpn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_caa_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_caa_beside_challenge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_cancel_before_reply, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
