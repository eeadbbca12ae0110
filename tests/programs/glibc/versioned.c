/* libversioned.so: a library whose symbols carry versions, as glibc's and libstdc++'s do.
   The tests build it twice: version 1 (versioned_one@VERS_1 only), and version 2, which
   adds versioned_two@VERS_2 when built with -DVERSIONED_2. */
int versioned_one(void)
{
	return 1;
}

#ifdef VERSIONED_2
int versioned_two(void)
{
	return 2;
}
#endif
