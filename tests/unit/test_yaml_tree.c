/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_yaml_tree.c @brief YAML node tree: marks, refusals, limits, errors. */
#include "yaml_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_includes.h"

struct ctx {
    struct iha_diag *diag;
    struct iha_ynode *root;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->diag = iha_diag_new();
    assert_non_null(c->diag);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;

    iha_ynode_free(c->root);
    iha_diag_free(c->diag);
    free(c);
    return 0;
}

static enum iha_rc parse(struct ctx *c, const char *text)
{
    iha_ynode_free(c->root);
    c->root = NULL;
    return iha_ytree_parse("f.yml", text, strlen(text), &c->root, c->diag);
}

static void test_marks(void **state)
{
    struct ctx *c = *state;
    const struct iha_ynode *b, *a;

    assert_int_equal(parse(c, "a: 1\nb:\n  - x\n  - 'y'\n"), IHA_OK);
    assert_int_equal(c->root->kind, IHA_YNODE_MAP);
    assert_int_equal(c->root->line, 1);
    assert_int_equal(c->root->col, 1);
    assert_int_equal(c->root->n_items, 4);
    assert_string_equal(c->root->file, "f.yml");
    a = iha_ynode_get(c->root, "a");
    assert_non_null(a);
    assert_string_equal(a->scalar, "1");
    assert_int_equal(a->line, 1);
    assert_int_equal(a->col, 4);
    assert_false(a->quoted);
    b = iha_ynode_get(c->root, "b");
    assert_non_null(b);
    assert_int_equal(b->kind, IHA_YNODE_SEQ);
    assert_int_equal(b->line, 3);
    assert_int_equal(b->col, 3);
    assert_int_equal(b->n_items, 2);
    assert_string_equal(b->items[0]->scalar, "x");
    assert_int_equal(b->items[0]->line, 3);
    assert_int_equal(b->items[0]->col, 5);
    assert_int_equal(b->items[0]->text_col, 5);
    assert_string_equal(b->items[1]->scalar, "y");
    assert_true(b->items[1]->quoted);
    assert_int_equal(b->items[1]->line, 4);
    assert_int_equal(b->items[1]->col, 5);
    assert_int_equal(b->items[1]->text_col, 6);
    assert_string_equal(b->items[1]->file, "f.yml");
    assert_null(iha_ynode_get(c->root, "c"));
    assert_null(iha_ynode_get(b, "x"));
    assert_int_equal(iha_diag_count(c->diag), 0);
}

static void test_text_col(void **state)
{
    struct ctx *c = *state;

    /* An escape means the text is not verbatim in the source. */
    assert_int_equal(parse(c, "a: \"x\\\"y\"\nb: |\n  z\nc: one\n  two\nd: 'it''s'\n"), IHA_OK);
    assert_string_equal(iha_ynode_get(c->root, "a")->scalar, "x\"y");
    assert_int_equal(iha_ynode_get(c->root, "a")->text_col, 0);
    assert_string_equal(iha_ynode_get(c->root, "b")->scalar, "z\n");
    assert_true(iha_ynode_get(c->root, "b")->quoted);
    assert_int_equal(iha_ynode_get(c->root, "b")->text_col, 0);
    assert_string_equal(iha_ynode_get(c->root, "c")->scalar, "one two");
    assert_int_equal(iha_ynode_get(c->root, "c")->text_col, 0);
    assert_string_equal(iha_ynode_get(c->root, "d")->scalar, "it's");
    assert_int_equal(iha_ynode_get(c->root, "d")->text_col, 0);
}

static void test_anchor_refused(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(parse(c, "a: &x 1\nb: 2\n"), IHA_E_PARSE);
    assert_null(c->root);
    assert_int_equal(iha_diag_errors(c->diag), 1);
    assert_string_equal(iha_diag_get(c->diag, 0), "f.yml:1:4: error: anchors are not supported");
}

static void test_alias_refused(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(parse(c, "a: 1\nb: *x\n"), IHA_E_PARSE);
    assert_null(c->root);
    assert_string_equal(iha_diag_get(c->diag, 0), "f.yml:2:4: error: aliases are not supported");
}

static void test_nul_refused(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(parse(c, "a: 1\nprocess_name: \"nova\\0x\"\n"), IHA_E_PARSE);
    assert_null(c->root);
    assert_string_equal(iha_diag_get(c->diag, 0),
                        "f.yml:2:15: error: a string may not contain a NUL character");
}

static void test_syntax_error(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(parse(c, "a: 1\nb: [1, 2\nc: 3\n"), IHA_E_PARSE);
    assert_null(c->root);
    assert_int_equal(iha_diag_errors(c->diag), 1);
    assert_string_equal(iha_diag_get(c->diag, 0),
                        "f.yml:3:2: error: did not find expected ',' or ']' while parsing a flow "
                        "sequence (which started at line 2, column 4)");
}

