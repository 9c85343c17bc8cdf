/*
 * An INI reader with iniparser 4.1's rules and the part of its API that
 * config.c calls (src/compat/win32/iniparser/iniparser.h says why it
 * exists). The rules, as iniparser applies them line by line:
 *   - lines are at most 1023 bytes ("input line too long" otherwise); a line
 *     ending in '\' continues on the next; surrounding spaces are stripped;
 *   - empty lines and lines starting with '#' or ';' are comments;
 *   - "[name]" starts a section, whose name is stripped and lowercased;
 *   - "key = \"value\"" or "key = 'value'" keeps the value inside the quotes
 *     as is; "key = value" ends the value at the first ';' or '#' and strips
 *     it; "key =", "key = ;..." and a quoted empty value give "";
 *   - keys are stored lowercased as "section:key" (":key" before any
 *     section), a repeated key replacing the earlier value in place;
 *   - anything else is a syntax error, reported through the error callback
 *     with the file, the line number and the line; a file with any is refused.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iniparser/iniparser.h>

#define LINE_MAX_BYTES 1024

struct ini_lite_entry {
    char *key; /* "section" for a section, else "section:key" */
    char *val; /* NULL for a section */
};

struct ini_lite_dict {
    struct ini_lite_entry *e;
    int n, cap;
};

static int default_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(stderr, fmt, ap);
    va_end(ap);
    return n;
}

static int (*error_cb)(const char *, ...) = default_error;

void iniparser_set_error_callback(int (*errback)(const char *, ...))
{
    error_cb = errback ? errback : default_error;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Strip leading and trailing white space in place. */
static void strip(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

static int dict_set(dictionary *d, const char *key, const char *val)
{
    for (int i = 0; i < d->n; i++) {
        if (strcmp(d->e[i].key, key) == 0) {
            char *v = val ? strdup(val) : NULL;
            if (val && !v)
                return -1;
            free(d->e[i].val);
            d->e[i].val = v;
            return 0;
        }
    }
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 64;
        struct ini_lite_entry *e = realloc(d->e, (size_t)cap * sizeof *e);
        if (!e)
            return -1;
        d->e = e;
        d->cap = cap;
    }
    char *k = strdup(key), *v = val ? strdup(val) : NULL;
    if (!k || (val && !v)) {
        free(k);
        free(v);
        return -1;
    }
    d->e[d->n].key = k;
    d->e[d->n].val = v;
    d->n++;
    return 0;
}

enum line_kind { L_EMPTY, L_SECTION, L_VALUE, L_ERROR };

/* One logical line, classified with iniparser's own sscanf patterns. */
static enum line_kind parse_line(const char *input, char *section, char *key, char *value)
{
    char line[LINE_MAX_BYTES + 1];
    snprintf(line, sizeof line, "%s", input);
    strip(line);
    size_t len = strlen(line);
    if (len < 1)
        return L_EMPTY;
    if (line[0] == '#' || line[0] == ';')
        return L_EMPTY;
    if (line[0] == '[' && line[len - 1] == ']') {
        section[0] = 0;
        (void)sscanf(line, "[%1023[^]]", section);
        strip(section);
        lower(section);
        return L_SECTION;
    }
    if (sscanf(line, "%1023[^=] = \"%1023[^\"]\"", key, value) == 2 ||
        sscanf(line, "%1023[^=] = '%1023[^\']'", key, value) == 2) {
        strip(key);
        lower(key);
        return L_VALUE;
    }
    if (sscanf(line, "%1023[^=] = %1023[^;#]", key, value) == 2) {
        strip(key);
        lower(key);
        strip(value);
        if (strcmp(value, "\"\"") == 0 || strcmp(value, "''") == 0)
            value[0] = 0;
        return L_VALUE;
    }
    if (sscanf(line, "%1023[^=] = %1023[;#]", key, value) == 2 ||
        sscanf(line, "%1023[^=] %1023[=]", key, value) == 2) {
        strip(key);
        lower(key);
        value[0] = 0;
        return L_VALUE;
    }
    return L_ERROR;
}

dictionary *iniparser_load(const char *ininame)
{
    FILE *in = fopen(ininame, "r");
    if (!in) {
        error_cb("iniparser: cannot open %s\n", ininame);
        return NULL;
    }
    dictionary *d = calloc(1, sizeof *d);
    char *line = calloc(4, LINE_MAX_BYTES + 1);
    if (!d || !line) {
        free(d);
        free(line);
        fclose(in);
        return NULL;
    }
    char *section = line + LINE_MAX_BYTES + 1, *key = section + LINE_MAX_BYTES + 1,
         *val = key + LINE_MAX_BYTES + 1;
    char full[2 * LINE_MAX_BYTES + 2];
    int lineno = 0, errs = 0, last = 0, mem_err = 0;
    while (fgets(line + last, LINE_MAX_BYTES - last, in)) {
        lineno++;
        int len = (int)strlen(line) - 1;
        if (len <= 0)
            continue;
        if (line[len] != '\n' && !feof(in)) {
            error_cb("iniparser: input line too long in %s (%d)\n", ininame, lineno);
            iniparser_freedict(d);
            free(line);
            fclose(in);
            return NULL;
        }
        while (len >= 0 && (line[len] == '\n' || isspace((unsigned char)line[len])))
            line[len--] = 0;
        if (len < 0)
            len = 0;
        if (line[len] == '\\') {
            last = len; /* the next line continues this one, over the backslash */
            continue;
        }
        last = 0;
        switch (parse_line(line, section, key, val)) {
        case L_EMPTY:
            break;
        case L_SECTION:
            mem_err = dict_set(d, section, NULL);
            break;
        case L_VALUE:
            snprintf(full, sizeof full, "%s:%s", section, key);
            mem_err = dict_set(d, full, val);
            break;
        case L_ERROR:
            error_cb("iniparser: syntax error in %s (%d):\n-> %s\n", ininame, lineno, line);
            errs++;
            break;
        }
        memset(line, 0, LINE_MAX_BYTES);
        if (mem_err < 0) {
            error_cb("iniparser: memory allocation failure\n");
            break;
        }
    }
    fclose(in);
    free(line);
    if (errs || mem_err < 0) {
        iniparser_freedict(d);
        return NULL;
    }
    return d;
}

void iniparser_freedict(dictionary *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++) {
        free(d->e[i].key);
        free(d->e[i].val);
    }
    free(d->e);
    free(d);
}

