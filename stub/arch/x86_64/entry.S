/* x86_64 entry: the kernel (or a loader) jumps here with sp at argc and, for glibc's
   ld.so, rtld_fini in rdx (SysV ABI, "Process Initialization").  Keep both, call C on
   an aligned stack, then restore them and jump where C says. */
	.section .text.entry,"ax",@progbits
	.globl _start
	.hidden _start
_start:
	endbr64                         /* landing pad: IBT-marked programs enter here indirectly */
	xor	%ebp, %ebp              /* outermost frame */
	mov	%rsp, %rbx              /* rbx, r12: callee-saved, survive the call */
	mov	%rdx, %r12
	mov	%rsp, %rdi
	and	$-16, %rsp
	call	relinterp_start         /* returns the address to continue at */
	mov	%rbx, %rsp
	mov	%r12, %rdx
	jmp	*%rax
