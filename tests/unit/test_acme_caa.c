/*
 * The pure functions of challenge validation (protocols/acme/): the
 * address policy that refuses loopback, private and other reserved
 * targets, and the CAA decision of RFC 8659 / RFC 8657 on one RRset.
 * No network: test_acme_validate.c runs them against real peers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "protocols/acme/validate_int.h"

#define OUR_CA "enrolld.example"

static const char *const our_identities[] = {OUR_CA, NULL};

static void
test_addr_policy(void **state)
{
	static const struct {
		const char *ip;
		int allowed;
	} cases[] = {{"8.8.8.8", 1}, {"1.1.1.1", 1}, {"172.15.255.255", 1},
	    {"172.16.0.1", 0}, {"172.31.255.255", 0}, {"172.32.0.0", 1},
	    {"100.63.255.255", 1}, {"100.64.0.0", 0}, {"100.127.255.255", 0},
	    {"127.0.0.1", 0}, {"127.255.0.9", 0}, {"0.1.2.3", 0},
	    {"2001:4860:4860::8888", 1}, {"::", 0}, {"::1", 0},
	    {"::ffff:10.0.0.1", 0}, {"fe80::1", 0}, {"febf::1", 0},
	    {"fec0::1", 1}, {"fc00::1", 0}, {"fdff::1", 0}, {"ff02::1", 0},
	    {"2001:db8::1", 0}};
	struct sockaddr_storage ss;
	char why[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, cases[i].ip,
		        &((struct sockaddr_in *)&ss)->sin_addr) == 1)
			ss.ss_family = AF_INET;
		else {
			assert_int_equal(
			    inet_pton(AF_INET6, cases[i].ip,
			        &((struct sockaddr_in6 *)&ss)->sin6_addr),
			    1);
			ss.ss_family = AF_INET6;
		}
		why[0] = '\0';
		if (acme_addr_allowed((struct sockaddr *)&ss, 0, why,
		        sizeof(why)) != cases[i].allowed)
			fail_msg("%s: wanted %d (%s)", cases[i].ip,
			    cases[i].allowed, why);
		assert_int_equal(acme_addr_allowed((struct sockaddr *)&ss, 1,
		                     why, sizeof(why)),
		    1);
	}
}

/* Build CAA RDATA: flags, tag length, tag, value. */
static size_t
caa_rdata(
    unsigned char *out, unsigned char flags, const char *tag, const char *value)
{
	size_t tl = strlen(tag), vl = strlen(value);

	out[0] = flags;
	out[1] = (unsigned char)tl;
	memcpy(out + 2, tag, tl);
	memcpy(out + 2 + tl, value, vl);
	return 2 + tl + vl;
}

static int
caa_decide(const char *tag1, const char *val1, unsigned char flags1,
    const char *tag2, const char *val2, int wildcard, const char *method)
{
	unsigned char b1[256], b2[256];
	const unsigned char *rd[2] = {b1, b2};
	size_t len[2];
	struct acme_caa_want w = {
	    our_identities, "https://ca.example/acct/1", method, wildcard};
	char why[256];

	len[0] = caa_rdata(b1, flags1, tag1, val1);
	if (tag2 != NULL)
		len[1] = caa_rdata(b2, 0, tag2, val2);
	return acme_caa_permits(
	    rd, len, tag2 != NULL ? 2 : 1, &w, why, sizeof(why));
}

