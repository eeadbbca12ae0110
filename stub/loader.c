/* A loader candidate: checked as the kernel would check an interpreter, and more, then
   mapped as the kernel's load_elf_interp maps one (fs/binfmt_elf.c). */
#include "stub.h"

static uintptr_t page_up(uintptr_t v, size_t page)
{
	return (v + page - 1) & -page;
}

static int prot_of(uint32_t flags)
{
	return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) |
	       (flags & PF_X ? PROT_EXEC : 0);
}

/* The ELF header, against the n bytes read; its program headers must be among them. */
static long check_header(const Ehdr *eh, size_t n)
{
	if (n < sizeof *eh || !is_elf(eh->e_ident))
		return -NOT_ELF;
	if (eh->e_ident[EI_CLASS] != STUB_CLASS || eh->e_ident[EI_DATA] != STUB_DATA)
		return -WRONG_CLASS;
	if (eh->e_machine != STUB_MACHINE)
		return -WRONG_MACHINE;
	if (eh->e_type != ET_DYN)
		return -NOT_SHARED_OBJECT;
	if (eh->e_phentsize != sizeof(Phdr))
		return -BAD_PHENTSIZE;
	if (eh->e_phnum == 0 || eh->e_phnum > MAX_LOADER_PHNUM)
		return -BAD_PHNUM;
	if (eh->e_phoff > n || eh->e_phnum * sizeof(Phdr) > n - eh->e_phoff || eh->e_phoff % sizeof(uintptr_t))
		return -PHDRS_MISPLACED;
	return 0;
}

/* The PT_LOADs, checked before anything is mapped, so that a broken loader is a reason
   and not a crash: p_filesz <= p_memsz, file bytes inside the file and their offset
   congruent to the address (a segment of bss only has none), no wrap around the address
   space, ascending and apart (the kernel's total_mapping_size assumes it), the entry
   point in code.  Sets [*lo, *hi), page-rounded. */
static long check_segments(const Ehdr *eh, const Phdr *ph, unsigned long file_size, size_t page, uintptr_t *lo,
                           uintptr_t *hi)
{
	const uintptr_t top = UINTPTR_MAX - page; /* page-rounding an end must not wrap */
	uintptr_t end = 0;
	int loads = 0, entry_in_code = 0;
	for (size_t i = 0; i < eh->e_phnum; i++) {
		const Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_filesz > p->p_memsz)
			return -FILESZ_OVER_MEMSZ;
		if (p->p_filesz && (p->p_offset > file_size || p->p_filesz > file_size - p->p_offset))
			return -PAST_EOF;
		if (p->p_vaddr > top || p->p_memsz > top - p->p_vaddr)
			return -WRAPS;
		if (p->p_filesz && ((p->p_vaddr - p->p_offset) & (page - 1)))
			return -INCONGRUENT;
		if (!p->p_memsz)
			continue;
		if (loads++ == 0)
			*lo = p->p_vaddr & -page;
		else if (p->p_vaddr < end)
			return -UNORDERED;
		end = p->p_vaddr + p->p_memsz;
		entry_in_code |= (p->p_flags & PF_X) && eh->e_entry - p->p_vaddr < p->p_memsz;
	}
	if (!loads)
		return -NO_LOAD;
	if (!entry_in_code)
		return -BAD_ENTRY;
	*hi = page_up(end, page);
	if (*hi - *lo > UINTPTR_MAX / 2)
		return -SPAN_TOO_BIG;
	return 0;
}

/* Zero the rest of the page after a segment's file bytes, as the kernel's padzero does;
   a segment that is not writable is made so for the while. */
static long zero_tail(uintptr_t from, size_t page, int prot)
{
	uintptr_t at = from & -page;
	long r = 0;
	if (!(prot & PROT_WRITE) && failed(r = sys3(SYS_mprotect, at, page, prot | PROT_WRITE)))
		return r;
	memset((void *)from, 0, at + page - from);
	if (!(prot & PROT_WRITE))
		r = sys3(SYS_mprotect, at, page, prot);
	return failed(r) ? r : 0;
}

/* Map one PT_LOAD like the kernel's elf_load: file pages (already mapped for the first,
   whose mapping spans the whole image), the bss tail of the last file page zeroed,
   anonymous pages for the rest and, after the last, `room` more. */
