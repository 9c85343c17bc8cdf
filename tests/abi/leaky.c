/*
 * A shared library with the faults tests/abi/check_exports.py looks for:
 * a symbol outside the mc_ API, and a dependency on iniparser. The checker
 * must fail on it (ctest WILL_FAIL), which shows that it can fail.
 */
#include <iniparser/iniparser.h>

__attribute__((visibility("default"))) int mc_leaky_api(void);
__attribute__((visibility("default"))) int leaky_helper(void);

int mc_leaky_api(void)
{
    return 1;
}

int leaky_helper(void)
{
    dictionary *d = dictionary_new(0);
    dictionary_del(d);
    return 0;
}
