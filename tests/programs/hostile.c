/* A program that tries to get out of the empty root `relinterp verify --run` runs it in.
 * Built static, so that it starts there.  Each attempt prints one line saying what it got;
 * a line starting with "ESCAPED" means it did what the sandbox must prevent.  It never
 * prints what it injects into a terminal, and never writes to a kernel setting. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

static void say(const char *what, int ok, const char *detail) {
    printf("%s%s: %s\n", ok ? "ESCAPED " : "", what, ok ? detail : strerror(errno));
    fflush(stdout);
}

/* A step on the way, not an escape by itself. */
static void step(const char *what, int ok) {
    printf("%s: %s\n", what, ok ? "done" : strerror(errno));
    fflush(stdout);
}

/* Root of a user namespace of its own, where it has every capability: the way in for a
 * program that has none outside. */
static int own_user_namespace(void) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return step("unshare(CLONE_NEWUSER|CLONE_NEWNS)", 0), -1;
    char map[64];
    int fd = open("/proc/self/setgroups", O_WRONLY);
    if (fd >= 0) { (void)!write(fd, "deny", 4); close(fd); }
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    fd = open("/proc/self/uid_map", O_WRONLY);
    if (fd >= 0) { (void)!write(fd, map, strlen(map)); close(fd); }
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    fd = open("/proc/self/gid_map", O_WRONLY);
    if (fd >= 0) { (void)!write(fd, map, strlen(map)); close(fd); }
    return 0;
}

/* The classic way out of a chroot: chroot into a subdirectory, climb out of it with
 * "..", chroot there. */
static void climb_out(void) {
    mkdir("/tmp/climb", 0755);
    if (chroot("/tmp/climb") != 0)
        return step("chroot", 0);
    for (int i = 0; i < 64; i++)
        (void)!chdir("..");
    step("chroot(\".\") after climbing", chroot(".") == 0);
}

static void read_file(const char *path) {
    char buf[64];
    int fd = open(path, O_RDONLY);
    say(path, fd >= 0 && read(fd, buf, sizeof buf) > 0, "read");
    if (fd >= 0)
        close(fd);
}

/* DIR is a directory of the host, outside the tree, where anyone may create files and
 * read DIR/marker. */
static void try_outside(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/created-by-the-program", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    say(path, fd >= 0, "created");
    snprintf(path, sizeof path, "%s/marker", dir);
    read_file(path);
    read_file("/etc/shadow");
}

static int escape(const char *dir) {
    try_outside(dir);
    climb_out();
    try_outside(dir);
    if (fork() == 0) {  /* again with every capability of a namespace of its own */
        if (own_user_namespace() == 0) {
            climb_out();
            try_outside(dir);
        }
        _exit(0);
    }
    wait(NULL);
    return 0;
}

/* Who it runs as, with what privileges, and whether it has a network. */
static int status(void) {
    char line[256];
    FILE *file = fopen("/proc/self/status", "r");
    while (file && fgets(line, sizeof line, file))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Cap", 3) ||
            !strncmp(line, "NoNewPrivs:", 11))
            fputs(line, stdout);
    struct sockaddr_in far = {.sin_family = AF_INET, .sin_port = htons(9)};
    far.sin_addr.s_addr = htonl(0xC0000201);  /* 192.0.2.1, TEST-NET-1 */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    say("network", fd >= 0 && connect(fd, (struct sockaddr *)&far, sizeof far) == 0, "reachable");
    return 0;
}

static void open_for_writing(const char *path) {
    int fd = open(path, O_WRONLY);
    say(path, fd >= 0, "opened for writing");  /* and closed unwritten */
    if (fd >= 0)
        close(fd);
}

