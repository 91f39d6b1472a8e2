/*
 * EST client authentication (RFC 7030 §3.2.3, §3.3.2): HTTP Basic
 * (RFC 7617) against the configured users, and TLS client certificates
 * issued by this CA.  Also the re-enroll subject/SAN rule (§4.2.2).
 *
 * PBKDF2 at 200000 iterations costs tens of milliseconds; run for every
 * request it would cap a worker at a few dozen enrollments a second and
 * stall its event loop.  Successful verifications are therefore cached
 * for a minute, keyed by an HMAC of (user, password) under a random
 * per-process key, so the cache never holds anything a memory dump could
 * turn back into a password.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "core/csr.h"
#include "core/encoding.h"
#include "core/enroll.h"
#include "core/passwd.h"
#include "protocols/est/est_int.h"

#define PWCACHE_SLOTS 1024 /* power of two */
#define PWCACHE_TTL 60     /* seconds */
#define PWCACHE_MAC_LEN 32 /* HMAC-SHA256 */
/* "Basic " + base64 of user ':' password, with room for spaces. */
#define BASIC_HDR_MAX (16 + 4 * ((EST_USER_MAX + 1 + EST_PASSWORD_MAX + 2) / 3))

struct pwcache_slot {
	unsigned char mac[PWCACHE_MAC_LEN];
	time_t expires; /* 0 = empty */
};

struct est_auth {
	pthread_mutex_t lock; /* workers are threads */
	unsigned char key[32];
	struct pwcache_slot slots[PWCACHE_SLOTS];
};

struct est_auth *
est_auth_new(void)
{
	struct est_auth *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	if (RAND_priv_bytes(a->key, sizeof(a->key)) != 1) {
		ERR_clear_error();
		free(a);
		return NULL;
	}
	if (pthread_mutex_init(&a->lock, NULL) != 0) {
		OPENSSL_cleanse(a->key, sizeof(a->key));
		free(a);
		return NULL;
	}
	return a;
}

void
est_auth_free(struct est_auth *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->lock);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

