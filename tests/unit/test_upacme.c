/*
 * backends/acme/upacme*.c against real peers on 127.0.0.1: Debian's
 * pebble (three instances: A with badNonce injection, alternate roots and
 * a blocklist; B requiring External Account Binding; C plain, restarted
 * on the same ports to lose its accounts) validating through
 * pebble-challtestsrv as its DNS and an http-01 responder run here on
 * the test's loop.  Everything started here is stopped by PID in the
 * group teardown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "backends/acme/upacme.h"
#include "backends/acme/upacme_int.h"
#include "core/encoding.h"
#include "tests/unit/cert_fixture.h"

#define EAB_KID "kid-1"
#define EAB_KEY                                                                \
	"zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
#define BLOCKED "blocked.example.com"
#define ERR "urn:ietf:params:acme:error:"
#define CHALL_PREFIX "/.well-known/acme-challenge/"
#define MAX_TOKENS 16
#define ORDER_TIMEOUT 20
#define FAST_ORDER_S 1.5 /* an http-01 order with PEBBLE_VA_NOSLEEP */

extern char **environ;

/* What the group set up. */
static struct {
	char dir[64], ca[96], crt[96], key[96];
	int dns, cts_mgmt, http01, a_port, a_mgmt, b_port, b_mgmt, closed;
	int c_port, c_mgmt;
	pid_t pids[6];
	int npids;
	struct event_base *base;
	struct evhttp *http;
	char *tok_name[MAX_TOKENS], *tok_value[MAX_TOKENS];
	EVP_PKEY *acct;
} g;

/* One order as the test sees it. */
struct tc {
	struct evhttp_connection *cts; /* to challtestsrv, dns-01 only */
	int done, persists, stop_at_persist;
	enum upacme_outcome outcome;
	char *problem, *detail, *first_state, *order_url;
	int same_order; /* every persisted state named first_state's order */
	STACK_OF(X509) *chain;
	int revoked;
};

