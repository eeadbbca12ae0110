/*
 * Shared-library events for a debugger that started the program.
 *
 * gdb learns about loaded libraries by a breakpoint on the loader's `_dl_debug_state`,
 * which the loader calls after every change to its link map (r_debug, the SVR4 debug
 * interface).  gdb sets that breakpoint once, when the program is exec'ed, before the
 * stub has mapped any loader: it cannot find the loader then.  So the patched file
 * names a `_dl_debug_state` of its own (a symbol the patcher adds, on
 * relinterp_debug_state below), gdb breaks there instead, and this makes the loader's
 * `_dl_debug_state` jump to it.
 *
 * It costs a normal start nothing: a debugger that set its breakpoint has changed the
 * first instruction of relinterp_debug_state (native gdb and gdbserver write a trap
 * instruction into memory before the program runs), and only then is anything done.
 * Under qemu-user's gdbstub breakpoints live in the emulator, not in memory, so this
 * sees no debugger there.
 *
 * Nothing is changed unless the loader's `_dl_debug_state` is a function that only
 * returns, followed by padding that holds the jump, and its page can be made writable
 * (W^X policies and SELinux refuse that): otherwise the program runs as without a
 * debugger.  The page is made read-write-execute first and gets its own protection back
 * after the write, so a refusal of the second step still leaves it executable.
 *
 * A broken loader must not make this fault: it reads only pages the stub mapped readable
 * for the loader (image.c knows which), finds the dynamic table through the program
 * headers the stub read and checked, and believes no table's count past MAX_ENTRIES.
 */
#ifndef RELINTERP_DEBUG_HOOK_H
#define RELINTERP_DEBUG_HOOK_H

/* DEBUG_STATE_SIZE bytes, the last of the stub's code (stub.ld): a return, then
   padding.  The patcher names them `_dl_debug_state`. */
#define DEBUG_STATE_SIZE 16
extern const unsigned char relinterp_debug_state[DEBUG_STATE_SIZE];

#if defined(__x86_64__) || defined(__i386__)
#define HOOK_ARMED 1
#define RETURN_SIZE 1
static const unsigned char return_insn[RETURN_SIZE] = { 0xc3 };
__asm__(".pushsection .stub.debug_state,\"ax\",@progbits\n"
        ".p2align 4\n"
        "relinterp_debug_state:\n"
        "\tret\n"
        ".p2align 4\n"
        ".popsection");

/* x86 padding: the one-byte nop, int3, and what GNU as fills with (prefixes 66/2e,
   0f 1f modrm/sib/displacement nops, lea (%esi),%esi forms on i386). */
static int is_padding(unsigned char b)
{
	static const unsigned char allowed[] = { 0x90, 0xcc, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x80, 0x00,
	                                         0x40, 0x44, 0x8d, 0xb4, 0xbc, 0x26, 0x74, 0x76, 0x27 };
	for (size_t i = 0; i < sizeof allowed; i++)
		if (b == allowed[i])
			return 1;
	return 0;
}

#ifdef __x86_64__
#define JUMP_SIZE 14
/* jmp *0(%rip), then the absolute target: reaches anywhere. */
static void encode_jump(unsigned char *at, uintptr_t to)
{
	static const unsigned char jmp[6] = { 0xff, 0x25, 0, 0, 0, 0 };
	memcpy(at, jmp, sizeof jmp);
	memcpy(at + sizeof jmp, &to, sizeof to);
}
#else
#define JUMP_SIZE 5
/* jmp rel32: the 32-bit address space wraps, so it reaches anywhere. */
static void encode_jump(unsigned char *at, uintptr_t to)
{
	uintptr_t rel = to - ((uintptr_t)at + JUMP_SIZE);
	at[0] = 0xe9;
	memcpy(at + 1, &rel, sizeof rel);
}
#endif

#else /* no redirection written for this machine yet: the symbol only */
#define HOOK_ARMED 0
__asm__(".pushsection .stub.debug_state,\"ax\"\n"
        ".p2align 4\n"
        "relinterp_debug_state:\n"
#if defined(__aarch64__) || defined(__riscv)
        "\tret\n"
#elif defined(__powerpc64__)
        "\tblr\n"
#elif defined(__s390x__)
        "\tbr %r14\n"
#else
        "\tbx lr\n"
#endif
        ".p2align 4\n"
        ".popsection");
#endif

#if HOOK_ARMED
_Static_assert(JUMP_SIZE <= DEBUG_STATE_SIZE, "the jump must fit the padding");

#if UINTPTR_MAX > 0xffffffffu
typedef Elf64_Sym Sym;
#else
typedef Elf32_Sym Sym;
#endif
#define SYM_TYPE(info) ((info) & 0xf) /* ELF32_ST_TYPE and ELF64_ST_TYPE alike */

/* The most entries read of the loader's symbol table, hash tables and dynamic table:
   more than any loader has; a table claiming more is not believed past this. */
#define MAX_ENTRIES 65536

static int same_bytes(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	while (n--)
		if (*x++ != *y++)
			return 0;
	return 1;
}

/* Whether the n bytes at addr lie in pages the stub mapped readable for the loader: the
   hook reads nothing else, whatever the loader's tables say. */
static int readable(const struct loader *ld, const void *addr, size_t n)
{
	return readable_bytes(ld, (uintptr_t)addr, n) == n;
}

/* How many entries the loader's dynamic symbol table has: from DT_HASH, else from the
   highest chain of DT_GNU_HASH; 0 if that cannot be read. */
