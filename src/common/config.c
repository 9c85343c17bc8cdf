#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <iniparser/iniparser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>
#include <threads.h>

#include "miscomm/error.h"
#include "miscomm/proto.h"
#include "secret.h"

enum key_kind { K_STR, K_PATH, K_UINT, K_SIZE, K_BOOL, K_ENUM, K_PERM, K_HASH, K_HASH_FILE };

struct key_spec {
    const char *name;
    enum key_kind kind;
    size_t offset;
    size_t size;                  /* for strings and paths: the buffer size */
    unsigned min, max;            /* for K_UINT */
    const char *const *enum_vals; /* for K_ENUM, NULL-terminated; the index is stored */
    uint32_t perm_bit;            /* for K_PERM */
    const char *def;              /* default value, as text; NULL = required */
};

static const char *const log_targets[] = {"stderr", "file", "syslog", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const tls_versions[] = {"1.2", "1.3", NULL};
static const char *const cipher_policies[] = {"modern", "referential", NULL};
static const char *const encryptions[] = {"tls", "none", "aes256", NULL};
static const char *const odbc_modes[] = {"read_only", "read_write", NULL};
static const char *const conflict_policies[] = {"reject", "server_wins", "client_wins", NULL};

#define S_(field) offsetof(struct mc_config, field), sizeof(((struct mc_config *)0)->field)
#define C_(field)                                                                                  \
    offsetof(struct cfg_connection, field), sizeof(((struct cfg_connection *)0)->field)

static const struct key_spec server_keys[] = {
    {"data_dir", K_PATH, S_(data_dir), 0, 0, NULL, 0, "data"},
    {"log_target", K_ENUM, S_(log_target), 0, 0, log_targets, 0, "stderr"},
    {"log_file", K_PATH, S_(log_file), 0, 0, NULL, 0, ""},
    {"log_level", K_ENUM, S_(log_level), 0, 0, log_levels, 0, "info"},
    {"max_connections", K_UINT, S_(max_connections), 1, 100000, NULL, 0, "1024"},
    {"max_connections_per_ip", K_UINT, S_(max_connections_per_ip), 1, 100000, NULL, 0, "64"},
    {"handshake_timeout", K_UINT, S_(handshake_timeout), 1, 300, NULL, 0, "10"},
    {"worker_threads", K_UINT, S_(worker_threads), 1, 128, NULL, 0, "4"},
    {"handshake_threads", K_UINT, S_(handshake_threads), 0, 256, NULL, 0, "0"},
    {"shutdown_grace", K_UINT, S_(shutdown_grace), 0, 3600, NULL, 0, "10"},
    {"pid_file", K_PATH, S_(pid_file), 0, 0, NULL, 0, ""},
    {"login_ticket_lifetime", K_UINT, S_(login_ticket_lifetime), 0, 2592000, NULL, 0, "604800"},
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL},
};

static const struct key_spec tls_keys[] = {
    {"certificate", K_PATH, S_(certificate), 0, 0, NULL, 0, "../certs/miscomm.crt"},
    {"key", K_PATH, S_(key), 0, 0, NULL, 0, "../certs/miscomm.key"},
    {"min_version", K_ENUM, S_(min_version), 0, 0, tls_versions, 0, "1.2"},
    {"max_version", K_ENUM, S_(max_version), 0, 0, tls_versions, 0, "1.3"},
    {"cipher_policy", K_ENUM, S_(cipher_policy), 0, 0, cipher_policies, 0, "modern"},
    {"ciphers", K_STR, S_(ciphers), 0, 0, NULL, 0, ""},
    {"password_file", K_PATH, S_(password_file), 0, 0, NULL, 0, ""},
    {"password_env", K_STR, S_(password_env), 0, 0, NULL, 0, ""},
    {"require_client_cert", K_BOOL, S_(require_client_cert), 0, 0, NULL, 0, "no"},
    {"client_ca", K_PATH, S_(client_ca), 0, 0, NULL, 0, ""},
    {"crl", K_PATH, S_(crl), 0, 0, NULL, 0, ""},
    {"cert_warn_days", K_UINT, S_(cert_warn_days), 0, 3650, NULL, 0, "30"},
    {"session_tickets", K_BOOL, S_(session_tickets), 0, 0, NULL, 0, "yes"},
    {"ticket_rotation", K_UINT, S_(ticket_rotation), 60, 604800, NULL, 0, "3600"},
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL},
};

static const struct key_spec odbc_keys[] = {
    {"ini_dir", K_PATH, S_(odbc_ini_dir), 0, 0, NULL, 0, ""},
    {"threads", K_UINT, S_(odbc_threads), 1, 256, NULL, 0, "4"},
    {"pool_min", K_UINT, S_(odbc_pool_min), 0, 1000, NULL, 0, "1"},
    {"pool_max", K_UINT, S_(odbc_pool_max), 1, 1000, NULL, 0, "8"},
    {"idle_timeout", K_UINT, S_(odbc_idle_timeout), 1, 86400, NULL, 0, "300"},
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL},
};

