/* ARM (EABI) entry, in ARM state: the kernel starts an even e_entry in ARM state, and a
   loader's `bx` to it does too.  sp is at argc and, for glibc's ld.so, rtld_fini is in
   r0.  Keep both, call C (ARM or Thumb: bl becomes blx as needed) on an aligned stack,
   then restore them and `bx` where C says, which also enters a Thumb loader entry.
   r4 and r5 are given back as they came: glibc's ld.so (2.36) reads [sl, r4] at its
   entry, with r4 as the kernel leaves it (0); any other r4 faults there. */
	.syntax unified
	.arm
	.section .text.entry,"ax",%progbits
	.globl _start
	.hidden _start
	.type _start, %function
_start:
	push	{r4, r5}                /* below argc: free stack */
	mov	fp, #0                  /* outermost frame */
	mov	lr, #0
	mov	r4, sp                  /* r4, r5: callee-saved, survive the call */
	mov	r5, r0
	add	r0, sp, #8              /* argc */
	bic	r1, r4, #15
	mov	sp, r1
	bl	relinterp_start         /* returns the address to continue at */
	mov	sp, r4
	mov	ip, r0
	mov	r0, r5
	pop	{r4, r5}                /* sp is at argc again */
	bx	ip