/* ---- peers ------------------------------------------------------------ */

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Wait (at most 15 s) until 127.0.0.1:port accepts.  0 / -1. */
static int
wait_listen(int port)
{
	struct sockaddr_in sa;
	struct timespec ts = {0, 50 * 1000 * 1000};
	int i, fd, ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 300; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			return -1;
		ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* posix_spawn `argv` with `extra` env (NULL-terminated), output to
 * dir/log.  The PID is tracked for the teardown.  0 / -1. */
static int
spawn(char *const argv[], const char *const extra[], const char *log)
{
	posix_spawn_file_actions_t fa;
	char path[128], *env[128];
	size_t n = 0, i;
	pid_t pid;
	int rc;

	for (i = 0; environ[i] != NULL && n < 100; i++)
		if (strncmp(environ[i], "PEBBLE_", 7) != 0)
			env[n++] = environ[i];
	for (i = 0; extra[i] != NULL; i++)
		env[n++] = (char *)extra[i];
	env[n] = NULL;
	snprintf(path, sizeof(path), "%s/%s", g.dir, log);
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	posix_spawn_file_actions_addopen(
	    &fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	g.pids[g.npids++] = pid;
	return 0;
}

/* A certificate for `key` named `cn`, signed by ikey (self when NULL). */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey)
{
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(
	    ASN1_INTEGER_set(X509_get_serialNumber(x), issuer == NULL ? 1 : 2),
	    1);
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
	} else
		fixture_add_ext(x, issuer, NID_subject_alt_name,
		    "IP:127.0.0.1,DNS:localhost");
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (x != NULL)
		assert_int_equal(PEM_write_X509(f, x), 1);
	else
		assert_int_equal(
		    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
}

/* The throw-away CA and pebble's 127.0.0.1 certificate. */
static void
make_tls(void)
{
	EVP_PKEY *cak, *srvk;
	X509 *ca, *srv;

	cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	srvk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(cak);
	assert_non_null(srvk);
	ca = make_cert(cak, "upacme test CA", NULL, NULL);
	srv = make_cert(srvk, "127.0.0.1", ca, cak);
	write_pem(g.ca, ca, NULL);
	write_pem(g.crt, srv, NULL);
	write_pem(g.key, NULL, srvk);
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(srvk);
}

/* Pebble's config file `name` for ports p/m, EAB or a blocklist. */
static void
write_config(const char *name, int p, int m, int eab)
{
	char path[128];
	json_t *c;

	c = json_pack("{s:{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:b}}", "pebble",
	    "listenAddress", "", "managementListenAddress", "", "certificate",
	    g.crt, "privateKey", g.key, "httpPort", g.http01, "tlsPort",
	    g.closed, "ocspResponderURL", "", "externalAccountBindingRequired",
	    eab);
	assert_non_null(c);
	snprintf(path, sizeof(path), "127.0.0.1:%d", p);
	json_object_set_new(
	    json_object_get(c, "pebble"), "listenAddress", json_string(path));
	snprintf(path, sizeof(path), "127.0.0.1:%d", m);
	json_object_set_new(json_object_get(c, "pebble"),
	    "managementListenAddress", json_string(path));
	if (eab)
		json_object_set_new(json_object_get(c, "pebble"),
		    "externalAccountMACKeys",
		    json_pack("{s:s}", EAB_KID, EAB_KEY));
	else
		json_object_set_new(json_object_get(c, "pebble"),
		    "domainBlocklist", json_pack("[s]", BLOCKED));
	snprintf(path, sizeof(path), "%s/%s", g.dir, name);
	assert_int_equal(json_dump_file(c, path, JSON_INDENT(1)), 0);
	json_decref(c);
}

/* http-01 (RFC 8555 §8.3) answers published by the hooks. */
static void
on_http01(struct evhttp_request *req, void *arg)
{
	const char *path;
	struct evbuffer *out;
	size_t i;

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	for (i = 0; path != NULL && i < MAX_TOKENS; i++) {
		if (g.tok_name[i] == NULL ||
		    strncmp(path, CHALL_PREFIX, strlen(CHALL_PREFIX)) != 0 ||
		    strcmp(path + strlen(CHALL_PREFIX), g.tok_name[i]) != 0)
			continue;
		if ((out = evbuffer_new()) == NULL)
			break;
		evbuffer_add_printf(out, "%s", g.tok_value[i]);
		evhttp_send_reply(req, 200, "OK", out);
		evbuffer_free(out);
		return;
	}
	evhttp_send_error(req, 404, NULL);
}

static int
kill_all(void)
{
	struct timespec ts = {0, 50 * 1000 * 1000};
	int i, j, st;

	for (i = 0; i < g.npids; i++) {
		kill(g.pids[i], SIGTERM);
		for (j = 0; j < 100; j++) {
			if (waitpid(g.pids[i], &st, WNOHANG) != 0)
				break;
			nanosleep(&ts, NULL);
		}
		if (j == 100) {
			kill(g.pids[i], SIGKILL);
			waitpid(g.pids[i], &st, 0);
		}
	}
	g.npids = 0;
	return 0;
}

/* Stop the peer `pid` (SIGTERM, then SIGKILL after 5 s) and forget it. */
static void
stop_pid(pid_t pid)
{
	struct timespec ts = {0, 50 * 1000 * 1000};
	int i, j, st;

	for (i = 0; i < g.npids && g.pids[i] != pid; i++)
		;
	assert_true(i < g.npids);
	g.pids[i] = g.pids[--g.npids];
	assert_int_equal(kill(pid, SIGTERM), 0);
	for (j = 0; j < 100; j++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Pebble C (no badNonce injection, no authorization reuse), its PID
 * last in g.pids.  0 / -1. */
static int
start_c(void)
{
	char dnsarg[32], cc[128];
	char *pc[] = {"pebble", "-config", cc, "-dnsserver", dnsarg, NULL};
	const char *const ec[] = {"PEBBLE_VA_NOSLEEP=1",
	    "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0", NULL};

	snprintf(dnsarg, sizeof(dnsarg), "127.0.0.1:%d", g.dns);
	snprintf(cc, sizeof(cc), "%s/c.json", g.dir);
	if (spawn(pc, ec, "c.log") == -1 || wait_listen(g.c_port) == -1 ||
	    wait_listen(g.c_mgmt) == -1)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];
	size_t i;

	kill_all();
	for (i = 0; i < MAX_TOKENS; i++) {
		free(g.tok_name[i]);
		free(g.tok_value[i]);
	}
	if (g.http != NULL)
		evhttp_free(g.http);
	if (g.base != NULL)
		event_base_free(g.base);
	EVP_PKEY_free(g.acct);
	if (g.dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", g.dir);
	}
	return 0;
}

static int
start_peers(void)
{
	char dns[32], mgmt[32], dnsarg[32], ca[128], cb[128];
	char *cts[] = {"pebble-challtestsrv", "-dns01", dns, "-http01", "",
	    "-https01", "", "-tlsalpn01", "", "-management", mgmt,
	    "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", NULL};
	char *pa[] = {"pebble", "-config", ca, "-dnsserver", dnsarg, NULL};
	char *pb[] = {"pebble", "-config", cb, "-dnsserver", dnsarg, NULL};
	const char *const ea[] = {"PEBBLE_VA_NOSLEEP=1",
	    "PEBBLE_WFE_NONCEREJECT=15", "PEBBLE_ALTERNATE_ROOTS=1",
	    "PEBBLE_AUTHZREUSE=0", NULL};
	const char *const eb[] = {"PEBBLE_VA_NOSLEEP=1",
	    "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0", NULL};
	const char *const none[] = {NULL};

	snprintf(dns, sizeof(dns), "127.0.0.1:%d", g.dns);
	snprintf(dnsarg, sizeof(dnsarg), "127.0.0.1:%d", g.dns);
	snprintf(mgmt, sizeof(mgmt), "127.0.0.1:%d", g.cts_mgmt);
	snprintf(ca, sizeof(ca), "%s/a.json", g.dir);
	snprintf(cb, sizeof(cb), "%s/b.json", g.dir);
	if (spawn(cts, none, "cts.log") == -1 || spawn(pa, ea, "a.log") == -1 ||
	    spawn(pb, eb, "b.log") == -1 || wait_listen(g.cts_mgmt) == -1 ||
	    wait_listen(g.a_port) == -1 || wait_listen(g.b_port) == -1 ||
	    wait_listen(g.a_mgmt) == -1 || wait_listen(g.b_mgmt) == -1 ||
	    start_c() == -1)
		return -1;
	return 0;
}

static int
group_setup(void **state)
{
	int *ports[] = {&g.dns, &g.cts_mgmt, &g.http01, &g.a_port, &g.a_mgmt,
	    &g.b_port, &g.b_mgmt, &g.closed, &g.c_port, &g.c_mgmt};
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	snprintf(g.dir, sizeof(g.dir), "/tmp/test_upacme.XXXXXX");
	if (mkdtemp(g.dir) == NULL)
		return -1;
	snprintf(g.ca, sizeof(g.ca), "%s/ca.pem", g.dir);
	snprintf(g.crt, sizeof(g.crt), "%s/srv.pem", g.dir);
	snprintf(g.key, sizeof(g.key), "%s/srv.key", g.dir);
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if ((*ports[i] = free_port()) == -1)
			return -1;
	make_tls();
	write_config("a.json", g.a_port, g.a_mgmt, 0);
	write_config("b.json", g.b_port, g.b_mgmt, 1);
	write_config("c.json", g.c_port, g.c_mgmt, 0);
	if ((g.base = event_base_new()) == NULL ||
	    (g.http = evhttp_new(g.base)) == NULL ||
	    evhttp_bind_socket(g.http, "127.0.0.1", (uint16_t)g.http01) != 0 ||
	    (g.acct = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		goto fail;
	evhttp_set_gencb(g.http, on_http01, NULL);
	if (start_peers() == -1) {
		fprintf(stderr, "test_upacme: peers did not start, see %s\n",
		    g.dir);
		goto fail;
	}
	return 0;
fail:
	kill_all();
	return -1;
}

/* ---- hooks ------------------------------------------------------------ */

static void
on_persist(
    void *order_arg, const char *state, upacme_cont_fn *cont, void *cont_arg)
{
	struct tc *t = order_arg;
	json_t *j = json_loads(state, 0, NULL);
	const char *url = json_string_value(json_object_get(j, "order"));

	assert_non_null(url);
	t->persists++;
	if (t->first_state == NULL) {
		t->first_state = strdup(state);
		t->order_url = strdup(url);
	} else if (strcmp(t->order_url, url) != 0)
		t->same_order = 0;
	json_decref(j);
	cont(cont_arg, 0);
	if (t->stop_at_persist)
		event_base_loopbreak(g.base);
}

/* challtestsrv answered a /set-txt or /clear-txt. */
struct txt_call {
	upacme_cont_fn *cont;
	void *cont_arg;
};

static void
on_txt(struct evhttp_request *req, void *arg)
{
	struct txt_call *c = arg;
	int ok = req != NULL && evhttp_request_get_response_code(req) == 200;

	c->cont(c->cont_arg, ok ? 0 : -1);
	free(c);
}

/* POST {"host": name., "value"} to challtestsrv's `what`. */
static void
txt_post(struct tc *t, const char *what, const char *name, const char *value,
    upacme_cont_fn *cont, void *cont_arg)
{
	struct evhttp_request *req;
	struct txt_call *c = calloc(1, sizeof(*c));
	char host[300];

	assert_non_null(c);
	c->cont = cont;
	c->cont_arg = cont_arg;
	snprintf(host, sizeof(host), "%s.", name);
	if (t->cts == NULL)
		t->cts = evhttp_connection_base_new(
		    g.base, NULL, "127.0.0.1", (uint16_t)g.cts_mgmt);
	assert_non_null(t->cts);
	req = evhttp_request_new(on_txt, c);
	assert_non_null(req);
	evbuffer_add_printf(evhttp_request_get_output_buffer(req),
	    "{\"host\":\"%s\",\"value\":\"%s\"}", host, value);
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	assert_int_equal(
	    evhttp_make_request(t->cts, req, EVHTTP_REQ_POST, what), 0);
}

static void
on_publish(void *order_arg, const char *type, const char *name,
    const char *value, upacme_cont_fn *cont, void *cont_arg)
{
	size_t i;

	if (strcmp(type, "dns-01") == 0) {
		txt_post(order_arg, "/set-txt", name, value, cont, cont_arg);
		return;
	}
	for (i = 0; i < MAX_TOKENS && g.tok_name[i] != NULL; i++)
		;
	assert_true(i < MAX_TOKENS);
	g.tok_name[i] = strdup(name);
	g.tok_value[i] = strdup(value);
	cont(cont_arg, 0);
}

static void
on_unpublish(void *order_arg, const char *type, const char *name,
    const char *value, upacme_cont_fn *cont, void *cont_arg)
{
	size_t i;

	if (strcmp(type, "dns-01") == 0) {
		txt_post(order_arg, "/clear-txt", name, value, cont, cont_arg);
		return;
	}
	for (i = 0; i < MAX_TOKENS; i++)
		if (g.tok_name[i] != NULL && strcmp(g.tok_name[i], name) == 0) {
			free(g.tok_name[i]);
			free(g.tok_value[i]);
			g.tok_name[i] = g.tok_value[i] = NULL;
		}
	cont(cont_arg, 0);
}

static const struct upacme_hooks hooks = {
    .persist = on_persist,
    .publish = on_publish,
    .unpublish = on_unpublish,
};

static void
on_done(void *order_arg, enum upacme_outcome outcome, const char *problem,
    const char *detail, STACK_OF(X509) *chain)
{
	struct tc *t = order_arg;

	t->done++;
	t->outcome = outcome;
	t->problem = problem != NULL ? strdup(problem) : NULL;
	t->detail = detail != NULL ? strdup(detail) : NULL;
	t->chain = chain;
	event_base_loopbreak(g.base);
}

/* ---- helpers ---------------------------------------------------------- */

static void
tc_init(struct tc *t)
{
	memset(t, 0, sizeof(*t));
	t->same_order = 1;
}

static void
tc_clear(struct tc *t)
{
	if (t->cts != NULL)
		evhttp_connection_free(t->cts);
	free(t->problem);
	free(t->detail);
	free(t->first_state);
	free(t->order_url);
	sk_X509_pop_free(t->chain, X509_free);
}

static void
conf_init(struct upacme_conf *c, int port, const char *challenge)
{
	static char url[64];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/dir", port);
	memset(c, 0, sizeof(*c));
	c->directory_url = url;
	c->ca_bundle = g.ca;
	c->account_key = g.acct;
	c->contact = "mailto:ops@example.com";
	c->challenge = challenge;
	c->order_timeout = ORDER_TIMEOUT;
	c->request_timeout = 5;
}

/* A DER CSR of `key` for `names` (the first one also the CN). */
static unsigned char *
make_csr(EVP_PKEY *key, const char *const *names, size_t n, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext;
	unsigned char *der = NULL, *ret;
	char san[512] = "";
	size_t i;
	int dlen;

	assert_non_null(req);
	assert_non_null(exts);
	for (i = 0; i < n; i++)
		snprintf(san + strlen(san), sizeof(san) - strlen(san),
		    "%sDNS:%s", i ? "," : "", names[i]);
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	assert_non_null(ext);
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	assert_true((dlen = i2d_X509_REQ(req, &der)) > 0);
	ret = malloc((size_t)dlen);
	assert_non_null(ret);
	memcpy(ret, der, (size_t)dlen);
	*len = (size_t)dlen;
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return ret;
}

static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
	event_base_loopbreak(g.base);
}

/* Run the loop until *flag is set (bounded). */
static void
run_until(int *flag)
{
	struct timeval tv = {ORDER_TIMEOUT + 10, 0};
	struct event *guard;
	int expired = 0;

	guard = evtimer_new(g.base, on_guard, &expired);
	assert_non_null(guard);
	assert_int_equal(evtimer_add(guard, &tv), 0);
	while (*flag == 0 && !expired)
		event_base_dispatch(g.base);
	event_free(guard);
	assert_false(expired);
}

static void
run_until_done(struct tc *t)
{
	run_until(&t->done);
	assert_int_equal(t->done, 1);
}

/* Order `names` with engine `u`; t gets the outcome.  `resume` may be
 * NULL.  Returns the CSR's key (caller frees). */
static EVP_PKEY *
order(struct upacme *u, struct tc *t, const char *const *names, size_t n,
    const char *resume)
{
	struct upacme_order_spec spec;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	unsigned char *csr;
	size_t len;

	assert_non_null(key);
	csr = make_csr(key, names, n, &len);
	memset(&spec, 0, sizeof(spec));
	spec.csr_der = csr;
	spec.csr_len = len;
	spec.dns = names;
	spec.n_dns = n;
	spec.resume_state = resume;
	assert_non_null(upacme_order_start(u, &spec, on_done, t));
	free(csr);
	return key;
}

/* GET pebble's management `path` (its roots), PEM into an X509. */
static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	BIO *b = arg;

	return BIO_write(b, p, (int)(size * n)) == (int)(size * n) ? size * n
	                                                           : 0;
}

static X509 *
fetch_root(int mgmt, int i)
{
	char url[96];
	CURL *c = curl_easy_init();
	BIO *b = BIO_new(BIO_s_mem());
	X509 *x;

	assert_non_null(c);
	assert_non_null(b);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/roots/%d", mgmt, i);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, g.ca);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(x);
	curl_easy_cleanup(c);
	BIO_free(b);
	return x;
}

/* chain[0] carries `key` and chains to `root`. */
static void
check_chain(STACK_OF(X509) *chain, EVP_PKEY *key, X509 *root)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *rest = sk_X509_dup(chain);

	assert_non_null(chain);
	assert_non_null(st);
	assert_non_null(ctx);
	assert_non_null(rest);
	assert_true(sk_X509_num(chain) >= 2);
	assert_int_equal(
	    EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, 0)), key), 1);
	(void)sk_X509_shift(rest);
	assert_int_equal(X509_STORE_add_cert(st, root), 1);
	assert_int_equal(
	    X509_STORE_CTX_init(ctx, st, sk_X509_value(chain, 0), rest), 1);
	assert_int_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	sk_X509_free(rest);
}

