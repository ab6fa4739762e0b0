/* Shared-memory primitives for the IPC rings and the process registry: what Swift cannot express on memory that
 * another process maps (C11 atomics with explicit ordering), variadic or missing libc calls (prctl, pidfd), and
 * semaphore waits against CLOCK_MONOTONIC so that a wall-clock jump never stretches or shortens a deadline. */
#ifndef MODELHOST_SHM_ATOMICS_H
#define MODELHOST_SHM_ATOMICS_H
#include <stdint.h>
#include <semaphore.h>
#include <sys/types.h>

/* ---- Atomics on shared memory. The pointer must be naturally aligned; lock-free on every 64-bit target. ---- */

static inline uint64_t mh_atomic_load_acquire_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}
static inline uint64_t mh_atomic_load_relaxed_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}
static inline void mh_atomic_store_release_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
}
static inline uint32_t mh_atomic_load_acquire_u32(const void *p) {
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}
static inline void mh_atomic_store_release_u32(void *p, uint32_t v) {
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE);
}
/* Sequentially consistent store and exchange: the "I am about to sleep" / "did anyone sleep?" handshake between a
 * ring's producer and consumer is a Dekker pattern, which acquire/release alone does not make safe. */
static inline void mh_atomic_store_seqcst_u32(void *p, uint32_t v) {
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_SEQ_CST);
}
static inline uint32_t mh_atomic_exchange_seqcst_u32(void *p, uint32_t v) {
    return __atomic_exchange_n((uint32_t *)p, v, __ATOMIC_SEQ_CST);
}
static inline uint64_t mh_atomic_load_seqcst_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_SEQ_CST);
}
static inline void mh_atomic_thread_fence_seqcst(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
/* A spin-wait hint (PAUSE / YIELD) for the short spin before a ring side blocks on its semaphore. */
static inline void mh_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* ---- Semaphores. ---- */

/* Size of sem_t, so the Swift side can lay out a shared segment without importing the opaque type's layout. */
static inline size_t mh_sem_size(void) { return sizeof(sem_t); }

/* Waits on `sem` until it can be decremented or `timeout_ns` (relative) passes on CLOCK_MONOTONIC. Retries EINTR.
 * Returns 0 when decremented, ETIMEDOUT on timeout, or another errno value on failure. */
int mh_sem_wait_for(sem_t *sem, int64_t timeout_ns);

/* ---- Process control. ---- */

/* pidfd_open(2) through syscall(2), so older C libraries without the wrapper still build. -1 with errno on failure
 * (ENOSYS on kernels before 5.3). The descriptor is close-on-exec. */
int mh_pidfd_open(pid_t pid);
/* pidfd_send_signal(2): signals exactly the process the descriptor names, immune to pid reuse. */
int mh_pidfd_send_signal(int pidfd, int sig);
/* Waits up to timeout_ms for the process behind `pidfd` to exit (0 = just check). 1 = exited, 0 = still running,
 * -1 with errno on failure. A zombie counts as exited. */
int mh_pidfd_wait_exit(int pidfd, int timeout_ms);
/* prctl(PR_SET_PDEATHSIG, sig): the kernel sends `sig` to the caller when its parent thread exits. */
int mh_set_parent_death_signal(int sig);
/* prctl(PR_SET_NAME, name): the thread/process name shown by ps and /proc/<pid>/comm (truncated to 15 bytes). */
int mh_set_process_name(const char *name);
/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). */
uint64_t mh_monotonic_ns(void);

#endif
