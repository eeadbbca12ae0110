/* s390x system calls: svc 0, number in r1, arguments in r2..r7, result in r2 (a negative
   errno on failure).  mmap is the old form: its six arguments in memory, r2 pointing at
   them (the kernel's s390_old_mmap). */
#ifndef RELINTERP_ARCH_SYSCALL_H
#define RELINTERP_ARCH_SYSCALL_H

#include <elf.h>

#define STUB_MACHINE EM_S390
#define STUB_MACHINE_NAME "s390x"
/* The kernel's elf_check_arch on s390 also takes EM_S390_OLD (0xa390) and reads the class. */
#define STUB_MACHINE_OK(eh) \
	(((eh)->e_machine == EM_S390 || (eh)->e_machine == 0xa390) && (eh)->e_ident[EI_CLASS] == ELFCLASS64)

/* larl, the PC-relative address, reaches even addresses only: declared 2-aligned (as code
   is), the entry's address is taken with it, not through a GOT offset in writable data. */
extern const char _start[] __attribute__((aligned(2)));

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r1 __asm__("r1") = n;
	register long r2 __asm__("r2") = a;
	register long r3 __asm__("r3") = b;
	register long r4 __asm__("r4") = c;
	register long r5 __asm__("r5") = d;
	register long r6 __asm__("r6") = e;
	register long r7 __asm__("r7") = f;
	__asm__ __volatile__("svc 0"
		: "+r"(r2)
		: "r"(r1), "r"(r3), "r"(r4), "r"(r5), "r"(r6), "r"(r7)
		: "memory");
	return r2;
}

#define sys_mmap(addr, len, prot, flags, fd, off) \
	sys6(SYS_mmap, (long)(long[6]){ (long)(addr), (long)(len), (prot), (flags), (fd), (long)(off) }, \
	     0, 0, 0, 0, 0)
#define sys_pread(fd, buf, len, off) \
	sys6(SYS_pread64, (fd), (long)(buf), (long)(len), (long)(off), 0, 0)

#endif
