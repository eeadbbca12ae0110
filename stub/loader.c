/* A loader candidate: opened and checked as the kernel's load_elf_binary opens and checks
   PT_INTERP (fs/binfmt_elf.c, open_exec in fs/exec.c), then mapped by image.c. */
#include "stub.h"

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
/* statx's mask bits and result: one layout on every architecture (uapi/linux/stat.h). */
#define STATX_TYPE 0x1u
#define STATX_MODE 0x2u
#define STATX_UID 0x8u
#define STATX_GID 0x10u
#define STATX_SIZE 0x200u

struct file_status {
	uint32_t mask, blksize;
	uint64_t attributes;
	uint32_t nlink, uid, gid;
	uint16_t mode, spare;
	uint64_t ino, size, blocks, attributes_mask;
	unsigned char rest[192];
};
_Static_assert(sizeof(struct file_status) == 256 && offsetof(struct file_status, size) == 40, "statx layout");

#ifdef SYS_getgroups32
#define SYS_GETGROUPS SYS_getgroups32 /* i386 and arm: the call with 32-bit group ids */
#else
#define SYS_GETGROUPS SYS_getgroups
#endif
#define GROUPS_ON_STACK 256

/* Whether gid is one of the process's supplementary groups.  More than fit on the stack
   (rare) are read into pages of their own.  Out of line: its buffer stays off the stack of
   a start that does not need it. */
static COLD int in_groups(uint32_t gid)
{
	uint32_t few[GROUPS_ON_STACK], *groups = few;
	long n = sys2(SYS_GETGROUPS, GROUPS_ON_STACK, few), size = 0, found = 0;
	if (n == -EINVAL && !failed(n = sys2(SYS_GETGROUPS, 0, 0))) {
		size = n * (long)sizeof *groups;
		long r = sys_mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		groups = failed(r) ? 0 : (uint32_t *)r;
		n = groups ? sys2(SYS_GETGROUPS, n, groups) : 0;
	}
	for (long i = 0; i < n; i++)
		found |= groups[i] == gid;
	if (groups != few && groups)
		sys2(SYS_munmap, groups, size);
	return found;
}

/* Whether `who` may execute the file, judged from its mode bits as the kernel's
   generic_permission judges MAY_EXEC: root (CAP_DAC_OVERRIDE) needs one x bit, the owner
   the owner's, a member of the file's group the group's, anyone else the others'.  The
   supplementary groups are asked for only when the group's bit and the others' differ.
   ACL entries and capabilities other than root's are not read (docs/robustness.md). */
static int may_execute(const struct file_status *st, const struct caller *who)
{
	unsigned mode = st->mode;
	if (!(mode & 0111))
		return 0;
	if (who->uid == 0)
		return 1;
	if (st->uid == who->uid)
		return (mode & 0100) != 0;
	if (!(mode & 010) == !(mode & 01))
		return (mode & 01) != 0;
	return (st->gid == who->gid || in_groups(st->gid)) ? (mode & 010) != 0 : (mode & 01) != 0;
}

/* The file's size, once it has passed the kernel's open_exec: a regular file the caller
   may execute, else EACCES as the kernel says.  statx gives type, mode, owner and size in
   one call; before Linux 4.11, or where a filter hides statx, lseek gives the size alone
   and refuses what cannot seek (a FIFO, a socket, a terminal). */
static long check_file(long fd, const struct caller *who, uint64_t *size)
{
	struct file_status st;
	long r = sys5(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_SIZE,
	              &st);
	if (r == -ENOSYS || r == -EPERM) {
		r = sys3(SYS_lseek, fd, 0, SEEK_END);
		*size = (unsigned long)r;
		return r == -ESPIPE ? -NOT_REGULAR : failed(r) ? r : 0;
	}
	if (failed(r))
		return r;
	if ((st.mode & S_IFMT) != S_IFREG)
		return -NOT_REGULAR;
	*size = st.size;
	return may_execute(&st, who) ? 0 : -EACCES;
}

/* The ELF header, as the kernel checks an interpreter's: magic, machine, type, the size
   of a program header and of their table (at most 64 KiB). */
static long check_header(const Ehdr *eh, size_t n)
{
	size_t table = (size_t)eh->e_phnum * sizeof(Phdr);
	if (n < sizeof *eh || !is_elf(eh->e_ident))
		return -NOT_ELF;
	if (!STUB_MACHINE_OK(eh))
		return -WRONG_MACHINE;
	if (eh->e_type != ET_DYN && eh->e_type != ET_EXEC)
		return -NOT_LOADER_TYPE;
	if (eh->e_phentsize != sizeof(Phdr))
		return -BAD_PHENTSIZE;
	if (table == 0 || table > MAX_LOADER_PHDR_BYTES)
		return -BAD_PHNUM;
	return 0;
}

