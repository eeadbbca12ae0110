/* libshout.so: a plugin greeter loads with dlopen() for --loud; nothing links it. */
#include <ctype.h>

void shout(char *text)
{
	for (; *text; text++)
		*text = toupper((unsigned char)*text);
}
