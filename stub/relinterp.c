/*
 * The entry stub of a relinterp-patched program.
 *
 * The kernel starts the patched program as if it were static (it has no PT_INTERP).
 * Before any of the program's own code runs, this finds the program's loader relative
 * to the program, checks it and maps it the way the kernel maps PT_INTERP
 * (fs/binfmt_elf.c, load_elf_interp), hands it a program header table that names it in
 * PT_INTERP, fixes the aux vector and jumps to it.  From there the loader links the
 * program exactly as if the kernel had loaded it.
 *
 * Where it looks, in order: RELINTERP_LOADER (unless in secure mode), then the candidates
 * baked into the config block (relative to $ORIGIN or absolute).  RELINTERP_DEBUG=1
 * traces every step on stderr.  Both variables are picked up in the one walk over envp
 * that finding the aux vector needs anyway, so they cost nothing when unset.
 *
 * What a start costs: readlinkat (only for a candidate relative to $ORIGIN), then per
 * candidate tried openat, read, lseek, close, and for the one used one mmap per PT_LOAD
 * plus one for its bss and the page after it, which holds the program header table the
 * loader is given.  Nothing else is mapped: scratch space is on the stack.
 *
 * Runs before relocation, so: no globals, no writable data, no calls through a GOT;
 * everything is reached PC-relatively (the build checks it), all state is on the stack.
 */
#include <stddef.h>
#include <stdint.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#pragma GCC visibility push(hidden)

#include "config.h"
#include "syscall.h"
#include "reasons.h"

#if UINTPTR_MAX > 0xffffffffu
#define STUB_CLASS ELFCLASS64
typedef Elf64_Ehdr Ehdr;
typedef Elf64_Phdr Phdr;
typedef Elf64_Dyn Dyn;
#else
#define STUB_CLASS ELFCLASS32
typedef Elf32_Ehdr Ehdr;
typedef Elf32_Phdr Phdr;
typedef Elf32_Dyn Dyn;
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define STUB_DATA ELFDATA2LSB
#else
#define STUB_DATA ELFDATA2MSB
#endif

#define MAX_LOADER_PHNUM 32
#define PATH_SIZE 4096
#define MAX_SYMLINKS 40    /* the kernel's limit for one path walk (MAXSYMLINKS) */
#define EXIT_NO_LOADER 127 /* what ld.so uses for a missing library */
#define AUX_CNT 32         /* every aux vector tag the stub reads is below this */
/* The failure message; a longer one ends in "...". */
#define MESSAGE_SIZE 16384
#define LINE_SIZE (2 * PATH_SIZE + 128)
#define TRACE_PREFIX "relinterp: "
#define COLD __attribute__((noinline, cold))

enum {
	REASONS_BEFORE = 4095,
#define X(code, words) code,
	RELINTERP_OWN_REASONS(X)
#undef X
};

extern const struct relinterp_config relinterp_config; /* right after the code (stub.ld) */
extern const char _start[];                           /* entry.S: where the kernel enters */

#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define failed(r) ((unsigned long)(r) > -4096UL)

/* The compiler may emit calls to these for struct copies and zeroing.  memset also
   clears the loader's bss tail (up to a page), so it goes a word at a time. */
typedef size_t __attribute__((may_alias)) word;

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	for (; n && ((uintptr_t)d & (sizeof(word) - 1)); n--)
		*d++ = (unsigned char)c;
	word w = (unsigned char)c * (SIZE_MAX / 255);
	for (; n >= sizeof(word); n -= sizeof(word), d += sizeof(word))
		*(word *)d = w;
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

static size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* s without `prefix`, or 0 if s does not start with it. */
static const char *after(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return s;
}

static uintptr_t page_up(uintptr_t v, size_t page)
{
	return (v + page - 1) & -page;
}

/* A bounded string under construction. */
struct text {
	char *buf;
	size_t size, len;
	int overflow;
};

static struct text text_at(char *buf, size_t size)
{
	buf[0] = 0;
	return (struct text){ .buf = buf, .size = size };
}

