/*
 * libFuzzer target for the file name rules: whatever the bytes,
 * files_name_check() answers 0 or MC_ERR_BAD_NAME with a reason, and a name
 * it accepts is checked again here, by code written independently of it,
 * for every way out of the folder or into trouble on Windows: no "." or
 * ".." segment, no leading, doubled or trailing '/', no backslash, colon,
 * NUL or control character, valid UTF-8, no reserved device name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "files_path.h"
#include "miscomm/error.h"

/* Not assert(): it must hold in release builds too. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 3629 by arithmetic (the module uses byte ranges): 1 if valid and free of C1 controls. */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t len = b < 0x80             ? 1
                     : (b & 0xe0) == 0xc0 ? 2
                     : (b & 0xf0) == 0xe0 ? 3
                     : (b & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len == 0 || i + len > n)
            return 0;
        uint32_t cp = len == 1 ? b : (uint32_t)(b & (0xff >> (len + 1)));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        if (cp >= 0x80 && cp <= 0x9f)
            return 0;
        i += len;
    }
    return 1;
}

static int upper(int c)
{
    return c >= 'a' && c <= 'z' ? c - 32 : c;
}

/* A segment that Windows would take for a device (the base before '.', trailing spaces dropped). */
static int is_device(const uint8_t *s, size_t n)
{
    size_t base = 0;
    while (base < n && s[base] != '.')
        base++;
    while (base > 0 && s[base - 1] == ' ')
        base--;
    char u[8] = {0};
    if (base < 3 || base > 7)
        return 0;
    for (size_t k = 0; k < base; k++)
        u[k] = (char)upper(s[k]);
    if (base == 3)
        return !strcmp(u, "CON") || !strcmp(u, "PRN") || !strcmp(u, "AUX") || !strcmp(u, "NUL");
    int comlpt = !memcmp(u, "COM", 3) || !memcmp(u, "LPT", 3);
    if (base == 4)
        return comlpt && u[3] >= '0' && u[3] <= '9';
    if (base == 5) /* superscript one, two, three: C2 B9, C2 B2, C2 B3 */
        return comlpt && (uint8_t)u[3] == 0xc2 &&
               ((uint8_t)u[4] == 0xb9 || (uint8_t)u[4] == 0xb2 || (uint8_t)u[4] == 0xb3);
    return !strcmp(u, "CONIN$") || !strcmp(u, "CONOUT$");
}

static void check_accepted_segment(const uint8_t *s, size_t n)
{
    CHECK(n >= 1 && n <= FILES_SEGMENT_MAX);
    CHECK(!(n == 1 && s[0] == '.'));
    CHECK(!(n == 2 && s[0] == '.' && s[1] == '.'));
    CHECK(s[n - 1] != '.' && s[n - 1] != ' ');
    CHECK(!(n >= 8 && upper(s[1]) == 'M' && s[0] == '.' && upper(s[2]) == 'I' &&
            upper(s[3]) == 'S' && upper(s[4]) == 'C' && upper(s[5]) == 'O' && upper(s[6]) == 'M' &&
            upper(s[7]) == 'M'));
    CHECK(!is_device(s, n));
    const char *why = "unset";
    CHECK(files_segment_check((const char *)s, n, &why) == 0 && why == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *name = (const char *)data;
    const char *why = "unset";
    int rc = files_name_check(name, size, &why);
    CHECK(rc == 0 || rc == MC_ERR_BAD_NAME);
    CHECK(files_name_check(name, size, NULL) == rc);

    const char *seg_why = "unset";
    int seg_rc = files_segment_check(name, size, &seg_why);
    CHECK(seg_rc == 0 || seg_rc == MC_ERR_BAD_NAME);
    CHECK(seg_rc == 0 ? seg_why == NULL : seg_why != NULL && seg_why[0] != '\0');
    /* A good segment is a good one-segment name. */
    if (seg_rc == 0)
        CHECK(rc == 0 && memchr(data, '/', size) == NULL);

    if (rc < 0) {
        CHECK(why != NULL && why[0] != '\0');
        return 0;
    }
    CHECK(why == NULL);
    CHECK(size >= 1 && size <= FILES_NAME_MAX);
    CHECK(data[0] != '/' && data[size - 1] != '/');
    for (size_t i = 0; i < size; i++) {
        uint8_t b = data[i];
        CHECK(b >= 0x20 && b != 0x7f);
        CHECK(!strchr("\\:<>\"|?*", b));
    }
    CHECK(utf8_ok(data, size));
    size_t start = 0;
    while (start < size) {
        const uint8_t *slash = memchr(data + start, '/', size - start);
        size_t end = slash ? (size_t)(slash - data) : size;
        check_accepted_segment(data + start, end - start);
        start = end + 1;
    }
    return 0;
}
