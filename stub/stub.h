/*
 * What the parts of the stub share: ELF types of the target's class, system calls,
 * bounded strings, the reasons, and the interface of each part.
 *
 *   text.c     bounded strings, numbers, reasons in words, trace lines
 *   paths.c    joining paths and resolving symbolic links, component by component
 *   loader.c   opening and checking a loader candidate as the kernel would
 *   image.c    mapping a checked loader as the kernel would, and what is mapped where
 *   relinterp.c  the search: aux vector, $ORIGIN, the candidates, the hand-over
 *   embedded.c   the start, and the start of a program whose loader is embedded in it
 *
 * Everything runs before relocation: no globals, no writable data, no calls through a
 * GOT; every symbol is hidden and reached PC-relatively (the build checks it).
 */
#ifndef RELINTERP_STUB_H
#define RELINTERP_STUB_H

#include <stddef.h>
#include <stdint.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* The kernel reads at most 64 KiB of a loader's program headers (load_elf_phdrs). */
#define MAX_LOADER_PHDR_BYTES 65536
/* As many as one read of the file's start gets with the ELF header: more than any loader has. */
#define FIRST_READ_PHNUM 32
#define PATH_SIZE 4096
#define LINE_SIZE (2 * PATH_SIZE + 128)
#define COLD __attribute__((noinline, cold))

/* Why a candidate was not used: a negative errno, or one of these (negated). */
enum {
	REASONS_BEFORE = 4095,
#define X(code, words) code,
	RELINTERP_OWN_REASONS(X)
#undef X
};

#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
/* A system call's result that is an error (-4095..-1); the stub's own reasons are below. */
#define failed(r) ((unsigned long)(r) > -4096UL)

/* The kernel's elf_check_arch for an interpreter: the machine alone on most architectures
   (the class and byte order bytes are not read); an arch header may say more. */
#ifndef STUB_MACHINE_OK
#define STUB_MACHINE_OK(eh) ((eh)->e_machine == STUB_MACHINE)
#endif

static inline uintptr_t page_up(uintptr_t v, size_t page)
{
	return (v + page - 1) & -page;
}

/* text.c */

/* A bounded string under construction. */
struct text {
	char *buf;
	size_t size, len;
	int overflow;
};

static inline struct text text_at(char *buf, size_t size)
{
	buf[0] = 0;
	return (struct text){ .buf = buf, .size = size };
}

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
size_t str_len(const char *s);
const char *after(const char *s, const char *prefix);
void put(struct text *t, const char *s);
void put_uint(struct text *t, uintptr_t v, int hex);
void put_reason(struct text *t, long why);
struct text line_begin(char *buf);
void line_end(const struct text *t);
COLD void say(const char *what, uintptr_t value);

/* paths.c */

long join_path(struct text *out, const char *a, const char *b);
long resolve_links(struct text *out, char *rest, char *spare);

/* loader.c */

static inline int is_elf(const unsigned char *id)
{
	return id[EI_MAG0] == ELFMAG0 && id[EI_MAG1] == ELFMAG1 && id[EI_MAG2] == ELFMAG2 &&
	       id[EI_MAG3] == ELFMAG3;
}

/* What the first read of a candidate gets: the ELF header, and the program headers right
   behind it, where loaders keep them. */
struct headers {
	Ehdr eh;
	Phdr ph[FIRST_READ_PHNUM];
};
_Static_assert(offsetof(struct headers, ph) == sizeof(Ehdr), "the program headers follow the ELF header");

/* Whose permission to execute a loader is judged: the kernel opens PT_INTERP with the
   credentials of the process calling execve. */
struct caller {
	uint32_t uid, gid;
};

struct loader {
	uintptr_t base, entry;
	char *room;       /* the pages mapped after the loader's image, for its program header table */
	const Phdr *ph;   /* its program headers, as read and checked: in the headers it was given, */
	size_t ph_pages;  /* or in pages of their own, this long (0: not), until release_headers */
	size_t phnum, page;
};

long map_loader(const char *path, struct headers *h, const struct caller *who, size_t page, size_t room,
                struct loader *ld);
void release_headers(const struct loader *ld);

/* image.c */

long map_image(long fd, const Ehdr *eh, const Phdr *ph, uintptr_t lo, uintptr_t hi, size_t room, size_t page,
               struct loader *ld);
int segment_prot(const Phdr *ph, size_t phnum, uintptr_t vaddr, size_t page);
size_t readable_bytes(const struct loader *ld, uintptr_t addr, size_t want);

/* relinterp.c: find, map and enter the loader; returns where entry.S jumps.  And the
   trace line of an aux vector value changed. */
uintptr_t relinterp_search(size_t *sp);
COLD void trace_aux(const char *name, uintptr_t old, uintptr_t now, int hex);

#endif
