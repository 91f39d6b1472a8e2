/*
 * core/spawn.c: exit codes, captured and bounded output, the timeout
 * (the child and its own children killed and reaped), a program that
 * cannot be executed, cancel, two jobs at once, and what the child
 * inherits: no stray descriptor, stdin from /dev/null, no blocked
 * signal.  Every wait is bounded by a loop timer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "core/spawn.h"

/* One job's result as done() saw it. */
struct result {
	int called;
	int status;
	char out[SPAWN_OUTPUT_MAX + 64];
	double at;  /* seconds since the test started */
	int *order; /* finish order shared by the jobs of one test */
	int rank;
};

static struct timespec t0;

static double
elapsed(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0.tv_sec) +
	    (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
}

static void
done_cb(void *arg, int status, const char *output)
{
	struct result *r = arg;

	r->called++;
	r->status = status;
	r->at = elapsed();
	snprintf(r->out, sizeof(r->out), "%s", output);
	if (r->order != NULL)
		r->rank = ++*r->order;
}

/* What the loop waits for: `n` results all called, or `pid` gone. */
struct until {
	struct event_base *base;
	struct result **r;
	size_t n;
	pid_t pid;
};

static int
until_met(const struct until *u)
{
	size_t i;

	if (u->pid > 0)
		return kill(u->pid, 0) == -1 && errno == ESRCH;
	for (i = 0; i < u->n; i++)
		if (!u->r[i]->called)
			return 0;
	return 1;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct until *u = arg;

	if (until_met(u))
		event_base_loopbreak(u->base);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Run the loop until `u` is met or `seconds` passed.  1 met, 0 not. */
static int
run_until(struct until *u, int seconds)
{
	struct timeval tick = {0, 20000};
	struct timeval limit = {seconds, 0};
	struct event *t, *d;

	t = event_new(u->base, -1, EV_PERSIST, tick_cb, u);
	d = evtimer_new(u->base, deadline_cb, u->base);
	assert_non_null(t);
	assert_non_null(d);
	assert_int_equal(event_add(t, &tick), 0);
	assert_int_equal(event_add(d, &limit), 0);
	if (!until_met(u))
		event_base_dispatch(u->base);
	event_free(t);
	event_free(d);
	return until_met(u);
}

/* Run argv to completion (bounded by `seconds`) into r. */
static pid_t
run1(struct event_base *base, char *const argv[], int timeout, struct result *r)
{
	struct result *rs[1] = {r};
	struct until u = {base, rs, 1, 0};
	struct spawn_job *j;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	j = spawn_run(base, argv, timeout, done_cb, r);
	assert_non_null(j);
	pid = spawn_pid(j);
	assert_int_equal(r->called, 0); /* never before spawn_run returns */
	assert_true(run_until(&u, timeout + 5));
	assert_int_equal(r->called, 1);
	return pid;
}

static int
setup(void **state)
{
	struct event_base *base = event_base_new();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	*state = base;
	return base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	event_base_free(*state);
	return 0;
}

static void
test_exit_codes(void **state)
{
	char *ok[] = {"/bin/sh", "-c", "exit 0", NULL};
	char *three[] = {"/bin/sh", "-c", "exit 3", NULL};
	char *killed[] = {"/bin/sh", "-c", "echo bye; kill -KILL $$", NULL};
	struct result r;
	pid_t pid;

	pid = run1(*state, ok, 10, &r);
	assert_true(pid > 0);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	/* Reaped before done: no zombie left. */
	assert_int_equal(kill(pid, 0), -1);
	run1(*state, three, 10, &r);
	assert_int_equal(r.status, 3);
	run1(*state, killed, 10, &r);
	assert_int_equal(r.status, -1);
	assert_string_equal(r.out, "killed by a signal; output: bye");
}

static void
test_output(void **state)
{
	char *both[] = {
	    "/bin/sh", "-c", "echo out; echo err >&2; exit 1", NULL};
	char *big[] = {"/bin/sh", "-c",
	    "head -c 200000 /dev/zero | tr '\\0' x; echo; exit 7", NULL};
	struct result r;

	run1(*state, both, 10, &r);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "out\nerr");
	/* 200 kB through a 64 kB pipe: read and dropped past the limit, so
	 * the child never blocks. */
	run1(*state, big, 10, &r);
	assert_int_equal(r.status, 7);
	assert_int_equal(strlen(r.out), SPAWN_OUTPUT_MAX);
	assert_int_equal(strspn(r.out, "x"), SPAWN_OUTPUT_MAX);
}

/* 1 when /proc says pid is gone or a zombie (killed, waiting for a
 * reaper that is not us). */
static int
dead(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && (p[2] == 'Z' || p[2] == 'X');
}

/* Wait up to 2 s for pid to die. */
static int
dies(pid_t pid)
{
	int i;

	for (i = 0; i < 100 && !dead(pid); i++)
		usleep(20000);
	return dead(pid);
}

