/* Channel authorization rules. See auth_rules.h for the file format. */
#include "auth_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 200 /* pattern, claim name, operand and captured value */
#define MAX_VARS 4   /* placeholders per pattern */

enum cond_kind { COND_ALLOW, COND_USER_EQUALS, COND_CLAIM_CONTAINS, COND_CLAIM_EQUALS, COND_ACL };

struct cond {
    enum cond_kind kind;
    char claim[MAX_NAME + 1];
    char operand[MAX_NAME + 1]; /* literal, or "{var}" */
    int min_role;
};

struct rule {
    char pattern[MAX_NAME + 1];
    struct cond conds[AUTH_RULES_MAX_CONDITIONS];
    int ncond;
};

struct auth_rules {
    struct rule *rules;
    size_t n;
};

struct capture {
    char name[MAX_NAME + 1];
    char value[MAX_NAME + 1];
};

static const char *BUILTIN = "private-App.Models.User.{id} user equals {id}\n"
                             "private-document.{id} acl:{id}\n"
                             "presence-document.{id} acl:{id}\n";

const char *auth_rules_strerror(int code)
{
    switch (code) {
    case 0:
        return "ok";
    case AUTH_RULES_ESYNTAX:
        return "syntax error in rules";
    case AUTH_RULES_EFULL:
        return "too many rules";
    case AUTH_RULES_EIO:
        return "cannot read rules file";
    case AUTH_RULES_ENOMEM:
        return "out of memory";
    default:
        return "unknown rules error";
    }
}

int auth_role_parse(const char *s)
{
    if (strcmp(s, "none") == 0)
        return AUTH_ROLE_NONE;
    if (strcmp(s, "viewer") == 0)
        return AUTH_ROLE_VIEWER;
    if (strcmp(s, "editor") == 0)
        return AUTH_ROLE_EDITOR;
    if (strcmp(s, "owner") == 0)
        return AUTH_ROLE_OWNER;
    return -1;
}

const char *auth_role_name(int role)
{
    switch (role) {
    case AUTH_ROLE_VIEWER:
        return "viewer";
    case AUTH_ROLE_EDITOR:
        return "editor";
    case AUTH_ROLE_OWNER:
        return "owner";
    default:
        return "none";
    }
}

int auth_rules_new(auth_rules **out)
{
    *out = NULL;
    auth_rules *r = calloc(1, sizeof *r);
    if (!r)
        return AUTH_RULES_ENOMEM;
    r->rules = calloc(AUTH_RULES_MAX, sizeof *r->rules);
    if (!r->rules) {
        free(r);
        return AUTH_RULES_ENOMEM;
    }
    char err[128];
    int rc = auth_rules_parse(r, BUILTIN, strlen(BUILTIN), err, sizeof err);
    if (rc) {
        auth_rules_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

size_t auth_rules_count(const auth_rules *r)
{
    return r->n;
}

void auth_rules_free(auth_rules *r)
{
    if (!r)
        return;
    free(r->rules);
    free(r);
}

/* Checks that every placeholder in `s` is well formed: "{name}" with a
 * non-empty name of [A-Za-z0-9_]; no stray braces; no two placeholders in a
 * row (their boundary would be ambiguous). */
static int check_placeholders(const char *s, int *nvars)
{
    int n = 0, prev_was_var = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '}')
            return -1;
        if (*p != '{') {
            prev_was_var = 0;
            continue;
        }
        if (prev_was_var)
            return -1;
        const char *q = p + 1;
        while (*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
               (*q >= '0' && *q <= '9'))
            q++;
        if (q == p + 1 || *q != '}')
            return -1;
        n++;
        prev_was_var = 1;
        p = q;
    }
    if (nvars)
        *nvars = n;
    return 0;
}

/* Does placeholder "{var}" occur in pattern? (operands may only name
 * placeholders of their own pattern) */
static int pattern_has_var(const char *pattern, const char *var)
{
    return strstr(pattern, var) != NULL;
}

