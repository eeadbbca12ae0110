/* 32 MiB of bss: more memory image past the end of the file than an embedded loader's
   patch will leave as a hole (the compact layout). */
#include <stdio.h>

static char big[32 << 20];

int main(void)
{
	big[sizeof big - 1] = 1;
	puts(big[sizeof big - 1] ? "hello" : "?");
	return 0;
}
