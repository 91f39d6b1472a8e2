/*
 * Certificate and key helpers shared by all modules: key kinds, key
 * generation, PEM files, serial numbers and name comparison.
 */
#ifndef ENROLLD_CERT_H
#define ENROLLD_CERT_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

enum key_kind {
	KEY_UNKNOWN = 0,
	KEY_RSA,
	KEY_P256,
	KEY_P384,
	KEY_P521,
	KEY_ED25519,
	KEY_ED448,
	KEY_EC_OTHER
};

/* Kind of a public or private key; *bits gets its size (RSA modulus bits,
 * curve bits).  bits may be NULL. */
enum key_kind cert_key_kind(const EVP_PKEY *pkey, int *bits);
/* "rsa", "p256", "p384", "p521", "ed25519", "ed448", "ec", "unknown". */
const char *cert_key_kind_name(enum key_kind kind);
/* Inverse of the above for config; -1 when unknown.  "rsa2048",
 * "rsa3072", "rsa4096" are also accepted and set *rsa_bits (may be NULL). */
int cert_key_kind_parse(const char *name, int *rsa_bits);

/* Fresh private key of `kind` (rsa_bits used for KEY_RSA).  Caller frees
 * with EVP_PKEY_free.  NULL on failure (OpenSSL error logged). */
EVP_PKEY *cert_keygen(enum key_kind kind, int rsa_bits);

/* A PEM password callback that refuses: nothing is ever encrypted,
 * never prompt on a terminal. */
int cert_no_password_cb(char *buf, int size, int rwflag, void *u);

/* Load the first certificate of a PEM file; caller frees.  NULL on error. */
X509 *cert_load_pem(const char *path);
/* Load every certificate of a PEM file; caller sk_X509_pop_free's. */
STACK_OF(X509) *cert_load_pem_chain(const char *path);
/* Load a PEM private key (unencrypted); caller frees. */
EVP_PKEY *cert_load_key(const char *path);
/*
 * Write a key as PKCS#8 PEM, created with mode 0600 (O_EXCL unless
 * overwrite), fsync'd.  0 / -1.
 */
int cert_save_key(const char *path, EVP_PKEY *key, int overwrite);
/* Write certificates as PEM (mode 0644), each block followed by a newline. 0/-1 */
int cert_save_pem(
    const char *path, X509 *const *certs, size_t n, int overwrite);

/* PEM text of one certificate; malloc'd NUL-terminated, caller frees. */
char *cert_to_pem(X509 *cert);
/* Parse one PEM certificate from memory; caller frees. */
X509 *cert_from_pem(const char *pem, size_t len);

/* Serial as upper-case hex without separators into out (>= 41 bytes). 0/-1 */
int cert_serial_hex(const X509 *cert, char *out, size_t outsz);

/* Time as seconds since the epoch; -1 on error. */
time_t cert_asn1_time(const ASN1_TIME *t);

/* Subject as an RFC 2253 string; malloc'd, caller frees; NULL on error. */
char *cert_name_text(const X509_NAME *name);

/*
 * Fresh random serial into `out`: positive, 16 octets, at least 64 bits
 * of CSPRNG output (RFC 5280 §4.1.2.2; CA/B BR 7.1).  0 / -1.
 */
int cert_random_serial(ASN1_INTEGER *out);

/*
 * Self-signed CA certificate for `key` (used by `enrolld init`): random
 * serial, subject = issuer = O=enrolld, CN=common_name, valid from five
 * minutes ago for `days` days, basicConstraints critical CA:TRUE,
 * keyUsage critical keyCertSign, cRLSign, digitalSignature, SKI and AKI
 * key ids; SHA-256 (EdDSA: its own hash).  Caller frees; NULL on error.
 */
X509 *cert_make_root_ca(EVP_PKEY *key, const char *common_name, int days);

#endif
