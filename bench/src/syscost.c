/* What some of the stub's system calls cost on this machine, each repeated in a loop:
   the cheapest call there is (the cost of entering the kernel at all), the
   readlinkat("/proc/self/exe") that finds $ORIGIN, which a kernel-loaded start does not
   need, and the openat + statx + pread + close of a loader, which the kernel does inside
   execve for PT_INTERP.  Prints "name microseconds" per line.

       syscost LOADER [ROUNDS] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int rounds = argc > 2 ? atoi(argv[2]) : 20000;
    char buf[1856], path[4096];
    struct statx st;
    double t0 = now_us();
    for (int i = 0; i < rounds; i++)
        syscall(SYS_getppid);
    double t1 = now_us();
    for (int i = 0; i < rounds; i++)
        readlink("/proc/self/exe", path, sizeof path - 1);
    double t2 = now_us();
    for (int i = 0; i < rounds; i++) {
        int fd = open(argv[1], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return 1;
        statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_SIZE, &st);
        pread(fd, buf, sizeof buf, 0);
        close(fd);
    }
    double t3 = now_us();
    printf("getppid %.2f\nreadlinkat %.2f\nopenat-statx-pread-close %.2f\n", (t1 - t0) / rounds,
           (t2 - t1) / rounds, (t3 - t2) / rounds);
    return 0;
}
