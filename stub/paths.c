/* Paths, one component at a time: joining them lexically, and resolving their symbolic
   links the way the kernel walks them. */
#include "stub.h"

#define MAX_SYMLINKS 40 /* the kernel's limit for one path walk (MAXSYMLINKS) */

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
long join_path(struct text *out, const char *a, const char *b)
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
long resolve_links(struct text *out, char *rest, char *spare)
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
