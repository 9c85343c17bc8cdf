/* Declares wolfSSL's random source in this project's build (wolfssl-random.c);
 * scripts/build-wolfssl.sh includes it in every wolfSSL compile. */
#ifndef MISCOMM_WOLFSSL_RANDOM_H
#define MISCOMM_WOLFSSL_RANDOM_H

#ifndef __ASSEMBLER__ /* the include reaches wolfSSL's assembly files too */
int miscomm_tls_random(unsigned char *out, unsigned int size);
#endif

#endif
