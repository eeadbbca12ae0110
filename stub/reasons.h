/*
 * Why a loader candidate was not used: the one list of reasons and their words.
 *
 * A reason is a negative errno value, or a negative code of the stub's own (above every
 * errno, which the kernel keeps below 4096).  X(code, words) for each; relinterp.c turns
 * the list into the enum of its own codes and into the table that names them.  Errno
 * names come from the target's own headers, so their values are right on every
 * architecture.  Every errno a system call of the stub can fail with is here (one missing
 * would be printed as "error N"): those openat, statx, lseek, pread64, mmap, munmap,
 * mprotect, getgroups, readlinkat and getcwd document for a path or a file.
 */
#ifndef RELINTERP_REASONS_H
#define RELINTERP_REASONS_H

#define RELINTERP_ERRNO_REASONS(X)                       \
	X(ENOENT, "No such file or directory")           \
	X(EACCES, "Permission denied")                   \
	X(EPERM, "Operation not permitted")              \
	X(ENOTDIR, "Not a directory")                    \
	X(EISDIR, "Is a directory")                      \
	X(ELOOP, "Symbolic link loop")                   \
	X(ENAMETOOLONG, "Filename too long")             \
	X(ENOMEM, "Out of memory")                       \
	X(EIO, "I/O error")                              \
	X(EMFILE, "No file descriptors available")       \
	X(ENFILE, "Too many open files in system")       \
	X(ENODEV, "No such device")                      \
	X(ENXIO, "No such device or address")            \
	X(EINVAL, "Invalid argument")                    \
	X(ETXTBSY, "Text file busy")                     \
	X(EEXIST, "File exists")                         \
	X(EOVERFLOW, "Value too large for data type")    \
	X(EFBIG, "File too large")                       \
	X(EAGAIN, "Resource temporarily unavailable")    \
	X(EINTR, "Interrupted system call")              \
	X(EFAULT, "Bad address")                         \
	X(ESTALE, "Stale file handle")                   \
	X(ERANGE, "Result not representable")

/* The stub's own, numbered from 4096 in this order. */
#define RELINTERP_OWN_REASONS(X)                                                              \
	X(NOT_ELF, "not an ELF file")                                                         \
	X(WRONG_MACHINE, "wrong machine, not " STUB_MACHINE_NAME)                            \
	X(NOT_LOADER_TYPE, "not a loader (ELF type is neither ET_DYN nor ET_EXEC)")           \
	X(BAD_PHENTSIZE, "bad program header size (e_phentsize)")                             \
	X(BAD_PHNUM, "no program headers, or more than 64 KiB of them")                  \
	X(PHDRS_PAST_EOF, "program headers past the end of the file")                         \
	X(NOT_REGULAR, "Permission denied (not a regular file)")                              \
	X(NO_LOAD, "no PT_LOAD segment")                                                      \
	X(FIRST_LOAD_EMPTY, "first PT_LOAD segment has no file bytes")                        \
	X(FILESZ_OVER_MEMSZ, "segment larger in the file than in memory")                     \
	X(PAST_EOF, "segment past the end of the file (truncated?)")                          \
	X(WRAPS, "segment wraps around the address space")                                    \
	X(INCONGRUENT, "segment's file offset and address differ within a page")              \
	X(BAD_ENTRY, "entry point not in the loader's executable pages")                      \
	X(SECURE_MODE, "not tried: relative to $ORIGIN in secure mode (setuid, setgid or file capabilities)") \
	X(ENV_SECURE_MODE, "not tried: ignored in secure mode (setuid, setgid or file capabilities)")         \
	X(ENV_NOT_ABSOLUTE, "not tried: not an absolute path")                                \
	X(NO_ORIGIN, "not tried: $ORIGIN unknown")                                            \
	X(NO_EXECFN, "no /proc/self/exe and no AT_EXECFN")                                    \
	X(PATH_TOO_LONG, "path too long")

#endif
