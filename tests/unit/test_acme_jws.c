/*
 * protocols/acme/jws.c: JWS signed here with OpenSSL for every algorithm
 * (RS256, ES256/384/512, EdDSA, HS256 for EAB), then verified, tampered
 * with and malformed: headers, body shape, strict base64url.  JWK
 * import/export and thumbprints are in test_acme_jwk.c; the keys and
 * b64u() come from jws_fixture.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "jws_fixture.h"
#include "protocols/acme/jws.h"

#define URL "https://acme.example/acme/new-order"
#define PAYLOAD "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}"

enum tamper { T_NONE, T_PAYLOAD, T_PROTECTED, T_SIGNATURE };

/* Every signing algorithm with a key that fits it. */
static const struct {
	const char *alg;
	EVP_PKEY **key;
} pairs[] = {
    {"RS256", &rsa2048},
    {"ES256", &p256},
    {"ES384", &p384},
    {"ES512", &p521},
    {"EdDSA", &ed25519},
};
#define NPAIRS (sizeof(pairs) / sizeof(pairs[0]))

/* ECDSA DER signature -> raw r||s of RFC 7518 §3.4. */
static void
der_to_raw(
    const unsigned char *der, size_t derlen, size_t flen, unsigned char *out)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;

	es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	assert_non_null(es);
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, out, (int)flen), (int)flen);
	assert_int_equal(BN_bn2binpad(s, out + flen, (int)flen), (int)flen);
	ECDSA_SIG_free(es);
}

/* Sign `in` as JWS `alg`; returns malloc'd signature bytes. */
static unsigned char *
sign(EVP_PKEY *key, const char *alg, const char *in, size_t *siglen)
{
	const char *md = NULL;
	size_t flen = 0, len = 0;
	unsigned char *sig, *raw;
	EVP_MD_CTX *ctx;

	if (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0)
		md = "SHA256";
	if (strcmp(alg, "ES256") == 0)
		flen = 32;
	if (strcmp(alg, "ES384") == 0) {
		md = "SHA384";
		flen = 48;
	}
	if (strcmp(alg, "ES512") == 0) {
		md = "SHA512";
		flen = 66;
	}
	assert_non_null(ctx = EVP_MD_CTX_new());
	assert_int_equal(
	    EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, key, NULL), 1);
	assert_int_equal(EVP_DigestSign(ctx, NULL, &len,
	                     (const unsigned char *)in, strlen(in)),
	    1);
	assert_non_null(sig = malloc(len));
	assert_int_equal(EVP_DigestSign(ctx, sig, &len,
	                     (const unsigned char *)in, strlen(in)),
	    1);
	EVP_MD_CTX_free(ctx);
	*siglen = len;
	if (flen == 0)
		return sig;
	assert_non_null(raw = malloc(2 * flen));
	der_to_raw(sig, len, flen, raw);
	free(sig);
	*siglen = 2 * flen;
	return raw;
}

/* The flattened JWS JSON for three already-encoded parts. */
static char *
body3(const char *prot, const char *payload, const char *sig)
{
	size_t n = strlen(prot) + strlen(payload) + strlen(sig) + 64;
	char *b;

	assert_non_null(b = malloc(n));
	snprintf(b, n,
	    "{\"protected\":\"%s\",\"payload\":\"%s\","
	    "\"signature\":\"%s\"}",
	    prot, payload, sig);
	return b;
}

/*
 * A JWS body over header JSON `hdr` and `payload`, signed with `key`
 * as `alg`, optionally tampered with after signing.
 */
static char *
make_body(EVP_PKEY *key, const char *alg, const char *hdr, const char *payload,
    enum tamper t)
{
	char *prot, *pl, *in, *sb, *body, *tmp;
	unsigned char *sig;
	size_t siglen, n;

