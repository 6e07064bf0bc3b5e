/* Unit tests of the channel authorization rules (src/auth/auth_rules.h). */
#include <stdio.h>
#include <stdlib.h>

#include "auth/auth_rules.h"
#include "auth/token.h"
#include "test.h"

#define SECRET "s3cret"

static token_claims *claims_for(const char *sub, const char *extra)
{
    char tok[TOKEN_MAX_LEN + 1];
    token_claims *c = NULL;
    if (token_issue(SECRET, 6, sub, "N", 1000, extra, tok, sizeof tok) != 0)
        return NULL;
    token_verify(SECRET, 6, tok, strlen(tok), 1, &c);
    return c;
}

/* Test ACL: doc "d1": user 1 owner, 2 editor, 3 viewer; doc "open": '*'
 * viewer; doc "err": lookup error; others: no ACL. */
static int acl(void *ctx, const char *doc, const char *user)
{
    (*(int *)ctx)++;
    if (strcmp(doc, "d1") == 0) {
        if (strcmp(user, "1") == 0)
            return AUTH_ROLE_OWNER;
        if (strcmp(user, "2") == 0)
            return AUTH_ROLE_EDITOR;
        if (strcmp(user, "3") == 0)
            return AUTH_ROLE_VIEWER;
        return AUTH_ROLE_NONE;
    }
    if (strcmp(doc, "open") == 0)
        return AUTH_ROLE_VIEWER;
    if (strcmp(doc, "err") == 0)
        return -5;
    return AUTH_ACL_ABSENT;
}

static int allowed(const auth_rules *r, const char *channel, const token_claims *c, int *role)
{
    struct auth_decision d;
    int calls = 0;
    auth_rules_check(r, channel, c, acl, &calls, &d);
    if (role)
        *role = d.role;
    return d.allowed;
}

static void test_builtins(void)
{
    auth_rules *r = NULL;
    CHECK_EQ(auth_rules_new(&r), 0);
    CHECK_EQ(auth_rules_count(r), 3);
    token_claims *u1 = claims_for("1", NULL), *u2 = claims_for("2", NULL),
                 *u3 = claims_for("3", NULL), *u4 = claims_for("4", NULL);
    int role;
    CHECK(allowed(r, "private-App.Models.User.1", u1, NULL));
    CHECK(!allowed(r, "private-App.Models.User.1", u2, NULL));
    CHECK(!allowed(r, "private-App.Models.User.12", u1, NULL));
    CHECK(!allowed(r, "private-App.Models.User.", u1, NULL));
    CHECK(allowed(r, "private-document.d1", u1, &role));
    CHECK_EQ(role, AUTH_ROLE_OWNER);
    CHECK(allowed(r, "presence-document.d1", u2, &role));
    CHECK_EQ(role, AUTH_ROLE_EDITOR);
    CHECK(allowed(r, "private-document.d1", u3, &role));
    CHECK_EQ(role, AUTH_ROLE_VIEWER);
    CHECK(!allowed(r, "private-document.d1", u4, NULL));
    CHECK(allowed(r, "private-document.open", u4, &role));
    CHECK_EQ(role, AUTH_ROLE_VIEWER);
    CHECK(!allowed(r, "private-document.nolist", u1, NULL)); /* no ACL: refused */
    CHECK(!allowed(r, "private-document.err", u1, NULL));
    CHECK(!allowed(r, "private-document.", u1, NULL));
    CHECK(!allowed(r, "private-team.1", u1, NULL));
    CHECK(!allowed(r, "news", u1, NULL));
    CHECK(!allowed(r, NULL, u1, NULL));
    CHECK(!allowed(r, "private-document.d1", NULL, NULL));
    /* Without an ACL callback acl: conditions fail. */
    struct auth_decision d;
    auth_rules_check(r, "private-document.d1", u1, NULL, NULL, &d);
    CHECK(!d.allowed);
    token_claims_free(u1);
    token_claims_free(u2);
    token_claims_free(u3);
    token_claims_free(u4);
    auth_rules_free(r);
}

static void test_file_rules(void)
{
    auth_rules *r = NULL;
    CHECK_EQ(auth_rules_new(&r), 0);
    const char *text = "# teams\n"
                       "presence-team.{teamId}  claim:teams contains {teamId}\n"
                       "private-team.{teamId}.admin claim:teams contains {teamId} "
                       "claim:role equals admin   # both must hold\n"
                       "\n"
                       "   \t\n"
                       "private-activity claim:roles contains auditor\n"
                       "private-document.{id} allow\n"
                       "private-org.{org}.doc.{doc} claim:org equals {org} acl:{doc}:editor\n";
    char err[128] = "";
    CHECK_EQ(auth_rules_parse(r, text, strlen(text), err, sizeof err), 0);
    CHECK_EQ(auth_rules_count(r), 8);
    token_claims *a =
        claims_for("1", "{\"teams\":[\"5\",6],\"role\":\"admin\",\"roles\":\"x,auditor\"}");
    token_claims *b = claims_for("2", "{\"teams\":\"5\",\"org\":7}");
    token_claims *cc = claims_for("3", "{\"org\":\"7\"}");
    CHECK(allowed(r, "presence-team.5", a, NULL));
    CHECK(allowed(r, "presence-team.6", a, NULL));
    CHECK(!allowed(r, "presence-team.7", a, NULL));
    CHECK(allowed(r, "presence-team.5", b, NULL));
    CHECK(!allowed(r, "presence-team.6", b, NULL));
    CHECK(!allowed(r, "presence-team.", a, NULL));
    CHECK(allowed(r, "private-team.5.admin", a, NULL));
    CHECK(!allowed(r, "private-team.5.admin", b, NULL)); /* no role claim */
    CHECK(!allowed(r, "private-team.5.other", a, NULL));
    CHECK(allowed(r, "private-activity", a, NULL));
    CHECK(!allowed(r, "private-activity", b, NULL));
    /* Documents without an ACL are now open (the file's allow rule), those
     * with one still go by it first. */
    int role;
    CHECK(allowed(r, "private-document.nolist", b, &role));
    CHECK_EQ(role, AUTH_ROLE_EDITOR);
    CHECK(allowed(r, "private-document.d1", b, &role));
    CHECK_EQ(role, AUTH_ROLE_EDITOR);
    /* Two placeholders; integer claim compared as string; acl role floor. */
    CHECK(allowed(r, "private-org.7.doc.d1", b, &role));
    CHECK_EQ(role, AUTH_ROLE_EDITOR);
    CHECK(!allowed(r, "private-org.7.doc.d1", cc, NULL)); /* user 3 is a viewer */
    CHECK(!allowed(r, "private-org.8.doc.d1", b, NULL));
    token_claims_free(a);
    token_claims_free(b);
    token_claims_free(cc);
    auth_rules_free(r);
}

