/* libplugin.so: loaded only by dlopen, found through the probe's RUNPATH. */
int plugin_twice(int x)
{
	return 2 * x;
}