/* The order ended OK with a chain for `key` to root `i` of the pebble
 * whose management port is `mgmt`. */
static void
assert_issued(const struct tc *t, EVP_PKEY *key, int mgmt, int i)
{
	X509 *root;

	assert_int_equal(t->outcome, UPACME_OK);
	root = fetch_root(mgmt, i);
	check_chain(t->chain, key, root);
	X509_free(root);
}

/* The CN of `x`'s subject, into buf. */
static void
subject_cn(X509 *x, char *buf, size_t len)
{
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	                NID_commonName, buf, (int)len) > 0);
}

/* ---- cases ------------------------------------------------------------ */

static void
on_revoked(void *arg, int rc, const char *detail)
{
	struct tc *t = arg;

	t->revoked = rc == 0 ? 1 : -1;
	event_base_loopbreak(g.base);
}

/* Two names by http-01 on A (badNonce injected): the chain verifies to
 * root 0; then revocation. */
static void
test_http01(void **state)
{
	const char *names[] = {"a1.example.com", "a2.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	EVP_PKEY *key;

	tc_init(&t);
	conf_init(&c, g.a_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	key = order(u, &t, names, 2, NULL);
	run_until_done(&t);
	assert_true(t.persists >= 2); /* pending, then ready / valid */
	assert_true(t.same_order);
	assert_issued(&t, key, g.a_mgmt, 0);

	assert_int_equal(
	    upacme_revoke(u, sk_X509_value(t.chain, 0), 1, on_revoked, &t), 0);
	run_until(&t.revoked);
	assert_int_equal(t.revoked, 1);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t);
}

/* A name and its wildcard by dns-01 through challtestsrv's /set-txt. */
static void
test_dns01(void **state)
{
	const char *names[] = {"d.example.com", "*.d.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	EVP_PKEY *key;

	tc_init(&t);
	conf_init(&c, g.a_port, "dns-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	key = order(u, &t, names, 2, NULL);
	run_until_done(&t);
	assert_issued(&t, key, g.a_mgmt, 0);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t);
}

/* A wildcard cannot be proven by http-01: refused before publishing. */
static void
test_wildcard_http01(void **state)
{
	const char *names[] = {"*.w.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;

	tc_init(&t);
	conf_init(&c, g.a_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u, &t, names, 1, NULL));
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_REJECTED);
	assert_non_null(strstr(t.detail, "dns-01"));
	upacme_free(u);
	tc_clear(&t);
}

static void
test_blocked(void **state)
{
	const char *names[] = {BLOCKED};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;

	tc_init(&t);
	conf_init(&c, g.a_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u, &t, names, 1, NULL));
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_REJECTED);
	assert_non_null(t.problem);
	assert_string_equal(t.problem, ERR "rejectedIdentifier");
	assert_non_null(t.detail);
	assert_int_equal(t.persists, 0); /* no order was made */
	upacme_free(u);
	tc_clear(&t);
}

