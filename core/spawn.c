/*
 * Commands on an event loop: posix_spawn for the start, a pidfd (Linux
 * 5.3) for the exit, a non-blocking pipe for the output, a timer for the
 * limit.  No SIGCHLD handler: worker threads and libraries share the
 * process, and waitid/waitpid name our child's pid only.
 */
/* posix_spawn_file_actions_addclosefrom_np: the server holds many
 * sockets, and not every library opens its descriptors close-on-exec. */
#define _GNU_SOURCE

#include <sys/syscall.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/spawn.h"

extern char **environ;

/* How often a child is polled when the kernel refuses pidfd_open. */
#define SPAWN_POLL_MS 100
/* Bytes read per wake-up, and in the last read after the exit: bounds
 * the work when a grandchild that left the group keeps writing. */
#define SPAWN_READ_MAX 65536

struct spawn_job {
	struct event_base *base;
	spawn_done_fn *done; /* NULL once cancelled */
	void *arg;
	pid_t pid;     /* -1: posix_spawn failed */
	int spawn_err; /* its error then */
	int pidfd;     /* -1: the exit is polled */
	int outfd;     /* read end of the pipe; -1 after EOF */
	struct event *ev_exit;
	struct event *ev_out;
	struct event *ev_timer;
	int timed_out;
	size_t outlen;
	char out[SPAWN_OUTPUT_MAX + 1];
};

static void
spawn_free(struct spawn_job *j)
{
	if (j == NULL)
		return;
	/* event_free() does not accept NULL. */
	if (j->ev_exit != NULL)
		event_free(j->ev_exit);
	if (j->ev_out != NULL)
		event_free(j->ev_out);
	if (j->ev_timer != NULL)
		event_free(j->ev_timer);
	if (j->pidfd != -1)
		close(j->pidfd);
	if (j->outfd != -1)
		close(j->outfd);
	free(j);
}

/* Stop reading the output: EOF, an error, or nobody wants it. */
static void
spawn_close_output(struct spawn_job *j)
{
	if (j->ev_out != NULL)
		event_free(j->ev_out);
	j->ev_out = NULL;
	if (j->outfd != -1)
		close(j->outfd);
	j->outfd = -1;
}

/* Read at most `limit` bytes of what the pipe holds now, keep the first
 * SPAWN_OUTPUT_MAX, drop the rest so the child never blocks on a full
 * pipe. */
static void
spawn_read(struct spawn_job *j, size_t limit)
{
	char buf[4096];
	size_t total = 0, room, take;
	ssize_t n;

	while (j->outfd != -1 && total < limit) {
		n = read(j->outfd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			spawn_close_output(j);
			return;
		}
		total += (size_t)n;
		room = SPAWN_OUTPUT_MAX - j->outlen;
		take = (size_t)n < room ? (size_t)n : room;
		memcpy(j->out + j->outlen, buf, take);
		j->outlen += take;
	}
}

static void
spawn_out_cb(evutil_socket_t fd, short what, void *arg)
{
	spawn_read(arg, SPAWN_READ_MAX);
}

/*
 * Whether the child has exited, without blocking.  1 with *status set
 * (exit code, or -1 for a signal) once it is reaped; 0 while it runs.
 * Before reaping, what it left in its process group is killed: the
 * zombie still holds the pid, so the group id cannot name anyone else.
 */
static int
spawn_reap(struct spawn_job *j, int *status)
{
	siginfo_t si;
	int ws = 0;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)j->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
	    -1) {
		if (errno == EINTR)
			return 0;
		/* ECHILD: reaped behind our back (SIGCHLD set to SIG_IGN). */
		*status = -1;
		return 1;
	}
	if (si.si_pid == 0)
		return 0;
	(void)killpg(j->pid, SIGKILL);
	if (waitpid(j->pid, &ws, WNOHANG) != j->pid) {
		*status = -1;
		return 1;
	}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
	return 1;
}

/*
 * Hand the result to done and free the job.  On -1 the output starts
 * with why, so that the caller's one log line says it.
 */
static void
spawn_finish(struct spawn_job *j, int status)
{
	spawn_done_fn *done = j->done;
	char why[SPAWN_OUTPUT_MAX + 64];
	const char *out = j->out;

	while (j->outlen > 0 && isspace((unsigned char)j->out[j->outlen - 1]))
		j->outlen--;
	j->out[j->outlen] = '\0';
	if (status == -1) {
		if (j->pid == -1)
			snprintf(why, sizeof(why), "cannot execute: %s",
			    strerror(j->spawn_err));
		else
			snprintf(why, sizeof(why), "%s%s%s",
			    j->timed_out ? "timed out, killed"
			                 : "killed by a signal",
			    j->outlen > 0 ? "; output: " : "", j->out);
		out = why;
	}
	/* The events go before the callback, which may tear down the
	 * loop's owner; the output lives until done returns. */
	if (j->ev_exit != NULL)
		event_free(j->ev_exit);
	j->ev_exit = NULL;
	if (j->ev_timer != NULL)
		event_free(j->ev_timer);
	j->ev_timer = NULL;
	spawn_close_output(j);
	if (done != NULL)
		done(j->arg, status, out);
	spawn_free(j);
}

