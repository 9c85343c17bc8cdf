/*
 * libmiscomm's login tickets against a real gateway (run by
 * test_login_tickets.py): the client keeps the ticket of a password login
 * and mc_relogin() presents it; a ticket saved with mc_login_ticket_get()
 * and set on a new client logs in without a password; an altered one
 * without a password gives MC_ERR_TICKET and is forgotten, and the
 * password then works. Prints one line per check, exits non-zero on the
 * first failure.
 *
 *   ticket_client PORT CERT PASSWORD_FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miscomm/client.h"

static struct mc_client_options opt;
static char password[256];

static int check(int ok, const char *what, mc_client *c)
{
    printf("%s: %s%s%s\n", ok ? "ok" : "FAILED", what, ok ? "" : ": ",
           ok || !c ? "" : mc_client_errmsg(c));
    if (!ok)
        exit(1);
    return 0;
}

static mc_client *connected(void)
{
    mc_client *c = NULL;
    int rc = mc_client_new(&c, &opt);
    if (rc == 0)
        rc = mc_connect(c);
    check(rc == 0, "connect", c);
    return c;
}

static int hello(mc_client *c, const char *pw)
{
    struct mc_hello_params hp = {
        .device_id = "lib-dev", .password = pw, .password_len = strlen(pw)};
    struct mc_session s;
    return mc_hello(c, &hp, &s);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ticket_client PORT CERT PASSWORD_FILE\n");
        return 64;
    }
    char fp[96];
    FILE *f = fopen(argv[3], "r");
    if (!f || !fgets(password, sizeof password, f) || mc_cert_file_fingerprint(argv[2], fp) < 0)
        return 64;
    fclose(f);
    password[strcspn(password, "\r\n")] = '\0';
    opt = (struct mc_client_options){.host = "127.0.0.1",
                                     .port = (unsigned)atoi(argv[1]),
                                     .fingerprint = fp,
                                     .timeout_ms = 30000};

    uint8_t t[MC_MAX_LOGIN_TICKET], t2[MC_MAX_LOGIN_TICKET];
    size_t n = 0, n2 = 0;
    mc_client *a = connected();
    check(hello(a, password) == 0 && !mc_client_login_by_ticket(a), "password login", a);
    check(mc_login_ticket_get(a, t, sizeof t, &n) == 0 && n > 0, "the client kept a ticket", a);
    check(mc_login_ticket_get(a, t, 1, &n2) == MC_ERR_INVALID_ARG, "get into a short buffer", a);
    check(mc_relogin(a, NULL) == 0 && mc_client_login_by_ticket(a), "relogin with the ticket", a);
    check(mc_login_ticket_get(a, t, sizeof t, &n) == 0 && n > 0, "a new ticket", a);
    mc_close(a);

    /* A new process: the app restores the ticket it saved, without the password. */
    mc_client *b = connected();
    check(mc_login_ticket_set(b, t, n) == 0, "restore the ticket", b);
    check(hello(b, "") == 0 && mc_client_login_by_ticket(b), "ticket login without password", b);
    mc_close(b);

    /* An altered ticket without a password: MC_ERR_TICKET, forgotten; the password works. */
    mc_client *c = connected();
    t[n / 2] ^= 1;
    check(mc_login_ticket_set(c, t, n) == 0, "set an altered ticket", c);
    check(hello(c, "") == MC_ERR_TICKET, "refused: MC_ERR_TICKET", c);
    check(mc_login_ticket_get(c, t2, sizeof t2, &n2) == 0 && n2 == 0, "the ticket is forgotten", c);
    check(hello(c, password) == 0 && !mc_client_login_by_ticket(c), "then the password", c);
    check(mc_login_ticket_set(c, t, MC_MAX_LOGIN_TICKET + 1) == MC_ERR_INVALID_ARG,
          "set too long a ticket", c);
    mc_close(c);
    printf("ok\n");
    return 0;
}