	prot = b64u(hdr, strlen(hdr));
	pl = b64u(payload, strlen(payload));
	n = strlen(prot) + strlen(pl) + 2;
	assert_non_null(in = malloc(n));
	snprintf(in, n, "%s.%s", prot, pl);
	sig = sign(key, alg, in, &siglen);
	if (t == T_SIGNATURE)
		sig[siglen / 2] ^= 0x01;
	sb = b64u(sig, siglen);
	if (t == T_PAYLOAD) {
		free(pl);
		pl = b64u("{}", 2);
	}
	if (t == T_PROTECTED) {
		/* Same header plus a space: other bytes than were signed. */
		free(prot);
		n = strlen(hdr);
		assert_non_null(tmp = malloc(n + 2));
		memcpy(tmp, hdr, n - 1);
		memcpy(tmp + n - 1, " }", 3);
		prot = b64u(tmp, n + 1);
		free(tmp);
	}
	body = body3(prot, pl, sb);
	free(prot);
	free(pl);
	free(in);
	free(sig);
	free(sb);
	return body;
}

/* Protected header JSON {"alg","nonce","url","jwk"} for `key`. */
static char *
hdr_jwk(const char *alg, EVP_PKEY *key)
{
	json_t *h, *jwk;
	char *s;

	assert_non_null(jwk = jwk_from_pkey(key));
	h = json_pack("{s:s,s:s,s:s,s:o}", "alg", alg, "nonce", "bm9uY2U",
	    "url", URL, "jwk", jwk);
	assert_non_null(h);
	assert_non_null(s = json_dumps(h, JSON_COMPACT));
	json_decref(h);
	return s;
}

/* Parse `body`; returns the error (and frees the JWS when one came). */
static enum jws_error
parse_err(const char *body, int allow_hmac)
{
	enum jws_error err = JWS_OK;
	char msg[256] = "";
	struct jws *j;

	j = jws_parse((const unsigned char *)body, strlen(body), allow_hmac,
	    &err, msg, sizeof(msg));
	if (j == NULL) {
		assert_int_not_equal(err, JWS_OK);
		assert_true(msg[0] != '\0');
	} else
		assert_int_equal(err, JWS_OK);
	jws_free(j);
	return err;
}

/* Parse header `hdr` with a dummy signature; returns the error. */
static enum jws_error
hdr_err(const char *hdr, int allow_hmac)
{
	char *prot, *body;
	enum jws_error e;

	prot = b64u(hdr, strlen(hdr));
	body = body3(prot, "e30", "AAAA");
	e = parse_err(body, allow_hmac);
	free(prot);
	free(body);
	return e;
}

/* Parse and verify one JWS with the key from its own "jwk". */
static enum jws_error
verify_body(const char *body)
{
	enum jws_error err;
	struct jws *j;
	EVP_PKEY *k;

	j = jws_parse(
	    (const unsigned char *)body, strlen(body), 0, &err, NULL, 0);
	assert_non_null(j);
	k = jwk_to_pkey(jws_jwk(j), &err, NULL, 0);
	assert_non_null(k);
	err = jws_verify(j, k);
	EVP_PKEY_free(k);
	jws_free(j);
	return err;
}

static void
test_verify_ok(void **state)
{
	enum jws_error err;
	const unsigned char *p;
	struct jws *j;
	json_t *pj;
	char *hdr, *body;
	size_t i, len;

	(void)state;
	for (i = 0; i < NPAIRS; i++) {
		hdr = hdr_jwk(pairs[i].alg, *pairs[i].key);
		body = make_body(
		    *pairs[i].key, pairs[i].alg, hdr, PAYLOAD, T_NONE);
		j = jws_parse((const unsigned char *)body, strlen(body), 0,
		    &err, NULL, 0);
		assert_non_null(j);
		assert_string_equal(jws_alg(j), pairs[i].alg);
		assert_string_equal(jws_nonce(j), "bm9uY2U");
		assert_string_equal(jws_url(j), URL);
		assert_null(jws_kid(j));
		assert_non_null(jws_jwk(j));
		p = jws_payload(j, &len);
		assert_int_equal(len, strlen(PAYLOAD));
		assert_memory_equal(p, PAYLOAD, len);
		assert_non_null(pj = jws_payload_json(j));
		assert_true(json_is_array(json_object_get(pj, "identifiers")));
		json_decref(pj);
		assert_int_equal(jws_verify(j, *pairs[i].key), JWS_OK);
		/* Not an EAB JWS: the MAC path refuses it. */
		assert_int_equal(
		    jws_verify_hmac(j, (const unsigned char *)"k", 1),
		    JWS_BAD_ALG);
		jws_free(j);
		assert_int_equal(verify_body(body), JWS_OK);
		free(body);
		free(hdr);
	}
}