/* Nothing listens: unavailable, and within the order's timeout. */
static void
test_down(void **state)
{
	const char *names[] = {"down.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	time_t t0 = time(NULL);

	tc_init(&t);
	conf_init(&c, g.closed, "http-01");
	c.order_timeout = 6;
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u, &t, names, 1, NULL));
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_UNAVAILABLE);
	assert_null(t.chain);
	assert_true(time(NULL) - t0 <= c.order_timeout + 1);
	upacme_free(u);
	tc_clear(&t);
}

/* Stop after newOrder, free the engine mid-flight, resume with a new
 * one: the certificate comes from the same upstream order. */
static void
test_resume(void **state)
{
	const char *names[] = {"r.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t1, t2;
	EVP_PKEY *key;
	X509 *root;
	unsigned char *csr;
	size_t len;
	struct upacme_order_spec spec;

	tc_init(&t1);
	t1.stop_at_persist = 1;
	conf_init(&c, g.a_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	key = order(u, &t1, names, 1, NULL);
	event_base_dispatch(g.base);
	assert_int_equal(t1.done, 0);
	assert_non_null(t1.first_state);
	upacme_free(u); /* in flight: no callback may come */
	assert_int_equal(t1.done, 0);

	tc_init(&t2);
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	csr = make_csr(key, names, 1, &len);
	memset(&spec, 0, sizeof(spec));
	spec.csr_der = csr;
	spec.csr_len = len;
	spec.resume_state = t1.first_state;
	assert_non_null(upacme_order_start(u, &spec, on_done, &t2));
	free(csr);
	run_until_done(&t2);
	assert_int_equal(t2.outcome, UPACME_OK);
	assert_true(t2.persists >= 1);
	assert_string_equal(t2.order_url, t1.order_url);
	assert_true(t2.same_order);
	root = fetch_root(g.a_mgmt, 0);
	check_chain(t2.chain, key, root);

	/* A state that is not ours starts nothing (and calls nothing). */
	spec.resume_state = "{\"order\":\"http://x/\"}";
	csr = make_csr(key, names, 1, &len);
	spec.csr_der = csr;
	spec.csr_len = len;
	assert_null(upacme_order_start(u, &spec, on_done, &t2));
	free(csr);
	X509_free(root);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t1);
	tc_clear(&t2);
}

/* B requires EAB: without it the order is refused with a clear detail,
 * with it the certificate is issued. */
static void
test_eab(void **state)
{
	const char *names[] = {"e.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	EVP_PKEY *key, *rsa;
	unsigned char *mac;
	size_t mac_len;

	tc_init(&t);
	conf_init(&c, g.b_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u, &t, names, 1, NULL));
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_REJECTED);
	assert_non_null(strstr(t.detail, "External Account Binding"));
	upacme_free(u);
	tc_clear(&t);

	/* An RSA account this time: RS256 requests, HS256 binding. */
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(rsa);
	mac = encoding_b64url_decode(EAB_KEY, strlen(EAB_KEY), &mac_len);
	assert_non_null(mac);
	tc_init(&t);
	c.account_key = rsa;
	c.eab_kid = EAB_KID;
	c.eab_hmac_key = mac;
	c.eab_hmac_key_len = mac_len;
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	free(mac);
	EVP_PKEY_free(rsa);
	key = order(u, &t, names, 1, NULL);
	run_until_done(&t);
	assert_issued(&t, key, g.b_mgmt, 0);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t);
}

