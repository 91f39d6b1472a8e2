/*
 * One-time SCEP challenge passwords (RFC 8894 §2.3 leaves their source to
 * the CA): `enrolld scep-otp add` makes one, stored as its SHA-256 with
 * an expiry; the first PKCSReq that carries it uses it up.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/thread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/cmd.h"
#include "core/encoding.h"
#include "core/gateway.h"
#include "core/store.h"
#include "protocols/scep/scep_int.h"

#define OTP_BYTES 18
#define OTP_TTL_DEFAULT 86400

void
scep_otp_id(const char *password, char *out, size_t outsz)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	size_t i;

	out[0] = '\0';
	if (EVP_Digest(
	        password, strlen(password), md, &len, EVP_sha256(), NULL) != 1)
		return;
	for (i = 0; i < len && 2 * i + 2 < outsz; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int
otp_usage(void)
{
	fprintf(stderr,
	    "usage: enrolld scep-otp add --config FILE "
	    "[--ttl SECONDS]\n");
	return 2;
}

/* A new password, stored; printed once, never kept in clear. */
static int
otp_add(struct store_conn *sc, long ttl)
{
	unsigned char rnd[OTP_BYTES];
	char id[65], *pw = NULL;
	struct store_txn *t = NULL;
	struct store_obj o;
	int rc = -1;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    (pw = encoding_b64url_encode(rnd, sizeof(rnd))) == NULL)
		goto out;
	scep_otp_id(pw, id, sizeof(id));
	memset(&o, 0, sizeof(o));
	o.kind = SCEP_KIND_OTP;
	o.id = id;
	o.status = "unused";
	o.json = "{}";
	o.expires = time(NULL) + ttl;
	if ((t = store_txn_new()) == NULL || store_txn_put(t, &o) == -1)
		goto out;
	if (store_txn_run(sc, t) != 0) {
		t = NULL;
		goto out;
	}
	t = NULL;
	printf("%s\n", pw);
	rc = 0;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	if (pw != NULL)
		OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
	store_txn_free(t);
	return rc;
}

static int
scep_cmd_otp(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"ttl", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	struct gateway *gw = NULL;
	struct store_conn *sc = NULL;
	long ttl = OTP_TTL_DEFAULT;
	char *end;
	int ch, rc = 1;

	if (argc < 2 || strcmp(argv[1], "add") != 0)
		return otp_usage();
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:t:", opts, NULL)) != -1) {
		if (ch == 'c')
			config = optarg;
		else if (ch == 't') {
			ttl = strtol(optarg, &end, 10);
			if (*end != '\0' || ttl < 1 || ttl > 365L * 86400)
				return otp_usage();
		} else
			return otp_usage();
	}
	if (config == NULL || optind != argc)
		return otp_usage();
	if (evthread_use_pthreads() != 0 ||
	    (gw = cmd_load_gateway(config, 1)) == NULL ||
	    (sc = store_conn_open(gateway_store(gw))) == NULL)
		goto out;
	if (otp_add(sc, ttl) == 0)
		rc = 0;
	else
		fprintf(stderr, "enrolld: the password could not be stored\n");
out:
	store_conn_close(sc);
	gateway_free(gw);
	return rc;
}

const struct proto_command scep_commands[] = {
    {"scep-otp",
        "scep-otp add --config FILE [--ttl SECONDS]   (prints a one-time "
        "SCEP challenge)",
        scep_cmd_otp},
    {NULL, NULL, NULL},
};
