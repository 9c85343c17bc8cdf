/*
 * Path safety for file transfer (src/files/files_path.c).
 *
 * First the name rules: well over a hundred hostile names, each refused for
 * the rule it breaks, and good names (non-ASCII, dots in odd places, the
 * length limits exactly) accepted. Then files_open_beneath against a real
 * folder in which symlinks (to a file and a folder outside, in a middle
 * component, dangling), a hard link to a file outside and a FIFO have been
 * planted: every open through them fails, and writing or creating through
 * them leaves the outside tree exactly as it was (listing, sizes, mtimes).
 * The suite runs with openat2, with the fallback walk forced, in a child in
 * which a seccomp filter makes openat2 answer ENOSYS (the run-time
 * fallback), and in a child in which the walk's openat(O_NOFOLLOW) is
 * denied (proof that openat2 really is the path taken when present).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "check.h"
#include "files_path.h"
#include "miscomm/error.h"

/* ---- The name rules -------------------------------------------------- */

struct name_case {
    const char *name;
    size_t len;      /* literal length: some names hold a NUL */
    const char *why; /* a fragment the reason must contain */
};

#define BAD(lit, frag)                                                                             \
    {                                                                                              \
        lit, sizeof lit - 1, frag                                                                  \
    }

static const struct name_case bad_names[] = {
    /* Traversal, in every spelling. */
    BAD("..", "a segment is '..'"),
    BAD("../x", "a segment is '..'"),
    BAD("a/../b", "a segment is '..'"),
    BAD("a/..", "a segment is '..'"),
    BAD("../../../../etc/passwd", "a segment is '..'"),
    BAD("x/y/../../../z", "a segment is '..'"),
    BAD("%2e%2e/..", "a segment is '..'"),
    BAD(".", "a segment is '.'"),
    BAD("./a", "a segment is '.'"),
    BAD("a/.", "a segment is '.'"),
    BAD("a/./b", "a segment is '.'"),
    BAD("...", "ends with '.'"),
    BAD("a/....", "ends with '.'"),
    /* Absolute paths, drive letters, streams, UNC. */
    BAD("/etc/passwd", "absolute"),
    BAD("/", "absolute"),
    BAD("/a", "absolute"),
    BAD("//server/share", "absolute"),
    BAD("/../x", "absolute"),
    BAD("C:x", "':'"),
    BAD("c:\\x", "':'"),
    BAD("C:/Windows/win.ini", "':'"),
    BAD("Z:", "':'"),
    BAD("a:b", "':'"),
    BAD("file.txt:stream", "':'"),
    BAD("file.txt::$DATA", "':'"),
    BAD("a\\b", "backslash"),
    BAD("\\\\server\\share", "backslash"),
    BAD("\\\\?\\C:\\x", "backslash"),
    BAD("..\\..\\windows", "backslash"),
    BAD("\\", "backslash"),
    BAD("a\\..\\b", "backslash"),
    BAD("dir\\", "backslash"),
    /* Empty names and segments. */
    BAD("", "empty"),
    BAD("a//b", "empty segment"),
    BAD("a///b", "empty segment"),
    BAD("a/", "ends with '/'"),
    BAD("a/b/", "ends with '/'"),
    BAD("a//", "ends with '/'"),
    /* NUL and control characters. */
    BAD("\0", "NUL"),
    BAD("a\0b", "NUL"),
    BAD("x\0.txt", "NUL"),
    BAD("a/\0/b", "NUL"),
    BAD("ok.txt\0../../etc/passwd", "NUL"),
    BAD("\x01", "control character"),
    BAD("a\x1f", "control character"),
    BAD("\t.txt", "control character"),
    BAD("a\nb", "control character"),
    BAD("a\rb", "control character"),
    BAD("\x1b[31mred", "control character"),
    BAD("bell\a", "control character"),
    BAD("\x7f", "control character"),
    BAD("a\x7f"
        "b",
        "control character"),
    BAD("\xc2\x85", "C1"),
    BAD("\xc2\x80", "C1"),
    BAD("a\xc2\x9f"
        "b",
        "C1"),
    BAD("dir/\xc2\x85/x", "C1"),
    /* Invalid UTF-8. */
    BAD("\xc0\xae\xc0\xae", "overlong"),
    BAD("\xc0\xae\xc0\xae/x", "overlong"),
    BAD("\xc0\xaf", "overlong"),
    BAD("\xc1\xbf", "overlong"),
    BAD("\xc0\x80", "overlong"),
    BAD("\xe0\x80\xae", "overlong"),
    BAD("\xe0\x80\xaf", "overlong"),
    BAD("\xe0\x9f\xbf", "overlong"),
    BAD("\xf0\x80\x80\xae", "overlong"),
    BAD("\xf0\x8f\xbf\xbf", "overlong"),
    BAD("\xed\xa0\x80", "surrogate"),
    BAD("\xed\xbf\xbf", "surrogate"),
    BAD("\xed\xa0\xbd\xed\xb2\xa9", "surrogate"),
    BAD("\xf4\x90\x80\x80", "above U+10FFFF"),
    BAD("\xf5\x80\x80\x80", "0xF5"),
    BAD("\xf8\x88\x80\x80\x80", "0xF5"),
    BAD("\xfe", "0xF5"),
    BAD("\xff", "0xF5"),
    BAD("\x80", "continuation"),
    BAD("a\xbf"
        "b",
        "continuation"),
    BAD("\xc3\xa9\xa9", "continuation"),
    BAD("\xc3", "cut short"),
    BAD("caf\xc3", "cut short"),
    BAD("\xe6\x97", "cut short"),
    BAD("\xe6\x97x", "cut short"),
    BAD("\xf0\x9f\x93", "cut short"),
    BAD("\xc3/x", "cut short"),
    BAD("\xc3\0", "cut short"),
    /* Windows reserved device names. */
    BAD("CON", "Windows reserved name 'CON'"),
    BAD("con", "Windows reserved name 'CON'"),
    BAD("con.txt", "Windows reserved name 'CON'"),
    BAD("CON .txt", "Windows reserved name 'CON'"),
    BAD("Com1", "Windows reserved name 'COM1'"),
    BAD("com9.tar", "Windows reserved name 'COM9'"),
    BAD("COM0", "Windows reserved name 'COM0'"),
    BAD("LPT9.log", "Windows reserved name 'LPT9'"),
    BAD("lpt1", "Windows reserved name 'LPT1'"),
    BAD("lPt0.x", "Windows reserved name 'LPT0'"),
    BAD("NUL", "Windows reserved name 'NUL'"),
    BAD("nul .txt", "Windows reserved name 'NUL'"),
    BAD("aux.tar.gz", "Windows reserved name 'AUX'"),
    BAD("prn", "Windows reserved name 'PRN'"),
    BAD("PRN.x", "Windows reserved name 'PRN'"),
    BAD("COM\xc2\xb9", "Windows reserved name 'COM\xc2\xb9'"),
    BAD("lpt\xc2\xb2.txt", "Windows reserved name 'LPT\xc2\xb2'"),
    BAD("Com\xc2\xb3", "Windows reserved name 'COM\xc2\xb3'"),
    BAD("conin$", "Windows reserved name 'CONIN$'"),
    BAD("CONOUT$.log", "Windows reserved name 'CONOUT$'"),
    BAD("dir/CON", "Windows reserved name 'CON'"),
    BAD("a/b/nul.txt", "Windows reserved name 'NUL'"),
    BAD("aux/x.txt", "Windows reserved name 'AUX'"),
    /* Trailing dots and spaces, which Windows drops. */
    BAD("a.", "ends with '.'"),
    BAD("a ", "ends with a space"),
    BAD("dir./x", "ends with '.'"),
    BAD("dir /x", "ends with a space"),
    BAD("file.txt.", "ends with '.'"),
    BAD("file.txt ", "ends with a space"),
    BAD("x/a..", "ends with '.'"),
    BAD(" ", "ends with a space"),
    /* Characters Windows forbids. */
    BAD("<", "'<'"),
    BAD(">", "'>'"),
    BAD("|", "'|'"),
    BAD("?", "'?'"),
    BAD("*", "'*'"),
    BAD("\"", "'\"'"),
    BAD("a<b.txt", "'<'"),
    BAD("what?.txt", "'?'"),
    BAD("*.jpg", "'*'"),
    BAD("say \"hi\".txt", "'\"'"),
    BAD("a|b", "'|'"),
    BAD("dir/x>y", "'>'"),
    /* The server's staging folder. */
    BAD(".miscomm-partial/x", "'.miscomm'"),
    BAD(".miscomm-partial", "'.miscomm'"),
    BAD(".miscomm", "'.miscomm'"),
    BAD(".MISCOMM-PARTIAL/x", "'.miscomm'"),
    BAD("a/.miscomm-partial/b", "'.miscomm'"),
    BAD(".miscommx", "'.miscomm'"),
};

