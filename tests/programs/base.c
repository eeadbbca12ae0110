/* libbase.so: at the bottom of chain's libraries; needs nothing but libc. */
int base_value(void)
{
	return 40;
}
