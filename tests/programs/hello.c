/* The smallest program: for static builds and object files. */
#include <stdio.h>

int main(void)
{
	puts("hello");
	return 0;
}