/* Length of the run of base64 alphabet and pad characters at s. */
static size_t
b64_span(const char *s)
{
	return strspn(s,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=");
}

/* RFC 7617 §2: neither user-id nor password holds control characters. */
static int
has_ctl(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 1;
	return 0;
}

int
est_auth_parse_basic(
    const char *hdr, char *user, size_t usersz, char *pass, size_t passsz)
{
	unsigned char *dec = NULL, *colon;
	const char *tok;
	size_t toklen, declen = 0, ulen, plen;
	int rc = -1;

	if (strnlen(hdr, BASIC_HDR_MAX + 1) > BASIC_HDR_MAX)
		goto out;
	/* RFC 7235 §2.1: the scheme is case-insensitive. */
	if (strncasecmp(hdr, "Basic ", 6) != 0)
		goto out;
	for (tok = hdr + 6; *tok == ' '; tok++)
		;
	if ((toklen = b64_span(tok)) == 0 ||
	    tok[toklen + strspn(tok + toklen, " \t")] != '\0')
		goto out;
	if ((dec = encoding_b64_decode(tok, toklen, &declen)) == NULL)
		goto out;
	if ((colon = memchr(dec, ':', declen)) == NULL)
		goto out;
	ulen = (size_t)(colon - dec);
	plen = declen - ulen - 1;
	if (ulen == 0 || ulen >= usersz || plen >= passsz ||
	    has_ctl(dec, ulen) || has_ctl(colon + 1, plen))
		goto out;
	memcpy(user, dec, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, plen);
	pass[plen] = '\0';
	rc = 0;
out:
	if (dec != NULL)
		OPENSSL_cleanse(dec, declen);
	free(dec);
	return rc;
}

/* HMAC-SHA256 of user || 0x00 || pass under the process key.  0 / -1. */
static int
pwcache_mac(const struct est_auth *a, const char *user, const char *pass,
    unsigned char mac[PWCACHE_MAC_LEN])
{
	unsigned char buf[EST_USER_MAX + 1 + EST_PASSWORD_MAX];
	size_t ulen = strlen(user), plen = strlen(pass);
	unsigned int maclen = 0;
	int rc = -1;

	if (ulen > EST_USER_MAX || plen > EST_PASSWORD_MAX)
		return -1;
	memcpy(buf, user, ulen);
	buf[ulen] = 0x00;
	memcpy(buf + ulen + 1, pass, plen);
	if (HMAC(EVP_sha256(), a->key, (int)sizeof(a->key), buf,
	        ulen + 1 + plen, mac, &maclen) == NULL ||
	    maclen != PWCACHE_MAC_LEN) {
		ERR_clear_error();
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static struct pwcache_slot *
pwcache_slot(struct est_auth *a, const unsigned char *mac)
{
	return &a->slots[(mac[0] | (size_t)mac[1] << 8) % PWCACHE_SLOTS];
}

int
est_auth_cache_hit(
    struct est_auth *a, const char *user, const char *pass, time_t now)
{
	unsigned char mac[PWCACHE_MAC_LEN];
	struct pwcache_slot *s;
	int hit;

	if (pwcache_mac(a, user, pass, mac) == -1)
		return 0;
	s = pwcache_slot(a, mac);
	pthread_mutex_lock(&a->lock);
	hit = s->expires > now && CRYPTO_memcmp(s->mac, mac, sizeof(mac)) == 0;
	pthread_mutex_unlock(&a->lock);
	return hit;
}

/* Remember a verified password until now + TTL; a colliding older
 * entry is simply replaced (it costs one PBKDF2 later). */
static void
pwcache_put(struct est_auth *a, const char *user, const char *pass, time_t now)
{
	unsigned char mac[PWCACHE_MAC_LEN];
	struct pwcache_slot *s;

	if (pwcache_mac(a, user, pass, mac) == -1)
		return;
	s = pwcache_slot(a, mac);
	pthread_mutex_lock(&a->lock);
	memcpy(s->mac, mac, sizeof(mac));
	s->expires = now + PWCACHE_TTL;
	pthread_mutex_unlock(&a->lock);
}

int
est_auth_password_begin(struct est_auth *a, const struct est_config *cfg,
    const char *user, const char *pass, time_t now, const char **hash,
    int *known)
{
	const struct est_user *u;

	if (strlen(user) > EST_USER_MAX || strlen(pass) > EST_PASSWORD_MAX)
		return 0;
	if ((u = est_config_user(cfg, user)) == NULL) {
		/* Spend what a real user costs so the response time does not
		 * tell which names exist; the result is ignored. */
		if (cfg->n_users == 0)
			return 0;
		*hash = cfg->users[0].password_hash;
		*known = 0;
		return 2;
	}
	if (est_auth_cache_hit(a, user, pass, now))
		return 1;
	*hash = u->password_hash;
	*known = 1;
	return 2;
}

int
est_auth_password_end(struct est_auth *a, const char *user, const char *pass,
    time_t now, int known, int verified)
{
	if (!known)
		return 0;
	if (verified == 1)
		pwcache_put(a, user, pass, now);
	return verified;
}

int
est_auth_password(struct est_auth *a, const struct est_config *cfg,
    const char *user, const char *pass, time_t now)
{
	const char *hash = NULL;
	int known = 0, rc;

	rc = est_auth_password_begin(a, cfg, user, pass, now, &hash, &known);
	if (rc != 2)
		return rc;
	return est_auth_password_end(
	    a, user, pass, now, known, passwd_verify(pass, hash));
}

X509_STORE *
est_auth_trust_new(STACK_OF(X509) *chain)
{
	X509_STORE *st;
	int i;

	if ((st = X509_STORE_new()) == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (X509_STORE_add_cert(st, sk_X509_value(chain, i)) != 1) {
			ERR_clear_error();
			X509_STORE_free(st);
			return NULL;
		}
	}
	/* The issuing CA may be an intermediate whose root is not in the
	 * chain we hold; trusting our own issuer directly is the intent. */
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	return st;
}

/*
 * No purpose is enforced: a device renews the serverAuth certificate it
 * has, and RFC 7030 §3.3.2 asks only that it was issued by this CA.
 */
int
est_auth_cert_verify(X509_STORE *trust, X509 *cert, char *why, size_t whysz)
{
	X509_STORE_CTX *ctx;
	int rc = -1, err;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, trust, cert, NULL) != 1) {
		snprintf(why, whysz, "client certificate could not be checked");
		goto out;
	}
	if (X509_verify_cert(ctx) == 1) {
		rc = 0;
		goto out;
	}
	err = X509_STORE_CTX_get_error(ctx);
	if (err == X509_V_ERR_CERT_HAS_EXPIRED)
		snprintf(why, whysz, "client certificate expired");
	else if (err == X509_V_ERR_CERT_NOT_YET_VALID)
		snprintf(why, whysz, "client certificate not yet valid");
	else
		snprintf(
		    why, whysz, "client certificate not issued by this CA");
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	return rc;
}

static int
ident_equal(const struct enroll_ident *x, const struct enroll_ident *y)
{
	if (x->type != y->type)
		return 0;
	if (x->type == IDENT_IP)
		return x->ip_len == y->ip_len &&
		    memcmp(x->ip, y->ip, x->ip_len) == 0;
	return strcmp(x->value, y->value) == 0;
}

/* 1 when every identifier of a is among those of b. */
static int
idents_within(const struct enroll_req *a, const struct enroll_req *b)
{
	size_t i, j;

	for (i = 0; i < a->n_idents; i++) {
		for (j = 0; j < b->n_idents; j++)
			if (ident_equal(&a->idents[i], &b->idents[j]))
				break;
		if (j == b->n_idents)
			return 0;
	}
	return 1;
}

/*
 * The certificate's identifiers, collected by the same code as a CSR's
 * (csr_collect_idents on a request holding its subject and SAN
 * extension), so that both sides are normalised alike.  Caller frees.
 */
static struct enroll_req *
cert_idents(X509 *cert)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	struct enroll_req *old = NULL;
	X509_REQ *tmp = NULL;
	int loc;

	if ((tmp = X509_REQ_new()) == NULL ||
	    X509_REQ_set_subject_name(tmp, X509_get_subject_name(cert)) != 1)
		goto fail;
	if ((loc = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1)) >= 0) {
		if ((exts = sk_X509_EXTENSION_new_null()) == NULL ||
		    sk_X509_EXTENSION_push(exts, X509_get_ext(cert, loc)) <=
		        0 ||
		    X509_REQ_add_extensions(tmp, exts) != 1)
			goto fail;
	}
	if ((old = enroll_req_new(ENROLL_PROTO_EST)) == NULL)
		goto fail;
	/* The extension is borrowed from cert: free the stack only. */
	sk_X509_EXTENSION_free(exts);
	exts = NULL;
	if (enroll_req_take_csr(old, tmp) != ENROLL_OK) {
		tmp = NULL;
		goto fail;
	}
	return old;
fail:
	ERR_clear_error();
	sk_X509_EXTENSION_free(exts);
	X509_REQ_free(tmp);
	enroll_req_free(old);
	return NULL;
}

int
est_auth_renewal_match(
    const struct enroll_req *req, X509 *cert, char *why, size_t whysz)
{
	struct enroll_req *old;
	int rc;

	if (req->csr == NULL ||
	    X509_NAME_cmp(X509_REQ_get_subject_name(req->csr),
	        X509_get_subject_name(cert)) != 0) {
		snprintf(why, whysz,
		    "the CSR subject differs from the "
		    "certificate being renewed (RFC 7030 §4.2.2)");
		return 0;
	}
	if ((old = cert_idents(cert)) == NULL)
		return -1;
	rc = idents_within(req, old) && idents_within(old, req);
	if (!rc)
		snprintf(why, whysz,
		    "the CSR subjectAltNames differ from the "
		    "certificate being renewed (RFC 7030 §4.2.2)");
	enroll_req_free(old);
	return rc;
}
