/* A program for the tools users run after patching: one library call, and a
   constructor that leaves a mark when asked to, so a test can tell it never ran. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int shared_answer(void);

__attribute__((constructor)) static void mark(void)
{
	const char *marker = getenv("ANSWER_MARKER");
	if (marker)
		close(open(marker, O_CREAT | O_WRONLY, 0644));
}

int main(void)
{
	printf("answer %d\n", shared_answer());
	return 0;
}
