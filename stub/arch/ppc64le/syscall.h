/* PowerPC 64 system calls: sc, number in r0, arguments in r3..r8; the result in r3, a
   positive errno when the summary-overflow bit of cr0 is set (made negative here, as
   the other architectures return it).  The kernel may change r0, r4..r12, ctr, xer, cr0. */
#ifndef RELINTERP_ARCH_SYSCALL_H
#define RELINTERP_ARCH_SYSCALL_H

#include <elf.h>

#define STUB_MACHINE EM_PPC64
#define STUB_MACHINE_NAME "ppc64le"

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r0 __asm__("r0") = n;
	register long r3 __asm__("r3") = a;
	register long r4 __asm__("r4") = b;
	register long r5 __asm__("r5") = c;
	register long r6 __asm__("r6") = d;
	register long r7 __asm__("r7") = e;
	register long r8 __asm__("r8") = f;
	__asm__ __volatile__("sc\n\t"
		"bns+ 0f\n\t"
		"neg %1, %1\n"
		"0:"
		: "+r"(r0), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6), "+r"(r7), "+r"(r8)
		:
		: "memory", "cr0", "r9", "r10", "r11", "r12", "ctr", "xer");
	return r3;
}

#define sys_mmap(addr, len, prot, flags, fd, off) \
	sys6(SYS_mmap, (long)(addr), (long)(len), (prot), (flags), (fd), (long)(off))
#define sys_pread(fd, buf, len, off) \
	sys6(SYS_pread64, (fd), (long)(buf), (long)(len), (long)(off), 0, 0)

#endif