static void
test_tampered(void **state)
{
	enum tamper t;
	char *hdr, *body;
	size_t i;

	(void)state;
	for (i = 0; i < NPAIRS; i++) {
		hdr = hdr_jwk(pairs[i].alg, *pairs[i].key);
		for (t = T_PAYLOAD; t <= T_SIGNATURE; t++) {
			body = make_body(
			    *pairs[i].key, pairs[i].alg, hdr, PAYLOAD, t);
			assert_int_equal(verify_body(body), JWS_BAD_SIGNATURE);
			free(body);
		}
		free(hdr);
	}
}

/* A verifier kept across requests gives jws_verify's answers, again and
 * again: valid, then each tampering refused, with the same object. */
static void
test_verifier_same_answers(void **state)
{
	struct jws_verifier *v;
	enum jws_error err, want;
	struct jws *j;
	enum tamper t;
	char *hdr, *body;
	size_t i;
	int round;

	(void)state;
	for (i = 0; i < NPAIRS; i++) {
		v = jws_verifier_new(*pairs[i].key);
		hdr = hdr_jwk(pairs[i].alg, *pairs[i].key);
		for (round = 0; round < 2; round++) {
			for (t = T_NONE; t <= T_SIGNATURE; t++) {
				body = make_body(*pairs[i].key, pairs[i].alg,
				    hdr, PAYLOAD, t);
				j = jws_parse((const unsigned char *)body,
				    strlen(body), 0, &err, NULL, 0);
				assert_non_null(j);
				want = t == T_NONE ? JWS_OK : JWS_BAD_SIGNATURE;
				assert_int_equal(
				    jws_verify(j, *pairs[i].key), want);
				assert_int_equal(
				    jws_verify_with(j, *pairs[i].key, v), want);
				jws_free(j);
				free(body);
			}
		}
		free(hdr);
		jws_verifier_free(v);
	}
}

static void
test_post_as_get(void **state)
{
	const unsigned char *p;
	enum jws_error err;
	struct jws *j;
	char *hdr, *body;
	size_t len = 99;

	(void)state;
	hdr = hdr_jwk("ES256", p256);
	body = make_body(p256, "ES256", hdr, "", T_NONE);
	assert_non_null(strstr(body, "\"payload\":\"\""));
	j = jws_parse(
	    (const unsigned char *)body, strlen(body), 0, &err, NULL, 0);
	assert_non_null(j);
	p = jws_payload(j, &len);
	assert_int_equal(len, 0);
	assert_non_null(p);
	assert_null(jws_payload_json(j));
	assert_int_equal(jws_verify(j, p256), JWS_OK);
	jws_free(j);
	free(body);
	free(hdr);
}

static void
test_payload_json_refused(void **state)
{
	static const char *const bad[] = {
	    "[1,2]", "\"s\"", "{\"a\":1,\"a\":2}", "not json", "{} x"};
	enum jws_error err;
	struct jws *j;
	char *hdr, *body;
	size_t i;

	(void)state;
	hdr = hdr_jwk("EdDSA", ed25519);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		body = make_body(ed25519, "EdDSA", hdr, bad[i], T_NONE);
		j = jws_parse((const unsigned char *)body, strlen(body), 0,
		    &err, NULL, 0);
		assert_non_null(j);
		assert_null(jws_payload_json(j));
		assert_int_equal(jws_verify(j, ed25519), JWS_OK);
		jws_free(j);
		free(body);
	}
	free(hdr);
}

