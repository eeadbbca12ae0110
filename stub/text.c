/* Bounded strings, numbers and reasons in words, and trace lines: what the stub's
   messages are made of.  Every line goes out whole, in one writev. */
#include "stub.h"

#define TRACE_PREFIX "relinterp: "

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

size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* s without `prefix`, or 0 if s does not start with it. */
const char *after(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return s;
}

void put(struct text *t, const char *s)
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
void put_uint(struct text *t, uintptr_t v, int hex)
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

void put_reason(struct text *t, long why)
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
struct text line_begin(char *buf)
{
	struct text t = text_at(buf, LINE_SIZE);
	put(&t, TRACE_PREFIX);
	return t;
}

void line_end(const struct text *t)
{
	const char *end = t->overflow ? "...\n" : "\n";
	struct iovec line[] = { { t->buf, t->len }, { (void *)end, str_len(end) } };
	sys3(SYS_writev, 2, line, 2);
}

/* "relinterp: what[value]" (no value when it is 0). */
COLD void say(const char *what, uintptr_t value)
{
	char buf[LINE_SIZE];
	struct text t = line_begin(buf);
	put(&t, what);
	if (value)
		put_uint(&t, value, 1);
	line_end(&t);
}
