/*
 * One profile from its config object (the keys and defaults documented
 * in policy/policy.h).  The parser is data: a table of keys per object,
 * each with its own small function; a key not in the table is an error,
 * so a typo never silently weakens a profile.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/obj_mac.h>

#include "core/log.h"
#include "policy/policy_int.h"

#define DEFAULT_BACKEND "local"
#define DEFAULT_VALIDITY 90
#define DEFAULT_MAX_VALIDITY 397
#define MAX_VALIDITY 3650 /* ten years; beyond that is a CA, not a leaf */
#define MIN_RSA_BITS 2048
#define MAX_RSA_BITS 16384
#define DEFAULT_MAX_SANS 10
#define MAX_SANS 1000
#define MAX_LIST 4096    /* entries in any one list */
#define MAX_NAME 64      /* profile name; it appears in URLs (EST labels) */
#define MAX_PATTERN 1024 /* subject_rules.cn_pattern characters */
#define PATH_LEN 256

struct parse_ctx {
	struct profile *prof;
	char *err;
	size_t errlen;
	int seen_validity;
	int seen_ip_allow;
	int seen_requesters;
};

struct profile_key {
	const char *key;
	int (*parse)(struct parse_ctx *ctx, const json_t *v, const char *path);
};

/* Each string list element is handed to one of these, with its path. */
typedef int elem_fn(struct parse_ctx *ctx, const char *s, const char *path);

static const struct {
	const char *name;
	enum key_kind kind;
} key_names[] = {
    {"rsa", KEY_RSA},
    {"p256", KEY_P256},
    {"p384", KEY_P384},
    {"p521", KEY_P521},
    {"ed25519", KEY_ED25519},
};

static const struct {
	const char *name;
	int nid;
} eku_names[] = {
    {"serverAuth", NID_server_auth},
    {"clientAuth", NID_client_auth},
    {"codeSigning", NID_code_sign},
    {"emailProtection", NID_email_protect},
};

/* subject_rules.require: the attributes a device subject commonly has. */
static const struct {
	const char *name;
	int nid;
} subject_attrs[] = {
    {"O", NID_organizationName},
    {"OU", NID_organizationalUnitName},
    {"C", NID_countryName},
    {"ST", NID_stateOrProvinceName},
    {"L", NID_localityName},
    {"CN", NID_commonName},
    {"emailAddress", NID_pkcs9_emailAddress},
};

static void __attribute__((format(printf, 2, 3)))
seterr(struct parse_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->err == NULL || ctx->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(ctx->err, ctx->errlen, fmt, ap);
	va_end(ap);
}

/* Config text quoted in an error sentence, made safe for a log line. */
static const char *
clean(const char *s, char *buf, size_t bufsz)
{
	return log_sanitize(s, strlen(s), buf, bufsz);
}

static int
get_int(struct parse_ctx *ctx, const json_t *v, const char *path,
    json_int_t min, json_int_t max, int *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		seterr(ctx, "%s: must be an integer from %lld to %lld", path,
		    (long long)min, (long long)max);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

static int
get_bool(struct parse_ctx *ctx, const json_t *v, const char *path, int *out)
{
	if (!json_is_boolean(v)) {
		seterr(ctx, "%s: must be true or false", path);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/*
 * Check that `v` is an array of at most MAX_LIST strings and hand each
 * to fn with its path ("profiles.web.eku[2]").  0 / -1.
 */
static int
each_string(
    struct parse_ctx *ctx, const json_t *v, const char *path, elem_fn *fn)
{
	char epath[PATH_LEN];
	const json_t *el;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) > MAX_LIST) {
		seterr(ctx, "%s: must be an array of at most %d strings", path,
		    MAX_LIST);
		return -1;
	}
	for (i = 0; i < json_array_size(v); i++) {
		el = json_array_get(v, i);
		snprintf(epath, sizeof(epath), "%s[%zu]", path, i);
		if (!json_is_string(el)) {
			seterr(ctx, "%s: must be a string", epath);
			return -1;
		}
		if (fn(ctx, json_string_value(el), epath) == -1)
			return -1;
	}
	return 0;
}

/* A zeroed array with room for every element of the JSON array `v`. */
static void *
list_alloc(const json_t *v, size_t elsize)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;

	return calloc(n > 0 ? n : 1, elsize);
}