static const struct key_spec conn_keys[] = {
    {"description", K_STR, C_(description), 0, 0, NULL, 0, ""},
    {"active", K_BOOL, C_(active), 0, 0, NULL, 0, "yes"},
    {"bind", K_STR, C_(bind), 0, 0, NULL, 0, "0.0.0.0"},
    {"port", K_UINT, C_(port), 1, 65535, NULL, 0, "9000"},
    {"encryption", K_ENUM, C_(encryption), 0, 0, encryptions, 0, "tls"},
    {"allow_plaintext", K_BOOL, C_(allow_plaintext), 0, 0, NULL, 0, "no"},
    {"password", K_HASH, C_(password_hash), 0, 0, NULL, 0, ""},
    {"password_file", K_HASH_FILE, C_(password_hash), 0, 0, NULL, 0, ""},
    {"psk_file", K_PATH, C_(psk_file), 0, 0, NULL, 0, ""},
    {"tcp_nodelay", K_BOOL, C_(tcp_nodelay), 0, 0, NULL, 0, "yes"},
    {"timeout", K_UINT, C_(timeout), 0, 86400, NULL, 0, "300"},
    {"tries", K_UINT, C_(tries), 1, 100, NULL, 0, "3"},
    {"timewait", K_UINT, C_(timewait), 0, 60, NULL, 0, "0"},
    {"receive_files_dir", K_PATH, C_(receive_files_dir), 0, 0, NULL, 0, ""},
    {"send_files_dir", K_PATH, C_(send_files_dir), 0, 0, NULL, 0, ""},
    {"max_file_size", K_SIZE, C_(max_file_size), 0, 0, NULL, 0, "2G"},
    {"quota", K_SIZE, C_(quota), 0, 0, NULL, 0, "0"},
    {"partial_expiry", K_UINT, C_(partial_expiry), 60, 31536000, NULL, 0, "604800"},
    {"delete_after_send", K_BOOL, C_(delete_after_send), 0, 0, NULL, 0, "no"},
    {"overwrite", K_BOOL, C_(overwrite), 0, 0, NULL, 0, "no"},
    {"compression", K_UINT, C_(compression), 0, 9, NULL, 0, "0"},
    {"odbc_credential", K_PATH, C_(odbc_credential), 0, 0, NULL, 0, ""},
    {"odbc_sources", K_STR, C_(odbc_sources), 0, 0, NULL, 0, ""},
    {"odbc_mode", K_ENUM, C_(odbc_mode), 0, 0, odbc_modes, 0, "read_only"},
    {"odbc_raw_sql", K_BOOL, C_(odbc_raw_sql), 0, 0, NULL, 0, "no"},
    {"odbc_queries", K_STR, C_(odbc_queries), 0, 0, NULL, 0, ""},
    {"odbc_max_rows", K_UINT, C_(odbc_max_rows), 1, 100000000, NULL, 0, "10000"},
    {"odbc_max_result_bytes", K_SIZE, C_(odbc_max_result_bytes), 0, 0, NULL, 0, "64M"},
    {"odbc_query_timeout", K_UINT, C_(odbc_query_timeout), 1, 3600, NULL, 0, "30"},
    {"sync_mapping", K_STR, C_(sync_mapping), 0, 0, NULL, 0, ""},
/* One key per permission (miscomm/proto.h); only ping is on by default. */
#define CONFIG_PERM_KEY_(name, bit, key)                                                           \
    {key, K_PERM, 0, 0, 0, 0, NULL, MC_PERM_##name, MC_PERM_##name == MC_PERM_PING ? "on" : "off"},
    MC_PERM_MAP(CONFIG_PERM_KEY_)
#undef CONFIG_PERM_KEY_
        {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL},
};

#define Y_(field) offsetof(struct cfg_sync, field), sizeof(((struct cfg_sync *)0)->field)

static const struct key_spec sync_keys[] = {
    {"credential", K_PATH, Y_(credential), 0, 0, NULL, 0, ""},
    {"mapping", K_PATH, Y_(mapping), 0, 0, NULL, 0, ""},
    {"fields", K_STR, Y_(fields), 0, 0, NULL, 0, ""},
    {"conflict_policy", K_ENUM, Y_(conflict_policy), 0, 0, conflict_policies, 0, "reject"},
    {"photo_dir", K_PATH, Y_(photo_dir), 0, 0, NULL, 0, ""},
    {"poll_interval", K_UINT, Y_(poll_interval), 1, 3600, NULL, 0, "2"},
    {"stall_timeout", K_UINT, Y_(stall_timeout), 1, 3600, NULL, 0, "30"},
    {NULL, 0, 0, 0, 0, 0, NULL, 0, NULL},
};

struct loader {
    const char *base_dir;
    config_err_fn on_error;
    void *ud;
    int nerr;
};

static void report(struct loader *ld, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(struct loader *ld, const char *section, const char *key, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    ld->nerr++;
    if (ld->on_error)
        ld->on_error(ld->ud, section, key, reason);
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "yes", "on", "true"};
    static const char *const no[] = {"0", "no", "off", "false"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return MC_ERR_INVALID_ARG;
}

static int set_string(char *dst, size_t size, const char *v)
{
    size_t n = strlen(v);
    if (n >= size)
        return MC_ERR_INVALID_ARG;
    memcpy(dst, v, n + 1);
    return 0;
}

/*
 * Remove "." segments and fold "dir/.." so that paths read well in logs
 * ("conf/../certs/x" becomes "certs/x"). The kernel resolves a symlink
 * before its "..", so a segment is only folded when it is a real directory;
 * otherwise the path is left as written.
 */
/*
 * Absolute paths: "/..." everywhere, and on Windows also a drive letter and
 * colon followed by a separator, or a UNC path (a leading backslash). On Windows a path read from
 * the file has its backslashes turned into slashes first (slash_path), which Windows accepts as
 * separators, so the rest of the path code is the same on both.
 */
static int path_is_absolute(const char *p)
{
#ifdef _WIN32
    if (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' &&
        (p[2] == '/' || p[2] == '\\'))
        return 1;
    if (p[0] == '\\')
        return 1;
#endif
    return p[0] == '/';
}

static void slash_path(char *p)
{
#ifdef _WIN32
    for (; *p; p++)
        if (*p == '\\')
            *p = '/';
#else
    (void)p;
#endif
}

/* Join path segments into out ("/" first when absolute, "." when empty). */
static void join_segments(char *const *seg, size_t n, int absolute, char *out, size_t cap)
{
    size_t len = 0;
    if (absolute)
        out[len++] = '/';
    out[len] = 0;
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "/" : "", seg[i]);
    if (len == 0)
        snprintf(out, cap, ".");
}

static void tidy_path(char *p)
{
    char *seg[PATH_MAX / 2];
    size_t n = 0;
    int absolute = p[0] == '/';
    char tmp[PATH_MAX], out[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", p);
    for (char *save, *t = strtok_r(tmp, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0 && n > 0 && strcmp(seg[n - 1], "..") != 0) {
            /* The directory being folded away, as written so far. */
            join_segments(seg, n, absolute, out, sizeof out);
            struct stat st;
            if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode))
                return; /* a symlink or nothing: keep the path as written */
            n--;
            continue;
        }
        if (strcmp(t, "..") == 0 && absolute && n == 0)
            continue;
        seg[n++] = t;
    }
    join_segments(seg, n, absolute, out, sizeof out);
    memcpy(p, out, strlen(out) + 1);
}

