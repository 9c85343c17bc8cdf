/*
 * A TLS 1.3 external-PSK client built on wolfSSL directly, to offer what
 * libmiscomm never does: the pre-shared key without (EC)DHE.
 *
 *   psk_client PORT KEYFILE dhe   offers psk_dhe_ke with a key share (as libmiscomm)
 *   psk_client PORT KEYFILE ke    offers psk_ke only (wolfSSL_no_dhe_psk)
 *   psk_client PORT KEYFILE GROUP psk_dhe_ke with a key share for one group:
 *                                 x25519, p256, p384 or ffdhe2048
 *
 * After the handshake it sends a PING frame and waits for any answer.
 * Prints one line; exits 0 when the server answered, 1 when the handshake
 * failed or the server closed without answering, 2 on a local error.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "psk.h"

static uint8_t psk_key[PSK_KEY_SIZE];

static unsigned int psk_cb(WOLFSSL *ssl, const char *hint, char *identity, unsigned int id_max,
                           unsigned char *key, unsigned int key_max, const char **suite)
{
    (void)ssl;
    (void)hint;
    if (id_max <= strlen(PSK_IDENTITY) || key_max < PSK_KEY_SIZE)
        return 0;
    strcpy(identity, PSK_IDENTITY);
    memcpy(key, psk_key, PSK_KEY_SIZE);
    *suite = "TLS13-AES256-GCM-SHA384";
    return PSK_KEY_SIZE;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int group;
    } groups[] = {{"dhe", 0},
                  {"ke", 0},
                  {"x25519", WOLFSSL_ECC_X25519},
                  {"p256", WOLFSSL_ECC_SECP256R1},
                  {"p384", WOLFSSL_ECC_SECP384R1},
                  {"ffdhe2048", WOLFSSL_FFDHE_2048}};
    size_t mode = sizeof groups / sizeof groups[0];
    for (size_t i = 0; argc == 4 && i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(argv[3], groups[i].name) == 0)
            mode = i;
    if (mode == sizeof groups / sizeof groups[0]) {
        fprintf(stderr, "usage: psk_client PORT KEYFILE dhe|ke|x25519|p256|p384|ffdhe2048\n");
        return 2;
    }
    const char *why;
    if (psk_load(argv[2], psk_key, &why) < 0) {
        fprintf(stderr, "psk_client: %s: %s\n", argv[2], why);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("psk_client: connect");
        return 2;
    }
    wolfSSL_Init();
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    if (!ctx || wolfSSL_CTX_set_cipher_list(ctx, "TLS13-AES256-GCM-SHA384") != WOLFSSL_SUCCESS)
        return 2;
    wolfSSL_CTX_set_psk_client_tls13_callback(ctx, psk_cb);
    WOLFSSL *ssl = wolfSSL_new(ctx);
    if (!ssl)
        return 2;
    /* psk_key_exchange_modes then holds psk_ke alone, and no key_share is sent. */
    if (strcmp(argv[3], "ke") == 0 && wolfSSL_no_dhe_psk(ssl) != 0)
        return 2;
    int group = groups[mode].group;
    if (group && (wolfSSL_set_groups(ssl, &group, 1) != WOLFSSL_SUCCESS ||
                  wolfSSL_UseKeyShare(ssl, (word16)group) != WOLFSSL_SUCCESS))
        return 2;
    wolfSSL_set_fd(ssl, fd);
    int ret = wolfSSL_connect(ssl);
    if (ret != WOLFSSL_SUCCESS) {
        printf("handshake failed: %d\n", wolfSSL_get_error(ssl, ret));
        return 1;
    }
    /* PING, request id 1, no payload (docs/protocol.md). */
    const uint8_t ping[12] = {1, 0x03, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    uint8_t answer[64];
    int n = wolfSSL_write(ssl, ping, sizeof ping);
    if (n == (int)sizeof ping)
        n = wolfSSL_read(ssl, answer, sizeof answer);
    int rc = n > 0 ? 0 : 1;
    if (n > 0)
        printf("answered: %d bytes, frame type 0x%02x, group %s\n", n, answer[1],
               wolfSSL_get_curve_name(ssl) ? wolfSSL_get_curve_name(ssl) : "none");
    else
        printf("closed without an answer: %d\n", wolfSSL_get_error(ssl, n));
    wolfSSL_free(ssl);
    wolfSSL_CTX_free(ctx);
    wolfSSL_Cleanup();
    close(fd);
    return rc;
}
