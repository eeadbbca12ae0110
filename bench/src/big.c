/* A big dynamic program: the payload (payload.S) is most of the file.  Reading bytes
 * spread over all of it shows that the whole payload was mapped where it belongs. */
#include <stdio.h>

extern const unsigned char payload[], payload_end[];

int main(void)
{
    unsigned long size = payload_end - payload, sum = 0;
    for (unsigned long i = 0; i < 16; i++)
        sum += payload[size / 16 * i];
    printf("payload %lu bytes, checksum %lu\n", size, sum);
    return 0;
}
