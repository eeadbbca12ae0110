#include <stdio.h>

void greet(const char *name)
{
    printf("hello, %s, from a shared library beside me\n", name);
}
