/* The check of raw SQL from a device (odbc_sql.c). */
#ifndef MC_ODBC_SQL_H
#define MC_ODBC_SQL_H

/*
 * One statement that leaves the session alone: sql may end with one ';'
 * (removed, with trailing blanks); a ';' anywhere else outside quotes and
 * comments, a backslash, '$', '#', '`' or an executable comment is
 * refused, and so are statements that change the session (SET, PRAGMA,
 * BEGIN...). With read_only, only SELECT, WITH, VALUES and TABLE. 0, or
 * MC_ERR_NOT_ALLOWED with *why.
 */
int odbc_sql_check(char *sql, int read_only, const char **why);

#endif