static const struct name_case good_names[] = {
    BAD("photo.jpg", ""),
    BAD("reports/2026/r1.pdf", ""),
    BAD("caf\xc3\xa9.txt", ""),
    BAD("\xe6\x97\xa5\xe6\x9c\xac.txt", ""),
    BAD("a b.txt", ""),
    BAD("..a", ""),
    BAD("a..b", ""),
    BAD("...a", ""),
    BAD(".hidden", ""),
    BAD("a/.hidden/b", ""),
    /*
     * Percent-encoding means nothing to the file system and the server
     * never decodes names, so "%2e%2e" is a file literally called that,
     * beneath the folder like any other.
     */
    BAD("%2e%2e", ""),
    BAD("%2e%2e/%2f", ""),
    BAD("COM10", ""),
    BAD("LPT", ""),
    BAD("CONSOLE.txt", ""),
    BAD("nul-x.txt", ""),
    BAD("NULL", ""),
    BAD("con_", ""),
    BAD(" leading space.txt", ""),
    BAD("a.b.c", ""),
    BAD("x/y/z/w", ""),
    BAD("1", ""),
    BAD("emoji \xf0\x9f\x93\xb7.jpg", ""),
    BAD("\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac.txt", ""),
    BAD("miscomm.txt", ""),
    BAD(".miscom", ""),
    BAD("x.miscomm-partial", ""),
    BAD("\xc2\xa0nbsp", ""),     /* U+00A0, the first character after the C1 block */
    BAD("\xf4\x8f\xbf\xbf", ""), /* U+10FFFF, the last code point */
    BAD("\xee\x80\x80", ""),     /* private use */
    BAD("\xef\xbb\xbf"
        "bom",
        ""),
};

