/* A checked loader mapped as the kernel's load_elf_interp maps one (fs/binfmt_elf.c:
   elf_map, elf_load, padzero), and what is then mapped where, with what protection. */
#include "stub.h"

static int prot_of(uint32_t flags)
{
	return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) | (flags & PF_X ? PROT_EXEC : 0);
}

/* The kernel maps a segment's bss with vm_brk_flags: read-write whatever p_flags say,
   and executable if the segment is. */
static int bss_prot(uint32_t flags)
{
	return PROT_READ | PROT_WRITE | (flags & PF_X ? PROT_EXEC : 0);
}

/* The protection of the page holding `vaddr` (an address before relocation) once the
   segments are mapped in table order, each over its pages: its file pages with its own
   protection, its bss with bss_prot; 0 where no segment is. */
int segment_prot(const Phdr *ph, size_t phnum, uintptr_t vaddr, size_t page)
{
	int prot = 0;
	for (const Phdr *p = ph; p < ph + phnum; p++) {
		uintptr_t from = p->p_vaddr & -page;
		if (p->p_type != PT_LOAD || !p->p_memsz || vaddr - from >= page_up(p->p_vaddr + p->p_memsz, page) - from)
			continue;
		int in_file = p->p_filesz && vaddr < page_up(p->p_vaddr + p->p_filesz, page);
		prot = in_file ? prot_of(p->p_flags) : bss_prot(p->p_flags);
	}
	return prot;
}

/* How many of the `want` bytes at addr lie in readable pages of the mapped loader, from
   addr on without a gap. */
size_t readable_bytes(const struct loader *ld, uintptr_t addr, size_t want)
{
	size_t n = 0, page = ld->page;
	if (addr + want < addr) /* never past the end of the address space */
		want = -addr;
	while (n < want && (segment_prot(ld->ph, ld->phnum, addr + n - ld->base, page) & PROT_READ))
		n += page - ((addr + n) & (page - 1));
	return n < want ? n : want;
}

/* A file mapping.  An executable one refused with EPERM is on a file system mounted
   noexec, for which the kernel's open_exec says EACCES. */
static long map_file(uintptr_t at, size_t len, int prot, int flags, long fd, uint64_t offset)
{
	long r = sys_mmap(at, len, prot, MAP_PRIVATE | flags, fd, offset);
	return r == -EPERM && (prot & PROT_EXEC) ? -EACCES : r;
}

/* Map one PT_LOAD like the kernel's elf_load: its file pages (unless `mapped` already),
   the rest of the last file page zeroed as padzero does, only where the segment is
   writable (padzero fails on a read-only page, and the kernel ignores that), anonymous
   pages for the rest of its bss and then `room` more. */
static long map_segment(long fd, const Phdr *ph, uintptr_t base, size_t page, int mapped, size_t room)
{
	int prot = prot_of(ph->p_flags);
	uintptr_t start = base + ph->p_vaddr, file_end = start + ph->p_filesz;
	uintptr_t anon = start & -page, end = page_up(start + ph->p_memsz, page) + room;
	long r;
	if (ph->p_filesz) {
		if (!mapped && failed(r = map_file(anon, file_end - anon, prot, MAP_FIXED, fd,
		                                   ph->p_offset - (start - anon))))
			return r;
		anon = page_up(file_end, page);
		if (ph->p_memsz > ph->p_filesz && (prot & PROT_WRITE))
			memset((void *)file_end, 0, anon - file_end);
	}
	if (end > anon && failed(r = sys_mmap(anon, end - anon, bss_prot(ph->p_flags),
	                                      MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0)))
		return r;
	return 0;
}

/* Unmap what the reservation holds between segments: the kernel unmaps its first mapping
   past the first segment's file pages and maps the others where they go. */