static int resolve_path(struct loader *ld, char *dst, size_t size, const char *v)
{
    if (v[0] == 0 || path_is_absolute(v)) {
        int rc = set_string(dst, size, v);
        if (rc == 0)
            slash_path(dst);
        return rc;
    }
    int n = snprintf(dst, size, "%s/%s", ld->base_dir, v);
    if (n < 0 || (size_t)n >= size)
        return MC_ERR_INVALID_ARG;
    slash_path(dst);
    tidy_path(dst);
    return 0;
}

static int is_argon2id(const char *v)
{
    return strncmp(v, "$argon2id$", 10) == 0 && strlen(v) < CFG_HASH_MAX;
}

/*
 * A hash that looks like one but is damaged (cut short, hand-edited, from a
 * tool with other parameters) would otherwise load, and every login would
 * then fail as if the password were wrong.
 */
static void check_hash(struct loader *ld, const char *section, const char *key, const char *v,
                       const char *path)
{
    const char *why;
    if (secret_hash_check(v, &why) == 0)
        return;
    if (path)
        report(ld, section, key,
               "'%s' does not hold a valid Argon2id hash: %s (make a new one with 'misctl "
               "passwd')",
               path, why);
    else
        report(ld, section, key,
               "not a valid Argon2id hash: %s (make a new one with 'misctl passwd')", why);
}

static void read_hash_file(struct loader *ld, const char *section, const char *key, char *dst,
                           const char *v)
{
    char path[PATH_MAX];
    if (v[0] == 0)
        return;
    if (resolve_path(ld, path, sizeof path, v) < 0) {
        report(ld, section, key, "path too long");
        return;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        report(ld, section, key, "cannot read '%s': %s", path, strerror(errno));
        return;
    }
    char line[CFG_HASH_MAX + 2] = "";
    if (!fgets(line, sizeof line, f))
        line[0] = 0;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    if (!is_argon2id(line)) {
        report(ld, section, key,
               "'%s' does not hold an Argon2id hash (make one with misctl passwd)", path);
        return;
    }
    check_hash(ld, section, key, line, path);
    memcpy(dst, line, strlen(line) + 1);
}

