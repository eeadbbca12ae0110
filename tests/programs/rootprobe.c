/* What a program sees of the root it runs in: the names in /, and whether it can write
   to the tree, to the emulator placed beside it, or read a file of the host. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void try_open(const char *path, int flags)
{
	int fd = open(path, flags, 0644);
	printf("%s: %s\n", path, fd >= 0 ? "opened" : strerror(errno));
}

int main(int argc, char **argv)
{
	char *names[64];
	int n = 0;
	DIR *root = opendir("/");
	for (struct dirent *e; root && n < 64 && (e = readdir(root));)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	qsort(names, n, sizeof *names, by_name);
	printf("/:");
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
	try_open("/bundle/bin/written", O_WRONLY | O_CREAT);
	for (int i = 1; i < argc; i++)
		try_open(argv[i], O_WRONLY);
	try_open("/etc/passwd", O_RDONLY);
	return 0;
}