static int copy_word(char *dst, const char *src, size_t len)
{
    if (len == 0 || len > MAX_NAME)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

static int check_operand(const struct rule *rule, const char *op)
{
    if (op[0] == '{')
        return (check_placeholders(op, NULL) == 0 && op[strlen(op) - 1] == '}' &&
                strchr(op + 1, '{') == NULL && pattern_has_var(rule->pattern, op))
                   ? 0
                   : -1;
    return strchr(op, '{') || strchr(op, '}') ? -1 : 0;
}

/* Parses one non-empty, comment-stripped line into *rule. */
static int parse_line(char *line, struct rule *rule, const char **why)
{
    char *words[2 + 3 * AUTH_RULES_MAX_CONDITIONS];
    int nw = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
        if (nw == (int)(sizeof words / sizeof words[0])) {
            *why = "too many words";
            return -1;
        }
        words[nw++] = w;
    }
    memset(rule, 0, sizeof *rule);
    int nvars;
    if (copy_word(rule->pattern, words[0], strlen(words[0])) != 0 ||
        check_placeholders(rule->pattern, &nvars) != 0 || nvars > MAX_VARS) {
        *why = "bad channel pattern";
        return -1;
    }
    if (nw < 2) {
        *why = "a rule needs at least one condition";
        return -1;
    }
    for (int i = 1; i < nw;) {
        if (rule->ncond == AUTH_RULES_MAX_CONDITIONS) {
            *why = "too many conditions";
            return -1;
        }
        struct cond *c = &rule->conds[rule->ncond++];
        const char *w = words[i];
        if (strcmp(w, "allow") == 0) {
            c->kind = COND_ALLOW;
            i++;
            continue;
        }
        if (strncmp(w, "acl:", 4) == 0) {
            c->kind = COND_ACL;
            c->min_role = AUTH_ROLE_VIEWER;
            const char *arg = w + 4;
            const char *colon = strrchr(arg, ':');
            size_t len = strlen(arg);
            if (colon) {
                int role = auth_role_parse(colon + 1);
                if (role < AUTH_ROLE_VIEWER) {
                    *why = "acl role must be viewer, editor or owner";
                    return -1;
                }
                c->min_role = role;
                len = (size_t)(colon - arg);
            }
            if (copy_word(c->operand, arg, len) != 0 || check_operand(rule, c->operand) != 0) {
                *why = "bad acl document";
                return -1;
            }
            i++;
            continue;
        }
        int is_user = strcmp(w, "user") == 0;
        if (!is_user && strncmp(w, "claim:", 6) != 0) {
            *why = "unknown condition";
            return -1;
        }
        if (i + 2 >= nw) {
            *why = "condition needs an operator and a value";
            return -1;
        }
        const char *op = words[i + 1], *val = words[i + 2];
        if (is_user) {
            if (strcmp(op, "equals") != 0) {
                *why = "user supports only equals";
                return -1;
            }
            c->kind = COND_USER_EQUALS;
        } else {
            if (copy_word(c->claim, w + 6, strlen(w + 6)) != 0 || strchr(c->claim, '{')) {
                *why = "bad claim name";
                return -1;
            }
            if (strcmp(op, "contains") == 0)
                c->kind = COND_CLAIM_CONTAINS;
            else if (strcmp(op, "equals") == 0)
                c->kind = COND_CLAIM_EQUALS;
            else {
                *why = "claim operator must be contains or equals";
                return -1;
            }
        }
        if (copy_word(c->operand, val, strlen(val)) != 0 || check_operand(rule, c->operand) != 0) {
            *why = "bad value (a literal or a placeholder of the pattern)";
            return -1;
        }
        i += 3;
    }
    return 0;
}

int auth_rules_parse(auth_rules *r, const char *text, size_t len, char *err, size_t errcap)
{
    size_t added = 0;
    int lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        char line[AUTH_RULES_MAX_LINE + 1];
        if (n > AUTH_RULES_MAX_LINE) {
            snprintf(err, errcap, "line %d: line too long", lineno);
            r->n -= added;
            return AUTH_RULES_ESYNTAX;
        }
        if (memchr(p, '\0', n)) {
            snprintf(err, errcap, "line %d: NUL byte", lineno);
            r->n -= added;
            return AUTH_RULES_ESYNTAX;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        if (strspn(line, " \t\r") == strlen(line))
            continue;
        if (r->n == AUTH_RULES_MAX) {
            snprintf(err, errcap, "line %d: more than %d rules", lineno, AUTH_RULES_MAX);
            r->n -= added;
            return AUTH_RULES_EFULL;
        }
        const char *why = "syntax error";
        if (parse_line(line, &r->rules[r->n], &why) != 0) {
            snprintf(err, errcap, "line %d: %s", lineno, why);
            r->n -= added;
            return AUTH_RULES_ESYNTAX;
        }
        r->n++;
        added++;
    }
    return 0;
}