static void check_bad_name(const char *name, size_t len, const char *frag, int line)
{
    const char *why = NULL;
    int rc = files_name_check(name, len, &why);
    check_count++;
    if (rc != MC_ERR_BAD_NAME || !why || !strstr(why, frag)) {
        check_failures++;
        fprintf(stderr, "bad name #%d (%zu bytes): rc %d, why \"%s\", expected \"%s\"\n", line, len,
                rc, why ? why : "(null)", frag);
    }
    /* why may be NULL; the answer is the same. */
    CHECK_EQ_INT(files_name_check(name, len, NULL), MC_ERR_BAD_NAME);
}

static void check_good_name(const char *name, size_t len, int line)
{
    const char *why = "unset";
    int rc = files_name_check(name, len, &why);
    check_count++;
    if (rc != 0 || why != NULL) {
        check_failures++;
        fprintf(stderr, "good name #%d (%zu bytes) refused: rc %d, why \"%s\"\n", line, len, rc,
                why ? why : "(null)");
    }
}

/* n bytes of path: segments of seg bytes of 'a' (the last one shorter), joined by '/'. */
static void fill_name(char *buf, size_t n, size_t seg)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (i % (seg + 1) == seg) ? '/' : 'a';
}

static void test_names(void)
{
    size_t nbad = sizeof bad_names / sizeof bad_names[0];
    size_t ngood = sizeof good_names / sizeof good_names[0];
    for (size_t i = 0; i < nbad; i++)
        check_bad_name(bad_names[i].name, bad_names[i].len, bad_names[i].why, (int)i);
    for (size_t i = 0; i < ngood; i++)
        check_good_name(good_names[i].name, good_names[i].len, (int)i);

    /* The length limits, exactly. */
    static char buf[2100];
    fill_name(buf, FILES_NAME_MAX, 200);
    CHECK(buf[FILES_NAME_MAX - 1] == 'a');
    check_good_name(buf, FILES_NAME_MAX, 1000);
    fill_name(buf, FILES_NAME_MAX + 1, 200);
    check_bad_name(buf, FILES_NAME_MAX + 1, "longer than 1024 bytes", 1001);
    fill_name(buf, 2048, 100);
    check_bad_name(buf, 2048, "longer than 1024 bytes", 1002);
    memset(buf, 'b', FILES_SEGMENT_MAX);
    check_good_name(buf, FILES_SEGMENT_MAX, 1003);
    memset(buf, 'b', FILES_SEGMENT_MAX + 1);
    check_bad_name(buf, FILES_SEGMENT_MAX + 1, "longer than 255 bytes", 1004);
    memcpy(buf, "dir/", 4);
    memset(buf + 4, 'c', FILES_SEGMENT_MAX + 1);
    memcpy(buf + 4 + FILES_SEGMENT_MAX + 1, "/x", 2);
    check_bad_name(buf, 4 + FILES_SEGMENT_MAX + 3, "longer than 255 bytes", 1005);
    /* The limits count bytes, not characters: 85 x U+65E5 is 255 bytes, 86 is 258. */
    for (size_t i = 0; i < 86; i++)
        memcpy(buf + 3 * i, "\xe6\x97\xa5", 3);
    check_good_name(buf, 255, 1006);
    check_bad_name(buf, 258, "longer than 255 bytes", 1007);
    /* Three full segments, one of 254 bytes and one of 1: 1024 bytes. */
    memset(buf, 'd', 1024);
    buf[255] = buf[511] = buf[767] = buf[1022] = '/';
    check_good_name(buf, 1024, 1008);
    /* Only len bytes are read: a hostile tail past len does not matter. */
    check_good_name("ok.txt/../../x", 6, 1009);

    /* One segment (a device id): the same rules, and no '/'. */
    const char *why = NULL;
    CHECK_EQ_INT(files_segment_check("a/b", 3, &why), MC_ERR_BAD_NAME);
    CHECK(why && strstr(why, "'/' inside a segment"));
    CHECK_EQ_INT(files_segment_check("pda-0042", 8, &why), 0);
    CHECK(why == NULL);
    CHECK_EQ_INT(files_segment_check("", 0, &why), MC_ERR_BAD_NAME);
    CHECK_EQ_INT(files_segment_check("..", 2, &why), MC_ERR_BAD_NAME);
    CHECK_EQ_INT(files_segment_check("COM1", 4, &why), MC_ERR_BAD_NAME);
    CHECK_EQ_INT(files_segment_check(".miscomm-partial", 16, &why), MC_ERR_BAD_NAME);
    CHECK_EQ_INT(files_segment_check("/", 1, &why), MC_ERR_BAD_NAME);

    printf("names: %zu hostile + 5 generated refused, %zu good + 5 generated accepted\n", nbad,
           ngood);
    CHECK(nbad + 4 >= 100);
    CHECK(ngood + 4 >= 20);
}