/* The headers: the ELF header and the program headers behind it in one read; the program
   headers from where e_phoff says, into pages of their own (*pages long), when they are
   not all there (no loader seen has that). */
static long read_headers(long fd, struct headers *h, const Phdr **ph, size_t *pages)
{
	long n = sys_pread(fd, h, sizeof *h, 0);
	if (failed(n))
		return n;
	long r = check_header(&h->eh, (size_t)n);
	size_t table = (size_t)h->eh.e_phnum * sizeof(Phdr);
	*ph = h->ph;
	if (r || (h->eh.e_phoff == sizeof(Ehdr) && table <= (size_t)n - sizeof(Ehdr)))
		return r;
	r = sys_mmap(0, table, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (failed(r))
		return r;
	*ph = (const Phdr *)r;
	*pages = table;
	n = sys_pread(fd, r, table, h->eh.e_phoff);
	return failed(n) ? n : (size_t)n == table ? 0 : -PHDRS_PAST_EOF;
}

void release_headers(const struct loader *ld)
{
	if (ld->ph_pages)
		sys2(SYS_munmap, ld->ph, ld->ph_pages);
}

/* The PT_LOADs, checked before anything is mapped, so that a broken loader is a reason
   and not a crash: p_filesz <= p_memsz, the file pages inside the file's pages (a byte
   past the end in its last page reads as 0; a page past it would be SIGBUS) and congruent
   with the address, no wrap around the address space.  Sets [*lo, *hi), page-rounded,
   over every PT_LOAD in any order, as the kernel's total_mapping_size. */
static long check_segments(const Ehdr *eh, const Phdr *ph, uint64_t file_size, size_t page, uintptr_t *lo,
                           uintptr_t *hi)
{
	const uintptr_t top = UINTPTR_MAX - page; /* page-rounding an end must not wrap */
	const uint64_t file_end = (file_size + page - 1) & -(uint64_t)page;
	const Phdr *first = 0;
	int sized = 0;
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (const Phdr *p = ph; p < ph + eh->e_phnum; p++) {
		if (p->p_type != PT_LOAD)
			continue;
		first = first ? first : p;
		if (p->p_filesz > p->p_memsz)
			return -FILESZ_OVER_MEMSZ;
		if (p->p_filesz && (p->p_offset > file_end || p->p_filesz > file_end - p->p_offset))
			return -PAST_EOF;
		if (p->p_vaddr > top || p->p_memsz > top - p->p_vaddr)
			return -WRAPS;
		if (p->p_filesz && ((p->p_vaddr - p->p_offset) & (page - 1)))
			return -INCONGRUENT;
		*lo = (p->p_vaddr & -page) < *lo ? p->p_vaddr & -page : *lo;
		*hi = p->p_vaddr + p->p_memsz > *hi ? p->p_vaddr + p->p_memsz : *hi;
		sized |= p->p_memsz != 0;
	}
	if (!sized)
		return -NO_LOAD;
	/* The kernel would place such an ET_DYN at a fixed address: docs/robustness.md. */
	if (eh->e_type == ET_DYN && !first->p_filesz)
		return -FIRST_LOAD_EMPTY;
	*hi = page_up(*hi, page);
	return 0;
}

/* Check a loader candidate and map it, with `room` bytes after it; 0 or why not.  Opened
   without blocking (a FIFO would wait for a writer) and without becoming a controlling
   terminal; opening a socket says ENXIO, where the kernel's open_exec says EACCES. */
long map_loader(const char *path, struct headers *h, const struct caller *who, size_t page, size_t room,
                struct loader *ld)
{
	uintptr_t lo = 0, hi = 0;
	uint64_t size = 0;
	const Phdr *ph = h->ph;
	size_t pages = 0;
	long fd = sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_LARGEFILE, 0);
	if (failed(fd))
		return fd == -ENXIO ? -NOT_REGULAR : fd;
	long r = check_file(fd, who, &size);
	if (!r)
		r = read_headers(fd, h, &ph, &pages);
	if (!r)
		r = check_segments(&h->eh, ph, size, page, &lo, &hi);
	/* Where the loader would fault on its first instruction. */
	if (!r && !(segment_prot(ph, h->eh.e_phnum, h->eh.e_entry, page) & PROT_EXEC))
		r = -BAD_ENTRY;
	if (!r)
		r = map_image(fd, &h->eh, ph, lo, hi, room, page, ld);
	sys1(SYS_close, fd);
	if (!r)
		ld->ph_pages = pages;
	else if (pages)
		sys2(SYS_munmap, ph, pages);
	return r;
}
