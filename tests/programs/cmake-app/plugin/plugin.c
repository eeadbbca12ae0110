/* A plugin needing the system's zlib: compresses and uncompresses a string. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

int plugin_report(char *out, size_t size)
{
    const char text[] = "relinterp relinterp relinterp relinterp";
    Bytef packed[128], unpacked[128];
    uLongf packed_size = sizeof packed, unpacked_size = sizeof unpacked;
    if (compress(packed, &packed_size, (const Bytef *)text, sizeof text) != Z_OK
        || uncompress(unpacked, &unpacked_size, packed, packed_size) != Z_OK
        || unpacked_size != sizeof text || memcmp(unpacked, text, sizeof text) != 0)
        return -1;
    snprintf(out, size, "zlib %s, %zu bytes in %lu", zlibVersion(), sizeof text, (unsigned long)packed_size);
    return 0;
}