static void put(struct text *t, const char *s)
{
	for (; *s; s++) {
		if (t->len >= t->size - 1) {
			t->overflow = 1;
			break;
		}
		t->buf[t->len++] = *s;
	}
	t->buf[t->len] = 0;
}

/* Decimal, or hexadecimal with "0x" (also for numbers too big for the decimal path).
   No division: at -Os some 32-bit targets (armhf) make one a libgcc call, which the
   stub cannot link; v * 0xcccd >> 19 is v / 10 for every v < 81920. */
static void put_uint(struct text *t, uintptr_t v, int hex)
{
	char digits[2 + 2 * sizeof v + 1];
	size_t i = sizeof digits;
	hex |= v >= 0x10000;
	digits[--i] = 0;
	do {
		uintptr_t q = hex ? v >> 4 : (v * 0xcccdu) >> 19;
		digits[--i] = "0123456789abcdef"[v - q * (hex ? 16 : 10)];
		v = q;
	} while (v);
	if (hex) {
		digits[--i] = 'x';
		digits[--i] = '0';
	}
	put(t, digits + i);
}

/* The reasons' codes and, in the same order, their words back to back: a table of
   pointers would need relocating. */
static const unsigned short reason_codes[] = {
#define X(code, words) code,
	RELINTERP_ERRNO_REASONS(X) RELINTERP_OWN_REASONS(X)
#undef X
};
static const char reason_words[] =
#define X(code, words) words "\0"
	RELINTERP_ERRNO_REASONS(X) RELINTERP_OWN_REASONS(X)
#undef X
	;

static void put_reason(struct text *t, long why)
{
	const char *words = reason_words;
	for (size_t i = 0; i < sizeof reason_codes / sizeof *reason_codes; i++, words += str_len(words) + 1) {
		if (reason_codes[i] == -why) {
			put(t, words);
			return;
		}
	}
	put(t, "error ");
	put_uint(t, (uintptr_t)-why, 0);
}

/* Trace lines go out whole, one writev each, so that they interleave cleanly with
   other writers of stderr. */
static struct text line_begin(char *buf)
{
	struct text t = text_at(buf, LINE_SIZE);
	put(&t, TRACE_PREFIX);
	return t;
}

static void line_end(const struct text *t)
{
	const char *end = t->overflow ? "...\n" : "\n";
	struct iovec line[] = { { t->buf, t->len }, { (void *)end, str_len(end) } };
	sys3(SYS_writev, 2, line, 2);
}

/* "relinterp: what[value]" (no value when it is 0). */
static COLD void say(const char *what, uintptr_t value)
{
	char buf[LINE_SIZE];
	struct text t = line_begin(buf);
	put(&t, what);
	if (value)
		put_uint(&t, value, 1);
	line_end(&t);
}

/* ------------------------------------------------------------------ paths */

/* The next component of the path at *p (slashes skipped), its length in *n; 0 at the end. */
static const char *next_component(const char **p, size_t *n)
{
	const char *s = *p;
	while (*s == '/')
		s++;
	const char *end = s;
	while (*end && *end != '/')
		end++;
	*p = end;
	*n = (size_t)(end - s);
	return *n ? s : 0;
}

/* Apply one component to the absolute path in out: "." stays, ".." goes up (never
   above /), a name is appended.  1 if a name was appended, 0 if not, or why not. */
static long step(struct text *out, const char *name, size_t n)
{
	if (n == 1 && name[0] == '.')
		return 0;
	if (n == 2 && name[0] == '.' && name[1] == '.') {
		while (out->len > 0 && out->buf[--out->len] != '/')
			;
		out->buf[out->len] = 0;
		return 0;
	}
	if (out->len + 1 + n >= out->size)
		return -PATH_TOO_LONG;
	out->buf[out->len++] = '/';
	memcpy(out->buf + out->len, name, n);
	out->len += n;
	out->buf[out->len] = 0;
	return 1;
}

static void finish_path(struct text *out)
{
	if (out->len == 0)
		out->buf[out->len++] = '/';
	out->buf[out->len] = 0;
}