static size_t symbol_count(const struct loader *ld, const uint32_t *hash, const uint32_t *gnu)
{
	if (hash)
		return readable(ld, hash, 8) ? hash[1] : 0;
	if (!gnu || !readable(ld, gnu, 16) || gnu[0] > MAX_ENTRIES || gnu[2] > MAX_ENTRIES)
		return 0;
	uint32_t nbuckets = gnu[0], first = gnu[1], bloom = gnu[2];
	const uint32_t *buckets = gnu + 4 + bloom * (sizeof(size_t) / 4), *chain = buckets + nbuckets;
	if (!readable(ld, buckets, nbuckets * sizeof *buckets))
		return 0;
	uint32_t last = 0;
	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < first)
		return first;
	for (size_t n = 0; n < MAX_ENTRIES && readable(ld, chain + (last - first), 4); n++, last++)
		if (chain[last - first] & 1)
			return last + 1;
	return 0;
}

/* The loader's dynamic table, found through the program headers the stub read and
   checked (not through what is mapped at its base), and how many entries can be read. */
static const Dyn *dynamic_table(const struct loader *ld, size_t *n)
{
	const Dyn *dyn = 0;
	size_t size = 0;
	for (const Phdr *p = ld->ph; p < ld->ph + ld->phnum; p++)
		if (p->p_type == PT_DYNAMIC) {
			dyn = (const Dyn *)(ld->base + p->p_vaddr);
			size = p->p_memsz < MAX_ENTRIES * sizeof *dyn ? p->p_memsz : MAX_ENTRIES * sizeof *dyn;
		}
	*n = dyn && (uintptr_t)dyn % sizeof(uintptr_t) == 0 ? readable_bytes(ld, (uintptr_t)dyn, size) / sizeof *dyn : 0;
	return dyn;
}

/* Whether fn is a `_dl_debug_state` that only returns, followed by padding that can
   hold the jump, in an executable page of the loader. */
static int only_returns(const struct loader *ld, const Sym *s, const unsigned char *fn)
{
	if (s->st_size != RETURN_SIZE || (uintptr_t)fn % DEBUG_STATE_SIZE || !readable(ld, fn, JUMP_SIZE) ||
	    !(segment_prot(ld->ph, ld->phnum, (uintptr_t)fn - ld->base, ld->page) & PROT_EXEC) ||
	    !same_bytes(fn, return_insn, RETURN_SIZE))
		return 0;
	for (size_t k = RETURN_SIZE; k < JUMP_SIZE; k++)
		if (!is_padding(fn[k]))
			return 0;
	return 1;
}

/* The loader's `_dl_debug_state` if it only returns: its address, else 0.  The loader is
   mapped but not relocated, so its dynamic table holds offsets from its base. */
static unsigned char *loader_debug_state(const struct loader *ld)
{
	static const char name[] = "_dl_debug_state";
	size_t n;
	const Dyn *dyn = dynamic_table(ld, &n);
	const uint32_t *hash = 0, *gnu = 0;
	const Sym *symtab = 0;
	const char *strtab = 0;
	for (size_t i = 0; i < n && dyn[i].d_tag != DT_NULL; i++) {
		uintptr_t at = ld->base + dyn[i].d_un.d_ptr;
		switch (dyn[i].d_tag) {
		case DT_HASH: hash = (const uint32_t *)at; break;
		case DT_GNU_HASH: gnu = (const uint32_t *)at; break;
		case DT_SYMTAB: symtab = (const Sym *)at; break;
		case DT_STRTAB: strtab = (const char *)at; break;
		}
	}
	if (!symtab || !strtab)
		return 0;
	size_t count = symbol_count(ld, hash, gnu);
	count = count < MAX_ENTRIES ? count : MAX_ENTRIES;
	count = readable_bytes(ld, (uintptr_t)symtab, count * sizeof *symtab) / sizeof *symtab;
	for (size_t i = count; i-- > 1;) {
		const Sym *s = &symtab[i];
		const char *at = strtab + s->st_name;
		if (s->st_shndx == SHN_UNDEF || SYM_TYPE(s->st_info) != STT_FUNC || !readable(ld, at, sizeof name) ||
		    !same_bytes(at, name, sizeof name))
			continue;
		unsigned char *fn = (unsigned char *)(ld->base + s->st_value);
		return only_returns(ld, s, fn) ? fn : 0;
	}
	return 0;
}

/* Called once the loader is mapped, before it runs: 1 if its `_dl_debug_state` now
   reaches ours.  Its page gets its own protection back after the write. */
static int hook_debugger(const struct loader *ld)
{
	if (same_bytes(relinterp_debug_state, return_insn, RETURN_SIZE))
		return 0; /* untouched: no debugger breaks there */
	unsigned char *fn = loader_debug_state(ld);
	if (!fn)
		return 0;
	uintptr_t at = (uintptr_t)fn & -ld->page;
	int prot = segment_prot(ld->ph, ld->phnum, (uintptr_t)fn - ld->base, ld->page);
	if (failed(sys3(SYS_mprotect, at, ld->page, prot | PROT_READ | PROT_WRITE | PROT_EXEC)))
		return 0;
	encode_jump(fn, (uintptr_t)relinterp_debug_state);
	sys3(SYS_mprotect, at, ld->page, prot);
	return 1;
}
#else
static int hook_debugger(const struct loader *ld)
{
	(void)ld;
	return 0;
}
#endif

#endif
