/* libcrash.so: loaded only by dlopen(); plugin_fn(1) writes through a null pointer. */
int plugin_fn(int crash)
{
	volatile int *target = crash ? (int *)0 : &crash;
	*target = 7;
	return *target;
}
