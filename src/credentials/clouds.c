/* SPDX-License-Identifier: Apache-2.0 */
/** @file clouds.c @brief clouds.yaml + secure.yaml lookup and merge, as openstacksdk does it. */
#include "clouds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "diag.h"
#include "token_source.h"
#include "yaml_tree.h"

#define SEARCH_MAX 24

/* The two parsed files and the entry for the cloud in each (s_* may be NULL). */
struct lookup {
    const struct iha_ynode *c;      /* clouds.yaml: clouds.NAME */
    const struct iha_ynode *s;      /* secure.yaml: clouds.NAME, or NULL */
    const struct iha_ynode *c_auth; /* ...auth mappings, or NULL */
    const struct iha_ynode *s_auth;
    const char *name;
    struct iha_err *err;
    enum iha_rc rc;
};

/* Keys compare with '-' equal to '_' (openstacksdk normalises them). */
static bool key_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

static const struct iha_ynode *map_get(const struct iha_ynode *map, const char *key)
{
    const struct iha_ynode *found = NULL;

    if (!map || map->kind != IHA_YNODE_MAP)
        return NULL;
    /* YAML loaders keep the last of duplicate keys. */
    for (size_t i = 0; i + 1 < map->n_items; i += 2) {
        const struct iha_ynode *k = map->items[i];
        if (k->kind == IHA_YNODE_SCALAR && key_eq(k->scalar, key))
            found = map->items[i + 1];
    }
    return found;
}

/* The scalar at @p n, or NULL for an absent or null value; a non-scalar is an error. */
static const char *scalar_of(struct lookup *lk, const struct iha_ynode *n, const char *where,
                             const char *key)
{
    if (!n || iha_ynode_is_null(n))
        return NULL;
    if (n->kind != IHA_YNODE_SCALAR) {
        if (lk->rc == IHA_OK) {
            iha_err_set_at(lk->err, n->file, n->line, n->col,
                           "clouds.%s.%s%s: expected a string, got %s", lk->name, where, key,
                           iha_ynode_kind_name(n->kind));
            lk->rc = IHA_E_CONFIG;
        }
        return NULL;
    }
    return n->scalar;
}

/* secure.yaml wins over clouds.yaml for the same key. */
static const char *get_merged(struct lookup *lk, bool in_auth, const char *key)
{
    const struct iha_ynode *sm = in_auth ? lk->s_auth : lk->s;
    const struct iha_ynode *cm = in_auth ? lk->c_auth : lk->c;
    const char *where = in_auth ? "auth." : "";
    const char *v = scalar_of(lk, map_get(sm, key), where, key);

    return v ? v : scalar_of(lk, map_get(cm, key), where, key);
}

/*
 * @p keys: synonyms, the later winning (as openstacksdk's _fix_backwards_project); for
 * each, the auth mapping wins over the cloud's top level when @p top is true.
 */
static const char *get_auth(struct lookup *lk, const char *const *keys, bool top)
{
    const char *v = NULL, *t;

    for (; *keys; keys++) {
        if (top && (t = get_merged(lk, false, *keys)))
            v = t;
        if ((t = get_merged(lk, true, *keys)))
            v = t;
    }
    return v;
}

