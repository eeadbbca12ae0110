/* libprobe.so: a library the glibc probe is linked against (DT_NEEDED).  Its TLS lives
   in the static TLS block set up at start-up; its destructor is run only by the
   loader's _dl_fini, which reaches exit() through the rtld_fini pointer ld.so passes
   to the program's entry point. */
#include <string.h>
#include <unistd.h>

__thread int lib_tls = 100;

void say(const char *line)
{
	/* write(2), not stdio: lines from constructors, destructors and exit handlers keep
	   their order whatever is buffered where. */
	if (write(1, line, strlen(line)) < 0 || write(1, "\n", 1) < 0)
		_exit(70);
}

int lib_tls_add(int n)
{
	lib_tls += n;
	return lib_tls;
}

static int show;

/* glibc passes argc and argv to the constructors of shared objects too. */
__attribute__((constructor)) static void init(int argc, char **argv)
{
	show = argc > 1 && !strcmp(argv[1], "lifecycle");
	if (show)
		say("libprobe constructor");
}

__attribute__((destructor)) static void fini(void)
{
	if (show)
		say("libprobe destructor");
}
