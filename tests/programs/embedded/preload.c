/* libpreload.so: given in LD_PRELOAD, it adds a symbol the program looks up. */
const char *preload_marker(void)
{
	return "loaded";
}
