/*
 * CAA decisions (RFC 8659, RFC 8657): parse the RDATA libunbound hands
 * over and decide whether the relevant RRset lets us issue.  Pure
 * functions; the tree climbing that finds the RRset is in validate.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "protocols/acme/validate_int.h"

#define CAA_FLAG_CRITICAL 0x80 /* RFC 8659 §4.1 Issuer Critical Flag */
#define CAA_TAG_MAX 15

/*
 * RFC 8659 §4.1: Flags (1 octet), Tag Length (1 octet, 1..15), Tag
 * (ASCII letters and digits), Value (the rest of the RDATA).
 */
int
acme_caa_parse(const unsigned char *rdata, size_t len, struct acme_caa_rr *rr)
{
	size_t taglen, i;

	if (len < 2)
		return -1;
	taglen = rdata[1];
	if (taglen == 0 || taglen > CAA_TAG_MAX || taglen > len - 2)
		return -1;
	for (i = 0; i < taglen; i++) {
		unsigned char c = rdata[2 + i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9')))
			return -1;
	}
	rr->flags = rdata[0];
	rr->tag = rdata + 2;
	rr->taglen = taglen;
	rr->value = rdata + 2 + taglen;
	rr->valuelen = len - 2 - taglen;
	return 0;
}

static int
caa_eq(const unsigned char *s, size_t len, const char *word)
{
	return strlen(word) == len &&
	    strncasecmp((const char *)s, word, len) == 0;
}

static int
caa_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 8657 §4: is `method` one of the comma-separated names? */
static int
caa_method_listed(const unsigned char *v, size_t len, const char *method)
{
	size_t i = 0, start;

	while (i <= len) {
		start = i;
		while (i < len && v[i] != ',')
			i++;
		if (caa_eq(v + start, i - start, method))
			return 1;
		i++;
	}
	return 0;
}

/*
 * One parameter of an issue value.  Returns 0 when it does not restrict
 * this request, -1 when it does (accounturi or validationmethods that
 * exclude us).  Unknown parameters are ignored (RFC 8659 §4.2).
 */
static int
caa_param(const unsigned char *tag, size_t taglen, const unsigned char *val,
    size_t vallen, const struct acme_caa_want *w)
{
	if (caa_eq(tag, taglen, "accounturi"))
		return (w->account_uri != NULL &&
		           strlen(w->account_uri) == vallen &&
		           memcmp(w->account_uri, val, vallen) == 0)
		    ? 0
		    : -1;
	if (caa_eq(tag, taglen, "validationmethods"))
		return caa_method_listed(val, vallen, w->method) ? 0 : -1;
	return 0;
}

/* Does the issuer domain name of an issue value name us? */
static int
caa_names_us(const unsigned char *d, size_t len, const struct acme_caa_want *w)
{
	size_t i;

	for (i = 0; w->identities != NULL && w->identities[i] != NULL; i++)
		if (caa_eq(d, len, w->identities[i]))
			return 1;
	return 0;
}

/*
 * RFC 8659 §4.2 issue-value:
 *   *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
 * Returns 1 when the value authorises this request, else 0 (also for a
 * malformed value, which authorises no one).
 */
static int
caa_value_permits(
    const unsigned char *v, size_t len, const struct acme_caa_want *w)
{
	size_t i = 0, s, tagstart, taglen;

	while (i < len && caa_wsp(v[i]))
		i++;
	s = i;
	while (i < len && v[i] != ';' && !caa_wsp(v[i]))
		i++;
	if (i == s || !caa_names_us(v + s, i - s, w))
		return 0;
	while (i < len && caa_wsp(v[i]))
		i++;
	if (i < len && v[i++] != ';')
		return 0;
	for (;;) {
		while (i < len && caa_wsp(v[i]))
			i++;
		if (i == len)
			return 1;
		tagstart = i;
		while (i < len &&
		    (v[i] == '-' || (v[i] >= '0' && v[i] <= '9') ||
		        (v[i] >= 'a' && v[i] <= 'z') ||
		        (v[i] >= 'A' && v[i] <= 'Z')))
			i++;
		taglen = i - tagstart;
		while (i < len && caa_wsp(v[i]))
			i++;
		if (taglen == 0 || i == len || v[i++] != '=')
			return 0;
		while (i < len && caa_wsp(v[i]))
			i++;
		s = i;
		while (i < len && v[i] > 0x20 && v[i] < 0x7f && v[i] != ';')
			i++;
		if (caa_param(v + tagstart, taglen, v + s, i - s, w) == -1)
			return 0;
		while (i < len && caa_wsp(v[i]))
			i++;
		if (i < len && v[i++] != ';')
			return 0;
	}
}

int
acme_caa_permits(const unsigned char *const *rdata, const size_t *len, size_t n,
    const struct acme_caa_want *w, char *why, size_t whylen)
{
	struct acme_caa_rr rr;
	const char *prop;
	char tag[CAA_TAG_MAX + 1];
	int issue = 0, issuewild = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (acme_caa_parse(rdata[i], len[i], &rr) == -1) {
			/* Unknowable tag: it may be critical, so fail closed. */
			snprintf(why, whylen, "a CAA record is malformed");
			return 0;
		}
		if (caa_eq(rr.tag, rr.taglen, "issue"))
			issue = 1;
		else if (caa_eq(rr.tag, rr.taglen, "issuewild"))
			issuewild = 1;
		else if ((rr.flags & CAA_FLAG_CRITICAL) &&
		    !caa_eq(rr.tag, rr.taglen, "iodef")) {
			snprintf(why, whylen,
			    "a CAA record has the unknown critical property "
			    "\"%s\"",
			    log_sanitize((const char *)rr.tag, rr.taglen, tag,
			        sizeof(tag)));
			return 0;
		}
	}
	/* RFC 8659 §4.3: issuewild, when present, replaces issue. */
	prop = (w->wildcard && issuewild) ? "issuewild" : "issue";
	if (!issue && !(w->wildcard && issuewild))
		return 1;
	for (i = 0; i < n; i++) {
		if (acme_caa_parse(rdata[i], len[i], &rr) == 0 &&
		    caa_eq(rr.tag, rr.taglen, prop) &&
		    caa_value_permits(rr.value, rr.valuelen, w))
			return 1;
	}
	snprintf(why, whylen,
	    "no \"%s\" property authorises this CA%s with method %s and "
	    "this account",
	    prop, w->wildcard ? " for a wildcard" : "", w->method);
	return 0;
}
