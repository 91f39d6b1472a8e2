/*
 * Certificate and key helpers: key kinds, key generation, PEM files,
 * serial numbers, times, names, and the self-signed root made by
 * `enrolld init`.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/log.h"
#include "core/rand_pool.h"

/* Bounds for RSA keys we generate ourselves; policy bounds peers' keys. */
#define CERT_RSA_MIN_BITS 2048
#define CERT_RSA_MAX_BITS 16384

/* Size of the random serials we hand out: 127 bits of CSPRNG output. */
#define CERT_SERIAL_LEN 16

static const struct {
	const char *name;
	enum key_kind kind;
	int rsa_bits; /* 0: leave *rsa_bits alone */
} kind_names[] = {
    {"rsa", KEY_RSA, 0},
    {"rsa2048", KEY_RSA, 2048},
    {"rsa3072", KEY_RSA, 3072},
    {"rsa4096", KEY_RSA, 4096},
    {"p256", KEY_P256, 0},
    {"p384", KEY_P384, 0},
    {"p521", KEY_P521, 0},
    {"ed25519", KEY_ED25519, 0},
    {"ed448", KEY_ED448, 0},
    {"ec", KEY_EC_OTHER, 0},
};

/* PEM password callback that refuses: never prompt on a terminal. */
int
cert_no_password_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Map an EC key's group to a kind; KEY_EC_OTHER when not a NIST curve. */
static enum key_kind
ec_kind(const EVP_PKEY *pkey)
{
	char group[80];
	size_t glen = 0;

	if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1) {
		ERR_clear_error();
		return KEY_EC_OTHER;
	}
	switch (OBJ_sn2nid(group)) {
	case NID_X9_62_prime256v1:
		return KEY_P256;
	case NID_secp384r1:
		return KEY_P384;
	case NID_secp521r1:
		return KEY_P521;
	default:
		return KEY_EC_OTHER;
	}
}

/*
 * Kind of `pkey`; *bits (when not NULL) gets EVP_PKEY_get_bits: the RSA
 * modulus size, the curve size, 256 for Ed25519 and 456 for Ed448.
 */
enum key_kind
cert_key_kind(const EVP_PKEY *pkey, int *bits)
{
	enum key_kind kind = KEY_UNKNOWN;

	if (bits != NULL)
		*bits = 0;
	if (pkey == NULL)
		return KEY_UNKNOWN;
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		kind = KEY_RSA;
		break;
	case EVP_PKEY_EC:
		kind = ec_kind(pkey);
		break;
	case EVP_PKEY_ED25519:
		kind = KEY_ED25519;
		break;
	case EVP_PKEY_ED448:
		kind = KEY_ED448;
		break;
	default:
		return KEY_UNKNOWN;
	}
	if (bits != NULL)
		*bits = EVP_PKEY_get_bits(pkey);
	return kind;
}

const char *
cert_key_kind_name(enum key_kind kind)
{
	switch (kind) {
	case KEY_RSA:
		return "rsa";
	case KEY_P256:
		return "p256";
	case KEY_P384:
		return "p384";
	case KEY_P521:
		return "p521";
	case KEY_ED25519:
		return "ed25519";
	case KEY_ED448:
		return "ed448";
	case KEY_EC_OTHER:
		return "ec";
	case KEY_UNKNOWN:
		break;
	}
	return "unknown";
}

/*
 * Case-insensitive inverse of cert_key_kind_name.  "unknown" is refused:
 * it names no usable key.  Plain "rsa" leaves *rsa_bits untouched.
 */
int
cert_key_kind_parse(const char *name, int *rsa_bits)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcasecmp(name, kind_names[i].name) != 0)
			continue;
		if (rsa_bits != NULL && kind_names[i].rsa_bits != 0)
			*rsa_bits = kind_names[i].rsa_bits;
		return (int)kind_names[i].kind;
	}
	return -1;
}

