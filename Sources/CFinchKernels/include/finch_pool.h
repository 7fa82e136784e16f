#ifndef FINCH_POOL_H
#define FINCH_POOL_H
// The CPU thread pool behind Finch's parallel loops (Threads.swift): persistent workers that spin briefly
// between jobs, so that a training step's ~1,700 back-to-back parallel ops do not each pay a thread wake-up.

/// One task of a job: `fn(ctx, task)`.
typedef void (*finch_task_fn)(void *ctx, long task);

/// Runs fn(ctx, 0) … fn(ctx, n − 1) on the calling thread and up to `threads` − 1 pool workers, each task
/// once, and returns when all are done. Workers run at the caller's ISA level (finch_isa_active()). A call
/// made while another job is running (from a task, or from a second thread) runs its tasks inline, in order.
void finch_pool_run(long n, int threads, finch_task_fn fn, void *ctx);

/// Workers the pool has started so far (for tests).
int finch_pool_workers(void);
#endif
