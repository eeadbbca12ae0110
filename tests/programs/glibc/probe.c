/* The glibc probe: argv[1] picks what to show.  Built with gcc by the tests, linked
   against libprobe.so with RUNPATH $ORIGIN/../lib, PIE and not. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <iconv.h>
#include <link.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

void say(const char *line);
int lib_tls_add(int n);
extern __thread int lib_tls;
extern void _start(void);
int main(int argc, char **argv);

static __thread int main_tls = 7;

static void *thread_main(void *arg)
{
	int n = (int)(long)arg;
	main_tls += n;
	return (void *)(long)(main_tls * 1000 + lib_tls_add(n));
}

static int threads(void)
{
	pthread_t t[8];
	long main_sum = 0, lib_sum = 0;
	for (long i = 0; i < 8; i++)
		if (pthread_create(&t[i], 0, thread_main, (void *)i))
			return 1;
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(t[i], &r);
		main_sum += (long)r / 1000;
		lib_sum += (long)r % 1000;
	}
	/* Each thread starts from the initial values 7 and 100 and adds 0..7. */
	printf("threads main_tls %ld lib_tls %ld; main thread keeps %d %d\n", main_sum, lib_sum, main_tls, lib_tls);
	return 0;
}

static void *plugin_thread(void *fn)
{
	return (void *)(long)((int (*)(void))fn)();
}

static int plugin(void)
{
	void *h = dlopen("libplugin.so", RTLD_NOW);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	int (*twice)(int) = (int (*)(int))dlsym(h, "plugin_twice");
	int (*tls)(void) = (int (*)(void))dlsym(h, "plugin_tls_value");
	Dl_info info;
	pthread_t t;
	void *other;
	if (!twice || !tls || !dladdr((void *)twice, &info))
		return 1;
	int answer = twice(21);
	if (pthread_create(&t, 0, plugin_thread, (void *)tls) || pthread_join(t, &other))
		return 1;
	/* This thread's copy went 1 -> 22; a new thread's copy starts at 1. */
	printf("plugin %d tls %d other thread %ld\nfrom %s\n", answer, tls(), (long)other, info.dli_fname);
	return 0;
}

static int show_lifecycle;

__attribute__((constructor)) static void init(int argc, char **argv)
{
	show_lifecycle = argc > 1 && !strcmp(argv[1], "lifecycle");
	if (show_lifecycle)
		say("main constructor");
}

__attribute__((destructor)) static void fini(void)
{
	if (show_lifecycle)
		say("main destructor");
}

static void registered_first(void) { say("atexit registered first"); }
static void registered_second(void) { say("atexit registered second"); }

static int lifecycle(void)
{
	atexit(registered_first);
	atexit(registered_second);
	say("main");
	return 0;
}

struct found {
	const char *name;
	uintptr_t addr;
	const ElfW(Phdr) *phdr;
	int phnum;
	int count;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data)
{
	struct found *f = data;
	(void)size;
	if (f->count++ == 0 && !f->name) { /* no name asked for: the first object */
		f->addr = info->dlpi_addr;
		f->phdr = info->dlpi_phdr;
		f->phnum = info->dlpi_phnum;
		return 1;
	}
	if (f->name && !strcmp(info->dlpi_name, f->name)) {
		f->addr = info->dlpi_addr;
		return 1;
	}
	return 0;
}

/* The loader's name, as the program's PT_INTERP gives it. */
static const char *interp_of(const struct found *main)
{
	for (int i = 0; i < main->phnum; i++)
		if (main->phdr[i].p_type == PT_INTERP)
			return (const char *)(main->addr + main->phdr[i].p_vaddr);
	return "";
}

static int auxv(void)
{
	struct found main = { 0 }, loader = { 0 };
	Dl_info info;
	dl_iterate_phdr(find_object, &main);
	loader.name = interp_of(&main);
	dl_iterate_phdr(find_object, &loader);
	/* A loader function the program does not reference: no PLT stand-in in a non-PIE. */
	void *fn = dlsym(RTLD_DEFAULT, "__tls_get_addr");
	if (!fn || !dladdr(fn, &info))
		return 1;
	printf("AT_BASE %#lx\n", getauxval(AT_BASE));
	printf("loader_by_dladdr %#lx\n", (unsigned long)info.dli_fbase);
	printf("loader_by_iterate %#lx\n", (unsigned long)loader.addr);
	printf("loader_file %s\n", info.dli_fname);
	printf("AT_ENTRY %#lx\n", getauxval(AT_ENTRY));
	printf("_start %#lx\n", (unsigned long)(uintptr_t)_start);
	printf("AT_PHDR %#lx\n", getauxval(AT_PHDR));
	printf("dlpi_phdr %#lx\n", (unsigned long)(uintptr_t)main.phdr);
	printf("AT_PHNUM %lu\n", getauxval(AT_PHNUM));
	printf("dlpi_phnum %d\n", main.phnum);
	return 0;
}

static int show_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size, (void)data;
	printf("object [%s]\n", info->dlpi_name);
	return 0;
}

/* The first object dl_iterate_phdr reports: its load bias, the address of main, the
   program header table the loader was given, then every object in order. */
static int phdrs(void)
{
	struct found main_object = { 0 };
	dl_iterate_phdr(find_object, &main_object);
	printf("bias %#lx\n", (unsigned long)main_object.addr);
	printf("main %#lx\n", (unsigned long)(uintptr_t)main);
	printf("table %#lx\n", (unsigned long)(uintptr_t)main_object.phdr);
	for (int i = 0; i < main_object.phnum; i++) {
		const ElfW(Phdr) *p = &main_object.phdr[i];
		printf("phdr %#x %#x %#lx %#lx %#lx %#lx %#lx\n", p->p_type, p->p_flags,
		       (unsigned long)p->p_offset, (unsigned long)p->p_vaddr, (unsigned long)p->p_filesz,
		       (unsigned long)p->p_memsz, (unsigned long)p->p_align);
	}
	printf("interp %s\n", interp_of(&main_object));
	dl_iterate_phdr(show_object, 0);
	return 0;
}

/* Every file mapped into the process. */
static int maps(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return 1;
	while (fgets(line, sizeof line, f)) {
		char *path = strchr(line, '/');
		if (path)
			printf("mapped %s", path);
	}
	fclose(f);
	return 0;
}

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
	} else if (!strcmp(what, "exit")) {
		return atoi(argv[2]);
	} else if (!strcmp(what, "threads")) {
		return threads();
	} else if (!strcmp(what, "plugin")) {
		return plugin();
	} else if (!strcmp(what, "lifecycle")) {
		return lifecycle();
	} else if (!strcmp(what, "auxv")) {
		return auxv();
	} else if (!strcmp(what, "phdrs")) {
		return phdrs();
	} else if (!strcmp(what, "maps")) {
		return maps();
	} else if (!strcmp(what, "iconv")) {
		/* Charsets outside libc.so.6 come from gconv modules, loaded by name. */
		iconv_t cd = iconv_open(argv[2], "UTF-8");
		printf("iconv %s %s\n", argv[2], cd == (iconv_t)-1 ? "unavailable" : "ok");
	} else if (!strcmp(what, "user")) {
		/* Through /etc/nsswitch.conf: the "files" service is part of libc.so.6. */
		struct passwd *pw = getpwnam(argv[2]);
		printf("user %s home %s\n", argv[2], pw ? pw->pw_dir : "(unknown)");
	} else {
		return 64;
	}
	return 0;
}
