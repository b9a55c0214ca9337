/* SPDX-License-Identifier: Apache-2.0 */
/** @file tls_listener.c @brief The listener's certificate, its renewal and client checks. */
#include "tls_listener.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"
#include "secret.h"

/* A chain longer than this is refused: a server certificate and its intermediates. */
#define CHAIN_MAX 16
/* The files are looked at no more often than this. */
#define RECHECK_MS 1000u
/* Certificate, key and CA files are small; anything bigger is not one. */
#define FILE_MAX (1024 * 1024)

struct pem_file {
    char *path;
    char *data; /* NUL-terminated */
    size_t len;
    struct timespec mtime;
    off_t size;
};

struct iha_tls_listener {
    struct pem_file cert, key;
    char *client_ca; /* PEM, NULL when client certificates are not verified */
    enum iha_client_auth client_auth;
    bool tls13_only;
    uint64_t checked_ms; /* HTTP thread only, like cert and key after start */
};

static void pem_clear(struct pem_file *f, bool secret)
{
    if (f->data && secret)
        iha_secret_wipe(f->data, f->len);
    free(f->data);
    f->data = NULL;
    f->len = 0;
}

static enum iha_rc read_file(const char *path, char **out, size_t *len, struct stat *st,
                             struct iha_err *err)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t n;

    *out = NULL;
    if (!f) {
        iha_err_set(err, path, "cannot open %s: %s", path, strerror(errno));
        return IHA_E_IO;
    }
    if (fstat(fileno(f), st) != 0 || st->st_size > FILE_MAX) {
        iha_err_set(err, path, "%s: not a certificate or key file (over 1 MiB?)", path);
        fclose(f);
        return IHA_E_INVAL;
    }
    buf = malloc((size_t)st->st_size + 1);
    if (!buf) {
        fclose(f);
        return IHA_E_NOMEM;
    }
    n = fread(buf, 1, (size_t)st->st_size, f);
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return IHA_OK;
}

static enum iha_rc pem_load(struct pem_file *f, bool secret, struct iha_err *err)
{
    struct stat st;
    char *data;
    size_t len;
    enum iha_rc rc = read_file(f->path, &data, &len, &st, err);

    if (rc != IHA_OK)
        return rc;
    pem_clear(f, secret);
    f->data = data;
    f->len = len;
    f->mtime = st.st_mtim;
    f->size = st.st_size;
    return IHA_OK;
}

static bool pem_changed(const struct pem_file *f)
{
    struct stat st;

    if (stat(f->path, &st) != 0)
        return false; /* a file being replaced: keep serving what we have */
    return st.st_size != f->size || st.st_mtim.tv_sec != f->mtime.tv_sec ||
           st.st_mtim.tv_nsec != f->mtime.tv_nsec;
}

