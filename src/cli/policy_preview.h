/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file policy_preview.h
 * @brief What the safety policy would decide for the notifications of one input
 *        (`map`, `test-rules`).
 */
#ifndef IHA_POLICY_PREVIEW_H
#define IHA_POLICY_PREVIEW_H

#include <jansson.h>
#include <stddef.h>

#include "policy.h"

struct iha_config;

/** The policy settings of @p cfg (the daemon's and the previews' one reading of them). */
struct iha_policy_config iha_policy_config_of(const struct iha_config *cfg);

/**
 * Annotates each line of @p lines with the policy's decision ("policy": decision, after_s,
 * reason, why), as a fresh gateway with @p cfg would take it for this input alone. A line
 * with "evacuates": HOST is an evacuation of HOST, one with "host_back": HOST a resolve;
 * both keys are removed. Other lines with a "notification" are sent at once.
 */
void iha_policy_preview(const struct iha_config *cfg, json_t *lines);

/** Evacuations by decision, as annotated by iha_policy_preview(). */
struct iha_policy_counts {
    size_t sent, held, cancelled;
};

/** Counts the decisions iha_policy_preview() wrote into @p lines. */
void iha_policy_preview_count(const json_t *lines, struct iha_policy_counts *out);

#endif
