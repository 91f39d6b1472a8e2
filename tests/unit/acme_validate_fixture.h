/*
 * What the live tests of protocols/acme/validate.c share: the peers a
 * validation talks to on 127.0.0.1 and the loop that waits for its
 * answer.  pebble-challtestsrv is started once per program (cmocka group
 * setup, free ports, stopped by PID) as the DNS server, with helpers that
 * set TXT, CAA and SERVFAIL through its management API; per test, struct
 * fixture holds a validator, an evhttp server for http-01, a TLS server
 * for tls-alpn-01 (and https redirect targets) and a listener that never
 * accepts.  Used by test_acme_validate.c (http-01, dns-01, CAA, held,
 * timeout, cancel) and test_acme_validate_tls.c (tls-alpn-01).  Header
 * only: each test program includes it once; everything is static inline
 * so a program need not use every helper.
 */
#ifndef ENROLLD_TEST_ACME_VALIDATE_FIXTURE_H
#define ENROLLD_TEST_ACME_VALIDATE_FIXTURE_H

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

/* --- pebble-challtestsrv ------------------------------------------------- */

static pid_t srv_pid = -1;
static int dns_port, mgmt_port;

/* A port free for both TCP and UDP right now (racy, good enough). */
static inline int
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

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
static inline int
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
static inline int
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

/* 1 when prog is an executable in $PATH, so that a missing challtestsrv
 * is reported as such rather than as a start-up timeout. */
static inline int
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
static inline int
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

/* Stop the challtestsrv that group_setup started, by its PID. */
static inline int
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

/* --- DNS records through the management API ------------------------------ */

/* Serve TXT `value` at _acme-challenge.NAME; fails the test on error. */
static inline void
set_txt(const char *name, const char *value)
{
	char json[512];

	snprintf(json, sizeof(json),
	    "{\"host\":\"_acme-challenge.%s.\",\"value\":\"%s\"}", name, value);
	assert_int_equal(mgmt_post("/set-txt", json), 0);
}

/* Add a CAA record `tag` `value` at NAME; fails the test on error. */
static inline void
add_caa(const char *name, const char *tag, const char *value)
{
	char json[512];

	snprintf(json, sizeof(json),
	    "{\"host\":\"%s.\",\"policies\":[{\"tag\":\"%s\",\"value\":\"%s\"}]"
	    "}",
	    name, tag, value);
	assert_int_equal(mgmt_post("/add-caa", json), 0);
}

/* --- in-test http-01 server ---------------------------------------------- */

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

/* Answer from f->routes (exact URI match, Location with the port filled
 * in), 404 otherwise; counts every request in f->http_hits. */
static inline void
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

/* The local port fd is bound to, or -1. */
static inline int
sock_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	return ntohs(sin.sin_port);
}

/* Per test: a loop, the http-01 server on an ephemeral port and a
 * configuration pointing at both servers; the validator itself is made
 * lazily (start_validator) so a test can change f->cfg first. */
static inline int
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

/* Free everything setup and the test made; acme_validator_free ends a
 * validation the test left in flight (test_cancel relies on it). */
static inline int
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

/* --- running a validation ------------------------------------------------ */

/* The validation callback: record the outcome and stop the loop. */
static inline void
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

/* Make f->v from f->cfg unless a previous run already did. */
static inline void
start_validator(struct fixture *f)
{
	if (f->v == NULL)
		assert_non_null(f->v = acme_validator_new(f->base, &f->cfg));
}

/* Validate and wait (at most 15 s) for the single callback. */
static inline void
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

/* Fail the test unless the outcome is `problem` with `needle` in the
 * detail. */
static inline void
expect_fail(struct fixture *f, const char *problem, const char *needle)
{
	if (f->ok || strcmp(f->problem, problem) != 0 ||
	    strstr(f->detail, needle) == NULL)
		fail_msg("wanted %s containing \"%s\", got ok=%d %s \"%s\"",
		    problem, needle, f->ok, f->problem, f->detail);
}

/* Fail the test unless the outcome is success. */
static inline void
expect_ok(struct fixture *f)
{
	if (!f->ok)
		fail_msg(
		    "wanted success, got %s \"%s\"", f->problem, f->detail);
}

/* --- in-test TLS server (tls-alpn-01, https redirect targets) ------------ */

enum cert_kind { CERT_OK, CERT_BAD_DIGEST, CERT_NOT_CRITICAL, CERT_TWO_SANS };

/* A self-signed RFC 8737 validation certificate for `san`. */
static inline void
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

/* Offer acme-tls/1 only, or no ALPN at all when f->tls_no_alpn. */
static inline int
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

static inline void tls_conn_event(struct bufferevent *, short, void *);

/* Reply written: close, so that an EOF-delimited body ends. */
static inline void
tls_conn_flushed(struct bufferevent *bev, void *arg)
{
	tls_conn_event(bev, BEV_EVENT_EOF, arg);
}

/* Free a TLS connection once it ended and forget it in f->tls_conns. */
static inline void
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
static inline void
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

/* Wrap an accepted socket in TLS; it answers HTTP when f->tls_http_reply
 * is set and is tracked in f->tls_conns so teardown frees it. */
static inline void
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
static inline void
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

/* --- a peer that never answers ------------------------------------------- */

/* A socket that listens but never accepts: connects, then silence. */
static inline void
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

#endif
