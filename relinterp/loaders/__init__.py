"""The musl and glibc loaders: which family a program belongs to, their search rules,
$ORIGIN, and the closure of libraries a program loads."""
