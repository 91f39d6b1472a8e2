/*
 * The rules of a profile, applied in a fixed order to one enrollment
 * request: requester, CSR signature, keys, subject, identifier count,
 * each identifier, validity.  The first rule that denies decides; its
 * sentence names the rule and the offending value, and is safe to show
 * a client (peer bytes pass through log_sanitize first).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/csr.h"
#include "core/log.h"
#include "policy/policy.h"
#include "policy/policy_int.h"

#define BACKDATE_SECONDS 300 /* clock skew of clients checking notBefore */
#define SHOWN_LEN 80         /* peer text quoted in a detail sentence */
#define LIST_LEN 128         /* a config list quoted in a detail sentence */
#define DNS_MAX_NAME 253

typedef enum rc rule_fn(const struct profile *prof,
    const struct enroll_req *req, struct policy_decision *out);

static enum rc __attribute__((format(printf, 3, 4)))
deny(struct policy_decision *out, enum enroll_reason reason, const char *fmt,
    ...)
{
	va_list ap;

	out->reason = reason;
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
	return RC_ERROR;
}

static const char *
shown(const char *peer, char *buf, size_t bufsz)
{
	return log_sanitize(peer, strlen(peer), buf, bufsz);
}

/*
 * Join `n` items with ", " into buf; a list too long for buf ends in
 * "..." rather than in half an item.  Returns buf.
 */
static const char *
join(char *buf, size_t bufsz, const char *const *items, size_t n)
{
	size_t i, used = 0, len;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		len = strlen(items[i]) + (i > 0 ? 2 : 0);
		if (used + len + sizeof("...") > bufsz) {
			snprintf(buf + used, bufsz - used, "...");
			break;
		}
		used += (size_t)snprintf(buf + used, bufsz - used, "%s%s",
		    i > 0 ? ", " : "", items[i]);
	}
	return buf;
}

static enum rc
rule_requester(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out)
{
	char buf[SHOWN_LEN];
	size_t i;

	if (req->requester == NULL) {
		if (prof->allow_anonymous)
			return RC_OK;
		return deny(out, ENROLL_UNAUTHORIZED,
		    "anonymous requests are not allowed by profile %s",
		    prof->name);
	}
	for (i = 0; i < prof->n_requesters; i++)
		if (strcmp(prof->requesters[i], "*") == 0 ||
		    strcmp(prof->requesters[i], req->requester) == 0)
			return RC_OK;
	return deny(out, ENROLL_UNAUTHORIZED,
	    "requester %s is not allowed to use profile %s",
	    shown(req->requester, buf, sizeof(buf)), prof->name);
}

static enum rc
rule_csr(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out)
{
	if (req->csr == NULL)
		return deny(out, ENROLL_BAD_CSR, "the request carries no CSR");
	/* csr_parse checked it already when it kept the key. */
	if (req->csr_key != NULL ? !req->csr_sig_ok
	                         : csr_verify_signature(req->csr) != 0)
		return deny(out, ENROLL_BAD_SIGNATURE,
		    "the CSR signature does not verify with the CSR's own "
		    "public key");
	return RC_OK;
}

/* Judge one key (`what`: "key" or "server-generated key"). */
static enum rc
judge_key(const struct profile *prof, const EVP_PKEY *pkey, const char *what,
    struct policy_decision *out)
{
	const char *names[PROFILE_MAX_KEY_TYPES];
	char list[LIST_LEN];
	enum key_kind kind;
	size_t i;
	int bits = 0;

	kind = cert_key_kind(pkey, &bits);
	for (i = 0; i < prof->n_key_types; i++)
		if (prof->key_types[i] == kind)
			break;
	if (i == prof->n_key_types) {
		for (i = 0; i < prof->n_key_types; i++)
			names[i] = cert_key_kind_name(prof->key_types[i]);
		return deny(out, ENROLL_BAD_KEY,
		    "%s type %s is not allowed by profile %s (allowed: %s)",
		    what, cert_key_kind_name(kind), prof->name,
		    join(list, sizeof(list), names, prof->n_key_types));
	}
	if (kind == KEY_RSA && bits < prof->rsa_min_bits)
		return deny(out, ENROLL_BAD_KEY,
		    "RSA %s of %d bits is below the minimum of %d bits of "
		    "profile %s",
		    what, bits, prof->rsa_min_bits, prof->name);
	return RC_OK;
}

