/*
 * What a SCEP load driver sends and reads (RFC 8894): per request a
 * fresh RSA-2048 key, its CSR with the challengePassword, a self-signed
 * signer certificate and the PKCSReq pkiMessage (§3.2), all made before
 * the clock starts; after it, the CertRep (§3.3.2) is checked as a
 * client would: the CA's or RA's signature, the attributes, the envelope
 * opened with the request's key, the issued certificate carrying that
 * key and signed by the CA.
 */
#ifndef ENROLLD_BENCH_SCEP_CLIENT_H
#define ENROLLD_BENCH_SCEP_CLIENT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define BSCEP_NONCE_LEN 16

/* The server as GetCACert showed it.  Both members owned. */
struct bscep_peer {
	STACK_OF(X509) *certs; /* every certificate GetCACert returned */
	X509 *recipient;       /* the RA, or the CA when there is no RA */
};

/* How requests are made; everything borrowed. */
struct bscep_req_opts {
	const struct bscep_peer *peer;
	const char *challenge;
	const EVP_CIPHER *cipher; /* for the envelope of the CSR */
};

/* One enrollment, ready to send.  Every member owned; free them with
 * bscep_req_clear(). */
struct bscep_req {
	EVP_PKEY *key;      /* RSA-2048, for this request only */
	X509 *signer;       /* self-signed "SCEP SIGNER" with that key */
	unsigned char *der; /* the pkiMessage */
	size_t len;
	unsigned char nonce[BSCEP_NONCE_LEN]; /* senderNonce */
	char tid[65]; /* transactionID: hex SHA-256 of the public key */
};

/*
 * Fill `p` from a GetCACert reply (RFC 8894 §4.2.1): one DER certificate
 * for application/x-x509-ca-cert, a degenerate certs-only PKCS#7 for
 * application/x-x509-ca-ra-cert, whose recipient is the one certificate
 * that is not a CA.  0, or -1 with a reason in `why`; on failure `p`
 * holds nothing.  Free with bscep_peer_clear().
 */
int bscep_peer_parse(struct bscep_peer *p, const char *ctype,
    const unsigned char *body, size_t len, char *why, size_t whysz);
/* Free the members of `p` and zero it.  NULL-safe. */
void bscep_peer_clear(struct bscep_peer *p);

/*
 * Make request `r` for subject and dNSName `cn` with the key in r->key
 * (set by the caller, owned by r), or with a new RSA-2048 key when
 * r->key is NULL: the CSR (CN, SAN, challengePassword), the signer
 * certificate and the PKCSReq: SignedData (SHA-256) with messageType 19,
 * transactionID and senderNonce, whose content is the CSR enveloped for
 * o->peer->recipient.  Safe to call from several threads at once.
 * 0 / -1; on failure what was made stays in `r` for bscep_req_clear().
 */
int bscep_req_make(
    struct bscep_req *r, const struct bscep_req_opts *o, const char *cn);
/* Free the members of `r` and zero it.  NULL-safe. */
void bscep_req_clear(struct bscep_req *r);

/*
 * Check the CertRep `der` answering `r`: it parses exactly, is signed by
 * p->recipient, says messageType 3, pkiStatus SUCCESS, our transactionID
 * and our senderNonce as recipientNonce; its envelope opens with r->key
 * and holds a certificate for r->key signed by a CA of `p`.  0, or -1
 * with the first thing wrong in `why` (the OpenSSL error queue is
 * cleared).
 */
int bscep_rep_check(const struct bscep_req *r, const struct bscep_peer *p,
    const unsigned char *der, size_t len, char *why, size_t whysz);

#endif
