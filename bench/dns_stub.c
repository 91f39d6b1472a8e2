/*
 * The benchmark's DNS server (bench/run_acme.sh): every A question is
 * answered 127.0.0.1, every other question with an empty NOERROR answer
 * (no AAAA, no CAA, no TXT) that carries the root's SOA with TTL 0, over
 * UDP and TCP on one loopback port.
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
 * enrolld asks over TCP by default (acme.validation.dns_transport), on
 * connections it keeps and fills with several queries at once, each with
 * the two-byte length of RFC 1035 §4.2.2.  So one poll() watches the UDP
 * socket, the TCP listener and up to CONN_MAX accepted, non-blocking
 * connections.  Single-threaded: a UDP query costs one recvfrom and one
 * sendto, a TCP read answers every complete query it brought.  Malformed
 * UDP queries are dropped; a malformed TCP query, EOF, or an answer the
 * socket cannot take at once ends its connection.  SIGTERM ends it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_HEADER 12
#define DNS_TYPE_A 1
#define DNS_TYPE_SOA 6
#define DNS_CLASS_IN 1
/* The largest UDP message without EDNS (RFC 1035 §4.2.1), and room for
 * a question of a 255-byte name plus one A record. */
#define DNS_MSG_MAX 512
/* An answer is the header, the question (at most 259 bytes: see
 * question_len) and one record of at most 33: it fits in DNS_MSG_MAX. */
#define DNS_ANSWER_MAX DNS_MSG_MAX
#define CONN_MAX 256 /* TCP connections at once; more wait in the backlog */
/* Input kept per connection: several pipelined queries, and always room
 * for a whole one (longer ones are malformed). */
#define CONN_BUF 4096

/* An accepted TCP connection and the start of its next query. */
struct conn {
	int fd;
	size_t have;
	unsigned char in[CONN_BUF];
};

static struct conn conns[CONN_MAX];
static size_t nconns;

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
	/* The root's SOA, TTL and minimum 0: what makes "no such record"
	 * negative-cacheable for 0 s (RFC 2308 §5).  Without it a
	 * resolver picks a time of its own (libunbound: 5 s). */
	static const unsigned char soa_record[] = {0,     /* owner: the root */
	    0, DNS_TYPE_SOA, 0, DNS_CLASS_IN, 0, 0, 0, 0, /* TTL 0 */
	    0, 22, 0, 0, /* mname, rname: the root */
	    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* serial.. */
	    0, 0, 0, 0};                                    /* minimum: 0 */
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
	put16(out + 8, is_a ? 0 : 1);                       /* authority */
	put16(out + 10, 0); /* additional: the query's EDNS is not echoed */
	len = DNS_HEADER + ql;
	if (is_a) {
		memcpy(out + len, a_record, sizeof(a_record));
		len += sizeof(a_record);
	} else {
		memcpy(out + len, soa_record, sizeof(soa_record));
		len += sizeof(soa_record);
	}
	return len;
}

/* Answer every query waiting on the UDP socket (non-blocking). */
static void
udp_serve(int fd)
{
	unsigned char query[DNS_MSG_MAX], reply[DNS_ANSWER_MAX];
	struct sockaddr_storage peer;
	socklen_t plen;
	ssize_t n;
	size_t len;

	for (;;) {
		plen = sizeof(peer);
		n = recvfrom(fd, query, sizeof(query), MSG_DONTWAIT,
		    (struct sockaddr *)&peer, &plen);
		if (n == -1)
			return; /* EAGAIN: drained */
		if ((len = answer(query, (size_t)n, reply)) == 0)
			continue;
		/* A full socket buffer drops the answer; the client asks
		 * again, as it would on a real network. */
		(void)sendto(fd, reply, len, 0, (struct sockaddr *)&peer, plen);
	}
}

/* Take the connections waiting on the listener while there is room. */
static void
tcp_accept(int lfd)
{
	int fd, on = 1;

	while (nconns < CONN_MAX && (fd = accept(lfd, NULL, NULL)) != -1) {
		/* Pipelined answers go out at once: Nagle would hold the
		 * second until the first is acknowledged (delayed ACK). */
		if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) ==
		        -1) {
			close(fd);
			continue;
		}
		conns[nconns].fd = fd;
		conns[nconns].have = 0;
		nconns++;
	}
}

/*
 * Read what connection `c` sent and answer each complete query, two-byte
 * length first (RFC 1035 §4.2.2).  0, or -1 when the connection is to be
 * closed: EOF, an error, a malformed query, or an answer that does not
 * fit in the socket at once (the client asks again, as over UDP).
 */
static int
conn_serve(struct conn *c)
{
	unsigned char reply[2 + DNS_ANSWER_MAX];
	size_t qlen, len, off = 0;
	ssize_t n;

	n = read(c->fd, c->in + c->have, sizeof(c->in) - c->have);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n > 0)
		c->have += (size_t)n;
	while (c->have - off >= 2) {
		qlen = get16(c->in + off);
		if (qlen > DNS_MSG_MAX)
			return -1;
		if (c->have - off < 2 + qlen)
			break;
		if ((len = answer(c->in + off + 2, qlen, reply + 2)) == 0)
			return -1;
		put16(reply, (unsigned)len);
		if (send(c->fd, reply, 2 + len, MSG_NOSIGNAL) !=
		    (ssize_t)(2 + len))
			return -1;
		off += 2 + qlen;
	}
	memmove(c->in, c->in + off, c->have - off);
	c->have -= off;
	return 0;
}

/* A non-blocking socket of `type` bound to 127.0.0.1:port, or -1. */
static int
bind_loopback(int type, long port)
{
	struct sockaddr_in addr;
	int fd, on = 1;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, type | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	/* Not for UDP, where it would let a second server share the port. */
	if ((type == SOCK_STREAM &&
	        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ==
	            -1) ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == -1 ||
	    (type == SOCK_STREAM && listen(fd, 128) == -1)) {
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[2 + CONN_MAX];
	size_t i, n;
	char *end;
	long port;
	int ufd, lfd;

	if (argc != 2 || (port = strtol(argv[1], &end, 10)) <= 0 ||
	    port > 65535 || *end != '\0') {
		fprintf(stderr, "usage: dns_stub PORT\n");
		return 2;
	}
	if ((ufd = bind_loopback(SOCK_DGRAM, port)) == -1 ||
	    (lfd = bind_loopback(SOCK_STREAM, port)) == -1) {
		perror("dns_stub: 127.0.0.1");
		return 1;
	}
	printf("dns_stub: answering on 127.0.0.1:%ld\n", port);
	fflush(stdout);
	for (;;) {
		pfd[0] = (struct pollfd){ufd, POLLIN, 0};
		/* A full table leaves new connections in the backlog. */
		pfd[1] =
		    (struct pollfd){lfd, nconns < CONN_MAX ? POLLIN : 0, 0};
		for (i = 0; i < nconns; i++)
			pfd[2 + i] = (struct pollfd){conns[i].fd, POLLIN, 0};
		n = nconns;
		if (poll(pfd, 2 + n, -1) == -1) {
			if (errno == EINTR)
				continue;
			perror("dns_stub: poll");
			return 1;
		}
		/* Backwards: a closed connection takes the last one's place,
		 * which has been served already. */
		for (i = n; i-- > 0;) {
			if (pfd[2 + i].revents == 0 ||
			    conn_serve(&conns[i]) == 0)
				continue;
			close(conns[i].fd);
			conns[i] = conns[--nconns];
		}
		if (pfd[1].revents != 0)
			tcp_accept(lfd);
		if (pfd[0].revents != 0)
			udp_serve(ufd);
	}
}