int iniparser_getnsec(const dictionary *d)
{
    int n = 0;
    for (int i = 0; d && i < d->n; i++)
        n += strchr(d->e[i].key, ':') == NULL;
    return n;
}

const char *iniparser_getsecname(const dictionary *d, int n)
{
    for (int i = 0; d && i < d->n; i++)
        if (!strchr(d->e[i].key, ':') && n-- == 0)
            return d->e[i].key;
    return NULL;
}

/* Keys of section s: "s:" followed by anything. */
static int in_section(const char *key, const char *s, size_t slen)
{
    return strncmp(key, s, slen) == 0 && key[slen] == ':';
}

int iniparser_getsecnkeys(const dictionary *d, const char *s)
{
    if (!d || !s)
        return 0;
    size_t slen = strlen(s);
    int n = 0;
    for (int i = 0; i < d->n; i++)
        n += in_section(d->e[i].key, s, slen);
    return n;
}

const char **iniparser_getseckeys(const dictionary *d, const char *s, const char **keys)
{
    if (!d || !s || !keys)
        return NULL;
    size_t slen = strlen(s);
    int j = 0;
    for (int i = 0; i < d->n; i++)
        if (in_section(d->e[i].key, s, slen))
            keys[j++] = d->e[i].key;
    return keys;
}

const char *iniparser_getstring(const dictionary *d, const char *key, const char *def)
{
    if (!d || !key)
        return def;
    char lc[2 * LINE_MAX_BYTES + 2];
    snprintf(lc, sizeof lc, "%s", key);
    lower(lc);
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->e[i].key, lc) == 0)
            return d->e[i].val ? d->e[i].val : def;
    return def;
}
