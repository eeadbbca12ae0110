/*
 * The config block the patcher appends right after the stub's code.
 *
 * The layout is defined once, in relinterp/elf/record.py (CONFIG_FIELDS); this is
 * its C mirror, and tests/integration/test_stub_blob.py compiles it and checks every
 * field's offset and size and every constant below against the Python definition.
 * Fields are fixed-width whatever the ELF class, in the byte order of the patched file
 * (which is the target's).
 */
#ifndef RELINTERP_CONFIG_H
#define RELINTERP_CONFIG_H

#include <stdint.h>

#define RELINTERP_CONFIG_SCHEMA 1

/* Bounds the patcher enforces, so that the stub's buffers always suffice (the stub reads
   no more than RELINTERP_MAX_CANDIDATES candidates whatever ncandidates says). */
#define RELINTERP_MAX_CANDIDATES 16
#define RELINTERP_MAX_CANDIDATE_BYTES 1024

/* flags: where the candidates came from, for tools (the stub does not read these two). */
#define RELINTERP_FLAG_DERIVED 0x1u         /* derived from DT_RUNPATH/DT_RPATH */
#define RELINTERP_FLAG_SYSTEM_FALLBACK 0x2u /* the last one is the original PT_INTERP */
/* The one flag the stub reads: the loader is embedded in the program (no candidates), and
   struct relinterp_embedded follows the config block. */
#define RELINTERP_FLAG_EMBEDDED 0x4u

struct relinterp_config {
	uint64_t config_vaddr;    /* link-time address of this block: load bias = &block - this */
	uint64_t entry;           /* the program's original e_entry */
	uint64_t dynamic;         /* p_vaddr of PT_DYNAMIC at patch time, 0 if none: for tools
	                             only; the stub finds PT_DYNAMIC through AT_PHDR, since a
	                             later tool (patchelf) may move it */
	uint32_t flags;           /* RELINTERP_FLAG_*: provenance of the candidates */
	uint32_t ncandidates;     /* number of loader candidates */
	uint32_t candidates;      /* offset (from this block) of the candidates: NUL-terminated
	                             paths back to back, absolute or relative to $ORIGIN */
	uint32_t candidates_size; /* their total size in bytes */
	uint32_t restore;         /* offset of what `restore` needs; never read at run time */
	uint32_t restore_size;
};

_Static_assert(sizeof(struct relinterp_config) == 48, "config block layout changed");

/* Right after the config block when RELINTERP_FLAG_EMBEDDED is set: where the kernel has
   mapped the loader, as link-time addresses of the program (add the load bias). */
struct relinterp_embedded {
	uint64_t base;   /* the loader's ELF header: its base, AT_BASE */
	uint64_t entry;  /* the loader's entry point */
	uint64_t phdr;   /* the program header table the loader is given: AT_PHDR */
	uint64_t phnum;  /* its entries: AT_PHNUM */
	uint64_t program_phnum; /* the entries of the program's own table (e_phnum), as patched */
	uint64_t offset; /* where the loader's file lies in this file; for tools only */
	uint64_t size;   /* its size in bytes; for tools only */
};

_Static_assert(sizeof(struct relinterp_embedded) == 56, "embedded loader record layout changed");

#endif
