/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of src/core/tn_rbtree.c: random inserts and deletes checked
 * against a sorted array, with the red-black invariants verified after
 * every operation, in-order walks with tn_rbtree_next(), and the
 * wrap-around order of timer keys.
 */


#include <tn_config.h>
#include <tn_core.h>

#include <tn_rbtree.c>


#define TN_TEST_NODES   512
#define TN_TEST_OPS     10000


static tn_uint_t          tn_test_n;
static tn_uint_t          tn_test_failed;
static uint64_t           tn_test_seed = 0x9e3779b97f4a7c15ULL;

static tn_rbtree_t        tree;
static tn_rbtree_node_t   sentinel;
static tn_rbtree_node_t   nodes[TN_TEST_NODES];
static u_char             in_tree[TN_TEST_NODES];

/* the model: the keys in the tree, sorted */
static tn_rbtree_key_t    model[TN_TEST_NODES];
static tn_uint_t          nmodel;


static void tn_test_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%sok %u - ", cond ? "" : "not ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


/* xorshift64: the same sequence on every run */

static uint64_t
tn_test_random(void)
{
    tn_test_seed ^= tn_test_seed << 13;
    tn_test_seed ^= tn_test_seed >> 7;
    tn_test_seed ^= tn_test_seed << 17;

    return tn_test_seed;
}


static void
tn_test_model_add(tn_rbtree_key_t key)
{
    tn_uint_t  i;

    for (i = nmodel; i > 0 && model[i - 1] > key; i--) {
        model[i] = model[i - 1];
    }

    model[i] = key;
    nmodel++;
}


static void
tn_test_model_del(tn_rbtree_key_t key)
{
    tn_uint_t  i;

    for (i = 0; i < nmodel && model[i] != key; i++) {
        /* void */
    }

    for ( /* void */ ; i + 1 < nmodel; i++) {
        model[i] = model[i + 1];
    }

    nmodel--;
}


/*
 * Checks the subtree at node: parent links, no red node with a red child,
 * children ordered around their parent (the in-order walk checks the rest)
 * and equal black heights; returns the black height, or -1.
 */

static int
tn_test_check(tn_rbtree_node_t *node, tn_rbtree_node_t *parent,
    tn_uint_t *count)
{
    int  lh, rh;

    if (node == &sentinel) {
        return 1;
    }

    if (node->parent != parent) {
        return -1;
    }

    if (tn_rbt_is_red(node)
        && (tn_rbt_is_red(node->left) || tn_rbt_is_red(node->right)))
    {
        return -1;
    }

    if ((node->left != &sentinel && node->left->key > node->key)
        || (node->right != &sentinel && node->right->key < node->key))
    {
        return -1;
    }

    (*count)++;

    lh = tn_test_check(node->left, node, count);
    rh = tn_test_check(node->right, node, count);

    if (lh < 0 || rh < 0 || lh != rh) {
        return -1;
    }

    return lh + (tn_rbt_is_black(node) ? 1 : 0);
}


/* the tree is a valid red-black tree holding exactly the model's keys */

static int
tn_test_valid(void)
{
    tn_uint_t          count, i;
    tn_rbtree_node_t  *node;

    if (tn_rbt_is_red(&sentinel)) {
        return 0;
    }

    if (tree.root == &sentinel) {
        return nmodel == 0;
    }

    if (tn_rbt_is_red(tree.root)) {
        return 0;
    }

    count = 0;

    if (tn_test_check(tree.root, NULL, &count) < 0 || count != nmodel) {
        return 0;
    }

    /* the in-order walk gives the sorted keys */

    node = tn_rbtree_min(tree.root, &sentinel);

    for (i = 0; i < nmodel; i++) {
        if (node == NULL || node->key != model[i]) {
            return 0;
        }

        node = tn_rbtree_next(&tree, node);
    }

    return node == NULL;
}