/* ---- A real folder with things planted in it ------------------------- */

/* Remove a tree without following symlinks. Best effort: it is a temporary folder. */
static void rm_tree(int at, const char *name)
{
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL)
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                    rm_tree(dirfd(d), e->d_name);
            closedir(d);
        } else if (fd >= 0) {
            close(fd);
        }
        unlinkat(at, name, AT_REMOVEDIR);
    } else {
        unlinkat(at, name, 0);
    }
}

/* Everything about a tree that a write through a planted link could change. */
static void snapshot(const char *path, char *out, size_t cap, size_t *used)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        *used += (size_t)snprintf(out + *used, cap - *used, "%s missing\n", path);
        return;
    }
    int n = snprintf(out + *used, cap - *used, "%s mode=%o size=%lld nlink=%lu mtime=%lld.%09ld\n",
                     path, (unsigned)st.st_mode, (long long)st.st_size, (unsigned long)st.st_nlink,
                     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    if (n < 0 || (size_t)n >= cap - *used) {
        fprintf(stderr, "snapshot buffer too small\n");
        abort();
    }
    *used += (size_t)n;
    if (!S_ISDIR(st.st_mode))
        return;
    struct dirent **list;
    int count = scandir(path, &list, NULL, alphasort);
    for (int i = 0; i < count; i++) {
        if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..")) {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, list[i]->d_name);
            snapshot(sub, out, cap, used);
        }
        free(list[i]);
    }
    free(list);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ_INT(write(fd, text, strlen(text)), (long long)strlen(text));
        close(fd);
    }
}

