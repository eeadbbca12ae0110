/*
 * The entry stub of a relinterp-patched program.
 *
 * The kernel starts the patched program as if it were static (it has no PT_INTERP).
 * Before any of the program's own code runs, this finds the program's loader relative
 * to the program, maps it the way the kernel maps PT_INTERP (fs/binfmt_elf.c,
 * load_elf_interp), hands it a program header table that names it in PT_INTERP, fixes
 * the aux vector and jumps to it.  From there the loader links the program exactly as
 * if the kernel had loaded it.
 *
 * Where it looks, in order: RELINTERP_LOADER (unless in secure mode), then the candidates
 * baked into the config block (relative to $ORIGIN or absolute).  RELINTERP_DEBUG=1
 * traces every step on stderr.  Both variables are picked up in the one walk over envp
 * that finding the aux vector needs anyway, so they cost nothing when unset.
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
/* The failure message names every candidate (and RELINTERP_LOADER) with its reason; the
   patcher bounds how many there are, so it always fits. */
#define MESSAGE_SIZE ((RELINTERP_MAX_CANDIDATES + 1) * (PATH_SIZE + 128))
#define TRACE_PREFIX "relinterp: "

/* Why a candidate was not used: a negative errno, or one of these (negated; above
   every errno, which the kernel keeps below 4096). */