static int procsys(void) {
    open_for_writing("/proc/sys/kernel/core_pattern");
    open_for_writing("/proc/sysrq-trigger");
    if (own_user_namespace() == 0) {
        say("remount /proc/sys read-write", mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL) == 0, "done");
        step("a new /proc", mount("proc", "/tmp", "proc", 0, NULL) == 0);
        open_for_writing("/proc/sys/kernel/core_pattern");
        open_for_writing("/tmp/sys/kernel/core_pattern");
    }
    return 0;
}

static void write_into(const char *dir, const char *how) {
    char path[4096];
    snprintf(path, sizeof path, "%s/written-%s", dir, how);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    say(path, fd >= 0 && write(fd, "x", 1) == 1, "written");
}

static int tree(const char *dir) {
    write_into(dir, "directly");
    say("remount the tree read-write", mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND, NULL) == 0, "done");
    write_into(dir, "after-remount");
    if (own_user_namespace() == 0) {
        say("remount it in a namespace of its own", mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND, NULL) == 0, "done");
        write_into(dir, "after-own-remount");
        step("unmount it", umount2(dir, MNT_DETACH) == 0);
        write_into(dir, "after-unmount");
    }
    return 0;
}

static int read_stdin(void) {
    char buf[256];
    ssize_t n = read(0, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("stdin gave %zd bytes: %s\n", n, buf);
    return 0;
}

static void inject(int fd, const char *name) {
    const char *text = "echo INJ" "ECTED\n";
    int ok = 1;
    for (const char *c = text; *c && ok; c++)
        ok = ioctl(fd, TIOCSTI, c) == 0;
    say(name, ok, "typed into the terminal");
}

static int tiocsti(void) {
    inject(0, "TIOCSTI on stdin");
    inject(1, "TIOCSTI on stdout");
    inject(2, "TIOCSTI on stderr");
    int fd = open("/dev/tty", O_RDWR);
    if (fd < 0)
        return say("/dev/tty", 0, ""), 0;
    inject(fd, "TIOCSTI on /dev/tty");
    return 0;
}

static void print_pid_namespace(void) {
    char link[64] = "";
    (void)!readlink("/proc/self/ns/pid", link, sizeof link - 1);
    printf("pid namespace %s\n", link);
    fflush(stdout);
}

static int forks(int wanted) {
    static pid_t children[100000];
    int made = 0;
    for (; made < wanted && made < 100000; made++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            pause();
            _exit(0);
        }
        children[made] = pid;
    }
    printf("forked %d of %d: %s\n", made, wanted, made < wanted ? strerror(errno) : "all");
    fflush(stdout);
    for (int i = 0; i < made; i++)
        kill(children[i], SIGKILL);
    while (wait(NULL) > 0)
        ;
    return 0;
}

static int daemonise(void) {
    print_pid_namespace();
    if (fork() == 0) {
        setsid();
        if (fork() == 0)
            for (;;)
                pause();
        _exit(0);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "escape") && argc > 2) return escape(argv[2]);
    if (!strcmp(what, "status")) return status();
    if (!strcmp(what, "procsys")) return procsys();
    if (!strcmp(what, "tree") && argc > 2) return tree(argv[2]);
    if (!strcmp(what, "stdin")) return read_stdin();
    if (!strcmp(what, "tiocsti")) return tiocsti();
    if (!strcmp(what, "forks") && argc > 2) return forks(atoi(argv[2]));
    if (!strcmp(what, "daemon")) return daemonise();
    if (!strcmp(what, "sleep")) {
        print_pid_namespace();
        for (;;)
            pause();
    }
    if (!strcmp(what, "forkbomb")) {
        print_pid_namespace();
        for (;;)
            fork();
    }
    if (!strcmp(what, "flood")) {
        static char buf[65536];
        memset(buf, 'x', sizeof buf);
        for (;;)
            if (write(1, buf, sizeof buf) < 0)
                return 1;
    }
    fprintf(stderr, "usage: hostile escape DIR|status|procsys|tree DIR|stdin|tiocsti|forks N|daemon|sleep|forkbomb|flood\n");
    return 2;
}
