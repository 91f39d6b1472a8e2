/*
 * The certificate of a valid upstream order (RFC 8555 §7.4.2): the PEM
 * chain, checked to carry the CSR's key, and when a preferred issuer is
 * configured the alternates offered by Link rel="alternate" until one
 * whose last certificate was issued by that CN.  The default chain is
 * kept when none matches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "backends/acme/upacme_int.h"
#include "core/log.h"

#define PEM_CHAIN "application/pem-certificate-chain"

static void alt_next(struct upacme_order *o);

/*
 * The certificates of a PEM chain (RFC 8555 §9.1), leaf first, at most
 * UPACME_MAX_CHAIN.  NULL when there is none, more, or a block fails
 * to parse.  The caller frees the stack with sk_X509_pop_free.
 */
static STACK_OF(X509) *
chain_parse(const unsigned char *pem, size_t len)
{
	STACK_OF(X509) *sk = NULL, *ret = NULL;
	BIO *bio = NULL;
	X509 *x;
	unsigned long e;

	if (pem == NULL || len == 0 || len > UPACME_MAX_BODY ||
	    (bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (sk = sk_X509_new_null()) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= UPACME_MAX_CHAIN ||
		    !sk_X509_push(sk, x)) {
			X509_free(x);
			goto out;
		}
	}
	/* The end of the input shows as "no start line"; anything else is a
	 * broken block. */
	e = ERR_peek_last_error();
	if (sk_X509_num(sk) == 0 ||
	    (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	        ERR_GET_REASON(e) != PEM_R_NO_START_LINE))
		goto out;
	ret = sk;
	sk = NULL;
out:
	ERR_clear_error();
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	return ret;
}

/* The last certificate of `chain` was issued by CN `cn`. */
static int
chain_prefers(STACK_OF(X509) *chain, const char *cn)
{
	const X509_NAME *iss;
	const X509_NAME_ENTRY *ne;
	unsigned char *utf = NULL;
	int i, n, match = 0;

	iss =
	    X509_get_issuer_name(sk_X509_value(chain, sk_X509_num(chain) - 1));
	if ((i = X509_NAME_get_index_by_NID(iss, NID_commonName, -1)) < 0 ||
	    (ne = X509_NAME_get_entry(iss, i)) == NULL ||
	    (n = ASN1_STRING_to_UTF8(&utf, X509_NAME_ENTRY_get_data(ne))) < 0)
		return 0;
	match = (size_t)n == strlen(cn) && memcmp(utf, cn, (size_t)n) == 0;
	OPENSSL_free(utf);
	return match;
}

/* A chain from `r` whose leaf carries the CSR's key, or NULL with *why. */
static STACK_OF(X509) *
chain_take(
    struct upacme_order *o, const struct upacme_resp *r, const char **why)
{
	STACK_OF(X509) *sk;

	if ((sk = chain_parse(r->body, r->len)) == NULL) {
		*why = "the upstream certificate is not a PEM chain "
		       "(RFC 8555 §9.1)";
		return NULL;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(sk, 0)), o->csr_key) !=
	    1) {
		ERR_clear_error();
		sk_X509_pop_free(sk, X509_free);
		*why = "the upstream certificate is not for the CSR's key";
		return NULL;
	}
	return sk;
}

/* Done with the default chain (o->chain, taken). */
static void
finish_default(struct upacme_order *o)
{
	STACK_OF(X509) *sk = o->chain;

	o->chain = NULL;
	upacme_order_finish(o, UPACME_OK, NULL, NULL, sk);
}

static void
on_alt(void *arg, struct upacme_resp *r)
{
	struct upacme_order *o = arg;
	STACK_OF(X509) *sk = NULL;
	const char *why = "failed";

	o->req = NULL;
	if (r->outcome == UPACME_OK && (sk = chain_take(o, r, &why)) != NULL &&
	    chain_prefers(sk, o->u->preferred_chain)) {
		upacme_order_finish(o, UPACME_OK, NULL, NULL, sk);
		return;
	}
	if (sk == NULL)
		log_info("upacme: order %s: alternate chain: %s", o->url,
		    r->detail != NULL ? r->detail : why);
	sk_X509_pop_free(sk, X509_free);
	alt_next(o);
}

/* Look at the next alternate, or settle for the default. */
static void
alt_next(struct upacme_order *o)
{
	if (o->alt_i >= o->n_alt) {
		log_info("upacme: order %s: no chain from %s, kept the default",
		    o->url, o->u->preferred_chain);
		finish_default(o);
		return;
	}
	upacme_order_post(o, o->alt[o->alt_i++], "", PEM_CHAIN, on_alt);
}

static void
on_cert(void *arg, struct upacme_resp *r)
{
	struct upacme_order *o = arg;
	STACK_OF(X509) *sk;
	const char *why = NULL;
	size_t i;

	o->req = NULL;
	if (r->outcome != UPACME_OK) {
		upacme_order_fail_resp(o, r, "upstream certificate");
		return;
	}
	if ((sk = chain_take(o, r, &why)) == NULL) {
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL, why, NULL);
		return;
	}
	if (o->u->preferred_chain == NULL ||
	    chain_prefers(sk, o->u->preferred_chain)) {
		upacme_order_finish(o, UPACME_OK, NULL, NULL, sk);
		return;
	}
	o->chain = sk;
	for (i = 0; i < r->n_alt; i++) {
		o->alt[i] = r->alt[i];
		r->alt[i] = NULL;
	}
	o->n_alt = r->n_alt;
	r->n_alt = 0;
	o->alt_i = 0;
	alt_next(o);
}

void
upacme_chain_fetch(struct upacme_order *o)
{
	upacme_order_post(o, o->cert_url, "", PEM_CHAIN, on_cert);
}
