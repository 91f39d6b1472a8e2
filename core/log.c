/*
 * Structured logging to stderr: one write(2) per line so lines from
 * several worker threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "core/log.h"

static enum log_level min_level = LOG_LVL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_set_level(enum log_level min)
{
	min_level = min;
}

int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

static size_t
log_prefix(char *buf, size_t sz, enum log_level lvl)
{
	/* The date and time to the second, kept per thread: with a line
	 * per request, gmtime_r and strftime once a second suffice. */
	static _Thread_local time_t last_sec = -1;
	static _Thread_local char last_text[32];
	static _Thread_local size_t last_len;
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != last_sec) {
		gmtime_r(&tv.tv_sec, &tm);
		last_len = strftime(
		    last_text, sizeof(last_text), "%Y-%m-%dT%H:%M:%S", &tm);
		last_sec = tv.tv_sec;
	}
	n = last_len < sz ? last_len : 0;
	memcpy(buf, last_text, n);
	n += (size_t)snprintf(buf + n, sz - n, ".%03ldZ level=%s ",
	    (long)(tv.tv_usec / 1000), level_names[lvl]);
	return n;
}

static void
log_write_line(char *buf, size_t n, size_t sz)
{
	ssize_t w;

	if (n >= sz - 1)
		n = sz - 2;
	buf[n++] = '\n';
	while (n > 0) {
		w = write(STDERR_FILENO, buf, n);
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	size_t n;
	int m;

	if (lvl < min_level)
		return;
	n = log_prefix(buf, sizeof(buf), lvl);
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += (size_t)m < sizeof(buf) - n ? (size_t)m : sizeof(buf) - n;
	log_write_line(buf, n, sizeof(buf));
}

void
log_openssl(enum log_level lvl, const char *what)
{
	char errbuf[256], clean[256];
	unsigned long e;

	if (lvl < min_level) {
		ERR_clear_error();
		return;
	}
	log_msg(lvl, "msg=\"%s\"", what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, errbuf, sizeof(errbuf));
		log_msg(lvl, "openssl=\"%s\"",
		    log_sanitize(errbuf, strlen(errbuf), clean, sizeof(clean)));
	}
}

char *
log_sanitize(const char *in, size_t len, char *out, size_t outsz)
{
	size_t i;

	if (outsz == 0)
		return out;
	for (i = 0; i < len && i < outsz - 1; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
		    ? '?'
		    : (char)c;
	}
	out[i] = '\0';
	return out;
}
