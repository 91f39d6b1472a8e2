/*
 * tls-alpn-01 probe (RFC 8737): a TLS handshake offering only the
 * "acme-tls/1" protocol, SNI the identifier (RFC 8738 §6: its reverse
 * DNS name for an IP), then checks on the self-signed certificate the
 * server chose.  No chain is verified and no application data is sent.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "protocols/acme/validate_int.h"

/* RFC 8737 §6.1 id-pe-acmeIdentifier */
#define TLSALPN_OID "1.3.6.1.5.5.7.1.31"
#define TLSALPN_SNI_MAX 256 /* a DNS name, or an ip6.arpa name */

static const unsigned char tlsalpn_proto[] = "\x0a"
                                             "acme-tls/1";

struct acme_tlsalpn {
	struct acme_probe p;
	struct bufferevent *bev;
	char addr[ACME_ADDR_STR_MAX];
};

/* Report; the caller returns at once (t may be freed). */
static void tlsalpn_fail(struct acme_tlsalpn *t, const char *problem,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
tlsalpn_fail(struct acme_tlsalpn *t, const char *problem, const char *fmt, ...)
{
	char detail[ACME_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	t->p.done(t->p.arg, 0, problem, detail);
}

/* RFC 8738 §6: "d.c.b.a.in-addr.arpa" or the ip6.arpa nibble name. */
static int
tlsalpn_reverse_name(const char *ip, char *out, size_t outlen)
{
	unsigned char a[16];
	size_t o = 0;
	int i, n;

	if (inet_pton(AF_INET, ip, a) == 1) {
		n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", a[3],
		    a[2], a[1], a[0]);
		return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
	}
	if (inet_pton(AF_INET6, ip, a) != 1 || outlen < 64 + 9)
		return -1;
	for (i = 15; i >= 0; i--) {
		o += (size_t)snprintf(
		    out + o, outlen - o, "%x.%x.", a[i] & 0xf, a[i] >> 4);
	}
	snprintf(out + o, outlen - o, "ip6.arpa");
	return 0;
}

/* Exactly one subjectAltName entry, equal to the identifier. */
static int
tlsalpn_san_ok(const struct acme_tlsalpn *t, X509 *cert)
{
	const struct acme_challenge_req *req = t->p.req;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	unsigned char ip[16];
	size_t iplen = 0;
	int crit = 0, ok = 0;

	if (req->ident_is_ip) {
		if (inet_pton(AF_INET, req->ident, ip) == 1)
			iplen = 4;
		else if (inet_pton(AF_INET6, req->ident, ip) == 1)
			iplen = 16;
	}
	/* NULL also when the extension is duplicated (crit == -2). */
	if ((gens = X509_get_ext_d2i(
	         cert, NID_subject_alt_name, &crit, NULL)) == NULL)
		return 0;
	if (sk_GENERAL_NAME_num(gens) == 1) {
		g = sk_GENERAL_NAME_value(gens, 0);
		if (!req->ident_is_ip && g->type == GEN_DNS)
			ok = (size_t)ASN1_STRING_length(g->d.dNSName) ==
			        strlen(req->ident) &&
			    strncasecmp((const char *)ASN1_STRING_get0_data(
			                    g->d.dNSName),
			        req->ident, strlen(req->ident)) == 0;
		else if (req->ident_is_ip && g->type == GEN_IPADD)
			ok = iplen > 0 &&
			    (size_t)ASN1_STRING_length(g->d.iPAddress) ==
			        iplen &&
			    memcmp(ASN1_STRING_get0_data(g->d.iPAddress), ip,
			        iplen) == 0;
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

/*
 * RFC 8737 §3: one critical id-pe-acmeIdentifier extension whose value
 * is Authorization ::= OCTET STRING (SIZE (32)), the SHA-256 digest of
 * the key authorization.  Returns NULL when fine, else what is wrong.
 */
static const char *
tlsalpn_ext_check(const struct acme_tlsalpn *t, X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OBJECT *obj = NULL;
	ASN1_OCTET_STRING *inner = NULL;
	const ASN1_OCTET_STRING *data;
	const unsigned char *p, *start;
	const char *ka = t->p.req->key_authorization, *err = NULL;
	X509_EXTENSION *ext;
	long len;
	int idx;

	if ((obj = OBJ_txt2obj(TLSALPN_OID, 1)) == NULL ||
	    EVP_Digest(ka, strlen(ka), md, &mdlen, EVP_sha256(), NULL) != 1) {
		log_openssl(LOG_LVL_ERROR, "acme tls-alpn-01");
		err = "internal error";
		goto out;
	}
	if ((idx = X509_get_ext_by_OBJ(cert, obj, -1)) < 0) {
		err = "Missing acmeValidationV1 extension";
		goto out;
	}
	if (X509_get_ext_by_OBJ(cert, obj, idx) >= 0) {
		err = "Duplicate acmeValidationV1 extension";
		goto out;
	}
	ext = X509_get_ext(cert, idx);
	if (!X509_EXTENSION_get_critical(ext)) {
		err = "acmeValidationV1 extension is not critical";
		goto out;
	}
	data = X509_EXTENSION_get_data(ext);
	start = p = ASN1_STRING_get0_data(data);
	len = ASN1_STRING_length(data);
	if ((inner = d2i_ASN1_OCTET_STRING(NULL, &p, len)) == NULL ||
	    p != start + len || ASN1_STRING_length(inner) != (int)mdlen ||
	    CRYPTO_memcmp(ASN1_STRING_get0_data(inner), md, mdlen) != 0)
		err = "Invalid acmeValidationV1 extension value";
out:
	ERR_clear_error();
	ASN1_OCTET_STRING_free(inner);
	ASN1_OBJECT_free(obj);
	return err;
}

/* Handshake done: protocol, then certificate. */
static void
tlsalpn_check(struct acme_tlsalpn *t)
{
	SSL *ssl = bufferevent_openssl_get_ssl(t->bev);
	const unsigned char *proto = NULL;
	unsigned int plen = 0;
	const char *err;
	X509 *cert;

	SSL_get0_alpn_selected(ssl, &proto, &plen);
	if (plen != sizeof(tlsalpn_proto) - 2 ||
	    memcmp(proto, tlsalpn_proto + 1, plen) != 0) {
		tlsalpn_fail(t, "tls",
		    "%s: Cannot negotiate ALPN protocol \"acme-tls/1\" for "
		    "tls-alpn-01 challenge",
		    t->addr);
		return;
	}
	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL) {
		tlsalpn_fail(t, "tls", "%s: no certificate presented", t->addr);
		return;
	}
	if (!tlsalpn_san_ok(t, cert)) {
		tlsalpn_fail(t, "unauthorized",
		    "Incorrect validation certificate for tls-alpn-01 "
		    "challenge. Requested %s from %s: the certificate must "
		    "have exactly one subjectAltName, equal to it",
		    t->p.req->ident, t->addr);
		return;
	}
	if ((err = tlsalpn_ext_check(t, cert)) != NULL) {
		tlsalpn_fail(t, "unauthorized",
		    "Incorrect validation certificate for tls-alpn-01 "
		    "challenge from %s. %s",
		    t->addr, err);
		return;
	}
	t->p.done(t->p.arg, 1, NULL, "");
}

static void
tlsalpn_event(struct bufferevent *bev, short what, void *arg)
{
	struct acme_tlsalpn *t = arg;
	char err[160];
	unsigned long e;
	int sockerr = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		tlsalpn_check(t);
		return;
	}
	if ((e = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(e, err, sizeof(err));
		ERR_clear_error();
		tlsalpn_fail(
		    t, "tls", "%s: TLS handshake failed: %s", t->addr, err);
	} else if (what & BEV_EVENT_EOF)
		tlsalpn_fail(t, "tls",
		    "%s: Connection closed during the TLS handshake", t->addr);
	else
		tlsalpn_fail(t, "connection", "%s: %s", t->addr,
		    evutil_socket_error_to_string(sockerr));
}

/* A client SSL for this identifier: SNI and the single ALPN protocol. */
static SSL *
tlsalpn_ssl(const struct acme_probe *p)
{
	char sni[TLSALPN_SNI_MAX];
	SSL *ssl;

	if (p->req->ident_is_ip) {
		if (tlsalpn_reverse_name(p->req->ident, sni, sizeof(sni)) == -1)
			return NULL;
	} else if ((size_t)snprintf(sni, sizeof(sni), "%s", p->req->ident) >=
	    sizeof(sni))
		return NULL;
	if ((ssl = SSL_new(p->ssl_ctx)) == NULL ||
	    SSL_set_tlsext_host_name(ssl, sni) != 1 ||
	    /* SSL_set_alpn_protos returns 0 on success. */
	    SSL_set_alpn_protos(
	        ssl, tlsalpn_proto, sizeof(tlsalpn_proto) - 1) != 0) {
		log_openssl(LOG_LVL_ERROR, "acme tls-alpn-01: SSL");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

struct acme_tlsalpn *
acme_tlsalpn_start(const struct acme_probe *p)
{
	struct acme_tlsalpn *t;
	SSL *ssl;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->p = *p;
	acme_addr_str(p->addr, t->addr, sizeof(t->addr));
	if ((ssl = tlsalpn_ssl(p)) == NULL) {
		free(t);
		return NULL;
	}
	/* Owns ssl from here, also when it fails. */
	if ((t->bev = bufferevent_openssl_socket_new(p->base, -1, ssl,
	         BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(t);
		return NULL;
	}
	bufferevent_setcb(t->bev, NULL, NULL, tlsalpn_event, t);
	if (bufferevent_socket_connect(
	        t->bev, (struct sockaddr *)p->addr, (int)p->addrlen) == -1) {
		acme_tlsalpn_free(t);
		return NULL;
	}
	return t;
}

void
acme_tlsalpn_free(struct acme_tlsalpn *t)
{
	if (t == NULL)
		return;
	if (t->bev != NULL)
		bufferevent_free(t->bev);
	free(t);
}
