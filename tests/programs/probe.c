/* One program, many behaviours: argv[1] picks what to show.  Built with musl-gcc by the
   tests, linked against libshared.so with RUNPATH $ORIGIN/../lib. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern int shared_counter;          /* defined in libshared.so: a copy relocation here */
int shared_answer(void);

static __thread int per_thread = 7;

/* The program's own entry in dl_iterate_phdr: what the loader was told at start-up. */
static int show_interp(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size, (void)data;
	printf("first %s\n", info->dlpi_phdr[0].p_type == PT_PHDR ? "PT_PHDR" : "other");
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_INTERP)
			printf("interp %s\n", (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr));
	return 1; /* the program comes first; stop there */
}

static int interp(void)
{
	Dl_info info;
	dl_iterate_phdr(show_interp, 0);
	/* A libc function the program does not reference: no canonical PLT entry in a
	   non-PIE program to stand in for it. */
	void *fn = dlsym(RTLD_DEFAULT, "fnmatch");
	if (!fn || !dladdr(fn, &info))
		return 1;
	printf("libc %s\n", info.dli_fname);
	return 0;
}

static void *thread_main(void *arg)
{
	per_thread += (int)(long)arg;
	return (void *)(long)per_thread;
}

static int threads(void)
{
	pthread_t t[8];
	long sum = 0;
	for (long i = 0; i < 8; i++)
		if (pthread_create(&t[i], 0, thread_main, (void *)i))
			return 1;
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(t[i], &r);
		sum += (long)r;
	}
	printf("threads %ld main %d\n", sum, per_thread); /* 8*7 + 0..7 = 84; main keeps 7 */
	return 0;
}

static int plugin(void)
{
	void *h = dlopen("libplugin.so", RTLD_NOW);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	int (*fn)(int) = (int (*)(int))dlsym(h, "plugin_twice");
	Dl_info info;
	if (!fn || !dladdr((void *)fn, &info))
		return 1;
	printf("plugin %d from %s\n", fn(21), strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname);
	return 0;
}

static int memory(void)
{
	size_t big = 64u << 20;
	char *small = malloc(24), *large = malloc(big);
	if (!small || !large)
		return 1;
	memset(large, 0x5a, big);
	strcpy(small, "ok");
	printf("malloc %s %d\n", small, large[big - 1]);
	free(large);
	free(small);
	return 0;
}

static void last(void) { puts("atexit first-registered"); }
static void first(void) { puts("atexit last-registered"); }
static int show_destructor;
__attribute__((destructor)) static void dtor(void)
{
	if (show_destructor)
		puts("destructor");
}
__attribute__((constructor)) static void ctor(void) { per_thread = 7; }

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "hello";
	if (!strcmp(what, "hello")) {
		puts("hello");
	} else if (!strcmp(what, "args")) {
		printf("argc %d\n", argc);
		for (int i = 0; i < argc; i++)
			printf("[%s]\n", argv[i]);
	} else if (!strcmp(what, "env")) {
		const char *v = getenv(argv[2]);
		printf("%s=%s\n", argv[2], v ? v : "(unset)");
	} else if (!strcmp(what, "exe")) {
		char buf[4096];
		ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
		buf[n < 0 ? 0 : n] = 0;
		printf("exe %s\nargv0 %s\n", buf, argv[0]);
	} else if (!strcmp(what, "threads")) {
		return threads();
	} else if (!strcmp(what, "plugin")) {
		return plugin();
	} else if (!strcmp(what, "copyreloc")) {
		shared_counter += 1;
		printf("counter %d answer %d\n", shared_counter, shared_answer());
	} else if (!strcmp(what, "malloc")) {
		return memory();
	} else if (!strcmp(what, "atexit")) {
		show_destructor = 1;
		atexit(last);
		atexit(first);
	} else if (!strcmp(what, "signal")) {
		fflush(stdout);
		raise(SIGSEGV);
	} else if (!strcmp(what, "exit")) {
		return atoi(argv[2]);
	} else if (!strcmp(what, "interp")) {
		return interp();
	} else if (!strcmp(what, "auxv")) {
		printf("base %s entry %s\n", getauxval(AT_BASE) ? "set" : "zero",
		       getauxval(AT_ENTRY) ? "set" : "zero");
	} else {
		return 64;
	}
	return 0;
}
