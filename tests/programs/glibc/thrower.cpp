// libthrower.so: throws for the C++ probe, calls back into it, and has static and
// thread_local objects whose constructors and destructors print.
#include "thrower.h"

#include <unistd.h>

#include <cstring>

namespace thrower {

static bool show;

// Before the C++ static constructors (priority 65535); glibc passes argc and argv.
__attribute__((constructor(101))) static void enable(int argc, char **argv)
{
	show = argc > 1 && !std::strcmp(argv[1], "lifecycle");
}

static void write_line(const char *line)
{
	// write(2): destructors run after std::cout may be gone.
	if (write(1, line, std::strlen(line)) < 0 || write(1, "\n", 1) < 0)
		_exit(70);
}

static void say(const char *line)
{
	if (show)
		write_line(line);
}

Error::Error(const std::string &what, int code) : std::runtime_error(what), code(code) {}
Error::~Error() = default;

void fail(const std::string &what, int code)
{
	throw Error(what, code);
}

namespace {
struct Frame {
	~Frame() { write_line("library frame unwound"); }
};

struct Noisy {
	Noisy() { say("library static constructed"); }
	~Noisy() { say("library static destroyed"); }
};

Noisy library_static;

struct Counter {
	int uses = 0;
	~Counter() { say("library thread_local destroyed"); }
};
thread_local Counter counter;
}  // namespace

void call_through(void (*callback)())
{
	Frame frame;
	callback();
}

int thread_local_uses()
{
	return ++counter.uses;
}

}  // namespace thrower
