/*
 * `enrolld init`: a fresh, complete instance in one directory — local
 * root CA, TLS server certificate issued through the local backend,
 * SQLite store and a config file with every key written out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "backends/backend.h"
#include "core/cert.h"
#include "core/cmd.h"
#include "core/enroll.h"
#include "core/log.h"
#include "core/passwd.h"
#include "core/store.h"

#define MAX_LIST 32

struct init_opts {
	const char *dir;
	const char *names[MAX_LIST];
	size_t n_names;
	const char *domains[MAX_LIST];
	size_t n_domains;
	int port;
	const char *est_user;
	enum key_kind ca_kind;
	int ca_rsa_bits;
	int force;
	const char *acme_resolver;
	int http01_port;
	int tlsalpn01_port;
	int allow_private;
	int http_port;
	const char *scep_challenge;
	/* An upstream ACME CA for the default profile (backends.upstream). */
	const char *upstream_acme;
	const char *upstream_ca_bundle;
	const char *upstream_challenge;
	const char *upstream_dns_hook;
	const char *upstream_eab_kid;
	const char *upstream_eab_hmac;
};

struct issued {
	int called;
	enum enroll_reason reason;
	X509 *cert;
};

static int
init_usage(void)
{
	fprintf(stderr,
	    "usage: enrolld init --dir DIR [--name HOST]... "
	    "[--port N] [--est-user USER:PASSWORD] [--allow-domain SUFFIX]... "
	    "[--ca-key p256|p384|rsa2048|rsa3072|ed25519] [--force] "
	    "[--acme-resolver ADDR:PORT] [--http01-port N] "
	    "[--tlsalpn01-port N] [--allow-private-targets] [--http-port N] "
	    "[--scep-challenge SECRET] [--upstream-acme DIRECTORY_URL "
	    "[--upstream-ca-bundle FILE] [--upstream-challenge http-01|dns-01] "
	    "[--upstream-dns-hook COMMAND] [--upstream-eab-kid KID "
	    "--upstream-eab-hmac B64URL]]\n");
	return 2;
}

static int
init_parse(int argc, char **argv, struct init_opts *o)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"name", required_argument, NULL, 'n'},
	    {"port", required_argument, NULL, 'p'},
	    {"est-user", required_argument, NULL, 'u'},
	    {"allow-domain", required_argument, NULL, 'a'},
	    {"ca-key", required_argument, NULL, 'k'},
	    {"force", no_argument, NULL, 'f'},
	    {"acme-resolver", required_argument, NULL, 'r'},
	    {"http01-port", required_argument, NULL, 'h'},
	    {"tlsalpn01-port", required_argument, NULL, 't'},
	    {"allow-private-targets", no_argument, NULL, 'P'},
	    {"http-port", required_argument, NULL, 'H'},
	    {"scep-challenge", required_argument, NULL, 'C'},
	    {"upstream-acme", required_argument, NULL, 'U'},
	    {"upstream-ca-bundle", required_argument, NULL, 'B'},
	    {"upstream-challenge", required_argument, NULL, 'c'},
	    {"upstream-dns-hook", required_argument, NULL, 'D'},
	    {"upstream-eab-kid", required_argument, NULL, 'E'},
	    {"upstream-eab-hmac", required_argument, NULL, 'M'},
	    {NULL, 0, NULL, 0},
	};
	int ch, kind;
	char *end;
	long port;

	memset(o, 0, sizeof(*o));
	o->port = 8443;
	o->ca_kind = KEY_P256;
	o->http01_port = 80;
	o->tlsalpn01_port = 443;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->dir = optarg;
			break;
		case 'n':
			if (o->n_names == MAX_LIST)
				return -1;
			o->names[o->n_names++] = optarg;
			break;
		case 'a':
			if (o->n_domains == MAX_LIST)
				return -1;
			o->domains[o->n_domains++] = optarg;
			break;
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*end != '\0' || port < 1 || port > 65535)
				return -1;
			o->port = (int)port;
			break;
		case 'u':
			if (strchr(optarg, ':') == NULL || optarg[0] == ':')
				return -1;
			o->est_user = optarg;
			break;
		case 'k':
			kind = cert_key_kind_parse(optarg, &o->ca_rsa_bits);
			if (kind != KEY_P256 && kind != KEY_P384 &&
			    kind != KEY_RSA && kind != KEY_ED25519)
				return -1;
			if (kind == KEY_RSA && o->ca_rsa_bits != 2048 &&
			    o->ca_rsa_bits != 3072)
				return -1;
			o->ca_kind = (enum key_kind)kind;
			break;
		case 'f':
			o->force = 1;
			break;
		case 'r':
			o->acme_resolver = optarg;
			break;
		case 'h':
		case 't':
			port = strtol(optarg, &end, 10);
			if (*end != '\0' || port < 1 || port > 65535)
				return -1;
			if (ch == 'h')
				o->http01_port = (int)port;
			else
				o->tlsalpn01_port = (int)port;
			break;
		case 'P':
			o->allow_private = 1;
			break;
		case 'H':
			port = strtol(optarg, &end, 10);
			if (*end != '\0' || port < 1 || port > 65535)
				return -1;
			o->http_port = (int)port;
			break;
		case 'C':
			if (optarg[0] == '\0')
				return -1;
			o->scep_challenge = optarg;
			break;
		case 'U':
			o->upstream_acme = optarg;
			break;
		case 'B':
			o->upstream_ca_bundle = optarg;
			break;
		case 'c':
			o->upstream_challenge = optarg;
			break;
		case 'D':
			o->upstream_dns_hook = optarg;
			break;
		case 'E':
			o->upstream_eab_kid = optarg;
			break;
		case 'M':
			o->upstream_eab_hmac = optarg;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || o->dir == NULL)
		return -1;
	/* The upstream options only with --upstream-acme; EAB in pairs. */
	if (o->upstream_acme == NULL &&
	    (o->upstream_ca_bundle != NULL || o->upstream_challenge != NULL ||
	        o->upstream_dns_hook != NULL || o->upstream_eab_kid != NULL))
		return -1;
	if ((o->upstream_eab_kid == NULL) != (o->upstream_eab_hmac == NULL))
		return -1;
	if (o->n_names == 0) {
		o->names[o->n_names++] = "localhost";
		o->names[o->n_names++] = "127.0.0.1";
		o->names[o->n_names++] = "::1";
	}
	return 0;
}