static void
test_timeout(void **state)
{
	char *sleeper[] = {"/bin/sleep", "30", NULL};
	/* A child of the command, in its process group. */
	char *family[] = {"/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL};
	struct result r;
	double start;
	pid_t pid;
	long kid;

	start = elapsed();
	pid = run1(*state, sleeper, 1, &r);
	assert_int_equal(r.status, -1);
	assert_true(r.at - start >= 0.9);
	assert_true(r.at - start < 2.5);
	assert_string_equal(r.out, "timed out, killed");
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);

	run1(*state, family, 1, &r);
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.out, "timed out, killed; output: "));
	kid = strtol(strrchr(r.out, ' ') + 1, NULL, 10);
	assert_true(kid > 1);
	assert_true(dies((pid_t)kid));
}

/* A command that exits at once but leaves a child running: the child is
 * killed with it, and its open pipe does not hold the job. */
static void
test_leftover_killed(void **state)
{
	char *left[] = {"/bin/sh", "-c", "sleep 30 & echo $!", NULL};
	struct result r;
	double start = elapsed();
	long kid;

	run1(*state, left, 10, &r);
	assert_int_equal(r.status, 0);
	assert_true(r.at - start < 2);
	kid = strtol(r.out, NULL, 10);
	assert_true(kid > 1);
	assert_true(dies((pid_t)kid));
}

static void
test_missing(void **state)
{
	char *missing[] = {"/nonexistent/enrolld-hook", "add", NULL};
	struct result r;
	pid_t pid;

	pid = run1(*state, missing, 10, &r);
	assert_int_equal(pid, -1);
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.out, "cannot execute"));
	assert_non_null(strstr(r.out, "No such file"));
}

static void
test_bad_arguments(void **state)
{
	char *noprog[] = {NULL};
	char *ok[] = {"/bin/true", NULL};
	struct result r;

	memset(&r, 0, sizeof(r));
	assert_null(spawn_run(*state, noprog, 5, done_cb, &r));
	assert_null(spawn_run(*state, ok, 0, done_cb, &r));
	assert_null(spawn_run(*state, ok, 5, NULL, &r));
	spawn_cancel(NULL);
}

static void
test_cancel(void **state)
{
	char *sleeper[] = {"/bin/sleep", "30", NULL};
	char *missing[] = {"/nonexistent/enrolld-hook", NULL};
	struct until u = {*state, NULL, 0, 0};
	struct result r;
	struct spawn_job *j;
	double start = elapsed();

	memset(&r, 0, sizeof(r));
	j = spawn_run(*state, sleeper, 10, done_cb, &r);
	assert_non_null(j);
	u.pid = spawn_pid(j);
	assert_true(u.pid > 0);
	spawn_cancel(j);
	/* Reaped on the loop: kill(pid, 0) fails only once it is. */
	assert_true(run_until(&u, 5));
	assert_true(elapsed() - start < 2);
	assert_int_equal(r.called, 0);
	/* Cancel before a failed start is reported. */
	j = spawn_run(*state, missing, 10, done_cb, &r);
	assert_non_null(j);
	spawn_cancel(j);
	assert_int_equal(event_base_loop(*state, EVLOOP_NONBLOCK), 1);
	assert_int_equal(r.called, 0);
}

static void
test_two_at_once(void **state)
{
	char *slow[] = {"/bin/sh", "-c", "sleep 0.5; echo a; exit 4", NULL};
	char *fast[] = {"/bin/sh", "-c", "echo b; exit 5", NULL};
	struct result a, b;
	struct result *rs[2] = {&a, &b};
	struct until u = {*state, rs, 2, 0};
	int order = 0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.order = b.order = &order;
	assert_non_null(spawn_run(*state, slow, 10, done_cb, &a));
	assert_non_null(spawn_run(*state, fast, 10, done_cb, &b));
	assert_true(run_until(&u, 10));
	assert_int_equal(a.status, 4);
	assert_string_equal(a.out, "a");
	assert_int_equal(b.status, 5);
	assert_string_equal(b.out, "b");
	assert_int_equal(b.rank, 1);
	assert_int_equal(a.rank, 2);
}

static void
test_inherited(void **state)
{
	/* No pipeline: the shell would hold its ends while ls looks. */
	char *fds[] = {"/bin/sh", "-c", "ls /proc/$$/fd; exit 0", NULL};
	char *in[] = {"/bin/readlink", "/proc/self/fd/0", NULL};
	char *sig[] = {
	    "/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
	struct result r;
	sigset_t set, old;
	void (*oldpipe)(int);
	unsigned long long blk, ign;
	int leak;

	/* A descriptor without close-on-exec must not reach the child. */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak > 2);
	run1(*state, fds, 10, &r);
	close(leak);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "0\n1\n2");
	run1(*state, in, 10, &r);
	assert_string_equal(r.out, "/dev/null");
	/* Workers block SIGTERM and SIGPIPE, the daemon may ignore
	 * SIGPIPE: the child must start with neither. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
	oldpipe = signal(SIGPIPE, SIG_IGN);
	run1(*state, sig, 10, &r);
	signal(SIGPIPE, oldpipe);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	assert_int_equal(r.status, 0);
	/* Signals 1..31 only: glibc keeps 32 and 33 for itself. */
	assert_int_equal(
	    sscanf(r.out, "SigBlk: %llx SigIgn: %llx", &blk, &ign), 2);
	assert_int_equal(blk & 0x7fffffffULL, 0);
	assert_int_equal(ign & 0x7fffffffULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_leftover_killed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inherited, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
