/*
 * Policy v1: profiles from the config file, judged against the common
 * enrollment request.  Policy is data; this module interprets it.
 *
 * Config, "profiles": { NAME: PROFILE, ... } with PROFILE keys (all
 * optional, defaults in brackets; documented in docs/config.md):
 *   backend            string   CA backend instance name ["local"]
 *   validity_days      int      default lifetime [90]
 *   max_validity_days  int      cap on requested lifetime [397]
 *   key_types          [string] of "rsa","p256","p384","ed25519"
 *                               [all four]
 *   rsa_min_bits       int      >= 2048 [2048]
 *   dns.allow_suffixes [string] empty = any name [[]]
 *   dns.allow_wildcards bool    [false]
 *   ip.allow           [cidr]   empty = no IP SANs allowed [["127.0.0.0/8","::1/128"]]
 *   max_sans           int      1..1000 [10]
 *   allow_email        bool     [false]
 *   allow_uri          bool     [false]
 *   eku                [string] "serverAuth","clientAuth","codeSigning",
 *                               "emailProtection" [["serverAuth","clientAuth"]]
 *   subject            string   "csr" (copy CSR subject) | "cn" [ "csr" ]
 *   requesters         [string] user names allowed; "*" = any
 *                               authenticated requester [["*"]]
 *   allow_anonymous    bool     [false]
 *   require_approval   bool     an operator approves each request
 *                               (core/approval.h) [false]
 *   subject_rules.cn_pattern  string  POSIX ERE the last subject CN must
 *                               match whole (a CSR without a CN is then
 *                               denied) [none]
 *   subject_rules.require [string] of "O","OU","C","ST","L","CN",
 *                               "emailAddress", each present and
 *                               non-empty in the CSR subject [[]]
 *   subject_rules.allow_cn_only bool  false: deny a CSR without a
 *                               subjectAltName extension [true]
 */
#ifndef ENROLLD_POLICY_H
#define ENROLLD_POLICY_H

#include <stddef.h>

#include <jansson.h>

#include "backends/backend.h"
#include "core/enroll.h"
#include "core/rc.h"

struct policy;
struct profile;

/*
 * Build the policy from the "profiles" object.  On error, write to err a
 * sentence that names the bad key ("profiles.default.max_sans: must be
 * an integer from 1 to 1000") and return NULL.  Caller frees.
 */
struct policy *policy_new(const json_t *profiles, char *err, size_t errlen);
void policy_free(struct policy *pol);

/* Profile by name; NULL when there is none.  Borrowed from pol. */
const struct profile *policy_profile(
    const struct policy *pol, const char *name);
/* Number of profiles and the i-th one, for iteration. */
size_t policy_profile_count(const struct policy *pol);
const struct profile *policy_profile_at(const struct policy *pol, size_t i);

const char *profile_name(const struct profile *prof);
const char *profile_backend(const struct profile *prof);
/* The key type the profile prefers (first of key_types), for csrattrs
 * and serverkeygen; *rsa_bits set for KEY_RSA. */
enum key_kind profile_preferred_key(const struct profile *prof, int *rsa_bits);
/* 1 when an operator must approve each request (core/approval.h). */
int profile_requires_approval(const struct profile *prof);
/* EKU NIDs of the profile; borrowed. */
const int *profile_eku_nids(const struct profile *prof, size_t *n);

struct policy_decision {
	enum enroll_reason reason;
	char detail[256]; /* a sentence naming the rule and the value */
};

/*
 * Judge `req` (its CSR already parsed and its identifiers collected)
 * against `prof`: requester, CSR signature, key type and size, every
 * identifier, SAN count, validity.  RC_OK allows; RC_ERROR denies with
 * out->reason and out->detail set.  Never RC_AGAIN in v1.
 */
enum rc policy_decide(const struct profile *prof, const struct enroll_req *req,
    struct policy_decision *out);

/*
 * The same judgement for a request that has identifiers but no CSR yet
 * (an ACME newOrder): requester, identifier count, each identifier.
 * The full policy_decide still runs when the CSR arrives.
 */
enum rc policy_check_identifiers(const struct profile *prof,
    const struct enroll_req *req, struct policy_decision *out);

/* The issuance parameters for an allowed request. */
void policy_issue_params(const struct profile *prof,
    const struct enroll_req *req, struct issue_params *out);

#endif