static enum rc
rule_keys(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out)
{
	const EVP_PKEY *pkey;

	/* A CSR from csr_parse has no decoded key of its own. */
	pkey = req->csr_key;
	if (pkey == NULL && (pkey = X509_REQ_get0_pubkey(req->csr)) == NULL)
		return deny(out, ENROLL_BAD_CSR,
		    "the CSR public key cannot be decoded");
	if (judge_key(prof, pkey, "key", out) != RC_OK)
		return RC_ERROR;
	/* serverkeygen: the key we made must fit the profile as well. */
	if (req->server_key != NULL &&
	    judge_key(prof, req->server_key, "server-generated key", out) !=
	        RC_OK)
		return RC_ERROR;
	return RC_OK;
}

/* 1 when `name` has an attribute `nid` with a non-empty value, else 0. */
static int
has_attr(const X509_NAME *name, int nid)
{
	const X509_NAME_ENTRY *ent;
	int idx = -1;

	while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
		ent = X509_NAME_get_entry(name, idx);
		if (ASN1_STRING_length(X509_NAME_ENTRY_get_data(ent)) > 0)
			return 1;
	}
	return 0;
}

/*
 * subject_rules.cn_pattern: the last (most specific) CN, as UTF-8, must
 * match the anchored pattern.  A subject without a CN is denied; so is
 * a CN holding a NUL, which regexec would see cut short.
 */
static enum rc
judge_cn(const struct profile *prof, const X509_NAME *name,
    struct policy_decision *out)
{
	unsigned char *utf8 = NULL;
	char *cn = NULL, buf[SHOWN_LEN];
	enum rc rc = RC_ERROR;
	int idx = -1, last = -1, len, e;

	while (
	    (idx = X509_NAME_get_index_by_NID(name, NID_commonName, idx)) >= 0)
		last = idx;
	if (last < 0) {
		deny(out, ENROLL_BAD_CSR,
		    "subject has no CN, required by "
		    "profiles.%s.subject_rules.cn_pattern",
		    prof->name);
		goto out;
	}
	len = ASN1_STRING_to_UTF8(
	    &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)));
	if (len < 0) {
		deny(out, ENROLL_BAD_CSR, "subject CN is not a valid string");
		goto out;
	}
	if (len > 0 && memchr(utf8, '\0', (size_t)len) != NULL) {
		deny(out, ENROLL_NAME_FORBIDDEN,
		    "subject CN holds a NUL byte and cannot match "
		    "profiles.%s.subject_rules.cn_pattern",
		    prof->name);
		goto out;
	}
	if ((cn = malloc((size_t)len + 1)) == NULL) {
		deny(out, ENROLL_INTERNAL, "out of memory");
		goto out;
	}
	if (len > 0)
		memcpy(cn, utf8, (size_t)len);
	cn[len] = '\0';
	if ((e = regexec(prof->cn_regex, cn, 0, NULL, 0)) != 0) {
		deny(out,
		    e == REG_NOMATCH ? ENROLL_NAME_FORBIDDEN : ENROLL_INTERNAL,
		    "subject CN \"%s\" does not match "
		    "profiles.%s.subject_rules.cn_pattern%s",
		    shown(cn, buf, sizeof(buf)), prof->name,
		    e == REG_NOMATCH ? "" : " (the matcher failed)");
		goto out;
	}
	rc = RC_OK;
out:
	ERR_clear_error();
	OPENSSL_free(utf8);
	free(cn);
	return rc;
}

/*
 * 1 when the CSR carries a subjectAltName extension, else 0.  The
 * extensions were accepted when the request took its CSR, so NULL from
 * X509_REQ_get_extensions means none (some 3.x releases) or a failed
 * allocation; both count as no SAN, which can only deny.
 */
static int
csr_has_san(X509_REQ *csr)
{
	STACK_OF(X509_EXTENSION) *exts;
	int found;

	exts = X509_REQ_get_extensions(csr);
	found = exts != NULL &&
	    X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) >= 0;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
	return found;
}

/*
 * subject_rules, for devices (SCEP) that send a subject and no SAN:
 * required attributes, then the CN pattern, then whether identifiers
 * taken from the CN alone are enough.
 */
