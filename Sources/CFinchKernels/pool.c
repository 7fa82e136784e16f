// The thread pool behind finch_pool_run (finch_pool.h).
//
// One job at a time (run_lock; a caller that cannot take it runs its tasks inline). A job is published by
// bumping `generation`; every worker makes exactly one pass per generation — claim tasks from `next_task`
// until none are left, then count itself `through` — and the next job starts only once every worker is
// through the last one, so a worker never reads a job's fields while they are rewritten. Idle workers spin
// for about IDLE_SPIN_NS, then sleep on a condition variable (the publisher wakes sleepers, Dekker-style:
// both sides use sequentially consistent atomics on `generation` and `sleepers`).
#include "finch_pool.h"
#include "finch_isa.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define MAX_WORKERS 256
#define IDLE_SPIN_NS 200000L  // 0.2 ms: longer than the gaps between a training step's ops

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static int workers;                         // started (only grows; written under run_lock)
static _Atomic unsigned long generation;    // the job being run
static _Atomic int sleepers;
static _Atomic long next_task, tasks_done;
static _Atomic long through;                // workers done with the current generation
static struct { finch_task_fn fn; void *ctx; long n; int isa; int threads; } job;

static _Thread_local int in_task;  // a nested call runs inline

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void run_tasks(void) {
    in_task = 1;
    long t;
    while ((t = atomic_fetch_add_explicit(&next_task, 1, memory_order_relaxed)) < job.n) {
        job.fn(job.ctx, t);
        atomic_fetch_add_explicit(&tasks_done, 1, memory_order_release);
    }
    in_task = 0;
}

typedef struct { int index; unsigned long generation; } worker_start;

static void *worker_main(void *arg) {
    worker_start start = *(worker_start *)arg;
    free(arg);
    int index = start.index;  // worker i joins jobs of at least i + 2 threads
    unsigned long seen = start.generation;  // the generation before the job that started it
    for (;;) {
        long deadline = now_ns() + IDLE_SPIN_NS;
        for (int spins = 0; atomic_load_explicit(&generation, memory_order_acquire) == seen; spins++) {
            if ((spins & 255) != 255) { CPU_RELAX(); continue; }
            if (now_ns() < deadline) continue;
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&generation) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = atomic_load_explicit(&generation, memory_order_acquire);
        if (index + 1 < job.threads) {
            finch_isa_set_thread(job.isa);
            run_tasks();
        }
        atomic_fetch_add_explicit(&through, 1, memory_order_release);
    }
    return NULL;
}

// Waits until *counter reaches target: spinning for about BUSY_SPIN_NS, then yielding the core (on a
// loaded machine the thread we wait for may need it).
#define BUSY_SPIN_NS 50000L
static void wait_for(_Atomic long *counter, long target) {
    long deadline = 0;
    for (int spins = 0; atomic_load_explicit(counter, memory_order_acquire) < target; spins++) {
        if ((spins & 255) != 255) { CPU_RELAX(); continue; }
        long now = now_ns();
        if (deadline == 0) deadline = now + BUSY_SPIN_NS;
        else if (now > deadline) sched_yield();
    }
}

// Waits until every worker is through the current generation (the caller holds run_lock).
static void wait_through(void) { wait_for(&through, workers); }

static void run_inline(long n, finch_task_fn fn, void *ctx) {
    for (long t = 0; t < n; t++) fn(ctx, t);
}

void finch_pool_run(long n, int threads, finch_task_fn fn, void *ctx) {
    if (n <= 0) return;
    if (threads > MAX_WORKERS + 1) threads = MAX_WORKERS + 1;
    if (n == 1 || threads <= 1 || in_task || pthread_mutex_trylock(&run_lock) != 0) {
        run_inline(n, fn, ctx);
        return;
    }
    wait_through();
    while (workers < threads - 1) {  // grow (all current workers are through, so none reads `workers`)
        worker_start *start = malloc(sizeof *start);
        if (!start) break;
        start->index = workers;
        start->generation = atomic_load(&generation);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&t, &attr, worker_main, start) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) { free(start); break; }  // fewer threads than asked: the tasks still all run
        workers++;
    }
    job.fn = fn; job.ctx = ctx; job.n = n; job.isa = finch_isa_active(); job.threads = threads;
    atomic_store_explicit(&next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&tasks_done, 0, memory_order_relaxed);
    atomic_store_explicit(&through, 0, memory_order_relaxed);
    atomic_fetch_add(&generation, 1);  // seq_cst: publishes the job, and orders the sleepers read below
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_tasks();
    wait_for(&tasks_done, n);
    pthread_mutex_unlock(&run_lock);
}

int finch_pool_workers(void) {
    pthread_mutex_lock(&run_lock);
    int w = workers;
    pthread_mutex_unlock(&run_lock);
    return w;
}
