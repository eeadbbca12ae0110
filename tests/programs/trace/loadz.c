/* loadz: a program that loads a library of the system by its name at run time, as a
 * program with optional compression support does (dlopen("libz.so.1")), and reads the
 * time zone (/etc/localtime, unless TZ is set), as date does.  Prints zlib's version. */
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

int main(void)
{
	void *z = dlopen("libz.so.1", RTLD_NOW);
	const char *(*version)(void) = z ? (const char *(*)(void))dlsym(z, "zlibVersion") : 0;
	if (!version) {
		fprintf(stderr, "loadz: %s\n", dlerror());
		return 1;
	}
	time_t now = time(0);
	printf("loadz: zlib %s, %s\n", version(), localtime(&now) ? "local time known" : "no local time");
	return 0;
}