static void
test_bad_alg(void **state)
{
	char *hdr, *body;
	struct jws *j;
	enum jws_error err;

	(void)state;
	/* RS256 header, but the key in it (and given) is EC. */
	hdr = hdr_jwk("RS256", p256);
	body = make_body(p256, "ES256", hdr, PAYLOAD, T_NONE);
	assert_int_equal(verify_body(body), JWS_BAD_ALG);
	free(body);
	free(hdr);

	/* Right type, wrong size or curve. */
	hdr = hdr_jwk("ES384", p384);
	body = make_body(p384, "ES384", hdr, PAYLOAD, T_NONE);
	j = jws_parse(
	    (const unsigned char *)body, strlen(body), 0, &err, NULL, 0);
	assert_non_null(j);
	assert_int_equal(jws_verify(j, p256), JWS_BAD_ALG);
	assert_int_equal(jws_verify(j, ed25519), JWS_BAD_ALG);
	assert_int_equal(jws_verify(j, p384), JWS_OK);
	jws_free(j);
	free(body);
	free(hdr);
	hdr = hdr_jwk("RS256", rsa1024);
	body = make_body(rsa1024, "RS256", hdr, PAYLOAD, T_NONE);
	j = jws_parse(
	    (const unsigned char *)body, strlen(body), 0, &err, NULL, 0);
	assert_non_null(j);
	assert_int_equal(jws_verify(j, rsa1024), JWS_BAD_ALG);
	jws_free(j);
	free(body);
	free(hdr);
}

/* verify_body() of the JWS with encoded parts prot, pl and raw `sig`. */
static enum jws_error
sig_err(const char *prot, const char *pl, const unsigned char *sig, size_t len)
{
	enum jws_error e;
	char *sb, *body;

	sb = b64u(sig, len);
	body = body3(prot, pl, sb);
	e = verify_body(body);
	free(sb);
	free(body);
	return e;
}

static void
test_ecdsa_sig_length(void **state)
{
	char *hdr, *prot, *pl, *in;
	unsigned char *sig, *der = NULL;
	size_t siglen, n;
	int derlen;

	(void)state;
	hdr = hdr_jwk("ES256", p256);
	prot = b64u(hdr, strlen(hdr));
	pl = b64u(PAYLOAD, strlen(PAYLOAD));
	n = strlen(prot) + strlen(pl) + 2;
	assert_non_null(in = malloc(n));
	snprintf(in, n, "%s.%s", prot, pl);
	sig = sign(p256, "ES256", in, &siglen);
	assert_int_equal(siglen, 64);

	/* The right r||s verifies; 63 or 65 bytes do not. */
	assert_int_equal(sig_err(prot, pl, sig, 64), JWS_OK);
	assert_int_equal(sig_err(prot, pl, sig, 63), JWS_BAD_SIGNATURE);
	assert_non_null(sig = realloc(sig, 65));
	sig[64] = 0;
	assert_int_equal(sig_err(prot, pl, sig, 65), JWS_BAD_SIGNATURE);

	/* OpenSSL's own DER form is not what RFC 7518 §3.4 sends. */
	{
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig, 32, NULL);
		BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);

		assert_non_null(es);
		assert_int_equal(ECDSA_SIG_set0(es, r, s), 1);
		derlen = i2d_ECDSA_SIG(es, &der);
		assert_true(derlen > 0);
		ECDSA_SIG_free(es);
	}
	assert_int_equal(
	    sig_err(prot, pl, der, (size_t)derlen), JWS_BAD_SIGNATURE);
	OPENSSL_free(der);
	free(sig);
	free(in);
	free(pl);
	free(prot);
	free(hdr);
}

