/* peak_rss COMMAND [ARG...]: run COMMAND with its stdout on /dev/null, then print
 * "<wait status> <wall ns> <peak RSS KiB>".
 *
 * Why not os.wait4 straight from Python: at execve Linux folds the old address space's
 * RSS high-water mark into the process's ru_maxrss, and a child spawned by Python starts
 * in (a vfork of) Python's address space, so it would report at least the benchmark's
 * own peak.  This helper is small and static: the children it forks start near zero. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: peak_rss COMMAND [ARG...]\n", stderr);
        return 2;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 1) < 0)
            _exit(127);
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) {
        perror("wait4");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
    printf("%d %lld %ld\n", status, ns, usage.ru_maxrss);
    return 0;
}
