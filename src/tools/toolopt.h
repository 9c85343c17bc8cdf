/*
 * Command-line options for misctl's commands: one parser instead of a
 * hand-rolled loop per command.
 *
 * Options are matched by their exact name, never by a prefix or by
 * searching inside arguments: "--name", "--name=VALUE", "--name VALUE", and
 * with TOOLOPT_LONG_ONLY also "-name"; "-x", "-x VALUE" and "-xVALUE" for a
 * one-letter short name. Other arguments are positional, wherever they are
 * (as GNU getopt permutes them), and "--" makes every later argument
 * positional.
 *
 *     struct toolopt_parser p;
 *     toolopt_init(&p, argc, argv, opts, 0);
 *     while ((id = toolopt_next(&p)) != TOOLOPT_END) {
 *         if (id == TOOLOPT_ERROR) ... p.bad is the argument, p.name its option name
 *         ... p.value is the option's value
 *     }
 *     ... p.args[0 .. p.nargs) are the positional arguments
 */
#ifndef MC_TOOLOPT_H
#define MC_TOOLOPT_H

enum toolopt_value {
    TOOLOPT_NO_VALUE = 0,
    TOOLOPT_VALUE,         /* "--name VALUE" or "--name=VALUE" */
    TOOLOPT_OPTIONAL_VALUE /* only as "--name=VALUE"; p.value is NULL without one */
};

struct toolopt {
    const char *name; /* long name without "--"; NULL ends the table */
    int short_name;   /* a letter for "-x", or 0 */
    enum toolopt_value value;
    int id; /* what toolopt_next() returns for it: >= 0 */
};

#define TOOLOPT_LONG_ONLY 1 /* "-name" is "--name" (as getopt_long_only) */

#define TOOLOPT_END   (-1) /* every argument seen */
#define TOOLOPT_ERROR (-2) /* unknown option, missing or unexpected value */

struct toolopt_parser {
    int argc;
    char **argv; /* argv[0] is the command's name; positional ones are moved forward */
    const struct toolopt *opts;
    int flags;
    int next;          /* the next argv index to look at */
    int only_args;     /* after "--" */
    const char *value; /* of the option just returned, or NULL */
    const char *bad;   /* with TOOLOPT_ERROR: the argument at fault */
    char name[64];     /* with TOOLOPT_ERROR: its option name, no dashes or "=VALUE" */
    char **args;       /* positional arguments: args[0 .. nargs) */
    int nargs;
};

void toolopt_init(struct toolopt_parser *p, int argc, char **argv, const struct toolopt *opts,
                  int flags);
/* The id of the next option, TOOLOPT_ERROR, or TOOLOPT_END. */
int toolopt_next(struct toolopt_parser *p);

#endif
