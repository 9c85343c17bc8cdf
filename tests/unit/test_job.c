/* The job helper: libuv's pool and a dedicated bounded pool. */
#include <stdlib.h>
#include <uv.h>

#include "check.h"
#include "job.h"
#include "miscomm/error.h"

struct test_job {
    struct job job;
    uv_thread_t loop_thread;
    uv_sem_t *gate; /* the work waits until the test posts it */
    int ran;
    int status;
    int done;
    int order;
};

static uv_thread_t main_thread;
static int done_seq;
static int idle_calls;

static void work(struct job *j)
{
    struct test_job *t = (struct test_job *)j;
    if (t->gate)
        uv_sem_wait(t->gate);
    t->ran = 1;
}

static void done(struct job *j, int status)
{
    struct test_job *t = (struct test_job *)j;
    uv_thread_t self = uv_thread_self();
    CHECK(uv_thread_equal(&self, &main_thread)); /* done() runs on the loop thread */
    t->status = status;
    t->done++;
    t->order = ++done_seq;
}

static void on_idle(struct job_owner *o)
{
    (void)o;
    idle_calls++;
}

static void release_later(void *arg)
{
    uv_sleep(100);
    uv_sem_post(arg);
}

static void init(struct test_job *t)
{
    *t = (struct test_job){.job = {.work = work, .done = done}};
}

int main(void)
{
    main_thread = uv_thread_self();
    uv_loop_t *loop = uv_default_loop();
    struct job_owner owner = {.idle = on_idle};

    /* libuv's shared pool: done once, status 0, owner counted and released. */
    struct test_job a;
    init(&a);
    CHECK_EQ_INT(job_submit(loop, NULL, &a.job, &owner), 0);
    CHECK_EQ_INT(owner.pending, 1);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(a.ran, 1);
    CHECK_EQ_INT(a.done, 1);
    CHECK_EQ_INT(a.status, 0);
    CHECK_EQ_INT(owner.pending, 0);
    CHECK_EQ_INT(idle_calls, 1);

    /* An owner that started closing meanwhile: done() is told. */
    init(&a);
    CHECK_EQ_INT(job_submit(loop, NULL, &a.job, &owner), 0);
    owner.closing = 1;
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(a.status, MC_ERR_CLOSED);
    owner.closing = 0;

    /* A dedicated pool of one thread holding at most 2 jobs. */
    struct job_pool *pool;
    CHECK_EQ_INT(job_pool_start(loop, "test", 1, 2, &pool), 0);
    uv_sem_t gate;
    uv_sem_init(&gate, 0);
    struct test_job b, c, d;
    init(&b);
    init(&c);
    init(&d);
    b.gate = &gate;
    CHECK_EQ_INT(job_submit(loop, pool, &b.job, &owner), 0);
    CHECK_EQ_INT(job_submit(loop, pool, &c.job, &owner), 0);
    /* Bounded: the third is refused, nothing counted, done() never called. */
    CHECK_EQ_INT(job_submit(loop, pool, &d.job, &owner), MC_ERR_BUSY);
    CHECK_EQ_INT(job_pool_load(pool), 2);
    CHECK_EQ_INT(owner.pending, 2);
    uv_sem_post(&gate);
    while (b.done + c.done < 2)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ_INT(b.status, 0);
    CHECK_EQ_INT(c.status, 0);
    CHECK(b.order < c.order); /* results come back in submission order */
    CHECK_EQ_INT(d.done, 0);
    CHECK_EQ_INT(job_pool_load(pool), 0);
    CHECK_EQ_INT(owner.pending, 0);

    /* Stopping: the running job finishes, the queued one is cancelled unrun. */
    init(&b);
    init(&c);
    b.gate = &gate;
    CHECK_EQ_INT(job_submit(loop, pool, &b.job, &owner), 0);
    CHECK_EQ_INT(job_submit(loop, pool, &c.job, &owner), 0);
    /* Let the thread take b before stopping (it then blocks on the gate). */
    uv_sleep(50);
    uv_thread_t releaser;
    CHECK_EQ_INT(uv_thread_create(&releaser, release_later, &gate), 0);
    job_pool_stop(pool);
    uv_thread_join(&releaser);
    CHECK_EQ_INT(b.done, 1);
    CHECK_EQ_INT(b.ran, 1);
    CHECK_EQ_INT(c.done, 1);
    CHECK_EQ_INT(c.ran, 0);
    CHECK_EQ_INT(c.status, MC_ERR_CANCELLED);
    CHECK_EQ_INT(owner.pending, 0);
    uv_run(loop, UV_RUN_DEFAULT); /* the pool's handle closes */
    CHECK_EQ_INT(uv_loop_close(loop), 0);
    uv_sem_destroy(&gate);
    return check_report("job");
}
