/* A program that needs nothing but its C library: one file once its loader is embedded
   in it.  argv[1] picks what to show. */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int plugin(const char *path)
{
	void *h = dlopen(path, RTLD_NOW);
	int (*twice)(int) = h ? (int (*)(int))dlsym(h, "plugin_twice") : 0;
	if (!twice) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	printf("plugin %d\n", twice(21));
	return 0;
}

/* Defined only by a library given in LD_PRELOAD. */
static int preloaded(void)
{
	const char *(*marker)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "preload_marker");
	printf("preload %s\n", marker ? marker() : "absent");
	return 0;
}

/* What the loader calls itself and the program's own entry of dl_iterate_phdr. */
static int show(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size, (void)data;
	printf("object [%s]\n", info->dlpi_name);
	return 0;
}

static int loader(void)
{
	Dl_info info;
	if (!dladdr((void *)dlsym(RTLD_DEFAULT, "fnmatch"), &info))
		return 1;
	printf("libc [%s]\n", info.dli_fname);
	return dl_iterate_phdr(show, 0);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "hello";
	if (!strcmp(what, "hello")) {
		puts("hello");
	} else if (!strcmp(what, "exe")) {
		char buf[4096];
		ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
		buf[n < 0 ? 0 : n] = 0;
		printf("exe %s\nargv0 %s\n", n < 0 ? "(none)" : buf, argv[0]);
	} else if (!strcmp(what, "plugin") && argc > 2) {
		return plugin(argv[2]);
	} else if (!strcmp(what, "preload")) {
		return preloaded();
	} else if (!strcmp(what, "loader")) {
		return loader();
	} else {
		return 64;
	}
	return 0;
}
