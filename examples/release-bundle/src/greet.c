/* libgreet.so: linked into greeter. */
#include <stdio.h>

void greet(const char *name, char *out, unsigned long size)
{
	snprintf(out, size, "Hello, %s!", name);
}
