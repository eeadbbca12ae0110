/* What needs glibc's unwinder, libgcc_s.so.1, which glibc loads by name the first time
   it is asked: backtrace() (no frame without it) and pthread_exit() (which aborts
   without it).  The program itself does not need libgcc_s.so.1. */
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>

static void *thread(void *value)
{
	pthread_exit(value);
	return NULL;
}

int main(void)
{
	void *frames[32];
	int count = backtrace(frames, 32);
	printf("backtrace: %s\n", count > 0 ? "frames found" : "no frame");
	fflush(stdout);
	pthread_t id;
	void *value = NULL;
	if (pthread_create(&id, NULL, thread, (void *)42) != 0 || pthread_join(id, &value) != 0)
		return 1;
	printf("pthread_exit: the thread returned %ld\n", (long)value);
	return count > 0 ? 0 : 1;
}