static void test_tab_error(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(parse(c, "a:\n\t- b\n"), IHA_E_PARSE);
    assert_int_equal(iha_diag_errors(c->diag), 1);
    /* Position from libyaml's problem mark, 1-based. */
    assert_non_null(strstr(iha_diag_get(c->diag, 0), "f.yml:2:1: error: "));
}

static void test_duplicate_key(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(parse(c, "a: 1\nb:\n  x: 1\n  x: 2\na: 3\n"), IHA_E_PARSE);
    assert_null(c->root);
    assert_int_equal(iha_diag_errors(c->diag), 2);
    assert_string_equal(iha_diag_get(c->diag, 0),
                        "f.yml:4:3: error: duplicate key 'x' (first at line 3)");
    assert_string_equal(iha_diag_get(c->diag, 1),
                        "f.yml:5:1: error: duplicate key 'a' (first at line 1)");
}

static char *nested(size_t depth)
{
    char *s = malloc(2 * depth + 1);

    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    struct ctx *c = *state;
    char *ok = nested(64), *deep = nested(65);

    assert_int_equal(parse(c, ok), IHA_OK);
    assert_int_equal(c->root->kind, IHA_YNODE_SEQ);
    assert_int_equal(parse(c, deep), IHA_E_LIMIT);
    assert_null(c->root);
    assert_string_equal(iha_diag_get(c->diag, 0),
                        "f.yml:1:65: error: nesting deeper than 64 levels");
    free(ok);
    free(deep);
}

static void test_node_limit(void **state)
{
    struct ctx *c = *state;
    size_t n = 100000; /* plus the sequence itself: one node over */
    char *s = malloc(2 * n + 2);
    size_t len = 0;

    assert_non_null(s);
    s[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        s[len++] = '1';
        s[len++] = ',';
    }
    s[len - 1] = ']';
    s[len] = '\0';
    assert_int_equal(iha_ytree_parse("f.yml", s, len, &c->root, c->diag), IHA_E_LIMIT);
    assert_null(c->root);
    assert_non_null(strstr(iha_diag_get(c->diag, 0), "too many nodes"));
    /* One item fewer fits. */
    s[len - 3] = ']';
    assert_int_equal(iha_ytree_parse("f.yml", s, len - 2, &c->root, c->diag), IHA_OK);
    assert_int_equal(c->root->n_items, n - 1);
    free(s);
}

static void test_empty_documents(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(parse(c, ""), IHA_OK);
    assert_int_equal(c->root->kind, IHA_YNODE_MAP);
    assert_int_equal(c->root->n_items, 0);
    assert_int_equal(parse(c, "# only a comment\n"), IHA_OK);
    assert_int_equal(c->root->kind, IHA_YNODE_MAP);
    assert_int_equal(parse(c, "---\n"), IHA_OK);
    assert_int_equal(c->root->kind, IHA_YNODE_MAP);
    assert_null(c->root->scalar);
    /* Only the first document is read. */
    assert_int_equal(parse(c, "a: 1\n---\nb: 2\n"), IHA_OK);
    assert_non_null(iha_ynode_get(c->root, "a"));
    assert_null(iha_ynode_get(c->root, "b"));
    assert_int_equal(iha_diag_count(c->diag), 0);
}

static void test_nulls(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(parse(c, "a:\nb: ~\nc: null\nd: 'null'\ne: NULL\nf: \"\"\ng: x\n"), IHA_OK);
    assert_true(iha_ynode_is_null(iha_ynode_get(c->root, "a")));
    assert_true(iha_ynode_is_null(iha_ynode_get(c->root, "b")));
    assert_true(iha_ynode_is_null(iha_ynode_get(c->root, "c")));
    assert_false(iha_ynode_is_null(iha_ynode_get(c->root, "d")));
    assert_true(iha_ynode_is_null(iha_ynode_get(c->root, "e")));
    assert_false(iha_ynode_is_null(iha_ynode_get(c->root, "f")));
    assert_false(iha_ynode_is_null(iha_ynode_get(c->root, "g")));
    assert_false(iha_ynode_is_null(c->root));
    assert_false(iha_ynode_is_null(NULL));
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(iha_ynode_kind_name(IHA_YNODE_SCALAR), "a string");
    assert_string_equal(iha_ynode_kind_name(IHA_YNODE_SEQ), "a list");
    assert_string_equal(iha_ynode_kind_name(IHA_YNODE_MAP), "a mapping");
}

static void test_suggest(void **state)
{
    static const char *const keys[] = {"name", "type", "matchers", "hostname", NULL};

    (void)state;
    assert_string_equal(iha_ytree_suggest("nmae", keys), "name");
    assert_string_equal(iha_ytree_suggest("matcher", keys), "matchers");
    assert_string_equal(iha_ytree_suggest("hostnam", keys), "hostname");
    assert_string_equal(iha_ytree_suggest("tpye", keys), "type");
    assert_null(iha_ytree_suggest("severity", keys));
    assert_null(iha_ytree_suggest("name", keys)); /* already right: no hint */
}