/* Protected headers as data: ' stands for ", JWK for a P-256 JWK. */
static const struct {
	const char *hdr;
	int allow_hmac;
	enum jws_error want;
} hdr_cases[] = {
    {"{'alg':'ES256','nonce':'n','url':'u','kid':'k'}", 0, JWS_OK},
    {"{'alg':'ES256','url':'u','jwk':JWK}", 0, JWS_OK}, /* no nonce */
    {"{'alg':'HS256','url':'u','kid':'k'}", 1, JWS_OK},
    {"{'alg':'none','nonce':'n','url':'u','kid':'k'}", 0, JWS_BAD_ALG},
    {"{'alg':'RS512','nonce':'n','url':'u','kid':'k'}", 0, JWS_BAD_ALG},
    {"{'alg':'HS256','nonce':'n','url':'u','kid':'k'}", 0, JWS_BAD_ALG},
    {"{'alg':'HS256','url':'u','jwk':JWK}", 1, JWS_MALFORMED},
    {"{'alg':7,'nonce':'n','url':'u','kid':'k'}", 0, JWS_MALFORMED},
    {"{'nonce':'n','url':'u','kid':'k'}", 0, JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','url':'u','jwk':JWK,'kid':'k'}", 0,
        JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','url':'u'}", 0, JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','jwk':JWK}", 0, JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','url':'','jwk':JWK}", 0, JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','url':'u','jwk':JWK,'crit':['exp'],"
     "'exp':1}",
        0, JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','url':'u','jwk':JWK,'b64':false}", 0,
        JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','url':'u','url':'v','jwk':JWK}", 0,
        JWS_MALFORMED},
    {"{'alg':'ES256','nonce':1,'url':'u','kid':'k'}", 0, JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','url':'u','kid':''}", 0, JWS_MALFORMED},
    {"{'alg':'ES256','nonce':'n','url':'u','jwk':'key'}", 0, JWS_MALFORMED},
    {"['alg','ES256']", 0, JWS_MALFORMED},
    {"{'alg':'ES256'", 0, JWS_MALFORMED},
};

/* hdr_cases[i].hdr with ' -> " and JWK -> `jwk`; malloc'd. */
static char *
hdr_expand(const char *in, const char *jwk)
{
	char *out, *o;

	assert_non_null(out = malloc(strlen(in) + strlen(jwk) + 1));
	for (o = out; *in != '\0'; in++) {
		if (strncmp(in, "JWK", 3) == 0) {
			o = stpcpy(o, jwk);
			in += 2;
		} else
			*o++ = *in == '\'' ? '"' : *in;
	}
	*o = '\0';
	return out;
}

/* OpenSSL's DER of r || s (each flen bytes), for comparison. */
static int
der_openssl(const unsigned char *sig, size_t flen, unsigned char **der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)flen, NULL);
	BIGNUM *s = BN_bin2bn(sig + flen, (int)flen, NULL);
	int n;

	assert_non_null(es);
	assert_int_equal(ECDSA_SIG_set0(es, r, s), 1);
	*der = NULL;
	n = i2d_ECDSA_SIG(es, der);
	assert_true(n > 0);
	ECDSA_SIG_free(es);
	return n;
}

/*
 * jws_ecdsa_der() writes what i2d_ECDSA_SIG() does for every size of
 * coordinate, with leading zero bytes, first bits set, values of zero,
 * and P-521's long-form sequence length; it refuses wrong lengths.
 */
static void
test_ecdsa_der(void **state)
{
	static const size_t flens[] = {32, 48, 66};
	unsigned char sig[2 * 66], der[JWS_ECDSA_DER_MAX], *want;
	size_t f, flen, n;
	int i, wantlen, long_form = 0;

	(void)state;
	srand(7);
	for (f = 0; f < sizeof(flens) / sizeof(flens[0]); f++) {
		flen = flens[f];
		for (i = 0; i < 2000; i++) {
			for (n = 0; n < 2 * flen; n++)
				sig[n] = (unsigned char)rand();
			/* Shapes random bytes rarely give. */
			if (i % 7 == 1)
				memset(sig, 0, (size_t)(i % 5) + 1);
			if (i % 11 == 2)
				memset(sig + flen, 0, (size_t)(i % 3) + 1);
			if (i % 13 == 3)
				sig[0] |= 0x80;
			if (i == 4)
				memset(sig, 0, 2 * flen);
			if (i == 5)
				memset(sig, 0xff, 2 * flen);
			n = jws_ecdsa_der(sig, 2 * flen, flen, der);
			wantlen = der_openssl(sig, flen, &want);
			assert_int_equal(n, (size_t)wantlen);
			assert_memory_equal(der, want, n);
			long_form += der[1] == 0x81;
			OPENSSL_free(want);
		}
		assert_int_equal(
		    jws_ecdsa_der(sig, 2 * flen - 1, flen, der), 0);
		assert_int_equal(
		    jws_ecdsa_der(sig, 2 * flen + 1, flen, der), 0);
	}
	assert_true(long_form > 0);
	assert_int_equal(jws_ecdsa_der(sig, 2 * 67, 67, der), 0);
	assert_int_equal(jws_ecdsa_der(sig, 0, 0, der), 0);
}

