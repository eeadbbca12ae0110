/* runner: what a program that finds its parts relative to itself does.  It changes to
 * its own directory, reads ../share/runner/message.txt and runs ../libexec/runner/helper
 * by that relative path, passing its first argument on; its status is the helper's. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char self[PATH_MAX], line[200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0) {
		perror("runner: /proc/self/exe");
		return 2;
	}
	self[n] = 0;
	if (chdir(dirname(self)) != 0) {
		perror("runner: chdir");
		return 2;
	}
	FILE *message = fopen("../share/runner/message.txt", "r");
	if (!message || !fgets(line, sizeof line, message)) {
		perror("runner: ../share/runner/message.txt");
		return 3;
	}
	fputs(line, stdout);
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		execl("../libexec/runner/helper", "helper", argc > 1 ? argv[1] : "-", (char *)0);
		perror("runner: ../libexec/runner/helper");
		_exit(127);
	}
	int status;
	if (child < 0 || waitpid(child, &status, 0) < 0)
		return 4;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 5;
}
