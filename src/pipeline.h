/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline.h
 * @brief One request through the stages: adapter → mapping → dedupe → delivery → answer.
 *
 * The answer follows the contract Alertmanager understands: 2xx when every derived
 * notification was delivered, deduplicated or intentionally dropped; 503 when a retry
 * could succeed; 4xx only for input that will never be accepted. Native input
 * (/v1/notifications) is answered as Instance HA would answer it.
 */
#ifndef IHA_PIPELINE_H
#define IHA_PIPELINE_H

#include <jansson.h>

#include "dedupe.h"
#include "delivery.h"
#include "mapping.h"
#include "rc.h"
#include "record.h"

struct iha_pipeline;

/**
 * Receives the answer for one request: HTTP status and a JSON body (stolen).
 * Called exactly once per accepted request, from the calling thread (before
 * iha_pipeline_handle() returns) or from the delivery thread.
 */
typedef void (*iha_reply_fn)(void *cls, unsigned status, json_t *body);

/** Stages the pipeline uses; all borrowed and must outlive it. */
struct iha_pipeline_stages {
    const struct iha_ruleset *rules;
    struct iha_dedupe *dedupe;
    struct iha_delivery *delivery;
};

/** @return a new pipeline or NULL. */
struct iha_pipeline *iha_pipeline_new(const struct iha_pipeline_stages *stages);

/** Frees @p p. Outstanding requests must have been answered. NULL-safe. */
void iha_pipeline_free(struct iha_pipeline *p);

/** Replaces the rule set (reload). @p rules is borrowed. Call from the ingest thread. */
void iha_pipeline_set_rules(struct iha_pipeline *p, const struct iha_ruleset *rules);

/**
 * Handles one parsed request body from @p source.
 * @return IHA_OK: @p reply will be called exactly once. IHA_E_PARSE / IHA_E_INVAL: the
 *         body is not acceptable (@p err names the field; the caller answers 400 and
 *         @p reply is not called). IHA_E_NOMEM / IHA_E_LIMIT: answer 503.
 */
enum iha_rc iha_pipeline_handle(struct iha_pipeline *p, enum iha_source source, const json_t *body,
                                iha_reply_fn reply, void *cls, struct iha_err *err) IHA_MUST_CHECK;

#endif
