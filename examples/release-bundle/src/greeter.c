/* greeter [--loud] NAME: greets NAME through libgreet.so; --loud loads libshout.so. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

void greet(const char *name, char *out, unsigned long size);

int main(int argc, char **argv)
{
	char text[256];
	int loud = argc > 1 && !strcmp(argv[1], "--loud");
	const char *name = argc > 1 + loud ? argv[1 + loud] : "world";

	greet(name, text, sizeof text);
	if (loud) {
		void *plugin = dlopen("libshout.so", RTLD_NOW);
		void (*shout)(char *) = plugin ? (void (*)(char *))dlsym(plugin, "shout") : 0;
		if (!shout) {
			fprintf(stderr, "greeter: %s\n", dlerror());
			return 1;
		}
		shout(text);
	}
	puts(text);
	return 0;
}
