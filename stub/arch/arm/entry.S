/* ARM (EABI) entry, in ARM state: the kernel starts an even e_entry in ARM state, and a
   loader's `bx` to it does too.  sp is at argc and, for glibc's ld.so, rtld_fini is in
   r0.  Keep both, call C (ARM or Thumb: bl becomes blx as needed) on an aligned stack,
   then restore them and `bx` where C says, which also enters a Thumb loader entry. */
	.syntax unified
	.arm
	.section .text.entry,"ax",%progbits
	.globl _start
	.hidden _start
	.type _start, %function
_start:
	mov	fp, #0                  /* outermost frame */
	mov	lr, #0
	mov	r4, sp                  /* r4, r5: callee-saved, survive the call */
	mov	r5, r0
	mov	r0, sp
	bic	r1, r0, #15
	mov	sp, r1
	bl	relinterp_start         /* returns the address to continue at */
	mov	sp, r4
	mov	ip, r0
	mov	r0, r5
	bx	ip
