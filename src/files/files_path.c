/*
 * Path safety for the file-transfer capability: the name rules
 * (files_name_check, pure) and opening beneath a folder's directory fd
 * (files_open_beneath), with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
 * when the kernel has it and a per-component O_NOFOLLOW walk otherwise.
 * The contract is at the top of files_path.h.
 */
#include "files_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscomm/error.h"

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#include <sys/syscall.h>
#if defined(SYS_openat2)
#define FILES_HAVE_OPENAT2 1
#endif
#endif
#endif

int files_path_force_walk;

#ifdef FILES_HAVE_OPENAT2
/* Set once a call to openat2 answered ENOSYS: the kernel is older than 5.6 or a filter hides it. */
static atomic_int openat2_missing;
#endif

/* The messages below spell the limits out; keep them in step. */
_Static_assert(FILES_NAME_MAX == 1024u, "update the 'longer than' message");
_Static_assert(FILES_SEGMENT_MAX == 255u, "update the 'longer than' message");

/* ---- Names ---------------------------------------------------------- */

/*
 * Decode one UTF-8 character at s[*i] (RFC 3629: shortest form only, no
 * surrogates, nothing above U+10FFFF) into *cp and advance *i. NULL, or
 * the rule the bytes broke.
 */
static const char *utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
    unsigned char b = s[*i];
    if (b < 0x80) {
        *cp = b;
        (*i)++;
        return NULL;
    }
    if (b < 0xc0)
        return "invalid UTF-8: a continuation byte without a lead byte";
    if (b < 0xc2)
        return "invalid UTF-8: overlong encoding";
    if (b > 0xf4)
        return "invalid UTF-8: a byte that never appears in UTF-8 (0xF5 to 0xFF)";
    size_t n = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    /* The second byte's range depends on the lead byte; the others are 80..BF. */
    unsigned char lo = 0x80, hi = 0xbf;
    if (b == 0xe0)
        lo = 0xa0;
    else if (b == 0xed)
        hi = 0x9f;
    else if (b == 0xf0)
        lo = 0x90;
    else if (b == 0xf4)
        hi = 0x8f;
    if (len - *i < n)
        return "invalid UTF-8: a sequence cut short";
    unsigned char b1 = s[*i + 1];
    if (b1 < 0x80 || b1 > 0xbf)
        return "invalid UTF-8: a sequence cut short";
    if (b1 < lo)
        return "invalid UTF-8: overlong encoding";
    if (b1 > hi)
        return b == 0xed ? "invalid UTF-8: a UTF-16 surrogate (U+D800 to U+DFFF)"
                         : "invalid UTF-8: a code point above U+10FFFF";
    uint32_t c = b & (0x7fu >> n);
    c = (c << 6) | (b1 & 0x3fu);
    for (size_t k = 2; k < n; k++) {
        unsigned char bk = s[*i + k];
        if (bk < 0x80 || bk > 0xbf)
            return "invalid UTF-8: a sequence cut short";
        c = (c << 6) | (bk & 0x3fu);
    }
    *cp = c;
    *i += n;
    return NULL;
}

/* The rule a single character breaks, or NULL. */
static const char *char_rule(uint32_t cp)
{
    if (cp == 0)
        return "a NUL byte";
    if (cp < 0x20 || cp == 0x7f)
        return "a control character";
    if (cp >= 0x80 && cp <= 0x9f)
        return "a C1 control character (U+0080 to U+009F)";
    if (cp == 0x2028 || cp == 0x2029)
        return "a Unicode line or paragraph separator (U+2028, U+2029)";
    switch (cp) {
    case '/':
        return "a '/' inside a segment";
    case '\\':
        return "a backslash";
    case ':':
        return "a ':' (drive letter or alternate data stream)";
    case '<':
        return "a '<' (Windows forbids it)";
    case '>':
        return "a '>' (Windows forbids it)";
    case '"':
        return "a '\"' (Windows forbids it)";
    case '|':
        return "a '|' (Windows forbids it)";
    case '?':
        return "a '?' (Windows forbids it)";
    case '*':
        return "a '*' (Windows forbids it)";
    default:
        return NULL;
    }
}

struct reserved {
    const char *name; /* upper case ASCII, then possibly a superscript digit in UTF-8 */
    size_t len;
    const char *why;
};

#define RESERVED(n)                                                                                \
    {                                                                                              \
        n, sizeof n - 1, "Windows reserved name '" n "'"                                           \
    }