static bool dup_str(char **slot, const char *v)
{
    if (!v)
        return true;
    *slot = strdup(v);
    return *slot != NULL;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

void iha_cloud_free(struct iha_cloud *c)
{
    if (!c)
        return;
    if (c->password)
        iha_secret_wipe(c->password, strlen(c->password));
    if (c->application_credential_secret)
        iha_secret_wipe(c->application_credential_secret, strlen(c->application_credential_secret));
    free(c->name);
    free(c->source);
    free(c->secure_source);
    free(c->auth_type);
    free(c->auth_url);
    free(c->username);
    free(c->user_id);
    free(c->password);
    free(c->user_domain_name);
    free(c->user_domain_id);
    free(c->project_name);
    free(c->project_id);
    free(c->project_domain_name);
    free(c->project_domain_id);
    free(c->application_credential_id);
    free(c->application_credential_name);
    free(c->application_credential_secret);
    free(c->region_name);
    free(c->interface);
    free(c->cacert);
    free(c->cert);
    free(c->key);
    free(c);
}

/* Fills @p out from the entry. @return IHA_OK, IHA_E_CONFIG (lk->err set) or IHA_E_NOMEM. */
static enum iha_rc fill(struct lookup *lk, struct iha_cloud *out)
{
    static const char *const k_project_name[] = {"tenant_name", "project_name", NULL};
    static const char *const k_project_id[] = {"tenant_id", "project_id", NULL};
    static const char *const k_user_domain_name[] = {"user_domain_name", NULL};
    static const char *const k_user_domain_id[] = {"user_domain_id", NULL};
    static const char *const k_project_domain_name[] = {"project_domain_name", NULL};
    static const char *const k_project_domain_id[] = {"project_domain_id", NULL};
    static const char *const k_domain_name[] = {"domain_name", NULL};
    static const char *const k_domain_id[] = {"domain_id", NULL};
    const char *domain_name, *domain_id, *verify, *iface;
    bool ok = true;
    char *p;

    ok &= dup_str(&out->auth_type, get_merged(lk, false, "auth_type"));
    ok &= dup_str(&out->auth_url, get_merged(lk, true, "auth_url"));
    ok &= dup_str(&out->username, get_merged(lk, true, "username"));
    ok &= dup_str(&out->user_id, get_merged(lk, true, "user_id"));
    ok &= dup_str(&out->password, get_merged(lk, true, "password"));
    ok &= dup_str(&out->project_name, get_auth(lk, k_project_name, true));
    ok &= dup_str(&out->project_id, get_auth(lk, k_project_id, true));
    ok &= dup_str(&out->user_domain_name, get_auth(lk, k_user_domain_name, true));
    ok &= dup_str(&out->user_domain_id, get_auth(lk, k_user_domain_id, true));
    ok &= dup_str(&out->project_domain_name, get_auth(lk, k_project_domain_name, true));
    ok &= dup_str(&out->project_domain_id, get_auth(lk, k_project_domain_id, true));
    ok &=
        dup_str(&out->application_credential_id, get_merged(lk, true, "application_credential_id"));
    ok &= dup_str(&out->application_credential_name,
                  get_merged(lk, true, "application_credential_name"));
    ok &= dup_str(&out->application_credential_secret,
                  get_merged(lk, true, "application_credential_secret"));
    ok &= dup_str(&out->region_name, get_merged(lk, false, "region_name"));
    ok &= dup_str(&out->cacert, get_merged(lk, false, "cacert"));
    ok &= dup_str(&out->cert, get_merged(lk, false, "cert"));
    ok &= dup_str(&out->key, get_merged(lk, false, "key"));
    iface = get_merged(lk, false, "interface");
    if (!iface)
        iface = get_merged(lk, false, "endpoint_type");
    ok &= dup_str(&out->interface, iface);
    if (!ok)
        return IHA_E_NOMEM;
    /* "publicURL" is the old spelling of "public". */
    if (out->interface && (p = strstr(out->interface, "URL")) && p[3] == '\0' &&
        p != out->interface)
        *p = '\0';

    /* domain_* given once stands for both user and project domain. */
    domain_name = get_auth(lk, k_domain_name, true);
    domain_id = get_auth(lk, k_domain_id, true);
    if (domain_name && !out->user_domain_name && !out->user_domain_id)
        ok &= dup_str(&out->user_domain_name, domain_name);
    if (domain_id && !out->user_domain_id && !out->user_domain_name)
        ok &= dup_str(&out->user_domain_id, domain_id);
    if (out->project_name || out->project_id) {
        if (domain_name && !out->project_domain_name && !out->project_domain_id)
            ok &= dup_str(&out->project_domain_name, domain_name);
        if (domain_id && !out->project_domain_id && !out->project_domain_name)
            ok &= dup_str(&out->project_domain_id, domain_id);
    }
    if (!ok)
        return IHA_E_NOMEM;

    out->verify = true;
    verify = get_merged(lk, false, "verify");
    if (verify && !parse_bool(verify, &out->verify) && lk->rc == IHA_OK) {
        iha_err_set(lk->err, "verify", "clouds.%s.verify: expected true or false", lk->name);
        lk->rc = IHA_E_CONFIG;
    }
    return lk->rc;
}

/* Opens the first existing, readable file of @p files. @return its index or -1. */
static int first_file(const char *const *files)
{
    for (int i = 0; files && files[i]; i++) {
        if (access(files[i], F_OK) != 0)
            continue;
        if (access(files[i], R_OK) != 0 && errno == EACCES)
            continue;
        return i;
    }
    return -1;
}

static enum iha_rc parse(const char *path, struct iha_ynode **root, struct iha_err *err)
{
    struct iha_diag *diag = iha_diag_new();
    enum iha_rc rc;

    if (!diag)
        return IHA_E_NOMEM;
    rc = iha_ytree_parse_file(path, root, diag);
    if (rc != IHA_OK && rc != IHA_E_NOMEM) {
        iha_err_set(err, NULL, "%s", iha_diag_count(diag) ? iha_diag_get(diag, 0) : path);
        rc = IHA_E_CONFIG;
    }
    iha_diag_free(diag);
    return rc;
}

/* Lists the cloud names of @p clouds into @p out (for "no such cloud" messages). */
static void list_names(const struct iha_ynode *clouds, char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; clouds && clouds->kind == IHA_YNODE_MAP && i + 1 < clouds->n_items; i += 2) {
        const struct iha_ynode *k = clouds->items[i];
        int n;
        if (k->kind != IHA_YNODE_SCALAR)
            continue;
        n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", k->scalar);
        if (n < 0 || (size_t)n >= size - used) {
            out[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
}

enum iha_rc iha_clouds_load(const char *const *clouds_files, const char *const *secure_files,
                            const char *name, struct iha_cloud **out, struct iha_err *err)
{
    struct iha_ynode *croot = NULL, *sroot = NULL;
    struct iha_cloud *c = NULL;
    struct lookup lk;
    const struct iha_ynode *clouds;
    enum iha_rc rc;
    int ci, si;
    char names[256];

    *out = NULL;
    memset(&lk, 0, sizeof(lk));
    ci = first_file(clouds_files);
    if (ci < 0) {
        iha_err_set(err, "cloud",
                    "no clouds.yaml found (OS_CLIENT_CONFIG_FILE, ./, "
                    "~/.config/openstack/, /etc/openstack/)");
        return IHA_E_NOTFOUND;
    }
    rc = parse(clouds_files[ci], &croot, err);
    if (rc != IHA_OK)
        goto cleanup;
    si = first_file(secure_files);
    if (si >= 0 && (rc = parse(secure_files[si], &sroot, err)) != IHA_OK)
        goto cleanup;

    clouds = iha_ynode_get(croot, "clouds");
    lk.c = map_get(clouds, name);
    if (!lk.c || lk.c->kind != IHA_YNODE_MAP) {
        list_names(clouds, names, sizeof(names));
        iha_err_set(err, "cloud", "cloud '%s' not found in %s (clouds there: %s)", name,
                    clouds_files[ci], names[0] ? names : "none");
        rc = IHA_E_NOTFOUND;
        goto cleanup;
    }
    lk.s = map_get(iha_ynode_get(sroot, "clouds"), name);
    if (lk.s && lk.s->kind != IHA_YNODE_MAP)
        lk.s = NULL;
    lk.c_auth = map_get(lk.c, "auth");
    lk.s_auth = map_get(lk.s, "auth");
    if ((lk.c_auth && lk.c_auth->kind != IHA_YNODE_MAP && !iha_ynode_is_null(lk.c_auth)) ||
        (lk.s_auth && lk.s_auth->kind != IHA_YNODE_MAP && !iha_ynode_is_null(lk.s_auth))) {
        iha_err_set(err, "auth", "clouds.%s.auth: expected a mapping", name);
        rc = IHA_E_CONFIG;
        goto cleanup;
    }
    lk.name = name;
    lk.err = err;

    rc = IHA_E_NOMEM;
    c = calloc(1, sizeof(*c));
    if (!c || !dup_str(&c->name, name) || !dup_str(&c->source, clouds_files[ci]) ||
        (si >= 0 && !dup_str(&c->secure_source, secure_files[si])))
        goto cleanup;
    rc = fill(&lk, c);
    if (rc != IHA_OK)
        goto cleanup;
    *out = c;
    c = NULL;
cleanup:
    iha_cloud_free(c);
    iha_ynode_free(croot);
    iha_ynode_free(sroot);
    return rc;
}

static bool push(char **paths, size_t max, size_t *n, const char *dir, const char *base,
                 const char *suffix)
{
    size_t len;
    int w;

    if (*n >= max || !dir || !*dir)
        return true;
    len = strlen(dir) + 1 + strlen(base) + strlen(suffix) + 1;
    paths[*n] = malloc(len);
    if (!paths[*n])
        return false;
    w = snprintf(paths[*n], len, "%s/%s%s", dir, base, suffix);
    if (w < 0 || (size_t)w >= len) {
        free(paths[*n]);
        paths[*n] = NULL;
        return false;
    }
    (*n)++;
    return true;
}

size_t iha_clouds_search_path(const char *base, char **paths, size_t max)
{
    static const char *const suffixes[] = {".yaml", ".yml", ".json"};
    const char *env =
        getenv(strcmp(base, "secure") == 0 ? "OS_CLIENT_SECURE_FILE" : "OS_CLIENT_CONFIG_FILE");
    const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
    char cwd[4096], xdg_dir[4096], home_dir[4096];
    const char *dirs[5];
    size_t n = 0, nd = 0;

    paths[0] = NULL;
    if (env && *env) {
        if (max == 0 || !(paths[n++] = strdup(env)))
            goto nomem;
    }
    if (getcwd(cwd, sizeof(cwd)))
        dirs[nd++] = cwd;
    xdg_dir[0] = home_dir[0] = '\0';
    if (home && *home) {
        int w = snprintf(home_dir, sizeof(home_dir), "%s/.config/openstack", home);
        if (w < 0 || (size_t)w >= sizeof(home_dir))
            home_dir[0] = '\0';
    }
    if (xdg && *xdg) {
        int w = snprintf(xdg_dir, sizeof(xdg_dir), "%s/openstack", xdg);
        if (w < 0 || (size_t)w >= sizeof(xdg_dir))
            xdg_dir[0] = '\0';
    }
    dirs[nd++] = xdg_dir[0] ? xdg_dir : home_dir;
    if (xdg_dir[0])
        dirs[nd++] = home_dir;
    dirs[nd++] = "/etc/xdg/openstack";
    dirs[nd++] = "/etc/openstack";
    for (size_t d = 0; d < nd; d++)
        for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++)
            if (!push(paths, max, &n, dirs[d], base, suffixes[s]))
                goto nomem;
    paths[n] = NULL;
    return n;
nomem:
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    paths[0] = NULL;
    return (size_t)-1;
}

enum iha_rc iha_clouds_find(const char *name, struct iha_cloud **out, struct iha_err *err)
{
    char *cpaths[SEARCH_MAX + 1], *spaths[SEARCH_MAX + 1];
    size_t nc, ns;
    enum iha_rc rc = IHA_E_NOMEM;

    *out = NULL;
    nc = iha_clouds_search_path("clouds", cpaths, SEARCH_MAX);
    if (nc == (size_t)-1)
        return IHA_E_NOMEM;
    ns = iha_clouds_search_path("secure", spaths, SEARCH_MAX);
    if (ns != (size_t)-1) {
        rc = iha_clouds_load((const char *const *)cpaths, (const char *const *)spaths, name, out,
                             err);
        for (size_t i = 0; i < ns; i++)
            free(spaths[i]);
    }
    for (size_t i = 0; i < nc; i++)
        free(cpaths[i]);
    return rc;
}
