/*
 * CPU-heavy work off the event loops (STYLE.md rule 11): password
 * hashing, key generation.  A small pool of threads runs `work`; `done`
 * then runs on the loop of the base that submitted it.
 */
#ifndef ENROLLD_OFFLOAD_H
#define ENROLLD_OFFLOAD_H

struct event_base;

/* Runs on a pool thread: touch only what arg owns. */
typedef void offload_work_fn(void *arg);
/* Runs on the submitting loop after work returned. */
typedef void offload_done_fn(void *arg);

/*
 * Start `threads` pool threads (once per process, before any submit).
 * 0 / -1.  The base passed to offload_submit must come from a process
 * that called evthread_use_pthreads().
 */
int offload_start(unsigned threads);
/* Finish queued work, stop the threads.  Safe when never started. */
void offload_stop(void);

/*
 * Queue work.  Returns 0, or -1 when the pool is not running or memory
 * ran out (nothing will be called; the caller does the work inline or
 * fails the request).
 */
int offload_submit(struct event_base *base, offload_work_fn *work,
    offload_done_fn *done, void *arg);

#endif
