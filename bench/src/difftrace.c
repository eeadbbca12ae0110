/* Runs a program under ptrace and says in one line how it ended, telling the kernel's
   refusals (execve failed, or the process was killed before its first instruction)
   from a run, and for a fatal signal, where the faulting instruction was (which file,
   at which offset), so that a fault in a stub can be told from one in a loader.

     difftrace -o REPORT [-t SECONDS] [-u UID -g GID [-G GID,...]] [-b OFFSET] -- PROGRAM ARGS...

   -u/-g/-G  run as that user (before execve, so the kernel opens PT_INTERP as it)
   -b        a breakpoint, as a debugger sets one, at OFFSET bytes past the start of the
             program's lowest mapping: hit once, reported, then removed

   REPORT gets one line: outcome=exit status=N | outcome=exec-error errno=N |
   outcome=exec-killed signal=N | outcome=signal signal=N pc=0x.. addr=0x.. map=FILE@0xOFF |
   outcome=timeout, each followed by bp=HITS.  x86 only (x86_64 tracer, x86_64 or i386
   tracee). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

static void on_alarm(int sig)
{
	(void)sig;
	kill(child, SIGKILL);
}

/* The mapping of /proc/PID/maps holding addr, into where: "FILE@0xOFFSET", or "-" if
   none.  Returns the start of exe's lowest mapping (its file offset 0), if exe is given. */
static unsigned long mapping(pid_t pid, unsigned long addr, const char *exe, char *where, size_t size)
{
	char path[64], line[4096 + 128];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *maps = fopen(path, "r");
	snprintf(where, size, "-");
	unsigned long start, end, offset, lowest = 0;
	while (maps && fgets(line, sizeof line, maps)) {
		char name[4096] = "";
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %4095[^\n]", &start, &end, &offset, name) < 3)
			continue;
		if (exe && !lowest && offset == 0 && strcmp(name, exe) == 0)
			lowest = start;
		if (addr >= start && addr < end)
			snprintf(where, size, "%s@0x%lx", name[0] ? name : "[anon]", addr - start + offset);
	}
	if (maps)
		fclose(maps);
	return lowest;
}

static void report(FILE *out, const char *what, int hits)
{
	fprintf(out, "%s bp=%d\n", what, hits);
	fclose(out);
}

static void start_child(char **argv, int fd, uid_t uid, gid_t gid, const char *groups)
{
	gid_t list[64];
	int n = 0;
	for (char *g = (char *)groups; g && *g && n < 64; g = strchr(g, ',') ? strchr(g, ',') + 1 : "")
		list[n++] = (gid_t)strtoul(g, 0, 10);
	if (uid != (uid_t)-1 && (setgroups(n, list) || setgid(gid) || setuid(uid)))
		_exit(126);
	ptrace(PTRACE_TRACEME, 0, 0, 0);
	execv(argv[0], argv);
	int e = errno;
	if (write(fd, &e, sizeof e) < 0)
		_exit(125);
	_exit(127);
}

/* After the exec stop: run to the end, forwarding signals; a breakpoint at bp (0: none). */
static void follow(FILE *out, unsigned long bp)
{
	int status, hits = 0;
	long saved = 0;
	char text[4400], where[4200];
	if (bp) {
		saved = ptrace(PTRACE_PEEKTEXT, child, bp, 0);
		ptrace(PTRACE_POKETEXT, child, bp, (saved & ~0xffL) | 0xcc);
	}
	ptrace(PTRACE_CONT, child, 0, 0);
	while (waitpid(child, &status, 0) == child) {
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		int sig = WSTOPSIG(status);
		struct user_regs_struct regs;
		siginfo_t info;
		ptrace(PTRACE_GETREGS, child, 0, &regs);
		if (sig == SIGTRAP && bp && regs.rip == bp + 1 && hits == 0) {
			hits++;
			ptrace(PTRACE_POKETEXT, child, bp, saved);
			regs.rip = bp;
			ptrace(PTRACE_SETREGS, child, 0, &regs);
			sig = 0;
		} else if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP ||
		           sig == SIGABRT || sig == SIGSYS) {
			ptrace(PTRACE_GETSIGINFO, child, 0, &info);
			mapping(child, regs.rip, 0, where, sizeof where);
			snprintf(text, sizeof text, "outcome=signal signal=%d pc=0x%llx addr=0x%lx map=%s", sig,
			         regs.rip, (unsigned long)info.si_addr, where);
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			report(out, text, hits);
			return;
		}
		ptrace(PTRACE_CONT, child, 0, sig);
	}
	if (WIFEXITED(status))
		snprintf(text, sizeof text, "outcome=exit status=%d", WEXITSTATUS(status));
	else
		snprintf(text, sizeof text,
		         WTERMSIG(status) == SIGKILL ? "outcome=timeout" : "outcome=signal signal=%d pc=0x0 addr=0x0 map=-",
		         WTERMSIG(status));
	report(out, text, hits);
}

int main(int argc, char **argv)
{
	const char *out_path = 0, *groups = 0;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	unsigned long offset = 0, seconds = 10;
	int opt, pipe_fd[2];
	while ((opt = getopt(argc, argv, "o:t:u:g:G:b:")) != -1) {
		if (opt == 'o') out_path = optarg;
		else if (opt == 't') seconds = strtoul(optarg, 0, 10);
		else if (opt == 'u') uid = (uid_t)strtoul(optarg, 0, 10);
		else if (opt == 'g') gid = (gid_t)strtoul(optarg, 0, 10);
		else if (opt == 'G') groups = optarg;
		else if (opt == 'b') offset = strtoul(optarg, 0, 0);
		else return 2;
	}
	FILE *out = out_path ? fopen(out_path, "w") : 0;
	if (!out || optind >= argc || pipe2(pipe_fd, O_CLOEXEC))
		return 2;
	char exe[4096];
	if (!realpath(argv[optind], exe))
		snprintf(exe, sizeof exe, "%s", argv[optind]);
	if ((child = fork()) == 0)
		start_child(argv + optind, pipe_fd[1], uid, gid, groups);
	close(pipe_fd[1]);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)seconds);
	int status, e = 0;
	char text[64], where[16];
	waitpid(child, &status, 0);
	/* The first stop of a traced child is its exec's SIGTRAP.  Without it, execve failed
	   (the errno comes through the pipe), or the kernel failed the exec after the point of
	   no return and kills the process: a SIGSEGV it delivers before any instruction runs. */
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
		int killed_by = WIFSTOPPED(status) ? WSTOPSIG(status) : WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		if (WIFSTOPPED(status)) {
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
		}
		if (read(pipe_fd[0], &e, sizeof e) == sizeof e)
			snprintf(text, sizeof text, "outcome=exec-error errno=%d", e);
		else if (killed_by)
			snprintf(text, sizeof text, "outcome=exec-killed signal=%d", killed_by);
		else
			snprintf(text, sizeof text, "outcome=setup-error status=%d", WEXITSTATUS(status));
		report(out, text, 0);
		return 0;
	}
	ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_EXITKILL);
	unsigned long base = offset ? mapping(child, 0, exe, where, sizeof where) : 0;
	follow(out, base ? base + offset : 0);
	return 0;
}
