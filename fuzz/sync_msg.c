/* Fuzz target for the document sync parsers. The
 * first byte selects what the rest is fed to:
 *   0-3  a docsync request payload (JSON) for operation byte % 4
 *        (sync_msg_parse, with the WebSocket size limits);
 *   4    an HS256 bearer token (token_verify);
 *   5    a rules file (auth_rules_parse), then a few channel checks.
 * Invariants checked: a successful parse yields a valid document id, an
 * update within the limit, and a clean sync_msg_clear(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth/auth_rules.h"
#include "auth/token.h"
#include "sync/sync_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int acl(void *ctx, const char *doc, const char *user)
{
    (void)ctx;
    return (int)((strlen(doc) + strlen(user)) % 5) - 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    unsigned mode = data[0] % 6;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (mode < 4) {
        cJSON *j = cJSON_ParseWithLength(text, len);
        struct sync_request r;
        const char *why = NULL;
        int rc = sync_msg_parse((enum sync_op)mode, j, 7400, 10000, &r, &why);
        if (rc == 0) {
            if (!sync_msg_doc_id_valid(r.doc) || r.update_len > 7400 || r.content_len > 10000)
                abort();
        } else if (!why) {
            abort();
        }
        sync_msg_clear(&r);
        cJSON_Delete(j);
    } else if (mode == 4) {
        token_claims *c = NULL;
        if (token_verify("secret", 6, text, len, 1000, &c) == 0) {
            if (!token_claims_sub(c) || !*token_claims_sub(c))
                abort();
        }
        token_claims_free(c);
    } else {
        auth_rules *r = NULL;
        if (auth_rules_new(&r) != 0)
            return 0;
        char err[128];
        if (auth_rules_parse(r, text, len, err, sizeof err) == 0) {
            char tok[TOKEN_MAX_LEN + 1];
            token_claims *c = NULL;
            if (token_issue("k", 1, "7", "n", 10, "{\"teams\":[\"1\",2],\"role\":\"admin\"}", tok,
                            sizeof tok) == 0 &&
                token_verify("k", 1, tok, strlen(tok), 1, &c) == 0) {
                static const char *channels[] = {"private-document.1", "presence-team.1",
                                                 "private-App.Models.User.7", "private-a.b.c", "x"};
                for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++) {
                    struct auth_decision d;
                    auth_rules_check(r, channels[i], c, acl, NULL, &d);
                }
            }
            token_claims_free(c);
        }
        auth_rules_free(r);
    }
    return 0;
}