static void
strings_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
parse_backend(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	char *copy;

	if (!json_is_string(v) || json_string_length(v) == 0) {
		seterr(ctx, "%s: must be a non-empty string", path);
		return -1;
	}
	if ((copy = strdup(json_string_value(v))) == NULL) {
		seterr(ctx, "%s: out of memory", path);
		return -1;
	}
	free(ctx->prof->backend);
	ctx->prof->backend = copy;
	return 0;
}

static int
parse_validity(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	ctx->seen_validity = 1;
	return get_int(
	    ctx, v, path, 1, MAX_VALIDITY, &ctx->prof->validity_days);
}

static int
parse_max_validity(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_int(
	    ctx, v, path, 1, MAX_VALIDITY, &ctx->prof->max_validity_days);
}

static int
key_type_elem(struct parse_ctx *ctx, const char *s, const char *path)
{
	struct profile *prof = ctx->prof;
	char buf[64];
	size_t i, j;

	for (i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
		if (strcmp(s, key_names[i].name) != 0)
			continue;
		for (j = 0; j < prof->n_key_types; j++) {
			if (prof->key_types[j] == key_names[i].kind) {
				seterr(
				    ctx, "%s: \"%s\" is listed twice", path, s);
				return -1;
			}
		}
		prof->key_types[prof->n_key_types++] = key_names[i].kind;
		return 0;
	}
	seterr(ctx, "%s: \"%s\" is not one of rsa, p256, p384, p521, ed25519",
	    path, clean(s, buf, sizeof(buf)));
	return -1;
}

static int
parse_key_types(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	ctx->prof->n_key_types = 0;
	if (each_string(ctx, v, path, key_type_elem) == -1)
		return -1;
	if (ctx->prof->n_key_types == 0) {
		seterr(ctx, "%s: must list at least one key type", path);
		return -1;
	}
	return 0;
}

static int
parse_rsa_min_bits(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_int(
	    ctx, v, path, MIN_RSA_BITS, MAX_RSA_BITS, &ctx->prof->rsa_min_bits);
}