/* PEBBLE_ALTERNATE_ROOTS=1: prefer root 1's CN, get the chain to it. */
static void
test_alternate(void **state)
{
	const char *names[] = {"alt.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	EVP_PKEY *key;
	X509 *root, *last;
	char cn[128], iss[128];

	root = fetch_root(g.a_mgmt, 1);
	subject_cn(root, cn, sizeof(cn));
	tc_init(&t);
	conf_init(&c, g.a_port, "http-01");
	c.preferred_chain = cn;
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	key = order(u, &t, names, 1, NULL);
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_OK);
	last = sk_X509_value(t.chain, sk_X509_num(t.chain) - 1);
	assert_true(X509_NAME_get_text_by_NID(X509_get_issuer_name(last),
	                NID_commonName, iss, sizeof(iss)) > 0);
	assert_string_equal(iss, cn);
	check_chain(t.chain, key, root);
	X509_free(root);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t);
}

/* The member `name` of the persisted state `state`, or NULL. */
static char *
state_get(const char *state, const char *name)
{
	json_t *j = json_loads(state, 0, NULL);
	const char *v;
	char *ret = NULL;

	assert_non_null(j);
	if ((v = json_string_value(json_object_get(j, name))) != NULL)
		ret = strdup(v);
	json_decref(j);
	return ret;
}

