/* i386 entry: the kernel (or a loader) starts here with esp at argc and, for glibc's
   ld.so, rtld_fini in edx (i386 SysV ABI, "Process Initialization").  Keep both, call C
   (cdecl: sp on the stack) with the stack 16-byte aligned, then restore them and jump
   where C says.  No endbr32: Linux has no IBT for 32-bit programs, and the hint-NOP
   space it lives in is undefined before the i686. */
	.section .text.entry,"ax",@progbits
	.globl _start
	.hidden _start
	.type _start, @function
_start:
	xor	%ebp, %ebp              /* outermost frame */
	mov	%esp, %esi              /* esi, edi: callee-saved, survive the call */
	mov	%edx, %edi
	and	$-16, %esp
	sub	$12, %esp
	push	%esi                    /* relinterp_start(sp); esp is 16-aligned at the call */
	call	relinterp_start         /* returns the address to continue at */
	mov	%esi, %esp
	mov	%edi, %edx
	jmp	*%eax
