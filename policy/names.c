/*
 * Name matching for the policy: host name syntax (RFC 1123 section 2.1,
 * RFC 1035 section 2.3.4 limits), DNS suffix matching and CIDR networks
 * for "ip.allow".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "policy/policy_int.h"

#define DNS_MAX_NAME 253
#define DNS_MAX_LABEL 63

static int
label_char(unsigned char c)
{
	/* Not isalnum(): the locale must not widen what a label may hold. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/*
 * Check one label of `len` bytes at `p`; *digits is cleared unless the
 * label is all digits.  0, or -1 with *why.
 */
static int
label_syntax(const char *p, size_t len, int *digits, const char **why)
{
	size_t i;

	if (len == 0) {
		*why = "empty label";
		return -1;
	}
	if (len > DNS_MAX_LABEL) {
		*why = "label longer than 63 characters";
		return -1;
	}
	if (p[0] == '-' || p[len - 1] == '-') {
		*why = "label starts or ends with '-'";
		return -1;
	}
	*digits = 1;
	for (i = 0; i < len; i++) {
		if (!label_char((unsigned char)p[i])) {
			*why = "character other than a letter, digit or '-'";
			return -1;
		}
		if (!isdigit((unsigned char)p[i]))
			*digits = 0;
	}
	return 0;
}

int
policy_dns_syntax(const char *name, const char **why)
{
	const char *p, *dot;
	size_t len;
	int digits = 0;

	len = strlen(name);
	if (len == 0) {
		*why = "empty name";
		return -1;
	}
	if (len > DNS_MAX_NAME) {
		*why = "longer than 253 characters";
		return -1;
	}
	for (p = name;; p = dot + 1) {
		dot = strchr(p, '.');
		len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (label_syntax(p, len, &digits, why) == -1)
			return -1;
		if (dot == NULL)
			break;
	}
	/* An all-digit top label is an IPv4 address dressed as a name. */
	if (digits) {
		*why = "rightmost label is all digits (an IP address?)";
		return -1;
	}
	return 0;
}

int
policy_suffix_match(const char *name, const char *suffix, int wildcard)
{
	const char *body = suffix;
	size_t nlen, blen;
	int sub_only = 0;

	if (body[0] == '.') {
		sub_only = 1;
		body++;
	}
	nlen = strlen(name);
	blen = strlen(body);
	if (nlen == blen && strcasecmp(name, body) == 0)
		return !sub_only || wildcard;
	/* The label boundary keeps "badexample.com" out of "example.com". */
	if (nlen > blen && name[nlen - blen - 1] == '.' &&
	    strcasecmp(name + nlen - blen, body) == 0)
		return 1;
	return 0;
}

/* Strict decimal prefix length of at most `max`; -1 on anything else. */
static int
prefix_parse(const char *s, unsigned max)
{
	unsigned v = 0;
	size_t i, len;

	len = strlen(s);
	if (len == 0 || len > 3)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	return (int)v;
}

/* 1 when some bit of `addr` past the first `bits` is set. */
static int
host_bits_set(const unsigned char *addr, size_t len, unsigned bits)
{
	size_t i;

	for (i = bits / 8; i < len; i++) {
		unsigned char mask = 0xff;

		if (i == bits / 8 && bits % 8 != 0)
			mask = (unsigned char)(0xff >> (bits % 8));
		if (addr[i] & mask)
			return 1;
	}
	return 0;
}

int
policy_cidr_parse(const char *text, struct policy_cidr *out, const char **why)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash;
	size_t alen;
	int bits;

	memset(out, 0, sizeof(*out));
	slash = strchr(text, '/');
	alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(addr)) {
		*why = "is not an IPv4 or IPv6 address";
		return -1;
	}
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->len = 4;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->len = 16;
	else {
		*why = "is not an IPv4 or IPv6 address";
		return -1;
	}
	out->bits = (unsigned)out->len * 8;
	if (slash != NULL) {
		if ((bits = prefix_parse(slash + 1, out->bits)) == -1) {
			*why = out->len == 4
			    ? "has a prefix length that is not 0 to 32"
			    : "has a prefix length that is not 0 to 128";
			return -1;
		}
		out->bits = (unsigned)bits;
	}
	/* "10.0.0.1/8" is almost always a typo for a host or a network. */
	if (host_bits_set(out->addr, out->len, out->bits)) {
		*why = "has address bits set beyond its prefix length";
		return -1;
	}
	return 0;
}

int
policy_cidr_contains(
    const struct policy_cidr *net, const unsigned char *ip, size_t len)
{
	size_t whole = net->bits / 8;
	unsigned rest = net->bits % 8;
	unsigned char mask;

	/* IPv4-mapped IPv6 addresses do not match IPv4 networks: deny. */
	if (len != net->len)
		return 0;
	if (memcmp(net->addr, ip, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr[whole] & mask) == (ip[whole] & mask);
}