/* Store one value; on a bad value report it and leave the default. */
static void apply_key(struct loader *ld, const char *section, const struct key_spec *k, void *obj,
                      const char *v)
{
    char *field = (char *)obj + k->offset;
    switch (k->kind) {
    case K_STR:
        if (set_string(field, k->size, v) < 0)
            report(ld, section, k->name, "value longer than %zu bytes", k->size - 1);
        break;
    case K_PATH:
        if (resolve_path(ld, field, k->size, v) < 0)
            report(ld, section, k->name, "path too long");
        break;
    case K_UINT: {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (!isdigit((unsigned char)v[0]) || *end || errno || n < k->min || n > k->max)
            report(ld, section, k->name, "must be a whole number from %u to %u (got '%s')", k->min,
                   k->max, v);
        else
            *(unsigned *)field = (unsigned)n;
        break;
    }
    case K_SIZE: {
        /* Bytes, with an optional K, M, G or T (powers of 1024). */
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        unsigned shift = 0;
        if (*end && strchr("kKmMgGtT", *end) && end[1] == 0) {
            shift = *end == 'k' || *end == 'K'   ? 10
                    : *end == 'm' || *end == 'M' ? 20
                    : *end == 'g' || *end == 'G' ? 30
                                                 : 40;
            end++;
        }
        if (!isdigit((unsigned char)v[0]) || *end || errno || n > (UINT64_MAX >> shift))
            report(ld, section, k->name,
                   "must be a size in bytes, optionally with K, M, G or T (got '%s')", v);
        else
            *(uint64_t *)field = (uint64_t)n << shift;
        break;
    }
    case K_BOOL:
        if (parse_bool(v, (int *)field) < 0)
            report(ld, section, k->name, "must be yes/no, on/off, true/false or 1/0 (got '%s')", v);
        break;
    case K_PERM: {
        int on;
        uint32_t *perms = (uint32_t *)((char *)obj + offsetof(struct cfg_connection, perms));
        if (parse_bool(v, &on) < 0)
            report(ld, section, k->name, "must be on or off (got '%s')", v);
        else if (on)
            *perms |= k->perm_bit;
        else
            *perms &= ~k->perm_bit;
        break;
    }
    case K_ENUM: {
        for (int i = 0; k->enum_vals[i]; i++) {
            if (strcasecmp(v, k->enum_vals[i]) == 0) {
                *(int *)field = i;
                return;
            }
        }
        char allowed[256] = "";
        for (int i = 0; k->enum_vals[i]; i++) {
            strncat(allowed, i ? ", " : "", sizeof allowed - strlen(allowed) - 1);
            strncat(allowed, k->enum_vals[i], sizeof allowed - strlen(allowed) - 1);
        }
        report(ld, section, k->name, "must be one of %s (got '%s')", allowed, v);
        break;
    }
    case K_HASH:
        if (v[0])
            ((struct cfg_connection *)obj)->password_keys++;
        if (v[0] && !is_argon2id(v))
            report(ld, section, k->name,
                   "must be an Argon2id hash made by 'misctl passwd', never a plaintext password");
        else if (set_string(field, k->size, v) < 0)
            report(ld, section, k->name, "hash longer than %zu bytes", k->size - 1);
        else if (v[0])
            check_hash(ld, section, k->name, v, NULL);
        break;
    case K_HASH_FILE:
        if (v[0])
            ((struct cfg_connection *)obj)->password_keys++;
        read_hash_file(ld, section, k->name, field, v);
        break;
    }
}

/* Edit distance, capped: enough to suggest "max_connections" for "max_conections". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            cur[j] = del < ins ? (del < sub ? del : sub) : (ins < sub ? ins : sub);
        }
        memcpy(prev, cur, sizeof prev);
    }
    return prev[lb];
}

static const char *closest_key(const struct key_spec *keys, const char *key)
{
    const char *best = NULL;
    size_t best_d = 3; /* suggest only close matches */
    for (const struct key_spec *k = keys; k->name; k++) {
        size_t d = edit_distance(k->name, key);
        if (d < best_d) {
            best_d = d;
            best = k->name;
        }
    }
    return best;
}

/*
 * Apply the defaults, then every key present in the section; keys that are
 * not in the table are errors.
 */
static void load_section(struct loader *ld, dictionary *d, const char *sec, const char *label,
                         const struct key_spec *keys, void *obj)
{
    for (const struct key_spec *k = keys; k->name; k++)
        if (k->def && k->kind != K_HASH_FILE)
            apply_key(ld, label, k, obj, k->def);

    int n = iniparser_getsecnkeys(d, sec);
    if (n <= 0)
        return;
    const char **names = calloc((size_t)n, sizeof *names);
    if (!names) {
        report(ld, label, "", "out of memory");
        return;
    }
    iniparser_getseckeys(d, sec, names);
    size_t seclen = strlen(sec);
    for (int i = 0; i < n; i++) {
        const char *full = names[i];
        const char *key = full + seclen + 1;
        const char *v = iniparser_getstring(d, full, "");
        const struct key_spec *k = keys;
        while (k->name && strcmp(k->name, key) != 0)
            k++;
        if (!k->name) {
            const char *hint = closest_key(keys, key);
            if (hint)
                report(ld, label, key, "unknown key (did you mean '%s'?)", hint);
            else
                report(ld, label, key, "unknown key");
        } else
            apply_key(ld, label, k, obj, v);
    }
    free(names);
}

/*
 * iniparser folds case and lets a later section or key silently replace an
 * earlier one. Both are mistakes an administrator wants to hear about, so
 * the file is scanned once for them before iniparser reads it.
 */
