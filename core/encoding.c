/*
 * Base64 (RFC 4648 §4 and §5) and hex.  Hand-written with a decoding
 * table because OpenSSL's BIO/EVP base64 decoders are lenient in the
 * wrong places (they stop quietly at the first bad character).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"

/* Values above 63 in the decoding tables. */
#define B64_BAD 0xff
#define B64_SPACE 0xfe
#define B64_PAD 0xfd

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Fill `table` (256 entries): every byte is B64_BAD except the alphabet
 * (its 6-bit value), white space and '='.  `url` adds '-' and '_' to the
 * standard alphabet.  Built per call: cheap, and no shared mutable state
 * between threads.
 */
static void
b64_table(unsigned char table[256], int url)
{
	size_t i;

	memset(table, B64_BAD, 256);
	for (i = 0; i < 64; i++)
		table[(unsigned char)b64_std[i]] = (unsigned char)i;
	if (url) {
		table['-'] = 62;
		table['_'] = 63;
	}
	table[' '] = table['\t'] = table['\r'] = table['\n'] = B64_SPACE;
	table['='] = B64_PAD;
}

/*
 * Shared decoder.  Collects 6-bit values in quanta of four; '=' may only
 * appear once the data is over, and then only white space or more '='
 * may follow, up to a complete quantum.  A final quantum of one
 * character carries fewer than 8 bits and is rejected.
 */
static unsigned char *
b64_decode(const char *in, size_t inlen, size_t *outlen, int url)
{
	unsigned char table[256], quad[4], *out = NULL, *ret = NULL;
	size_t i, n = 0, q = 0, pads = 0;
	unsigned char v;

	b64_table(table, url);
	/* Each 4 characters give at most 3 bytes. */
	if ((out = malloc(inlen / 4 * 3 + 3)) == NULL)
		goto out;
	for (i = 0; i < inlen; i++) {
		v = table[(unsigned char)in[i]];
		if (v == B64_SPACE)
			continue;
		if (v == B64_BAD)
			goto out;
		if (v == B64_PAD) {
			/* "=" needs 2 or 3 data characters before it. */
			if (q + pads < 2 || q + pads >= 4)
				goto out;
			pads++;
			continue;
		}
		if (pads > 0)
			goto out; /* data after padding */
		quad[q++] = v;
		if (q == 4) {
			out[n++] = (unsigned char)(quad[0] << 2 | quad[1] >> 4);
			out[n++] = (unsigned char)(quad[1] << 4 | quad[2] >> 2);
			out[n++] = (unsigned char)(quad[2] << 6 | quad[3]);
			q = 0;
		}
	}
	/* Padding, when present, must complete the quantum. */
	if (q == 1 || (pads > 0 && q + pads != 4))
		goto out;
	if (q >= 2)
		out[n++] = (unsigned char)(quad[0] << 2 | quad[1] >> 4);
	if (q == 3)
		out[n++] = (unsigned char)(quad[1] << 4 | quad[2] >> 2);
	if (n == 0)
		goto out;
	*outlen = n;
	ret = out;
	out = NULL;
out:
	free(out);
	return ret;
}

unsigned char *
encoding_b64_decode(const char *in, size_t inlen, size_t *outlen)
{
	return b64_decode(in, inlen, outlen, 0);
}

unsigned char *
encoding_b64url_decode(const char *in, size_t inlen, size_t *outlen)
{
	return b64_decode(in, inlen, outlen, 1);
}

/*
 * Encode into `out`, which has room for the result and its NUL.  With
 * `pad` the last quantum is completed with '='.  Returns the length.
 */
static size_t
b64_encode_raw(const unsigned char *in, size_t len, const char *alphabet,
    int pad, size_t line_len, char *out)
{
	size_t i, n = 0, col = 0, k, chunk;
	char quad[4];
	uint32_t w;

	for (i = 0; i < len; i += 3) {
		chunk = len - i < 3 ? len - i : 3;
		w = (uint32_t)in[i] << 16;
		if (chunk > 1)
			w |= (uint32_t)in[i + 1] << 8;
		if (chunk > 2)
			w |= in[i + 2];
		quad[0] = alphabet[w >> 18 & 0x3f];
		quad[1] = alphabet[w >> 12 & 0x3f];
		quad[2] = chunk > 1 ? alphabet[w >> 6 & 0x3f] : '=';
		quad[3] = chunk > 2 ? alphabet[w & 0x3f] : '=';
		for (k = 0; k < 4; k++) {
			if (quad[k] == '=' && !pad)
				break;
			out[n++] = quad[k];
			if (line_len != 0 && ++col == line_len) {
				out[n++] = '\r';
				out[n++] = '\n';
				col = 0;
			}
		}
	}
	if (line_len != 0 && col != 0) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	out[n] = '\0';
	return n;
}

char *
encoding_b64_encode(
    const unsigned char *in, size_t len, size_t line_len, size_t *outlen)
{
	size_t enc, total, n;
	char *out;

	if (len > (SIZE_MAX - 8) / 4 * 3 - 3)
		return NULL;
	enc = (len + 2) / 3 * 4;
	total = enc + 1;
	if (line_len != 0) {
		/* One CRLF per started line. */
		if ((enc / line_len + 1) > (SIZE_MAX - total) / 2)
			return NULL;
		total += (enc / line_len + 1) * 2;
	}
	if ((out = malloc(total)) == NULL)
		return NULL;
	n = b64_encode_raw(in, len, b64_std, 1, line_len, out);
	if (outlen != NULL)
		*outlen = n;
	return out;
}

char *
encoding_b64url_encode(const unsigned char *in, size_t len)
{
	char *out;

	if (len > (SIZE_MAX - 8) / 4 * 3 - 3)
		return NULL;
	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	b64_encode_raw(in, len, b64_url, 0, 0, out);
	return out;
}

char *
encoding_hex(const unsigned char *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out;
	size_t i;

	if (len > (SIZE_MAX - 1) / 2)
		return NULL;
	if ((out = malloc(len * 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
	return out;
}
