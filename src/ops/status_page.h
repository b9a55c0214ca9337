/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file status_page.h
 * @brief The status page at "/": plain server-rendered HTML, no external assets,
 *        no JavaScript.
 */
#ifndef IHA_STATUS_PAGE_H
#define IHA_STATUS_PAGE_H

#include <jansson.h>

/**
 * Renders the page. @p status is the object served at /api/v1/status (version, start
 * time, config with secrets already redacted, rules, queue and token state); @p events the
 * array served at /api/v1/events (newest first); @p hostname the filter shown in the form
 * (may be NULL). Every value is HTML-escaped.
 * @return the page (owned by the caller, free()) or NULL when out of memory.
 */
char *iha_status_page_render(const json_t *status, const json_t *events, const char *hostname);

#endif
