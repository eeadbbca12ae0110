/* libplugin.so: loaded only by dlopen, found through the probe's RUNPATH.  Its TLS is
   allocated on first use in each thread (dynamic TLS, via __tls_get_addr). */
__thread int plugin_tls = 1;

int plugin_twice(int x)
{
	plugin_tls += x;
	return 2 * x;
}

int plugin_tls_value(void)
{
	return plugin_tls;
}