int auth_rules_load_file(auth_rules *r, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: cannot open", path);
        return AUTH_RULES_EIO;
    }
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return AUTH_RULES_ENOMEM;
    }
    size_t n = fread(buf, 1, cap, f);
    int toolong = n == cap, ioerr = ferror(f);
    fclose(f);
    if (toolong || ioerr) {
        free(buf);
        snprintf(err, errcap, "%s: %s", path, toolong ? "larger than 1 MiB" : "read error");
        return AUTH_RULES_EIO;
    }
    int rc = auth_rules_parse(r, buf, n, err, errcap);
    free(buf);
    return rc;
}

/* Matches `name` against `pattern`, filling captures. Returns 1 on a
 * match. */
static int match(const char *pattern, const char *name, struct capture *caps, int *ncaps)
{
    const char *p = pattern, *s = name;
    *ncaps = 0;
    while (*p) {
        if (*p != '{') {
            if (*s != *p)
                return 0;
            p++;
            s++;
            continue;
        }
        const char *close = strchr(p, '}');
        struct capture *c = &caps[(*ncaps)++];
        size_t vl = (size_t)(close - p - 1);
        memcpy(c->name, p + 1, vl);
        c->name[vl] = '\0';
        p = close + 1;
        const char *stop = *p ? strchr(s, *p) : s + strlen(s);
        if (!stop || stop == s || (size_t)(stop - s) > MAX_NAME)
            return 0;
        memcpy(c->value, s, (size_t)(stop - s));
        c->value[stop - s] = '\0';
        s = stop;
    }
    return *s == '\0';
}

static const char *resolve(const char *operand, const struct capture *caps, int ncaps)
{
    if (operand[0] != '{')
        return operand;
    size_t n = strlen(operand) - 2;
    for (int i = 0; i < ncaps; i++)
        if (strlen(caps[i].name) == n && memcmp(caps[i].name, operand + 1, n) == 0)
            return caps[i].value;
    return NULL;
}

static int claim_equals(const token_claims *claims, const char *name, const char *value)
{
    const cJSON *v = token_claims_get(claims, name);
    if (!v || cJSON_IsArray(v) || cJSON_IsObject(v))
        return 0;
    if (cJSON_IsString(v))
        return strcmp(v->valuestring, value) == 0;
    return token_claims_contains(claims, name, value);
}

void auth_rules_check(const auth_rules *r, const char *channel, const token_claims *claims,
                      auth_acl_fn acl, void *ctx, struct auth_decision *out)
{
    out->allowed = 0;
    out->role = AUTH_ROLE_NONE;
    out->rule = -1;
    if (!channel || !claims || strlen(channel) > MAX_NAME)
        return;
    const char *user = token_claims_sub(claims);
    for (size_t i = 0; i < r->n; i++) {
        const struct rule *rule = &r->rules[i];
        struct capture caps[MAX_VARS];
        int ncaps;
        if (!match(rule->pattern, channel, caps, &ncaps))
            continue;
        int ok = 1, role = AUTH_ROLE_EDITOR, saw_acl = 0;
        for (int k = 0; ok && k < rule->ncond; k++) {
            const struct cond *c = &rule->conds[k];
            const char *v = c->kind == COND_ALLOW ? "" : resolve(c->operand, caps, ncaps);
            if (!v) {
                ok = 0;
                break;
            }
            switch (c->kind) {
            case COND_ALLOW:
                break;
            case COND_USER_EQUALS:
                ok = strcmp(user, v) == 0;
                break;
            case COND_CLAIM_CONTAINS:
                ok = token_claims_contains(claims, c->claim, v);
                break;
            case COND_CLAIM_EQUALS:
                ok = claim_equals(claims, c->claim, v);
                break;
            case COND_ACL: {
                int got = acl ? acl(ctx, v, user) : AUTH_ACL_ABSENT;
                ok = got >= c->min_role;
                if (ok) {
                    role = saw_acl && got > role ? role : got;
                    saw_acl = 1;
                }
                break;
            }
            }
        }
        if (ok) {
            out->allowed = 1;
            out->role = role;
            out->rule = (int)i;
            return;
        }
    }
}
