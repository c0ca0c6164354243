//! Naming a block: which file, which position in it.

use std::fmt;
use std::sync::Arc;

// ANCHOR: block_id
/// The address of one block: the unit every layer above reads, writes, caches and locks.
///
/// Cloning is cheap (the file name is a shared `Arc<str>`, the number a `u64`), because the
/// buffer pool and lock table copy block ids into their maps on every access. It displays as
/// `file:number`, the form every error message uses.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId {
    /// The file inside the database directory; shared so clones do not copy the string.
    file: Arc<str>,
    /// The block's position in the file, counted in blocks from 0.
    number: u64,
}
// ANCHOR_END: block_id

impl BlockId {
    /// Names block `number` of `file`; the name is validated when the block is first used.
    pub fn new(file: impl Into<Arc<str>>, number: u64) -> Self {
        Self {
            file: file.into(),
            number,
        }
    }

    /// The file name, as the [`FileManager`](crate::FileManager) uses it for lookups.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The shared file name, for building sibling ids without copying the string.
    pub fn file_arc(&self) -> &Arc<str> {
        &self.file
    }

    /// The block number, which times the block size gives the byte offset in the file.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The block after this one in the same file, as scans need. Saturates at `u64::MAX`,
    /// a number no file can reach, so the file manager reports it out of range.
    pub fn next(&self) -> Self {
        Self {
            file: Arc::clone(&self.file),
            number: self.number.saturating_add(1),
        }
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.number)
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn displays_as_file_colon_number() {
        assert_eq!(BlockId::new("data.db", 7).to_string(), "data.db:7");
        assert_eq!(format!("{:?}", BlockId::new("log", 0)), "BlockId(log:0)");
    }

    #[test]
    fn clones_share_the_name_and_hash_equal() {
        let a = BlockId::new("data.db", 3);
        let b = a.clone();
        assert!(Arc::ptr_eq(a.file_arc(), b.file_arc()));
        let set: HashSet<_> = [a.clone(), b, BlockId::new("data.db", 3)].into();
        assert_eq!(set.len(), 1);
        assert_eq!(a.next(), BlockId::new("data.db", 4));
    }

    #[test]
    fn orders_by_file_then_number() {
        let mut ids = [
            BlockId::new("b", 1),
            BlockId::new("a", 2),
            BlockId::new("a", 1),
        ];
        ids.sort();
        let shown: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a:1", "a:2", "b:1"]);
    }
}
