/* A program whose libraries the loader finds only by searching: it needs libmid.so,
   which needs libbase.so.  argv[1] picks what to show. */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mid_value(void);

static int plugin(void)
{
	void *h = dlopen("libplugin.so", RTLD_NOW);
	int (*twice)(int) = h ? (int (*)(int))dlsym(h, "plugin_twice") : 0;
	if (!twice) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	printf("plugin %d\n", twice(mid_value()));
	return 0;
}

/* What the root directory holds: in an empty root, only the tree and /proc, /dev, /tmp. */
static int root(void)
{
	DIR *d = opendir("/");
	struct dirent *e;
	if (!d)
		return 1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			printf("/%s\n", e->d_name);
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "value";
	if (!strcmp(what, "value")) {
		printf("mid %d\n", mid_value());
		return 0;
	}
	if (!strcmp(what, "plugin"))
		return plugin();
	if (!strcmp(what, "root"))
		return root();
	if (!strcmp(what, "exit") && argc > 2)
		return atoi(argv[2]);
	fprintf(stderr, "chain: unknown command %s\n", what);
	return 2;
}
