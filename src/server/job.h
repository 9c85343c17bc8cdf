/*
 * Jobs: blocking work (password hashing, file reads, fsync, ODBC) run off
 * the loop thread, with the result handed back to it.
 *
 *   loop thread            pool thread             loop thread
 *   job_submit() -------> j->work(j) ------------> j->done(j, status)
 *   owner->pending++      touches no connection    owner->pending--, then
 *                         state, only the job       owner->idle() at zero
 *
 * A job runs either on libuv's shared pool (pool == NULL) or on a
 * dedicated, bounded pool of its own threads (job_pool_start), so that a
 * slow kind of work (ODBC queries) can never starve the others; on Linux
 * a dedicated pool's threads also run at a lower priority (nice 5) than
 * the loop thread, so CPU-bound jobs do not delay answers. A job wakes
 * the pool thread that went idle last (its caches are warm), and finished
 * jobs reach the loop through a lock-free list and one wake-up. The helper
 * owns the bookkeeping every caller used to repeat by hand:
 *
 * - the owner's pending count: a connection is not freed while a job still
 *   refers to it (owner->idle is called when the count returns to zero);
 * - the closed check: done() gets MC_ERR_CLOSED when the owner started
 *   closing while the job ran, so it only releases what it holds;
 * - shutdown: jobs still queued when their pool stops get MC_ERR_CANCELLED
 *   and never run; done() is called exactly once for every submitted job.
 */
#ifndef MC_JOB_H
#define MC_JOB_H

#include <uv.h>

struct job_owner {
    unsigned pending;                      /* jobs submitted and not yet done */
    int closing;                           /* set by the owner: done() gets MC_ERR_CLOSED */
    void (*idle)(struct job_owner *owner); /* called when pending drops to 0 (may be NULL) */
};

struct job_pool;

struct job {
    void (*work)(struct job *j);             /* pool thread */
    void (*done)(struct job *j, int status); /* loop thread: 0, MC_ERR_CLOSED or MC_ERR_CANCELLED */
    /* Private to job.c. */
    struct job_owner *owner;
    struct job_pool *pool;
    struct job *next;
    int cancelled;
    uv_work_t req;
};

/*
 * Run j->work on pool (NULL: libuv's shared pool) and then j->done on the
 * loop thread. Returns 0, MC_ERR_BUSY when the pool's queue is full, or
 * MC_ERR_INTERNAL; on failure nothing was counted and done() is not called.
 */
__attribute__((warn_unused_result)) int job_submit(uv_loop_t *loop, struct job_pool *pool,
                                                   struct job *j, struct job_owner *owner);

/* A dedicated pool of `threads` threads holding at most max_queued jobs (queued or running). */
__attribute__((warn_unused_result)) int job_pool_start(uv_loop_t *loop, const char *name,
                                                       unsigned threads, unsigned max_queued,
                                                       struct job_pool **out);
/*
 * The same with the threads' niceness chosen (Linux; job_pool_start uses 5).
 * The handshake pool runs at 0: its jobs are what the clients wait for.
 */
__attribute__((warn_unused_result)) int job_pool_start_nice(uv_loop_t *loop, const char *name,
                                                            unsigned threads, unsigned max_queued,
                                                            int nice, struct job_pool **out);
/* Jobs queued or running on the pool. */
unsigned job_pool_load(const struct job_pool *p);
/*
 * Stop the pool: queued jobs are cancelled (their done() runs with
 * MC_ERR_CANCELLED), running ones finish, the threads are joined. Call on
 * the loop thread; the pool is freed once its handle has closed.
 */
void job_pool_stop(struct job_pool *p);

#endif