/* The contents of fd, up to cap - 1 bytes, NUL-terminated. */
static const char *read_fd(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

#define CHECK_OPEN_FAILS(name, flags, mkdirs, code)                                                \
    do {                                                                                           \
        int fd_ = files_open_beneath(dfd, (name), (flags), 0640, (mkdirs));                        \
        if (fd_ >= 0)                                                                              \
            close(fd_);                                                                            \
        check_count++;                                                                             \
        if (fd_ != (code)) {                                                                       \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: [%s] open '%s' flags %#x mkdirs %d: %d, expected %d\n",        \
                    __FILE__, __LINE__, label, (name), (unsigned)(flags), (mkdirs), fd_, (code));  \
        }                                                                                          \
    } while (0)

static int dir_mode(const char *base, const char *rel)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", base, rel);
    if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    return (int)(st.st_mode & 07777);
}

static int exists(const char *base, const char *rel)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", base, rel);
    return lstat(p, &st) == 0;
}

/*
 * The whole scenario in a fresh temporary tree:
 *   base/outside/secret.txt, base/outside/sub/inner.txt  (not to be reached)
 *   base/folder/                                           (the served folder)
 * with_mkdirs is off where the walk is forbidden (it makes folders).
 */
static void test_beneath(const char *label, int with_mkdirs)
{
    char base[] = "/tmp/mc-files-XXXXXX";
    if (!mkdtemp(base)) {
        CHECK(!"mkdtemp");
        return;
    }
    char outside[256], folder[256], p[4096], q[4096];
    snprintf(outside, sizeof outside, "%s/outside", base);
    snprintf(folder, sizeof folder, "%s/folder", base);
    CHECK(mkdir(outside, 0755) == 0);
    snprintf(p, sizeof p, "%s/sub", outside);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    write_file(p, "secret\n");
    snprintf(p, sizeof p, "%s/sub/inner.txt", outside);
    write_file(p, "inner\n");
    CHECK(mkdir(folder, 0755) == 0);

    /* What a local user with a shell in the folder might plant. */
    snprintf(p, sizeof p, "%s/ok.txt", folder);
    write_file(p, "hello");
    snprintf(p, sizeof p, "%s/trunc.txt", folder);
    write_file(p, "to be truncated");
    snprintf(p, sizeof p, "%s/real", folder);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/real/ok2.txt", folder);
    write_file(p, "hello2");
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    snprintf(q, sizeof q, "%s/ln_file", folder);
    CHECK(symlink(p, q) == 0);
    snprintf(q, sizeof q, "%s/ln_rel", folder);
    CHECK(symlink("../outside/secret.txt", q) == 0);
    snprintf(q, sizeof q, "%s/ln_dir", folder);
    CHECK(symlink(outside, q) == 0);
    snprintf(q, sizeof q, "%s/real/mid", folder);
    CHECK(symlink("../../outside", q) == 0);
    snprintf(q, sizeof q, "%s/ln_inside", folder);
    CHECK(symlink("ok.txt", q) == 0);
    snprintf(q, sizeof q, "%s/ln_up", folder);
    CHECK(symlink("..", q) == 0);
    snprintf(p, sizeof p, "%s/created-by-dangling.txt", outside);
    snprintf(q, sizeof q, "%s/dangling", folder);
    CHECK(symlink(p, q) == 0);
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    snprintf(q, sizeof q, "%s/hl", folder);
    CHECK(link(p, q) == 0);
    snprintf(q, sizeof q, "%s/fifo", folder);
    CHECK(mkfifo(q, 0644) == 0);

    static char before[65536], after[65536];
    size_t nb = 0, na = 0;
    snapshot(outside, before, sizeof before, &nb);
    CHECK(strstr(before, "secret.txt mode=100644 size=7 nlink=2") != NULL);

    int dfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    char buf[64];

    /* Reading: only the real files inside. */
    int fd = files_open_beneath(dfd, "ok.txt", O_RDONLY, 0, 0);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(!strcmp(read_fd(fd, buf, sizeof buf), "hello"));
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
        close(fd);
    }
    fd = files_open_beneath(dfd, "real/ok2.txt", O_RDONLY, 0, 0);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(!strcmp(read_fd(fd, buf, sizeof buf), "hello2"));
        close(fd);
    }
    fd = files_open_beneath(dfd, "real", O_RDONLY | O_DIRECTORY, 0, 0);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    static const char *const planted[] = {
        "ln_file",
        "ln_rel",
        "ln_dir/secret.txt",
        "ln_dir/sub/inner.txt",
        "real/mid/secret.txt",
        "ln_inside",
        "ln_up/outside/secret.txt",
        "dangling",
        "hl",
        "fifo",
    };
    for (size_t i = 0; i < sizeof planted / sizeof planted[0]; i++) {
        CHECK_OPEN_FAILS(planted[i], O_RDONLY, 0, MC_ERR_BAD_NAME);
        CHECK_OPEN_FAILS(planted[i], O_RDONLY, with_mkdirs, MC_ERR_BAD_NAME);
    }
    CHECK_OPEN_FAILS("ln_dir", O_RDONLY | O_DIRECTORY, 0, MC_ERR_BAD_NAME);
    CHECK_OPEN_FAILS("real/mid", O_RDONLY | O_DIRECTORY, 0, MC_ERR_BAD_NAME);
    /* errno says why. */
    errno = 0;
    CHECK_EQ_INT(files_open_beneath(dfd, "hl", O_RDONLY, 0, 0), MC_ERR_BAD_NAME);
    CHECK_EQ_INT(errno, EMLINK);
    errno = 0;
    CHECK_EQ_INT(files_open_beneath(dfd, "ln_file", O_RDONLY, 0, 0), MC_ERR_BAD_NAME);
    CHECK(errno == ELOOP || errno == EXDEV || errno == ENOTDIR);
    errno = 0;
    CHECK_EQ_INT(files_open_beneath(dfd, "missing.txt", O_RDONLY, 0, 0), MC_ERR_NOT_FOUND);
    CHECK_EQ_INT(errno, ENOENT);
    CHECK_OPEN_FAILS("real/missing/x.txt", O_RDONLY, 0, MC_ERR_NOT_FOUND);
    CHECK_OPEN_FAILS("ok.txt/x", O_RDONLY, 0, MC_ERR_BAD_NAME);
    CHECK_OPEN_FAILS("real", O_WRONLY, 0, MC_ERR_BAD_NAME);
    /* Names that would leave the folder never reach the kernel. */
    static const char *const hostile[] = {
        "../outside/secret.txt",
        "/etc/passwd",
        "real/../ok.txt",
        "./ok.txt",
        "real/.",
        "a//b",
        "",
        "real/",
        "..",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        CHECK_OPEN_FAILS(hostile[i], O_RDONLY, 0, MC_ERR_BAD_NAME);
        CHECK_OPEN_FAILS(hostile[i], O_WRONLY | O_CREAT, with_mkdirs, MC_ERR_BAD_NAME);
    }

    /* Writing and creating through every planted link: refused, and nothing outside changes. */
    static const char *const write_through[] = {
        "ln_file",
        "ln_rel",
        "ln_dir/secret.txt",
        "ln_dir/new.txt",
        "ln_dir/sub/inner.txt",
        "real/mid/new.txt",
        "real/mid/secret.txt",
        "dangling",
        "hl",
        "fifo",
        "ln_up/outside/secret.txt",
        "ln_up/x.txt",
    };
    static const int wflags[] = {
        O_WRONLY | O_CREAT | O_TRUNC, O_RDWR | O_CREAT, O_WRONLY | O_APPEND, O_WRONLY | O_TRUNC,
        O_WRONLY | O_CREAT | O_EXCL,
    };
    for (size_t i = 0; i < sizeof write_through / sizeof write_through[0]; i++) {
        for (size_t k = 0; k < sizeof wflags / sizeof wflags[0]; k++) {
            for (int mk = 0; mk <= with_mkdirs; mk++) {
                int r = files_open_beneath(dfd, write_through[i], wflags[k], 0640, mk);
                check_count++;
                if (r >= 0 ||
                    (r != MC_ERR_BAD_NAME && r != MC_ERR_EXISTS && r != MC_ERR_NOT_FOUND)) {
                    check_failures++;
                    fprintf(stderr, "[%s] write '%s' flags %#x mkdirs %d: %d\n", label,
                            write_through[i], (unsigned)wflags[k], mk, r);
                }
                if (r >= 0)
                    close(r);
            }
        }
    }
    if (with_mkdirs) {
        CHECK_OPEN_FAILS("ln_dir/deep/new.txt", O_WRONLY | O_CREAT, 1, MC_ERR_BAD_NAME);
        CHECK_OPEN_FAILS("real/mid/deep/er/new.txt", O_WRONLY | O_CREAT, 1, MC_ERR_BAD_NAME);
        CHECK_OPEN_FAILS("dangling/x.txt", O_WRONLY | O_CREAT, 1, MC_ERR_BAD_NAME);
        CHECK_OPEN_FAILS("ln_up/outside/new/x.txt", O_WRONLY | O_CREAT, 1, MC_ERR_BAD_NAME);
        CHECK_OPEN_FAILS("ok.txt/x/y.txt", O_WRONLY | O_CREAT, 1, MC_ERR_BAD_NAME);
    }
    snapshot(outside, after, sizeof after, &na);
    check_count++;
    if (strcmp(before, after) != 0) {
        check_failures++;
        fprintf(stderr, "[%s] the outside tree changed:\nbefore:\n%safter:\n%s", label, before,
                after);
    }
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    fd = open(p, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && !strcmp(read_fd(fd, buf, sizeof buf), "secret\n"));
    if (fd >= 0)
        close(fd);

    /* What the file operations need still works inside. */
    fd = files_open_beneath(dfd, "new.txt", O_WRONLY | O_CREAT | O_EXCL, 0640, 0);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ_INT(write(fd, "abc", 3), 3);
        close(fd);
    }
    CHECK_EQ_INT(files_open_beneath(dfd, "new.txt", O_WRONLY | O_CREAT | O_EXCL, 0640, 0),
                 MC_ERR_EXISTS);
    CHECK_EQ_INT(errno, EEXIST);
    fd = files_open_beneath(dfd, "new.txt", O_RDONLY, 0, 0);
    CHECK(fd >= 0 && !strcmp(read_fd(fd, buf, sizeof buf), "abc"));
    if (fd >= 0)
        close(fd);
    snprintf(p, sizeof p, "%s/new.txt", folder);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0640);
    /* O_TRUNC is applied after the checks, but applied. */
    fd = files_open_beneath(dfd, "trunc.txt", O_WRONLY | O_TRUNC, 0, 0);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(fstat(fd, &st) == 0 && st.st_size == 0);
        close(fd);
    }
    CHECK_OPEN_FAILS("nodir/x.txt", O_WRONLY | O_CREAT, 0, MC_ERR_NOT_FOUND);
    CHECK(!exists(folder, "nodir"));
    if (with_mkdirs) {
        fd = files_open_beneath(dfd, "up/2026/05/r1.pdf", O_WRONLY | O_CREAT | O_EXCL, 0640, 1);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
        CHECK_EQ_INT(dir_mode(folder, "up"), 0750);
        CHECK_EQ_INT(dir_mode(folder, "up/2026"), 0750);
        CHECK_EQ_INT(dir_mode(folder, "up/2026/05"), 0750);
        CHECK(exists(folder, "up/2026/05/r1.pdf"));
        /* Existing parents are fine; so is the server's staging folder. */
        fd = files_open_beneath(dfd, "up/2026/r2.pdf", O_WRONLY | O_CREAT | O_EXCL, 0640, 1);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
        fd = files_open_beneath(dfd, FILES_STAGING "/1.part", O_WRONLY | O_CREAT | O_EXCL, 0600, 1);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
        CHECK_EQ_INT(dir_mode(folder, FILES_STAGING), 0750);
    }
    /* A second name for a file inside is refused too: path resolution cannot tell them apart. */
    snprintf(p, sizeof p, "%s/ok.txt", folder);
    snprintf(q, sizeof q, "%s/ok-again.txt", folder);
    CHECK(link(p, q) == 0);
    CHECK_OPEN_FAILS("ok.txt", O_RDONLY, 0, MC_ERR_BAD_NAME);

    /* Nothing that failed left a file or folder behind in the folder either. */
    CHECK(!exists(folder, "deep"));
    CHECK(!exists(folder, "real/deep"));
    CHECK(!exists(outside, "deep"));
    CHECK(!exists(outside, "new"));

    close(dfd);
    rm_tree(AT_FDCWD, base);
    CHECK(!exists(base, ""));
}

