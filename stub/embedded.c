/*
 * Where entry.S enters the stub, and the whole start of a program whose loader is
 * embedded in it (relinterp patch --embed-loader).
 *
 * The loader's file lies inside the program's file, and its segments are PT_LOADs of the
 * program at a fixed distance from the program's own: the kernel mapped it together with
 * the program at execve, the way it maps any program's segments.  Nothing is opened,
 * mapped or read here, and no system call is made.  What is left is what the kernel does
 * after mapping an interpreter (fs/binfmt_elf.c, create_elf_tables): tell the loader in
 * the aux vector where it is (AT_BASE), which program header table is the program's
 * (AT_PHDR, AT_PHNUM), where the program starts (AT_ENTRY), and jump to its entry.
 *
 * That table was written at patch time, into the stub's segment: the program's entries
 * with PT_PHDR and a PT_INTERP naming the loader (an empty name: the loader is not a
 * file of its own), without the loader's segments, which a loader would take for the
 * program's own (musl's reclaim_gaps hands their gaps to malloc).  The table the kernel
 * read (e_phoff) is never read here: kernels before 5.18, and qemu-user, compute AT_PHDR
 * as if the file were mapped in one piece from its first segment, which a table appended
 * to the file is not.
 *
 * Nothing outside the file chooses the loader: RELINTERP_LOADER is not read (with
 * RELINTERP_DEBUG=1 a line says so).  Run as `ld.so program`, a loader has linked the
 * program already, and the stub jumps to the program's entry, as in relinterp.c.
 */
#include "stub.h"

/* The config block (right after the code, stub.ld) and, in a program whose loader is
   embedded, the record that follows it. */
struct embedded_config {
	struct relinterp_config config;
	struct relinterp_embedded loader;
};
extern const struct embedded_config relinterp_config;
extern const char _start[];                           /* entry.S: where the kernel enters */

static size_t aux_value(const size_t *auxv, size_t tag)
{
	for (const size_t *v = auxv; v[0] != AT_NULL; v += 2)
		if (v[0] == tag)
			return v[1];
	return 0;
}

/* Whether a loader linked the program already (relinterp.c, linked_already, says how
   each loader shows it); PT_DYNAMIC comes from the table written at patch time. */
static int linked_already(const size_t *auxv, const Phdr *ph, size_t phnum, uintptr_t bias)
{
	if (aux_value(auxv, AT_ENTRY) != (uintptr_t)_start)
		return 1;
	for (size_t i = 0; i < phnum; i++) {
		if (ph[i].p_type != PT_DYNAMIC)
			continue;
		const Dyn *d = (const Dyn *)(bias + ph[i].p_vaddr);
		for (size_t n = ph[i].p_memsz / sizeof(Dyn); n-- && d->d_tag != DT_NULL; d++)
			if (d->d_tag == DT_DEBUG)
				return d->d_un.d_ptr != 0;
	}
	return 0;
}

/* AT_SECURE, or real and effective IDs that differ: a setuid or setgid program. */
static COLD int secure(const size_t *auxv)
{
	uintptr_t uid = 0, euid = 0, gid = 0, egid = 0, at_secure = 0;
	for (const size_t *v = auxv; v[0] != AT_NULL; v += 2) {
		uid = v[0] == AT_UID ? v[1] : uid;
		euid = v[0] == AT_EUID ? v[1] : euid;
		gid = v[0] == AT_GID ? v[1] : gid;
		egid = v[0] == AT_EGID ? v[1] : egid;
		at_secure = v[0] == AT_SECURE ? v[1] : at_secure;
	}
	return at_secure || uid != euid || gid != egid;
}

