/*
 * The peers of test_upacme.c, which tests backends/acme/upacme*.c on
 * 127.0.0.1, and the helpers that drive the engine against them.
 * group_setup() makes a throw-away CA and pebble's certificate, picks
 * free ports, writes the configs and starts, tracking every PID:
 * pebble-challtestsrv as the DNS server (and dns-01 TXT records through
 * its management API) and three Debian pebble instances, A (badNonce
 * injection, alternate roots, BLOCKED on its blocklist), B (External
 * Account Binding required, EAB_KID / EAB_KEY) and C (plain; start_c()
 * starts it again on the same ports after stop_pid()).  The http-01
 * responder runs on g.base and answers what on_publish() stored.
 * group_teardown() stops everything by PID and removes the directory.
 * For one order: struct tc, `hooks`, conf_init(), order(),
 * run_until_done(), fetch_root(), check_chain(), assert_issued().  Header
 * only: each test program includes it once; everything is static inline
 * so a program need not use every helper.
 */
#ifndef ENROLLD_TEST_UPACME_PEERS_H
#define ENROLLD_TEST_UPACME_PEERS_H

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
#include "tests/unit/cert_fixture.h"

#define EAB_KID "kid-1"
#define EAB_KEY                                                                \
	"zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
#define BLOCKED "blocked.example.com"
#define CHALL_PREFIX "/.well-known/acme-challenge/"
#define MAX_TOKENS 16
#define ORDER_TIMEOUT 20

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

/* A TCP port on 127.0.0.1 that was free just now, or -1. */
static inline int
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
static inline int
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
static inline int
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
static inline X509 *
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

/* Write x as a PEM certificate or, when x is NULL, key as a PEM
 * private key to `path`.  Fails the test on error. */
static inline void
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
static inline void
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
static inline void
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
static inline void
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

/* Stop every tracked peer (SIGTERM, then SIGKILL after 5 s each) and
 * reap it.  Returns 0. */
static inline int
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
static inline void
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
static inline int
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

/* cmocka group teardown: stop the peers by PID, free what group_setup()
 * made and remove its directory.  Safe after a failed setup. */
static inline int
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

/* Start challtestsrv, pebble A and B, wait for their ports, then start
 * C.  0 / -1 (the logs in g.dir say why). */
static inline int
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

/* cmocka group setup, once per program: a directory, free ports, the
 * TLS files and configs, the loop with the http-01 responder, the
 * account key and the peers.  0, or -1 with everything started stopped. */
static inline int
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

/* The persist hook: records the order's first state and URL in the
 * struct tc, lets the engine go on, and breaks the loop if the test
 * asked to stop there. */
static inline void
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

static inline void
on_txt(struct evhttp_request *req, void *arg)
{
	struct txt_call *c = arg;
	int ok = req != NULL && evhttp_request_get_response_code(req) == 200;

	c->cont(c->cont_arg, ok ? 0 : -1);
	free(c);
}

/* POST {"host": name., "value"} to challtestsrv's `what`. */
static inline void
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

/* The publish hook: dns-01 through challtestsrv's /set-txt, http-01 into
 * the responder's table. */
static inline void
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

/* The unpublish hook: the reverse of on_publish(). */
static inline void
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

/* The order's end: its outcome (strings copied, the chain taken) into
 * the struct tc, and the loop stops. */
static inline void
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

static inline void
tc_init(struct tc *t)
{
	memset(t, 0, sizeof(*t));
	t->same_order = 1;
}

/* Free what the order left in t. */
static inline void
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

/* An engine configuration for the pebble at `port` with the group's CA
 * bundle and account key.  The directory URL is static: one at a time. */
static inline void
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
static inline unsigned char *
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

static inline void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
	event_base_loopbreak(g.base);
}

/* Run the loop until *flag is set (bounded). */
static inline void
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

static inline void
run_until_done(struct tc *t)
{
	run_until(&t->done);
	assert_int_equal(t->done, 1);
}

/* Order `names` with engine `u`; t gets the outcome.  `resume` may be
 * NULL.  Returns the CSR's key (caller frees). */
static inline EVP_PKEY *
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

/* curl's write callback: append the body to the BIO `arg`. */
static inline size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	BIO *b = arg;

	return BIO_write(b, p, (int)(size * n)) == (int)(size * n) ? size * n
	                                                           : 0;
}

/* GET pebble's management /roots/i, PEM into an X509 (caller frees). */
static inline X509 *
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
static inline void
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
static inline void
assert_issued(const struct tc *t, EVP_PKEY *key, int mgmt, int i)
{
	X509 *root;

	assert_int_equal(t->outcome, UPACME_OK);
	root = fetch_root(mgmt, i);
	check_chain(t->chain, key, root);
	X509_free(root);
}

#endif
