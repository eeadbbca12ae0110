/* A program built against version 2 of libversioned.so: glibc's loader refuses to start
   it with version 1 ("version `VERS_2' not found"). */
#include <stdio.h>

int versioned_one(void);
int versioned_two(void);

int main(void)
{
	printf("versioned %d %d\n", versioned_one(), versioned_two());
	return 0;
}