static void test_dir_open(void)
{
    char base[] = "/tmp/mc-files-XXXXXX";
    if (!mkdtemp(base)) {
        CHECK(!"mkdtemp");
        return;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/srv/a/b", base);
    CHECK_EQ_INT(files_dir_open(p, 0), MC_ERR_NOT_FOUND);
    CHECK(!exists(base, "srv"));
    int fd = files_dir_open(p, 1);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
    }
    CHECK_EQ_INT(dir_mode(base, "srv"), 0750);
    CHECK_EQ_INT(dir_mode(base, "srv/a"), 0750);
    CHECK_EQ_INT(dir_mode(base, "srv/a/b"), 0750);
    fd = files_dir_open(p, 0);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    snprintf(p, sizeof p, "%s/srv/a/b/", base);
    fd = files_dir_open(p, 1);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    snprintf(p, sizeof p, "%s/file", base);
    write_file(p, "x");
    CHECK_EQ_INT(files_dir_open(p, 1), MC_ERR_BAD_NAME);
    snprintf(p, sizeof p, "%s/file/sub", base);
    CHECK_EQ_INT(files_dir_open(p, 1), MC_ERR_BAD_NAME);
    CHECK_EQ_INT(files_dir_open("relative/path", 1), MC_ERR_INVALID_ARG);
    rm_tree(AT_FDCWD, base);
}

