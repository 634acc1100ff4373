
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_RBTREE_H_INCLUDED_
#define _TN_RBTREE_H_INCLUDED_


#include <tn_config.h>


typedef tn_uint_t  tn_rbtree_key_t;
typedef tn_int_t   tn_rbtree_key_int_t;

typedef struct tn_rbtree_node_s  tn_rbtree_node_t;

struct tn_rbtree_node_s {
    tn_rbtree_key_t       key;
    tn_rbtree_node_t     *left;
    tn_rbtree_node_t     *right;
    tn_rbtree_node_t     *parent;
    u_char                color;
    u_char                data;
};


typedef struct tn_rbtree_s  tn_rbtree_t;

/* places node under the right parent; the tree then rebalances */
typedef void (*tn_rbtree_insert_pt) (tn_rbtree_node_t *root,
    tn_rbtree_node_t *node, tn_rbtree_node_t *sentinel);

struct tn_rbtree_s {
    tn_rbtree_node_t     *root;
    tn_rbtree_node_t     *sentinel;
    tn_rbtree_insert_pt   insert;
};


#define tn_rbtree_init(tree, s, i)                                           \
    tn_rbtree_sentinel_init(s);                                              \
    (tree)->root = s;                                                        \
    (tree)->sentinel = s;                                                    \
    (tree)->insert = i

#define tn_rbtree_data(node, type, link)                                     \
    (type *) ((u_char *) (node) - offsetof(type, link))


void tn_rbtree_insert(tn_rbtree_t *tree, tn_rbtree_node_t *node);
void tn_rbtree_delete(tn_rbtree_t *tree, tn_rbtree_node_t *node);

/* plain key order; equal keys go right */
void tn_rbtree_insert_value(tn_rbtree_node_t *root, tn_rbtree_node_t *node,
    tn_rbtree_node_t *sentinel);

/* key order for timers: keys compared modulo wrap-around */
void tn_rbtree_insert_timer_value(tn_rbtree_node_t *root,
    tn_rbtree_node_t *node, tn_rbtree_node_t *sentinel);

/* NULL when the tree is empty */
tn_rbtree_node_t *tn_rbtree_next(tn_rbtree_t *tree, tn_rbtree_node_t *node);


#define tn_rbt_red(node)               ((node)->color = 1)
#define tn_rbt_black(node)             ((node)->color = 0)
#define tn_rbt_is_red(node)            ((node)->color)
#define tn_rbt_is_black(node)          (!tn_rbt_is_red(node))
#define tn_rbt_copy_color(n1, n2)      (n1->color = n2->color)

#define tn_rbtree_sentinel_init(node)  tn_rbt_black(node)


static tn_inline tn_rbtree_node_t *
tn_rbtree_min(tn_rbtree_node_t *node, tn_rbtree_node_t *sentinel)
{
    while (node->left != sentinel) {
        node = node->left;
    }

    return node;
}


#endif /* _TN_RBTREE_H_INCLUDED_ */