static void test_syntax_errors(void)
{
    static const char *bad[] = {
        "private-x\n",                         /* no condition */
        "private-x frobnicate\n",              /* unknown condition */
        "private-{a}{b} allow\n",              /* adjacent placeholders */
        "private-{a allow\n",                  /* unclosed */
        "private-a} allow\n",                  /* stray brace */
        "private-{} allow\n",                  /* empty name */
        "private-{a} user equals {b}\n",       /* unknown placeholder */
        "private-{a} user is {a}\n",           /* bad operator */
        "private-{a} claim:t has {a}\n",       /* bad operator */
        "private-{a} claim:t contains\n",      /* missing value */
        "private-{a} acl:{a}:admin\n",         /* bad role */
        "private-{a} acl:\n",                  /* no document */
        "private-{a} claim: contains {a}\n",   /* empty claim name */
        "private-{a}.{b}.{c}.{d}.{e} allow\n", /* too many placeholders */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        auth_rules *r = NULL;
        CHECK_EQ(auth_rules_new(&r), 0);
        char err[128] = "";
        char text[256];
        snprintf(text, sizeof text, "ok-{x} allow\n%s", bad[i]);
        int rc = auth_rules_parse(r, text, strlen(text), err, sizeof err);
        if (rc != AUTH_RULES_ESYNTAX)
            fprintf(stderr, "accepted bad rule %zu: %s", i, bad[i]);
        CHECK_EQ(rc, AUTH_RULES_ESYNTAX);
        CHECK(strncmp(err, "line 2:", 7) == 0);
        CHECK_EQ(auth_rules_count(r), 3); /* nothing added */
        auth_rules_free(r);
    }
    /* NUL byte, overlong line, too many rules. */
    auth_rules *r = NULL;
    CHECK_EQ(auth_rules_new(&r), 0);
    char err[128];
    CHECK_EQ(auth_rules_parse(r, "a allow\0", 8, err, sizeof err), AUTH_RULES_ESYNTAX);
    char *longline = malloc(AUTH_RULES_MAX_LINE + 10);
    memset(longline, 'a', AUTH_RULES_MAX_LINE + 9);
    longline[AUTH_RULES_MAX_LINE + 9] = '\0';
    CHECK_EQ(auth_rules_parse(r, longline, strlen(longline), err, sizeof err), AUTH_RULES_ESYNTAX);
    free(longline);
    size_t cap = 20 * AUTH_RULES_MAX;
    char *many = malloc(cap);
    many[0] = '\0';
    for (int i = 0; i < AUTH_RULES_MAX; i++)
        strcat(many, "x allow\n");
    CHECK_EQ(auth_rules_parse(r, many, strlen(many), err, sizeof err), AUTH_RULES_EFULL);
    CHECK_EQ(auth_rules_count(r), 3);
    free(many);
    CHECK_EQ(auth_rules_load_file(r, "/nonexistent/rules", err, sizeof err), AUTH_RULES_EIO);
    auth_rules_free(r);
    auth_rules_free(NULL);
    CHECK_EQ(auth_role_parse("editor"), AUTH_ROLE_EDITOR);
    CHECK_EQ(auth_role_parse("boss"), -1);
    CHECK_STR_EQ(auth_role_name(AUTH_ROLE_VIEWER), "viewer");
}

static void test_load_file(void)
{
    char path[] = "/tmp/docsync-rules-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    fputs("presence-team.{t} claim:teams contains {t}\n", f);
    fclose(f);
    auth_rules *r = NULL;
    CHECK_EQ(auth_rules_new(&r), 0);
    char err[128];
    CHECK_EQ(auth_rules_load_file(r, path, err, sizeof err), 0);
    CHECK_EQ(auth_rules_count(r), 4);
    token_claims *a = claims_for("1", "{\"teams\":[1]}");
    CHECK(allowed(r, "presence-team.1", a, NULL));
    token_claims_free(a);
    auth_rules_free(r);
    remove(path);
}

int main(void)
{
    test_builtins();
    test_file_rules();
    test_syntax_errors();
    test_load_file();
    return TEST_RESULT();
}
