/*
 * The client library's stream API against a real gateway (run by
 * test_stream_lifetimes.py): streams freed while open are cancelled on the
 * server, so a connection never runs out of stream slots; streams outlive
 * mc_close() safely. Prints one line per check and exits non-zero on the
 * first failure.
 *
 *   stream_api PORT FINGERPRINT PASSWORD
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miscomm/client.h"

static int check(int ok, const char *what, mc_client *c)
{
    printf("%s: %s%s%s\n", ok ? "ok" : "FAILED", what, ok ? "" : ": ",
           ok ? "" : mc_client_errmsg(c));
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: stream_api PORT FINGERPRINT PASSWORD\n");
        return 64;
    }
    struct mc_client_options o = {.host = "127.0.0.1",
                                  .port = (unsigned)atoi(argv[1]),
                                  .fingerprint = argv[2],
                                  .timeout_ms = 5000};
    mc_client *c;
    int rc = mc_client_new(&c, &o);
    if (rc == 0)
        rc = mc_connect(c);
    struct mc_hello_params hp = {.password = argv[3], .password_len = strlen(argv[3])};
    struct mc_session s;
    if (rc == 0)
        rc = mc_hello(c, &hp, &s);
    if (check(rc == 0 && s.version == 2 && s.max_streams == 16, "login with protocol 2", c))
        return 1;

    /* A source of 10 MiB: far more than the window, so it stays open. */
    uint8_t req[9] = {MC_ECHO_SOURCE, 0, 0, 0, 0, 0, 0xa0, 0, 0};
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < s.max_streams; i++) {
            mc_stream *st;
            if (check(mc_stream_open(c, MC_MSG_ECHO, req, sizeof req, &st) == 0, "open", c))
                return 1;
            mc_stream_free(st); /* the application lost interest: cancelled */
        }
    }
    /* Every slot came back: a new stream runs to its end. */
    uint8_t small[9] = {MC_ECHO_SOURCE, 0, 0, 0, 0, 0, 0, 0x10, 0};
    mc_stream *st;
    struct mc_reply r;
    rc = mc_stream_open(c, MC_MSG_ECHO, small, sizeof small, &st);
    if (rc == 0)
        rc = mc_stream_finish(st, NULL, NULL, &r);
    if (check(rc == 0 && r.type == MC_MSG_ECHO_OK, "a stream after 48 freed ones", c))
        return 1;
    mc_stream_free(st);

    /* A stream still held when the client is closed: freed afterwards. */
    if (check(mc_stream_open(c, MC_MSG_ECHO, req, sizeof req, &st) == 0, "open before close", c))
        return 1;
    mc_close(c);
    int after = mc_stream_finish(st, NULL, NULL, &r);
    mc_stream_free(st);
    printf("%s: stream used after mc_close answers CLOSED\n",
           after == MC_ERR_CLOSED ? "ok" : "FAILED");
    return after == MC_ERR_CLOSED ? 0 : 1;
}
