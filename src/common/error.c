#include "miscomm/error.h"

#include <stddef.h>

struct err_entry {
    int code;
    const char *name;
    const char *msg;
};

static const struct err_entry err_table[] = {
#define ERR_ROW_(name, code, msg) {code, #name, msg},
    MC_ERRNO_MAP(ERR_ROW_)
#undef ERR_ROW_
};

static const struct err_entry *err_find(int code)
{
    if (code < 0)
        code = -code;
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].code == code)
            return &err_table[i];
    return NULL;
}

const char *mc_strerror(int code)
{
    const struct err_entry *e = err_find(code);
    return e ? e->msg : "unknown error";
}

const char *mc_err_name(int code)
{
    const struct err_entry *e = err_find(code);
    return e ? e->name : "UNKNOWN";
}

int mc_err_known(int code)
{
    return err_find(code) != NULL;
}