static int
suffix_elem(struct parse_ctx *ctx, const char *s, const char *path)
{
	struct profile *prof = ctx->prof;
	const char *why;
	char buf[80], *copy, *p;

	if ((copy = strdup(s)) == NULL) {
		seterr(ctx, "%s: out of memory", path);
		return -1;
	}
	for (p = copy; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (policy_dns_syntax(copy[0] == '.' ? copy + 1 : copy, &why) == -1) {
		seterr(ctx, "%s: \"%s\" is not a DNS suffix (%s)", path,
		    clean(s, buf, sizeof(buf)), why);
		free(copy);
		return -1;
	}
	prof->suffixes[prof->n_suffixes++] = copy;
	return 0;
}

static int
parse_suffixes(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	struct profile *prof = ctx->prof;

	strings_free(prof->suffixes, prof->n_suffixes);
	prof->n_suffixes = 0;
	if ((prof->suffixes = list_alloc(v, sizeof(char *))) == NULL) {
		seterr(ctx, "%s: out of memory", path);
		return -1;
	}
	return each_string(ctx, v, path, suffix_elem);
}

static int
parse_wildcards(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_bool(ctx, v, path, &ctx->prof->allow_wildcards);
}

static int
cidr_elem(struct parse_ctx *ctx, const char *s, const char *path)
{
	struct profile *prof = ctx->prof;
	const char *why;
	char buf[80];

	if (policy_cidr_parse(s, &prof->ip_allow[prof->n_ip_allow], &why) ==
	    -1) {
		seterr(ctx, "%s: \"%s\" %s", path, clean(s, buf, sizeof(buf)),
		    why);
		return -1;
	}
	prof->n_ip_allow++;
	return 0;
}

static int
parse_ip_allow(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	struct profile *prof = ctx->prof;

	ctx->seen_ip_allow = 1;
	free(prof->ip_allow);
	prof->n_ip_allow = 0;
	if ((prof->ip_allow = list_alloc(v, sizeof(*prof->ip_allow))) == NULL) {
		seterr(ctx, "%s: out of memory", path);
		return -1;
	}
	return each_string(ctx, v, path, cidr_elem);
}

static int
parse_max_sans(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_int(ctx, v, path, 1, MAX_SANS, &ctx->prof->max_sans);
}

static int
parse_allow_email(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_bool(ctx, v, path, &ctx->prof->allow_email);
}

static int
parse_allow_uri(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_bool(ctx, v, path, &ctx->prof->allow_uri);
}

static int
eku_elem(struct parse_ctx *ctx, const char *s, const char *path)
{
	struct profile *prof = ctx->prof;
	char buf[64];
	size_t i, j;

	for (i = 0; i < sizeof(eku_names) / sizeof(eku_names[0]); i++) {
		if (strcmp(s, eku_names[i].name) != 0)
			continue;
		for (j = 0; j < prof->n_eku; j++) {
			if (prof->eku_nids[j] == eku_names[i].nid) {
				seterr(
				    ctx, "%s: \"%s\" is listed twice", path, s);
				return -1;
			}
		}
		prof->eku_nids[prof->n_eku++] = eku_names[i].nid;
		return 0;
	}
	seterr(ctx,
	    "%s: \"%s\" is not one of serverAuth, clientAuth, codeSigning, "
	    "emailProtection",
	    path, clean(s, buf, sizeof(buf)));
	return -1;
}

/* An empty list is allowed: the certificate then carries no EKU. */
static int
parse_eku(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	ctx->prof->n_eku = 0;
	return each_string(ctx, v, path, eku_elem);
}

static int
parse_subject(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	const char *s = json_string_value(v);

	if (s == NULL || (strcmp(s, "csr") != 0 && strcmp(s, "cn") != 0)) {
		seterr(ctx, "%s: must be \"csr\" or \"cn\"", path);
		return -1;
	}
	ctx->prof->subject_cn_only = strcmp(s, "cn") == 0;
	return 0;
}

static int
requester_elem(struct parse_ctx *ctx, const char *s, const char *path)
{
	struct profile *prof = ctx->prof;
	char *copy;

	if (*s == '\0') {
		seterr(ctx, "%s: must be a non-empty user name or \"*\"", path);
		return -1;
	}
	if ((copy = strdup(s)) == NULL) {
		seterr(ctx, "%s: out of memory", path);
		return -1;
	}
	prof->requesters[prof->n_requesters++] = copy;
	return 0;
}

/* An empty list is allowed: then only anonymous requests can pass. */
static int
parse_requesters(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	struct profile *prof = ctx->prof;

	ctx->seen_requesters = 1;
	strings_free(prof->requesters, prof->n_requesters);
	prof->n_requesters = 0;
	if ((prof->requesters = list_alloc(v, sizeof(char *))) == NULL) {
		seterr(ctx, "%s: out of memory", path);
		return -1;
	}
	return each_string(ctx, v, path, requester_elem);
}

static int
parse_allow_anonymous(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_bool(ctx, v, path, &ctx->prof->allow_anonymous);
}

static int
parse_require_approval(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_bool(ctx, v, path, &ctx->prof->require_approval);
}

/*
 * Past the bracket expression starting at `p` ('['), or NULL when it is
 * not closed.  Inside it ')' and '\' are literal; "[:alpha:]", "[.-.]"
 * and "[=a=]" may hold a ']' of their own.
 */
static const char *
skip_bracket(const char *p)
{
	char close[3] = {'\0', ']', '\0'};
	const char *end;

	p++;
	if (*p == '^')
		p++;
	if (*p == ']') /* first, it is a member, not the end */
		p++;
	while (*p != '\0' && *p != ']') {
		if (p[0] == '[' &&
		    (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			close[0] = p[1];
			if ((end = strstr(p + 2, close)) == NULL)
				return NULL;
			p = end + 2;
		} else
			p++;
	}
	return *p == ']' ? p + 1 : NULL;
}

/*
 * 0 when `pat` stays inside the "^(" ... ")$" wrapper it is compiled
 * in, else -1 with *why set.  A ')' that closes no '(' of the pattern
 * would close the wrapper early and unanchor the rest ("a)|(b" becomes
 * "^(a)|(b)$"), and the wrapped pattern is valid, so regcomp does not
 * catch it.  A back-reference would count the wrapper's group, so "\1"
 * would mean something else than written.  What regcomp rejects anyway
 * (an unclosed '(') is left to it.
 */
static int
pattern_contained(const char *pat, const char **why)
{
	const char *p = pat;
	size_t depth = 0;

	while (*p != '\0') {
		switch (*p) {
		case '\\':
			if (p[1] >= '1' && p[1] <= '9') {
				*why = "back-references are not supported";
				return -1;
			}
			p += p[1] != '\0' ? 2 : 1;
			continue;
		case '[':
			if ((p = skip_bracket(p)) == NULL) {
				*why = "a '[' has no closing ']'";
				return -1;
			}
			continue;
		case '(':
			depth++;
			break;
		case ')':
			if (depth == 0) {
				*why = "a ')' closes no '('";
				return -1;
			}
			depth--;
			break;
		default:
			break;
		}
		p++;
	}
	return 0;
}

/*
 * Compile the pattern once, anchored at both ends: the whole CN must
 * match, not a part of it.
 */
static int
parse_cn_pattern(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	struct profile *prof = ctx->prof;
	const char *pat = json_string_value(v), *why;
	char *wrapped = NULL, msg[128];
	regex_t *re = NULL;
	size_t len, size;
	int rc = -1, e;

	if (pat == NULL || (len = json_string_length(v)) == 0 ||
	    len > MAX_PATTERN || strlen(pat) != len) {
		seterr(ctx,
		    "%s: must be a non-empty string of at most %d "
		    "characters",
		    path, MAX_PATTERN);
		goto out;
	}
	if (pattern_contained(pat, &why) == -1) {
		seterr(ctx, "%s: %s", path, why);
		goto out;
	}
	size = len + sizeof("^()$");
	if ((wrapped = malloc(size)) == NULL ||
	    (re = calloc(1, sizeof(*re))) == NULL) {
		seterr(ctx, "%s: out of memory", path);
		goto out;
	}
	snprintf(wrapped, size, "^(%s)$", pat);
	if ((e = regcomp(re, wrapped, REG_EXTENDED | REG_NOSUB)) != 0) {
		/* A failed regcomp leaves nothing for regfree. */
		regerror(e, re, msg, sizeof(msg));
		seterr(ctx, "%s: not a POSIX extended regular expression (%s)",
		    path, msg);
		goto out;
	}
	if (prof->cn_regex != NULL)
		regfree(prof->cn_regex);
	free(prof->cn_regex);
	prof->cn_regex = re;
	re = NULL;
	rc = 0;
out:
	free(re);
	free(wrapped);
	return rc;
}

static int
require_elem(struct parse_ctx *ctx, const char *s, const char *path)
{
	struct profile *prof = ctx->prof;
	char buf[64];
	size_t i, j;

	for (i = 0; i < sizeof(subject_attrs) / sizeof(subject_attrs[0]); i++) {
		if (strcmp(s, subject_attrs[i].name) != 0)
			continue;
		for (j = 0; j < prof->n_subject_require; j++) {
			if (prof->subject_require[j] == subject_attrs[i].nid) {
				seterr(
				    ctx, "%s: \"%s\" is listed twice", path, s);
				return -1;
			}
		}
		prof->subject_require[prof->n_subject_require++] =
		    subject_attrs[i].nid;
		return 0;
	}
	seterr(ctx,
	    "%s: \"%s\" is not one of O, OU, C, ST, L, CN, emailAddress", path,
	    clean(s, buf, sizeof(buf)));
	return -1;
}

static int
parse_require(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	ctx->prof->n_subject_require = 0;
	return each_string(ctx, v, path, require_elem);
}

static int
parse_allow_cn_only(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return get_bool(ctx, v, path, &ctx->prof->allow_cn_only);
}

static int parse_dns(struct parse_ctx *, const json_t *, const char *);
static int parse_ip(struct parse_ctx *, const json_t *, const char *);
static int parse_subject_rules(
    struct parse_ctx *, const json_t *, const char *);

static const struct profile_key profile_keys[] = {{"backend", parse_backend},
    {"validity_days", parse_validity},
    {"max_validity_days", parse_max_validity}, {"key_types", parse_key_types},
    {"rsa_min_bits", parse_rsa_min_bits}, {"dns", parse_dns}, {"ip", parse_ip},
    {"max_sans", parse_max_sans}, {"allow_email", parse_allow_email},
    {"allow_uri", parse_allow_uri}, {"eku", parse_eku},
    {"subject", parse_subject}, {"requesters", parse_requesters},
    {"allow_anonymous", parse_allow_anonymous},
    {"require_approval", parse_require_approval},
    {"subject_rules", parse_subject_rules}, {NULL, NULL}};

static const struct profile_key dns_keys[] = {
    {"allow_suffixes", parse_suffixes}, {"allow_wildcards", parse_wildcards},
    {NULL, NULL}};

static const struct profile_key ip_keys[] = {
    {"allow", parse_ip_allow}, {NULL, NULL}};

static const struct profile_key subject_keys[] = {
    {"cn_pattern", parse_cn_pattern}, {"require", parse_require},
    {"allow_cn_only", parse_allow_cn_only}, {NULL, NULL}};

/*
 * Walk the object `obj` at `prefix` ("profiles.web" or
 * "profiles.web.dns"), handing each member to its parser in `keys`.
 * 0, or -1 with ctx->err set.
 */
static int
parse_object(struct parse_ctx *ctx, const json_t *obj, const char *prefix,
    const struct profile_key *keys)
{
	char path[PATH_LEN], buf[64];
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj)) {
		seterr(ctx, "%s: must be an object", prefix);
		return -1;
	}
	/* jansson's iterator takes a non-const object; nothing is changed. */
	json_object_foreach((json_t *)obj, key, v)
	{
		snprintf(path, sizeof(path), "%s.%s", prefix,
		    clean(key, buf, sizeof(buf)));
		for (i = 0; keys[i].key != NULL; i++)
			if (strcmp(keys[i].key, key) == 0)
				break;
		if (keys[i].key == NULL) {
			seterr(ctx, "%s: unknown key", path);
			return -1;
		}
		if (keys[i].parse(ctx, v, path) == -1)
			return -1;
	}
	return 0;
}

