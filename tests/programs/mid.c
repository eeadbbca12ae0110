/* libmid.so: needs libbase.so and has no RUNPATH of its own, so musl finds libbase.so
   through the RUNPATH of whatever needed libmid.so (the needed-by chain). */
int base_value(void);

int mid_value(void)
{
	return base_value() + 2;
}
