/*
 * Run an operator's command (a dns-01 hook, say) from an event loop
 * without blocking it and without a SIGCHLD handler: the child's exit is
 * watched through a pidfd, its output through a non-blocking pipe, and a
 * timer kills it when it runs too long.
 *
 * The child gets stdin from /dev/null, stdout and stderr on one pipe, no
 * other descriptor of ours, a default signal mask and dispositions, the
 * daemon's environment, and a process group of its own: a timeout or a
 * cancel kills the whole group, and so does the leader's exit, so a job
 * never leaves processes behind.
 */
#ifndef ENROLLD_SPAWN_H
#define ENROLLD_SPAWN_H

#include <sys/types.h>

struct event_base;
struct spawn_job;

/* How much of the output done() sees; the rest is read and dropped. */
#define SPAWN_OUTPUT_MAX 1024

/*
 * Runs once on the job's loop.  status: the exit code (0..255), or -1
 * when the command could not be executed, was killed by a signal or ran
 * past its timeout.  output: the first SPAWN_OUTPUT_MAX bytes of stdout
 * and stderr, NUL-terminated, trailing white space removed; on -1 it
 * starts with why ("cannot execute: ...", "timed out, killed", "killed
 * by a signal") and goes on with "; output: ...".  Borrowed for the call:
 * the job is gone once done returns.  Raw bytes from the command: pass
 * them through log_sanitize() before logging.
 */
typedef void spawn_done_fn(void *arg, int status, const char *output);

/*
 * Start argv[0] (a path; PATH is not searched) with arguments argv (NULL
 * terminated) on base's loop, allowed timeout_seconds (> 0).  Returns the
 * job, and `done` runs later, exactly once, unless spawn_cancel() comes
 * first.  A program that cannot be executed (missing, not executable)
 * still returns a job: done then reports -1 and the reason.  NULL when
 * the job could not be set up (bad arguments, out of memory or
 * descriptors); done never runs then.  Callable from any thread that
 * owns base's loop; base must outlive the job.
 */
struct spawn_job *spawn_run(struct event_base *base, char *const argv[],
    int timeout_seconds, spawn_done_fn *done, void *arg);

/*
 * Forget a job whose done has not run: its process group is killed with
 * SIGKILL, done never runs, and the child is reaped later on the loop
 * (never blocking), which must keep running until then.  NULL-safe.
 */
void spawn_cancel(struct spawn_job *j);

/* The child's process id, or -1 when it could not be executed. */
pid_t spawn_pid(const struct spawn_job *j);

#endif
