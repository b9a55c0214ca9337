/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file url.h
 * @brief What the gateway refuses in a configured URL.
 *
 * Header-only: one small check shared by the config loader and the Keystone client.
 * A URL is printed on the status page, in /api/v1/status, in reload answers and in log
 * lines, and libcurl would send its userinfo as Basic credentials: credentials belong in
 * instance_ha.auth, instance_ha.token_file or clouds.yaml, never in a URL.
 */
#ifndef IHA_URL_H
#define IHA_URL_H

#include <stdbool.h>
#include <string.h>

/** @return true when the authority of @p url ("scheme://AUTHORITY/...") holds an '@'. */
static inline bool iha_url_has_userinfo(const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;

    if (!p)
        return false;
    for (p += 3; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == '@')
            return true;
    return false;
}

/** Where credentials go instead, for error messages. */
#define IHA_URL_CREDENTIALS_HINT                                                                   \
    "credentials must not be written into a URL; put them in instance_ha.auth "                    \
    "(password_file, application_credential_secret_file), instance_ha.token_file or clouds.yaml"

#endif
