/*
 * Internal to policy/ (after curl's vtls_int.h): the profile layout
 * shared by the parser (profile.c), the accessors (policy.c) and the
 * rules (rules.c), and the name matchers of names.c.  Nothing outside
 * policy/ includes this file; the public interface is policy/policy.h.
 */
#ifndef ENROLLD_POLICY_INT_H
#define ENROLLD_POLICY_INT_H

#include <regex.h>
#include <stddef.h>

#include <jansson.h>

#include "core/cert.h"

#define PROFILE_MAX_KEY_TYPES 5       /* rsa, p256, p384, p521, ed25519 */
#define PROFILE_MAX_EKU 4             /* the four names of profile.c */
#define PROFILE_MAX_SUBJECT_REQUIRE 7 /* O OU C ST L CN emailAddress */

/* One "ip.allow" entry: a network of `len` (4 or 16) address bytes. */
struct policy_cidr {
	unsigned char addr[16];
	size_t len;
	unsigned bits;
};

struct profile {
	char *name;
	char *backend;
	int validity_days;
	int max_validity_days;
	enum key_kind key_types[PROFILE_MAX_KEY_TYPES];
	size_t n_key_types;
	int rsa_min_bits;
	char **suffixes; /* lower-case; a leading '.' = subdomains only */
	size_t n_suffixes;
	int allow_wildcards;
	struct policy_cidr *ip_allow;
	size_t n_ip_allow;
	int max_sans;
	int allow_email;
	int allow_uri;
	int eku_nids[PROFILE_MAX_EKU];
	size_t n_eku;
	int subject_cn_only;
	char **requesters; /* "*" = any authenticated requester */
	size_t n_requesters;
	int allow_anonymous;
	int require_approval; /* core/approval.h: an operator decides */
	/* subject_rules */
	regex_t *cn_regex; /* "^(cn_pattern)$", owned; NULL: no pattern */
	int subject_require[PROFILE_MAX_SUBJECT_REQUIRE]; /* NIDs */
	size_t n_subject_require;
	int allow_cn_only; /* 0: a CSR without a SAN extension is denied */
};

/*
 * profile.c: build the profile `name` from its config object, defaults
 * filled in.  On error write "profiles.NAME.KEY: why" to err and return
 * NULL.  Caller frees with policy_profile_free (NULL-safe).
 */
struct profile *policy_profile_parse(
    const char *name, const json_t *obj, char *err, size_t errlen);
void policy_profile_free(struct profile *prof);

/*
 * names.c.  policy_dns_syntax: 0 when `name` is a host name (labels of
 * 1..63 letters, digits and '-', not starting or ending with '-', at
 * most 253 characters, rightmost label not all digits), else -1 with
 * *why set to a static phrase.  No wildcard is accepted here.
 */
int policy_dns_syntax(const char *name, const char **why);
/*
 * 1 when host name `name` falls under `suffix` ("example.com": itself
 * and its subdomains; ".example.com": subdomains only), else 0.  With
 * `wildcard` set, `name` is the base of "*.name", whose covered names
 * are all subdomains, so a leading-dot suffix also matches name itself.
 * Comparison ignores case.
 */
int policy_suffix_match(const char *name, const char *suffix, int wildcard);
/* Parse "10.0.0.0/8", "::1/128" or a bare address; 0, or -1 with *why. */
int policy_cidr_parse(
    const char *text, struct policy_cidr *out, const char **why);
/* 1 when the `len`-byte address `ip` is inside `net`, else 0. */
int policy_cidr_contains(
    const struct policy_cidr *net, const unsigned char *ip, size_t len);

#endif