static long unmap_gaps(const Phdr *ph, size_t phnum, uintptr_t base, uintptr_t lo, uintptr_t hi, size_t page)
{
	for (uintptr_t at = lo; at < hi;) {
		uintptr_t next = hi, covered = at;
		for (const Phdr *p = ph; p < ph + phnum; p++) {
			uintptr_t from = p->p_vaddr & -page, to = page_up(p->p_vaddr + p->p_memsz, page);
			if (p->p_type != PT_LOAD || !p->p_memsz)
				continue;
			if (from <= at && to > covered)
				covered = to;
			else if (from > at && from < next)
				next = from;
		}
		long r = covered > at ? 0 : sys2(SYS_munmap, base + at, next - at);
		if (failed(r))
			return r;
		at = covered > at ? covered : next;
	}
	return 0;
}

/* The first PT_LOAD in table order, and the last one ending at hi (which the room after
   the image can share a mapping with; none when a PT_LOAD of size 0 lies highest). */
static void ends(const Phdr *ph, size_t phnum, uintptr_t hi, size_t page, const Phdr **first, const Phdr **top)
{
	*first = *top = 0;
	for (const Phdr *p = ph; p < ph + phnum; p++) {
		if (p->p_type != PT_LOAD)
			continue;
		*first = *first ? *first : p;
		if (p->p_memsz && page_up(p->p_vaddr + p->p_memsz, page) == hi)
			*top = p;
	}
}

/* The first mapping reserves the whole span, so that the kernel places it where nothing
   else is: of the first segment's file pages when that is the lowest, as the kernel's
   elf_map does; else (PT_LOADs out of order) of nothing.  An ET_EXEC loader goes where
   it was linked, as the kernel puts it, but never over anything already mapped. */
static long reserve(long fd, const Ehdr *eh, const Phdr *first, uintptr_t lo, size_t span, size_t page,
                    int *from_first)
{
	int fixed = eh->e_type == ET_EXEC ? MAP_FIXED_NOREPLACE : 0;
	uintptr_t at = fixed ? lo : 0;
	*from_first = first->p_filesz && (first->p_vaddr & -page) == lo;
	long r = *from_first ? map_file(at, span, prot_of(first->p_flags), fixed, fd, first->p_offset & -page)
	                     : sys_mmap(at, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | fixed, -1, 0);
	if (fixed && !failed(r) && (uintptr_t)r != lo) { /* before Linux 4.17: only a hint */
		sys2(SYS_munmap, r, span);
		r = -EEXIST;
	}
	return r;
}

/* Map the checked loader: reserve its span, map each PT_LOAD over its part in table
   order (a later one over an earlier one where they overlap, as in the kernel), unmap the
   gaps.  Alignment beyond the page is not honoured, as by the kernel for an interpreter.
   `room` bytes are mapped read-write after the image. */
long map_image(long fd, const Ehdr *eh, const Phdr *ph, uintptr_t lo, uintptr_t hi, size_t room, size_t page,
               struct loader *ld)
{
	const Phdr *first, *top;
	ends(ph, eh->e_phnum, hi, page, &first, &top);
	int apart = !top || (top->p_flags & PF_X), from_first; /* the room is never executable */
	size_t span = hi - lo + page_up(room, page);
	if (span < hi - lo) /* the room does not fit the address space either */
		return -ENOMEM;
	long r = reserve(fd, eh, first, lo, span, page, &from_first);
	if (failed(r))
		return r;
	*ld = (struct loader){ .base = (uintptr_t)r - lo, .ph = ph, .phnum = eh->e_phnum, .page = page };
	ld->entry = ld->base + eh->e_entry;
	ld->room = (char *)(ld->base + hi);
	for (const Phdr *p = ph; p < ph + eh->e_phnum && !failed(r); p++)
		if (p->p_type == PT_LOAD && p->p_memsz)
			r = map_segment(fd, p, ld->base, page, p == first && from_first,
			                p == top && !apart ? page_up(room, page) : 0);
	if (!failed(r))
		r = unmap_gaps(ph, eh->e_phnum, ld->base, lo, hi, page);
	if (!failed(r) && apart)
		r = sys_mmap(ld->room, page_up(room, page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS,
		             -1, 0);
	if (failed(r))
		sys2(SYS_munmap, ld->base + lo, span);
	return failed(r) ? r : 0;
}