/* ---- seccomp: hide openat2, or forbid the walk ------------------------ */

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(TEST_AUDIT_ARCH) && defined(SYS_openat2) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/*
 * Make system call nr fail with err, only when its third argument has a
 * bit of flag_mask set (0: always). For this process and its children.
 */
static int deny_syscall(long nr, uint32_t flag_mask, int err)
{
    struct sock_filter f[12];
    unsigned short n = 0;
    f[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    if (flag_mask) {
        /* The low 32 bits of args[2], little-endian. */
        f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                              offsetof(struct seccomp_data, args[2]));
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, flag_mask, 1, 0);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                          SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA));
    struct sock_fprog prog = {.len = n, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Run the scenario in a child under a filter; the child's failures become ours. */
static void test_beneath_filtered(const char *label, long nr, uint32_t mask, int err, int mkdirs)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (deny_syscall(nr, mask, err) != 0) {
            fprintf(stderr, "[%s] seccomp unavailable: %s\n", label, strerror(errno));
            _exit(77);
        }
        check_failures = 0;
        test_beneath(label, mkdirs);
        fflush(stderr);
        _exit(check_failures ? 1 : 0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("%s: skipped (no seccomp here)\n", label);
        return;
    }
    check_count++;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        check_failures++;
        fprintf(stderr, "[%s] failed in the child (status %#x)\n", label, (unsigned)status);
    } else {
        printf("%s: passed\n", label);
    }
}
#endif

