/*
 * Login: HELLO's version negotiation and password check (auth.c). The
 * state it needs (failed tries, the answer waiting for its delay, whether
 * a check is running) lives in a struct login that exists only between
 * the TLS handshake and HELLO_OK.
 */
#ifndef MC_AUTH_H
#define MC_AUTH_H

#include "frame.h"

struct conn;

int auth_hello(struct conn *c, const struct frame *f);
/* The failed-login delay is over: answer AUTH (the connection's timer, state AUTH). */
void auth_delay_over(struct conn *c);
/* Free the login state, if any (at READY and when the connection is freed). */
void auth_login_free(struct conn *c);

#endif
