/* tls: checking and loading the server certificate (see tls.h). */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* The first OpenSSL error in the queue as text ("" when none), queue cleared. */
static const char *tls_ossl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    buf[0] = '\0';
    if (e)
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* A readable regular file, or a message naming the setting. */
static int tls_readable(const char *setting, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s %s: cannot read: %s", setting, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* Adds every certificate of the PEM file `path` to ctx's chain. */
static int tls_add_chain(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "DOCSYNC_TLS_CHAIN %s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int n = 0;
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        int ok = SSL_CTX_add0_chain_cert(ctx, x);
        if (!ok) {
            X509_free(x);
            fclose(f);
            char r[256];
            snprintf(err, errlen, "DOCSYNC_TLS_CHAIN %s: %s", path, tls_ossl_reason(r, sizeof r));
            return -1;
        }
        n++;
    }
    fclose(f);
    ERR_clear_error(); /* the end of the file reads as "no start line" */
    if (!n) {
        snprintf(err, errlen, "DOCSYNC_TLS_CHAIN %s: no PEM certificate in it", path);
        return -1;
    }
    return 0;
}

int tls_load(SSL_CTX *ctx, const struct config *cfg, char *err, size_t errlen)
{
    char r[256];
    if (tls_readable("DOCSYNC_TLS_CERT", cfg->tls_cert, err, errlen) ||
        tls_readable("DOCSYNC_TLS_KEY", cfg->tls_key, err, errlen))
        return -1;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        snprintf(err, errlen, "DOCSYNC_TLS_CERT %s: not a PEM certificate (%s)", cfg->tls_cert,
                 tls_ossl_reason(r, sizeof r));
        return -1;
    }
    if (cfg->tls_chain[0] && tls_add_chain(ctx, cfg->tls_chain, err, errlen))
        return -1;
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL refuses a key whose public half differs from the
         * certificate's here already ("key values mismatch"). */
        const char *why = tls_ossl_reason(r, sizeof r);
        if (strstr(why, "values mismatch"))
            snprintf(err, errlen,
                     "DOCSYNC_TLS_KEY %s does not belong to the certificate in DOCSYNC_TLS_CERT "
                     "%s",
                     cfg->tls_key, cfg->tls_cert);
        else
            snprintf(err, errlen, "DOCSYNC_TLS_KEY %s: not a usable PEM private key (%s)",
                     cfg->tls_key, why);
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen,
                 "DOCSYNC_TLS_KEY %s does not belong to the certificate in DOCSYNC_TLS_CERT %s",
                 cfg->tls_key, cfg->tls_cert);
        return -1;
    }
    int v = strcmp(cfg->tls_min_version, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(ctx, v) != 1) {
        snprintf(err, errlen, "DOCSYNC_TLS_MIN_VERSION %s: %s", cfg->tls_min_version,
                 tls_ossl_reason(r, sizeof r));
        return -1;
    }
    return 0;
}

int tls_check(const struct config *cfg, char fp[TLS_FINGERPRINT_LEN + 1], char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "TLS: out of memory");
        return -1;
    }
    int rc = tls_load(ctx, cfg, err, errlen);
    fp[0] = '\0';
    X509 *x = rc == 0 ? SSL_CTX_get0_certificate(ctx) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (x && X509_digest(x, EVP_sha256(), md, &n) == 1) {
        static const char hexd[] = "0123456789ABCDEF";
        for (unsigned i = 0; i < n && i < 32; i++) {
            fp[i * 3] = hexd[md[i] >> 4];
            fp[i * 3 + 1] = hexd[md[i] & 15];
            fp[i * 3 + 2] = i + 1 < n && i + 1 < 32 ? ':' : '\0';
        }
    }
    SSL_CTX_free(ctx);
    return rc;
}