/* out = a + "/" + b with "." and ".." resolved lexically; a must be absolute. */
static long join_path(struct text *out, const char *a, const char *b)
{
	const char *parts[2] = { a, b }, *name;
	size_t n;
	out->len = 0;
	for (int i = 0; i < 2; i++)
		for (const char *p = parts[i]; (name = next_component(&p, &n));)
			if (step(out, name, n) < 0)
				return -PATH_TOO_LONG;
	finish_path(out);
	return 0;
}

/* The absolute path `rest` with every symbolic link resolved, into out, the way the
   kernel walks it: component by component, a link's target replacing it (an absolute
   target restarting from /), ".." taking the parent of what is resolved so far, which
   is free of links by then (physical, not lexical), at most MAX_SYMLINKS links.  rest
   and spare are PATH_SIZE buffers, both overwritten. */
static long resolve_links(struct text *out, char *rest, char *spare)
{
	const char *p = rest, *name;
	size_t n;
	int links = 0;
	out->len = 0;
	while ((name = next_component(&p, &n))) {
		size_t before = out->len;
		long r = step(out, name, n);
		if (r == -PATH_TOO_LONG)
			return -ENAMETOOLONG;
		if (r == 0)
			continue;
		long t = sys4(SYS_readlinkat, AT_FDCWD, out->buf, spare, PATH_SIZE - 1);
		if (t == -EINVAL) /* not a link */
			continue;
		if (failed(t))
			return t;
		size_t left = str_len(p);
		if (++links > MAX_SYMLINKS)
			return -ELOOP;
		if (t == 0 || (size_t)t + left >= PATH_SIZE)
			return t ? -ENAMETOOLONG : -ENOENT;
		memcpy(spare + t, p, left + 1); /* the link's target, then what follows it */
		out->len = spare[0] == '/' ? 0 : before;
		out->buf[out->len] = 0;
		char *swap = rest;
		rest = spare;
		spare = swap;
		p = rest;
	}
	finish_path(out);
	return 0;
}

/* ------------------------------------------------------------------ the loader */

static int is_elf(const unsigned char *id)
{
	return id[EI_MAG0] == ELFMAG0 && id[EI_MAG1] == ELFMAG1 && id[EI_MAG2] == ELFMAG2 &&
	       id[EI_MAG3] == ELFMAG3;
}

static int prot_of(uint32_t flags)
{
	return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) |
	       (flags & PF_X ? PROT_EXEC : 0);
}

/* What the headers of a candidate are read into: loaders keep their program headers
   right after the ELF header, so one read gets both. */
