
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


/*
 * A red-black tree after "Introduction to Algorithms" (Cormen, Leiserson,
 * Rivest, Stein), with one shared black sentinel instead of NULL leaves.
 * The sentinel's parent is written during a delete and never read as
 * part of the tree; the root's parent is NULL.
 */


static tn_inline void tn_rbtree_left_rotate(tn_rbtree_node_t **root,
    tn_rbtree_node_t *sentinel, tn_rbtree_node_t *node);
static tn_inline void tn_rbtree_right_rotate(tn_rbtree_node_t **root,
    tn_rbtree_node_t *sentinel, tn_rbtree_node_t *node);
static void tn_rbtree_delete_fixup(tn_rbtree_node_t **root,
    tn_rbtree_node_t *sentinel, tn_rbtree_node_t *temp);


void
tn_rbtree_insert(tn_rbtree_t *tree, tn_rbtree_node_t *node)
{
    tn_rbtree_node_t  **root, *uncle, *sentinel, *parent, *grand;

    root = &tree->root;
    sentinel = tree->sentinel;

    if (*root == sentinel) {
        node->parent = NULL;
        node->left = sentinel;
        node->right = sentinel;
        tn_rbt_black(node);
        *root = node;

        return;
    }

    /* places node as a red leaf */
    tree->insert(*root, node, sentinel);

    /* restore "no red node has a red child", walking up */

    while (node != *root && tn_rbt_is_red(node->parent)) {

        parent = node->parent;
        grand = parent->parent;

        if (parent == grand->left) {
            uncle = grand->right;

            if (tn_rbt_is_red(uncle)) {
                tn_rbt_black(parent);
                tn_rbt_black(uncle);
                tn_rbt_red(grand);
                node = grand;
                continue;
            }

            if (node == parent->right) {
                node = parent;
                tn_rbtree_left_rotate(root, sentinel, node);
            }

            tn_rbt_black(node->parent);
            tn_rbt_red(node->parent->parent);
            tn_rbtree_right_rotate(root, sentinel, node->parent->parent);

        } else {
            uncle = grand->left;

            if (tn_rbt_is_red(uncle)) {
                tn_rbt_black(parent);
                tn_rbt_black(uncle);
                tn_rbt_red(grand);
                node = grand;
                continue;
            }

            if (node == parent->left) {
                node = parent;
                tn_rbtree_right_rotate(root, sentinel, node);
            }

            tn_rbt_black(node->parent);
            tn_rbt_red(node->parent->parent);
            tn_rbtree_left_rotate(root, sentinel, node->parent->parent);
        }
    }

    tn_rbt_black(*root);
}