/*
 * Generate a key.  RSA sizes outside 2048..16384 are refused: this is
 * the gateway's own key (CA, serverkeygen), never a weak one.
 */
EVP_PKEY *
cert_keygen(enum key_kind kind, int rsa_bits)
{
	EVP_PKEY *pkey = NULL;

	switch (kind) {
	case KEY_RSA:
		if (rsa_bits < CERT_RSA_MIN_BITS ||
		    rsa_bits > CERT_RSA_MAX_BITS) {
			log_error("msg=\"refusing RSA key size\" wanted=%d..%d "
			          "got=%d",
			    CERT_RSA_MIN_BITS, CERT_RSA_MAX_BITS, rsa_bits);
			return NULL;
		}
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
		break;
	case KEY_P256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KEY_P384:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case KEY_P521:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
		break;
	case KEY_ED25519:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case KEY_ED448:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
		break;
	case KEY_EC_OTHER:
	case KEY_UNKNOWN:
		log_error("msg=\"cannot generate key\" kind=%s",
		    cert_key_kind_name(kind));
		return NULL;
	}
	if (pkey == NULL)
		log_openssl(LOG_LVL_ERROR, "key generation failed");
	return pkey;
}

X509 *
cert_load_pem(const char *path)
{
	X509 *cert = NULL;
	BIO *bio = NULL;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		log_openssl(LOG_LVL_ERROR, "cannot open certificate file");
		goto out;
	}
	if ((cert = PEM_read_bio_X509(bio, NULL, cert_no_password_cb, NULL)) ==
	    NULL)
		log_openssl(LOG_LVL_ERROR, "no PEM certificate in file");
out:
	BIO_free(bio);
	return cert;
}

/*
 * Read PEM certificates from `bio` until the end.  The stack holds at
 * least one certificate; anything that is not a clean end of input after
 * the last block (a broken block) fails the whole load.
 */
static STACK_OF(X509) *
read_chain(BIO *bio)
{
	STACK_OF(X509) *chain = NULL, *ret = NULL;
	X509 *cert = NULL;
	unsigned long e;

	if ((chain = sk_X509_new_null()) == NULL)
		goto out;
	while ((cert = PEM_read_bio_X509(
	            bio, NULL, cert_no_password_cb, NULL)) != NULL) {
		if (sk_X509_push(chain, cert) == 0)
			goto out;
		cert = NULL;
	}
	e = ERR_peek_last_error();
	if (sk_X509_num(chain) == 0 || ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		goto out;
	ERR_clear_error();
	ret = chain;
	chain = NULL;
out:
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return ret;
}

STACK_OF(X509) *
cert_load_pem_chain(const char *path)
{
	STACK_OF(X509) *chain = NULL;
	BIO *bio = NULL;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		log_openssl(LOG_LVL_ERROR, "cannot open certificate file");
		goto out;
	}
	if ((chain = read_chain(bio)) == NULL)
		log_openssl(LOG_LVL_ERROR, "bad PEM certificate chain");
out:
	BIO_free(bio);
	return chain;
}

EVP_PKEY *
cert_load_key(const char *path)
{
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		log_openssl(LOG_LVL_ERROR, "cannot open key file");
		goto out;
	}
	if ((key = PEM_read_bio_PrivateKey(
	         bio, NULL, cert_no_password_cb, NULL)) == NULL)
		log_openssl(LOG_LVL_ERROR, "no unencrypted PEM key in file");
out:
	BIO_free(bio);
	return key;
}

/*
 * Open `path` for writing with exactly `mode` (fchmod undoes the umask
 * and fixes an existing file's mode when overwriting).  -1 on error.
 */
