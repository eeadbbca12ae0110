/* AArch64 entry: the kernel (or a loader) starts here with sp at argc and, for glibc's
   ld.so, rtld_fini in x0 (AAPCS64 process start).  Keep both, call C on an aligned
   stack, then restore them and jump where C says. */
	.section .text.entry,"ax",%progbits
	.globl _start
	.hidden _start
	.type _start, %function
_start:
	bti	jc                      /* landing pad: `ld.so app` enters by br from a BTI-guarded page */
	mov	x29, #0                 /* outermost frame */
	mov	x30, #0
	mov	x19, sp                 /* x19, x20: callee-saved, survive the call */
	mov	x20, x0
	mov	x0, sp
	and	sp, x0, #-16
	bl	relinterp_start         /* returns the address to continue at */
	mov	sp, x19
	mov	x16, x0                 /* br x16 suits every BTI landing pad kind at the target */
	mov	x0, x20
	br	x16