static void scan_duplicates(struct loader *ld, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    enum { MAX_NAMES = 512 };
    /* On the heap, not static: reloads run on the worker pool. */
    char(*secs)[CFG_NAME_MAX + 16] = calloc(MAX_NAMES, sizeof *secs);
    char(*keys)[64] = calloc(MAX_NAMES, sizeof *keys);
    if (!secs || !keys) {
        free(secs);
        free(keys);
        fclose(f);
        report(ld, "", "", "out of memory");
        return;
    }
    size_t nsec = 0, nkey = 0;
    char cur[CFG_NAME_MAX + 16] = "";
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) >= 0) {
        char *p = line + strspn(line, " \t");
        if (*p == ';' || *p == '#' || *p == '\n' || *p == '\r' || *p == 0)
            continue;
        if (*p == '[') {
            char *end = strchr(p, ']');
            if (!end)
                continue;
            *end = 0;
            /* iniparser strips blanks inside the brackets: "[ tls ]" is [tls]. */
            char *name = p + 1;
            name += strspn(name, " \t");
            size_t nl = strlen(name);
            while (nl && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
                name[--nl] = 0;
            snprintf(cur, sizeof cur, "%s", name);
            for (char *q = cur; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            for (size_t i = 0; i < nsec; i++)
                if (strcmp(secs[i], cur) == 0)
                    report(ld, cur, "", "section appears twice (names are not case-sensitive)");
            if (nsec < MAX_NAMES)
                snprintf(secs[nsec++], sizeof secs[0], "%s", cur);
            nkey = 0;
            continue;
        }
        char *eq = strchr(p, '=');
        if (!eq)
            continue;
        size_t len = (size_t)(eq - p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(len < 63 ? len : 63), p);
        for (char *q = key; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        for (size_t i = 0; i < nkey; i++)
            if (strcmp(keys[i], key) == 0)
                report(ld, cur, key, "key appears twice in this section");
        if (nkey < MAX_NAMES)
            snprintf(keys[nkey++], sizeof keys[0], "%s", key);
    }
    free(line);
    free(secs);
    free(keys);
    fclose(f);
}

/*
 * iniparser reports syntax errors through one process-wide callback, set
 * once and never changed (so that two loads on two threads do not race on
 * it); the message goes to the buffer of the load running on this thread.
 */
static _Thread_local char *ini_error;
static once_flag ini_error_once = ONCE_FLAG_INIT;
#define INI_ERROR_MAX 512

static int ini_error_cb(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int ini_error_cb(const char *fmt, ...)
{
    if (!ini_error)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ini_error, INI_ERROR_MAX, fmt, ap);
    va_end(ap);
    ini_error[strcspn(ini_error, "\n")] = 0;
    return n;
}

static void ini_error_init(void)
{
    iniparser_set_error_callback(ini_error_cb);
}

/*
 * The suites an explicit cipher list may name, by wolfSSL name and by IANA
 * name: AEAD or SHA-2 suites with forward secrecy (DESIGN.md), and only
 * those we support. An exact list, not a pattern: "TLS13-SHA256-SHA256"
 * (integrity only, no encryption) looks like a TLS 1.3 suite and
 * "ECDHE-PSK-NULL-SHA256" like an ECDHE suite with a SHA-256 MAC.
 */
static const char *const allowed_suites[][2] = {
    {"TLS13-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"},
    {"TLS13-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384"},
    {"TLS13-CHACHA20-POLY1305-SHA256", "TLS_CHACHA20_POLY1305_SHA256"},
    {"ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
    {"ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
    {"ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
    {"ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
    {"ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    {"ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
    {"ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"},
    {"ECDHE-RSA-AES256-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"},
    {"DHE-RSA-AES128-GCM-SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"},
    {"DHE-RSA-AES256-GCM-SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"},
};

static int suite_allowed(const char *name)
{
    for (size_t i = 0; i < sizeof allowed_suites / sizeof allowed_suites[0]; i++)
        if (strcmp(name, allowed_suites[i][0]) == 0 || strcmp(name, allowed_suites[i][1]) == 0)
            return 1;
    return 0;
}

/* Every name in the colon-separated list must be on the allowlist: how many are not. */
static int check_ciphers(struct loader *ld, const char *list)
{
    int refused = 0;
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ":");
        char name[128];
        if (n == 0) {
            report(ld, "tls", "ciphers", "empty suite name in '%s'", list);
            refused++;
        } else if (n >= sizeof name) {
            report(ld, "tls", "ciphers", "'%.40s...' is refused: not a suite name", p);
            refused++;
        } else {
            memcpy(name, p, n);
            name[n] = 0;
            if (!suite_allowed(name)) {
                report(ld, "tls", "ciphers",
                       "'%s' is refused: only the TLS 1.3 AES-GCM and ChaCha20 suites and "
                       "the TLS 1.2 ECDHE/DHE suites with AES-GCM, ChaCha20-Poly1305 or "
                       "SHA-256/384 listed in docs/admin.md are allowed (wolfSSL or IANA names)",
                       name);
                refused++;
            }
        }
        if (p[n] == 0)
            break;
        p += n + 1;
    }
    return refused;
}

/* Whether a checked suite list names a suite of TLS 1.3 (tls13 = 1) or of TLS 1.2 (0). */
static int cipher_list_has(const char *list, int tls13)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ":");
        int is13 = strncmp(p, "TLS13-", 6) == 0 || strncmp(p, "TLS_AES_", 8) == 0 ||
                   strncmp(p, "TLS_CHACHA20_", 13) == 0;
        if (n && is13 == tls13)
            return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

/* A section or statement name: 1 to 63 of a-z, 0-9, '_', '-', '.' (the ini reader lower-cases). */
static int name_ok(const char *name, size_t len)
{
    return len > 0 && len < CFG_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-.") == len;
}

#define CFG_SQL_MAX 65535u

/* [queries NAME]: name = SQL with ? markers, one statement each. */
static void load_queries(struct loader *ld, dictionary *d, const char *sec, struct mc_config *cfg)
{
    const char *name = sec + 8;
    size_t len = strlen(name);
    if (!name_ok(name, len)) {
        report(ld, sec, "", "query section names are 1 to 63 letters, digits, '_', '-' or '.'");
        return;
    }
    struct cfg_query_set *set = &cfg->query_sets[cfg->nquery_sets++];
    memcpy(set->name, name, len + 1);
    int n = iniparser_getsecnkeys(d, sec);
    if (n <= 0)
        return;
    const char **names = calloc((size_t)n, sizeof *names);
    set->q = calloc((size_t)n, sizeof *set->q);
    if (!names || !set->q) {
        free(names);
        report(ld, sec, "", "out of memory");
        return;
    }
    iniparser_getseckeys(d, sec, names);
    size_t seclen = strlen(sec);
    for (int i = 0; i < n; i++) {
        const char *key = names[i] + seclen + 1;
        const char *sql = iniparser_getstring(d, names[i], "");
        size_t klen = strlen(key);
        if (!name_ok(key, klen)) {
            report(ld, sec, key, "statement names are 1 to 63 letters, digits, '_', '-' or '.'");
            continue;
        }
        if (sql[0] == 0 || strlen(sql) > CFG_SQL_MAX) {
            report(ld, sec, key, "the statement must be 1 to %u bytes of SQL", CFG_SQL_MAX);
            continue;
        }
        struct cfg_query *q = &set->q[set->n];
        memcpy(q->name, key, klen + 1);
        q->sql = strdup(sql);
        if (!q->sql) {
            report(ld, sec, key, "out of memory");
            continue;
        }
        set->n++;
    }
    free(names);
}

/* [sync NAME]: the gateway's credential, the mapping's statements, the fields a device may change.
 */
static void load_sync(struct loader *ld, dictionary *d, const char *sec, struct mc_config *cfg)
{
    const char *name = sec + 5;
    size_t len = strlen(name);
    if (!name_ok(name, len)) {
        report(ld, sec, "", "sync section names are 1 to 63 letters, digits, '_', '-' or '.'");
        return;
    }
    struct cfg_sync *s = &cfg->syncs[cfg->nsyncs++];
    memcpy(s->name, name, len + 1);
    load_section(ld, d, sec, sec, sync_keys, s);
    if (s->credential[0] == 0)
        report(ld, sec, "credential",
               "required: the gateway's credential file (misctl cred create)");
    if (s->mapping[0] == 0)
        report(
            ld, sec, "mapping",
            "required: the statements' file prefix (MAPPING.sqlite.sql, MAPPING.postgresql.sql)");
    if (s->photo_dir[0] == 0 && snprintf(s->photo_dir, sizeof s->photo_dir, "%s/photos",
                                         cfg->data_dir) >= (int)sizeof s->photo_dir)
        report(ld, sec, "photo_dir", "data_dir is too long for the default");
    size_t nfields = 0;
    char list[sizeof s->fields];
    memcpy(list, s->fields, sizeof list);
    for (char *save = NULL, *f = strtok_r(list, ", \t", &save); f;
         f = strtok_r(NULL, ", \t", &save)) {
        size_t flen = strlen(f);
        if (flen >= CFG_NAME_MAX || strspn(f, "abcdefghijklmnopqrstuvwxyz0123456789_") != flen)
            report(ld, sec, "fields",
                   "field names are 1 to 63 lower-case letters, digits or '_' (got '%s')", f);
        nfields++;
    }
    if (nfields == 0 || nfields > 32)
        report(ld, sec, "fields", "list 1 to 32 fields a device may change (got %zu)", nfields);
}

static void check_connection(struct loader *ld, const char *label, struct cfg_connection *c,
                             const struct mc_config *cfg)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, c->bind, addr) != 1 && inet_pton(AF_INET6, c->bind, addr) != 1)
        report(ld, label, "bind", "must be an IPv4 or IPv6 address, e.g. 0.0.0.0 or :: (got '%s')",
               c->bind);
    if (c->password_keys == 0)
        report(ld, label, "password",
               "missing: set password (an Argon2id hash from 'misctl passwd') or password_file");
    else if (c->password_keys > 1)
        report(ld, label, "password", "set either password or password_file, not both");
    if (c->encryption == CFG_ENC_NONE && !c->allow_plaintext && strcmp(c->bind, "127.0.0.1") != 0 &&
        strcmp(c->bind, "::1") != 0 && strcmp(c->bind, "localhost") != 0)
        report(ld, label, "encryption",
               "'none' is refused unless bind is a loopback address or allow_plaintext = yes");
    if (c->encryption == CFG_ENC_AES256 && c->psk_file[0] == 0)
        report(ld, label, "psk_file",
               "required when encryption = aes256 (make one with 'misctl psk create')");
    if (c->encryption != CFG_ENC_AES256 && c->psk_file[0] != 0)
        report(ld, label, "psk_file", "only used with encryption = aes256");
    static const char *const dir_keys[] = {"receive_files_dir", "send_files_dir"};
    const char *dirs[] = {c->receive_files_dir, c->send_files_dir};
    for (int i = 0; i < 2; i++) {
        /* {device} may only stand for a whole path segment. */
        for (const char *p = strstr(dirs[i], "{"); p; p = strstr(p + 1, "{")) {
            if (strncmp(p, "{device}", 8) != 0 || p == dirs[i] || p[-1] != '/' ||
                (p[8] != '/' && p[8] != 0))
                report(ld, label, dir_keys[i],
                       "'{device}' is the only placeholder, and it must be a whole folder name "
                       "(got '%s')",
                       dirs[i]);
        }
    }
    if (strcmp(c->receive_files_dir, c->send_files_dir) == 0)
        report(ld, label, "send_files_dir",
               "must differ from receive_files_dir: uploads would be sent back to the device");
    for (size_t i = 0; i < cfg->nconns; i++) {
        const struct cfg_connection *o = &cfg->conns[i];
        if (o != c && o->active && c->active && o->port == c->port && o < c)
            report(ld, label, "port", "port %u is already used by connection '%s'", c->port,
                   o->name);
    }
}

int config_load(const char *path, struct mc_config *cfg, config_err_fn on_error, void *ud)
{
    memset(cfg, 0, sizeof *cfg);
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s", path);
    slash_path(base);
    char *slash = strrchr(base, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(base, sizeof base, ".");
    /* Paths in the file become absolute: the daemon's folders must not
     * depend on the directory it was started from. (The current directory
     * is prefixed, not resolved: a symlinked directory stays as written.) */
    char cwd[PATH_MAX], abs[PATH_MAX];
    if (!path_is_absolute(base) && getcwd(cwd, sizeof cwd) &&
        (size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, base) < sizeof abs) {
        memcpy(base, abs, sizeof base);
        slash_path(base);
    }
    struct loader ld = {.base_dir = base, .on_error = on_error, .ud = ud};
    snprintf(cfg->path, sizeof cfg->path, "%s", path);

    FILE *probe = fopen(path, "r");
    if (!probe) {
        report(&ld, "", "", "cannot open '%s': %s", path, strerror(errno));
        return MC_ERR_CONFIG;
    }
    fclose(probe);
    scan_duplicates(&ld, path);
    char parse_error[INI_ERROR_MAX] = "";
    call_once(&ini_error_once, ini_error_init);
    ini_error = parse_error;
    dictionary *d = iniparser_load(path);
    ini_error = NULL;
    if (!d) {
        report(&ld, "", "", "cannot parse '%s': %s", path,
               parse_error[0] ? parse_error : "syntax error");
        return MC_ERR_CONFIG;
    }

    int nsec = iniparser_getnsec(d);
    cfg->conns = calloc(nsec > 0 ? (size_t)nsec : 1, sizeof *cfg->conns);
    if (!cfg->conns) {
        iniparser_freedict(d);
        return MC_ERR_NOMEM;
    }

    load_section(&ld, d, "\x01", "server", server_keys, cfg); /* defaults only */
    load_section(&ld, d, "\x01", "tls", tls_keys, cfg);
    load_section(&ld, d, "\x01", "odbc", odbc_keys, cfg);
    cfg->query_sets = calloc(nsec > 0 ? (size_t)nsec : 1, sizeof *cfg->query_sets);
    if (!cfg->query_sets) {
        iniparser_freedict(d);
        config_free(cfg);
        return MC_ERR_NOMEM;
    }
    cfg->syncs = calloc(nsec > 0 ? (size_t)nsec : 1, sizeof *cfg->syncs);
    if (!cfg->syncs) {
        iniparser_freedict(d);
        config_free(cfg);
        return MC_ERR_NOMEM;
    }
    for (int i = 0; i < nsec; i++) {
        const char *sec = iniparser_getsecname(d, i);
        char label[CFG_NAME_MAX + 16];
        if (strcmp(sec, "server") == 0) {

            load_section(&ld, d, sec, "server", server_keys, cfg);
        } else if (strcmp(sec, "tls") == 0) {

            load_section(&ld, d, sec, "tls", tls_keys, cfg);
        } else if (strncmp(sec, "connection ", 11) == 0) {
            const char *name = sec + 11;
            snprintf(label, sizeof label, "connection %s", name);
            size_t len = strlen(name);
            if (!name_ok(name, len)) {
                report(&ld, label, "",
                       "connection names are 1 to 63 letters, digits, '_', '-' or '.'");
                continue;
            }
            struct cfg_connection *c = &cfg->conns[cfg->nconns++];
            memcpy(c->name, name, len + 1);
            load_section(&ld, d, sec, label, conn_keys, c);
        } else if (strcmp(sec, "odbc") == 0) {
            load_section(&ld, d, sec, "odbc", odbc_keys, cfg);
        } else if (strncmp(sec, "queries ", 8) == 0) {
            load_queries(&ld, d, sec, cfg);
        } else if (strncmp(sec, "sync ", 5) == 0) {
            load_sync(&ld, d, sec, cfg);
        } else {
            report(&ld, sec, "",
                   "unknown section (expected [server], [tls], [odbc], [connection NAME], "
                   "[queries NAME] or [sync NAME])");
        }
    }

    if (cfg->log_target == LOG_TO_FILE && cfg->log_file[0] == 0)
        report(&ld, "server", "log_file", "required when log_target = file");
    if (cfg->ciphers[0]) {
        cfg->cipher_policy = CFG_POLICY_EXPLICIT;
        /* Without a TLS 1.3 suite, clients that offer TLS 1.3 would fail
         * instead of negotiating 1.2: wolfSSL picks the version first. */
        if (check_ciphers(&ld, cfg->ciphers) == 0 && cfg->max_version == CFG_TLS_13 &&
            !cipher_list_has(cfg->ciphers, 1))
            report(&ld, "tls", "ciphers",
                   "no TLS 1.3 suite: clients offering TLS 1.3 would fail; add one or set "
                   "max_version = 1.2");
    }
    if (cfg->min_version > cfg->max_version)
        report(&ld, "tls", "max_version", "below min_version (%s)", tls_versions[cfg->min_version]);
    if (cfg->require_client_cert && cfg->client_ca[0] == 0)
        report(&ld, "tls", "client_ca", "required when require_client_cert = yes");
    if (cfg->crl[0] && !cfg->require_client_cert)
        report(&ld, "tls", "crl", "only used with require_client_cert = yes");
    if (cfg->password_file[0] && cfg->password_env[0])
        report(&ld, "tls", "password_env", "set either password_file or password_env, not both");
    if (cfg->odbc_pool_min > cfg->odbc_pool_max)
        report(&ld, "odbc", "pool_min", "must not exceed pool_max (%u)", cfg->odbc_pool_max);
    if (cfg->odbc_ini_dir[0] == 0)
        snprintf(cfg->odbc_ini_dir, sizeof cfg->odbc_ini_dir, "%.*s/odbc", PATH_MAX - 8,
                 cfg->data_dir);
    if (cfg->pid_file[0] == 0)
        snprintf(cfg->pid_file, sizeof cfg->pid_file, "%.*s/miscommd.pid", PATH_MAX - 16,
                 cfg->data_dir);
    size_t nactive = 0;
    for (size_t i = 0; i < cfg->nconns; i++) {
        char label[CFG_NAME_MAX + 16];
        snprintf(label, sizeof label, "connection %s", cfg->conns[i].name);
        struct cfg_connection *c = &cfg->conns[i];
        /* The original's layout: one ToPC and one ToPDA per device. */
        if (c->receive_files_dir[0] == 0 &&
            snprintf(c->receive_files_dir, sizeof c->receive_files_dir, "%s/%s/{device}/ToPC",
                     cfg->data_dir, c->name) >= (int)sizeof c->receive_files_dir)
            report(&ld, label, "receive_files_dir", "data_dir is too long for the default");
        if (c->send_files_dir[0] == 0 &&
            snprintf(c->send_files_dir, sizeof c->send_files_dir, "%s/%s/{device}/ToPDA",
                     cfg->data_dir, c->name) >= (int)sizeof c->send_files_dir)
            report(&ld, label, "send_files_dir", "data_dir is too long for the default");
        if (c->odbc_queries[0]) {
            for (size_t k = 0; k < cfg->nquery_sets && !c->queries; k++)
                if (strcmp(cfg->query_sets[k].name, c->odbc_queries) == 0)
                    c->queries = &cfg->query_sets[k];
            if (!c->queries)
                report(&ld, label, "odbc_queries", "no [queries %s] section", c->odbc_queries);
        }
        if (c->sync_mapping[0]) {
            for (size_t k = 0; k < cfg->nsyncs && !c->sync; k++)
                if (strcmp(cfg->syncs[k].name, c->sync_mapping) == 0)
                    c->sync = &cfg->syncs[k];
            if (!c->sync)
                report(&ld, label, "sync_mapping", "no [sync %s] section", c->sync_mapping);
        }
        check_connection(&ld, label, &cfg->conns[i], cfg);
        nactive += cfg->conns[i].active != 0;
    }
    if (nactive == 0)
        report(&ld, "", "",
               "no active [connection NAME] section: the gateway would listen nowhere");
    iniparser_freedict(d);
    if (ld.nerr) {
        config_free(cfg);
        return MC_ERR_CONFIG;
    }
    return 0;
}

void config_free(struct mc_config *cfg)
{
    free(cfg->conns);
    cfg->conns = NULL;
    cfg->nconns = 0;
    for (size_t i = 0; i < cfg->nquery_sets; i++) {
        for (size_t k = 0; k < cfg->query_sets[i].n; k++)
            free(cfg->query_sets[i].q[k].sql);
        free(cfg->query_sets[i].q);
    }
    free(cfg->query_sets);
    cfg->query_sets = NULL;
    cfg->nquery_sets = 0;
    free(cfg->syncs);
    cfg->syncs = NULL;
    cfg->nsyncs = 0;
}

const char *config_query(const struct cfg_query_set *set, const char *name)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (strcmp(set->q[i].name, name) == 0)
            return set->q[i].sql;
    return NULL;
}

void config_print_error(void *ud, const char *section, const char *key, const char *reason)
{
    const char *path = ud;
    if (section[0] && key[0])
        fprintf(stderr, "%s: [%s] %s: %s\n", path, section, key, reason);
    else if (section[0])
        fprintf(stderr, "%s: [%s]: %s\n", path, section, reason);
    else
        fprintf(stderr, "%s: %s\n", path, reason);
}