static void
spawn_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spawn_job *j = arg;
	int status;

	if (!spawn_reap(j, &status))
		return;
	if (j->done == NULL) {
		/* Cancelled: only the reaping was left to do. */
		spawn_free(j);
		return;
	}
	/* Whatever the child wrote is in the pipe before its exit. */
	spawn_read(j, SPAWN_READ_MAX);
	spawn_finish(j, j->timed_out ? -1 : status);
}

static void
spawn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spawn_job *j = arg;

	if (j->pid == -1) {
		/* posix_spawn failed: report it from the loop, as promised. */
		spawn_finish(j, -1);
		return;
	}
	j->timed_out = 1;
	(void)killpg(j->pid, SIGKILL);
}

/*
 * posix_spawn argv with stdin from /dev/null, stdout and stderr on
 * `wfd`, nothing else open, its own process group, and no signal mask
 * or disposition inherited (workers block SIGTERM and SIGPIPE).
 * 0 with j->pid set, or an errno value (j->pid stays -1).
 */
static int
spawn_exec(struct spawn_job *j, char *const argv[], int wfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int e, fa_ok = 0, attr_ok = 0;

	sigemptyset(&none);
	sigfillset(&all);
	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		goto out;
	fa_ok = 1;
	if ((e = posix_spawnattr_init(&attr)) != 0)
		goto out;
	attr_ok = 1;
	if ((e = posix_spawn_file_actions_addopen(
	         &fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, wfd, 1)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, wfd, 2)) != 0 ||
	    (e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (e = posix_spawnattr_setflags(&attr,
	         POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	             POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (e = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (e = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
	    (e = posix_spawnattr_setsigdefault(&attr, &all)) != 0)
		goto out;
	e = posix_spawn(&j->pid, argv[0], &fa, &attr, argv, environ);
	if (e != 0)
		j->pid = -1;
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	return e;
}

/*
 * Watch the exit of a running child: its pidfd, else a poll.  0 / -1;
 * on -1 the child has been killed and is left unreaped (out of memory
 * only).
 */
static int
spawn_watch(struct spawn_job *j, int timeout_seconds)
{
	struct timeval limit = {timeout_seconds, 0};
	struct timeval every = {0, SPAWN_POLL_MS * 1000};

	j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
	if (j->pidfd != -1 &&
	    (event_assign(j->ev_exit, j->base, j->pidfd, EV_READ | EV_PERSIST,
	         spawn_exit_cb, j) == -1 ||
	        event_add(j->ev_exit, NULL) == -1)) {
		close(j->pidfd);
		j->pidfd = -1;
	}
	if (j->pidfd == -1 &&
	    (event_assign(
	         j->ev_exit, j->base, -1, EV_PERSIST, spawn_exit_cb, j) == -1 ||
	        event_add(j->ev_exit, &every) == -1))
		goto fail;
	if (event_add(j->ev_out, NULL) == -1 ||
	    event_add(j->ev_timer, &limit) == -1)
		goto fail;
	return 0;
fail:
	(void)killpg(j->pid, SIGKILL);
	return -1;
}

struct spawn_job *
spawn_run(struct event_base *base, char *const argv[], int timeout_seconds,
    spawn_done_fn *done, void *arg)
{
	struct spawn_job *j;
	struct timeval now = {0, 0};
	int p[2] = {-1, -1};

	if (base == NULL || argv == NULL || argv[0] == NULL || done == NULL ||
	    timeout_seconds <= 0)
		return NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->base = base;
	j->done = done;
	j->arg = arg;
	j->pid = -1;
	j->pidfd = -1;
	j->outfd = -1;
	if (pipe2(p, O_CLOEXEC) == -1)
		goto fail;
	j->outfd = p[0];
	if (fcntl(j->outfd, F_SETFL, O_NONBLOCK) == -1 ||
	    (j->ev_exit = event_new(base, -1, 0, spawn_exit_cb, j)) == NULL ||
	    (j->ev_out = event_new(base, j->outfd, EV_READ | EV_PERSIST,
	         spawn_out_cb, j)) == NULL ||
	    (j->ev_timer = evtimer_new(base, spawn_timer_cb, j)) == NULL)
		goto fail;
	if ((j->spawn_err = spawn_exec(j, argv, p[1])) != 0) {
		/* Not executable: done reports it from the loop. */
		if (event_add(j->ev_timer, &now) == -1)
			goto fail;
		goto started;
	}
	if (spawn_watch(j, timeout_seconds) == -1)
		goto fail;
started:
	close(p[1]);
	return j;
fail:
	if (p[1] != -1)
		close(p[1]);
	spawn_free(j);
	return NULL;
}

void
spawn_cancel(struct spawn_job *j)
{
	int status;

	if (j == NULL)
		return;
	j->done = NULL;
	if (j->ev_timer != NULL)
		event_free(j->ev_timer);
	j->ev_timer = NULL;
	spawn_close_output(j);
	if (j->pid == -1) {
		spawn_free(j);
		return;
	}
	(void)killpg(j->pid, SIGKILL);
	/* Usually still running here; ev_exit reaps it and frees j. */
	if (spawn_reap(j, &status))
		spawn_free(j);
}

pid_t
spawn_pid(const struct spawn_job *j)
{
	return j->pid;
}