static enum rc
rule_subject(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out)
{
	const X509_NAME *name;
	size_t i;

	/* Profiles without subject rules see no change at all. */
	name = X509_REQ_get_subject_name(req->csr);
	if (name == NULL &&
	    (prof->n_subject_require > 0 || prof->cn_regex != NULL))
		return deny(out, ENROLL_BAD_CSR, "the CSR has no subject");
	for (i = 0; i < prof->n_subject_require; i++)
		if (!has_attr(name, prof->subject_require[i]))
			return deny(out, ENROLL_BAD_CSR,
			    "subject has no %s, required by profile %s",
			    OBJ_nid2sn(prof->subject_require[i]), prof->name);
	if (prof->cn_regex != NULL && judge_cn(prof, name, out) != RC_OK)
		return RC_ERROR;
	if (!prof->allow_cn_only && !csr_has_san(req->csr))
		return deny(out, ENROLL_NO_NAMES,
		    "the CSR has no subjectAltName extension and "
		    "profiles.%s.subject_rules.allow_cn_only is false",
		    prof->name);
	return RC_OK;
}

static enum rc
rule_ident_count(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out)
{
	if (req->n_idents == 0)
		return deny(out, ENROLL_NO_NAMES,
		    "the request names no identifier (no subjectAltName and "
		    "no host name or address as subject CN)");
	if (req->n_idents > (size_t)prof->max_sans)
		return deny(out, ENROLL_TOO_MANY_NAMES,
		    "the request names %zu identifiers, over the maximum of "
		    "%d of profile %s",
		    req->n_idents, prof->max_sans, prof->name);
	return RC_OK;
}

/*
 * A DNS identifier: wildcard placement and permission, host name
 * syntax, then the suffix list (for "*.base", judged on base).
 */
static enum rc
judge_dns(
    const struct profile *prof, const char *name, struct policy_decision *out)
{
	char buf[SHOWN_LEN], list[LIST_LEN];
	const char *base = name, *why;
	size_t i;
	int wild = 0;

	shown(name, buf, sizeof(buf));
	if (strchr(name, '*') != NULL) {
		if (strncmp(name, "*.", 2) != 0 ||
		    strchr(name + 2, '*') != NULL)
			return deny(out, ENROLL_WILDCARD_FORBIDDEN,
			    "DNS name %s has a wildcard that is not the whole "
			    "leftmost label",
			    buf);
		if (!prof->allow_wildcards)
			return deny(out, ENROLL_WILDCARD_FORBIDDEN,
			    "wildcard DNS name %s is not allowed by profile %s",
			    buf, prof->name);
		wild = 1;
		base = name + 2;
	}
	why = NULL;
	if (strlen(name) > DNS_MAX_NAME)
		why = "longer than 253 characters";
	else if (policy_dns_syntax(base, &why) == 0)
		why = NULL;
	if (why != NULL)
		return deny(out, ENROLL_NAME_FORBIDDEN,
		    "DNS name %s is not a valid host name (%s)", buf, why);
	if (wild && strchr(base, '.') == NULL)
		return deny(out, ENROLL_WILDCARD_FORBIDDEN,
		    "wildcard DNS name %s covers a whole top-level domain",
		    buf);
	if (prof->n_suffixes == 0)
		return RC_OK;
	for (i = 0; i < prof->n_suffixes; i++)
		if (policy_suffix_match(base, prof->suffixes[i], wild))
			return RC_OK;
	return deny(out, ENROLL_NAME_FORBIDDEN,
	    "DNS name %s is outside the allowed suffixes (%s)", buf,
	    join(list, sizeof(list), (const char *const *)prof->suffixes,
	        prof->n_suffixes));
}

/* "10.0.0.0/8" of one ip.allow entry into buf (>= 50 bytes). */
static const char *
cidr_text(const struct policy_cidr *net, char *buf, size_t bufsz)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(net->len == 4 ? AF_INET : AF_INET6, net->addr, addr,
	        sizeof(addr)) == NULL)
		snprintf(addr, sizeof(addr), "?");
	snprintf(buf, bufsz, "%s/%u", addr, net->bits);
	return buf;
}

static enum rc
judge_ip(const struct profile *prof, const struct enroll_ident *id,
    struct policy_decision *out)
{
	char buf[SHOWN_LEN], list[LIST_LEN], nets[4][INET6_ADDRSTRLEN + 5];
	const char *items[4];
	size_t i, n;