#define RESERVED_NUM(p)                                                                            \
    RESERVED(p "0"), RESERVED(p "1"), RESERVED(p "2"), RESERVED(p "3"), RESERVED(p "4"),           \
        RESERVED(p "5"), RESERVED(p "6"), RESERVED(p "7"), RESERVED(p "8"), RESERVED(p "9"),       \
        RESERVED(p "\xc2\xb9"), RESERVED(p "\xc2\xb2"), RESERVED(p "\xc2\xb3")

static const struct reserved reserved_names[] = {
    RESERVED("CON"),    RESERVED("PRN"),     RESERVED("AUX"),     RESERVED("NUL"),
    RESERVED("CONIN$"), RESERVED("CONOUT$"), RESERVED_NUM("COM"), RESERVED_NUM("LPT"),
};

static unsigned char ascii_upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* Case-insensitive (ASCII letters only) equality of a[0..len) and the upper-case b. */
static int ascii_ieq(const char *a, const char *b, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (ascii_upper((unsigned char)a[k]) != (unsigned char)b[k])
            return 0;
    return 1;
}

/*
 * Windows treats a device name as the device whatever extension follows
 * ("con.txt", "aux.tar.gz") and ignores spaces before the dot ("nul .txt"),
 * so compare the part before the first '.', trailing spaces removed.
 */
static const char *reserved_rule(const char *seg, size_t len)
{
    const char *dot = memchr(seg, '.', len);
    size_t base = dot ? (size_t)(dot - seg) : len;
    while (base > 0 && seg[base - 1] == ' ')
        base--;
    for (size_t k = 0; k < sizeof reserved_names / sizeof reserved_names[0]; k++) {
        const struct reserved *r = &reserved_names[k];
        if (r->len == base && ascii_ieq(seg, r->name, base))
            return r->why;
    }
    return NULL;
}

static int bad(const char **why, const char *rule)
{
    if (why)
        *why = rule;
    return MC_ERR_BAD_NAME;
}

int files_segment_check(const char *seg, size_t len, const char **why)
{
    if (why)
        *why = NULL;
    if (len == 0 || !seg)
        return bad(why, "a segment is empty");
    if (len > FILES_SEGMENT_MAX)
        return bad(why, "a segment is longer than 255 bytes");
    const unsigned char *s = (const unsigned char *)seg;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        const char *rule = utf8_next(s, len, &i, &cp);
        if (!rule)
            rule = char_rule(cp);
        if (rule)
            return bad(why, rule);
    }
    if (len == 1 && seg[0] == '.')
        return bad(why, "a segment is '.'");
    if (len == 2 && seg[0] == '.' && seg[1] == '.')
        return bad(why, "a segment is '..'");
    if (seg[len - 1] == '.')
        return bad(why, "a segment ends with '.' (Windows drops it)");
    if (seg[len - 1] == ' ')
        return bad(why, "a segment ends with a space (Windows drops it)");
    /* Case-insensitive: the folder may live on, or be copied to, a case-insensitive file system. */
    if (len >= sizeof ".miscomm" - 1 && ascii_ieq(seg, ".MISCOMM", sizeof ".miscomm" - 1))
        return bad(why, "a segment starts with '.miscomm' (reserved for the server)");
    const char *rule = reserved_rule(seg, len);
    if (rule)
        return bad(why, rule);
    return 0;
}

int files_name_check(const char *name, size_t len, const char **why)
{
    if (why)
        *why = NULL;
    if (len == 0 || !name)
        return bad(why, "the name is empty");
    if (len > FILES_NAME_MAX)
        return bad(why, "the name is longer than 1024 bytes");
    if (name[0] == '/')
        return bad(why, "the name is absolute (starts with '/')");
    if (name[len - 1] == '/')
        return bad(why, "the name ends with '/'");
    /* '/' never occurs inside a UTF-8 multi-byte sequence, so splitting first is safe. */
    size_t start = 0;
    while (start < len) {
        const char *slash = memchr(name + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - name) : len;
        if (end == start)
            return bad(why, "the name has an empty segment ('//')");
        int rc = files_segment_check(name + start, end - start, why);
        if (rc < 0)
            return rc;
        start = end + 1;
    }
    return 0;
}

/* ---- Opening beneath a folder ---------------------------------------- */