static int
parse_dns(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return parse_object(ctx, v, path, dns_keys);
}

static int
parse_ip(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return parse_object(ctx, v, path, ip_keys);
}

static int
parse_subject_rules(struct parse_ctx *ctx, const json_t *v, const char *path)
{
	return parse_object(ctx, v, path, subject_keys);
}

/* Defaults that need no allocation, set before the keys are read. */
static void
set_defaults(struct profile *prof)
{
	size_t i;

	prof->validity_days = DEFAULT_VALIDITY;
	prof->max_validity_days = DEFAULT_MAX_VALIDITY;
	prof->n_key_types = 0;
	prof->key_types[prof->n_key_types++] = KEY_RSA;
	prof->key_types[prof->n_key_types++] = KEY_P256;
	prof->key_types[prof->n_key_types++] = KEY_P384;
	prof->key_types[prof->n_key_types++] = KEY_ED25519;
	prof->rsa_min_bits = MIN_RSA_BITS;
	prof->max_sans = DEFAULT_MAX_SANS;
	for (i = 0; i < 2; i++)
		prof->eku_nids[i] = eku_names[i].nid;
	prof->n_eku = 2;
	prof->allow_cn_only = 1;
}

/* Defaults of list keys the config left out, and cross-key checks. */
static int
finish(struct parse_ctx *ctx, const char *prefix)
{
	static const char *const local_nets[] = {"127.0.0.0/8", "::1/128"};
	struct profile *prof = ctx->prof;
	const char *why;
	size_t i;

	if (!ctx->seen_validity &&
	    prof->validity_days > prof->max_validity_days)
		prof->validity_days = prof->max_validity_days;
	if (prof->validity_days > prof->max_validity_days) {
		seterr(ctx,
		    "%s.validity_days: %d is more than "
		    "max_validity_days (%d)",
		    prefix, prof->validity_days, prof->max_validity_days);
		return -1;
	}
	if (!ctx->seen_ip_allow) {
		prof->ip_allow = calloc(2, sizeof(*prof->ip_allow));
		if (prof->ip_allow == NULL) {
			seterr(ctx, "%s: out of memory", prefix);
			return -1;
		}
		/* Constant, valid networks: the parse cannot fail. */
		for (i = 0; i < 2; i++)
			if (policy_cidr_parse(
			        local_nets[i], &prof->ip_allow[i], &why) == 0)
				prof->n_ip_allow++;
	}
	if (!ctx->seen_requesters) {
		if ((prof->requesters = calloc(1, sizeof(char *))) == NULL ||
		    (prof->requesters[0] = strdup("*")) == NULL) {
			seterr(ctx, "%s: out of memory", prefix);
			return -1;
		}
		prof->n_requesters = 1;
	}
	return 0;
}