void
tn_rbtree_insert_value(tn_rbtree_node_t *temp, tn_rbtree_node_t *node,
    tn_rbtree_node_t *sentinel)
{
    tn_rbtree_node_t  **p;

    for ( ;; ) {

        p = (node->key < temp->key) ? &temp->left : &temp->right;

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    tn_rbt_red(node);
}


void
tn_rbtree_insert_timer_value(tn_rbtree_node_t *temp, tn_rbtree_node_t *node,
    tn_rbtree_node_t *sentinel)
{
    tn_rbtree_node_t  **p;

    for ( ;; ) {

        /*
         * Timer keys lie within a few hours of each other but wrap around
         * at the top of tn_msec_t, so "node->key < temp->key" is decided
         * by the sign of their difference.
         */

        p = ((tn_rbtree_key_int_t) (node->key - temp->key) < 0)
            ? &temp->left : &temp->right;

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    tn_rbt_red(node);
}


void
tn_rbtree_delete(tn_rbtree_t *tree, tn_rbtree_node_t *node)
{
    tn_uint_t           red;
    tn_rbtree_node_t  **root, *sentinel, *subst, *temp;

    root = &tree->root;
    sentinel = tree->sentinel;

    /*
     * subst is the node that leaves its place: node itself when it has at
     * most one child, else its successor, which has no left child.  temp
     * is the child that takes subst's place.
     */

    if (node->left == sentinel) {
        temp = node->right;
        subst = node;

    } else if (node->right == sentinel) {
        temp = node->left;
        subst = node;

    } else {
        subst = tn_rbtree_min(node->right, sentinel);
        temp = subst->right;
    }

    if (subst == *root) {
        /* node is the root with at most one child */
        *root = temp;
        temp->parent = NULL;
        tn_rbt_black(temp);

        node->left = NULL;
        node->right = NULL;
        node->parent = NULL;

        return;
    }

    red = tn_rbt_is_red(subst);

    if (subst == subst->parent->left) {
        subst->parent->left = temp;

    } else {
        subst->parent->right = temp;
    }

    if (subst == node) {
        temp->parent = subst->parent;

    } else {

        if (subst->parent == node) {
            temp->parent = subst;

        } else {
            temp->parent = subst->parent;
        }

        /* subst takes node's place, links and colour */

        subst->left = node->left;
        subst->right = node->right;
        subst->parent = node->parent;
        tn_rbt_copy_color(subst, node);

        if (node == *root) {
            *root = subst;

        } else if (node == node->parent->left) {
            node->parent->left = subst;

        } else {
            node->parent->right = subst;
        }

        if (subst->left != sentinel) {
            subst->left->parent = subst;
        }

        if (subst->right != sentinel) {
            subst->right->parent = subst;
        }
    }

    node->left = NULL;
    node->right = NULL;
    node->parent = NULL;

    if (red) {
        /* removing a red node changes no black height */
        return;
    }

    tn_rbtree_delete_fixup(root, sentinel, temp);
}


/* temp carries an extra black; push it up until it can be dropped */

static void
tn_rbtree_delete_fixup(tn_rbtree_node_t **root, tn_rbtree_node_t *sentinel,
    tn_rbtree_node_t *temp)
{
    tn_rbtree_node_t  *w;

    while (temp != *root && tn_rbt_is_black(temp)) {

        if (temp == temp->parent->left) {
            w = temp->parent->right;

            if (tn_rbt_is_red(w)) {
                tn_rbt_black(w);
                tn_rbt_red(temp->parent);
                tn_rbtree_left_rotate(root, sentinel, temp->parent);
                w = temp->parent->right;
            }

            if (tn_rbt_is_black(w->left) && tn_rbt_is_black(w->right)) {
                tn_rbt_red(w);
                temp = temp->parent;
                continue;
            }

            if (tn_rbt_is_black(w->right)) {
                tn_rbt_black(w->left);
                tn_rbt_red(w);
                tn_rbtree_right_rotate(root, sentinel, w);
                w = temp->parent->right;
            }

            tn_rbt_copy_color(w, temp->parent);
            tn_rbt_black(temp->parent);
            tn_rbt_black(w->right);
            tn_rbtree_left_rotate(root, sentinel, temp->parent);
            temp = *root;

        } else {
            w = temp->parent->left;

            if (tn_rbt_is_red(w)) {
                tn_rbt_black(w);
                tn_rbt_red(temp->parent);
                tn_rbtree_right_rotate(root, sentinel, temp->parent);
                w = temp->parent->left;
            }

            if (tn_rbt_is_black(w->left) && tn_rbt_is_black(w->right)) {
                tn_rbt_red(w);
                temp = temp->parent;
                continue;
            }

            if (tn_rbt_is_black(w->left)) {
                tn_rbt_black(w->right);
                tn_rbt_red(w);
                tn_rbtree_left_rotate(root, sentinel, w);
                w = temp->parent->left;
            }

            tn_rbt_copy_color(w, temp->parent);
            tn_rbt_black(temp->parent);
            tn_rbt_black(w->left);
            tn_rbtree_right_rotate(root, sentinel, temp->parent);
            temp = *root;
        }
    }

    tn_rbt_black(temp);
}


static tn_inline void
tn_rbtree_left_rotate(tn_rbtree_node_t **root, tn_rbtree_node_t *sentinel,
    tn_rbtree_node_t *node)
{
    tn_rbtree_node_t  *temp;

    temp = node->right;
    node->right = temp->left;

    if (temp->left != sentinel) {
        temp->left->parent = node;
    }

    temp->parent = node->parent;

    if (node == *root) {
        *root = temp;

    } else if (node == node->parent->left) {
        node->parent->left = temp;

    } else {
        node->parent->right = temp;
    }

    temp->left = node;
    node->parent = temp;
}


static tn_inline void
tn_rbtree_right_rotate(tn_rbtree_node_t **root, tn_rbtree_node_t *sentinel,
    tn_rbtree_node_t *node)
{
    tn_rbtree_node_t  *temp;

    temp = node->left;
    node->left = temp->right;

    if (temp->right != sentinel) {
        temp->right->parent = node;
    }

    temp->parent = node->parent;

    if (node == *root) {
        *root = temp;

    } else if (node == node->parent->right) {
        node->parent->right = temp;

    } else {
        node->parent->left = temp;
    }

    temp->right = node;
    node->parent = temp;
}


/* the in-order successor of node, or NULL after the last node */

tn_rbtree_node_t *
tn_rbtree_next(tn_rbtree_t *tree, tn_rbtree_node_t *node)
{
    tn_rbtree_node_t  *root, *sentinel, *parent;

    sentinel = tree->sentinel;

    if (node == NULL || node == sentinel) {
        return NULL;
    }

    if (node->right != sentinel) {
        return tn_rbtree_min(node->right, sentinel);
    }

    root = tree->root;

    for ( ;; ) {
        if (node == root) {
            return NULL;
        }

        parent = node->parent;

        if (node == parent->left) {
            return parent;
        }

        node = parent;
    }
}