/*
 * C forgets everything (a restart on the same ports: new roots, no
 * accounts) between two orders of one engine: the kid-signed newOrder
 * meets accountDoesNotExist, the engine registers again and issues
 * under the new root.  At the same time an order persisted under the
 * old account is resumed: the upstream does not know it, so it is
 * ordered anew and the new order persisted; so is an order saved
 * without its account that the upstream does not know.
 */
static void
test_stale_account(void **state)
{
	const char *n1[] = {"s1.example.com"}, *n2[] = {"s2.example.com"};
	const char *n3[] = {"s3.example.com"};
	struct upacme_conf c;
	struct upacme *u, *u2;
	struct tc t1, t2, t3, t4, t5;
	EVP_PKEY *k1, *k3, *k4;
	X509 *old_root, *root;
	char *old_kid, *acct, old_state[160];

	tc_init(&t1);
	conf_init(&c, g.c_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	k1 = order(u, &t1, n1, 1, NULL);
	run_until_done(&t1);
	assert_int_equal(t1.outcome, UPACME_OK);
	old_root = fetch_root(g.c_mgmt, 0);
	check_chain(t1.chain, k1, old_root);
	assert_non_null(u->kid);
	old_kid = strdup(u->kid);
	assert_non_null(old_kid);
	acct = state_get(t1.first_state, "account");
	assert_non_null(acct);
	assert_string_equal(acct, old_kid);
	free(acct);

	/* An order of the old account, persisted and left (a restart). */
	tc_init(&t2);
	t2.stop_at_persist = 1;
	assert_non_null(u2 = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u2, &t2, n2, 1, NULL));
	event_base_dispatch(g.base);
	assert_non_null(t2.first_state);
	upacme_free(u2);

	stop_pid(g.pids[g.npids - 1]);
	assert_int_equal(start_c(), 0);
	root = fetch_root(g.c_mgmt, 0);
	assert_int_not_equal(X509_cmp(root, old_root), 0);

	tc_init(&t3);
	tc_init(&t4);
	k3 = order(u, &t3, n3, 1, NULL);
	k4 = order(u, &t4, n2, 1, t2.first_state);
	run_until(&t3.done);
	run_until(&t4.done);
	assert_int_equal(t3.outcome, UPACME_OK);
	check_chain(t3.chain, k3, root);
	assert_non_null(u->kid);
	assert_string_not_equal(u->kid, old_kid);

	assert_int_equal(t4.outcome, UPACME_OK);
	check_chain(t4.chain, k4, root);
	assert_non_null(t4.order_url);
	assert_string_not_equal(t4.order_url, t2.order_url);
	assert_true(t4.same_order);
	acct = state_get(t4.first_state, "account");
	assert_non_null(acct);
	assert_string_equal(acct, u->kid);
	free(acct);

	/* A state saved before the account was recorded, of an order the
	 * upstream does not know: ordered anew as well. */
	snprintf(old_state, sizeof(old_state),
	    "{\"order\":\"https://127.0.0.1:%d/my-order/gone\","
	    "\"status\":\"pending\"}",
	    g.c_port);
	tc_init(&t5);
	EVP_PKEY_free(order(u, &t5, n1, 1, old_state));
	run_until_done(&t5);
	assert_int_equal(t5.outcome, UPACME_OK);
	assert_non_null(t5.order_url);
	assert_null(strstr(t5.order_url, "/gone"));

	free(old_kid);
	X509_free(old_root);
	X509_free(root);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k3);
	EVP_PKEY_free(k4);
	upacme_free(u);
	tc_clear(&t1);
	tc_clear(&t2);
	tc_clear(&t3);
	tc_clear(&t4);
	tc_clear(&t5);
}