static int
is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

static int
init_prepare_dir(const struct init_opts *o)
{
	static const char *const stale[] = {
	    "enrolld.db", "enrolld.db-wal", "enrolld.db-shm"};
	char path[4096];
	struct stat st;
	size_t i;

	if (stat(o->dir, &st) == 0) {
		if (!o->force) {
			fprintf(stderr,
			    "enrolld: %s exists; refusing to touch "
			    "it without --force\n",
			    o->dir);
			return -1;
		}
		/* A new CA makes the old certificates meaningless. */
		for (i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", o->dir, stale[i]);
			if (unlink(path) != 0 && errno != ENOENT)
				return -1;
		}
		return 0;
	}
	if (mkdir(o->dir, 0755) != 0) {
		fprintf(stderr, "enrolld: cannot create %s: %s\n", o->dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
init_issued(
    void *arg, enum enroll_reason reason, const char *detail, X509 *cert)
{
	struct issued *out = arg;

	out->called = 1;
	out->reason = reason;
	out->cert = cert;
}

/* A CSR for `key`, signed by it: the local backend certifies CSRs. */
static X509_REQ *
init_csr(EVP_PKEY *key, const char *cn)
{
	X509_REQ *csr;
	X509_NAME *name;
	int ok;

	if ((csr = X509_REQ_new()) == NULL)
		return NULL;
	name = X509_REQ_get_subject_name(csr);
	ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	         (const unsigned char *)cn, -1, -1, 0) == 1 &&
	    X509_REQ_set_pubkey(csr, key) == 1 &&
	    X509_REQ_sign(csr, key, EVP_sha256()) > 0;
	if (!ok) {
		X509_REQ_free(csr);
		return NULL;
	}
	return csr;
}

/*
 * Issue a certificate for `key` through the local backend, the same path
 * every enrollment takes: subject CN `cn`, the --name identifiers when
 * with_names, under params.  Returns the certificate or NULL.
 */
static X509 *
init_issue(const struct init_opts *o, EVP_PKEY *key, const char *cn,
    int with_names, const struct issue_params *params)
{
	const struct ca_backend *local = ca_backend_find("local");
	struct issued out = {0, ENROLL_INTERNAL, NULL};
	struct enroll_req *req = NULL;
	json_t *conf = NULL;
	void *priv = NULL;
	char err[512];
	size_t i;

	if (local == NULL || (req = enroll_req_new(ENROLL_PROTO_CLI)) == NULL)
		goto out;
	conf = json_pack("{s:s, s:s, s:s}", "type", "local", "cert", "ca.pem",
	    "key", "ca.key");
	if (conf == NULL ||
	    local->init(conf, o->dir, &priv, err, sizeof(err)) == -1)
		goto out;
	if ((req->csr = init_csr(key, cn)) == NULL)
		goto out;
	for (i = 0; with_names && i < o->n_names; i++)
		if (enroll_req_add_ident(req,
		        is_ip(o->names[i]) ? IDENT_IP : IDENT_DNS,
		        o->names[i]) == -1)
			goto out;
	local->issue(priv, NULL, req, params, init_issued, &out);
out:
	if (local != NULL)
		local->free(priv);
	json_decref(conf);
	enroll_req_free(req);
	return out.called && out.reason == ENROLL_OK ? out.cert : NULL;
}

/* The TLS server certificate for the --names. */
static X509 *
init_server_cert(const struct init_opts *o, EVP_PKEY *key)
{
	static const int eku[] = {NID_server_auth};
	struct issue_params params = {
	    .validity_days = 365,
	    .backdate_seconds = 300,
	    .eku_nids = eku,
	    .n_eku = 1,
	    .subject_cn_only = 1,
	};

	return init_issue(o, key, o->names[0], 1, &params);
}

/*
 * The SCEP RA (RFC 8894 §2.1): an RSA key that decrypts requests and
 * signs replies, since the CA key may be ECDSA, certified by the CA.
 */
static int
init_ra(const struct init_opts *o)
{
	struct issue_params params = {
	    .validity_days = 1825,
	    .backdate_seconds = 300,
	    .key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT,
	    .subject_cn_only = 1,
	};
	EVP_PKEY *key = NULL;
	X509 *ra = NULL;
	char path[4096];
	int rc = -1;

	if ((key = cert_keygen(KEY_RSA, 2048)) == NULL ||
	    (ra = init_issue(o, key, "enrolld SCEP RA", 0, &params)) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/ra.key", o->dir);
	if (cert_save_key(path, key, o->force) == -1)
		goto out;
	snprintf(path, sizeof(path), "%s/ra.pem", o->dir);
	if (cert_save_pem(path, &ra, 1, o->force) == -1)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(ra);
	return rc;
}

static int
init_ca(const struct init_opts *o, X509 **ca_out)
{
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	char path[4096];
	int rc = -1;

	if ((key = cert_keygen(o->ca_kind, o->ca_rsa_bits)) == NULL ||
	    (ca = cert_make_root_ca(key, "enrolld root CA", 3650)) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/ca.key", o->dir);
	if (cert_save_key(path, key, o->force) == -1)
		goto out;
	snprintf(path, sizeof(path), "%s/ca.pem", o->dir);
	if (cert_save_pem(path, &ca, 1, o->force) == -1)
		goto out;
	*ca_out = ca;
	ca = NULL;
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(ca);
	return rc;
}

static int
init_tls(const struct init_opts *o, X509 *ca)
{
	EVP_PKEY *key = NULL;
	X509 *chain[2] = {NULL, ca};
	char path[4096];
	int rc = -1;

	if ((key = cert_keygen(KEY_P256, 0)) == NULL ||
	    (chain[0] = init_server_cert(o, key)) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/server.key", o->dir);
	if (cert_save_key(path, key, o->force) == -1)
		goto out;
	snprintf(path, sizeof(path), "%s/server.pem", o->dir);
	if (cert_save_pem(path, chain, 2, o->force) == -1)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(chain[0]);
	return rc;
}

static json_t *
init_profile(const struct init_opts *o)
{
	json_t *suffixes = json_array();
	size_t i;

	for (i = 0; suffixes != NULL && i < o->n_domains; i++)
		json_array_append_new(suffixes, json_string(o->domains[i]));
	return json_pack(
	    "{s:s, s:i, s:i, s:[ssss], s:i, "
	    "s:{s:o, s:b}, s:{s:[ss]}, s:i, s:b, s:b, s:[ss], s:s, s:[s], "
	    "s:b}",
	    "backend", "local", "validity_days", 90, "max_validity_days", 397,
	    "key_types", "p256", "p384", "rsa", "ed25519", "rsa_min_bits", 2048,
	    "dns", "allow_suffixes", suffixes, "allow_wildcards", 0, "ip",
	    "allow", "127.0.0.0/8", "::1/128", "max_sans", 10, "allow_email", 0,
	    "allow_uri", 0, "eku", "serverAuth", "clientAuth", "subject", "csr",
	    "requesters", "*", "allow_anonymous", 0);
}

/* The "acme" section, every key written out (docs/config.md). */
static json_t *
init_acme(const struct init_opts *o)
{
	return json_pack("{s:s, s:[s], s:n, s:n, s:[s], s:b, s:i, s:i, s:s, "
	                 "s:i, s:i, s:i, s:{s:s?, s:s, s:n, s:i, s:i, s:b, "
	                 "s:i, s:b}}",
	    "default_profile", "default", "profiles", "default",
	    "terms_of_service", "website", "caa_identities", "enrolld.invalid",
	    "external_account_required", 0, "order_lifetime_s", 7 * 86400,
	    "nonce_lifetime_s", 3600, "nonce_scope", "node", "orders_per_hour",
	    300, "failed_validations_per_hour", 60, "retry_after_s", 2,
	    "validation", "resolver", o->acme_resolver, "dns_transport", "tcp",
	    "trust_anchor", "http01_port", o->http01_port, "tlsalpn01_port",
	    o->tlsalpn01_port, "allow_private_targets", o->allow_private,
	    "timeout_ms", 10000, "caa", 1);
}

/* The "scep" section, every key written out (docs/config.md). */
static json_t *
init_scep(const char *challenge)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:[sssssss]}",
	    "default_profile", "default", "challenge", challenge, "ra_cert",
	    "ra.pem", "ra_key", "ra.key", "allow_des", 1, "des_reply", "3des",
	    "caps", "AES", "POSTPKIOperation", "Renewal", "SHA-1", "SHA-256",
	    "SHA-512", "SCEPStandard");
}

/* The loopback addresses this machine can listen on. */
static json_t *
init_listen(int port)
{
	struct sockaddr_in6 sin6;
	json_t *list = json_array();
	char addr[64];
	int fd;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	json_array_append_new(list, json_string(addr));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) >= 0) {
		/* Port 0: only asks whether ::1 exists here. */
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0) {
			snprintf(addr, sizeof(addr), "[::1]:%d", port);
			json_array_append_new(list, json_string(addr));
		}
		close(fd);
	}
	return list;
}

