/* The error table: unique codes and names, messages present, both signs map. */
#include <stdlib.h>

#include "check.h"
#include "miscomm/error.h"

struct row {
    int code;
    const char *name;
    const char *msg;
};

static const struct row rows[] = {
#define ROW_(name, code, msg) {code, #name, msg},
    MC_ERRNO_MAP(ROW_)
#undef ROW_
};
#define NROWS (sizeof rows / sizeof rows[0])

int main(void)
{
    CHECK(NROWS >= 20);
    for (size_t i = 0; i < NROWS; i++) {
        CHECK(rows[i].code >= 0 && rows[i].code <= 0xFFFF);
        CHECK(rows[i].msg[0] != 0);
        for (size_t j = i + 1; j < NROWS; j++) {
            CHECK(rows[i].code != rows[j].code);
            CHECK(strcmp(rows[i].name, rows[j].name) != 0);
        }
        CHECK(strcmp(mc_strerror(rows[i].code), rows[i].msg) == 0);
        CHECK(strcmp(mc_strerror(-rows[i].code), rows[i].msg) == 0);
        CHECK(strcmp(mc_err_name(-rows[i].code), rows[i].name) == 0);
        CHECK(mc_err_known(rows[i].code));
    }
    /* The enum carries the negated wire code. */
    CHECK_EQ_INT(MC_ERR_PERMISSION, -22);
    CHECK_EQ_INT(MC_ERR_AUTH, -20);
    CHECK_EQ_INT(MC_ERR_OK, 0);
    CHECK(!mc_err_known(9999));
    CHECK(strcmp(mc_strerror(9999), "unknown error") == 0);
    CHECK(strcmp(mc_err_name(-9999), "UNKNOWN") == 0);
    return check_report("test_error");
}