/*
 * Polls come soon after the challenge and after finalize: an http-01
 * order on C (validation without pebble's random sleep) takes less than
 * FAST_ORDER_S, where one-second polls took two.  The best of two
 * orders, for a loaded machine.
 */
static void
test_poll_speed(void **state)
{
	const char *names[][1] = {{"p1.example.com"}, {"p2.example.com"}};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	double t0, took, best = 1e9;
	size_t i;

	conf_init(&c, g.c_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	for (i = 0; i < 2; i++) {
		tc_init(&t);
		t0 = upacme_now();
		EVP_PKEY_free(order(u, &t, names[i], 1, NULL));
		run_until_done(&t);
		took = upacme_now() - t0;
		assert_int_equal(t.outcome, UPACME_OK);
		fprintf(stderr, "test_poll_speed: order %zu took %.3f s\n", i,
		    took);
		if (took < best)
			best = took;
		tc_clear(&t);
	}
	assert_true(best < FAST_ORDER_S);
	upacme_free(u);
}

/* Which refusals of a kid-signed request mean the account is gone. */
static void
test_account_gone(void **state)
{
	static const struct {
		const char *type, *detail;
		int gone;
	} cases[] = {
	    {ERR "accountDoesNotExist", "Account https://x/acct/1 not found.",
	        1},
	    {ERR "accountDoesNotExist", NULL, 1},
	    {ERR "unauthorized",
	        "Account is not valid, has status \"deactivated\"", 1},
	    {ERR "unauthorized", "No registration exists matching provided key",
	        1},
	    {ERR "unauthorized", "account UNKNOWN to this server", 1},
	    {ERR "unauthorized",
	        "User account ID doesn't match account ID in "
	        "authorization",
	        0},
	    {ERR "unauthorized", "Order is not owned by this requester", 0},
	    {ERR "unauthorized", NULL, 0},
	    {ERR "malformed", "Account not found", 0},
	    {NULL, "Account not found", 0},
	};
	struct upacme_resp r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.problem_type = (char *)cases[i].type;
		r.json = cases[i].detail != NULL
		    ? json_pack("{s:s}", "detail", cases[i].detail)
		    : json_object();
		assert_non_null(r.json);
		if (upacme_account_gone(&r) != cases[i].gone)
			fail_msg("case %zu: \"%s\"", i,
			    cases[i].detail != NULL ? cases[i].detail : "");
		json_decref(r.json);
	}
}