static void test_check_keys(void **state)
{
    static const char *const keys[] = {"name", "matchers", "continue", NULL};
    struct ctx *c = *state;

    assert_int_equal(parse(c, "name: a\nmatcher: x\n~: 1\n'null': 2\n[x]: 3\nsev: 4\n"
                              "continue: true\n"),
                     IHA_OK);
    assert_int_equal(iha_ytree_check_keys(c->root, keys, "rule", c->diag), 5);
    assert_int_equal(iha_diag_count(c->diag), 5);
    assert_int_equal(iha_diag_errors(c->diag), 5);
    assert_string_equal(iha_diag_get(c->diag, 0),
                        "f.yml:2:1: error: rule: unknown key 'matcher' (did you mean 'matchers'?)");
    /* A null key is no string; a quoted 'null' is one (and unknown). */
    assert_string_equal(iha_diag_get(c->diag, 1),
                        "f.yml:3:1: error: rule: expected a string key, got null");
    assert_string_equal(iha_diag_get(c->diag, 2), "f.yml:4:1: error: rule: unknown key 'null'");
    assert_string_equal(iha_diag_get(c->diag, 3),
                        "f.yml:5:1: error: rule: expected a string key, got a list");
    assert_string_equal(iha_diag_get(c->diag, 4), "f.yml:6:1: error: rule: unknown key 'sev'");

    /* Every key known, or no mapping at all: nothing reported. */
    assert_int_equal(parse(c, "name: a\ncontinue: false\n"), IHA_OK);
    assert_int_equal(iha_ytree_check_keys(c->root, keys, "rule", c->diag), 0);
    assert_int_equal(iha_ytree_check_keys(iha_ynode_get(c->root, "name"), keys, "x", c->diag), 0);
    assert_int_equal(iha_ytree_check_keys(NULL, keys, "x", c->diag), 0);
    assert_int_equal(iha_diag_count(c->diag), 5);
}

static void test_parse_file(void **state)
{
    struct ctx *c = *state;
    char path[] = "/tmp/iha-ytree-XXXXXX";
    int fd = mkstemp(path);
    FILE *f;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("x:\n  - 1\n", f);
    fclose(f);
    assert_int_equal(iha_ytree_parse_file(path, &c->root, c->diag), IHA_OK);
    assert_string_equal(c->root->file, path);
    assert_string_equal(iha_ynode_get(c->root, "x")->items[0]->scalar, "1");
    iha_ynode_free(c->root);
    c->root = NULL;

    /* Over the 4 MiB cap. */
    f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < 4 * 1024 + 1; i++) {
        char line[1024];

        memset(line, '#', sizeof(line) - 1);
        line[sizeof(line) - 1] = '\n';
        fwrite(line, 1, sizeof(line), f);
    }
    fclose(f);
    assert_int_equal(iha_ytree_parse_file(path, &c->root, c->diag), IHA_E_LIMIT);
    assert_null(c->root);
    unlink(path);

    assert_int_equal(iha_ytree_parse_file("/nonexistent/x.yml", &c->root, c->diag), IHA_E_IO);
    assert_null(c->root);
    assert_string_equal(iha_diag_get(c->diag, iha_diag_count(c->diag) - 1),
                        "/nonexistent/x.yml: error: cannot open: No such file or directory");
}

/* Booleans as the config and the rules read them: unquoted core-schema spellings only. */
static void test_bool_what_and_string(void **state)
{
    struct ctx *c = *state;
    bool v = false;

    assert_int_equal(parse(c, "a: True\nb: FALSE\nc: 'true'\nd: yes\ne:\nf: [1]\ng: x\n"), IHA_OK);
    assert_true(iha_ynode_bool(iha_ynode_get(c->root, "a"), &v));
    assert_true(v);
    assert_true(iha_ynode_bool(iha_ynode_get(c->root, "b"), &v));
    assert_false(v);
    v = true;
    assert_false(iha_ynode_bool(iha_ynode_get(c->root, "c"), &v));
    assert_false(iha_ynode_bool(iha_ynode_get(c->root, "d"), &v));
    assert_true(v); /* unchanged */
    assert_string_equal(iha_ynode_what(iha_ynode_get(c->root, "e")), "null");
    assert_string_equal(iha_ynode_what(iha_ynode_get(c->root, "f")), "a list");
    assert_string_equal(iha_ynode_what(iha_ynode_get(c->root, "g")), "a string");
    assert_false(iha_ynode_is_string(iha_ynode_get(c->root, "e")));
    assert_false(iha_ynode_is_string(iha_ynode_get(c->root, "f")));
    assert_true(iha_ynode_is_string(iha_ynode_get(c->root, "g")));
    assert_false(iha_ynode_is_string(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_col, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anchor_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alias_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tab_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nulls, setup, teardown),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test_setup_teardown(test_check_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_what_and_string, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
