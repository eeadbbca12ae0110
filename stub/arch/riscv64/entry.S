/* RISC-V 64 entry: the kernel (or a loader) starts here with sp at argc and, for glibc's
   ld.so, rtld_fini in a0 (psABI process start).  Keep both, call C on an aligned stack,
   then restore them and jump where C says.  gp is left alone: the program's own start-up
   code sets it up. */
	.section .text.entry,"ax",%progbits
	.globl _start
	.hidden _start
	.type _start, %function
_start:
	li	ra, 0                   /* outermost frame */
	mv	s0, sp                  /* s0, s1: callee-saved, survive the call */
	mv	s1, a0
	mv	a0, sp
	andi	sp, sp, -16
	call	relinterp_start         /* returns the address to continue at */
	mv	sp, s0
	mv	t1, a0
	mv	a0, s1
	jr	t1