enum {
	NOT_ELF = 4096,
	WRONG_CLASS,
	WRONG_MACHINE,
	NOT_SHARED_OBJECT,
	BAD_HEADERS,
	SECURE_MODE,
	ENV_SECURE_MODE,
	ENV_NOT_ABSOLUTE,
	NO_ORIGIN,
	NO_EXECFN,
	PATH_TOO_LONG,
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

/* A bounded string under construction. */
struct text {
	char *buf;
	size_t size, len;
	int overflow;
};

static struct text text_at(char *buf, size_t size)
{
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

/* Why a candidate was not used, in words: "<code>text\0" entries, the code an errno
   value, or for our own reasons 0x80 + (reason - NOT_ELF).  A table rather than a
   switch: a third of the code. */
static const char reasons[] =
	"\x02" "No such file or directory\0"
	"\x0d" "Permission denied\0"
	"\x01" "Operation not permitted\0"
	"\x14" "Not a directory\0"
	"\x15" "Is a directory\0"
	"\x28" "Symbolic link loop\0"
	"\x24" "Filename too long\0"
	"\x0c" "Out of memory\0"
	"\x05" "I/O error\0"
	"\x18" "No file descriptors available\0"
	"\x17" "Too many open files in system\0"
	"\x13" "No such device\0"
	"\x16" "Invalid argument\0"
	"\x1a" "Text file busy\0"
	"\x80" "not an ELF file\0"
	"\x81" "wrong ELF class or byte order\0"
	"\x82" "wrong machine, not " STUB_MACHINE_NAME "\0"
	"\x83" "not a loader (ELF type is not ET_DYN)\0"
	"\x84" "bad program headers\0"
	"\x85" "not tried: relative to $ORIGIN in a setuid/setgid program\0"
	"\x86" "not tried: ignored in a setuid/setgid program\0"
	"\x87" "not tried: not an absolute path\0"
	"\x89" "no /proc/self/exe and no AT_EXECFN\0"
	"\x8a" "path too long\0";

_Static_assert(ENOENT == 2 && EACCES == 13 && EPERM == 1 && ENOTDIR == 20 && EISDIR == 21 &&
               ELOOP == 40 && ENAMETOOLONG == 36 && ENOMEM == 12 && EIO == 5 && EMFILE == 24 &&
               ENFILE == 23 && ENODEV == 19 && EINVAL == 22 && ETXTBSY == 26,
               "errno values differ on this architecture: adjust the reasons table");
_Static_assert(PATH_TOO_LONG - NOT_ELF == 0x0a && NO_EXECFN - NOT_ELF == 0x09, "reasons table out of step");

static void put_reason(struct text *t, long why)
{
	long e = -why;
	unsigned code = e >= NOT_ELF ? (unsigned)(e - NOT_ELF + 0x80) : e > 0 && e < 0x80 ? (unsigned)e : 0;
	for (const char *r = reasons; code && *r; r += str_len(r) + 1) {
		if ((unsigned char)*r == code) {
			put(t, r + 1);
			return;
		}
	}
	put(t, "error ");
	put_uint(t, (uintptr_t)e, 0);
}

/* Trace lines go out whole, one writev each, so that they interleave cleanly with
   other writers of stderr. */
static void line_begin(struct text *t)
{
	t->len = 0;
	t->overflow = 0;
	put(t, TRACE_PREFIX);
}

static void line_end(const struct text *t)
{
	const char *end = t->overflow ? "...\n" : "\n";
	struct iovec line[] = { { t->buf, t->len }, { (void *)end, str_len(end) } };
	sys3(SYS_writev, 2, line, 2);
}

/* "relinterp: what[value]" (no value when it is 0). */
static void trace_value(struct text *t, const char *what, uintptr_t value)
{
	line_begin(t);
	put(t, what);
	if (value)
		put_uint(t, value, 1);
	line_end(t);
}

/* out = a + "/" + b with "." and ".." resolved lexically; a must be absolute. */
static long join_path(struct text *out, const char *a, const char *b)
{
	const char *parts[2] = { a, b };
	out->len = 0;
	out->overflow = 0;
	for (int i = 0; i < 2; i++) {
		const char *p = parts[i];
		while (*p) {
			while (*p == '/')
				p++;
			const char *end = p;
			while (*end && *end != '/')
				end++;
			size_t n = (size_t)(end - p);
			if (n == 2 && p[0] == '.' && p[1] == '.') {
				while (out->len > 0 && out->buf[--out->len] != '/')
					;
			} else if (n > 0 && !(n == 1 && p[0] == '.')) {
				if (out->len + 1 + n >= out->size)
					return -PATH_TOO_LONG;
				out->buf[out->len++] = '/';
				for (size_t k = 0; k < n; k++)
					out->buf[out->len++] = p[k];
			}
			p = end;
		}
	}
	if (out->len == 0)
		out->buf[out->len++] = '/';
	out->buf[out->len] = 0;
	return 0;
}

/* The absolute path `rest` with every symbolic link resolved, into out, the way the
   kernel walks it: component by component, a link's target replacing it (an absolute
   target restarting from /), ".." taking the parent of what is resolved so far, which
   is free of links by then (physical, not lexical), at most MAX_SYMLINKS links.  rest
   and spare are PATH_SIZE buffers, both overwritten. */
static long resolve_links(struct text *out, char *rest, char *spare)
{
	const char *p = rest;
	int links = 0;
	out->len = 0;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = p;
		while (*end && *end != '/')
			end++;
		size_t n = (size_t)(end - p), before = out->len;
		if (n == 1 && p[0] == '.') {
			p = end;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (out->len > 0 && out->buf[--out->len] != '/')
				;
			p = end;
			continue;
		}
		if (before + 1 + n >= out->size)
			return -ENAMETOOLONG;
		out->buf[out->len++] = '/';
		memcpy(out->buf + out->len, p, n);
		out->len += n;
		out->buf[out->len] = 0;
		long t = sys4(SYS_readlinkat, AT_FDCWD, out->buf, spare, PATH_SIZE - 1);
		if (t == -EINVAL) { /* not a link */
			p = end;
			continue;
		}
		if (failed(t))
			return t;
		size_t r = str_len(end);
		if (++links > MAX_SYMLINKS)
			return -ELOOP;
		if (t == 0 || (size_t)t + r >= PATH_SIZE)
			return t ? -ENAMETOOLONG : -ENOENT;
		memcpy(spare + t, end, r + 1); /* the link's target, then what follows it */
		out->len = spare[0] == '/' ? 0 : before;
		out->buf[out->len] = 0;
		char *swap = rest;
		rest = spare;
		spare = swap;
		p = rest;
	}
	if (out->len == 0)
		out->buf[out->len++] = '/';
	out->buf[out->len] = 0;
	return 0;
}

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

struct loader {
	uintptr_t base;
	uintptr_t entry;
};

/* Map one PT_LOAD at base like the kernel's elf_map + padzero: file pages, the bss
   tail of the last file page zeroed, anonymous pages for the rest. */
static long map_segment(long fd, const Phdr *ph, uintptr_t base, size_t page)
{
	int prot = prot_of(ph->p_flags);
	uintptr_t start = base + ph->p_vaddr;
	uintptr_t map_start = start & -page;
	uintptr_t file_end = start + ph->p_filesz;
	uintptr_t mem_end = start + ph->p_memsz;
	uintptr_t anon_start = map_start;
	long r;

	if (ph->p_filesz) {
		r = sys_mmap(map_start, file_end - map_start, prot, MAP_PRIVATE | MAP_FIXED, fd,
		             ph->p_offset - (start - map_start));
		if (failed(r))
			return r;
		anon_start = (file_end + page - 1) & -page;
		if (mem_end > file_end && (file_end & (page - 1))) {
			if (!(prot & PROT_WRITE))
				sys3(SYS_mprotect, file_end & -page, page, prot | PROT_WRITE);
			memset((void *)file_end, 0, anon_start - file_end);
			if (!(prot & PROT_WRITE))
				sys3(SYS_mprotect, file_end & -page, page, prot);
		}
	}
	if (mem_end > anon_start) {
		r = sys_mmap(anon_start, ((mem_end + page - 1) & -page) - anon_start, prot,
		             MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
		if (failed(r))
			return r;
	}
	return 0;
}

/* Check the ELF header of an open candidate and map it; 0 or a reason. */
static long map_loader(long fd, size_t page, struct loader *ld)
{
	/* Loaders keep their program headers right after the ELF header: one read. */
	union {
		Ehdr eh;
		unsigned char raw[sizeof(Ehdr) + MAX_LOADER_PHNUM * sizeof(Phdr)];
	} buf;
	const Ehdr *eh = &buf.eh;
	long n = sys_pread(fd, buf.raw, sizeof buf.raw, 0);

	if (failed(n))
		return n;
	if ((size_t)n < sizeof *eh || !is_elf(eh->e_ident))
		return -NOT_ELF;
	if (eh->e_ident[EI_CLASS] != STUB_CLASS || eh->e_ident[EI_DATA] != STUB_DATA)
		return -WRONG_CLASS;
	if (eh->e_machine != STUB_MACHINE)
		return -WRONG_MACHINE;
	if (eh->e_type != ET_DYN)
		return -NOT_SHARED_OBJECT;
	if (eh->e_phentsize != sizeof(Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_LOADER_PHNUM)
		return -BAD_HEADERS;
	size_t size = eh->e_phnum * sizeof(Phdr);
	const Phdr *ph = (const Phdr *)(buf.raw + sizeof(Ehdr));
	if (eh->e_phoff != sizeof(Ehdr) || (size_t)n < sizeof(Ehdr) + size) {
		n = sys_pread(fd, buf.raw + sizeof(Ehdr), size, eh->e_phoff);
		if (failed(n))
			return n;
		if ((size_t)n != size)
			return -BAD_HEADERS;
	}
	/* Reserve the whole span first, aligned to the largest p_align, so that the
	   segments keep their relative placement and nothing else lands in between. */
	uintptr_t lo = UINTPTR_MAX, hi = 0, align = page;
	for (size_t i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if ((ph[i].p_vaddr & -page) < lo)
			lo = ph[i].p_vaddr & -page;
		if (ph[i].p_vaddr + ph[i].p_memsz > hi)
			hi = ph[i].p_vaddr + ph[i].p_memsz;
		if (ph[i].p_align > align)
			align = ph[i].p_align;
	}
	if (hi <= lo || (align & (align - 1)))
		return -BAD_HEADERS;
	size_t span = ((hi + page - 1) & -page) - lo;
	size_t slack = align - page;
	long r = sys_mmap(0, span + slack, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (failed(r))
		return r;
	uintptr_t start = ((uintptr_t)r + align - 1) & -align;
	uintptr_t end = (uintptr_t)r + span + slack;
	if (start > (uintptr_t)r)
		sys2(SYS_munmap, r, start - (uintptr_t)r);
	if (end > start + span)
		sys2(SYS_munmap, start + span, end - start - span);

	ld->base = start - lo;
	ld->entry = ld->base + eh->e_entry;
	for (size_t i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		r = map_segment(fd, &ph[i], ld->base, page);
		if (failed(r)) {
			sys2(SYS_munmap, start, span);
			return r;
		}
	}
	return 0;
}

static long load(const char *path, size_t page, struct loader *ld)
{
	long fd = sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (failed(fd))
		return fd;
	long r = map_loader(fd, page, ld);
	sys1(SYS_close, fd);
	return r;
}

/* One anonymous mapping, kept for the life of the process: the program header table
   the loader is given, then $ORIGIN and the loader's path packed behind it, so that a
   normal start touches a single page (the stack stays shallow for the same reason).
   Behind those, pages touched only when needed: scratch space for resolving AT_EXECFN,
   the trace line, and the failure message. */
struct workspace {
	Phdr *table;
	struct text origin, path, line, message;
	char *scratch;     /* two PATH_SIZE buffers */
	long origin_state; /* 1: not looked up yet, 0: found, else why not */
	int trace;
};

static long open_workspace(struct workspace *w, size_t phnum, size_t page, int trace)
{
	size_t tsize = (phnum + 2) * sizeof(Phdr);
	size_t size = (tsize + 6 * PATH_SIZE + MESSAGE_SIZE + page - 1) & -page;
	long r = sys_mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (failed(r))
		return r;
	w->table = (Phdr *)r;
	w->origin = text_at((char *)r + tsize, PATH_SIZE);
	w->path = text_at(w->origin.buf + 1, PATH_SIZE);
	w->scratch = w->origin.buf + 2 * PATH_SIZE;
	w->line = text_at(w->scratch + 2 * PATH_SIZE, 2 * PATH_SIZE);
	w->message = text_at((char *)r + size - MESSAGE_SIZE, MESSAGE_SIZE);
	w->origin_state = 1;
	w->trace = trace;
	return 0;
}

/* The table the loader is given: PT_PHDR first (musl and glibc derive the load bias from
   it), PT_INTERP naming the loader (glibc asserts on it, musl names itself by it), then
   the program's own entries.  Returns the number of entries. */
static size_t build_phdrs(struct workspace *w, const Phdr *old, size_t n, uintptr_t bias)
{
	Phdr *t = w->table;
	memset(t, 0, 2 * sizeof(Phdr));
	t[0].p_type = PT_PHDR;
	t[0].p_flags = PF_R;
	t[0].p_vaddr = t[0].p_paddr = (uintptr_t)t - bias;
	t[0].p_align = sizeof(void *);
	t[1].p_type = PT_INTERP;
	t[1].p_flags = PF_R;
	t[1].p_vaddr = t[1].p_paddr = (uintptr_t)w->path.buf - bias;
	t[1].p_filesz = t[1].p_memsz = w->path.len + 1;
	t[1].p_align = 1;
	size_t k = 2;
	for (size_t i = 0; i < n; i++)
		if (old[i].p_type != PT_PHDR && old[i].p_type != PT_INTERP)
			t[k++] = old[i];
	t[0].p_filesz = t[0].p_memsz = k * sizeof(Phdr);
	return k;
}

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

struct aux {
	size_t *vec;
	uintptr_t phdr, phnum, page, execfn, entry;
	int secure;
};

static void read_aux(struct aux *a, size_t *auxv)
{
	uintptr_t ids[4] = { 0 };
	*a = (struct aux){ .vec = auxv, .page = 4096 };
	for (size_t *v = auxv; v[0] != AT_NULL; v += 2) {
		switch (v[0]) {
		case AT_PHDR: a->phdr = v[1]; break;
		case AT_PHNUM: a->phnum = v[1]; break;
		case AT_PAGESZ: a->page = v[1]; break;
		case AT_EXECFN: a->execfn = v[1]; break;
		case AT_ENTRY: a->entry = v[1]; break;
		case AT_SECURE: a->secure |= v[1] != 0; break;
		case AT_UID: ids[0] = v[1]; break;
		case AT_EUID: ids[1] = v[1]; break;
		case AT_GID: ids[2] = v[1]; break;
		case AT_EGID: ids[3] = v[1]; break;
		}
	}
	a->secure |= ids[0] != ids[1] || ids[2] != ids[3];
}

/* Set an aux vector entry; returns its old value. */
static uintptr_t set_aux(size_t *auxv, size_t type, uintptr_t value)
{
	uintptr_t old = 0;
	for (size_t *v = auxv; v[0] != AT_NULL; v += 2)
		if (v[0] == type) {
			old = v[1];
			v[1] = value;
		}
	return old;
}

/* A loader has already linked this program: it was run as `ld.so program`, and the
   loader jumped to e_entry.  musl's keeps the kernel's aux vector, which then describes
   the loader: AT_ENTRY is not this stub.  glibc's rewrites AT_PHDR and AT_ENTRY to the
   program's, and publishes its r_debug in DT_DEBUG before jumping.  PT_DYNAMIC is found
   through the program headers at AT_PHDR, never through an address recorded at patch
   time: a later tool (patchelf --add-needed) may have moved it. */
static int linked_already(const struct aux *a, uintptr_t bias)
{
	if (a->entry != (uintptr_t)_start)
		return 1;
	const Phdr *ph = (const Phdr *)a->phdr, *dyn = 0;
	for (size_t i = 0; i < a->phnum; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = &ph[i];
	if (!dyn)
		return 0;
	/* Read only what a PT_LOAD maps. */
	int mapped = 0;
	for (size_t i = 0; i < a->phnum; i++)
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

/* AT_EXECFN made absolute against the working directory, with its links resolved. */
static long resolve_execfn(struct workspace *w, const char *execfn)
{
	struct text abs = text_at(w->scratch, PATH_SIZE);
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
	return resolve_links(&w->origin, abs.buf, w->scratch + PATH_SIZE);
}

static void trace_origin(struct workspace *w, long proc, const char *execfn)
{
	struct text *t = &w->line;
	line_begin(t);
	put(t, w->origin_state ? "$ORIGIN unknown (" : "$ORIGIN ");
	if (!w->origin_state) {
		put(t, w->origin.buf);
		put(t, " (from ");
	}
	if (!failed(proc)) {
		put(t, "/proc/self/exe)");
		line_end(t);
		return;
	}
	if (execfn) {
		put(t, "AT_EXECFN ");
		put(t, execfn);
		put(t, w->origin_state ? ": " : ", made absolute, links resolved");
		if (w->origin_state)
			put_reason(t, w->origin_state);
	} else {
		put(t, "no AT_EXECFN");
	}
	put(t, "; /proc/self/exe: ");
	put_reason(t, proc);
	put(t, ")");
	line_end(t);
}

/* $ORIGIN: the directory of the running program, from the kernel's record of it, or
   else from the path it was executed by (AT_EXECFN), which gives the same directory:
   made absolute against the cwd, its links resolved as the kernel resolved them. */
static void find_origin(struct workspace *w, const char *execfn)
{
	struct text *o = &w->origin;
	long n = sys4(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", o->buf, o->size - 1);
	if (!failed(n) && (n == 0 || o->buf[0] != '/' || (size_t)n >= o->size - 1))
		n = -ENOENT; /* not a usable path */
	if (!failed(n)) {
		o->len = (size_t)n;
		w->origin_state = 0;
	} else {
		w->origin_state = execfn ? resolve_execfn(w, execfn) : -NO_EXECFN;
	}
	if (w->origin_state == 0) { /* the directory: up to the last '/', kept only for "/" */
		while (o->len > 1 && o->buf[--o->len] != '/')
			;
		o->buf[o->len] = 0;
	}
	if (w->trace)
		trace_origin(w, n, execfn);
}

/* Resolve one candidate into w->path and load it; 0 or why not. */
static long try_candidate(const char *cand, const struct aux *aux, struct workspace *w, struct loader *ld)
{
	w->path.len = 0;
	if (cand[0] == '/')
		return join_path(&w->path, cand, "") ?: load(w->path.buf, aux->page, ld);
	if (aux->secure)
		return -SECURE_MODE;
	if (w->origin_state > 0) {
		find_origin(w, (const char *)aux->execfn);
		w->path = text_at(w->origin.buf + w->origin.len + 1, PATH_SIZE);
	}
	if (w->origin_state < 0)
		return -NO_ORIGIN;
	return join_path(&w->path, w->origin.buf, cand) ?: load(w->path.buf, aux->page, ld);
}

/* RELINTERP_LOADER: an absolute path, honoured only outside secure mode. */
static long try_env(const char *value, const struct aux *aux, struct workspace *w, struct loader *ld)
{
	w->path.len = 0;
	if (aux->secure)
		return -ENV_SECURE_MODE;
	if (value[0] != '/')
		return -ENV_NOT_ABSOLUTE;
	return try_candidate(value, aux, w, ld);
}

/* "reason", with why $ORIGIN is unknown when that is the reason. */
static void put_why(struct text *t, const struct workspace *w, long why)
{
	if (why == -NO_ORIGIN) {
		put(t, "not tried: $ORIGIN unknown: ");
		why = w->origin_state;
	}
	put_reason(t, why);
}

/* How a candidate is named: its resolved path, else as given ($ORIGIN/rel), else
   (an environment value too long to be a path) by the variable's name alone. */
static void put_candidate(struct text *t, const struct workspace *w, const char *name, const char *cand, long why)
{
	if (w->path.len && why != -PATH_TOO_LONG) {
		put(t, name);
		put(t, w->path.buf);
	} else if (str_len(cand) < PATH_SIZE) {
		put(t, name[0] ? name : cand[0] == '/' ? "" : "$ORIGIN/");
		put(t, cand);
	} else {
		put(t, "RELINTERP_LOADER");
	}
}

/* "name=path (reason)" appended to the failure message. */
static void note_miss(struct workspace *w, const char *name, const char *cand, long why)
{
	struct text *m = &w->message;
	if (m->len)
		put(m, ", ");
	put_candidate(m, w, name, cand, why);
	put(m, " (");
	put_why(m, w, why);
	put(m, ")");
}

static void trace_try(struct workspace *w, const char *name, unsigned i, unsigned n, const char *cand,
                      long why, const struct loader *ld)
{
	struct text *t = &w->line;
	line_begin(t);
	if (name[0]) {
		put(t, name);
		put(t, cand);
	} else {
		put(t, "candidate ");
		put_uint(t, i, 0);
		put(t, " of ");
		put_uint(t, n, 0);
		put(t, ": ");
		put(t, cand[0] == '/' ? "" : "$ORIGIN/");
		put(t, cand);
		if (cand[0] != '/' && w->path.len && why != -PATH_TOO_LONG) {
			put(t, " = ");
			put(t, w->path.buf);
		}
	}
	put(t, ": ");
	if (why) {
		put_why(t, w, why);
	} else {
		put(t, "loader mapped at ");
		put_uint(t, ld->base, 1);
		put(t, ", entry ");
		put_uint(t, ld->entry, 1);
	}
	line_end(t);
}

/* One attempt, traced, and noted for the failure message; 1 if the loader is mapped. */
static int attempt(struct workspace *w, const struct aux *aux, unsigned i, unsigned n, const char *cand,
                   struct loader *ld)
{
	const char *name = i ? "" : "RELINTERP_LOADER=";
	long why = i ? try_candidate(cand, aux, w, ld) : try_env(cand, aux, w, ld);
	if (w->trace)
		trace_try(w, name, i, n, cand, why, ld);
	if (!why)
		return 1;
	note_miss(w, name, cand, why);
	return 0;
}

static void trace_aux(struct workspace *w, const char *name, uintptr_t old, uintptr_t now, int hex)
{
	struct text *t = &w->line;
	line_begin(t);
	put(t, "auxv ");
	put(t, name);
	put(t, " ");
	put_uint(t, old, hex);
	put(t, " -> ");
	put_uint(t, now, hex);
	line_end(t);
}

/* Hand the program to the mapped loader as the kernel would have: returns its entry. */
static uintptr_t enter_loader(struct workspace *w, const struct aux *aux, const struct loader *ld,
                              uintptr_t bias, uintptr_t entry)
{
	size_t count = build_phdrs(w, (const Phdr *)aux->phdr, aux->phnum, bias);
	uintptr_t phdr = set_aux(aux->vec, AT_PHDR, (uintptr_t)w->table);
	uintptr_t phnum = set_aux(aux->vec, AT_PHNUM, count);
	uintptr_t base = set_aux(aux->vec, AT_BASE, ld->base);
	uintptr_t old_entry = set_aux(aux->vec, AT_ENTRY, entry);
	if (w->trace) {
		trace_aux(w, "AT_PHDR", phdr, (uintptr_t)w->table, 1);
		trace_aux(w, "AT_PHNUM", phnum, count, 0);
		trace_aux(w, "AT_BASE", base, ld->base, 1);
		trace_aux(w, "AT_ENTRY", old_entry, entry, 1);
		trace_value(&w->line, "entering the loader at ", ld->entry);
	}
	return ld->entry;
}

/* A line on stderr without a workspace. */
static void say(const char *what, uintptr_t value)
{
	char buf[128];
	struct text t = text_at(buf, sizeof buf);
	trace_value(&t, what, value);
}

static void fail(const char *program, const struct text *tried)
{
	static const char what[] = ": relinterp: no usable loader: ";
	const char *why = tried ? tried->buf : "out of memory";
	const char *end = tried && tried->overflow ? "...\n" : "\n";
	struct iovec line[] = { /* one write: the line stays whole */
		{ (void *)program, str_len(program) },
		{ (void *)what, sizeof what - 1 },
		{ (void *)why, str_len(why) },
		{ (void *)end, str_len(end) },
	};
	sys3(SYS_writev, 2, line, 4);
	sys1(SYS_exit_group, EXIT_NO_LOADER);
	__builtin_unreachable();
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
	struct aux aux;

	read_aux(&aux, scan_env(argv + argc + 1, &env));
	/* No trace for setuid/setgid programs: it would show the unprivileged caller where a
	   privileged process is mapped (defeating ASLR) and what it probes; glibc likewise
	   ignores LD_DEBUG there. */
	int trace = env.debug && !aux.secure;
	if (env.debug && aux.secure)
		say("RELINTERP_DEBUG ignored in a setuid/setgid program", 0);
	if (linked_already(&aux, bias)) {
		if (trace)
			say("a loader linked the program already: entering it at ", entry);
		return entry;
	}
	const char *program = argc > 0 ? argv[0] : aux.execfn ? (const char *)aux.execfn : "program";

	struct workspace w;
	if (open_workspace(&w, aux.phnum, aux.page, trace))
		fail(program, 0);
	struct loader ld;
	if (env.loader && attempt(&w, &aux, 0, cfg->ncandidates, env.loader, &ld))
		return enter_loader(&w, &aux, &ld, bias, entry);
	const char *cand = (const char *)cfg + cfg->candidates;
	for (uint32_t i = 1; i <= cfg->ncandidates; i++, cand += str_len(cand) + 1)
		if (attempt(&w, &aux, i, cfg->ncandidates, cand, &ld))
			return enter_loader(&w, &aux, &ld, bias, entry);
	fail(program, &w.message);
	return 0;
}