	shown(id->value, buf, sizeof(buf));
	if (id->ip_len != 4 && id->ip_len != 16)
		return deny(out, ENROLL_IP_FORBIDDEN,
		    "IP address %s is not an IPv4 or IPv6 address", buf);
	for (i = 0; i < prof->n_ip_allow; i++)
		if (policy_cidr_contains(
		        &prof->ip_allow[i], id->ip, id->ip_len))
			return RC_OK;
	if (prof->n_ip_allow == 0)
		return deny(out, ENROLL_IP_FORBIDDEN,
		    "IP address %s is not allowed: profile %s allows no IP "
		    "addresses",
		    buf, prof->name);
	/* The first few networks say enough; join() marks the rest. */
	n = prof->n_ip_allow < 4 ? prof->n_ip_allow : 4;
	for (i = 0; i < n; i++)
		items[i] =
		    cidr_text(&prof->ip_allow[i], nets[i], sizeof(nets[i]));
	join(list, sizeof(list), items, n);
	return deny(out, ENROLL_IP_FORBIDDEN,
	    "IP address %s is outside the allowed networks (%s%s)", buf, list,
	    prof->n_ip_allow > n ? ", ..." : "");
}

static enum rc
rule_idents(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out)
{
	const struct enroll_ident *id;
	char buf[SHOWN_LEN];
	enum rc rc = RC_OK;
	size_t i;

	for (i = 0; i < req->n_idents && rc == RC_OK; i++) {
		id = &req->idents[i];
		switch (id->type) {
		case IDENT_DNS:
			rc = judge_dns(prof, id->value, out);
			break;
		case IDENT_IP:
			rc = judge_ip(prof, id, out);
			break;
		case IDENT_EMAIL:
			if (!prof->allow_email)
				rc = deny(out, ENROLL_IDENT_UNSUPPORTED,
				    "email address %s is not allowed by "
				    "profile %s",
				    shown(id->value, buf, sizeof(buf)),
				    prof->name);
			break;
		case IDENT_URI:
			if (!prof->allow_uri)
				rc = deny(out, ENROLL_IDENT_UNSUPPORTED,
				    "URI %s is not allowed by profile %s",
				    shown(id->value, buf, sizeof(buf)),
				    prof->name);
			break;
		default:
			rc = deny(out, ENROLL_IDENT_UNSUPPORTED,
			    "identifier type %d is not supported",
			    (int)id->type);
			break;
		}
	}
	return rc;
}

static enum rc
rule_validity(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out)
{
	if (req->validity_days < 0)
		return deny(out, ENROLL_VALIDITY,
		    "requested validity of %d days is not a positive number",
		    req->validity_days);
	if (req->validity_days > prof->max_validity_days)
		return deny(out, ENROLL_VALIDITY,
		    "requested validity of %d days is over the maximum of %d "
		    "days of profile %s",
		    req->validity_days, prof->max_validity_days, prof->name);
	return RC_OK;
}

/* In the order of policy.h: the first denial decides. */
static rule_fn *const rules[] = {rule_requester, rule_csr, rule_keys,
    rule_subject, rule_ident_count, rule_idents, rule_validity, NULL};

/* Before any CSR exists (an ACME newOrder): who asks, for which names. */
static rule_fn *const ident_rules[] = {
    rule_requester, rule_ident_count, rule_idents, NULL};

static enum rc
run_rules(rule_fn *const *list, const struct profile *prof,
    const struct enroll_req *req, struct policy_decision *out)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (list[i](prof, req, out) != RC_OK)
			return RC_ERROR;
	out->reason = ENROLL_OK;
	snprintf(out->detail, sizeof(out->detail), "allowed by profile %s",
	    prof->name);
	return RC_OK;
}

enum rc
policy_decide(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out)
{
	return run_rules(rules, prof, req, out);
}

enum rc
policy_check_identifiers(const struct profile *prof,
    const struct enroll_req *req, struct policy_decision *out)
{
	return run_rules(ident_rules, prof, req, out);
}

void
policy_issue_params(const struct profile *prof, const struct enroll_req *req,
    struct issue_params *out)
{
	memset(out, 0, sizeof(*out));
	out->validity_days =
	    req->validity_days > 0 ? req->validity_days : prof->validity_days;
	out->backdate_seconds = BACKDATE_SECONDS;
	out->eku_nids = prof->eku_nids;
	out->n_eku = prof->n_eku;
	out->key_usage = 0; /* the backend picks KU by key type */
	out->subject_cn_only = prof->subject_cn_only;
}