static void
tn_test_random_ops(void)
{
    tn_uint_t  op, i, inserts, deletes, bad;

    tn_rbtree_init(&tree, &sentinel, tn_rbtree_insert_value);

    inserts = 0;
    deletes = 0;
    bad = 0;

    tn_test_ok(tn_test_valid(), "empty tree");

    for (op = 0; op < TN_TEST_OPS; op++) {
        i = (tn_uint_t) (tn_test_random() % TN_TEST_NODES);

        if (in_tree[i]) {
            tn_rbtree_delete(&tree, &nodes[i]);
            tn_test_model_del(nodes[i].key);
            in_tree[i] = 0;
            deletes++;

        } else {
            /* a small key range, so that equal keys are common */
            nodes[i].key = (tn_rbtree_key_t) (tn_test_random() % 2000);
            tn_rbtree_insert(&tree, &nodes[i]);
            tn_test_model_add(nodes[i].key);
            in_tree[i] = 1;
            inserts++;
        }

        if (!tn_test_valid()) {
            bad++;

            if (bad == 1) {
                printf("# invalid tree after op %u\n", (unsigned) op);
            }
        }
    }

    tn_test_ok(bad == 0, "%u inserts and %u deletes keep the invariants",
               (unsigned) inserts, (unsigned) deletes);

    /* empty the tree again */

    bad = 0;

    for (i = 0; i < TN_TEST_NODES; i++) {
        if (in_tree[i]) {
            tn_rbtree_delete(&tree, &nodes[i]);
            tn_test_model_del(nodes[i].key);
            in_tree[i] = 0;

            if (!tn_test_valid()) {
                bad++;
            }
        }
    }

    tn_test_ok(bad == 0 && tree.root == &sentinel && nmodel == 0,
               "deleting every node empties the tree");
}


static void
tn_test_next(void)
{
    tn_uint_t          i;
    tn_rbtree_node_t  *node;

    tn_rbtree_init(&tree, &sentinel, tn_rbtree_insert_value);

    nodes[0].key = 5;
    tn_rbtree_insert(&tree, &nodes[0]);

    tn_test_ok(tn_rbtree_next(&tree, &nodes[0]) == NULL,
               "next of the only node is NULL");

    /* ascending inserts: the degenerate case for an unbalanced tree */
    for (i = 1; i < 100; i++) {
        nodes[i].key = 5 + i;
        tn_rbtree_insert(&tree, &nodes[i]);
    }

    node = tn_rbtree_min(tree.root, &sentinel);

    for (i = 0; i < 100 && node; i++) {
        if (node != &nodes[i]) {
            break;
        }

        node = tn_rbtree_next(&tree, node);
    }

    tn_test_ok(i == 100 && node == NULL, "next walks 100 nodes in order");

    tn_rbtree_delete(&tree, &nodes[0]);
    tn_rbtree_delete(&tree, &nodes[99]);

    node = tn_rbtree_min(tree.root, &sentinel);

    tn_test_ok(node == &nodes[1]
               && tn_rbtree_next(&tree, &nodes[98]) == NULL,
               "min and next after deleting both ends");
}


static void
tn_test_timers(void)
{
    tn_uint_t          i, j, t, order[32];
    tn_rbtree_key_t    base;
    tn_rbtree_node_t  *node;

    tn_rbtree_init(&tree, &sentinel, tn_rbtree_insert_timer_value);

    /* 32 keys 100 apart that wrap past the top of tn_rbtree_key_t */

    base = (tn_rbtree_key_t) -1600;

    for (i = 0; i < 32; i++) {
        order[i] = i;
    }

    for (i = 31; i > 0; i--) {
        j = (tn_uint_t) (tn_test_random() % (i + 1));
        t = order[i];
        order[i] = order[j];
        order[j] = t;
    }

    for (i = 0; i < 32; i++) {
        nodes[order[i]].key = base + order[i] * 100;
        tn_rbtree_insert(&tree, &nodes[order[i]]);
    }

    node = tn_rbtree_min(tree.root, &sentinel);

    tn_test_ok(node == &nodes[0] && node->key == base,
               "the earliest timer is the one before the wrap");

    for (i = 0; i < 32 && node; i++) {
        if (node != &nodes[i]) {
            break;
        }

        node = tn_rbtree_next(&tree, node);
    }

    tn_test_ok(i == 32 && node == NULL, "timers walk in wrap-around order");

    tn_test_ok(nodes[16].key == 0 && nodes[15].key > nodes[16].key,
               "the keys did wrap");
}


int
main(void)
{
    /* every line reaches prove even if a case crashes */
    setvbuf(stdout, NULL, _IOLBF, 0);

    tn_test_random_ops();
    tn_test_next();
    tn_test_timers();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