/* What the kernel would have put in the aux vector had the loader been PT_INTERP. */
static void hand_over(size_t *auxv, const struct relinterp_embedded *e, uintptr_t bias, uintptr_t entry,
                      int trace)
{
	for (size_t *v = auxv; v[0] != AT_NULL; v += 2) {
		uintptr_t now = v[0] == AT_PHDR    ? bias + (uintptr_t)e->phdr
		                : v[0] == AT_PHNUM ? (uintptr_t)e->phnum
		                : v[0] == AT_BASE  ? bias + (uintptr_t)e->base
		                : v[0] == AT_ENTRY ? entry
		                                   : v[1];
		if (trace && now != v[1])
			trace_aux(v[0] == AT_PHDR ? "AT_PHDR" : v[0] == AT_PHNUM ? "AT_PHNUM" : v[0] == AT_BASE ? "AT_BASE"
			                                                                                 : "AT_ENTRY",
			          v[1], now, v[0] != AT_PHNUM);
		v[1] = now;
	}
}

static COLD void trace_start(const struct relinterp_embedded *e, uintptr_t bias, int env_loader)
{
	if (env_loader)
		say("RELINTERP_LOADER ignored: the loader is embedded in the program", 0);
	say("loader embedded in the program, mapped by the kernel at ", bias + (uintptr_t)e->base);
}

/* A tool rewrote the file after it was patched: the program's headers are not the ones
   the patch wrote (patchelf adds segments, moves PT_DYNAMIC and may write its table over
   the loader's), or the loader's bytes are not where the patch put them (binutils'
   strip and objcopy move its segments).  Either way the loader cannot be handed the
   program as it now is. */
static COLD _Noreturn void rewritten(const size_t *sp)
{
	static const char what[] = ": relinterp: the file was rewritten after patching (patchelf, binutils' strip or "
	                           "objcopy?) and its loader cannot be started; restore it and patch it again\n";
	const char *program = sp[0] > 0 ? (const char *)sp[1] : "program";
	struct iovec line[] = { { (void *)program, str_len(program) }, { (void *)what, sizeof what - 1 } };
	sys3(SYS_writev, 2, line, 2);
	for (;;)
		sys1(SYS_exit_group, 127); /* as when no loader is found (relinterp.c) */
}

static uintptr_t start_embedded(size_t *sp, const struct embedded_config *block)
{
	const struct relinterp_config *cfg = &block->config;
	const struct relinterp_embedded *e = &block->loader;
	uintptr_t bias = (uintptr_t)cfg - (uintptr_t)cfg->config_vaddr;
	uintptr_t entry = bias + (uintptr_t)cfg->entry;
	char **envp = (char **)(sp + 1 + sp[0] + 1);
	int debug = 0, env_loader = 0;
	for (; *envp; envp++) {
		const char *s = *envp, *v;
		if (s[0] != 'R' || !(s = after(s, "RELINTERP_")))
			continue;
		if ((v = after(s, "DEBUG=")))
			debug = *v && !(v[0] == '0' && !v[1]);
		env_loader |= after(s, "LOADER=") != 0;
	}
	size_t *auxv = (size_t *)(envp + 1);
	if (debug && secure(auxv)) { /* as in relinterp.c: no trace for a setuid/setgid program */
		say("RELINTERP_DEBUG ignored in a setuid/setgid program", 0);
		debug = 0;
	}
	const Phdr *table = (const Phdr *)(bias + (uintptr_t)e->phdr);
	if (linked_already(auxv, table, (size_t)e->phnum, bias)) {
		if (debug)
			say("a loader linked the program already: entering it at ", entry);
		return entry;
	}
	if (aux_value(auxv, AT_PHNUM) != e->program_phnum || table->p_type != PT_PHDR || table->p_vaddr != e->phdr ||
	    !is_elf((const unsigned char *)(bias + (uintptr_t)e->base)))
		rewritten(sp);
	if (debug)
		trace_start(e, bias, env_loader);
	hand_over(auxv, e, bias, entry, debug);
	if (debug)
		say("entering the loader at ", bias + (uintptr_t)e->entry);
	return bias + (uintptr_t)e->entry;
}

/* Called by entry.S with the initial stack; returns where to jump with it. */
uintptr_t relinterp_start(size_t *sp)
{
	if (relinterp_config.config.flags & RELINTERP_FLAG_EMBEDDED)
		return start_embedded(sp, &relinterp_config);
	return relinterp_search(sp);
}
