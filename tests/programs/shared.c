/* libshared.so: data the probe reaches by copy relocation, code it calls. */
int shared_counter = 41;

int shared_answer(void)
{
	return shared_counter; /* sees the program's copy after the copy relocation */
}