/* Retry-After (RFC 9110 §10.2.3): seconds or an HTTP-date. */
static void
test_retry_after(void **state)
{
	double now = 1445412480.0; /* Wed, 21 Oct 2015 07:28:00 GMT */

	assert_int_equal(upacme_retry_after_parse("120", now), 120);
	assert_int_equal(upacme_retry_after_parse(" 0", now), 0);
	assert_int_equal(upacme_retry_after_parse("99999999", now), 86400);
	assert_int_equal(
	    upacme_retry_after_parse("Wed, 21 Oct 2015 07:28:30 GMT", now), 30);
	assert_int_equal(
	    upacme_retry_after_parse("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
	assert_int_equal(upacme_retry_after_parse("soon", now), -1);
	assert_int_equal(upacme_retry_after_parse("12x", now), -1);
	assert_int_equal(upacme_retry_after_parse("", now), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_http01),
	    cmocka_unit_test(test_dns01),
	    cmocka_unit_test(test_wildcard_http01),
	    cmocka_unit_test(test_blocked),
	    cmocka_unit_test(test_down),
	    cmocka_unit_test(test_resume),
	    cmocka_unit_test(test_eab),
	    cmocka_unit_test(test_alternate),
	    cmocka_unit_test(test_account_gone),
	    cmocka_unit_test(test_poll_speed),
	    cmocka_unit_test(test_stale_account),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