static int
open_out(const char *path, mode_t mode, int overwrite)
{
	int fd;

	fd = open(path,
	    O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC | (overwrite ? 0 : O_EXCL),
	    mode);
	if (fd == -1) {
		log_error("msg=\"cannot create file\" path=\"%s\"", path);
		return -1;
	}
	if (fchmod(fd, mode) == -1) {
		log_error("msg=\"cannot set file mode\" path=\"%s\"", path);
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/*
 * Flush `bio`, fsync and close `fd`.  On `failed` or any error the half
 * written file is removed.  Frees bio.  0 / -1.
 */
static int
close_out(const char *path, BIO *bio, int fd, int failed)
{
	int rc = -1;

	if (failed || BIO_flush(bio) != 1 || fsync(fd) == -1)
		goto out;
	rc = 0;
out:
	BIO_free(bio);
	if (close(fd) == -1)
		rc = -1;
	if (rc == -1) {
		log_openssl(LOG_LVL_ERROR, "cannot write PEM file");
		unlink(path);
	}
	return rc;
}

int
cert_save_key(const char *path, EVP_PKEY *key, int overwrite)
{
	BIO *bio = NULL;
	int fd, failed = 1;

	if ((fd = open_out(path, 0600, overwrite)) == -1)
		return -1;
	if ((bio = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL)
		goto out;
	/* PKCS#8 PrivateKeyInfo, unencrypted: the file mode protects it. */
	if (PEM_write_bio_PKCS8PrivateKey(
	        bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	failed = 0;
out:
	return close_out(path, bio, fd, failed);
}

int
cert_save_pem(const char *path, X509 *const *certs, size_t n, int overwrite)
{
	BIO *bio = NULL;
	int fd, failed = 1;
	size_t i;

	if (n > 0 && certs == NULL)
		return -1;
	if ((fd = open_out(path, 0644, overwrite)) == -1)
		return -1;
	if ((bio = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if (PEM_write_bio_X509(bio, certs[i]) != 1)
			goto out;
	failed = 0;
out:
	return close_out(path, bio, fd, failed);
}

/* Contents of a memory BIO as a malloc'd NUL-terminated string. */
static char *
bio_string(BIO *bio)
{
	char *data, *s;
	long n;

	if ((n = BIO_get_mem_data(bio, &data)) < 0)
		return NULL;
	if ((s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

char *
cert_to_pem(X509 *cert)
{
	char *pem = NULL;
	BIO *bio = NULL;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (PEM_write_bio_X509(bio, cert) != 1)
		goto out;
	pem = bio_string(bio);
out:
	if (pem == NULL)
		log_openssl(LOG_LVL_ERROR, "cannot write certificate PEM");
	BIO_free(bio);
	return pem;
}

X509 *
cert_from_pem(const char *pem, size_t len)
{
	X509 *cert = NULL;
	BIO *bio = NULL;

	if (len > INT_MAX)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		goto out;
	cert = PEM_read_bio_X509(bio, NULL, cert_no_password_cb, NULL);
out:
	if (cert == NULL)
		ERR_clear_error();
	BIO_free(bio);
	return cert;
}

/* BN_bn2hex is upper case, with "-" for the (invalid) negative serials. */
int
cert_serial_hex(const X509 *cert, char *out, size_t outsz)
{
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int rc = -1;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) ==
	    NULL)
		goto out;
	if ((hex = BN_bn2hex(bn)) == NULL)
		goto out;
	if (strlen(hex) >= outsz)
		goto out;
	memcpy(out, hex, strlen(hex) + 1);
	rc = 0;
out:
	if (rc == -1)
		ERR_clear_error();
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

time_t
cert_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return -1;
	}
	return timegm(&tm);
}

char *
cert_name_text(const X509_NAME *name)
{
	char *text = NULL;
	BIO *bio = NULL;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	/* RFC 2253 flags escape control and non-ASCII bytes. */
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0)
		goto out;
	text = bio_string(bio);
out:
	if (text == NULL)
		ERR_clear_error();
	BIO_free(bio);
	return text;
}

/*
 * RFC 5280 §4.1.2.2: positive, at most 20 octets.  16 random bytes with
 * the top bit cleared (so no sign octet is needed) and a non-zero first
 * byte (so the DER length is always 16): 126+ bits of CSPRNG output.
 */
int
cert_random_serial(ASN1_INTEGER *out)
{
	unsigned char buf[CERT_SERIAL_LEN];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (rand_pool_bytes(buf, sizeof(buf)) == -1)
		goto out;
	buf[0] &= 0x7f;
	if (buf[0] == 0)
		buf[0] = 0x01;
	if ((bn = BN_bin2bn(buf, sizeof(buf), NULL)) == NULL)
		goto out;
	if (BN_to_ASN1_INTEGER(bn, out) == NULL)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		log_openssl(LOG_LVL_ERROR, "cannot make a random serial");
	BN_free(bn);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* Add one extension written in openssl.cnf syntax. 0 / -1. */
static int
add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int rc = -1;

	if ((ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value)) == NULL)
		goto out;
	if (X509_add_ext(cert, ext, -1) != 1)
		goto out;
	rc = 0;
out:
	X509_EXTENSION_free(ext);
	return rc;
}

/* O=enrolld, CN=`cn`. */
static X509_NAME *
root_name(const char *cn)
{
	X509_NAME *name;

	if ((name = X509_NAME_new()) == NULL)
		return NULL;
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	        (const unsigned char *)"enrolld", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0) != 1) {
		X509_NAME_free(name);
		return NULL;
	}
	return name;
}

/* Version, serial, validity, names and key of the root. 0 / -1. */
static int
root_fields(X509 *cert, EVP_PKEY *key, const char *cn, int days)
{
	X509_NAME *name = NULL;
	int rc = -1;

	if (X509_set_version(cert, X509_VERSION_3) != 1)
		goto out;
	if (cert_random_serial(X509_get_serialNumber(cert)) == -1)
		goto out;
	/* Five minutes back: tolerate relying parties with slow clocks. */
	if (X509_gmtime_adj(X509_getm_notBefore(cert), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL)
		goto out;
	if ((name = root_name(cn)) == NULL)
		goto out;
	if (X509_set_subject_name(cert, name) != 1 ||
	    X509_set_issuer_name(cert, name) != 1)
		goto out;
	if (X509_set_pubkey(cert, key) != 1)
		goto out;
	rc = 0;
out:
	X509_NAME_free(name);
	return rc;
}

/*
 * Self-signed CA certificate for `key` (RFC 5280 §4.2.1.9 basic
 * constraints and §4.2.1.3 key usage, both critical; SKI by hash, AKI
 * with the same key id).  SHA-256, or the key's own hash for EdDSA.
 * Caller frees with X509_free; NULL on error (logged).
 */
X509 *
cert_make_root_ca(EVP_PKEY *key, const char *common_name, int days)
{
	const EVP_MD *md = EVP_sha256();
	X509 *cert = NULL, *ret = NULL;
	X509V3_CTX ctx;
	int id;

	if (key == NULL || common_name == NULL || *common_name == '\0' ||
	    days <= 0)
		goto out;
	if ((cert = X509_new()) == NULL)
		goto out;
	if (root_fields(cert, key, common_name, days) == -1)
		goto out;
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	/* SKI first: the AKI key id is copied from it. */
	if (add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_ext(cert, &ctx, NID_key_usage,
	        "critical,keyCertSign,cRLSign,digitalSignature") ||
	    add_ext(cert, &ctx, NID_subject_key_identifier, "hash") ||
	    add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto out;
	id = EVP_PKEY_get_base_id(key);
	if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
		md = NULL;
	if (X509_sign(cert, key, md) <= 0)
		goto out;
	ret = cert;
	cert = NULL;
out:
	if (ret == NULL)
		log_openssl(LOG_LVL_ERROR, "cannot make root CA certificate");
	X509_free(cert);
	return ret;
}
