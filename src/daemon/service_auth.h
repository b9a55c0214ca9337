/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file service_auth.h
 * @brief Builds the Keystone-backed service token source from instance_ha.auth (password,
 *        application_credential, or a clouds.yaml entry) and discovers the Instance HA URL.
 */
#ifndef IHA_SERVICE_AUTH_H
#define IHA_SERVICE_AUTH_H

#include <stdbool.h>

#include "config.h"
#include "rc.h"
#include "token_source.h"

struct iha_metrics;

/** How long start-up waits for the first token when the URL must come from the catalog. */
#define IHA_SERVICE_AUTH_DISCOVERY_WAIT_MS 30000u

/**
 * For instance_ha.auth.type password, application_credential or cloud: resolves the
 * settings (a cloud entry from clouds.yaml + secure.yaml; keys set in instance_ha.auth
 * override it), starts the token renewal thread, and, when @p url_given is false, waits
 * for the first token (at most IHA_SERVICE_AUTH_DISCOVERY_WAIT_MS) and replaces
 * @p cfg->url with the catalog's instance-ha endpoint. Logs what it uses, never a secret.
 * Call after curl_global_init() and with the signal mask every thread should inherit.
 * @param metrics where each authentication (first token, renewal, re-authentication after
 *        a 401) is counted in iha_gateway_token_renewals_total{result="success"|"failure"};
 *        NULL counts nothing. Borrowed: it must outlive @p out.
 * @param[out] out the token source for delivery (owned; frees the Keystone client)
 * @param[out] err why not
 * @return IHA_OK; IHA_E_CONFIG (settings incomplete, cloud not found); IHA_E_NOTFOUND (no
 *         endpoint in the catalog); IHA_E_AUTH / IHA_E_IO / IHA_E_UPSTREAM (no first token
 *         for discovery); IHA_E_NOMEM; IHA_E_INVAL for type static.
 */
enum iha_rc iha_service_auth_start(struct iha_config *cfg, bool url_given,
                                   struct iha_metrics *metrics, struct iha_token_source **out,
                                   struct iha_err *err) IHA_MUST_CHECK;

#endif