static void
test_header_table(void **state)
{
	char *jwk, *hdr;
	json_t *k;
	size_t i;

	(void)state;
	assert_non_null(k = jwk_from_pkey(p256));
	assert_non_null(jwk = json_dumps(k, JSON_COMPACT));
	json_decref(k);
	for (i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		hdr = hdr_expand(hdr_cases[i].hdr, jwk);
		if (hdr_err(hdr, hdr_cases[i].allow_hmac) != hdr_cases[i].want)
			fail_msg("case %zu: %s", i, hdr_cases[i].hdr);
		free(hdr);
	}
	free(jwk);
}

static void
test_body_shape(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"protected\":\"e30\",\"payload\":\"e30\"}",
	    "{\"protected\":\"e30\",\"payload\":\"e30\",\"signature\":\"AAAA\","
	    "\"header\":{\"kid\":\"k\"}}",
	    "{\"payload\":\"e30\",\"signatures\":[{\"protected\":\"e30\","
	    "\"signature\":\"AAAA\"}],\"x\":1}",
	    "{\"protected\":\"e30\",\"payload\":\"e30\",\"signature\":\"AAAA\","
	    "\"payload\":\"e30\"}",
	    "{\"protected\":1,\"payload\":\"e30\",\"signature\":\"AAAA\"}",
	    "{\"protected\":\"e30\",\"payload\":\"e30\",\"signature\":\"AAAA\"}"
	    " "
	    "x",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_err(bad[i], 0), JWS_MALFORMED);
}

static void
test_base64url_strict(void **state)
{
	static const char short_hdr[] =
	    "{\"alg\":\"ES256\",\"url\":\"u\",\"kid\":\"k\"}";
	static const char *const payloads[] = {
	    "e30=", "e3 0", "e30\\n", "e31", "e", "+/8", "e30.", "e3\\u00000"};
	char *hdr, *prot, *body, *good, *p;
	size_t i;

	(void)state;
	hdr = hdr_jwk("ES256", p256);
	good = make_body(p256, "ES256", hdr, "{}", T_NONE);
	assert_int_equal(parse_err(good, 0), JWS_OK);
	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		prot = b64u(hdr, strlen(hdr));
		body = body3(prot, payloads[i], "AAAA");
		assert_int_equal(parse_err(body, 0), JWS_MALFORMED);
		free(body);
		free(prot);
	}
	/* Padding on the signature and on the protected header. */
	assert_non_null(p = strstr(good, "\"signature\":\""));
	p += strlen("\"signature\":\"");
	assert_non_null(p = strchr(p, '"'));
	body = malloc(strlen(good) + 3);
	assert_non_null(body);
	memcpy(body, good, (size_t)(p - good));
	strcpy(body + (p - good), "==\"}");
	assert_int_equal(parse_err(body, 0), JWS_MALFORMED);
	free(body);
	prot = b64u(short_hdr, strlen(short_hdr));
	assert_true(strlen(prot) % 4 != 0);
	p = malloc(strlen(prot) + 3);
	assert_non_null(p);
	strcpy(p, prot);
	strcat(p, strlen(prot) % 4 == 2 ? "==" : "=");
	body = body3(p, "e30", "AAAA");
	assert_int_equal(parse_err(body, 0), JWS_MALFORMED);
	free(body);
	body = body3(prot, "e30", "AAAA");
	assert_int_equal(parse_err(body, 0), JWS_OK);
	free(body);
	free(p);
	free(prot);
	free(good);
	free(hdr);
}

