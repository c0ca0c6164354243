//! Tree dumps at the moments chapter 7 describes — a leaf splitting into a root and two
//! leaves, a split cascading to a new root, merges shrinking the tree — kept as `insta`
//! snapshots, so the book's pictures are the code's real output.

mod common;

use common::{assert_sound, db};
use kv_index::BTree;

/// Keys `k000`, `k001`, … with values of 40 bytes: about eight fit in a 512-byte leaf.
fn fill(tree: &BTree, tx: &mut kv_tx::Transaction<'_>, keys: impl IntoIterator<Item = u32>) {
    for i in keys {
        tree.insert(tx, format!("k{i:03}").as_bytes(), &[b'v'; 40])
            .unwrap();
    }
}

#[test]
fn split_and_merge_step_by_step() {
    let (_, db) = db(512);
    let mut tx = db.begin().unwrap();
    let tree = BTree::create(&mut tx, "t").unwrap();
    fill(&tree, &mut tx, 0..8);
    insta::assert_snapshot!("1_one_full_leaf", tree.dump(&mut tx).unwrap());
    fill(&tree, &mut tx, 8..9);
    insta::assert_snapshot!("2_the_root_leaf_split", tree.dump(&mut tx).unwrap());
    fill(&tree, &mut tx, 9..60);
    insta::assert_snapshot!("3_more_leaves", tree.dump(&mut tx).unwrap());
    fill(&tree, &mut tx, 60..200);
    insta::assert_snapshot!("4_a_cascade_grew_a_level", tree.dump(&mut tx).unwrap());
    assert_sound(&tree, &mut tx);
    for i in 0..190 {
        tree.delete(&mut tx, format!("k{i:03}").as_bytes()).unwrap();
    }
    insta::assert_snapshot!("5_merged_back_down", tree.dump(&mut tx).unwrap());
    assert_sound(&tree, &mut tx);
    tx.commit().unwrap();
}
