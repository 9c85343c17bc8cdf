#include "job.h"

#ifdef __linux__
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "miscomm/error.h"

/*
 * A dedicated pool's thread. Idle threads wait on their own semaphore,
 * stacked newest first: a job wakes the thread that went idle last, whose
 * stack and caches are still warm (a shared condition variable wakes them
 * in turn, a cold one each time), and only that one. A semaphore, not a
 * condition variable: glibc's condition variable takes the mutex back
 * marked contended, so every wake-up cost one more futex call to unlock.
 * A thread on the stack waits exactly once and is taken off it exactly
 * once (by job_submit or job_pool_stop), which posts exactly once.
 */
struct job_thread {
    struct job_pool *pool;
    uv_thread_t tid;
    uv_sem_t wake;
    struct job_thread *next_idle;
};

struct job_pool {
    uv_loop_t *loop;
    char name[32];
    uv_async_t wake; /* results are ready on the loop thread */
    uv_mutex_t lock;
    struct job *queue, *queue_tail; /* waiting for a thread */
    _Atomic(struct job *) finished; /* done on a thread, waiting for the loop (no lock) */
    struct job_thread *idle;        /* threads waiting for a job, the last to wait first */
    unsigned load;                  /* queued + running + finished */
    unsigned max_queued;
    unsigned nthreads;
    int nice;
    struct job_thread *threads;
    int stopping;
};

static void job_finish(struct job *j, int status)
{
    struct job_owner *owner = j->owner;
    if (status == 0 && owner && owner->closing)
        status = MC_ERR_CLOSED;
    j->done(j, status);
    /* j may be freed by done(); only the owner is touched from here. */
    if (owner && --owner->pending == 0 && owner->idle)
        owner->idle(owner);
}

/* -- libuv's shared pool --------------------------------------------------- */
static void job_uv_work(uv_work_t *req)
{
    struct job *j = req->data;
    j->work(j);
}

static void job_uv_after(uv_work_t *req, int status)
{
    struct job *j = req->data;
    job_finish(j, status == UV_ECANCELED ? MC_ERR_CANCELLED : 0);
}

/* -- dedicated pools ------------------------------------------------------- */
#define JOB_POOL_NICE 5 /* dedicated pools' threads run this much nicer than the loop */

static void pool_thread(void *arg)
{
    struct job_thread *t = arg;
    struct job_pool *p = t->pool;
#ifdef __linux__
    /* Named for top -H and ps -L: mc-odbc, mc-handshake... */
    char comm[16];
    snprintf(comm, sizeof comm, "mc-%.12s", p->name); /* 15 characters at most */
    (void)pthread_setname_np(pthread_self(), comm);
    /* Below the loop thread: a CPU-bound job (an embedded database running
     * a long query) must not take the CPU from answering pings. */
    if (p->nice)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice);
#endif
    uv_mutex_lock(&p->lock);
    for (;;) {
        if (!p->queue && !p->stopping) {
            t->next_idle = p->idle;
            p->idle = t;
            uv_mutex_unlock(&p->lock);
            uv_sem_wait(&t->wake);
            uv_mutex_lock(&p->lock);
            continue; /* another thread may have taken the job meanwhile */
        }
        struct job *j = p->queue;
        if (!j)
            break; /* stopping, and nothing left to run */
        p->queue = j->next;
        if (!p->queue)
            p->queue_tail = NULL;
        uv_mutex_unlock(&p->lock);
        if (!j->cancelled)
            j->work(j);
        /* Handed to the loop without the lock, which the loop would wait
         * for on waking; the first result waiting wakes it, later ones
         * ride along. */
        struct job *head = atomic_load(&p->finished);
        do
            j->next = head;
        while (!atomic_compare_exchange_weak(&p->finished, &head, j));
        if (!head)
            uv_async_send(&p->wake);
        uv_mutex_lock(&p->lock);
    }
    uv_mutex_unlock(&p->lock);
}

static void pool_on_wake(uv_async_t *a)
{
    struct job_pool *p = a->data;
    struct job *list = atomic_exchange(&p->finished, NULL);
    /* The list is newest first: run the callbacks oldest first. */
    struct job *rev = NULL;
    unsigned n = 0;
    while (list) {
        struct job *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
        n++;
    }
    uv_mutex_lock(&p->lock);
    p->load -= n;
    uv_mutex_unlock(&p->lock);
    while (rev) {
        struct job *j = rev;
        rev = rev->next;
        job_finish(j, j->cancelled ? MC_ERR_CANCELLED : 0);
    }
}

