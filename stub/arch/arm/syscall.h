/* ARM EABI system calls (svc #0; number in r7, args in r0..r5, result in r0).  The stub
   is built in ARM state, where r7 is not the frame pointer. */
#ifndef RELINTERP_ARCH_SYSCALL_H
#define RELINTERP_ARCH_SYSCALL_H

#include <elf.h>

#define STUB_MACHINE EM_ARM
#define STUB_MACHINE_NAME "arm"

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r7 __asm__("r7") = n;
	register long r0 __asm__("r0") = a;
	register long r1 __asm__("r1") = b;
	register long r2 __asm__("r2") = c;
	register long r3 __asm__("r3") = d;
	register long r4 __asm__("r4") = e;
	register long r5 __asm__("r5") = f;
	__asm__ __volatile__("svc #0"
		: "+r"(r0)
		: "r"(r7), "r"(r1), "r"(r2), "r"(r3), "r"(r4), "r"(r5)
		: "memory");
	return r0;
}

/* mmap2 takes the file offset in 4096-byte units whatever the page size. */
#define sys_mmap(addr, len, prot, flags, fd, off) \
	sys6(SYS_mmap2, (long)(addr), (long)(len), (prot), (flags), (fd), \
	     (long)((unsigned long)(off) >> 12))
/* EABI passes a 64-bit argument in an even/odd register pair: pread64's offset goes in
   r4:r5 (low word first), r3 stays unused.  A 32-bit loader's headers lie below 4 GiB. */
#define sys_pread(fd, buf, len, off) \
	sys6(SYS_pread64, (fd), (long)(buf), (long)(len), 0, (long)(off), 0)

#endif