static void
test_caa_pure(void **state)
{
	struct acme_caa_rr rr;
	static const unsigned char trunc[] = {0, 5, 'i', 's'};
	static const unsigned char zerotag[] = {0, 0, 'x'};
	static const unsigned char badtag[] = {0, 2, 'i', '_', 'x'};
	const unsigned char *rd[1];
	size_t len[1];
	struct acme_caa_want w = {our_identities, NULL, "http-01", 0};
	char why[128];

	(void)state;
	assert_int_equal(acme_caa_parse(trunc, sizeof(trunc), &rr), -1);
	assert_int_equal(acme_caa_parse(zerotag, sizeof(zerotag), &rr), -1);
	assert_int_equal(acme_caa_parse(badtag, sizeof(badtag), &rr), -1);
	assert_int_equal(acme_caa_parse(trunc, 1, &rr), -1);
	rd[0] = trunc;
	len[0] = sizeof(trunc);
	assert_int_equal(acme_caa_permits(rd, len, 1, &w, why, sizeof(why)), 0);

	assert_int_equal(
	    caa_decide("issue", OUR_CA, 0, NULL, NULL, 0, "http-01"), 1);
	assert_int_equal(caa_decide("ISSUE", "  ENROLLD.example  ", 0, NULL,
	                     NULL, 0, "http-01"),
	    1);
	assert_int_equal(caa_decide("issue", "other.example", 0, "issue",
	                     OUR_CA, 0, "http-01"),
	    1);
	assert_int_equal(
	    caa_decide("issue", ";", 0, NULL, NULL, 0, "http-01"), 0);
	assert_int_equal(
	    caa_decide("issue", "", 0, NULL, NULL, 0, "http-01"), 0);
	assert_int_equal(caa_decide("iodef", "mailto:x@example.com", 0, NULL,
	                     NULL, 0, "http-01"),
	    1);
	/* Unknown critical property: refuse; unknown non-critical: ignore. */
	assert_int_equal(
	    caa_decide("tbs", "x", 0x80, "issue", OUR_CA, 0, "http-01"), 0);
	assert_int_equal(
	    caa_decide("tbs", "x", 0, "issue", OUR_CA, 0, "http-01"), 1);
	/* issuewild replaces issue for wildcards only. */
	assert_int_equal(
	    caa_decide("issue", OUR_CA, 0, "issuewild", ";", 1, "http-01"), 0);
	assert_int_equal(
	    caa_decide("issue", OUR_CA, 0, "issuewild", ";", 0, "http-01"), 1);
	assert_int_equal(
	    caa_decide("issue", ";", 0, "issuewild", OUR_CA, 1, "dns-01"), 1);
	assert_int_equal(
	    caa_decide("issuewild", OUR_CA, 0, NULL, NULL, 0, "http-01"), 1);
	/* Parameters (RFC 8657). */
	assert_int_equal(
	    caa_decide("issue", OUR_CA "; accounturi=https://ca.example/acct/1",
	        0, NULL, NULL, 0, "http-01"),
	    1);
	assert_int_equal(
	    caa_decide("issue", OUR_CA ";accounturi=https://ca.example/acct/10",
	        0, NULL, NULL, 0, "http-01"),
	    0);
	assert_int_equal(
	    caa_decide("issue", OUR_CA "; validationmethods=dns-01,http-01", 0,
	        NULL, NULL, 0, "http-01"),
	    1);
	assert_int_equal(
	    caa_decide("issue", OUR_CA "; validationmethods=dns-01", 0, NULL,
	        NULL, 0, "http-01"),
	    0);
	assert_int_equal(
	    caa_decide("issue", OUR_CA "; validationmethods=http-010", 0, NULL,
	        NULL, 0, "http-01"),
	    0);
	assert_int_equal(caa_decide("issue", OUR_CA "; unknown=1; x-y=z", 0,
	                     NULL, NULL, 0, "http-01"),
	    1);
	assert_int_equal(
	    caa_decide("issue", OUR_CA "; =1", 0, NULL, NULL, 0, "http-01"), 0);
	assert_int_equal(
	    caa_decide("issue", OUR_CA " junk", 0, NULL, NULL, 0, "http-01"),
	    0);
	assert_int_equal(caa_decide("issue", "enrolld.example.evil", 0, NULL,
	                     NULL, 0, "http-01"),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_policy),
	    cmocka_unit_test(test_caa_pure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
