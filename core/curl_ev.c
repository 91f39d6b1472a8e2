/*
 * libcurl's multi-socket interface on libevent (see curl_ev.h).
 */
#include <stdlib.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "core/curl_ev.h"

struct curl_ev {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;    /* libcurl's */
	struct event **sock_ev; /* by fd */
	curl_ev_done_fn *done;
	void *arg;
	int global; /* holds a curl_global_init reference */
};

/* Hand every finished transfer to the done callback. */
static void
check_done(struct curl_ev *ce)
{
	CURLMsg *msg;
	CURL *easy;
	int left;

	while ((msg = curl_multi_info_read(ce->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		curl_multi_remove_handle(ce->multi, easy);
		ce->done(easy, msg->data.result, ce->arg);
	}
}

static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct curl_ev *ce = arg;
	int running, act = 0;

	act |= (what & EV_READ) ? CURL_CSELECT_IN : 0;
	act |= (what & EV_WRITE) ? CURL_CSELECT_OUT : 0;
	curl_multi_socket_action(ce->multi, fd, act, &running);
	check_done(ce);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct curl_ev *ce = arg;
	int running;

	curl_multi_socket_action(ce->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(ce);
}

/* libcurl's socket interest, mirrored in one libevent event per fd. */
static int
curl_sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct curl_ev *ce = arg;
	struct event **ev;
	short kind;

	if (fd < 0 || fd >= CURL_EV_MAX_FD)
		return -1;
	ev = &ce->sock_ev[fd];
	if (*ev != NULL) {
		event_free(*ev);
		*ev = NULL;
	}
	if (what == CURL_POLL_REMOVE)
		return 0;
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if ((*ev = event_new(ce->base, fd, kind, on_sock, ce)) == NULL ||
	    event_add(*ev, NULL) == -1)
		return -1;
	return 0;
}

static int
curl_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct curl_ev *ce = arg;
	struct timeval tv;

	if (ms < 0)
		return evtimer_del(ce->timer);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	return evtimer_add(ce->timer, &tv);
}

/*
 * libcurl's global state is reference-counted and thread-safe to set up
 * since 7.84, so each multi handle holds one reference: the owner needs
 * no curl_global_init of its own.
 */
struct curl_ev *
curl_ev_new(struct event_base *base, curl_ev_done_fn *done, void *arg)
{
	struct curl_ev *ce;

	if ((ce = calloc(1, sizeof(*ce))) == NULL)
		return NULL;
	ce->base = base;
	ce->done = done;
	ce->arg = arg;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(ce);
		return NULL;
	}
	ce->global = 1;
	if ((ce->timer = evtimer_new(base, on_timer, ce)) == NULL ||
	    (ce->sock_ev = calloc(CURL_EV_MAX_FD, sizeof(*ce->sock_ev))) ==
	        NULL ||
	    (ce->multi = curl_multi_init()) == NULL ||
	    curl_multi_setopt(
	        ce->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb) != CURLM_OK ||
	    curl_multi_setopt(ce->multi, CURLMOPT_SOCKETDATA, ce) != CURLM_OK ||
	    curl_multi_setopt(
	        ce->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(ce->multi, CURLMOPT_TIMERDATA, ce) != CURLM_OK) {
		curl_ev_free(ce);
		return NULL;
	}
	return ce;
}

CURLM *
curl_ev_multi(struct curl_ev *ce)
{
	return ce->multi;
}

void
curl_ev_free(struct curl_ev *ce)
{
	size_t i;

	if (ce == NULL)
		return;
	/* First: cleaning up may still call curl_sock_cb. */
	curl_multi_cleanup(ce->multi);
	for (i = 0; ce->sock_ev != NULL && i < CURL_EV_MAX_FD; i++)
		if (ce->sock_ev[i] != NULL)
			event_free(ce->sock_ev[i]);
	if (ce->timer != NULL)
		event_free(ce->timer);
	free(ce->sock_ev);
	if (ce->global)
		curl_global_cleanup();
	free(ce);
}