/*
 * The structural part of the rules, which the walk below relies on:
 * relative, no empty, "." or ".." segment, within the length limits. The
 * Windows rules are the caller's business (files_name_check), so that the
 * server can open its own staging names (FILES_STAGING) here too.
 */
static int beneath_name_ok(const char *name)
{
    size_t len = strnlen(name, FILES_NAME_MAX + 1);
    if (len == 0 || len > FILES_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
        return 0;
    size_t start = 0;
    while (start < len) {
        const char *slash = memchr(name + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - name) : len;
        size_t n = end - start;
        if (n == 0 || n > FILES_SEGMENT_MAX)
            return 0;
        if (name[start] == '.' && (n == 1 || (n == 2 && name[start + 1] == '.')))
            return 0;
        start = end + 1;
    }
    return 1;
}

/* errno to the project's codes, once, here; errno itself is left as it was. */
static int errno_code(int err)
{
    switch (err) {
    case ENOENT:
        return MC_ERR_NOT_FOUND;
    case EEXIST:
        return MC_ERR_EXISTS;
    case ELOOP:   /* a symlink (O_NOFOLLOW, RESOLVE_NO_SYMLINKS) */
    case ENOTDIR: /* a non-directory, or a symlink opened with O_DIRECTORY */
    case EXDEV:   /* RESOLVE_BENEATH: resolution would leave the folder */
    case EISDIR:  /* a folder where a file was asked for */
    case ENAMETOOLONG:
    case ENXIO:  /* a FIFO without a reader, opened O_NONBLOCK for writing */
    case EMLINK: /* our own refusal of a hard-linked file */
        return MC_ERR_BAD_NAME;
    case ENOSPC:
    case EDQUOT:
        return MC_ERR_NO_SPACE;
    default:
        return MC_ERR_IO;
    }
}

/* Close fd without losing the errno that explains the failure; return the mapped code. */
static int fail_close(int fd, int err)
{
    if (fd >= 0)
        close(fd);
    errno = err;
    return errno_code(err);
}

/*
 * openat2 beneath dirfd with no symlink anywhere. -1 with errno ENOSYS when
 * the kernel (or a seccomp filter) does not offer it, remembered so that
 * later calls go straight to the walk.
 */
static int open_openat2(int dirfd, const char *path, int flags, mode_t mode)
{
#ifdef FILES_HAVE_OPENAT2
    if (!files_path_force_walk && !atomic_load_explicit(&openat2_missing, memory_order_relaxed)) {
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = (uint64_t)(unsigned)flags;
        /*
         * openat2 refuses a mode without O_CREAT or O_TMPFILE where openat
         * ignores it. O_TMPFILE includes the O_DIRECTORY bit: test all of it.
         */
        int creates = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
        how.mode = creates ? (uint64_t)mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        long fd;
        do
            fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        while (fd < 0 && errno == EINTR);
        if (fd >= 0 || errno != ENOSYS)
            return (int)fd;
        atomic_store_explicit(&openat2_missing, 1, memory_order_relaxed);
    }
#else
    (void)dirfd;
    (void)path;
    (void)flags;
    (void)mode;
#endif
    errno = ENOSYS;
    return -1;
}

static int openat_retry(int dirfd, const char *path, int flags, mode_t mode)
{
    int fd;
    do
        fd = openat(dirfd, path, flags, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

/*
 * Walk name's folders from dirfd, one component at a time, never following
 * a symlink (O_NOFOLLOW | O_DIRECTORY: a symlink or a file on the way is
 * ENOTDIR or ELOOP), creating missing ones with mkdirs. Returns the fd of
 * the last folder (dirfd itself when name has no '/'), with *last pointing
 * at the final component in name, or -1 with errno.
 */
static int walk_parents(int dirfd, const char *name, int mkdirs, const char **last)
{
    int cur = dirfd;
    const char *p = name;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        char seg[FILES_SEGMENT_MAX + 1];
        size_t n = (size_t)(slash - p);
        memcpy(seg, p, n); /* n <= FILES_SEGMENT_MAX: beneath_name_ok */
        seg[n] = '\0';
        int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        int next = openat_retry(cur, seg, flags, 0);
        if (next < 0 && errno == ENOENT && mkdirs) {
            /* EEXIST: someone made it meanwhile; the open below decides what it is. */
            if (mkdirat(cur, seg, 0750) == 0 || errno == EEXIST)
                next = openat_retry(cur, seg, flags, 0);
        }
        if (next < 0) {
            int err = errno;
            if (cur != dirfd)
                close(cur);
            errno = err;
            return -1;
        }
        if (cur != dirfd)
            close(cur);
        cur = next;
        p = slash + 1;
    }
    *last = p;
    return cur;
}

int files_open_beneath(int dirfd, const char *name, int flags, mode_t mode, int mkdirs)
{
    if (!name || !beneath_name_ok(name)) {
        errno = EINVAL;
        return MC_ERR_BAD_NAME;
    }
    /*
     * O_TRUNC waits until the file is known not to be a hard link (below);
     * O_NONBLOCK keeps a FIFO planted in the folder from blocking the open;
     * O_NOCTTY keeps a terminal from becoming ours before it is refused.
     */
    int want_trunc = (flags & O_TRUNC) != 0;
    int oflags = (flags & ~O_TRUNC) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    int fd = -1;

    if (!mkdirs)
        fd = open_openat2(dirfd, name, oflags, mode);
    if (mkdirs || (fd < 0 && (errno == ENOSYS || errno == EPERM))) {
        /*
         * The walk: always for mkdirs (openat2 cannot create folders), and
         * when openat2 is missing, or refused by a seccomp filter that
         * answers EPERM for system calls it does not know.
         */
        const char *last;
        int parent = walk_parents(dirfd, name, mkdirs, &last);
        if (parent < 0)
            return errno_code(errno);
        /* One component now: openat2 adds nothing to O_NOFOLLOW, but use it when present. */
        fd = open_openat2(parent, last, oflags, mode);
        if (fd < 0 && (errno == ENOSYS || errno == EPERM))
            fd = openat_retry(parent, last, oflags, mode);
        if (parent != dirfd) {
            int err = errno;
            close(parent);
            errno = err;
        }
    }
    if (fd < 0)
        return errno_code(errno);

    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail_close(fd, errno);
    /* A FIFO, socket or device planted in the folder is not a file to transfer. */
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return fail_close(fd, ENXIO);
    /*
     * Path resolution cannot see a hard link: a second name for a file
     * outside the folder looks like any other file. Refuse them all, for
     * reading (it would leak the outside file) and for writing (it would
     * change it).
     */
    if (S_ISREG(st.st_mode) && st.st_nlink > 1)
        return fail_close(fd, EMLINK);
    if (want_trunc && S_ISREG(st.st_mode) && (flags & O_ACCMODE) != O_RDONLY && st.st_size != 0 &&
        ftruncate(fd, 0) != 0)
        return fail_close(fd, errno);
    if (!(flags & O_NONBLOCK)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
            return fail_close(fd, errno);
    }
    return fd;
}

int files_child_name(const char *prefix, const char *entry, char out[FILES_NAME_MAX + 2])
{
    int n = snprintf(out, FILES_NAME_MAX + 2, "%s%s%s", prefix, prefix[0] ? "/" : "", entry);
    const char *why;
    if (n < 0 || (size_t)n > FILES_NAME_MAX || files_name_check(out, (size_t)n, &why) < 0)
        return -1;
    return n;
}

/* The length of path's root: 1 for "/...", and on Windows 3 for "C:/..." (as
 * the configuration writes it); 0 when path is not absolute. */
static size_t root_len(const char *path)
{
#ifdef _WIN32
    if (((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
        path[1] == ':' && (path[2] == '/' || path[2] == '\\'))
        return 3;
#endif
    return path[0] == '/' ? 1 : 0;
}

int files_dir_open(const char *path, int create)
{
    size_t root = path ? root_len(path) : 0;
    if (root == 0) {
        errno = EINVAL;
        return MC_ERR_INVALID_ARG;
    }
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    int fd = openat_retry(AT_FDCWD, path, flags, 0);
    if (fd >= 0 || errno != ENOENT || !create)
        return fd >= 0 ? fd : errno_code(errno);

    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return MC_ERR_INVALID_ARG;
    }
    memcpy(buf, path, len + 1);
    /* mkdir -p: each prefix ending before a '/', then the whole path. */
    for (size_t i = root; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; /* "//" or a trailing '/' */
        char c = buf[i];
        buf[i] = '\0';
        int rc = mkdir(buf, 0750);
        buf[i] = c;
        if (rc != 0 && errno != EEXIST)
            return errno_code(errno);
    }
    fd = openat_retry(AT_FDCWD, path, flags, 0);
    return fd >= 0 ? fd : errno_code(errno);
}