int job_pool_start(uv_loop_t *loop, const char *name, unsigned threads, unsigned max_queued,
                   struct job_pool **out)
{
    return job_pool_start_nice(loop, name, threads, max_queued, JOB_POOL_NICE, out);
}

int job_pool_start_nice(uv_loop_t *loop, const char *name, unsigned threads, unsigned max_queued,
                        int nice, struct job_pool **out)
{
    *out = NULL;
    if (threads == 0 || max_queued == 0)
        return MC_ERR_INVALID_ARG;
    struct job_pool *p = calloc(1, sizeof *p);
    if (!p)
        return MC_ERR_NOMEM;
    p->threads = calloc(threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return MC_ERR_NOMEM;
    }
    p->loop = loop;
    p->max_queued = max_queued;
    p->nice = nice;
    snprintf(p->name, sizeof p->name, "%s", name);
    if (uv_mutex_init(&p->lock) != 0) {
        free(p->threads);
        free(p);
        return MC_ERR_INTERNAL;
    }
    if (uv_async_init(loop, &p->wake, pool_on_wake) != 0) {
        uv_mutex_destroy(&p->lock);
        free(p->threads);
        free(p);
        return MC_ERR_INTERNAL;
    }
    p->wake.data = p;
    for (unsigned i = 0; i < threads; i++) {
        struct job_thread *t = &p->threads[i];
        t->pool = p;
        if (uv_sem_init(&t->wake, 0) != 0)
            break;
        if (uv_thread_create(&t->tid, pool_thread, t) != 0) {
            uv_sem_destroy(&t->wake);
            break;
        }
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        job_pool_stop(p);
        return MC_ERR_INTERNAL;
    }
    log_debug("event=job_pool pool=%s threads=%u max_queued=%u", p->name, p->nthreads, max_queued);
    *out = p;
    return 0;
}

unsigned job_pool_load(const struct job_pool *p)
{
    uv_mutex_lock((uv_mutex_t *)&p->lock);
    unsigned n = p->load;
    uv_mutex_unlock((uv_mutex_t *)&p->lock);
    return n;
}

static void pool_on_closed(uv_handle_t *h)
{
    struct job_pool *p = h->data;
    uv_mutex_destroy(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        uv_sem_destroy(&p->threads[i].wake);
    free(p->threads);
    free(p);
}

void job_pool_stop(struct job_pool *p)
{
    if (!p)
        return;
    uv_mutex_lock(&p->lock);
    p->stopping = 1;
    for (struct job *j = p->queue; j; j = j->next)
        j->cancelled = 1;
    while (p->idle) {
        struct job_thread *t = p->idle;
        p->idle = t->next_idle;
        uv_sem_post(&t->wake);
    }
    uv_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        uv_thread_join(&p->threads[i].tid);
    /* Every job is now on the finished list: give each its done() call. */
    pool_on_wake(&p->wake);
    uv_close((uv_handle_t *)&p->wake, pool_on_closed);
}

int job_submit(uv_loop_t *loop, struct job_pool *pool, struct job *j, struct job_owner *owner)
{
    j->owner = owner;
    j->pool = pool;
    j->next = NULL;
    j->cancelled = 0;
    if (!pool) {
        j->req.data = j;
        if (uv_queue_work(loop, &j->req, job_uv_work, job_uv_after) != 0)
            return MC_ERR_INTERNAL;
    } else {
        uv_mutex_lock(&pool->lock);
        if (pool->stopping || pool->load >= pool->max_queued) {
            int stopping = pool->stopping;
            uv_mutex_unlock(&pool->lock);
            return stopping ? MC_ERR_SHUTTING_DOWN : MC_ERR_BUSY;
        }
        pool->load++;
        if (pool->queue_tail)
            pool->queue_tail->next = j;
        else
            pool->queue = j;
        pool->queue_tail = j;
        struct job_thread *t = pool->idle;
        if (t)
            pool->idle = t->next_idle;
        uv_mutex_unlock(&pool->lock);
        /* After the unlock, so that the thread does not wake into a held lock. */
        if (t)
            uv_sem_post(&t->wake);
    }
    if (owner)
        owner->pending++;
    return 0;
}
