/* libtls.so: a thread-local variable the debugger must be able to print. */
__thread int tls_var = 1;

int tls_bump(int by)
{
	return tls_var += by;
}