static void
test_eab_hmac(void **state)
{
	static const unsigned char key[32] = "0123456789abcdef0123456789abcde";
	unsigned char mac[64], other[32];
	size_t maclen = 0;
	char *jwk, *prot, *pl, *in, *sb, *body;
	const char *hdr =
	    "{\"alg\":\"HS256\",\"kid\":\"eab-1\",\"url\":\"" URL "\"}";
	enum jws_error err;
	json_t *outer, *eab;
	struct jws *j;
	json_t *k;
	size_t n;

	(void)state;
	assert_non_null(k = jwk_from_pkey(p256));
	assert_non_null(jwk = json_dumps(k, JSON_COMPACT));
	json_decref(k);
	prot = b64u(hdr, strlen(hdr));
	pl = b64u(jwk, strlen(jwk));
	n = strlen(prot) + strlen(pl) + 2;
	assert_non_null(in = malloc(n));
	snprintf(in, n, "%s.%s", prot, pl);
	assert_non_null(
	    EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof(key),
	        (unsigned char *)in, strlen(in), mac, sizeof(mac), &maclen));
	sb = b64u(mac, maclen);
	body = body3(prot, pl, sb);

	/* As the EAB object inside a newAccount payload. */
	assert_non_null(outer = json_loads(body, 0, NULL));
	j = jws_parse_json(outer, 1, &err, NULL, 0);
	assert_non_null(j);
	assert_int_equal(err, JWS_OK);
	assert_string_equal(jws_kid(j), "eab-1");
	assert_null(jws_nonce(j));
	assert_null(jws_jwk(j));
	assert_int_equal(jws_verify_hmac(j, key, sizeof(key)), JWS_OK);
	memcpy(other, key, sizeof(key));
	other[0] ^= 0x01;
	assert_int_equal(
	    jws_verify_hmac(j, other, sizeof(other)), JWS_BAD_SIGNATURE);
	assert_int_equal(jws_verify_hmac(j, key, 0), JWS_BAD_SIGNATURE);
	assert_int_equal(jws_verify(j, p256), JWS_BAD_ALG);
	assert_non_null(eab = jws_payload_json(j));
	assert_string_equal(
	    json_string_value(json_object_get(eab, "kty")), "EC");
	json_decref(eab);
	jws_free(j);
	/* Outside EAB, a MAC algorithm is refused. */
	assert_null(jws_parse_json(outer, 0, &err, NULL, 0));
	assert_int_equal(err, JWS_BAD_ALG);
	json_decref(outer);
	/* Tampered MAC. */
	sb[3] = sb[3] == 'A' ? 'B' : 'A';
	free(body);
	body = body3(prot, pl, sb);
	j = jws_parse(
	    (const unsigned char *)body, strlen(body), 1, &err, NULL, 0);
	assert_non_null(j);
	assert_int_equal(
	    jws_verify_hmac(j, key, sizeof(key)), JWS_BAD_SIGNATURE);
	jws_free(j);
	free(body);
	free(prot);
	free(sb);
	free(in);
	free(pl);
	free(jwk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify_ok),
	    cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_verifier_same_answers),
	    cmocka_unit_test(test_post_as_get),
	    cmocka_unit_test(test_payload_json_refused),
	    cmocka_unit_test(test_bad_alg),
	    cmocka_unit_test(test_ecdsa_sig_length),
	    cmocka_unit_test(test_ecdsa_der),
	    cmocka_unit_test(test_header_table),
	    cmocka_unit_test(test_body_shape),
	    cmocka_unit_test(test_base64url_strict),
	    cmocka_unit_test(test_eab_hmac),
	};

	return cmocka_run_group_tests(tests, jws_fx_setup, jws_fx_teardown);
}
