/*
 * The usual ACME request body read without a JSON parser: an object of
 * exactly "protected", "payload" and "signature", each a base64url
 * string.  jansson reads a kilobyte of base64 one character at a time
 * through its stream layer, about 10 µs per request here; this scan
 * costs a tenth of that.  Anything else (escapes, other members or
 * values, a repeated member, trailing bytes) is left to jansson, so the
 * answer to an unusual body, valid or not, is exactly what it was.
 */
#include <string.h>

#include "protocols/acme/jws.h"

/* The three members, in the order of jws_flat_load's spans. */
static const char *const flat_names[] = {"protected", "payload", "signature"};
#define FLAT_MEMBERS 3

struct flat_span {
	const char *s;
	size_t len;
};

/* Skip JSON white space (RFC 8259 §2) from *i. */
static void
skip_ws(const char *b, size_t len, size_t *i)
{
	while (*i < len &&
	    (b[*i] == ' ' || b[*i] == '\t' || b[*i] == '\n' || b[*i] == '\r'))
		(*i)++;
}

static int
is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * A string at *i whose characters all pass `ok` (none of them '"' or
 * '\\'), without its quotes; *i moves past it.  0, or -1 when it is
 * anything else.
 */
static int
scan_string(const char *b, size_t len, size_t *i, int (*ok)(unsigned char),
    struct flat_span *out)
{
	size_t start;

	if (*i >= len || b[*i] != '"')
		return -1;
	start = ++*i;
	while (*i < len && ok((unsigned char)b[*i]))
		(*i)++;
	if (*i >= len || b[*i] != '"')
		return -1;
	out->s = b + start;
	out->len = *i - start;
	(*i)++;
	return 0;
}

/* Member names: the lower-case letters ours are made of. */
static int
is_name(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

/* Which of flat_names `name` is, or -1. */
static int
member_index(const struct flat_span *name)
{
	int k;

	for (k = 0; k < FLAT_MEMBERS; k++)
		if (strlen(flat_names[k]) == name->len &&
		    memcmp(flat_names[k], name->s, name->len) == 0)
			return k;
	return -1;
}

/* The three values of a plain body.  0, or -1 when it is not one. */
static int
flat_scan(const char *b, size_t len, struct flat_span v[FLAT_MEMBERS])
{
	struct flat_span name;
	size_t i = 0;
	int k, n, seen[FLAT_MEMBERS] = {0, 0, 0};

	skip_ws(b, len, &i);
	if (i >= len || b[i++] != '{')
		return -1;
	for (n = 0; n < FLAT_MEMBERS; n++) {
		skip_ws(b, len, &i);
		if (scan_string(b, len, &i, is_name, &name) == -1 ||
		    (k = member_index(&name)) == -1 || seen[k])
			return -1;
		seen[k] = 1;
		skip_ws(b, len, &i);
		if (i >= len || b[i++] != ':')
			return -1;
		skip_ws(b, len, &i);
		if (scan_string(b, len, &i, is_b64url, &v[k]) == -1)
			return -1;
		skip_ws(b, len, &i);
		if (i < len && b[i] == (n + 1 < FLAT_MEMBERS ? ',' : '}'))
			i++;
		else
			return -1;
	}
	skip_ws(b, len, &i);
	return i == len ? 0 : -1;
}

json_t *
jws_flat_load(const unsigned char *body, size_t len)
{
	struct flat_span v[FLAT_MEMBERS];

	json_t *obj;
	int k;

	if (flat_scan((const char *)body, len, v) == -1 ||
	    (obj = json_object()) == NULL)
		return NULL;
	/* Base64url is ASCII: no UTF-8 check is needed.  A member that
	 * cannot be added (memory) is missing, and the object then fails
	 * jws_parse_json's shape check like any body without it. */
	for (k = 0; k < FLAT_MEMBERS; k++)
		(void)json_object_set_new_nocheck(
		    obj, flat_names[k], json_stringn_nocheck(v[k].s, v[k].len));
	return obj;
}
