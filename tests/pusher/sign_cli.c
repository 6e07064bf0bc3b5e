/* Test helper for sign_oracle.mjs: runs one verification from sign.h and
 * prints its result code, so signatures made by the official npm `pusher`
 * SDK can be checked against our verifier (the SDK is the oracle).
 *
 *   proto_sign_cli http KEY SECRET NOW WINDOW METHOD PATH QUERY BODYFILE|-
 *   proto_sign_cli channel KEY SECRET SOCKET CHANNEL AUTH [CHANNEL_DATA]
 *   proto_sign_cli user KEY SECRET SOCKET USER_DATA AUTH
 * Prints the SIGN_* code (0 = valid) and exits 0; exits 2 on usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pusher/sign.h"

static char *read_all(const char *path, size_t *len)
{
    *len = 0;
    if (strcmp(path, "-") == 0)
        return calloc(1, 1);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    if (buf)
        *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc >= 10 && strcmp(argv[1], "http") == 0) {
        size_t blen;
        char *body = read_all(argv[9], &blen);
        if (!body)
            return 2;
        int rc = sign_http_verify(argv[6], argv[7], argv[8], strlen(argv[8]), body, blen, argv[2],
                                  argv[3], strtoll(argv[4], NULL, 10),
                                  (unsigned)strtoul(argv[5], NULL, 10));
        free(body);
        printf("%d\n", rc);
        return 0;
    }
    if (argc >= 7 && strcmp(argv[1], "channel") == 0) {
        const char *cd = argc >= 8 ? argv[7] : NULL;
        printf("%d\n", sign_channel_auth_verify(argv[2], argv[3], argv[4], argv[5], cd,
                                                cd ? strlen(cd) : 0, argv[6], strlen(argv[6])));
        return 0;
    }
    if (argc >= 7 && strcmp(argv[1], "user") == 0) {
        printf("%d\n", sign_user_auth_verify(argv[2], argv[3], argv[4], argv[5], strlen(argv[5]),
                                             argv[6], strlen(argv[6])));
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of sign_cli.c\n");
    return 2;
}
