/* helper: run by runner; needs libshared.so, so it has a closure of its own. */
#include <stdio.h>

int shared_answer(void);

int main(int argc, char **argv)
{
	printf("helper %s: %d\n", argc > 1 ? argv[1] : "-", shared_answer() + 1);
	return 0;
}
