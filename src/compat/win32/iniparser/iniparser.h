/*
 * Windows build only: the part of iniparser 4.1's API that src/common/
 * config.c calls, implemented by src/common/ini_lite.c with iniparser's own
 * line rules, so that a file reads the same on Windows as on Linux.
 * (iniparser's Debian source package cannot be fetched from the project's
 * mirror, so it is not cross-built: scripts/build-windows-deps.sh.)
 */
#ifndef MC_COMPAT_INIPARSER_H
#define MC_COMPAT_INIPARSER_H

typedef struct ini_lite_dict dictionary;

void iniparser_set_error_callback(int (*errback)(const char *, ...));
dictionary *iniparser_load(const char *ininame);
void iniparser_freedict(dictionary *d);
int iniparser_getnsec(const dictionary *d);
const char *iniparser_getsecname(const dictionary *d, int n);
int iniparser_getsecnkeys(const dictionary *d, const char *s);
const char **iniparser_getseckeys(const dictionary *d, const char *s, const char **keys);
const char *iniparser_getstring(const dictionary *d, const char *key, const char *def);

#endif