static long map_segment(long fd, const Phdr *ph, uintptr_t base, size_t page, int first, size_t room)
{
	int prot = prot_of(ph->p_flags);
	uintptr_t start = base + ph->p_vaddr, file_end = start + ph->p_filesz;
	uintptr_t anon = start & -page, end = page_up(start + ph->p_memsz, page) + room;
	long r;
	if (ph->p_filesz) {
		if (!first && failed(r = sys_mmap(anon, file_end - anon, prot, MAP_PRIVATE | MAP_FIXED, fd,
		                                  ph->p_offset - (start - anon))))
			return r;
		anon = page_up(file_end, page);
		if (ph->p_memsz > ph->p_filesz && (file_end & (page - 1)) && failed(r = zero_tail(file_end, page, prot)))
			return r;
	}
	if (end > anon &&
	    failed(r = sys_mmap(anon, end - anon, prot, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0)))
		return r;
	return 0;
}

/* Map the checked loader as the kernel's load_elf_interp does: the first mapping, of
   the first segment's file pages, spans the whole image, so that the kernel places it
   and nothing else can land in between; each later segment replaces its part of it;
   gaps between segments are unmapped.  Alignment beyond the page is not honoured, as by
   the kernel for an interpreter.  `room` bytes are mapped read-write after the image. */
static long map_image(long fd, const Ehdr *eh, const Phdr *ph, uintptr_t lo, uintptr_t hi, size_t room,
                      size_t page, struct loader *ld)
{
	const Phdr *first = 0, *last = 0;
	for (size_t i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_memsz) {
			first = first ? first : &ph[i];
			last = &ph[i];
		}
	/* The room goes with the last segment's bss when it can share its mapping. */
	int apart = prot_of(last->p_flags) != (PROT_READ | PROT_WRITE);
	size_t span = hi - lo + page_up(room, page);
	long r = sys_mmap(0, span, prot_of(first->p_flags), MAP_PRIVATE, fd, first->p_offset & -page);
	if (failed(r))
		return r;
	ld->base = (uintptr_t)r - lo;
	ld->entry = ld->base + eh->e_entry;
	ld->room = (char *)(ld->base + hi);
	uintptr_t mapped_to = (uintptr_t)r;
	for (const Phdr *p = first; p <= last && !failed(r); p++) {
		if (p->p_type != PT_LOAD || !p->p_memsz)
			continue;
		uintptr_t start = (ld->base + p->p_vaddr) & -page;
		if (start > mapped_to && failed(r = sys2(SYS_munmap, mapped_to, start - mapped_to)))
			break;
		r = map_segment(fd, p, ld->base, page, p == first, p == last && !apart ? page_up(room, page) : 0);
		mapped_to = page_up(ld->base + p->p_vaddr + p->p_memsz, page);
	}
	if (!failed(r) && apart)
		r = sys_mmap(ld->room, page_up(room, page), PROT_READ | PROT_WRITE,
		             MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
	if (failed(r))
		sys2(SYS_munmap, ld->base + lo, span);
	return failed(r) ? r : 0;
}

/* Check a loader candidate and map it, with `room` bytes after it; 0 or why not.  Opened
   without blocking (a FIFO would wait for a writer); its size, which the segments are
   checked against, from lseek, which also refuses a FIFO or a socket. */
long map_loader(const char *path, union headers *h, size_t page, size_t room, struct loader *ld)
{
	const Phdr *ph = (const Phdr *)(h->raw + sizeof(Ehdr));
	uintptr_t lo = 0, hi = 0;
	long fd = sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
	if (failed(fd))
		return fd;
	long size = sys3(SYS_lseek, fd, 0, SEEK_END);
	long r = size == -ESPIPE ? -NOT_REGULAR : size; /* reasons and errors are negative */
	if (r >= 0 && (r = sys_pread(fd, h->raw, sizeof h->raw, 0)) >= 0 && !(r = check_header(&h->eh, (size_t)r))) {
		ph = (const Phdr *)(h->raw + h->eh.e_phoff);
		r = check_segments(&h->eh, ph, (unsigned long)size, page, &lo, &hi);
	}
	if (!r)
		r = map_image(fd, &h->eh, ph, lo, hi, room, page, ld);
	sys1(SYS_close, fd);
	return r;
}
