/* i386 system calls: int $0x80 (works on every kernel and CPU, needs no vDSO); number in
   eax, args in ebx ecx edx esi edi ebp, result in eax. */
#ifndef RELINTERP_ARCH_SYSCALL_H
#define RELINTERP_ARCH_SYSCALL_H

#include <elf.h>

#define STUB_MACHINE EM_386
#define STUB_MACHINE_NAME "i386"
/* The kernel's elf_check_arch_ia32 also takes EM_486 (6), which <elf.h> may not name. */
#define STUB_MACHINE_OK(eh) ((eh)->e_machine == EM_386 || (eh)->e_machine == 6)

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	/* A constraint cannot name ebp (it may be the frame pointer): it is saved around the
	   call, and the sixth argument, unless known to be 0, goes through memory with the
	   number. */
	long ret;
	if (__builtin_constant_p(f) && f == 0) {
		__asm__ __volatile__("push %%ebp\n\t"
			"xor %%ebp, %%ebp\n\t"
			"int $0x80\n\t"
			"pop %%ebp"
			: "=a"(ret)
			: "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
			: "memory");
		return ret;
	}
	long nf[2] = { n, f };
	__asm__ __volatile__("push %%ebp\n\t"
		"mov 4(%%eax), %%ebp\n\t"
		"mov (%%eax), %%eax\n\t"
		"int $0x80\n\t"
		"pop %%ebp"
		: "=a"(ret)
		: "a"(nf), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
		: "memory");
	return ret;
}

/* mmap2 takes the file offset in 4096-byte units whatever the page size. */
#define sys_mmap(addr, len, prot, flags, fd, off) \
	sys6(SYS_mmap2, (long)(addr), (long)(len), (prot), (flags), (fd), \
	     (long)((unsigned long)(off) >> 12))
/* pread64's 64-bit offset is two arguments, low word first; a 32-bit program's headers
   never lie beyond 4 GiB. */
#define sys_pread(fd, buf, len, off) \
	sys6(SYS_pread64, (fd), (long)(buf), (long)(len), (long)(off), 0, 0)

#endif