/* A path as given on the command line, made absolute: the config's
 * relative paths are under its own directory. */
static char *
init_abs_path(const char *path)
{
	char cwd[4096], *out;
	size_t n;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	n = strlen(cwd) + strlen(path) + 2;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "%s/%s", cwd, path);
	return out;
}

/*
 * backends.upstream: the upstream ACME CA (docs/config.md), and the
 * default profile issuing through it.  The local CA stays: it certifies
 * enrolld's own TLS and SCEP RA keys.  0 / -1.
 */
static int
init_upstream(const struct init_opts *o, json_t *root, json_t *profile)
{
	json_t *up;
	char *bundle = NULL, *hook = NULL;
	int rc = -1;

	if ((o->upstream_ca_bundle != NULL &&
	        (bundle = init_abs_path(o->upstream_ca_bundle)) == NULL) ||
	    (o->upstream_dns_hook != NULL &&
	        (hook = init_abs_path(o->upstream_dns_hook)) == NULL))
		goto out;
	up = json_pack("{s:s, s:s, s:s*, s:s, s:s*, s:s}", "type", "acme",
	    "directory", o->upstream_acme, "ca_bundle", bundle, "challenge",
	    o->upstream_challenge != NULL ? o->upstream_challenge : "http-01",
	    "dns_hook", hook, "account_key", "upstream-account.key");
	if (up == NULL)
		goto out;
	if (o->upstream_eab_kid != NULL)
		json_object_set_new(up, "eab",
		    json_pack("{s:s, s:s}", "kid", o->upstream_eab_kid,
		        "hmac_key", o->upstream_eab_hmac));
	if (json_object_set_new(
	        json_object_get(root, "backends"), "upstream", up) == -1 ||
	    json_object_set_new(profile, "backend", json_string("upstream")) ==
	        -1)
		goto out;
	rc = 0;
out:
	free(bundle);
	free(hook);
	return rc;
}

