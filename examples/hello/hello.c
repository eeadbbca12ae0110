#include <stdio.h>

int main(int argc, char **argv)
{
	printf("Hello, %s, from a relocatable musl program!\n", argc > 1 ? argv[1] : "world");
	return 0;
}
