/* Proves, line by line, that each part of its installation is found relative to the
 * program: its library (linked), its plugin (dlopen()ed by path), its helper (run) and
 * its data (read).  Exits 1 at the first part missing. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int core_answer(void);

static char here[PATH_MAX];

static const char *beside(const char *rel)
{
    static char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", here, rel);
    return path;
}

static int plugin(void)
{
    void *handle = dlopen(beside("../lib/app/plugins/libp.so"), RTLD_NOW);
    if (!handle) {
        printf("plugin: %s\n", dlerror());
        return 1;
    }
    int (*report)(char *, size_t) = (int (*)(char *, size_t))dlsym(handle, "plugin_report");
    char line[256];
    if (!report || report(line, sizeof line) != 0) {
        puts("plugin: loaded, but failed");
        return 1;
    }
    printf("plugin: %s\n", line);
    return 0;
}

static int helper(void)
{
    /* No shell: an empty root has none. */
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_fds[1], 1);
        execl(beside("../libexec/app/helper"), "helper", (char *)0);
        _exit(127);
    }
    close(pipe_fds[1]);
    char line[256] = "";
    ssize_t got = read(pipe_fds[0], line, sizeof line - 1);
    int status = 0;
    waitpid(pid, &status, 0);
    line[got > 0 ? got : 0] = 0;
    line[strcspn(line, "\n")] = 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    printf("helper: %s (exit status %d)\n", got > 0 ? line : "no output", code);
    return code != 0;
}

static int data(void)
{
    FILE *in = fopen(beside("../share/app/data.txt"), "r");
    char line[256] = "";
    if (!in || !fgets(line, sizeof line, in)) {
        puts("data: cannot read share/app/data.txt");
        return 1;
    }
    fclose(in);
    line[strcspn(line, "\n")] = 0;
    printf("data: %s\n", line);
    return 0;
}

int main(void)
{
    ssize_t n = readlink("/proc/self/exe", here, sizeof here - 1);
    if (n <= 0)
        return 1;
    here[n] = 0;
    *strrchr(here, '/') = 0;
    printf("core: %d\n", core_answer());
    fflush(stdout);
    return plugin() || helper() || data();
}
