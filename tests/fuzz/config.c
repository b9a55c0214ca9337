/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file config.c
 * @brief Fuzz target: the configuration file (iha_config_load from memory) with its
 *        cross-field checks, then compared with the defaults as a reload does.
 *
 * web.auth.disabled with a listen address that is a name makes the loader resolve that
 * name. A fuzzer must not send DNS queries (each one may wait seconds for a resolver that
 * is not there), so getaddrinfo() is replaced here by one that only reads numeric hosts:
 * the loader's own logic is unchanged, a name simply does not resolve.
 */
#include <dlfcn.h>
#include <netdb.h>

#include "config.h"
#include "diag.h"
#include "fuzz_util.h"

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static getaddrinfo_fn real;
    struct addrinfo h = {0};

    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    if (!real)
        return EAI_FAIL;
    if (hints)
        h = *hints;
    h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
    return real(node, service, &h, res);
}

static struct iha_config *defaults;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    if (iha_config_default(&defaults) != IHA_OK)
        abort();
    return 0;
}

static void on_key(void *cls, const char *key)
{
    (*(size_t *)cls) += strlen(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iha_config *cfg = NULL;
    struct iha_diag *diag = iha_diag_new();
    size_t changed = 0;

    if (!diag)
        return 0;
    if (iha_config_load("fuzz.yml", (const char *)data, size, &cfg, diag) == IHA_OK && cfg)
        iha_config_diff(defaults, cfg, on_key, &changed);
    for (size_t i = 0; i < iha_diag_count(diag); i++)
        (void)iha_diag_get(diag, i);
    iha_config_free(cfg);
    iha_diag_free(diag);
    return 0;
}
