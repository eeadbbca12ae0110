// The C++ probe: argv[1] picks what to show.  Built with g++ by the tests, linked
// against libthrower.so with RUNPATH $ORIGIN/../lib, PIE and not.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "thrower.h"

namespace {

bool show;

// Before the C++ static constructors (priority 65535); glibc passes argc and argv.
__attribute__((constructor(101))) void enable(int argc, char **argv)
{
	show = argc > 1 && !std::strcmp(argv[1], "lifecycle");
}

void say(const char *line)
{
	if (show && (write(1, line, std::strlen(line)) < 0 || write(1, "\n", 1) < 0))
		_exit(70);
}

struct Noisy {
	const char *name;
	explicit Noisy(const char *n) : name(n) { say((std::string(n) + " constructed").c_str()); }
	~Noisy() { say((std::string(name) + " destroyed").c_str()); }
};

Noisy program_static("program static");

int caught_in_library_call()
{
	try {
		thrower::fail("thrown in the library", 7);
	} catch (const thrower::Error &e) {
		std::cout << "caught thrower::Error: " << e.what() << " (code " << e.code << ")" << std::endl;
		return 0;
	}
	return 1;
}

void throw_from_program()
{
	throw std::out_of_range("thrown in the program");
}

int caught_through_library_frames()
{
	try {
		thrower::call_through(throw_from_program);
	} catch (const std::out_of_range &e) {
		std::cout << "caught std::out_of_range: " << e.what() << std::endl;
		return 0;
	}
	return 1;
}

void at_exit() { say("atexit handler"); }

int lifecycle()
{
	static Noisy local("function-local static");
	std::atexit(at_exit);
	std::thread([] { thrower::thread_local_uses(); }).join();
	say("main returns");
	return 0;
}

}  // namespace

int main(int argc, char **argv)
{
	std::string what = argc > 1 ? argv[1] : "hello";
	if (what == "hello") {
		std::cout << "hello from iostream, " << 6 * 7 << std::endl;
	} else if (what == "throw") {
		return caught_in_library_call();
	} else if (what == "callback") {
		return caught_through_library_frames();
	} else if (what == "lifecycle") {
		return lifecycle();
	} else {
		return 64;
	}
	return 0;
}
