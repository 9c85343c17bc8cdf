/*
 * A client application that keeps retrying against a server it must not
 * trust, as an app on a phone would: the library must refuse every time and
 * never get as far as HELLO (which carries the password).
 *
 *   client_attack pin PORT TLSVER   pins a fingerprint the server does not have
 *   client_attack psk PORT KEYFILE  PSK mode against a server with a certificate
 *
 * Prints one line per attempt; exits 0 when every attempt was refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miscomm/client.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: client_attack pin|psk PORT TLSVER|KEYFILE\n");
        return 64;
    }
    struct mc_client_options o = {.port = (unsigned)atoi(argv[2]), .timeout_ms = 5000};
    if (strcmp(argv[1], "pin") == 0) {
        o.fingerprint = "00000000000000000000000000000000000000000000000000000000000000ff";
        o.tls_version = atoi(argv[3]);
    } else {
        o.psk_file = argv[3];
    }
    mc_client *c;
    int rc = mc_client_new(&c, &o);
    if (rc < 0) {
        printf("new: %d %s\n", rc, mc_client_errmsg(c));
        return 2;
    }
    int accepted = 0;
    for (int attempt = 1; attempt <= 3; attempt++) {
        rc = attempt == 1 ? mc_connect(c) : mc_reconnect(c);
        printf("attempt %d: %s (%d) resumed=%d: %s\n", attempt, mc_err_name(rc), rc,
               mc_client_resumed(c), rc ? mc_client_errmsg(c) : "");
        if (rc == 0) {
            accepted = 1;
            struct mc_hello_params hp = {.password = "not-for-you", .password_len = 11};
            struct mc_session s;
            rc = mc_hello(c, &hp, &s);
            printf("hello sent: %d\n", rc);
        }
    }
    mc_close(c);
    return accepted ? 1 : 0;
}
