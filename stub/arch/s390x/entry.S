/* s390x entry: the kernel (or a loader) starts here with r15 at argc and, for glibc's
   ld.so, rtld_fini in r14 (the s390x ELF ABI's process start).  Keep both, call C on an
   aligned stack below the 160-byte save area a callee may write into, then restore
   them and jump where C says. */
	.section .text.entry,"ax",@progbits
	.globl _start
	.hidden _start
	.type _start, @function
_start:
	lgr	%r10, %r15              /* r10, r11: callee-saved, survive the call */
	lgr	%r11, %r14
	lgr	%r2, %r15
	lghi	%r0, -16
	ngr	%r15, %r0
	aghi	%r15, -160              /* the register save area of the callee */
	xc	0(8,%r15), 0(%r15)      /* back chain 0: outermost frame */
	brasl	%r14, relinterp_start   /* returns the address to continue at */
	lgr	%r15, %r10
	lgr	%r1, %r2
	lgr	%r14, %r11
	br	%r1