static char *
random_password(void)
{
	unsigned char rnd[12];
	char *hex;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	hex = malloc(2 * sizeof(rnd) + 1);
	for (size_t i = 0; hex != NULL && i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return hex;
}

static int
init_config(const struct init_opts *o, const char *user, const char *pass,
    const char *challenge)
{
	json_t *root = NULL, *profile;
	char path[4096], *hash = NULL;
	int rc = -1;

	if ((hash = passwd_hash(pass, 0)) == NULL ||
	    (profile = init_profile(o)) == NULL)
		goto out;
	root = json_pack("{s:o, s:i, s:{s:s, s:s}, "
	                 "s:{s:i, s:i, s:i, s:i}, s:{s:s, s:s}, s:{s:s}, "
	                 "s:{s:{s:s, s:s, s:s, s:i}}, s:{s:o}, "
	                 "s:{s:s, s:{}, s:[{s:s, s:s}], s:b, s:b, s:s}}",
	    "listen", init_listen(o->port), "workers", 0, "tls", "cert",
	    "server.pem", "key", "server.key", "limits", "max_header_bytes",
	    16384, "max_body_bytes", 1048576, "read_timeout_ms", 10000,
	    "shutdown_timeout_ms", 30000, "store", "driver", "sqlite", "path",
	    "enrolld.db", "log", "level", "info", "backends", "local", "type",
	    "local", "cert", "ca.pem", "key", "ca.key", "crl_days", 7,
	    "profiles", "default", profile, "est", "default_profile", "default",
	    "labels", "users", "name", user, "password_hash", hash,
	    "client_cert_auth", 1, "serverkeygen", 1, "realm", "enrolld EST");
	if (root == NULL)
		goto out;
	if (o->upstream_acme != NULL && init_upstream(o, root, profile) == -1)
		goto out;
	json_object_set_new(root, "acme", init_acme(o));
	json_object_set_new(root, "scep", init_scep(challenge));
	if (o->http_port != 0)
		json_object_set_new(
		    root, "http_listen", init_listen(o->http_port));
	snprintf(path, sizeof(path), "%s/enrolld.json", o->dir);
	if (json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) !=
	        0 ||
	    chmod(path, 0600) != 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	free(hash);
	return rc;
}

static int
init_store(const struct init_opts *o)
{
	char path[4096];
	struct store *st;

	snprintf(path, sizeof(path), "%s/enrolld.db", o->dir);
	if ((st = store_open("sqlite", path)) == NULL)
		return -1;
	store_close(st);
	return 0;
}

int
cmd_init(int argc, char **argv)
{
	struct init_opts o;
	char *user = NULL, *pass = NULL, *colon, *challenge = NULL;
	X509 *ca = NULL;
	int rc = 1;

	if (init_parse(argc, argv, &o) == -1)
		return init_usage();
	if (init_prepare_dir(&o) == -1)
		return 1;
	if (o.est_user != NULL) {
		if ((user = strdup(o.est_user)) == NULL)
			goto out;
		colon = strchr(user, ':');
		*colon = '\0';
		if ((pass = strdup(colon + 1)) == NULL)
			goto out;
	} else if ((user = strdup("est")) == NULL ||
	    (pass = random_password()) == NULL)
		goto out;
	if (o.scep_challenge != NULL)
		challenge = strdup(o.scep_challenge);
	else
		challenge = random_password();
	if (challenge == NULL)
		goto out;
	if (init_ca(&o, &ca) == -1 || init_tls(&o, ca) == -1 ||
	    init_ra(&o) == -1 || init_config(&o, user, pass, challenge) == -1 ||
	    init_store(&o) == -1) {
		fprintf(stderr, "enrolld: init of %s failed\n", o.dir);
		goto out;
	}
	printf("created %s: CA certificate %s/ca.pem, config %s/enrolld.json\n",
	    o.dir, o.dir, o.dir);
	printf("EST:  https://%s%s%s:%d/.well-known/est/\n",
	    strchr(o.names[0], ':') ? "[" : "", o.names[0],
	    strchr(o.names[0], ':') ? "]" : "", o.port);
	printf("ACME: https://%s%s%s:%d/acme/directory\n",
	    strchr(o.names[0], ':') ? "[" : "", o.names[0],
	    strchr(o.names[0], ':') ? "]" : "", o.port);
	printf("CRL:  https://%s%s%s:%d/crl\n",
	    strchr(o.names[0], ':') ? "[" : "", o.names[0],
	    strchr(o.names[0], ':') ? "]" : "", o.port);
	printf("EST user: %s  password: %s\n", user, pass);
	printf("SCEP: %s://%s%s%s:%d/scep  challenge: %s\n",
	    o.http_port ? "http" : "https", strchr(o.names[0], ':') ? "[" : "",
	    o.names[0], strchr(o.names[0], ':') ? "]" : "",
	    o.http_port ? o.http_port : o.port, challenge);
	printf("run:  enrolld run --config %s/enrolld.json\n", o.dir);
	rc = 0;
out:
	X509_free(ca);
	free(user);
	if (pass != NULL)
		OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
	if (challenge != NULL)
		OPENSSL_cleanse(challenge, strlen(challenge));
	free(challenge);
	return rc;
}
