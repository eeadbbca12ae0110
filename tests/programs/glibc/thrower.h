// libthrower.so's interface: an exception type whose typeinfo and key function live in
// the library, so that catching it in the program matches typeinfo across objects.
#pragma once
#include <stdexcept>
#include <string>

namespace thrower {

struct Error : std::runtime_error {
	Error(const std::string &what, int code);
	~Error() override;  // the key function: vtable and typeinfo are emitted in the library
	int code;
};

[[noreturn]] void fail(const std::string &what, int code);
void call_through(void (*callback)());  // calls back with a library frame on the stack
int thread_local_uses();                // this thread's count, a thread_local in the library

}  // namespace thrower
