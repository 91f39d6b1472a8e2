/*
 * A fixed pool of threads with one FIFO queue.  Completions go back to
 * the submitting loop with event_base_once, which is thread-safe once
 * evthread_use_pthreads() ran.
 */
#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/offload.h"

#define OFFLOAD_MAX_THREADS 16

struct offload_job {
	struct offload_job *next;
	struct event_base *base;
	offload_work_fn *work;
	offload_done_fn *done;
	void *arg;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct offload_job *head, *tail;
	pthread_t threads[OFFLOAD_MAX_THREADS];
	unsigned n_threads;
	int stopping;
} pool = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, {0}, 0, 0};

static void
offload_complete(evutil_socket_t fd, short what, void *arg)
{
	struct offload_job *job = arg;

	job->done(job->arg);
	free(job);
}

static struct offload_job *
offload_take(void)
{
	struct offload_job *job;

	pthread_mutex_lock(&pool.lock);
	while (pool.head == NULL && !pool.stopping)
		pthread_cond_wait(&pool.wake, &pool.lock);
	job = pool.head;
	if (job != NULL && (pool.head = job->next) == NULL)
		pool.tail = NULL;
	pthread_mutex_unlock(&pool.lock);
	return job;
}

static void *
offload_main(void *unused)
{
	struct timeval now = {0, 0};
	struct offload_job *job;

	while ((job = offload_take()) != NULL) {
		job->work(job->arg);
		if (event_base_once(job->base, -1, EV_TIMEOUT, offload_complete,
		        job, &now) != 0) {
			/* Only on allocation failure; the request then waits
			 * for its read timeout rather than crash. */
			log_error("msg=\"offload: completion lost\"");
			free(job);
		}
	}
	return NULL;
}

int
offload_start(unsigned threads)
{
	if (threads == 0 || threads > OFFLOAD_MAX_THREADS)
		threads = threads == 0 ? 1 : OFFLOAD_MAX_THREADS;
	pool.stopping = 0;
	for (pool.n_threads = 0; pool.n_threads < threads; pool.n_threads++)
		if (pthread_create(&pool.threads[pool.n_threads], NULL,
		        offload_main, NULL) != 0) {
			offload_stop();
			return -1;
		}
	return 0;
}

void
offload_stop(void)
{
	unsigned i;

	pthread_mutex_lock(&pool.lock);
	pool.stopping = 1;
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
	for (i = 0; i < pool.n_threads; i++)
		pthread_join(pool.threads[i], NULL);
	pool.n_threads = 0;
}

int
offload_submit(struct event_base *base, offload_work_fn *work,
    offload_done_fn *done, void *arg)
{
	struct offload_job *job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return -1;
	job->base = base;
	job->work = work;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&pool.lock);
	if (pool.n_threads == 0 || pool.stopping) {
		pthread_mutex_unlock(&pool.lock);
		free(job);
		return -1;
	}
	if (pool.tail != NULL)
		pool.tail->next = job;
	else
		pool.head = job;
	pool.tail = job;
	pthread_cond_signal(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
	return 0;
}
