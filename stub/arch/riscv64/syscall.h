/* RISC-V 64 system calls (ecall; number in a7, args in a0..a5, result in a0). */
#ifndef RELINTERP_ARCH_SYSCALL_H
#define RELINTERP_ARCH_SYSCALL_H

#include <elf.h>

#define STUB_MACHINE EM_RISCV
#define STUB_MACHINE_NAME "riscv64"
/* The kernel's elf_check_arch on riscv (with 32-bit compat, since 5.19) reads the class too. */
#define STUB_MACHINE_OK(eh) ((eh)->e_machine == EM_RISCV && (eh)->e_ident[EI_CLASS] == ELFCLASS64)

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long a7 __asm__("a7") = n;
	register long a0 __asm__("a0") = a;
	register long a1 __asm__("a1") = b;
	register long a2 __asm__("a2") = c;
	register long a3 __asm__("a3") = d;
	register long a4 __asm__("a4") = e;
	register long a5 __asm__("a5") = f;
	__asm__ __volatile__("ecall"
		: "+r"(a0)
		: "r"(a7), "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5)
		: "memory");
	return a0;
}

#define sys_mmap(addr, len, prot, flags, fd, off) \
	sys6(SYS_mmap, (long)(addr), (long)(len), (prot), (flags), (fd), (long)(off))
#define sys_pread(fd, buf, len, off) \
	sys6(SYS_pread64, (fd), (long)(buf), (long)(len), (long)(off), 0, 0)

#endif
