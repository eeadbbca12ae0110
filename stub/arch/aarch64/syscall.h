/* AArch64 system calls (svc #0; number in x8, args in x0..x5, result in x0). */
#ifndef RELINTERP_ARCH_SYSCALL_H
#define RELINTERP_ARCH_SYSCALL_H

#include <elf.h>

#define STUB_MACHINE EM_AARCH64
#define STUB_MACHINE_NAME "aarch64"

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ __volatile__("svc #0"
		: "+r"(x0)
		: "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
		: "memory");
	return x0;
}

#define sys_mmap(addr, len, prot, flags, fd, off) \
	sys6(SYS_mmap, (long)(addr), (long)(len), (prot), (flags), (fd), (long)(off))
#define sys_pread(fd, buf, len, off) \
	sys6(SYS_pread64, (fd), (long)(buf), (long)(len), (long)(off), 0, 0)

#endif
