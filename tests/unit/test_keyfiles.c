/*
 * Files that hold secrets: pre-shared key files (psk_create, psk_load_ex),
 * the atomic writer under them (safefile_write) and password lines
 * (secret_read_line).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "miscomm/error.h"
#include "psk.h"
#include "safefile.h"
#include "secret.h"

static char dir[] = "/tmp/mc-keyfiles-XXXXXX";

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    CHECK_EQ_INT(chmod(path, mode), 0);
}

static void read_text(const char *path, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
}

/* --force replaces a symbolic link at the key's path; the file it pointed to is untouched. */
static void test_psk_create_replaces_symlink(void)
{
    char key[512], victim[512], text[256];
    path_in(key, sizeof key, "conn.psk");
    path_in(victim, sizeof victim, "victim");
    write_text(victim, "do not touch\n", 0644);
    CHECK_EQ_INT(symlink(victim, key), 0);
    CHECK_EQ_INT(psk_create(key, 0), MC_ERR_EXISTS);
    CHECK_EQ_INT(psk_create(key, 1), 0);
    struct stat st;
    CHECK_EQ_INT(lstat(key, &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ_INT(st.st_mode & 07777, 0600);
    read_text(victim, text, sizeof text);
    CHECK(strcmp(text, "do not touch\n") == 0);
    read_text(key, text, sizeof text);
    CHECK_EQ_INT(strlen(text), 65);
    /* A dangling link is not created through either. */
    CHECK_EQ_INT(unlink(key), 0);
    path_in(victim, sizeof victim, "absent");
    CHECK_EQ_INT(symlink(victim, key), 0);
    CHECK_EQ_INT(psk_create(key, 0), MC_ERR_EXISTS);
    CHECK(access(victim, F_OK) != 0);
    unlink(key);
}

static void test_psk_load_warns_on_readable_file(void)
{
    char key[512];
    uint8_t k[PSK_KEY_SIZE];
    const char *why, *warning = "unset";
    path_in(key, sizeof key, "mode.psk");
    CHECK_EQ_INT(psk_create(key, 0), 0);
    CHECK_EQ_INT(psk_load_ex(key, k, &why, &warning), 0);
    CHECK(warning == NULL);
    CHECK_EQ_INT(chmod(key, 0644), 0);
    CHECK_EQ_INT(psk_load_ex(key, k, &why, &warning), 0);
    CHECK(warning != NULL);
    if (warning)
        CHECK_CONTAINS(warning, "0600");
    CHECK_EQ_INT(chmod(key, 0640), 0);
    CHECK_EQ_INT(psk_load_ex(key, k, &why, &warning), 0);
    CHECK(warning != NULL);
    /* The plain loader is unchanged: the key loads, nothing to say. */
    CHECK_EQ_INT(psk_load(key, k, &why), 0);
    unlink(key);
}

static void test_secret_line_endings(void)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"pass word\n", "pass word"},     {"pass word\r\n", "pass word"},
        {"pass word\r", "pass word"},     {"pass word", "pass word"},
        {"pass word  \n", "pass word  "}, {" \tpass\n", " \tpass"},
        {"first\nsecond\n", "first"},     {"\n", ""},
    };
    char path[512], buf[64];
    path_in(path, sizeof path, "pw");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i].text, 0600);
        CHECK_EQ_INT(secret_read_file(path, buf, sizeof buf), 0);
        if (strcmp(buf, cases[i].want) != 0)
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, buf, cases[i].want);
        CHECK(strcmp(buf, cases[i].want) == 0);
    }
    const char *why = NULL;
    write_text(path, "", 0600);
    CHECK_EQ_INT(secret_read_line(path, buf, sizeof buf, &why), MC_ERR_INVALID_ARG);
    CHECK(why && strcmp(why, "empty input") == 0);
    char longer[200];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    write_text(path, longer, 0600);
    CHECK_EQ_INT(secret_read_line(path, buf, sizeof buf, &why), MC_ERR_INVALID_ARG);
    CHECK(why && strcmp(why, "the line is too long") == 0);
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_psk_create_replaces_symlink();
    test_psk_load_warns_on_readable_file();
    test_secret_line_endings();
    char victim[512];
    path_in(victim, sizeof victim, "victim");
    unlink(victim);
    rmdir(dir);
    return check_report("test_keyfiles");
}