union headers {
	Ehdr eh;
	unsigned char raw[sizeof(Ehdr) + MAX_LOADER_PHNUM * sizeof(Phdr)];
};

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
   and not a crash: inside the file, p_filesz <= p_memsz, no wrap around the address
   space, ascending and apart (the kernel's total_mapping_size assumes it), file offset
   congruent to the address, the entry point in code.  Sets [*lo, *hi), page-rounded. */
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
		if (p->p_offset > file_size || p->p_filesz > file_size - p->p_offset)
			return -PAST_EOF;
		if (p->p_vaddr > top || p->p_memsz > top - p->p_vaddr)
			return -WRAPS;
		if ((p->p_vaddr - p->p_offset) & (page - 1))
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

struct loader {
	uintptr_t base, entry;
	char *room; /* the pages mapped after the loader's image, for its program header table */
};

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
static long load(const char *path, size_t page, size_t room, struct loader *ld)
{
	union headers h;
	const Phdr *ph = (const Phdr *)(h.raw + sizeof(Ehdr));
	uintptr_t lo = 0, hi = 0;
	long fd = sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
	if (failed(fd))
		return fd;
	long size = sys3(SYS_lseek, fd, 0, SEEK_END);
	long r = size == -ESPIPE ? -NOT_REGULAR : size; /* reasons and errors are negative */
	if (r >= 0 && (r = sys_pread(fd, h.raw, sizeof h.raw, 0)) >= 0 && !(r = check_header(&h.eh, (size_t)r))) {
		ph = (const Phdr *)(h.raw + h.eh.e_phoff);
		r = check_segments(&h.eh, ph, (unsigned long)size, page, &lo, &hi);
	}
	if (!r)
		r = map_image(fd, &h.eh, ph, lo, hi, room, page, ld);
	sys1(SYS_close, fd);
	return r;
}

/* ------------------------------------------------------------------ the process */

/* What the environment asks for; read in the walk that finds the aux vector. */
struct env {
	const char *loader; /* RELINTERP_LOADER, if set and not empty */
	int debug;          /* RELINTERP_DEBUG set, not empty and not "0" */
};

static size_t *scan_env(char **envp, struct env *env)
{
	*env = (struct env){ 0 };
	for (; *envp; envp++) {
		const char *s = *envp, *v;
		if (s[0] != 'R' || !(s = after(s, "RELINTERP_")))
			continue;
		if ((v = after(s, "LOADER=")) && *v)
			env->loader = v;
		else if ((v = after(s, "DEBUG=")))
			env->debug = *v && !(v[0] == '0' && !v[1]);
	}
	return (size_t *)(envp + 1);
}

/* The aux vector read once into an array indexed by tag; written back the same way. */
static void read_aux(const size_t *auxv, size_t aux[AUX_CNT])
{
	for (const size_t *v = auxv; v[0] != AT_NULL; v += 2)
		if (v[0] < AUX_CNT)
			aux[v[0]] = v[1];
}

static void write_aux(size_t *auxv, const size_t aux[AUX_CNT])
{
	for (size_t *v = auxv; v[0] != AT_NULL; v += 2)
		if (v[0] < AUX_CNT)
			v[1] = aux[v[0]];
}

/* A loader has already linked this program: it was run as `ld.so program`, and the
   loader jumped to e_entry.  musl's keeps the kernel's aux vector, which then describes
   the loader: AT_ENTRY is not this stub.  glibc's rewrites AT_PHDR and AT_ENTRY to the
   program's, and publishes its r_debug in DT_DEBUG before jumping.  PT_DYNAMIC is found
   through the program headers at AT_PHDR, never through an address recorded at patch
   time: a later tool (patchelf --add-needed) may have moved it. */
static int linked_already(const size_t aux[AUX_CNT], uintptr_t bias)
{
	if (aux[AT_ENTRY] != (uintptr_t)_start)
		return 1;
	const Phdr *ph = (const Phdr *)aux[AT_PHDR], *dyn = 0;
	for (size_t i = 0; i < aux[AT_PHNUM]; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = &ph[i];
	if (!dyn)
		return 0;
	/* Read only what a PT_LOAD maps. */
	int mapped = 0;
	for (size_t i = 0; i < aux[AT_PHNUM]; i++)
		mapped |= ph[i].p_type == PT_LOAD && dyn->p_vaddr >= ph[i].p_vaddr &&
		          dyn->p_vaddr + dyn->p_memsz <= ph[i].p_vaddr + ph[i].p_memsz;
	if (!mapped)
		return 0;
	const Dyn *d = (const Dyn *)(bias + dyn->p_vaddr);
	for (size_t n = dyn->p_memsz / sizeof(Dyn); n-- && d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_DEBUG)
			return d->d_un.d_ptr != 0;
	return 0;
}

/* The search for a loader: where the program is, and what was tried. */
struct search {
	const size_t *aux;
	int secure, trace;
	struct text origin;  /* $ORIGIN, once looked up */
	long origin_state;   /* 1: not looked up yet, 0: found, else why not */
	struct text path;    /* the candidate being tried, resolved */
	long why[RELINTERP_MAX_CANDIDATES + 1]; /* [0] RELINTERP_LOADER, then each candidate */
};

static COLD void trace_origin(const struct search *s, long proc, const char *execfn)
{
	char buf[LINE_SIZE];
	struct text t = line_begin(buf);
	put(&t, s->origin_state ? "$ORIGIN unknown (" : "$ORIGIN ");
	if (!s->origin_state) {
		put(&t, s->origin.buf);
		put(&t, " (from ");
	}
	if (!failed(proc)) {
		put(&t, "/proc/self/exe)");
		line_end(&t);
		return;
	}
	if (execfn) {
		put(&t, "AT_EXECFN ");
		put(&t, execfn);
		put(&t, s->origin_state ? ": " : ", made absolute, links resolved");
		if (s->origin_state)
			put_reason(&t, s->origin_state);
	} else {
		put(&t, "no AT_EXECFN");
	}
	put(&t, "; /proc/self/exe: ");
	put_reason(&t, proc);
	put(&t, ")");
	line_end(&t);
}

/* AT_EXECFN made absolute against the working directory, with its links resolved. */
static COLD long resolve_execfn(struct text *origin, const char *execfn)
{
	char rest[PATH_SIZE], spare[PATH_SIZE];
	struct text abs = text_at(rest, PATH_SIZE);
	if (execfn[0] != '/') {
		long r = sys2(SYS_getcwd, abs.buf, abs.size);
		if (failed(r))
			return r;
		if (abs.buf[0] != '/') /* "(unreachable)...": the cwd is outside our root */
			return -ENOENT;
		abs.len = str_len(abs.buf);
		put(&abs, "/");
	}
	put(&abs, execfn);
	if (abs.overflow)
		return -ENAMETOOLONG;
	return resolve_links(origin, rest, spare);
}

/* $ORIGIN: the directory of the running program, from the kernel's record of it, or
   else from the path it was executed by (AT_EXECFN), which gives the same directory:
   made absolute against the cwd, its links resolved as the kernel resolved them. */
static void find_origin(struct search *s)
{
	struct text *o = &s->origin;
	const char *execfn = (const char *)s->aux[AT_EXECFN];
	long n = sys4(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", o->buf, o->size - 1);
	if (!failed(n) && (n == 0 || o->buf[0] != '/' || (size_t)n >= o->size - 1))
		n = -ENOENT; /* not a usable path */
	if (!failed(n)) {
		o->len = (size_t)n;
		s->origin_state = 0;
	} else {
		s->origin_state = execfn ? resolve_execfn(o, execfn) : -NO_EXECFN;
	}
	if (s->origin_state == 0) { /* the directory: up to the last '/', kept only for "/" */
		while (o->len > 1 && o->buf[--o->len] != '/')
			;
		o->buf[o->len] = 0;
	}
	if (s->trace)
		trace_origin(s, n, execfn);
}

/* The candidate as a path into s->path: an absolute one as it is, a relative one
   against $ORIGIN (looked up the first time one is needed); 0 or why not. */
static long resolve_candidate(struct search *s, const char *cand, int from_env)
{
	s->path.len = 0;
	if (from_env && s->secure)
		return -ENV_SECURE_MODE;
	if (from_env && cand[0] != '/')
		return -ENV_NOT_ABSOLUTE;
	if (cand[0] == '/')
		return join_path(&s->path, cand, "");
	if (s->secure)
		return -SECURE_MODE;
	if (s->origin_state > 0)
		find_origin(s);
	if (s->origin_state < 0)
		return -NO_ORIGIN;
	return join_path(&s->path, s->origin.buf, cand);
}

/* Whether a candidate that failed for this reason was resolved to a path. */
static int was_resolved(long why)
{
	return why != -ENV_SECURE_MODE && why != -ENV_NOT_ABSOLUTE && why != -SECURE_MODE && why != -NO_ORIGIN &&
	       why != -PATH_TOO_LONG;
}

/* "reason", with why $ORIGIN is unknown when that is the reason. */
static void put_why(struct text *t, const struct search *s, long why)
{
	put_reason(t, why);
	if (why == -NO_ORIGIN) {
		put(t, ": ");
		put_reason(t, s->origin_state);
	}
}

static COLD void trace_try(const struct search *s, unsigned i, unsigned n, const char *cand, long why,
                           const struct loader *ld)
{
	char buf[LINE_SIZE];
	struct text t = line_begin(buf);
	if (i == 0) {
		put(&t, "RELINTERP_LOADER=");
		put(&t, cand);
	} else {
		put(&t, "candidate ");
		put_uint(&t, i, 0);
		put(&t, " of ");
		put_uint(&t, n, 0);
		put(&t, ": ");
		put(&t, cand[0] == '/' ? "" : "$ORIGIN/");
		put(&t, cand);
		if (cand[0] != '/' && was_resolved(why)) {
			put(&t, " = ");
			put(&t, s->path.buf);
		}
	}
	put(&t, ": ");
	if (why) {
		put_why(&t, s, why);
	} else {
		put(&t, "loader mapped at ");
		put_uint(&t, ld->base, 1);
		put(&t, ", entry ");
		put_uint(&t, ld->entry, 1);
	}
	line_end(&t);
}

/* One attempt (0: RELINTERP_LOADER, then the candidates from 1), traced and recorded
   for the failure message; 1 if the loader is mapped, with room after it for the
   table of `phnum` entries and the loader's path. */
static int attempt(struct search *s, unsigned i, unsigned n, const char *cand, struct loader *ld)
{
	long why = resolve_candidate(s, cand, i == 0);
	if (!why)
		why = load(s->path.buf, s->aux[AT_PAGESZ], (s->aux[AT_PHNUM] + 2) * sizeof(Phdr) + s->path.len + 1, ld);
	if (s->trace)
		trace_try(s, i, n, cand, why, ld);
	s->why[i] = why;
	return !why;
}

/* "name=path (reason)" for one attempt, as the failure message names it: its resolved
   path, else as given ($ORIGIN/rel), else (an environment value too long to be a path)
   by the variable's name alone. */
static void put_attempt(struct text *m, struct search *s, unsigned i, const char *cand)
{
	long why = s->why[i];
	if (m->len)
		put(m, ", ");
	if (was_resolved(why) && !resolve_candidate(s, cand, i == 0)) {
		put(m, i ? "" : "RELINTERP_LOADER=");
		put(m, s->path.buf);
	} else if (str_len(cand) < PATH_SIZE) {
		put(m, i ? cand[0] == '/' ? "" : "$ORIGIN/" : "RELINTERP_LOADER=");
		put(m, cand);
	} else {
		put(m, "RELINTERP_LOADER");
	}
	put(m, " (");
	put_why(m, s, why);
	put(m, ")");
}

/* The one line that says no loader could be used, and exit 127. */
static COLD _Noreturn void fail(const char *program, struct search *s, const char *env_loader,
                                 const char *cand, unsigned n)
{
	static const char what[] = ": relinterp: no usable loader: ";
	char buf[MESSAGE_SIZE];
	struct text m = text_at(buf, sizeof buf);
	if (env_loader)
		put_attempt(&m, s, 0, env_loader);
	for (unsigned i = 1; i <= n; i++, cand += str_len(cand) + 1)
		put_attempt(&m, s, i, cand);
	const char *end = m.overflow ? "...\n" : "\n";
	struct iovec line[] = { /* one write: the line stays whole */
		{ (void *)program, str_len(program) },
		{ (void *)what, sizeof what - 1 },
		{ m.buf, m.len },
		{ (void *)end, str_len(end) },
	};
	sys3(SYS_writev, 2, line, 4);
	for (;;)
		sys1(SYS_exit_group, EXIT_NO_LOADER);
}

static COLD void trace_aux(const char *name, uintptr_t old, uintptr_t now, int hex)
{
	char buf[LINE_SIZE];
	struct text t = line_begin(buf);
	put(&t, "auxv ");
	put(&t, name);
	put(&t, " ");
	put_uint(&t, old, hex);
	put(&t, " -> ");
	put_uint(&t, now, hex);
	line_end(&t);
}

/* The table the loader is given, in the room after it, with the loader's path behind
   it: both must live as long as the process.  PT_PHDR first (musl and glibc derive the
   load bias from it), PT_INTERP naming the loader (glibc asserts on it, musl names
   itself by it), then the program's own entries.  Returns the number of entries. */
static size_t build_phdrs(const struct loader *ld, const struct text *path, const Phdr *old, size_t n,
                          uintptr_t bias)
{
	Phdr *t = (Phdr *)ld->room;
	char *interp = ld->room + (n + 2) * sizeof(Phdr);
	memcpy(interp, path->buf, path->len + 1);
	t[0] = (Phdr){ .p_type = PT_PHDR, .p_flags = PF_R, .p_align = sizeof(void *) };
	t[0].p_vaddr = t[0].p_paddr = (uintptr_t)t - bias;
	t[1] = (Phdr){ .p_type = PT_INTERP, .p_flags = PF_R, .p_align = 1 };
	t[1].p_vaddr = t[1].p_paddr = (uintptr_t)interp - bias;
	t[1].p_filesz = t[1].p_memsz = path->len + 1;
	size_t k = 2;
	for (size_t i = 0; i < n; i++)
		if (old[i].p_type != PT_PHDR && old[i].p_type != PT_INTERP)
			t[k++] = old[i];
	t[0].p_filesz = t[0].p_memsz = k * sizeof(Phdr);
	return k;
}

/* Hand the program to the mapped loader as the kernel would have: returns its entry. */
static uintptr_t enter_loader(const struct search *s, size_t aux[AUX_CNT], size_t *auxv, const struct loader *ld,
                              uintptr_t bias, uintptr_t entry)
{
	size_t old[AUX_CNT];
	memcpy(old, aux, sizeof old);
	aux[AT_PHNUM] = build_phdrs(ld, &s->path, (const Phdr *)aux[AT_PHDR], aux[AT_PHNUM], bias);
	aux[AT_PHDR] = (uintptr_t)ld->room;
	aux[AT_BASE] = ld->base;
	aux[AT_ENTRY] = entry;
	write_aux(auxv, aux);
	if (s->trace) {
		trace_aux("AT_PHDR", old[AT_PHDR], aux[AT_PHDR], 1);
		trace_aux("AT_PHNUM", old[AT_PHNUM], aux[AT_PHNUM], 0);
		trace_aux("AT_BASE", old[AT_BASE], aux[AT_BASE], 1);
		trace_aux("AT_ENTRY", old[AT_ENTRY], aux[AT_ENTRY], 1);
		say("entering the loader at ", ld->entry);
	}
	return ld->entry;
}

/* Called by entry.S with the initial stack; returns where to jump with it. */
uintptr_t relinterp_start(size_t *sp)
{
	const struct relinterp_config *cfg = &relinterp_config;
	uintptr_t bias = (uintptr_t)cfg - (uintptr_t)cfg->config_vaddr;
	uintptr_t entry = bias + (uintptr_t)cfg->entry;
	long argc = (long)sp[0];
	char **argv = (char **)(sp + 1);
	struct env env;
	size_t *auxv = scan_env(argv + argc + 1, &env);
	size_t aux[AUX_CNT] = { [AT_PAGESZ] = 4096 };
	read_aux(auxv, aux);
	int secure = aux[AT_SECURE] || aux[AT_UID] != aux[AT_EUID] || aux[AT_GID] != aux[AT_EGID];
	/* No trace for setuid/setgid programs: it would show the unprivileged caller where a
	   privileged process is mapped (defeating ASLR) and what it probes; glibc likewise
	   ignores LD_DEBUG there. */
	int trace = env.debug && !secure;
	if (env.debug && secure)
		say("RELINTERP_DEBUG ignored in a setuid/setgid program", 0);
	if (linked_already(aux, bias)) {
		if (trace)
			say("a loader linked the program already: entering it at ", entry);
		return entry;
	}

	char origin[PATH_SIZE], path[PATH_SIZE];
	struct search s = { .aux = aux, .secure = secure, .trace = trace, .origin_state = 1,
	                    .origin = text_at(origin, PATH_SIZE), .path = text_at(path, PATH_SIZE) };
	struct loader ld;
	unsigned n = cfg->ncandidates > RELINTERP_MAX_CANDIDATES ? RELINTERP_MAX_CANDIDATES : cfg->ncandidates;
	const char *first = (const char *)cfg + cfg->candidates, *cand = first;
	if (env.loader && attempt(&s, 0, n, env.loader, &ld))
		return enter_loader(&s, aux, auxv, &ld, bias, entry);
	for (unsigned i = 1; i <= n; i++, cand += str_len(cand) + 1)
		if (attempt(&s, i, n, cand, &ld))
			return enter_loader(&s, aux, auxv, &ld, bias, entry);
	fail(argc > 0 ? argv[0] : aux[AT_EXECFN] ? (const char *)aux[AT_EXECFN] : "program", &s, env.loader, first, n);
}