static int
name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > MAX_NAME)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' &&
		    name[i] != '_' && name[i] != '.')
			return 0;
	return 1;
}

struct profile *
policy_profile_parse(
    const char *name, const json_t *obj, char *err, size_t errlen)
{
	struct parse_ctx ctx = {.err = err, .errlen = errlen};
	struct profile *prof = NULL, *ret = NULL;
	char prefix[PATH_LEN], buf[80];

	if (!name_ok(name)) {
		seterr(&ctx,
		    "profiles: profile name \"%s\" must be 1 to %d "
		    "letters, digits, '-', '_' or '.'",
		    clean(name, buf, sizeof(buf)), MAX_NAME);
		goto out;
	}
	snprintf(prefix, sizeof(prefix), "profiles.%s", name);
	if ((prof = calloc(1, sizeof(*prof))) == NULL ||
	    (prof->name = strdup(name)) == NULL ||
	    (prof->backend = strdup(DEFAULT_BACKEND)) == NULL) {
		seterr(&ctx, "%s: out of memory", prefix);
		goto out;
	}
	ctx.prof = prof;
	set_defaults(prof);
	if (parse_object(&ctx, obj, prefix, profile_keys) == -1 ||
	    finish(&ctx, prefix) == -1)
		goto out;
	ret = prof;
	prof = NULL;
out:
	policy_profile_free(prof);
	return ret;
}

void
policy_profile_free(struct profile *prof)
{
	if (prof == NULL)
		return;
	free(prof->name);
	free(prof->backend);
	strings_free(prof->suffixes, prof->n_suffixes);
	free(prof->ip_allow);
	strings_free(prof->requesters, prof->n_requesters);
	if (prof->cn_regex != NULL)
		regfree(prof->cn_regex);
	free(prof->cn_regex);
	free(prof);
}
