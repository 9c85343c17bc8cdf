/*
 * Login tickets (src/server/login_ticket.c): a ticket opens for the
 * connection, device and password hash it was sealed for, until it
 * expires, under the current key or the previous one; anything else, one
 * byte changed or a key rotated out of reach refuses it, with the reason.
 */
#include <sodium.h>
#include <string.h>

#include "check.h"
#include "login_ticket.h"
#include "miscomm/error.h"

static const char *reason(const struct login_keys *k, const struct login_ticket_binding *b,
                          const uint8_t *t, size_t len, uint64_t now)
{
    const char *why = "?";
    int rc = login_ticket_open(k, b, t, len, now, &why);
    CHECK(rc == 0 || rc == MC_ERR_TICKET);
    return rc == 0 ? "ok" : why;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    struct login_keys k;
    login_keys_init(&k);
    const struct login_ticket_binding b = {"psdmobile", "dev-1",
                                           "$argon2id$v=19$m=65536,t=2$aa$bb"};
    uint8_t t[LOGIN_TICKET_SIZE];
    CHECK_EQ_INT(login_ticket_seal(&k, &b, 1000, 60, t), 0);
    CHECK_EQ_INT(t[0], LOGIN_TICKET_FORMAT);

    /* Valid until it expires. */
    CHECK(strcmp(reason(&k, &b, t, sizeof t, 1000), "ok") == 0);
    CHECK(strcmp(reason(&k, &b, t, sizeof t, 1059), "ok") == 0);
    CHECK(strcmp(reason(&k, &b, t, sizeof t, 1060), "expired") == 0);

    /* Bound to the connection, the device and the password hash. */
    struct login_ticket_binding o = b;
    o.connection = "other";
    CHECK(strcmp(reason(&k, &o, t, sizeof t, 1000), "invalid") == 0);
    o = b;
    o.device = "dev-2";
    CHECK(strcmp(reason(&k, &o, t, sizeof t, 1000), "invalid") == 0);
    o = b;
    o.password_hash = "$argon2id$v=19$m=65536,t=2$aa$bc";
    CHECK(strcmp(reason(&k, &o, t, sizeof t, 1000), "invalid") == 0);

    /* Any one byte changed, any length but the right one. */
    for (size_t i = 0; i < sizeof t; i++) {
        uint8_t x[LOGIN_TICKET_SIZE];
        memcpy(x, t, sizeof x);
        x[i] ^= 0x01;
        const char *why = reason(&k, &b, x, sizeof x, 1000);
        CHECK(strcmp(why, "ok") != 0);
        if (i == 0)
            CHECK(strcmp(why, "malformed") == 0);
        else if (i < 5) /* the key id */
            CHECK(strcmp(why, "unknown_key") == 0);
        else
            CHECK(strcmp(why, "invalid") == 0);
    }
    CHECK(strcmp(reason(&k, &b, t, sizeof t - 1, 1000), "malformed") == 0);
    CHECK(strcmp(reason(&k, &b, t, 0, 1000), "malformed") == 0);

    /* One rotation: the previous key still opens it; a new ticket uses the new key. */
    login_keys_rotate(&k);
    CHECK(strcmp(reason(&k, &b, t, sizeof t, 1000), "ok") == 0);
    uint8_t t2[LOGIN_TICKET_SIZE];
    CHECK_EQ_INT(login_ticket_seal(&k, &b, 1000, 60, t2), 0);
    CHECK(memcmp(t + 1, t2 + 1, 4) != 0);
    /* Two rotations: the key that sealed it is gone (and past its expiry it is just expired). */
    login_keys_rotate(&k);
    CHECK(strcmp(reason(&k, &b, t, sizeof t, 1000), "unknown_key") == 0);
    CHECK(strcmp(reason(&k, &b, t, sizeof t, 1060), "expired") == 0);
    CHECK(strcmp(reason(&k, &b, t2, sizeof t2, 1000), "ok") == 0);

    /* Another server (or a restart): nothing opens. */
    struct login_keys k2;
    login_keys_init(&k2);
    CHECK(strcmp(reason(&k2, &b, t2, sizeof t2, 1000), "ok") != 0);
    login_keys_wipe(&k);
    login_keys_wipe(&k2);
    return check_report("test_login_ticket");
}
