/* PowerPC 64 ELFv2 entry.  The kernel starts here with r1 at argc; glibc's ld.so, run as
   `ld.so app`, enters with a NULL on top of the stack and argc, argv, envp, auxv and
   rtld_fini in r3..r7.  Whoever enters sets r12 to this address (the ELFv2 rule for a
   global entry point), and the TOC pointer r2 follows from it.  Keep r1 and r3..r7, hand
   C the stack that holds argc, then restore them and jump where C says, r12 = target. */
	.abiversion 2
	.section .text.entry,"ax",@progbits
	.globl _start
	.hidden _start
	.type _start, @function
_start:
0:	addis	2, 12, (.TOC.-0b)@ha
	addi	2, 2, (.TOC.-0b)@l
	mr	14, 1                   /* r14..r19: non-volatile, survive the call */
	mr	15, 3
	mr	16, 4
	mr	17, 5
	mr	18, 6
	mr	19, 7
	mr	3, 1
	ld	0, 0(1)                 /* argc from the kernel, NULL from glibc's ld.so */
	cmpdi	0, 0
	bne	1f
	cmpdi	16, 0
	beq	1f
	std	15, -8(16)              /* glibc >= 2.36 has put argc before argv: make sure */
	addi	3, 16, -8
1:	clrrdi	1, 1, 4
	li	0, 0
	stdu	0, -32(1)               /* the minimal frame, back chain NULL: outermost */
	bl	relinterp_start         /* returns the address to continue at */
	mr	1, 14
	mr	12, 3
	mtctr	3
	mr	3, 15
	mr	4, 16
	mr	5, 17
	mr	6, 18
	mr	7, 19
	bctr
