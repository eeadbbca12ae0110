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
 * candidate tried openat, statx, pread, close, and for the one used one mmap per PT_LOAD
 * plus one for its bss and the page after it, which holds the program header table the
 * loader is given.  Nothing else is mapped: scratch space is on the stack.
 *
 * This file is the start; the checks are in loader.c, the mapping in image.c, paths in
 * paths.c, messages in text.c (see stub.h).  All state is on the stack.
 */
#include "stub.h"

#define EXIT_NO_LOADER 127 /* what ld.so uses for a missing library */
#define AUX_CNT 32         /* every aux vector tag the stub reads is below this */
#define MESSAGE_SIZE 16384 /* the failure message; a longer one ends in "..." */

extern const struct relinterp_config relinterp_config; /* right after the code (stub.ld) */
extern const char _start[];                           /* entry.S: where the kernel enters */

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

/* The search for a loader: where the program is, and what was tried.  On the stack, and
   what a normal start writes lies close together: the headers, the fields and the aux
   vector by tag, and $ORIGIN with the candidate's path packed behind it at the start of
   `paths`. */
struct search {
	char paths[2 * PATH_SIZE];
	struct headers headers;
	long why[RELINTERP_MAX_CANDIDATES + 1]; /* [0] RELINTERP_LOADER, then each candidate */
	struct text origin; /* $ORIGIN, once looked up, at the start of `paths` */
	struct text path;   /* the candidate being tried, resolved, behind $ORIGIN */
	long origin_state;  /* 1: not looked up yet, 0: found, else why not */
	int secure, trace;
	struct caller who;  /* whose permission to execute a loader is judged */
	size_t aux[AUX_CNT]; /* the aux vector by tag */
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
	s->path = text_at(o->buf + o->len + 1, PATH_SIZE);
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
   program header table it will be given (two entries more) and its path. */
static int attempt(struct search *s, unsigned i, unsigned n, const char *cand, struct loader *ld)
{
	long why = resolve_candidate(s, cand, i == 0);
	size_t room = (s->aux[AT_PHNUM] + 2) * sizeof(Phdr) + s->path.len + 1;
	if (!why)
		why = map_loader(s->path.buf, &s->headers, &s->who, s->aux[AT_PAGESZ], room, ld);
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

COLD void trace_aux(const char *name, uintptr_t old, uintptr_t now, int hex)
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

#include "debug_hook.h"

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
	int hooked = hook_debugger(ld);
	release_headers(ld);
	if (s->trace) {
		if (hooked)
			say("debugger: the loader's _dl_debug_state jumps to the program's", 0);
		trace_aux("AT_PHDR", old[AT_PHDR], aux[AT_PHDR], 1);
		trace_aux("AT_PHNUM", old[AT_PHNUM], aux[AT_PHNUM], 0);
		trace_aux("AT_BASE", old[AT_BASE], aux[AT_BASE], 1);
		trace_aux("AT_ENTRY", old[AT_ENTRY], aux[AT_ENTRY], 1);
		say("entering the loader at ", ld->entry);
	}
	return ld->entry;
}

/* Called (by relinterp_start, embedded.c) with the initial stack; returns where to jump with it. */
uintptr_t relinterp_search(size_t *sp)
{
	const struct relinterp_config *cfg = &relinterp_config;
	uintptr_t bias = (uintptr_t)cfg - (uintptr_t)cfg->config_vaddr;
	uintptr_t entry = bias + (uintptr_t)cfg->entry;
	long argc = (long)sp[0];
	char **argv = (char **)(sp + 1);
	struct env env;
	size_t *auxv = scan_env(argv + argc + 1, &env);
	struct search s;
	size_t *aux = s.aux;
	memset(aux, 0, sizeof s.aux);
	aux[AT_PAGESZ] = 4096;
	read_aux(auxv, aux);
	int secure = aux[AT_SECURE] || aux[AT_UID] != aux[AT_EUID] || aux[AT_GID] != aux[AT_EGID];
	/* No trace in secure mode: it would show the unprivileged caller where a privileged
	   process is mapped (defeating ASLR) and what it probes; glibc likewise ignores
	   LD_DEBUG there. */
	int trace = env.debug && !secure;
	if (env.debug && secure)
		say("RELINTERP_DEBUG ignored in secure mode (setuid, setgid or file capabilities)", 0);
	if (linked_already(aux, bias)) {
		if (trace)
			say("a loader linked the program already: entering it at ", entry);
		return entry;
	}

	s.secure = secure;
	s.trace = trace;
	/* The kernel opens PT_INTERP before a set-user-ID takes effect: as the caller, whose
	   effective ids were, in secure mode, most likely its real ones. */
	s.who = (struct caller){ secure ? aux[AT_UID] : aux[AT_EUID], secure ? aux[AT_GID] : aux[AT_EGID] };
	s.origin_state = 1;
	s.origin = s.path = text_at(s.paths, PATH_SIZE); /* the path moves behind $ORIGIN once found */
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
