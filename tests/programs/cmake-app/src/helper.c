#include <stdio.h>

int main(void)
{
    puts("helper ran");
    return 0;
}
