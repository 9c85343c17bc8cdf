#include "toolopt.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

void toolopt_init(struct toolopt_parser *p, int argc, char **argv, const struct toolopt *opts,
                  int flags)
{
    memset(p, 0, sizeof *p);
    p->argc = argc;
    p->argv = argv;
    p->opts = opts;
    p->flags = flags;
    p->next = 1;
    p->args = argv + 1;
}

static int fail(struct toolopt_parser *p, const char *arg, const char *name, size_t name_len)
{
    p->bad = arg;
    snprintf(p->name, sizeof p->name, "%.*s", (int)name_len, name);
    return TOOLOPT_ERROR;
}

static const struct toolopt *find_long(const struct toolopt *opts, const char *name, size_t len)
{
    for (; opts->name; opts++)
        if (strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
            return opts;
    return NULL;
}

static const struct toolopt *find_short(const struct toolopt *opts, int c)
{
    for (; opts->name; opts++)
        if (opts->short_name && opts->short_name == c)
            return opts;
    return NULL;
}

/* "--name", "--name=VALUE" (and "-name..." with TOOLOPT_LONG_ONLY): name starts after the dashes.
 */
static int next_long(struct toolopt_parser *p, const char *arg, const char *name)
{
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct toolopt *o = find_long(p->opts, name, len);
    if (!o)
        return fail(p, arg, name, len);
    if (eq) {
        if (o->value == TOOLOPT_NO_VALUE)
            return fail(p, arg, name, len);
        p->value = eq + 1;
    } else if (o->value == TOOLOPT_VALUE) {
        if (p->next >= p->argc)
            return fail(p, arg, name, len);
        p->value = p->argv[p->next++];
    }
    return o->id;
}

int toolopt_next(struct toolopt_parser *p)
{
    p->value = NULL;
    p->bad = NULL;
    p->name[0] = 0;
    while (p->next < p->argc) {
        char *arg = p->argv[p->next++];
        if (p->only_args || arg[0] != '-' || arg[1] == 0) {
            /* Positional: moved forward over arguments already consumed. */
            p->args[p->nargs++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            p->only_args = 1;
            continue;
        }
        if (arg[1] == '-')
            return next_long(p, arg, arg + 2);
        const struct toolopt *o = arg[2] == 0 ? find_short(p->opts, arg[1]) : NULL;
        if (!o && arg[2] && !(p->flags & TOOLOPT_LONG_ONLY)) {
            /* "-xVALUE" */
            o = find_short(p->opts, arg[1]);
            if (o && o->value == TOOLOPT_VALUE) {
                p->value = arg + 2;
                return o->id;
            }
            return fail(p, arg, arg + 1, 1);
        }
        if (!o && (p->flags & TOOLOPT_LONG_ONLY))
            return next_long(p, arg, arg + 1);
        if (!o)
            return fail(p, arg, arg + 1, 1);
        if (o->value == TOOLOPT_VALUE) {
            if (p->next >= p->argc)
                return fail(p, arg, arg + 1, 1);
            p->value = p->argv[p->next++];
        }
        return o->id;
    }
    return TOOLOPT_END;
}
