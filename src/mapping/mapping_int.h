/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mapping_int.h
 * @brief Private to src/mapping: the compiled rule set and the functions its files share.
 *        Never included from outside the folder.
 *
 * A rule set is written only while loading (mapping_load.c, which then rebuilds the
 * prefilter of mapping_index.c) and read by evaluation (mapping_eval.c) and the views of
 * mapping.c; the caller keeps loading and mapping apart, so nothing here takes a lock.
 */
#ifndef IHA_MAPPING_INT_H
#define IHA_MAPPING_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mapping.h"
#include "matcher.h"
#include "extract.h"

struct pfield {
    char *key;
    struct iha_extract *x;
};

/* What a rule sends for one alert status; !sends means "nothing". */
struct action {
    bool sends;
    struct pfield *fields;
    size_t n;
};

struct rule {
    char *name;
    char *origin;     /* "file:line:col" of the rule, for duplicate-name messages */
    unsigned sources; /* bit (1 << enum iha_source); 0 never happens after load */
    struct iha_matchers *matchers;
    enum iha_ntype type;
    struct iha_extract *hostname;
    struct action firing, resolved;
    bool cont;
    /* Kept for iha_ruleset_rule_info(): positions and the hostname's source labels. */
    char *file;
    struct iha_rule_pos pos, hostname_pos, firing_pos;
    struct iha_rule_pos *mpos; /* one per matcher */
    char **hsrc;
    size_t n_hsrc;
};

/* One alertname of the prefilter and the rules (ascending indices) that need it. */
struct ix_key {
    char *value;
    size_t *rules;
    size_t n;
};

struct iha_ruleset {
    struct rule *rules;
    size_t n, cap;
    /* alertname prefilter, rebuilt after every load: keys sorted by value */
    struct ix_key *keys;
    size_t n_keys;
    size_t *always; /* rules without a usable alertname matcher, ascending */
    size_t n_always;
    bool ix_ok;    /* the prefilter above is complete */
    bool no_index; /* iha_ruleset_set_index(rs, false) */
};

/* Releases what @p r owns and zeroes it (mapping.c). */
void iha_mapping_rule_clear(struct rule *r);

/* Drops the alertname prefilter; the rule set is then evaluated rule by rule (mapping_index.c). */
void iha_mapping_index_clear(struct iha_ruleset *rs);

/*
 * Rebuilds the prefilter over all rules (mapping_index.c).
 * @return IHA_OK, or IHA_E_NOMEM with no index (evaluation stays correct, only slower).
 */
enum iha_rc iha_mapping_index_build(struct iha_ruleset *rs);

/* The prefilter's entry for alertname @p value, or NULL (mapping_index.c). */
const struct ix_key *iha_mapping_index_find(const struct iha_ruleset *rs, const char *value);

#endif
