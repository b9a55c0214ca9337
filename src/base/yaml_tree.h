/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file yaml_tree.h
 * @brief libyaml events turned into a small node tree that keeps line/column marks.
 *
 * Config and rule loaders walk this tree, so every error they report can name
 * file:line:column. Anchors/aliases are refused (rule files have no use for them
 * and they allow billion-laughs expansion); nesting is limited to 64 levels; a
 * document has at most 100000 nodes.
 */
#ifndef IHA_YAML_TREE_H
#define IHA_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "rc.h"

enum iha_ynode_kind { IHA_YNODE_SCALAR, IHA_YNODE_SEQ, IHA_YNODE_MAP };

/** Plain data, owned by the root (free with iha_ynode_free()). */
struct iha_ynode {
    enum iha_ynode_kind kind;
    unsigned line, col;       /**< 1-based position of the node's start */
    char *scalar;             /**< SCALAR only: the text (NUL-terminated) */
    bool quoted;              /**< SCALAR only: written with quotes (so "null" is a string) */
    unsigned text_col;        /**< SCALAR only: 1-based column where @c scalar appears verbatim on
                                   @c line (plain, or quoted without escapes, on one line), else 0;
                                   lets messages point inside the text (matchers, regexes) */
    struct iha_ynode **items; /**< SEQ: the items; MAP: keys and values interleaved */
    size_t n_items;           /**< SEQ: count of items; MAP: 2 x pairs */
    const char *file;         /**< borrowed name for messages, set on every node */
};

/**
 * Parses the first document of @p text. An empty document yields an empty MAP.
 * @param name file name used in messages (copied; every node's @c file points at the copy)
 * @return IHA_OK and @p *root (owned by the caller), or IHA_E_PARSE with the reason
 *         added to @p diag (file:line:column from libyaml's mark), or IHA_E_NOMEM / IHA_E_LIMIT.
 */
enum iha_rc iha_ytree_parse(const char *name, const char *text, size_t len, struct iha_ynode **root,
                            struct iha_diag *diag) IHA_MUST_CHECK;

/** Reads the file at @p path then calls iha_ytree_parse(). IHA_E_IO (in @p diag) when unreadable.
 */
enum iha_rc iha_ytree_parse_file(const char *path, struct iha_ynode **root,
                                 struct iha_diag *diag) IHA_MUST_CHECK;

/** Frees the whole tree. NULL-safe. */
void iha_ynode_free(struct iha_ynode *root);

/** MAP only: @return the value for @p key (borrowed) or NULL. */
const struct iha_ynode *iha_ynode_get(const struct iha_ynode *map, const char *key);

/** @return true when @p n is a plain (unquoted) null scalar: "", "~", "null", "Null", "NULL". */
bool iha_ynode_is_null(const struct iha_ynode *n);

/** @return a name for @p kind for messages ("a string", "a list", "a mapping"). */
const char *iha_ynode_kind_name(enum iha_ynode_kind kind);

/** Like iha_ynode_kind_name() of @p n, but calls a null scalar "null" (a missing value). */
const char *iha_ynode_what(const struct iha_ynode *n);

/** @return true when @p n is a scalar that is not null (iha_ynode_is_null()). NULL-safe. */
bool iha_ynode_is_string(const struct iha_ynode *n);

/**
 * Reads a YAML 1.2 core-schema boolean: an unquoted true/True/TRUE or false/False/FALSE.
 * @return false (and @p out unchanged) when @p n is anything else, quoted "true" included.
 */
bool iha_ynode_bool(const struct iha_ynode *n, bool *out);

/**
 * Finds the candidate closest to @p word by edit distance, for "did you mean" hints.
 * @param candidates NULL-terminated list
 * @return the closest candidate at distance 1 or 2 (borrowed from @p candidates), or NULL
 *         (also when @p word is itself a candidate).
 */
const char *iha_ytree_suggest(const char *word, const char *const *candidates);

/**
 * Checks the keys of the mapping @p map against @p allowed and reports each one that is
 * not a string (a null key such as `~:` included) or not in the list as an error in
 * @p diag at the key's position: "WHERE: expected a string key, got null" or "WHERE:
 * unknown key 'K'", with " (did you mean 'X'?)" from iha_ytree_suggest() when one is close.
 * @param allowed NULL-terminated list of the known keys (borrowed)
 * @param where the section for the message, e.g. "rule" or "web.auth"
 * @return the number of errors added (0 when every key is known, or @p map is not a MAP).
 */
size_t iha_ytree_check_keys(const struct iha_ynode *map, const char *const *allowed,
                            const char *where, struct iha_diag *diag);

#endif
