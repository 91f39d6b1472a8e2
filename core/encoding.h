/*
 * Base64 and hex helpers shared by every protocol.
 */
#ifndef ENROLLD_ENCODING_H
#define ENROLLD_ENCODING_H

#include <stddef.h>

/*
 * Decode standard base64 (RFC 4648 §4).  White space (space, tab, CR, LF)
 * anywhere in the input is ignored, so bodies with or without line breaks
 * are accepted; padding is optional at the very end only.  Any other
 * character, or a truncated final quantum, fails.
 * Returns a malloc'd buffer (caller frees) and its length in *outlen,
 * or NULL on invalid input or allocation failure.  An input that decodes
 * to zero bytes returns NULL.
 */
unsigned char *encoding_b64_decode(
    const char *in, size_t inlen, size_t *outlen);

/*
 * Same for the URL-safe alphabet (RFC 4648 §5), no padding required.
 * Also accepts the standard alphabet ('+' and '/').
 */
unsigned char *encoding_b64url_decode(
    const char *in, size_t inlen, size_t *outlen);

/*
 * Encode `len` bytes as standard base64 with padding.  When line_len is
 * non-zero a CRLF is inserted after every line_len output characters and
 * at the end.  Returns a malloc'd NUL-terminated string (caller frees),
 * its strlen in *outlen when outlen is not NULL; NULL on allocation
 * failure.
 */
char *encoding_b64_encode(
    const unsigned char *in, size_t len, size_t line_len, size_t *outlen);

/* URL-safe base64 without padding; malloc'd, caller frees. */
char *encoding_b64url_encode(const unsigned char *in, size_t len);

/* Lower-case hex of `len` bytes; malloc'd, caller frees. */
char *encoding_hex(const unsigned char *in, size_t len);

#endif
