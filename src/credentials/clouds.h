/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file clouds.h
 * @brief One cloud entry of clouds.yaml, with secure.yaml merged over it, found the way
 *        openstacksdk finds them.
 *
 * Search order for each file (the first that exists wins, as in openstacksdk; a file that
 * cannot be read for lack of permission is skipped): $OS_CLIENT_CONFIG_FILE (clouds) or
 * $OS_CLIENT_SECURE_FILE (secure), then ./, $XDG_CONFIG_HOME/openstack/ (default
 * ~/.config/openstack/), ~/.config/openstack/, /etc/xdg/openstack/, /etc/openstack/, each
 * with the suffixes .yaml, .yml and .json. Values of secure.yaml override those of
 * clouds.yaml key by key (nested mappings merge). Keys may use '-' for '_';
 * tenant_name/tenant_id mean project_name/project_id; domain_name/domain_id fill
 * user_domain_* and project_domain_* when those are absent; project and domain keys may
 * sit at the cloud's top level instead of under auth.
 */
#ifndef IHA_CLOUDS_H
#define IHA_CLOUDS_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

/** Plain data, owned by iha_cloud_free(). Absent keys are NULL. */
struct iha_cloud {
    char *name;
    char *source;        /**< the clouds.yaml read */
    char *secure_source; /**< the secure.yaml merged, or NULL */
    char *auth_type;     /**< as written: password, v3password, v3applicationcredential, ... */
    char *auth_url;
    char *username;
    char *user_id;
    char *password; /**< secret: never printed; wiped by iha_cloud_free() */
    char *user_domain_name;
    char *user_domain_id;
    char *project_name;
    char *project_id;
    char *project_domain_name;
    char *project_domain_id;
    char *application_credential_id;
    char *application_credential_name;
    char *application_credential_secret; /**< secret: never printed; wiped on free */
    char *region_name;
    char *interface; /**< "public", "internal", "admin" (a trailing "URL" is removed) */
    char *cacert;
    char *cert;
    char *key;
    bool verify; /**< false only when the entry says verify: false */
};

/**
 * Reads the first existing file of @p clouds_files and of @p secure_files (NULL-terminated
 * lists; @p secure_files may be NULL) and returns the merged entry @p name.
 * @param[out] out owned by the caller
 * @param[out] err why not, naming files and keys but never a value
 * @return IHA_OK; IHA_E_NOTFOUND (no clouds file, or no such cloud: the message lists the
 *         clouds there are); IHA_E_CONFIG (unparsable file, wrong kinds); IHA_E_NOMEM.
 */
enum iha_rc iha_clouds_load(const char *const *clouds_files, const char *const *secure_files,
                            const char *name, struct iha_cloud **out,
                            struct iha_err *err) IHA_MUST_CHECK;

/**
 * Same with openstacksdk's search path (see the file comment), from the environment
 * and working directory of the calling process.
 */
enum iha_rc iha_clouds_find(const char *name, struct iha_cloud **out,
                            struct iha_err *err) IHA_MUST_CHECK;

/**
 * Writes the search list for @p base ("clouds" or "secure") into @p paths (each a new
 * string), at most @p max entries, NULL-terminated (so @p paths has @p max + 1 slots).
 * @return the number of entries, or (size_t)-1 when out of memory (nothing to free).
 */
size_t iha_clouds_search_path(const char *base, char **paths, size_t max);

/** Frees @p c, wiping the secrets. NULL-safe. */
void iha_cloud_free(struct iha_cloud *c);

#endif
