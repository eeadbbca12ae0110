/* A program to debug: 4 threads, a thread-local variable in a shared library, and a
   plugin loaded with dlopen() whose function crashes.  argv[1]: "crash" calls it,
   "wait" blocks in main (to be attached to), anything else only loads it. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern __thread int tls_var; /* in libtls.so */
int tls_bump(int by);

static pthread_barrier_t all_started;

static void *worker(void *arg)
{
	tls_bump((int)(long)arg);
	pthread_barrier_wait(&all_started);
	pthread_barrier_wait(&all_started); /* held until main has crashed or finished */
	return 0;
}

static int run_plugin(const char *what)
{
	void *plugin = dlopen("libcrash.so", RTLD_NOW);
	if (!plugin) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	int (*plugin_fn)(int) = (int (*)(int))dlsym(plugin, "plugin_fn");
	return plugin_fn(strcmp(what, "crash") == 0);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "load";
	pthread_t threads[3];
	pthread_barrier_init(&all_started, 0, 4);
	for (long i = 0; i < 3; i++)
		pthread_create(&threads[i], 0, worker, (void *)(i + 1));
	pthread_barrier_wait(&all_started);
	tls_var = 42;
	if (strcmp(what, "wait") == 0) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		pause();
	}
	int result = run_plugin(what);
	printf("plugin returned %d, tls_var %d\n", result, tls_var);
	pthread_barrier_wait(&all_started);
	for (int i = 0; i < 3; i++)
		pthread_join(threads[i], 0);
	return 0;
}