int main(void)
{
    /* The modes below are what 0750 and 0640 give under the usual umask. */
    umask(022);
    /* A FIFO that blocked an open would hang the test: fail it instead. */
    alarm(30);

    test_names();
    test_dir_open();

#ifdef SYS_openat2
    struct {
        uint64_t flags, mode, resolve;
    } how = {O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0};
    long probe = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
    int have_openat2 = probe >= 0;
    if (probe >= 0)
        close((int)probe);
    printf("openat2: %s\n", have_openat2 ? "available" : strerror(errno));
#else
    int have_openat2 = 0;
    printf("openat2: not known to these headers\n");
#endif

    files_path_force_walk = 0;
    test_beneath(have_openat2 ? "openat2" : "walk (no openat2)", 1);
    files_path_force_walk = 1;
    test_beneath("forced walk", 1);
    files_path_force_walk = 0;

#if defined(TEST_AUDIT_ARCH) && defined(SYS_openat2) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* The kernel says ENOSYS: the module falls back at run time. */
    test_beneath_filtered("openat2 ENOSYS, run-time fallback", SYS_openat2, 0, ENOSYS, 1);
    /* Old container runtimes answer EPERM for system calls they do not know. */
    test_beneath_filtered("openat2 EPERM, run-time fallback", SYS_openat2, 0, EPERM, 1);
    /*
     * The walk's openat(O_NOFOLLOW) forbidden: without mkdirs everything
     * must still work, so openat2 alone did it.
     */
    if (have_openat2)
        test_beneath_filtered("openat2 only, walk forbidden", SYS_openat, O_NOFOLLOW, EACCES, 0);
#else
    printf("seccomp tests skipped on this architecture\n");
#endif
    return check_report("test_files_path");
}