/* Parses @p cert and @p key into a fresh chain and key (the caller owns them). */
static int import_pair(const struct pem_file *cert, const struct pem_file *key,
                       gnutls_pcert_st **pcert, unsigned *n, gnutls_privkey_t *pkey)
{
    gnutls_datum_t c = {(unsigned char *)cert->data, (unsigned)cert->len};
    gnutls_datum_t k = {(unsigned char *)key->data, (unsigned)key->len};
    gnutls_pcert_st *chain = gnutls_calloc(CHAIN_MAX, sizeof(*chain));
    unsigned count = CHAIN_MAX;
    gnutls_privkey_t pk = NULL;

    if (!chain)
        return -1;
    if (gnutls_pcert_list_import_x509_raw(chain, &count, &c, GNUTLS_X509_FMT_PEM, 0) < 0 ||
        count == 0)
        goto fail;
    if (gnutls_privkey_init(&pk) < 0 ||
        gnutls_privkey_import_x509_raw(pk, &k, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
        for (unsigned i = 0; i < count; i++)
            gnutls_pcert_deinit(&chain[i]);
        goto fail;
    }
    *pcert = chain;
    *n = count;
    *pkey = pk;
    return 0;
fail:
    if (pk)
        gnutls_privkey_deinit(pk);
    gnutls_free(chain);
    return -1;
}

enum iha_rc iha_tls_listener_new(const struct iha_tls_listener_config *cfg,
                                 struct iha_tls_listener **out, struct iha_err *err)
{
    struct iha_tls_listener *t = calloc(1, sizeof(*t));
    gnutls_pcert_st *chain = NULL;
    gnutls_privkey_t pk = NULL;
    unsigned n = 0;
    enum iha_rc rc = IHA_E_NOMEM;

    *out = NULL;
    if (!t)
        return IHA_E_NOMEM;
    t->client_auth = cfg->client_auth;
    t->tls13_only = cfg->tls13_only;
    t->cert.path = strdup(cfg->cert_file);
    t->key.path = strdup(cfg->key_file);
    if (!t->cert.path || !t->key.path)
        goto fail;
    if ((rc = pem_load(&t->cert, false, err)) != IHA_OK ||
        (rc = pem_load(&t->key, true, err)) != IHA_OK)
        goto fail;
    if (cfg->client_ca_file) {
        struct stat st;
        size_t len;

        rc = read_file(cfg->client_ca_file, &t->client_ca, &len, &st, err);
        if (rc != IHA_OK)
            goto fail;
    }
    if (import_pair(&t->cert, &t->key, &chain, &n, &pk) != 0) {
        iha_err_set(err, "web.tls_server_config",
                    "%s and %s: not a PEM certificate chain and its private key", cfg->cert_file,
                    cfg->key_file);
        rc = IHA_E_INVAL;
        goto fail;
    }
    for (unsigned i = 0; i < n; i++)
        gnutls_pcert_deinit(&chain[i]);
    gnutls_free(chain);
    gnutls_privkey_deinit(pk);
    t->checked_ms = iha_clock_ms();
    *out = t;
    return IHA_OK;
fail:
    iha_tls_listener_free(t);
    return rc;
}

void iha_tls_listener_free(struct iha_tls_listener *t)
{
    if (!t)
        return;
    pem_clear(&t->cert, false);
    pem_clear(&t->key, true);
    free(t->cert.path);
    free(t->key.path);
    free(t->client_ca);
    free(t);
}

const char *iha_tls_listener_priorities(const struct iha_tls_listener *t)
{
    return t->tls13_only ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                         : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
}

const char *iha_tls_listener_client_ca(const struct iha_tls_listener *t)
{
    return t->client_ca;
}

/* A renewed pair replaces the current one only when both files read and parse. */
static void renew_if_changed(struct iha_tls_listener *t)
{
    struct pem_file cert = {.path = t->cert.path}, key = {.path = t->key.path};
    gnutls_pcert_st *chain = NULL;
    gnutls_privkey_t pk = NULL;
    struct iha_err err = {0};
    unsigned n = 0;
    uint64_t now = iha_clock_ms();

    if (now - t->checked_ms < RECHECK_MS)
        return;
    t->checked_ms = now;
    if (!pem_changed(&t->cert) && !pem_changed(&t->key))
        return;
    if (pem_load(&cert, false, &err) != IHA_OK || pem_load(&key, true, &err) != IHA_OK ||
        import_pair(&cert, &key, &chain, &n, &pk) != 0) {
        IHA_LOG(IHA_LOG_WARN,
                "TLS certificate changed but cannot be used; serving the previous one", "cert_file",
                t->cert.path, "key_file", t->key.path, "detail",
                err.msg[0] ? err.msg : "not a PEM certificate chain and its private key");
        pem_clear(&cert, false);
        pem_clear(&key, true);
        return;
    }
    for (unsigned i = 0; i < n; i++)
        gnutls_pcert_deinit(&chain[i]);
    gnutls_free(chain);
    gnutls_privkey_deinit(pk);
    pem_clear(&t->cert, false);
    pem_clear(&t->key, true);
    t->cert = cert;
    t->key = key;
    IHA_LOG(IHA_LOG_INFO, "TLS certificate renewed", "cert_file", t->cert.path);
}

int iha_tls_listener_retrieve(struct iha_tls_listener *t, gnutls_pcert_st **pcert,
                              unsigned *pcert_length, gnutls_privkey_t *pkey, unsigned *flags)
{
    renew_if_changed(t);
    if (import_pair(&t->cert, &t->key, pcert, pcert_length, pkey) != 0)
        return -1;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
}

bool iha_tls_listener_check_client(const struct iha_tls_listener *t, gnutls_session_t session,
                                   char *why, size_t why_size)
{
    unsigned n = 0, status = 0;

    if (t->client_auth == IHA_CLIENT_CERT_NONE)
        return true;
    if (!gnutls_certificate_get_peers(session, &n) || n == 0) {
        if (t->client_auth == IHA_CLIENT_CERT_IF_GIVEN)
            return true;
        snprintf(why, why_size, "a client certificate is required");
        return false;
    }
    if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0) {
        snprintf(why, why_size, "the client certificate is not trusted (client_ca_file)");
        return false;
    }
    return true;
}
