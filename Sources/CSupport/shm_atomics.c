/* Out-of-line parts of shm_atomics.h: the semaphore wait with a monotonic deadline and the process-control calls
 * that are variadic (prctl, syscall) and therefore cannot be called from Swift directly. */
#define _GNU_SOURCE
#include "shm_atomics.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

uint64_t mh_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec add_ns(struct timespec base, int64_t ns) {
    if (ns < 0) ns = 0;
    base.tv_sec += (time_t)(ns / 1000000000ll);
    base.tv_nsec += (long)(ns % 1000000000ll);
    if (base.tv_nsec >= 1000000000l) {
        base.tv_sec += 1;
        base.tv_nsec -= 1000000000l;
    }
    return base;
}

int mh_sem_wait_for(sem_t *sem, int64_t timeout_ns) {
    if (sem_trywait(sem) == 0) return 0;
    if (errno != EAGAIN && errno != EINTR) return errno;
    if (timeout_ns <= 0) return ETIMEDOUT;
    struct timespec now;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
    /* sem_clockwait measures against CLOCK_MONOTONIC: immune to settimeofday/NTP steps. */
    clock_gettime(CLOCK_MONOTONIC, &now);
    const struct timespec deadline = add_ns(now, timeout_ns);
    for (;;) {
        if (sem_clockwait(sem, CLOCK_MONOTONIC, &deadline) == 0) return 0;
        if (errno != EINTR) return errno;
    }
#else
    clock_gettime(CLOCK_REALTIME, &now);
    const struct timespec deadline = add_ns(now, timeout_ns);
    for (;;) {
        if (sem_timedwait(sem, &deadline) == 0) return 0;
        if (errno != EINTR) return errno;
    }
#endif
}

int mh_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int mh_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int mh_pidfd_wait_exit(int pidfd, int timeout_ms) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN, .revents = 0};
    for (;;) {
        const int r = poll(&p, 1, timeout_ms);
        if (r > 0) return 1;
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

int mh_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0);
}

int mh_set_process_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
