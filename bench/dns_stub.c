/*
 * The benchmark's DNS server (bench/run_acme.sh): every A question is
 * answered 127.0.0.1, every other question with an empty NOERROR answer
 * (no AAAA, no CAA, no TXT), over UDP on one loopback port.
 *
 *   dns_stub PORT
 *
 * The load driver answers http-01 itself; this answers the lookups the
 * servers under test make before they fetch (A, AAAA, and CAA for each
 * label up to the top).  pebble-challtestsrv did it before, at about
 * 80 µs of CPU per query: a tenth of the two cores at 400 orders/s,
 * taken from the servers being measured.  Tests keep using challtestsrv,
 * whose HTTP API they need for TXT records.
 *
 * Single-threaded and blocking: a query costs one recvfrom and one
 * sendto.  Malformed queries are dropped; SIGTERM ends it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_HEADER 12
#define DNS_TYPE_A 1
#define DNS_CLASS_IN 1
/* The largest UDP message without EDNS (RFC 1035 §4.2.1), and room for
 * a question of a 255-byte name plus one A record. */
#define DNS_MSG_MAX 512

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/*
 * The length of the question that starts the query's body (an
 * uncompressed name, type and class), or 0 when it is malformed.
 */
static size_t
question_len(const unsigned char *q, size_t len)
{
	size_t off = 0;

	while (off < len && q[off] != 0) {
		/* Compression pointers and extended labels have no place
		 * in a question. */
		if (q[off] > 63 || off + 1 + q[off] >= len)
			return 0;
		off += 1 + q[off];
	}
	off++; /* the root label */
	if (off > 255 || off + 4 > len)
		return 0;
	return off + 4;
}

/*
 * Build the answer to `query` in `out`.  Its length, or 0 when the
 * query is to be dropped (not a standard query with one question).
 */
static size_t
answer(const unsigned char *query, size_t qlen, unsigned char *out)
{
	static const unsigned char a_record[] = {0xc0,
	    DNS_HEADER, /* the name: a pointer to the question's */
	    0, DNS_TYPE_A, 0, DNS_CLASS_IN, 0, 0, 0, 0, /* TTL 0 */
	    0, 4, 127, 0, 0, 1};
	size_t ql, len;
	unsigned type, class;
	int is_a;

	/* QR clear, opcode QUERY, exactly one question. */
	if (qlen < DNS_HEADER || (query[2] & 0xf8) != 0 ||
	    get16(query + 4) != 1)
		return 0;
	if ((ql = question_len(query + DNS_HEADER, qlen - DNS_HEADER)) == 0)
		return 0;
	type = get16(query + DNS_HEADER + ql - 4);
	class = get16(query + DNS_HEADER + ql - 2);
	is_a = type == DNS_TYPE_A && class == DNS_CLASS_IN;
	memcpy(out, query, DNS_HEADER + ql);
	out[2] = (unsigned char)(0x84 | (query[2] & 0x01)); /* QR AA, RD */
	out[3] = 0x80;                                      /* RA, NOERROR */
	put16(out + 6, is_a ? 1 : 0);                       /* answers */
	put16(out + 8, 0);                                  /* authority */
	put16(out + 10, 0); /* additional: the query's EDNS is not echoed */
	len = DNS_HEADER + ql;
	if (is_a) {
		memcpy(out + len, a_record, sizeof(a_record));
		len += sizeof(a_record);
	}
	return len;
}

int
main(int argc, char **argv)
{
	unsigned char query[DNS_MSG_MAX], reply[DNS_MSG_MAX + 16];
	struct sockaddr_in addr;
	struct sockaddr_storage peer;
	socklen_t plen;
	ssize_t n;
	size_t len;
	char *end;
	long port;
	int fd;

	if (argc != 2 || (port = strtol(argv[1], &end, 10)) <= 0 ||
	    port > 65535 || *end != '\0') {
		fprintf(stderr, "usage: dns_stub PORT\n");
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == -1) {
		perror("dns_stub: 127.0.0.1");
		return 1;
	}
	printf("dns_stub: answering on 127.0.0.1:%ld\n", port);
	fflush(stdout);
	for (;;) {
		plen = sizeof(peer);
		n = recvfrom(fd, query, sizeof(query), 0,
		    (struct sockaddr *)&peer, &plen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			perror("dns_stub: recvfrom");
			return 1;
		}
		if ((len = answer(query, (size_t)n, reply)) == 0)
			continue;
		/* A full socket buffer drops the answer; the client asks
		 * again, as it would on a real network. */
		(void)sendto(fd, reply, len, 0, (struct sockaddr *)&peer, plen);
	}
}
